"""Image references: a file, a cell of a parquet file, a member of an unextracted zip, or inline bytes.

A reference is a small value; nothing is read or decoded until ``read_bytes()`` / ``open()``,
so indexing 100k records touches no pixels and a parquet benchmark is not held in memory.
Zip archives and parquet files are opened once per process and kept; a forked worker (Celery's
prefork pool) forgets the parent's handles, because a file offset shared between processes
would let two workers read each other's bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import os
import threading
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path


class ImageError(Exception):
    """An image could not be read or decoded; the message names the reference."""


_lock = threading.RLock()
_zip_cache: dict[str, zipfile.ZipFile] = {}
_zip_names: dict[str, frozenset[str]] = {}
_parquet_cache: dict[str, tuple[object, list[int]]] = {}  # path -> (ParquetFile, first row of each group)
# Decoded image columns of recently used row groups. Samples are read in file order, so two groups
# are enough for sequential reading while memory stays bounded by one row group's image bytes.
_PARQUET_GROUPS_KEPT = 2
_parquet_groups: OrderedDict[tuple[str, int, str], object] = OrderedDict()


def _forget_open_files() -> None:
    global _lock
    _lock = threading.RLock()
    _zip_cache.clear()
    _zip_names.clear()
    _parquet_cache.clear()
    _parquet_groups.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_open_files)


def _open_zip(path: str) -> zipfile.ZipFile:
    with _lock:
        archive = _zip_cache.get(path)
        if archive is None:
            archive = zipfile.ZipFile(path)
            _zip_cache[path] = archive
        return archive


def zip_members(path: str | Path) -> frozenset[str]:
    """Member names of a zip (read once per process). Raises ImageError for a damaged archive."""
    key = str(path)
    with _lock:
        names = _zip_names.get(key)
        if names is None:
            try:
                names = frozenset(_open_zip(key).namelist())
            except (OSError, zipfile.BadZipFile) as exc:
                raise ImageError(f"cannot open zip archive {key}: {exc}") from None
            _zip_names[key] = names
        return names


def _open_parquet(path: str):
    import pyarrow.parquet as pq

    with _lock:
        entry = _parquet_cache.get(path)
        if entry is None:
            parquet = pq.ParquetFile(path)
            starts, total = [], 0
            for group in range(parquet.metadata.num_row_groups):
                starts.append(total)
                total += parquet.metadata.row_group(group).num_rows
            entry = (parquet, starts)
            _parquet_cache[path] = entry
        return entry


def _parquet_cell(path: str, row: int, column: str) -> bytes | None:
    """The image bytes in ``column`` (a {bytes, path} struct or a binary column) at ``row``."""
    parquet, starts = _open_parquet(path)
    if row < 0 or row >= parquet.metadata.num_rows:
        raise IndexError(f"row {row} out of range ({parquet.metadata.num_rows} rows)")
    group = bisect.bisect_right(starts, row) - 1
    key = (path, group, column)
    with _lock:
        array = _parquet_groups.get(key)
        if array is None:
            array = parquet.read_row_group(group, columns=[column]).column(0).combine_chunks()
            _parquet_groups[key] = array
            while len(_parquet_groups) > _PARQUET_GROUPS_KEPT:
                _parquet_groups.popitem(last=False)
        else:
            _parquet_groups.move_to_end(key)
    cell = array[row - starts[group]]
    if not cell.is_valid:
        return None
    if hasattr(cell, "keys"):  # a Hugging Face Image struct {bytes, path}
        return cell["bytes"].as_py()
    return cell.as_py()


@dataclass(frozen=True)
class ImageRef:
    """Where an image's bytes are. ``kind`` is ``file``, ``zip``, ``parquet`` or ``bytes``."""

    kind: str
    path: str  # file path, zip path, parquet path, or the file inline bytes came from (for messages)
    member: str | None = None  # zip member name
    data: bytes | None = None  # inline bytes
    label: str | None = None  # the name the record used, for messages
    row: int | None = None  # parquet row (0-based, within the file)
    column: str | None = None  # parquet column

    @classmethod
    def file(cls, path: str | Path, label: str | None = None) -> "ImageRef":
        return cls("file", str(path), label=label)

    @classmethod
    def zip_member(cls, archive: str | Path, member: str, label: str | None = None) -> "ImageRef":
        return cls("zip", str(archive), member=member, label=label)

    @classmethod
    def parquet_cell(cls, path: str | Path, row: int, column: str, label: str | None = None) -> "ImageRef":
        return cls("parquet", str(path), row=row, column=column, label=label)

    @classmethod
    def inline(cls, data: bytes, source: str, label: str | None = None) -> "ImageRef":
        return cls("bytes", source, data=data, label=label)

    def describe(self) -> str:
        if self.kind == "zip":
            return f"{self.path}!{self.member}"
        if self.kind == "parquet":
            return f"{self.path} (row {self.row}, column {self.column!r})"
        if self.kind == "bytes":
            return f"{self.path} (inline {self.label or 'image'})"
        return self.path

    def read_bytes(self) -> bytes:
        if self.kind == "parquet":
            return self._read_parquet_cell()
        try:
            if self.kind == "file":
                return Path(self.path).read_bytes()
            if self.kind == "zip":
                return _open_zip(self.path).read(self.member)
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise ImageError(f"cannot read image {self.describe()}: {exc}") from None
        if self.kind == "bytes":
            if not self.data:
                raise ImageError(f"cannot read image {self.describe()}: no bytes")
            return self.data
        raise ImageError(f"unknown image reference kind {self.kind!r}")

    def _read_parquet_cell(self) -> bytes:
        import pyarrow

        try:
            data = _parquet_cell(self.path, self.row, self.column)
        except (pyarrow.ArrowException, OSError, IndexError, KeyError) as exc:
            raise ImageError(f"cannot read image {self.describe()}: {exc}") from None
        if not data:
            raise ImageError(f"cannot read image {self.describe()}: the cell holds no image bytes")
        return data

    def exists(self) -> bool:
        """Whether the bytes are there, without decoding them (a cheap check for ``inspect``)."""
        if self.kind == "file":
            return os.path.isfile(self.path)
        if self.kind == "zip":
            try:
                return self.member in zip_members(self.path)
            except ImageError:
                return False
        try:
            return bool(self.read_bytes())
        except ImageError:
            return False

    def open(self):
        """Decode to an RGB ``PIL.Image``; raises ImageError naming the reference."""
        from PIL import Image, UnidentifiedImageError

        data = self.read_bytes()
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
            return image.convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ImageError(f"cannot decode image {self.describe()}: {exc}") from None

    def sha256(self) -> str:
        return hashlib.sha256(self.read_bytes()).hexdigest()

    @classmethod
    def from_json(cls, data: dict) -> "ImageRef | None":
        """The reference ``to_json`` described; None for inline bytes, which only the data file holds."""
        kind = data.get("kind")
        if kind == "file":
            return cls.file(data["path"], label=data.get("label"))
        if kind == "zip":
            return cls.zip_member(data["path"], data["member"], label=data.get("label"))
        if kind == "parquet":
            return cls.parquet_cell(data["path"], data["row"], data["column"], label=data.get("label"))
        return None

    def to_json(self) -> dict:
        """A JSON-safe description (image bytes are not copied)."""
        out = {"kind": self.kind, "path": self.path}
        if self.member is not None:
            out["member"] = self.member
        if self.row is not None:
            out["row"] = self.row
            out["column"] = self.column
        if self.label is not None:
            out["label"] = self.label
        return out
