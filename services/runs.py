"""Run orchestration: register samples, plan shards, execute a shard, score a run.

The embedded ``medgrid eval`` and the grid's Celery tasks call these same functions; the only
difference is who calls ``execute_shard`` (a loop here, a worker pinned to the model there).
Shards follow the ledger semantics of DESIGN.md: a lease per attempt, predictions upserted on
(run, sample), so running a shard twice has the effect of running it once.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from db import models as m
from db.session import Conflict, bulk_update, insert_new, transaction, upsert
from services import prompts
from services.gcpause import gc_paused
from services.benchmarks import sharding
from services.benchmarks.registry import Benchmark
from services.benchmarks.sample import Sample
from services.models.base import GenerationRequest, ModelAdapter
from services.models.spec import ModelSpec

TERMINAL_RUN_STATES = ("done", "partial", "failed", "cancelled")
SHARDS, RUNS, SAMPLES, PREDICTIONS = (m.Shard.__table__, m.Run.__table__, m.Sample.__table__,
                                      m.Prediction.__table__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def worker_identity() -> str:
    """Who holds a lease: host, process and (for a worker running shards in threads) thread, so
    that two threads of one worker never both take the same shard."""
    thread = threading.current_thread()
    suffix = "" if thread is threading.main_thread() else f"/{thread.name}"
    return f"{socket.gethostname()}:{os.getpid()}{suffix}"


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


StoredSamples = dict  # (sample key, content hash) -> samples.id, for one benchmark split


def stored_samples(session: Session, benchmark: str, split: str) -> StoredSamples:
    """Every stored sample of a benchmark split, by (key, content hash): one index-only scan, so a
    run over a benchmark an earlier run registered inserts nothing and looks nothing up per sample."""
    return {(key, digest): pk for pk, key, digest in session.execute(
        select(SAMPLES.c.id, SAMPLES.c.key, SAMPLES.c.content_hash)
        .where(SAMPLES.c.benchmark == benchmark, SAMPLES.c.split == split))}


def register_samples(session: Session, selection: BenchmarkSelection,
                     stored: StoredSamples | None = None) -> dict[str, int]:
    """Store the selection's samples (idempotently) and return ``sample key -> row id``.

    ``stored`` (``stored_samples`` of the selection's benchmark split, read once by a caller that
    registers a benchmark slice by slice) is updated with the samples inserted here.
    """
    with gc_paused():
        return _register_samples(session, selection, stored)


def _register_samples(session: Session, selection: BenchmarkSelection, stored: StoredSamples | None) -> dict[str, int]:
    spec = selection.benchmark
    upsert(session, m.Benchmark.__table__, [{"name": spec.name, "title": spec.title, "created_at": utcnow()}],
           ["name"], ["title"])
    if stored is None:
        stored = stored_samples(session, spec.name, selection.split)
    image_digests: dict = {}

    def image_sha256(image) -> str:  # several questions share an image: read and hash it once
        digest = image_digests.get(image)
        if digest is None:
            digest = image_digests[image] = image.sha256()
        return digest

    ids, rows, now = {}, [], utcnow()
    for sample in selection.samples:
        content_hash = sample.content_hash(image_sha256)
        pk = stored.get((sample.id, content_hash))
        if pk is not None:
            ids[sample.id] = pk
            continue
        # the engine's JSON serializer writes what JSON cannot hold (numpy numbers, dates) as text
        rows.append({"benchmark": spec.name, "split": selection.split, "key": sample.id,
                     "content_hash": content_hash, "answer_type": sample.answer_type,
                     "reasoning_level": sample.reasoning_level, "group": sample.group,
                     "record": sample.record(), "created_at": now})
    for start in range(0, len(rows), 500):  # new samples come back from the INSERT itself
        for pk, key, digest in upsert(session, SAMPLES, rows[start:start + 500],
                                      ["benchmark", "split", "key", "content_hash"], [],
                                      returning=("id", "key", "content_hash")):
            ids[key] = stored[(key, digest)] = pk
    raced = {row["key"]: row["content_hash"] for row in rows if row["key"] not in ids}
    if raced:  # another run registered them since ``stored`` was read
        for (key, digest), pk in stored_samples(session, spec.name, selection.split).items():
            if raced.get(key) == digest:
                ids[key] = stored[(key, digest)] = pk
    return ids


def open_run(session: Session, spec: ModelSpec, weights_hash: str | None, options: dict, status: str) -> str:
    """The run row (and its model's), before any sample is read."""
    run_id = str(uuid.uuid4())
    register_model(session, spec, weights_hash)
    session.add(m.Run(id=run_id, model_id=spec.id, model_weights_hash=weights_hash, status=status,
                      options=options, n_samples=0))
    session.flush()
    return run_id


def add_selection(session: Session, run_id: str, selection: BenchmarkSelection, shard_size: int,
                  first_shard: int = 0, stored: StoredSamples | None = None) -> list[int]:
    """Register a benchmark's samples and cut them into the run's shards, numbered from ``first_shard``;
    returns the new shard ids. Shards already written for these positions are left as they are."""
    written = set(session.scalars(select(m.Shard.index).where(m.Shard.run_id == run_id,
                                                              m.Shard.benchmark == selection.benchmark.name)))
    ids = register_samples(session, selection, stored)
    ordered = [ids[s.id] for s in selection.samples]
    shards = [m.Shard(run_id=run_id, benchmark=selection.benchmark.name, index=first_shard + n,
                      sample_ids=sample_ids, status="pending", attempts=0)
              for n, sample_ids in enumerate(sharding.cut(ordered, shard_size)) if first_shard + n not in written]
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


# A stored reply and its judgement are replaced together.
PREDICTION_UPDATE = ["cache_key", "response", "error", "latency_s", "input_tokens", "output_tokens", "cached",
                     "extracted", "extraction_method", "correct", "scorer_version"]


def _cache_may_hit():
    """Only an earlier run of the same weights (or of the same model id, when unhashed) can have
    predictions to reuse; asking the small runs table spares a new model's every shard a lookup
    in the large predictions table."""
    other = RUNS.alias("other_run")
    same = or_(and_(RUNS.c.model_weights_hash.is_not(None), other.c.model_weights_hash == RUNS.c.model_weights_hash),
               and_(RUNS.c.model_weights_hash.is_(None), other.c.model_id == RUNS.c.model_id))
    return exists().where(same, other.c.id != RUNS.c.id)


# The statements of a shard's life, built once: a worker runs them for every shard.
_SHARD = SHARDS.c.id == bindparam("shard_id")
_CLAIM = (select(SHARDS.c.status, SHARDS.c.lease_owner, SHARDS.c.lease_expires_at, SHARDS.c.attempts,
                 SHARDS.c.run_id, SHARDS.c.benchmark, SHARDS.c.sample_ids, RUNS.c.model_id,
                 RUNS.c.model_weights_hash, RUNS.c.options, RUNS.c.status.label("run_status"),
                 _cache_may_hit().label("cache_may_hit"))
          .join_from(SHARDS, RUNS, SHARDS.c.run_id == RUNS.c.id).where(_SHARD).with_for_update(of=SHARDS))
_SET_SHARD = update(SHARDS).where(_SHARD)
_START_RUN = (update(RUNS).where(RUNS.c.id == bindparam("run_id"), RUNS.c.status == "queued")
              .values(status="running", started_at=bindparam("now")))
_SHARD_SAMPLES = select(SAMPLES.c.id, SAMPLES.c.content_hash, SAMPLES.c.record).where(
    SAMPLES.c.id.in_(bindparam("ids", expanding=True)))
_STORED = select(PREDICTIONS.c.sample_id).where(PREDICTIONS.c.run_id == bindparam("run_id"),
                                                PREDICTIONS.c.sample_id.in_(bindparam("ids", expanding=True)))
_CACHE_HITS = select(PREDICTIONS.c.cache_key, PREDICTIONS.c.response, PREDICTIONS.c.latency_s,
                     PREDICTIONS.c.input_tokens, PREDICTIONS.c.output_tokens).where(
    PREDICTIONS.c.cache_key.in_(bindparam("keys", expanding=True)), PREDICTIONS.c.error.is_(None),
    PREDICTIONS.c.response.is_not(None))
# renew the lease, or mark the shard done: only while this owner still holds it
_HELD_SHARD = update(SHARDS).where(_SHARD, SHARDS.c.lease_owner == bindparam("owner"), SHARDS.c.status == "leased")
_SETTLE_RUN = update(RUNS).where(
    RUNS.c.id == bindparam("run_id"), RUNS.c.status.in_(("queued", "running")),
    ~exists().where(SHARDS.c.run_id == RUNS.c.id, SHARDS.c.status.in_(("pending", "leased")))
).values(status="scoring")


def _claim(session: Session, shard_id: int, owner: str, lease_seconds: float) -> dict | None:
    """Take the shard's lease unless it is finished or someone else holds an unexpired lease.

    The shard row stays locked for the rest of the transaction, so two workers never both take it.
    """
    row = session.execute(_CLAIM, {"shard_id": shard_id}).first()
    if row is None or row.status in ("done", "failed", "cancelled"):
        return None
    now = utcnow()
    if row.run_status == "cancelled":
        session.execute(_SET_SHARD, {"shard_id": shard_id, "status": "cancelled", "updated_at": now})
        return None
    if row.status == "leased" and row.lease_owner != owner and (_aware(row.lease_expires_at) or now) > now:
        return None
    attempts = row.attempts + 1
    session.execute(_SET_SHARD, {"shard_id": shard_id, "status": "leased", "lease_owner": owner, "leased_at": now,
                                 "lease_expires_at": now + timedelta(seconds=lease_seconds), "attempts": attempts,
                                 "updated_at": now})
    if row.run_status == "queued":
        session.execute(_START_RUN, {"run_id": row.run_id, "now": now})
    return {"run_id": row.run_id, "model_id": row.model_id, "benchmark": row.benchmark,
            "sample_ids": list(row.sample_ids), "attempts": attempts, "weights_hash": row.model_weights_hash,
            "options": dict(row.options), "cache_may_hit": bool(row.cache_may_hit)}


def claim_shard(factory: sessionmaker[Session], shard_id: int, owner: str, lease_seconds: float) -> dict | None:
    with transaction(factory) as session:
        return _claim(session, shard_id, owner, lease_seconds)


# (benchmark name, stored sample record, run options) -> the sample's image references
ImageLookup = Callable[[str, dict, dict], list]
# A fixed adapter, or (the run's model id -> a loaded adapter) for workers that swap checkpoints in.
AdapterSource = ModelAdapter | Callable[[str], ModelAdapter]


def execute_shard(factory: sessionmaker[Session], shard_id: int, adapter: AdapterSource, lookup: ImageLookup, *,
                  seed: int, lease_seconds: float, owner: str | None = None,
                  on_progress: Callable[[int], None] | None = None,
                  model_lock: AbstractContextManager = nullcontext()) -> ShardOutcome:
    """Claim, generate, store: two transactions around the model call, whatever happens in between.

    Only the model section holds ``model_lock``: a worker running two shards at once (a thread
    each) generates one while the other is claimed, judged and stored, so the model never waits
    on Postgres, and a checkpoint is never swapped out under a shard that is using it. A slow
    shard keeps its lease and saves its work as it goes (``_ShardWriter``).
    """
    owner = owner or worker_identity()
    with transaction(factory) as session:
        claim = _claim(session, shard_id, owner, lease_seconds)
        if claim is None:
            return ShardOutcome(shard_id, "skipped")
        rows = session.execute(_SHARD_SAMPLES, {"ids": claim["sample_ids"]}).all()
        # On a first attempt nothing of this shard can be stored yet; a retry resumes where it stopped.
        done = set() if claim["attempts"] == 1 else set(session.scalars(
            _STORED, {"run_id": claim["run_id"], "ids": claim["sample_ids"]}))
    records = {pk: record for pk, _, record in rows}
    writer = _ShardWriter(factory, shard_id, owner, lease_seconds, records)
    with model_lock:
        answered, n_reused, n_generated = _answer(factory, claim, rows, records, done, adapter, lookup, seed,
                                                  on_progress, on_chunk=writer.checkpoint)
    run_complete = writer.finish(answered, claim["run_id"])
    return ShardOutcome(shard_id, "done", generated=n_generated, cached=n_reused,
                        failed_samples=sum(1 for row in answered if row["error"]), run_id=claim["run_id"],
                        run_complete=run_complete)


class _ShardWriter:
    """Stores a shard's predictions, judged, and keeps its lease while the model works.

    A fast model's shard is stored once, at its end, with the shard marked done in the same
    transaction. A slow one (a 72B model writing long reasoning) stores what it has every quarter
    of a lease and extends the lease: a shard may take longer than the lease without another
    worker taking it from a live one, and a crash loses at most a quarter lease of its work (the
    retry resumes from what was stored).
    """

    def __init__(self, factory, shard_id: int, owner: str, lease_seconds: float, records: dict):
        self.factory, self.shard_id, self.owner, self.records = factory, shard_id, owner, records
        self.lease_seconds, self.every = lease_seconds, lease_seconds / 4
        self.stored, self.last = 0, time.monotonic()

    def _write(self, rows: list[dict], then: Callable[[Session], object]):
        """One transaction: the rows not stored yet, then ``then(session)`` (renew or finish).

        They are new samples, so they go in with ``insert_new`` (COPY on Postgres). If another
        writer got there first (a worker that lost this shard's lease wrote late), the transaction
        is rolled back and the rows are merged with an upsert instead: a new reply replaces the
        stored one, judgement included.
        """
        new = rows[self.stored:]
        _judge_new_rows(new, self.records)
        for merge in (False, True):
            try:
                with transaction(self.factory) as session:
                    if merge:
                        upsert(session, PREDICTIONS, new, ["run_id", "sample_id"], PREDICTION_UPDATE)
                    else:
                        insert_new(session, PREDICTIONS, new)
                    outcome = then(session)
            except Conflict:
                continue
            self.stored = len(rows)
            return outcome

    def checkpoint(self, rows: list[dict]) -> None:
        """After each generated chunk: store and renew once a quarter lease has gone by."""
        if time.monotonic() - self.last < self.every:
            return
        now = utcnow()
        self._write(rows, lambda session: session.execute(_HELD_SHARD, {
            "shard_id": self.shard_id, "owner": self.owner,
            "lease_expires_at": now + timedelta(seconds=self.lease_seconds), "updated_at": now}))
        self.last = time.monotonic()

    def finish(self, rows: list[dict], run_id: str) -> bool:
        """Store the rest and mark the shard done; then, in a transaction of its own, settle the run:
        True when this shard's commit left no shard of the run open.

        The settle check must follow the commit. Two shards finishing at once (two workers, or two
        shard threads of one) each see the other still leased inside their own transaction, so a
        check made there can leave a finished run waiting for the sweeper; made after the commit,
        the later of the two always sees both done.
        """
        self._write(rows, lambda session: session.execute(_HELD_SHARD, {
            "shard_id": self.shard_id, "owner": self.owner, "status": "done", "lease_owner": None,
            "lease_expires_at": None, "updated_at": utcnow()}))
        return settle_run(self.factory, run_id)


def _answer(factory, claim: dict, rows, records: dict, done: set, adapter: AdapterSource, lookup: ImageLookup,
            seed: int, on_progress, on_chunk: Callable[[list[dict]], None]) -> tuple[list[dict], int, int]:
    """Prediction rows for a claimed shard's samples not yet stored: reused from the prediction
    cache, failed before generation (an unreadable image), or generated by the model. Returns the
    rows (in that order; ``on_chunk`` sees them grow after each generated chunk), how many were
    reused and how many generated."""
    if not hasattr(adapter, "generate"):
        adapter = adapter(claim["model_id"])
    spec, run_id = adapter.spec, claim["run_id"]
    keys = {pk: cache_key(claim["weights_hash"], digest, spec, seed) for pk, digest, _ in rows}
    cached = {}
    if claim["cache_may_hit"]:
        with transaction(factory) as session:
            for hit in session.execute(_CACHE_HITS, {"keys": list(keys.values())}):
                cached.setdefault(hit.cache_key, hit)
    reused, failures, requests = [], [], []
    for pk in claim["sample_ids"]:
        if pk in done:
            continue
        hit = cached.get(keys[pk])
        if hit is not None:
            reused.append(_prediction_row(run_id, pk, keys[pk], hit.response, None, hit.latency_s,
                                          hit.input_tokens, hit.output_tokens, cached=True))
            continue
        record = records[pk]
        try:
            images = lookup(claim["benchmark"], record, claim["options"])
        except Exception as exc:  # the sample vanished or changed on disk: record it, go on
            failures.append(_prediction_row(run_id, pk, keys[pk], None, f"{type(exc).__name__}: {exc}",
                                            None, None, None))
            continue
        requests.append(GenerationRequest(
            id=str(pk), prompt=prompts.build_prompt(record, spec.prompt_style), images=list(images),
            answer_type=record["answer_type"], closed_kind=record.get("closed_kind"),
            option_labels=tuple(o["label"] for o in record.get("options") or [])))
    answered = reused + failures
    if on_progress and answered:
        on_progress(len(answered))
    # Hand over several batches at a time: the adapter sorts by length and packs by budget inside
    # a call, and an HTTP backend runs a call's requests concurrently; progress still moves.
    chunk = max(32, 4 * spec.batch_size)
    for start in range(0, len(requests), chunk):
        answered.extend(_prediction_row(run_id, int(o.id), keys[int(o.id)], o.text, o.error, o.latency_s,
                                        o.input_tokens, o.output_tokens)
                        for o in adapter.generate(requests[start:start + chunk]))
        if on_progress:
            on_progress(min(chunk, len(requests) - start))
        on_chunk(answered)
    return answered, len(reused), len(requests)


def settle_run(factory: sessionmaker[Session], run_id: str) -> bool:
    """Move a run whose shards are all settled from running to scoring; True for the one caller that did
    (the UPDATE's condition on the run's status makes it a compare-and-set)."""
    with transaction(factory) as session:
        return bool(session.execute(_SETTLE_RUN, {"run_id": run_id}).rowcount)


def _storable(text: str | None) -> str | None:
    """Postgres text cannot hold NUL, which a model's byte-level decoding can emit: keep it visible as U+FFFD."""
    return text.replace("\x00", "\ufffd") if text else text


def _prediction_row(run_id, sample_id, key, response, error, latency, tokens_in, tokens_out, cached=False) -> dict:
    return {"run_id": run_id, "sample_id": sample_id, "cache_key": key, "response": _storable(response),
            "error": _storable(error),
            "latency_s": latency, "input_tokens": tokens_in, "output_tokens": tokens_out, "cached": cached,
            "created_at": utcnow()}


# -- scoring -----------------------------------------------------------------------------------

def _judge_new_rows(rows: list[dict], records: dict) -> None:
    """Judge replies where they are made, and store the judgement with the prediction.

    Judging a reply costs microseconds next to the model's milliseconds or seconds, while judging
    at the end means rewriting every prediction row of the run (an UPDATE of each) and leaves
    all of it for after the last shard. The scoring service re-judges only predictions whose
    scorer version is not its own (``_judge_rows``).
    """
    from services import scoring

    for row in rows:
        judgement = scoring.judge(records[row["sample_id"]], row["response"], row["error"])
        row.update(extracted=judgement.extracted, extraction_method=judgement.method, correct=judgement.correct,
                   scorer_version=scoring.SCORER_VERSION)

_JUDGED_ROW = (PREDICTIONS.c.id, PREDICTIONS.c.sample_id, PREDICTIONS.c.response, PREDICTIONS.c.error,
               PREDICTIONS.c.extracted, PREDICTIONS.c.extraction_method, PREDICTIONS.c.correct,
               PREDICTIONS.c.scorer_version, SAMPLES.c.record)


def _judge_rows(session: Session, rows) -> list:
    """Each row's judgement by the current scorer: rebuilt from its stored columns when this scorer
    version already judged it, otherwise judged now and written back (one statement per page)."""
    from services import scoring

    judgements, updates = [], []
    for row in rows:
        if row.scorer_version == scoring.SCORER_VERSION:
            judgements.append(scoring.stored_judgement(row.record, row.extracted, row.extraction_method, row.correct))
            continue
        judgement = scoring.judge(row.record, row.response, row.error)
        updates.append({"id": row.id, "extracted": judgement.extracted, "extraction_method": judgement.method,
                        "correct": judgement.correct, "scorer_version": scoring.SCORER_VERSION})
        judgements.append(judgement)
    bulk_update(session, PREDICTIONS, updates)
    return judgements


def score_run(factory: sessionmaker[Session], run_id: str, *, seed: int, resamples: int,
              labeller: str | None = None) -> list:
    """Judge every stored prediction of the run with the current scorers and write score rows
    (see ``_score_run``). The collector stays paused until the run's rows are freed, so they are
    never walked by it, not even once as it restarts."""
    with gc_paused():
        return _score_run(factory, run_id, seed=seed, resamples=resamples, labeller=labeller)


def _score_run(factory: sessionmaker[Session], run_id: str, *, seed: int, resamples: int,
               labeller: str | None) -> list:
    """The work of ``score_run``.

    Predictions this scorer version already judged (the worker that made them, or an earlier
    scoring) keep their judgement; the rest are judged here and their judgement stored. Older
    score rows stay (they carry their scorer version); re-scoring with the same version replaces
    that version's rows, so the result is identical however often it runs.
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
        rows = session.execute(
            select(*_JUDGED_ROW).join_from(PREDICTIONS, SAMPLES, SAMPLES.c.id == PREDICTIONS.c.sample_id)
            .where(PREDICTIONS.c.run_id == run_id).order_by(PREDICTIONS.c.sample_id)).all()
        judgements = _judge_rows(session, rows)
        labels = labels_for(session, select(PREDICTIONS.c.sample_id).where(PREDICTIONS.c.run_id == run_id),
                            labeller=labeller)
        items = []
        for row, judgement in zip(rows, judgements):
            record, label = row.record, labels.get(row.sample_id)
            if label is not None:
                record = {**record, "reasoning_level": label.label,
                          "skills": {**(record.get("skills") or {}),
                                     "reasoning_labeller": f"{label.labeller} {label.version}"}}
            items.append((record, judgement))
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
