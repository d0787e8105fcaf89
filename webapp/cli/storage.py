"""migrate-storage: move the photo store from the local folder into an S3-compatible bucket."""
from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from ..storage import LocalStore
from ..storage.migrate import migrate
from ..storage.s3 import S3Store


@click.command("migrate-storage")
@click.option("--to", "target", type=click.Choice(["s3"]), required=True,
              help="Destination backend, configured by the S3_* settings (docs/deploy.md).")
@click.option("--jobs", default=8, show_default=True, help="Parallel transfers.")
@click.option("--dry-run", is_flag=True, help="Verify the source and list what would be copied; write nothing.")
@with_appcontext
def migrate_storage(target: str, jobs: int, dry_run: bool) -> None:
    """Copy every photo under UPLOAD_DIR into the bucket, verifying each file's hash.

    Safe to interrupt and run again: keys already in the bucket with the right content are skipped.
    Run it once while the app still writes locally, then switch STORAGE=s3 and run it again to pick
    up the photos that arrived in between. Exits non-zero when any file could not be copied.
    """
    config = current_app.config
    source = LocalStore(config["UPLOAD_DIR"])
    dest = S3Store.from_config(config)
    dest.check()
    click.echo(f"copying {source.root} → s3://{dest.bucket}/{dest.prefix}"
               + (" (dry run)" if dry_run else ""))

    def progress(key: str, outcome: str) -> None:
        if outcome.startswith("failed"):
            click.echo(f"  {key}: {outcome}", err=True)

    report = migrate(source, dest, jobs=jobs, dry_run=dry_run, progress=progress)
    verb = "would copy" if dry_run else "copied"
    click.echo(f"{verb} {report.copied}, already present {report.skipped}, failed {len(report.failed)}")
    if not report.ok:
        raise SystemExit(1)


COMMANDS = (migrate_storage,)
