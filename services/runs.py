"""Run orchestration: register samples, plan shards, execute a shard, score a run.

The embedded ``medgrid eval`` and the grid's Celery tasks call these same functions; the only
difference is who calls ``execute_shard`` (a loop here, a worker pinned to the model there).
Shards follow the ledger semantics of DESIGN.md: a lease per attempt, predictions upserted on
(run, sample), so running a shard twice has the effect of running it once.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from db import models as m
from db.session import bulk_update, transaction, upsert
from services import prompts
from services.benchmarks.registry import Benchmark
from services.benchmarks.sample import Sample
from services.models.base import GenerationRequest, ModelAdapter
from services.models.spec import ModelSpec

TERMINAL_RUN_STATES = ("done", "partial", "failed", "cancelled")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class BenchmarkSelection:
    """One benchmark of a run: where its data is and which samples were chosen."""

    benchmark: Benchmark
    data: str
    split: str
    samples: list[Sample]
    options: dict


@dataclass(frozen=True)
class ShardOutcome:
    shard_id: int
    status: str  # done | skipped (already done, cancelled or leased elsewhere)
    generated: int = 0
    cached: int = 0
    failed_samples: int = 0
    run_id: str | None = None
    run_complete: bool = False  # this shard settled the run's last open shard: score it now


# -- registration ------------------------------------------------------------------------------

def register_model(session: Session, spec: ModelSpec, weights_hash: str | None) -> None:
    row = {"id": spec.id, "kind": spec.kind, "family": spec.family, "path": spec.path, "revision": spec.revision,
           "weights_hash": weights_hash, "spec": spec.to_json(), "created_at": utcnow()}
    upsert(session, m.Model.__table__, [row], ["id"], ["kind", "family", "path", "revision", "weights_hash", "spec"])


def register_samples(session: Session, selection: BenchmarkSelection) -> dict[str, int]:
    """Store the selection's samples (idempotently) and return ``sample key -> row id``."""
    spec = selection.benchmark
    upsert(session, m.Benchmark.__table__, [{"name": spec.name, "title": spec.title, "created_at": utcnow()}],
           ["name"], ["title"])
    rows, hashes = [], {}
    for sample in selection.samples:
        content_hash = sample.content_hash()
        hashes[sample.id] = content_hash
        rows.append({"benchmark": spec.name, "split": selection.split, "key": sample.id,
                     "content_hash": content_hash, "answer_type": sample.answer_type,
                     "reasoning_level": sample.reasoning_level, "group": sample.group,
                     "record": _json_safe(sample.record()), "created_at": utcnow()})
    for start in range(0, len(rows), 500):
        upsert(session, m.Sample.__table__, rows[start:start + 500], ["benchmark", "split", "key", "content_hash"], [])
    keys, found = list(hashes), []
    for start in range(0, len(keys), 1000):
        found += session.execute(select(m.Sample.id, m.Sample.key, m.Sample.content_hash).where(
            m.Sample.benchmark == spec.name, m.Sample.split == selection.split,
            m.Sample.key.in_(keys[start:start + 1000]))).all()
    return {key: pk for pk, key, digest in found if hashes.get(key) == digest}


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


def open_run(session: Session, spec: ModelSpec, weights_hash: str | None, options: dict, status: str) -> str:
    """The run row (and its model's), before any sample is read."""
    run_id = str(uuid.uuid4())
    register_model(session, spec, weights_hash)
    session.add(m.Run(id=run_id, model_id=spec.id, model_weights_hash=weights_hash, status=status,
                      options=_json_safe(options), n_samples=0))
    session.flush()
    return run_id


def add_selection(session: Session, run_id: str, selection: BenchmarkSelection, shard_size: int,
                  first_shard: int = 0) -> list[int]:
    """Register a benchmark's samples and cut them into the run's shards, numbered from ``first_shard``;
    returns the new shard ids. Shards already written for these positions are left as they are."""
    written = set(session.scalars(select(m.Shard.index).where(m.Shard.run_id == run_id,
                                                              m.Shard.benchmark == selection.benchmark.name)))
    ids = register_samples(session, selection)
    ordered = [ids[s.id] for s in selection.samples]
    shards = [m.Shard(run_id=run_id, benchmark=selection.benchmark.name, index=first_shard + n,
                      sample_ids=ordered[start:start + shard_size], status="pending", attempts=0)
              for n, start in enumerate(range(0, len(ordered), shard_size)) if first_shard + n not in written]
    session.add_all(shards)
    session.flush()
    return [shard.id for shard in shards]


