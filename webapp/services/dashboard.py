"""The leaders' dashboard: the community league table, the daily trend by category family, how long
rectification takes, and the hot-spot sites.

Why like this: leaders rank communities by how fast they fix things, over periods of up to 90 days
and a million findings. The figures are sums over the rollup (services/rollup.py: one row per local
day, community, site and category, refreshed from the findings), grouped in the database; only
"overdue now", which depends on the clock, is read live from the open findings. The dashboard
covers the communities the user sees whole (scope.whole_community_filter).
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
from datetime import date, datetime, timezone

from sqlalchemy import and_, func, select

from ..extensions import db
from ..models import Category, Community, Finding, Site, Street, User
from ..models.reporting import ReportDaily
from ..scope import whole_community_filter
from . import rollup
from .categories import FAMILIES
from .reports import OPEN_STATUSES, PROBLEM, FindingFilter, count_if, unindexed

COUNT_KEYS = ("findings", "accepted", "dispatched", "on_time", "overdue_now", "overdue_total", "verified",
              "repeat_sites")
SUMMED = ("problems", "accepted", "dispatched", "on_time", "late_marked", "verified", "rect_seconds", "rect_count")


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


def valid_problem():
    """Problem records the desk has not thrown out (pending ones count: today's are not reviewed yet)."""
    return and_(Finding.kind == PROBLEM, Finding.status.not_in(("rejected", "duplicate")))


def _communities(user: User, flt: FindingFilter):
    query = select(Community.id).where(whole_community_filter(user))
    if flt.community_id is not None:
        query = query.where(Community.id == flt.community_id)
    elif flt.street_id is not None:
        query = query.where(Community.street_id == flt.street_id)
    return query


def _rollup_where(user: User, flt: FindingFilter) -> list:
    clauses = [ReportDaily.day >= flt.period.first.toordinal(), ReportDaily.day <= flt.period.last.toordinal(),
               ReportDaily.community_id.in_(_communities(user, flt))]
    if flt.category_id is not None:
        clauses.append(ReportDaily.category_id == flt.category_id)
    return clauses


def league_table(user: User, flt: FindingFilter, *, sort: str = "on_time_rate", descending: bool = True,
                 now: datetime | None = None) -> tuple[list[LeagueRow], LeagueRow]:
    """One row per community in scope (communities with nothing found included), plus the total."""
    now = now or datetime.now(timezone.utc)
    rollup.refresh()
    where = _rollup_where(user, flt)
    sums = db.session.execute(
        select(ReportDaily.community_id, *(func.sum(getattr(ReportDaily, c)).label(c) for c in SUMMED))
        .where(*where).group_by(ReportDaily.community_id)
    ).all()
    repeats = (
        select(ReportDaily.community_id, ReportDaily.site_id)
        .where(*where, ReportDaily.site_id.is_not(None))
        .group_by(ReportDaily.community_id, ReportDaily.site_id, ReportDaily.category_id)
        .having(func.sum(ReportDaily.accepted) > 1)
        .subquery()
    )
    repeat_rows = dict(db.session.execute(
        select(repeats.c.community_id, func.count(func.distinct(repeats.c.site_id))).group_by(repeats.c.community_id)
    ).all())
    late_now = _overdue_now(user, flt, now)

    communities = (select(Community.id, Community.name, Street.name.label("street")).join(Street)
                   .where(Community.id.in_(_communities(user, flt))))
    table = {c.id: LeagueRow(c.id, c.name, c.street) for c in db.session.execute(communities)}
    for row in sums:
        target = table.get(row.community_id)
        if target is None:
            continue
        target.findings = int(row.problems or 0)
        for key in ("accepted", "dispatched", "on_time", "verified", "rect_seconds", "rect_count"):
            setattr(target, key, int(getattr(row, key) or 0))
        target.overdue_total = int(row.late_marked or 0)
    for community_id, (overdue_now, unmarked) in late_now.items():
        if community_id in table:
            table[community_id].overdue_now = overdue_now
            table[community_id].overdue_total += unmarked
    for community_id, count in repeat_rows.items():
        if community_id in table:
            table[community_id].repeat_sites = int(count)

    total = LeagueRow(None, "")
    for row in table.values():
        for key in (*COUNT_KEYS, "rect_seconds", "rect_count"):
            setattr(total, key, getattr(total, key) + getattr(row, key))
    return sort_league(list(table.values()), sort, descending), total


def _overdue_now(user: User, flt: FindingFilter, now: datetime) -> dict[int, tuple[int, int]]:
    """Open problems past their deadline now, per community: (all, those not yet stamped overdue)."""
    start, end = flt.period.bounds()
    captured = unindexed(Finding.captured_at)  # the (status, community_id, deadline, …) index answers
    clauses = [Finding.status.in_(OPEN_STATUSES), Finding.deadline < now, captured >= start, captured < end,
               Finding.community_id.in_(_communities(user, flt))]
    if flt.category_id is not None:
        clauses.append(Finding.category_id == flt.category_id)
    rows = db.session.execute(
        select(Finding.community_id, func.count(), count_if(Finding.overdue_at.is_(None)))
        .where(*clauses).group_by(Finding.community_id)
    ).all()
    return {community_id: (int(n), int(unmarked or 0)) for community_id, n, unmarked in rows}


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
    days: list[date]
    families: list[str]  # family codes present, in FAMILIES order
    counts: dict[str, list[int]] = field(default_factory=dict)  # family → per-day counts

    def day_totals(self) -> list[int]:
        return [sum(self.counts[f][i] for f in self.families) for i in range(len(self.days))]


def trend(user: User, flt: FindingFilter) -> Trend:
    """Problems per local day by category family (rejected and duplicate records not counted)."""
    rollup.refresh()
    rows = db.session.execute(
        select(ReportDaily.day, Category.family, func.sum(ReportDaily.valid))
        .select_from(ReportDaily).outerjoin(Category, Category.id == ReportDaily.category_id)
        .where(*_rollup_where(user, flt))
        .group_by(ReportDaily.day, Category.family)
    ).all()
    days = flt.period.dates()
    found = {family or "other" for _, family, n in rows if n}
    families = [f for f in FAMILIES if f in found] + sorted(found - set(FAMILIES))
    result = Trend(days=days, families=families, counts={f: [0] * len(days) for f in families})
    first = flt.period.first.toordinal()
    for day, family, n in rows:
        if n:
            result.counts[family or "other"][int(day) - first] += int(n)
    return result


def rectify_distribution(user: User, flt: FindingFilter) -> list[tuple[str, int]]:
    """How long dispatch-to-rectification took, for problems captured in the period and fixed."""
    rollup.refresh()
    buckets = [f"rect_b{i}" for i in range(len(rollup.RECTIFY_KEYS))]
    row = db.session.execute(
        select(*(func.sum(getattr(ReportDaily, b)) for b in buckets)).where(*_rollup_where(user, flt))
    ).one()
    return [(key, int(n or 0)) for key, n in zip(rollup.RECTIFY_KEYS, row)]


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
    rollup.refresh()
    n = func.sum(ReportDaily.valid).label("n")
    top = (
        select(ReportDaily.site_id, n, func.sum(ReportDaily.valid_open).label("open"),
               func.max(ReportDaily.last_at).label("last_at"))
        .where(*_rollup_where(user, flt), ReportDaily.site_id.is_not(None))
        .group_by(ReportDaily.site_id)
        .having(func.sum(ReportDaily.valid) > 0)
        .order_by(n.desc(), ReportDaily.site_id)
        .limit(limit)
        .subquery()
    )
    rows = db.session.execute(
        select(top.c.site_id, Site.name, Community.name.label("community"), top.c.n, top.c.open, top.c.last_at)
        .join(Site, Site.id == top.c.site_id).join(Community, Community.id == Site.community_id)
        .order_by(top.c.n.desc(), top.c.site_id)
    ).all()
    return [HotSpot(r.site_id, r.name, r.community, int(r.n), int(r.open or 0), r.last_at) for r in rows]
