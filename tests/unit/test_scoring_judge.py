"""judge(): extraction method, parsed flag, correctness and metrics per answer kind."""

import pytest

from services.scoring import SCORER_NAME, SCORER_VERSION, Judgement, judge
from services.scoring.extract import RANDOM_LETTER
from tests.unit.scoring_samples import closed, mcq, open_


def test_scorer_is_named_and_versioned():
    assert SCORER_NAME == "medgrid" and SCORER_VERSION


@pytest.mark.parametrize("response, extracted, method", [
    (r"Step 1: A is unlikely. So the answer is \boxed{B}.", "B", "boxed"),
    (r"\boxed{\text{(B)}}", "B", "boxed"),
    (r"\boxed{MRI}", "B", "boxed"),
    ("<answer>B</answer>", "B", "answer_tag"),
    ("Considering A and C... The correct answer is (B) MRI because of the T2 signal.", "B", "answer_is"),
    ("Answer: **C**", "C", "answer_is"),
    ("B", "B", "lone_letter"),
    ("B. MRI", "B", "lone_letter"),
    ("(d)", "D", "lone_letter"),
    ("Looking at the signal intensities of the image...\n\nC", "C", "lone_letter"),
    ("MRI", "B", "option_text"),
    ("It looks like an ultrasound image.", "D", "option_text"),
])
def test_mcq_extraction_order(response, extracted, method):
    judgement = judge(mcq(), response)
    assert (judgement.extracted, judgement.method, judgement.parsed) == (extracted, method, True)
    assert judgement.correct == (extracted == "B")
    assert judgement.metrics == {"accuracy": float(extracted == "B")}


@pytest.mark.parametrize("response", [
    "",
    "   \n\t ",
    "A chest film would be needed to decide.",   # "A" followed by a word is not option A
    "It could be CT or MRI.",                     # two options named: no guess
    r"\boxed{F}",                                  # not an option
    "<think>The answer is B</think>",             # the answer is only inside the think block
    "<think>B is plausible but the reply was cut",  # unclosed think block: no answer
])
def test_mcq_unparsed_counts_wrong_and_has_no_random_fallback(response):
    judgement = judge(mcq(), response)
    assert judgement == Judgement(None, "unparsed", False, False, {"accuracy": 0.0})


def test_boxed_that_is_not_an_option_falls_through_to_later_steps():
    judgement = judge(mcq(), "\\boxed{F}\nThe answer is B.")
    assert (judgement.extracted, judgement.method) == ("B", "answer_is")


def test_last_boxed_wins_and_nested_braces_are_balanced():
    assert judge(mcq(), r"First \boxed{A}, on reflection \boxed{\textbf{B}}").extracted == "B"


def test_think_block_is_removed_before_extraction():
    judgement = judge(mcq(), r"<think>maybe \boxed{A}</think>\boxed{B}")
    assert (judgement.extracted, judgement.method, judgement.correct) == ("B", "boxed", True)
    assert judge(mcq(), "the model's template opened the block... A?</think>B").extracted == "B"


def test_random_fallback_is_named_opt_in_and_reproducible():
    reply = "I cannot tell."
    first = judge(mcq(), reply, fallback=RANDOM_LETTER)
    assert first.method == "random_fallback" and first.extracted in "ABCD" and first.parsed
    assert judge(mcq(), reply, fallback=RANDOM_LETTER) == first
    assert judge(mcq(), reply).method == "unparsed"


@pytest.mark.parametrize("response, extracted", [
    ("No", "no"), ("no.", "no"), ("YES", "yes"), ("Yes, a small nodule.", "yes"),
    ("There is no evidence of a lesion.", "no"),
    (r"Reasoning... \boxed{No}", "no"),
    ("It is normal.", None),                      # "normal" is not "no"
    ("Not sure.", None),                          # "not" is not "no" (only a compatibility rule says so)
    ("Nothing abnormal; nobody would say yesterday", None),
    ("Yes or no: no.", None),                     # both words and no marker: unparsed
    (r"Yes or no? \boxed{no}", "no"),             # both words but a marker decides
])
def test_yes_no_by_whole_words(response, extracted):
    judgement = judge(closed(answer="No"), response)
    assert judgement.extracted == extracted
    assert judgement.parsed == (extracted is not None)
    assert judgement.correct == (extracted == "no")
    assert judgement.method != "yes_no" or extracted is not None


@pytest.mark.parametrize("gold, response, correct", [
    ("CT", "ct", True),
    ("X-Ray", "xray", True),
    ("X-Ray", "X ray.", True),
    ("MRI", "MRI (T2-weighted)", True),   # parenthesised text dropped
    ("left", "Left.", True),
    ("left", "the left side", False),     # exact match: no partial credit for a closed choice
    ("T2", "T1", False),
])
def test_closed_choice_normalised_exact_match(gold, response, correct):
    judgement = judge(closed(answer=gold, kind="choice", question="CT or MRI?"), response)
    assert judgement.correct is correct and judgement.method == "exact" and judgement.parsed


