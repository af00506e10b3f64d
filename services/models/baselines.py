"""Baselines that honour the adapter contract without a network or weights.

They answer in the study's format (``\\boxed{...}``) so the same extraction reads them. Each
reply depends only on the request (and the seed), never on batching or order.

* ``echo``: a fixed reply, instantly; measures the grid's own overhead.
* ``always_yes``: ``\\boxed{yes}`` for everything (the floor for yes/no questions).
* ``random``: seeded per request; a random option letter for multiple choice, yes or no for
  closed yes/no questions (and closed questions of unknown kind), a fixed phrase otherwise.
* ``majority``: the answer prior of a split the user names (``extra: {benchmark, data, split}``):
  the most common answer for the request's answer kind; for multiple choice the most common
  letter among the request's options (PMC-VQA test_2's unbalanced letters make this matter).
"""

from __future__ import annotations

import random
import time
from collections import Counter

from services.models.base import GenerationOutput, GenerationRequest
from services.models.spec import ModelSpec


def request_kind(request: GenerationRequest) -> str:
    """``mcq``, ``yes_no``, ``choice``, ``open``, or ``closed`` when a closed request names no kind."""
    if request.answer_type == "mcq" or (request.answer_type is None and request.option_labels):
        return "mcq"
    if request.answer_type == "closed":
        return request.closed_kind or "closed"
    return "open"


def boxed(answer: str) -> str:
    return f"\\boxed{{{answer}}}"


class _Baseline:
    def __init__(self, spec: ModelSpec, seed: int = 0, allow_remote_code: bool = False):
        self.spec, self.seed, self._ready = spec, seed, False

    def load(self) -> None:
        self._ready = True

    @property
    def ready(self) -> bool:
        return self._ready

    def answer(self, request: GenerationRequest) -> str:
        raise NotImplementedError

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationOutput]:
        if not self._ready:
            raise RuntimeError(f"model {self.spec.id} is not loaded: call load() first")
        outputs = []
        for request in requests:
            start = time.perf_counter()
            text = self.answer(request)
            outputs.append(GenerationOutput(request.id, text, latency_s=time.perf_counter() - start,
                                            input_tokens=0, output_tokens=0))
        return outputs


class EchoAdapter(_Baseline):
    """Answers instantly with a fixed reply: measures the grid's own overhead, not a model's."""

    def answer(self, request: GenerationRequest) -> str:
        return self.spec.extra.get("reply", "\\boxed{A}")


class AlwaysYesAdapter(_Baseline):
    def answer(self, request: GenerationRequest) -> str:
        return self.spec.extra.get("reply", boxed("yes"))


class RandomAdapter(_Baseline):
    def answer(self, request: GenerationRequest) -> str:
        # Seeded by (seed, request id): the same sample gets the same guess in any batch or order.
        rng = random.Random(f"{self.seed}:{request.id}")
        kind = request_kind(request)
        if kind == "mcq" and request.option_labels:
            return boxed(rng.choice(list(request.option_labels)))
        if kind in ("yes_no", "closed"):  # most closed questions are yes/no
            return boxed(rng.choice(["yes", "no"]))
        return boxed(self.spec.extra.get("phrase", "unknown"))


class MajorityAdapter(_Baseline):
    """The most common answer per answer kind in a named split, read once at ``load()``."""

    def __init__(self, spec: ModelSpec, seed: int = 0, allow_remote_code: bool = False):
        super().__init__(spec, seed)
        self.counts: dict[str, Counter] = {}

    def load(self) -> None:
        from services.benchmarks.registry import load_samples

        extra = self.spec.extra
        samples = load_samples(extra["benchmark"], extra["data"], extra.get("split"), **(extra.get("options") or {}))
        counts: dict[str, Counter] = {"mcq": Counter(), "yes_no": Counter(), "choice": Counter(),
                                      "open": Counter(), "closed": Counter(), "any": Counter()}
        for sample in samples:
            if sample.answer_type == "mcq":
                kind, answer = "mcq", sample.answer.strip().upper()
            else:
                answer = (sample.answer_text or sample.answer).strip().lower()
                kind = (sample.closed_kind or "closed") if sample.answer_type == "closed" else "open"
            counts[kind][answer] += 1
            if sample.answer_type == "closed" and kind != "closed":
                counts["closed"][answer] += 1  # for requests that carry no closed kind
            if kind != "mcq":
                counts["any"][answer] += 1
        if not samples:
            raise ValueError(f"model {self.spec.id}: {extra['benchmark']} at {extra['data']} "
                             f"(split {extra.get('split') or 'default'}) has no samples to take a prior from")
        self.counts = counts
        self._ready = True

    def answer(self, request: GenerationRequest) -> str:
        kind = request_kind(request)
        if kind == "mcq":
            letters = self.counts["mcq"]
            labels = list(request.option_labels) or sorted(letters)
            # max() keeps the first of equals: ties go to the earlier option.
            return boxed(max(labels, key=lambda label: letters[label]) if labels else "A")
        for key in (kind, "closed" if kind in ("yes_no", "choice") else kind, "any"):
            if self.counts.get(key):
                return boxed(_most_common(self.counts[key]))
        return boxed("yes")


def _most_common(counter: Counter) -> str:
    # Highest count, then alphabetical: the same prior gives the same answer on every machine.
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]
