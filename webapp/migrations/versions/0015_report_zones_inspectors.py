"""report rollup by zone and by inspector: the market view and inspector activity from the rollup

report_daily gains zone_id (a market's zone) and report_inspector_daily counts each inspector's
records per local day and site. Both are caches of findings: they are emptied here, and the next
refresh (or `flask report-rollup`) rebuilds them.

Revision ID: 0015_report_zones_inspectors
Revises: 0014_report_rollup
"""
from alembic import op
import sqlalchemy as sa

revision = "0015_report_zones_inspectors"
down_revision = "0014_report_rollup"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DELETE FROM report_daily")
    op.execute("DELETE FROM report_rollup_state")
    with op.batch_alter_table("report_daily", schema=None) as batch_op:
        batch_op.add_column(sa.Column("zone_id", sa.Integer(), nullable=True))
    op.create_table(
        "report_inspector_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("inspector_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_inspector_daily")),
    )
    op.create_index("ix_report_inspector_daily_day_inspector", "report_inspector_daily", ["day", "inspector_id"],
                    unique=False)


def downgrade():
    op.drop_index("ix_report_inspector_daily_day_inspector", table_name="report_inspector_daily")
    op.drop_table("report_inspector_daily")
    op.execute("DELETE FROM report_daily")
    op.execute("DELETE FROM report_rollup_state")
    with op.batch_alter_table("report_daily", schema=None) as batch_op:
        batch_op.drop_column("zone_id")
