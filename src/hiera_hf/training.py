# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Helpers shared by the training examples: model loading, layer-wise learning-rate decay, offline metrics."""

from __future__ import annotations

import json
import re

import numpy as np
import torch

from .configuration_hiera import PRESETS, HieraConfig


def load_model(
    model_class,
    name_or_path: str,
    config_overrides: str | dict | None = None,
    for_pretraining: bool = False,
    **config_kwargs,
):
    """A model from a preset name (random init), a local folder or a Hub id.

    `config_overrides`: a dict or JSON object string of config fields (e.g. `{"embed_dim": 32, "depths": [1, 1, 2,
    1], "image_size": [64, 64]}`). `config_kwargs` (labels, ...) are set on the config too. A classifier loaded from
    an MAE folder gets `num_query_pool=3` back: the official recipe fine-tunes with three pooling stages (MAE
    pre-trains with two); the weights are the same either way. A head whose size differs is re-initialised.
    """
    overrides = json.loads(config_overrides) if isinstance(config_overrides, str) else dict(config_overrides or {})
    overrides.update(config_kwargs)
    if name_or_path in PRESETS:
        return model_class(HieraConfig.from_preset(name_or_path, for_pretraining=for_pretraining, **overrides))
    config = HieraConfig.from_pretrained(name_or_path)
    if not for_pretraining and "HieraForPreTraining" in (config.architectures or []):
        overrides.setdefault("num_query_pool", 3)
    for key, value in overrides.items():
        setattr(config, key, value)
    config = HieraConfig.from_dict(config.to_dict())  # re-validate after the overrides
    return model_class.from_pretrained(name_or_path, config=config, ignore_mismatched_sizes=True)


