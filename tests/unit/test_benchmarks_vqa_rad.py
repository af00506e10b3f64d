"""VQA-RAD in its three downloads: derived testset.json, the original release JSON, Hugging Face parquet."""

import json
from collections import Counter

import pytest

from tests.unit.benchmark_files import (assert_names, hf_image, image_bytes, open_data_roots, truncate,  # noqa: F401
                                        write_image, write_parquet)
from services.benchmarks.inspect import inspect_benchmark
from services.benchmarks.registry import load_samples
from services.benchmarks.sample import CLOSED_BY_LABEL, CLOSED_BY_YES_NO, DataError

pytestmark = pytest.mark.usefixtures("open_data_roots")


def derived(qid, question, answer, answer_type, question_type="PRES", image="synpic1.jpg", phrase="test_freeform"):
    return {"qid": qid, "image_name": image, "image_organ": "CHEST", "answer": answer, "answer_type": answer_type,
            "question_type": question_type, "question": question, "phrase_type": phrase}


DERIVED_TEST = [
    derived(1, "Is there a pneumothorax?", "No", "CLOSED"),
    derived(2, "Is the lesion on the left or right?", "Left", "CLOSED ", "POS"),  # trailing space, as released
    derived(3, "How many ribs are fractured?", 2, "OPEN", "COUNT, ABN", image="synpic2.jpg"),
    derived(4, "What organ is shown?", "lungs", "OPEN", "ORGAN", image="synpic2.jpg", phrase="test_para"),
]


@pytest.fixture
def derived_folder(tmp_path):
    (tmp_path / "testset.json").write_text(json.dumps(DERIVED_TEST))
    (tmp_path / "trainset.json").write_text(json.dumps([derived(9, "Is this an MRI?", "yes", "CLOSED")]))
    for name in ("synpic1.jpg", "synpic2.jpg"):
        write_image(tmp_path / "images" / name)
    return tmp_path


def test_derived_json_labels_skills_and_groups(derived_folder):
    samples = load_samples("vqa_rad", derived_folder)
    assert [s.id for s in samples] == ["1", "2", "3", "4"]
    assert [(s.answer_type, s.closed_kind) for s in samples] == [
        ("closed", "yes_no"), ("closed", "choice"), ("open", None), ("open", None)]
    assert samples[2].answer == "2"  # numeric answers become text
    assert samples[2].skills["question_type"] == ["COUNT", "ABN"]
    assert {s.meta["closed_definition"] for s in samples} == {CLOSED_BY_LABEL}
    assert {s.meta["source_format"] for s in samples} == {"vqa_rad_derived_json"}
    assert [s.group for s in samples] == ["synpic1.jpg", "synpic1.jpg", "synpic2.jpg", "synpic2.jpg"]
    assert samples[0].images[0].open().mode == "RGB"
    report = inspect_benchmark("vqa_rad", derived_folder)
    # A question with several types is counted in each.
    assert report["skills"]["question_type"] == {"ABN": 1, "COUNT": 1, "ORGAN": 1, "POS": 1, "PRES": 1}
    assert report["groups"] == 2 and report["errors"] == []
    assert len(load_samples("vqa_rad", derived_folder, "train")) == 1


def test_yes_no_definition_on_request(derived_folder):
    samples = load_samples("vqa_rad", derived_folder, closed="yes_no")
    assert [s.answer_type for s in samples] == ["closed", "open", "open", "open"]
    assert {s.meta["closed_definition"] for s in samples} == {CLOSED_BY_YES_NO}


def test_original_release_splits_by_phrase_type(tmp_path):
    records = [derived(0, "Is there free air?", "Yes", "CLOSED", phrase="freeform"),
               derived(1, "Is there free air?", "Yes", "CLOSED", phrase="test_freeform"),
               derived(2, "Is air present?", "Yes", "CLOSED", phrase="test_para"),
               derived(3, "Which lobe?", "right upper", "OPEN", phrase="para"),
               derived(3, "Which lobe is it?", "right upper", "OPEN", phrase="frame")]
    for r in records:
        r.update(qid_linked_id="abc", image_case_url="https://example.org", evaluation="given")
    (tmp_path / "VQA_RAD Dataset Public.json").write_text(json.dumps(records))
    write_image(tmp_path / "VQA_RAD Image Folder" / "synpic1.jpg")
    test = load_samples("vqa_rad", tmp_path)
    assert [s.id for s in test] == ["1", "2"]
    assert {s.meta["source_format"] for s in test} == {"vqa_rad_original_json"}
    assert all(s.images[0].exists() for s in test)
    train = load_samples("vqa_rad", tmp_path, "train")
    assert [s.id for s in train] == ["0", "3-para", "3-frame"]  # a repeated qid stays unique and stable


