"""The demo benchmark: real bundled images, answers true by construction, read through real adapters."""

import collections
import json

from services.benchmarks.demo import IMAGES
from services.benchmarks.registry import load_samples


def test_demo_covers_every_answer_kind_with_real_images(demo_data):
    samples = load_samples("demo", demo_data)
    kinds = collections.Counter((s.answer_type, s.closed_kind) for s in samples)
    assert kinds == {("closed", "yes_no"): 2 * len(IMAGES), ("closed", "choice"): len(IMAGES),
                     ("open", None): len(IMAGES), ("mcq", None): len(IMAGES)}
    yes_no = collections.Counter(s.answer.lower() for s in samples if s.closed_kind == "yes_no")
    assert yes_no == {"yes": len(IMAGES), "no": len(IMAGES)}  # balanced, so "always yes" scores 50%
    assert len({s.answer for s in samples if s.answer_type == "mcq"}) > 1  # the right letter moves
    for s in samples:
        image = s.images[0].open()
        assert min(image.size) >= 32 and image.getextrema() != ((0, 0), (0, 0), (0, 0))


def test_demo_answers_follow_from_image_provenance(demo_data):
    records = json.loads((demo_data / "slake" / "test.json").read_text())
    by_image = collections.defaultdict(list)
    for r in records:
        by_image[r["img_id"]].append(r)
    for img_id, image in enumerate(IMAGES, start=1):
        rows = by_image[img_id]
        assert {r["modality"] for r in rows} == {image.modality}
        open_answers = [r["answer"] for r in rows if r["answer_type"] == "OPEN"]
        assert open_answers == [image.modality]
    mcq = [s for s in load_samples("demo", demo_data) if s.answer_type == "mcq"]
    assert [s.answer_text for s in mcq] == [image.modality for image in IMAGES]
    assert all(s.option_text(s.answer) == s.answer_text for s in mcq)
