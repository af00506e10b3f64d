"""Metrics and normalisation, against hand-computed values."""

import math
import random

import pytest

from services.scoring.metrics import (
    METRICS, OPEN_METRICS, PRF, bleu1, exact_match, lcs_length, open_metrics, rouge_l, token_f1,
    token_precision, token_prf, token_recall,
)
from services.scoring.text import normalise, strip_think, tokens


@pytest.mark.parametrize("text, expected", [
    ("Left Lung.", "left lung"),
    ("  the   LEFT\tlung!! ", "the left lung"),
    ("MRI (T2-weighted)", "mri"),                    # parenthesised text dropped
    ("CT (with (IV) contrast) scan", "ct scan"),     # nested parentheses too
    ("X-ray", "xray"), ("x ray", "xray"), ("Xray", "xray"), ("chest X-Ray film", "chest xray film"),
    ("T2-weighted", "t2 weighted"),
    ("2", "2"), ("two", "2"), ("2.0", "2"), ("2.50 cm", "2.5 cm"), ("007", "7"), ("0.5", "0.5"),
    ("1,000", "1000"), ("1,2", "1 2"),
    ("twenty-one", "20 1"),                          # known limit: compound number words stay apart
    ("ﬁbrosis", "fibrosis"),                         # NFKC ligature
    ("ÖDEM", "ödem"),
    ("Ｙｅｓ。", "yes"),                               # full width
    ("左肺", "左 肺"),                                 # one token per ideograph
    ("", ""), ("   ", ""), ("?!.", ""),
])
def test_normalise(text, expected):
    assert normalise(text) == expected


def test_strip_think():
    assert strip_think("<think>a\nb</think> B") == "B"
    assert strip_think("<THINK>x</THINK>yes<think>y</think>") == "yes"
    assert strip_think("<think>cut off mid thought") == ""
    assert strip_think("the template opened it</think>no") == "no"
    assert strip_think("plain") == "plain"


def test_prf_is_named_and_not_swapped():
    # pred "left lung" vs gold "right left lung base": 2 common words
    prf = token_prf("left lung", "right left lung base")
    assert isinstance(prf, PRF)
    assert prf == (1.0, 0.5, pytest.approx(2 / 3))
    assert (prf.precision, prf.recall, prf.f1) == (1.0, 0.5, pytest.approx(2 / 3))
    assert token_precision("left lung", "right left lung base") == 1.0
    assert token_recall("left lung", "right left lung base") == 0.5
    assert token_f1("left lung", "right left lung base") == pytest.approx(2 / 3)
    # the other direction swaps precision and recall, not F1
    assert token_prf("right left lung base", "left lung") == (0.5, 1.0, pytest.approx(2 / 3))


@pytest.mark.parametrize("pred, gold, expected", [
    # exact_match, recall, precision, f1, bleu1, rouge_l, recall_0.75
    ("the left lung", "left lung", (0, 1, 2 / 3, 0.8, 2 / 3, 0.8, 1)),
    ("lung lung lung", "lung", (0, 1, 1 / 3, 0.5, 1 / 3, 0.5, 1)),      # repeated words clipped
    ("lung", "left lung", (0, 0.5, 1, 2 / 3, math.exp(-1), 2 / 3, 0)),  # brevity penalty e^(1-2/1)
    ("lung left", "left lung", (0, 1, 1, 1, 1, 0.5, 1)),                # order matters to ROUGE-L only
    ("Left-Lung.", "left lung", (1, 1, 1, 1, 1, 1, 1)),
    ("right middle lobe", "right middle lobe lung", (0, 0.75, 1, 6 / 7, math.exp(1 - 4 / 3), 6 / 7, 1)),
    ("upper lobe", "left upper lobe", (0, 2 / 3, 1, 0.8, math.exp(1 - 3 / 2), 0.8, 0)),
    ("heart", "left lung", (0, 0, 0, 0, 0, 0, 0)),
    ("", "left lung", (0, 0, 0, 0, 0, 0, 0)),
    ("   ", "left lung", (0, 0, 0, 0, 0, 0, 0)),
    ("two", "2", (1, 1, 1, 1, 1, 1, 1)),
    ("2.0", "2", (1, 1, 1, 1, 1, 1, 1)),
    ("2.5", "25", (0, 0, 0, 0, 0, 0, 0)),
    ("3 cm", "3.0 cm", (1, 1, 1, 1, 1, 1, 1)),
    ("ödem", "Ödem", (1, 1, 1, 1, 1, 1, 1)),
    ("右肺", "左肺", (0, 0.5, 0.5, 0.5, 0.5, 0.5, 0)),
])
def test_metrics_by_hand(pred, gold, expected):
    got = open_metrics(pred, gold)
    assert tuple(got) == OPEN_METRICS
    assert tuple(got.values()) == pytest.approx(expected)
    # the registry functions agree with the one-pass version
    assert tuple(METRICS[name](pred, gold) for name in OPEN_METRICS) == pytest.approx(expected)


def test_long_chain_of_thought_metrics():
    reply = "word " * 998 + "left lung"   # 1000 tokens
    got = open_metrics(reply, "left lung")
    assert got["token_recall"] == 1.0 and got["recall_0.75"] == 1.0
    assert got["token_precision"] == pytest.approx(2 / 1000)
    assert got["token_f1"] == pytest.approx(2 * (2 / 1000) / (1 + 2 / 1000))
    assert got["bleu1"] == pytest.approx(2 / 1000)                  # no brevity penalty when longer
    assert got["rouge_l"] == pytest.approx(2 * 2 / 1002)
    assert got["exact_match"] == 0.0


def test_lcs_length():
    assert lcs_length(tuple("abcbdab"), tuple("bdcaba")) == 4
    assert lcs_length((), ("a",)) == 0


def test_registry_agrees_on_random_strings():
    rng = random.Random(0)
    words = ["left", "right", "lung", "lobe", "2", "two", "x-ray", "(a)", "no", "yes"]
    for _ in range(300):
        pred = " ".join(rng.choices(words, k=rng.randint(0, 6)))
        gold = " ".join(rng.choices(words, k=rng.randint(1, 4)))
        fast = open_metrics(pred, gold)
        for name in OPEN_METRICS:
            assert METRICS[name](pred, gold) == pytest.approx(fast[name]), (name, pred, gold)
            assert 0.0 <= fast[name] <= 1.0
        if not tokens(gold):
            continue
        assert exact_match(pred, gold) == float(tokens(pred) == tokens(gold) and bool(tokens(pred)))
        assert bleu1(pred, gold) <= token_precision(pred, gold) + 1e-12
        assert rouge_l(pred, gold) <= token_f1(pred, gold) + 1e-12


def test_overlap_is_the_multiset_intersection():
    from collections import Counter

    from services.scoring.metrics import _overlap
    rng = random.Random(1)
    for _ in range(500):
        a = tuple(rng.choices("abcde", k=rng.randint(0, 8)))
        b = tuple(rng.choices("abcde", k=rng.randint(0, 8)))
        assert _overlap(a, b) == sum((Counter(a) & Counter(b)).values())
