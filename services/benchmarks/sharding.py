"""How a benchmark selection is cut into shards (the grid's unit of work).

Shards hold consecutive samples of the selection, whose order is fixed by the data and the seed,
so preparing a run twice (a redelivered prepare message) writes the same shards at the same
positions. A shard holds at most MEDGRID_SHARD_SIZE samples, and a small benchmark is still cut
into at least MIN_SHARDS shards so that a pool of several workers shares it.
"""

from __future__ import annotations

import math

MIN_SHARDS = 8


def shard_size_for(n_samples: int, largest: int) -> int:
    """Samples per shard for a selection of ``n_samples``: ``largest``, or fewer so that the
    selection makes at least MIN_SHARDS shards (VQA-RAD's 451 test questions: 8 shards of 57)."""
    if isinstance(largest, bool) or not isinstance(largest, int) or largest < 1:
        raise ValueError(f"shard size must be a positive integer, got {largest!r}")
    return max(1, min(largest, math.ceil(n_samples / MIN_SHARDS)))


def cut(items: list, size: int) -> list[list]:
    """Consecutive shards of ``size`` items (the last may be shorter)."""
    return [items[start:start + size] for start in range(0, len(items), size)]
