# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Extract Hiera features of an image or video folder (or a `datasets` dataset) into a `datasets` dataset on disk, in
one process or many, resumable; and fit a linear probe on them.

    python examples/feature-extraction/extract_features.py --model_name_or_path FOLDER_OR_HUB_ID_OR_PRESET \\
        --data_dir demo_data/digits/train --output_dir out/features/train [--stage_maps] [--num_shards 4]
    accelerate launch --num_processes 2 examples/feature-extraction/extract_features.py ...
    python examples/feature-extraction/extract_features.py --probe out/features/train out/features/validation

Each example gets `embedding` (the pooled, layer-normed features `HieraModel` returns as `pooler_output`; from an
MAE folder that layer norm is new, at its initial values), `label` (the class folder or the dataset's label, a
`ClassLabel`) and `source` (the path or dataset row); `--stage_maps` adds `stage1`..`stage4`, each stage's map
`(channels, *grid)` in the input's layout. Chunks, sharding and `--resume` work as in
`examples/evaluation/run_evaluation.py`; the dataset is written when every chunk is done, in `--num_shards` Arrow
shards, completely or not at all. Videos give one clip each (the processor's evaluation clip).

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
from accelerate import PartialState
from tqdm.auto import tqdm

import hiera_hf  # noqa: F401  (registers the Auto classes)
from hiera_hf import PRESETS, HieraConfig, HieraModel
from hiera_hf.atomic import atomic_folder
from hiera_hf.image_processing_hiera import IMAGE_EXTENSIONS
from hiera_hf.processors import processor_for
from hiera_hf.video_processing_hiera import VIDEO_EXTENSIONS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the scripts' shared module
from hiera_examples import (  # noqa: E402
    ChunkedRun,
    ReadableSamples,
    class_folder_files,
    load_labelled_rows,
)


def load_encoder(name_or_path: str) -> HieraModel:
    """`HieraModel` (with its pooler) from a preset (random weights), a folder or a Hub id of any Hiera task."""
    if name_or_path in PRESETS:
        torch.manual_seed(0)
        return HieraModel(HieraConfig.from_preset(name_or_path)).eval()
    return HieraModel.from_pretrained(name_or_path).eval()


def extract(args) -> Path:
    state = PartialState(cpu=not torch.accelerator.is_available())  # CPUs only: gloo, as Trainer does with use_cpu
    model = load_encoder(args.model_name_or_path).to(state.device)
    config = model.config
    rows = None
    if args.dataset_name:
        rows, classes = load_labelled_rows(
            args.dataset_name, args.dataset_config_name, args.split, args.image_column, args.label_column
        )
        samples = list(enumerate(rows[args.label_column]))
    else:
        files = class_folder_files(args.data_dir, VIDEO_EXTENSIONS if config.is_video else IMAGE_EXTENSIONS)
        classes = list(files)
        samples = [(path, label) for label, name in enumerate(classes) for path in files[name]]
    samples = samples[: args.max_samples]
    processor = processor_for(config, args.model_name_or_path)
    data = ReadableSamples(samples, processor, config.is_video, rows, args.image_column)
    run = ChunkedRun(args.output_dir, len(samples), args.chunk_size, state.process_index, state.num_processes)
    todo = run.todo(args.resume)
    total = sum(len(run.indices(chunk)) for chunk in todo)
    progress = tqdm(total=total, desc="extracting", disable=not state.is_main_process)

    def step(pixel_values, batch):
        outputs = model(pixel_values.to(state.device), output_hidden_states=args.stage_maps)
        features = {"embedding": outputs.pooler_output.float().cpu()}
        if args.stage_maps:  # (B, *grid, C) -> (B, C, *grid)
            for stage, states in enumerate(outputs.reshaped_hidden_states[1:], start=1):
                features[f"stage{stage}"] = states.movedim(-1, 1).float().cpu()
        return features

    start = time.perf_counter()
    for chunk, _ in run.run(data, todo, args.batch_size, args.num_workers, step):
        progress.update(len(run.indices(chunk)))
    progress.close()
    state.wait_for_everyone()
    destination = Path(args.output_dir) / "features"
    if state.is_main_process:
        write_dataset(run.read_all(), samples, classes, destination, args.num_shards, run.shares())
        seconds = time.perf_counter() - start
        print(f"{len(samples)} examples -> {destination} ({seconds:.1f} s, {len(samples) / seconds:.1f}/s)")
    state.wait_for_everyone()
    return destination


def write_dataset(chunks: list[dict], samples, classes: list[str], destination: Path, num_shards: int, shares=None):
    """The chunks as one `datasets.Dataset` in example order, saved in `num_shards` shards, atomically, with
    `skipped.json` (unreadable files) and `per_process.json` (the chunks each process ran in this run)."""
    from datasets import Array3D, Array4D, ClassLabel, Dataset, Features, Sequence, Value

    order = np.argsort(np.concatenate([c["indices"] for c in chunks]), kind="stable")
    columns = {name: np.concatenate([c[name] for c in chunks])[order] for name in chunks[0] if _per_example(name)}
    features = {"embedding": Sequence(Value("float32")), "label": ClassLabel(names=classes), "source": Value("string")}
    content = {
        "embedding": columns["embedding"],
        "label": columns["labels"],
        "source": [str(samples[index][0]) for index in columns["indices"]],
    }
    for name in sorted(name for name in columns if name.startswith("stage")):  # (N, C, *grid)
        maps = columns[name]
        features[name] = (Array3D if maps.ndim == 4 else Array4D)(shape=maps.shape[1:], dtype="float32")
        content[name] = maps
    dataset = Dataset.from_dict(content, features=Features(features))
    skipped = [str(error) for c in chunks for error in c["skipped_errors"]]
    with atomic_folder(destination, overwrite=True) as staging:
        dataset.save_to_disk(str(staging), num_shards=min(num_shards, len(dataset)))
        (staging / "skipped.json").write_text(json.dumps(skipped, indent=2) + "\n")
        (staging / "per_process.json").write_text(json.dumps(shares or {}, indent=2) + "\n")


def _per_example(name: str) -> bool:
    return name in ("indices", "labels", "embedding") or name.startswith("stage")


def linear_probe(train_dir: str, validation_dir: str) -> dict:
    """Logistic regression on the train embeddings (standardised), accuracy on the validation embeddings."""
    from datasets import load_from_disk
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, validation = (
        load_from_disk(train_dir).with_format("numpy"),
        load_from_disk(validation_dir).with_format("numpy"),
    )
    if train.features["label"].names != validation.features["label"].names:
        raise ValueError("The train and validation features have different classes.")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(np.stack(train["embedding"]), train["label"])
    accuracy = float(probe.score(np.stack(validation["embedding"]), validation["label"]))
    return {"linear_probe_accuracy": accuracy, "train_examples": len(train), "validation_examples": len(validation)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_name_or_path", help="A Hiera folder, Hub id or preset (random weights).")
    parser.add_argument("--data_dir", help="<dir>/<class>/<image or video>")
    parser.add_argument("--dataset_name", help="A datasets id or a folder saved with save_to_disk (images).")
    parser.add_argument("--dataset_config_name")
    parser.add_argument("--split", default="train")
    parser.add_argument("--image_column", default="image")
    parser.add_argument("--label_column", default="label")
    parser.add_argument("--output_dir")
    parser.add_argument("--stage_maps", action="store_true", help="Also store each stage's map.")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--chunk_size", type=int, default=512)
    parser.add_argument("--num_shards", type=int, default=1)
    parser.add_argument("--max_samples", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--probe", nargs=2, metavar=("TRAIN_FEATURES", "VALIDATION_FEATURES"))
    args = parser.parse_args(argv)
    if args.probe:
        result = linear_probe(*args.probe)
        print(json.dumps(result))
        return result
    if not (args.model_name_or_path and (args.data_dir or args.dataset_name) and args.output_dir):
        parser.error("give --model_name_or_path, --data_dir or --dataset_name, --output_dir (or --probe TRAIN VAL)")
    return extract(args)


if __name__ == "__main__":
    main()
