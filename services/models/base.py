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
    closed_kind: str | None = None  # "yes_no" | "choice" | None, as on the sample


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
    "openai": "services.models.openai_compat:OpenAIAdapter",
    "echo": "services.models.baselines:EchoAdapter",
    "random": "services.models.baselines:RandomAdapter",
    "majority": "services.models.baselines:MajorityAdapter",
    "always_yes": "services.models.baselines:AlwaysYesAdapter",
}


class RemoteCodeRefused(PermissionError):
    """A spec asks for trust_remote_code but the global setting does not allow it."""


def check_remote_code(spec: ModelSpec, allow_remote_code: bool) -> None:
    """Remote code runs a checkpoint's own Python: it needs the spec AND the operator to say yes."""
    if spec.trust_remote_code and not allow_remote_code:
        raise RemoteCodeRefused(
            f"model {spec.id}: its spec sets trust_remote_code: true, which would run Python code shipped "
            f"with the checkpoint; refused because MEDGRID_TRUST_REMOTE_CODE is off. Set "
            f"MEDGRID_TRUST_REMOTE_CODE=1 if you trust this checkpoint, or use a transformers-native "
            f"checkpoint (e.g. a '-hf' conversion) with trust_remote_code: false.")


def create_adapter(spec: ModelSpec, seed: int = 1234, allow_remote_code: bool = False) -> ModelAdapter:
    """The adapter for ``spec.kind``. ``allow_remote_code`` is the global ceiling
    (``Settings.trust_remote_code``); remote code runs only when it and the spec both allow it."""
    target = ADAPTERS.get(spec.kind)
    if target is None:
        raise ValueError(f"model {spec.id}: no adapter for kind {spec.kind!r}; available: {', '.join(sorted(ADAPTERS))}")
    check_remote_code(spec, allow_remote_code)
    module_name, class_name = target.split(":")
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return adapter_class(spec, seed=seed, allow_remote_code=allow_remote_code)
