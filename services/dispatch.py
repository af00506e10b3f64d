"""The grid's run lifecycle around the queue: submit, finish, sweep.

Postgres is the system of record; the broker only carries shard ids. Every function here is
safe to repeat: a lost message is re-sent by the sweeper, a duplicate one finds its shard done.
Enqueueing goes through an ``enqueue(queue, task, args)`` callable so this module never imports
Celery.
"""

from __future__ import annotations

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
from services.benchmarks import registry
from services.models.spec import ModelSpec

Enqueue = Callable[[str, str, list], None]

SHARD_TASK = "medgrid.run_shard"
SCORE_TASK = "medgrid.score_run"
SCORING_QUEUE = "scoring"


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


def submit_run(factory: sessionmaker[Session], settings: Settings, spec: ModelSpec, benchmarks: list[dict],
               enqueue: Enqueue, weights_hash: str | None = None, *, queue_model_id: str | None = None,
               extra_options: dict | None = None) -> str:
    """Create the run and its shards, then enqueue the shards on the model's queue (or ``queue_model_id``'s)."""
    options = {"benchmarks": benchmarks, "seed": settings.seed, "mode": "grid", **(extra_options or {})}
    selections = selections_from_options(options, settings)
    run_id = runs.create_run(factory, spec, weights_hash, selections, shard_size=settings.shard_size, options=options)
    queue = model_queue(queue_model_id or spec.id)
    for shard_id in runs.shard_ids(factory, run_id):
        enqueue(queue, SHARD_TASK, [shard_id])
    return run_id


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
            model_id = (options or {}).get("base_model") or model_id  # checkpoints run on their base's pool
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
        stuck_scoring = list(session.scalars(select(m.Run.id).where(
            m.Run.status == "scoring", m.Run.started_at < now - timedelta(seconds=stale_after))))
    for model_id, shard_id in to_enqueue:
        enqueue(model_queue(model_id), SHARD_TASK, [shard_id])
        counts["requeued"] += 1
    for run_id in active:
        counts["finished"] += finish_if_complete(factory, run_id, enqueue)
    for run_id in stuck_scoring:
        enqueue(SCORING_QUEUE, SCORE_TASK, [run_id])
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
