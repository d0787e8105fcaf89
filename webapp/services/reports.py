"""Shared ground for the read-only reports (daily report, dashboard, exports).

Why a module of its own: every report must agree on three things, or the numbers on the chat
report, the league table and the spreadsheet drift apart —
  * which statuses make a finding an "accepted problem" (立案 or later in the loop);
  * what a local day is (Asia/Shanghai by default) expressed as UTC bounds, and how SQL buckets a
    timestamp into local days identically on SQLite and PostgreSQL;
  * which rows a user may see (always webapp.scope, plus the report's own filters).
Nothing here writes; the reports only read.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, ColumnElement, case, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ..extensions import db
from ..models import Category, Community, Finding, FindingKind, Status, Street, User
from ..scope import community_filter, finding_filter, street_filter
from .errors import BadRequest, NotFound

# A problem the desk accepted (立案) stays "accepted" whatever happens to it later in the loop.
ACCEPTED_STATUSES: tuple[str, ...] = tuple(s.value for s in (
    Status.accepted, Status.dispatched, Status.acknowledged, Status.disputed, Status.rectified, Status.verified,
))
# Accepted but not yet fixed: what "still open" means in every report.
OPEN_STATUSES: tuple[str, ...] = tuple(s.value for s in (
    Status.accepted, Status.dispatched, Status.acknowledged, Status.disputed,
))
FIXED_STATUSES: tuple[str, ...] = (Status.rectified.value, Status.verified.value)

PROBLEM = FindingKind.problem.value
OK = FindingKind.ok.value

# Longest period a dashboard or export may cover: keeps one request from scanning years of rows.
MAX_PERIOD_DAYS = 366

STATUS_LABELS = {
    "submitted": _l("待审核"), "accepted": _l("已立案"), "rejected": _l("已驳回"), "duplicate": _l("重复"),
    "dispatched": _l("已派遣"), "acknowledged": _l("已签收"), "disputed": _l("有异议"), "rectified": _l("已整改"),
    "verified": _l("已核查"), "ok": _l("卫生尚可"),
}


def status_label(status: str | None) -> str:
    return str(STATUS_LABELS[status]) if status in STATUS_LABELS else (status or "")


def local_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["LOCAL_TIMEZONE"])


def local_day_start(day: date, tz: ZoneInfo) -> datetime:
    """UTC instant at which the local day begins (correct across DST changes in zones that have them)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def local_day_bounds(day: date, tz: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    tz = tz or local_tz()
    return local_day_start(day, tz), local_day_start(day + timedelta(days=1), tz)


def local_today(now: datetime | None = None) -> date:
    tz = local_tz()
    return (now or datetime.now(timezone.utc)).astimezone(tz).date()


@dataclass(frozen=True)
class Period:
    """Local calendar days ``first``..``last``, both inclusive."""

    first: date
    last: date

    @classmethod
    def last_days(cls, days: int, today: date) -> Period:
        return cls(today - timedelta(days=days - 1), today)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def bounds(self, tz: ZoneInfo | None = None) -> tuple[datetime, datetime]:
        tz = tz or local_tz()
        return local_day_start(self.first, tz), local_day_start(self.last + timedelta(days=1), tz)

    def day_starts(self, tz: ZoneInfo | None = None) -> list[datetime]:
        """UTC starts of every local day in the period, plus the end bound (len = days + 1)."""
        tz = tz or local_tz()
        return [local_day_start(self.first + timedelta(days=i), tz) for i in range(self.days + 1)]

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]


# --- portable SQL time arithmetic -------------------------------------------------------------

class epoch_seconds(FunctionElement):
    """Whole seconds since 1970 (UTC) of a UTCDateTime column, as an integer, on either database.

    SQLite stores our UTC timestamps as naive ISO strings, PostgreSQL as timestamptz; integer
    seconds are the one representation both can do exact arithmetic on.
    """

    type = BigInteger()
    name = "epoch_seconds"
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return "CAST(strftime('%%s', %s) AS INTEGER)" % compiler.process(element.clauses, **kw)


@compiles(epoch_seconds)
def _epoch_default(element, compiler, **kw):
    return "CAST(FLOOR(EXTRACT(EPOCH FROM %s)) AS BIGINT)" % compiler.process(element.clauses, **kw)


def to_epoch(value: datetime) -> int:
    return int(value.timestamp())


def day_bucket(column, day_starts: list[datetime]) -> ColumnElement[int]:
    """Index (0-based) of the local day a timestamp falls in, for rows already limited to the period.

    Local days are computed in Python (``Period.day_starts``); when every day is 24 h long (always in
    Asia/Shanghai) the bucket is plain integer arithmetic on epoch seconds, which both databases
    evaluate fast; across a DST change it falls back to a CASE over the boundaries.
    """
    origin = to_epoch(day_starts[0])
    lengths = {to_epoch(b) - to_epoch(a) for a, b in zip(day_starts, day_starts[1:])}
    if lengths == {86400}:
        # Non-negative operands, so integer division truncates the same way on both databases.
        return (epoch_seconds(column) - literal(origin, BigInteger)) // 86400
    whens = [(column < bound, i) for i, bound in enumerate(day_starts[1:])]
    return case(*whens, else_=len(day_starts) - 1)


def seconds_between(later, earlier) -> ColumnElement[int]:
    return epoch_seconds(later) - epoch_seconds(earlier)


class unindexed(FunctionElement):
    """A column SQLite must not pick an index for (rendered ``+column``; the column itself elsewhere).

    Without ANALYZE statistics SQLite prefers an index on a two-sided range (community_id,
    captured_at) over (status, community_id, deadline, …) and walks every finding of the period to
    count a few open ones; marking captured_at leaves it the right index. PostgreSQL plans by
    statistics and gets the plain column.
    """

    name = "unindexed"
    inherit_cache = True

    def __init__(self, column):
        super().__init__(column)
        self.type = column.type


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element, compiler, **kw):
    return "+" + compiler.process(element.clauses, **kw)


