"""The grid's run lifecycle around the queue: submit, finish, sweep.

Postgres is the system of record; the broker only carries shard ids. Every function here is
safe to repeat: a lost message is re-sent by the sweeper, a duplicate one finds its shard done.
Enqueueing goes through an ``enqueue(queue, task, args)`` callable so this module never imports
Celery.
"""

from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from datetime import timedelta
from typing import Callable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from db import models as m
from db.session import transaction
from medgrid.settings import Settings, confine_path
from services import runs
from services.benchmarks import registry, sharding
from services.benchmarks.sample import DataError
from services.gcpause import gc_paused
from services.models.spec import ModelSpec

Enqueue = Callable[[str, str, list], None]

SHARD_TASK = "medgrid.run_shard"
SCORE_TASK = "medgrid.score_run"
SCORING_QUEUE = "scoring"
PREPARE_TASK = "medgrid.prepare_run"
PREPARE_QUEUE = "prepare"  # consumed by the scoring service: CPU and database work, no model
PREPARE_SHARDS_PER_COMMIT = 16


def model_queue(model_id: str) -> str:
    """The one routing rule: a model's shards go to its own queue, consumed by its own pool."""
    return f"model.{model_id}"


def selections_from_options(options: dict, settings: Settings) -> list[runs.BenchmarkSelection]:
    """Re-read the benchmarks a run names (the API at submit time, a worker to find images)."""
    selections = []
    for item in options["benchmarks"]:
        spec = registry.get(item["name"])
        root = confine_path(item["data"], settings, what="data path")
        split = item.get("split") or spec.default_split
        samples = registry.load_samples(item["name"], root, split, limit=item.get("limit"), sample=item.get("sample"),
                                        seed=options.get("seed", settings.seed), **(item.get("options") or {}))
        selections.append(runs.BenchmarkSelection(spec, str(root), split, samples, dict(item.get("options") or {})))
    return selections


def check_selection(item: dict, settings: Settings) -> None:
    """What the API can refuse at once, without reading a benchmark: the name and the data path."""
    registry.get(item["name"])
    root = confine_path(item["data"], settings, what="data path")
    if not root.exists():
        raise DataError(str(root), "data path does not exist")


def submit_run(factory: sessionmaker[Session], settings: Settings, spec: ModelSpec, benchmarks: list[dict],
               enqueue: Enqueue, weights_hash: str | None = None, *, queue_model_id: str | None = None,
               extra_options: dict | None = None) -> str:
    """Open the run and hand its preparation (reading benchmarks, writing shards) to the prepare queue.

    Reading 100k samples takes longer than an HTTP request should, so the API answers 202 at once;
    shards are enqueued as each benchmark is registered, and workers start while the rest is read.
    """
    for item in benchmarks:
        check_selection(item, settings)
    options = {"benchmarks": benchmarks, "seed": settings.seed, "mode": "grid",
               "queue_model": queue_model_id or spec.id, **(extra_options or {})}
    with transaction(factory) as session:
        run_id = runs.open_run(session, spec, weights_hash, options, "preparing")
    enqueue(PREPARE_QUEUE, PREPARE_TASK, [run_id])
    return run_id


def prepare_run(factory: sessionmaker[Session], settings: Settings, run_id: str, enqueue: Enqueue) -> str:
    """Register each benchmark's samples, write and enqueue its shards; idempotent. Returns the run status."""
    with gc_paused():  # a benchmark's samples are many small acyclic objects (services/gcpause.py)
        return _prepare_run(factory, settings, run_id, enqueue)


def _prepare_run(factory: sessionmaker[Session], settings: Settings, run_id: str, enqueue: Enqueue) -> str:
    with transaction(factory) as session:
        run = session.get(m.Run, run_id)
        if run is None or run.status != "preparing":
            return run.status if run else "missing"
        options, queue = dict(run.options), model_queue(run.options.get("queue_model") or run.model_id)
    total = 0
    for item in options["benchmarks"]:
        try:
            (selection,) = selections_from_options({**options, "benchmarks": [item]}, settings)
        except (DataError, PermissionError, KeyError) as exc:
            with transaction(factory) as session:
                session.execute(update(m.Run).where(m.Run.id == run_id).values(
                    status="failed", error=f"{type(exc).__name__}: {exc}", finished_at=runs.utcnow()))
            return "failed"
        # Register, commit and enqueue a slice at a time so workers start while the rest is still
        # being registered; the first slice is small, enough to keep one worker's shard threads busy.
        size = sharding.shard_size_for(len(selection.samples), settings.shard_size)
        with transaction(factory) as session:
            stored = runs.stored_samples(session, selection.benchmark.name, selection.split)
        start, step = 0, size * settings.worker_shards_in_flight
        while start < len(selection.samples):
            part = dataclasses.replace(selection, samples=selection.samples[start:start + step])
            with transaction(factory) as session:
                shard_ids = runs.add_selection(session, run_id, part, size, first_shard=start // size,
                                               stored=stored)
            for shard_id in shard_ids:
                enqueue(queue, SHARD_TASK, [shard_id])
            start, step = start + step, size * PREPARE_SHARDS_PER_COMMIT
        total += len(selection.samples)
    with transaction(factory) as session:
        session.execute(update(m.Run).where(m.Run.id == run_id, m.Run.status == "preparing")
                        .values(status="queued", n_samples=total))
    finish_if_complete(factory, run_id, enqueue)  # a small run's shards may all be done already
    return "queued"


def finish_if_complete(factory: sessionmaker[Session], run_id: str, enqueue: Enqueue) -> bool:
    """Move a run whose shards are all settled to 'scoring' and enqueue scoring, exactly once."""
    moved = runs.settle_run(factory, run_id)
    if moved:
        enqueue(SCORING_QUEUE, SCORE_TASK, [run_id])
    return moved


