"""Finding what users downloaded: annotation files, image folders and unextracted image zips.

Image names come from the records, which are input like any other: a name that is absolute or
climbs out with ``..`` is refused, so a crafted annotation file cannot make medgrid read (and send
to a model, or log) a file outside the benchmark's folder.
"""

from __future__ import annotations

import os
import posixpath
import re
from pathlib import Path

from services.benchmarks.images import ImageError, ImageRef, zip_members
from services.benchmarks.registry import report_problem
from services.benchmarks.sample import DataError

_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_relative(name: str, file: str | Path, record, field: str) -> str:
    """A record's relative file name, normalised to ``a/b.jpg``; DataError if it leaves its folder."""
    if not isinstance(name, str) or not name.strip():
        raise DataError(str(file), "expected a file name", record=record, field=field)
    normal = posixpath.normpath(name.strip().replace("\\", "/"))
    if normal.startswith("/") or _DRIVE.match(normal) or normal == ".." or normal.startswith("../"):
        raise DataError(str(file), f"image path {name!r} points outside the benchmark folder",
                        record=record, field=field)
    return normal


class ImageSource:
    """Images in a folder, or in an unextracted zip whose members may sit under a prefix folder."""

    def __init__(self, kind: str, path: Path, prefixes: tuple[str, ...] = ("",)):
        self.kind, self.path, self.prefixes = kind, Path(path), prefixes
        self._folder = str(path)  # os.path.join on strings: Path joins are slow over 100k records
        self._members = zip_members(path) if kind == "zip" else frozenset()

    @classmethod
    def folder(cls, path: Path) -> "ImageSource":
        return cls("folder", path)

    @classmethod
    def archive(cls, path: Path, prefixes: tuple[str, ...] = ()) -> "ImageSource":
        """A zip; ``prefixes`` are folders inside it where the images may sit, in the order to try."""
        try:
            members = zip_members(path)
        except ImageError as exc:
            raise DataError(str(path), str(exc)) from None
        # Try the folders the caller expects, then the archive's root, then (for an archive that wraps
        # everything in one folder of its own name) that single top folder.
        tops = {m.split("/", 1)[0] + "/" for m in members if "/" in m}
        ordered = [p for p in prefixes if p in tops] + [""]
        if len(tops) == 1 and not ordered[:-1]:
            ordered += list(tops)
        return cls("zip", path, tuple(ordered))

    def ref(self, name: str) -> ImageRef:
        """A reference to ``name`` (relative, already checked by ``safe_relative``); not checked for existence."""
        if self.kind == "folder":
            return ImageRef.file(os.path.join(self._folder, name), label=name)
        for prefix in self.prefixes:
            if prefix + name in self._members:
                return ImageRef.zip_member(self.path, prefix + name, label=name)
        # Missing from the archive: point where it most likely belongs; reading it names the member.
        return ImageRef.zip_member(self.path, self.prefixes[0] + name, label=name)


def find_image_source(bases: list[Path], folders: tuple[str, ...], zips: tuple[str, ...],
                      zip_prefixes: tuple[str, ...] = (), override: Path | None = None,
                      what: str = "images") -> ImageSource:
    """The first of ``folders`` / ``zips`` found under one of ``bases`` (or ``override``, a folder or zip).

    When none is there the problem is reported (strict: DataError) and, when collecting problems,
    references point into the first expected folder, so every sample still lists its images.
    """
    if override is not None:
        if override.is_dir():
            return ImageSource.folder(override)
        if override.is_file() and override.suffix.lower() == ".zip":
            return ImageSource.archive(override, zip_prefixes)
        raise DataError(str(override), f"{what}: expected a folder or a .zip file")
    for base in bases:
        for name in folders:
            if (base / name).is_dir():
                return ImageSource.folder(base / name)
        for name in zips:
            if (base / name).is_file():
                return ImageSource.archive(base / name, zip_prefixes)
    expected = ", ".join([f"{f}/" for f in folders] + list(zips))
    report_problem(DataError(str(bases[0]), f"no {what} found: expected one of {expected} "
                                            f"(or pass the images option)"))
    return ImageSource.folder(bases[0] / folders[0])


def find_split_file(root: Path, split: str, split_files: dict[str, tuple[str, ...]],
                    subfolders: tuple[str, ...], title: str) -> Path:
    """The annotation file of ``split``: ``root`` itself when it is a file (refused if its name says
    it is another split), else the first of the split's file names in ``root`` or its ``subfolders``."""
    if root.is_file():
        other = next((s for s, names in split_files.items() if root.name in names), None)
        if other is not None and other != split:
            raise DataError(str(root), f"this file is the {other} split; pass split={other!r}")
        return root
    found = first_existing([base / name for name in split_files[split] for base in (root, *(root / f for f in subfolders))])
    if found is None:
        raise DataError(str(root), f"no {title} {split} file: expected one of {', '.join(split_files[split])}")
    return found


def first_existing(candidates: list[Path]) -> Path | None:
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None
