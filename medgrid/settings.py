"""One typed settings object, read once from ``MEDGRID_*`` environment variables.

Every knob of medgrid lives here, with a strict parser: a malformed value fails at start-up
with the variable's name, never later as a confusing runtime error (Redash/Superset style).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable, Mapping

PREFIX = "MEDGRID_"


class SettingsError(ValueError):
    """A MEDGRID_* variable could not be parsed."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected one of 1/0, true/false, yes/no, on/off, got {raw!r}")


def _parse_positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def _parse_int(raw: str) -> int:
    return int(raw.strip())


def _parse_positive_float(raw: str) -> float:
    value = float(raw.strip())
    if not value > 0:
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def _parse_paths(raw: str) -> tuple[Path, ...]:
    parts = [p for p in raw.split(os.pathsep) if p.strip()]
    return tuple(Path(p).expanduser().resolve() for p in parts)


def _parse_str(raw: str) -> str:
    if not raw.strip():
        raise ValueError("expected a non-empty value")
    return raw.strip()


def _parse_tokens(raw: str) -> tuple[str, ...]:
    tokens = tuple(t.strip() for t in raw.split(",") if t.strip())
    for token in tokens:
        if len(token) < 16:
            raise ValueError("every token must be at least 16 characters")
    return tokens


def _parse_database_url(raw: str) -> str:
    url = _parse_str(raw)
    if not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg2:", "postgres:")):
        raise ValueError(f"expected a sqlite:// or postgresql:// URL, got {url!r}")
    return url


def _parse_prompt_style(raw: str) -> str:
    value = raw.strip()
    if value not in {"direct", "reasoning"}:
        raise ValueError(f"expected 'direct' or 'reasoning', got {raw!r}")
    return value


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "medgrid"


def _env(parser: Callable[[str], object], default=None, default_factory=None, doc: str = ""):
    kwargs = {"metadata": {"parser": parser, "doc": doc}}
    if default_factory is not None:
        return field(default_factory=default_factory, **kwargs)
    return field(default=default, **kwargs)


@dataclass(frozen=True)
class Settings:
    home: Path = _env(lambda s: Path(s).expanduser().resolve(), default_factory=default_home,
                      doc="where the default SQLite database, demo files and tiny checkpoints live")
    database_url: str = _env(_parse_database_url, default="",
                             doc="SQLAlchemy URL; default: a SQLite file under MEDGRID_HOME")
    redis_url: str = _env(_parse_str, default="redis://127.0.0.1:6379/0", doc="Celery broker (grid only)")
    data_roots: tuple[Path, ...] = _env(_parse_paths, default=(),
                                        doc="os.pathsep-separated folders data paths must lie under "
                                            "(empty: any path, for the single-user CLI)")
    models_dir: Path = _env(lambda s: Path(s).expanduser().resolve(),
                            default_factory=lambda: Path(__file__).resolve().parent.parent / "models",
                            doc="folder of model spec YAML files")
    model: str = _env(_parse_str, default="", doc="the model id a worker process is pinned to")
    shard_size: int = _env(_parse_positive_int, default=128,
                           doc="most samples per shard (the grid cuts a small benchmark into at least 8 shards)")
    worker_shards_in_flight: int = _env(_parse_positive_int, default=2,
                                        doc="shards a model worker holds at once (a thread each): one is "
                                            "generated while the others are read, judged and stored; "
                                            "the model itself runs one shard at a time")
    batch_size: int = _env(_parse_positive_int, default=8, doc="default generation batch size")
    prompt_style: str = _env(_parse_prompt_style, default="reasoning",
                             doc="'reasoning' (the study's \\boxed{} protocol) or 'direct'")
    seed: int = _env(_parse_int, default=1234, doc="seed for generation, subsampling and bootstrap")
    lease_seconds: float = _env(_parse_positive_float, default=900.0, doc="shard lease length")
    max_attempts: int = _env(_parse_positive_int, default=3, doc="tries before a shard is marked failed")
    bootstrap_resamples: int = _env(_parse_positive_int, default=1000, doc="cluster bootstrap resamples")
    trust_remote_code: bool = _env(_parse_bool, default=False,
                                   doc="global ceiling: a model spec may only turn it on if this is on")
    progress: bool = _env(_parse_bool, default=True, doc="show progress bars on a terminal")
    ready_file: Path = _env(lambda s: Path(s), default=Path("/tmp/medgrid-ready"),
                            doc="a worker touches this file once its model is loaded (readiness probes)")
    api_read_tokens: tuple[str, ...] = _env(_parse_tokens, default=(), doc="comma-separated bearer tokens that may read")
    api_write_tokens: tuple[str, ...] = _env(_parse_tokens, default=(),
                                             doc="comma-separated bearer tokens that may read and write")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'medgrid.sqlite3'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            if name in environ:
                parser = f.metadata["parser"]
                try:
                    values[f.name] = parser(environ[name])
                except ValueError as exc:
                    raise SettingsError(f"{name}: {exc}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @staticmethod
    def describe() -> list[tuple[str, str]]:
        return [(PREFIX + f.name.upper(), f.metadata["doc"]) for f in fields(Settings)]


def confine_path(path: str | os.PathLike, settings: Settings, what: str = "path") -> Path:
    """Resolve ``path`` and refuse it unless it lies under one of the configured data roots."""
    resolved = Path(path).expanduser().resolve()
    if not settings.data_roots:
        return resolved
    for root in settings.data_roots:
        if resolved == root or root in resolved.parents:
            return resolved
    roots = ", ".join(str(r) for r in settings.data_roots)
    raise PermissionError(f"{what} {resolved} lies outside the allowed data roots ({roots}); "
                          f"set MEDGRID_DATA_ROOTS to allow it")
