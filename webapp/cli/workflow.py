"""mark-overdue: stamp findings whose rectification deadline has passed (run from cron, e.g. hourly).

Pages also sweep lazily, so the command matters for reports read by nobody's page view first
(the evening 督导通报) and for keeping the stamp close to the deadline.
"""
from __future__ import annotations

import click

from ..services import workflow


@click.command("mark-overdue")
def mark_overdue() -> None:
    """Mark open findings past their deadline as overdue (never cleared)."""
    count = workflow.mark_overdue()
    click.echo(f"marked {count} finding(s) overdue")


COMMANDS = (mark_overdue,)
