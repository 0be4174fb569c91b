# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluate a Hiera classifier (folder or Hub id) on images or videos, on Accelerate or Ray Data, resumable.

    python examples/evaluation/run_evaluation.py --model_name_or_path FOLDER_OR_HUB_ID \\
        --data_dir imagenet/val --output_dir out/eval
    accelerate launch --num_processes 8 examples/evaluation/run_evaluation.py ...   # each rank its part
    python examples/evaluation/run_evaluation.py ... --engine ray [--ray_num_actors 4]
    python examples/evaluation/run_evaluation.py ... --resume                       # after a kill

Data: `<data_dir>/<class>/<file>`, class folders matched to the model's labels by name ("tench", "tench, Tinca
tinca", "Tinca_tinca"...) or, for 1000-class models, by WordNet id (`n01440764`); or `--dataset_name` (a `datasets`
id or a `save_to_disk` folder, `--streaming` too) with `--image_column` (`--video_column` for a video model) and a
`ClassLabel` `--label_column`; or Parquet files / WebDataset shards whose labels are the model's class ids (or
names, for shards with `classes.json`). Videos take `--num_clips` x `--num_crops` views each (the paper: 5 x 3)
and average the logits. Images use the processor's evaluation transform.

Every input gets a row under `<output_dir>/rows/*.parquet` (`source`, `label`, `error`, `logits`, the top-k
labels and scores), written as it is made (see `hiera_batch.py`); `--resume` skips the sources already there and
refuses a changed model, processor or options. The metrics are then computed from the rows as they stream by
(top-1/top-5 and per-class accuracy, each input counted once) into `results.json`, with the unreadable inputs
named, counts and throughput.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from transformers import AutoConfig

import hiera_hf  # noqa: F401  (registers the Auto classes)
from hiera_hf import PRESETS, HieraConfig
from hiera_hf.batch_inference import HieraPredictor
from hiera_hf.image_processing_hiera import IMAGE_EXTENSIONS
from hiera_hf.parity import PAPER_TOP1
from hiera_hf.video_processing_hiera import VIDEO_EXTENSIONS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the scripts' shared modules
from hiera_batch import StreamingAccuracy, add_batch_arguments, inputs_from_args, iter_rows, run_engine  # noqa: E402

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


def known_architecture(config: HieraConfig) -> str | None:
    """The official architecture `config` has (embedding width, depths, heads, frames), if any."""

    def shape(c: HieraConfig) -> tuple:
        return c.embed_dim, tuple(c.depths), tuple(c.num_heads), c.num_frames

    return next((name for name, preset in PRESETS.items() if shape(HieraConfig(**preset)) == shape(config)), None)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_name_or_path", required=True, help="A classifier folder or Hub id.")
    parser.add_argument("--num_clips", type=int, default=5, help="Videos: temporal clips per video.")
    parser.add_argument("--num_crops", type=int, default=3, help="Videos: spatial crops per clip.")
    add_batch_arguments(parser, split="validation")
    return parser.parse_args(argv)


def label_map(inputs, id2label: dict[int, str]) -> list[int] | None:
    """The inputs' class index -> the model's label id, by name (None where the labels are the model's ids)."""
    if not inputs.classes:
        return None
    mapping = match_classes(inputs.classes, id2label)
    return [mapping[name] for name in inputs.classes]


def main(argv=None) -> dict:
    args = parse_args(argv)
    config = AutoConfig.from_pretrained(args.model_name_or_path)
    if not isinstance(config, HieraConfig) or not config.id2label:
        raise ValueError(f"{args.model_name_or_path!r} is not a Hiera classifier folder or Hub id.")
    id2label = {int(index): name for index, name in config.id2label.items()}
    views = (args.num_clips, args.num_crops) if config.is_video else (1, 1)
    inputs = inputs_from_args(args, VIDEO_EXTENSIONS if config.is_video else IMAGE_EXTENSIONS, config.is_video)
    mapping = label_map(inputs, id2label)  # unmatched classes fail here, before any model work
    predictor = HieraPredictor(args.model_name_or_path, outputs="logits", input_column=inputs.input_column,
                               dtype=args.dtype, fast=args.fast, num_clips=views[0], num_crops=views[1])  # fmt: skip
    start = time.perf_counter()
    report = run_engine(predictor, inputs, args)
    if not report.get("is_main", True):
        return {}
    results = summarise(args, config, id2label, mapping, time.perf_counter() - start, report)
    (Path(args.output_dir) / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print_summary(results, config)
    return results


def summarise(args, config, id2label, mapping, seconds: float, report: dict) -> dict:
    """The metrics of every written row, read as they stream by."""
    accuracy = StreamingAccuracy(id2label, mapping)
    for batch in iter_rows(args.output_dir, ["source", "label", "error", "logits"]):
        accuracy.add(batch)
    results = accuracy.results()
    results.update(
        model=args.model_name_or_path,
        data=args.data_dir or args.dataset_name or args.data_files or args.shards or args.sources_file,
        engine=args.engine,
        num_examples=results["num_evaluated"] + results["num_skipped"],
        views_per_video=args.num_clips * args.num_crops if config.is_video else None,
        ranks=report.get("ranks"),  # accelerate: what each rank ran in this run
        wall_seconds=seconds,  # this run's evaluation (start-up not counted)
    )
    ran = sum(rank["rows"] for rank in report["ranks"]) if report.get("ranks") else results["num_examples"]
    results["per_second"] = ran / max(seconds, 1e-9)  # (Ray: over every row, a resumed run's earlier ones too)
    return results


def print_summary(results: dict, config) -> None:
    unit = "videos" if config.is_video else "images"
    paper = PAPER_TOP1.get(known_architecture(config) or "")
    line = f"top-1 {100 * results['top1_accuracy']:.2f}%, top-5 {100 * results['top5_accuracy']:.2f}%"
    line += f" on {results['num_evaluated']} {unit} ({results['num_skipped']} skipped)"
    if paper is not None:
        line += f"; the paper reports {paper}% for {known_architecture(config)} (full validation set)"
    print(line)
    print(f"{results['per_second']:.1f} {unit}/s in this run")


if __name__ == "__main__":
    main()
