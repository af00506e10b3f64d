"""The labeller: an embedder and a classifier trained on MedXpertQA's understanding/reasoning labels.

``Labeller.train`` fits it on labelled samples; ``label`` gives every sample a label: a sample that
carries its own ``reasoning_level`` (MedXpertQA) keeps it, under the labeller name ``dataset``;
every other sample gets the classifier's prediction and its probability, under this labeller's
name and version.

The version is a fingerprint of everything that decides the labels (code version, embedder name
and version, classifier settings, seed, and the training samples with their labels), so training
twice on the same data with the same seed gives the same version and the same labels, and a label
in the database always says which trained model produced it.

Saved as ``labeller.json`` (settings, TF-IDF vocabulary, cross-validation report) and
``arrays.npz`` (coefficients, TF-IDF idf), loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from services.benchmarks.sample import Sample
from services.skills.classifier import CLASSIFIER, LABELS, LinearClassifier, fit_classifier, to_targets
from services.skills.embedders import Embedder, HFEmbedder, MiniLMEmbedder, TfidfEmbedder, make_embedder

CODE_VERSION = "1"
DATASET_LABELLER = "dataset"  # labels a benchmark ships itself; their version is the benchmark's name


@dataclass(frozen=True)
class Label:
    sample_id: str  # Sample.id
    label: str  # understanding | reasoning
    probability: float | None  # probability of ``label``; None for a dataset's own label
    labeller: str
    version: str


@dataclass
class Labeller:
    embedder: Embedder
    classifier: LinearClassifier
    version: str
    seed: int
    c: float = 1.0
    report: dict = field(default_factory=dict)  # the cross-validation report, when one was run

    @property
    def name(self) -> str:
        return f"lr-{self.embedder.name}"

    @classmethod
    def train(cls, embedder: Embedder, samples: Sequence[Sample], *, seed: int, c: float = 1.0,
              report: dict | None = None, features=None) -> "Labeller":
        """Fit on ``samples`` (each with its ``reasoning_level``); ``features``: their embeddings, if at hand."""
        labels = [s.reasoning_level for s in samples]
        fitted = embedder.fit(samples)
        if features is None or embedder.learns_from_data:
            features = fitted.embed(samples)
        classifier = fit_classifier(features, to_targets(labels), seed, c)
        return cls(fitted, classifier, fingerprint(embedder, samples, seed, c), seed, c, dict(report or {}))

    def predict(self, samples: Sequence[Sample]) -> list[Label]:
        """The classifier's label for every sample, ignoring any label a sample carries."""
        if not samples:
            return []
        reasoning = self.classifier.probability_reasoning(self.embedder.embed(samples))
        out = []
        for sample, p in zip(samples, reasoning):
            label = LABELS[1] if p >= 0.5 else LABELS[0]
            out.append(Label(sample.id, label, float(p if label == LABELS[1] else 1.0 - p), self.name, self.version))
        return out

    def label(self, samples: Sequence[Sample]) -> list[Label]:
        """Own labels where a sample has one, predictions for the rest; in input order."""
        unlabelled = [s for s in samples if s.reasoning_level is None]
        predicted = iter(self.predict(unlabelled))  # by position: ids are only unique within a benchmark
        return [next(predicted) if s.reasoning_level is None
                else Label(s.id, s.reasoning_level, None, DATASET_LABELLER, s.benchmark) for s in samples]

    # -- saving and loading --------------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"coef": self.classifier.coef, "intercept": np.array([self.classifier.intercept])}
        meta = {"name": self.name, "version": self.version, "seed": self.seed, "c": self.c,
                "embedder": _embedder_settings(self.embedder), "report": self.report}
        if isinstance(self.embedder, TfidfEmbedder):
            arrays["idf"] = self.embedder.idf
            meta["embedder"]["vocabulary"] = self.embedder.vocabulary
        np.savez(folder / "arrays.npz", **arrays)
        (folder / "labeller.json").write_text(json.dumps(meta, indent=1) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Labeller":
        folder = Path(folder)
        meta = json.loads((folder / "labeller.json").read_text())
        with np.load(folder / "arrays.npz", allow_pickle=False) as arrays:
            coef, intercept = arrays["coef"], float(arrays["intercept"][0])
            idf = arrays["idf"] if "idf" in arrays.files else None
        settings = meta["embedder"]
        if settings["kind"] == "tfidf":
            embedder = TfidfEmbedder(settings["params"], settings["vocabulary"], idf)
        elif settings["kind"] == "minilm":
            embedder = MiniLMEmbedder()
        else:
            embedder = make_embedder(f"hf:{settings['path']}", use_images=settings["use_images"],
                                     max_length=settings["max_length"], normalize=settings["normalize"],
                                     dtype=settings["dtype"])
        if embedder.version != settings["version"]:
            raise ValueError(f"{folder}: the labeller was trained with {settings['kind']} embedder version "
                             f"{settings['version']}, this one is {embedder.version}: retrain it")
        return cls(embedder, LinearClassifier(coef, intercept), meta["version"], meta["seed"], meta["c"],
                   meta.get("report") or {})


def train_and_report(embedder: Embedder, samples: Sequence[Sample], *, folds: int = 5, seed: int,
                     c: float = 1.0, resamples: int = 1000) -> Labeller:
    """Cross-validate, then fit on all of ``samples``: the labeller carries its own report."""
    from services.skills.classifier import cross_validate

    features = None if embedder.learns_from_data else embedder.fit(samples).embed(samples)
    report = cross_validate(embedder, samples, [s.reasoning_level for s in samples], folds=folds, seed=seed,
                            c=c, resamples=resamples, features=features)
    labeller = Labeller.train(embedder, samples, seed=seed, c=c, report=report, features=features)
    labeller.report["labeller"] = {"name": labeller.name, "version": labeller.version}
    return labeller


def _embedder_settings(embedder: Embedder) -> dict:
    if isinstance(embedder, TfidfEmbedder):
        return {"kind": "tfidf", "params": embedder.params, "version": embedder.version}
    if isinstance(embedder, MiniLMEmbedder):
        return {"kind": "minilm", "version": embedder.version}
    if isinstance(embedder, HFEmbedder):
        return {"kind": "hf", "path": embedder.path, "use_images": embedder.use_images, "dtype": embedder.dtype,
                "max_length": embedder.max_length, "normalize": embedder.normalize, "version": embedder.version}
    raise TypeError(f"cannot save a labeller with embedder {type(embedder).__name__}")


def fingerprint(embedder: Embedder, samples: Sequence[Sample], seed: int, c: float) -> str:
    """``CODE_VERSION.<12 hex>``: the same inputs give the same version, any change gives another."""
    digest = hashlib.sha256(json.dumps([CODE_VERSION, CLASSIFIER, embedder.name, embedder.version, seed, c]).encode())
    with_images = getattr(embedder, "takes_images", False)  # then the pixels are training data too
    for sample in samples:
        content = sample.content_hash() if with_images else sample.text_hash()
        digest.update(f"\n{sample.benchmark}|{sample.id}|{content}|{sample.reasoning_level}".encode())
    return f"{CODE_VERSION}.{digest.hexdigest()[:12]}"


def distribution(samples, labels: Sequence[Label], facet: str | None = None) -> dict:
    """``facet value -> {n, understanding, reasoning, reasoning_share, mean_probability}``.

    ``labels`` are the samples' labels in the samples' order (what ``Labeller.label`` returns).
    All samples fall under ``"all"`` when ``facet`` is None; a multi-valued facet counts a sample
    under each of its values. ``mean_probability`` is the classifier's mean confidence in the labels
    it gave (None where every label is a dataset's own).
    """
    table: dict[str, Counter] = defaultdict(Counter)
    confidence: dict[str, list[float]] = defaultdict(list)
    for sample, label in zip(samples, labels, strict=True):
        value = "all" if facet is None else sample.skills.get(facet)
        for item in (value if isinstance(value, list) else [value]):
            table[str(item)][label.label] += 1
            if label.probability is not None:
                confidence[str(item)].append(label.probability)
    out = {}
    for value, counts in sorted(table.items()):
        n = counts["understanding"] + counts["reasoning"]
        out[value] = {"n": n, "understanding": counts["understanding"], "reasoning": counts["reasoning"],
                      "reasoning_share": counts["reasoning"] / n,
                      "mean_probability": float(np.mean(confidence[value])) if confidence[value] else None}
    return out
