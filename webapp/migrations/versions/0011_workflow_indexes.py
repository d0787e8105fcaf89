"""workflow indexes: keyset pagination of the desk queue and the overdue sweep

The queue seeks on (captured_at, id) after equality filters on status and, often, community or
category; each composite index below answers one such query shape without a sort. The overdue
sweep and party task lists look up open findings by (status, deadline).

Revision ID: 0011_workflow_indexes
Revises: 0007_login_attempts
"""
from alembic import op

revision = "0011_workflow_indexes"
down_revision = "0007_login_attempts"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_findings_captured_id", ["captured_at", "id"]),
    ("ix_findings_status_community_captured", ["status", "community_id", "captured_at", "id"]),
    ("ix_findings_status_category_captured", ["status", "category_id", "captured_at", "id"]),
    ("ix_findings_status_deadline", ["status", "deadline"]),
)


def upgrade():
    with op.batch_alter_table("findings", schema=None) as batch_op:
        for name, columns in INDEXES:
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    with op.batch_alter_table("findings", schema=None) as batch_op:
        for name, _columns in reversed(INDEXES):
            batch_op.drop_index(name)
