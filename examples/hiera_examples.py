# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""What the example scripts share: argument parsing, the Trainer, datasets and augmentation, metrics.

Example plumbing, not part of the installed `hiera_hf` package (which keeps what a model user imports). The scripts
in the sub-folders put this folder on `sys.path` and import from here.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import HfArgumentParser, Trainer, TrainerCallback

from hiera_hf.training import layerwise_lr_groups
from hiera_hf.video_processing_hiera import VIDEO_EXTENSIONS, clip_indices, decode_video, probe_video

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
    """`Trainer` with optional layer-wise learning-rate decay and batch augmentation of training steps; its batches
    are `collate`d unless another `data_collator` is given.

    `batch_augmentation(pixel_values, labels) -> (pixel_values, labels)` (mixup/cutmix) runs in `training_step`, so
    it touches every training batch and no evaluation batch, whatever the DataLoader workers or `model.training`.
    """

    def __init__(self, *args, layer_decay: float | None = None, batch_augmentation=None, **kwargs):
        kwargs.setdefault("data_collator", collate)
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


def train_and_evaluate(trainer, training_args, hub_task: str, finetuned_from=None, extra_eval_metrics=None) -> dict:
    """Train (resuming if asked), save model, processor, metrics and state; evaluate; push to the Hub if asked (its
    card tagged with `hub_task` and `finetuned_from`). Returns all metrics.

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
    if training_args.push_to_hub:
        trainer.push_to_hub(finetuned_from=finetuned_from, tasks=hub_task)
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
    unreadable_files: str = "error",
):
    """A `DatasetDict` with "train" and "validation": a `datasets` dataset (name or local path) or image folders.

    Checked before any training starts: the folders exist, the image and label columns exist, every image decodes
    (`unreadable_files`: "error" lists the ones that do not and stops, "skip" leaves them out).
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
    return drop_unreadable_images(splits, image_column, unreadable_files)


UNREADABLE_POLICIES = ("error", "skip")


def unreadable_image(source) -> str | None:
    """Why an image (a path, or the `{"bytes", "path"}` of a `datasets` Image column) cannot be decoded; None if it
    can. JPEGs decode at 1/8 scale (`draft`): the whole file is still read, at a fraction of the cost."""
    from PIL import Image

    if isinstance(source, dict):
        source = io.BytesIO(source["bytes"]) if source.get("bytes") else source["path"]
    try:
        with Image.open(source) as image:
            image.draft(image.mode, (1, 1))
            image.load()
    except Exception as error:  # PIL raises many types (UnidentifiedImageError, OSError, SyntaxError, ...)
        return f"{type(error).__name__}: {error}"
    return None


def readable_items(names: list[str], problems: list[str | None], what: str, policy: str) -> list[int]:
    """The indices of `names` whose `problems` entry is None. With unreadable ones, `policy` "error" raises a
    `ValueError` listing them (before any training step), "skip" warns with the count and leaves them out."""
    if policy not in UNREADABLE_POLICIES:
        raise ValueError(f"--unreadable_files must be one of {', '.join(UNREADABLE_POLICIES)}, got {policy!r}.")
    bad = [f"{name} ({problem})" for name, problem in zip(names, problems) if problem is not None]
    if bad and policy == "error":
        listed = "\n  ".join(bad[:20]) + (f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else "")
        raise ValueError(
            f"{len(bad)} of {len(names)} {what} cannot be read:\n  {listed}\nRemove or replace them, or pass "
            "--unreadable_files skip to train without them."
        )
    if bad:
        warnings.warn(f"Skipping {len(bad)} unreadable {what} of {len(names)}: {bad[:5]}", stacklevel=2)
    return [index for index, problem in enumerate(problems) if problem is None]


def drop_unreadable_images(splits, image_column: str, policy: str = "error"):
    """Check every image of every split decodes (a progress bar per split) before training starts; see
    `readable_items` for `policy`. Returns the splits (without the unreadable rows when skipping)."""
    from datasets import DatasetDict
    from datasets import Image as ImageFeature
    from tqdm.auto import tqdm

    checked = {}
    for name, split in splits.items():
        raw = split.cast_column(image_column, ImageFeature(decode=False))[image_column]
        problems = [unreadable_image(item) for item in tqdm(raw, desc=f"checking {name} images", leave=False)]
        names = [item.get("path") or f"row {index}" for index, item in enumerate(raw)]
        keep = readable_items(names, problems, f"{name} images", policy)
        checked[name] = split if len(keep) == len(split) else split.select(keep)
    return DatasetDict(checked)


def _saved_to_disk(folder: str) -> bool:
    """A folder written by `Dataset.save_to_disk` / `DatasetDict.save_to_disk` (read with `load_from_disk`)."""
    return any(os.path.isfile(os.path.join(folder, name)) for name in ("state.json", "dataset_dict.json"))


