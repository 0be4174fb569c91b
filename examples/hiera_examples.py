# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""What the example scripts share: argument parsing, the Trainer, datasets and augmentation, metrics.

Example plumbing, not part of the installed `hiera_hf` package (which keeps what a model user imports). The scripts
in the sub-folders put this folder on `sys.path` and import from here.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import HfArgumentParser, Trainer, TrainerCallback

from hiera_hf.training import layerwise_lr_groups
from hiera_hf.video_processing_hiera import VIDEO_EXTENSIONS, clip_indices, read_video

# ---- scripts and arguments ---------------------------------------------------------------------------------------


def load_script(path: str | os.PathLike):
    """Import an example script by path (its folder name has a dash, so it is no package) as a module."""
    path = Path(path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@dataclass
class ModelArguments:
    """The model options every script has; scripts subclass it for their own."""

    model_name_or_path: str = field(
        default="hiera_tiny_224", metadata={"help": "A preset (random init), a local folder or a Hub id."}
    )
    config_overrides: str | None = field(
        default=None, metadata={"help": 'JSON config fields, e.g. {"embed_dim": 32, "image_size": [64, 64]}.'}
    )


def cpu_processes_without_accelerator() -> bool:
    """Launched as several processes (torchrun / accelerate launch) on a machine without an accelerator."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.accelerator.is_available()


def parse_arguments(dataclass_types, argv: list[str] | None = None):
    """`HfArgumentParser` over `dataclass_types`: command-line flags, or a single `.json` file of them.

    Several processes on CPUs only get `use_cpu=True`: without it `Trainer` neither forms a data-parallel group nor
    wraps the model, and every process trains its own copy on its own share of the data.
    """
    parser = HfArgumentParser(dataclass_types)
    argv = sys.argv[1:] if argv is None else list(argv)
    values = json.loads(Path(argv[0]).read_text()) if len(argv) == 1 and argv[0].endswith(".json") else None
    if cpu_processes_without_accelerator():
        if values is not None:
            values.setdefault("use_cpu", True)
        elif not any(arg.split("=")[0] == "--use_cpu" for arg in argv):
            argv += ["--use_cpu", "True"]
    parsed = parser.parse_dict(values) if values is not None else parser.parse_args_into_dataclasses(argv)
    training_args = next(a for a in parsed if hasattr(a, "parallel_mode"))
    fsdp_requested = os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" or bool(training_args.fsdp)
    if fsdp_requested and not torch.accelerator.is_available():
        raise ValueError(
            "FSDP needs an accelerator: on CPUs Accelerate and Trainer run it as plain DDP (replicated parameters). "
            "Launch with examples/accelerate_configs/multi_cpu.yaml for data parallelism on CPUs."
        )
    return parsed


# ---- Trainer -----------------------------------------------------------------------------------------------------


class HieraTrainer(Trainer):
    """`Trainer` with optional layer-wise learning-rate decay and batch augmentation of training steps.

    `batch_augmentation(pixel_values, labels) -> (pixel_values, labels)` (mixup/cutmix) runs in `training_step`, so
    it touches every training batch and no evaluation batch, whatever the DataLoader workers or `model.training`.
    """

    def __init__(self, *args, layer_decay: float | None = None, batch_augmentation=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.layer_decay = layer_decay
        self.batch_augmentation = batch_augmentation
        self.add_callback(EpochToDatasets())

    def create_optimizer(self, model=None):
        if self.layer_decay is None or self.optimizer is not None:
            return super().create_optimizer(model) if model is not None else super().create_optimizer()
        groups = layerwise_lr_groups(self.model, self.args.learning_rate, self.args.weight_decay, self.layer_decay)
        self.optimizer = torch.optim.AdamW(
            groups, betas=(self.args.adam_beta1, self.args.adam_beta2), eps=self.args.adam_epsilon
        )
        return self.optimizer

    def training_step(self, model, inputs, num_items_in_batch=None):
        if self.batch_augmentation is not None:
            inputs = dict(inputs)
            inputs["pixel_values"], inputs["labels"] = self.batch_augmentation(
                inputs["pixel_values"], inputs["labels"]
            )
        return super().training_step(model, inputs, num_items_in_batch)


class EpochToDatasets(TrainerCallback):
    """Tell the training dataset the epoch before its workers start (accelerate skips this under DDP)."""

    def on_epoch_begin(self, args, state, control, train_dataloader=None, **kwargs):
        dataset = getattr(train_dataloader, "dataset", None)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(int(state.epoch or 0))


def train_and_evaluate(trainer, training_args, extra_eval_metrics=None) -> dict:
    """Train (resuming if asked), save model, processor, metrics and state; evaluate. Returns all metrics.

    `extra_eval_metrics()`, if given, adds metrics to the evaluation (computed on the main process only).
    """
    metrics = {}
    if training_args.do_train:
        result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        trainer.save_model()
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
        trainer.save_state()
        metrics.update(result.metrics)
    if training_args.do_eval and trainer.eval_dataset is not None:
        eval_metrics = trainer.evaluate()
        if extra_eval_metrics is not None and trainer.is_world_process_zero():
            eval_metrics.update(extra_eval_metrics())
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    return metrics


METRICS = Path(__file__).resolve().parent / "metrics"


@functools.cache
def load_metric(name: str):
    """One of the project's `evaluate` metric modules (`examples/metrics/<name>/<name>.py`), loaded from its path:
    nothing is downloaded (`evaluate.load("accuracy")` would fetch a script from the Hub). In memory: processes that
    compute at once do not share a cache file."""
    import evaluate

    return evaluate.load(str(METRICS / name), keep_in_memory=True)


def top_k_accuracy(eval_pred, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """`Trainer` `compute_metrics`: top-1 and top-5 accuracy (the top_k_accuracy metric module)."""
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    return load_metric("top_k_accuracy").compute(predictions=logits, references=labels, k=ks)


def mean_iou(predictions, labels, id2label: dict[int, str], ignore_index: int = 255) -> dict[str, float]:
    """Mean IoU, pixel accuracy and per-class IoU of class-id maps `(N, H, W)` (the mean_iou metric module)."""
    names = [id2label[index] for index in range(len(id2label))]
    return load_metric("mean_iou").compute(
        predictions=predictions, references=labels, num_labels=len(names), ignore_index=ignore_index, label_names=names
    )


def soft_target_cross_entropy(outputs, labels, num_items_in_batch=None) -> torch.Tensor:
    """`Trainer` `compute_loss_func` for mixup/cutmix: labels are class probabilities `(batch, num_labels)`."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
    if labels.ndim == 1:
        return torch.nn.functional.cross_entropy(logits, labels)
    return torch.sum(-labels * torch.log_softmax(logits.float(), dim=-1), dim=-1).mean()


# ---- data --------------------------------------------------------------------------------------------------------


class SeededDataset(torch.utils.data.Dataset):
    """`transform(dataset[i], rng)` where all randomness comes from `(seed, epoch, i)`.

    The same sample gets the same augmentation in any DataLoader worker and on any rank, and a run resumed from a
    checkpoint augments exactly as the uninterrupted run: Trainer restores the global RNG for the training step,
    but loaders fetch a batch ahead of it, so augmentation drawn from the global RNG would shift by a batch.
    torchvision's transforms draw from torch's global RNG, which is forked and seeded around each sample.
    """

    def __init__(self, dataset, transform, seed: int = 0):
        self.dataset, self.transform, self.seed, self.epoch = dataset, transform, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**62)))
            return self.transform(self.dataset[index], rng)