_ENCODER_LAYER = re.compile(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.")


def layer_index(name: str, depths: list[int]) -> int:
    """0 for the embeddings, `i + 1` for the i-th transformer layer over all stages, `sum(depths) + 1` after."""
    if name.startswith("embeddings.") or ".embeddings." in name:
        return 0
    match = _ENCODER_LAYER.search(name)
    if match:
        stage, layer = int(match.group(1)), int(match.group(2))
        return sum(depths[:stage]) + layer + 1
    return sum(depths) + 1


def layerwise_lr_groups(model, learning_rate: float, weight_decay: float, layer_decay: float) -> list[dict]:
    """Parameter groups for AdamW with layer-wise learning-rate decay (the paper's fine-tuning recipe).

    Layer `l` of `L` gets `learning_rate * layer_decay ** (L + 1 - l)` (the head `l = L + 1` gets the full rate);
    biases, norms, position embeddings and the mask token get no weight decay.
    """
    depths = list(model.config.depths)
    num_layers = sum(depths)
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        index = layer_index(name, depths)
        no_decay = param.ndim == 1 or "position_embeddings" in name or "mask_token" in name
        group = groups.setdefault(
            (index, no_decay),
            {
                "params": [],
                "lr": learning_rate * layer_decay ** (num_layers + 1 - index),
                "weight_decay": 0.0 if no_decay else weight_decay,
            },
        )
        group["params"].append(param)
    return list(groups.values())


def top_k_accuracy(eval_pred, ks: tuple[int, ...] = (1, 5)) -> dict[str, float]:
    """`Trainer` `compute_metrics`: top-1 and top-5 accuracy, computed locally (no `evaluate` download)."""
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    order = np.argsort(-logits, axis=-1)
    metrics = {}
    for k in ks:
        if k <= logits.shape[-1]:
            metrics[f"top{k}_accuracy"] = float((order[:, :k] == labels[:, None]).any(axis=1).mean())
    return metrics


def soft_target_cross_entropy(outputs, labels, num_items_in_batch=None) -> torch.Tensor:
    """`Trainer` `compute_loss_func` for mixup/cutmix: labels are class probabilities `(batch, num_labels)`."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
    if labels.ndim == 1:
        return torch.nn.functional.cross_entropy(logits, labels)
    return torch.sum(-labels * torch.log_softmax(logits.float(), dim=-1), dim=-1).mean()


# ---- scripts -----------------------------------------------------------------------------------------------------


def parse_arguments(dataclass_types, argv: list[str] | None = None):
    """`HfArgumentParser` over `dataclass_types`: command-line flags, or a single `.json` file of them."""
    import os
    import sys

    from transformers import HfArgumentParser

    parser = HfArgumentParser(dataclass_types)
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) == 1 and argv[0].endswith(".json"):
        return parser.parse_json_file(os.path.abspath(argv[0]))
    return parser.parse_args_into_dataclasses(argv)


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


# ---- data --------------------------------------------------------------------------------------------------------

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")


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
    import os

    from datasets import DatasetDict, load_dataset

    if dataset_name is None and train_dir is None:
        raise ValueError("Give --dataset_name (a datasets id or local path) or --train_dir (an image folder).")
    for name, folder in (("train_dir", train_dir), ("validation_dir", validation_dir)):
        if folder is not None and not os.path.isdir(folder):
            raise ValueError(f"--{name} {folder!r} is not a directory.")
    if dataset_name is not None and os.path.isdir(dataset_name) and _saved_to_disk(dataset_name):
        from datasets import Dataset, load_from_disk

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
    import os

    return any(os.path.isfile(os.path.join(folder, name)) for name in ("state.json", "dataset_dict.json"))


def scan_video_folder(directory: str) -> tuple[list[tuple[str, str]], list[str]]:
    """`(path, class name)` for every readable video under `directory/<class>/`; unreadable files are skipped
    with a warning (so one broken download does not stop a run). Returns the samples and the sorted classes."""
    import os
    import warnings

    from .video_processing_hiera import read_video

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


class VideoClipDataset(torch.utils.data.Dataset):
    """Clips from `(path, class)` samples: a random window in training, the centered one for evaluation."""

    def __init__(self, samples, processor, label2id: dict[str, int] | None, train: bool, seed: int = 0):
        self.samples, self.processor, self.label2id, self.train = samples, processor, label2id, train
        self.generator = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        from .video_processing_hiera import clip_indices, read_video

        path, name = self.samples[index]
        frames = read_video(path)
        num_frames, rate = self.processor.num_frames, self.processor.frame_sampling_rate
        if self.train:  # random temporal jitter: any window start
            window = (num_frames - 1) * rate + 1
            start = int(self.generator.integers(0, max(len(frames) - window, 0) + 1))
            indices = np.minimum(start + rate * np.arange(num_frames), len(frames) - 1)
        else:
            indices = clip_indices(len(frames), num_frames, rate)
        pixel_values = self.processor(frames[indices], do_sample_frames=False, return_tensors="pt").pixel_values[0]
        item = {"pixel_values": pixel_values}
        if self.label2id is not None:
            item["labels"] = self.label2id[name]
        return item


def collate(examples: list[dict]) -> dict:
    batch = {"pixel_values": torch.stack([e["pixel_values"] for e in examples])}
    if "labels" in examples[0]:
        batch["labels"] = torch.tensor([e["labels"] for e in examples])
    return batch


def processor_for(config, name_or_path: str):
    """The model folder's processor, or the default one sized for `config` (crop = input size, as the official
    evaluation does: shorter side `int(256 / 224 * crop)` for images, `crop` for videos)."""
    import os

    from .image_processing_hiera import HieraImageProcessor
    from .video_processing_hiera import HieraVideoProcessor

    crop = config.image_size[0]
    if config.is_video:
        file, make = "video_preprocessor_config.json", HieraVideoProcessor
        default = dict(size={"shortest_edge": crop}, crop_size={"height": crop, "width": crop})
        default["num_frames"] = config.num_frames
    else:
        file, make = "preprocessor_config.json", HieraImageProcessor
        default = dict(size={"shortest_edge": int(256 / 224 * crop)}, crop_size={"height": crop, "width": crop})
    if os.path.isfile(os.path.join(name_or_path, file)):
        return make.from_pretrained(name_or_path)
    return make(**default)


__all__ = [
    "parse_arguments",
    "train_and_evaluate",
    "VideoClipDataset",
    "collate",
    "load_image_splits",
    "processor_for",
    "scan_video_folder",
    "layerwise_lr_groups",
    "load_model",
    "soft_target_cross_entropy",
    "top_k_accuracy",
]