def scan_video_folder(directory: str, unreadable: str = "error") -> tuple[list[tuple[str, str]], list[str]]:
    """`(path, class name)` for every video under `directory/<class>/`, each checked to be readable before training
    starts by reading its header and first frame only (`probe_video`); unreadable ones are refused or skipped by
    `unreadable` (see `readable_items`). Returns the samples and the sorted classes."""
    if directory is None or not os.path.isdir(directory):
        raise ValueError(f"Video folder {directory!r} is not a directory (expected <folder>/<class>/<video>).")
    classes = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
    candidates = [
        (os.path.join(directory, name, file), name)
        for name in classes
        for file in sorted(os.listdir(os.path.join(directory, name)))
        if file.lower().endswith(VIDEO_EXTENSIONS)
    ]
    keep = readable_items(
        [path for path, _ in candidates], [_probe(path) for path, _ in candidates], "videos", unreadable
    )
    samples = [candidates[index] for index in keep]
    if not samples:
        raise ValueError(f"No readable videos ({', '.join(VIDEO_EXTENSIONS)}) under {directory!r}/<class>/.")
    return samples, classes


def _probe(source) -> str | None:
    try:
        probe_video(video_source(source))
    except ValueError as error:
        return str(error)
    return None


def video_source(item):
    """A video as the decoders take it: a path, or a `datasets` `Video(decode=False)` value (`{"path", "bytes"}`)."""
    if isinstance(item, dict):
        return io.BytesIO(item["bytes"]) if item.get("bytes") else item["path"]
    return item


def load_video_splits(
    dataset_name: str | None,
    dataset_config_name: str | None,
    train_dir: str | None,
    validation_dir: str | None,
    video_column: str = "video",
    label_column: str = "label",
    unreadable: str = "error",
):
    """`(train samples, validation samples, classes)`: `(video, class name)` pairs from `<dir>/<class>/<video>`
    folders, or from a `datasets` dataset (a name, or a folder written by `save_to_disk`) with a `Video` column
    (read undecoded: our PyAV decoder takes its files; `datasets` would need torchcodec) and a `ClassLabel` column
    (`label_column=None`: no labels, class None). Every video is probed first (header and first frame)."""
    from datasets import Video, load_dataset, load_from_disk

    if dataset_name is None:
        train, classes = scan_video_folder(train_dir, unreadable)
        validation = scan_video_folder(validation_dir, unreadable)[0] if validation_dir else []
        return train, validation, classes
    splits = (
        load_from_disk(dataset_name)
        if _saved_to_disk(dataset_name)
        else load_dataset(dataset_name, dataset_config_name)
    )
    first = next(iter(splits.values()))
    for role, column in (("video", video_column), ("label", label_column)):
        if column is not None and column not in first.column_names:
            raise ValueError(f"The dataset has no {role} column {column!r} (columns: {first.column_names}).")
    if label_column is not None and not hasattr(first.features[label_column], "names"):
        raise ValueError(f"The label column {label_column!r} is not a ClassLabel: {first.features[label_column]}.")
    classes = list(first.features[label_column].names) if label_column is not None else []
    samples = {}
    for name in ("train", "validation"):
        if name not in splits:
            samples[name] = []
            continue
        split = splits[name].cast_column(video_column, Video(decode=False))
        labels = [classes[label] for label in split[label_column]] if label_column else [None] * len(split)
        rows = list(zip(split[video_column], labels))
        names = [video.get("path") or f"{name} row {i}" for i, (video, _) in enumerate(rows)]
        keep = readable_items(names, [_probe(video) for video, _ in rows], f"{name} videos", unreadable)
        samples[name] = [rows[index] for index in keep]
    return samples["train"], samples["validation"], classes


def video_clip_dataset(samples, processor, label2id: dict[str, int] | None, train: bool, seed: int = 0):
    """Clips from `(video, class)` samples: a random window in training (drawn from `(seed, epoch, index)`), the
    centered one for evaluation; only the window's frames are decoded."""
    num_frames, rate = processor.num_frames, processor.frame_sampling_rate

    def clip(sample, rng: np.random.Generator) -> dict:
        video, name = sample

        def indices(metadata):
            if not train:
                return clip_indices(metadata.total_num_frames, num_frames, rate)
            window = (num_frames - 1) * rate + 1  # random temporal jitter: any window start
            start = int(rng.integers(0, max(metadata.total_num_frames - window, 0) + 1))
            return np.minimum(start + rate * np.arange(num_frames), metadata.total_num_frames - 1)

        frames = decode_video(video_source(video), indices)[0]
        pixel_values = processor(frames, do_sample_frames=False, return_tensors="pt").pixel_values[0]
        return {"pixel_values": pixel_values} | ({"labels": label2id[name]} if label2id is not None else {})

    return SeededDataset(samples, clip, seed)
