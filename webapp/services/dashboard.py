"""The leaders' dashboard: the community league table, the daily trend by category family, how long
rectification takes, and the hot-spot sites.

Why like this: leaders rank communities by how fast they fix things, over periods of up to 90 days
and a million findings. Every number is a GROUP BY in the database — one pass per figure over the
period's rows, using the captured_at indexes — and Python only merges a few dozen aggregate rows.
Definitions (they are shown on the page, so a community can check its own figures):
  * 问题记录: every problem record captured in the period; 立案: accepted problems (accepted or
    later in the loop); 派遣: accepted problems that were dispatched.
  * 按期整改: dispatched problems rectified (or verified) by their deadline and never marked
    overdue; 按期整改率 = 按期整改 / 派遣.
  * 当前超期: still open now with the deadline passed; 累计超期: ever overdue, including late fixes.
  * 平均整改时长: dispatch to rectification, over the rectified ones.
  * 重复点位: sites where the same category was accepted more than once in the period.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import and_, case, func, or_, select

from ..extensions import db
from ..models import Category, Community, Finding, Site, Street, User
from ..scope import community_filter
from .reports import (
    ACCEPTED_STATUSES, FIXED_STATUSES, OPEN_STATUSES, PROBLEM, FindingFilter, day_bucket, finding_where,
    seconds_between,
)
from .categories import FAMILIES

COUNT_KEYS = ("findings", "accepted", "dispatched", "on_time", "overdue_now", "overdue_total", "verified",
              "repeat_sites")


@dataclass
class LeagueRow:
    community_id: int | None
    name: str
    street_name: str = ""
    findings: int = 0
    accepted: int = 0
    dispatched: int = 0
    on_time: int = 0
    overdue_now: int = 0
    overdue_total: int = 0
    verified: int = 0
    repeat_sites: int = 0
    rect_seconds: int = 0
    rect_count: int = 0

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.dispatched if self.dispatched else None

    @property
    def avg_hours(self) -> float | None:
        return self.rect_seconds / self.rect_count / 3600 if self.rect_count else None


SORT_KEYS = ("name", *COUNT_KEYS, "on_time_rate", "avg_hours")


def _n(cond):
    return func.sum(case((cond, 1), else_=0))


def _conditions(now: datetime):
    problem = Finding.kind == PROBLEM
    accepted = and_(problem, Finding.status.in_(ACCEPTED_STATUSES))
    fixed = and_(accepted, Finding.status.in_(FIXED_STATUSES))
    open_late = and_(accepted, Finding.status.in_(OPEN_STATUSES), Finding.deadline < now)
    return problem, accepted, fixed, open_late


def league_table(user: User, flt: FindingFilter, *, sort: str = "on_time_rate", descending: bool = True,
                 now: datetime | None = None) -> tuple[list[LeagueRow], LeagueRow]:
    """One row per community in scope (communities with nothing found included), plus the total."""
    now = now or datetime.now(timezone.utc)
    problem, accepted, fixed, open_late = _conditions(now)
    dispatched = and_(accepted, Finding.dispatched_at.is_not(None))
    timed = and_(fixed, Finding.dispatched_at.is_not(None), Finding.rectified_at.is_not(None))
    on_time = and_(timed, Finding.deadline.is_not(None), Finding.rectified_at <= Finding.deadline,
                   Finding.overdue_at.is_(None))
    ever_late = or_(Finding.overdue_at.is_not(None), open_late,
                    and_(fixed, Finding.rectified_at > Finding.deadline))
    where = finding_where(user, flt)
    rows = db.session.execute(
        select(
            Finding.community_id,
            _n(problem).label("findings"), _n(accepted).label("accepted"), _n(dispatched).label("dispatched"),
            _n(on_time).label("on_time"), _n(open_late).label("overdue_now"),
            _n(and_(accepted, ever_late)).label("overdue_total"),
            _n(and_(accepted, Finding.status == "verified")).label("verified"),
            func.sum(case((timed, seconds_between(Finding.rectified_at, Finding.dispatched_at)), else_=0))
            .label("rect_seconds"),
            _n(timed).label("rect_count"),
        ).where(*where).group_by(Finding.community_id)
    ).all()

    repeats = (
        select(Finding.community_id, Finding.site_id)
        .where(*where, Finding.kind == PROBLEM, Finding.status.in_(ACCEPTED_STATUSES), Finding.site_id.is_not(None))
        .group_by(Finding.community_id, Finding.site_id, Finding.category_id)
        .having(func.count() > 1)
        .subquery()
    )
    repeat_rows = dict(db.session.execute(
        select(repeats.c.community_id, func.count(func.distinct(repeats.c.site_id))).group_by(repeats.c.community_id)
    ).all())

    communities = select(Community.id, Community.name, Street.name.label("street")).join(Street).where(
        community_filter(user))
    if flt.community_id is not None:
        communities = communities.where(Community.id == flt.community_id)
    elif flt.street_id is not None:
        communities = communities.where(Community.street_id == flt.street_id)
    table = {c.id: LeagueRow(c.id, c.name, c.street) for c in db.session.execute(communities)}
    for row in rows:
        target = table.get(row.community_id)
        if target is None:  # a finding seen through another rule (e.g. an inspector's own), outside the list
            continue
        for key in ("findings", "accepted", "dispatched", "on_time", "overdue_now", "overdue_total", "verified",
                    "rect_seconds", "rect_count"):
            setattr(target, key, int(getattr(row, key) or 0))
    for community_id, count in repeat_rows.items():
        if community_id in table:
            table[community_id].repeat_sites = int(count)

    total = LeagueRow(None, "")
    for row in table.values():
        for key in ("findings", "accepted", "dispatched", "on_time", "overdue_now", "overdue_total", "verified",
                    "repeat_sites", "rect_seconds", "rect_count"):
            setattr(total, key, getattr(total, key) + getattr(row, key))
    return sort_league(list(table.values()), sort, descending), total


def sort_league(rows: list[LeagueRow], sort: str, descending: bool) -> list[LeagueRow]:
    """Sorted by ``sort``; rows without a value (no dispatches, nothing rectified) always last,
    ties by name so the order is stable."""
    if sort not in SORT_KEYS:
        sort = "on_time_rate"
    by_name = sorted(rows, key=lambda r: (r.street_name, r.name, r.community_id or 0))
    if sort == "name":
        return list(reversed(by_name)) if descending else by_name
    present = [r for r in by_name if getattr(r, sort) is not None]
    missing = [r for r in by_name if getattr(r, sort) is None]
    return sorted(present, key=lambda r: getattr(r, sort), reverse=descending) + missing


@dataclass
class Trend:
    days: list  # local dates
    families: list[str]  # family codes present, in FAMILIES order
    counts: dict[str, list[int]] = field(default_factory=dict)  # family → per-day counts

    def day_totals(self) -> list[int]:
        return [sum(self.counts[f][i] for f in self.families) for i in range(len(self.days))]


def valid_problem():
    """Problem records the desk has not thrown out (pending ones count: today's are not reviewed yet)."""
    return and_(Finding.kind == PROBLEM, Finding.status.not_in(("rejected", "duplicate")))


def trend(user: User, flt: FindingFilter) -> Trend:
    """Problems per local day by category family."""
    starts = flt.period.day_starts()
    bucket = day_bucket(Finding.captured_at, starts).label("day")
    rows = db.session.execute(
        select(bucket, Category.family, func.count().label("n"))
        .select_from(Finding).outerjoin(Category, Category.id == Finding.category_id)
        .where(*finding_where(user, flt), valid_problem())
        .group_by(bucket, Category.family)
    ).all()
    days = flt.period.dates()
    found = {family or "other" for _, family, _ in rows}
    families = [f for f in FAMILIES if f in found] + sorted(found - set(FAMILIES))
    result = Trend(days=days, families=families, counts={f: [0] * len(days) for f in families})
    for day, family, n in rows:
        if 0 <= int(day) < len(days):
            result.counts[family or "other"][int(day)] += int(n)
    return result


# Rectification time buckets: (upper bound in hours, inclusive; None for open-ended; key)
RECTIFY_BUCKETS: tuple[tuple[int | None, str], ...] = (
    (2, "0-2h"), (4, "2-4h"), (8, "4-8h"), (24, "8-24h"), (72, "1-3d"), (None, "3d+"),
)


def rectify_distribution(user: User, flt: FindingFilter) -> list[tuple[str, int]]:
    """How long dispatch-to-rectification took, for problems captured in the period and fixed."""
    seconds = seconds_between(Finding.rectified_at, Finding.dispatched_at)
    whens = [(seconds <= hours * 3600, i) for i, (hours, _) in enumerate(RECTIFY_BUCKETS) if hours is not None]
    bucket = case(*whens, else_=len(RECTIFY_BUCKETS) - 1).label("bucket")
    rows = dict(db.session.execute(
        select(bucket, func.count())
        .where(*finding_where(user, flt), Finding.kind == PROBLEM, Finding.status.in_(FIXED_STATUSES),
               Finding.dispatched_at.is_not(None), Finding.rectified_at.is_not(None))
        .group_by(bucket)
    ).all())
    return [(label, int(rows.get(i, 0))) for i, (_, label) in enumerate(RECTIFY_BUCKETS)]


@dataclass
class HotSpot:
    site_id: int
    site_name: str
    community_name: str
    count: int
    open: int
    last_at: datetime


def hot_spots(user: User, flt: FindingFilter, limit: int = 10) -> list[HotSpot]:
    """Sites with the most problems in the period (rejected and duplicate records not counted)."""
    n = func.count().label("n")
    top = (
        select(Finding.site_id, n,
               _n(Finding.status.in_(OPEN_STATUSES)).label("open"), func.max(Finding.captured_at).label("last_at"))
        .where(*finding_where(user, flt), valid_problem(), Finding.site_id.is_not(None))
        .group_by(Finding.site_id)
        .order_by(n.desc(), Finding.site_id)
        .limit(limit)
        .subquery()
    )
    rows = db.session.execute(
        select(top.c.site_id, Site.name, Community.name.label("community"), top.c.n, top.c.open, top.c.last_at)
        .join(Site, Site.id == top.c.site_id).join(Community, Community.id == Site.community_id)
        .order_by(top.c.n.desc(), top.c.site_id)
    ).all()
    return [HotSpot(r.site_id, r.name, r.community, int(r.n), int(r.open or 0), r.last_at) for r in rows]
