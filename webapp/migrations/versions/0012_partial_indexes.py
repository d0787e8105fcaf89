"""partial indexes for the hot work lists: a few kilobytes each instead of a slice of every finding

Each index holds only the rows one work list reads, so it stays tiny while the table grows by a
million closed findings a year, and rows outside it cost nothing to maintain. Measured on
PostgreSQL 15 with 600k findings (docs/deploy.md "Database"): overdue sweep 1.8 → 0.03 ms, the
verify list 5.4 → 0.07 ms, a party's task list 1.3 → 0.25 ms, the desk's badge count 1.6 → 0.25 ms.
SQLite supports partial indexes too and gets the same ones (it uses them where the query repeats
the index's condition).

Revision ID: 0012_partial_indexes
Revises: 0011_workflow_indexes
"""
from alembic import op
import sqlalchemy as sa

revision = "0012_partial_indexes"
down_revision = "0011_workflow_indexes"
branch_labels = None
depends_on = None

OPEN_FOR_PARTY = "status IN ('dispatched', 'acknowledged')"
INDEXES = (
    # The desk's default queue and its badge: submitted findings, oldest first.
    ("ix_findings_submitted_queue", ["captured_at", "id"], "status = 'submitted'"),
    # The overdue sweep runs before the queue and task pages: only rows it has not stamped yet.
    ("ix_findings_overdue_due", ["deadline"], f"overdue_at IS NULL AND {OPEN_FOR_PARTY}"),
    # A community's or a market's open tasks, by deadline.
    ("ix_findings_party_community_open", ["party_community_id", "deadline"], OPEN_FOR_PARTY),
    ("ix_findings_party_site_open", ["party_site_id", "deadline"], OPEN_FOR_PARTY),
    # Rectified findings waiting for verification, longest-waiting first.
    ("ix_findings_rectified_queue", ["rectified_at", "id"], "status = 'rectified'"),
)


def upgrade():
    for name, columns, where in INDEXES:
        op.create_index(name, "findings", columns, unique=False,
                        postgresql_where=sa.text(where), sqlite_where=sa.text(where))


def downgrade():
    for name, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name="findings")
