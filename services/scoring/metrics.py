"""Open-answer metrics, registered by name.

Every metric takes the prediction and the gold answer as text and returns a number in [0, 1]; both
are tokenised by ``text.tokens`` (the one normaliser). Token overlap counts repeated words as many
times as they occur in both (multiset overlap, as SQuAD does).

Precision, recall and F1 come back as a named tuple, never a bare tuple, so that nobody can unpack
them in the wrong order (a known bug elsewhere made "F1" report recall).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

from services.scoring.text import cached_tokens, tokens

Metric = Callable[[str, str], float]
METRICS: dict[str, Metric] = {}

# The metrics stored for every open answer, in this order; 'accuracy' is added by the judge.
OPEN_METRICS = ("exact_match", "token_recall", "token_precision", "token_f1", "bleu1", "rouge_l", "recall_0.75")
RECALL_THRESHOLD_OPEN = 0.75


def register(name: str) -> Callable[[Metric], Metric]:
    def add(metric: Metric) -> Metric:
        if name in METRICS:
            raise ValueError(f"metric {name!r} registered twice")
        METRICS[name] = metric
        return metric

    return add


class PRF(NamedTuple):
    precision: float
    recall: float
    f1: float


def _overlap(pred: tuple[str, ...], gold: tuple[str, ...]) -> int:
    """Size of the multiset intersection (what ``sum((Counter(a) & Counter(b)).values())`` gives,
    without building two Counters: answers are a few words long)."""
    unmatched: dict[str, int] = {}
    for word in gold:
        unmatched[word] = unmatched.get(word, 0) + 1
    common = 0
    for word in pred:
        left = unmatched.get(word)
        if left:
            unmatched[word] = left - 1
            common += 1
    return common


def token_prf(prediction: str, gold: str) -> PRF:
    pred, ref = tokens(prediction), cached_tokens(gold)
    common = _overlap(pred, ref)
    if common == 0:
        return PRF(0.0, 0.0, 0.0)
    precision, recall = common / len(pred), common / len(ref)
    return PRF(precision, recall, 2 * precision * recall / (precision + recall))


@register("exact_match")
def exact_match(prediction: str, gold: str) -> float:
    pred = tokens(prediction)
    return float(bool(pred) and pred == cached_tokens(gold))


@register("token_recall")
def token_recall(prediction: str, gold: str) -> float:
    return token_prf(prediction, gold).recall


@register("token_precision")
def token_precision(prediction: str, gold: str) -> float:
    return token_prf(prediction, gold).precision


@register("token_f1")
def token_f1(prediction: str, gold: str) -> float:
    return token_prf(prediction, gold).f1


@register("bleu1")
def bleu1(prediction: str, gold: str) -> float:
    """Clipped unigram precision times the brevity penalty (one reference)."""
    pred, ref = tokens(prediction), cached_tokens(gold)
    if not pred or not ref:
        return 0.0
    precision = _overlap(pred, ref) / len(pred)
    brevity = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return precision * brevity


def lcs_length(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


@register("rouge_l")
def rouge_l(prediction: str, gold: str) -> float:
    """F1 of longest-common-subsequence precision and recall (as the rouge-score package)."""
    pred, ref = tokens(prediction), cached_tokens(gold)
    lcs = lcs_length(pred, ref) if pred and ref else 0
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


@register("recall_0.75")
def recall_at_075(prediction: str, gold: str) -> float:
    return float(token_recall(prediction, gold) >= RECALL_THRESHOLD_OPEN)


def open_metrics(prediction: str, gold: str) -> dict[str, float]:
    """All OPEN_METRICS at once; tokenises and counts the overlap once (the judge's hot path)."""
    pred, ref = tokens(prediction), cached_tokens(gold)
    if not pred or not ref:
        return dict.fromkeys(OPEN_METRICS, 0.0)
    common = _overlap(pred, ref)
    precision, recall = common / len(pred), common / len(ref)
    f1 = 2 * precision * recall / (precision + recall) if common else 0.0
    brevity = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    lcs = lcs_length(pred, ref) if common else 0
    rouge = 2 * lcs / (len(pred) + len(ref))  # = 2PR / (P + R) with P = lcs/|pred|, R = lcs/|gold|
    return {
        "exact_match": float(pred == ref),
        "token_recall": recall,
        "token_precision": precision,
        "token_f1": f1,
        "bleu1": precision * brevity,
        "rouge_l": rouge,
        "recall_0.75": float(recall >= RECALL_THRESHOLD_OPEN),
    }
