"""Small sample records (the dicts Sample.record() produces) for the scoring tests."""

from __future__ import annotations


def mcq(key="m1", answer="B", options=("CT", "MRI", "X-ray", "Ultrasound"), benchmark="pmc_vqa", **extra):
    record = {
        "key": key, "benchmark": benchmark, "split": "test", "question": "Which modality?",
        "options": [{"label": "ABCDE"[i], "text": text} for i, text in enumerate(options)],
        "answer": answer, "answer_text": options["ABCDE".index(answer)] if answer in "ABCDE" else answer,
        "answer_type": "mcq", "closed_kind": None, "language": "en", "skills": {},
        "reasoning_level": None, "group": None, "meta": {},
    }
    record.update(extra)
    return record


def closed(key="c1", answer="no", kind="yes_no", benchmark="slake", **extra):
    record = {
        "key": key, "benchmark": benchmark, "split": "test", "question": "Is there a lesion?",
        "options": None, "answer": answer, "answer_text": answer, "answer_type": "closed",
        "closed_kind": kind, "language": "en", "skills": {}, "reasoning_level": None,
        "group": None, "meta": {},
    }
    record.update(extra)
    return record


def open_(key="o1", answer="left lung", benchmark="slake", **extra):
    record = closed(key, answer, None, benchmark, **extra)
    record.update(answer_type="open", question="Where is the lesion?")
    record.update(extra)
    return record
