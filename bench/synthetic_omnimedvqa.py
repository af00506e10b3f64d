"""A synthetic OmniMedVQA release tree, for the benchmarks that read one (indexing, the grid).

QA_information/Open-access/<dataset>.json files in the release's record format, one source file
holding 55% of the records as RadImageNet does, and the second spelling ``modality_type`` as
``modality`` (the reader accepts both). Images are referenced as Images/<dataset>/<n>.png; with
``images=True`` they are written too, as small real PNGs, because registering a sample hashes its
image bytes.
"""

from __future__ import annotations

import io
import json
import random
from pathlib import Path

QUESTION_TYPES = ("Disease Diagnosis", "Anatomy Identification", "Modality Recognition",
                  "Other Biological Attributes", "Lesion Grading")
MODALITIES = ("CT", "MR", "X-Ray", "Fundus Photography", "Dermoscopy", "Microscopy Images", "Ultrasound",
              "OCT (Optical Coherence Tomography)", "Infrared Reflectance Imaging", "Endoscopy", "Colposcopy",
              "Histopathology")
ANSWERS = ("Normal", "Pneumonia", "Glaucoma", "Lung", "Liver", "CT", "MR", "Benign", "Malignant", "Grade 2")


def tiny_pngs(count: int, seed: int = 0) -> list[bytes]:
    """Small real PNGs (16x16 grey, different pixels)."""
    from PIL import Image

    rng = random.Random(seed)
    out = []
    for _ in range(count):
        image = Image.frombytes("L", (16, 16), bytes(rng.randrange(256) for _ in range(256)))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def write_omnimedvqa(root: Path, n: int, *, n_files: int, per_image: int, images: bool, seed: int = 0) -> Path:
    """Write ``n`` records under ``root``/OmniMedVQA, ``per_image`` questions per image (the image is
    the clustering ``group``); returns the release root."""
    rng = random.Random(seed)
    release = root / "OmniMedVQA"
    qa = release / "QA_information" / "Open-access"
    qa.mkdir(parents=True)
    pngs = tiny_pngs(64, seed) if images else []
    big = int(n * 0.55)
    sizes = [big] + [(n - big) // (n_files - 1)] * (n_files - 1)
    sizes[-1] += n - sum(sizes)
    serial = 0
    for number, size in enumerate(sizes):
        dataset = "RadImageNet" if number == 0 else f"Source{number:02d}"
        modality_key = "modality" if number == 1 else "modality_type"
        if images:
            (release / "Images" / dataset).mkdir(parents=True)
        records = []
        for i in range(size):
            image = f"Images/{dataset}/{i // per_image:07d}.png"
            if images and i % per_image == 0:
                (release / image).write_bytes(pngs[(serial // per_image) % len(pngs)])
            options = rng.sample(ANSWERS, rng.choice((2, 3, 4)))
            record = {"question_id": f"{dataset}_{serial}", "dataset": dataset,
                      "question_type": rng.choice(QUESTION_TYPES), modality_key: rng.choice(MODALITIES),
                      "image_path": image, "question": f"What is most likely shown in this image ({serial})?",
                      "gt_answer": rng.choice(options)}
            record.update({f"option_{letter}": text for letter, text in zip("ABCD", options)})
            records.append(record)
            serial += 1
        (qa / f"{dataset}.json").write_text(json.dumps(records))
    return release
