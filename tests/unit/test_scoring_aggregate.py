"""aggregate(): cells, counts, languages, clustered bootstrap intervals."""

import random

import numpy as np
import pytest

from services.scoring import Aggregator, ScoreCell, aggregate, judge
from services.scoring.bootstrap import cluster_bootstrap
from tests.unit.scoring_samples import closed, mcq, open_


def cells_by(cells, benchmark=None, facet="all", value="all", metric="accuracy"):
    found = [c for c in cells if c.facet == facet and c.value == value and c.metric == metric
             and (benchmark is None or c.benchmark == benchmark)]
    assert len(found) <= 1, found
    return found[0] if found else None


def judged(pairs):
    return [(sample, judge(sample, reply)) for sample, reply in pairs]


def slake_items():
    """Four closed (3 right) and two open (1 exact) items on three images, with skills."""
    return judged([
        (closed("c1", "yes", group="img1", skills={"content_type": "Organ"}, reasoning_level="understanding"), "yes"),
        (closed("c2", "no", group="img1", skills={"content_type": "Organ"}, reasoning_level="reasoning"), "no"),
        (closed("c3", "CT", kind="choice", group="img2", skills={"content_type": "Modality"}), "CT"),
        (closed("c4", "no", group="img2", skills={"content_type": "Abnormality"}), "It is normal"),
        (open_("o1", "left lung", group="img3", skills={"content_type": "Position"}), "left lung"),
        (open_("o2", "heart", group="img3", skills={"content_type": "Organ"}), "the heart"),
    ])


def test_closed_answers_are_neither_dropped_nor_double_counted():
    cells = aggregate(slake_items())
    overall = cells_by(cells)
    assert (overall.n, overall.value_mean, overall.n_unparsed) == (6, pytest.approx(4 / 6), 1)
    closed_cell = cells_by(cells, facet="answer_type", value="closed")
    open_cell = cells_by(cells, facet="answer_type", value="open")
    assert (closed_cell.n, closed_cell.value_mean) == (4, 0.75)
    assert (open_cell.n, open_cell.value_mean) == (2, 0.5)
    assert closed_cell.n + open_cell.n == overall.n
    assert cells_by(cells, facet="closed_kind", value="yes_no").n == 3
    assert cells_by(cells, facet="closed_kind", value="choice").n == 1
    # open metrics cover the open items only, in every cell that has some
    recall = cells_by(cells, metric="token_recall")
    assert (recall.n, recall.value_mean) == (2, 1.0)
    assert cells_by(cells, facet="answer_type", value="closed", metric="token_recall") is None
    assert cells_by(cells, facet="content_type", value="Organ", metric="token_f1").value_mean == pytest.approx(2 / 3)
    assert cells_by(cells, facet="content_type", value="Organ").n == 3


def test_reasoning_level_and_skills_only_count_labelled_items():
    cells = aggregate(slake_items())
    assert cells_by(cells, facet="reasoning_level", value="understanding").n == 1
    assert cells_by(cells, facet="reasoning_level", value="reasoning").n == 1
    assert sum(c.n for c in cells if c.facet == "content_type" and c.metric == "accuracy") == 6


def test_multi_label_facet_counts_the_item_under_each_label():
    sample = closed("q", "yes", skills={"question_type": ["PRES", "ORGAN", "PRES"]}, benchmark="vqa_rad")
    cells = aggregate(judged([(sample, "yes")]))
    assert cells_by(cells, facet="question_type", value="PRES").n == 1
    assert cells_by(cells, facet="question_type", value="ORGAN").n == 1
    assert cells_by(cells).n == 1


def test_slake_chinese_is_never_mixed_into_english():
    items = judged([
        (closed("en1", "yes", benchmark="slake"), "yes"),
        (closed("en2", "no", benchmark="slake"), "no"),
        (closed("zh1", "是", kind="choice", benchmark="slake", language="zh"), "否"),
    ])
    cells = aggregate(items)
    english, chinese = cells_by(cells, "slake"), cells_by(cells, "slake:zh")
    assert (english.n, english.value_mean) == (2, 1.0)
    assert (chinese.n, chinese.value_mean) == (1, 0.0)


def test_benchmarks_and_splits_are_separate_cells():
    a = mcq("a", benchmark="pmc_vqa", split="test_clean")
    b = mcq("b", benchmark="pmc_vqa", split="test_2")
    cells = aggregate(judged([(a, "B"), (b, "A")]))
    assert {(c.split, c.value_mean) for c in cells if c.facet == "all"} == {("test_clean", 1.0), ("test_2", 0.0)}


def synthetic(n=600, images=150, seed=0, benchmark="vqa_rad"):
    """Items clustered by image, with image-level difficulty (so clustering widens the interval)."""
    rng = random.Random(seed)
    ease = [rng.random() for _ in range(images)]
    items = []
    for i in range(n):
        image = i % images
        sample = closed(f"s{i}", "yes", benchmark=benchmark, group=f"img{image}",
                        skills={"modality": ["CT", "MRI", "X-Ray"][image % 3], "dataset": f"d{image % 4}"})
        items.append((sample, judge(sample, "yes" if rng.random() < ease[image] else "no")))
    return items


