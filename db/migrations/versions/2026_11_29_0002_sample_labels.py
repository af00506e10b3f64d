"""sample labels: understanding/reasoning label per sample, per labeller name and version

Revision ID: 0002_sample_labels
Revises: 0001_initial_ledger
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = "0002_sample_labels"
down_revision = "0001_initial_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sample_labels",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sample_id", sa.Integer, sa.ForeignKey("samples.id", ondelete="CASCADE"), nullable=False),
        sa.Column("labeller", sa.String(100), nullable=False),
        sa.Column("labeller_version", sa.String(64), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        # NULL for a dataset's own label: nothing was predicted, so there is no probability.
        sa.Column("probability", sa.Float),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("sample_id", "labeller", "labeller_version", name="uq_sample_labels_sample_labeller"),
    )
    op.create_index("ix_sample_labels_sample_id", "sample_labels", ["sample_id"])


def downgrade() -> None:
    op.drop_index("ix_sample_labels_sample_id", table_name="sample_labels")
    op.drop_table("sample_labels")
