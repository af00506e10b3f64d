"""The one benchmark registry. A benchmark is a small value: a name, its splits and a loader.

Adapters register themselves with ``@benchmark(...)``; ``load_samples`` is the only way the rest
of medgrid reads a benchmark, so path confinement, subsampling and validation behave the same
everywhere.

Problems in the data are strict by default: the first malformed record raises ``DataError``. Inside
``collect_problems()`` (what ``inspect`` uses) adapters hand each problem to ``report_problem``,
which records it, and go on with the next record, so one listing shows every problem at once.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from services.benchmarks.sample import DataError, Sample
from services.gcpause import gc_paused

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
    path_options: tuple[str, ...] = ()  # options whose value is a path: confined like the data path


class UnknownBenchmark(KeyError):
    def __init__(self, name: str):
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown benchmark {self.name!r}; valid names: {', '.join(names())}"


_REGISTRY: dict[str, Benchmark] = {}

# Benchmark name -> the adapter module that registers it, imported on first use: importing the
# registry stays cheap, and reading one benchmark never depends on another adapter importing cleanly.
_ADAPTER_MODULES = {
    "vqa_rad": "services.benchmarks.vqa_rad",
    "slake": "services.benchmarks.slake",
    "pathvqa": "services.benchmarks.pathvqa",
    "pmc_vqa": "services.benchmarks.pmc_vqa",
    "omnimedvqa": "services.benchmarks.omnimedvqa",
    "mmmu_med": "services.benchmarks.mmmu_med",
    "medxpertqa_mm": "services.benchmarks.medxpertqa_mm",
    "demo": "services.benchmarks.demo",
}


def benchmark(name: str, *, title: str, splits: tuple[str, ...], default_split: str,
              formats: tuple[str, ...] = (), options: dict[str, str] | None = None,
              path_options: tuple[str, ...] = ()):
    def register(loader: Loader) -> Loader:
        _REGISTRY[name] = Benchmark(name, title, splits, default_split, loader, formats, options or {},
                                    path_options)
        return loader

    return register


def _load_adapters() -> None:
    for module in _ADAPTER_MODULES.values():
        importlib.import_module(module)


def names() -> list[str]:
    _load_adapters()
    return sorted(_REGISTRY)


def get(name: str) -> Benchmark:
    if name not in _REGISTRY and name in _ADAPTER_MODULES:
        importlib.import_module(_ADAPTER_MODULES[name])
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownBenchmark(name) from None


def describe() -> list[dict]:
    """Every benchmark as a JSON-safe row (what ``medgrid benchmarks list`` prints)."""
    return [{"name": b.name, "title": b.title, "splits": list(b.splits), "default_split": b.default_split,
             "formats": list(b.formats), "options": dict(b.options)} for b in map(get, names())]


_problems: contextvars.ContextVar[list[DataError] | None] = contextvars.ContextVar("benchmark_problems",
                                                                                    default=None)


@contextlib.contextmanager
def collect_problems() -> Iterator[list[DataError]]:
    """Within this block ``report_problem`` records problems in the yielded list instead of raising."""
    problems: list[DataError] = []
    token = _problems.set(problems)
    try:
        yield problems
    finally:
        _problems.reset(token)


def report_problem(error: DataError) -> None:
    """Raise ``error`` (the default), or record it inside ``collect_problems()``.

    An adapter calls this where it can carry on without the bad part: it skips the record (or, for
    a missing image folder, keeps references to where the images should be) after this returns.
    """
    problems = _problems.get()
    if problems is None:
        raise error
    problems.append(error)


def resolve_data_path(data: str | Path, settings=None, what: str = "data path") -> Path:
    """``data`` resolved and confined to MEDGRID_DATA_ROOTS; a DataError says why it is refused."""
    from medgrid.settings import Settings, confine_path

    settings = settings if settings is not None else Settings.from_env()
    try:
        root = confine_path(data, settings, what=what)
    except PermissionError as exc:
        raise DataError(str(data), str(exc)) from None
    if not root.exists():
        raise DataError(str(root), f"{what} does not exist")
    return root


def prepare(name: str, data: str | Path, split: str | None = None, settings=None,
            **options) -> tuple[Benchmark, Path, str, dict]:
    """Check everything a caller chose (name, split, options, paths) before any file is read.

    Returns ``(benchmark, root, split, options)`` with path options resolved and confined.
    Raises UnknownBenchmark or DataError: these are usage errors, never problems in the data.
    """
    spec = get(name)
    split = split or spec.default_split
    if split not in spec.splits:
        raise DataError(str(data), f"unknown split {split!r} for {name}; valid splits: {', '.join(spec.splits)}")
    unknown = set(options) - set(spec.options)
    if unknown:
        raise DataError(str(data), f"unknown option(s) {sorted(unknown)} for {name}; "
                                   f"valid: {sorted(spec.options) or 'none'}")
    root = resolve_data_path(data, settings)
    options = {k: v for k, v in options.items() if v is not None}
    for key in spec.path_options:
        if key in options:
            options[key] = resolve_data_path(options[key], settings, what=f"{key} path")
    return spec, root, split, options


def read_benchmark(spec: Benchmark, root: Path, split: str, options: dict) -> list[Sample]:
    """Run a prepared benchmark's loader and check that its sample ids are unique."""
    samples = list(spec.loader(root, split, **options))
    return _drop_duplicate_ids(samples, root)


