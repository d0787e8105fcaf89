"""queue facet indexes: the desk queue's filter counts and its inspector/site/overdue views

Each facet count is a GROUP BY over the queue's rows; with (status, column, captured_at, id) it is
answered from the index alone, and the same index serves paging with that filter. Overdue findings
are a small slice of all statuses; a partial index keeps both their count and their pages cheap.
Measured at 1,000,000 findings on PostgreSQL (docs/workflow.md "Performance").

Revision ID: 0013_queue_facet_indexes
Revises: 0012_partial_indexes
"""
from alembic import op
import sqlalchemy as sa

revision = "0013_queue_facet_indexes"
down_revision = "0012_partial_indexes"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_findings_status_inspector_captured", ["status", "inspector_id", "captured_at", "id"], None),
    ("ix_findings_status_site_captured", ["status", "site_id", "captured_at", "id"], None),
    ("ix_findings_overdue_captured", ["captured_at", "id"], "overdue_at IS NOT NULL"),
)


def upgrade():
    for name, columns, where in INDEXES:
        kw = {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)} if where else {}
        op.create_index(name, "findings", columns, unique=False, **kw)


def downgrade():
    for name, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name="findings")
