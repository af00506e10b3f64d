"""MedXpertQA, multimodal subset (MM): 2,000 test questions, 5 options, 1-6 images each.

Two downloads, told apart record by record by their shape:
- Hugging Face ``TsinghuaC3I/MedXpertQA``, config MM: ``MM/test.jsonl`` (``MM/dev.jsonl``): ``options``
  {A..E: text}, ``label`` a letter, ``images`` [file name];
- the authors' evaluation copy ``medxpertqa_mm_input.jsonl``: ``options`` [{letter, content}],
  ``label`` [letter], ``images`` [{image_path}].
Images come from an ``images/`` folder or an unextracted ``images.zip``.

Each question already ends with "Answer Choices: (A) ... (E) ...", so ``meta["options_in_question"]``
is set (measured on the text, not assumed) and the prompt builder does not list the options twice.
``question_type`` gives the study's split: ``reasoning_level`` is ``reasoning`` (1,446) or
``understanding`` (554). ``medical_task`` is normalised ("Basic Science" is "Basic Medicine").
Skills: medical_task, body_system.
"""

from __future__ import annotations

from pathlib import Path

from services.benchmarks.files import find_image_source, first_existing, safe_relative
from services.benchmarks.registry import benchmark, iter_json_records, report_problem, require
from services.benchmarks.sample import REASONING_LEVELS, DataError, Option, Sample

EVAL_COPY = "medxpertqa_mm_input.jsonl"
HF_FILES = {"test": "test.jsonl", "dev": "dev.jsonl"}
MEDICAL_TASKS = {"basic science": "Basic Medicine", "basic medicine": "Basic Medicine", "diagnosis": "Diagnosis",
                 "treatment": "Treatment"}
OPTIONS_MARKER = "Answer Choices:"


def find_split_file(root: Path, split: str) -> Path:
    if root.is_file():
        if root.name == EVAL_COPY and split != "test":
            raise DataError(str(root), "the evaluation copy holds the test split only; pass split='test'")
        other = {v: k for k, v in HF_FILES.items()}.get(root.name)
        if other is not None and other != split:
            raise DataError(str(root), f"this file is the {other} split; pass split={other!r}")
        return root
    candidates = [root / "MM" / HF_FILES[split], root / HF_FILES[split]]
    if split == "test":
        candidates += [root / EVAL_COPY, root / "input" / EVAL_COPY]
    found = first_existing(candidates)
    if found is None:
        raise DataError(str(root), f"no MedXpertQA-MM {split} file: expected MM/{HF_FILES[split]}"
                                   + (f" or {EVAL_COPY}" if split == "test" else ""))
    return found


def _options(value, path: Path, index) -> tuple[list[Option], str]:
    """Options from either layout, and which layout they came in."""
    if isinstance(value, dict):
        pairs, layout = list(value.items()), "hf"
    elif isinstance(value, list):
        pairs, layout = [], "eval"
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("letter"), str) or "content" not in item:
                raise DataError(str(path), "expected a list of {letter, content}", record=index, field="options")
            pairs.append((item["letter"], item["content"]))
    else:
        raise DataError(str(path), f"expected an object or a list, got {type(value).__name__}", record=index,
                        field="options")
    options = []
    for letter, text in pairs:
        if not isinstance(text, (str, int, float)) or isinstance(text, bool) or not str(text).strip():
            raise DataError(str(path), f"option {letter} has no text", record=index, field="options")
        options.append(Option(str(letter).strip().upper(), str(text).strip()))
    letters = [o.label for o in options]
    if len(options) < 2 or len(set(letters)) != len(letters):
        raise DataError(str(path), f"expected at least two distinct option letters, got {letters}", record=index,
                        field="options")
    return options, layout


def _label(value, path: Path, index) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value.strip():
        raise DataError(str(path), f"expected one answer letter, got {value!r}", record=index, field="label")
    return value.strip().upper()


def _image_names(value, path: Path, index) -> list[str]:
    if not isinstance(value, list) or not value:
        raise DataError(str(path), "expected a non-empty list of images", record=index, field="images")
    names = []
    for item in value:
        name = item.get("image_path") if isinstance(item, dict) else item
        names.append(safe_relative(name, path, index, "images"))
    return names


def _parse(record: dict, index: int, path: Path, source, split: str, benchmark_name: str) -> Sample:
    sample_id = str(require(record, "id", path, index, (str, int)))
    question = require(record, "question", path, index).strip()
    options, layout = _options(require(record, "options", path, index, (dict, list)), path, index)
    answer = _label(record.get("label"), path, index)
    if answer not in {o.label for o in options}:
        raise DataError(str(path), f"label {answer!r} is not one of the options", record=index, field="label")
    names = _image_names(record.get("images"), path, index)
    level = require(record, "question_type", path, index).strip().lower()
    if level not in REASONING_LEVELS:
        raise DataError(str(path), f"expected Reasoning or Understanding, got {record['question_type']!r}",
                        record=index, field="question_type")
    task = require(record, "medical_task", path, index).strip()
    body_system = require(record, "body_system", path, index).strip()
    record.update(source_file=str(path), source_format=f"medxpertqa_{layout}_jsonl",
                  options_in_question=OPTIONS_MARKER in question)
    return Sample(
        id=sample_id,
        benchmark=benchmark_name,
        split=split,
        question=question,
        options=options,
        answer=answer,
        answer_type="mcq",
        images=[source.ref(name) for name in names],
        skills={"medical_task": MEDICAL_TASKS.get(task.casefold(), task), "body_system": body_system},
        reasoning_level=level,
        group=sample_id,
        meta=record,
    )


def read_medxpertqa_mm(root: Path, split: str = "test", images: Path | None = None,
                       benchmark_name: str = "medxpertqa_mm") -> list[Sample]:
    path = find_split_file(root, split)
    bases = [path.parent, path.parent.parent] + ([root] if root.is_dir() and root not in (path.parent,) else [])
    source = find_image_source(bases, ("images",), ("images.zip",), ("images/",), images, "MedXpertQA images")
    samples = []
    for index, record in iter_json_records(path):
        try:
            samples.append(_parse(record, index, path, source, split, benchmark_name))
        except DataError as exc:
            report_problem(exc)
    return samples


@benchmark("medxpertqa_mm", title="MedXpertQA, multimodal (understanding vs reasoning labels)",
           splits=("test", "dev"), default_split="test",
           formats=("Hugging Face MM/test.jsonl + images.zip or images/",
                    f"authors' evaluation copy {EVAL_COPY} + images/"),
           options={"images": "folder or zip holding the images, when not beside the JSONL"},
           path_options=("images",))
def load_medxpertqa_mm(root: Path, split: str, images: Path | None = None):
    return read_medxpertqa_mm(root, split, images)
