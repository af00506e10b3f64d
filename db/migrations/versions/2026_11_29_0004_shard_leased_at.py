"""shard leased_at: when the current attempt took its lease, for wall-clock shard latency

Revision ID: 0004_shard_leased_at
Revises: 0003_api_tokens
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_shard_leased_at"
down_revision = "0003_api_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("shards") as batch:  # batch mode: SQLite rebuilds the table
        batch.add_column(sa.Column("leased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shards") as batch:
        batch.drop_column("leased_at")
