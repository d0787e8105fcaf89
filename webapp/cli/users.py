"""create-user and create-token."""
from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from ..auth.tokens import issue_token
from ..extensions import db
from ..models import Role, User


@click.command("create-user")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="Display name (defaults to the username).")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(username: str, display_name: str | None, roles: tuple[str, ...], password: str) -> None:
    """Create a user with one or more roles."""
    if len(password) < 8:
        raise click.UsageError("password must be at least 8 characters")
    if db.session.scalar(select(User).where(User.username == username)):
        raise click.UsageError(f"user {username!r} already exists")
    user = User(username=username, display_name=display_name or username)
    user.set_password(password)
    user.set_roles(roles)
    db.session.add(user)
    db.session.commit()
    click.echo(f"created {username} ({', '.join(sorted(roles))})")


@click.command("create-token")
@click.argument("username")
@click.option("--name", default="cli", help="A label to recognise the token by later.")
def create_token(username: str, name: str) -> None:
    """Issue a bearer API token; it is shown once and stored hashed."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.UsageError(f"no user {username!r}")
    raw = issue_token(user, name)
    db.session.commit()
    current_app.logger.info("token issued for %s", username)
    click.echo(raw)


COMMANDS = (create_user, create_token)
