"""Baselines that honour the adapter contract without a network or weights."""

from __future__ import annotations

import time

from services.models.base import GenerationOutput, GenerationRequest
from services.models.spec import ModelSpec


class EchoAdapter:
    """Answers instantly with a fixed reply: measures the grid's own overhead, not a model's."""

    def __init__(self, spec: ModelSpec, seed: int = 0):
        self.spec, self.seed, self._ready = spec, seed, False

    def load(self) -> None:
        self._ready = True

    @property
    def ready(self) -> bool:
        return self._ready

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationOutput]:
        reply = self.spec.extra.get("reply", "\\boxed{A}")
        start = time.perf_counter()
        return [GenerationOutput(r.id, reply, latency_s=time.perf_counter() - start, input_tokens=0, output_tokens=0)
                for r in requests]