def test_bootstrap_is_deterministic_and_order_independent():
    items = synthetic()
    first = aggregate(items, seed=7)
    assert aggregate(items, seed=7) == first
    shuffled = items[:]
    random.Random(1).shuffle(shuffled)
    assert aggregate(shuffled, seed=7) == first
    other_seed = aggregate(items, seed=8)
    assert [c.value_mean for c in other_seed] == [c.value_mean for c in first]
    assert [c.ci_low for c in other_seed] != [c.ci_low for c in first]


def test_interval_contains_the_mean_and_is_wider_when_clustered():
    items = synthetic()
    clustered = cells_by(aggregate(items))
    assert clustered.ci_low <= clustered.value_mean <= clustered.ci_high
    assert 0 < clustered.ci_low < clustered.ci_high < 1
    for sample, _ in items:
        sample["group"] = None
    independent = cells_by(aggregate(items))
    assert independent.value_mean == clustered.value_mean
    assert (clustered.ci_high - clustered.ci_low) > 1.3 * (independent.ci_high - independent.ci_low)
    # binomial standard error for independent items: the width is about 4 SE
    p, n = independent.value_mean, independent.n
    assert independent.ci_high - independent.ci_low == pytest.approx(3.92 * (p * (1 - p) / n) ** 0.5, rel=0.15)


def test_every_cell_interval_contains_its_mean():
    for cell in aggregate(synthetic(n=200, images=40) + slake_items(), resamples=200):
        if cell.ci_low is not None:
            assert cell.ci_low <= cell.value_mean <= cell.ci_high, cell


def test_one_cluster_has_no_interval_and_zero_resamples_none():
    items = judged([(closed("a", "yes", group="img"), "yes"), (closed("b", "yes", group="img"), "no")])
    cell = cells_by(aggregate(items))
    assert (cell.value_mean, cell.ci_low, cell.ci_high) == (0.5, None, None)
    assert cells_by(aggregate(synthetic(), resamples=0)).ci_low is None


def test_fast_multinomial_path_matches_index_resampling():
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 6, size=3000)
    sums = rng.binomial(sizes, 0.6).astype(float)[:, None]
    fast = cluster_bootstrap(sizes, sums, np.random.default_rng(1), 4000)[:, 0]   # few distinct rows
    picks = np.random.default_rng(2).integers(0, len(sizes), size=(4000, len(sizes)))
    naive = sums[picks, 0].sum(1) / sizes[picks].sum(1)
    assert fast.mean() == pytest.approx(naive.mean(), abs=5e-4)
    assert fast.std() == pytest.approx(naive.std(), rel=0.06)
    # continuous sums take the index path; same distribution
    continuous = sums + rng.random((len(sizes), 1)) * 0.01
    slow = cluster_bootstrap(sizes, continuous, np.random.default_rng(1), 4000)[:, 0]
    assert slow.std() == pytest.approx(naive.std(), rel=0.06)


def test_macro_average_by_dataset_and_modality():
    items = synthetic()
    cells = aggregate(items)
    parts = [c for c in cells if c.facet == "dataset" and c.metric == "accuracy"]
    macro = cells_by(cells, facet="macro:dataset")
    assert len(parts) == 4
    assert macro.value_mean == pytest.approx(sum(c.value_mean for c in parts) / 4)
    assert macro.n == sum(c.n for c in parts) == 600
    assert macro.ci_low <= macro.value_mean <= macro.ci_high
    assert cells_by(cells, facet="macro:modality") is not None


def test_streaming_aggregator_equals_aggregate():
    items = slake_items() + synthetic(n=90, images=30)
    streamed = Aggregator()
    for sample, judgement in items:
        streamed.add(sample, judgement)
    assert len(streamed) == len(items)
    assert streamed.cells(seed=3) == aggregate(items, seed=3)


def test_empty_input_gives_no_cells():
    assert aggregate([]) == []


def test_cells_are_plain_frozen_values():
    cell = cells_by(aggregate(slake_items()))
    assert isinstance(cell, ScoreCell)
    assert all(isinstance(getattr(cell, f), (str, int, float, type(None))) for f in cell.__dataclass_fields__)
    assert type(cell.n) is int and type(cell.value_mean) is float
    with pytest.raises(AttributeError):
        cell.n = 3


def test_merged_aggregators_equal_one_aggregator():
    items = slake_items() + synthetic(n=120, images=30) + synthetic(n=40, images=10, benchmark="slake")
    for sample, _ in items[:5]:
        sample["group"] = None   # a few singleton clusters too
    halves = [Aggregator().add_all(items[:70]), Aggregator().add_all(items[70:])]
    merged = Aggregator().merge(halves[0]).merge(halves[1])
    assert len(merged) == len(items)
    assert merged.cells(seed=5) == aggregate(items, seed=5)
