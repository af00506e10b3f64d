"""What a benchmark download holds, and what is wrong with it, as one JSON-safe dict.

``inspect_benchmark`` reads the benchmark with problems collected instead of raised (see
``registry.collect_problems``), then checks that every image is there without decoding it (or
decodes it, on request), so one call lists every problem at once. What the caller chose (an unknown
benchmark, split or option, a path outside MEDGRID_DATA_ROOTS) is still raised: that is a usage
error, not a finding about the data.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from services.benchmarks import registry
from services.benchmarks.images import ImageError
from services.benchmarks.sample import DataError, Sample


def _counts(counter: Counter) -> dict[str, int]:
    """Most common first, ties by name, so the output is stable."""
    return {str(k): v for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def _error(file, record, field, message) -> dict:
    return {"file": str(file), "record": None if record is None else str(record), "field": field, "message": message}


def _from_data_error(exc: DataError) -> dict:
    message = str(exc).split(": ", 1)[1] if ": " in str(exc) else str(exc)
    return _error(exc.file, exc.record, exc.field, message)


def image_problems(samples: list[Sample], decode: bool = False) -> list[dict]:
    """One entry per image that is missing (or, with ``decode``, that does not decode)."""
    found = []
    for sample in samples:
        for i, image in enumerate(sample.images):
            if decode:
                try:
                    image.open()
                except ImageError as exc:
                    found.append(_error(image.describe(), sample.id, f"images[{i}]", str(exc)))
            elif not image.exists():
                found.append(_error(image.describe(), sample.id, f"images[{i}]", "image not found"))
    return found


def summarise(samples: list[Sample]) -> dict:
    """Counts by answer type, closed kind and definition, language, level, skill, format and image count."""
    answer_types, closed_kinds, definitions, languages, levels = Counter(), Counter(), Counter(), Counter(), Counter()
    formats, files, image_counts, mcq_answers = Counter(), Counter(), Counter(), Counter()
    skills: dict[str, Counter] = {}
    groups = set()
    options_in_question = 0
    for s in samples:
        answer_types[s.answer_type] += 1
        if s.answer_type == "closed":
            closed_kinds[s.closed_kind] += 1
        if s.answer_type == "mcq":
            mcq_answers[s.answer] += 1
        meta = s.meta if isinstance(s.meta, dict) else {}
        if s.answer_type != "mcq" and meta.get("closed_definition"):
            definitions[meta["closed_definition"]] += 1
        options_in_question += bool(meta.get("options_in_question"))
        formats[meta.get("source_format", "unknown")] += 1
        files[meta.get("source_file", "unknown")] += 1
        languages[s.language] += 1
        levels[s.reasoning_level or "unlabelled"] += 1
        image_counts[len(s.images)] += 1
        groups.add(s.group if s.group is not None else s.id)
        for facet, value in s.skills.items():
            labels = value if isinstance(value, (list, tuple, set)) else [value]
            counter = skills.setdefault(facet, Counter())
            for label in labels:
                counter[label] += 1
    return {
        "n": len(samples),
        "by_answer_type": _counts(answer_types),
        "closed_kind": _counts(closed_kinds),
        "closed_definition": _counts(definitions),
        "mcq_answers": _counts(mcq_answers),
        "options_in_question": options_in_question,
        "languages": _counts(languages),
        "reasoning_level": _counts(levels),
        "skills": {facet: _counts(counter) for facet, counter in sorted(skills.items())},
        "formats": _counts(formats),
        "files": sorted(files),
        "images": {"total": sum(k * v for k, v in image_counts.items()),
                   "per_sample": {str(k): v for k, v in sorted(image_counts.items())}},
        "groups": len(groups),
    }


def inspect_benchmark(name: str, data: str | Path, split: str | None = None, *, check_images: bool = True,
                      decode_images: bool = False, max_errors: int = 200, settings=None, **options) -> dict:
    """Read benchmark ``name`` from ``data`` and describe it; problems go to ``errors``, not exceptions.

    Keys: benchmark, title, split, data, options, n, by_answer_type, closed_kind, closed_definition,
    mcq_answers, options_in_question, languages, reasoning_level, skills (facet -> label -> count),
    formats, files, images, groups, errors (at most ``max_errors`` of {file, record, field, message})
    and error_count (all of them). Raises UnknownBenchmark or DataError for usage errors only.
    """
    spec, root, split, options = registry.prepare(name, data, split, settings, **options)
    with registry.collect_problems() as problems:
        try:
            samples = registry.read_benchmark(spec, root, split, options)
        except DataError as exc:  # a problem the adapter cannot read past (no annotation file, ...)
            problems.append(exc)
            samples = []
    errors = [_from_data_error(p) for p in problems]
    if check_images or decode_images:
        errors += image_problems(samples, decode=decode_images)
    return {
        "benchmark": spec.name,
        "title": spec.title,
        "split": split,
        "data": str(root),
        "options": {k: str(v) for k, v in options.items()},
        **summarise(samples),
        "errors": errors[:max_errors],
        "error_count": len(errors),
    }
