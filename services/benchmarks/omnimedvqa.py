"""OmniMedVQA: ``QA_information/Open-access/<SourceDataset>.json`` lists + ``Images/<SourceDataset>/...``.

Every item is multiple choice (2-4 options); ``gt_answer`` is the option *text*, turned into its
letter here. One source file spells ``modality_type`` as ``modality``: both are accepted.
Images are referenced, never opened, so an 89k-item index stays cheap.
"""

from __future__ import annotations

from pathlib import Path

from services.benchmarks.images import ImageRef
from services.benchmarks.registry import benchmark, iter_json_records, require
from services.benchmarks.sample import DataError, Option, Sample

LETTERS = ("A", "B", "C", "D", "E", "F")


def _qa_folder(root: Path) -> Path:
    for candidate in (root / "QA_information" / "Open-access", root / "OmniMedVQA" / "QA_information" / "Open-access"):
        if candidate.is_dir():
            return candidate
    raise DataError(str(root), "no OmniMedVQA index: expected QA_information/Open-access/*.json")


def _as_set(value) -> set[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return {v.strip() for v in value.split(",") if v.strip()}
    return set(value)


def read_omnimedvqa(root: Path, split: str = "test", datasets=None, question_types=None, modalities=None,
                    benchmark_name: str = "omnimedvqa") -> list[Sample]:
    qa = _qa_folder(root)
    image_root = qa.parent.parent
    wanted_datasets, wanted_types, wanted_modalities = _as_set(datasets), _as_set(question_types), _as_set(modalities)
    files = sorted(qa.glob("*.json"))
    if not files:
        raise DataError(str(qa), "no *.json files")
    samples = []
    for path in files:
        if wanted_datasets and path.stem not in wanted_datasets:
            continue
        for index, record in iter_json_records(path):
            question = require(record, "question", path, index)
            gt = str(require(record, "gt_answer", path, index, (str, int, float))).strip()
            image_path = require(record, "image_path", path, index)
            modality = record.get("modality_type", record.get("modality"))
            if modality is None:
                raise DataError(str(path), "missing field (also looked for 'modality')", record=index, field="modality_type")
            question_type = require(record, "question_type", path, index)
            if wanted_types and question_type not in wanted_types:
                continue
            if wanted_modalities and modality not in wanted_modalities:
                continue
            options = [Option(letter, str(record[f"option_{letter}"]).strip())
                       for letter in LETTERS if record.get(f"option_{letter}") not in (None, "")]
            if len(options) < 2:
                raise DataError(str(path), "fewer than two options", record=index, field="option_A")
            matches = [o.label for o in options if o.text == gt] or \
                      [o.label for o in options if o.text.lower() == gt.lower()]
            if len(matches) != 1:
                raise DataError(str(path), f"gt_answer {gt!r} matches {len(matches)} options", record=index,
                                field="gt_answer")
            dataset = str(record.get("dataset") or path.stem)
            sample_id = str(record.get("question_id") or f"{path.stem}:{index}")
            samples.append(Sample(
                id=sample_id,
                benchmark=benchmark_name,
                split=split,
                question=question.strip(),
                options=options,
                answer=matches[0],
                answer_text=gt,
                answer_type="mcq",
                images=[ImageRef.file(image_root / image_path, label=image_path)],
                skills={"question_type": question_type, "modality": modality, "dataset": dataset},
                group=image_path,
                meta=record,
            ))
    return samples


@benchmark("omnimedvqa", title="OmniMedVQA (open-access part)", splits=("test",), default_split="test",
           formats=("QA_information/Open-access/*.json + Images/",),
           options={"datasets": "comma-separated source datasets", "question_types": "comma-separated question types",
                    "modalities": "comma-separated modalities"})
def load_omnimedvqa(root: Path, split: str, datasets=None, question_types=None, modalities=None):
    return read_omnimedvqa(root, split, datasets, question_types, modalities)
