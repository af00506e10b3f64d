"""OmniMedVQA: the QA_information/Open-access JSON tree with Images/, filters and the modality quirk."""

import json

import pytest

from tests.unit.benchmark_files import assert_names, open_data_roots, write_image  # noqa: F401
from services.benchmarks.inspect import inspect_benchmark
from services.benchmarks.registry import load_samples
from services.benchmarks.sample import DataError

pytestmark = pytest.mark.usefixtures("open_data_roots")


def item(qid, dataset, image, question_type, modality, gt, options, modality_key="modality_type"):
    record = {"question_id": qid, "dataset": dataset, "question_type": question_type, modality_key: modality,
              "image_path": f"Images/{dataset}/{image}", "question": "What is shown?", "gt_answer": gt}
    record.update({f"option_{letter}": text for letter, text in zip("ABCD", options)})
    return record


RECORDS = {
    "ACRIMA": [item("ACRIMA_0", "ACRIMA", "a.png", "Disease Diagnosis", "Fundus Photography", "Glaucoma",
                    ["Normal", "Glaucoma"]),
               item("ACRIMA_1", "ACRIMA", "a.png", "Modality Recognition", "Fundus Photography", "fundus photography",
                    ["CT", "MRI", "Fundus photography", "X-ray"])],
    "Chest CT Scan": [item("Chest_CT_0", "Chest CT Scan", "c.png", "Anatomy Identification", "CT", "Lung",
                           ["Liver", "Lung", "Heart"], modality_key="modality")],  # the file that spells it so
}


@pytest.fixture
def omni_root(tmp_path):
    qa = tmp_path / "OmniMedVQA" / "QA_information" / "Open-access"
    qa.mkdir(parents=True)
    for dataset, records in RECORDS.items():
        (qa / f"{dataset}.json").write_text(json.dumps(records))
    write_image(tmp_path / "OmniMedVQA" / "Images" / "ACRIMA" / "a.png")
    write_image(tmp_path / "OmniMedVQA" / "Images" / "Chest CT Scan" / "c.png")
    return tmp_path


def test_tree_is_read_with_letters_skills_and_groups(omni_root):
    samples = load_samples("omnimedvqa", omni_root)
    assert [s.id for s in samples] == ["ACRIMA_0", "ACRIMA_1", "Chest_CT_0"]
    assert [s.answer for s in samples] == ["B", "C", "B"]  # gt_answer text -> letter, case-insensitively
    assert samples[1].answer_text == "fundus photography"
    assert len(samples[2].options) == 3
    assert samples[2].skills == {"question_type": "Anatomy Identification", "modality": "CT",
                                 "dataset": "Chest CT Scan"}
    assert samples[0].group == samples[1].group == "Images/ACRIMA/a.png"
    assert all(s.images[0].exists() for s in samples)
    assert samples[0].images[0].path.endswith("OmniMedVQA/Images/ACRIMA/a.png")


def test_filters(omni_root):
    assert [s.id for s in load_samples("omnimedvqa", omni_root, datasets="Chest CT Scan")] == ["Chest_CT_0"]
    assert [s.id for s in load_samples("omnimedvqa", omni_root, question_types="Modality Recognition")] == \
           ["ACRIMA_1"]
    assert len(load_samples("omnimedvqa", omni_root, modalities="CT,Fundus Photography")) == 3
    with pytest.raises(DataError, match=r"option modalities: \['PET'\] not in the data; valid: CT, Fundus"):
        load_samples("omnimedvqa", omni_root, modalities="PET")
    with pytest.raises(DataError, match=r"option datasets: \['ACRIMAA'\] not in the data"):
        load_samples("omnimedvqa", omni_root, datasets="ACRIMAA")


@pytest.mark.parametrize("changes,field,message", [
    ({"gt_answer": "Cataract"}, "gt_answer", "matches 0 options"),
    ({"option_B": "Normal", "gt_answer": "Normal"}, "gt_answer", "matches 2 options"),
    ({"option_B": None, "gt_answer": "Normal"}, "option_A", "fewer than two options"),
    ({"modality_type": None}, "modality_type", "missing field"),
    ({"image_path": "../../secret.png"}, "image_path", "outside the benchmark folder"),
    ({"question": 42}, "question", "expected str"),
])
def test_malformed_record_names_file_record_field(omni_root, changes, field, message):
    path = omni_root / "OmniMedVQA" / "QA_information" / "Open-access" / "ACRIMA.json"
    records = [dict(r) for r in RECORDS["ACRIMA"]]
    records[1] = {**records[0], **changes, "question_id": "ACRIMA_1"}
    records[1] = {k: v for k, v in records[1].items() if v is not None}
    path.write_text(json.dumps(records))
    with pytest.raises(DataError, match=message) as caught:
        load_samples("omnimedvqa", omni_root)
    assert_names(caught.value, file=path, record=1, field=field)
    report = inspect_benchmark("omnimedvqa", omni_root)
    assert report["n"] == 2 and [e["field"] for e in report["errors"]] == [field]


def test_duplicate_ids_are_named(omni_root):
    path = omni_root / "OmniMedVQA" / "QA_information" / "Open-access" / "ACRIMA.json"
    path.write_text(json.dumps([RECORDS["ACRIMA"][0], RECORDS["ACRIMA"][0]]))
    with pytest.raises(DataError, match="duplicate sample id") as caught:
        load_samples("omnimedvqa", omni_root)
    assert_names(caught.value, file=path, record="ACRIMA_0", field="id")


def test_inspect_counts_and_missing_images(omni_root):
    (omni_root / "OmniMedVQA" / "Images" / "ACRIMA" / "a.png").unlink()
    report = inspect_benchmark("omnimedvqa", omni_root / "OmniMedVQA")
    assert report["n"] == 3 and report["by_answer_type"] == {"mcq": 3}
    assert report["skills"]["dataset"] == {"ACRIMA": 2, "Chest CT Scan": 1}
    assert report["skills"]["modality"] == {"Fundus Photography": 2, "CT": 1}
    assert [e["record"] for e in report["errors"]] == ["ACRIMA_0", "ACRIMA_1"]
    assert report["formats"] == {"omnimedvqa_json": 3}


def test_not_a_tree(tmp_path):
    with pytest.raises(DataError, match="expected QA_information/Open-access"):
        load_samples("omnimedvqa", tmp_path)
    (tmp_path / "QA_information" / "Open-access").mkdir(parents=True)
    (tmp_path / "QA_information" / "Open-access" / "Bad.json").write_text("[{broken")
    with pytest.raises(DataError, match="invalid JSON"):
        load_samples("omnimedvqa", tmp_path)
