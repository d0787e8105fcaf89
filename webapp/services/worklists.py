"""Each role's pending work: the party's "我的任务", the inspector's "待核查", rejected reports, and the
badge counts every screen shows. Read-only; state changes go through ``workflow.apply_action``."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from .. import scope
from ..extensions import db
from ..models import Event, Finding, Role, Status, User
from ..models.mixins import utcnow
from .geo import haversine_m
from .workflow_rules import DESK_ROLES, OPEN_FOR_PARTY

RECENT_RECTIFIED = timedelta(days=3)
REJECTED_WINDOW = timedelta(days=14)


def party_clause(user: User) -> ColumnElement[bool]:
    """Findings dispatched to this user's communities or markets (their responsibility, not just visible)."""
    clauses = []
    if user.has_role(Role.community) and user.communities:
        clauses.append(and_(Finding.party_kind == "community",
                            Finding.party_community_id.in_([c.id for c in user.communities])))
    if user.has_role(Role.manager) and user.sites:
        clauses.append(and_(Finding.party_kind == "market", Finding.party_site_id.in_([s.id for s in user.sites])))
    return or_(*clauses) if clauses else false()


def _overdue_clause(now: datetime) -> ColumnElement[bool]:
    return or_(Finding.overdue_at.is_not(None), Finding.deadline < now)


def _task_options():
    return (joinedload(Finding.community), joinedload(Finding.site), joinedload(Finding.zone),
            joinedload(Finding.category), selectinload(Finding.photos), selectinload(Finding.events))


@dataclass
class PartyTasks:
    open: list[Finding]  # dispatched/acknowledged, by deadline
    disputed: list[Finding]  # waiting for the desk
    rectified: list[Finding]  # sent in the last days, waiting for verification


def party_tasks(user: User, now: datetime | None = None) -> PartyTasks:
    now = now or utcnow()
    base = and_(scope.finding_filter(user), party_clause(user))

    def rows(*where, order):
        return list(db.session.scalars(select(Finding).where(base, *where).order_by(*order)
                                       .options(*_task_options())).unique())

    return PartyTasks(
        open=rows(Finding.status.in_(OPEN_FOR_PARTY), order=(Finding.deadline, Finding.id)),
        disputed=rows(Finding.status == Status.disputed.value, order=(Finding.updated_at.desc(),)),
        rectified=rows(Finding.status == Status.rectified.value, Finding.rectified_at >= now - RECENT_RECTIFIED,
                       order=(Finding.rectified_at.desc(),)),
    )


def by_zone(findings: list[Finding]) -> list[tuple[str | None, list[Finding]]]:
    """Group a market's tasks by market and zone (in the market's zone order), each group keeping
    its deadline order; the label is "湖西早市 · 活禽区", or the market alone for unzoned findings."""
    groups: dict[tuple, list[Finding]] = {}
    for f in findings:
        key = (f.site.name if f.site else "", f.zone.sort_order if f.zone else 10_000,
               f.zone.name if f.zone else "")
        groups.setdefault(key, []).append(f)
    return [(" · ".join(part for part in (site, zone) if part) or None, items)
            for (site, _order, zone), items in sorted(groups.items(), key=lambda kv: kv[0][:2])]


def verify_clause(user: User) -> ColumnElement[bool]:
    """Rectified findings this user may verify: the desk all of them, an inspector their own reports."""
    if user.has_role(*DESK_ROLES):
        return Finding.status == Status.rectified.value
    if user.has_role(Role.inspector):
        return and_(Finding.status == Status.rectified.value, Finding.inspector_id == user.id)
    return false()


def to_verify(user: User, lat: float | None = None, lon: float | None = None,
              limit: int = 200) -> list[tuple[Finding, float | None]]:
    """Rectified findings to check on site, nearest first when we know where the inspector is,
    otherwise longest-waiting first. Returns (finding, distance in metres or None)."""
    stmt = (select(Finding).where(scope.finding_filter(user), verify_clause(user))
            .order_by(Finding.rectified_at, Finding.id).limit(limit).options(*_task_options()))
    items = [(f, None) for f in db.session.scalars(stmt).unique()]
    if lat is None or lon is None:
        return items
    placed = []
    for f, _ in items:
        flat = f.latitude if f.latitude is not None else (f.site.latitude if f.site else None)
        flon = f.longitude if f.longitude is not None else (f.site.longitude if f.site else None)
        placed.append((f, haversine_m(lat, lon, flat, flon) if flat is not None and flon is not None else None))
    return sorted(placed, key=lambda item: (item[1] is None, item[1] or 0))


def rejected_reports(user: User, now: datetime | None = None) -> list[tuple[Finding, Event | None]]:
    """The inspector's reports the desk refused lately, with the rejecting event (its reason and note)."""
    now = now or utcnow()
    stmt = (select(Finding, Event).join(Event, and_(Event.finding_id == Finding.id, Event.type == "reject"))
            .where(Finding.inspector_id == user.id, Finding.status == Status.rejected.value,
                   Event.at >= now - REJECTED_WINDOW)
            .order_by(Event.at.desc()).limit(100)
            .options(joinedload(Finding.community), joinedload(Finding.category), selectinload(Finding.photos)))
    return [(f, e) for f, e in db.session.execute(stmt).unique()]


# --- badge counts ----------------------------------------------------------------------------------

def _count(*where) -> int:
    return db.session.scalar(select(func.count()).select_from(Finding).where(*where)) or 0


def desk_badge(user: User) -> int:
    """To review: new reports and disputes waiting for the desk's decision."""
    return _count(scope.finding_filter(user),
                  Finding.status.in_((Status.submitted.value, Status.disputed.value)))


def party_badge(user: User, now: datetime | None = None) -> int:
    """New dispatches (not yet acknowledged) plus overdue open tasks, each finding counted once."""
    now = now or utcnow()
    return _count(scope.finding_filter(user), party_clause(user), Finding.status.in_(OPEN_FOR_PARTY),
                  or_(Finding.status == Status.dispatched.value, _overdue_clause(now)))


def inspector_badge(user: User, rejected_seen_at: datetime | None = None, now: datetime | None = None) -> int:
    """Own findings waiting for verification, plus rejections not yet seen on the 待核查 page."""
    now = now or utcnow()
    since = max(rejected_seen_at or now - REJECTED_WINDOW, now - REJECTED_WINDOW)
    rejected = db.session.scalar(
        select(func.count(func.distinct(Finding.id))).select_from(Finding)
        .join(Event, and_(Event.finding_id == Finding.id, Event.type == "reject"))
        .where(Finding.inspector_id == user.id, Finding.status == Status.rejected.value, Event.at > since)) or 0
    return _count(scope.finding_filter(user), verify_clause(user)) + rejected
