"""create-user, create-token and revoke-token."""
from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from ..auth.tokens import issue_token, revoke_tokens
from ..extensions import db
from ..models import Community, Role, Site, Street, User


def _places(model, names: tuple[str, ...], what: str) -> list:
    found = []
    for name in names:
        rows = list(db.session.scalars(select(model).where(model.name == name)))
        if not rows:
            raise click.UsageError(f"no {what} named {name!r}")
        if len(rows) > 1:
            raise click.UsageError(f"{len(rows)} {what}s are named {name!r}; rename one first")
        found.append(rows[0])
    return found


@click.command("create-user")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="Display name (defaults to the username).")
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role]))
@click.option("--street", "streets", multiple=True, help="Street a leader oversees (repeatable).")
@click.option("--community", "communities", multiple=True, help="Community a community worker serves (repeatable).")
@click.option("--site", "sites", multiple=True, help="Market a manager runs (repeatable).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user(username: str, display_name: str | None, roles: tuple[str, ...], streets: tuple[str, ...],
                communities: tuple[str, ...], sites: tuple[str, ...], password: str) -> None:
    """Create a user with one or more roles and, for scoped roles, the places they cover."""
    if len(password) < 8:
        raise click.UsageError("password must be at least 8 characters")
    if db.session.scalar(select(User).where(User.username == username)):
        raise click.UsageError(f"user {username!r} already exists")
    # A scoped role without its places would see nothing; say so now rather than on the first login.
    for role, given, option in (("leader", streets, "--street"), ("community", communities, "--community"),
                                ("manager", sites, "--site")):
        if role in roles and not given:
            raise click.UsageError(f"role {role} needs at least one {option}")
    user = User(username=username, display_name=display_name or username)
    user.set_password(password)
    user.set_roles(roles)
    user.streets = _places(Street, streets, "street")
    user.communities = _places(Community, communities, "community")
    user.sites = _places(Site, sites, "site")
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
    if user.disabled:
        raise click.UsageError(f"user {username!r} is disabled")
    raw = issue_token(user, name)
    db.session.commit()
    current_app.logger.info("token issued for %s", username)
    click.echo(raw)


@click.command("revoke-token")
@click.argument("username")
@click.option("--name", default=None, help="Only tokens with this label (default: all of the user's tokens).")
def revoke_token(username: str, name: str | None) -> None:
    """Revoke a user's API tokens (a lost phone, a retired script)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise click.UsageError(f"no user {username!r}")
    tokens = [t for t in user.tokens if name is None or t.name == name]
    count = revoke_tokens(tokens)
    db.session.commit()
    click.echo(f"revoked {count} token(s) of {username}")


COMMANDS = (create_user, create_token, revoke_token)
