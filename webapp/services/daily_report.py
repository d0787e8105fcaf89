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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import and_, case, func, literal, or_, select

from ..extensions import db
from ..models import Category, Community, Finding, Photo, PhotoKind, Site, Street, User
from ..scope import finding_filter, street_filter
from .reports import (
    ACCEPTED_STATUSES, FIXED_STATUSES, OK, OPEN_STATUSES, PROBLEM, count_if, local_day_bounds, problem_phrase,
    resolve_street, unindexed,
)


# Problems from earlier days named one by one in the report; more are counted and in the XLSX.
EARLIER_LIMIT = 30


class PhotoRef(NamedTuple):
    """A problem's thumbnail: the photo, and the content its thumbnail URL is versioned by."""

    uuid: str
    thumb_sha256: str  # the thumbnail's file, or the view's or the master's (photos.variant_sha256)


@dataclass(slots=True)
class ProblemItem:
    """One accepted problem with its rectification state as of the report's generation time."""

    finding_id: int
    uuid: str
    community_id: int
    site_id: int | None
    where: str  # "社区 点位" for the status lists
    phrase: str
    status: str
    fixed: bool
    late: bool  # fixed after its deadline, or still open past it
    # When found, due and fixed: the lists of earlier days' problems print these. The day's own
    # problems (thousands on a busy day) are listed in the order found and print none of them, so
    # they are not loaded for those (None).
    captured_at: datetime | None = None
    deadline: datetime | None = None
    rectified_at: datetime | None = None
    thumb: PhotoRef | None = None  # first before-photo, for the printed page


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
    # Earlier days' problems are listed up to EARLIER_LIMIT (most urgent first); the totals count all.
    earlier_overdue: list[ProblemItem]
    earlier_fixed_today: list[ProblemItem]
    earlier_overdue_total: int = 0
    earlier_fixed_total: int = 0

    @property
    def title_place(self) -> str:
        return self.streets[0].name if len(self.streets) == 1 and not self.all_streets else ""

    def total(self, attr: str) -> int:
        return sum(getattr(c, attr) for c in self.communities)


