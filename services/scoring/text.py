"""Text normalisation shared by extraction and metrics.

One normaliser for every comparison, so that "exact match", token recall and option-text matching
all agree on what a word is:

* Unicode NFKC, then case-folded (so full-width letters and ligatures compare equal);
* parenthesised text dropped ("CT (contrast)" -> "ct");
* punctuation becomes a word break, but a decimal point inside a number does not ("2.5 cm");
* numbers are canonical: "2.0" -> "2", "1,000" -> "1000", "007" -> "7", and the number words
  zero..twenty become digits, so "2", "two" and "2.0" are the same answer;
* "x ray", "x-ray" and "xray" are one word, "xray";
* CJK ideographs are one token each (Chinese has no spaces between words).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_THINK_TAG = re.compile(r"think>", re.IGNORECASE)
_PARENTHESISED = re.compile(r"\([^()]*\)")
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]|\d+(?:[.,]\d+)*|[^\W\d_{_CJK}][^\W_{_CJK}]*")
_THOUSANDS = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")

NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}


def strip_think(response: str) -> str:
    """Remove reasoning blocks. An unclosed <think> (output cut at max_new_tokens) leaves no
    answer; a lone </think> (the chat template opened the block) drops everything before it."""
    if not _THINK_TAG.search(response):
        return response.strip()
    if (response.count("<think>") == 1 and response.count("</think>") == 1
            and response.lstrip().startswith("<think>")):  # the usual shape, without regex work
        return response[response.index("</think>") + len("</think>"):].strip()
    text = _THINK_BLOCK.sub(" ", response)
    lower = text.lower()
    closing = lower.rfind("</think>")
    if closing >= 0:
        text = text[closing + len("</think>"):]
        lower = lower[closing + len("</think>"):]
    opening = lower.find("<think>")
    if opening >= 0:
        text = text[:opening]
    return text.strip()


def _canonical_number(token: str) -> list[str]:
    if "," in token:
        if not _THOUSANDS.fullmatch(token):
            # "1,2" is a list of numbers, not one number.
            return [piece for part in token.split(",") for piece in _canonical_number(part)]
        token = token.replace(",", "")
    whole, _, fraction = token.partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    return [f"{whole}.{fraction}" if fraction else whole]


def tokens(text: str) -> tuple[str, ...]:
    """The normalised words of ``text`` (see the module docstring)."""
    text = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    previous = None
    while "(" in text and previous != text:  # nested parentheses: drop innermost first
        previous, text = text, _PARENTHESISED.sub(" ", text)
    out: list[str] = []
    for token in _TOKEN.findall(text):
        if token[0].isdigit():
            out.extend(_canonical_number(token))
        elif token == "ray" and out and out[-1] == "x":
            out[-1] = "xray"
        else:
            out.append(NUMBER_WORDS.get(token, token))
    return tuple(out)


def normalise(text: str) -> str:
    """Normalised text: the tokens joined by single spaces ('' when there are none)."""
    return " ".join(tokens(text))


# Gold answers and option texts repeat across predictions (every model answers the same samples);
# replies do not, so only these are cached.
cached_tokens = lru_cache(maxsize=65536)(tokens)


@lru_cache(maxsize=65536)
def cached_normalise(text: str) -> str:
    return " ".join(cached_tokens(text))
