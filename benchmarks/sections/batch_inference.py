# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections batch`: batch inference past one machine (examples/feature-extraction/extract_features.py on its two
engines), each case a fresh driver process, on a local Ray cluster this section starts:

- memory: the peak resident memory of extracting stage maps of N and 20N images (2,000 and 40,000; --quick: 100 and
  2,000), Accelerate engine, one process;
- throughput: the same images from one process (Accelerate, 1 decoding worker) and from Ray with 2 actors, and
  the largest embedding difference between them;
- a killed actor: one of Ray's actors killed (by its pid) mid-run; the output is checked complete;
- a killed driver: the Ray driver killed at about half the rows, then rerun with --resume: complete, each source
  once, and the resumed run's time against the remaining work's share of an unbroken run's time.

The small 64x64 model of the examples (random weights) on drawn 64x64 digits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import REPO_ROOT, Target, run_measured, table_row, write_images

FEATURES = REPO_ROOT / "examples" / "feature-extraction" / "extract_features.py"
TARGETS = {
    "memory": Target(
        "20x the images add at most 150 MB", compared="peak MB, 20N - N", threshold=150, at_least=False, unit=" MB"
    ),
    "throughput": Target("Ray, 2 actors, at least 0.9x one process", compared="Ray / one process", threshold=0.9),
    "resume": Target(
        "a resumed run takes at most the rest's time + 20 s",
        compared="seconds over the allowance",
        threshold=0,
        at_least=False,
        unit=" s over",
    ),
}


def small_model(folder: Path) -> Path:
    import torch

    from hiera_hf import HieraConfig, HieraImageProcessor, HieraModel

    fields = {"embed_dim": 32, "num_heads": [1, 2, 4, 8], "depths": [1, 1, 2, 1], "image_size": [64, 64]}
    torch.manual_seed(0)
    HieraModel(HieraConfig.from_preset("hiera_tiny_224", **fields)).save_pretrained(folder)
    HieraImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


def extraction(model: Path, images: Path, output: Path, *extra: str) -> list[str]:
    return [sys.executable, str(FEATURES), "--model_name_or_path", str(model), "--data_dir", str(images),
            "--output_dir", str(output), "--batch_size", "32", "--rows_per_file", "256", *extra]  # fmt: skip


def rows_of(folder: Path, columns=("source", "embedding")) -> dict[str, list]:
    import pyarrow.parquet as pq

    found = {}
    for path in sorted((folder / "rows").glob("*.parquet")):
        for row in pq.read_table(path, columns=list(columns)).to_pylist():
            if row["source"] in found:
                raise RuntimeError(f"{row['source']} written twice")
            found[row["source"]] = row["embedding"]
    return found


def memory_case(work: Path, model: Path, counts: tuple[int, int]) -> list:
    """Peak memory of one process at N and 20N images (the children's peak: each case after the last is larger)."""
    peaks = {}
    for count in counts:
        images = write_images(work / f"images-{count}", count)
        seconds, peaks[count] = run_measured(extraction(model, images, work / f"memory-{count}", "--stage_maps",
                                                        "--num_workers", "0"))  # fmt: skip
    growth = peaks[counts[1]] - peaks[counts[0]]
    return [f"peak MB at {counts[0]} / {counts[1]} images", f"{peaks[counts[0]]:.0f} / {peaks[counts[1]]:.0f}",
            f"+{growth:.0f} MB", TARGETS["memory"].goal(), TARGETS["memory"].status(growth)]  # fmt: skip


def tiny_224(folder: Path) -> Path:
    """hiera_tiny_224 with random weights and its default processor: enough work per image that the engines'
    pace, not the decoding of small PNGs, is measured."""
    import torch

    from hiera_hf import HieraConfig, HieraModel

    torch.manual_seed(0)
    HieraModel(HieraConfig.from_preset("hiera_tiny_224")).save_pretrained(folder)
    return folder


