"""MedXpertQA-MM: the authors' real evaluation copy and the Hugging Face MM/test.jsonl layout."""

import json
import shutil
from collections import Counter

import pytest

from tests.unit.benchmark_files import SHARED_DATA, assert_names, image_bytes, open_data_roots, write_zip  # noqa: F401
from services.benchmarks.inspect import inspect_benchmark
from services.benchmarks.registry import load_samples
from services.benchmarks.sample import DataError
from services.prompts import build_prompt

pytestmark = pytest.mark.usefixtures("open_data_roots")

EVAL_COPY = SHARED_DATA / "medxpertqa" / "medxpertqa_mm_input.jsonl"


@pytest.fixture(scope="module")
def real_records():
    return [json.loads(line) for line in EVAL_COPY.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def eval_folder(tmp_path_factory, real_records):
    """The real evaluation copy beside an images.zip holding a stand-in for every image it names."""
    folder = tmp_path_factory.mktemp("medxpertqa")
    shutil.copy(EVAL_COPY, folder / EVAL_COPY.name)
    png = image_bytes()
    write_zip(folder / "images.zip", {f"images/{i['image_path']}": png for r in real_records for i in r["images"]})
    return folder


def test_real_evaluation_copy_counts(eval_folder):
    samples = load_samples("medxpertqa_mm", eval_folder)
    assert len(samples) == 2000
    assert Counter(s.reasoning_level for s in samples) == {"reasoning": 1446, "understanding": 554}
    assert Counter(s.skills["medical_task"] for s in samples) == {"Diagnosis": 1199, "Treatment": 448,
                                                                  "Basic Medicine": 353}
    assert len(Counter(s.skills["body_system"] for s in samples)) == 12
    assert Counter(len(s.images) for s in samples)[1] == 1581
    assert all(s.answer_type == "mcq" and len(s.options) == 5 for s in samples)
    assert all(s.answer in {o.label for o in s.options} for s in samples)
    assert all(s.meta["options_in_question"] is True for s in samples)
    assert {s.meta["source_format"] for s in samples} == {"medxpertqa_eval_jsonl"}
    first = samples[0]
    assert first.id == "MM-0" and [i.label for i in first.images] == ["MM-0-a.jpeg", "MM-0-b.jpeg"]
    assert first.images[1].open().size == (6, 5)


def test_options_are_not_listed_twice_in_the_prompt(eval_folder):
    sample = load_samples("medxpertqa_mm", eval_folder, limit=1)[0]
    prompt = build_prompt(sample.record(), "reasoning")
    assert prompt.count("(A) ") == 1
    assert "Options:" not in prompt


def _as_hugging_face(record):
    return {"id": record["id"], "question": record["question"],
            "options": {o["letter"]: o["content"] for o in record["options"]}, "label": record["label"][0],
            "images": [i["image_path"] for i in record["images"]], "medical_task": record["medical_task"],
            "body_system": record["body_system"], "question_type": record["question_type"]}


def test_hugging_face_layout_gives_the_same_samples(tmp_path, eval_folder, real_records):
    chosen = real_records[:40]
    (tmp_path / "MM").mkdir()
    (tmp_path / "MM" / "test.jsonl").write_text("\n".join(json.dumps(_as_hugging_face(r)) for r in chosen) + "\n")
    png = image_bytes()
    write_zip(tmp_path / "images.zip", {f"images/{i['image_path']}": png for r in chosen for i in r["images"]})
    hf = load_samples("medxpertqa_mm", tmp_path)
    evaluation = load_samples("medxpertqa_mm", eval_folder, limit=40)
    assert [(s.id, s.question, s.options, s.answer, [i.label for i in s.images], s.skills, s.reasoning_level)
            for s in hf] == \
           [(s.id, s.question, s.options, s.answer, [i.label for i in s.images], s.skills, s.reasoning_level)
            for s in evaluation]
    assert {s.meta["source_format"] for s in hf} == {"medxpertqa_hf_jsonl"}
    assert all(i.exists() for s in hf for i in s.images)


def test_images_folder_and_images_option(tmp_path, real_records):
    record = real_records[1]
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "test.jsonl").write_text(json.dumps(_as_hugging_face(record)))
    elsewhere = tmp_path / "pictures"
    for image in record["images"]:
        elsewhere.mkdir(exist_ok=True)
        (elsewhere / image["image_path"]).write_bytes(image_bytes())
    [sample] = load_samples("medxpertqa_mm", tmp_path / "ann", images=elsewhere)
    assert all(i.exists() and i.kind == "file" for i in sample.images)


@pytest.mark.parametrize("change,field,message", [
    (lambda r: r.update(label=["F"]), "label", "not one of the options"),
    (lambda r: r.update(label=["A", "B"]), "label", "expected one answer letter"),
    (lambda r: r.update(question_type="Recall"), "question_type", "expected Reasoning or Understanding"),
    (lambda r: r.update(options="A or B"), "options", "expected dict/list"),
    (lambda r: r.update(images=[]), "images", "non-empty list"),
    (lambda r: r.pop("medical_task"), "medical_task", "missing field"),
])
def test_malformed_record_names_file_record_field(tmp_path, real_records, change, field, message):
    records = [dict(real_records[0]), dict(real_records[1])]
    change(records[1])
    path = tmp_path / "medxpertqa_mm_input.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match=message) as caught:
        load_samples("medxpertqa_mm", tmp_path)
    assert_names(caught.value, file=path, record=1, field=field)
    report = inspect_benchmark("medxpertqa_mm", tmp_path, check_images=False)
    assert report["n"] == 1 and report["error_count"] == 1 and report["errors"][0]["field"] == field


def test_broken_json_line_is_named(tmp_path, real_records):
    path = tmp_path / "medxpertqa_mm_input.jsonl"
    path.write_text(json.dumps(real_records[0]) + "\n{not json\n")
    (tmp_path / "images").mkdir()
    with pytest.raises(DataError, match="invalid JSON line") as caught:
        load_samples("medxpertqa_mm", tmp_path)
    assert_names(caught.value, file=path, record="line 2")


def test_inspect_real_copy_reports_levels_and_tasks():
    report = inspect_benchmark("medxpertqa_mm", SHARED_DATA / "medxpertqa", check_images=False)
    assert report["n"] == 2000
    assert report["reasoning_level"] == {"reasoning": 1446, "understanding": 554}
    assert report["skills"]["medical_task"] == {"Diagnosis": 1199, "Treatment": 448, "Basic Medicine": 353}
    assert report["options_in_question"] == 2000
    assert report["images"]["total"] == 2852
    assert report["error_count"] == 1 and "no MedXpertQA images found" in report["errors"][0]["message"]
