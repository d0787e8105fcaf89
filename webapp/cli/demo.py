"""seed-demo: demo places, one account per role and two weeks of history (demo mode only)."""
from __future__ import annotations

import time

import click
from flask import current_app

from ..services.demo import DEMO_PASSWORD, DEMO_USERS, DemoRefused, database_is_empty, seed_demo


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True,
              help="Only seed a database with no users and no places (what `make run` uses).")
@click.option("--no-history", is_flag=True, help="Places, categories and users only; no findings.")
def seed_demo_command(if_empty: bool, no_history: bool) -> None:
    """Seed the demo: the seed page's places, the demo users and two weeks of findings.

    Safe to run again: existing rows are kept and nothing is duplicated. Refused unless DEMO_MODE
    is on (the production configuration turns it off), because every demo account shares the
    password demo12345.
    """
    if not current_app.config.get("DEMO_MODE"):
        if if_empty:
            click.echo("DEMO_MODE is off: not seeding demo data.")
            return
        raise click.ClickException(
            "seed-demo is refused: DEMO_MODE is off (as in the production configuration). Demo accounts share a "
            "known password; create real users with `flask create-user`."
        )
    if if_empty and not database_is_empty():
        click.echo("Database already has users or places: not seeding demo data.")
        return
    started = time.monotonic()
    try:
        summary = seed_demo(history=not no_history)
    except DemoRefused as exc:  # the service checks too, for callers other than this command
        raise click.ClickException(str(exc)) from exc
    counts = ", ".join(f"{name} {count}" for name, count in summary.counts.items())
    click.echo(f"Demo data ready in {time.monotonic() - started:.1f}s: {counts}.")
    click.echo(f"New this run: users {summary.users_created}, findings {summary.findings}, "
               f"photos {summary.photos}, actions {summary.actions}.")
    if summary.history_skipped:
        click.echo(f"History skipped: {summary.history_skipped}.")
    users = " ".join(username for username, *_ in DEMO_USERS)
    click.echo(f"Demo logins (password {DEMO_PASSWORD}): {users}")


COMMANDS = (seed_demo_command,)
