"""OmniMedVQA: ``QA_information/Open-access/<SourceDataset>.json`` lists + ``Images/<SourceDataset>/...``.

Every item is multiple choice (2-4 options); ``gt_answer`` is the option *text*, turned into its
letter here. One source file spells ``modality_type`` as ``modality``: both are accepted.
Images are referenced, never opened, so the 89k-item index stays cheap (see bench/index_omnimedvqa.py).
Skills: ``question_type``, ``modality`` and the source ``dataset`` (RadImageNet alone holds about
55k items, so scores also need macro averages by dataset and modality).
"""

from __future__ import annotations

import os
from pathlib import Path

from services.benchmarks.files import safe_relative
from services.benchmarks.images import ImageRef
from services.benchmarks.registry import benchmark, iter_json_records, report_problem, require, require_text
from services.benchmarks.sample import DataError, Option, Sample

LETTERS = ("A", "B", "C", "D", "E", "F")
QA_FOLDER = ("QA_information", "Open-access")


def _qa_folder(root: Path) -> Path:
    for candidate in (root.joinpath(*QA_FOLDER), root.joinpath("OmniMedVQA", *QA_FOLDER)):
        if candidate.is_dir():
            return candidate
    if root.name == QA_FOLDER[1] and root.is_dir():
        return root
    raise DataError(str(root), "no OmniMedVQA index: expected QA_information/Open-access/*.json")


def _as_set(value, option: str, root: Path) -> set[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return {v.strip() for v in value.split(",") if v.strip()}
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
        return set(value)
    raise DataError(str(root), f"option {option}: expected comma-separated names, got {value!r}")


def _check_filter(wanted: set[str] | None, seen: set[str], option: str, root: Path) -> None:
    """A filter naming a value the data does not have is a typo, not an empty selection."""
    if wanted and wanted - seen:
        report_problem(DataError(str(root), f"option {option}: {sorted(wanted - seen)} not in the data; "
                                            f"valid: {', '.join(sorted(seen))}"))


def _parse(record: dict, index: int, path: Path, image_root: str, split: str, benchmark_name: str,
           question_type: str, modality: str) -> Sample:
    question = require(record, "question", path, index).strip()
    gt = require_text(record, "gt_answer", path, index)
    image_path = safe_relative(require(record, "image_path", path, index), path, index, "image_path")
    options = []
    for letter in LETTERS:
        value = record.get(f"option_{letter}")
        if value is None or value == "":
            continue
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise DataError(str(path), f"expected text, got {type(value).__name__}", record=index,
                            field=f"option_{letter}")
        options.append(Option(letter, str(value).strip()))
    if len(options) < 2:
        raise DataError(str(path), "fewer than two options", record=index, field="option_A")
    matches = [o.label for o in options if o.text == gt] or \
              [o.label for o in options if o.text.casefold() == gt.casefold()]
    if len(matches) != 1:
        raise DataError(str(path), f"gt_answer {gt!r} matches {len(matches)} options", record=index, field="gt_answer")
    dataset = str(record.get("dataset") or path.stem)
    record.update(source_file=str(path), source_format="omnimedvqa_json")
    return Sample(
        id=str(record.get("question_id") or f"{path.stem}:{index}"),
        benchmark=benchmark_name,
        split=split,
        question=question,
        options=options,
        answer=matches[0],
        answer_text=gt,
        answer_type="mcq",
        images=[ImageRef.file(os.path.join(image_root, image_path), label=image_path)],
        skills={"question_type": question_type, "modality": modality, "dataset": dataset},
        group=image_path,
        meta=record,
    )


def read_omnimedvqa(root: Path, split: str = "test", datasets=None, question_types=None, modalities=None,
                    benchmark_name: str = "omnimedvqa") -> list[Sample]:
    qa = _qa_folder(root)
    # image_path values start with "Images/": relative to the release root. A string, not a Path:
    # joining Paths is a third of the time of indexing 89k items.
    image_root = str(qa.parent.parent)
    wanted_datasets = _as_set(datasets, "datasets", root)
    wanted_types = _as_set(question_types, "question_types", root)
    wanted_modalities = _as_set(modalities, "modalities", root)
    files = sorted(qa.glob("*.json"))
    if not files:
        raise DataError(str(qa), "no *.json files")
    _check_filter(wanted_datasets, {p.stem for p in files}, "datasets", root)
    seen_types: set[str] = set()
    seen_modalities: set[str] = set()
    samples = []
    for path in files:
        if wanted_datasets and path.stem not in wanted_datasets:
            continue
        for index, record in iter_json_records(path):
            try:
                question_type = require(record, "question_type", path, index).strip()
                modality = record.get("modality_type", record.get("modality"))
                if modality is None:
                    raise DataError(str(path), "missing field (also looked for 'modality')", record=index,
                                    field="modality_type")
                if not isinstance(modality, str) or not modality.strip():
                    raise DataError(str(path), f"expected text, got {modality!r}", record=index, field="modality_type")
                modality = modality.strip()
                seen_types.add(question_type)
                seen_modalities.add(modality)
                if (wanted_types and question_type not in wanted_types) or \
                        (wanted_modalities and modality not in wanted_modalities):
                    continue
                samples.append(_parse(record, index, path, image_root, split, benchmark_name, question_type, modality))
            except DataError as exc:
                report_problem(exc)
    _check_filter(wanted_types, seen_types, "question_types", root)
    _check_filter(wanted_modalities, seen_modalities, "modalities", root)
    return samples


@benchmark("omnimedvqa", title="OmniMedVQA (open-access part)", splits=("test",), default_split="test",
           formats=("QA_information/Open-access/*.json + Images/",),
           options={"datasets": "comma-separated source datasets (file names without .json)",
                    "question_types": "comma-separated question types", "modalities": "comma-separated modalities"})
def load_omnimedvqa(root: Path, split: str, datasets=None, question_types=None, modalities=None):
    return read_omnimedvqa(root, split, datasets, question_types, modalities)
