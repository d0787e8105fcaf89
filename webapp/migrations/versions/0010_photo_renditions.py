"""photo renditions: storage keys of the view, thumbnail and watermarked view

Revision ID: 0010_photo_renditions
Revises: 0009_admin_notices
"""
from alembic import op
import sqlalchemy as sa

revision = "0010_photo_renditions"
down_revision = "0009_admin_notices"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("view_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("thumb_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("marked_sha256", sa.String(length=64), nullable=True))
        # gc looks for old unattached photos; this keeps that scan cheap as the table grows.
        batch_op.create_index("ix_photos_unattached_created", ["finding_id", "created_at"], unique=False)


def downgrade():
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.drop_index("ix_photos_unattached_created")
        batch_op.drop_column("marked_sha256")
        batch_op.drop_column("thumb_sha256")
        batch_op.drop_column("view_sha256")
