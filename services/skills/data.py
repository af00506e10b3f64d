"""Reading the samples the labeller trains on and labels, through the benchmark registry.

Text-only embedders need no pixels, and the annotation files are often at hand without their
image archives (the shared MedXpertQA and SLAKE files are). So a missing image folder is
tolerated here when the caller says images are not needed; every other problem in the data
still raises, exactly as ``load_samples`` would.
"""

from __future__ import annotations

from pathlib import Path

from services.benchmarks.registry import collect_problems, load_samples
from services.benchmarks.sample import DataError, Sample

TRAINING_BENCHMARK = "medxpertqa_mm"


def is_missing_image_folder(problem: DataError) -> bool:
    # The adapters' find_image_source reports "no <what> images found" for the whole file (no record).
    return problem.record is None and problem.field is None and "images found" in str(problem)


def read_samples(benchmark: str, data: str | Path, split: str | None = None, *, need_images: bool = True,
                 **options) -> tuple[list[Sample], bool]:
    """``(samples, images_present)``. With ``need_images`` a missing image folder raises like any problem."""
    if need_images:
        return load_samples(benchmark, data, split, **options), True
    with collect_problems() as problems:
        samples = load_samples(benchmark, data, split, **options)
    for problem in problems:
        if not is_missing_image_folder(problem):
            raise problem
    return samples, not problems


def load_training_samples(data: str | Path, *, need_images: bool = False, **options) -> list[Sample]:
    """MedXpertQA-MM test samples, each with its own ``reasoning_level`` from ``question_type``."""
    samples, _ = read_samples(TRAINING_BENCHMARK, data, "test", need_images=need_images, **options)
    unlabelled = [s.id for s in samples if s.reasoning_level is None]
    if unlabelled:
        raise DataError(str(data), f"{len(unlabelled)} training samples have no understanding/reasoning label",
                        record=unlabelled[0], field="question_type")
    if not samples:
        raise DataError(str(data), "no training samples")
    return samples
