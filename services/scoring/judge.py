"""Judging one prediction: read the answer from the reply, decide whether it is right, and record
how it was read.

Headline accuracy by answer kind (the study's metric is accuracy everywhere):
* mcq: the extracted option letter equals the gold letter;
* closed yes/no: the whole-word yes/no read from the reply equals the gold answer;
* closed choice ("CT or MRI?"): normalised exact match with the gold answer;
* open: normalised exact match, except MMMU, whose open answers are judged by MMMU's own matcher.
  The literature's softer open metrics (token recall, F1, BLEU-1, ROUGE-L, recall >= 0.75) are
  stored beside accuracy for every open answer.

An unparsed reply, a missing reply and a failed sample (``error``) are all wrong; ``parsed`` is
false for each, so they are counted in ``n_unparsed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.scoring.extract import AnswerSpace, Extraction, Step, extract
from services.scoring.metrics import OPEN_METRICS, open_metrics
from services.scoring.mmmu import mmmu_open_correct
from services.scoring.text import cached_normalise, strip_think

SCORER_NAME = "medgrid"
# Bump when any extraction, normalisation or metric rule changes: stored scores carry it.
SCORER_VERSION = "1.0"


@dataclass(frozen=True)
class Judgement:
    extracted: str | None   # letter (mcq), 'yes'/'no', or normalised text; None when unparsed
    method: str             # extraction step that answered, or 'unparsed' / 'error'
    parsed: bool
    correct: bool           # the headline accuracy decision
    metrics: dict[str, float] = field(default_factory=dict)  # 'accuracy' always, open metrics for open


def answer_kind(sample: dict) -> str:
    """'mcq', 'yes_no', 'choice' or 'open'. A closed sample whose kind is not given is yes/no when
    its gold answer is yes or no; one labelled yes/no whose gold is neither is judged as a choice."""
    answer_type = sample.get("answer_type")
    if answer_type in ("mcq", "open"):
        return answer_type
    if answer_type != "closed":
        raise ValueError(f"sample {sample.get('key')!r}: answer_type {answer_type!r} is not closed, open or mcq")
    gold_is_yes_no = cached_normalise(str(sample.get("answer", ""))) in ("yes", "no")
    if sample.get("closed_kind") == "choice":
        return "choice"
    return "yes_no" if gold_is_yes_no else "choice"


def uses_mmmu_matcher(sample: dict) -> bool:
    return str(sample.get("benchmark", "")).startswith("mmmu")


def _metric_names(kind: str) -> tuple[str, ...]:
    return ("accuracy", *OPEN_METRICS) if kind == "open" else ("accuracy",)


def failed(kind: str, method: str) -> Judgement:
    """A wrong, unparsed judgement ('unparsed' or 'error') with every metric at 0."""
    return Judgement(None, method, False, False, dict.fromkeys(_metric_names(kind), 0.0))


def judge_extraction(sample: dict, kind: str, found: Extraction) -> Judgement:
    """The correctness decision and metrics for an extraction already made."""
    if found.value is None:
        return failed(kind, found.method)
    gold = str(sample.get("answer", ""))
    if kind == "mcq":
        correct = found.value == gold.strip().upper()
    elif kind == "open":
        metrics = open_metrics(found.value, gold)
        if uses_mmmu_matcher(sample):
            correct = mmmu_open_correct(sample.get("answer"), found.span or "")
        else:
            correct = metrics["exact_match"] == 1.0
        return Judgement(found.value, found.method, True, correct, {"accuracy": float(correct), **metrics})
    else:  # yes_no (value already 'yes'/'no') and choice (value already normalised)
        correct = found.value == cached_normalise(gold)
    return Judgement(found.value, found.method, True, correct, {"accuracy": float(correct)})


def judge(sample: dict, response: str | None, error: str | None = None, *,
          fallback: Step | None = None) -> Judgement:
    """Judge one reply to ``sample`` (a ``Sample.record()`` dict).

    ``error`` marks a sample that failed before or during generation (corrupt image, over-long
    input): it is wrong, with method 'error'. ``fallback`` is an extra last extraction step, off by
    default (e.g. ``extract.RANDOM_LETTER`` to reproduce MMMU's official parser).
    """
    kind = answer_kind(sample)
    if error is not None:
        return failed(kind, "error")
    if response is None:
        return failed(kind, "unparsed")
    text = strip_think(response)
    found = extract(text, AnswerSpace.for_sample(sample, kind), fallback=fallback)
    return judge_extraction(sample, kind, found)


def stored_judgement(sample: dict, extracted: str | None, method: str, correct: bool | None) -> Judgement:
    """The judgement ``judge`` made earlier (same scorer version), rebuilt from the three columns a
    prediction stores; open answers' metrics are recomputed from the stored extraction, which is
    all they depend on. Lets scoring aggregate predictions judged while the run was still going."""
    kind = answer_kind(sample)
    if extracted is None:
        return failed(kind, method)
    if kind == "open":
        return Judgement(extracted, method, True, bool(correct),
                         {"accuracy": float(bool(correct)), **open_metrics(extracted, str(sample.get("answer", "")))})
    return Judgement(extracted, method, True, bool(correct), {"accuracy": float(bool(correct))})

