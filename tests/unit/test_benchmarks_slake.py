"""SLAKE on the real test.json: English by default, SLAKE's own closed/open labels, images from imgs/ or imgs.zip."""

import json
import shutil
from collections import Counter

import pytest

from tests.unit.benchmark_files import (SHARED_DATA, assert_names, image_bytes, open_data_roots,  # noqa: F401
                                        write_image, write_zip)
from services.benchmarks.images import ImageError
from services.benchmarks.inspect import inspect_benchmark
from services.benchmarks.registry import load_samples
from services.benchmarks.sample import CLOSED_BY_LABEL, DataError

pytestmark = pytest.mark.usefixtures("open_data_roots")

REAL_TEST = SHARED_DATA / "slake" / "test.json"
CONTENT_TYPES = {"Organ": 253, "Position": 186, "Abnormality": 150, "KG": 148, "Modality": 108, "Size": 65,
                 "Plane": 58, "Quantity": 52, "Color": 34, "Shape": 7}
MODALITIES = {"CT": 472, "X-Ray": 361, "MRI": 228}


@pytest.fixture(scope="module")
def real_records():
    return json.loads(REAL_TEST.read_text())


@pytest.fixture
def slake_folder(tmp_path, real_records):
    """The real test.json with a stand-in JPEG at every path its records name."""
    shutil.copy(REAL_TEST, tmp_path / "test.json")
    for name in {r["img_name"] for r in real_records}:
        write_image(tmp_path / "imgs" / name)
    return tmp_path


def test_real_english_test_split_counts(slake_folder):
    samples = load_samples("slake", slake_folder)
    assert len(samples) == 1061
    kinds = Counter(s.answer_type for s in samples)
    assert kinds == {"open": 645, "closed": 416}
    assert Counter(s.closed_kind for s in samples if s.answer_type == "closed") == {"yes_no": 355, "choice": 61}
    assert Counter(s.skills["content_type"] for s in samples) == CONTENT_TYPES
    assert Counter(s.skills["modality"] for s in samples) == MODALITIES
    assert {s.language for s in samples} == {"en"}
    assert len({s.group for s in samples}) == 96
    assert {s.meta["closed_definition"] for s in samples} == {CLOSED_BY_LABEL}
    assert all(s.images[0].exists() for s in samples)
    assert samples[0].images[0].open().size == (6, 5)


def test_real_file_read_from_unextracted_zip(tmp_path, real_records):
    shutil.copy(REAL_TEST, tmp_path / "test.json")
    members = {f"imgs/{name}": image_bytes() for name in {r["img_name"] for r in real_records}}
    write_zip(tmp_path / "imgs.zip", members)
    samples = load_samples("slake", tmp_path)
    assert len(samples) == 1061
    assert {s.images[0].kind for s in samples} == {"zip"}
    assert samples[5].images[0].member == "imgs/" + samples[5].meta["img_name"]
    assert samples[5].images[0].open().mode == "RGB"
    assert not (tmp_path / "imgs").exists()  # nothing was extracted


def test_chinese_only_on_request_never_mixed(slake_folder):
    english = load_samples("slake", slake_folder)
    chinese = load_samples("slake", slake_folder, language="zh")
    both = load_samples("slake", slake_folder, language="all")
    assert len(chinese) == 1033 and {s.language for s in chinese} == {"zh"}
    assert len(both) == 2094
    assert Counter(s.skills["language"] for s in both) == {"en": 1061, "zh": 1033}
    assert "language" not in english[0].skills


def test_yes_no_definition_on_request(slake_folder):
    samples = load_samples("slake", slake_folder, closed="yes_no")
    assert Counter(s.answer_type for s in samples)["closed"] == 355
    assert {s.meta["closed_definition"] for s in samples} == {"yes_no_answer"}


@pytest.mark.parametrize("name,split", [("validate.json", "validation"), ("validation.json", "validation"),
                                        ("train.json", "train")])
def test_split_file_names(tmp_path, name, split):
    record = {"img_id": 1, "img_name": "xmlab1/source.jpg", "question": "Is this a CT?", "answer": "Yes",
              "q_lang": "en", "answer_type": "CLOSED", "qid": 7, "content_type": "Modality", "modality": "CT"}
    (tmp_path / name).write_text(json.dumps([record]))
    write_image(tmp_path / "imgs" / "xmlab1" / "source.jpg")
    [sample] = load_samples("slake", tmp_path, split)
    assert sample.split == split and sample.closed_kind == "yes_no"


