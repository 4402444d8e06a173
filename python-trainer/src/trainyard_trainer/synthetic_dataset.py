"""A tiny synthetic YOLO detection dataset (coloured shapes on noise) for tests and demos.

`python -m trainyard_trainer.synthetic_dataset --out /path/ds.zip --train 16 --val 8 --size 64 --seed 0`
writes a zip whose root holds data.yaml, images/{train,val}/*.png and labels/{train,val}/*.txt. The same
arguments always give the same bytes.
"""

from __future__ import annotations

import argparse
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

CLASS_NAMES = ("red_square", "green_circle", "blue_triangle")
_COLOURS = ((220, 30, 30), (30, 200, 30), (30, 60, 230))
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # zip entries carry a timestamp; a fixed one keeps archives identical


@dataclass(frozen=True)
class Shape:
    class_id: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, inclusive of the drawn extent

    def yolo_label(self, size: int) -> str:
        """`class cx cy w h`, normalised to the image size as YOLO expects."""
        x0, y0, x1, y1 = self.box
        cx, cy = (x0 + x1) / 2 / size, (y0 + y1) / 2 / size
        w, h = (x1 - x0) / size, (y1 - y0) / size
        return f"{self.class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def dataset_yaml() -> str:
    """data.yaml with no `path`: Ultralytics then resolves train/val against the yaml's own folder."""
    return yaml.safe_dump(
        {"train": "images/train", "val": "images/val", "names": list(CLASS_NAMES)}, sort_keys=False
    )


def render_image(rng: np.random.Generator, size: int) -> tuple[Image.Image, list[Shape]]:
    """One noise image with 1-3 non-overlapping shapes, and the shapes' boxes."""
    background = rng.integers(70, 170, size=(size, size, 3), dtype=np.uint8)
    image = Image.fromarray(background, "RGB")
    draw = ImageDraw.Draw(image)
    shapes: list[Shape] = []
    for _ in range(int(rng.integers(1, 4))):
        box = _free_box(rng, size, [s.box for s in shapes])
        if box is None:
            break
        class_id = int(rng.integers(0, len(CLASS_NAMES)))
        _draw(draw, class_id, box)
        shapes.append(Shape(class_id, box))
    if not shapes:  # the first placement always fits an empty image; kept as a guard for tiny sizes
        raise ValueError(f"image size {size} is too small for any shape")
    return image, shapes


def _free_box(
    rng: np.random.Generator, size: int, taken: list[tuple[int, int, int, int]]
) -> tuple[int, int, int, int] | None:
    for _ in range(20):
        side = int(rng.integers(max(size // 5, 4), max(size // 2, 5)))
        x0, y0 = (int(v) for v in rng.integers(0, size - side, size=2))
        box = (x0, y0, x0 + side, y0 + side)
        if all(box[2] <= t[0] or t[2] <= box[0] or box[3] <= t[1] or t[3] <= box[1] for t in taken):
            return box
    return None


def _draw(draw: ImageDraw.ImageDraw, class_id: int, box: tuple[int, int, int, int]) -> None:
    colour = _COLOURS[class_id]
    x0, y0, x1, y1 = box
    if class_id == 0:
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=colour)
    elif class_id == 1:
        draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=colour)
    else:
        draw.polygon([(x0, y1 - 1), (x1 - 1, y1 - 1), ((x0 + x1 - 1) / 2, y0)], fill=colour)


def dataset_files(train: int, val: int, size: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """Relative path and content of every file of the dataset, in a fixed order."""
    rng = np.random.default_rng(seed)
    yield "data.yaml", dataset_yaml().encode()
    for split, count in (("train", train), ("val", val)):
        for index in range(count):
            image, shapes = render_image(rng, size)
            png = io.BytesIO()
            image.save(png, format="PNG")
            stem = f"{split}_{index:04d}"
            yield f"images/{split}/{stem}.png", png.getvalue()
            yield (
                f"labels/{split}/{stem}.txt",
                ("\n".join(s.yolo_label(size) for s in shapes) + "\n").encode(),
            )


def write_dataset_dir(root: Path, train: int, val: int, size: int, seed: int) -> Path:
    """Write the dataset under `root`; returns the data.yaml path."""
    for name, content in dataset_files(train, val, size, seed):
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return root / "data.yaml"


def write_dataset_zip(out: Path, train: int, val: int, size: int, seed: int) -> Path:
    """Write the dataset as a zip with data.yaml at its root."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in dataset_files(train, val, size, seed):
            archive.writestr(zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME), content, zipfile.ZIP_DEFLATED)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="trainyard_trainer.synthetic_dataset", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, required=True, help="zip file to write")
    parser.add_argument("--train", type=int, default=16, help="number of training images")
    parser.add_argument("--val", type=int, default=8, help="number of validation images")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes")
    args = parser.parse_args(argv)
    if args.train < 1 or args.val < 1 or args.size < 16:
        parser.error("--train and --val must be >= 1 and --size >= 16")
    write_dataset_zip(args.out, args.train, args.val, args.size, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
