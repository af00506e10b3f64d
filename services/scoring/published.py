"""The study's published accuracies (Liu et al., 2025, Table 1; all questions), keyed by roster id.

Transcribed from REFERENCE.md section 3 ("treat digits with care"); the study did not publish its
decoding settings or answer extraction, so a difference says as much about protocol as about model.
"""

from __future__ import annotations

SOURCE = "Liu et al., 2025, Table 1 (accuracy, all questions)"
BENCHMARKS = ("medxpertqa_mm", "omnimedvqa", "pmc_vqa", "pathvqa", "mmmu_med", "slake", "vqa_rad")

_TABLE = """
qwen2_5_vl_3b        .2217 .5710 .4014 .6190 .4690 .5874 .5458
qwen2_5_vl_7b        .2305 .6072 .4420 .6205 .5379 .6068 .6255
qwen2_5_vl_32b       .2890 .6383 .5331 .6573 .7075 .7326 .7041
qwen2_5_vl_72b       .2995 .6656 .5577 .6597 .7078 .7799 .6835
mimo_vl_7b_rl        .2446 .6206 .4585 .6255 .6000 .7233 .6135
mimo_vl_7b_sft       .2455 .6323 .4985 .6398 .6276 .7257 .6374
lingshu_7b           .2505 .6436 .5213 .7192 .6389 .8034 .6574
lingshu_32b          .3107 .7662 .5365 .7609 .6345 .7718 .6295
huatuogpt_vision_7b  .2215 .7429 .5490 .5791 .5448 .7644 .6056
huatuogpt_vision_34b .2415 .7619 .5785 .6291 .5862 .7764 .6892
"""

PUBLISHED: dict[str, dict[str, float]] = {
    line.split()[0]: dict(zip(BENCHMARKS, map(float, line.split()[1:])))
    for line in _TABLE.strip().splitlines()
}


def published_accuracy(model: str, benchmark: str) -> float | None:
    """The study's number for a roster model id (a checkpoint ``<id>--<name>`` has none)."""
    return PUBLISHED.get(model, {}).get(benchmark)
