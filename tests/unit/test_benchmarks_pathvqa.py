"""PathVQA: the Hugging Face parquet copy and the original pickled QA files, read without running code."""

import os
import pickle

import pytest

from tests.unit.benchmark_files import (assert_names, hf_image, image_bytes, open_data_roots, truncate,  # noqa: F401
                                        write_image, write_parquet)
from services.benchmarks.inspect import inspect_benchmark
from services.benchmarks.pathvqa import load_plain_pickle
from services.benchmarks.registry import load_samples
from services.benchmarks.sample import CLOSED_BY_YES_NO, DataError

pytestmark = pytest.mark.usefixtures("open_data_roots")

QAS = [{"image": "test_0000", "question": "Is this a granuloma?", "answer": "yes"},
       {"image": "test_0000", "question": "What is present?", "answer": "Langhans giant cells"},
       {"image": "test_0001", "question": "Does the section show necrosis?", "answer": "no"}]


@pytest.fixture
def pickled_release(tmp_path):
    qas = tmp_path / "pvqa" / "qas" / "test"
    qas.mkdir(parents=True)
    (qas / "test_qa.pkl").write_bytes(pickle.dumps(QAS))
    for name in ("test_0000", "test_0001"):
        write_image(tmp_path / "pvqa" / "images" / "test" / f"{name}.jpg")
    return tmp_path


def test_pickled_release(pickled_release):
    samples = load_samples("pathvqa", pickled_release)
    assert [s.id for s in samples] == ["test-0", "test-1", "test-2"]
    assert [s.answer_type for s in samples] == ["closed", "open", "closed"]
    assert {s.closed_kind for s in samples if s.answer_type == "closed"} == {"yes_no"}
    assert {s.meta["closed_definition"] for s in samples} == {CLOSED_BY_YES_NO}
    assert [s.group for s in samples] == ["test_0000", "test_0000", "test_0001"]
    assert samples[2].images[0].path.endswith("pvqa/images/test/test_0001.jpg")
    assert samples[2].images[0].open().mode == "RGB"
    assert samples[0].skills == {}
    assert inspect_benchmark("pathvqa", pickled_release / "pvqa")["errors"] == []


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    payload = _RunsCode()
    payload.marker = marker
    path = tmp_path / "pvqa" / "qas" / "test" / "test_qa.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps([{"image": "x", "question": "q", "answer": payload}]))
    with pytest.raises(DataError, match="refusing to load .*system") as caught:
        load_samples("pathvqa", tmp_path)
    assert_names(caught.value, file=path)
    assert not marker.exists()


def test_pickle_of_other_classes_is_refused(tmp_path):
    path = tmp_path / "qa.pkl"
    path.write_bytes(pickle.dumps([{"image": "x", "question": "q", "answer": {1, 2}}], protocol=2))
    with pytest.raises(DataError, match=r"refusing to load (__builtin__|builtins)\.set"):
        load_plain_pickle(path)
    path.write_bytes(pickle.dumps([{"image": "x", "question": "q", "answer": 3.5}], protocol=0))
    assert load_plain_pickle(path) == [{"image": "x", "question": "q", "answer": 3.5}]


def test_truncated_pickle_and_bad_records(pickled_release):
    path = pickled_release / "pvqa" / "qas" / "test" / "test_qa.pkl"
    truncate(path)
    with pytest.raises(DataError, match="truncated, damaged or unsafe") as caught:
        load_samples("pathvqa", pickled_release)
    assert_names(caught.value, file=path)
    path.write_bytes(pickle.dumps([QAS[0], {"image": "test_0001", "question": "Is it?"}, "not a dict"]))
    with pytest.raises(DataError, match="missing field") as caught:
        load_samples("pathvqa", pickled_release)
    assert_names(caught.value, file=path, record=1, field="answer")
    report = inspect_benchmark("pathvqa", pickled_release)
    assert report["n"] == 1
    assert [(e["record"], e["field"]) for e in report["errors"]] == [("1", "answer"), ("2", None)]


def test_parquet_copy(tmp_path):
    slide = image_bytes((120, 40, 160), fmt="JPEG")
    write_parquet(tmp_path / "data" / "test-00000-of-00001.parquet", {
        "image": [hf_image(slide), hf_image(slide), hf_image(image_bytes())],
        "question": ["is this a granuloma?", "what is present?", "does it show necrosis?"],
        "answer": ["yes", "langhans giant cells", "no"]}, row_group_size=1)
    write_parquet(tmp_path / "data" / "validation-00000-of-00001.parquet", {
        "image": [hf_image(slide)], "question": ["q?"], "answer": ["yes"]})
    samples = load_samples("pathvqa", tmp_path)
    assert [s.answer_type for s in samples] == ["closed", "open", "closed"]
    assert samples[0].group == samples[1].group != samples[2].group
    assert samples[1].images[0].read_bytes() == slide
    assert {s.meta["source_format"] for s in samples} == {"pathvqa_parquet"}
    assert len(load_samples("pathvqa", tmp_path, "validation")) == 1
    report = inspect_benchmark("pathvqa", tmp_path)
    assert report["by_answer_type"] == {"closed": 2, "open": 1} and report["errors"] == []


def test_damaged_row_group_names_the_rows(tmp_path):
    path = write_parquet(tmp_path / "data" / "test-00000-of-00001.parquet", {
        "image": [hf_image(os.urandom(4000)) for _ in range(4)], "question": ["q?"] * 4,
        "answer": ["yes"] * 4}, row_group_size=2)
    data = bytearray(path.read_bytes())
    data[4:len(data) // 2] = b"\0" * (len(data) // 2 - 4)  # the first row group's pages, footer intact
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="cannot read row group 0") as caught:
        load_samples("pathvqa", tmp_path)
    assert_names(caught.value, file=path, record="rows 0-1")


def test_missing_split_is_named(tmp_path):
    with pytest.raises(DataError, match="no PathVQA test data"):
        load_samples("pathvqa", tmp_path)
