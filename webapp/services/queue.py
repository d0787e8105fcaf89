"""The desk's review queue: filtered findings, oldest first, with keyset pagination and facet counts.

Pagination seeks on ``(captured_at, id)`` — a row-value comparison that the composite indexes
``(status, captured_at, id)``, ``(status, community_id, captured_at, id)`` … answer directly — and
never uses OFFSET: at a million findings OFFSET re-reads every skipped row, and rows arriving while
the desk works (phones syncing the morning's patrol) would shift the pages under them, showing one
finding twice or skipping one. Equal ``captured_at`` values (a batch of photos from one phone) are
ordered by ``id``, so the cursor is total and no row is lost between pages.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import ColumnElement, and_, func, literal, select, tuple_
from sqlalchemy.orm import joinedload, selectinload

from .. import scope
from ..extensions import db
from ..models import Category, Community, Finding, Site, Status, Street, User
from ..models.mixins import UTCDateTime
from .workflow_rules import CLOSED, OPEN_FOR_PARTY, local_tz

PAGE_SIZE = 30
MAX_PAGE_SIZE = 200
# Status choices of the queue beyond single statuses: the desk thinks in these groups.
STATUS_GROUPS = {"open": OPEN_FOR_PARTY, "all": None}
FACET_LIMIT = 40


@dataclass(frozen=True)
class QueueFilters:
    status: str = Status.submitted.value
    street_id: int | None = None
    community_id: int | None = None
    site_id: int | None = None
    category_id: int | None = None
    inspector_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    overdue: bool = False

    def as_args(self) -> dict[str, str]:
        """Query-string form, for links that keep the filters (defaults left out)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in (None, False) or (f.name == "status" and value == Status.submitted.value):
                continue
            out[f.name] = "1" if value is True else str(value)
        return out

    def without(self, name: str) -> QueueFilters:
        default = {f.name: f.default for f in fields(self)}[name]
        return replace(self, **{name: "all" if name == "status" else default})


def _int(value) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _date(value) -> date | None:
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def parse_filters(args: Mapping) -> QueueFilters:
    """From a query string; an unreadable value is ignored rather than failing the desk's page."""
    status = str(args.get("status") or Status.submitted.value)
    if status not in STATUS_GROUPS and status not in {s.value for s in Status}:
        status = Status.submitted.value
    return QueueFilters(
        status=status,
        street_id=_int(args.get("street_id")),
        community_id=_int(args.get("community_id")),
        site_id=_int(args.get("site_id")),
        category_id=_int(args.get("category_id")),
        inspector_id=_int(args.get("inspector_id")),
        date_from=_date(args.get("date_from")),
        date_to=_date(args.get("date_to")),
        overdue=str(args.get("overdue", "")).lower() in ("1", "true", "on", "yes"),
    )


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=local_tz()).astimezone(timezone.utc)


