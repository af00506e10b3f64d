"""Scoring predictions made elsewhere, and re-scoring stability."""

import json

import pytest

from services.scoring import (
    PredictionsFileError, aggregate, judge, read_predictions_jsonl, score_predictions,
)
from tests.unit.scoring_samples import closed, mcq, open_


def samples():
    return [mcq("1", group="a", benchmark="slake"), closed("2", "yes", group="a"), open_("3", "left lung", group="b"),
            closed("4", "no", group="c")]


def test_score_predictions_unpacks_and_reports_missing_and_unknown_ids():
    result = score_predictions(samples(), {"1": "B", 2: "yes", "3": "left lung", "99": "A"}, resamples=50)
    judgements, cells = result
    assert [s["key"] for s, _ in judgements] == ["1", "2", "3", "4"]
    assert [j.correct for _, j in judgements] == [True, True, True, False]
    assert judgements[3][1].method == "unparsed"
    assert result.missing_ids == ["4"] and result.unknown_ids == ["99"]
    overall = next(c for c in cells if c.facet == "all" and c.metric == "accuracy")
    assert (overall.n, overall.value_mean, overall.n_unparsed) == (4, 0.75, 1)


def test_error_entries_and_compat_scorer():
    result = score_predictions(samples(), {"1": {"response": None, "error": "corrupt image"},
                                           "4": "It is normal."},
                               scorer="medgrid-compat-yes_no_substring", resamples=0)
    by_key = {s["key"]: j for s, j in result.judgements}
    assert by_key["1"].method == "error" and not by_key["1"].correct
    assert by_key["4"].correct


def test_rescoring_unchanged_predictions_gives_identical_rows():
    replies = {"1": "\\boxed{B}", "2": "no", "3": "the left lung", "4": "no"}
    first = score_predictions(samples(), replies)
    again = score_predictions(list(reversed(samples())), dict(reversed(list(replies.items()))))
    assert again.cells == first.cells


def test_read_predictions_jsonl(tmp_path):
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join([
        json.dumps({"id": "1", "response": "B"}),
        "",
        json.dumps({"id": 2, "prediction": "yes"}),
        json.dumps({"id": "3", "response": None}),
        json.dumps({"id": "4", "response": "", "error": "timeout"}),
    ]) + "\n", encoding="utf-8")
    assert read_predictions_jsonl(path) == {
        "1": "B", "2": "yes", "3": None, "4": {"response": "", "error": "timeout"}}


@pytest.mark.parametrize("lines, message", [
    (['{"id": "1", "response": "B"}', "{oops"], "line 2: not JSON"),
    (['{"response": "B"}'], 'line 1: expected an object with "id"'),
    (['{"id": "1", "text": "B"}'], "line 1: no response"),
    (['{"id": "1", "response": 3}'], 'line 1: "response" must be a string'),
    (['{"id": "1", "response": "B"}', '{"id": 1, "response": "C"}'], "line 2: id '1' already given on line 1"),
])
def test_read_predictions_errors_name_file_and_line(tmp_path, lines, message):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PredictionsFileError) as caught:
        read_predictions_jsonl(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_real_slake_gold_answers_are_judged_correct_and_languages_stay_apart(shared_data):
    """Every real SLAKE test answer, given back as the reply, is read and judged right."""
    records = json.loads((shared_data / "slake" / "test.json").read_text(encoding="utf-8"))
    items = []
    for record in records:
        kind = "open" if record["answer_type"].strip().upper() == "OPEN" else "closed"
        sample = (open_ if kind == "open" else closed)(
            str(record["qid"]), str(record["answer"]), group=str(record["img_id"]),
            language=record["q_lang"], skills={"content_type": record["content_type"]})
        if kind == "closed":
            sample["closed_kind"] = None   # inferred from the gold answer
        items.append((sample, judge(sample, str(record["answer"]))))
    wrong = [(s["key"], s["answer"], j) for s, j in items if not j.correct]
    assert wrong == []
    cells = aggregate(items, resamples=0)
    overall = {c.benchmark: c for c in cells if c.facet == "all" and c.metric == "accuracy"}
    assert overall["slake"].n == 1061 and overall["slake:zh"].n == 2094 - 1061
    english_closed = next(c for c in cells if c.benchmark == "slake" and c.facet == "answer_type"
                          and c.value == "closed" and c.metric == "accuracy")
    assert english_closed.n == 416


def test_real_medxpertqa_labels_read_from_boxed_and_from_option_text(shared_data):
    lines = (shared_data / "medxpertqa" / "medxpertqa_mm_input.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines[:300]:
        record = json.loads(line)
        options = [{"label": o["letter"], "text": o["content"]} for o in record["options"]]
        label = record["label"][0]
        sample = mcq(record["id"], answer=label, options=tuple(o["text"] for o in options), benchmark="medxpertqa_mm")
        assert judge(sample, f"Reasoning...\\boxed{{{label}}}").correct
        text = next(o["text"] for o in options if o["label"] == label)
        if any(len(o["text"].strip()) == 1 for o in options):
            # e.g. MM-21, whose options are the figure's labels "A", "C", "D"...: a reply "C" is the
            # letter C (lone letter comes before option text), which is the ambiguity's honest reading
            assert judge(sample, text).method == "lone_letter"
            continue
        judged = judge(sample, text)
        assert judged.correct and judged.method in ("option_text", "lone_letter"), (record["id"], text, judged)


def test_every_scorer_counts_each_closed_answer_exactly_once():
    from services.scoring import SCORERS
    replies = {"1": "B", "2": "It is normal, yes", "3": "the left lung", "4": "not present"}
    for name in SCORERS:
        cells = score_predictions(samples(), replies, scorer=name, resamples=0).cells
        counts = {(c.facet, c.value): c.n for c in cells if c.metric == "accuracy" and c.benchmark == "slake"}
        assert counts[("all", "all")] == 4, name
        assert counts[("answer_type", "closed")] == 2 and counts[("answer_type", "open")] == 1, name
        assert counts[("answer_type", "mcq")] == 1, name
