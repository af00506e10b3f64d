"""initial ledger: models, benchmarks, samples, runs, shards, predictions, scores

Revision ID: 0001_initial_ledger
Revises:
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = "0001_initial_ledger"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("family", sa.String(64)),
        sa.Column("path", sa.Text),
        sa.Column("revision", sa.String(200)),
        sa.Column("weights_hash", sa.String(64)),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "benchmarks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_table(
        "samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("benchmark", sa.String(64), sa.ForeignKey("benchmarks.name"), nullable=False),
        sa.Column("split", sa.String(64), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("answer_type", sa.String(16), nullable=False),
        sa.Column("reasoning_level", sa.String(16)),
        sa.Column("group", sa.String(200)),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("benchmark", "split", "key", "content_hash", name="uq_samples_identity"),
    )
    op.create_index("ix_samples_benchmark", "samples", ["benchmark"])
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("model_id", sa.String(200), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("model_weights_hash", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("n_samples", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ),
        sa.Column("finished_at", TZ),
    )
    op.create_index("ix_runs_model_id", "runs", ["model_id"])
    op.create_table(
        "shards",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("benchmark", sa.String(64), nullable=False),
        sa.Column("index", sa.Integer, nullable=False),
        sa.Column("sample_ids", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_expires_at", TZ),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("run_id", "benchmark", "index", name="uq_shards_position"),
    )
    op.create_index("ix_shards_run_id", "shards", ["run_id"])
    op.create_index("ix_shards_status", "shards", ["status"])
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sample_id", sa.Integer, sa.ForeignKey("samples.id"), nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False),
        sa.Column("response", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("extracted", sa.Text),
        sa.Column("extraction_method", sa.String(32)),
        sa.Column("correct", sa.Boolean),
        sa.Column("scorer_version", sa.String(64)),
        sa.Column("latency_s", sa.Float),
        sa.Column("input_tokens", sa.Integer),
        sa.Column("output_tokens", sa.Integer),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.UniqueConstraint("run_id", "sample_id", name="uq_predictions_run_sample"),
    )
    op.create_index("ix_predictions_run_id", "predictions", ["run_id"])
    op.create_index("ix_predictions_cache_key", "predictions", ["cache_key"])
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("benchmark", sa.String(64), nullable=False),
        sa.Column("split", sa.String(64), nullable=False),
        sa.Column("facet", sa.String(64), nullable=False),
        sa.Column("facet_value", sa.String(200), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("scorer", sa.String(64), nullable=False),
        sa.Column("scorer_version", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("ci_low", sa.Float),
        sa.Column("ci_high", sa.Float),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("n_unparsed", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_scores_run_id", "scores", ["run_id"])


def downgrade() -> None:
    for table in ("scores", "predictions", "shards", "runs", "samples", "benchmarks", "models"):
        op.drop_table(table)
