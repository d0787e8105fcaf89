"""backup and restore: the database and the photo store, to and from a directory."""
from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from ..extensions import db
from ..services.backup import BackupError, backup, restore
from ..storage import get_storage


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@click.command("backup")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@with_appcontext
def backup_command(dest: Path) -> None:
    """Consistent online backup into DEST (run it while the app serves); photos are copied incrementally."""
    try:
        result = backup(dest, db.engine, get_storage(current_app))
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    manifest = result.manifest
    rows = sum(manifest["row_counts"].values())
    click.echo(f"backup → {dest}: {manifest['db']['kind']} database, {len(manifest['row_counts'])} tables, "
               f"{rows} rows; {len(manifest['photos']['files'])} photos ({result.copied} copied, "
               f"{_megabytes(result.bytes_copied)}; {result.unchanged} already there)")
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command("restore")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
@with_appcontext
def restore_command(src: Path, force: bool) -> None:
    """Restore a backup made by `backup`: photos first, then the database. Stop the app server first."""
    db.session.remove()
    try:
        result = restore(src, db.engine, get_storage(current_app), force=force)
    except BackupError as err:
        raise click.ClickException(str(err)) from err
    manifest = result.manifest
    click.echo(f"restored {manifest['created_at']} backup: {result.rows} rows; photos {result.photos_written} "
               f"written, {result.photos_present} already present")
    click.echo("if this code is newer than the backup, run `flask db upgrade` next")


COMMANDS = (backup_command, restore_command)
