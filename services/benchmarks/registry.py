"""The one benchmark registry. A benchmark is a small value: a name, its splits and a loader.

Adapters register themselves with ``@benchmark(...)``; ``load_samples`` is the only way the rest
of medgrid reads a benchmark, so subsampling and validation behave the same everywhere.
"""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from services.benchmarks.sample import DataError, Sample

Loader = Callable[..., Iterable[Sample]]


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    splits: tuple[str, ...]
    default_split: str
    loader: Loader
    formats: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)  # option name -> what it does


class UnknownBenchmark(KeyError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown benchmark {self.name!r}; valid names: {', '.join(names())}"


_REGISTRY: dict[str, Benchmark] = {}

# Adapter modules, imported on first use so that importing the registry stays cheap.
_ADAPTER_MODULES = (
    "services.benchmarks.slake",
    "services.benchmarks.omnimedvqa",
    "services.benchmarks.demo",
)


def benchmark(name: str, *, title: str, splits: tuple[str, ...], default_split: str,
              formats: tuple[str, ...] = (), options: dict[str, str] | None = None):
    def register(loader: Loader) -> Loader:
        _REGISTRY[name] = Benchmark(name, title, splits, default_split, loader, formats, options or {})
        return loader

    return register


def _load_adapters() -> None:
    for module in _ADAPTER_MODULES:
        importlib.import_module(module)


def names() -> list[str]:
    _load_adapters()
    return sorted(_REGISTRY)


def get(name: str) -> Benchmark:
    _load_adapters()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownBenchmark(name) from None


def load_samples(name: str, data: str | Path, split: str | None = None, *, limit: int | None = None,
                 sample: int | None = None, seed: int = 0, **options) -> list[Sample]:
    """Read a benchmark and apply ``limit`` (first N) or ``sample`` (N drawn with ``seed``)."""
    spec = get(name)
    split = split or spec.default_split
    if split not in spec.splits:
        raise DataError(str(data), f"unknown split {split!r} for {name}; valid splits: {', '.join(spec.splits)}")
    root = Path(data)
    if not root.exists():
        raise DataError(str(root), "data path does not exist")
    unknown = set(options) - set(spec.options)
    if unknown:
        raise DataError(str(root), f"unknown option(s) {sorted(unknown)} for {name}; "
                                   f"valid: {sorted(spec.options) or 'none'}")
    samples = list(spec.loader(root, split, **options))
    _check_unique_ids(samples, root)
    if sample is not None:
        rng = random.Random(seed)
        picked = sorted(rng.sample(range(len(samples)), min(sample, len(samples))))
        samples = [samples[i] for i in picked]
    if limit is not None:
        samples = samples[:limit]
    return samples


def _check_unique_ids(samples: list[Sample], root: Path) -> None:
    seen: set[str] = set()
    for s in samples:
        if s.id in seen:
            raise DataError(str(root), "duplicate sample id", record=s.id, field="id")
        seen.add(s.id)


def iter_json_records(path: Path) -> Iterator[tuple[int, dict]]:
    """Records of a JSON list file, or of a JSON-lines file, with their index; bad lines raise DataError."""
    import json

    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(str(path), f"invalid JSON: {exc}") from None
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise DataError(str(path), f"expected an object, got {type(record).__name__}", record=i)
            yield i, record
        return
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(str(path), f"invalid JSON line: {exc}", record=f"line {i + 1}") from None
        if not isinstance(record, dict):
            raise DataError(str(path), "expected an object", record=f"line {i + 1}")
        yield i, record


def require(record: dict, key: str, path: Path, index, kind: type | tuple = str):
    """``record[key]`` with its type checked; a DataError names file, record and field."""
    if key not in record or record[key] is None:
        raise DataError(str(path), "missing field", record=index, field=key)
    value = record[key]
    if not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(str(path), f"expected {expected}, got {type(value).__name__}", record=index, field=key)
    return value
