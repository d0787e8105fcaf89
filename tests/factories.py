"""Small builders for test data; each adds to the session and flushes, the caller commits when it needs to."""
from __future__ import annotations

import itertools
import uuid as uuidlib
from datetime import datetime, timezone

from werkzeug.security import generate_password_hash

from webapp.extensions import db
from webapp.models import Category, Community, Finding, Site, Street, User, Zone
from webapp.services.categories import ensure_categories

_seq = itertools.count(1)
PASSWORD = "correct-horse-42"
# Hashing takes ~0.2 s (werkzeug's scrypt) and a salted hash may be shared between test users, so
# each password is hashed once per test run: the suite makes hundreds of users.
_password_hashes: dict[str, str] = {}


def _hashed(password: str) -> str:
    if password not in _password_hashes:
        _password_hashes[password] = generate_password_hash(password)
    return _password_hashes[password]


def make_street(name: str | None = None) -> Street:
    street = Street(name=name or f"测试街道{next(_seq)}")
    db.session.add(street)
    db.session.flush()
    return street


def make_community(street: Street | None = None, name: str | None = None) -> Community:
    community = Community(street=street or make_street(), name=name or f"测试社区{next(_seq)}")
    db.session.add(community)
    db.session.flush()
    return community


def make_site(community: Community | None = None, name: str | None = None, kind: str = "residential",
              zones: tuple[str, ...] = (), **kw) -> Site:
    site = Site(community=community or make_community(), name=name or f"测试点位{next(_seq)}", kind=kind, **kw)
    db.session.add(site)
    for order, zone in enumerate(zones):
        site.zones.append(Zone(name=zone, sort_order=order))
    db.session.flush()
    return site


def make_user(username: str | None = None, roles=("inspector",), *, streets=(), communities=(), sites=(),
              password: str = PASSWORD, disabled: bool = False) -> User:
    username = username or f"user{next(_seq)}"
    user = User(username=username, display_name=username, disabled=disabled)
    user.password_hash = _hashed(password)
    user.set_roles(roles)
    user.streets = list(streets)
    user.communities = list(communities)
    user.sites = list(sites)
    db.session.add(user)
    db.session.flush()
    return user


def category(code: str = "litter") -> Category:
    ensure_categories()
    db.session.flush()
    return db.session.query(Category).filter_by(code=code).one()


def make_finding(inspector: User, community: Community, *, kind: str = "problem", site: Site | None = None,
                 category_code: str | None = "litter", status: str | None = None,
                 captured_at: datetime | None = None, note: str = "", **kw) -> Finding:
    finding = Finding(
        uuid=str(uuidlib.uuid4()), kind=kind, inspector=inspector, community=community, site=site,
        category=category(category_code) if kind == "problem" and category_code else None,
        captured_at=captured_at or datetime.now(timezone.utc), note=note, payload_hash="0" * 64,
        status=status or ("ok" if kind == "ok" else "submitted"), **kw,
    )
    db.session.add(finding)
    db.session.flush()
    return finding
