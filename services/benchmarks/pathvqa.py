"""PathVQA: the Hugging Face parquet copy, or the original release's pickled QA files.

- parquet: ``data/<split>-*.parquet`` (image, question, answer; de-duplicated and lower-cased:
  6,719 test questions);
- original: ``pvqa/qas/<split>/<split>_qa.pkl`` (a list of {image, question, answer}: 6,761 test
  questions) with ``pvqa/images/<split>/<image>.jpg``.

Neither labels closed vs open: closed means the answer is yes/no (about half), recorded per sample.
There are no skill labels in the data.
"""

from __future__ import annotations

import builtins
import pickle
from pathlib import Path

from services.benchmarks.files import find_image_source, safe_relative
from services.benchmarks.parquet import read_image_question_answer, split_files
from services.benchmarks.registry import benchmark, report_problem, require, require_text
from services.benchmarks.sample import CLOSED_BY_YES_NO, DataError, Sample, closed_or_open

FORMATS = ("parquet", "pickle")  # what format="auto" tries, in this order
PICKLE_SPLIT = {"test": "test", "validation": "val", "train": "train"}


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickles plain data only. Our security rules ban pickle for untrusted input because loading
    a pickle can call any importable function; the QA files are lists of dicts of strings, which
    pickle builds without naming any class, so resolving anything but the builtin containers and
    scalars below is refused: a crafted file cannot name a function for pickle to call."""

    ALLOWED = frozenset({"dict", "list", "str", "int", "float"})

    def find_class(self, module: str, name: str):
        if module in ("builtins", "__builtin__") and name in self.ALLOWED:
            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain data is accepted")


def load_plain_pickle(path: Path):
    """The data in a pickle file that holds only dicts, lists, strings and numbers; DataError otherwise."""
    try:
        with path.open("rb") as handle:
            return _PlainDataUnpickler(handle, encoding="utf-8").load()
    except OSError as exc:
        raise DataError(str(path), f"cannot read: {exc.strerror or exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            UnicodeDecodeError, MemoryError) as exc:
        raise DataError(str(path), f"not a plain-data pickle (truncated, damaged or unsafe): {exc}") from None


def _find(root: Path, split: str, wanted: str) -> tuple[str, list[Path]]:
    if root.is_file():
        layout = "parquet" if root.suffix == ".parquet" else "pickle"
        if wanted not in ("auto", layout):
            raise DataError(str(root), f"this file is in the {layout} layout, not {wanted}")
        return layout, [root]
    name = PICKLE_SPLIT[split]
    for layout in (FORMATS if wanted == "auto" else (wanted,)):
        if layout == "parquet":
            files = split_files(root, split)
            if files:
                return "parquet", files
        else:
            for base in (root, root / "pvqa"):
                candidate = base / "qas" / name / f"{name}_qa.pkl"
                if candidate.is_file():
                    return "pickle", [candidate]
    raise DataError(str(root), f"no PathVQA {split} data: expected data/{split}-*.parquet or "
                               f"pvqa/qas/{name}/{name}_qa.pkl")


def _read_pickle(path: Path, split: str, images: Path | None, benchmark_name: str) -> list[Sample]:
    records = load_plain_pickle(path)
    if not isinstance(records, list):
        raise DataError(str(path), f"expected a list of records, got {type(records).__name__}")
    # pvqa/qas/test/test_qa.pkl -> pvqa/images/test/
    release = path.parent.parent.parent
    source = find_image_source([release / "images"], (path.parent.name,), (f"{path.parent.name}.zip",),
                               (f"{path.parent.name}/",), images, "PathVQA images")
    samples = []
    for index, record in enumerate(records):
        try:
            if not isinstance(record, dict):
                raise DataError(str(path), f"expected a dict, got {type(record).__name__}", record=index)
            image = safe_relative(require(record, "image", path, index), path, index, "image")
            question = require(record, "question", path, index).strip()
            answer = require_text(record, "answer", path, index)
        except DataError as exc:
            report_problem(exc)
            continue
        file_name = image if Path(image).suffix else f"{image}.jpg"
        record.update(source_file=str(path), source_format="pathvqa_pickle", closed_definition=CLOSED_BY_YES_NO)
        samples.append(Sample(
            id=f"{split}-{index}",
            benchmark=benchmark_name,
            split=split,
            question=question,
            answer=answer,
            **closed_or_open(answer),
            images=[source.ref(file_name)],
            group=image,
            meta=record,
        ))
    return samples


def read_pathvqa(root: Path, split: str = "test", format: str = "auto", images: Path | None = None,
                 benchmark_name: str = "pathvqa") -> list[Sample]:
    if format not in ("auto", *FORMATS):
        raise DataError(str(root), f"unknown format {format!r}; valid: auto, {', '.join(FORMATS)}")
    layout, files = _find(root, split, format)
    if layout == "parquet":
        return read_image_question_answer(files, benchmark_name, split, "pathvqa_parquet")
    return _read_pickle(files[0], split, images, benchmark_name)


@benchmark("pathvqa", title="PathVQA (pathology)", splits=("test", "validation", "train"), default_split="test",
           formats=("Hugging Face parquet data/<split>-*.parquet", "pvqa/qas/<split>/<split>_qa.pkl + pvqa/images/"),
           options={"format": f"auto (default: {', '.join(FORMATS)} in that order) or one of them",
                    "images": "folder or zip holding the images, for the pickled layout"},
           path_options=("images",))
def load_pathvqa(root: Path, split: str, format: str = "auto", images: Path | None = None):
    return read_pathvqa(root, split, format, images)