def test_inspect_real_folder_without_images_lists_the_problem(real_records):
    report = inspect_benchmark("slake", SHARED_DATA / "slake")
    assert report["n"] == 1061
    assert report["by_answer_type"] == {"open": 645, "closed": 416}
    assert report["closed_kind"] == {"yes_no": 355, "choice": 61}
    assert report["skills"]["content_type"] == CONTENT_TYPES
    assert report["skills"]["modality"] == MODALITIES
    assert "no SLAKE images found" in report["errors"][0]["message"]
    assert report["error_count"] == 1 + 1061  # the folder, then every image it should hold
    assert json.loads(json.dumps(report)) == report


def test_strict_load_without_images_names_the_folder():
    with pytest.raises(DataError, match="no SLAKE images found"):
        load_samples("slake", SHARED_DATA / "slake")


def _one_record(tmp_path, **changes):
    record = {"img_id": 1, "img_name": "xmlab1/source.jpg", "question": "Is this a CT?", "answer": "Yes",
              "q_lang": "en", "answer_type": "CLOSED", "qid": 7}
    record.update(changes)
    record = {k: v for k, v in record.items() if v is not None}
    (tmp_path / "test.json").write_text(json.dumps([record]))
    write_image(tmp_path / "imgs" / "xmlab1" / "source.jpg")
    return tmp_path / "test.json"


@pytest.mark.parametrize("changes,field,message", [
    ({"answer": None}, "answer", "missing field"),
    ({"qid": [1]}, "qid", "expected int/str"),
    ({"answer_type": "MAYBE"}, "answer_type", "expected OPEN or CLOSED"),
    ({"question": "  "}, "question", "empty value"),
    ({"img_name": "../../../etc/passwd"}, "img_name", "outside the benchmark folder"),
])
def test_malformed_record_names_file_record_field(tmp_path, changes, field, message):
    path = _one_record(tmp_path, **changes)
    with pytest.raises(DataError, match=message) as caught:
        load_samples("slake", tmp_path)
    assert_names(caught.value, file=path, record=0, field=field)
    report = inspect_benchmark("slake", tmp_path)
    assert report["n"] == 0 and report["errors"][0]["field"] == field


def test_unreadable_and_missing_images(tmp_path):
    _one_record(tmp_path)
    records = json.loads((tmp_path / "test.json").read_text())
    records.append({**records[0], "qid": 8, "img_name": "xmlab2/source.jpg"})
    records.append({**records[0], "qid": 9, "img_name": "xmlab3/source.jpg"})
    (tmp_path / "test.json").write_text(json.dumps(records))
    (tmp_path / "imgs" / "xmlab2").mkdir()
    (tmp_path / "imgs" / "xmlab2" / "source.jpg").write_bytes(b"not a jpeg")
    samples = load_samples("slake", tmp_path)  # images are references: loading does not read them
    assert len(samples) == 3
    with pytest.raises(ImageError, match="xmlab2/source.jpg"):
        samples[1].images[0].open()
    with pytest.raises(ImageError, match="xmlab3/source.jpg"):
        samples[2].images[0].open()
    missing = inspect_benchmark("slake", tmp_path)["errors"]
    assert [(e["record"], e["message"]) for e in missing] == [("9", "image not found")]
    decoded = inspect_benchmark("slake", tmp_path, decode_images=True)["errors"]
    assert [e["record"] for e in decoded] == ["8", "9"]
    assert decoded[0]["field"] == "images[0]" and "cannot decode" in decoded[0]["message"]


def test_data_path_outside_roots_is_refused(tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    _one_record(tmp_path)
    monkeypatch.setenv("MEDGRID_DATA_ROOTS", str(allowed))
    with pytest.raises(DataError, match="outside the allowed data roots"):
        load_samples("slake", tmp_path)
    with pytest.raises(DataError, match="outside the allowed data roots"):
        inspect_benchmark("slake", tmp_path)
    with pytest.raises(DataError, match="images path .* outside the allowed data roots"):
        load_samples("slake", allowed, images=tmp_path / "imgs")
