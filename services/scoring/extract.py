"""Answer extraction as named steps with an explicit fallback (lm-eval-harness style filters).

A chain is an ordered tuple of steps. Each step looks at the reply (``<think>`` blocks already
removed) and either returns the answer it read or ``None``; the first step that answers names the
extraction method stored with the prediction. When no step answers, the chain's fallback runs; the
default fallback is none at all, so the answer is unparsed (and counted wrong).

Order (DESIGN.md): ``\\boxed{}`` -> ``<answer>`` tags -> "answer is ..." -> then, per answer kind,
lone letter -> option text (multiple choice), whole-word yes/no (closed yes/no), or the whole reply
normalised (closed choice and open). A marker whose content cannot be read as an answer of the
right kind (``\\boxed{F}`` with four options) does not stop the chain: the next step is tried.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from services.scoring.text import cached_normalise, normalise, tokens

ANSWER_KINDS = ("mcq", "yes_no", "choice", "open")
DEFAULT_LABELS = ("A", "B", "C", "D", "E")


class AnswerSpace:
    """What an answer to one sample can be: its kind and, for multiple choice, the option letters
    and texts. Option texts are normalised only when a step needs them (most replies name a letter)."""

    __slots__ = ("kind", "labels", "key", "_options", "_texts", "_literals")

    def __init__(self, kind: str, options: list[dict] | None = None, key: str = ""):
        self.kind = kind                      # one of ANSWER_KINDS
        self.key = key                        # the sample id (seeds the optional random fallback)
        self._options = options or []
        self.labels = tuple(str(o["label"]).strip().upper() for o in self._options) or DEFAULT_LABELS
        self._texts = self._literals = None

    @classmethod
    def for_sample(cls, sample: dict, kind: str) -> "AnswerSpace":
        return cls(kind, sample.get("options") if kind == "mcq" else None, str(sample.get("key", "")))

    @property
    def option_texts(self) -> tuple[tuple[str, str], ...]:
        """(label, normalised option text)"""
        if self._texts is None:
            pairs = zip(self.labels, self._options)
            self._texts = tuple((label, cached_normalise(str(o["text"]))) for label, o in pairs)
        return self._texts

    @property
    def option_literals(self) -> tuple[tuple[str, str], ...]:
        """(label, option text case-folded with spaces collapsed)"""
        if self._literals is None:
            pairs = zip(self.labels, self._options)
            self._literals = tuple((label, _cached_literal(str(o["text"]))) for label, o in pairs)
        return self._literals


def literal(text: str) -> str:
    """Text compared nearly verbatim: case-folded, whitespace collapsed, symbols kept (options that
    differ only by an arrow or a sign are different options)."""
    return " ".join(clean_span(text).casefold().split())


_cached_literal = lru_cache(maxsize=65536)(literal)


@dataclass(frozen=True)
class Step:
    """``find`` picks the span of the reply to read (None: not there); ``read`` turns the span into
    an answer of the sample's kind (None: not an answer). ``read=None`` uses the kind's reader:
    a letter or option text for mcq, yes/no, or normalised text."""

    name: str
    find: Callable[[str], "str | None"]
    read: Callable[[str, "AnswerSpace"], "str | None"] | None = None


@dataclass(frozen=True)
class Extraction:
    value: str | None   # letter, 'yes'/'no', or normalised text; None when unparsed
    method: str         # the step that answered, or 'unparsed'
    span: str | None    # the raw text the value was read from (MMMU's open matcher needs it)


# ---------------------------------------------------------------------------------------------
# Finding the answer region of a reply.

_BOXED = re.compile(r"\\boxed\s*\{")
_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL | re.IGNORECASE)
_ANSWER_IS = re.compile(r"\banswer\s*(?:is|:)\s*(?:is\s*)?[:\-]?\s*(.+)", re.IGNORECASE)
# A sentence ends at . ! ? ; or a newline, but not at a decimal point ("2.5 cm").
_SENTENCE_END = re.compile(r"(?<!\d)\.(?!\d)|\.(?=\s)|[!?;\n]")
_LATEX_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mathbf)\s*\{([^{}]*)\}")
_DECORATION = " \t\r\n*_`'\"$“”‘’"


def find_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}``, braces balanced."""
    matches = list(_BOXED.finditer(text))
    for match in reversed(matches):
        depth, start = 1, match.end()
        for position in range(start, len(text)):
            char = text[position]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[start:position]
    return None


def find_answer_tag(text: str) -> str | None:
    """Content of the last ``<answer>...</answer>`` (an unclosed tag runs to the end)."""
    found = _ANSWER_TAG.findall(text)
    return found[-1] if found else None


def find_answer_is(text: str) -> str | None:
    """The clause after the last "answer is" / "answer:" in the reply."""
    found = _ANSWER_IS.findall(text)
    if not found:
        return None
    clause = clean_span(found[-1])
    end = _SENTENCE_END.search(clause)
    return clause[: end.start()] if end else clause


def clean_span(span: str) -> str:
    """Strip markdown emphasis, LaTeX text wrappers and quotes around an answer."""
    span = _LATEX_TEXT.sub(r"\1", span)
    return span.strip(_DECORATION).rstrip(".").strip(_DECORATION)


