"""The synthetic dataset: YOLO layout, boxes that match the drawn shapes, same seed same bytes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from trainyard_trainer.synthetic_dataset import CLASS_NAMES, main, write_dataset_dir, write_dataset_zip


def test_cli_writes_a_zip_with_data_yaml_at_its_root(tmp_path: Path) -> None:
    out = tmp_path / "ds.zip"
    assert main(["--out", str(out), "--train", "3", "--val", "2", "--size", "32", "--seed", "1"]) == 0
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        data = yaml.safe_load(archive.read("data.yaml"))
    assert "data.yaml" in names
    assert sum(n.startswith("images/train/") for n in names) == 3
    assert sum(n.startswith("labels/val/") for n in names) == 2
    assert "path" not in data  # never absolute: the agent sets the root after extraction
    assert (data["train"], data["val"], data["names"]) == ("images/train", "images/val", list(CLASS_NAMES))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = write_dataset_zip(tmp_path / "a.zip", 2, 1, 32, seed=7).read_bytes()
    b = write_dataset_zip(tmp_path / "b.zip", 2, 1, 32, seed=7).read_bytes()
    c = write_dataset_zip(tmp_path / "c.zip", 2, 1, 32, seed=8).read_bytes()
    assert a == b
    assert a != c


def test_every_box_frames_its_shape(tmp_path: Path) -> None:
    size = 64
    root = tmp_path / "ds"
    write_dataset_dir(root, train=6, val=2, size=size, seed=3)
    labels = sorted((root / "labels").rglob("*.txt"))
    assert len(labels) == 8
    for label in labels:
        split = label.parent.name
        pixels = np.asarray(
            Image.open(root / "images" / split / f"{label.stem}.png").convert("RGB"), dtype=int
        )
        rows = [line.split() for line in label.read_text().splitlines()]
        assert rows, f"{label} has no objects"
        for class_id, *box in rows:
            cx, cy, w, h = (float(v) for v in box)
            assert 0 <= int(class_id) < len(CLASS_NAMES)
            assert 0 < w <= 1 and 0 < h <= 1 and 0 <= cx - w / 2 and cx + w / 2 <= 1
            x0, y0 = round((cx - w / 2) * size), round((cy - h / 2) * size)
            x1, y1 = round((cx + w / 2) * size), round((cy + h / 2) * size)
            # The shape's centre pixel has the class colour: its dominant channel is the class index.
            centre = pixels[(y0 + y1) // 2 + (int(class_id) == 2) * (y1 - y0) // 4, (x0 + x1) // 2]
            assert int(np.argmax(centre)) == int(class_id), f"{label}: {centre} in box {box}"