def collate(examples: list[dict]) -> dict:
    """Stacked `pixel_values`, and `labels`: class ids, or stacked tensors (segmentation masks)."""
    batch = {"pixel_values": torch.stack([e["pixel_values"] for e in examples])}
    if "labels" in examples[0]:
        labels = [e["labels"] for e in examples]
        batch["labels"] = torch.stack(labels) if isinstance(labels[0], torch.Tensor) else torch.tensor(labels)
    return batch


def load_image_splits(
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    train_dir: str | None = None,
    validation_dir: str | None = None,
    train_val_split: float = 0.15,
    image_column: str = "image",
    label_column: str | None = "label",
    seed: int = 0,
):
    """A `DatasetDict` with "train" and "validation": a `datasets` dataset (name or local path) or image folders.

    Checked before any training starts: the folders exist, the image and label columns exist.
    """
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    if dataset_name is None and train_dir is None:
        raise ValueError("Give --dataset_name (a datasets id or local path) or --train_dir (an image folder).")
    for name, folder in (("train_dir", train_dir), ("validation_dir", validation_dir)):
        if folder is not None and not os.path.isdir(folder):
            raise ValueError(f"--{name} {folder!r} is not a directory.")
    if dataset_name is not None and os.path.isdir(dataset_name) and _saved_to_disk(dataset_name):
        splits = load_from_disk(dataset_name)
        if isinstance(splits, Dataset):
            splits = DatasetDict(train=splits)
    elif dataset_name is not None:
        splits = load_dataset(dataset_name, dataset_config_name)
    else:
        files = {"train": os.path.join(train_dir, "**")}
        if validation_dir is not None:
            files["validation"] = os.path.join(validation_dir, "**")
        splits = load_dataset("imagefolder", data_files=files)
    if "validation" not in splits:
        split = splits["train"].train_test_split(train_val_split, seed=seed)
        splits = DatasetDict(train=split["train"], validation=split["test"])
    columns = splits["train"].column_names
    for role, column in (("image", image_column), ("label", label_column)):
        if column is not None and column not in columns:
            raise ValueError(
                f"The dataset has no {role} column {column!r} (columns: {columns}); pass --{role}_column_name."
            )
    return splits


