"""Who patrolled where (inspector activity), what the markets' zones keep getting wrong, and one
site's history.

Why: the seed's supervision group checks "that staff are at their posts" as well as the streets;
records per inspector per day and the share of their street's sites they covered show that. The
market view follows issue 4's point that zoning problems belong to the zone where they happened.
Inspector activity and the market view are sums over the rollups (services/rollup.py) for the
communities the user sees whole, like the dashboard; a site's history lists its findings as the
user's scope allows.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import and_, distinct, func, select

from ..extensions import db
from ..models import Category, Community, Finding, Role, Site, SiteKind, User, UserRole, Zone
from ..models.reporting import ReportDaily, ReportInspectorDaily
from ..models.users import user_streets
from ..scope import site_filter, whole_community_filter
from . import rollup
from .dashboard import valid_problem
from .errors import NotFound
from .reports import OK, FindingFilter, finding_where, problem_phrase


@dataclass
class InspectorRow:
    user_id: int
    name: str
    records: int = 0
    ok: int = 0
    problems: int = 0
    active_days: int = 0
    sites_covered: int = 0  # distinct sites in their own street(s)
    sites_total: int = 0  # active sites in their street(s)
    per_day: list[int] = field(default_factory=list)

    @property
    def coverage(self) -> float | None:
        return self.sites_covered / self.sites_total if self.sites_total else None

    @property
    def ok_ratio(self) -> float | None:
        return self.ok / self.records if self.records else None


def inspector_activity(user: User, flt: FindingFilter) -> tuple[list, list[InspectorRow]]:
    """Per inspector: records per day, ok vs problem, and patrol coverage of their street(s).

    Summed from the patrol rollup (report_inspector_daily) over the communities the user sees whole.
    Inspectors assigned to a street in the filter appear even with no records: an empty row is the
    point of the table.
    """
    rollup.refresh()
    days = flt.period.dates()
    first = flt.period.first.toordinal()
    where = [ReportInspectorDaily.day >= first, ReportInspectorDaily.day <= flt.period.last.toordinal(),
             ReportInspectorDaily.community_id.in_(_community_ids(user, flt))]
    rows: dict[int, InspectorRow] = {}

    def row_for(user_id: int, name: str) -> InspectorRow:
        if user_id not in rows:
            rows[user_id] = InspectorRow(user_id, name, per_day=[0] * len(days))
        return rows[user_id]

    per_day = db.session.execute(
        select(ReportInspectorDaily.inspector_id, User.display_name, ReportInspectorDaily.day,
               func.sum(ReportInspectorDaily.records), func.sum(ReportInspectorDaily.ok),
               func.sum(ReportInspectorDaily.problems))
        .join(User, User.id == ReportInspectorDaily.inspector_id)
        .where(*where).group_by(ReportInspectorDaily.inspector_id, User.display_name, ReportInspectorDaily.day)
    ).all()
    for inspector_id, name, day, n, ok, problems in per_day:
        target = row_for(inspector_id, name)
        target.per_day[int(day) - first] += int(n)
        target.records += int(n)
        target.ok += int(ok or 0)
        target.problems += int(problems or 0)
        target.active_days += 1

    # Inspectors posted to the streets in view, with or without records.
    posted = (
        select(User.id, User.display_name)
        .join(UserRole, and_(UserRole.user_id == User.id, UserRole.role == Role.inspector.value))
        .join(user_streets, user_streets.c.user_id == User.id)
        .join(Community, Community.street_id == user_streets.c.street_id)
        .where(Community.id.in_(_community_ids(user, flt)), User.disabled.is_(False))
        .distinct()
    )
    for user_id, name in db.session.execute(posted):
        row_for(user_id, name)
    if not rows:
        return days, []

    ids = list(rows)
    covered = db.session.execute(
        select(ReportInspectorDaily.inspector_id, func.count(distinct(ReportInspectorDaily.site_id)))
        .join(Site, Site.id == ReportInspectorDaily.site_id)
        .join(Community, Community.id == Site.community_id)
        .join(user_streets, and_(user_streets.c.user_id == ReportInspectorDaily.inspector_id,
                                 user_streets.c.street_id == Community.street_id))
        .where(*where, ReportInspectorDaily.inspector_id.in_(ids))
        .group_by(ReportInspectorDaily.inspector_id)
    ).all()
    for inspector_id, n in covered:
        rows[inspector_id].sites_covered = int(n)
    totals = db.session.execute(
        select(user_streets.c.user_id, func.count(distinct(Site.id)))
        .join(Community, Community.street_id == user_streets.c.street_id)
        .join(Site, Site.community_id == Community.id)
        .where(user_streets.c.user_id.in_(ids), Site.retired_at.is_(None))
        .group_by(user_streets.c.user_id)
    ).all()
    for user_id, n in totals:
        rows[user_id].sites_total = int(n)
    ordered = sorted(rows.values(), key=lambda r: (-r.records, r.name, r.user_id))
    return days, ordered


def _community_ids(user: User, flt: FindingFilter):
    """Communities in view: those the user sees whole (the rollups are per community), narrowed by the filter."""
    query = select(Community.id).where(whole_community_filter(user))
    if flt.community_id is not None:
        query = query.where(Community.id == flt.community_id)
    elif flt.street_id is not None:
        query = query.where(Community.street_id == flt.street_id)
    return query


@dataclass
class MarketTable:
    site_id: int
    name: str
    community: str
    weeks: list  # first local date of each 7-day column
    rows: list[tuple[str, str, list[int], int]] = field(default_factory=list)  # zone, category, counts, total

    @property
    def total(self) -> int:
        return sum(r[3] for r in self.rows)


def market_view(user: User, flt: FindingFilter) -> list[MarketTable]:
    """Problems at market sites per zone and category, in 7-day columns from the period's start."""
    rollup.refresh()
    first = flt.period.first.toordinal()
    week = ((ReportDaily.day - first) // 7).label("week")
    where = [ReportDaily.day >= first, ReportDaily.day <= flt.period.last.toordinal(),
             ReportDaily.community_id.in_(_community_ids(user, flt)), Site.kind == SiteKind.market.value]
    if flt.category_id is not None:
        where.append(ReportDaily.category_id == flt.category_id)
    rows = db.session.execute(
        select(ReportDaily.site_id, ReportDaily.zone_id, ReportDaily.category_id, week,
               func.sum(ReportDaily.valid).label("n"))
        .join(Site, Site.id == ReportDaily.site_id)
        .where(*where)
        .group_by(ReportDaily.site_id, ReportDaily.zone_id, ReportDaily.category_id, week)
        .having(func.sum(ReportDaily.valid) > 0)
    ).all()
    dates = flt.period.dates()
    weeks = dates[::7]
    markets = db.session.execute(
        select(Site.id, Site.name, Community.name).join(Community)
        .where(Site.kind == SiteKind.market.value, Community.id.in_(_community_ids(user, flt)))
        .order_by(Community.name, Site.name, Site.id)
    ).all()
    zones = dict(db.session.execute(select(Zone.id, Zone.name)).all())
    zone_order = dict(db.session.execute(select(Zone.id, Zone.sort_order)).all())
    categories = {c.id: c for c in db.session.scalars(select(Category))}
    locale = str(get_locale())
    cells: dict[int, dict[tuple, list[int]]] = {}
    for site_id, zone_id, category_id, week_index, n in rows:
        key = (zone_id, category_id)
        counts = cells.setdefault(site_id, {}).setdefault(key, [0] * len(weeks))
        if 0 <= int(week_index) < len(weeks):
            counts[int(week_index)] += int(n)
    tables = []
    for site_id, name, community in markets:
        table = MarketTable(site_id, name, community, weeks)
        for (zone_id, category_id), counts in sorted(
            cells.get(site_id, {}).items(),
            key=lambda kv: (zone_order.get(kv[0][0], 10**6), kv[0][0] or 0,
                            categories[kv[0][1]].sort_order if kv[0][1] in categories else 10**6),
        ):
            category = categories.get(category_id)
            table.rows.append((zones.get(zone_id, _("未分区")), category.name(locale) if category else _("未分类"),
                               counts, sum(counts)))
        tables.append(table)
    return tables


@dataclass
class SiteFinding:
    id: int
    uuid: str
    captured_at: datetime
    kind: str
    phrase: str
    status: str
    inspector: str
    deadline: datetime | None
    rectified_at: datetime | None
    overdue: bool


def site_history(user: User, site_id: int, flt: FindingFilter, limit: int = 500):
    """A site and its findings in the period, newest first (at most ``limit``), with per-category counts."""
    site = db.session.scalar(select(Site).where(Site.id == site_id, site_filter(user)))
    if site is None:
        raise NotFound(_("没有这个点位，或您无权查看。"))
    where = [*finding_where(user, flt), Finding.site_id == site_id]
    rows = db.session.execute(
        select(Finding.id, Finding.uuid, Finding.captured_at, Finding.kind, Category.name_zh, Category.name_en,
               Finding.note,
               Finding.status, User.display_name, Finding.deadline, Finding.rectified_at, Finding.overdue_at)
        .join(User, User.id == Finding.inspector_id)
        .outerjoin(Category, Category.id == Finding.category_id)
        .where(*where).order_by(Finding.captured_at.desc(), Finding.id.desc()).limit(limit)
    ).all()
    english = str(get_locale()).startswith("en")  # category names are data in both languages
    findings = [
        SiteFinding(r.id, r.uuid, r.captured_at, r.kind,
                    _("卫生尚可") if r.kind == OK else problem_phrase(r.name_en if english else r.name_zh, r.note),
                    r.status, r.display_name,
                    r.deadline, r.rectified_at, r.overdue_at is not None)
        for r in rows
    ]
    n = func.count().label("n")
    by_category = db.session.execute(
        select(Category.name_zh, Category.name_en, n).select_from(Finding)
        .join(Category, Category.id == Finding.category_id)
        .where(*where, valid_problem()).group_by(Category.id, Category.name_zh, Category.name_en)
        .order_by(n.desc(), Category.name_zh)
    ).all()
    total = db.session.scalar(select(func.count()).select_from(Finding).where(*where))
    return site, findings, [(en if english else zh, int(count)) for zh, en, count in by_category], int(total or 0)

