# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Build the embedded demo data sets (no network): handwritten digits and motion clips.

    python examples/make_demo_data.py --output-dir demo_data

- `digits/{train,validation}/<digit>/*.png`: scikit-learn's 1,797 handwritten digits (8x8, 16 grey levels) scaled
  to 64x64 RGB, split 80/20 per class (an imagefolder).
- `motion/{train,validation}/<left|right|up|down>/*.mp4`: 16-frame 64x64 clips of a square moving in one direction
  over a noisy background, encoded with PyAV; the label is the direction of motion, so a single frame cannot tell.
- `shapes/{train,validation}/{images,masks}/*.png` and `shapes/labels.json`: 64x64 semantic segmentation, one to
  three circles, squares and triangles (random sizes, colours, overlaps) drawn with PIL on textured backgrounds
  (stripes, checks or noise in colours that overlap the shapes'), and masks of class ids (0 background, 1 circle,
  2 square, 3 triangle): the class is the shape, never the colour.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

DIRECTIONS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}


def write_digits(root: Path, size: int = 64, validation_fraction: float = 0.2, seed: int = 0) -> int:
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    count = 0
    for label in range(10):
        indices = rng.permutation(np.flatnonzero(digits.target == label))
        cut = int(len(indices) * validation_fraction)
        for split, chosen in (("validation", indices[:cut]), ("train", indices[cut:])):
            folder = root / "digits" / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for index in chosen:
                pixels = (digits.images[index] / 16.0 * 255).astype(np.uint8)
                image = Image.fromarray(pixels).resize((size, size), Image.BICUBIC).convert("RGB")
                image.save(folder / f"{index}.png")
                count += 1
    return count


def motion_clip(direction: str, rng: np.random.Generator, frames: int = 16, size: int = 64) -> np.ndarray:
    """`(frames, size, size, 3)` uint8: a square moving 2-3 px per frame in `direction` over noise."""
    dy, dx = DIRECTIONS[direction]
    speed = rng.integers(2, 4)
    square = rng.integers(10, 16)
    travel = speed * (frames - 1)

    def start(step: int) -> int:
        """A start coordinate that keeps the whole path inside the frame."""
        low, high = (travel, size - square) if step < 0 else (0, size - square - (travel if step > 0 else 0))
        return int(rng.integers(low, high + 1))

    y0, x0 = start(dy), start(dx)
    color = rng.integers(150, 256, size=3)
    background = rng.integers(0, 90, size=(size, size, 3))
    clip = np.empty((frames, size, size, 3), dtype=np.uint8)
    for t in range(frames):
        frame = np.clip(background + rng.integers(-10, 11, size=background.shape), 0, 255)
        y, x = y0 + dy * speed * t, x0 + dx * speed * t
        frame[y : y + square, x : x + square] = color
        clip[t] = frame
    return clip


def write_video(path: Path, frames: np.ndarray, fps: int = 30) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"qscale": "2"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_long_clip(path: Path, seconds: float, width: int = 640, height: int = 360, fps: int = 30) -> Path:
    """A long H.264 clip, like a phone video's stream (libx264, keyframe every 250 frames): a textured background
    scrolling, a gradient shifting, a square circling. Frames are made one at a time: any length, bounded memory."""
    import av

    rng = np.random.default_rng(0)
    columns = np.arange(width)
    texture = rng.integers(0, 60, (height, 2 * width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "250"}
        for t in range(int(seconds * fps)):
            frame = texture[:, (4 * t) % width : (4 * t) % width + width].copy()
            frame[..., 0] += ((columns + 3 * t) % 256 // 2).astype(np.uint8)
            x = int(width / 2 + width / 3 * np.sin(t / 20))
            y = int(height / 2 + height / 3 * np.cos(t / 31))
            frame[max(y - 30, 0) : y + 30, max(x - 30, 0) : x + 30] = (240, 200, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_motion(root: Path, per_class: dict[str, int] | None = None, seed: int = 0) -> int:
    per_class = per_class or {"train": 48, "validation": 12}
    rng = np.random.default_rng(seed)
    count = 0
    for split, number in per_class.items():
        for direction in DIRECTIONS:
            folder = root / "motion" / split / direction
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(number):
                write_video(folder / f"{index}.mp4", motion_clip(direction, rng))
                count += 1
    return count


SHAPES = ("background", "circle", "square", "triangle")


def shapes_example(rng: np.random.Generator, size: int = 64) -> tuple[Image.Image, Image.Image]:
    """An RGB image of shapes on a textured background and its `L` mask of class ids (index in `SHAPES`)."""
    from PIL import ImageDraw

    y, x = np.mgrid[0:size, 0:size]
    colours = rng.integers(0, 256, size=(2, 3))
    pattern = rng.integers(3)
    period = int(rng.integers(4, 12))
    if pattern == 0:
        angle = rng.uniform(0, np.pi)
        texture = (np.cos(angle) * x + np.sin(angle) * y) // period % 2
    elif pattern == 1:
        texture = (x // period + y // period) % 2
    else:
        texture = rng.random((size, size)) > 0.5
    background = np.where(texture[..., None] > 0, colours[0], colours[1])
    background = background + rng.integers(-20, 21, size=(size, size, 3))
    image = Image.fromarray(np.clip(background, 0, 255).astype(np.uint8))
    mask = Image.new("L", (size, size), 0)
    draw, draw_mask = ImageDraw.Draw(image), ImageDraw.Draw(mask)
    for _ in range(int(rng.integers(1, 4))):
        label = int(rng.integers(1, len(SHAPES)))
        radius = int(rng.integers(size // 8, size // 4 + 1))
        cx, cy = (int(v) for v in rng.integers(radius, size - radius, size=2))
        box = (cx - radius, cy - radius, cx + radius, cy + radius)
        fill = tuple(int(v) for v in rng.integers(0, 256, size=3))
        for canvas, colour in ((draw, fill), (draw_mask, label)):
            if SHAPES[label] == "circle":
                canvas.ellipse(box, fill=colour)
            elif SHAPES[label] == "square":
                canvas.rectangle(box, fill=colour)
            else:
                canvas.polygon(
                    [(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=colour
                )
    return image, mask


def write_shapes(root: Path, per_split: dict[str, int] | None = None, seed: int = 0) -> int:
    import json

    per_split = per_split or {"train": 320, "validation": 80}
    rng = np.random.default_rng(seed)
    count = 0
    for split, number in per_split.items():
        for kind in ("images", "masks"):
            (root / "shapes" / split / kind).mkdir(parents=True, exist_ok=True)
        for index in range(number):
            image, mask = shapes_example(rng)
            image.save(root / "shapes" / split / "images" / f"{index}.png")
            mask.save(root / "shapes" / split / "masks" / f"{index}.png")
            count += 1
    (root / "shapes" / "labels.json").write_text(json.dumps(dict(enumerate(SHAPES)), indent=2) + "\n")
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="demo_data")
    parser.add_argument("--skip-videos", action="store_true")
    args = parser.parse_args(argv)
    root = Path(args.output_dir)
    print(f"digits: {write_digits(root)} images in {root / 'digits'}")
    print(f"shapes: {write_shapes(root)} images with masks in {root / 'shapes'}")
    if not args.skip_videos:
        print(f"motion: {write_motion(root)} clips in {root / 'motion'}")


if __name__ == "__main__":
    main()
