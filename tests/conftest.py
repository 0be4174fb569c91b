"""Fixtures shared by test files."""

from __future__ import annotations

import json
import os
from pathlib import Path

# No test reaches the Hub (CI has no network to it): a name that is not a local folder fails at once instead of
# after huggingface_hub's retries (23 s a file). Set before Transformers is imported; subprocesses inherit it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "PYTEST_XDIST_WORKER" in os.environ:  # pytest -n 2 on 2 cores: a thread per worker, not two fighting for one
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory) -> dict:
    """The main job's digits classifier (its model and data; a shorter recipe: 10 epochs, constant learning rate
    after warm-up, no weight decay, one evaluation): a trained model whose margins a faster mode has to keep.
    `{"model", "digits", "metrics"}` (folder, data folder, its metrics)."""
    from hiera_examples import load_script

    from demo import SMALL_HIERA

    root = tmp_path_factory.mktemp("trained_digits")
    load_script(ROOT / "examples" / "make_demo_data.py").write_digits(root / "data")
    digits = root / "data" / "digits"
    metrics = load_script(ROOT / "examples" / "image-classification" / "run_image_classification.py").main(
        ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", json.dumps(SMALL_HIERA),
         "--train_dir", str(digits / "train"), "--validation_dir", str(digits / "validation"),
         "--output_dir", str(root / "model"), "--do_train", "--do_eval", "--hflip_prob", "0",
         "--num_train_epochs", "10", "--per_device_train_batch_size", "32", "--learning_rate", "2e-3",
         "--warmup_steps", "0.1", "--save_strategy", "no", "--report_to", "none", "--dataloader_num_workers", "0",
         "--seed", "0"]
    )  # fmt: skip
    assert metrics["eval_top1_accuracy"] > 0.6
    return {"model": root / "model", "digits": digits, "metrics": metrics}


# pytest -n 2 --dist loadgroup: a test of these modules goes to the worker that has its module's fixtures (trained
# models, converted checkpoints, a Ray cluster); the other modules' tests go one by one to whichever worker is free.
SHARED_FIXTURES = {"test_export": "trained_digits", "test_inference": "trained_digits"}
SHARED_FIXTURES.update(
    (name, name) for name in ("test_batch_ray", "test_conversion", "test_demo", "test_evaluation", "test_packaging",
                              "test_processing", "test_scale", "test_video_input")
)  # fmt: skip


def pytest_collection_modifyitems(config, items):
    for item in items:
        group = SHARED_FIXTURES.get(item.module.__name__.rsplit(".", 1)[-1])
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
