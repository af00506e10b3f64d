"""PMC-VQA: CSV question files + figures from folders or unextracted zips.

Splits and files (the split is part of every score: the files differ a lot):
- ``test_clean``: ``test_clean.csv``, 2,000 manually checked questions (the default);
- ``test``: ``test.csv``; ``test_2``: version 2, ``test_2.csv`` (the name varies: see SPLIT_FILES);
- ``train`` / ``train_2`` likewise.
Two column layouts, told apart by their header, not their file name:
- v1: ``Figure_path, Question, Answer, Choice A..D`` (values "A:..."), ``Answer_label`` (a letter);
- v2: ``index, Figure_path, Caption, Question, Choice A..D, Answer`` (a letter), ``split``.
All items are 4-option multiple choice. Answer letters are unbalanced (a constant "C" scores about
38% on test_2), so ``inspect`` reports the letter counts for the majority baseline.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from services.benchmarks import files
from services.benchmarks.files import find_image_source, safe_relative
from services.benchmarks.registry import benchmark, report_problem
from services.benchmarks.sample import DataError, Option, Sample

SPLIT_FILES = {
    "test_clean": ("test_clean.csv",),
    "test": ("test.csv",),
    "test_2": ("test_2.csv", "test2.csv", "test_v2.csv"),
    "train": ("train.csv",),
    "train_2": ("train_2.csv", "train2.csv", "train_v2.csv"),
}
LETTERS = ("A", "B", "C", "D")
V1_COLUMNS = ("Figure_path", "Question", "Answer_label") + tuple(f"Choice {x}" for x in LETTERS)
V2_COLUMNS = ("Figure_path", "Question", "Answer") + tuple(f"Choice {x}" for x in LETTERS)
IMAGE_FOLDERS = {"v1": ("figures", "images", "images_2"), "v2": ("images_2", "figures", "images")}
IMAGE_ZIPS = {"v1": ("images.zip", "images_2.zip"), "v2": ("images_2.zip", "images.zip")}
_CHOICE_PREFIX = re.compile(r"^\s*([A-Da-d])\s*[:.)]\s*")
_LETTER = re.compile(r"^\s*([A-Da-d])\s*(?:$|[:.)])")


def find_split_file(root: Path, split: str) -> Path:
    return files.find_split_file(root, split, SPLIT_FILES, ("PMC-VQA",), "PMC-VQA")


def _layout(header: list[str], path: Path) -> str:
    columns = set(header)
    if "Answer_label" in columns:
        layout, required = "v1", V1_COLUMNS
    else:
        layout, required = "v2", V2_COLUMNS
    for column in required:
        if column not in columns:
            raise DataError(str(path), f"missing column for the PMC-VQA {layout} layout "
                                       f"(header: {', '.join(header)})", record="header", field=column)
    return layout


def _cell(row: dict, column: str, path: Path, line: int) -> str:
    value = row.get(column)
    if value is None or not value.strip():
        raise DataError(str(path), "missing value", record=f"line {line}", field=column)
    return value.strip()


def _parse(row: dict, line: int, row_number: int, layout: str, path: Path, source, split: str,
           benchmark_name: str) -> Sample:
    figure = safe_relative(_cell(row, "Figure_path", path, line), path, f"line {line}", "Figure_path")
    question = _cell(row, "Question", path, line)
    options = []
    for letter in LETTERS:
        text = _cell(row, f"Choice {letter}", path, line)
        prefix = _CHOICE_PREFIX.match(text)
        if prefix and prefix.group(1).upper() == letter:
            text = text[prefix.end():].strip()
        if not text:
            raise DataError(str(path), "option has no text after its letter", record=f"line {line}",
                            field=f"Choice {letter}")
        options.append(Option(letter, text))
    answer_column = "Answer_label" if layout == "v1" else "Answer"
    letter = _LETTER.match(_cell(row, answer_column, path, line))
    if not letter:
        raise DataError(str(path), f"expected a letter A-D, got {row[answer_column]!r}", record=f"line {line}",
                        field=answer_column)
    sample_id = row.get("index", "").strip() if layout == "v2" else ""
    meta = {k: v for k, v in row.items() if k is not None}
    meta.update(line=line, source_file=str(path), source_format=f"pmc_vqa_{layout}_csv")
    return Sample(
        id=sample_id or str(row_number),
        benchmark=benchmark_name,
        split=split,
        question=question,
        options=options,
        answer=letter.group(1).upper(),
        answer_type="mcq",
        images=[source.ref(figure)],
        group=figure,
        meta=meta,
    )


def read_pmc_vqa(root: Path, split: str = "test_clean", images: Path | None = None,
                 benchmark_name: str = "pmc_vqa") -> list[Sample]:
    path = find_split_file(root, split)
    samples = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            layout = _layout(list(reader.fieldnames or []), path)
            source = find_image_source([path.parent, root if root.is_dir() else path.parent], IMAGE_FOLDERS[layout],
                                       IMAGE_ZIPS[layout], tuple(f"{f}/" for f in IMAGE_FOLDERS[layout]), images,
                                       "PMC-VQA figures")
            for row_number, row in enumerate(reader):
                try:
                    samples.append(_parse(row, reader.line_num, row_number, layout, path, source, split,
                                          benchmark_name))
                except DataError as exc:
                    report_problem(exc)
    except UnicodeDecodeError as exc:
        raise DataError(str(path), f"not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise DataError(str(path), f"malformed CSV: {exc}") from None
    except OSError as exc:
        raise DataError(str(path), f"cannot read: {exc.strerror or exc}") from None
    return samples


@benchmark("pmc_vqa", title="PMC-VQA (PubMed Central figures, multiple choice)", splits=tuple(SPLIT_FILES),
           default_split="test_clean",
           formats=("v1 CSV (Answer_label) + figures/ or images.zip", "v2 CSV (test_2.csv) + images_2.zip"),
           options={"images": "folder or zip holding the figures, when not beside the CSV"},
           path_options=("images",))
def load_pmc_vqa(root: Path, split: str, images: Path | None = None):
    return read_pmc_vqa(root, split, images)
