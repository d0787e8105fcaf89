"""``flask report-rollup``: bring the dashboard's rollup up to date now (after a bulk import or a
restore, so the first leader to open the dashboard does not pay for rebuilding it)."""
from __future__ import annotations

import time
from datetime import timedelta

import click
from flask.cli import with_appcontext

from ..services import rollup


@click.command("report-rollup")
@click.option("--rebuild", is_flag=True, help="Empty the rollup first and recompute every day from the findings.")
@with_appcontext
def report_rollup(rebuild: bool) -> None:
    """Recompute the days whose findings changed since the last refresh (all days with --rebuild)."""
    started = time.monotonic()
    if rebuild:
        rollup.clear()
    days = rollup.refresh(max_age=timedelta(0))
    click.echo(f"report rollup: {days} day(s) recomputed in {time.monotonic() - started:.1f} s")


COMMANDS = [report_rollup]
