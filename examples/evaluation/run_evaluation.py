# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Evaluate a Hiera classifier (folder or Hub id) on an image folder in the ImageNet validation layout, a `datasets`
dataset, or a video folder in the Kinetics layout; in one process or many, resumable after a kill.

    python examples/evaluation/run_evaluation.py --model_name_or_path FOLDER_OR_HUB_ID \\
        --data_dir imagenet/val --output_dir out/eval
    accelerate launch --num_processes 8 examples/evaluation/run_evaluation.py ...   # same metrics, 8 shards
    python examples/evaluation/run_evaluation.py ... --resume                       # after a kill

Data: `<data_dir>/<class>/<file>`, class folders matched to the model's labels by name ("tench", "tench, Tinca
tinca", "Tinca_tinca"...) or, for 1000-class models, by WordNet id (`n01440764`); or `--dataset_name` (a `datasets`
id or a folder saved with `save_to_disk`) with `--image_column`/`--label_column`. Videos (a video model) take
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
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from accelerate import PartialState
from tqdm.auto import tqdm
from transformers import AutoConfig

import hiera_hf  # noqa: F401  (registers the Auto classes)
from hiera_hf import PRESETS, HieraConfig
from hiera_hf.modeling_hiera import hiera_class_for
from hiera_hf.training import processor_for
from hiera_hf.video_processing_hiera import VIDEO_EXTENSIONS

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the scripts' shared module
from hiera_examples import load_metric  # noqa: E402

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".jpe", ".tif", ".tiff")
# ImageNet-1k top-1 (fine-tuned checkpoints) and Kinetics-400 top-1 (5 clips x 3 crops) reported in the paper.
PAPER_TOP1 = {
    "hiera_tiny_224": 82.8,
    "hiera_small_224": 83.8,
    "hiera_base_224": 84.5,
    "hiera_base_plus_224": 85.2,
    "hiera_large_224": 86.1,
    "hiera_huge_224": 86.9,
    "hiera_base_16x224": 84.0,
    "hiera_base_plus_16x224": 85.0,
    "hiera_large_16x224": 87.3,
    "hiera_huge_16x224": 87.8,
}
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
    if not os.path.isdir(data_dir):
        raise ValueError(f"--data_dir {data_dir!r} is not a directory (expected <dir>/<class>/<file>).")
    classes = sorted(d for d in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, d)))
    files = {
        name: sorted(f for f in os.listdir(os.path.join(data_dir, name)) if f.lower().endswith(extensions))
        for name in classes
    }
    classes = [name for name in classes if files[name]]
    if not classes:
        raise ValueError(f"No files ({', '.join(extensions)}) under {data_dir!r}/<class>/.")
    mapping = match_classes(classes, id2label)
    return [(os.path.join(data_dir, name, file), mapping[name]) for name in classes for file in files[name]]


def dataset_samples(args, id2label: dict[int, str]):
    """A `datasets` dataset as `(row index, label id)` samples, and the dataset to read the rows from."""
    from datasets import Dataset, load_dataset, load_from_disk

    if os.path.isdir(args.dataset_name):
        dataset = load_from_disk(args.dataset_name)
    else:
        dataset = load_dataset(args.dataset_name, args.dataset_config_name)
    if not isinstance(dataset, Dataset):
        dataset = dataset[args.split]
    if len(dataset) == 0:
        raise ValueError(f"The dataset {args.dataset_name!r} is empty.")
    for column in (args.image_column, args.label_column):
        if column not in dataset.column_names:
            raise ValueError(f"No column {column!r} in the dataset (columns: {dataset.column_names}).")
    names = dataset.features[args.label_column].names
    mapping = match_classes(names, id2label)
    return [(index, mapping[names[label]]) for index, label in enumerate(dataset[args.label_column])], dataset


