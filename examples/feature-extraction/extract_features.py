# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Extract Hiera features of images or videos into Parquet, on Accelerate or Ray Data, resumable; and fit a linear
probe on them.

    python examples/feature-extraction/extract_features.py --model_name_or_path FOLDER_OR_HUB_ID_OR_PRESET \\
        --data_dir demo_data/digits/train --output_dir out/features/train [--stage_maps]
    accelerate launch --num_processes 2 examples/feature-extraction/extract_features.py ...    # each rank its part
    python examples/feature-extraction/extract_features.py ... --engine ray [--ray_address ADDRESS]
    python examples/feature-extraction/extract_features.py ... --resume                     # after a kill
    python examples/feature-extraction/extract_features.py --probe out/features/train out/features/validation

Inputs: a folder (listed, not decoded), a list of paths or URLs, a `datasets` dataset (`--streaming` too), Parquet
files or WebDataset shards (see `hiera_batch.py`). Each input gets one row under `<output_dir>/rows/*.parquet`:
`source` (its identity), `label` (the class, where the inputs have one; `manifest.json` names the classes),
`error` (why it could not be read, or null), `embedding` (the pooled features `HieraModel` returns as
`pooler_output`; from an MAE folder that layer norm is new, at its initial values) and with `--stage_maps` each
stage's map (`stage1`.., flattened channels first, with `stage1_shape`). Rows are written as they are made: memory
does not grow with the number of inputs. Load them with `datasets.load_dataset("parquet",
data_files="<output_dir>/rows/*.parquet")`. Videos give one clip each (the processor's evaluation clip).

`--probe TRAIN VALIDATION`: scikit-learn's logistic regression on the train embeddings, accuracy on validation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import hiera_hf  # noqa: F401  (registers the Auto classes)
from hiera_hf import PRESETS, HieraConfig, HieraModel
from hiera_hf.batch_inference import HieraPredictor
from hiera_hf.image_processing_hiera import IMAGE_EXTENSIONS
from hiera_hf.video_processing_hiera import VIDEO_EXTENSIONS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the scripts' shared modules
from hiera_batch import add_batch_arguments, inputs_from_args, iter_rows, run_engine  # noqa: E402


def model_folder(name_or_path: str, output_dir: str) -> str:
    """A preset becomes a saved folder of random weights (seeded), so that every worker loads the same model."""
    if name_or_path not in PRESETS:
        return name_or_path
    folder = Path(output_dir) / f"preset-{name_or_path}"
    if not (folder / "config.json").exists():
        torch.manual_seed(0)
        HieraModel(HieraConfig.from_preset(name_or_path)).save_pretrained(folder)
    return str(folder)


def extract(args) -> Path:
    model = model_folder(args.model_name_or_path, args.output_dir)
    predictor = HieraPredictor(model, outputs="embedding", input_column=None, stage_maps=args.stage_maps,
                               dtype=args.dtype, fast=args.fast)  # fmt: skip
    is_video = predictor.config.is_video
    inputs = inputs_from_args(args, VIDEO_EXTENSIONS if is_video else IMAGE_EXTENSIONS, is_video)
    predictor.input_column = inputs.input_column
    start = time.perf_counter()
    report = run_engine(predictor, inputs, args)
    if report.get("is_main", True):
        rows = sum(len(batch["source"]) for batch in iter_rows(args.output_dir, ["source"]))
        seconds = time.perf_counter() - start
        print(f"{rows} rows in {args.output_dir}/rows ({seconds:.1f} s; classes: {inputs.classes})")
        if inputs.classes:
            manifest = Path(args.output_dir) / "manifest.json"
            manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "classes": inputs.classes}, indent=2))
    return Path(args.output_dir)


def embeddings(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """The readable rows' embeddings and labels, in source order."""
    rows = {"source": [], "label": [], "embedding": []}
    for batch in iter_rows(folder, ["source", "label", "error", "embedding"]):
        for source, label, error, embedding in zip(
            batch["source"], batch["label"], batch["error"], batch["embedding"]
        ):
            if error is None:
                rows["source"].append(source), rows["label"].append(label), rows["embedding"].append(embedding)
    order = np.argsort(rows["source"])
    return np.asarray(rows["embedding"])[order], np.asarray(rows["label"])[order]


def linear_probe(train_dir: str, validation_dir: str) -> dict:
    """Logistic regression on the train embeddings (standardised), accuracy on the validation embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = [json.loads((Path(d) / "manifest.json").read_text()).get("classes") for d in (train_dir, validation_dir)]
    if classes[0] != classes[1]:
        raise ValueError(f"The train and validation features have different classes: {classes[0]} vs {classes[1]}.")
    (train_x, train_y), (validation_x, validation_y) = embeddings(train_dir), embeddings(validation_dir)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(train_x, train_y)
    accuracy = float(probe.score(validation_x, validation_y))
    return {
        "linear_probe_accuracy": accuracy,
        "train_examples": len(train_y),
        "validation_examples": len(validation_y),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_name_or_path", help="A Hiera folder, Hub id or preset (random weights).")
    parser.add_argument("--stage_maps", action="store_true", help="Also store each stage's map.")
    parser.add_argument("--probe", nargs=2, metavar=("TRAIN_FEATURES", "VALIDATION_FEATURES"))
    add_batch_arguments(parser, split="train", output_required=False)
    args = parser.parse_args(argv)
    if args.probe:
        result = linear_probe(*args.probe)
        print(json.dumps(result))
        return result
    if not (args.model_name_or_path and args.output_dir):
        parser.error("give --model_name_or_path, an input and --output_dir (or --probe TRAIN VALIDATION)")
    return extract(args)


if __name__ == "__main__":
    main()
