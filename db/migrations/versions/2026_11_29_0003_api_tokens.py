"""api tokens: bearer tokens stored as sha256 digests, with scope, revocation and last use

Revision ID: 0003_api_tokens
Revises: 0002_sample_labels
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_api_tokens"
down_revision = "0002_sample_labels"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        # The sha256 hex digest of the token; the token itself is shown once and never stored.
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("revoked_at", TZ),
        sa.Column("last_used_at", TZ),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
        # Unique, hence indexed: a request is authenticated by one lookup on the digest.
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.CheckConstraint("scope IN ('read', 'write')", name="ck_api_tokens_scope"),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
