"""ledger hot-path indexes: an index of open shards, no duplicate indexes

Every shard a worker finishes asks "does this run still have a pending or leased shard?"; with an
index on run_id alone that reads all of the run's shards, so a run's total cost grew with the
square of its shard count. A partial index holding only open (pending or leased) shards answers it
by looking at open shards alone, and serves the sweeper's search for lost shards. ix_shards_run_id,
ix_predictions_run_id and ix_samples_benchmark repeat the leading column of a unique constraint and
only cost writes; ix_shards_status indexed a column that changes on every claim. Runs get an index
on their weights hash, which the prediction-cache check of every shard looks up.

Revision ID: 0005_ledger_hot_path_indexes
Revises: 0004_shard_leased_at
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_ledger_hot_path_indexes"
down_revision = "0004_shard_leased_at"
branch_labels = None
depends_on = None


def upgrade() -> None:
    open_shards = sa.text("status IN ('pending', 'leased')")
    op.create_index("ix_shards_open", "shards", ["run_id"], postgresql_where=open_shards, sqlite_where=open_shards)
    op.drop_index("ix_shards_run_id", table_name="shards")
    op.drop_index("ix_shards_status", table_name="shards")
    op.drop_index("ix_predictions_run_id", table_name="predictions")
    op.drop_index("ix_samples_benchmark", table_name="samples")
    op.create_index("ix_runs_model_weights_hash", "runs", ["model_weights_hash"])


def downgrade() -> None:
    op.drop_index("ix_runs_model_weights_hash", table_name="runs")
    op.create_index("ix_samples_benchmark", "samples", ["benchmark"])
    op.create_index("ix_predictions_run_id", "predictions", ["run_id"])
    op.create_index("ix_shards_status", "shards", ["status"])
    op.create_index("ix_shards_run_id", "shards", ["run_id"])
    op.drop_index("ix_shards_open", table_name="shards")
