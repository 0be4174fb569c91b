# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The main job: build the embedded digits data, train a small Hiera on it with `Trainer`, then classify the
validation images with `pipeline("image-classification")` from the saved folder and print the accuracy.

    python examples/demo.py [--output-dir demo_output] [--epochs 6]
    python examples/demo.py --mae   # instead: MAE pre-training on the same digits (the web demo's reconstructions)

Runs offline on a laptop CPU in a few minutes (the model is a 64x64, 1-1-2-1-layer Hiera trained from scratch).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hiera_examples import load_script
from transformers import pipeline

HERE = Path(__file__).resolve().parent
SMALL_HIERA = {"embed_dim": 32, "num_heads": [1, 2, 4, 8], "depths": [1, 1, 2, 1], "image_size": [64, 64]}
# MAE on 64x64 digits: 4x4-token mask units (16 per image, 6 visible at ratio 0.6) and a small decoder; 600 steps
# take about a minute on 2 cores (examples/README.md has what it learns).
DIGITS_MAE = {
    "embed_dim": 32, "num_heads": [1, 2, 4], "depths": [1, 1, 1], "masked_unit_size": [4, 4],
    "masked_unit_attention": [True, True, False], "image_size": [64, 64], "decoder_hidden_size": 64,
    "decoder_depth": 2, "decoder_num_heads": 2,
}  # fmt: skip


def train_mae(output: Path, data: Path) -> Path:
    """MAE pre-training on the digits (`run_mae.py`), saved to `output / "hiera-digits-mae"`."""
    model_dir = output / "hiera-digits-mae"
    load_script(HERE / "pretraining" / "run_mae.py").main(
        ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", json.dumps(DIGITS_MAE),
         "--train_dir", str(data / "digits" / "train"), "--output_dir", str(model_dir), "--do_train",
         "--max_steps", "600", "--per_device_train_batch_size", "32", "--learning_rate", "2e-3",
         "--warmup_steps", "0.1", "--logging_steps", "50", "--save_strategy", "no", "--report_to", "none",
         "--dataloader_num_workers", "0", "--seed", "0"]
    )  # fmt: skip
    return model_dir


def main(argv: list[str] | None = None) -> float | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="demo_output")
    parser.add_argument("--epochs", type=float, default=20)
    parser.add_argument("--mae", action="store_true", help="train the digits MAE instead of the classifier")
    args = parser.parse_args(argv)
    output = Path(args.output_dir)
    data = output / "data"

    start = time.perf_counter()
    if not (data / "digits" / "validation").is_dir():
        load_script(HERE / "make_demo_data.py").write_digits(data)
    if args.mae:
        print(f"MAE saved to {train_mae(output, data)} in {time.perf_counter() - start:.0f} s")
        return None
    run_image_classification = load_script(HERE / "image-classification" / "run_image_classification.py")
    model_dir = output / "hiera-digits"
    metrics = run_image_classification.main(
        [
            "--model_name_or_path", "hiera_tiny_224",
            "--config_overrides", json.dumps(SMALL_HIERA),
            "--train_dir", str(data / "digits" / "train"),
            "--validation_dir", str(data / "digits" / "validation"),
            "--output_dir", str(model_dir),
            "--do_train", "--do_eval",
            "--hflip_prob", "0",  # digits are not mirror-symmetric
            "--num_train_epochs", str(args.epochs),
            "--per_device_train_batch_size", "32",
            "--per_device_eval_batch_size", "64",
            "--learning_rate", "2e-3",
            "--weight_decay", "0.05",
            "--warmup_steps", "0.1",
            "--lr_scheduler_type", "cosine",
            "--eval_strategy", "epoch",
            "--save_strategy", "no",
            "--logging_steps", "20",
            "--dataloader_num_workers", "0",
            "--report_to", "none",
            "--seed", "0",
        ]
    )  # fmt: skip
    train_seconds = time.perf_counter() - start

    classifier = pipeline("image-classification", model=str(model_dir))
    files = sorted((data / "digits" / "validation").glob("*/*.png"))
    correct = sum(classifier(str(path), top_k=1)[0]["label"] == path.parent.name for path in files)
    accuracy = correct / len(files)
    print(f"\nTrained in {train_seconds:.0f} s; Trainer eval top-1 {metrics['eval_top1_accuracy']:.3f}")
    print(f'pipeline("image-classification", model="{model_dir}") on {len(files)} validation digits:')
    print(f"accuracy {accuracy:.3f} (chance 0.100)")
    return accuracy


if __name__ == "__main__":
    main()
