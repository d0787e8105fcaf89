"""``flask gc``: remove photos never attached to a finding, and stored files no row points at."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..services.photos import ORPHAN_FILE_MIN_AGE, UNATTACHED_MAX_AGE, collect_garbage


@click.command("gc")
@click.option("--days", default=UNATTACHED_MAX_AGE.days, show_default=True, type=click.IntRange(min=1),
              help="Delete photos uploaded but never attached to a finding for this many days.")
@with_appcontext
def gc(days: int) -> None:
    """Delete stale unattached photos and unreferenced files (files younger than an hour are kept,
    so an upload in flight is never touched). Safe to run from cron while the app serves."""
    from datetime import timedelta

    counts = collect_garbage(unattached_age=timedelta(days=days), orphan_age=ORPHAN_FILE_MIN_AGE)
    click.echo(f"photos deleted: {counts['photos']}; unreferenced files deleted: {counts['files']}; "
               f"interrupted writes removed: {counts['temp_files']}")


COMMANDS = [gc]
