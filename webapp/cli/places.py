"""import-places: load a street office's list of places from CSV."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..services.places import import_places, parse_places_csv


def read_text(path: Path) -> str:
    """Spreadsheets saved on office PCs in China are often GB18030, not UTF-8; accept both."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


@click.command("import-places")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report what would change; import nothing.")
def import_places_command(csv_file: Path, dry_run: bool) -> None:
    """Import places from CSV: street, community, site, kind, lat, lon[, address].

    Every row is checked first; if any row is bad, each error is printed with its line number and
    nothing is imported. Existing places are reused, so running it twice changes nothing.
    """
    try:
        text = read_text(csv_file)
    except UnicodeDecodeError:
        raise click.ClickException("文件编码无法识别(应为 UTF-8 或 GB18030) / cannot decode the file (UTF-8 or GB18030)")
    rows, errors = parse_places_csv(text)
    if errors:
        for error in errors:
            click.echo(str(error), err=True)
        click.echo(f"{len(errors)} 处错误,未导入任何点位 / {len(errors)} error(s): nothing imported", err=True)
        sys.exit(1)
    if dry_run:
        click.echo(f"{len(rows)} 行检查通过(未导入) / {len(rows)} rows OK (dry run, nothing imported)")
        return
    summary = import_places(rows)
    click.echo(
        f"导入完成 / imported: {len(rows)} rows; new streets {summary.streets}, new communities "
        f"{summary.communities}, new sites {summary.sites}, updated sites {summary.updated_sites}, "
        f"unchanged sites {summary.unchanged_sites}"
    )


COMMANDS = (import_places_command,)
