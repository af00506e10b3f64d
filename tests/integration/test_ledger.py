"""Shard ledger on a real Postgres: redelivery never duplicates a prediction; the cache skips inference."""

import time

import pytest
from sqlalchemy import func, select, update

from db import models as m
from db.session import make_engine, make_sessionmaker, transaction, upgrade
from services import runs
from services.benchmarks import registry
from services.models.base import GenerationOutput
from services.models.spec import ModelSpec

pytestmark = pytest.mark.integration


class CountingModel:
    """A first-class mock model: answers 'yes' and counts what it was asked."""

    def __init__(self, spec):
        self.spec, self.calls = spec, []

    def load(self):
        pass

    ready = True

    def generate(self, requests):
        self.calls.extend(r.id for r in requests)
        return [GenerationOutput(r.id, "yes", latency_s=0.0, input_tokens=1, output_tokens=1) for r in requests]


@pytest.fixture
def ledger(pg_url, demo_data):
    upgrade(pg_url)
    factory = make_sessionmaker(make_engine(pg_url))
    samples = registry.load_samples("demo", demo_data)
    selection = runs.BenchmarkSelection(registry.get("demo"), str(demo_data), "test", samples, {})
    return factory, selection, {s.id: s for s in samples}


def _new_run(factory, selection, spec):
    return runs.create_run(factory, spec, "weights-v1", [selection], shard_size=8, options={})


def test_redelivered_shard_has_the_effect_of_one_delivery(ledger):
    factory, selection, by_key = ledger
    model = CountingModel(ModelSpec(id="mock", kind="echo"))
    run_id = _new_run(factory, selection, model.spec)
    lookup = lambda bench, record, options: by_key[record["key"]].images
    shards = runs.shard_ids(factory, run_id)
    assert len(shards) == 5  # 35 samples in shards of 8
    first = runs.execute_shard(factory, shards[0], model, lookup, seed=1, lease_seconds=60, owner="w1")
    again = runs.execute_shard(factory, shards[0], model, lookup, seed=1, lease_seconds=60, owner="w2")
    assert (first.status, first.generated, again.status) == ("done", 8, "skipped")
    with transaction(factory) as session:
        shard = session.get(m.Shard, shards[0])
        shard.status = "pending"  # as if the broker redelivered after a crash between upsert and ack
    third = runs.execute_shard(factory, shards[0], model, lookup, seed=1, lease_seconds=60, owner="w3")
    assert third.generated == 0  # everything already stored for this run
    with transaction(factory) as session:
        count = session.scalar(select(func.count()).select_from(m.Prediction).where(m.Prediction.run_id == run_id))
    assert count == 8 and len(model.calls) == 8


def test_live_lease_blocks_a_second_worker(ledger):
    factory, selection, by_key = ledger
    run_id = _new_run(factory, selection, ModelSpec(id="mock", kind="echo"))
    shard = runs.shard_ids(factory, run_id)[0]
    assert runs.claim_shard(factory, shard, "w1", lease_seconds=600) is not None
    assert runs.claim_shard(factory, shard, "w2", lease_seconds=600) is None
    with transaction(factory) as session:
        assert session.get(m.Shard, shard).attempts == 1


def test_unchanged_checkpoint_costs_no_inference_the_second_time(ledger):
    factory, selection, by_key = ledger
    model = CountingModel(ModelSpec(id="mock", kind="echo"))
    lookup = lambda bench, record, options: by_key[record["key"]].images
    for attempt in range(2):
        run_id = _new_run(factory, selection, model.spec)
        for shard in runs.shard_ids(factory, run_id):
            runs.execute_shard(factory, shard, model, lookup, seed=1, lease_seconds=60)
    assert len(model.calls) == 35
    with transaction(factory) as session:
        cached = session.scalar(select(func.count()).select_from(m.Prediction)
                                .where(m.Prediction.run_id == run_id, m.Prediction.cached.is_(True)))
    assert cached == 35


