"""SQLAlchemy 2 models: the ledger every part of medgrid writes to (DESIGN.md, "Contracts").

The schema itself is owned by the Alembic migrations in ``db/migrations/``; these classes map
onto it. Types are portable so the same schema runs on SQLite (embedded) and Postgres (grid).
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint,
                        text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Model(Base):
    """A model the grid knows. Its weights hash is copied onto every run, so a changed checkpoint
    at the same path is visible as a different revision and never reuses cached predictions."""

    __tablename__ = "models"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    family: Mapped[str | None] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[str | None] = mapped_column(String(200))
    weights_hash: Mapped[str | None] = mapped_column(String(64))
    spec: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Benchmark(Base):
    __tablename__ = "benchmarks"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Sample(Base):
    """A benchmark item without image bytes. ``content_hash`` is part of its identity."""

    __tablename__ = "samples"
    __table_args__ = (UniqueConstraint("benchmark", "split", "key", "content_hash", name="uq_samples_identity"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    benchmark: Mapped[str] = mapped_column(ForeignKey("benchmarks.name"))
    split: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    answer_type: Mapped[str] = mapped_column(String(16))
    reasoning_level: Mapped[str | None] = mapped_column(String(16))
    group: Mapped[str | None] = mapped_column(String(200))
    record: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Run(Base):
    __tablename__ = "runs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("models.id"), index=True)
    model_weights_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # preparing queued running scoring done partial failed cancelled
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    n_samples: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


OPEN_SHARDS = "status IN ('pending', 'leased')"


class Shard(Base):
    """One unit of work and its lease: Postgres, not the broker, is the source of truth."""

    __tablename__ = "shards"
    __table_args__ = (UniqueConstraint("run_id", "benchmark", "index", name="uq_shards_position"),
                      # open shards only: "is any shard of this run still pending or leased?"
                      Index("ix_shards_open", "run_id", postgresql_where=text(OPEN_SHARDS),
                            sqlite_where=text(OPEN_SHARDS)))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    benchmark: Mapped[str] = mapped_column(String(64))
    index: Mapped[int] = mapped_column(Integer)
    sample_ids: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending leased done failed cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # start of the latest attempt
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Prediction(Base):
    """One model answer; unique on (run, sample) so a redelivered shard never duplicates a row."""

    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("run_id", "sample_id", name="uq_predictions_run_sample"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id"))
    cache_key: Mapped[str] = mapped_column(String(64), index=True)
    response: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    extracted: Mapped[str | None] = mapped_column(Text)
    extraction_method: Mapped[str | None] = mapped_column(String(32))
    correct: Mapped[bool | None] = mapped_column(Boolean)
    scorer_version: Mapped[str | None] = mapped_column(String(64))
    latency_s: Mapped[float | None] = mapped_column(Float)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Score(Base):
    """(run, benchmark, slice facet, slice value, metric, scorer+version) -> value with its CI and n."""

    __tablename__ = "scores"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    benchmark: Mapped[str] = mapped_column(String(64))
    split: Mapped[str] = mapped_column(String(64))
    facet: Mapped[str] = mapped_column(String(64))
    facet_value: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(64))
    scorer: Mapped[str] = mapped_column(String(64))
    scorer_version: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    n_unparsed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SampleLabel(Base):
    """An understanding/reasoning label of one sample by one labeller version (services/skills).

    ``probability`` is the labeller's probability of the label it gave; NULL for a dataset's own
    label (labeller ``dataset``, version = the benchmark), which nothing predicted.
    """

    __tablename__ = "sample_labels"
    __table_args__ = (UniqueConstraint("sample_id", "labeller", "labeller_version",
                                       name="uq_sample_labels_sample_labeller"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    labeller: Mapped[str] = mapped_column(String(100))
    labeller_version: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(16))
    probability: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A bearer token of the REST API, stored as its sha256 hex digest (the token is shown once).

    A revoked token keeps its row (and its name) so its history stays visible in `medgrid tokens list`.
    ``scope`` is 'read' or 'write' (a check constraint in migration 0003_api_tokens).
    """

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("name", name="uq_api_tokens_name"),
                      UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(8))  # read | write
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
