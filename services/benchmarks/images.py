"""Image references: a file, bytes from a parquet cell, or a member of an unextracted zip.

A reference is a small value; nothing is read or decoded until ``read_bytes()`` / ``open()``,
so indexing 100k records touches no pixels. Zip archives are opened once per process and kept.
"""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path


class ImageError(Exception):
    """An image could not be read or decoded; the message names the reference."""


_zip_cache: dict[str, zipfile.ZipFile] = {}
_zip_lock = threading.Lock()


def _open_zip(path: str) -> zipfile.ZipFile:
    with _zip_lock:
        archive = _zip_cache.get(path)
        if archive is None:
            archive = zipfile.ZipFile(path)
            _zip_cache[path] = archive
        return archive


def zip_members(path: str | Path) -> set[str]:
    return set(_open_zip(str(path)).namelist())


@dataclass(frozen=True)
class ImageRef:
    """Where an image's bytes are. ``kind`` is ``file``, ``zip`` or ``bytes``."""

    kind: str
    path: str  # file path, zip path, or the file the bytes came from (for messages)
    member: str | None = None  # zip member name
    data: bytes | None = None  # inline bytes (parquet cells)
    label: str | None = None  # the name the record used, for messages

    @classmethod
    def file(cls, path: str | Path, label: str | None = None) -> "ImageRef":
        return cls("file", str(path), label=label)

    @classmethod
    def zip_member(cls, archive: str | Path, member: str, label: str | None = None) -> "ImageRef":
        return cls("zip", str(archive), member=member, label=label)

    @classmethod
    def inline(cls, data: bytes, source: str, label: str | None = None) -> "ImageRef":
        return cls("bytes", source, data=data, label=label)

    def describe(self) -> str:
        if self.kind == "zip":
            return f"{self.path}!{self.member}"
        if self.kind == "bytes":
            return f"{self.path} (inline {self.label or 'image'})"
        return self.path

    def read_bytes(self) -> bytes:
        try:
            if self.kind == "file":
                return Path(self.path).read_bytes()
            if self.kind == "zip":
                return _open_zip(self.path).read(self.member)
            if self.kind == "bytes":
                assert self.data is not None
                return self.data
        except (OSError, KeyError, zipfile.BadZipFile) as exc:
            raise ImageError(f"cannot read image {self.describe()}: {exc}") from None
        raise ImageError(f"unknown image reference kind {self.kind!r}")

    def open(self):
        """Decode to an RGB ``PIL.Image``; raises ImageError naming the reference."""
        from PIL import Image, UnidentifiedImageError

        data = self.read_bytes()
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise ImageError(f"cannot decode image {self.describe()}: {exc}") from None
        return image.convert("RGB")

    def sha256(self) -> str:
        return hashlib.sha256(self.read_bytes()).hexdigest()

    def to_json(self) -> dict:
        """A JSON-safe description (inline bytes are not copied)."""
        out = {"kind": self.kind, "path": self.path}
        if self.member is not None:
            out["member"] = self.member
        if self.label is not None:
            out["label"] = self.label
        return out