def test_model_output_with_nul_characters_is_stored(ledger):
    """Byte-level decoding can emit NUL, which Postgres text rejects; it must not fail the shard."""
    factory, selection, by_key = ledger

    class NulModel(CountingModel):
        def generate(self, requests):
            return [GenerationOutput(r.id, "a\x00b \\boxed{yes}") for r in requests]

    model = NulModel(ModelSpec(id="mock", kind="echo"))
    run_id = _new_run(factory, selection, model.spec)
    shard = runs.shard_ids(factory, run_id)[0]
    outcome = runs.execute_shard(factory, shard, model, lambda b, r, o: by_key[r["key"]].images, seed=1, lease_seconds=60)
    assert outcome.status == "done"
    with transaction(factory) as session:
        responses = set(session.scalars(select(m.Prediction.response).where(m.Prediction.run_id == run_id)))
    assert responses == {"a\ufffdb \\boxed{yes}"}


def test_scores_split_by_stored_labels_and_name_the_labeller(ledger):
    from services.skills.labeller import Label
    from services.skills.store import store_labels

    factory, selection, by_key = ledger
    model = CountingModel(ModelSpec(id="mock", kind="echo"))
    run_id = _new_run(factory, selection, model.spec)
    for shard in runs.shard_ids(factory, run_id):
        runs.execute_shard(factory, shard, model, lambda b, r, o: by_key[r["key"]].images, seed=1, lease_seconds=60)
    keys = [s.id for s in selection.samples]
    labels = [Label(key, "reasoning" if i % 5 == 0 else "understanding", 0.9, "lr-test", "1.abc")
              for i, key in enumerate(keys)]
    with transaction(factory) as session:
        rows = dict(session.execute(select(m.Sample.key, m.Sample.id).where(m.Sample.benchmark == "demo")).all())
        store_labels(session, labels, rows)
    cells = runs.score_run(factory, run_id, seed=1, resamples=20)
    levels = {c.value: c.n for c in cells if c.facet == "reasoning_level" and c.metric == "accuracy"}
    assert levels == {"reasoning": 7, "understanding": 28}
    labellers = {c.value: c.n for c in cells if c.facet == "reasoning_labeller" and c.metric == "accuracy"}
    assert labellers == {"lr-test 1.abc": 35}


def _run_all_shards(factory, selection, by_key, model):
    run_id = _new_run(factory, selection, model.spec)
    for shard in runs.shard_ids(factory, run_id):
        runs.execute_shard(factory, shard, model, lambda b, r, o: by_key[r["key"]].images, seed=1, lease_seconds=60)
    return run_id


def _judgements(factory, run_id):
    with transaction(factory) as session:
        return session.execute(select(m.Sample.record, m.Prediction.extracted, m.Prediction.extraction_method,
                                      m.Prediction.correct, m.Prediction.scorer_version)
                               .join(m.Sample, m.Sample.id == m.Prediction.sample_id)
                               .where(m.Prediction.run_id == run_id).order_by(m.Prediction.sample_id)).all()


def test_the_worker_stores_each_replys_judgement_with_it(ledger):
    from services.scoring import SCORER_VERSION

    factory, selection, by_key = ledger
    run_id = _run_all_shards(factory, selection, by_key, CountingModel(ModelSpec(id="mock", kind="echo")))
    rows = _judgements(factory, run_id)  # before any scoring: the shards wrote them
    assert len(rows) == 35 and {version for *_, version in rows} == {SCORER_VERSION}
    for record, extracted, method, correct, _ in rows:  # the model always answers "yes"
        if record["closed_kind"] == "yes_no":
            assert (extracted, correct) == ("yes", record["answer"].lower() == "yes")
        if record["answer_type"] == "mcq":
            assert extracted is None and correct is False and method == "unparsed"


def test_scoring_rejudges_what_another_scorer_version_judged(ledger):
    """Rows judged by an older scorer are judged again, and the bulk UPDATE (one statement per page
    on Postgres) stores every row's own judgement, NULLs included; the scores equal those of the
    judgements the worker stored."""
    factory, selection, by_key = ledger
    run_id = _run_all_shards(factory, selection, by_key, CountingModel(ModelSpec(id="mock", kind="echo")))
    stored = runs.score_run(factory, run_id, seed=1, resamples=20)
    fresh = _judgements(factory, run_id)
    with transaction(factory) as session:
        session.execute(update(m.Prediction).where(m.Prediction.run_id == run_id).values(
            extracted="stale", extraction_method="stale", correct=True, scorer_version="0.old"))
    rejudged = runs.score_run(factory, run_id, seed=1, resamples=20)
    assert _judgements(factory, run_id) == fresh
    assert rejudged == stored


