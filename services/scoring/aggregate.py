"""Aggregation of judgements into score cells with clustered confidence intervals.

Cells, per (benchmark, split):
* facet 'all' (value 'all'), 'answer_type', 'closed_kind' (closed items), 'reasoning_level'
  (labelled items), and every skill facet and label; a multi-label facet (a list of labels) counts
  the item once under each of its labels;
* 'macro:<facet>' (value 'all') for the facets in ``macro_facets`` (OmniMedVQA's source 'dataset'
  and 'modality'): the unweighted mean over the facet's labels, with a stratified bootstrap interval.

Metrics: 'accuracy' for every cell over all its items; each other metric a judgement carries (the
open-answer metrics) over the cell's items that have it, with its own n.

Languages are kept apart: a sample whose language is not English is reported under the benchmark
name plus the language ('slake:zh'), so Chinese SLAKE can never be averaged into the English
benchmark, whatever the caller passes in.

``Aggregator`` accepts judgements one at a time into compact arrays (about 100 bytes per item), so
a million stored predictions can be streamed without holding their dicts; ``aggregate`` is the
one-call form.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from services.scoring.bootstrap import cell_rng, cluster_bootstrap, percentile_interval
from services.scoring.judge import Judgement, answer_kind
from services.scoring.metrics import OPEN_METRICS

BUILT_IN_FACETS = ("all", "answer_type", "closed_kind", "reasoning_level")
MACRO_FACETS = ("dataset", "modality")
MACRO_PREFIX = "macro:"
METRIC_ORDER = ("accuracy", *OPEN_METRICS)


@dataclass(frozen=True)
class ScoreCell:
    benchmark: str
    split: str
    facet: str        # 'all', 'answer_type', 'closed_kind', 'reasoning_level', a skill facet, or 'macro:<facet>'
    value: str        # 'all' for facet 'all' and macro cells, else the label
    metric: str       # 'accuracy', 'token_recall', ...
    value_mean: float
    ci_low: float | None
    ci_high: float | None
    n: int
    n_unparsed: int


def benchmark_label(sample: dict) -> str:
    """The benchmark name a sample is reported under: its name, plus ':<language>' if not English."""
    language = (sample.get("language") or "en").lower()
    benchmark = str(sample.get("benchmark", ""))
    return benchmark if language == "en" else f"{benchmark}:{language}"


def sample_facets(sample: dict) -> Iterable[tuple[str, str]]:
    """(facet, label) pairs an item is counted under, besides 'all'."""
    yield "answer_type", str(sample["answer_type"])
    if sample["answer_type"] == "closed":
        yield "closed_kind", answer_kind(sample)
    if sample.get("reasoning_level"):
        yield "reasoning_level", str(sample["reasoning_level"])
    for facet, labels in (sample.get("skills") or {}).items():
        if facet in BUILT_IN_FACETS or facet.startswith(MACRO_PREFIX):
            facet = f"skills.{facet}"  # a skill may not shadow a built-in facet
        if isinstance(labels, (list, tuple, set)):
            for label in dict.fromkeys(str(x) for x in labels if x not in (None, "")):
                yield facet, label
        elif labels not in (None, ""):
            yield facet, str(labels)


def _int64(values: array) -> np.ndarray:
    return np.frombuffer(values, dtype=np.int64) if len(values) else np.zeros(0, np.int64)


class _Codes(dict):
    """A growing string -> small int table."""

    def code(self, key) -> int:
        found = self.get(key)
        if found is None:
            found = self[key] = len(self)
        return found

    def names(self) -> list:
        return sorted(self, key=self.__getitem__)


@dataclass
class _Cell:
    """The items of one cell, on the way to its ScoreCells."""
    partition: tuple[str, str]
    facet: str
    value: str
    items: np.ndarray


class Aggregator:
    """Collects (sample, judgement) pairs as small integer codes and numbers; ``cells()`` scores
    them. Partitions are (benchmark label, split); clusters are (partition, group)."""

    def __init__(self) -> None:
        self._partitions = _Codes()        # (benchmark label, split) -> code
        self._groups = _Codes()            # (partition code, group) -> cluster code
        self._next_cluster = 0
        self._partition = array("q")
        self._cluster = array("q")
        self._correct = array("b")
        self._parsed = array("b")
        self._labels: dict[str, _Codes] = {}               # facet -> label codes
        self._members: dict[str, tuple[array, array]] = {}  # facet -> (items, label codes)
        self._extra: dict[str, tuple[array, array]] = {}    # metric -> (items, values)
        self._memo: dict[tuple, tuple[int, list]] = {}      # facet-relevant fields -> codes

    def __len__(self) -> int:
        return len(self._partition)

    def add(self, sample: dict, judgement: Judgement) -> None:
        item = len(self._partition)
        partition, facets = self._sample_codes(sample)
        group = sample.get("group")
        if group is not None:
            group = str(group)
        if group in (None, ""):
            cluster = self._next_cluster  # a sample without a group is its own cluster
            self._next_cluster += 1
        else:
            cluster = self._groups.get((partition, group))
            if cluster is None:
                cluster = self._groups[(partition, group)] = self._next_cluster
                self._next_cluster += 1
        self._partition.append(partition)
        self._cluster.append(cluster)
        self._correct.append(judgement.correct)
        self._parsed.append(judgement.parsed)
        for items, labels, code in facets:
            items.append(item)
            labels.append(code)
        for metric, value in judgement.metrics.items():
            if metric != "accuracy":
                items, values = self._extra.setdefault(metric, (array("q"), array("d")))
                items.append(item)
                values.append(value)

    def _sample_codes(self, sample: dict) -> tuple[int, list]:
        """The partition code and, per facet label, (items array, labels array, label code) of a
        sample; memoised on what they depend on, since a benchmark's samples share a handful of
        facet combinations (a million OmniMedVQA items make a few thousand)."""
        skills = sample.get("skills") or {}
        try:
            key = (sample.get("benchmark"), sample.get("language"), sample.get("split"), sample["answer_type"],
                   answer_kind(sample) if sample["answer_type"] == "closed" else None, sample.get("reasoning_level"),
                   tuple((k, tuple(v) if isinstance(v, (list, tuple, set)) else v) for k, v in skills.items()))
            known = self._memo.get(key)
        except TypeError:  # an unhashable skill label: work it out every time
            key = known = None
        if known is not None:
            return known
        partition = self._partitions.code((benchmark_label(sample), str(sample.get("split", ""))))
        facets = []
        for facet, label in sample_facets(sample):
            codes = self._labels.get(facet)
            if codes is None:
                codes = self._labels[facet] = _Codes()
                self._members[facet] = (array("q"), array("q"))
            items, labels = self._members[facet]
            facets.append((items, labels, codes.code(label)))
        if key is not None:
            self._memo[key] = (partition, facets)
        return partition, facets

    def add_all(self, items: Iterable[tuple[dict, Judgement]]) -> "Aggregator":
        for sample, judgement in items:
            self.add(sample, judgement)
        return self

    def merge(self, other: "Aggregator") -> "Aggregator":
        """Append another aggregator's items (judged in another process, say) as if added here.
        Items of the same benchmark, split and group land in the same cluster."""
        offset = len(self)
        partitions = [self._partitions.code(name) for name in other._partitions.names()]
        clusters = np.full(other._next_cluster, -1, dtype=np.int64)
        for (partition, group), code in other._groups.items():
            key = (partitions[partition], group)
            mapped = self._groups.get(key)
            if mapped is None:
                mapped = self._groups[key] = self._next_cluster
                self._next_cluster += 1
            clusters[code] = mapped
        ungrouped = clusters < 0  # singleton clusters: fresh codes
        clusters[ungrouped] = self._next_cluster + np.arange(int(ungrouped.sum()))
        self._next_cluster += int(ungrouped.sum())

        partition_map = np.array(partitions, dtype=np.int64)
        self._partition.extend(array("q", partition_map[_int64(other._partition)].tobytes()))
        self._cluster.extend(array("q", clusters[_int64(other._cluster)].tobytes()))
        self._correct.extend(other._correct)
        self._parsed.extend(other._parsed)
        for facet, (items, labels) in other._members.items():
            codes = self._labels.setdefault(facet, _Codes())
            mine = self._members.setdefault(facet, (array("q"), array("q")))
            label_map = np.array([codes.code(name) for name in other._labels[facet].names()], dtype=np.int64)
            mine[0].extend(array("q", (_int64(items) + offset).tobytes()))
            mine[1].extend(array("q", label_map[_int64(labels)].tobytes()))
        for metric, (items, values) in other._extra.items():
            mine = self._extra.setdefault(metric, (array("q"), array("d")))
            mine[0].extend(array("q", (_int64(items) + offset).tobytes()))
            mine[1].extend(values)
        return self

    # -----------------------------------------------------------------------------------------

    def _cells(self) -> Iterable[_Cell]:
        partition = _int64(self._partition)
        names = self._partitions.names()
        facets = [("all", np.arange(len(partition)), np.zeros(len(partition), np.int64), ["all"])]
        for facet in sorted(self._members):
            items, labels = self._members[facet]
            facets.append((facet, _int64(items), _int64(labels), self._labels[facet].names()))
        for facet, items, labels, label_names in facets:
            if not len(items):
                continue
            key = partition[items] * len(label_names) + labels
            order = np.argsort(key, kind="stable")
            key = key[order]
            starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            for start, stop in zip(starts, np.r_[starts[1:], len(key)]):
                part, label = divmod(int(key[start]), len(label_names))
                yield _Cell(names[part], facet, label_names[label], items[order[start:stop]])

    def cells(self, *, seed: int = 1234, resamples: int = 1000,
              macro_facets: tuple[str, ...] = MACRO_FACETS) -> list[ScoreCell]:
        cluster = _int64(self._cluster)
        correct = np.frombuffer(self._correct, dtype=np.int8).astype(np.float64)
        unparsed = np.frombuffer(self._parsed, dtype=np.int8) == 0
        extra = {}
        for metric in sorted(self._extra):
            items, values = self._extra[metric]
            dense = np.full(len(cluster), np.nan)
            dense[_int64(items)] = np.frombuffer(values, dtype=np.float64)
            extra[metric] = dense
        # metrics over all items first, then those over a subset, grouped by the subset they cover
        metric_sets = [(("accuracy",), correct[:, None]), *_metric_sets(extra)]

        out: list[ScoreCell] = []
        macro_parts: dict[tuple, dict[str, tuple[float, np.ndarray, int, int]]] = {}
        for cell in self._cells():
            benchmark, split = cell.partition
            for metrics, values in metric_sets:
                idx = cell.items
                if metrics[0] != "accuracy":  # defined on a subset of the items (open answers)
                    idx = idx[~np.isnan(values[idx, 0])]
                    if not len(idx):
                        continue
                rng = cell_rng(seed, benchmark, split, cell.facet, cell.value, metrics[0])
                point, low, high, draws = _score(cluster[idx], values[idx], rng, resamples, self._next_cluster)
                n, n_unparsed = len(idx), int(unparsed[idx].sum())
                for k, metric in enumerate(metrics):
                    out.append(ScoreCell(benchmark, split, cell.facet, cell.value, metric, float(point[k]),
                                         _opt(low, k), _opt(high, k), n, n_unparsed))
                    if cell.facet in macro_facets:
                        macro_parts.setdefault((benchmark, split, cell.facet, metric), {})[cell.value] = (
                            float(point[k]), draws[:, k], n, n_unparsed)
        out.extend(_macro_cells(macro_parts))
        return sorted(out, key=_cell_order)


def _cell_order(cell: ScoreCell):
    """A stable row order: the same judgements give the same rows in the same order."""
    facet_rank = BUILT_IN_FACETS.index(cell.facet) if cell.facet in BUILT_IN_FACETS else (
        len(BUILT_IN_FACETS) + cell.facet.startswith(MACRO_PREFIX))
    metric_rank = METRIC_ORDER.index(cell.metric) if cell.metric in METRIC_ORDER else len(METRIC_ORDER)
    return (cell.benchmark, cell.split, facet_rank, cell.facet, cell.value, metric_rank, cell.metric)


def _metric_sets(extra: dict[str, np.ndarray]) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """Group metrics defined on the same items, so each group is bootstrapped once."""
    groups: list[tuple[list[str], np.ndarray]] = []
    for metric, dense in extra.items():
        present = ~np.isnan(dense)
        for names, mask in groups:
            if np.array_equal(mask, present):
                names.append(metric)
                break
        else:
            groups.append(([metric], present))
    return [(tuple(names), np.column_stack([extra[m] for m in names])) for names, _ in groups]


def _score(clusters: np.ndarray, values: np.ndarray, rng: np.random.Generator, resamples: int,
           n_clusters: int):
    """Point estimates, CI bounds (None with fewer than two clusters) and bootstrap draws.
    ``clusters`` are codes below ``n_clusters``."""
    if np.all(values == np.floor(values)):  # 0/1 metrics: the float sum is exact in any order
        point = values.sum(axis=0) / len(values)
    else:  # fsum: exact, so the mean does not depend on the order the items came in
        point = np.array([math.fsum(column) for column in values.T]) / len(values)
    if len(clusters) * 8 < n_clusters:  # a small cell: sort its few cluster codes
        present, inverse = np.unique(clusters, return_inverse=True)
        width = len(present)
    else:  # a large cell: count straight into all cluster codes, then keep the ones present
        inverse, width = clusters, n_clusters
    sizes = np.bincount(inverse, minlength=width)
    present = np.flatnonzero(sizes) if width == n_clusters else slice(None)
    sizes = sizes[present]
    if len(sizes) < 2 or resamples <= 0:
        return point, None, None, np.broadcast_to(point, (max(resamples, 1), len(point)))
    sums = np.column_stack([np.bincount(inverse, weights=values[:, k], minlength=width)[present]
                            for k in range(values.shape[1])])
    sums = np.round(sums, 9)  # drop last-bit differences from summation order
    draws = cluster_bootstrap(sizes, sums, rng, resamples)
    low, high = percentile_interval(draws, point)
    return point, low, high, draws


def _opt(bound: np.ndarray | None, k: int) -> float | None:
    return None if bound is None else float(bound[k])


def _macro_cells(parts: dict[tuple, dict[str, tuple[float, np.ndarray, int, int]]]) -> list[ScoreCell]:
    """Unweighted means over a facet's labels. The labels' bootstraps are independent (a cluster
    belongs to one dataset), so the mean of their draws is a stratified bootstrap of the macro mean."""
    out = []
    for (benchmark, split, facet, metric), by_label in parts.items():
        labels = [by_label[label] for label in sorted(by_label)]  # a fixed order: same sums, same floats
        if len(labels) < 2:
            continue
        point = sum(p for p, *_ in labels) / len(labels)
        resamples = min(len(d) for _, d, *_ in labels)
        draws = np.mean([d[:resamples] for _, d, *_ in labels], axis=0)
        low, high = (None, None)
        if resamples > 1:
            lo, hi = percentile_interval(draws[:, None], np.array([point]))
            low, high = float(lo[0]), float(hi[0])
        out.append(ScoreCell(benchmark, split, MACRO_PREFIX + facet, "all", metric, point, low, high,
                             sum(n for *_, n, _ in labels), sum(u for *_, u in labels)))
    return out


def aggregate(items: list[tuple[dict, Judgement]], *, seed: int = 1234, resamples: int = 1000,
              macro_facets: tuple[str, ...] = MACRO_FACETS) -> list[ScoreCell]:
    """Score cells for judged items (see the module docstring)."""
    return Aggregator().add_all(items).cells(seed=seed, resamples=resamples, macro_facets=macro_facets)
