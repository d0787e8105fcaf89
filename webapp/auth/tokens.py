"""Bearer API tokens and the CSRF rule that goes with them.

A request carrying ``Authorization: Bearer …`` is authenticated by that token alone — the session
cookie is ignored — and is exempt from CSRF (a cross-site page cannot set that header). Every other
state-changing request must carry a CSRF token, forms and browser API calls alike.
"""
from __future__ import annotations

import functools
import secrets

from flask import Flask, g, request
from flask_login import AnonymousUserMixin
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import joinedload, lazyload

from ..extensions import csrf, db, login_manager
from ..models import ApiToken, User, hash_token
from ..models.mixins import utcnow

TOKEN_PREFIX = "xc_"

# Blueprints that never authenticate by the session cookie: each state-changing route takes a key
# from the request itself (Open311's ``api_key`` form field), which a cross-site page cannot know, so
# CSRF does not apply. They add their name here; ``csrf.exempt`` is not consulted by the hook below.
CSRF_EXEMPT_BLUEPRINTS: set[str] = set()


def issue_token(user: User, name: str = "") -> str:
    """Create a token for ``user`` and return the raw value; only its hash is kept."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, name=name, token_hash=hash_token(raw)))
    return raw


def revoke_tokens(tokens) -> int:
    """Mark tokens revoked (kept, not deleted, so the audit trail still names them); caller commits."""
    count = 0
    for token in tokens:
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            count += 1
    return count


@functools.cache
def _user_by_token_hash() -> Select:
    # Built once: constructing this select and its loader options cost more CPU than running it.
    return (
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None),
               User.disabled.is_(False))
        .options(joinedload(User.role_rows), lazyload(User.streets), lazyload(User.communities),
                 lazyload(User.sites))
    )


def user_for_token(raw: str) -> User | None:
    """The token's user in one statement. This runs before every API request, so the user's scope
    collections (streets, communities, sites: three selectin queries by default) are left to load when
    a scope check first reads them; a phone's PUT never does. Roles come along: every view checks them."""
    return db.session.scalars(_user_by_token_hash(), {"token_hash": hash_token(raw)}).unique().one_or_none()


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def init_app(app: Flask) -> None:
    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        try:
            user = db.session.get(User, int(user_id))
        except ValueError:
            return None
        return user if user and not user.disabled else None

    @app.before_request
    def authenticate_bearer_and_check_csrf() -> None:
        raw = _bearer()
        g.token_auth = raw is not None
        if raw is not None:
            # Setting Flask-Login's per-request user keeps the session cookie out of token requests.
            g._login_user = user_for_token(raw) or AnonymousUserMixin()
            return
        if request.blueprint in CSRF_EXEMPT_BLUEPRINTS:
            return
        if request.method not in ("GET", "HEAD", "OPTIONS") and app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()

