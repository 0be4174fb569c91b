# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluate a Hiera classifier (folder or Hub id) on an image folder in the ImageNet validation layout, a `datasets`
dataset, or a video folder in the Kinetics layout; in one process or many, resumable after a kill.

    python examples/evaluation/run_evaluation.py --model_name_or_path FOLDER_OR_HUB_ID \\
        --data_dir imagenet/val --output_dir out/eval
    accelerate launch --num_processes 8 examples/evaluation/run_evaluation.py ...   # same metrics, 8 shards
    python examples/evaluation/run_evaluation.py ... --resume                       # after a kill

Data: `<data_dir>/<class>/<file>`, class folders matched to the model's labels by name ("tench", "tench, Tinca
tinca", "Tinca_tinca"...) or, for 1000-class models, by WordNet id (`n01440764`); or `--dataset_name` (a `datasets`
id or a folder saved with `save_to_disk`) with `--image_column` (`--video_column` for a video model: a `Video`
column, read undecoded) and `--label_column`. Videos (a video model) take
`--num_clips` x `--num_crops` views each (the paper: 5 x 3) and average the logits. Images use the processor's
evaluation transform.

The examples are cut into chunks of `--chunk_size` consecutive indices; chunk `c` belongs to process
`c % num_processes`, runs in batches of `--batch_size` from its start (so logits do not depend on the number of
processes), and is written to `<output_dir>/chunks/` in one step when it is done. `--resume` skips finished chunks.
At the end the main process reads every chunk once (the output folder must be shared by the processes), checks that
every example is counted exactly once, computes top-1/top-5 with the `top_k_accuracy` metric module, and writes
`results.json`: metrics, per-class accuracy, counts, skipped files (unreadable files are skipped with a warning and
listed), throughput (end to end, and the model alone).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState
from tqdm.auto import tqdm
from transformers import AutoConfig

import hiera_hf  # noqa: F401  (registers the Auto classes)
from hiera_hf import PRESETS, HieraConfig
from hiera_hf.image_processing_hiera import IMAGE_EXTENSIONS
from hiera_hf.modeling_hiera import hiera_class_for
from hiera_hf.parity import PAPER_TOP1
from hiera_hf.processors import processor_for
from hiera_hf.video_processing_hiera import VIDEO_EXTENSIONS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the scripts' shared module
from hiera_examples import (  # noqa: E402
    ChunkedRun,
    ReadableSamples,
    class_folder_files,
    load_labelled_rows,
    load_metric,
)

WORDNET_ID = re.compile(r"^n\d{8}$")


# ---- data ----------------------------------------------------------------------------------------------------------


def normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name).strip().lower()


def match_classes(class_names: list[str], id2label: dict[int, str]) -> dict[str, int]:
    """Class folder (or dataset label) name -> model label id; raises `ValueError` listing what did not match."""
    by_name = {}
    for index, label in id2label.items():
        for alias in (label, *label.split(",")):  # "tench, Tinca tinca": the whole label or any synonym
            by_name.setdefault(normalise(alias), index)
    if len(id2label) == 1000 and any(WORDNET_ID.match(name) for name in class_names):
        from timm.data import ImageNetInfo  # ships the ImageNet-1k WordNet ids in the standard label order

        by_name.update({normalise(wnid): index for index, wnid in enumerate(ImageNetInfo().label_names())})
    mapping = {name: by_name.get(normalise(name)) for name in class_names}
    unmatched = sorted(name for name, index in mapping.items() if index is None)
    if unmatched:
        examples = ", ".join(list(id2label.values())[:5])
        raise ValueError(
            f"{len(unmatched)} of {len(class_names)} classes match none of the model's {len(id2label)} labels "
            f"(by name, or by WordNet id for 1000-class models): {unmatched[:20]}. The model's labels start: "
            f"{examples}."
        )
    return mapping


def folder_samples(data_dir: str, extensions: tuple[str, ...], id2label: dict[int, str]) -> list[tuple[str, int]]:
    """`(path, label id)` for `<data_dir>/<class>/<file>`, sorted; errors for an empty folder or unmatched classes."""
    files = class_folder_files(data_dir, extensions)
    mapping = match_classes(list(files), id2label)
    return [(path, mapping[name]) for name, paths in files.items() for path in paths]


def dataset_samples(args, id2label: dict[int, str], is_video: bool):
    """A `datasets` dataset as `(row index, label id)` samples, and the dataset to read the rows from."""
    column = args.video_column if is_video else args.image_column
    dataset, names = load_labelled_rows(
        args.dataset_name, args.dataset_config_name, args.split, column, args.label_column, is_video
    )
    mapping = match_classes(names, id2label)
    return [(index, mapping[names[label]]) for index, label in enumerate(dataset[args.label_column])], dataset


def summarise(chunks: list[dict], num_samples: int, id2label: dict[int, str]) -> dict:
    """Metrics of the chunks' logits (each example counted once: `ChunkedRun.read_all` checked)."""
    labels = np.concatenate([c["labels"] for c in chunks])
    logits = np.concatenate([c["logits"] for c in chunks])
    metrics = load_metric("top_k_accuracy").compute(predictions=logits, references=labels, k=(1, 5))
    predicted = logits.argmax(-1)
    per_class = {
        id2label[label]: {"accuracy": float((predicted[labels == label] == label).mean()), "count": int(count)}
        for label, count in zip(*np.unique(labels, return_counts=True))
    }
    skipped = sorted((int(i), str(e)) for c in chunks for i, e in zip(c["skipped_indices"], c["skipped_errors"]))
    return {
        **metrics,
        "num_examples": num_samples,
        "num_evaluated": len(labels),
        "num_skipped": len(skipped),
        "skipped": [error for _, error in skipped],
        "per_class": per_class,
        "model_seconds": float(sum(c["model_seconds"] for c in chunks)),
        "chunk_seconds": float(sum(c["chunk_seconds"] for c in chunks)),
    }


