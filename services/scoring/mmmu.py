"""MMMU's official matching of open ("short-answer") answers, ported from MMMU's ``eval_utils.py``.

The reply is cut into key sub-responses (the text after "is", "so", "therefore", "answer", ...),
numbers are pulled out of them, and every candidate is normalised: numbers become floats rounded to
two decimals, text is lower-cased. A candidate number is correct when it equals a gold number; a
candidate string when a normalised gold string occurs in it.

The gold answer is one string or a list of acceptable strings. It is always handled as a list of
strings: iterating over a bare string would compare single characters, so that gold "12" would
accept any reply containing a "1" (a known bug elsewhere).
"""

from __future__ import annotations

import ast
import re

_INDICATORS = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ")
_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_SIMPLE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+)(?![eE][+-]?\d+)(?![,\d])")


def gold_answers(answer) -> list[str]:
    """The acceptable answers: a list stays a list; "['a', 'b']" (as MMMU stores some) is parsed."""
    if isinstance(answer, (list, tuple)):
        return [str(a) for a in answer]
    text = str(answer).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            parsed = None
        if isinstance(parsed, (list, tuple)) and parsed:
            return [str(a) for a in parsed]
    return [text]


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
        return True
    except ValueError:
        return False


def normalize_str(text: str) -> list:
    text = text.strip()
    if _is_number(text):
        return [round(float(text.replace(",", "")), 2)]
    text = text.lower()
    if len(text) == 1:
        # a one-letter answer must stand alone: " c" or "c ", not the c in "cell"
        return [" " + text, text + " "]
    return [text]


def extract_numbers(text: str) -> list[str]:
    return _COMMAS.findall(text) + _SCIENTIFIC.findall(text) + _SIMPLE.findall(text)


def _key_subresponses(response: str) -> list[str]:
    response = response.strip().strip(".").lower()
    # MMMU splits on ". " before a capital letter, after lower-casing: in effect on newlines only.
    sub_responses = re.split(r"\.\s(?=[A-Z])|\n", response)
    keys = []
    for index, part in enumerate(sub_responses):
        indicators = _INDICATORS + (("=",) if index == len(sub_responses) - 1 else ())
        shortest = None
        for indicator in indicators:
            if indicator in part:
                candidate = part.split(indicator)[-1].strip()
                if not shortest or len(candidate) < len(shortest):
                    shortest = candidate
        if shortest and shortest.strip() not in (":", ",", ".", "!", "?", ";", "'"):
            keys.append(shortest)
    return keys or [response]


def parse_open_response(response: str) -> list:
    keys = _key_subresponses(response)
    candidates = list(keys)
    for key in keys:
        candidates.extend(extract_numbers(key))
    normalised = []
    for candidate in candidates:
        normalised.extend(normalize_str(candidate))
    return list(dict.fromkeys(normalised))


def mmmu_open_correct(answer, response: str) -> bool:
    """MMMU's ``eval_open`` over ``parse_open_response(response)``."""
    gold = [norm for text in gold_answers(answer) for norm in normalize_str(text)]
    for prediction in parse_open_response(response):
        if isinstance(prediction, str):
            if any(isinstance(g, str) and g in prediction for g in gold):
                return True
        elif prediction in gold:
            return True
    return False
