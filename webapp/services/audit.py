"""The audit trail of admin changes: who changed which entity, when, and its fields before → after.

Admin services call ``record`` inside their own transaction, so a change and its audit row are
committed together or not at all. Secrets (passwords, webhook URLs) never enter a snapshot: callers
pass only the fields worth showing, and ``snapshot`` has no way to read the encrypted columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select

from ..extensions import db
from ..models import AuditEvent, User

# entity_type values, so filters in the console and tests share one spelling.
ENTITY_TYPES = ("user", "api_token", "street", "community", "site", "zone", "category", "webhook", "notice",
                "import")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set) else items
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def snapshot(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """The named attributes of ``obj`` as JSON-ready values (lists of names for relationships)."""
    return {name: _jsonable(getattr(obj, name)) for name in fields}


def diff(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """Only the keys that changed, so an audit row shows the change rather than the whole entity."""
    if before is None or after is None:
        return before, after
    keys = [k for k in after if before.get(k) != after.get(k)] + [k for k in before if k not in after]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}


def record(actor: User | None, action: str, entity_type: str, entity: Any = None, *,
           before: dict | None = None, after: dict | None = None, label: str | None = None,
           note: str = "") -> AuditEvent | None:
    """Add one audit row to the session (the caller commits). Returns None when nothing changed."""
    before, after = diff(before, after)
    if before == {} and after == {}:
        return None
    entity_id = getattr(entity, "id", None) if entity is not None else None
    if label is None:
        label = str(getattr(entity, "name", None) or getattr(entity, "username", None) or "")
    event = AuditEvent(actor_id=actor.id if actor is not None else None, action=action, entity_type=entity_type,
                       entity_id=entity_id, entity_label=label[:200], before=before, after=after, note=note)
    db.session.add(event)
    return event


@dataclass
class AuditQuery:
    entity_type: str = ""
    entity_id: int | None = None
    actor_id: int | None = None
    action: str = ""
    q: str = ""
    day_from: date | None = None
    day_to: date | None = None


def audit_select(query: AuditQuery, tz: str) -> Select:
    """Newest first; dates are local days (an admin asks "what changed on Monday", not in UTC)."""
    stmt = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if query.entity_type:
        stmt = stmt.where(AuditEvent.entity_type == query.entity_type)
    if query.entity_id is not None:
        stmt = stmt.where(AuditEvent.entity_id == query.entity_id)
    if query.actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == query.actor_id)
    if query.action:
        stmt = stmt.where(AuditEvent.action == query.action)
    if query.q:
        like = f"%{query.q}%"
        stmt = stmt.where(or_(AuditEvent.entity_label.ilike(like), AuditEvent.note.ilike(like)))
    zone = ZoneInfo(tz)
    if query.day_from:
        stmt = stmt.where(AuditEvent.at >= datetime.combine(query.day_from, time.min, zone))
    if query.day_to:
        stmt = stmt.where(AuditEvent.at < datetime.combine(query.day_to + timedelta(days=1), time.min, zone))
    return stmt
