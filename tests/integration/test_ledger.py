"""Shard ledger on a real Postgres: redelivery never duplicates a prediction; the cache skips inference."""

import pytest
from sqlalchemy import func, select

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


def test_scoring_writes_each_predictions_judgement(ledger):
    """The bulk UPDATE (one statement per page on Postgres) stores every row's own judgement, NULLs included."""
    factory, selection, by_key = ledger
    model = CountingModel(ModelSpec(id="mock", kind="echo"))  # always answers "yes"
    run_id = _new_run(factory, selection, model.spec)
    for shard in runs.shard_ids(factory, run_id):
        runs.execute_shard(factory, shard, model, lambda b, r, o: by_key[r["key"]].images, seed=1, lease_seconds=60)
    runs.score_run(factory, run_id, seed=1, resamples=10)
    with transaction(factory) as session:
        rows = session.execute(select(m.Sample.record, m.Prediction.extracted, m.Prediction.extraction_method,
                                      m.Prediction.correct, m.Prediction.scorer_version)
                               .join(m.Sample, m.Sample.id == m.Prediction.sample_id)
                               .where(m.Prediction.run_id == run_id)).all()
    assert len(rows) == 35 and all(version for *_, version in rows)
    for record, extracted, method, correct, _ in rows:
        if record["closed_kind"] == "yes_no":
            assert (extracted, correct) == ("yes", record["answer"].lower() == "yes")
        if record["answer_type"] == "mcq":
            assert extracted is None and correct is False and method == "unparsed"


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
