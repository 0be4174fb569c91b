# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections scale`: the training scripts' start-up and input at scale (examples/hiera_training_data.py), each case
a fresh process of examples/image-classification/run_image_classification.py or the video script:

- launch to the end of the first training step on an image folder of N and 20N images (2,000 and 40,000; --quick:
  100 and 2,000);
- the same on WebDataset shards made by examples/make_shards.py: 16 and 256 shards of the same size (125 images;
  --quick: 8);
- steady-state training throughput (images/s after the first 10 steps, 2 DataLoader workers) from 2,000 images
  as 16 shards and as a folder, interleaved, median of 2 runs each: 256x256 JPEGs (the target) and 64x64 PNGs;
- peak memory of the video script on a `datasets` Video column of bytes: N and 4N videos (64 and 256; --quick: 8
  and 32), each video about 1 MB.

The small 64x64 model of the examples (random weights) on drawn 64x64 digits; batch 32, fp32.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO_ROOT, Target, run_measured, table_row, write_images

EXAMPLES = REPO_ROOT / "examples"
IMAGE_SCRIPT = EXAMPLES / "image-classification" / "run_image_classification.py"
VIDEO_SCRIPT = EXAMPLES / "video-classification" / "run_video_classification.py"
SMALL = {"embed_dim": 32, "num_heads": [1, 2, 4, 8], "depths": [1, 1, 2, 1], "image_size": [64, 64]}
TARGETS = {
    "folder": Target("20x the images: at most 1.3x", compared="20N / N", threshold=1.3, at_least=False, unit="x"),
    "shards": Target("16x the shards: at most 1.2x", compared="256 / 16", threshold=1.2, at_least=False, unit="x"),
    "throughput": Target("shards at least 0.95x the folder", compared="shards / folder", threshold=0.95),
    "video": Target("4x the videos add under 100 MB", compared="MB", threshold=100, at_least=False, unit=" MB"),
}
# Runs a script with each training step's end time (wall clock) printed at exit.
STEPS = """
import atexit, json, runpy, sys, time
from transformers import Trainer
ends, step = [], Trainer.training_step
def timed(self, *args, **kwargs):
    loss = step(self, *args, **kwargs)
    ends.append(time.time())
    return loss
Trainer.training_step = timed
atexit.register(lambda: print("step ends", json.dumps(ends), flush=True))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def training(output: Path, *extra: str, steps: int = 1, workers: int = 0) -> list[float]:
    """Each training step's end, in seconds from the launch of a fresh process of the image script."""
    command = [sys.executable, "-c", STEPS, str(IMAGE_SCRIPT), "--model_name_or_path", "hiera_tiny_224",
               "--config_overrides", json.dumps(SMALL), "--output_dir", str(output), "--do_train",
               "--max_steps", str(steps), "--per_device_train_batch_size", "32", "--report_to", "none",
               "--save_strategy", "no", "--dataloader_num_workers", str(workers), "--seed", "0", *extra]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), str(REPO_ROOT / "src")])}
    launched = time.time()
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        raise RuntimeError(f"the image script failed:\n{result.stderr[-3000:]}")
    return [end - launched for end in json.loads(result.stdout.split("step ends")[-1])]


def make_shards(folder: Path, output: Path, shard_size: int) -> str:
    subprocess.run([sys.executable, str(EXAMPLES / "make_shards.py"), "--data_dir", str(folder), "--output_dir",
                    str(output), "--shard_size", str(shard_size)], check=True, capture_output=True)  # fmt: skip
    manifest = json.loads((output / "shards.json").read_text())
    return str(output / manifest["pattern"]), len(manifest["shards"])


def folder_case(work: Path, counts: tuple[int, int]) -> list:
    firsts = {}
    for count in counts:
        folder = write_images(work / f"folder-{count}", count)
        firsts[count] = training(work / f"out-{count}", "--train_dir", str(folder), "--train_val_split", "0")[0]
    ratio = firsts[counts[1]] / firsts[counts[0]]
    return [f"image folder, {counts[0]} / {counts[1]} images", f"{firsts[counts[0]]:.1f} / {firsts[counts[1]]:.1f} s",
            f"{ratio:.2f}x", TARGETS["folder"].goal(), TARGETS["folder"].status(ratio)]  # fmt: skip


def shards_case(work: Path, shard_size: int) -> list:
    firsts, counts = {}, {}
    for shards in (16, 256):
        folder = write_images(work / f"for-shards-{shards}", shards * shard_size)
        pattern, counts[shards] = make_shards(folder, work / f"shards-{shards}", shard_size)
        firsts[shards] = training(work / f"shards-out-{shards}", "--train_shards", pattern)[0]
    ratio = firsts[256] / firsts[16]
    return [f"shards of {shard_size} images, {counts[16]} / {counts[256]} shards",
            f"{firsts[16]:.1f} / {firsts[256]:.1f} s", f"{ratio:.2f}x", TARGETS["shards"].goal(),
            TARGETS["shards"].status(ratio)]  # fmt: skip