def load_samples(name: str, data: str | Path, split: str | None = None, *, limit: int | None = None,
                 sample: int | None = None, seed: int = 0, settings=None, **options) -> list[Sample]:
    """Read a benchmark and apply ``sample`` (N drawn with ``seed``, file order kept) then ``limit`` (first N).

    ``data`` (and any path option) must lie under MEDGRID_DATA_ROOTS when that is set; ``settings``
    defaults to ``Settings.from_env()``.
    """
    for label, value in (("limit", limit), ("sample", sample)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise DataError(str(data), f"{label} must be a non-negative integer, got {value!r}")
    spec, root, split, options = prepare(name, data, split, settings, **options)
    with gc_paused():
        samples = read_benchmark(spec, root, split, options)
    if sample is not None:
        rng = random.Random(seed)
        picked = sorted(rng.sample(range(len(samples)), min(sample, len(samples))))
        samples = [samples[i] for i in picked]
    if limit is not None:
        samples = samples[:limit]
    return samples


def _drop_duplicate_ids(samples: list[Sample], root: Path) -> list[Sample]:
    seen: set[str] = set()
    kept = []
    for s in samples:
        if s.id in seen:
            where = s.meta.get("source_file", str(root)) if isinstance(s.meta, dict) else str(root)
            # When problems are collected, the later record is dropped and the first one kept.
            report_problem(DataError(where, "duplicate sample id", record=s.id, field="id"))
            continue
        seen.add(s.id)
        kept.append(s)
    return kept


def iter_json_records(path: Path) -> Iterator[tuple[int, dict]]:
    """Records of a JSON list file, or of a JSON-lines file, with their index.

    An unreadable file raises DataError; a bad line or a non-object record goes to ``report_problem``.
    """
    import json

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(str(path), f"not UTF-8 text: {exc}") from None
    except OSError as exc:
        raise DataError(str(path), f"cannot read: {exc.strerror or exc}") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(str(path), f"invalid JSON: {exc}") from None
        if not isinstance(records, list):
            raise DataError(str(path), f"expected a JSON list of records, got {type(records).__name__}")
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                report_problem(DataError(str(path), f"expected an object, got {type(record).__name__}", record=i))
                continue
            yield i, record
        return
    for i, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            report_problem(DataError(str(path), f"invalid JSON line: {exc}", record=f"line {i + 1}"))
            continue
        if not isinstance(record, dict):
            report_problem(DataError(str(path), "expected an object", record=f"line {i + 1}"))
            continue
        yield i, record


def require(record: dict, key: str, path: Path, index, kind: type | tuple = str):
    """``record[key]`` with its type checked; a DataError names file, record and field.

    Strings must not be blank: a blank question or answer is as unusable as a missing one.
    """
    if key not in record or record[key] is None:
        raise DataError(str(path), "missing field", record=index, field=key)
    value = record[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise DataError(str(path), f"expected {expected}, got {type(value).__name__}", record=index, field=key)
    if isinstance(value, str) and not value.strip():
        raise DataError(str(path), "empty value", record=index, field=key)
    return value


def require_text(record: dict, key: str, path: Path, index) -> str:
    """A field that is text, but that some files store as a number (answers such as ``2``)."""
    value = require(record, key, path, index, (str, int, float))
    return value.strip() if isinstance(value, str) else _number_text(value)


def _number_text(value: int | float) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