def _saved_to_disk(folder: str) -> bool:
    """A folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk` (read with `load_from_disk`)."""
    return any(os.path.isfile(os.path.join(folder, name)) for name in ("state.json", "dataset_dict.json"))


def scan_video_folder(directory: str) -> tuple[list[tuple[str, str]], list[str]]:
    """`(path, class name)` for every readable video under `directory/<class>/`; unreadable files are skipped
    with a warning (so one broken download does not stop a run). Returns the samples and the sorted classes."""
    if directory is None or not os.path.isdir(directory):
        raise ValueError(f"Video folder {directory!r} is not a directory (expected <folder>/<class>/<video>).")
    classes = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
    samples = []
    for name in classes:
        for file in sorted(os.listdir(os.path.join(directory, name))):
            path = os.path.join(directory, name, file)
            if not file.lower().endswith(VIDEO_EXTENSIONS):
                continue
            try:
                read_video(path)
            except ValueError as error:
                warnings.warn(f"Skipping unreadable video: {error}", stacklevel=2)
                continue
            samples.append((path, name))
    if not samples:
        raise ValueError(f"No readable videos ({', '.join(VIDEO_EXTENSIONS)}) under {directory!r}/<class>/.")
    return samples, classes


def video_clip_dataset(samples, processor, label2id: dict[str, int] | None, train: bool, seed: int = 0):
    """Clips from `(path, class)` samples: a random window in training (drawn from `(seed, epoch, index)`), the
    centered one for evaluation."""
    num_frames, rate = processor.num_frames, processor.frame_sampling_rate

    def clip(sample: tuple[str, str], rng: np.random.Generator) -> dict:
        path, name = sample
        frames = read_video(path)
        if train:  # random temporal jitter: any window start
            window = (num_frames - 1) * rate + 1
            start = int(rng.integers(0, max(len(frames) - window, 0) + 1))
            indices = np.minimum(start + rate * np.arange(num_frames), len(frames) - 1)
        else:
            indices = clip_indices(len(frames), num_frames, rate)
        pixel_values = processor(frames[indices], do_sample_frames=False, return_tensors="pt").pixel_values[0]
        return {"pixel_values": pixel_values} | ({"labels": label2id[name]} if label2id is not None else {})

    return SeededDataset(samples, clip, seed)


