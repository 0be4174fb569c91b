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
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from hiera_training_data import DataLoaderState, UnreadableSamples, image_folder, sample_name, seeded
from transformers import HfArgumentParser, Trainer, TrainerCallback

from hiera_hf.training import layerwise_lr_groups
from hiera_hf.video_processing_hiera import VIDEO_EXTENSIONS, clip_indices, decode_video

logger = logging.getLogger(__name__)


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

    def __init__(self, *args, layer_decay: float | None = None, batch_augmentation=None, unreadable=None,
                 epoch_listeners=(), **kwargs):  # fmt: skip
        kwargs.setdefault("data_collator", collate)
        super().__init__(*args, **kwargs)
        self.layer_decay = layer_decay
        self.batch_augmentation = batch_augmentation
        self.unreadable = unreadable or UnreadableSamples()
        epochs = EpochToDatasets(epoch_listeners)
        self.add_callback(epochs)
        self.dataloader_state = None
        if isinstance(self.train_dataset, datasets_iterable()):
            # A stream resumes from the DataLoader's saved state (not by replaying batches), each rank on its own
            # shards (Accelerate shards a `datasets` IterableDataset by rank when it does not dispatch batches).
            self.args.ignore_data_skip = True
            self.accelerator.dataloader_config.use_stateful_dataloader = True
            self.accelerator.dataloader_config.dispatch_batches = False
            self.dataloader_state = DataLoaderState(epochs)
            self.add_callback(self.dataloader_state)

    def train(self, resume_from_checkpoint=None, **kwargs):
        if self.dataloader_state is not None:
            self.dataloader_state.resume_from = (
                resume_from_checkpoint if isinstance(resume_from_checkpoint, str) else None
            )
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def _counted(self, inputs):
        """The batch without the unreadable samples' report, which `UnreadableSamples` takes (it may stop the run)."""
        inputs = dict(inputs)
        self.unreadable.add(inputs.pop("num_read", 0), inputs.pop("unreadable", []))
        return inputs

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        return super().prediction_step(model, self._counted(inputs), prediction_loss_only, ignore_keys=ignore_keys)

    def create_optimizer(self, model=None):
        if self.layer_decay is None or self.optimizer is not None:
            return super().create_optimizer(model) if model is not None else super().create_optimizer()
        groups = layerwise_lr_groups(self.model, self.args.learning_rate, self.args.weight_decay, self.layer_decay)
        self.optimizer = torch.optim.AdamW(
            groups, betas=(self.args.adam_beta1, self.args.adam_beta2), eps=self.args.adam_epsilon
        )
        return self.optimizer

    def training_step(self, model, inputs, num_items_in_batch=None):
        inputs = self._counted(inputs)
        if self.batch_augmentation is not None:
            inputs = dict(inputs)
            inputs["pixel_values"], inputs["labels"] = self.batch_augmentation(
                inputs["pixel_values"], inputs["labels"]
            )
        return super().training_step(model, inputs, num_items_in_batch)


class EpochToDatasets(TrainerCallback):
    """Tell the training dataset (and `listeners`: a stream's transform) the epoch before its workers start
    (accelerate skips this under DDP). A dataset with a length is in the Trainer's epoch; a stream has none (the
    Trainer's epoch is then a fraction of `max_steps`), so its epochs are counted as they begin (`stream_epoch`,
    saved with the DataLoader's state)."""

    def __init__(self, listeners=()):
        self.listeners = list(listeners)
        self.stream_epoch = -1  # the stream's epoch in progress (-1: none begun)

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        if isinstance(getattr(train_dataloader, "dataset", None), datasets_iterable()):
            # The Trainer numbers a stream's epochs from 0 again when it resumes; `datasets` resumes a stream only
            # in the epoch it was saved in, so the DataLoader (Accelerate's set_epoch) gets ours.
            set_epoch = train_dataloader.set_epoch
            train_dataloader.set_epoch = lambda epoch: set_epoch(self.stream_epoch)

    def on_epoch_begin(self, args, state, control, train_dataloader=None, **kwargs):
        dataset = getattr(train_dataloader, "dataset", None)
        if isinstance(dataset, datasets_iterable()):
            self.stream_epoch += 1
            epoch = self.stream_epoch
        else:
            epoch = int(state.epoch or 0)
        for listener in [dataset, *self.listeners]:
            if hasattr(listener, "set_epoch"):
                listener.set_epoch(epoch)


