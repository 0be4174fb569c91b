"""Batch inference on Ray Data (a local cluster started here): the rows of 2 actors are the rows of one process,
a killed actor loses nothing, a killed driver resumed writes each source once, an unreadable file is named in its
row; and the extraction's memory does not grow with the number of inputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import randomize_, small_config
from hiera_batch import folder_inputs, run_accelerate, run_ray
from hiera_examples import load_script

from hiera_hf import HieraImageProcessor, HieraModel
from hiera_hf.batch_inference import HieraPredictor
from hiera_hf.image_processing_hiera import IMAGE_EXTENSIONS

ray = pytest.importorskip("ray")  # (in the test extra: this skips only where someone installed less)
ROOT = Path(__file__).resolve().parents[1]
FEATURES = ROOT / "examples" / "feature-extraction" / "extract_features.py"


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # This module's classes travel to the actors by value (the workers cannot import the test module).
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    load_script(ROOT / "examples" / "make_demo_data.py").write_digits(root)
    (root / "digits/validation/3/broken.png").write_bytes(b"not a png")
    torch.manual_seed(0)
    randomize_(HieraModel(small_config())).save_pretrained(root / "model")
    HieraImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(
        root / "model"
    )
    return root


def options(output_dir, **kwargs) -> Namespace:
    defaults = dict(output_dir=str(output_dir), resume=False, batch_size=16, num_workers=0, rows_per_file=64,
                    ray_address=None, ray_num_actors=2)  # fmt: skip
    return Namespace(**{**defaults, **kwargs})


def read_rows(folder: Path) -> dict[str, dict]:
    import pyarrow.parquet as pq

    found = {}
    for path in sorted((folder / "rows").glob("*.parquet")):
        for row in pq.read_table(path, columns=["source", "error", "embedding"]).to_pylist():
            assert row["source"] not in found, f"{row['source']} written twice"
            found[row["source"]] = row
    return found


def test_two_actors_give_the_rows_of_one_process(cluster, digits, tmp_path):
    inputs = folder_inputs(str(digits / "digits/validation"), IMAGE_EXTENSIONS)
    predictor = HieraPredictor(str(digits / "model"), outputs="embedding")
    run_accelerate(predictor, inputs, tmp_path / "one", options(tmp_path / "one"))
    report = run_ray(HieraPredictor(str(digits / "model"), outputs="embedding"), inputs, tmp_path / "ray",
                     options(tmp_path / "ray"))  # fmt: skip
    assert report["actors"] == 2
    one, two = read_rows(tmp_path / "one"), read_rows(tmp_path / "ray")
    assert set(one) == set(two) and len(one) == 356
    for source, row in one.items():
        if row["error"] is None:
            np.testing.assert_allclose(two[source]["embedding"], row["embedding"], atol=1e-5, rtol=0)
    broken = [row for row in two.values() if row["error"] is not None]
    assert len(broken) == 1 and "broken.png" in broken[0]["error"] and broken[0]["embedding"] is None


class DiesOnce(HieraPredictor):
    """Kills its own process (by its pid) on its second batch, once in the whole run (a marker file says so)."""

    def __init__(self, *args, marker: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.marker, self.calls = marker, 0

    def constructor_kwargs(self) -> dict:
        return {**super().constructor_kwargs(), "marker": self.marker}

    def __call__(self, batch, rank=None):
        self.calls += 1
        if self.calls == 2 and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch, rank)


def test_a_killed_actor_loses_nothing(cluster, digits, tmp_path):
    inputs = folder_inputs(str(digits / "digits/validation"), IMAGE_EXTENSIONS)
    marker = tmp_path / "killed"
    predictor = DiesOnce(str(digits / "model"), outputs="embedding", marker=str(marker))
    run_ray(predictor, inputs, tmp_path / "out", options(tmp_path / "out"))
    assert marker.exists(), "no actor was killed: the test proves nothing"
    written = read_rows(tmp_path / "out")
    assert len(written) == 356 and sum(row["error"] is None for row in written.values()) == 355


def test_a_killed_driver_resumes_with_each_source_once(cluster, digits, tmp_path):
    """The driver (a process this test starts) is killed mid-run; `--resume` on the same cluster finishes the rest:
    every source once, the files written before the kill kept as they were."""
    command = [sys.executable, str(FEATURES), "--model_name_or_path", str(digits / "model"), "--engine", "ray",
               "--ray_address", cluster, "--ray_num_actors", "2", "--data_dir", str(digits / "digits/train"),
               "--output_dir", str(tmp_path / "out"), "--batch_size", "8", "--rows_per_file", "8"]  # fmt: skip
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "examples"), os.environ.get("PYTHONPATH", "")]),
    }
    driver = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = tmp_path / "out" / "rows"
    deadline = time.time() + 300
    while time.time() < deadline and driver.poll() is None and len(list(rows.glob("*.parquet"))) < 4:
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    kept = {path.name: path.stat().st_mtime_ns for path in rows.glob("*.parquet")}
    written = read_rows(tmp_path / "out")
    total = len(list((digits / "digits/train").glob("*/*.png")))
    assert 4 <= len(kept) and len(written) < total, "the kill came too late to test resuming"
    result = subprocess.run([*command, "--resume"], env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert {name: (rows / name).stat().st_mtime_ns for name in kept} == kept
    assert len(read_rows(tmp_path / "out")) == total  # each source once (read_rows refuses a repeat)


def peak_memory_mb(digits: Path, folder: Path, count: int) -> float:
    """Peak resident memory of a fresh process extracting stage maps of `count` images (tiny PNGs made here)."""
    from PIL import Image

    images = folder / "images" / "0"
    images.mkdir(parents=True)
    picture = Image.open(next((digits / "digits/validation/1").glob("*.png")))
    for index in range(count):
        picture.rotate(index % 360).save(images / f"{index:06d}.png")
    command = [sys.executable, str(FEATURES), "--model_name_or_path", str(digits / "model"), "--data_dir",
               str(folder / "images"), "--output_dir", str(folder / "out"), "--stage_maps", "--num_workers", "0",
               "--batch_size", "32", "--rows_per_file", "256"]  # fmt: skip
    code = (
        "import resource, runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__');"
        "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    result = subprocess.run([sys.executable, "-c", code, *command[1:]], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(read_rows(folder / "out")) == count
    return int(result.stdout.split("peak")[-1]) / 1024


def test_extraction_memory_does_not_grow_with_the_inputs(digits, tmp_path):
    """Rows are written as they are made: 20x the images add less than 150 MB (gathering them grew linearly)."""
    small, large = peak_memory_mb(digits, tmp_path / "small", 150), peak_memory_mb(digits, tmp_path / "large", 3000)
    assert large - small < 150, (small, large)
    (tmp_path / "memory.json").write_text(json.dumps({"150": small, "3000": large}))
