"""Keeping the dashboard's rollup (report_daily) in step with the findings.

Why a rollup: leaders look at 90 days of a street office's findings — up to a million rows — and
expect the page at once. SQLite needs seconds just to read a million rows; the rollup holds one row
per local day, community, site, zone and category (report_daily) and per local day, inspector and
site (report_inspector_daily), so the dashboard pages sum thousands of rows instead.

How it stays correct without hooks in the workflow: every change to a finding bumps its
``updated_at`` (the column's onupdate, also for bulk UPDATEs) and every new finding has a higher id.
A refresh finds the local days that gained rows (id above the last seen) or changed rows
(updated_at within the window since the last refresh, widened by MARGIN so a transaction that
committed late is not missed), deletes those days' rollup rows and recomputes them with one
INSERT … SELECT … GROUP BY each. Days are recomputed whole, so a finding moved to another community
or category is counted once, in its new place. A refresh runs at most once per ``max_age`` (the
dashboard is then at most that stale); figures that depend on the clock ("overdue now") are never
rolled up but read live.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import BigInteger, and_, case, delete, func, insert, literal, or_, select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import Finding
from ..models.reporting import ReportDaily, ReportInspectorDaily, ReportRollupState
from ..sqlite_tuning import write_intent
from .reports import (
    ACCEPTED_STATUSES, FIXED_STATUSES, OK, OPEN_STATUSES, PROBLEM, Period, count_if, day_bucket, epoch_seconds,
    local_tz, seconds_between,
)

MARGIN = timedelta(minutes=10)
DEFAULT_MAX_AGE_SECONDS = 60
# One INSERT … SELECT covers at most this many days (bounds the CASE used across DST changes).
CHUNK_DAYS = 92
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# Upper bounds (hours, inclusive) of the rectification-time buckets rect_b0 … rect_b5; the last is open.
RECTIFY_BOUNDS_HOURS = (2, 4, 8, 24, 72)
RECTIFY_KEYS = ("0-2h", "2-4h", "4-8h", "8-24h", "1-3d", "3d+")


def refresh(*, max_age: timedelta | None = None, now: datetime | None = None) -> int:
    """Bring report_daily up to date; returns how many local days were recomputed.

    Ends the caller's read transaction first (the rollup is written in its own transaction, and a
    reader must see it afterwards).
    """
    if max_age is None:
        max_age = timedelta(seconds=current_app.config.get("REPORT_ROLLUP_MAX_AGE", DEFAULT_MAX_AGE_SECONDS))
    now = now or datetime.now(timezone.utc)
    db.session.commit()
    try:
        with write_intent():
            recomputed = _refresh(now, max_age)
            db.session.commit()
    except IntegrityError:
        # Two first-ever refreshes raced to create the state row; the other one's rollup stands.
        db.session.rollback()
        return 0
    except Exception:
        db.session.rollback()
        raise
    return recomputed


def _refresh(now: datetime, max_age: timedelta) -> int:
    state = db.session.scalar(select(ReportRollupState).where(ReportRollupState.id == 1).with_for_update())
    if state is not None and state.refreshed_at > now - max_age:
        return 0
    top = db.session.scalar(select(func.max(Finding.id))) or 0
    if state is None:
        days = _dirty_days(Finding.id > 0, now)
    else:
        # Two range scans (primary key, updated_at index) rather than one OR that scans the table.
        days = sorted(set(_dirty_days(Finding.id > state.max_finding_id, now))
                      | set(_dirty_days(Finding.updated_at > state.changed_since, now)))
    for first, last in _runs(days):
        _recompute(first, last)
    if state is None:
        db.session.add(ReportRollupState(id=1, max_finding_id=top, changed_since=now - MARGIN, refreshed_at=now))
    else:
        state.max_finding_id, state.changed_since, state.refreshed_at = top, now - MARGIN, now
    db.session.flush()
    return len(days)


def _dirty_days(changed, now: datetime) -> list[date]:
    """Local days of the changed rows. Epoch arithmetic with today's UTC offset is exact where the
    offset never changes (Asia/Shanghai); where it does (DST), the neighbouring days are added."""
    tz = local_tz()
    offset = int(now.astimezone(tz).utcoffset().total_seconds())
    unix_day = ((epoch_seconds(Finding.captured_at) + literal(offset, BigInteger)) // 86400).label("d")
    found = {date.fromordinal(EPOCH_ORDINAL + int(d))
             for d in db.session.scalars(select(unix_day).where(changed, Finding.kind == PROBLEM).distinct())}
    year = now.year
    if datetime(year, 1, 1, tzinfo=tz).utcoffset() != datetime(year, 7, 1, tzinfo=tz).utcoffset():
        found |= {d + timedelta(days=k) for d in found for k in (-1, 1)}
    return sorted(found)


def _runs(days: list[date]) -> list[tuple[date, date]]:
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and (day - runs[-1][1]).days == 1 and (day - runs[-1][0]).days < CHUNK_DAYS:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _recompute(first: date, last: date) -> None:
    for table in (ReportDaily, ReportInspectorDaily):
        db.session.execute(delete(table).where(table.day >= first.toordinal(), table.day <= last.toordinal()))
    starts = Period(first, last).day_starts()
    bucket = day_bucket(Finding.captured_at, starts)
    day = (literal(first.toordinal(), BigInteger) + bucket).label("day")
    in_days = [Finding.captured_at >= starts[0], Finding.captured_at < starts[-1]]
    # Patrol activity: every record, ok or problem, per inspector and site.
    patrol = {
        "day": day, "inspector_id": Finding.inspector_id, "community_id": Finding.community_id,
        "site_id": Finding.site_id, "records": func.count(), "ok": count_if(Finding.kind == OK),
        "problems": count_if(Finding.kind == PROBLEM),
    }
    db.session.execute(insert(ReportInspectorDaily).from_select(list(patrol), select(*patrol.values()).where(
        *in_days).group_by(day, Finding.inspector_id, Finding.community_id, Finding.site_id)))
    valid = Finding.status.not_in(("rejected", "duplicate"))
    accepted = Finding.status.in_(ACCEPTED_STATUSES)
    fixed = Finding.status.in_(FIXED_STATUSES)
    timed = and_(fixed, Finding.dispatched_at.is_not(None), Finding.rectified_at.is_not(None))
    seconds = seconds_between(Finding.rectified_at, Finding.dispatched_at)
    rect_buckets = []
    lower = None
    for hours in (*RECTIFY_BOUNDS_HOURS, None):
        conds = [timed]
        if lower is not None:
            conds.append(seconds > lower * 3600)
        if hours is not None:
            conds.append(seconds <= hours * 3600)
        rect_buckets.append(count_if(and_(*conds)))
        lower = hours
    columns = {
        "day": day, "community_id": Finding.community_id, "site_id": Finding.site_id, "zone_id": Finding.zone_id,
        "category_id": Finding.category_id, "problems": func.count(), "valid": count_if(valid),
        "valid_open": count_if(Finding.status.in_(OPEN_STATUSES)), "accepted": count_if(accepted),
        "dispatched": count_if(and_(accepted, Finding.dispatched_at.is_not(None))),
        "on_time": count_if(and_(timed, Finding.deadline.is_not(None), Finding.rectified_at <= Finding.deadline,
                                 Finding.overdue_at.is_(None))),
        "late_marked": count_if(and_(accepted, or_(Finding.overdue_at.is_not(None),
                                                   and_(fixed, Finding.rectified_at > Finding.deadline)))),
        "verified": count_if(Finding.status == "verified"),
        "rect_seconds": func.coalesce(func.sum(case((timed, seconds), else_=0)), 0),
        "rect_count": count_if(timed),
        **{f"rect_b{i}": expr for i, expr in enumerate(rect_buckets)},
        "last_at": func.max(case((valid, Finding.captured_at), else_=None)),
    }
    query = (
        select(*columns.values())
        .where(Finding.kind == PROBLEM, *in_days)
        .group_by(day, Finding.community_id, Finding.site_id, Finding.zone_id, Finding.category_id)
    )
    db.session.execute(insert(ReportDaily).from_select(list(columns), query))


def clear() -> None:
    """Forget the rollup, so the next refresh recomputes every day (after a restore or a repair)."""
    db.session.execute(delete(ReportDaily))
    db.session.execute(delete(ReportInspectorDaily))
    db.session.execute(delete(ReportRollupState))
    db.session.commit()