def datasets_iterable():
    from datasets import IterableDataset

    return IterableDataset


def train_and_evaluate(trainer, training_args, hub_task: str, finetuned_from=None, extra_eval_metrics=None) -> dict:
    """Train (resuming if asked), save model, processor, metrics and state; evaluate; push to the Hub if asked (its
    card tagged with `hub_task` and `finetuned_from`). Returns all metrics.

    `extra_eval_metrics()`, if given, adds metrics to the evaluation (called on every rank).
    """
    metrics = {}
    if training_args.do_train:
        try:
            result = trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
        except ValueError:
            rank = trainer.args.process_index  # (this rank's list: the others may not have stopped)
            names = json.dumps({"read": trainer.unreadable.read, "names": trainer.unreadable.names}, indent=2)
            Path(training_args.output_dir).mkdir(parents=True, exist_ok=True)
            Path(training_args.output_dir, f"unreadable-rank{rank}.json").write_text(names + "\n")
            raise
        trainer.save_model()
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
        trainer.save_state()
        metrics.update(result.metrics)
    if training_args.do_eval and trainer.eval_dataset is not None:
        eval_metrics = trainer.evaluate()
        if extra_eval_metrics is not None:  # (every rank: the metrics may share the work out and gather it)
            eval_metrics.update(extra_eval_metrics())
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)
        metrics.update(eval_metrics)
    report = trainer.unreadable.write(training_args.output_dir, trainer.accelerator)
    if report["unreadable"]:
        logger.warning(
            f"{report['unreadable']} unreadable samples skipped (named in unreadable.json): {report['names'][:10]}"
        )
    metrics["unreadable_samples"] = report["unreadable"]
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
        with seeded(self.seed, self.epoch, index) as rng:
            try:  # (reading the row decodes it: a broken file is named and left out, not fatal)
                return self.transform(self.dataset[index], rng)
            except Exception as error:
                return {"unreadable": f"{self.describe(index)}: {type(error).__name__}: {error}"}

    def describe(self, index: int) -> str:
        """The sample's file (its row read without decoding), for the unreadable list."""
        from datasets import Dataset

        try:
            row = (
                self.dataset.with_format("arrow")[index].to_pylist()[0]
                if isinstance(self.dataset, Dataset)
                else self.dataset[index]
            )
            return sample_name(row)
        except Exception:
            return f"row {index}"


def collate(examples: list[dict]) -> dict:
    """Stacked `pixel_values`, and `labels`: class ids, or stacked tensors (segmentation masks). Unreadable samples
    (`{"unreadable": name}`, see `hiera_training_data.tolerant`) are left out and reported: `unreadable` (their
    names) and `num_read`, which the Trainer takes out before the model sees the batch."""
    unreadable = [e["unreadable"] for e in examples if "unreadable" in e]
    readable = [e for e in examples if "unreadable" not in e]
    if not readable:
        raise ValueError(f"Every sample of a batch is unreadable: {unreadable}")
    batch = {"pixel_values": torch.stack([e["pixel_values"] for e in readable])}
    if "labels" in readable[0]:
        labels = [e["labels"] for e in readable]
        batch["labels"] = torch.stack(labels) if isinstance(labels[0], torch.Tensor) else torch.tensor(labels)
    return {**batch, "unreadable": unreadable, "num_read": len(examples)}


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
    """A `DatasetDict` with "train" and "validation" (none with `train_val_split=0` and no validation data): a
    `datasets` dataset (name or local path) or image folders, listed by name. Nothing is decoded here: a file that
    cannot be read is found, named and left out when a DataLoader worker reads it (`hiera_training_data`)."""
    from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

    if dataset_name is None and train_dir is None:
        raise ValueError("Give --dataset_name (a datasets id or local path) or --train_dir (an image folder).")
    if dataset_name is not None and os.path.isdir(dataset_name) and _saved_to_disk(dataset_name):
        splits = load_from_disk(dataset_name)
        splits = DatasetDict(train=splits) if isinstance(splits, Dataset) else splits
    elif dataset_name is not None:
        splits = load_dataset(dataset_name, dataset_config_name)
    else:
        from hiera_hf.image_processing_hiera import IMAGE_EXTENSIONS

        splits = DatasetDict(train=image_folder(train_dir, IMAGE_EXTENSIONS))
        if validation_dir is not None:
            classes = splits["train"].features["label"].names
            splits["validation"] = image_folder(validation_dir, IMAGE_EXTENSIONS, classes)
    if "validation" not in splits and train_val_split > 0:
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
    """`(path, class name)` for every video under `directory/<class>/`, listed by name (a video that cannot be read
    is found, named and left out when a worker decodes it). Returns the samples and the sorted classes."""
    if directory is None or not os.path.isdir(directory):
        raise ValueError(f"Video folder {directory!r} is not a directory (expected <folder>/<class>/<video>).")
    classes = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
    samples = [
        (os.path.join(directory, name, file), name)
        for name in classes
        for file in sorted(os.listdir(os.path.join(directory, name)))
        if file.lower().endswith(VIDEO_EXTENSIONS)
    ]
    if not samples:
        raise ValueError(f"No videos ({', '.join(VIDEO_EXTENSIONS)}) under {directory!r}/<class>/.")
    return samples, classes


