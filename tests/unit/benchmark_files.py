"""Helpers for the benchmark adapter tests: stand-in images and small files in the real layouts."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

# The real annotation files (see ../shared/data/SOURCES.md), beside the project root.
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture
def open_data_roots(monkeypatch):
    """Tests read from tmp_path: no MEDGRID_DATA_ROOTS unless a test sets it."""
    monkeypatch.delenv("MEDGRID_DATA_ROOTS", raising=False)


def image_bytes(color=(200, 30, 30), size=(6, 5), fmt="PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()


def write_image(path: Path, color=(200, 30, 30), fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = fmt or ("JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG")
    path.write_bytes(image_bytes(color, fmt=fmt))
    return path


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def hf_image(data: bytes | None, name: str | None = None) -> dict | None:
    """A Hugging Face ``Image`` cell."""
    return None if data is None else {"bytes": data, "path": name}


def write_parquet(path: Path, columns: dict[str, list], row_group_size: int | None = None) -> Path:
    """A parquet file whose ``image*`` columns are {bytes, path} structs, the way ``datasets`` writes them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    arrays = {name: pa.array(values, type=image_type if name.startswith("image") else None)
              for name, values in columns.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(arrays), path, row_group_size=row_group_size)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def assert_names(error, file=None, record=None, field=None):
    """A DataError's message names the file, the record and the field."""
    message = str(error)
    if file is not None:
        assert str(file) in message, message
    if record is not None:
        assert f"record {record}" in message, message
    if field is not None:
        assert f"field {field!r}" in message, message
