"""Labels in the ledger: one ``sample_labels`` row per (sample, labeller, labeller version).

``labels_for`` is what scoring reads to split a score into understanding and reasoning; each label
comes back with the labeller name and version that produced it, so a split score can say whose
labels it used. A sample's own label (``samples.reasoning_level``, MedXpertQA) always wins.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timezone
from typing import Iterable, NamedTuple, Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from db import models as m
from db.session import upsert
from services.skills.labeller import DATASET_LABELLER, Label, Labeller

CHUNK = 500  # ids per IN (...) list: well under every driver's parameter limit


class StoredLabel(NamedTuple):
    label: str
    labeller: str
    version: str


def store_labels(session: Session, labels: Sequence[Label], sample_rows: dict[str, int]) -> int:
    """Upsert ``labels`` (keyed by Sample.id) onto the sample rows ``sample_rows`` maps them to."""
    now = datetime.now(timezone.utc)
    missing = [label.sample_id for label in labels if label.sample_id not in sample_rows]
    if missing:
        raise KeyError(f"{len(missing)} labelled samples are not registered, e.g. {missing[0]!r}")
    rows = [{"sample_id": sample_rows[label.sample_id], "labeller": label.labeller, "labeller_version": label.version,
             "label": label.label, "probability": label.probability, "created_at": now} for label in labels]
    for start in range(0, len(rows), CHUNK):
        upsert(session, m.SampleLabel.__table__, rows[start:start + CHUNK],
               ["sample_id", "labeller", "labeller_version"], ["label", "probability", "created_at"])
    return len(rows)


def label_selection(session: Session, selection, labeller: Labeller) -> list[Label]:
    """Register a benchmark selection's samples (services.runs), label them and store the labels."""
    from services.runs import register_samples

    rows = register_samples(session, selection)
    labels = labeller.label(selection.samples)
    store_labels(session, labels, rows)
    return labels


def labels_for(session: Session, sample_ids: Iterable[int] | Select, labeller: str | None = None,
               version: str | None = None) -> dict[int, StoredLabel]:
    """``sample row id -> (label, labeller name, labeller version)`` for the samples that have one.

    ``sample_ids`` is a list of sample row ids, or a SELECT of them (a run's predictions: then the
    database joins, instead of receiving a run's worth of ids in chunks).
    A sample's own label comes first (labeller ``dataset``, version = its benchmark). Otherwise the
    stored label of ``labeller`` (any classifier labeller when None) and ``version`` (any when None);
    when several match, the most recently written one. Pass ``labeller`` (and ``version``) to make a
    split reproducible when more than one labeller has labelled the same samples.
    """
    if isinstance(sample_ids, Select):
        chunks = [sample_ids.scalar_subquery()]
    else:
        chunks = list(_chunks(sorted(set(sample_ids))))
    out: dict[int, StoredLabel] = {}
    for chunk in chunks:
        for pk, benchmark, level in session.execute(
                select(m.Sample.id, m.Sample.benchmark, m.Sample.reasoning_level)
                .where(m.Sample.id.in_(chunk), m.Sample.reasoning_level.is_not(None))):
            out[pk] = StoredLabel(level, DATASET_LABELLER, benchmark)
    if labeller == DATASET_LABELLER:
        return out
    own = set(out)  # a sample's own label is never overridden
    for chunk in chunks:
        query = (select(m.SampleLabel.sample_id, m.SampleLabel.label, m.SampleLabel.labeller,
                        m.SampleLabel.labeller_version)
                 .where(m.SampleLabel.sample_id.in_(chunk), m.SampleLabel.labeller != DATASET_LABELLER)
                 .order_by(m.SampleLabel.created_at, m.SampleLabel.id))
        if labeller is not None:
            query = query.where(m.SampleLabel.labeller == labeller)
        if version is not None:
            query = query.where(m.SampleLabel.labeller_version == version)
        for pk, label, name, label_version in session.execute(query):
            if pk not in own:
                out[pk] = StoredLabel(label, name, label_version)  # ordered oldest first: the newest stays
    return out


def label_counts(session: Session, benchmark: str | None = None) -> list[dict]:
    """Stored labels counted by benchmark, split, labeller, version and label (what ``skills report`` shows)."""
    query = (select(m.Sample.benchmark, m.Sample.split, m.SampleLabel.labeller, m.SampleLabel.labeller_version,
                    m.SampleLabel.label, m.SampleLabel.probability)
             .join(m.Sample, m.Sample.id == m.SampleLabel.sample_id))
    if benchmark is not None:
        query = query.where(m.Sample.benchmark == benchmark)
    counts: Counter = Counter()
    probabilities: dict[tuple, list[float]] = defaultdict(list)
    for bench, split, name, label_version, label, probability in session.execute(query):
        key = (bench, split, name, label_version, label)
        counts[key] += 1
        if probability is not None:
            probabilities[key].append(probability)
    return [{"benchmark": k[0], "split": k[1], "labeller": k[2], "version": k[3], "label": k[4], "n": n,
             "mean_probability": (sum(probabilities[k]) / len(probabilities[k])) if probabilities[k] else None}
            for k, n in sorted(counts.items())]


def _chunks(ids: list[int]):
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]
