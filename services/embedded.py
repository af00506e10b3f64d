"""The embedded default: one process, no Redis, the same services code the grid runs behind its queue."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from db.session import make_engine, make_sessionmaker, upgrade
from medgrid.settings import Settings, confine_path
from services import runs
from services.benchmarks import registry
from services.models.base import create_adapter
from services.models.spec import ModelSpec, weights_fingerprint


@dataclass(frozen=True)
class EvalRequest:
    model: ModelSpec
    benchmarks: list[tuple[str, str]]  # (benchmark name, data path)
    split: str | None = None
    limit: int | None = None
    sample: int | None = None
    options: dict | None = None  # adapter options, e.g. {"language": "en"}


@dataclass(frozen=True)
class EvalResult:
    run_id: str
    cells: list
    n_samples: int
    database_url: str


def select_benchmarks(request: EvalRequest, settings: Settings) -> list[runs.BenchmarkSelection]:
    selections = []
    for name, data in request.benchmarks:
        spec = registry.get(name)
        root = confine_path(data, settings, what="data path")
        split = request.split or spec.default_split
        samples = registry.load_samples(name, root, split, limit=request.limit, sample=request.sample,
                                        seed=settings.seed, **(request.options or {}))
        selections.append(runs.BenchmarkSelection(spec, str(root), split, samples, dict(request.options or {})))
    return selections


def evaluate(request: EvalRequest, settings: Settings,
             progress: Callable[[int], Callable[[int], None]] | None = None) -> EvalResult:
    """Run ``request`` to completion in this process and return the run id and score cells.

    ``progress(total)`` may return a callback that receives the number of samples just finished.
    """
    selections = select_benchmarks(request, settings)
    url = settings.resolved_database_url
    upgrade(url)
    factory = make_sessionmaker(make_engine(url))
    spec = request.model
    weights = weights_fingerprint(spec.path) if spec.path and Path(spec.path).is_dir() else None
    options = {"benchmarks": [{"name": s.benchmark.name, "data": s.data, "split": s.split, "options": s.options,
                               "limit": request.limit, "sample": request.sample} for s in selections],
               "seed": settings.seed, "mode": "embedded"}
    run_id = runs.create_run(factory, spec, weights, selections, shard_size=settings.shard_size, options=options)
    by_key = {(s.benchmark.name, sample.id): sample for s in selections for sample in s.samples}
    adapter = create_adapter(spec, seed=settings.seed, allow_remote_code=settings.trust_remote_code)
    adapter.load()
    total = sum(len(s.samples) for s in selections)
    tick = progress(total) if progress else None
    for shard_id in runs.shard_ids(factory, run_id):
        runs.execute_shard(factory, shard_id, adapter, lambda bench, record, _options: by_key[(bench, record["key"])].images,
                           seed=settings.seed, lease_seconds=settings.lease_seconds, on_progress=tick)
    cells = runs.score_run(factory, run_id, seed=settings.seed, resamples=settings.bootstrap_resamples)
    return EvalResult(run_id, cells, total, url)