class EvaluationSet(torch.utils.data.Dataset):
    """`{"index", "label", "pixel_values"}` per sample, or `{"index", "error"}` when the file cannot be read."""

    def __init__(self, samples, processor, is_video: bool, dataset=None, image_column: str = "image", views=(1, 1)):
        self.samples, self.processor, self.is_video = samples, processor, is_video
        self.dataset, self.image_column, self.views = dataset, image_column, views

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        source, label = self.samples[index]
        try:
            if self.dataset is not None:
                inputs = self.processor(self.dataset[source][self.image_column], return_tensors="pt")
            elif self.is_video:
                num_clips, num_crops = self.views
                inputs = self.processor(source, num_clips=num_clips, num_crops=num_crops, return_tensors="pt")
            else:
                from PIL import Image

                with Image.open(source) as image:
                    inputs = self.processor(image, return_tensors="pt")
        except Exception as error:  # a broken file is counted and listed, never a crash of the whole run
            return {"index": index, "error": f"{source}: {type(error).__name__}: {error}"}
        return {"index": index, "label": label, "pixel_values": inputs.pixel_values}


def collate(items: list[dict]) -> dict:
    good = [item for item in items if "error" not in item]
    return {
        "index": [item["index"] for item in good],
        "label": [item["label"] for item in good],
        "pixel_values": torch.cat([item["pixel_values"] for item in good]) if good else None,
        "errors": [(item["index"], item["error"]) for item in items if "error" in item],
    }


# ---- sharded, resumable evaluation ---------------------------------------------------------------------------------


def chunk_path(output_dir: Path, chunk: int) -> Path:
    return output_dir / "chunks" / f"chunk-{chunk:06d}.npz"


def chunk_indices(chunk: int, chunk_size: int, num_samples: int) -> range:
    return range(chunk * chunk_size, min(num_samples, (chunk + 1) * chunk_size))


def evaluate_chunks(model, dataset, chunks: list[int], args, device, views: int):
    """Yield `(chunk, result)` as each chunk finishes: the logits of its examples, in batches from the chunk's start,
    and the unreadable ones. One DataLoader over all the chunks, so its workers decode ahead across chunk ends."""
    batches, owner = [], []
    for chunk in chunks:
        indices = list(chunk_indices(chunk, args.chunk_size, len(dataset)))
        for start in range(0, len(indices), args.batch_size):
            batches.append(indices[start : start + args.batch_size])
            owner.append(chunk)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=batches, num_workers=args.num_workers, collate_fn=collate
    )
    result, chunk_start = None, time.perf_counter()
    for position, batch in enumerate(loader):
        if result is None:
            result = {"indices": [], "labels": [], "logits": [], "skipped": [], "model_seconds": 0.0}
        result["skipped"] += batch["errors"]
        if batch["pixel_values"] is not None:
            start = time.perf_counter()
            with torch.inference_mode():
                output = model(batch["pixel_values"].to(device)).logits.float()
            output = output.view(len(batch["index"]), views, -1).mean(1)  # average the views of each video
            result["model_seconds"] += time.perf_counter() - start
            result["indices"] += batch["index"]
            result["labels"] += batch["label"]
            result["logits"].append(output.cpu().numpy())
        if position + 1 == len(batches) or owner[position + 1] != owner[position]:  # the chunk's last batch
            logits = result["logits"]
            yield (
                owner[position],
                {
                    "indices": np.asarray(result["indices"], dtype=np.int64),
                    "labels": np.asarray(result["labels"], dtype=np.int64),
                    "logits": np.concatenate(logits) if logits else np.zeros((0, model.config.num_labels), np.float32),
                    "skipped_indices": np.asarray([index for index, _ in result["skipped"]], dtype=np.int64),
                    "skipped_errors": np.asarray([error for _, error in result["skipped"]], dtype=str),
                    "model_seconds": np.float64(result["model_seconds"]),
                    "chunk_seconds": np.float64(time.perf_counter() - chunk_start),  # decoding, preprocessing, model
                },
            )
            result, chunk_start = None, time.perf_counter()


