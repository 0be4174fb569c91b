"""The Trainer examples on the embedded data: they learn, resume, scale to 2 processes, and reject bad input."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
IMAGE_SCRIPT = EXAMPLES / "image-classification" / "run_image_classification.py"
VIDEO_SCRIPT = EXAMPLES / "video-classification" / "run_video_classification.py"
MAE_SCRIPT = EXAMPLES / "pretraining" / "run_mae.py"
SMALL_IMAGE = json.dumps({"embed_dim": 32, "num_heads": [1, 2, 4, 8], "depths": [1, 1, 2, 1], "image_size": [64, 64]})
SMALL_VIDEO = json.dumps(
    {"embed_dim": 32, "num_heads": [1, 2, 4, 8], "depths": [1, 1, 1, 1], "image_size": [64, 64], "num_frames": 8}
)
COMMON = ["--report_to", "none", "--dataloader_num_workers", "0", "--seed", "0", "--save_strategy", "no"]


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_data")
    make = load(EXAMPLES / "make_demo_data.py")
    make.write_digits(root)
    make.write_motion(root, per_class={"train": 24, "validation": 8})
    return root


def trainer_log(output_dir: Path) -> list[dict]:
    return json.loads((output_dir / "trainer_state.json").read_text())["log_history"]


def test_image_script_learns_digits(demo_data, tmp_path):
    out = tmp_path / "digits"
    metrics = load(IMAGE_SCRIPT).main(
        ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE,
         "--train_dir", str(demo_data / "digits/train"), "--validation_dir", str(demo_data / "digits/validation"),
         "--output_dir", str(out), "--do_train", "--do_eval", "--hflip_prob", "0", "--num_train_epochs", "3",
         "--per_device_train_batch_size", "32", "--learning_rate", "2e-3", "--warmup_steps", "0.1",
         "--logging_steps", "10", "--layer_decay", "0.9", *COMMON]
    )  # fmt: skip
    losses = [entry["loss"] for entry in trainer_log(out) if "loss" in entry]
    assert losses[-1] < 0.8 * losses[0], losses  # 3 epochs: the demo trains 20 (README numbers)
    assert metrics["eval_top1_accuracy"] > 0.3  # chance is 0.1
    assert metrics["eval_top5_accuracy"] >= metrics["eval_top1_accuracy"]
    from transformers import pipeline

    classifier = pipeline("image-classification", model=str(out))
    files = sorted((demo_data / "digits/validation").glob("*/*.png"))[::10]
    accuracy = sum(classifier(str(f), top_k=1)[0]["label"] == f.parent.name for f in files) / len(files)
    assert accuracy > 0.3


def test_image_script_mixup_cutmix_randaugment(demo_data, tmp_path):
    metrics = load(IMAGE_SCRIPT).main(
        ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE,
         "--train_dir", str(demo_data / "digits/train"), "--validation_dir", str(demo_data / "digits/validation"),
         "--output_dir", str(tmp_path / "mix"), "--do_train", "--do_eval", "--max_steps", "3",
         "--max_train_samples", "96", "--max_eval_samples", "32", "--mixup", "0.8", "--cutmix", "1.0",
         "--rand_augment", "True", "--per_device_train_batch_size", "16", *COMMON]
    )  # fmt: skip
    assert metrics["train_loss"] > 0 and 0 <= metrics["eval_top1_accuracy"] <= 1


def test_video_script_learns_motion(demo_data, tmp_path):
    out = tmp_path / "motion"
    metrics = load(VIDEO_SCRIPT).main(
        ["--model_name_or_path", "hiera_base_16x224", "--config_overrides", SMALL_VIDEO,
         "--train_dir", str(demo_data / "motion/train"), "--validation_dir", str(demo_data / "motion/validation"),
         "--frame_sampling_rate", "2", "--output_dir", str(out), "--do_train", "--do_eval",
         "--num_train_epochs", "8", "--per_device_train_batch_size", "8", "--learning_rate", "1e-3",
         "--warmup_steps", "0.1", "--logging_steps", "4", "--eval_num_clips", "2", *COMMON]
    )  # fmt: skip
    losses = [entry["loss"] for entry in trainer_log(out) if "loss" in entry]
    assert losses[-1] < losses[0], losses
    assert metrics["eval_top1_accuracy"] > 0.4  # chance is 0.25
    assert "eval_2clip_top1_accuracy" in metrics


def test_mae_loss_falls_and_checkpoint_fine_tunes(demo_data, tmp_path):
    mae_out = tmp_path / "mae"
    load(MAE_SCRIPT).main(
        ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE,
         "--train_dir", str(demo_data / "digits/train"), "--output_dir", str(mae_out), "--do_train",
         "--max_steps", "30", "--per_device_train_batch_size", "32", "--learning_rate", "2e-3",
         "--logging_steps", "5", *COMMON]
    )  # fmt: skip
    losses = [entry["loss"] for entry in trainer_log(mae_out) if "loss" in entry]
    assert losses[-1] < losses[0], losses
    config = json.loads((mae_out / "config.json").read_text())
    assert config["mask_ratio"] == 0.6 and config["num_query_pool"] == 2
    metrics = load(IMAGE_SCRIPT).main(
        ["--model_name_or_path", str(mae_out), "--train_dir", str(demo_data / "digits/train"),
         "--validation_dir", str(demo_data / "digits/validation"), "--output_dir", str(tmp_path / "ft"),
         "--do_train", "--do_eval", "--max_steps", "2", "--max_train_samples", "64", "--max_eval_samples", "32",
         *COMMON]
    )  # fmt: skip
    fine_tuned = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert fine_tuned["num_query_pool"] == 3 and fine_tuned["architectures"] == ["HieraForImageClassification"]
    assert "eval_top1_accuracy" in metrics


def test_video_mae(demo_data, tmp_path):
    load(MAE_SCRIPT).main(
        ["--modality", "video", "--model_name_or_path", "hiera_base_16x224", "--config_overrides", SMALL_VIDEO,
         "--train_dir", str(demo_data / "motion/train"), "--frame_sampling_rate", "2",
         "--output_dir", str(tmp_path / "vmae"), "--do_train", "--max_steps", "2",
         "--per_device_train_batch_size", "4", *COMMON]
    )  # fmt: skip
    assert json.loads((tmp_path / "vmae" / "config.json").read_text())["mask_ratio"] == 0.9


def _image_args(demo_data, out, *extra):
    return [
        str(IMAGE_SCRIPT), "--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE,
        "--train_dir", str(demo_data / "digits/train"), "--validation_dir", str(demo_data / "digits/validation"),
        "--output_dir", str(out), "--do_train", "--max_train_samples", "256", "--max_eval_samples", "64",
        "--per_device_train_batch_size", "16", "--report_to", "none", "--dataloader_num_workers", "0", *extra,
    ]  # fmt: skip


def test_accelerate_launch_two_processes(demo_data, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(EXAMPLES / "accelerate_configs/multi_cpu.yaml"), "--num_cpu_threads_per_process", "1",
               *_image_args(demo_data, out, "--max_steps", "4", "--do_eval", "--save_strategy", "no", "--ddp_backend", "gloo")]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert (out / "model.safetensors").exists()
    # 2 processes x 16 per device: 4 steps saw 128 images
    assert json.loads((out / "train_results.json").read_text())["epoch"] == pytest.approx(128 / 256)


def test_resume_after_kill(demo_data, tmp_path):
    out = tmp_path / "resume"
    args = _image_args(demo_data, out, "--max_steps", "60", "--save_steps", "4", "--save_strategy", "steps")
    process = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / "checkpoint-4"
    deadline = time.time() + 600
    while not (checkpoint / "trainer_state.json").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert (checkpoint / "trainer_state.json").exists()  # Trainer writes it last, after the weights
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "model.safetensors").exists()  # it really died before the end
    for later in out.glob("checkpoint-*"):
        if later != checkpoint:
            shutil.rmtree(later)  # resume from the first checkpoint exactly
    resumed = subprocess.run(
        [sys.executable, *args, "--resume_from_checkpoint", str(checkpoint)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 60
    assert (out / "model.safetensors").exists()


# ---- bad arguments: clear errors before training -----------------------------------------------------------------


def test_missing_data_dir(tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        load(IMAGE_SCRIPT).main(["--train_dir", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "o")])
    with pytest.raises(ValueError, match="--dataset_name .* or --train_dir"):
        load(IMAGE_SCRIPT).main(["--output_dir", str(tmp_path / "o")])
    with pytest.raises(ValueError, match="is not a directory"):
        load(VIDEO_SCRIPT).main(["--train_dir", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "o")])


def test_dataset_without_label_column(tmp_path):
    from datasets import Dataset
    from PIL import Image

    images = [Image.new("RGB", (64, 64), (i * 20, 0, 0)) for i in range(8)]
    Dataset.from_dict({"picture": images, "category": list(range(8))}).save_to_disk(tmp_path / "ds")
    with pytest.raises(ValueError, match="no image column 'image'"):
        load(IMAGE_SCRIPT).main(["--dataset_name", str(tmp_path / "ds"), "--output_dir", str(tmp_path / "o")])
    with pytest.raises(ValueError, match="no label column 'label'"):
        load(IMAGE_SCRIPT).main(
            [
                "--dataset_name",
                str(tmp_path / "ds"),
                "--image_column_name",
                "picture",
                "--output_dir",
                str(tmp_path / "o"),
            ]
        )


def test_unreadable_video_is_skipped_with_warning(demo_data, tmp_path):
    folder = tmp_path / "videos"
    shutil.copytree(demo_data / "motion/validation", folder)
    (folder / "left" / "broken.mp4").write_bytes(b"\x00" * 2048)
    from hiera_hf.training import scan_video_folder

    with pytest.warns(UserWarning, match="broken.mp4"):
        samples, classes = scan_video_folder(str(folder))
    assert classes == ["down", "left", "right", "up"]
    assert len(samples) == 4 * 8 and not any("broken" in path for path, _ in samples)
