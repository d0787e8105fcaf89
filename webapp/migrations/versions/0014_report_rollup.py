"""report rollup and report indexes: the dashboard's per-day sums, and the daily report's look-ups

report_daily holds one row per local day, community, site and category with the counts the
dashboard sums (rebuilt from findings by services/rollup.py; safe to empty at any time).
Indexes on findings:
  * updated_at — the rollup refresh finds changed rows by it;
  * (status, community_id, deadline, captured_at, overdue_at) — "overdue now" and the daily report's
    earlier overdue problems, counted from the index alone (SQLite is told to use it: without
    ANALYZE statistics it would rather walk (community_id, captured_at) through a million rows);
  * rectified_at — the earlier problems rectified on the report's day.

Revision ID: 0014_report_rollup
Revises: 0013_queue_facet_indexes
"""
from alembic import op
import sqlalchemy as sa

revision = "0014_report_rollup"
down_revision = "0013_queue_facet_indexes"
branch_labels = None
depends_on = None

FINDING_INDEXES = (
    ("ix_findings_updated_at", ["updated_at"]),
    ("ix_findings_status_community_deadline", ["status", "community_id", "deadline", "captured_at", "overdue_at"]),
    ("ix_findings_rectified_at", ["rectified_at"]),
)
COUNTS = ("problems", "valid", "valid_open", "accepted", "dispatched", "on_time", "late_marked", "verified")


def upgrade():
    op.create_table(
        "report_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("category_id", sa.Integer(), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.Column("rect_seconds", sa.BigInteger(), nullable=False),
        sa.Column("rect_count", sa.Integer(), nullable=False),
        *(sa.Column(f"rect_b{i}", sa.Integer(), nullable=False) for i in range(6)),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_daily")),
    )
    op.create_index("ix_report_daily_day_community", "report_daily", ["day", "community_id"], unique=False)
    op.create_table(
        "report_rollup_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("max_finding_id", sa.BigInteger(), nullable=False),
        sa.Column("changed_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_rollup_state")),
    )
    for name, columns in FINDING_INDEXES:
        op.create_index(name, "findings", columns, unique=False)


def downgrade():
    for name, _columns in reversed(FINDING_INDEXES):
        op.drop_index(name, table_name="findings")
    op.drop_table("report_rollup_state")
    op.drop_index("ix_report_daily_day_community", table_name="report_daily")
    op.drop_table("report_daily")