def create_run(factory: sessionmaker[Session], spec: ModelSpec, weights_hash: str | None,
               selections: Iterable[BenchmarkSelection], *, shard_size: int, options: dict) -> str:
    """Write the run, its samples and its shards in one transaction (the embedded path); returns the run id."""
    with transaction(factory) as session:
        run_id = open_run(session, spec, weights_hash, options, "queued")
        total = 0
        for selection in selections:
            add_selection(session, run_id, selection, shard_size)
            total += len(selection.samples)
        session.execute(update(m.Run).where(m.Run.id == run_id).values(n_samples=total))
    return run_id


def shard_ids(factory: sessionmaker[Session], run_id: str, statuses: tuple[str, ...] = ("pending",)) -> list[int]:
    with transaction(factory) as session:
        return list(session.scalars(select(m.Shard.id).where(m.Shard.run_id == run_id, m.Shard.status.in_(statuses))
                                    .order_by(m.Shard.benchmark, m.Shard.index)))


# -- execution ---------------------------------------------------------------------------------

def cache_key(weights_hash: str | None, content_hash: str, spec: ModelSpec, seed: int) -> str:
    """Same weights, same sample, same prompt template and generation settings: same answer."""
    parts = [weights_hash or spec.path or spec.id, content_hash, prompts.TEMPLATE_VERSION, spec.prompt_style,
             str(spec.max_new_tokens), spec.dtype, "greedy", str(seed)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _claim(session: Session, shard_id: int, owner: str, lease_seconds: float) -> dict | None:
    """Take the shard's lease unless it is finished or someone else holds an unexpired lease."""
    shard = session.execute(select(m.Shard).where(m.Shard.id == shard_id).with_for_update()).scalar_one_or_none()
    if shard is None or shard.status in ("done", "failed", "cancelled"):
        return None
    run = session.get(m.Run, shard.run_id)
    if run.status == "cancelled":
        shard.status = "cancelled"
        return None
    now = utcnow()
    if shard.status == "leased" and shard.lease_owner != owner and (_aware(shard.lease_expires_at) or now) > now:
        return None
    shard.status, shard.lease_owner, shard.leased_at = "leased", owner, now
    shard.lease_expires_at = now + timedelta(seconds=lease_seconds)
    shard.attempts += 1
    if run.status == "queued":
        run.status, run.started_at = "running", now
    return {"run_id": shard.run_id, "model_id": run.model_id, "benchmark": shard.benchmark,
            "sample_ids": list(shard.sample_ids), "attempts": shard.attempts,
            "weights_hash": run.model_weights_hash, "options": dict(run.options)}


def claim_shard(factory: sessionmaker[Session], shard_id: int, owner: str, lease_seconds: float) -> dict | None:
    with transaction(factory) as session:
        return _claim(session, shard_id, owner, lease_seconds)


def _cache_may_hit(session: Session, run_id: str, model_id: str, weights_hash: str | None) -> bool:
    """Only an earlier run of the same weights can have predictions to reuse; asking the small runs
    table first spares every shard of a new model a lookup in the (large) predictions table."""
    same = m.Run.model_weights_hash == weights_hash if weights_hash else m.Run.model_id == model_id
    return session.scalar(select(m.Run.id).where(same, m.Run.id != run_id).limit(1)) is not None


# (benchmark name, stored sample record, run options) -> the sample's image references
ImageLookup = Callable[[str, dict, dict], list]
# A fixed adapter, or (the run's model id -> a loaded adapter) for workers that swap checkpoints in.
AdapterSource = ModelAdapter | Callable[[str], ModelAdapter]


def execute_shard(factory: sessionmaker[Session], shard_id: int, adapter: AdapterSource, lookup: ImageLookup, *,
                  seed: int, lease_seconds: float, owner: str | None = None,
                  on_progress: Callable[[int], None] | None = None) -> ShardOutcome:
    """Claim, generate, store: two transactions around the model call, whatever happens in between."""
    owner = owner or worker_identity()
    with transaction(factory) as session:
        claim = _claim(session, shard_id, owner, lease_seconds)
        if claim is None:
            return ShardOutcome(shard_id, "skipped")
        rows = session.execute(select(m.Sample.id, m.Sample.content_hash, m.Sample.record)
                               .where(m.Sample.id.in_(claim["sample_ids"]))).all()
        # On a first attempt nothing of this shard can be stored yet; a retry resumes where it stopped.
        done = set() if claim["attempts"] == 1 else set(session.scalars(select(m.Prediction.sample_id).where(
            m.Prediction.run_id == claim["run_id"], m.Prediction.sample_id.in_(claim["sample_ids"]))))
        cache_may_hit = _cache_may_hit(session, claim["run_id"], claim["model_id"], claim["weights_hash"])
    if not hasattr(adapter, "generate"):
        adapter = adapter(claim["model_id"])
    spec = adapter.spec
    keys = {pk: cache_key(claim["weights_hash"], digest, spec, seed) for pk, digest, _ in rows}
    cached = {}
    if cache_may_hit:
        with transaction(factory) as session:
            for hit in session.execute(select(m.Prediction.cache_key, m.Prediction.response, m.Prediction.latency_s,
                                              m.Prediction.input_tokens, m.Prediction.output_tokens)
                                       .where(m.Prediction.cache_key.in_(list(keys.values())),
                                              m.Prediction.error.is_(None), m.Prediction.response.is_not(None))):
                cached.setdefault(hit.cache_key, hit)
    records = {pk: record for pk, _, record in rows}
    todo, reused = [], []
    for pk in claim["sample_ids"]:
        if pk in done:
            continue
        hit = cached.get(keys[pk])
        if hit is not None:
            reused.append(_prediction_row(claim["run_id"], pk, keys[pk], hit.response, None, hit.latency_s,
                                          hit.input_tokens, hit.output_tokens, cached=True))
        else:
            todo.append(pk)
    requests, failures = [], []
    for pk in todo:
        record = records[pk]
        try:
            images = lookup(claim["benchmark"], record, claim["options"])
        except Exception as exc:  # the sample vanished or changed on disk: record it, go on
            failures.append(_prediction_row(claim["run_id"], pk, keys[pk], None, f"{type(exc).__name__}: {exc}",
                                            None, None, None))
            continue
        requests.append(GenerationRequest(
            id=str(pk), prompt=prompts.build_prompt(record, spec.prompt_style), images=list(images),
            answer_type=record["answer_type"], closed_kind=record.get("closed_kind"),
            option_labels=tuple(o["label"] for o in record.get("options") or [])))
    outputs = []
    # Hand over several batches at a time: the adapter sorts by length and packs by budget inside
    # a call, and an HTTP backend runs a call's requests concurrently; progress still moves.
    chunk = max(32, 4 * spec.batch_size)
    for start in range(0, len(requests), chunk):
        outputs.extend(adapter.generate(requests[start:start + chunk]))
        if on_progress:
            on_progress(min(chunk, len(requests) - start))
    generated = [_prediction_row(claim["run_id"], int(o.id), keys[int(o.id)], o.text, o.error, o.latency_s,
                                 o.input_tokens, o.output_tokens) for o in outputs]
    if on_progress and (reused or failures):
        on_progress(len(reused) + len(failures))
    with transaction(factory) as session:
        upsert(session, m.Prediction.__table__, reused + failures + generated, ["run_id", "sample_id"],
               ["cache_key", "response", "error", "latency_s", "input_tokens", "output_tokens", "cached"])
        finished = session.execute(
            update(m.Shard).where(m.Shard.id == shard_id, m.Shard.lease_owner == owner, m.Shard.status == "leased")
            .values(status="done", lease_owner=None, lease_expires_at=None, updated_at=utcnow())).rowcount
        run_complete = bool(finished) and _settle_run(session, claim["run_id"])
    n_failed = sum(1 for row in failures + generated if row["error"])
    return ShardOutcome(shard_id, "done", generated=len(generated), cached=len(reused), failed_samples=n_failed,
                        run_id=claim["run_id"], run_complete=run_complete)


def _settle_run(session: Session, run_id: str) -> bool:
    """Move a run whose shards are all settled from running to scoring; True for the one caller that did."""
    unsettled = exists().where(m.Shard.run_id == run_id, m.Shard.status.in_(("pending", "leased")))
    return bool(session.execute(update(m.Run).where(m.Run.id == run_id, m.Run.status.in_(("queued", "running")),
                                                    ~unsettled).values(status="scoring")).rowcount)


def settle_run(factory: sessionmaker[Session], run_id: str) -> bool:
    with transaction(factory) as session:
        return _settle_run(session, run_id)


def _storable(text: str | None) -> str | None:
    """Postgres text cannot hold NUL, which a model's byte-level decoding can emit: keep it visible as U+FFFD."""
    return text.replace("\x00", "\ufffd") if text else text


def _prediction_row(run_id, sample_id, key, response, error, latency, tokens_in, tokens_out, cached=False) -> dict:
    return {"run_id": run_id, "sample_id": sample_id, "cache_key": key, "response": _storable(response),
            "error": _storable(error),
            "latency_s": latency, "input_tokens": tokens_in, "output_tokens": tokens_out, "cached": cached,
            "created_at": utcnow()}


# -- scoring -----------------------------------------------------------------------------------

def score_run(factory: sessionmaker[Session], run_id: str, *, seed: int, resamples: int,
              labeller: str | None = None) -> list:
    """Judge every stored prediction of the run with the current scorers and write score rows.

    Older score rows stay (they carry their scorer version); re-scoring with the same version
    replaces that version's rows, so the result is identical however often it runs.
    Understanding/reasoning slices use the sample's own label (MedXpertQA) or the stored label of
    ``labeller`` (newest labeller when None); the facet ``reasoning_labeller`` in the score rows
    says which labeller, at which version, produced the labels of each benchmark.
    """
    from services import scoring
    from services.skills.store import labels_for

    with transaction(factory) as session:
        run = session.get(m.Run, run_id)
        if run is None:
            raise KeyError(run_id)
        # Plain rows, not ORM objects: a run can hold a million predictions.
        rows = session.execute(select(m.Prediction.id, m.Prediction.sample_id, m.Prediction.response,
                                      m.Prediction.error, m.Sample.record)
                               .join(m.Sample, m.Sample.id == m.Prediction.sample_id)
                               .where(m.Prediction.run_id == run_id).order_by(m.Prediction.sample_id)).all()
        labels = labels_for(session, [row.sample_id for row in rows], labeller=labeller)
        items, updates = [], []
        for prediction_id, sample_id, response, error, record in rows:
            label = labels.get(sample_id)
            if label is not None:
                record = {**record, "reasoning_level": label.label,
                          "skills": {**(record.get("skills") or {}),
                                     "reasoning_labeller": f"{label.labeller} {label.version}"}}
            judgement = scoring.judge(record, response, error)
            updates.append({"id": prediction_id, "extracted": judgement.extracted,
                            "extraction_method": judgement.method, "correct": judgement.correct,
                            "scorer_version": scoring.SCORER_VERSION})
            items.append((record, judgement))
        bulk_update(session, m.Prediction.__table__, updates)
        cells = scoring.aggregate(items, seed=seed, resamples=resamples)
        session.query(m.Score).filter(m.Score.run_id == run_id, m.Score.scorer == scoring.SCORER_NAME,
                                      m.Score.scorer_version == scoring.SCORER_VERSION).delete()
        session.add_all([m.Score(run_id=run_id, benchmark=c.benchmark, split=c.split, facet=c.facet,
                                 facet_value=c.value, metric=c.metric, scorer=scoring.SCORER_NAME,
                                 scorer_version=scoring.SCORER_VERSION, value=c.value_mean, ci_low=c.ci_low,
                                 ci_high=c.ci_high, n=c.n, n_unparsed=c.n_unparsed) for c in cells])
        shard_states = set(session.scalars(select(m.Shard.status).where(m.Shard.run_id == run_id)))
        if run.status != "cancelled":
            run.status = "partial" if shard_states - {"done"} else "done"
        run.finished_at = utcnow()
    return cells


def stored_cells(factory: sessionmaker[Session], run_id: str, scorer_version: str | None = None) -> tuple[dict, list]:
    """The run (model id, status) and its stored score cells for one scorer version (default: the current)."""
    from services import scoring

    version = scorer_version or scoring.SCORER_VERSION
    with transaction(factory) as session:
        run = session.get(m.Run, run_id)
        if run is None:
            raise KeyError(run_id)
        rows = session.scalars(select(m.Score).where(m.Score.run_id == run_id, m.Score.scorer == scoring.SCORER_NAME,
                                                     m.Score.scorer_version == version).order_by(m.Score.id)).all()
        cells = [scoring.ScoreCell(r.benchmark, r.split, r.facet, r.facet_value, r.metric, r.value, r.ci_low,
                                   r.ci_high, r.n, r.n_unparsed) for r in rows]
        return {"id": run.id, "model_id": run.model_id, "status": run.status}, cells