def _clauses(user: User, f: QueueFilters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [scope.finding_filter(user)]
    if f.status in STATUS_GROUPS:
        if STATUS_GROUPS[f.status] is not None:
            clauses.append(Finding.status.in_(STATUS_GROUPS[f.status]))
    else:
        clauses.append(Finding.status == f.status)
    if f.street_id:
        clauses.append(Finding.community_id.in_(select(Community.id).where(Community.street_id == f.street_id)))
    if f.community_id:
        clauses.append(Finding.community_id == f.community_id)
    if f.site_id:
        clauses.append(Finding.site_id == f.site_id)
    if f.category_id:
        clauses.append(Finding.category_id == f.category_id)
    if f.inspector_id:
        clauses.append(Finding.inspector_id == f.inspector_id)
    if f.date_from:
        clauses.append(Finding.captured_at >= _local_midnight(f.date_from))
    if f.date_to:
        clauses.append(Finding.captured_at < _local_midnight(f.date_to + timedelta(days=1)))
    if f.overdue:
        # Views run workflow.mark_overdue first, so the stamp is current and the test stays indexable.
        clauses.append(Finding.overdue_at.is_not(None))
    return clauses


# --- cursors ---------------------------------------------------------------------------------------

def encode_cursor(finding: Finding) -> str:
    raw = f"{finding.captured_at.astimezone(timezone.utc).isoformat()}|{finding.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, ident = raw.split("|")
        at = datetime.fromisoformat(stamp)
        if at.tzinfo is None:
            return None
        return at, int(ident)
    except (ValueError, UnicodeDecodeError):
        return None  # a mangled cursor restarts at the first page


def _key_after(at: datetime, ident: int):
    return tuple_(Finding.captured_at, Finding.id) > tuple_(_utc(at), ident)


def _key_before(at: datetime, ident: int):
    return tuple_(Finding.captured_at, Finding.id) < tuple_(_utc(at), ident)


def _utc(at: datetime):
    return literal(at, UTCDateTime())


@dataclass
class QueuePage:
    items: list[Finding]
    next_cursor: str | None
    prev_cursor: str | None
    filters: QueueFilters
    counts: dict = field(default_factory=dict)


def page(user: User, filters: QueueFilters, *, after: str | None = None, before: str | None = None,
         limit: int = PAGE_SIZE) -> QueuePage:
    """One page of the queue, oldest first. ``after``/``before`` are cursors from a previous page."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    clauses = _clauses(user, filters)
    going_back = False
    if (key := decode_cursor(after)) is not None:
        clauses.append(_key_after(*key))
    elif (key := decode_cursor(before)) is not None:
        clauses.append(_key_before(*key))
        going_back = True
    order = (Finding.captured_at.desc(), Finding.id.desc()) if going_back else (Finding.captured_at, Finding.id)
    stmt = (select(Finding).where(and_(*clauses)).order_by(*order).limit(limit + 1)
            .options(joinedload(Finding.community), joinedload(Finding.site), joinedload(Finding.category),
                     joinedload(Finding.inspector), selectinload(Finding.photos)))
    rows = list(db.session.scalars(stmt).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    if going_back:
        rows.reverse()
        next_cursor = encode_cursor(rows[-1]) if rows else None
        prev_cursor = encode_cursor(rows[0]) if rows and more else None
    else:
        next_cursor = encode_cursor(rows[-1]) if rows and more else None
        prev_cursor = encode_cursor(rows[0]) if rows and decode_cursor(after) else None
    return QueuePage(rows, next_cursor, prev_cursor, filters)


def neighbours(user: User, filters: QueueFilters, finding: Finding) -> tuple[str | None, str | None]:
    """The previous and next finding's uuid in queue order (J/K on the triage screen)."""
    base = _clauses(user, filters)
    prev_uuid = db.session.scalar(
        select(Finding.uuid).where(and_(*base, _key_before(finding.captured_at, finding.id)))
        .order_by(Finding.captured_at.desc(), Finding.id.desc()).limit(1))
    next_uuid = db.session.scalar(
        select(Finding.uuid).where(and_(*base, _key_after(finding.captured_at, finding.id)))
        .order_by(Finding.captured_at, Finding.id).limit(1))
    return prev_uuid, next_uuid


def first_after(user: User, filters: QueueFilters, at: datetime, ident: int) -> str | None:
    """After acting on a finding it leaves the queue; the desk continues with the one that followed."""
    return db.session.scalar(
        select(Finding.uuid).where(and_(*_clauses(user, filters), _key_after(at, ident)))
        .order_by(Finding.captured_at, Finding.id).limit(1))


# --- facet counts ----------------------------------------------------------------------------------

def _grouped(user: User, filters: QueueFilters, facet: str, column, *, join_community: bool = False) -> dict:
    clauses = _clauses(user, filters.without(facet))
    stmt = select(column, func.count()).select_from(Finding)
    if join_community:
        stmt = stmt.join(Community, Community.id == Finding.community_id)
    stmt = stmt.where(and_(*clauses)).group_by(column).order_by(func.count().desc()).limit(FACET_LIMIT)
    return {key: n for key, n in db.session.execute(stmt) if key is not None}


def counts(user: User, filters: QueueFilters) -> dict:
    """How many findings each filter value would show, given the other filters (faceted counts).

    Each facet drops its own filter, so choosing 文苑社区 still shows how many the other communities
    hold. Names are loaded for the ids that occur, nothing else.
    """
    status = _grouped(user, filters, "status", Finding.status)
    streets = _grouped(user, filters, "street_id", Community.street_id, join_community=True)
    communities = _grouped(user, filters, "community_id", Finding.community_id)
    categories = _grouped(user, filters, "category_id", Finding.category_id)
    inspectors = _grouped(user, filters, "inspector_id", Finding.inspector_id)
    sites = _grouped(user, filters, "site_id", Finding.site_id)
    overdue = db.session.scalar(select(func.count()).select_from(Finding).where(
        and_(*_clauses(user, replace(filters, overdue=True)))))
    total = db.session.scalar(select(func.count()).select_from(Finding).where(and_(*_clauses(user, filters))))

    def named(model, counts_by_id, label):
        if not counts_by_id:
            return []
        rows = db.session.scalars(select(model).where(model.id.in_(list(counts_by_id))))
        return sorted(({"id": r.id, "label": label(r), "count": counts_by_id[r.id]} for r in rows),
                      key=lambda x: (-x["count"], x["label"]))

    return {
        "total": total,
        "overdue": overdue,
        "status": status,
        "street_id": named(Street, streets, lambda r: r.name),
        "community_id": named(Community, communities, lambda r: r.name),
        "site_id": named(Site, sites, lambda r: r.name),
        "category_id": named(Category, categories, lambda r: r.name_zh),
        "inspector_id": named(User, inspectors, lambda r: r.display_name),
    }


# --- duplicate candidates --------------------------------------------------------------------------

def duplicate_candidates(user: User, finding: Finding, *, days: int = 7, limit: int = 8) -> list[Finding]:
    """Open findings of the same category at the same site (or, without a site, the same community)
    captured within ``days`` before or after this one: likely the same problem reported twice."""
    if finding.kind != "problem" or finding.category_id is None:
        return []
    place = (Finding.site_id == finding.site_id) if finding.site_id else and_(
        Finding.site_id.is_(None), Finding.community_id == finding.community_id)
    window = timedelta(days=days)
    stmt = (select(Finding).where(
        scope.finding_filter(user), Finding.id != finding.id, Finding.category_id == finding.category_id, place,
        Finding.status.not_in(CLOSED), Finding.captured_at >= finding.captured_at - window,
        Finding.captured_at <= finding.captured_at + window,
    ).order_by(Finding.captured_at.desc()).limit(limit).options(selectinload(Finding.photos)))
    return list(db.session.scalars(stmt))