def test_a_new_reply_replaces_the_old_ones_judgement(ledger):
    factory, selection, by_key = ledger
    run_id = _run_all_shards(factory, selection, by_key, CountingModel(ModelSpec(id="mock", kind="echo")))
    shard = runs.shard_ids(factory, run_id, ("done",))[0]
    with transaction(factory) as session:
        # As if a worker whose lease had expired wrote late: a first attempt regenerates every sample
        # of the shard, and its rows meet the stored ones in ON CONFLICT.
        row = session.get(m.Shard, shard)
        row.status, row.attempts = "pending", 0
        replaced = set(session.scalars(select(m.Sample.key).where(m.Sample.id.in_(row.sample_ids))))

    class AlwaysNo(CountingModel):
        def generate(self, requests):
            return [GenerationOutput(r.id, "no", latency_s=0.0, input_tokens=1, output_tokens=1) for r in requests]

    runs.execute_shard(factory, shard, AlwaysNo(ModelSpec(id="mock", kind="echo")),
                       lambda b, r, o: by_key[r["key"]].images, seed=1, lease_seconds=60)
    answers = {}
    for record, extracted, _, correct, _ in _judgements(factory, run_id):
        if record["closed_kind"] == "yes_no":
            reply = "no" if record["key"] in replaced else "yes"
            assert (extracted, correct) == (reply, record["answer"].lower() == reply)
            answers[reply] = answers.get(reply, 0) + 1
    assert answers.get("no") and answers.get("yes")  # both the replaced shard and the others were checked


def test_a_claim_records_when_its_lease_began(ledger):
    factory, selection, by_key = ledger
    run_id = _new_run(factory, selection, ModelSpec(id="mock", kind="echo"))
    shard = runs.shard_ids(factory, run_id)[0]
    before = runs.utcnow()
    runs.execute_shard(factory, shard, CountingModel(ModelSpec(id="mock", kind="echo")),
                       lambda b, r, o: by_key[r["key"]].images, seed=1, lease_seconds=60)
    with transaction(factory) as session:
        row = session.get(m.Shard, shard)
        assert row.status == "done" and before <= row.leased_at <= row.updated_at


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_records_keep_values_json_has_no_type_for(request, tmp_path, demo_data, backend):
    """A parquet release hands back numpy numbers and dates in a record's meta: they are stored as
    text, never fail the registration, and the record reads back as JSON."""
    import datetime
    import numpy as np

    url = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    factory = make_sessionmaker(make_engine(url))
    sample = registry.load_samples("demo", demo_data, limit=1)[0]
    sample.meta = {"rows": np.int64(7), "taken": datetime.date(2024, 5, 1), 3: "three", "big": 2 ** 70}
    selection = runs.BenchmarkSelection(registry.get("demo"), str(demo_data), "test", [sample], {})
    with transaction(factory) as session:
        ids = runs.register_samples(session, selection)
    with transaction(factory) as session:
        record = session.scalar(select(m.Sample.record).where(m.Sample.id == ids[sample.id]))
    assert record["meta"] == {"rows": "7", "taken": "2024-05-01", "3": "three", "big": 2 ** 70}


class SlowModel(CountingModel):
    """Takes `pause` seconds per generate call; fails on call number `fail_on` (1-based) if set."""

    def __init__(self, spec, pause, fail_on=None, on_call=None):
        super().__init__(spec)
        self.pause, self.fail_on, self.on_call, self.n = pause, fail_on, on_call, 0

    def generate(self, requests):
        self.n += 1
        if self.on_call:
            self.on_call(self.n)
        if self.n == self.fail_on:
            raise RuntimeError("the GPU fell off the bus")
        time.sleep(self.pause)
        return super().generate(requests)


def _stored(factory, run_id):
    with transaction(factory) as session:
        return session.scalar(select(func.count()).select_from(m.Prediction).where(m.Prediction.run_id == run_id))