def build_daily_report(user: User, day: date, street_id: int | None = None,
                       now: datetime | None = None, *, photos: bool = False) -> DailyReport:
    """Assemble the report for ``day`` (local date) for one street, or every street in the user's scope.

    ``photos`` attaches each problem's first before-photo (only the printed page shows them).
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
    visible = _visible(user, place)
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

    # One pass over the day's rows: per community and site, what the lines and the counts need.
    aggregates = _day_aggregates(day_rows, now)
    site_names = dict(db.session.execute(
        select(Site.id, Site.name).where(Site.id.in_([r.site_id for r in aggregates if r.site_id is not None]))
    ).all())
    problems = _accepted_problems(day_rows, site_names, community_names, now, photos)
    by_site: dict[tuple[int, int | None], list[ProblemItem]] = defaultdict(list)
    for item in problems:
        by_site[(item.community_id, item.site_id)].append(item)

    for row in aggregates:
        target = block(row.community_id)
        for name in ("problems", "fixed", "fixed_late", "open", "open_overdue", "pending"):
            setattr(target, name, getattr(target, name) + int(getattr(row, name) or 0))
    # Sites in patrol order (first record of the day), so the report follows the route walked.
    fine = _("卫生尚可")
    for row in sorted((r for r in aggregates if r.site_id is not None), key=lambda r: (r.first_at, r.site_id)):
        target = block(row.community_id)
        target.sites_checked += 1
        if row.n_accepted:
            items = by_site[(row.community_id, row.site_id)]
            target.lines.append(SiteLine(site_names[row.site_id], _join_phrases(items), False, items))
        elif row.n_ok:
            target.sites_ok += 1
            target.lines.append(SiteLine(site_names[row.site_id], fine, True))

    # Findings without a site: a problem is listed in its own words; an ok record by its note.
    for item in problems:
        if item.site_id is None:
            block(item.community_id).lines.append(SiteLine(None, item.phrase, False, [item]))
    siteless_ok = db.session.execute(
        select(Finding.community_id, Finding.note, func.min(Finding.captured_at).label("first_at"))
        .where(*day_rows, unindexed(Finding.site_id).is_(None), Finding.kind == OK, Finding.status == OK)
        .group_by(Finding.community_id, Finding.note)
    ).all()
    for row in sorted(siteless_ok, key=lambda r: (r.first_at, r.note)):
        label = " ".join((row.note or "").split()) or _("未指定点位")
        block(row.community_id).lines.append(SiteLine(label, fine, True))

    ordered = sorted(communities.values(), key=lambda c: (c.street_name, c.street_id, c.name, c.id))
    # Status lists follow the same community order as the site lines, then the order found.
    by_name = sorted(community_names.values(), key=lambda r: (r.street_name, r.street_id, r.name, r.id))
    position = {row.id: i for i, row in enumerate(by_name)}

    def in_order(items: list[ProblemItem]) -> list[ProblemItem]:
        return sorted(items, key=lambda p: (position[p.community_id], p.captured_at, p.finding_id))

    def day_order(items: list[ProblemItem]) -> list[ProblemItem]:
        # Already in the order found: a stable sort by community keeps it within each community.
        return sorted(items, key=lambda p: position[p.community_id])

    overdue_where = _earlier_overdue_where(visible, start, now)
    # Found by the rectified_at index: the day's fixes are few, the street's earlier findings are not.
    fixed_where = [unindexed(Finding.captured_at) < start, finding_filter(user),
                   unindexed(Finding.community_id).in_(select(Community.id).where(place)),
                   unindexed(Finding.status).in_(ACCEPTED_STATUSES),
                   Finding.rectified_at >= start, Finding.rectified_at < end]
    return DailyReport(
        day=day, generated_at=now, streets=streets, all_streets=street is None, communities=ordered,
        fixed=day_order([p for p in problems if p.fixed]), still_open=day_order([p for p in problems if not p.fixed]),
        earlier_overdue=in_order(_earlier_problems(overdue_where, now, Finding.deadline, EARLIER_LIMIT)),
        earlier_fixed_today=in_order(_earlier_problems(fixed_where, now, Finding.rectified_at, EARLIER_LIMIT)),
        earlier_overdue_total=_count(overdue_where), earlier_fixed_total=_count(fixed_where),
    )


def _visible(user: User, place) -> list:
    return [finding_filter(user), Finding.community_id.in_(select(Community.id).where(place))]


def _earlier_overdue_where(visible, start: datetime, now: datetime) -> list:
    # Few rows, found by (status, community_id, deadline, …); captured_at must not lure SQLite away.
    return [unindexed(Finding.captured_at) < start, *visible, Finding.status.in_(OPEN_STATUSES),
            Finding.deadline < now]


def _count(where) -> int:
    # Only problems have these statuses: no kind test, so the count can come from the index alone.
    return int(db.session.scalar(select(func.count()).select_from(Finding).where(*where)))


def iter_earlier_overdue(user: User, report: DailyReport, limit: int) -> Iterator[ProblemItem]:
    """Earlier problems still open past their deadline, most overdue first, at most ``limit``."""
    start, _end = local_day_bounds(report.day)
    visible = _visible(user, Community.street_id.in_([s.id for s in report.streets]))
    where = _earlier_overdue_where(visible, start, report.generated_at)
    rows = db.session.execute(_earlier_select(where).order_by(Finding.deadline, Finding.id).limit(limit)
                              .execution_options(yield_per=2000))
    phrases: dict = {}
    for row in rows:
        yield _to_item(row, f"{row.community} {row.site}" if row.site else row.community, report.generated_at,
                       phrases)


def _late(deadline, rectified_at, overdue_at, now) -> bool:
    if overdue_at is not None:
        return True
    if deadline is None:
        return False
    return (rectified_at or now) > deadline


def _late_column(now: datetime):
    """``_late`` in SQL, 1 or 0: the day's counts and its thousands of listed problems use it, so no
    datetime has to be loaded for them and the counts agree with the lists."""
    fixed_at = case((Finding.status.in_(FIXED_STATUSES), Finding.rectified_at))
    return case(
        (Finding.overdue_at.is_not(None), 1),
        (Finding.deadline.is_(None), 0),
        (func.coalesce(fixed_at, literal(now, Finding.deadline.type)) > Finding.deadline, 1),
        else_=0,
    )


def _problem_columns():
    return (
        Finding.id, Finding.uuid, Finding.community_id, Finding.site_id, Finding.note, Finding.status,
        Finding.captured_at, Finding.deadline, Finding.rectified_at, Finding.overdue_at,
        Category.name_zh.label("category"),
    )


def _to_item(row, where: str, now: datetime, phrases: dict | None = None) -> ProblemItem:
    fixed = row.status in FIXED_STATUSES
    if phrases is None:
        phrase = problem_phrase(row.category, row.note)
    else:  # the same words recur (thousands of problems have a few hundred distinct notes)
        key = (row.category, row.note)
        phrase = phrases.get(key)
        if phrase is None:
            phrase = phrases[key] = problem_phrase(row.category, row.note)
    return ProblemItem(
        finding_id=row.id, uuid=row.uuid, community_id=row.community_id, site_id=row.site_id, where=where,
        phrase=phrase, status=row.status, captured_at=row.captured_at,
        deadline=row.deadline, rectified_at=row.rectified_at if fixed else None, fixed=fixed,
        late=_late(row.deadline, row.rectified_at if fixed else None, row.overdue_at, now),
    )


def _accepted_problems(day_rows, site_names, community_names, now, photos: bool) -> list[ProblemItem]:
    """The day's accepted problems in the order found, as plain tuples (a busy day has thousands:
    no ORM objects, no datetimes, words and places looked up once each)."""
    columns = [Finding.id, Finding.uuid, Finding.community_id, Finding.site_id, Finding.status,
               Category.name_zh, Finding.note, _late_column(now)]
    query = (select(*columns).outerjoin(Category, Category.id == Finding.category_id)
             .where(*day_rows, Finding.kind == PROBLEM, Finding.status.in_(ACCEPTED_STATUSES)))
    if photos:
        # The first before-photo of each, in the same pass; a finding with several gives several
        # rows here, in position order, and only its first is kept.
        # photos.variant_sha256(photo, "thumb") in SQL: two narrow columns instead of every hash.
        query = (query.add_columns(Photo.uuid, func.coalesce(Photo.thumb_sha256, Photo.view_sha256, Photo.sha256))
                 .outerjoin(Photo, and_(Photo.finding_id == Finding.id,
                                        or_(Photo.kind == PhotoKind.before.value, Photo.kind.is_(None))))
                 .order_by(Finding.captured_at, Finding.id, Photo.position, Photo.id))
    else:
        query = query.order_by(Finding.captured_at, Finding.id)
    items: list[ProblemItem] = []
    phrases: dict[tuple, str] = {}
    places: dict[tuple, str] = {}
    fixed_statuses = frozenset(FIXED_STATUSES)
    last_id = None
    # On the session's connection, without the ORM's row handling: these are plain columns.
    for row in db.session.connection().execute(query).all():
        finding_id, uuid, community_id, site_id, status, category, note, late = row[:8]
        if finding_id == last_id:
            continue  # a second before-photo of the same finding
        last_id = finding_id
        phrase = phrases.get((category, note))
        if phrase is None:  # a 10,000-finding day has a few hundred distinct notes
            phrase = phrases[(category, note)] = problem_phrase(category, note)
        where = places.get((community_id, site_id))
        if where is None:
            where = community_names[community_id].name
            if site_id is not None:
                where = f"{where} {site_names[site_id]}"
            places[(community_id, site_id)] = where
        item = ProblemItem(finding_id, uuid, community_id, site_id, where, phrase, status,
                           status in fixed_statuses, bool(late))
        if photos and row[8] is not None:
            item.thumb = PhotoRef(row[8], row[9])
        items.append(item)
    return items


def _earlier_select(where):
    return (
        select(*_problem_columns(), Community.name.label("community"), Site.name.label("site"))
        .join(Community, Community.id == Finding.community_id)
        .outerjoin(Site, Site.id == Finding.site_id)
        .outerjoin(Category, Category.id == Finding.category_id)
        .where(Finding.kind == PROBLEM, *where)
    )


def _earlier_problems(where, now, urgency, limit: int) -> list[ProblemItem]:
    # The most urgent ids first, from the index alone; only those few rows are then joined up.
    first = select(Finding.id).where(*where).order_by(urgency, Finding.id).limit(limit)
    rows = db.session.execute(_earlier_select([Finding.id.in_(first)]).order_by(urgency, Finding.id)).all()
    return [_to_item(row, f"{row.community} {row.site}" if row.site else row.community, now) for row in rows]


def _join_phrases(items: list[ProblemItem]) -> str:
    """Problems at one site, in order found; the same words twice become "…×2" rather than a repeat."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.phrase] = counts.get(item.phrase, 0) + 1
    return "，".join(p if n == 1 else f"{p}×{n}" for p, n in counts.items())


def _day_aggregates(day_rows, now: datetime) -> list:
    """Per (community, site) of the day — site NULL for findings without one — the ok and accepted
    counts that decide a site's line, its first record, and the rectification counts, grouped in
    the database in one pass."""
    problem = and_(Finding.kind == PROBLEM, Finding.status.in_(ACCEPTED_STATUSES))
    fixed = and_(problem, Finding.status.in_(FIXED_STATUSES))
    is_open = and_(problem, Finding.status.in_(OPEN_STATUSES))
    late = _late_column(now) == 1
    late_fix = and_(fixed, late)
    open_late = and_(is_open, late)
    n = count_if
    return db.session.connection().execute(
        select(Finding.community_id, Finding.site_id,
               n(Finding.kind == OK).label("n_ok"), n(problem).label("n_accepted"),
               func.min(Finding.captured_at).label("first_at"),
               n(problem).label("problems"), n(fixed).label("fixed"), n(late_fix).label("fixed_late"),
               n(is_open).label("open"), n(open_late).label("open_overdue"),
               n(and_(Finding.kind == PROBLEM, Finding.status == "submitted")).label("pending"))
        .where(*day_rows).group_by(Finding.community_id, Finding.site_id)
    ).all()
