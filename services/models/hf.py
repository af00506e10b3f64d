"""Hugging Face checkpoints through ``AutoProcessor`` + ``AutoModelForImageTextToText``.

One adapter serves every transformers-native VLM family (qwen2_5_vl, qwen2_vl, llava, idefics3,
gemma3, internvl): the chat template that ships with the checkpoint places the image tokens, so
the adapter stays family-agnostic. Several images per question go to the processor as one list
per prompt. Greedy decoding with a fixed seed; batches are left-padded so every row's new tokens
start at the same column.

Batching. Requests are sorted by prompt length (less padding) and cut into batches of at most
``spec.batch_size`` rows, further bounded by two optional budgets in ``spec.extra``:

* ``max_batch_pixels``: the sum of decoded image pixels (width x height, before the processor's
  resize) in one batch. Dynamic-resolution families (Qwen2-VL, Qwen2.5-VL) turn pixels into
  vision tokens, so this bounds the vision encoder's memory.
* ``max_batch_tokens``: rows x (longest templated prompt + max_new_tokens), counted in text tokens
  (image placeholders count once each, not their expansion): a bound on the KV cache.

A request over a budget on its own still runs, alone. On an out-of-memory error the batch is
halved and retried (down to one row) instead of failing the shard; any other error is isolated to
the sample that caused it.

Decoding keeps ``<think>``/``<answer>`` tags even where the tokenizer marks them as special
tokens (``skip_special_tokens=True`` would silently drop them): the scorer removes think blocks
and reads answer tags, so the raw output must hold them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from services.benchmarks.images import ImageError
from services.models.base import GenerationOutput, GenerationRequest, check_remote_code
from services.models.spec import ModelSpec

# Special tokens that carry meaning for extraction and must survive decoding.
KEPT_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


@dataclass
class _Item:
    """A request made ready for the processor: decoded images and its chat-templated prompt."""

    request: GenerationRequest
    images: list
    text: str
    tokens: int  # text tokens of the templated prompt
    pixels: int
    max_new: int


class HFAdapter:
    def __init__(self, spec: ModelSpec, seed: int = 1234, allow_remote_code: bool = False):
        if not spec.path:
            raise ValueError(f"model {spec.id}: an hf model needs a local 'path' (no hub access at run time)")
        check_remote_code(spec, allow_remote_code)
        self.spec, self.seed = spec, seed
        self.trust_remote_code = spec.trust_remote_code and allow_remote_code
        self.max_batch_pixels = spec.extra.get("max_batch_pixels")
        self.max_batch_tokens = spec.extra.get("max_batch_tokens")
        self.model = self.processor = self.tokenizer = None
        self.device = None

    # -- contract ---------------------------------------------------------------------------
    def load(self) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        device = self.spec.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = self.spec.dtype
        if dtype == "auto":
            dtype = "bfloat16" if device.startswith("cuda") else "float32"
        trust = self.trust_remote_code
        self.processor = AutoProcessor.from_pretrained(self.spec.path, trust_remote_code=trust)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self.tokenizer.padding_side = "left"  # decoder-only generation needs left padding in a batch
        kwargs = {"dtype": getattr(torch, dtype), "trust_remote_code": trust}
        if self.spec.extra.get("attn_implementation"):
            kwargs["attn_implementation"] = self.spec.extra["attn_implementation"]
        if self.spec.gpus > 1 and device == "cuda" and torch.cuda.device_count() > 1:
            # A model bigger than one GPU: layers spread over the visible GPUs (needs `accelerate`).
            model = AutoModelForImageTextToText.from_pretrained(self.spec.path, device_map="auto", **kwargs)
        else:
            model = AutoModelForImageTextToText.from_pretrained(self.spec.path, **kwargs).to(device)
        self.model = model.eval()
        self.device = device
        self._eos_ids = self._end_ids()
        self._dropped_ids = self._special_ids_to_drop()

    @property
    def ready(self) -> bool:
        return self.model is not None

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationOutput]:
        if not self.ready:
            raise RuntimeError(f"model {self.spec.id} is not loaded: call load() first")
        results: dict[str, GenerationOutput] = {}
        items = []
        for request in requests:
            try:
                items.append(self._prepare(request))
            except ImageError as exc:  # one bad image fails its sample, not the batch
                results[request.id] = GenerationOutput(request.id, None, error=str(exc))
            except Exception as exc:  # a prompt the chat template rejects, say
                results[request.id] = self._failed(request, exc)
        # Similar lengths side by side: a batch pads every row to its longest prompt.
        pending = sorted(items, key=lambda item: item.tokens)
        size = max(1, self.spec.batch_size)
        while pending:
            chunk = self._take_batch(pending, size)
            try:
                outputs = self._generate_batch(chunk)
            except Exception as exc:
                if _is_out_of_memory(exc) and len(chunk) > 1:
                    self._free_memory()
                    size = max(1, len(chunk) // 2)  # retry the same samples in smaller batches
                    continue
                # Anything else (an over-long input, say) is isolated to the sample that caused it.
                outputs = [self._generate_alone(item) for item in chunk] if len(chunk) > 1 \
                    else [self._failed(chunk[0].request, exc)]
                if _is_out_of_memory(exc):
                    self._free_memory()
            for output in outputs:
                results[output.id] = output
            del pending[:len(chunk)]
        return [results[r.id] for r in requests]

    # -- batching -------------------------------------------------------------------------------
    def _prepare(self, request: GenerationRequest) -> _Item:
        images = [image.open() for image in request.images]
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": request.prompt}]
        text = self.processor.apply_chat_template(
            [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False)
        tokens = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return _Item(request, images, text, tokens, sum(i.width * i.height for i in images),
                     request.max_new_tokens or self.spec.max_new_tokens)

    def _take_batch(self, pending: list[_Item], size: int) -> list[_Item]:
        """The longest run from the front of ``pending`` within ``size`` rows and both budgets."""
        batch: list[_Item] = []
        pixels = longest = 0
        for item in pending[:size]:
            more_pixels = pixels + item.pixels
            more_longest = max(longest, item.tokens + item.max_new)
            over_pixels = self.max_batch_pixels is not None and more_pixels > self.max_batch_pixels
            over_tokens = self.max_batch_tokens is not None and (len(batch) + 1) * more_longest > self.max_batch_tokens
            if batch and (over_pixels or over_tokens):
                break
            batch.append(item)
            pixels, longest = more_pixels, more_longest
        return batch

    def _generate_batch(self, chunk: list[_Item]) -> list[GenerationOutput]:
        import torch

        begin = time.perf_counter()
        images = [item.images for item in chunk] if any(item.images for item in chunk) else None
        inputs = self.processor(text=[item.text for item in chunk], images=images, return_tensors="pt",
                                padding=True).to(self.model.device)
        for key, value in list(inputs.items()):  # pixels in the model's dtype (bfloat16 on a GPU)
            if torch.is_tensor(value) and torch.is_floating_point(value):
                inputs[key] = value.to(self.model.dtype)
        torch.manual_seed(self.seed)
        with torch.inference_mode():
            generated = self.model.generate(**inputs, max_new_tokens=max(item.max_new for item in chunk),
                                            do_sample=False)
        new_tokens = generated[:, inputs["input_ids"].shape[1]:].tolist()
        attention = inputs["attention_mask"].sum(dim=1).tolist()
        elapsed = time.perf_counter() - begin
        outputs = []
        for row, item in enumerate(chunk):
            text, produced = self._decode(new_tokens[row][:item.max_new])
            outputs.append(GenerationOutput(item.request.id, text, latency_s=elapsed / len(chunk),
                                            input_tokens=int(attention[row]), output_tokens=produced))
        return outputs

    def _generate_alone(self, item: _Item) -> GenerationOutput:
        try:
            return self._generate_batch([item])[0]
        except Exception as exc:
            self._free_memory()
            return self._failed(item.request, exc)

    # -- decoding -------------------------------------------------------------------------------
    def _end_ids(self) -> set[int]:
        ends = self.model.generation_config.eos_token_id
        ends = set(ends if isinstance(ends, (list, tuple)) else [ends] if ends is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ends.add(self.tokenizer.eos_token_id)
        return ends

    def _special_ids_to_drop(self) -> set[int]:
        special = set(self.tokenizer.all_special_ids)
        special |= {i for i, token in self.tokenizer.added_tokens_decoder.items() if token.special}
        vocab = self.tokenizer.get_vocab()
        return special - {vocab[tag] for tag in KEPT_TAGS if tag in vocab}

    def _decode(self, ids: list[int]) -> tuple[str, int]:
        """The reply up to the first end token, special tokens removed except KEPT_TAGS; and its length."""
        kept, produced = [], 0
        for token in ids:
            produced += 1
            if token in self._eos_ids:
                break
            if token not in self._dropped_ids:
                kept.append(token)
        return self.tokenizer.decode(kept, skip_special_tokens=False), produced

    @staticmethod
    def _failed(request: GenerationRequest, exc: BaseException) -> GenerationOutput:
        return GenerationOutput(request.id, None, error=f"{type(exc).__name__}: {exc}")

    def _free_memory(self) -> None:
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
