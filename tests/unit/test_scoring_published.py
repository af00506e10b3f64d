"""Reports set our numbers beside the study's published ones, for the roster models it reports."""

import json

from services.scoring.aggregate import ScoreCell
from services.scoring.published import PUBLISHED, published_accuracy
from services.scoring.report import published_comparison, to_json, to_markdown


def cell(benchmark, value, low, high):
    return ScoreCell(benchmark, "test", "all", "all", "accuracy", value, low, high, 1061, 3)


def test_table_one_is_complete_and_keyed_by_roster_ids():
    from pathlib import Path

    from services.models.spec import roster

    ids = set(roster(Path(__file__).resolve().parents[2] / "models"))
    assert set(PUBLISHED) <= ids and len(PUBLISHED) == 10
    assert all(len(row) == 7 and all(0 < v < 1 for v in row.values()) for row in PUBLISHED.values())
    assert published_accuracy("lingshu_7b", "slake") == 0.8034
    assert published_accuracy("lingshu_7b--step-2", "slake") is None  # a checkpoint is not the published model


def test_report_shows_the_difference_and_whether_the_ci_covers_it():
    runs = {"lingshu_7b": [cell("slake", 0.79, 0.77, 0.81), cell("vqa_rad", 0.60, 0.55, 0.65)],
            "tiny-model": [cell("slake", 0.1, 0.05, 0.15)]}
    rows = {(r["model"], r["benchmark"]): r for r in published_comparison(runs)}
    assert set(rows) == {("lingshu_7b", "slake"), ("lingshu_7b", "vqa_rad")}
    slake = rows[("lingshu_7b", "slake")]
    assert round(slake["difference"], 4) == round(0.79 - 0.8034, 4) and slake["published_inside_ci"] is True
    assert rows[("lingshu_7b", "vqa_rad")]["published_inside_ci"] is False  # 0.6574 is above 0.65
    markdown = to_markdown(runs)
    assert "Against the published numbers" in markdown and "| lingshu_7b | slake | 0.7900 (0.770–0.810) | 0.8034 | -0.0134 |" in markdown
    assert len(json.loads(to_json(runs))["published"]) == 2