# ---------------------------------------------------------------------------------------------
# Reading an answer of a given kind from a span.

# "B", "(B)", "[B]", "B.", "B)", "B:", "B, pneumonia", "option B"; a bare upper-case letter must be
# followed by punctuation or the end, so that "A chest film shows..." is not option A.
_LETTER = re.compile(
    r"(?:(?:option|choice)\s+)?(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Za-z])(?=$|[.:)\]]|,\s))",
    re.IGNORECASE,
)


def read_letter(span: str, space: AnswerSpace) -> str | None:
    """An option letter at the start of the span."""
    span = clean_span(span)
    match = _LETTER.match(span)
    if not match:
        return None
    letter = match.group(1) or match.group(2) or match.group(3)
    bracketed = match.group(3) is None
    rest = span[match.end():].strip(" .:)")
    # A lower-case letter is an option only when nothing follows it or it is bracketed:
    # "a." is option A, "a) mass" is option A, "a, b and c" is not.
    if letter.islower() and not (bracketed or not rest or span[match.end():].startswith(")")):
        return None
    letter = letter.upper()
    return letter if letter in space.labels else None


def read_option_text(span: str, space: AnswerSpace) -> str | None:
    """The option whose text the span is, or the only option whose text it contains (whole words).
    Options contained in another matched option ("pneumonia" in "viral pneumonia") do not count."""
    verbatim = literal(span)
    same = {label for label, text in space.option_literals if text and text == verbatim}
    if len(same) == 1:
        return same.pop()
    said = normalise(span)
    if not said:
        return None
    exact = {label for label, text in space.option_texts if text and text == said}
    if len(exact) == 1:
        return exact.pop()
    if exact:
        return None
    padded = f" {said} "
    found = [(label, text) for label, text in space.option_texts if text and f" {text} " in padded]
    found = [(label, text) for label, text in found
             if not any(text != other and f" {text} " in f" {other} " for _, other in found)]
    labels = {label for label, _ in found}
    return labels.pop() if len(labels) == 1 else None


def read_yes_no(span: str, space: AnswerSpace | None = None) -> str | None:
    """'yes' or 'no' as whole words ("normal" is not "no"); a span with both is unparsed."""
    words = set(tokens(span))
    has_yes, has_no = "yes" in words, "no" in words
    if has_yes == has_no:
        return None
    return "yes" if has_yes else "no"


def read_text(span: str, space: AnswerSpace | None = None) -> str | None:
    return normalise(clean_span(span)) or None


def read_choice(span: str, space: AnswerSpace) -> str | None:
    return read_letter(span, space) or read_option_text(span, space)


_READERS = {"mcq": read_choice, "yes_no": read_yes_no, "choice": read_text, "open": read_text}


def whole_reply(text: str) -> str:
    return text


def _lone_letter(text: str, space: AnswerSpace) -> str | None:
    """The reply starts with an option letter, or its last line is only a letter."""
    letter = read_letter(text, space)
    if letter:
        return letter
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) > 1:
        last = clean_span(lines[-1])
        if len(last) <= 3:
            return read_letter(last, space)
    return None


BOXED = Step("boxed", find_boxed)
ANSWER_TAG = Step("answer_tag", find_answer_tag)
ANSWER_IS = Step("answer_is", find_answer_is)
LONE_LETTER = Step("lone_letter", whole_reply, _lone_letter)
OPTION_TEXT = Step("option_text", whole_reply, read_option_text)
YES_NO = Step("yes_no", whole_reply, read_yes_no)
EXACT = Step("exact", whole_reply, read_text)


def _random_letter(text: str, space: AnswerSpace) -> str | None:
    # MMMU's official parser guesses when it finds nothing; seeded by the sample id so that
    # re-scoring is reproducible. Off by default.
    return random.Random(space.key).choice(space.labels) if space.labels else None


RANDOM_LETTER = Step("random_fallback", whole_reply, _random_letter)

CHAINS: dict[str, tuple[Step, ...]] = {
    "mcq": (BOXED, ANSWER_TAG, ANSWER_IS, LONE_LETTER, OPTION_TEXT),
    "yes_no": (BOXED, ANSWER_TAG, ANSWER_IS, YES_NO),
    "choice": (BOXED, ANSWER_TAG, ANSWER_IS, EXACT),
    "open": (BOXED, ANSWER_TAG, ANSWER_IS, EXACT),
}


def extract(text: str, space: AnswerSpace, steps: tuple[Step, ...] | None = None,
            fallback: Step | None = None) -> Extraction:
    """Run the chain for ``space.kind`` (or ``steps``) over a reply whose think blocks are gone."""
    chain = steps if steps is not None else CHAINS[space.kind]
    for step in (*chain, fallback) if fallback is not None else chain:
        span = step.find(text)
        if span is None:
            continue
        value = (step.read or _READERS[space.kind])(span, space)
        if value is not None:
            return Extraction(value, step.name, span)
    return Extraction(None, "unparsed", None)