def video_source(item):
    """A video as the decoders take it: a path, or a `datasets` `Video(decode=False)` value (`{"path", "bytes"}`)."""
    if isinstance(item, dict):
        return io.BytesIO(item["bytes"]) if item.get("bytes") else item["path"]
    return item


class VideoRows:
    """A `datasets` split's `(video, class name)` samples, one row read at a time (the videos, bytes or paths, stay
    in the Arrow table: never a Python list of every video, copied into each DataLoader worker)."""

    def __init__(self, split, video_column: str, label_column: str | None, classes: list[str]):
        from datasets import Video

        self.split = split.cast_column(video_column, Video(decode=False))
        self.video_column, self.label_column, self.classes = video_column, label_column, classes

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> tuple:
        row = self.split[index]
        return row[self.video_column], self.classes[row[self.label_column]] if self.label_column else None


def load_video_splits(
    dataset_name: str | None,
    dataset_config_name: str | None,
    train_dir: str | None,
    validation_dir: str | None,
    video_column: str = "video",
    label_column: str | None = "label",
):
    """`(train samples, validation samples, classes)`: `(video, class name)` samples from `<dir>/<class>/<video>`
    folders, or from a `datasets` dataset (a name, or a folder written by `save_to_disk`) with a `Video` column
    (read undecoded: our PyAV decoder takes its files; `datasets` would need torchcodec) and a `ClassLabel` column
    (`label_column=None`: no labels, class None). Listed, not probed."""
    from datasets import load_dataset, load_from_disk

    if dataset_name is None:
        train, classes = scan_video_folder(train_dir)
        return train, scan_video_folder(validation_dir)[0] if validation_dir else [], classes
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
    rows = {name: VideoRows(splits[name], video_column, label_column, classes) if name in splits else []
            for name in ("train", "validation")}  # fmt: skip
    return rows["train"], rows["validation"], classes


def video_clip(processor, video, rng: np.random.Generator, train: bool) -> torch.Tensor:
    """One clip's pixels: a random window in training (drawn from `rng`), the centered one for evaluation; only the
    window's frames are decoded."""
    num_frames, rate = processor.num_frames, processor.frame_sampling_rate

    def indices(metadata):
        if not train:
            return clip_indices(metadata.total_num_frames, num_frames, rate)
        window = (num_frames - 1) * rate + 1  # random temporal jitter: any window start
        start = int(rng.integers(0, max(metadata.total_num_frames - window, 0) + 1))
        return np.minimum(start + rate * np.arange(num_frames), metadata.total_num_frames - 1)

    frames = decode_video(video_source(video), indices)[0]
    return processor(frames, do_sample_frames=False, return_tensors="pt").pixel_values[0]


def video_clip_dataset(samples, processor, label2id: dict[str, int] | None, train: bool, seed: int = 0):
    """Clips (`video_clip`) from `(video, class)` samples, drawn from `(seed, epoch, index)`."""

    def clip(sample, rng: np.random.Generator) -> dict:
        video, name = sample
        pixel_values = video_clip(processor, video, rng, train)
        return {"pixel_values": pixel_values} | ({"labels": label2id[name]} if label2id is not None else {})

    return SeededDataset(samples, clip, seed)
