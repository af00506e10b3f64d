"""Compatibility scorers: other toolkits' rules, kept as NAMED alternatives so that a user can see
how far a published number's convention is from medgrid's. Never the default.

Each rule replaces only the accuracy decision for the items it applies to; extraction, the other
metrics and the unparsed count are medgrid's. The reply is read whole (after removing think
blocks), as those toolkits do.

* ``yes_no_substring``: closed yes/no is right when the gold word occurs anywhere in the reply, so
  "normal" counts as "no" (the substring bug REFERENCE.md warns about).
* ``closed_recall_0.4``: a closed answer is right when token recall of the gold answer is >= 0.4,
  with "not" also matching "no".
* ``open_recall_0.75``: an open answer is right when token recall of the gold answer is >= 0.75.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from services.scoring.judge import SCORER_NAME, Judgement, answer_kind, judge
from services.scoring.metrics import token_recall
from services.scoring.text import strip_think, tokens

Rule = Callable[[dict, str], "bool | None"]  # None: the rule does not apply to this item
Scorer = Callable[..., Judgement]


def yes_no_substring(sample: dict, reply: str) -> bool | None:
    if answer_kind(sample) != "yes_no":
        return None
    return str(sample["answer"]).strip().lower() in reply.lower()


def closed_recall_04(sample: dict, reply: str) -> bool | None:
    if sample.get("answer_type") != "closed":
        return None
    said = " ".join("no" if word == "not" else word for word in tokens(reply))
    return token_recall(said, str(sample["answer"])) >= 0.4


def open_recall_075(sample: dict, reply: str) -> bool | None:
    if sample.get("answer_type") != "open":
        return None
    return token_recall(reply, str(sample["answer"])) >= 0.75


COMPAT_RULES: dict[str, Rule] = {
    "yes_no_substring": yes_no_substring,
    "closed_recall_0.4": closed_recall_04,
    "open_recall_0.75": open_recall_075,
}


def judge_compat(rule_name: str, sample: dict, response: str | None, error: str | None = None) -> Judgement:
    """medgrid's judgement with the accuracy decision replaced by a compatibility rule."""
    judgement = judge(sample, response, error)
    if error is not None or response is None:
        return judgement
    verdict = COMPAT_RULES[rule_name](sample, strip_think(response))
    if verdict is None:
        return judgement
    return replace(judgement, correct=verdict, metrics={**judgement.metrics, "accuracy": float(verdict)})


def _scorer(rule_name: str) -> Scorer:
    def score(sample: dict, response: str | None, error: str | None = None) -> Judgement:
        return judge_compat(rule_name, sample, response, error)

    score.__name__ = f"judge_{rule_name}"
    return score


# Scorer name -> judge function. The name (with SCORER_VERSION) is what score rows record.
SCORERS: dict[str, Scorer] = {
    SCORER_NAME: judge,
    **{f"{SCORER_NAME}-compat-{name}": _scorer(name) for name in COMPAT_RULES},
}


def get_scorer(name: str) -> Scorer:
    try:
        return SCORERS[name]
    except KeyError:
        raise KeyError(f"unknown scorer {name!r}; valid: {', '.join(SCORERS)}") from None
