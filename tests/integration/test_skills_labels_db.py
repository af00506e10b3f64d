"""Labels in a real Postgres: stored per sample with labeller name and version, read back by
``labels_for`` for scoring, reproduced exactly by re-labelling, and the migration reversible."""

import pytest
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError

from db import models as m
from db.session import downgrade, make_engine, make_sessionmaker, transaction, upgrade
from services.benchmarks.registry import get
from services.runs import BenchmarkSelection, register_samples
from services.skills.data import load_training_samples, read_samples
from services.skills.embedders import make_embedder
from services.skills.labeller import DATASET_LABELLER, Labeller
from services.skills.store import label_counts, label_selection, labels_for
from tests.unit.benchmark_files import open_data_roots  # noqa: F401
from tests.unit.skills_helpers import slake_with_images, stand_in_images

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("open_data_roots")]
SEED = 1234


@pytest.fixture(scope="module")
def training(shared_data):
    return load_training_samples(shared_data / "medxpertqa", sample=500, seed=SEED)


def _selection(name, data, samples):
    spec = get(name)
    return BenchmarkSelection(spec, str(data), spec.default_split, samples, {})


def _rows(factory):
    with transaction(factory) as session:
        return sorted(session.execute(select(m.SampleLabel.sample_id, m.SampleLabel.labeller,
                                             m.SampleLabel.labeller_version, m.SampleLabel.label,
                                             m.SampleLabel.probability)).all())


def test_labels_stored_read_back_and_reproduced(pg_url, shared_data, training, tmp_path):
    upgrade(pg_url)
    engine = make_engine(pg_url)
    factory = make_sessionmaker(engine)
    slake_dir = slake_with_images(shared_data, tmp_path)
    slake, _ = read_samples("slake", slake_dir, "test", limit=150)
    medx_images = stand_in_images(training[:20], tmp_path / "medxpertqa-images")
    medx, _ = read_samples("medxpertqa_mm", shared_data / "medxpertqa", "test", images=str(medx_images), limit=20)

    labeller = Labeller.train(make_embedder("tfidf"), training, seed=SEED)
    with transaction(factory) as session:
        slake_labels = label_selection(session, _selection("slake", slake_dir, slake), labeller)
        label_selection(session, _selection("medxpertqa_mm", shared_data / "medxpertqa", medx), labeller)
    first = _rows(factory)
    assert len(first) == 170
    assert {(r.labeller, r.labeller_version) for r in first} == {(labeller.name, labeller.version),
                                                                  (DATASET_LABELLER, "medxpertqa_mm")}
    assert all((r.probability is None) == (r.labeller == DATASET_LABELLER) for r in first)

    with transaction(factory) as session:
        slake_ids = register_samples(session, _selection("slake", slake_dir, slake))
        medx_ids = register_samples(session, _selection("medxpertqa_mm", shared_data / "medxpertqa", medx))
        found = labels_for(session, list(slake_ids.values()) + list(medx_ids.values()))
    for label in slake_labels:
        assert found[slake_ids[label.sample_id]] == (label.label, labeller.name, labeller.version)
    for sample in medx:  # MedXpertQA keeps its own label, and says so
        assert found[medx_ids[sample.id]] == (sample.reasoning_level, DATASET_LABELLER, "medxpertqa_mm")

    # Retrained with the same data and seed: same version, and re-labelling changes no row.
    again = Labeller.train(make_embedder("tfidf"), training, seed=SEED)
    assert again.version == labeller.version
    with transaction(factory) as session:
        label_selection(session, _selection("slake", slake_dir, slake), again)
    assert _rows(factory) == first

    # Another version sits beside the first; labels_for picks by name and version, else the newest.
    other = Labeller.train(make_embedder("tfidf"), training[:400], seed=SEED)
    with transaction(factory) as session:
        label_selection(session, _selection("slake", slake_dir, slake), other)
        ids = list(slake_ids.values())
        assert {v.version for v in labels_for(session, ids).values()} == {other.version}
        assert {v.version for v in labels_for(session, ids, "lr-tfidf", labeller.version).values()} == {labeller.version}
        assert labels_for(session, ids, "lr-minilm-l6-v2") == {}
        assert labels_for(session, list(medx_ids.values()), DATASET_LABELLER).keys() == set(medx_ids.values())
        counts = label_counts(session, "slake")
        assert sum(c["n"] for c in counts) == 300 and {c["version"] for c in counts} == {labeller.version, other.version}

    with pytest.raises(IntegrityError):  # one label per (sample, labeller, version)
        with transaction(factory) as session:
            row = first[0]
            session.add(m.SampleLabel(sample_id=row.sample_id, labeller=row.labeller,
                                      labeller_version=row.labeller_version, label="reasoning"))
    engine.dispose()


def test_sample_labels_migration_is_reversible(pg_url):
    upgrade(pg_url)
    engine = make_engine(pg_url)
    assert "sample_labels" in inspect(engine).get_table_names()
    unique = {c["name"] for c in inspect(engine).get_unique_constraints("sample_labels")}
    assert "uq_sample_labels_sample_labeller" in unique
    downgrade(pg_url, "0001_initial_ledger")
    assert "sample_labels" not in inspect(engine).get_table_names()
    assert "samples" in inspect(engine).get_table_names()
    upgrade(pg_url)
    assert "sample_labels" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(m.SampleLabel.__table__)).scalar() == 0
    engine.dispose()
