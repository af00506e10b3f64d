"""SLAKE: ``train.json`` / ``validate.json`` (``validation.json``) / ``test.json`` + ``imgs/`` or ``imgs.zip``.

English by default (the standard benchmark: 1,061 of the test split's 2,094 questions); Chinese
only when ``language`` asks for it. Every sample carries its language, and ``language="all"`` adds a
``language`` skill facet, so the two are never mixed silently in a score.

Closed vs open is SLAKE's own ``answer_type`` label (``closed="yes_no"`` switches to the yes/no
definition); 355 of the 416 English closed test questions are yes/no, the rest are choices such
as "Lung" or "T2".
"""

from __future__ import annotations

from pathlib import Path

from services.benchmarks import files
from services.benchmarks.files import find_image_source, safe_relative
from services.benchmarks.registry import benchmark, iter_json_records, report_problem, require, require_text
from services.benchmarks.sample import CLOSED_BY_LABEL, CLOSED_BY_YES_NO, DataError, Sample, closed_or_open

SPLIT_FILES = {"test": ("test.json",), "validation": ("validate.json", "validation.json"), "train": ("train.json",)}
LANGUAGES = {"en": ("en",), "zh": ("zh",), "all": ("en", "zh")}
SKILL_FIELDS = ("content_type", "modality", "location", "base_type")


def find_split_file(root: Path, split: str) -> Path:
    return files.find_split_file(root, split, SPLIT_FILES, ("Slake1.0", "Slake"), "SLAKE")


def read_slake(root: Path, split: str, language: str = "en", benchmark_name: str = "slake", *,
               closed: str | None = None, images: Path | None = None) -> list[Sample]:
    if language not in LANGUAGES:
        raise DataError(str(root), f"unknown language {language!r}; valid: {', '.join(LANGUAGES)}")
    if closed not in (None, "label", "yes_no"):
        raise DataError(str(root), f"unknown closed definition {closed!r}; valid: label, yes_no")
    by_label = closed in (None, "label")
    path = find_split_file(root, split)
    source = find_image_source([path.parent], ("imgs",), ("imgs.zip",), ("imgs/",), images, "SLAKE images")
    samples = []
    for index, record in iter_json_records(path):
        try:
            lang = require(record, "q_lang", path, index)
            if lang not in LANGUAGES[language]:
                continue
            qid = require(record, "qid", path, index, (int, str))
            img_name = safe_relative(require(record, "img_name", path, index), path, index, "img_name")
            question = require(record, "question", path, index).strip()
            answer = require_text(record, "answer", path, index)
            label = require(record, "answer_type", path, index).strip().upper()
            if label not in {"OPEN", "CLOSED"}:
                raise DataError(str(path), f"expected OPEN or CLOSED, got {label!r}", record=index, field="answer_type")
        except DataError as exc:
            report_problem(exc)
            continue
        skills = {key: record.get(key) for key in SKILL_FIELDS}
        if language == "all":
            skills["language"] = lang
        record.update(source_file=str(path), source_format="slake_json",
                      closed_definition=CLOSED_BY_LABEL if by_label else CLOSED_BY_YES_NO)
        samples.append(Sample(
            id=str(qid),
            benchmark=benchmark_name,
            split=split,
            question=question,
            answer=answer,
            **closed_or_open(answer, label == "CLOSED" if by_label else None),
            images=[source.ref(img_name)],
            language=lang,
            skills={k: v for k, v in skills.items() if isinstance(v, str) and v.strip()},
            group=str(record.get("img_id", img_name)),
            meta=record,
        ))
    return samples


@benchmark("slake", title="SLAKE (radiology, English by default)", splits=("test", "validation", "train"),
           default_split="test", formats=("SLAKE json + imgs/", "SLAKE json + imgs.zip"),
           options={"language": "en (default), zh or all (all adds a language facet)",
                    "closed": "label (default: SLAKE's answer_type) or yes_no (closed = yes/no answer)",
                    "images": "folder or zip holding the images, when not beside the JSON"},
           path_options=("images",))
def load_slake(root: Path, split: str, language: str = "en", closed: str | None = None, images: Path | None = None):
    return read_slake(root, split, language, closed=closed, images=images)