def test_a_slow_shard_stores_its_work_as_it_goes_and_keeps_its_lease(ledger):
    """35 samples in one shard are generated in two calls (32 + 3); with a 0.4 s lease the worker
    stores the first 32 and extends the lease after the first call, before the second starts."""
    factory, selection, by_key = ledger
    run_id = runs.create_run(factory, ModelSpec(id="slow", kind="echo"), "w", [selection], shard_size=35, options={})
    (shard,) = runs.shard_ids(factory, run_id)
    seen = {}

    def look(call):
        with transaction(factory) as session:
            seen[call] = (_stored(factory, run_id), session.get(m.Shard, shard).lease_expires_at)

    model = SlowModel(ModelSpec(id="slow", kind="echo"), pause=0.2, on_call=look)
    outcome = runs.execute_shard(factory, shard, model, lambda b, r, o: by_key[r["key"]].images, seed=1,
                                 lease_seconds=0.4)
    assert outcome.status == "done" and outcome.generated == 35 and _stored(factory, run_id) == 35
    (stored_1, lease_1), (stored_2, lease_2) = seen[1], seen[2]
    assert (stored_1, stored_2) == (0, 32) and lease_2 > lease_1  # checkpointed and renewed in between


def test_a_retry_resumes_after_the_work_a_crash_left_stored(ledger):
    factory, selection, by_key = ledger
    run_id = runs.create_run(factory, ModelSpec(id="slow", kind="echo"), "w", [selection], shard_size=35, options={})
    (shard,) = runs.shard_ids(factory, run_id)
    lookup = lambda b, r, o: by_key[r["key"]].images  # noqa: E731
    crashing = SlowModel(ModelSpec(id="slow", kind="echo"), pause=0.2, fail_on=2)
    with pytest.raises(RuntimeError, match="fell off the bus"):
        runs.execute_shard(factory, shard, crashing, lookup, seed=1, lease_seconds=0.4)
    assert _stored(factory, run_id) == 32
    from services.dispatch import record_shard_failure

    assert record_shard_failure(factory, shard, "crash", max_attempts=3) == "pending"
    retry = CountingModel(ModelSpec(id="slow", kind="echo"))
    outcome = runs.execute_shard(factory, shard, retry, lookup, seed=1, lease_seconds=0.4)
    assert (outcome.status, outcome.generated, len(retry.calls)) == ("done", 3, 3)
    assert _stored(factory, run_id) == 35 and outcome.run_complete


def test_registering_a_benchmark_again_finds_its_samples_and_only_changed_ones_are_new(ledger):
    import dataclasses

    factory, selection, by_key = ledger
    with transaction(factory) as session:
        first = runs.register_samples(session, selection)
    stored = {}
    with transaction(factory) as session:
        stored = runs.stored_samples(session, "demo", "test")
        again = runs.register_samples(session, selection, stored)
    assert again == first and len(set(first.values())) == 35
    edited = dataclasses.replace(selection.samples[0], question="A different question?")
    with transaction(factory) as session:
        changed = runs.register_samples(session, dataclasses.replace(selection, samples=[edited]), stored)
    assert changed[edited.id] not in first.values()  # new content, new identity
    assert stored[(edited.id, edited.content_hash())] == changed[edited.id]  # the caller's view is kept current
    with transaction(factory) as session:
        assert session.scalar(select(func.count()).select_from(m.Sample)) == 36


