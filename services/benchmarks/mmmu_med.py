"""MMMU, Health & Medicine: the five medical subjects of the Hugging Face parquet ``MMMU/MMMU``.

Layout: ``<Subject>/validation-00000-of-00001.parquet`` (and ``dev-...``) for Basic_Medical_Science,
Clinical_Medicine, Diagnostics_and_Laboratory_Medicine, Pharmacy and Public_Health; the data path
may be the whole MMMU download (30 subjects): only these five are read. Validation: 150 questions
(145 multiple choice, 5 open). Test answers are hidden, so the test split is not offered.

Columns: ``id, question`` (with ``<image N>`` placeholders), ``options`` (a Python list literal,
"[]" for open questions), ``answer`` (a letter, or text for open questions), ``image_1..image_7``
({bytes, path} or null), ``img_type, topic_difficulty, question_type, subfield, explanation``.
Every image a placeholder names (in the question, then the options) goes to the model, in the
order the placeholders first appear; ``meta["image_placeholders"]`` lists them in that order.
Skills: subject, subfield, topic_difficulty, img_type.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from services.benchmarks.images import ImageRef
from services.benchmarks.parquet import cell_text, image_cells, iter_row_groups, open_parquet, require_columns
from services.benchmarks.registry import benchmark, report_problem
from services.benchmarks.sample import DataError, Option, Sample

SUBJECTS = ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine", "Pharmacy",
            "Public_Health")
IMAGE_COLUMNS = tuple(f"image_{n}" for n in range(1, 8))
TEXT_COLUMNS = ("id", "question", "options", "answer")
OPTIONAL_COLUMNS = ("question_type", "subfield", "topic_difficulty", "img_type", "explanation")
LETTERS = "ABCDEFGHIJ"
_PLACEHOLDER = re.compile(r"<image (\d+)>")


def _literal_list(value, path: Path, record: str, field: str) -> list[str]:
    """A Python list literal of strings, as MMMU stores ``options`` and ``img_type``; never ``eval``."""
    if isinstance(value, list):
        parsed = value
    else:
        try:
            parsed = ast.literal_eval(value) if isinstance(value, str) else None
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parsed = None
    if not isinstance(parsed, list) or not all(isinstance(v, (str, int, float)) for v in parsed):
        raise DataError(str(path), f"expected a list literal of strings, got {str(value)[:80]!r}", record=record,
                        field=field)
    return [str(v).strip() for v in parsed]


def _placeholders(texts: list[str]) -> list[int]:
    order: list[int] = []
    for text in texts:
        for match in _PLACEHOLDER.finditer(text):
            number = int(match.group(1))
            if number not in order:
                order.append(number)
    return order


def _subject_files(root: Path, split: str, subjects: tuple[str, ...]) -> list[tuple[str, Path]]:
    if root.is_file():
        subject = root.parent.name
        if subject not in SUBJECTS:
            raise DataError(str(root), f"not a Health & Medicine subject file (folder {subject!r}); "
                                       f"expected one of {', '.join(SUBJECTS)}")
        return [(subject, root)]
    found = []
    for subject in subjects:
        folder = next((f for f in (root / subject, root / "MMMU" / subject) if f.is_dir()), None)
        files = sorted(folder.glob(f"{split}-*.parquet")) if folder else []
        if not files:
            report_problem(DataError(str(root / subject), f"no {split}-*.parquet for subject {subject}"))
            continue
        found.extend((subject, f) for f in files)
    if not found:
        raise DataError(str(root), f"no MMMU {split} parquet files: expected <Subject>/{split}-*.parquet "
                                   f"for {', '.join(subjects)}")
    return found


def _parse(row: dict, row_index: int, cells: dict[str, tuple], subject: str, path: Path, split: str,
           benchmark_name: str) -> Sample:
    sample_id = cell_text(row["id"], path, row_index, "id")
    record = f"{sample_id} (row {row_index})"
    question = cell_text(row["question"], path, row_index, "question")
    choices = _literal_list(row["options"], path, record, "options")
    raw_answer = cell_text(row["answer"], path, row_index, "answer")
    numbers = _placeholders([question, *choices])
    present = [n for n in range(1, 8) if cells.get(f"image_{n}", (None, None))[1]]
    if not numbers:  # no placeholder at all: the images the row has, in column order
        numbers = present
    images = []
    for number in numbers:
        column = f"image_{number}"
        path_in_cell, data = cells.get(column, (None, None))
        if not data:
            raise DataError(str(path), f"<image {number}> is referenced but the cell holds no image", record=record,
                            field=column)
        images.append(ImageRef.parquet_cell(path, row_index, column, label=path_in_cell or column))
    if not images:
        raise DataError(str(path), "the question has no image", record=record, field="image_1")
    if choices:
        options = [Option(LETTERS[i], text) for i, text in enumerate(choices[:len(LETTERS)])]
        answer = raw_answer.upper()
        if answer not in LETTERS[:len(options)]:
            raise DataError(str(path), f"expected an option letter A-{LETTERS[len(options) - 1]}, got {raw_answer!r}",
                            record=record, field="answer")
        answers = [answer]
    else:
        options = None
        # Some open answers are list literals of accepted variants ("['24/7', '3.429']"): keep them all.
        answers = [raw_answer]
        if raw_answer.startswith("["):
            try:
                answers = _literal_list(raw_answer, path, record, "answer") or [raw_answer]
            except DataError:
                answers = [raw_answer]
        answer = answers[0]
    img_type = row.get("img_type")
    skills = {"subject": subject, "subfield": row.get("subfield"), "topic_difficulty": row.get("topic_difficulty"),
              "img_type": _literal_list(img_type, path, record, "img_type") if img_type else None}
    meta = {k: v for k, v in row.items()}
    meta.update(source_file=str(path), source_format="mmmu_parquet", row=row_index, answers=answers,
                image_placeholders=[f"<image {n}>" for n in numbers],
                unreferenced_images=[f"image_{n}" for n in present if n not in numbers])
    return Sample(
        id=sample_id,
        benchmark=benchmark_name,
        split=split,
        question=question,
        options=options,
        answer=answer,
        answer_type="mcq" if options else "open",
        images=images,
        skills={k: v for k, v in skills.items() if v},
        group=sample_id,
        meta=meta,
    )


def read_mmmu_med(root: Path, split: str = "validation", subjects=None,
                  benchmark_name: str = "mmmu_med") -> list[Sample]:
    if subjects is None or subjects == "":
        chosen = SUBJECTS
    else:
        chosen = tuple(s.strip() for s in (subjects.split(",") if isinstance(subjects, str) else subjects) if s.strip())
        unknown = [s for s in chosen if s not in SUBJECTS]
        if unknown:
            raise DataError(str(root), f"unknown subject(s) {unknown}; valid: {', '.join(SUBJECTS)}")
    samples = []
    for subject, path in _subject_files(root, split, chosen):
        parquet = open_parquet(path)
        require_columns(parquet, path, TEXT_COLUMNS)
        names = set(parquet.schema_arrow.names)
        columns = [c for c in TEXT_COLUMNS + OPTIONAL_COLUMNS + IMAGE_COLUMNS if c in names]
        for first, table in iter_row_groups(parquet, path, columns):
            text = {c: table.column(c).to_pylist() for c in columns if c not in IMAGE_COLUMNS}
            images = {c: image_cells(table.column(c)) for c in IMAGE_COLUMNS if c in names}
            for i in range(table.num_rows):
                row = {c: values[i] for c, values in text.items()}
                cells = {c: values[i] for c, values in images.items()}
                try:
                    samples.append(_parse(row, first + i, cells, subject, path, split, benchmark_name))
                except DataError as exc:
                    report_problem(exc)
    return samples


@benchmark("mmmu_med", title="MMMU, Health & Medicine (5 subjects)", splits=("validation", "dev"),
           default_split="validation", formats=("Hugging Face parquet <Subject>/<split>-*.parquet",),
           options={"subjects": f"comma-separated subset of {', '.join(SUBJECTS)}"})
def load_mmmu_med(root: Path, split: str, subjects=None):
    return read_mmmu_med(root, split, subjects)
