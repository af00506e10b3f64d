"""PMC-VQA: v1 (test_clean.csv, test.csv) and v2 (test_2.csv) layouts, figures from folders or zips."""

import csv

import pytest

from tests.unit.benchmark_files import assert_names, image_bytes, open_data_roots, write_image, write_zip  # noqa: F401
from services.benchmarks.inspect import inspect_benchmark
from services.benchmarks.registry import load_samples
from services.benchmarks.sample import DataError

pytestmark = pytest.mark.usefixtures("open_data_roots")

V1_HEADER = ["Figure_path", "Question", "Answer", "Choice A", "Choice B", "Choice C", "Choice D", "Answer_label"]
V1_ROWS = [
    ["PMC1_F1.jpg", "What imaging modality was used?", "CT", " A:CT ", " B:MRI", " C:X-ray", " D:PET", "A"],
    ["PMC1_F1.jpg", "Which organ is enlarged?", "Liver", "A:Spleen", "B:Liver", "C:Kidney",
     "D:Heart, with pericardial effusion", "B"],
    ["PMC2_F3.jpg", "What does the arrow show?", "A cyst", "A:A mass", "B:A stone", "C:A cyst", "D:Air", "C"],
]
V2_HEADER = ["index", "Figure_path", "Caption", "Question", "Choice A", "Choice B", "Choice C", "Choice D",
             "Answer", "split"]
V2_ROWS = [
    ["17", "PMC9_F2.jpg", "Axial CT of the chest.", "Which plane is shown?", "A:Axial", "B:Coronal",
     "C:Sagittal", "D:Oblique", "A", "test"],
    ["18", "PMC9_F2.jpg", "Axial CT of the chest.", "What is the modality?", "A:MRI", "B:Ultrasound", "C:CT",
     "D:PET", "C", "test"],
]


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def v1_folder(tmp_path):
    write_csv(tmp_path / "test_clean.csv", V1_HEADER, V1_ROWS)
    write_csv(tmp_path / "test.csv", V1_HEADER, V1_ROWS[:2])
    for name in ("PMC1_F1.jpg", "PMC2_F3.jpg"):
        write_image(tmp_path / "figures" / name)
    return tmp_path


def test_v1_test_clean_with_figures_folder(v1_folder):
    samples = load_samples("pmc_vqa", v1_folder)
    assert [s.split for s in samples] == ["test_clean"] * 3
    assert [s.id for s in samples] == ["0", "1", "2"]
    assert [o.text for o in samples[0].options] == ["CT", "MRI", "X-ray", "PET"]
    assert samples[1].options[3].text == "Heart, with pericardial effusion"
    assert [(s.answer, s.answer_text) for s in samples] == [("A", "CT"), ("B", "Liver"), ("C", "A cyst")]
    assert {s.answer_type for s in samples} == {"mcq"}
    assert [s.group for s in samples] == ["PMC1_F1.jpg", "PMC1_F1.jpg", "PMC2_F3.jpg"]
    assert samples[0].meta["source_format"] == "pmc_vqa_v1_csv" and samples[0].meta["line"] == 2
    assert samples[2].images[0].open().mode == "RGB"
    assert len(load_samples("pmc_vqa", v1_folder, "test")) == 2
    report = inspect_benchmark("pmc_vqa", v1_folder)
    assert report["mcq_answers"] == {"A": 1, "B": 1, "C": 1} and report["errors"] == []


def test_v2_layout_from_unextracted_zip(tmp_path):
    write_csv(tmp_path / "test_2.csv", V2_HEADER, V2_ROWS)
    write_zip(tmp_path / "images_2.zip", {"figures/PMC9_F2.jpg": image_bytes(fmt="JPEG")})
    samples = load_samples("pmc_vqa", tmp_path, "test_2")
    assert [s.id for s in samples] == ["17", "18"]
    assert [s.answer for s in samples] == ["A", "C"]
    assert samples[1].answer_text == "CT"
    assert samples[0].meta["Caption"] == "Axial CT of the chest."
    assert samples[0].meta["source_format"] == "pmc_vqa_v2_csv"
    assert samples[0].images[0].kind == "zip" and samples[0].images[0].member == "figures/PMC9_F2.jpg"
    assert samples[0].images[0].open().size == (6, 5)


def test_v2_file_under_another_name_and_images_option(tmp_path):
    write_csv(tmp_path / "test_v2.csv", V2_HEADER, V2_ROWS)
    write_zip(tmp_path / "elsewhere" / "pictures.zip", {"images/PMC9_F2.jpg": image_bytes()})
    samples = load_samples("pmc_vqa", tmp_path, "test_2", images=tmp_path / "elsewhere" / "pictures.zip")
    assert samples[0].images[0].exists()


def test_file_of_another_split_is_refused(v1_folder):
    with pytest.raises(DataError, match="pass split='test'"):
        load_samples("pmc_vqa", v1_folder / "test.csv")


@pytest.mark.parametrize("column,value,message", [
    ("Answer_label", "E", "expected a letter A-D"),
    ("Question", "", "missing value"),
    ("Choice C", "C:", "option has no text"),
    ("Figure_path", "/etc/passwd", "outside the benchmark folder"),
])
def test_malformed_row_names_file_line_column(v1_folder, column, value, message):
    rows = [list(r) for r in V1_ROWS]
    rows[1][V1_HEADER.index(column)] = value
    path = write_csv(v1_folder / "test_clean.csv", V1_HEADER, rows)
    with pytest.raises(DataError, match=message) as caught:
        load_samples("pmc_vqa", v1_folder)
    assert_names(caught.value, file=path, record="line 3", field=column)
    report = inspect_benchmark("pmc_vqa", v1_folder)
    assert report["n"] == 2 and report["errors"][0]["record"] == "line 3"


def test_missing_column_names_the_layout(v1_folder):
    header = [h for h in V1_HEADER if h != "Choice D"]
    path = write_csv(v1_folder / "test_clean.csv", header, [r[:6] + r[7:] for r in V1_ROWS])
    with pytest.raises(DataError, match="missing column for the PMC-VQA v1 layout") as caught:
        load_samples("pmc_vqa", v1_folder)
    assert_names(caught.value, file=path, record="header", field="Choice D")


def test_missing_figure_is_listed_by_inspect(v1_folder):
    (v1_folder / "figures" / "PMC2_F3.jpg").unlink()
    report = inspect_benchmark("pmc_vqa", v1_folder)
    assert [(e["record"], e["message"]) for e in report["errors"]] == [("2", "image not found")]