def test_two_threads_of_one_worker_never_both_take_a_shard(ledger):
    """A worker runs shards in threads (MEDGRID_WORKER_SHARDS_IN_FLIGHT): each thread is its own
    lease owner, so a shard delivered twice to one worker is taken by one thread only."""
    import threading

    factory, selection, by_key = ledger
    run_id = _new_run(factory, selection, ModelSpec(id="mock", kind="echo"))
    shard = runs.shard_ids(factory, run_id)[0]
    claims = {}

    def take(name):
        claims[name] = (runs.worker_identity(), runs.claim_shard(factory, shard, runs.worker_identity(), 600))

    for name in ("a", "b"):
        thread = threading.Thread(target=take, args=(name,), name=f"shard-thread-{name}")
        thread.start()
        thread.join()
    assert claims["a"][0] != claims["b"][0] != runs.worker_identity()
    assert claims["a"][1] is not None and claims["b"][1] is None


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_replies_are_stored_exactly_whatever_characters_they_hold(request, tmp_path, demo_data, backend):
    """Predictions go in with COPY on Postgres: tabs, newlines, backslashes, a literal \\N, non-ASCII
    text, NaN and infinite numbers must come back exactly as the model gave them."""
    import math

    url = request.getfixturevalue("pg_url") if backend == "postgres" else f"sqlite:///{tmp_path / 'ledger.db'}"
    upgrade(url)
    factory = make_sessionmaker(make_engine(url))
    samples = registry.load_samples("demo", demo_data, limit=4)
    selection = runs.BenchmarkSelection(registry.get("demo"), str(demo_data), "test", samples, {})
    replies = ["col1\tcol2\nline 2\r\n\\boxed{yes}", "a literal \\N and \\\\N", "Leber\u00e4rztin \u80ba \U0001F600", ""]
    latencies = [float("nan"), float("inf"), 0.125, None]

    class Strange(CountingModel):
        def generate(self, requests):
            return [GenerationOutput(r.id, replies[i], latency_s=latencies[i], input_tokens=None, output_tokens=3)
                    for i, r in enumerate(requests)]

    model = Strange(ModelSpec(id="strange", kind="echo"))
    run_id = runs.create_run(factory, model.spec, None, [selection], shard_size=4, options={})
    (shard,) = runs.shard_ids(factory, run_id)
    by_key = {s.id: s for s in samples}
    runs.execute_shard(factory, shard, model, lambda b, r, o: by_key[r["key"]].images, seed=1, lease_seconds=60)
    with transaction(factory) as session:
        stored = session.execute(select(m.Prediction.response, m.Prediction.latency_s, m.Prediction.input_tokens,
                                        m.Prediction.output_tokens, m.Prediction.cached, m.Prediction.created_at)
                                 .order_by(m.Prediction.sample_id)).all()
    assert [row.response for row in stored] == replies
    # SQLite stores NaN as NULL (its own rule); Postgres keeps it
    assert (math.isnan(stored[0].latency_s) if backend == "postgres" else stored[0].latency_s is None)
    assert stored[1].latency_s == math.inf and stored[2].latency_s == 0.125
    assert stored[3].latency_s is None and {row.input_tokens for row in stored} == {None}
    assert {(row.output_tokens, row.cached) for row in stored} == {(3, False)}
    assert all(row.created_at is not None for row in stored)


def test_the_last_two_shards_finishing_at_once_still_settle_the_run(ledger, monkeypatch):
    """Two shards (two workers, or two threads of one) mark themselves done in transactions that
    overlap: inside its own transaction each still sees the other leased. The run must still move
    to scoring, exactly once, without waiting for the sweeper."""
    import threading

    factory, selection, by_key = ledger
    run_id = runs.create_run(factory, ModelSpec(id="mock", kind="echo"), "w", [selection], shard_size=18,
                             options={})
    shards = runs.shard_ids(factory, run_id)
    assert len(shards) == 2
    both_done_uncommitted = threading.Barrier(2)
    write = runs._ShardWriter._write

    def write_then_wait(self, rows, then):
        def then_and_wait(session):
            outcome = then(session)
            both_done_uncommitted.wait(timeout=30)  # neither has committed its shard yet
            return outcome
        return write(self, rows, then_and_wait)

    monkeypatch.setattr(runs._ShardWriter, "_write", write_then_wait)
    outcomes = {}

    def run_shard(shard):
        outcomes[shard] = runs.execute_shard(factory, shard, CountingModel(ModelSpec(id="mock", kind="echo")),
                                             lambda b, r, o: by_key[r["key"]].images, seed=1, lease_seconds=600)

    threads = [threading.Thread(target=run_shard, args=(shard,)) for shard in shards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(o.run_complete for o in outcomes.values()) == [False, True]  # exactly one settles it
    with transaction(factory) as session:
        assert session.get(m.Run, run_id).status == "scoring"
