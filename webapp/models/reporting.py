"""Report rollups: per local day, community, site, zone and category, the counts the dashboard sums;
per local day, inspector and site, the patrol records.

A cache derived from ``findings`` (never edited by hand, rebuilt from them at any time by
services/rollup.py), so a 90-day dashboard over a million findings sums thousands of rows instead
of scanning the million.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .findings import Finding
from .mixins import UTCDateTime

# Indexes on findings that only the reports use (migration 0014), declared beside the rollup so the
# models and the migrations stay one schema: the rollup refresh finds changed rows by updated_at;
# "overdue now" and the daily report's earlier overdue problems are counted from the second alone;
# the earlier problems fixed on a report's day are found by the third.
Index("ix_findings_updated_at", Finding.updated_at)
Index("ix_findings_status_community_deadline", Finding.status, Finding.community_id, Finding.deadline,
      Finding.captured_at, Finding.overdue_at)
Index("ix_findings_rectified_at", Finding.rectified_at)


class ReportDaily(db.Model):
    __tablename__ = "report_daily"
    __table_args__ = (Index("ix_report_daily_day_community", "day", "community_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[int] = mapped_column(Integer)  # date.toordinal() of the local day of capture
    community_id: Mapped[int] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(Integer)
    zone_id: Mapped[int | None] = mapped_column(Integer)  # a market's zone (the market view groups by it)
    category_id: Mapped[int | None] = mapped_column(Integer)
    problems: Mapped[int] = mapped_column(Integer, default=0)  # every problem record
    valid: Mapped[int] = mapped_column(Integer, default=0)  # not rejected, not a duplicate
    valid_open: Mapped[int] = mapped_column(Integer, default=0)  # accepted and not yet fixed
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    dispatched: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    late_marked: Mapped[int] = mapped_column(Integer, default=0)  # overdue whatever the clock says now
    verified: Mapped[int] = mapped_column(Integer, default=0)
    rect_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    rect_count: Mapped[int] = mapped_column(Integer, default=0)
    # Dispatch-to-rectification times in the dashboard's buckets (≤2 h, 2–4 h, 4–8 h, 8–24 h, 1–3 d, longer).
    rect_b0: Mapped[int] = mapped_column(Integer, default=0)
    rect_b1: Mapped[int] = mapped_column(Integer, default=0)
    rect_b2: Mapped[int] = mapped_column(Integer, default=0)
    rect_b3: Mapped[int] = mapped_column(Integer, default=0)
    rect_b4: Mapped[int] = mapped_column(Integer, default=0)
    rect_b5: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # latest valid problem


class ReportInspectorDaily(db.Model):
    """Per local day, inspector, community and site: records (ok and problem) — patrol activity."""

    __tablename__ = "report_inspector_daily"
    __table_args__ = (Index("ix_report_inspector_daily_day_inspector", "day", "inspector_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[int] = mapped_column(Integer)
    inspector_id: Mapped[int] = mapped_column(Integer)
    community_id: Mapped[int] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(Integer)
    records: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[int] = mapped_column(Integer, default=0)


class ReportRollupState(db.Model):
    """One row: how far the rollup has caught up with ``findings`` (new ids, changed rows)."""

    __tablename__ = "report_rollup_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    max_finding_id: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_since: Mapped[datetime] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())
