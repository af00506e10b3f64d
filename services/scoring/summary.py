"""Summaries over score cells: the study's cross-benchmark mean, and the consistency check.

The check exists because the study's own understanding/reasoning tables put an overall score
outside its two parts in 27 of 70 cells, which no weighted average can do. When a facet's labels
partition the items (their counts add up to the overall count), the overall score must lie within
the range of its parts; a cell that does not is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from services.scoring.aggregate import MACRO_PREFIX, ScoreCell

# The study's seven benchmarks, in the order of its Table 1.
STUDY_BENCHMARKS = ("medxpertqa_mm", "omnimedvqa", "pmc_vqa", "pathvqa", "mmmu_med", "slake", "vqa_rad")
MEAN_BENCHMARK = "mean"
TOLERANCE = 1e-9


def study_mean(cells: Iterable[ScoreCell], *, facet: str = "all", value: str = "all",
               metric: str = "accuracy", benchmarks: Iterable[str] | None = None) -> ScoreCell | None:
    """The unweighted mean over benchmarks of one slice (by default overall accuracy), as the study
    averages its benchmarks. One cell per benchmark: two splits of one benchmark are an error, not
    a silent double weight. The interval treats benchmarks as independent, each with the normal
    standard error implied by its own 95% interval. None when no benchmark has the slice."""
    wanted = set(benchmarks) if benchmarks is not None else None
    chosen: dict[str, ScoreCell] = {}
    for cell in cells:
        if (cell.facet, cell.value, cell.metric) != (facet, value, metric):
            continue
        if wanted is not None and cell.benchmark not in wanted:
            continue
        if cell.benchmark in chosen:
            raise ValueError(f"benchmark {cell.benchmark!r} has two {facet}={value} {metric} cells "
                             f"(splits {chosen[cell.benchmark].split!r} and {cell.split!r}); pass one split")
        chosen[cell.benchmark] = cell
    if not chosen:
        return None
    parts = list(chosen.values())
    mean = sum(c.value_mean for c in parts) / len(parts)
    low = high = None
    if all(c.ci_low is not None and c.ci_high is not None for c in parts):
        se = math.sqrt(sum(((c.ci_high - c.ci_low) / 3.92) ** 2 for c in parts)) / len(parts)
        low, high = max(0.0, mean - 1.96 * se), min(1.0, mean + 1.96 * se)
    return ScoreCell(MEAN_BENCHMARK, "all", facet, value, metric, mean, low, high,
                     sum(c.n for c in parts), sum(c.n_unparsed for c in parts))


def outside_parts(overall: float, parts: Iterable[float], tolerance: float = TOLERANCE) -> bool:
    """True when ``overall`` lies outside [min(parts), max(parts)]: no weighted mean can."""
    parts = list(parts)
    return bool(parts) and not (min(parts) - tolerance <= overall <= max(parts) + tolerance)


@dataclass(frozen=True)
class ConsistencyFlag:
    benchmark: str
    split: str
    facet: str
    metric: str
    overall: float
    parts: Mapping[str, float]

    @property
    def message(self) -> str:
        shown = ", ".join(f"{label} {score:.4f}" for label, score in sorted(self.parts.items()))
        return (f"{self.benchmark} ({self.split}) {self.metric}: overall {self.overall:.4f} lies outside "
                f"its {self.facet} parts ({shown})")


def consistency_flags(cells: Iterable[ScoreCell]) -> list[ConsistencyFlag]:
    """Flags for every (benchmark, split, metric, facet) whose labels partition the overall cell's
    items but whose overall score lies outside the range of the labels' scores. Facets whose
    labels do not add up to the overall count (unlabelled items, multi-label facets) are skipped:
    for them the overall score may legitimately lie outside."""
    overall: dict[tuple, ScoreCell] = {}
    parts: dict[tuple, list[ScoreCell]] = {}
    for cell in cells:
        key = (cell.benchmark, cell.split, cell.metric)
        if cell.facet == "all":
            overall[key] = cell
        elif not cell.facet.startswith(MACRO_PREFIX):
            parts.setdefault((*key, cell.facet), []).append(cell)
    flags = []
    for (benchmark, split, metric, facet), labels in sorted(parts.items()):
        whole = overall.get((benchmark, split, metric))
        if whole is None or sum(c.n for c in labels) != whole.n or len(labels) < 2:
            continue
        if outside_parts(whole.value_mean, (c.value_mean for c in labels)):
            flags.append(ConsistencyFlag(benchmark, split, facet, metric, whole.value_mean,
                                         {c.value: c.value_mean for c in labels}))
    return flags