# ---- sharded, resumable inference (evaluation, feature extraction) --------------------------------------------------


def class_folder_files(data_dir: str, extensions: tuple[str, ...]) -> dict[str, list[str]]:
    """`{class: [paths]}` of `<data_dir>/<class>/<file>` (sorted; classes without such files left out); a missing or
    empty folder is a `ValueError`."""
    if data_dir is None or not os.path.isdir(data_dir):
        raise ValueError(f"--data_dir {data_dir!r} is not a directory (expected <dir>/<class>/<file>).")
    files = {}
    for name in sorted(d for d in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, d))):
        paths = sorted(f for f in os.listdir(os.path.join(data_dir, name)) if f.lower().endswith(extensions))
        if paths:
            files[name] = [os.path.join(data_dir, name, f) for f in paths]
    if not files:
        raise ValueError(f"No files ({', '.join(extensions)}) under {data_dir!r}/<class>/.")
    return files


def load_labelled_rows(name: str, config_name: str | None, split: str, image_column: str, label_column: str):
    """`(dataset, label names)`: a `datasets` id or a folder written by `save_to_disk`, one split, checked to have the
    image column and a `ClassLabel` label column and at least one row."""
    from datasets import Dataset, load_dataset, load_from_disk

    dataset = load_from_disk(name) if os.path.isdir(name) else load_dataset(name, config_name)
    if not isinstance(dataset, Dataset):
        if split not in dataset:
            raise ValueError(f"The dataset {name!r} has no split {split!r} (splits: {list(dataset)}).")
        dataset = dataset[split]
    if len(dataset) == 0:
        raise ValueError(f"The dataset {name!r} is empty.")
    for column in (image_column, label_column):
        if column not in dataset.column_names:
            raise ValueError(f"No column {column!r} in the dataset (columns: {dataset.column_names}).")
    if not hasattr(dataset.features[label_column], "names"):
        raise ValueError(f"The label column {label_column!r} is not a ClassLabel: {dataset.features[label_column]}.")
    return dataset, list(dataset.features[label_column].names)


class ReadableSamples(torch.utils.data.Dataset):
    """`samples[i] = (source, label)` through `processor`: `{"index", "label", "pixel_values"}`, or `{"index",
    "error"}` when the source cannot be read (a broken file is counted and listed, never a crash of the whole run).

    Sources: image or video paths, or row indices of `dataset` (its `image_column`). Videos give
    `views = (num_clips, num_crops)` views each.
    """

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
        except Exception as error:
            return {"index": index, "error": f"{source}: {type(error).__name__}: {error}"}
        return {"index": index, "label": label, "pixel_values": inputs.pixel_values}


def collate_readable(items: list[dict]) -> dict:
    good = [item for item in items if "error" not in item]
    return {
        "index": [item["index"] for item in good],
        "label": [item["label"] for item in good],
        "pixel_values": torch.cat([item["pixel_values"] for item in good]) if good else None,
        "errors": [(item["index"], item["error"]) for item in items if "error" in item],
    }