def known_architecture(config: HieraConfig) -> str | None:
    """The official architecture `config` has (embedding width, depths, heads, frames), if any."""

    def shape(c: HieraConfig) -> tuple:
        return c.embed_dim, tuple(c.depths), tuple(c.num_heads), c.num_frames

    return next((name for name, preset in PRESETS.items() if shape(HieraConfig(**preset)) == shape(config)), None)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_name_or_path", required=True, help="A classifier folder or Hub id.")
    parser.add_argument("--data_dir", help="<dir>/<class>/<image or video>")
    parser.add_argument("--dataset_name", help="A datasets id or a folder saved with save_to_disk.")
    parser.add_argument("--dataset_config_name")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--image_column", default="image")
    parser.add_argument("--video_column", default="video", help="The video column, for a video model.")
    parser.add_argument("--label_column", default="label")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--num_workers", type=int, default=2, help="DataLoader workers decoding ahead of the model.")
    parser.add_argument("--chunk_size", type=int, default=512, help="Examples per resumable chunk.")
    parser.add_argument("--num_clips", type=int, default=5, help="Videos: temporal clips per video.")
    parser.add_argument("--num_crops", type=int, default=3, help="Videos: spatial crops per clip.")
    parser.add_argument("--max_samples", type=int, default=None)
    parser.add_argument("--resume", action="store_true", help="Keep finished chunks of an earlier run.")
    args = parser.parse_args(argv)
    if (args.data_dir is None) == (args.dataset_name is None):
        parser.error("give exactly one of --data_dir and --dataset_name")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    state = PartialState(cpu=not torch.accelerator.is_available())  # CPUs only: gloo, as Trainer does with use_cpu
    config = AutoConfig.from_pretrained(args.model_name_or_path)
    if not isinstance(config, HieraConfig) or not config.id2label:
        raise ValueError(f"{args.model_name_or_path!r} is not a Hiera classifier folder or Hub id.")
    id2label = {int(index): name for index, name in config.id2label.items()}
    dataset = None
    if args.dataset_name:
        samples, dataset = dataset_samples(args, id2label, config.is_video)
    else:
        samples = folder_samples(args.data_dir, VIDEO_EXTENSIONS if config.is_video else IMAGE_EXTENSIONS, id2label)
    samples = samples[: args.max_samples]
    processor = processor_for(config, args.model_name_or_path)
    views = (args.num_clips, args.num_crops) if config.is_video else (1, 1)
    column = args.video_column if config.is_video else args.image_column
    data = ReadableSamples(samples, processor, config.is_video, dataset, column, views)

    model = hiera_class_for(config).from_pretrained(args.model_name_or_path).eval().to(state.device)
    run = ChunkedRun(args.output_dir, len(samples), args.chunk_size, state.process_index, state.num_processes)
    todo = run.todo(args.resume)
    total = sum(len(run.indices(chunk)) for chunk in todo)
    unit = "videos" if config.is_video else "images"
    progress = tqdm(total=total, desc="evaluating", unit=unit[:-1], disable=not state.is_main_process)

    def step(pixel_values, batch):
        logits = model(pixel_values.to(state.device)).logits.float()
        return {"logits": logits.view(len(batch["index"]), -1, logits.shape[-1]).mean(1).cpu()}  # average views

    start = time.perf_counter()
    for chunk, _ in run.run(data, todo, args.batch_size, args.num_workers, step):
        progress.update(len(run.indices(chunk)))
    progress.close()
    state.wait_for_everyone()
    if not state.is_main_process:
        return {}
    seconds = time.perf_counter() - start
    results = summarise(run.read_all(), len(samples), id2label)
    results.update(
        model=args.model_name_or_path,
        data=args.data_dir or args.dataset_name,
        num_processes=state.num_processes,
        per_process=run.shares(),  # the chunks each process ran in this run, and their examples
        views_per_video=views[0] * views[1] if config.is_video else None,
        wall_seconds=seconds,  # this run's evaluation, all processes (start-up not counted)
        # Per process, over all chunks (an earlier run's too, when resumed): with the loader's decoding, and the model
        # alone. The gap is time the model waited for data.
        end_to_end_per_second=results["num_evaluated"] / max(results["chunk_seconds"], 1e-9),
        model_only_per_second=results["num_evaluated"] / max(results["model_seconds"], 1e-9),
    )
    (Path(args.output_dir) / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    paper = PAPER_TOP1.get(known_architecture(config) or "")
    line = f"top-1 {100 * results['top1_accuracy']:.2f}%, top-5 {100 * results.get('top5_accuracy', 1.0):.2f}%"
    line += f" on {results['num_evaluated']} {unit} ({results['num_skipped']} skipped)"
    if paper is not None:
        line += f"; the paper reports {paper}% for {known_architecture(config)} (full validation set)"
    print(line)
    print(
        f"{results['end_to_end_per_second']:.1f} {unit}/s per process end to end, "
        f"{results['model_only_per_second']:.1f} in the model alone"
    )
    return results


if __name__ == "__main__":
    main()
