"""MMMU's open-answer matcher and the named compatibility scorers."""

import pytest

from services.scoring import SCORERS, get_scorer, judge, judge_compat
from services.scoring.mmmu import gold_answers, mmmu_open_correct, parse_open_response
from tests.unit.scoring_samples import closed, mcq, open_


@pytest.mark.parametrize("gold, reply, correct", [
    ("12", "The answer is 12", True),
    ("12", "12.0", True),              # numbers compared as numbers
    ("12", "1", False),                # strings, not characters: "1" is not "12"
    ("12", "2", False),
    ("12", "The count is 21", False),
    ("Transformation", "The process is malignant transformation.", True),
    ("Transformation", "t", False),     # a one-letter reply is not every answer containing it
    ("Transformation", "It is metaplasia.", False),
    ("C", "C", True),
    ("C", "cell", False),              # one-letter gold must stand alone
    ("1.06", "approximately 1.06 m", True),
    ("1.06", "approximately 1.064", True),   # MMMU rounds to two decimals
    ("-120", "so the phase is -120 degrees", True),
    ("7243000", "Total: 7,243,000", True),
    ("['$MgS$', 'MgS']", "the product is MgS", True),   # a list of acceptable answers
    (["Tampa", "Florida"], "so it is Florida", True),
])
def test_mmmu_open_matching(gold, reply, correct):
    assert mmmu_open_correct(gold, reply) is correct


def test_gold_is_always_a_list_of_strings():
    assert gold_answers("12") == ["12"]
    assert gold_answers("['a', 'b']") == ["a", "b"]
    assert gold_answers(["a", 2]) == ["a", "2"]
    assert gold_answers("[not a list") == ["[not a list"]


def test_parse_open_response_takes_the_shortest_key_part():
    assert parse_open_response("The value is 3.5\nSo the answer is 4") == [3.5, 4.0]   # number-like parts become numbers


def test_judge_uses_mmmu_matcher_for_mmmu_open_answers_only():
    mmmu = open_(answer="Transformation", benchmark="mmmu_med")
    judgement = judge(mmmu, r"<think>...</think> \boxed{malignant transformation}")
    assert judgement.correct and judgement.method == "boxed"
    assert judgement.metrics["exact_match"] == 0.0 and judgement.metrics["token_recall"] == 1.0
    # the same reply on another benchmark is judged by exact match
    assert not judge(open_(answer="Transformation"), r"\boxed{malignant transformation}").correct
    # MMMU multiple choice uses the ordinary letter chain, without MMMU's random guess
    assert judge(mcq(benchmark="mmmu_med"), "I am not sure").method == "unparsed"


def test_scorers_are_named_and_medgrid_is_the_default():
    assert get_scorer("medgrid") is judge
    assert set(SCORERS) == {"medgrid", "medgrid-compat-yes_no_substring",
                            "medgrid-compat-closed_recall_0.4", "medgrid-compat-open_recall_0.75"}
    with pytest.raises(KeyError, match="valid: medgrid"):
        get_scorer("lmms-eval")


def test_normal_is_no_only_under_the_substring_rule():
    sample = closed(answer="no")
    assert not judge(sample, "It is normal.").correct
    compat = judge_compat("yes_no_substring", sample, "It is normal.")
    assert compat.correct and compat.metrics["accuracy"] == 1.0
    assert compat.method == "unparsed"      # extraction is still medgrid's, and says so
    assert SCORERS["medgrid-compat-yes_no_substring"](sample, "It is normal.").correct


def test_closed_recall_rule_lets_not_match_no():
    assert judge_compat("closed_recall_0.4", closed(answer="no"), "Not present").correct
    assert not judge(closed(answer="no"), "Not present").correct
    assert judge_compat("closed_recall_0.4", closed(answer="left lung", kind="choice"), "left").correct
    assert not judge_compat("closed_recall_0.4", closed(answer="left lower lobe", kind="choice"), "left").correct


def test_open_recall_rule():
    sample = open_(answer="left lung")
    assert not judge(sample, "the left lung").correct
    assert judge_compat("open_recall_0.75", sample, "the left lung").correct
    assert not judge_compat("open_recall_0.75", open_(answer="left upper lobe"), "upper lobe").correct


def test_compat_rules_leave_other_kinds_and_failures_alone():
    assert judge_compat("open_recall_0.75", mcq(), "B") == judge(mcq(), "B")
    assert judge_compat("yes_no_substring", closed(), "no", error="corrupt").method == "error"
    assert not judge_compat("yes_no_substring", closed(), None).correct
