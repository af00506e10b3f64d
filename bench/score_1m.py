"""Benchmark: score 1,000,000 stored predictions (judge + aggregate with per-skill slices and 1,000
cluster-bootstrap resamples) and record the time and peak memory.

    .venv/bin/python bench/score_1m.py [--n 1000000] [--resamples 1000] [--out bench/results/score_1m.json]

The predictions are synthetic but shaped like the real grid's: the seven benchmarks' answer kinds,
skill facets (OmniMedVQA's 42 source datasets and 12 modalities, VQA-RAD's multi-label question
types, ...), about five questions per image, and replies in the styles models produce (a <think>
block and \\boxed{}, a bare letter, "The answer is ...", a long unmarked chain of thought, garbage,
and a few failed samples). They are generated one at a time and streamed through the scorer, as the
scoring worker streams rows from the database, so only the scorer's own state is held: ``--workers``
processes judge chunks into ``Aggregator``s, which the parent merges (in order) and aggregates.
Generating the synthetic rows stands in for reading them from the database; its CPU time is
reported separately.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.scoring import SCORER_NAME, SCORER_VERSION, Aggregator, judge  # noqa: E402

LETTERS = "ABCDE"
MODALITIES = ["CT", "MRI", "X-Ray", "Ultrasound", "Dermoscopy", "Fundus", "OCT", "Endoscopy",
              "Microscopy", "Histopathology", "PET", "Mammography"]
DATASETS = [f"Source{i:02d}" for i in range(42)]
CONTENT = ["Organ", "Position", "Abnormality", "KG", "Modality", "Size", "Plane", "Quantity", "Color", "Shape"]
QTYPES = ["MODALITY", "PLANE", "ORGAN", "ABN", "PRES", "POS", "COLOR", "SIZE", "ATTRIB", "COUNT", "OTHER"]
OPEN_ANSWERS = ["left lung", "right lower lobe", "heart", "liver", "2", "brain edema", "t2 weighted",
                "pleural effusion", "colon", "kidney cyst", "transverse plane", "spleen"]
CHOICE_ANSWERS = ["CT", "MRI", "left", "right", "T1", "T2", "X-Ray"]
FILLER = ("Let me examine the image carefully. The density pattern and the location suggest several "
          "possibilities, which I will weigh one by one before deciding. ")


def make_sample(i: int, rng: random.Random) -> dict:
    """One synthetic sample record, as Sample.record() would store it."""
    roll = rng.random()
    level = "reasoning" if rng.random() < 0.6 else "understanding"
    base = {"key": f"s{i}", "split": "test", "language": "en", "group": f"img{i // 5}", "reasoning_level": level,
            "meta": {}, "closed_kind": None, "options": None, "question": "synthetic question?"}
    if roll < 0.45:   # OmniMedVQA-like multiple choice, 2-4 options
        options = [{"label": LETTERS[k], "text": f"finding {rng.randrange(400)}"} for k in range(rng.choice((2, 4, 4)))]
        answer = rng.choice(options)["label"]
        dataset = DATASETS[min(int(rng.expovariate(0.25)), 41)]
        base.update(benchmark="omnimedvqa", answer_type="mcq", options=options, answer=answer,
                    skills={"dataset": dataset, "modality": MODALITIES[DATASETS.index(dataset) % 12],
                            "question_type": rng.choice(["Disease Diagnosis", "Anatomy Identification",
                                                         "Modality Recognition", "Lesion Grading"])})
    elif roll < 0.55:  # PMC-VQA / MedXpertQA / MMMU-like multiple choice
        benchmark = rng.choice(["pmc_vqa", "medxpertqa_mm", "mmmu_med"])
        options = [{"label": LETTERS[k], "text": f"option text {rng.randrange(900)}"} for k in range(5)]
        base.update(benchmark=benchmark, answer_type="mcq", options=options, answer=rng.choice(LETTERS),
                    skills={"medical_task": rng.choice(["Diagnosis", "Treatment", "Basic Medicine"]),
                            "body_system": f"system{rng.randrange(12)}"})
    else:  # SLAKE / VQA-RAD / PathVQA-like closed and open questions
        benchmark = rng.choice(["slake", "vqa_rad", "pathvqa"])
        if benchmark == "slake":
            skills = {"content_type": rng.choice(CONTENT), "modality": rng.choice(MODALITIES[:3])}
        elif benchmark == "vqa_rad":  # question_type is multi-label
            skills = {"question_type": rng.sample(QTYPES, rng.choice((1, 1, 2))),
                      "image_organ": rng.choice(["HEAD", "CHEST", "ABD"])}
        else:
            skills = {}
        kind = rng.random()
        if kind < 0.45:
            base.update(answer_type="closed", closed_kind="yes_no", answer=rng.choice(["yes", "no"]))
        elif kind < 0.55:
            base.update(answer_type="closed", closed_kind="choice", answer=rng.choice(CHOICE_ANSWERS))
        else:
            base.update(answer_type="open", answer=rng.choice(OPEN_ANSWERS))
        base.update(benchmark=benchmark, skills=skills)
    base["answer_text"] = base["answer"]
    return base


def make_reply(sample: dict, rng: random.Random) -> tuple[str | None, str | None]:
    """(response, error) in one of the styles models produce; right about 60% of the time."""
    if rng.random() < 0.005:
        return None, "corrupt image"
    right = rng.random() < 0.6
    if sample["answer_type"] == "mcq":
        labels = [o["label"] for o in sample["options"]]
        answer = sample["answer"] if right else rng.choice(labels)
        text = next(o["text"] for o in sample["options"] if o["label"] == answer)
    elif sample["answer_type"] == "closed" and sample["closed_kind"] == "yes_no":
        answer = text = sample["answer"] if right else rng.choice(["yes", "no", "normal"])
    else:
        answer = text = sample["answer"] if right else rng.choice(OPEN_ANSWERS + CHOICE_ANSWERS)
    style = rng.random()
    if style < 0.45:
        return f"<think>{FILLER * rng.randint(1, 4)}</think>\nThe final answer is \\boxed{{{answer}}}.", None
    if style < 0.75:
        return answer, None
    if style < 0.87:
        return f"Based on the image, the answer is {answer}.", None
    if style < 0.95:
        return f"{FILLER * 3}So I would say {text}", None
    return rng.choice(["I cannot determine this from the image.", "", "   "]), None


POOL = 20_000  # distinct (question, reply) pairs, as many models answer the same questions
_pools: dict[int, list] = {}


def reply_pool(seed: int) -> list[tuple[dict, str | None, str | None]]:
    """(sample, response, error) templates, built once per worker process."""
    if seed not in _pools:
        rng = random.Random(seed)
        _pools[seed] = [(sample, *make_reply(sample, rng)) for sample in (make_sample(i, rng) for i in range(POOL))]
    return _pools[seed]


def judge_chunk(task: tuple[int, int, int]) -> tuple[Aggregator, dict[str, int], float]:
    """Generate and judge predictions start..stop into an Aggregator (runs in a worker process).
    Returns the aggregator, the extraction-method counts and the seconds spent generating."""
    start, stop, seed = task
    rng = random.Random(f"{seed}:{start}")
    began = time.perf_counter()
    pool = reply_pool(seed)
    generating = time.perf_counter() - began
    aggregator, methods = Aggregator(), {}
    for i in range(start, stop):
        began = time.perf_counter()
        template, response, error = pool[rng.randrange(POOL)]
        sample = {**template, "key": f"s{i}", "group": f"img{i // 5}"}  # every row its own sample
        generating += time.perf_counter() - began
        judgement = judge(sample, response, error)
        methods[judgement.method] = methods.get(judgement.method, 0) + 1
        aggregator.add(sample, judgement)
    return aggregator, methods, generating


def run(n: int, resamples: int, seed: int, workers: int, chunk: int = 62_500) -> dict:
    tasks = [(start, min(n, start + chunk), seed) for start in range(0, n, chunk)]
    aggregator, methods, generating = Aggregator(), {}, 0.0
    started, cpu_started = time.perf_counter(), os.times()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for part, part_methods, part_generating in pool.imap(judge_chunk, tasks):  # in order: deterministic
            aggregator.merge(part)
            generating += part_generating
            for method, count in part_methods.items():
                methods[method] = methods.get(method, 0) + count
    judged = time.perf_counter()
    cells = aggregator.cells(resamples=resamples)
    finished, cpu_finished = time.perf_counter(), os.times()
    cpu = {name: round(getattr(cpu_finished, name) - getattr(cpu_started, name), 2)
           for name in ("user", "system", "children_user", "children_system")}
    overall = [c for c in cells if c.facet == "all" and c.metric == "accuracy"]
    parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "predictions": n,
        "resamples": resamples,
        "workers": workers,
        "scorer": f"{SCORER_NAME} {SCORER_VERSION}",
        "cells": len(cells),
        "cells_with_ci": sum(c.ci_low is not None for c in cells),
        "benchmarks": len(overall),
        "facets": sorted({c.facet for c in cells}),
        "extraction_methods": dict(sorted(methods.items())),
        "seconds_judge_wall": round(judged - started, 2),
        "seconds_aggregate_wall": round(finished - judged, 2),
        "seconds_total_wall": round(finished - started, 2),
        # wall time inside the workers spent making the synthetic rows (stands in for reading them)
        "seconds_generating_synthetic_rows": round(generating, 2),
        "cpu_seconds": cpu,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mib_parent": round(parent_peak, 1),
        "peak_rss_mib_worker_max": round(worker_peak, 1),
        # both workers and the parent at their peaks at once (an upper bound: forked pages are shared)
        "peak_rss_mib_bound": round(parent_peak + workers * worker_peak, 1),
        "overall_accuracy": {c.benchmark: round(c.value_mean, 4) for c in overall},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="judging processes (the target machine has 2 cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "score_1m.json")
    args = parser.parse_args()
    result = run(args.n, args.resamples, args.seed, args.workers)
    result["machine"] = {"cpus_available": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                         "platform": platform.platform()}
    result["targets"] = {"seconds_total_wall": 60, "peak_rss_mib_bound": 2048}
    result["within_targets"] = result["seconds_total_wall"] < 60 and result["peak_rss_mib_bound"] < 2048
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
