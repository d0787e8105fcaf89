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

from flask_babel import get_locale
from sqlalchemy import ColumnElement, and_, false, func, literal, select, tuple_, union_all
from sqlalchemy.orm import joinedload, selectinload

from .. import scope
from ..extensions import db
from ..models import Category, Community, Finding, Role, Site, Status, Street, User, UserRole
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


def _seek_ids(user: User, filters: QueueFilters, key, descending: bool, limit: int) -> list[int]:
    """Ids of the next ``limit`` rows in (captured_at, id) order from the cursor ``key``.

    A status group ("open" = dispatched + acknowledged) is one index seek per status, merged: with
    ``status IN (…)`` the database cannot read (status, captured_at, id) in captured_at order and
    falls back to walking every finding by date until it has found a page.
    """
    order = (Finding.captured_at.desc(), Finding.id.desc()) if descending else (Finding.captured_at, Finding.id)
    statuses = STATUS_GROUPS.get(filters.status)
    per_status = [replace(filters, status=s) for s in statuses] if statuses else [filters]
    parts = []
    for f in per_status:
        clauses = _clauses(user, f) + ([key] if key is not None else [])
        parts.append(select(Finding.id, Finding.captured_at).where(and_(*clauses)).order_by(*order).limit(limit))
    if len(parts) == 1:
        return list(db.session.scalars(select(parts[0].subquery().c.id)))
    merged = union_all(*(select(part.subquery()) for part in parts)).subquery()
    outer = (merged.c.captured_at.desc(), merged.c.id.desc()) if descending else (merged.c.captured_at, merged.c.id)
    return list(db.session.scalars(select(merged.c.id).order_by(*outer).limit(limit)))


def page(user: User, filters: QueueFilters, *, after: str | None = None, before: str | None = None,
         limit: int = PAGE_SIZE) -> QueuePage:
    """One page of the queue, oldest first. ``after``/``before`` are cursors from a previous page."""
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    key, going_back = None, False
    if (position := decode_cursor(after)) is not None:
        key = _key_after(*position)
    elif (position := decode_cursor(before)) is not None:
        key, going_back = _key_before(*position), True
    ids = _seek_ids(user, filters, key, going_back, limit + 1)
    more = len(ids) > limit
    ids = ids[:limit]
    loaded = {f.id: f for f in db.session.scalars(
        select(Finding).where(Finding.id.in_(ids))
        .options(joinedload(Finding.community), joinedload(Finding.site), joinedload(Finding.category),
                 joinedload(Finding.inspector), selectinload(Finding.photos))).unique()} if ids else {}
    rows = sorted((loaded[i] for i in ids if i in loaded), key=lambda f: (f.captured_at, f.id))
    if going_back:
        next_cursor = encode_cursor(rows[-1]) if rows else None
        prev_cursor = encode_cursor(rows[0]) if rows and more else None
    else:
        next_cursor = encode_cursor(rows[-1]) if rows and more else None
        prev_cursor = encode_cursor(rows[0]) if rows and decode_cursor(after) else None
    return QueuePage(rows, next_cursor, prev_cursor, filters)


def neighbours(user: User, filters: QueueFilters, finding: Finding) -> tuple[str | None, str | None]:
    """The previous and next finding's uuid in queue order (J/K on the triage screen)."""
    before = _seek_ids(user, filters, _key_before(finding.captured_at, finding.id), True, 1)
    after = _seek_ids(user, filters, _key_after(finding.captured_at, finding.id), False, 1)
    return _uuid(before), _uuid(after)


def _uuid(ids: list[int]) -> str | None:
    return db.session.scalar(select(Finding.uuid).where(Finding.id == ids[0])) if ids else None


def first_after(user: User, filters: QueueFilters, at: datetime, ident: int) -> str | None:
    """After acting on a finding it leaves the queue; the desk continues with the one that followed."""
    return _uuid(_seek_ids(user, filters, _key_after(at, ident), False, 1))


# --- facet counts ----------------------------------------------------------------------------------

# The statuses work is done in. Counting the closed ones (verified, rejected … ~90% of a year's
# findings) would mean reading most of the table on every page view, so they are listed uncounted.
WORK_STATUSES = (Status.submitted.value, Status.accepted.value, Status.dispatched.value,
                 Status.acknowledged.value, Status.disputed.value, Status.rectified.value)
# Counting a view over closed findings is bounded: by a date range of at most this many days, or
# else only the total is counted, up to TOTAL_CAP ("10000+").
COUNTED_RANGE_DAYS = 92
TOTAL_CAP = 10_000


