"""The ``demo`` benchmark: real medical images bundled in installed packages, answers true by construction.

Images come from pydicom's test files (CT and MR slices, MIT) and scikit-image's data folder
(retinal fundus photographs, microscopy and immunohistochemistry, CC0). The questions ask what
the image's provenance guarantees: its modality. The benchmark is written in two real layouts —
SLAKE (closed yes/no, closed choice, open) and OmniMedVQA (multiple choice) — and read back
through those adapters, so the demo exercises the same readers a real run does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from services.benchmarks.omnimedvqa import read_omnimedvqa
from services.benchmarks.registry import benchmark
from services.benchmarks.slake import read_slake

MODALITY_NAMES = ("CT", "MRI", "fundus photography", "light microscopy")


@dataclass(frozen=True)
class DemoImage:
    name: str
    source: str  # "pydicom:<file>" or "skimage:<file>"
    modality: str  # one of MODALITY_NAMES
    location: str | None = None


IMAGES = (
    DemoImage("ct_small", "pydicom:CT_small.dcm", "CT"),
    DemoImage("mr_small", "pydicom:MR_small.dcm", "MRI"),
    DemoImage("mr_abdomen", "pydicom:examples_overlay.dcm", "MRI", "Abdomen"),
    DemoImage("retina", "skimage:retina.jpg", "fundus photography", "Eye"),
    DemoImage("microaneurysms", "skimage:microaneurysms.png", "fundus photography", "Eye"),
    DemoImage("cell", "skimage:cell.png", "light microscopy"),
    DemoImage("ihc", "skimage:ihc.png", "light microscopy"),
)

YES_NO_QUESTIONS = {
    "CT": "Is this a CT image?",
    "MRI": "Is this an MRI scan?",
    "fundus photography": "Is this a fundus photograph?",
    "light microscopy": "Is this a microscopy image?",
}


def _load_pixels(image: DemoImage):
    """An 8-bit PIL image of the bundled file (DICOM windowed to its own min..max)."""
    import numpy as np
    from PIL import Image

    package, file = image.source.split(":", 1)
    if package == "pydicom":
        import pydicom
        from pydicom.data import get_testdata_file

        pixels = pydicom.dcmread(get_testdata_file(file)).pixel_array.astype("float64")
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) / max(high - low, 1.0) * 255.0
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    import skimage.data

    return Image.open(Path(skimage.data.__file__).parent / file).convert("RGB")


def _distractor(modality: str) -> str:
    """The other modality of the same broad kind, so 'CT or MRI?' has one right answer."""
    pairs = {"CT": "MRI", "MRI": "CT", "fundus photography": "light microscopy",
             "light microscopy": "fundus photography"}
    return pairs[modality]


def build_demo(out: str | Path) -> Path:
    """Write the demo benchmark under ``out`` (``slake/`` and ``omnimedvqa/``); returns ``out``."""
    out = Path(out)
    slake_dir, omni_dir = out / "slake", out / "omnimedvqa"
    slake_records, omni_records = [], []
    qid = 0
    for img_id, image in enumerate(IMAGES, start=1):
        pil = _load_pixels(image)
        img_name = f"xmlab{img_id}/source.jpg"
        (slake_dir / "imgs" / f"xmlab{img_id}").mkdir(parents=True, exist_ok=True)
        pil.save(slake_dir / "imgs" / img_name, quality=95)
        common = {"img_id": img_id, "img_name": img_name, "q_lang": "en", "modality": image.modality,
                  "base_type": "vqa", "content_type": "Modality", "triple": ["vhead", "_", "_"]}
        if image.location:
            common["location"] = image.location
        other = _distractor(image.modality)
        questions = [
            (YES_NO_QUESTIONS[image.modality], "Yes", "CLOSED"),
            (YES_NO_QUESTIONS[other], "No", "CLOSED"),
            (f"Which modality is this image, {image.modality} or {other}?" if img_id % 2
             else f"Which modality is this image, {other} or {image.modality}?", image.modality, "CLOSED"),
            ("Which imaging modality was used to acquire this image?", image.modality, "OPEN"),
        ]
        for question, answer, answer_type in questions:
            qid += 1
            slake_records.append({**common, "qid": qid, "question": question, "answer": answer,
                                  "answer_type": answer_type})
        # Multiple choice: rotate the options so the right letter differs between images.
        shift = img_id % len(MODALITY_NAMES)
        options = MODALITY_NAMES[shift:] + MODALITY_NAMES[:shift]
        image_path = f"Images/Demo/{image.name}.png"
        (omni_dir / "Images" / "Demo").mkdir(parents=True, exist_ok=True)
        pil.save(omni_dir / image_path)
        omni_records.append({
            "question_id": f"demo_mcq_{img_id}", "dataset": "Demo", "question_type": "Modality Recognition",
            "modality_type": image.modality, "image_path": image_path,
            "question": "Which imaging modality is shown in this image?", "gt_answer": image.modality,
            **{f"option_{letter}": text for letter, text in zip("ABCD", options)},
        })
    (slake_dir / "test.json").write_text(json.dumps(slake_records, indent=1, ensure_ascii=False))
    qa = omni_dir / "QA_information" / "Open-access"
    qa.mkdir(parents=True, exist_ok=True)
    (qa / "Demo.json").write_text(json.dumps(omni_records, indent=1))
    return out


@benchmark("demo", title="Demo: modality questions on images bundled with pydicom and scikit-image",
           splits=("test",), default_split="test", formats=("SLAKE json + imgs/", "OmniMedVQA tree"))
def load_demo(root: Path, split: str):
    samples = read_slake(root / "slake", split, benchmark_name="demo")
    for sample in samples:
        sample.id = f"slake:{sample.id}"
    mcq = read_omnimedvqa(root / "omnimedvqa", split, benchmark_name="demo")
    return samples + mcq
