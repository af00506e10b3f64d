"""Tiny checkpoints of every family load through from_pretrained and generate; batching is exact."""

import pytest

from services.benchmarks.images import ImageRef
from services.models.base import GenerationRequest, create_adapter
from services.models.spec import ModelSpec, detect_family
from services.models.tiny import FAMILIES, MULTI_IMAGE_FAMILIES


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread; several fight over the shared CI cores (5x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def demo_samples(demo_data):
    from services.benchmarks.registry import load_samples

    samples = load_samples("demo", demo_data)
    # Mix prompt lengths and answer kinds so left padding really happens inside the batch.
    return samples[::4] + samples[1::4]


@pytest.fixture(scope="module")
def adapters(tiny_checkpoints):
    """One loaded batch-of-8 adapter per family, shared by the tests of this module."""
    loaded = {}

    def get(family: str):
        if family not in loaded:
            adapter = create_adapter(ModelSpec(id=f"tiny-{family}", path=str(tiny_checkpoints[family]),
                                               max_new_tokens=8, batch_size=8))
            adapter.load()
            loaded[family] = adapter
        return loaded[family]

    return get


def _requests(demo_samples, n=8):
    from services.prompts import build_prompt

    return [GenerationRequest(id=s.id, prompt=build_prompt(s.record(), "direct"), images=s.images)
            for s in demo_samples[:n]]


def _single(adapter, request):
    """The same model one request at a time (batch_size 1), sharing the loaded weights."""
    from dataclasses import replace

    original = adapter.spec
    adapter.spec = replace(original, batch_size=1)
    try:
        return adapter.generate([request])[0]
    finally:
        adapter.spec = original


NATIVE_CLASSES = {
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration", "qwen2_vl": "Qwen2VLForConditionalGeneration",
    "llava": "LlavaForConditionalGeneration", "idefics3": "Idefics3ForConditionalGeneration",
    "gemma3": "Gemma3ForConditionalGeneration", "internvl": "InternVLForConditionalGeneration",
}


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_checkpoint_loads_with_auto_classes_as_the_native_class(tiny_checkpoints, adapters, family):
    path = tiny_checkpoints[family]
    assert detect_family(path) == family
    assert sum(p.stat().st_size for p in path.glob("*.safetensors")) < 1_000_000  # tiny, as promised
    # The adapter loads through AutoProcessor + AutoModelForImageTextToText: no remote code, no hub.
    assert type(adapters(family).model).__name__ == NATIVE_CLASSES[family]


@pytest.mark.parametrize("family", FAMILIES)
def test_batch_of_eight_equals_eight_single_calls(adapters, demo_samples, family):
    requests = _requests(demo_samples)
    assert len({len(r.prompt) for r in requests}) > 1
    adapter = adapters(family)
    together = adapter.generate(requests)
    one_by_one = [_single(adapter, r) for r in requests]
    assert [o.id for o in together] == [r.id for r in requests]
    assert all(o.error is None and o.text is not None for o in together), [o.error for o in together]
    assert [o.text for o in together] == [o.text for o in one_by_one]
    assert [o.output_tokens for o in together] == [o.output_tokens for o in one_by_one]
    assert all(0 < o.output_tokens <= 8 and o.input_tokens > 0 for o in together)


@pytest.mark.parametrize("family", MULTI_IMAGE_FAMILIES)
def test_multi_image_question_in_a_batch(adapters, demo_samples, family):
    images = [s.images[0] for s in demo_samples[:3]]
    two = GenerationRequest(id="two", prompt="Which of the two images is a CT scan?", images=images[:2])
    three = GenerationRequest(id="three", prompt="How many images are shown?", images=images)
    one = _requests(demo_samples, 1)[0]
    adapter = adapters(family)
    together = adapter.generate([two, one, three])
    assert [o.id for o in together] == ["two", one.id, "three"]
    assert all(o.error is None and o.text is not None for o in together), [o.error for o in together]
    # Every image costs vision tokens: more images, longer input.
    alone = adapter.generate([GenerationRequest(id="x", prompt=three.prompt, images=images[:1])])[0]
    assert together[2].input_tokens > alone.input_tokens
    assert [o.text for o in together] == [_single(adapter, r).text for r in (two, one, three)]


@pytest.mark.parametrize("family", FAMILIES)
def test_out_of_memory_halves_the_batch_and_answers_everything(adapters, demo_samples, family, monkeypatch):
    import torch

    adapter = adapters(family)
    real = adapter._generate_batch
    sizes = []

    def flaky(chunk):
        sizes.append(len(chunk))
        if len(chunk) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real(chunk)

    monkeypatch.setattr(adapter, "_generate_batch", flaky)
    requests = _requests(demo_samples, 8)
    outputs = adapter.generate(requests)
    assert sizes[:3] == [8, 4, 2] and max(sizes[2:]) <= 2
    assert [o.id for o in outputs] == [r.id for r in requests]
    assert all(o.error is None and o.text is not None for o in outputs)


def test_unreadable_image_fails_only_its_sample(adapters, demo_samples, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    requests = _requests(demo_samples, 3)
    requests[1] = GenerationRequest(id="broken", prompt="Is this a CT image?", images=[ImageRef.file(broken)])
    outputs = adapters("llava").generate(requests)
    assert [o.id for o in outputs] == [r.id for r in requests]
    assert outputs[1].text is None and str(broken) in outputs[1].error
    assert outputs[0].error is None and outputs[2].error is None


def test_a_failing_sample_is_isolated_from_its_batch(adapters, demo_samples, monkeypatch):
    adapter = adapters("qwen2_5_vl")
    real = adapter._generate_batch

    def poisoned(chunk):
        if any(item.request.id == "poison" for item in chunk):
            raise ValueError("input longer than the model's context")
        return real(chunk)

    monkeypatch.setattr(adapter, "_generate_batch", poisoned)
    requests = _requests(demo_samples, 4)
    requests.insert(2, GenerationRequest(id="poison", prompt="x"))
    outputs = adapter.generate(requests)
    assert [o.id for o in outputs] == [r.id for r in requests]
    assert outputs[2].text is None and "context" in outputs[2].error
    assert all(o.error is None for i, o in enumerate(outputs) if i != 2)


def test_think_blocks_survive_decoding_when_they_are_special_tokens(adapters, monkeypatch):
    import torch

    adapter = adapters("qwen2_5_vl")  # the MiMo-VL family; <think> is a special added token here
    tokenizer = adapter.tokenizer
    think, end_think, eos, pad = (tokenizer.convert_tokens_to_ids(t)
                                  for t in ("<think>", "</think>", "<|im_end|>", "<|endoftext|>"))
    assert adapter.tokenizer.added_tokens_decoder[think].special  # the harsh case this test is about
    assert "<think>" not in tokenizer.decode([think], skip_special_tokens=True)  # why the adapter must not use it
    reply = [think] + tokenizer.encode("lung", add_special_tokens=False) + [end_think] + \
        tokenizer.encode("\\boxed{yes}", add_special_tokens=False) + [eos, pad, pad]

    def scripted_generate(input_ids, max_new_tokens, **kwargs):
        rows = input_ids.shape[0]
        return torch.cat([input_ids, torch.tensor([reply[:max_new_tokens]] * rows)], dim=1)

    monkeypatch.setattr(adapter.model, "generate", scripted_generate)
    [output] = adapter.generate([GenerationRequest(id="t", prompt="Is the lung normal?", max_new_tokens=len(reply))])
    assert output.text == "<think>lung</think>\\boxed{yes}"
    assert output.output_tokens == len(reply) - 2  # up to and including the end token, not the padding


def test_pixel_and_token_budgets_split_batches(tiny_checkpoints, demo_samples, monkeypatch):
    requests = _requests(demo_samples, 8)
    sizes = {r.id: sum(i.width * i.height for i in (ref.open() for ref in r.images)) for r in requests}
    budget = max(sizes.values())  # the largest image fits alone, never with another
    spec = ModelSpec(id="budget", path=str(tiny_checkpoints["llava"]), max_new_tokens=4, batch_size=8,
                     extra={"max_batch_pixels": budget})
    adapter = create_adapter(spec)
    adapter.load()
    batches = []
    real = adapter._generate_batch
    monkeypatch.setattr(adapter, "_generate_batch",
                        lambda chunk: batches.append([i.request.id for i in chunk]) or real(chunk))
    outputs = adapter.generate(requests)
    assert all(o.error is None for o in outputs) and sorted(sum(batches, [])) == sorted(sizes)
    assert 1 < len(batches) < 8  # split by the budget, yet small images still share a batch
    assert all(sum(sizes[i] for i in batch) <= budget for batch in batches)
    adapter.max_batch_pixels, adapter.max_batch_tokens = None, 1  # a token budget below any single prompt
    batches.clear()
    outputs = adapter.generate(requests)
    assert [len(b) for b in batches] == [1] * 8 and all(o.error is None for o in outputs)  # alone, not dropped


def test_remote_code_needs_the_spec_and_the_global_setting(tiny_checkpoints):
    from services.models.base import RemoteCodeRefused

    spec = ModelSpec(id="remote", path=str(tiny_checkpoints["llava"]), trust_remote_code=True)
    with pytest.raises(RemoteCodeRefused, match="MEDGRID_TRUST_REMOTE_CODE"):
        create_adapter(spec)
    assert create_adapter(spec, allow_remote_code=True).trust_remote_code is True
    # The global setting alone turns nothing on.
    assert create_adapter(ModelSpec(id="native", path=spec.path), allow_remote_code=True).trust_remote_code is False