class ChunkedRun:
    """Run a model over `num_samples` examples in chunks of `chunk_size` consecutive indices, sharded over processes
    and resumable, with every example counted exactly once.

    Chunk `c` belongs to process `c % num_processes` and runs in batches from its start (so results do not depend on
    the number of processes); a finished chunk is written in one step to `<output_dir>/chunks/chunk-<c>.npz`, so a
    kill leaves whole chunks only, and `resume=True` skips them. `read_all()` (main process, after all are done)
    loads every chunk once and checks that the indices cover each example exactly once.
    """

    def __init__(self, output_dir, num_samples: int, chunk_size: int, process_index: int = 0, num_processes: int = 1):
        self.folder = Path(output_dir) / "chunks"
        self.num_samples, self.chunk_size = num_samples, chunk_size
        self.num_chunks = -(-num_samples // chunk_size)
        self.mine = [c for c in range(self.num_chunks) if c % num_processes == process_index]

    def path(self, chunk: int) -> Path:
        return self.folder / f"chunk-{chunk:06d}.npz"

    def indices(self, chunk: int) -> range:
        return range(chunk * self.chunk_size, min(self.num_samples, (chunk + 1) * self.chunk_size))

    def todo(self, resume: bool) -> list[int]:
        """This process's chunks still to run (without `resume`, earlier results are removed first)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not resume:
            for chunk in self.mine:
                self.path(chunk).unlink(missing_ok=True)
        return [chunk for chunk in self.mine if not self.path(chunk).exists()]

    def run(self, dataset, chunks: list[int], batch_size: int, num_workers: int, step):
        """Yield `(chunk, result)` as each chunk finishes and is written. `step(pixel_values, batch)` returns a dict
        of per-example arrays; `result` holds them concatenated, with `indices`, `labels`, the skipped examples and
        the seconds spent in `step` (the model) and in the whole chunk (with decoding). One DataLoader runs over all
        the chunks, so its workers decode ahead across chunk ends."""
        batches, owner = [], []
        for chunk in chunks:
            indices = list(self.indices(chunk))
            for start in range(0, len(indices), batch_size):
                batches.append(indices[start : start + batch_size])
                owner.append(chunk)
        loader = torch.utils.data.DataLoader(
            dataset, batch_sampler=batches, num_workers=num_workers, collate_fn=collate_readable
        )
        parts, chunk_start = None, time.perf_counter()
        for position, batch in enumerate(loader):
            if parts is None:
                parts = {"indices": [], "labels": [], "skipped": [], "model_seconds": 0.0, "outputs": {}}
            parts["skipped"] += batch["errors"]
            if batch["pixel_values"] is not None:
                start = time.perf_counter()
                with torch.inference_mode():
                    outputs = step(batch["pixel_values"], batch)
                parts["model_seconds"] += time.perf_counter() - start
                parts["indices"] += batch["index"]
                parts["labels"] += batch["label"]
                for name, values in outputs.items():
                    parts["outputs"].setdefault(name, []).append(np.asarray(values))
            if position + 1 == len(batches) or owner[position + 1] != owner[position]:  # the chunk's last batch
                result = {name: np.concatenate(values) for name, values in parts["outputs"].items()}
                result.update(
                    indices=np.asarray(parts["indices"], dtype=np.int64),
                    labels=np.asarray(parts["labels"], dtype=np.int64),
                    skipped_indices=np.asarray([index for index, _ in parts["skipped"]], dtype=np.int64),
                    skipped_errors=np.asarray([error for _, error in parts["skipped"]], dtype=str),
                    model_seconds=np.float64(parts["model_seconds"]),
                    chunk_seconds=np.float64(time.perf_counter() - chunk_start),
                )
                for error in result["skipped_errors"]:
                    warnings.warn(f"Skipped an unreadable file: {error}", stacklevel=2)
                self.write(owner[position], result)
                yield owner[position], result
                parts, chunk_start = None, time.perf_counter()

    def write(self, chunk: int, result: dict) -> None:
        temporary = self.folder / f".{self.path(chunk).name}.{os.getpid()}.tmp"
        with open(temporary, "wb") as file:
            np.savez(file, **result)
        os.replace(temporary, self.path(chunk))  # all or nothing

    def read_all(self) -> list[dict]:
        chunks = [dict(np.load(self.path(chunk))) for chunk in range(self.num_chunks)]
        counted = np.concatenate([c["indices"] for c in chunks] + [c["skipped_indices"] for c in chunks])
        if len(counted) != self.num_samples or len(np.unique(counted)) != self.num_samples:
            raise RuntimeError(
                f"{len(counted)} results ({len(np.unique(counted))} distinct) for {self.num_samples} examples."
            )
        return chunks