def throughput_case(work: Path, count: int, steps: int, size: int) -> list:
    """Images/s of training steps 11 to `steps` (2 DataLoader workers), the same `count` images as 16 shards and
    as a folder, interleaved, median of 2 runs each. `size` 256: JPEGs of the size class of ImageNet's (its images
    average about 400x350), the 64x64 model's crop taken from them; 64: the 64x64 PNGs of the start-up cases, where
    reading a tar member's few kilobytes is a larger share of the work."""
    suffix = ".jpg" if size > 64 else ".png"
    folder = write_images(work / f"rate-folder-{size}", count, size=size, suffix=suffix)
    pattern, _ = make_shards(folder, work / f"rate-shards-{size}", -(-count // 16))
    inputs = {"folder": ["--train_dir", str(folder), "--train_val_split", "0"], "shards": ["--train_shards", pattern]}
    rates = {name: [] for name in inputs}
    for _ in range(2):
        for name, extra in inputs.items():  # interleaved
            ends = training(work / f"rate-{name}", *extra, steps=steps, workers=2)
            rates[name].append((len(ends) - 10) * 32 / (ends[-1] - ends[9]))
    folder_rate, shards_rate = statistics.median(rates["folder"]), statistics.median(rates["shards"])
    ratio = shards_rate / folder_rate
    target = TARGETS["throughput"]
    return [f"training on {size}x{size} {suffix[1:]}s, steps 11-{steps}, 2 workers: folder / shards",
            f"{folder_rate:.0f} / {shards_rate:.0f} images/s", f"{ratio:.2f}x",
            target.goal() if size > 64 else "(reported)", target.status(ratio) if size > 64 else ""]  # fmt: skip


def video_dataset(folder: Path, count: int, clips: list[bytes]) -> Path:
    """A `datasets` DatasetDict on disk whose train split has `count` videos in a Video column, as bytes."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value, Video

    features = Features({"video": {"bytes": Value("binary"), "path": Value("string")},
                         "label": ClassLabel(names=["left", "up"])})  # fmt: skip
    rows = {"video": [{"bytes": clips[i % len(clips)], "path": None} for i in range(count)],
            "label": [i % 2 for i in range(count)]}  # fmt: skip
    split = Dataset.from_dict(rows, features=features).cast_column("video", Video())
    DatasetDict(train=split).save_to_disk(str(folder))
    return folder


def noisy_video(path: Path, frames) -> bytes:
    """An .mp4 of `frames` plus noise, at a bit rate that keeps the noise: about 1 MB for 32 frames of 224x224."""
    import av
    import numpy as np

    noisy = np.clip(frames + np.random.default_rng(0).integers(-60, 60, frames.shape), 0, 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt, stream.bit_rate = (
            frames.shape[2],
            frames.shape[1],
            "yuv420p",
            10**8,
        )
        for frame in noisy:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path.read_bytes()


def video_case(work: Path, counts: tuple[int, int]) -> list:
    import numpy as np

    sys.path.insert(0, str(EXAMPLES))
    from make_demo_data import motion_clip

    rng = np.random.default_rng(0)
    clips = [noisy_video(work / f"clip-{i}.mp4", motion_clip(d, rng, frames=32, size=224))
             for i, d in enumerate(("left", "up") * 2)]  # fmt: skip
    video = {**SMALL, "depths": [1, 1, 1, 1], "num_frames": 8}
    peaks = {}
    for count in counts:
        data = video_dataset(work / f"videos-{count}", count, clips)
        command = [sys.executable, str(VIDEO_SCRIPT), "--model_name_or_path", "hiera_base_16x224",
                   "--config_overrides", json.dumps(video), "--dataset_name", str(data), "--output_dir",
                   str(work / f"video-out-{count}"), "--do_train", "--max_steps", "2",
                   "--per_device_train_batch_size", "4", "--frame_sampling_rate", "2", "--report_to", "none",
                   "--save_strategy", "no", "--dataloader_num_workers", "0"]  # fmt: skip
        peaks[count] = run_measured(command)[1]
    growth = peaks[counts[1]] - peaks[counts[0]]
    size = sum(map(len, clips)) / len(clips) / 2**20
    return [f"video script, Video column of bytes, {counts[0]} / {counts[1]} videos of {size:.1f} MB",
            f"{peaks[counts[0]]:.0f} / {peaks[counts[1]]:.0f} MB peak", f"+{growth:.0f} MB", TARGETS["video"].goal(),
            TARGETS["video"].status(growth)]  # fmt: skip


def scale_section(args) -> list[dict]:
    counts = (100, 2000) if args.quick else (2000, 40000)
    with tempfile.TemporaryDirectory(prefix="hiera-scale-") as folder:
        work = Path(folder)
        body = [folder_case(work, counts), shards_case(work, 8 if args.quick else 125),
                throughput_case(work, counts[0], 30 if args.quick else 60, 256),
                throughput_case(work, counts[0], 30 if args.quick else 60, 64),
                video_case(work, (8, 32) if args.quick else (64, 256))]  # fmt: skip
    header = ["case", "measured", "result", "target", ""]
    return [table_row("training at scale: start-up, shards, throughput, video memory", header, body)]
