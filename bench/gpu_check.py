"""The hf adapter on a GPU: every tiny family loads on CUDA, generates, and batching agrees.

For each family of ``services/models/tiny.py`` and each dtype (bfloat16, the default on a GPU, and
float32): build the tiny checkpoint, load it through the grid's own ``HFAdapter`` with
``device: cuda``, answer 8 requests (real PNG images of different sizes, prompts of different
lengths, so left padding happens inside the batch) as one batch and one at a time, and record
whether the replies agree, where the weights live, the pixel dtype handed to the model, the peak
GPU memory and the times. Tiny random models say nothing about accuracy; this checks the CUDA
path (placement, dtype casts, batching, padding) that the CPU tests cannot reach.

    python bench/gpu_check.py --out bench/results/gpu_check.json        # on a machine with a GPU
    python bench/gpu_check.py --device cpu --families llava --out /tmp/x.json   # the same on the CPU
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def write_images(folder: Path, seed: int = 0) -> list[Path]:
    from PIL import Image

    rng = random.Random(seed)
    paths = []
    for i, (w, h) in enumerate([(64, 64), (96, 48), (48, 96), (128, 128), (80, 80), (56, 112), (112, 56), (72, 72)]):
        image = Image.frombytes("RGB", (w, h), bytes(rng.randrange(256) for _ in range(w * h * 3)))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        path = folder / f"image{i}.png"
        path.write_bytes(buffer.getvalue())
        paths.append(path)
    return paths


QUESTIONS = ["Is there a lesion?", "Which organ is shown in this CT slice, the liver or the spleen?",
             "What modality is this?", "Is the abnormality on the left side of the image or on the right side?",
             "Answer yes or no: is this image normal?", "Which of these is shown? A. CT B. MRI C. X-ray D. Ultrasound",
             "Where is the mass?", "Describe the main finding in one short phrase, please, as a radiologist would."]


def check(family: str, dtype: str, device: str, folder: Path, images: list[Path]) -> dict:
    import torch

    from services.benchmarks.images import ImageRef
    from services.models.base import GenerationRequest, create_adapter
    from services.models.spec import ModelSpec
    from services.models.tiny import make_tiny

    path = folder / family
    if not path.exists():
        make_tiny(family, path)
    spec = ModelSpec(id=f"tiny-{family}", path=str(path), device=device, dtype=dtype, batch_size=8,
                     max_new_tokens=12)
    adapter = create_adapter(spec)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    adapter.load()
    load_s = time.perf_counter() - started
    requests = [GenerationRequest(id=str(i), prompt=question, images=[ImageRef.file(image)])
                for i, (question, image) in enumerate(zip(QUESTIONS, images))]
    adapter.generate(requests[:2])  # warm-up (kernels, allocator)
    started = time.perf_counter()
    batched = adapter.generate(requests)
    batched_s = time.perf_counter() - started
    adapter.spec = replace(spec, batch_size=1)
    started = time.perf_counter()
    single = [adapter.generate([request])[0] for request in requests]
    single_s = time.perf_counter() - started
    parameter = next(adapter.model.parameters())
    result = {
        "family": family, "dtype": dtype, "weights_on": str(parameter.device), "weights_dtype": str(parameter.dtype),
        "load_s": round(load_s, 3), "batch_of_8_s": round(batched_s, 3), "one_at_a_time_s": round(single_s, 3),
        "errors": [o.error for o in batched + single if o.error],
        "replies_agree": sum(a.text == b.text for a, b in zip(batched, single)),
        "n": len(requests), "replies_nonempty": sum(bool(o.text) for o in batched),
        "example_reply": batched[0].text[:80],
        "input_tokens_batched": [o.input_tokens for o in batched],
    }
    if device.startswith("cuda"):
        result["peak_gpu_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    del adapter
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return result


def main() -> int:
    from services.models.tiny import FAMILIES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--dtypes", default="bfloat16,float32")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "gpu_check.json")
    args = parser.parse_args()
    import torch
    import transformers

    folder = Path(tempfile.mkdtemp(prefix="medgrid-gpu-check-"))
    images = write_images(folder)
    results = []
    for family in args.families.split(","):
        for dtype in args.dtypes.split(","):
            try:
                results.append(check(family, dtype, args.device, folder, images))
            except Exception as exc:  # record it and go on: one family must not hide the others
                results.append({"family": family, "dtype": dtype, "failed": f"{type(exc).__name__}: {exc}"[:2000]})
            print(json.dumps(results[-1]), flush=True)
    out = {"benchmark": "hf adapter on a GPU: tiny checkpoints of every family, batch of 8 against one at a time",
           "command": "python bench/gpu_check.py " + " ".join(sys.argv[1:]),
           "device": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor(),
           "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
           "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    return 0 if all("failed" not in r and not r["errors"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
