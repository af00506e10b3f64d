"""Benchmark: samples per second of the hf adapter batched (batch_size 8) against one sample at a time.

    .venv/bin/python bench/hf_batching.py [--families qwen2_5_vl,llava,...] [--n 64] [--max-new-tokens 8]
        [--threads 1] [--repeats 3] [--out bench/results/hf_batching.json]

Same tiny checkpoint (built offline, as the tests do), same loaded weights and the same demo
samples for both modes: the demo benchmark (real medical images bundled with pydicom and
scikit-image) cycled to ``--n`` requests with the direct prompt. Each mode runs ``--repeats`` times
after one warm-up call; the median is recorded. Both modes must produce the same texts (greedy),
which the script checks, so the speed-up is never bought with different answers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from services.benchmarks.demo import build_demo  # noqa: E402
from services.benchmarks.registry import load_samples  # noqa: E402
from services.models.base import GenerationRequest, create_adapter  # noqa: E402
from services.models.spec import ModelSpec  # noqa: E402
from services.models.tiny import FAMILIES, make_tiny  # noqa: E402
from services.prompts import build_prompt  # noqa: E402


def demo_requests(root: Path, n: int) -> list[GenerationRequest]:
    samples = load_samples("demo", build_demo(root / "demo"))
    return [GenerationRequest(id=f"{i}:{s.id}", prompt=build_prompt(s.record(), "direct"), images=list(s.images))
            for i, s in ((i, samples[i % len(samples)]) for i in range(n))]


def timed(adapter, requests, batch_size: int, repeats: int) -> tuple[float, list[str | None]]:
    adapter.spec = replace(adapter.spec, batch_size=batch_size)
    adapter.generate(requests[:batch_size])  # warm-up: first-call allocations, lazy imports
    times, texts = [], []
    for _ in range(repeats):
        begin = time.perf_counter()
        outputs = adapter.generate(requests)
        times.append(time.perf_counter() - begin)
        texts = [o.text for o in outputs]
        errors = [o.error for o in outputs if o.error]
        if errors:
            raise SystemExit(f"batch_size {batch_size}: {len(errors)} samples failed, e.g. {errors[0]}")
    return statistics.median(times), texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "hf_batching.json"))
    args = parser.parse_args()

    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        requests = demo_requests(root, args.n)
        for family in args.families.split(","):
            spec = ModelSpec(id=f"tiny-{family}", path=str(make_tiny(family, root / family)),
                             max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)
            adapter = create_adapter(spec)
            adapter.load()
            single_s, single_texts = timed(adapter, requests, 1, args.repeats)
            batched_s, batched_texts = timed(adapter, requests, args.batch_size, args.repeats)
            row = {"family": family, "device": adapter.device, "dtype": str(adapter.model.dtype),
                   "single": {"batch_size": 1, "seconds": round(single_s, 3),
                              "samples_per_s": round(args.n / single_s, 1)},
                   "batched": {"batch_size": args.batch_size, "seconds": round(batched_s, 3),
                               "samples_per_s": round(args.n / batched_s, 1)},
                   "speedup": round(single_s / batched_s, 2),
                   "same_texts": batched_texts == single_texts}
            print(json.dumps(row), flush=True)
            results.append(row)
    record = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "samples": args.n, "max_new_tokens": args.max_new_tokens, "prompt_style": "direct", "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
