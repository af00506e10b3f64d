"""MMMU Health & Medicine: per-subject parquet, every image in placeholder order, options as list literals."""

import json

import pytest

from tests.unit.benchmark_files import (SHARED_DATA, assert_names, hf_image, image_bytes, open_data_roots,  # noqa: F401
                                        truncate, write_parquet)
from services.benchmarks.inspect import inspect_benchmark
from services.benchmarks.mmmu_med import SUBJECTS
from services.benchmarks.registry import load_samples
from services.benchmarks.sample import DataError

pytestmark = pytest.mark.usefixtures("open_data_roots")

RED, GREEN, BLUE = image_bytes((255, 0, 0)), image_bytes((0, 255, 0)), image_bytes((0, 0, 255))


def row(id, question, options, answer, images, question_type="multiple-choice", **extra):
    out = {"id": id, "question": question, "options": options, "explanation": "", "answer": answer,
           "img_type": "['Body Scans: MRI, CT.']", "topic_difficulty": "Medium", "question_type": question_type,
           "subfield": "Clinical Radiology"}
    for n in range(1, 8):
        out[f"image_{n}"] = hf_image(images[n - 1], f"image_{n}.png") if n <= len(images) else None
    out.update(extra)
    return out


def write_subject(root, subject, rows, split="validation"):
    columns = {key: [r[key] for r in rows] for key in rows[0]}
    return write_parquet(root / subject / f"{split}-00000-of-00001.parquet", columns)


def test_all_images_in_placeholder_order(tmp_path):
    write_subject(tmp_path, "Clinical_Medicine", [
        row("validation_Clinical_Medicine_1", "Compare <image 2> with <image 1>. Which shows the lesion?",
            "['<image 3>', 'Neither', 'Both']", "A", [RED, GREEN, BLUE]),
        row("validation_Clinical_Medicine_2", "<image 1> What is the most likely diagnosis?",
            "['Sarcoidosis', 'Tuberculosis', 'Lymphoma', 'Metastasis']", "c", [RED, GREEN]),
        row("validation_Clinical_Medicine_3", "How many nodules are seen in <image 1>?", "[]", "3", [BLUE],
            question_type="open"),
    ])
    samples = load_samples("mmmu_med", tmp_path, subjects="Clinical_Medicine")
    first, second, third = samples
    assert [i.column for i in first.images] == ["image_2", "image_1", "image_3"]
    assert [i.read_bytes() for i in first.images] == [GREEN, RED, BLUE]
    assert first.meta["image_placeholders"] == ["<image 2>", "<image 1>", "<image 3>"]
    assert [o.text for o in first.options] == ["<image 3>", "Neither", "Both"]
    assert second.answer == "C" and len(second.images) == 1
    assert second.meta["unreferenced_images"] == ["image_2"]  # in the row but named by no placeholder
    assert (third.answer_type, third.options, third.answer) == ("open", None, "3")
    assert first.skills == {"subject": "Clinical_Medicine", "subfield": "Clinical Radiology",
                            "topic_difficulty": "Medium", "img_type": ["Body Scans: MRI, CT."]}
    assert first.group == first.id
    assert first.images[0].open().getpixel((0, 0)) == (0, 255, 0)


def test_validation_split_shape_from_the_real_answer_key(tmp_path):
    """150 questions built from MMMU's real answer key: 30 per subject, 145 multiple choice, 5 open."""
    key = json.loads((SHARED_DATA / "mmmu" / "answer_dict_val.json").read_text())
    for subject in SUBJECTS + ("Accounting",):  # a non-medical subject in the same download is not read
        rows = []
        for id, entry in key.items():
            if not id.startswith(f"validation_{subject}_"):
                continue
            if entry["question_type"] == "multiple-choice":
                rows.append(row(id, "<image 1> Which is right?", "['a', 'b', 'c', 'd', 'e']", entry["ground_truth"],
                                [RED]))
            else:
                rows.append(row(id, "<image 1> Name it.", "[]", str(entry["ground_truth"]), [RED],
                                question_type="open"))
        write_subject(tmp_path, subject, rows)
    report = inspect_benchmark("mmmu_med", tmp_path)
    assert report["n"] == 150 and report["errors"] == []
    assert report["by_answer_type"] == {"mcq": 145, "open": 5}
    assert report["skills"]["subject"] == {s: 30 for s in SUBJECTS}
    samples = load_samples("mmmu_med", tmp_path)
    assert {s.id: s.answer for s in samples if s.answer_type == "open"}["validation_Pharmacy_3"] == "2"


def test_open_answer_variants_are_kept(tmp_path):
    write_subject(tmp_path, "Pharmacy", [
        row("validation_Pharmacy_1", "<image 1> Ratio?", "[]", "['24/7', '3.429']", [RED], question_type="open")])
    [sample] = load_samples("mmmu_med", tmp_path, subjects="Pharmacy")
    assert sample.answer == "24/7" and sample.meta["answers"] == ["24/7", "3.429"]


@pytest.mark.parametrize("changes,field,message", [
    ({"question": "See <image 2>.", }, "image_2", "referenced but the cell holds no image"),
    ({"options": "['a', 'b'"}, "options", "expected a list literal"),
    ({"options": "__import__('os').system('true')"}, "options", "expected a list literal"),
    ({"answer": "F"}, "answer", "expected an option letter A-B"),
])
def test_malformed_row_names_file_record_field(tmp_path, changes, field, message):
    good = row("validation_Pharmacy_1", "<image 1> Which?", "['a', 'b']", "A", [RED])
    bad = {**row("validation_Pharmacy_2", "<image 1> Which?", "['a', 'b']", "B", [RED]), **changes}
    path = write_subject(tmp_path, "Pharmacy", [good, bad])
    with pytest.raises(DataError, match=message) as caught:
        load_samples("mmmu_med", tmp_path, subjects="Pharmacy")
    assert_names(caught.value, file=path, record="validation_Pharmacy_2 (row 1)", field=field)
    report = inspect_benchmark("mmmu_med", tmp_path, subjects="Pharmacy")
    assert report["n"] == 1 and report["errors"][0]["field"] == field


def test_missing_subjects_and_truncated_file(tmp_path):
    path = write_subject(tmp_path, "Pharmacy", [row("validation_Pharmacy_1", "<image 1> Which?", "['a', 'b']", "A",
                                                    [RED])])
    with pytest.raises(DataError, match="no validation-\\*.parquet for subject Basic_Medical_Science"):
        load_samples("mmmu_med", tmp_path)
    report = inspect_benchmark("mmmu_med", tmp_path)
    assert report["n"] == 1 and report["error_count"] == 4  # the four subjects not downloaded
    with pytest.raises(DataError, match="unknown subject"):
        load_samples("mmmu_med", tmp_path, subjects="Dentistry")
    truncate(path, 0.3)
    with pytest.raises(DataError, match="not a readable parquet file"):
        load_samples("mmmu_med", tmp_path, subjects="Pharmacy")
