"""The model adapter contract (DESIGN.md): ``load()``, ``ready``, ``generate(list) -> list`` in order.

Batching happens inside the adapter; callers hand over a whole shard. Heavy backends are
imported lazily by ``create_adapter`` so that importing this module never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Protocol

from services.benchmarks.images import ImageRef
from services.models.spec import ModelSpec


@dataclass(frozen=True)
class GenerationRequest:
    id: str
    prompt: str
    images: list[ImageRef] = field(default_factory=list)
    max_new_tokens: int | None = None  # None: the spec's value
    # Answer prior for baselines (options/answer type); real models ignore it.
    answer_type: str | None = None
    option_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenerationOutput:
    id: str
    text: str | None
    error: str | None = None
    latency_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


class ModelAdapter(Protocol):
    spec: ModelSpec

    def load(self) -> None: ...

    @property
    def ready(self) -> bool: ...

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationOutput]: ...


# kind -> "module:Class"; one table, consulted only when an adapter is created.
ADAPTERS = {
    "hf": "services.models.hf:HFAdapter",
    "echo": "services.models.baselines:EchoAdapter",
}


def create_adapter(spec: ModelSpec, seed: int = 1234) -> ModelAdapter:
    target = ADAPTERS.get(spec.kind)
    if target is None:
        raise ValueError(f"model {spec.id}: no adapter for kind {spec.kind!r}; available: {', '.join(sorted(ADAPTERS))}")
    module_name, class_name = target.split(":")
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return adapter_class(spec, seed=seed)
