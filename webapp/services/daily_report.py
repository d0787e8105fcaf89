"""The daily supervision report (督导通报): what the patrol found on one local day, community by
community, and how far rectification has got.

Why it is built the way it is:
  * The evening report is read in the street's chat group and filed on paper, so one data
    structure feeds the chat text, the printable page and the spreadsheet — the three can never
    disagree.
  * It must be reproducible: the same date gives the same lines tomorrow as tonight. The site
    list depends only on what was captured that day and whether the desk accepted it; only the
    rectification section moves, and it says "as of" the generation time.
  * A street may log 10,000 records in a day: everything is fetched as plain column tuples with a
    handful of queries (no ORM objects, no per-site queries) and the counts come from GROUP BY.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from flask_babel import gettext as _
from sqlalchemy import and_, case, func, or_, select

from ..extensions import db
from ..models import Category, Community, Finding, Photo, PhotoKind, Site, Street, User
from ..scope import finding_filter, street_filter
from .reports import (
    ACCEPTED_STATUSES, FIXED_STATUSES, OK, OPEN_STATUSES, PROBLEM, local_day_bounds, problem_phrase,
    resolve_street,
)


@dataclass
class ProblemItem:
    """One accepted problem with its rectification state as of the report's generation time."""

    finding_id: int
    uuid: str
    community_id: int
    site_id: int | None
    where: str  # "社区 点位" for the status lists
    phrase: str
    status: str
    captured_at: datetime
    deadline: datetime | None
    rectified_at: datetime | None
    fixed: bool
    late: bool  # fixed after its deadline, or still open past it
    thumb: Photo | None = None  # first before-photo, for the printed page


@dataclass
class SiteLine:
    """One line of the chat report: a site (or, for a finding without a site, its own words)."""

    label: str | None
    verdict: str
    ok: bool
    problems: list[ProblemItem] = field(default_factory=list)


@dataclass
class CommunityBlock:
    id: int
    name: str
    street_id: int
    street_name: str
    lines: list[SiteLine] = field(default_factory=list)
    sites_checked: int = 0
    sites_ok: int = 0
    problems: int = 0
    fixed: int = 0
    fixed_late: int = 0
    open: int = 0
    open_overdue: int = 0
    pending: int = 0


@dataclass
class DailyReport:
    day: date
    generated_at: datetime
    streets: list[Street]
    all_streets: bool
    communities: list[CommunityBlock]
    fixed: list[ProblemItem]
    still_open: list[ProblemItem]
    earlier_overdue: list[ProblemItem]
    earlier_fixed_today: list[ProblemItem]

    @property
    def title_place(self) -> str:
        return self.streets[0].name if len(self.streets) == 1 and not self.all_streets else ""

    def total(self, attr: str) -> int:
        return sum(getattr(c, attr) for c in self.communities)


