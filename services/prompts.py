"""Prompt templates. The version is part of every prediction's cache key: change a word, bump it.

``reasoning`` is the study's protocol (the same English prompt for every model: reason step by
step, final answer in \\boxed{}); ``direct`` asks for the bare answer.
"""

from __future__ import annotations

TEMPLATE_VERSION = "1"

INSTRUCTIONS = {
    ("reasoning", "mcq"): "Think step by step, then give the letter of the correct option as the final answer "
                          "in \\boxed{}, for example \\boxed{A}.",
    ("reasoning", "yes_no"): "Think step by step, then give the final answer, yes or no, in \\boxed{}.",
    ("reasoning", "choice"): "Think step by step, then give the final answer in \\boxed{}.",
    ("reasoning", "open"): "Think step by step, then give the final answer as a short phrase in \\boxed{}.",
    ("direct", "mcq"): "Answer with the option's letter only.",
    ("direct", "yes_no"): "Answer with yes or no only.",
    ("direct", "choice"): "Answer with a word or short phrase only.",
    ("direct", "open"): "Answer with a word or short phrase only.",
}


def answer_kind(sample: dict) -> str:
    if sample["answer_type"] == "mcq":
        return "mcq"
    if sample["answer_type"] == "closed":
        return sample.get("closed_kind") or "choice"
    return "open"


def build_prompt(sample: dict, style: str) -> str:
    """The text part of the user turn for a ``Sample.record()``; images are placed by the chat template."""
    if style not in {"reasoning", "direct"}:
        raise ValueError(f"unknown prompt style {style!r}")
    question = sample["question"].strip()
    lines = [question]
    options = sample.get("options") or []
    # MedXpertQA's questions already end with "Answer Choices: (A) ...": never list them twice.
    if options and not (sample.get("meta") or {}).get("options_in_question"):
        lines.append("Options:")
        lines.extend(f"{o['label']}. {o['text']}" for o in options)
    lines.append(INSTRUCTIONS[(style, answer_kind(sample))])
    return "\n".join(lines)
