"""Study mean, consistency check, and the JSON / CSV / Markdown reports."""

import csv
import io
import json

import pytest

from services.scoring import ScoreCell, aggregate, consistency_flags, judge, study_mean
from services.scoring.report import study_tables, to_csv, to_json, to_markdown, write_report
from services.scoring.summary import outside_parts
from tests.unit.scoring_samples import closed, mcq


def cell(benchmark, value_mean, facet="all", value="all", n=100, ci=0.05, split="test", metric="accuracy"):
    low, high = (value_mean - ci, value_mean + ci) if ci is not None else (None, None)
    return ScoreCell(benchmark, split, facet, value, metric, value_mean, low, high, n, 0)


def test_study_mean_is_unweighted_over_benchmarks():
    cells = [cell("slake", 0.8, n=1061), cell("vqa_rad", 0.6, n=451), cell("pmc_vqa", 0.4, n=2000),
             cell("slake", 0.9, facet="answer_type", value="closed")]
    mean = study_mean(cells)
    assert mean.value_mean == pytest.approx(0.6) and mean.n == 3512 and mean.benchmark == "mean"
    # independent benchmarks, SE 0.05/1.96 each: SE of the mean = sqrt(3) * se / 3
    se = 0.05 / 1.96
    assert mean.ci_high - mean.value_mean == pytest.approx(1.96 * se * 3 ** 0.5 / 3, rel=1e-2)
    assert study_mean(cells, benchmarks=["slake", "vqa_rad"]).value_mean == pytest.approx(0.7)
    assert study_mean(cells, facet="reasoning_level", value="reasoning") is None
    assert study_mean([cell("slake", 0.8, ci=None), cell("vqa_rad", 0.6)]).ci_low is None


def test_study_mean_refuses_two_splits_of_one_benchmark():
    with pytest.raises(ValueError, match="pmc_vqa.*test_clean.*test_2"):
        study_mean([cell("pmc_vqa", 0.5, split="test_clean"), cell("pmc_vqa", 0.4, split="test_2")])


def test_consistency_flags_an_overall_score_outside_its_parts():
    # like the study's tables: overall .70 with understanding .60 and reasoning .65
    bad = [cell("slake", 0.70, n=10), cell("slake", 0.60, "reasoning_level", "understanding", n=4),
           cell("slake", 0.65, "reasoning_level", "reasoning", n=6)]
    (flag,) = consistency_flags(bad)
    assert (flag.benchmark, flag.facet, flag.overall) == ("slake", "reasoning_level", 0.70)
    assert "outside its reasoning_level parts" in flag.message
    good = bad[:1] + [cell("slake", 0.75, "reasoning_level", "understanding", n=4), bad[2]]
    assert consistency_flags(good) == []
    # parts that do not cover every item (unlabelled items) are not checked
    partial = [cell("slake", 0.70, n=12)] + bad[1:]
    assert consistency_flags(partial) == []
    assert outside_parts(0.5, [0.6, 0.7]) and not outside_parts(0.65, [0.6, 0.7]) and not outside_parts(0.5, [])


def test_aggregate_cells_are_always_consistent():
    items = []
    for i in range(60):
        sample = closed(f"s{i}", "yes", reasoning_level=("reasoning" if i % 3 else "understanding"),
                        group=f"g{i % 7}", skills={"modality": "CT" if i % 2 else "MRI"})
        items.append((sample, judge(sample, "yes" if i % 5 else "no")))
    assert consistency_flags(aggregate(items, resamples=50)) == []


def two_models():
    runs = {}
    for model, reply in (("model-a", "B"), ("model-b", "A")):
        items = []
        for i in range(20):
            for benchmark in ("slake", "medxpertqa_mm", "demo"):
                sample = mcq(f"{benchmark}{i}", benchmark=benchmark, group=f"img{i % 5}",
                             reasoning_level="reasoning" if i % 2 else "understanding")
                items.append((sample, judge(sample, reply if i % 4 else "C")))
        runs[model] = aggregate(items, resamples=50)
    return runs


def test_study_tables_model_by_benchmark():
    tables = study_tables(two_models())
    assert list(tables) == ["all", "reasoning", "understanding"]
    table = tables["all"]
    assert table.columns == ("medxpertqa_mm", "slake", "demo")   # the study's order, others after
    assert table.rows["model-a"]["slake"].value_mean == 0.75
    assert table.rows["model-b"]["slake"].value_mean == 0.0
    assert table.means["model-a"].value_mean == pytest.approx(0.75)
    assert tables["reasoning"].rows["model-a"]["slake"].n == 10


def test_study_tables_split_columns_when_splits_differ():
    runs = {"m": [cell("pmc_vqa", 0.5, split="test_clean"), cell("pmc_vqa", 0.4, split="test_2")]}
    table = study_tables(runs)["all"]
    assert table.columns == ("pmc_vqa (test_2)", "pmc_vqa (test_clean)")
    assert table.means["m"] is None


def test_json_csv_markdown(tmp_path):
    runs = two_models()
    report = json.loads(to_json(runs))
    assert report["scorer"] == "medgrid" and report["scorer_version"]
    assert set(report["tables"]) == {"all", "reasoning", "understanding"}
    assert report["tables"]["all"]["rows"]["model-a"]["slake"]["value_mean"] == 0.75
    assert report["consistency"] == []
    rows = list(csv.DictReader(io.StringIO(to_csv(runs))))
    assert len(rows) == sum(len(cells) for cells in runs.values())
    assert rows[0].keys() >= {"model", "scorer", "scorer_version", "benchmark", "facet", "value", "metric",
                              "value_mean", "ci_low", "ci_high", "n", "n_unparsed"}
    markdown = to_markdown(runs)
    assert "| model | medxpertqa_mm | slake | demo | mean |" in markdown
    assert "| model-a | 0.7500 (" in markdown
    assert "No overall score lies outside its parts." in markdown
    written = write_report(runs, tmp_path / "out", stem="grid")
    assert sorted(p.name for p in written.values()) == ["grid.csv", "grid.json", "grid.md"]
    assert all(p.read_text(encoding="utf-8") for p in written.values())


def test_report_accepts_a_plain_list_and_shows_flags():
    bad = [cell("slake", 0.70, n=10), cell("slake", 0.60, "reasoning_level", "understanding", n=4),
           cell("slake", 0.65, "reasoning_level", "reasoning", n=6)]
    markdown = to_markdown(bad)
    assert "- slake (test) accuracy: overall 0.7000 lies outside" in markdown
    assert json.loads(to_json(bad))["consistency"][0]["facet"] == "reasoning_level"