def write_chunk(path: Path, result: dict) -> None:
    """All or nothing: a kill leaves either the finished chunk or no file (never a partial one)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as file:
        np.savez(file, **result)
    os.replace(temporary, path)


def summarise(output_dir: Path, num_chunks: int, samples, id2label: dict[int, str]) -> dict:
    """Read every chunk once, check that each example is counted exactly once, and compute the metrics."""
    chunks = [dict(np.load(chunk_path(output_dir, chunk))) for chunk in range(num_chunks)]
    indices = np.concatenate([c["indices"] for c in chunks] + [c["skipped_indices"] for c in chunks])
    if len(indices) != len(samples) or len(np.unique(indices)) != len(samples):
        raise RuntimeError(f"{len(indices)} results ({len(np.unique(indices))} distinct) for {len(samples)} examples.")
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
        "num_examples": len(samples),
        "num_evaluated": len(labels),
        "num_skipped": len(skipped),
        "skipped": [error for _, error in skipped],
        "per_class": per_class,
        "model_seconds": float(sum(c["model_seconds"] for c in chunks)),
        "chunk_seconds": float(sum(c["chunk_seconds"] for c in chunks)),
    }


def known_architecture(config: HieraConfig) -> str | None:
    for name, preset in PRESETS.items():
        reference = HieraConfig(**preset)
        fields = ("embed_dim", "depths", "num_heads", "num_frames")
        if all(
            list(np.atleast_1d(getattr(config, f) or 0)) == list(np.atleast_1d(getattr(reference, f) or 0))
            for f in fields
        ):
            return name
    return None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_name_or_path", required=True, help="A classifier folder or Hub id.")
    parser.add_argument("--data_dir", help="<dir>/<class>/<image or video>")
    parser.add_argument("--dataset_name", help="A datasets id or a folder saved with save_to_disk.")
    parser.add_argument("--dataset_config_name")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--image_column", default="image")
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
        samples, dataset = dataset_samples(args, id2label)
    else:
        samples = folder_samples(args.data_dir, VIDEO_EXTENSIONS if config.is_video else IMAGE_EXTENSIONS, id2label)
    samples = samples[: args.max_samples]
    processor = processor_for(config, args.model_name_or_path)
    views = (args.num_clips, args.num_crops) if config.is_video else (1, 1)
    data = EvaluationSet(samples, processor, config.is_video, dataset, args.image_column, views)

    model = hiera_class_for(config).from_pretrained(args.model_name_or_path).eval().to(state.device)
    output_dir = Path(args.output_dir)
    (output_dir / "chunks").mkdir(parents=True, exist_ok=True)
    num_chunks = -(-len(samples) // args.chunk_size)
    mine = [c for c in range(num_chunks) if c % state.num_processes == state.process_index]
    if not args.resume:
        for chunk in mine:
            chunk_path(output_dir, chunk).unlink(missing_ok=True)
    todo = [c for c in mine if not chunk_path(output_dir, c).exists()]
    progress = tqdm(
        total=sum(len(chunk_indices(c, args.chunk_size, len(samples))) for c in todo),
        desc="evaluating",
        unit="video" if config.is_video else "image",
        disable=not state.is_main_process,
    )
    start = time.perf_counter()
    for chunk, result in evaluate_chunks(model, data, todo, args, state.device, views[0] * views[1]):
        for error in result["skipped_errors"]:
            warnings.warn(f"Skipped an unreadable file: {error}", stacklevel=1)
        write_chunk(chunk_path(output_dir, chunk), result)
        progress.update(len(chunk_indices(chunk, args.chunk_size, len(samples))))
    progress.close()
    state.wait_for_everyone()
    if not state.is_main_process:
        return {}
    seconds = time.perf_counter() - start
    results = summarise(output_dir, num_chunks, samples, id2label)
    unit = "videos" if config.is_video else "images"
    results.update(
        model=args.model_name_or_path,
        data=args.data_dir or args.dataset_name,
        num_processes=state.num_processes,
        views_per_video=views[0] * views[1] if config.is_video else None,
        wall_seconds=seconds,  # this run's evaluation, all processes (start-up not counted)
        # Per process, over all chunks (an earlier run's too, when resumed): with the loader's decoding, and the model
        # alone. The gap is time the model waited for data.
        end_to_end_per_second=results["num_evaluated"] / max(results["chunk_seconds"], 1e-9),
        model_only_per_second=results["num_evaluated"] / max(results["model_seconds"], 1e-9),
    )
    (output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
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
