"""VQA-RAD: three downloads, one benchmark.

- the derived ``testset.json`` / ``trainset.json`` (+ ``images/``), the layout most papers use;
- the original release ``VQA_RAD Dataset Public.json`` (+ ``VQA_RAD Image Folder/``), where the test
  split is the records whose ``phrase_type`` is ``test_freeform`` or ``test_para`` (300 + 151 = 451);
- the Hugging Face parquet copy ``data/<split>-*.parquet`` (columns image, question, answer).

Closed vs open: the JSON files label it (``answer_type``, which also calls "left or right?" closed);
the parquet copy has no label, so there closed means a yes/no answer. Each sample records which
definition it got (``meta["closed_definition"]``); ``closed="yes_no"`` applies the parquet
definition to the JSON files too, for numbers comparable with toolkits that use the parquet copy.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from services.benchmarks.files import find_image_source, first_existing, safe_relative
from services.benchmarks.parquet import read_image_question_answer, split_files
from services.benchmarks.registry import benchmark, iter_json_records, report_problem, require, require_text
from services.benchmarks.sample import CLOSED_BY_LABEL, CLOSED_BY_YES_NO, DataError, Sample, closed_or_open

ORIGINAL_JSON = "VQA_RAD Dataset Public.json"
DERIVED_JSON = {"test": "testset.json", "train": "trainset.json"}
FORMATS = ("derived_json", "original_json", "parquet")  # what format="auto" tries, in this order
IMAGE_FOLDERS = ("VQA_RAD Image Folder", "images", "imgs", "VQA_RAD_Image_Folder")
IMAGE_ZIPS = ("VQA_RAD Image Folder.zip", "images.zip", "imgs.zip")


def _find(root: Path, split: str, wanted: str) -> tuple[str, list[Path]]:
    """The layout to read and its file(s), given the data path, the split and the ``format`` option."""
    if root.is_file():
        if root.suffix == ".parquet":
            found = ("parquet", [root])
        elif root.name == ORIGINAL_JSON:
            found = ("original_json", [root])
        else:
            found = ("derived_json", [root])
            other = {v: k for k, v in DERIVED_JSON.items()}.get(root.name)
            if other and other != split:
                raise DataError(str(root), f"this file is the {other} split; pass split={other!r}")
        if wanted not in ("auto", found[0]):
            raise DataError(str(root), f"this file is in the {found[0]} layout, not {wanted}")
        return found
    for layout in (FORMATS if wanted == "auto" else (wanted,)):
        if layout == "derived_json":
            path = first_existing([root / DERIVED_JSON[split], root / "data_RAD" / DERIVED_JSON[split]])
        elif layout == "original_json":
            path = first_existing([root / ORIGINAL_JSON, root / "VQA_RAD" / ORIGINAL_JSON])
        else:
            files = split_files(root, split)
            if files:
                return "parquet", files
            path = None
        if path is not None:
            return layout, [path]
    raise DataError(str(root), f"no VQA-RAD {split} data: expected {DERIVED_JSON[split]}, '{ORIGINAL_JSON}' "
                               f"or data/{split}-*.parquet")


def _question_types(value, path: Path, index) -> list[str]:
    """``question_type`` may name several types ("PRES, POS"): each is counted."""
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise DataError(str(path), f"expected text, got {type(value).__name__}", record=index, field="question_type")
    return [t.strip().upper() for t in value.split(",") if t.strip()]


def _unique_ids(records: list[tuple[int, dict, str]]) -> list[str]:
    """``qid`` when unique in the split; otherwise qualified by phrase type, then by position."""
    counts = Counter(qid for _, _, qid in records)
    ids = [qid if counts[qid] == 1 else f"{qid}-{record.get('phrase_type', 'x')}" for _, record, qid in records]
    counts = Counter(ids)
    return [i if counts[i] == 1 else f"{i}-{index}" for i, (index, _, _) in zip(ids, records)]


def _read_json(path: Path, layout: str, split: str, closed: str, images_option: Path | None,
               benchmark_name: str) -> list[Sample]:
    selected: list[tuple[int, dict, str]] = []
    for index, record in iter_json_records(path):
        try:
            qid = str(require(record, "qid", path, index, (int, str)))
            if layout == "original_json":
                phrase = require(record, "phrase_type", path, index).strip()
                if phrase.startswith("test_") != (split == "test"):
                    continue
        except DataError as exc:
            report_problem(exc)
            continue
        selected.append((index, record, qid))
    source = find_image_source([path.parent, path.parent.parent], IMAGE_FOLDERS, IMAGE_ZIPS,
                               tuple(f"{f}/" for f in IMAGE_FOLDERS), images_option, "VQA-RAD images")
    samples = []
    for (index, record, qid), sample_id in zip(selected, _unique_ids(selected)):
        try:
            image_name = safe_relative(require(record, "image_name", path, index), path, index, "image_name")
            question = require(record, "question", path, index).strip()
            answer = require_text(record, "answer", path, index)
            label = require(record, "answer_type", path, index).strip().upper()
            if label not in ("OPEN", "CLOSED"):
                raise DataError(str(path), f"expected OPEN or CLOSED, got {label!r}", record=index, field="answer_type")
            question_types = _question_types(record.get("question_type"), path, index)
        except DataError as exc:
            report_problem(exc)
            continue
        skills = {"question_type": question_types, "image_organ": str(record.get("image_organ") or "").strip().upper(),
                  "phrase_type": str(record.get("phrase_type") or "").strip()}
        record.update(source_file=str(path), source_format=f"vqa_rad_{layout}",
                      closed_definition=CLOSED_BY_LABEL if closed == "label" else CLOSED_BY_YES_NO)
        samples.append(Sample(
            id=sample_id,
            benchmark=benchmark_name,
            split=split,
            question=question,
            answer=answer,
            **closed_or_open(answer, label == "CLOSED" if closed == "label" else None),
            images=[source.ref(image_name)],
            skills={k: v for k, v in skills.items() if v},
            group=image_name,
            meta=record,
        ))
    return samples


def read_vqa_rad(root: Path, split: str = "test", format: str = "auto", closed: str | None = None,
                 images: Path | None = None, benchmark_name: str = "vqa_rad") -> list[Sample]:
    if format not in ("auto", *FORMATS):
        raise DataError(str(root), f"unknown format {format!r}; valid: auto, {', '.join(FORMATS)}")
    if closed not in (None, "label", "yes_no"):
        raise DataError(str(root), f"unknown closed definition {closed!r}; valid: label, yes_no")
    layout, files = _find(root, split, format)
    if layout == "parquet":
        if closed == "label":
            raise DataError(str(files[0]), "the parquet copy has no answer_type column: only closed=yes_no applies")
        return read_image_question_answer(files, benchmark_name, split, "vqa_rad_parquet")
    return _read_json(files[0], layout, split, closed or "label", images, benchmark_name)


@benchmark("vqa_rad", title="VQA-RAD (radiology)", splits=("test", "train"), default_split="test",
           formats=("testset.json / trainset.json + images/", f"'{ORIGINAL_JSON}' + 'VQA_RAD Image Folder/'",
                    "Hugging Face parquet data/<split>-*.parquet"),
           options={"format": f"auto (default: {', '.join(FORMATS)} in that order) or one of them",
                    "closed": "label (JSON default: the answer_type field) or yes_no (closed = yes/no answer; "
                              "the only definition the parquet copy allows)",
                    "images": "folder or zip holding the images, when not beside the JSON"},
           path_options=("images",))
def load_vqa_rad(root: Path, split: str, format: str = "auto", closed: str | None = None, images: Path | None = None):
    return read_vqa_rad(root, split, format, closed, images)