def test_closed_kind_is_inferred_when_missing():
    assert judge(closed(answer="Yes", kind=None), "yes it is").method == "yes_no"
    assert judge(closed(answer="CT", kind=None), "CT").method == "exact"


def test_open_answer_metrics_and_accuracy_is_exact_match():
    judgement = judge(open_(answer="Left Lung"), "The left lung")
    assert judgement.extracted == "the left lung" and judgement.method == "exact"
    assert judgement.correct is False
    assert judgement.metrics == pytest.approx({
        "accuracy": 0.0, "exact_match": 0.0, "token_recall": 1.0, "token_precision": 2 / 3,
        "token_f1": 0.8, "bleu1": 2 / 3, "rouge_l": 0.8, "recall_0.75": 1.0,
    })


def test_open_answer_read_from_boxed():
    judgement = judge(open_(answer="left lung"), r"<think>...</think> It is in the \boxed{left lung}.")
    assert judgement.correct and judgement.method == "boxed" and judgement.metrics["token_f1"] == 1.0


@pytest.mark.parametrize("kind_sample", [mcq(), closed(), open_()])
def test_error_and_missing_reply_are_wrong_and_unparsed(kind_sample):
    failed = judge(kind_sample, "B", error="corrupt image")
    assert (failed.method, failed.parsed, failed.correct, failed.extracted) == ("error", False, False, None)
    assert set(failed.metrics.values()) == {0.0} and "accuracy" in failed.metrics
    missing = judge(kind_sample, None)
    assert (missing.method, missing.parsed, missing.correct) == ("unparsed", False, False)


def test_open_empty_and_whitespace_replies_score_zero_everywhere():
    for reply in ("", "  \n ", "<think>long thoughts</think>", "..."):
        judgement = judge(open_(), reply)
        assert not judgement.parsed and judgement.method == "unparsed"
        assert set(judgement.metrics.values()) == {0.0}
        assert len(judgement.metrics) == 8


def test_long_chain_of_thought_reply():
    thoughts = "Let me look at the image. " * 200 + "There is no yes-or-no shortcut here. "
    reply = f"<think>{thoughts}</think>\nAfter weighing CT against MRI, the answer is \\boxed{{B}}."
    judgement = judge(mcq(), reply)
    assert (judgement.extracted, judgement.method, judgement.correct) == ("B", "boxed", True)
    # a long chain of thought with no marker, naming several options, stays unparsed
    assert judge(mcq(), thoughts + " CT shows bone, MRI shows soft tissue.").method == "unparsed"
    # a long open reply: recall rewards verbosity, precision and F1 do not
    open_judgement = judge(open_(answer="left lung"), thoughts + "the lesion is in the left lung")
    assert open_judgement.metrics["token_recall"] == 1.0
    assert open_judgement.metrics["token_precision"] < 0.01 and open_judgement.metrics["token_f1"] < 0.02
    assert not open_judgement.correct


def test_unicode_reply():
    assert judge(closed(answer="yes"), "Ｙｅｓ。").extracted == "yes"          # full-width
    assert judge(open_(answer="Ödem"), "ödem").correct
    assert judge(open_(answer="左肺", language="zh"), "左肺").correct
    assert judge(open_(answer="左肺", language="zh"), "右肺").metrics["token_recall"] == 0.5


@pytest.mark.parametrize("sample, reply", [
    (mcq(), "\\boxed{B}"), (mcq(), "The answer is C."), (mcq(), "no idea"), (mcq(), None),
    (closed(answer="yes"), "Yes, there is."), (closed(answer="no"), "maybe"),
    (closed(answer="CT", kind="choice"), "It is a ct scan"), (closed(answer="CT", kind="choice"), "\\boxed{CT}"),
    (open_(), "\\boxed{the left lung}"), (open_(), "left upper lung lobe"), (open_(), ""),
    (open_(answer="5", benchmark="mmmu_med"), "The answer is 5.0"),
])
def test_a_stored_judgement_is_the_judgement(sample, reply):
    """Scoring rebuilds a worker's judgement from the three stored columns: nothing may differ."""
    from services.scoring import stored_judgement

    made = judge(sample, reply)
    assert stored_judgement(sample, made.extracted, made.method, made.correct) == made
    failed = judge(sample, reply, error="ImageError: cannot read image")
    assert stored_judgement(sample, failed.extracted, failed.method, failed.correct) == failed
