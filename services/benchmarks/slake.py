"""SLAKE: ``train.json`` / ``validate.json`` (``validation.json``) / ``test.json`` + ``imgs/`` or ``imgs.zip``.

English by default (the standard benchmark); Chinese only when ``language`` asks for it, and the
language is in every sample so that the two are never mixed silently.
"""

from __future__ import annotations

from pathlib import Path

from services.benchmarks.images import ImageRef, zip_members
from services.benchmarks.registry import benchmark, iter_json_records, require
from services.benchmarks.sample import DataError, Sample, is_yes_no

SPLIT_FILES = {"test": ("test.json",), "validation": ("validate.json", "validation.json"), "train": ("train.json",)}
LANGUAGES = {"en": ("en",), "zh": ("zh",), "all": ("en", "zh")}


def find_split_file(root: Path, split: str) -> Path:
    for name in SPLIT_FILES[split]:
        for candidate in (root / name, root / "Slake1.0" / name):
            if candidate.is_file():
                return candidate
    raise DataError(str(root), f"no SLAKE {split} file: expected one of {', '.join(SPLIT_FILES[split])}")


def image_resolver(folder: Path):
    """Return ``name -> ImageRef`` for images under ``imgs/`` or inside an unextracted ``imgs.zip``."""
    if (folder / "imgs").is_dir():
        return lambda name: ImageRef.file(folder / "imgs" / name, label=name)
    archive = folder / "imgs.zip"
    if archive.is_file():
        members = zip_members(archive)
        prefix = "imgs/" if any(m.startswith("imgs/") for m in members) else ""

        def from_zip(name: str) -> ImageRef:
            return ImageRef.zip_member(archive, prefix + name, label=name)

        return from_zip
    raise DataError(str(folder), "no SLAKE images: expected an imgs/ folder or imgs.zip")


def read_slake(root: Path, split: str, language: str = "en", benchmark_name: str = "slake") -> list[Sample]:
    if language not in LANGUAGES:
        raise DataError(str(root), f"unknown language {language!r}; valid: {', '.join(LANGUAGES)}")
    path = find_split_file(root, split)
    resolve = image_resolver(path.parent)
    samples = []
    for index, record in iter_json_records(path):
        lang = require(record, "q_lang", path, index)
        if lang not in LANGUAGES[language]:
            continue
        qid = require(record, "qid", path, index, (int, str))
        img_name = require(record, "img_name", path, index)
        question = require(record, "question", path, index)
        answer = str(require(record, "answer", path, index, (str, int, float))).strip()
        answer_type = require(record, "answer_type", path, index).strip().upper()
        if answer_type not in {"OPEN", "CLOSED"}:
            raise DataError(str(path), f"expected OPEN or CLOSED, got {answer_type!r}", record=qid, field="answer_type")
        closed = answer_type == "CLOSED"
        skills = {"content_type": record.get("content_type"), "modality": record.get("modality"),
                  "location": record.get("location"), "base_type": record.get("base_type")}
        samples.append(Sample(
            id=str(qid),
            benchmark=benchmark_name,
            split=split,
            question=question.strip(),
            answer=answer,
            answer_type="closed" if closed else "open",
            closed_kind=("yes_no" if is_yes_no(answer) else "choice") if closed else None,
            images=[resolve(img_name)],
            language=lang,
            skills={k: v for k, v in skills.items() if v not in (None, "")},
            group=str(record.get("img_id", img_name)),
            meta=record,
        ))
    return samples


@benchmark("slake", title="SLAKE (radiology, English by default)", splits=("test", "validation", "train"),
           default_split="test", formats=("SLAKE json + imgs/", "SLAKE json + imgs.zip"),
           options={"language": "en (default), zh or all"})
def load_slake(root: Path, split: str, language: str = "en"):
    return read_slake(root, split, language)
