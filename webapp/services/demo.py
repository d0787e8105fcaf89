"""Demo data: the seed page's places, one account per role, and two weeks of patrol history.

The history is made by the same services a phone and the desk use (photo ingest, finding create,
workflow actions), each called with the time the step "happened", so the demo shows what the real
code produces: deadlines, overdue marks, watermarks, event trails, integrity flags. Everything is
deterministic (seeded ``random``, UUIDv5 ids), and a step whose id already exists is skipped, so
seeding twice leaves the same rows.
"""
from __future__ import annotations

import base64
import hashlib
import inspect
import random
import uuid as uuidlib
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from ..extensions import db
from ..models import Category, Community, Event, Finding, Photo, Site, Street, User
from .categories import ensure_categories
from .demo_photos import demo_photo
from .places import EXAMPLE, ensure_demo_places

NAMESPACE = uuidlib.UUID("3b0f6c1e-5a52-4d0b-9c7e-2f1d8a6e4b90")
DEMO_PASSWORD = "demo12345"
HISTORY_DAYS = 14


def demo_uuid(*parts: object) -> str:
    return str(uuidlib.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


class DemoRefused(Exception):
    """Raised when demo data is asked for outside demo mode."""


# username, display name (invented: never a person named on the seed page), roles, scope
DEMO_USERS: tuple[tuple[str, str, tuple[str, ...], dict[str, tuple[str, ...]]], ...] = (
    ("inspector", "督导员一", ("inspector",), {}),
    ("inspector2", "督导员二", ("inspector",), {}),
    ("desk", "内勤一", ("desk",), {}),
    ("manager", "市场管理员一", ("manager",), {"sites": ("湖西早市",)}),
    ("community", "社区工作人员一", ("community",), {"communities": ("汇金社区", EXAMPLE + "王口社区")}),
    ("leader", "街道领导一", ("leader",), {"streets": ("古楼街道",)}),
    ("admin", "系统管理员一", ("admin",), {}),
)


@dataclass
class SeedSummary:
    users_created: int = 0
    findings: int = 0
    photos: int = 0
    actions: int = 0
    history_skipped: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


def database_is_empty() -> bool:
    """Nothing an operator would miss: no users and no places."""
    return not db.session.scalar(select(func.count(User.id))) and not db.session.scalar(select(func.count(Street.id)))


@lru_cache(maxsize=1)
def _demo_password_hash() -> str:
    """One salted hash for the shared demo password: hashing takes ~0.2 s, and the password is public."""
    return generate_password_hash(DEMO_PASSWORD)


def ensure_demo_users() -> tuple[dict[str, User], int]:
    """Create the seven demo accounts, or put existing ones back to their demo roles and scope."""
    users: dict[str, User] = {}
    created = 0
    for username, display, roles, scope in DEMO_USERS:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(username=username, display_name=display)
            db.session.add(user)
            created += 1
        user.display_name, user.disabled = display, False
        if user.id is None or not user.check_password(DEMO_PASSWORD):
            user.password_hash = _demo_password_hash()
        user.set_roles(roles)
        user.streets = list(db.session.scalars(select(Street).where(Street.name.in_(scope.get("streets", ())))))
        user.communities = list(db.session.scalars(
            select(Community).where(Community.name.in_(scope.get("communities", ())))))
        user.sites = list(db.session.scalars(select(Site).where(Site.name.in_(scope.get("sites", ())))))
        users[username] = user
    db.session.commit()
    return users, created


def history_services():
    """The photo, finding and workflow services, or None while any is missing from this build."""
    try:
        from . import findings, photos, workflow
    except ImportError:
        return None
    needed = (getattr(photos, "ingest_photo", None), getattr(findings, "create_finding", None),
              getattr(workflow, "apply_action", None))
    return needed if all(needed) else None


def seed_demo(*, now: datetime | None = None, history: bool = True) -> SeedSummary:
    """Seed places, categories, users and history. Refused unless the app is in demo mode."""
    if not current_app.config.get("DEMO_MODE"):
        raise DemoRefused("DEMO_MODE is off (production configuration): demo accounts share a known password")
    summary = SeedSummary()
    ensure_categories()
    db.session.commit()
    ensure_demo_places()
    users, summary.users_created = ensure_demo_users()
    if history:
        services = history_services()
        if services is None:
            summary.history_skipped = "history needs the photo/finding/workflow services (not in this build yet)"
        else:
            from .demo_history import play_history

            played = play_history(users, services, now=now)
            summary.findings, summary.photos, summary.actions = played
    summary.counts = table_counts()
    return summary


def table_counts() -> dict[str, int]:
    return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Street, Community, Site, Category, User, Finding, Photo, Event)}


# --- helpers shared with the history player ------------------------------------------------------

def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["LOCAL_TIMEZONE"])


def at_local(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=local_zone()).astimezone(timezone.utc)


def digest_header(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def accepts_now(function) -> bool:
    return "now" in inspect.signature(function).parameters


def rng_for(*parts: object) -> random.Random:
    return random.Random("/".join(str(p) for p in parts))
