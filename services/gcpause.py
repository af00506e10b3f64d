"""Pausing Python's cyclic garbage collector around bulk work.

Reading a benchmark, registering its samples and scoring a run each build hundreds of thousands
of small dicts and lists that hold no reference cycles. Every few hundred allocations the
collector walks the young objects, and as they survive it re-walks ever larger older
generations: on 32,000 sample records that doubled the time of scoring (1.5 s -> 0.7 s measured
with it paused, `bench/grid_throughput.py`). Nothing built inside holds a cycle, so nothing
waits for the collector; reference counting frees everything as usual.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block, restoring its previous state after
    (nested use is fine: only the outermost block turns it back on)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