def record_shard_failure(factory: sessionmaker[Session], shard_id: int, error: str, max_attempts: int) -> str:
    """After a failed attempt: back to pending for a retry, or failed for good after max_attempts."""
    with transaction(factory) as session:
        shard = session.execute(select(m.Shard).where(m.Shard.id == shard_id).with_for_update()).scalar_one()
        shard.last_error = error[-4000:]
        shard.lease_owner = shard.lease_expires_at = None
        shard.status = "failed" if shard.attempts >= max_attempts else "pending"
        return shard.status


def cancel_run(factory: sessionmaker[Session], run_id: str) -> bool:
    with transaction(factory) as session:
        run = session.get(m.Run, run_id)
        if run is None:
            raise KeyError(run_id)
        if run.status in runs.TERMINAL_RUN_STATES:
            return False
        run.status, run.finished_at = "cancelled", runs.utcnow()
        session.execute(update(m.Shard).where(m.Shard.run_id == run_id, m.Shard.status == "pending")
                        .values(status="cancelled"))
        return True


def sweep(factory: sessionmaker[Session], settings: Settings, enqueue: Enqueue, *, stale_after: float,
          queue_depth: Callable[[str], int] | None = None) -> dict:
    """Re-enqueue what the broker may have lost: expired leases, and pending shards nobody will deliver.

    A dead worker leaves an expired lease; a flushed Redis leaves pending shards whose messages
    are gone. A pending shard counts as lost once it is older than ``stale_after`` *and* its
    model's queue is empty (``queue_depth``), so a long but healthy queue is never re-filled with
    duplicates. Shards out of attempts are failed, and runs whose shards are all settled are
    finished (scoring re-enqueued if it never reported).
    """
    now = runs.utcnow()
    counts = {"requeued": 0, "failed": 0, "finished": 0}
    with transaction(factory) as session:
        rows = session.execute(
            select(m.Shard, m.Run.model_id, m.Run.options).join(m.Run, m.Run.id == m.Shard.run_id)
            .where(m.Run.status.in_(("queued", "running")),
                   or_(and_(m.Shard.status == "leased", m.Shard.lease_expires_at < now),
                       and_(m.Shard.status == "pending", m.Shard.updated_at < now - timedelta(seconds=stale_after))))
            .with_for_update(of=m.Shard)).all()
        to_enqueue = []
        depth_cache: dict[str, int] = {}

        def queue_is_empty(model_id: str) -> bool:
            if queue_depth is None:
                return True
            if model_id not in depth_cache:
                depth_cache[model_id] = queue_depth(model_queue(model_id))
            return depth_cache[model_id] == 0

        for shard, model_id, options in rows:
            model_id = (options or {}).get("queue_model") or model_id  # checkpoints run on their base's pool
            if shard.status == "pending" and not queue_is_empty(model_id):
                continue  # its message is most likely still queued behind others
            if shard.attempts >= settings.max_attempts:
                shard.status, shard.last_error = "failed", shard.last_error or "lease expired on every attempt"
                counts["failed"] += 1
            else:
                shard.status, shard.lease_owner, shard.lease_expires_at = "pending", None, None
                shard.updated_at = now
                to_enqueue.append((model_id, shard.id))
        active = list(session.scalars(select(m.Run.id).where(m.Run.status.in_(("queued", "running", "scoring")))))
        # A prepare message lost with the broker; a live preparation is never older than a lease.
        unprepared = list(session.scalars(select(m.Run.id).where(
            m.Run.status == "preparing", m.Run.created_at < now - timedelta(seconds=settings.lease_seconds))))
        stuck_scoring = list(session.scalars(select(m.Run.id).where(
            m.Run.status == "scoring", m.Run.started_at < now - timedelta(seconds=stale_after))))
    for model_id, shard_id in to_enqueue:
        enqueue(model_queue(model_id), SHARD_TASK, [shard_id])
        counts["requeued"] += 1
    for run_id in active:
        counts["finished"] += finish_if_complete(factory, run_id, enqueue)
    for run_id in stuck_scoring:
        enqueue(SCORING_QUEUE, SCORE_TASK, [run_id])
    for run_id in unprepared:
        enqueue(PREPARE_QUEUE, PREPARE_TASK, [run_id])
    return counts


def run_of_shard(factory: sessionmaker[Session], shard_id: int) -> str | None:
    with transaction(factory) as session:
        return session.scalar(select(m.Shard.run_id).where(m.Shard.id == shard_id))


class ImageCache:
    """A worker's way to a sample's images: the references stored with the sample, or, for images
    held inline in a data file, the benchmark read once per selection."""

    def __init__(self, settings: Settings, capacity: int = 4):
        self.settings, self.capacity = settings, capacity
        self._selections: OrderedDict[str, dict] = OrderedDict()

    def __call__(self, benchmark: str, record: dict, options: dict) -> list:
        from services.benchmarks.images import ImageRef

        stored = [ImageRef.from_json(image) for image in record.get("images") or []]
        if all(ref is not None for ref in stored):
            return stored
        for item in options["benchmarks"]:
            if item["name"] != benchmark:
                continue
            key = json.dumps(item, sort_keys=True)
            if key not in self._selections:
                (selection,) = selections_from_options({**options, "benchmarks": [item]}, self.settings)
                self._selections[key] = {s.id: s for s in selection.samples}
                while len(self._selections) > self.capacity:
                    self._selections.popitem(last=False)
            self._selections.move_to_end(key)
            samples = self._selections[key]
            if record["key"] in samples:
                return samples[record["key"]].images
        raise KeyError(f"sample {record['key']} of {benchmark} is no longer in the data the run named")