def throughput_case(work: Path, address: str, counts: tuple[int, int]) -> list:
    """Marginal throughput, (2N - N) images over the extra time of the 2N run: the start-up (Ray's actors, model
    loading) cancels out. The same rows from both engines, compared."""
    model, seconds = tiny_224(work / "tiny"), {}
    for count in counts:
        images = write_images(work / f"throughput-{count}", count)
        for engine, extra in (("one", ["--num_workers", "1"]),
                              ("ray", ["--engine", "ray", "--ray_address", address, "--ray_num_actors", "2"])):  # fmt: skip
            seconds[engine, count] = run_measured(extraction(model, images, work / f"{engine}-{count}", *extra))[0]
    single, ray = rows_of(work / f"one-{counts[1]}"), rows_of(work / f"ray-{counts[1]}")
    if set(single) != set(ray):
        raise RuntimeError("Ray and one process wrote different sources")
    difference = max(float(np.abs(np.asarray(single[s]) - np.asarray(ray[s])).max()) for s in single if single[s])
    extra = counts[1] - counts[0]
    rates = {engine: extra / (seconds[engine, counts[1]] - seconds[engine, counts[0]]) for engine in ("one", "ray")}
    ratio = rates["ray"] / rates["one"]
    timings = ", ".join(f"{engine} {seconds[engine, c]:.1f} s at {c}" for engine in ("one", "ray") for c in counts)
    return [f"hiera_tiny_224: one process / Ray (2 actors), {extra} more images",
            f"{rates['one']:.1f} / {rates['ray']:.1f} images/s ({timings})",
            f"{ratio:.2f}x (max embedding difference {difference:.1e})", TARGETS["throughput"].goal(),
            TARGETS["throughput"].status(ratio)]  # fmt: skip


def map_worker_pids() -> list[int]:
    """The processes of Ray Data's actors (their title `ray::MapWorker(...)`); only this section's cluster runs."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"ray::MapWorker" in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return sorted(pids)


def killed_actor_case(work: Path, model: Path, images: Path, address: str) -> list:
    command = extraction(model, images, work / "actor", "--engine", "ray", "--ray_address", address,
                         "--ray_num_actors", "2")  # fmt: skip
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "examples")})  # fmt: skip
    killed = None
    while driver.poll() is None and killed is None:
        time.sleep(0.5)
        actors = map_worker_pids()
        if actors and any((work / "actor" / "rows").glob("*.parquet")):
            killed = actors[0]
            os.kill(killed, signal.SIGKILL)  # an actor of the cluster this section started
    driver.wait()
    complete = len(rows_of(work / "actor")) == sum(1 for _ in images.glob("*/*.png"))
    return [f"an actor killed mid-run (pid {killed})", "output complete" if complete else "rows missing", "", "complete",
            "met" if complete and killed else "missed"]  # fmt: skip


def killed_driver_case(work: Path, model: Path, images: Path, address: str) -> list:
    command = extraction(model, images, work / "driver", "--engine", "ray", "--ray_address", address,
                         "--ray_num_actors", "2")  # fmt: skip
    whole, _ = run_measured(extraction(model, images, work / "whole", "--engine", "ray", "--ray_address", address,
                                       "--ray_num_actors", "2"))  # fmt: skip
    total = len(rows_of(work / "whole"))
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "examples")}
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    while driver.poll() is None and len(list((work / "driver" / "rows").glob("*.parquet"))) * 256 < total // 2:
        time.sleep(0.1)
    driver.send_signal(signal.SIGKILL)  # the driver this section started
    driver.wait()
    before = len(rows_of(work / "driver"))
    resumed, _ = run_measured([*command, "--resume"])
    after = len(rows_of(work / "driver"))  # (rows_of refuses a source written twice)
    allowed = whole * (total - before) / total + 20
    return [f"the driver killed at {before}/{total} rows, rerun with --resume", f"{resumed:.1f} s (unbroken {whole:.1f} s)",
            f"{after}/{total} rows, {resumed - allowed:+.1f} s against the allowance {allowed:.1f} s",
            TARGETS["resume"].goal(), TARGETS["resume"].status(resumed - allowed if after == total else 1e9)]  # fmt: skip


def batch_section(args) -> list[dict]:
    import ray

    counts = (100, 2000) if args.quick else (2000, 40000)
    with tempfile.TemporaryDirectory(prefix="hiera-batch-") as folder:
        work = Path(folder)
        model = small_model(work / "model")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            address = ray.get_runtime_context().gcs_address
            images = write_images(work / "images", counts[0])
            throughput = (40, 80) if args.quick else (300, 600)
            body = [memory_case(work, model, counts), throughput_case(work, address, throughput),
                    killed_actor_case(work, model, images, address), killed_driver_case(work, model, images, address)]  # fmt: skip
        finally:
            ray.shutdown()
    header = ["case", "measured", "result", "target", ""]
    return [table_row("batch inference: memory, Ray against one process, killed actor and driver", header, body)]
