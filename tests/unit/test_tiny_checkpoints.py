"""Tiny checkpoints of the real architectures load through from_pretrained and generate; batching is exact."""

import pytest

from services.benchmarks.images import ImageRef
from services.models.base import GenerationRequest, create_adapter
from services.models.spec import ModelSpec, detect_family

FAMILY_MODEL_TYPE = {"qwen2_5_vl": "qwen2_5_vl", "llava": "llava"}


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava"])
def test_tiny_checkpoint_loads_with_auto_classes_and_generates(tiny_checkpoints, family):
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = tiny_checkpoints[family]
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert model.config.model_type == FAMILY_MODEL_TYPE[family] == detect_family(path)
    assert sum(p.numel() for p in model.parameters()) < 500_000  # tiny, as promised
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Is this a CT image?"}]}],
        add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=[Image.new("RGB", (64, 48), "gray")], return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def _requests(demo_samples, n=8):
    from services.prompts import build_prompt

    return [GenerationRequest(id=s.id, prompt=build_prompt(s.record(), "direct"), images=s.images)
            for s in demo_samples[:n]]


@pytest.fixture(scope="module")
def demo_samples(demo_data):
    from services.benchmarks.registry import load_samples

    samples = load_samples("demo", demo_data)
    # Mix prompt lengths and answer kinds so left padding really happens inside the batch.
    return samples[::4] + samples[1::4]


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava"])
def test_batch_of_eight_equals_eight_single_calls(tiny_checkpoints, demo_samples, family):
    requests = _requests(demo_samples)
    assert len({len(r.prompt) for r in requests}) > 1
    spec = ModelSpec(id=f"tiny-{family}", path=str(tiny_checkpoints[family]), max_new_tokens=12, batch_size=8)
    batched = create_adapter(spec)
    batched.load()
    together = batched.generate(requests)
    single = create_adapter(ModelSpec(**{**spec.to_json(), "batch_size": 1}))
    single.load()
    one_by_one = [single.generate([r])[0] for r in requests]
    assert [o.id for o in together] == [r.id for r in requests]
    assert all(o.error is None and o.text is not None for o in together)
    assert [o.text for o in together] == [o.text for o in one_by_one]
    assert all(o.output_tokens and o.output_tokens <= 12 and o.input_tokens > 0 for o in together)


def test_unreadable_image_fails_only_its_sample(tiny_checkpoints, demo_samples, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    requests = _requests(demo_samples, 3)
    requests[1] = GenerationRequest(id="broken", prompt="Is this a CT image?", images=[ImageRef.file(broken)])
    adapter = create_adapter(ModelSpec(id="tiny", path=str(tiny_checkpoints["llava"]), max_new_tokens=4))
    adapter.load()
    outputs = adapter.generate(requests)
    assert [o.id for o in outputs] == [r.id for r in requests]
    assert outputs[1].text is None and str(broken) in outputs[1].error
    assert outputs[0].error is None and outputs[2].error is None


def test_out_of_memory_halves_the_batch_and_answers_everything(tiny_checkpoints, demo_samples, monkeypatch):
    import torch

    adapter = create_adapter(ModelSpec(id="tiny", path=str(tiny_checkpoints["llava"]), max_new_tokens=4, batch_size=8))
    adapter.load()
    real = adapter._generate_batch
    sizes = []

    def flaky(chunk):
        sizes.append(len(chunk))
        if len(chunk) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (injected)")
        return real(chunk)

    monkeypatch.setattr(adapter, "_generate_batch", flaky)
    outputs = adapter.generate(_requests(demo_samples, 8))
    assert sizes[:3] == [8, 4, 2]
    assert len(outputs) == 8 and all(o.error is None and o.text is not None for o in outputs)
