"""The registry: lazy adapters, usage errors, path confinement, seeded subsampling, shard sizes, lazy images."""

import json

import pytest

from tests.unit.benchmark_files import (hf_image, image_bytes, open_data_roots, write_image,  # noqa: F401
                                        write_parquet, write_zip)
from medgrid.settings import Settings
from services.benchmarks import registry
from services.benchmarks.images import ImageError, ImageRef
from services.benchmarks.registry import UnknownBenchmark, load_samples
from services.benchmarks.sample import DataError
from services.benchmarks.sharding import cut, shard_size_for

pytestmark = pytest.mark.usefixtures("open_data_roots")

SEVEN = {"vqa_rad", "slake", "pathvqa", "pmc_vqa", "omnimedvqa", "mmmu_med", "medxpertqa_mm"}


@pytest.fixture
def slake(tmp_path):
    records = [{"img_id": i % 3, "img_name": f"xmlab{i % 3}/source.jpg", "question": f"Question {i}?",
                "answer": "Yes", "q_lang": "en", "answer_type": "CLOSED", "qid": 100 + i} for i in range(20)]
    (tmp_path / "test.json").write_text(json.dumps(records))
    for i in range(3):
        write_image(tmp_path / "imgs" / f"xmlab{i}" / "source.jpg")
    return tmp_path


def test_every_benchmark_is_registered_and_described():
    assert SEVEN <= set(registry.names())
    rows = {row["name"]: row for row in registry.describe()}
    assert rows["pmc_vqa"]["default_split"] == "test_clean"
    assert "images" in rows["slake"]["options"] and json.dumps(rows)


def test_unknown_names_split_and_option(slake):
    with pytest.raises(UnknownBenchmark, match="valid names: .*medxpertqa_mm"):
        load_samples("vqa-rad", slake)
    with pytest.raises(DataError, match="unknown split 'dev' for slake; valid splits: test, validation, train"):
        load_samples("slake", slake, "dev")
    with pytest.raises(DataError, match=r"unknown option\(s\) \['langauge'\]"):
        load_samples("slake", slake, langauge="zh")
    with pytest.raises(DataError, match="data path does not exist"):
        load_samples("slake", slake / "missing")
    with pytest.raises(DataError, match="sample must be a non-negative integer"):
        load_samples("slake", slake, sample=-1)


def test_data_roots(slake, tmp_path_factory, monkeypatch):
    inside = Settings(data_roots=(slake.resolve(),))
    assert len(load_samples("slake", slake, settings=inside)) == 20
    elsewhere = Settings(data_roots=(tmp_path_factory.mktemp("other").resolve(),))
    with pytest.raises(DataError, match="outside the allowed data roots") as caught:
        load_samples("slake", slake, settings=elsewhere)
    assert str(slake) in str(caught.value)
    monkeypatch.setenv("MEDGRID_DATA_ROOTS", str(slake / "imgs"))
    with pytest.raises(DataError, match="set MEDGRID_DATA_ROOTS to allow it"):
        load_samples("slake", slake)


def test_seeded_subsampling_is_deterministic(slake):
    everything = [s.id for s in load_samples("slake", slake)]
    first = [s.id for s in load_samples("slake", slake, sample=5, seed=7)]
    assert first == [s.id for s in load_samples("slake", slake, sample=5, seed=7)]
    assert first != [s.id for s in load_samples("slake", slake, sample=5, seed=8)]
    assert first == [i for i in everything if i in first]  # file order is kept
    assert [s.id for s in load_samples("slake", slake, limit=3)] == everything[:3]
    assert len(load_samples("slake", slake, sample=50)) == 20


def test_content_hash_covers_image_bytes(slake):
    a, b = load_samples("slake", slake, limit=2)
    assert a.content_hash() != b.content_hash()  # the questions differ
    before = a.content_hash()
    write_image(slake / "imgs" / "xmlab0" / "source.jpg", color=(1, 2, 3))
    assert load_samples("slake", slake, limit=1)[0].content_hash() != before


def test_shard_size_keeps_a_small_benchmark_shared_and_a_large_one_in_full_shards():
    assert shard_size_for(100_000, 128) == 128
    assert shard_size_for(451, 128) == 57 and len(cut(list(range(451)), 57)) == 8  # VQA-RAD test
    assert shard_size_for(5, 128) == 1 and shard_size_for(0, 128) == 1
    assert cut(list(range(10)), 4) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            shard_size_for(10, bad)


def test_parquet_image_reference_reads_one_cell(tmp_path):
    cells = [image_bytes((i, i, i)) for i in range(5)]
    path = write_parquet(tmp_path / "t.parquet", {"image": [hf_image(c) for c in cells] + [None],
                                                  "q": list("abcdef")}, row_group_size=2)
    refs = [ImageRef.parquet_cell(path, row, "image") for row in range(6)]
    assert [r.read_bytes() for r in refs[:5]] == cells
    assert refs[4].open().getpixel((0, 0)) == (4, 4, 4)
    assert not refs[5].exists()
    with pytest.raises(ImageError, match=r"row 5, column 'image'\): the cell holds no image bytes"):
        refs[5].read_bytes()
    with pytest.raises(ImageError, match="out of range"):
        ImageRef.parquet_cell(path, 9, "image").read_bytes()
    assert refs[0].to_json() == {"kind": "parquet", "path": str(path), "row": 0, "column": "image"}


def test_zip_and_file_references_fail_with_their_name(tmp_path):
    archive = write_zip(tmp_path / "imgs.zip", {"imgs/a.png": image_bytes(), "imgs/bad.png": b"\x89PNG broken"})
    assert ImageRef.zip_member(archive, "imgs/a.png").exists()
    assert not ImageRef.zip_member(archive, "imgs/b.png").exists()
    with pytest.raises(ImageError, match=r"imgs.zip!imgs/bad.png"):
        ImageRef.zip_member(archive, "imgs/bad.png").open()
    (tmp_path / "broken.zip").write_bytes(b"PK not really")
    assert not ImageRef.zip_member(tmp_path / "broken.zip", "x.png").exists()
    with pytest.raises(ImageError, match="cannot read image"):
        ImageRef.file(tmp_path / "nowhere.png").read_bytes()


def test_missing_image_changes_the_hash_without_failing_it(slake):
    image = slake / "imgs" / "xmlab0" / "source.jpg"
    present = load_samples("slake", slake, limit=1)[0].content_hash()
    image.unlink()
    missing = load_samples("slake", slake, limit=1)[0]
    assert missing.content_hash() != present  # the run registers it; reading the image fails that sample alone
    with pytest.raises(ImageError):
        missing.images[0].open()
