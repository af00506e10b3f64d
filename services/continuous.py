"""Continuous evaluation: a training job registers each new checkpoint of a base model; the grid
evaluates it on the base model's worker pool and says whether it regressed against the last one.

A checkpoint is a model of its own (``<base>--<name>``, its own weights hash) whose shards go
to ``model.<base>``: the pool that already has the right GPUs and family swaps weights in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from db import models as m
from db.session import transaction
from medgrid.settings import Settings, confine_path
from services import dispatch, runs
from services.models.spec import ModelSpec, weights_fingerprint

NAME = re.compile(r"[A-Za-z0-9_.\-]{1,60}")


class CheckpointError(ValueError):
    """The checkpoint named in a request cannot be evaluated (bad name, no checkpoint at the path)."""


@dataclass(frozen=True)
class BenchmarkDelta:
    benchmark: str
    split: str
    current: float
    baseline: float
    delta: float
    ci_low: float | None
    ci_high: float | None
    n: int
    regressed: bool


def checkpoint_spec(base: ModelSpec, path: str, name: str, settings: Settings) -> ModelSpec:
    if not NAME.fullmatch(name):
        raise CheckpointError("checkpoint name must be 1-60 letters, digits, '_', '.', '-'")
    folder = confine_path(path, settings, what="checkpoint path")
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"checkpoint path {folder} holds no config.json")
    return replace(base, id=f"{base.id}--{name}"[:100], path=str(folder), revision=name)


def submit_checkpoint(factory: sessionmaker[Session], settings: Settings, base: ModelSpec, path: str, name: str,
                      benchmarks: list[dict], enqueue, threshold: float) -> tuple[str, str | None]:
    """Evaluate a checkpoint on ``base``'s pool; returns (run id, the baseline run it will be compared with)."""
    spec = checkpoint_spec(base, path, name, settings)
    baseline = latest_run(factory, base.id, exclude_model=spec.id)
    run_id = dispatch.submit_run(factory, settings, spec, benchmarks, enqueue,
                                 weights_hash=weights_fingerprint(spec.path), queue_model_id=base.id,
                                 extra_options={"base_model": base.id, "checkpoint": name,
                                                "regression_threshold": threshold, "baseline_run": baseline})
    return run_id, baseline


def latest_run(factory: sessionmaker[Session], base_id: str, exclude_model: str | None = None) -> str | None:
    """The newest finished run of the base model or of any of its checkpoints."""
    with transaction(factory) as session:
        candidates = session.scalars(select(m.Run).where(m.Run.status == "done").order_by(m.Run.created_at.desc())
                                     .limit(500)).all()
        for run in candidates:
            family = run.options.get("base_model") or run.model_id
            if family == base_id and run.model_id != exclude_model:
                return run.id
    return None


def compare(factory: sessionmaker[Session], run_id: str, baseline_id: str, threshold: float) -> list[BenchmarkDelta]:
    """Accuracy per benchmark against the baseline run; regressed when it drops by more than ``threshold``
    and the drop is larger than the two runs' CI half-widths combined (so noise alone does not alarm)."""
    _, current = runs.stored_cells(factory, run_id)
    _, previous = runs.stored_cells(factory, baseline_id)
    key = lambda c: (c.benchmark, c.split)
    before = {key(c): c for c in previous if c.facet == "all" and c.metric == "accuracy"}
    deltas = []
    for cell in current:
        if cell.facet != "all" or cell.metric != "accuracy" or key(cell) not in before:
            continue
        old = before[key(cell)]
        delta = cell.value_mean - old.value_mean
        noise = _half_width(cell) + _half_width(old)
        deltas.append(BenchmarkDelta(cell.benchmark, cell.split, cell.value_mean, old.value_mean, delta,
                                     cell.ci_low, cell.ci_high, cell.n, delta < -threshold and -delta > noise))
    return deltas


def _half_width(cell) -> float:
    if cell.ci_low is None or cell.ci_high is None:
        return 0.0
    return (cell.ci_high - cell.ci_low) / 2


def leaderboard(factory: sessionmaker[Session], metric: str = "accuracy") -> list[dict]:
    """Each model's newest finished run, its score per benchmark (facet all) and their mean."""
    from services.scoring import SCORER_NAME, SCORER_VERSION

    with transaction(factory) as session:
        latest: dict[str, m.Run] = {}
        for run in session.scalars(select(m.Run).where(m.Run.status == "done").order_by(m.Run.created_at.desc())):
            latest.setdefault(run.model_id, run)
        rows = []
        for model_id, run in latest.items():
            scores = session.scalars(select(m.Score).where(
                m.Score.run_id == run.id, m.Score.facet == "all", m.Score.metric == metric,
                m.Score.scorer == SCORER_NAME, m.Score.scorer_version == SCORER_VERSION)).all()
            by_benchmark = {f"{s.benchmark}:{s.split}": {"score": s.value, "ci_low": s.ci_low, "ci_high": s.ci_high,
                                                         "n": s.n} for s in scores}
            values = [v["score"] for v in by_benchmark.values()]
            rows.append({"model": model_id, "run_id": run.id, "weights_hash": run.model_weights_hash,
                         "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                         "benchmarks": by_benchmark, "mean": sum(values) / len(values) if values else None})
    rows.sort(key=lambda r: -(r["mean"] if r["mean"] is not None else -1))
    return rows


def ensure_loaded(ctx, run_model_id: str, pinned_id: str):
    """A worker pinned to ``pinned_id`` swapping to the checkpoint a run names (one model in memory at a time)."""
    from services.models.base import create_adapter

    if ctx.adapter is not None and ctx.adapter.spec.id == run_model_id:
        return ctx.adapter
    with transaction(ctx.factory) as session:
        row = session.get(m.Model, run_model_id)
        spec = ModelSpec.from_mapping(dict(row.spec), f"model {run_model_id}")
    if run_model_id != pinned_id and not run_model_id.startswith(f"{pinned_id}--"):
        raise RuntimeError(f"worker pinned to {pinned_id} refuses model {run_model_id}")
    ctx.adapter = None  # drop the old weights before loading the new ones
    adapter = create_adapter(spec, seed=ctx.settings.seed, allow_remote_code=ctx.settings.trust_remote_code)
    adapter.load()
    ctx.adapter = adapter
    return adapter