def _per_status(filters: QueueFilters) -> list[QueueFilters]:
    """A status group as one filter per status: ``status = ?`` lets the (status, column, …) indexes
    answer, where ``status IN (…)`` leads SQLite to scan the whole table in the grouped column's order."""
    statuses = STATUS_GROUPS.get(filters.status)
    return [replace(filters, status=s) for s in statuses] if statuses else [filters]


def _grouped(user: User, filters: QueueFilters, facet: str, column, *, join_community: bool = False) -> dict:
    totals: dict = {}
    for f in _per_status(filters.without(facet)):
        stmt = select(column, func.count()).select_from(Finding)
        if join_community:
            stmt = stmt.join(Community, Community.id == Finding.community_id)
        stmt = stmt.where(and_(*_clauses(user, f))).group_by(column)
        for key, n in db.session.execute(stmt):
            if key is not None:
                totals[key] = totals.get(key, 0) + n
    return dict(sorted(totals.items(), key=lambda kv: -kv[1])[:FACET_LIMIT])


def _status_counts(user: User, filters: QueueFilters) -> dict:
    """The status facet: one indexed count per work status, the other filters applied."""
    base = filters.without("status")
    return {s: n for s in WORK_STATUSES if (n := _count(user, replace(base, status=s)))}


def _bounded(filters: QueueFilters) -> bool:
    """Whether the rows behind this view are few enough to count on every page view."""
    if filters.status in WORK_STATUSES or filters.status == "open":
        return True
    return bool(filters.date_from and filters.date_to
                and (filters.date_to - filters.date_from).days <= COUNTED_RANGE_DAYS)


def _count(user: User, filters: QueueFilters, cap: int | None = None) -> int:
    total = 0
    for f in _per_status(filters):
        stmt = select(Finding.id).where(and_(*_clauses(user, f)))
        if cap is not None:
            stmt = stmt.limit(cap + 1 - total)
        total += db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        if cap is not None and total > cap:
            break
    return total


def counts(user: User, filters: QueueFilters) -> dict:
    """How many findings each filter value would show, given the other filters (faceted counts).

    Each facet drops its own filter, so choosing 文苑社区 still shows how many the other communities
    hold; each is one GROUP BY answered from a (status, column, captured_at, id) index. Over closed
    findings without a short date range the values are listed without counts (``count`` None) and
    the total is capped, so the page stays fast at a million findings.
    """
    bounded = _bounded(filters)
    status = _status_counts(user, filters)
    if bounded:
        facets = {
            "street_id": _grouped(user, filters, "street_id", Community.street_id, join_community=True),
            "community_id": _grouped(user, filters, "community_id", Finding.community_id),
            "category_id": _grouped(user, filters, "category_id", Finding.category_id),
            "inspector_id": _grouped(user, filters, "inspector_id", Finding.inspector_id),
            "site_id": _grouped(user, filters, "site_id", Finding.site_id),
        }
        total = _count(user, filters)
        overdue = _count(user, replace(filters, overdue=True))
    else:
        facets = {name: None for name in ("street_id", "community_id", "category_id", "inspector_id", "site_id")}
        total = _count(user, filters, cap=TOTAL_CAP)
        overdue = None

    def named(model, counts_by_id, label, where=()):
        if counts_by_id is None:  # uncounted: the choices themselves, from the reference tables
            rows = db.session.scalars(select(model).where(*where).order_by(model.id).limit(500))
            return sorted(({"id": r.id, "label": label(r), "count": None} for r in rows), key=lambda x: x["label"])
        if not counts_by_id:
            return []
        rows = db.session.scalars(select(model).where(model.id.in_(list(counts_by_id))))
        return sorted(({"id": r.id, "label": label(r), "count": counts_by_id[r.id]} for r in rows),
                      key=lambda x: (-x["count"], x["label"]))

    site_scope = [Site.community_id == filters.community_id] if filters.community_id else [false()]
    capped = not bounded and total > TOTAL_CAP
    return {
        "total": TOTAL_CAP if capped else total,
        "total_capped": capped,
        "overdue": overdue,
        "status": status,
        "street_id": named(Street, facets["street_id"], lambda r: r.name, [scope.street_filter(user)]),
        "community_id": named(Community, facets["community_id"], lambda r: r.name, [scope.community_filter(user)]),
        "site_id": named(Site, facets["site_id"], lambda r: r.name, [scope.site_filter(user), *site_scope]),
        "category_id": named(Category, facets["category_id"], lambda r: r.name(str(get_locale())), [Category.retired_at.is_(None)]),
        "inspector_id": named(User, facets["inspector_id"], lambda r: r.display_name,
                              [User.id.in_(select(UserRole.user_id).where(UserRole.role == Role.inspector.value))]),
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