@compiles(unindexed)
def _unindexed_default(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


def count_if(condition) -> ColumnElement[int]:
    """SUM(CASE WHEN … THEN 1 ELSE 0 END): several counts in one pass over the rows."""
    return func.sum(case((condition, 1), else_=0))


# --- filters ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FindingFilter:
    """What the dashboard, site pages and exports narrow by (all optional but the period)."""

    period: Period
    street_id: int | None = None
    community_id: int | None = None
    category_id: int | None = None
    status: str | None = None
    kind: str | None = None
    site_id: int | None = None

    def query_args(self) -> dict[str, str]:
        """The filter as URL parameters, so links and export buttons keep the same selection."""
        args = {"from": self.period.first.isoformat(), "to": self.period.last.isoformat()}
        for name in ("street_id", "community_id", "category_id", "status", "kind", "site_id"):
            value = getattr(self, name)
            if value is not None:
                args[name.removesuffix("_id")] = str(value)
        return args


@dataclass
class Resolved:
    """The filter's places looked up and checked against the user's scope (names for headings)."""

    street: Street | None = None
    community: Community | None = None
    category: Category | None = None
    extra: dict = field(default_factory=dict)


def resolve_street(user: User, street_id: int | None) -> Street | None:
    """A street the user may report on; unknown or out of scope is the same 404 (no probing)."""
    if street_id is None:
        return None
    street = db.session.scalar(select(Street).where(Street.id == street_id, street_filter(user)))
    if street is None:
        raise NotFound(_("没有这个街道，或您无权查看。"), fields={"street": _("街道不存在或不在您的范围内")})
    return street


def resolve_filter(user: User, flt: FindingFilter) -> Resolved:
    if flt.period.days < 1:
        raise BadRequest(_("结束日期早于开始日期。"), fields={"to": _("结束日期早于开始日期")})
    if flt.period.days > MAX_PERIOD_DAYS:
        raise BadRequest(_("时间范围最长 %(n)s 天。", n=MAX_PERIOD_DAYS), fields={"from": _("时间范围过长")})
    if flt.status is not None and flt.status not in STATUS_LABELS:
        raise BadRequest(_("未知的状态。"), fields={"status": _("未知的状态")})
    if flt.kind is not None and flt.kind not in (PROBLEM, OK):
        raise BadRequest(_("未知的记录类型。"), fields={"kind": _("未知的记录类型")})
    resolved = Resolved(street=resolve_street(user, flt.street_id))
    if flt.community_id is not None:
        resolved.community = db.session.scalar(
            select(Community).where(Community.id == flt.community_id, community_filter(user))
        )
        if resolved.community is None or (flt.street_id is not None and resolved.community.street_id != flt.street_id):
            raise NotFound(_("没有这个社区，或您无权查看。"), fields={"community": _("社区不存在或不在您的范围内")})
    if flt.category_id is not None:
        resolved.category = db.session.get(Category, flt.category_id)
        if resolved.category is None:
            raise BadRequest(_("没有这个问题类别。"), fields={"category": _("类别不存在")})
    return resolved


def finding_where(user: User, flt: FindingFilter, *, by_capture: bool = True) -> list[ColumnElement[bool]]:
    """WHERE clauses over Finding: the user's scope, then the filter. ``by_capture`` limits to
    findings captured in the period (off for reports that choose their own time column)."""
    clauses: list[ColumnElement[bool]] = [finding_filter(user)]
    if by_capture:
        start, end = flt.period.bounds()
        clauses += [Finding.captured_at >= start, Finding.captured_at < end]
    if flt.community_id is not None:
        clauses.append(Finding.community_id == flt.community_id)
    elif flt.street_id is not None:
        clauses.append(Finding.community_id.in_(select(Community.id).where(Community.street_id == flt.street_id)))
    if flt.category_id is not None:
        clauses.append(Finding.category_id == flt.category_id)
    if flt.status is not None:
        clauses.append(Finding.status == flt.status)
    if flt.kind is not None:
        clauses.append(Finding.kind == flt.kind)
    if flt.site_id is not None:
        clauses.append(Finding.site_id == flt.site_id)
    return clauses


def problem_phrase(category_name: str | None, note: str | None) -> str:
    """A problem in plain words, as a supervisor writes it in the chat group.

    The inspector's note usually says it best ("店外摆放酒箱、桌椅等物品"); the category name is put
    in front only when the note does not already say it, so the line never reads twice.
    """
    note = " ".join((note or "").split()).strip(" ,，;；。.")
    name = (category_name or "").strip()
    if not note:
        return name or _("其他问题")
    if not name:
        return note
    # "店外摆放/占道经营" says two things; "公厕/旱厕卫生" likewise; "(蚊蝇鼠)" is only a gloss.
    parts = [p.split("（")[0].split("(")[0].strip() for p in name.split("/")]
    if any(p and p in note for p in parts):
        return note
    return f"{name}（{note}）"


def street_choices(user: User) -> list[Street]:
    """Streets the user may pick in a report's filter."""
    return list(db.session.scalars(select(Street).where(street_filter(user)).order_by(Street.name, Street.id)))


def community_choices(user: User, street_id: int | None = None) -> list[Community]:
    query = select(Community).where(community_filter(user)).order_by(Community.name, Community.id)
    if street_id is not None:
        query = query.where(Community.street_id == street_id)
    return list(db.session.scalars(query))


def category_choices() -> list[Category]:
    return list(db.session.scalars(select(Category).order_by(Category.sort_order, Category.id)))
