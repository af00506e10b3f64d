"""Baselines honour the adapter contract; model specs (the roster and ad-hoc ones) are validated strictly."""

from pathlib import Path

import pytest

from services.models.base import ADAPTERS, GenerationRequest, create_adapter
from services.models.spec import KINDS, ModelSpec, SpecError, roster

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def _request(i, answer_type, labels=(), closed_kind=None):
    return GenerationRequest(id=f"q{i}", prompt="?", answer_type=answer_type, option_labels=tuple(labels),
                             closed_kind=closed_kind)


def _loaded(kind, seed=1234, **extra):
    adapter = create_adapter(ModelSpec(id=kind, kind=kind, extra=extra), seed=seed)
    adapter.load()
    assert adapter.ready
    return adapter


def test_every_spec_kind_has_an_adapter():
    assert set(KINDS) == set(ADAPTERS)


def test_random_baseline_is_seeded_per_request_and_answers_in_kind():
    requests = [_request(i, "mcq", "ABCD") for i in range(40)] + \
               [_request(i + 40, "closed", closed_kind="yes_no") for i in range(40)] + \
               [_request(80, "open"), _request(81, "closed", closed_kind="choice")]
    first = [o.text for o in _loaded("random").generate(requests)]
    again = [o.text for o in _loaded("random").generate(list(reversed(requests)))][::-1]
    assert first == again  # independent of order and batching
    assert first != [o.text for o in _loaded("random", seed=7).generate(requests)]
    assert set(first[:40]) == {"\\boxed{A}", "\\boxed{B}", "\\boxed{C}", "\\boxed{D}"}
    assert set(first[40:80]) == {"\\boxed{yes}", "\\boxed{no}"}
    assert first[80] == first[81] == "\\boxed{unknown}"


def test_always_yes_and_echo():
    outputs = _loaded("always_yes").generate([_request(1, "closed"), _request(2, "mcq", "AB")])
    assert [o.text for o in outputs] == ["\\boxed{yes}", "\\boxed{yes}"]
    echo = _loaded("echo", reply="fixed").generate([_request(1, "open")])
    assert echo[0].text == "fixed" and echo[0].error is None and echo[0].output_tokens == 0


def test_majority_replays_the_answer_prior_of_the_named_split(demo_data, monkeypatch):
    from collections import Counter

    from services.benchmarks.registry import load_samples

    monkeypatch.delenv("MEDGRID_DATA_ROOTS", raising=False)
    samples = load_samples("demo", demo_data, "test")
    mcq_letters = Counter(s.answer for s in samples if s.answer_type == "mcq")
    adapter = _loaded("majority", benchmark="demo", data=str(demo_data), split="test")
    outputs = adapter.generate([_request(1, "mcq", "ABCD"), _request(2, "mcq", "AB"),
                                _request(3, "closed", closed_kind="yes_no"), _request(4, "open")])
    top = max("ABCD", key=lambda letter: mcq_letters[letter])
    assert outputs[0].text == f"\\boxed{{{top}}}"
    assert outputs[1].text == f"\\boxed{{{max('AB', key=lambda letter: mcq_letters[letter])}}}"
    yes_no = Counter(s.answer.lower() for s in samples if s.closed_kind == "yes_no")
    assert outputs[2].text == f"\\boxed{{{min(yes_no, key=lambda a: (-yes_no[a], a))}}}"
    opened = Counter(s.answer_text.lower() for s in samples if s.answer_type == "open")
    assert outputs[3].text == f"\\boxed{{{min(opened, key=lambda a: (-opened[a], a))}}}"


def test_majority_needs_a_named_split():
    with pytest.raises(SpecError, match="extra.benchmark and extra.data"):
        ModelSpec.from_mapping({"id": "m", "kind": "majority"}, "spec")


def test_the_roster_has_the_studys_ten_models_plus_two():
    specs = roster(MODELS_DIR)
    assert len(specs) == 12
    for spec in specs.values():
        assert spec.kind == "hf" and spec.hub_id and spec.path and spec.gpus >= 1
        assert spec.trust_remote_code is False  # every roster model has a transformers-native checkpoint
        assert spec.family in {"qwen2_5_vl", "llava", "internvl", "gemma3"}, spec.id
    assert specs["huatuogpt_vision_7b"].hub_id == "FreedomIntelligence/HuatuoGPT-Vision-7B"
    assert specs["internvl3_8b"].hub_id.endswith("-hf")  # the transformers-native conversion
    assert {s.family for s in specs.values() if s.id.startswith(("qwen", "mimo", "lingshu"))} == {"qwen2_5_vl"}


@pytest.mark.parametrize("extra, message", [
    ({"max_batch_pixels": 0}, "max_batch_pixels"),
    ({"max_batch_tokns": 10}, "unknown key extra.max_batch_tokns"),
    ({"api_key": "sk-123"}, "looks like a secret"),
])
def test_spec_extra_is_checked(extra, message):
    with pytest.raises(SpecError, match=message):
        ModelSpec.from_mapping({"id": "m", "kind": "hf", "extra": extra}, "spec")


def test_openai_spec_needs_a_url_and_a_model_name():
    with pytest.raises(SpecError, match="base_url"):
        ModelSpec.from_mapping({"id": "m", "kind": "openai", "hub_id": "x"}, "spec")
    with pytest.raises(SpecError, match="hub_id"):
        ModelSpec.from_mapping({"id": "m", "kind": "openai", "base_url": "http://127.0.0.1:1/v1"}, "spec")
    spec = ModelSpec.from_mapping({"id": "m", "kind": "openai", "base_url": "http://h:8000/v1", "hub_id": "x",
                                   "extra": {"api_key_env": "VLLM_KEY", "concurrency": 4}}, "spec")
    assert spec.extra["api_key_env"] == "VLLM_KEY"