def test_parquet_copy_closed_means_yes_no(tmp_path):
    scan, other = image_bytes((10, 10, 10)), image_bytes((90, 90, 90))
    write_parquet(tmp_path / "data" / "test-00000-of-00002.parquet", {
        "image": [hf_image(scan), hf_image(scan), hf_image(other)],
        "question": ["is there a mass?", "where is the mass?", "is this a ct?"],
        "answer": ["yes", "left lung", "no"]}, row_group_size=2)
    write_parquet(tmp_path / "data" / "test-00001-of-00002.parquet", {
        "image": [hf_image(other)], "question": ["left or right?"], "answer": ["left"]})
    samples = load_samples("vqa_rad", tmp_path)
    assert [s.id for s in samples] == ["test-0", "test-1", "test-2", "test-3"]
    assert [s.answer_type for s in samples] == ["closed", "open", "closed", "open"]
    assert {s.meta["closed_definition"] for s in samples} == {CLOSED_BY_YES_NO}
    assert samples[0].group == samples[1].group != samples[2].group == samples[3].group
    assert {s.images[0].kind for s in samples} == {"parquet"}
    assert samples[2].images[0].read_bytes() == other and samples[3].images[0].row == 0
    assert samples[1].images[0].open().getpixel((0, 0)) == (10, 10, 10)
    with pytest.raises(DataError, match="no answer_type column"):
        load_samples("vqa_rad", tmp_path, closed="label")


def test_format_option_picks_a_layout(derived_folder):
    write_parquet(derived_folder / "data" / "test-00000-of-00001.parquet", {
        "image": [hf_image(image_bytes())], "question": ["is it normal?"], "answer": ["yes"]})
    assert len(load_samples("vqa_rad", derived_folder)) == 4  # auto prefers the labelled JSON
    assert len(load_samples("vqa_rad", derived_folder, format="parquet")) == 1
    with pytest.raises(DataError, match="unknown format"):
        load_samples("vqa_rad", derived_folder, format="csv")


def test_truncated_parquet_names_the_file(tmp_path):
    path = write_parquet(tmp_path / "data" / "test-00000-of-00001.parquet", {
        "image": [hf_image(image_bytes())] * 3, "question": ["q?"] * 3, "answer": ["yes"] * 3})
    truncate(path)
    with pytest.raises(DataError, match="not a readable parquet file") as caught:
        load_samples("vqa_rad", tmp_path)
    assert_names(caught.value, file=path)
    report = inspect_benchmark("vqa_rad", tmp_path)
    assert report["n"] == 0 and "truncated" in report["errors"][0]["message"]


def test_parquet_missing_column_and_empty_cells(tmp_path):
    path = write_parquet(tmp_path / "test-00000-of-00001.parquet", {
        "image": [hf_image(image_bytes())], "question": ["q?"]})
    with pytest.raises(DataError, match="missing column") as caught:
        load_samples("vqa_rad", tmp_path)
    assert_names(caught.value, file=path, record="schema", field="answer")
    write_parquet(path, {"image": [hf_image(image_bytes()), None], "question": ["q?", "r?"], "answer": ["yes", "no"]})
    with pytest.raises(DataError, match="holds no image bytes") as caught:
        load_samples("vqa_rad", tmp_path)
    assert_names(caught.value, file=path, record="row 1", field="image")


@pytest.mark.parametrize("changes,field,message", [
    ({"image_name": None}, "image_name", "missing field"),
    ({"answer": ["yes"]}, "answer", "expected str/int/float"),
    ({"answer_type": "BOTH"}, "answer_type", "expected OPEN or CLOSED"),
    ({"question_type": 5}, "question_type", "expected text"),
])
def test_malformed_record_names_file_record_field(derived_folder, changes, field, message):
    records = [dict(r) for r in DERIVED_TEST]
    records[2].update(changes)
    (derived_folder / "testset.json").write_text(json.dumps(records))
    with pytest.raises(DataError, match=message) as caught:
        load_samples("vqa_rad", derived_folder)
    assert_names(caught.value, file=derived_folder / "testset.json", record=2, field=field)
    report = inspect_benchmark("vqa_rad", derived_folder)
    assert report["n"] == 3 and [e["field"] for e in report["errors"]] == [field]


def test_train_file_passed_as_test_is_refused(derived_folder):
    with pytest.raises(DataError, match="pass split='train'"):
        load_samples("vqa_rad", derived_folder / "trainset.json")
    assert Counter(s.split for s in load_samples("vqa_rad", derived_folder / "trainset.json", "train")) == {"train": 1}
