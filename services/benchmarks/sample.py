"""The unified sample schema every benchmark adapter yields (DESIGN.md, "Sample")."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from services.benchmarks.images import ImageError, ImageRef

ANSWER_TYPES = ("closed", "open", "mcq")
CLOSED_KINDS = ("yes_no", "choice")
REASONING_LEVELS = ("understanding", "reasoning")

# Toolkits disagree on what "closed" means; every closed/open sample says which definition it got
# in ``meta["closed_definition"]``:
CLOSED_BY_LABEL = "dataset_label"  # the dataset's own OPEN/CLOSED label (SLAKE, VQA-RAD JSON)
CLOSED_BY_YES_NO = "yes_no_answer"  # closed exactly when the answer is yes/no (parquet copies, PathVQA)

# Keys adapters add to ``Sample.meta`` beside the raw record's own fields:
#   source_file, source_format   which file and which download layout the sample came from
#   closed_definition            CLOSED_BY_LABEL or CLOSED_BY_YES_NO (closed/open samples only)
#   options_in_question          True when the question text already lists the options (MedXpertQA):
#                                the prompt builder must not list them again
#   image_placeholders           MMMU: the ``<image N>`` tokens, in the order ``images`` follows


class DataError(ValueError):
    """Malformed benchmark input. The message names the file, the record and the field."""

    def __init__(self, file: str, message: str, record: str | int | None = None, field: str | None = None):
        self.file, self.record, self.field = str(file), record, field
        where = self.file
        if record is not None:
            where += f", record {record}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Option:
    label: str
    text: str


@dataclass
class Sample:
    id: str
    benchmark: str
    split: str
    question: str
    answer: str
    answer_type: str
    images: list[ImageRef] = field(default_factory=list)
    options: list[Option] | None = None
    answer_text: str = ""
    closed_kind: str | None = None
    language: str = "en"
    skills: dict[str, Any] = field(default_factory=dict)
    reasoning_level: str | None = None
    group: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.answer_type not in ANSWER_TYPES:
            raise ValueError(f"sample {self.id}: answer_type {self.answer_type!r} not in {ANSWER_TYPES}")
        if self.closed_kind not in (None, *CLOSED_KINDS):
            raise ValueError(f"sample {self.id}: closed_kind {self.closed_kind!r} not in {CLOSED_KINDS}")
        if self.reasoning_level not in (None, *REASONING_LEVELS):
            raise ValueError(f"sample {self.id}: reasoning_level {self.reasoning_level!r}")
        if not self.answer_text:
            self.answer_text = self.option_text(self.answer) if self.options else self.answer

    def option_text(self, label: str) -> str:
        for option in self.options or []:
            if option.label == label:
                return option.text
        return ""

    def text_hash(self) -> str:
        payload = json.dumps(
            [self.question, [[o.label, o.text] for o in self.options or []], self.answer],
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def content_hash(self, image_sha256: Callable[[ImageRef], str] | None = None) -> str:
        """Hash of question, options, answer and image bytes: part of the sample's identity.

        ``image_sha256`` may memoise image digests: OmniMedVQA asks about five questions per image.

        An image that cannot be read is hashed as its reference, marked unreadable, so that one
        missing file fails its own sample when the run reads it, not the whole run's registration;
        once the file is there the hash changes, so nothing cached without it is reused.
        """
        digest = hashlib.sha256(self.text_hash().encode())
        for image in self.images:
            try:
                digest.update((image_sha256 or ImageRef.sha256)(image).encode())
            except ImageError:
                digest.update(f"unreadable:{image.describe()}".encode())
        return digest.hexdigest()

    def record(self) -> dict[str, Any]:
        """The JSON-safe row stored in the database (no image bytes)."""
        return {
            "key": self.id,
            "benchmark": self.benchmark,
            "split": self.split,
            "question": self.question,
            "options": [{"label": o.label, "text": o.text} for o in self.options] if self.options else None,
            "answer": self.answer,
            "answer_text": self.answer_text,
            "answer_type": self.answer_type,
            "closed_kind": self.closed_kind,
            "language": self.language,
            "skills": self.skills,
            "reasoning_level": self.reasoning_level,
            "group": self.group,
            "images": [image.to_json() for image in self.images],
            "meta": self.meta,
        }


YES_NO = {"yes", "no"}


def is_yes_no(answer: str) -> bool:
    return answer.strip().lower().rstrip(".") in YES_NO


def closed_or_open(answer: str, labelled_closed: bool | None = None) -> dict:
    """``answer_type`` and ``closed_kind`` of a VQA sample. Closed is the layout's OPEN/CLOSED label
    when it is used (``labelled_closed``), else a yes/no answer; a closed question is yes/no or a
    choice ("CT or MRI?")."""
    yes_no = is_yes_no(answer)
    closed = yes_no if labelled_closed is None else labelled_closed
    return {"answer_type": "closed" if closed else "open",
            "closed_kind": ("yes_no" if yes_no else "choice") if closed else None}
