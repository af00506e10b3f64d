"""Cluster bootstrap of ratio means, vectorised.

A cell's score is a ratio: the sum of item values over the number of items. Items that share an
image are not independent, so the bootstrap resamples clusters (``group``), with replacement, C
out of C, and recomputes the ratio each time.

Exact shortcut: the estimate depends on a cluster only through its row (size, sums). Clusters with
identical rows are interchangeable, and the numbers of draws that fall on each set of identical
clusters are jointly Multinomial(C, k_g / C). With accuracy (0/1 values) there are only a few
hundred distinct rows even for a million clusters, so one multinomial draw over the distinct rows
replaces C index draws per resample: the same distribution, at a fraction of the cost. When rows are
mostly distinct (continuous metrics), clusters are drawn by index instead, in memory-bounded chunks.
"""

from __future__ import annotations

import zlib

import numpy as np

CONFIDENCE = 0.95
_CHUNK_ELEMENTS = 2_000_000  # index draws held at once in the fallback path (~16 MB)


def cell_rng(seed: int, *parts: str) -> np.random.Generator:
    """A generator that depends only on the seed and the cell's identity, so a cell's interval
    does not change when other cells, or the order of items, change."""
    digest = zlib.crc32("\x1f".join(parts).encode("utf-8"))
    return np.random.default_rng([seed, digest])


def cluster_bootstrap(sizes: np.ndarray, sums: np.ndarray, rng: np.random.Generator,
                      resamples: int) -> np.ndarray:
    """Bootstrap draws of ``sums.sum(0) / sizes.sum()``.

    sizes: (C,) items per cluster; sums: (C, K) per-cluster sums of K metrics.
    Returns (resamples, K) ratio estimates.
    """
    clusters = len(sizes)
    rows = np.column_stack([sizes.astype(np.float64), sums.astype(np.float64)])
    distinct, counts = distinct_rows(rows)
    if 4 * len(distinct) <= clusters:
        draws = rng.multinomial(clusters, counts / clusters, size=resamples)
        totals = draws.astype(np.float64) @ distinct
    else:
        # np.unique sorted the rows; drawing from that order keeps results independent of item order.
        ordered = np.repeat(distinct, counts, axis=0)
        totals = np.empty((resamples, rows.shape[1]))
        chunk = max(1, _CHUNK_ELEMENTS // clusters)
        for start in range(0, resamples, chunk):
            stop = min(resamples, start + chunk)
            picks = rng.integers(0, clusters, size=(stop - start, clusters))
            offsets = (np.arange(stop - start) * clusters)[:, None]
            weights = np.bincount((picks + offsets).ravel(), minlength=(stop - start) * clusters)
            totals[start:stop] = weights.reshape(stop - start, clusters).astype(np.float64) @ ordered
    return totals[:, 1:] / totals[:, :1]


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows, sorted, and how often each occurs. Integer rows (counts of right answers)
    are packed into one int64 key per row, which sorts far faster than rows of floats."""
    if np.all(rows == np.floor(rows)) and rows.min(initial=0) >= 0:
        radices = rows.max(axis=0).astype(np.int64) + 1
        if float(np.prod(radices.astype(np.float64))) < 2.0 ** 62:
            places = np.cumprod(np.r_[1, radices[:0:-1]])[::-1]   # mixed radix, first column most significant
            keys, counts = np.unique(rows.astype(np.int64) @ places, return_counts=True)
            digits = (keys[:, None] // places) % radices
            return digits.astype(np.float64), counts
    return np.unique(rows, axis=0, return_counts=True)


def percentile_interval(draws: np.ndarray, point: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile interval per column, widened to contain the point estimate (a percentile
    interval of a skewed ratio can miss it by a hair on tiny samples; an interval that excludes
    the number it is printed beside would only confuse)."""
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(draws, [tail, 1 - tail], axis=0)
    return np.minimum(low, point), np.maximum(high, point)
