"""Helpers for the skills tests: the real annotation files with stand-in images, and small samples."""

from __future__ import annotations

import shutil
from pathlib import Path

from services.benchmarks.images import ImageRef
from services.benchmarks.sample import Option, Sample


def stand_in_images(samples, folder: Path, size=(64, 64)) -> Path:
    """A grey JPEG at every image name the samples refer to (the shared data has no images)."""
    from PIL import Image

    for sample in samples:
        for ref in sample.images:
            target = folder / ref.label
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                Image.new("RGB", size, (128, 128, 128)).save(target)
    return folder


def slake_with_images(shared_data: Path, tmp: Path) -> Path:
    """A copy of the real SLAKE test.json with stand-in images under imgs/, as a download would sit."""
    from services.skills.data import read_samples

    folder = tmp / "slake"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(shared_data / "slake" / "test.json", folder / "test.json")
    samples, _ = read_samples("slake", folder, "test", need_images=False)
    stand_in_images(samples, folder / "imgs")
    return folder


def question(id: str, text: str, level: str | None = None, options=None, images=(), benchmark="toy") -> Sample:
    return Sample(id=id, benchmark=benchmark, split="test", question=text, answer="A" if options else "yes",
                  answer_type="mcq" if options else "closed", options=options, reasoning_level=level,
                  images=[ImageRef.file(p, label=Path(p).name) for p in images])


def options(*texts: str) -> list[Option]:
    return [Option("ABCDE"[i], t) for i, t in enumerate(texts)]