def build_daily_report(user: User, day: date, street_id: int | None = None,
                       now: datetime | None = None) -> DailyReport:
    """Assemble the report for ``day`` (local date) for one street, or every street in the user's scope.

    Raises NotFound when the street is unknown or outside the user's scope.
    """
    now = now or datetime.now(timezone.utc)
    start, end = local_day_bounds(day)
    street = resolve_street(user, street_id)
    if street is not None:
        streets = [street]
        place = Community.street_id == street.id
    else:
        streets = list(db.session.scalars(select(Street).where(street_filter(user)).order_by(Street.name, Street.id)))
        place = Community.street_id.in_([s.id for s in streets]) if streets else Community.id.is_(None)
    visible = [finding_filter(user), Finding.community_id.in_(select(Community.id).where(place))]
    day_rows = [Finding.captured_at >= start, Finding.captured_at < end, *visible]

    communities: dict[int, CommunityBlock] = {}
    community_names = {
        row.id: row for row in db.session.execute(
            select(Community.id, Community.name, Community.street_id, Street.name.label("street_name"))
            .join(Street, Street.id == Community.street_id).where(place)
        )
    }

    def block(community_id: int) -> CommunityBlock:
        if community_id not in communities:
            row = community_names[community_id]
            communities[community_id] = CommunityBlock(row.id, row.name, row.street_id, row.street_name)
        return communities[community_id]

    site_names = _site_names(day_rows)
    problems = _accepted_problems(day_rows, site_names, community_names, now)
    _attach_thumbnails(day_rows, problems)
    by_site: dict[tuple[int, int | None], list[ProblemItem]] = defaultdict(list)
    for item in problems:
        by_site[(item.community_id, item.site_id)].append(item)

    # Sites in patrol order (first record of the day), so the report follows the route walked.
    is_accepted = and_(Finding.kind == PROBLEM, Finding.status.in_(ACCEPTED_STATUSES))
    site_rows = db.session.execute(
        select(
            Finding.community_id, Finding.site_id,
            func.sum(case((Finding.kind == OK, 1), else_=0)).label("n_ok"),
            func.sum(case((is_accepted, 1), else_=0)).label("n_accepted"),
            func.min(Finding.captured_at).label("first_at"),
        ).where(*day_rows, Finding.site_id.is_not(None))
        .group_by(Finding.community_id, Finding.site_id)
    ).all()
    for row in sorted(site_rows, key=lambda r: (r.first_at, r.site_id)):
        target = block(row.community_id)
        target.sites_checked += 1
        if row.n_accepted:
            items = by_site[(row.community_id, row.site_id)]
            target.lines.append(SiteLine(site_names[row.site_id], _join_phrases(items), False, items))
        elif row.n_ok:
            target.sites_ok += 1
            target.lines.append(SiteLine(site_names[row.site_id], _("卫生尚可"), True))

    # Findings without a site: a problem is listed in its own words; an ok record by its note.
    for item in problems:
        if item.site_id is None:
            block(item.community_id).lines.append(SiteLine(None, item.phrase, False, [item]))
    siteless_ok = db.session.execute(
        select(Finding.community_id, Finding.note, func.min(Finding.captured_at).label("first_at"))
        .where(*day_rows, Finding.site_id.is_(None), Finding.kind == OK)
        .group_by(Finding.community_id, Finding.note)
    ).all()
    for row in sorted(siteless_ok, key=lambda r: (r.first_at, r.note)):
        label = " ".join((row.note or "").split()) or _("未指定点位")
        block(row.community_id).lines.append(SiteLine(label, _("卫生尚可"), True))

    _count_statuses(day_rows, now, block)

    ordered = sorted(communities.values(), key=lambda c: (c.street_name, c.street_id, c.name, c.id))
    # Status lists follow the same community order as the site lines, then the order found.
    by_name = sorted(community_names.values(), key=lambda r: (r.street_name, r.street_id, r.name, r.id))
    position = {row.id: i for i, row in enumerate(by_name)}

    def in_order(items: list[ProblemItem]) -> list[ProblemItem]:
        return sorted(items, key=lambda p: (position[p.community_id], p.captured_at, p.finding_id))

    earlier = [Finding.captured_at < start, *visible]
    return DailyReport(
        day=day, generated_at=now, streets=streets, all_streets=street is None, communities=ordered,
        fixed=in_order([p for p in problems if p.fixed]), still_open=in_order([p for p in problems if not p.fixed]),
        earlier_overdue=in_order(_earlier_problems(
            [*earlier, Finding.status.in_(OPEN_STATUSES), Finding.deadline < now], now)),
        earlier_fixed_today=in_order(_earlier_problems(
            [*earlier, Finding.status.in_(ACCEPTED_STATUSES), Finding.rectified_at >= start,
             Finding.rectified_at < end], now)),
    )


def _site_names(day_rows) -> dict[int, str]:
    checked = select(Finding.site_id).where(*day_rows, Finding.site_id.is_not(None)).distinct()
    return dict(db.session.execute(select(Site.id, Site.name).where(Site.id.in_(checked))).all())


def _late(deadline, rectified_at, overdue_at, now) -> bool:
    if overdue_at is not None:
        return True
    if deadline is None:
        return False
    return (rectified_at or now) > deadline


def _problem_columns():
    return (
        Finding.id, Finding.uuid, Finding.community_id, Finding.site_id, Finding.note, Finding.status,
        Finding.captured_at, Finding.deadline, Finding.rectified_at, Finding.overdue_at,
        Category.name_zh.label("category"),
    )


