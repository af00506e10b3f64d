"""Deterministic shards: the same sample ids always make the same shards, whatever order they came in.

A redelivered or re-created shard must hold exactly the samples it held before (the ledger's
exactly-once effect depends on it), so shards are cut from the ids sorted, never from load order.
"""

from __future__ import annotations


def shard(sample_ids: list[str], shard_size: int) -> list[list[str]]:
    """``sample_ids`` sorted and cut into consecutive shards of ``shard_size`` (the last may be shorter)."""
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}")
    ordered = sorted(sample_ids)
    for previous, current in zip(ordered, ordered[1:]):
        if previous == current:
            raise ValueError(f"duplicate sample id {current!r}: shards need unique ids")
    return [ordered[start:start + shard_size] for start in range(0, len(ordered), shard_size)]
