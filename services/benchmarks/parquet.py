"""Hugging Face parquet downloads: finding a split's files, reading them safely, image cells.

Image cells become lazy ``ImageRef.parquet_cell`` references: the loader reads a file one row group
at a time (to check that every image cell holds bytes and to hash them for ``group``) and keeps
no image bytes, so a 6,719-row PathVQA test split costs megabytes of memory, not its file size.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

from services.benchmarks.images import ImageRef
from services.benchmarks.registry import report_problem
from services.benchmarks.sample import CLOSED_BY_YES_NO, DataError, Sample, closed_or_open


def split_files(root: Path, split: str) -> list[Path]:
    """``<split>-*.parquet`` shards (sorted) under ``root/data`` or ``root``, or ``root`` itself if a file."""
    if root.is_file():
        return [root] if root.suffix == ".parquet" else []
    for folder in (root / "data", root):
        found = sorted(folder.glob(f"{split}-*.parquet")) + sorted(folder.glob(f"{split}.parquet"))
        if found:
            return found
    return []


def open_parquet(path: Path):
    import pyarrow
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pyarrow.ArrowException, OSError) as exc:
        raise DataError(str(path), f"not a readable parquet file (truncated or damaged?): {exc}") from None


def require_columns(parquet, path: Path, columns: tuple[str, ...]) -> None:
    present = set(parquet.schema_arrow.names)
    for column in columns:
        if column not in present:
            raise DataError(str(path), f"missing column (columns: {', '.join(sorted(present))})",
                            record="schema", field=column)


def iter_row_groups(parquet, path: Path, columns: list[str]) -> Iterator[tuple[int, object]]:
    """``(first row, table)`` per row group; a damaged group is a DataError naming its rows."""
    import pyarrow

    first = 0
    for group in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        try:
            table = parquet.read_row_group(group, columns=columns)
        except (pyarrow.ArrowException, OSError) as exc:
            raise DataError(str(path), f"cannot read row group {group} (truncated or damaged?): {exc}",
                            record=f"rows {first}-{first + rows - 1}") from None
        yield first, table
        first += rows


def image_cells(column) -> list[tuple[str | None, bytes | None]]:
    """``(path, bytes)`` per row of an image column: a Hugging Face {bytes, path} struct or plain binary."""
    import pyarrow

    array = column.combine_chunks()
    if pyarrow.types.is_struct(array.type):
        names = {array.type.field(i).name for i in range(array.type.num_fields)}
        if "bytes" not in names:
            return [(None, None)] * len(array)
        paths = array.field("path").to_pylist() if "path" in names else [None] * len(array)
        data = array.field("bytes")
        valid = array.is_valid().to_pylist()
        return [(paths[i] if valid[i] else None, data[i].as_py() if valid[i] else None) for i in range(len(array))]
    return [(None, array[i].as_py()) for i in range(len(array))]


def image_digest(data: bytes) -> str:
    """What samples sharing an image have in common (``group``), whatever the file was called."""
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]


def cell_text(value, path: Path, row: int, field: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(str(path), "missing value", record=f"row {row}", field=field)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataError(str(path), f"expected text, got {type(value).__name__}", record=f"row {row}", field=field)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value.strip() if isinstance(value, str) else str(value)


def read_image_question_answer(files: list[Path], benchmark_name: str, split: str,
                               source_format: str) -> list[Sample]:
    """The Hugging Face layout VQA-RAD and PathVQA share: columns ``image``, ``question``, ``answer``.

    These copies carry no OPEN/CLOSED label, so closed means the answer is yes/no (recorded per sample).
    Ids are ``<split>-<row>``, counting rows across the split's shards in file-name order.
    """
    samples: list[Sample] = []
    offset = 0
    for path in files:
        parquet = open_parquet(path)
        require_columns(parquet, path, ("image", "question", "answer"))
        source = str(path)
        for first, table in iter_row_groups(parquet, path, ["question", "answer", "image"]):
            questions = table.column("question").to_pylist()
            answers = table.column("answer").to_pylist()
            cells = image_cells(table.column("image"))
            for i, (question, answer, (image_path, data)) in enumerate(zip(questions, answers, cells)):
                row = first + i
                try:
                    question = cell_text(question, path, row, "question")
                    answer = cell_text(answer, path, row, "answer")
                    if not data:
                        raise DataError(source, "image cell holds no image bytes", record=f"row {row}", field="image")
                except DataError as exc:
                    report_problem(exc)
                    continue
                samples.append(Sample(
                    id=f"{split}-{offset + row}",
                    benchmark=benchmark_name,
                    split=split,
                    question=question,
                    answer=answer,
                    **closed_or_open(answer),
                    images=[ImageRef.parquet_cell(path, row, "image", label=image_path or f"row {row}")],
                    group=image_digest(data),
                    meta={"question": question, "answer": answer, "image_path": image_path, "row": row,
                          "source_file": source, "source_format": source_format,
                          "closed_definition": CLOSED_BY_YES_NO},
                ))
        offset += parquet.metadata.num_rows
    return samples