def _to_item(row, where: str, now: datetime) -> ProblemItem:
    fixed = row.status in FIXED_STATUSES
    return ProblemItem(
        finding_id=row.id, uuid=row.uuid, community_id=row.community_id, site_id=row.site_id, where=where,
        phrase=problem_phrase(row.category, row.note), status=row.status, captured_at=row.captured_at,
        deadline=row.deadline, rectified_at=row.rectified_at if fixed else None, fixed=fixed,
        late=_late(row.deadline, row.rectified_at if fixed else None, row.overdue_at, now),
    )


def _accepted_problems(day_rows, site_names, community_names, now) -> list[ProblemItem]:
    rows = db.session.execute(
        select(*_problem_columns())
        .outerjoin(Category, Category.id == Finding.category_id)
        .where(*day_rows, Finding.kind == PROBLEM, Finding.status.in_(ACCEPTED_STATUSES))
        .order_by(Finding.captured_at, Finding.id)
    ).all()
    items = []
    for row in rows:
        where = community_names[row.community_id].name
        if row.site_id is not None:
            where = f"{where} {site_names[row.site_id]}"
        items.append(_to_item(row, where, now))
    return items


def _earlier_problems(where, now) -> list[ProblemItem]:
    rows = db.session.execute(
        select(*_problem_columns(), Community.name.label("community"), Site.name.label("site"))
        .join(Community, Community.id == Finding.community_id)
        .outerjoin(Site, Site.id == Finding.site_id)
        .outerjoin(Category, Category.id == Finding.category_id)
        .where(Finding.kind == PROBLEM, *where)
    ).all()
    return [_to_item(row, f"{row.community} {row.site}" if row.site else row.community, now) for row in rows]


def _join_phrases(items: list[ProblemItem]) -> str:
    """Problems at one site, in order found; the same words twice become "…×2" rather than a repeat."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.phrase] = counts.get(item.phrase, 0) + 1
    return "，".join(p if n == 1 else f"{p}×{n}" for p, n in counts.items())


def _count_statuses(day_rows, now, block) -> None:
    """Per-community rectification counts for the day, grouped in the database."""
    problem = and_(Finding.kind == PROBLEM, Finding.status.in_(ACCEPTED_STATUSES))
    fixed = and_(problem, Finding.status.in_(FIXED_STATUSES))
    is_open = and_(problem, Finding.status.in_(OPEN_STATUSES))
    late_fix = and_(fixed, or_(Finding.overdue_at.is_not(None), Finding.rectified_at > Finding.deadline))
    open_late = and_(is_open, or_(Finding.overdue_at.is_not(None), Finding.deadline < now))

    def n(cond):
        return func.sum(case((cond, 1), else_=0))

    rows = db.session.execute(
        select(Finding.community_id, n(problem).label("problems"), n(fixed).label("fixed"),
               n(late_fix).label("fixed_late"), n(is_open).label("open"), n(open_late).label("open_overdue"),
               n(and_(Finding.kind == PROBLEM, Finding.status == "submitted")).label("pending"))
        .where(*day_rows).group_by(Finding.community_id)
    ).all()
    for row in rows:
        target = block(row.community_id)
        for name in ("problems", "fixed", "fixed_late", "open", "open_overdue", "pending"):
            setattr(target, name, int(getattr(row, name) or 0))


def _attach_thumbnails(day_rows, items: list[ProblemItem]) -> None:
    """The first before-photo of each accepted problem, for the printed report (one query)."""
    if not items:
        return
    wanted = {item.finding_id: item for item in items}
    photos = db.session.scalars(
        select(Photo)
        .join(Finding, Finding.id == Photo.finding_id)
        .where(*day_rows, Finding.kind == PROBLEM, Finding.status.in_(ACCEPTED_STATUSES),
               or_(Photo.kind == PhotoKind.before.value, Photo.kind.is_(None)))
        .order_by(Photo.finding_id, Photo.position, Photo.id)
    )
    for photo in photos:
        item = wanted.get(photo.finding_id)
        if item is not None and item.thumb is None:
            item.thumb = photo
