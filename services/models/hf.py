"""Hugging Face checkpoints through ``AutoProcessor`` + ``AutoModelForImageTextToText``.

One adapter serves every transformers-native VLM family: the chat template that ships with
the checkpoint places the image tokens, so the adapter stays family-agnostic. Greedy decoding
with a fixed seed; batches are left-padded so every row's new tokens start at the same column.
"""

from __future__ import annotations

import time

from services.benchmarks.images import ImageError
from services.models.base import GenerationOutput, GenerationRequest
from services.models.spec import ModelSpec


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class HFAdapter:
    def __init__(self, spec: ModelSpec, seed: int = 1234):
        if not spec.path:
            raise ValueError(f"model {spec.id}: an hf model needs a local 'path' (no hub access at run time)")
        self.spec, self.seed = spec, seed
        self.model = self.processor = None

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
        trust = self.spec.trust_remote_code
        self.processor = AutoProcessor.from_pretrained(self.spec.path, trust_remote_code=trust)
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        tokenizer.padding_side = "left"  # decoder-only generation needs left padding in a batch
        self.model = AutoModelForImageTextToText.from_pretrained(
            self.spec.path, dtype=getattr(torch, dtype), trust_remote_code=trust).to(device).eval()
        self.device = device

    @property
    def ready(self) -> bool:
        return self.model is not None

    def generate(self, requests: list[GenerationRequest]) -> list[GenerationOutput]:
        if not self.ready:
            raise RuntimeError(f"model {self.spec.id} is not loaded: call load() first")
        results: dict[str, GenerationOutput] = {}
        decoded = []
        for request in requests:
            try:
                decoded.append((request, [image.open() for image in request.images]))
            except ImageError as exc:  # one bad image fails its sample, not the batch
                results[request.id] = GenerationOutput(request.id, None, error=str(exc))
        size = max(1, self.spec.batch_size)
        start = 0
        while start < len(decoded):
            chunk = decoded[start:start + size]
            try:
                outputs = self._generate_batch(chunk)
            except Exception as exc:
                if _is_out_of_memory(exc) and size > 1:
                    self._free_memory()
                    size = max(1, size // 2)  # retry the same samples in smaller batches
                    continue
                # Anything else (an over-long input, say) is isolated to the sample that caused it.
                outputs = [self._generate_alone(item) for item in chunk] if len(chunk) > 1 \
                    else [self._failed(chunk[0][0], exc)]
            for output in outputs:
                results[output.id] = output
            start += len(chunk)
        return [results[r.id] for r in requests]

    # -- internals ----------------------------------------------------------------------------
    def _generate_batch(self, chunk) -> list[GenerationOutput]:
        import torch

        texts, images = [], []
        for request, pil_images in chunk:
            content = [{"type": "image"} for _ in pil_images] + [{"type": "text", "text": request.prompt}]
            texts.append(self.processor.apply_chat_template(
                [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False))
            images.extend(pil_images)
        inputs = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        inputs = inputs.to(self.model.device)
        max_new = max(r.max_new_tokens or self.spec.max_new_tokens for r, _ in chunk)
        torch.manual_seed(self.seed)
        begin = time.perf_counter()
        with torch.inference_mode():
            generated = self.model.generate(**inputs, max_new_tokens=max_new, do_sample=False)
        elapsed = time.perf_counter() - begin
        prompt_length = inputs["input_ids"].shape[1]
        new_tokens = generated[:, prompt_length:]
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        texts_out = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        attention = inputs["attention_mask"]
        outputs = []
        for row, ((request, _), text) in enumerate(zip(chunk, texts_out)):
            row_tokens = new_tokens[row]
            if tokenizer.pad_token_id is not None:
                row_tokens = row_tokens[row_tokens != tokenizer.pad_token_id]
            outputs.append(GenerationOutput(
                request.id, text, latency_s=elapsed / len(chunk),
                input_tokens=int(attention[row].sum()), output_tokens=int(row_tokens.numel())))
        return outputs

    def _generate_alone(self, item) -> GenerationOutput:
        try:
            return self._generate_batch([item])[0]
        except Exception as exc:
            self._free_memory()
            return self._failed(item[0], exc)

    @staticmethod
    def _failed(request: GenerationRequest, exc: BaseException) -> GenerationOutput:
        return GenerationOutput(request.id, None, error=f"{type(exc).__name__}: {exc}")

    def _free_memory(self) -> None:
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
