# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Train UperNet with a Hiera backbone for semantic segmentation with `Trainer`.

    python examples/semantic-segmentation/run_semantic_segmentation.py \\
        --model_name_or_path hiera_tiny_224 --train_dir demo_data/shapes/train \\
        --validation_dir demo_data/shapes/validation --output_dir out/shapes --do_train --do_eval
    accelerate launch --num_processes 2 examples/semantic-segmentation/run_semantic_segmentation.py ...

Data: `<dir>/images/<name>.<ext>` with `<dir>/masks/<name>.png` (one class id per pixel, 255 = ignore); or
`--train_shards`/`--validation_shards` made by `examples/make_shards.py --segmentation` (image and `.mask.png`
members); or a `datasets` dataset with an image and a mask column (`--dataset_name`, `--streaming` to stream it).
Label names from `--labels_file`, else `labels.json` (`{"0": "background", ...}`) in the data folder or its
parent, or beside the shards.
`--model_name_or_path` is the backbone: a preset (random init), a folder or a Hub id (a classifier, an MAE or a
backbone: its encoder weights load, its position embeddings are interpolated to `--crop_size`, an MAE gets its third
query pooling back). `--head_config_overrides` sets `UperNetConfig` fields (`hidden_size`, `auxiliary_channels`...).

Training: random scale (the shorter side from `--min_scale` to `--max_scale` times the crop), random crop to
`--crop_size` (padded with the ignore index), horizontal flip, applied to image and mask together and seeded per
(seed, epoch, image); `--layer_decay` decays the backbone's learning rate layer by layer. Evaluation: each image
through the processor (resized to the crop size), mean IoU, pixel accuracy and per-class IoU. The saved folder (model
and processor) works with `pipeline("image-segmentation")` once `hiera_hf` is imported (it registers the backbone's
config type).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from transformers import TrainingArguments, UperNetConfig, UperNetForSemanticSegmentation, set_seed

from hiera_hf import HieraBackbone, HieraImageProcessor
from hiera_hf.image_processing_hiera import IMAGE_EXTENSIONS
from hiera_hf.training import from_preset_or_pretrained

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the scripts' shared module
from hiera_examples import (  # noqa: E402
    HieraTrainer,
    ModelArguments,
    SeededDataset,
    mean_iou,
    parse_arguments,
    train_and_evaluate,
)
from hiera_shards import expand_shards  # noqa: E402
from hiera_training_data import (  # noqa: E402
    IMAGE_MEMBERS,
    ColumnRows,
    ScaleArguments,
    UnreadableSamples,
    open_image,
    read_labels,
    segmentation_pairs,
    stream_splits,
)

logger = logging.getLogger(__name__)
IGNORE_INDEX = 255


@dataclass
class SegmentationModelArguments(ModelArguments):
    layer_decay: float | None = field(default=None, metadata={"help": "Layer-wise learning-rate decay (e.g. 0.9)."})
    head_config_overrides: str | None = field(
        default=None,
        metadata={"help": 'JSON UperNetConfig fields, e.g. {"hidden_size": 64, "auxiliary_channels": 32}.'},
    )


@dataclass
class DataArguments(ScaleArguments):
    dataset_name: str | None = field(
        default=None, metadata={"help": "A datasets id or local dataset with an image and a mask column."}
    )
    dataset_config_name: str | None = None
    image_column_name: str = "image"
    label_column_name: str = field(default="annotation", metadata={"help": "The mask column of --dataset_name."})
    train_dir: str | None = field(default=None, metadata={"help": "A folder with images/ and masks/."})
    validation_dir: str | None = None
    labels_file: str | None = field(default=None, metadata={"help": 'JSON {"0": "background", ...}.'})
    crop_size: int = field(default=64, metadata={"help": "Training crop and evaluation size (square)."})
    min_scale: float = 0.5
    max_scale: float = 2.0
    hflip_prob: float = 0.5
    max_train_samples: int | None = None
    max_eval_samples: int | None = None


def read_mask(value, num_labels: int) -> torch.Tensor:
    """A mask's class ids `(height, width)` from its path or undecoded `{"bytes", "path"}` value, checked."""
    mask = torch.from_numpy(np.array(open_image(value, mode=None), dtype=np.int64))
    name = (value.get("path") or "a mask") if isinstance(value, dict) else value
    if mask.ndim != 2:
        raise ValueError(
            f"{name}: a mask must be one class id per pixel (a grey-level PNG), got shape {tuple(mask.shape)}."
        )
    bad = mask[(mask >= num_labels) & (mask != IGNORE_INDEX)]
    if len(bad):
        raise ValueError(
            f"{name} holds class id {int(bad[0])}; the labels have ids 0..{num_labels - 1} (and {IGNORE_INDEX})."
        )
    return mask


def dataset_pairs(data_args, split: str) -> ColumnRows:
    """(image, mask) values of a `datasets` split, undecoded (decoded when a worker reads the row)."""
    from datasets import Image as ImageFeature
    from datasets import load_dataset

    dataset = load_dataset(data_args.dataset_name, data_args.dataset_config_name, split=split)
    columns = (data_args.image_column_name, data_args.label_column_name)
    if not set(columns) <= set(dataset.column_names):
        raise ValueError(f"{data_args.dataset_name!r} needs columns {columns} (it has {dataset.column_names}).")
    for column in columns:
        dataset = dataset.cast_column(column, ImageFeature(decode=False))
    return ColumnRows(dataset.select_columns(list(columns)), columns)


def segmentation_splits(data_args, training_args):
    """(train pairs, eval pairs, label names) of folders or a `datasets` dataset (not streamed)."""
    if data_args.dataset_name:
        train = dataset_pairs(data_args, "train")
        evaluation = dataset_pairs(data_args, "validation") if training_args.do_eval else []
        folders = []
    else:
        train = segmentation_pairs(data_args.train_dir, "train_dir", IMAGE_EXTENSIONS)
        evaluation = []
        if training_args.do_eval:
            evaluation = segmentation_pairs(data_args.validation_dir, "validation_dir", IMAGE_EXTENSIONS)
        folders = [data_args.train_dir, Path(data_args.train_dir).parent]
    if data_args.max_train_samples:
        train = torch.utils.data.Subset(train, range(min(data_args.max_train_samples, len(train))))
    if data_args.max_eval_samples and evaluation:
        evaluation = torch.utils.data.Subset(evaluation, range(min(data_args.max_eval_samples, len(evaluation))))
    return train, evaluation, read_labels(data_args.labels_file, folders)


def build_model(model_args, crop_size: int, id2label: dict[int, str]) -> UperNetForSemanticSegmentation:
    """UperNet on a four-stage Hiera backbone, with the backbone weights of `--model_name_or_path`."""
    backbone = from_preset_or_pretrained(
        HieraBackbone,
        model_args.model_name_or_path,
        model_args.config_overrides,
        out_indices=[1, 2, 3, 4],
        image_size=[crop_size, crop_size],
    )
    head = json.loads(model_args.head_config_overrides or "{}")
    config = UperNetConfig(
        backbone_config=backbone.config,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={name: index for index, name in id2label.items()},
        loss_ignore_index=IGNORE_INDEX,
        **head,
    )
    model = UperNetForSemanticSegmentation(config)
    model.backbone.load_state_dict(backbone.state_dict())
    return model


def main(argv: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_arguments(
        (SegmentationModelArguments, DataArguments, TrainingArguments), argv
    )
    logging.basicConfig(level=logging.INFO if training_args.should_log else logging.WARNING)
    set_seed(training_args.seed)
    if data_args.streamed:
        shards = data_args.train_shards
        id2label = read_labels(data_args.labels_file, [Path(expand_shards(shards)[0]).parent] if shards else [])
    else:
        train_pairs, eval_pairs, id2label = segmentation_splits(data_args, training_args)
    num_labels, crop = len(id2label), data_args.crop_size

    model = build_model(model_args, crop, id2label)
    processor = HieraImageProcessor(size={"height": crop, "width": crop}, do_center_crop=False)
    augment = v2.Compose(
        [
            v2.RandomResize(int(data_args.min_scale * crop), int(data_args.max_scale * crop) + 1),
            v2.RandomCrop(crop, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask: IGNORE_INDEX}),
            v2.RandomHorizontalFlip(data_args.hflip_prob),
        ]
    )
    normalize = v2.Compose(
        [v2.ToDtype(torch.float32, scale=True), v2.Normalize(processor.image_mean, processor.image_std)]
    )

    def train_example(image, mask):  # (path or undecoded value) pairs
        image = tv_tensors.Image(v2.functional.pil_to_tensor(open_image(image)))
        image, mask = augment(image, tv_tensors.Mask(read_mask(mask, num_labels)))
        return {"pixel_values": normalize(image).as_subclass(torch.Tensor), "labels": mask.as_subclass(torch.Tensor)}

    def eval_example(image, mask):
        pixel_values = processor(open_image(image), return_tensors="pt").pixel_values[0]
        mask = read_mask(mask, num_labels)[None, None].float()
        mask = torch.nn.functional.interpolate(mask, size=(crop, crop), mode="nearest")[0, 0].long()
        return {"pixel_values": pixel_values, "labels": mask}

    listeners = []
    if data_args.streamed:
        train_set, eval_set, _, listeners = stream_splits(
            data_args, IMAGE_MEMBERS, lambda sample, rng: train_example(sample["media"], sample["label"]),
            lambda sample, rng: eval_example(sample["media"], sample["label"]),
            training_args.seed, training_args.do_eval, target="mask",
        )  # fmt: skip
    else:
        train_set = SeededDataset(train_pairs, lambda pair, rng: train_example(*pair), training_args.seed)
        eval_set = SeededDataset(eval_pairs, lambda pair, rng: eval_example(*pair))

    def compute_metrics(eval_pred):
        return mean_iou(eval_pred.predictions, eval_pred.label_ids, id2label, IGNORE_INDEX)

    training_args.remove_unused_columns = False
    trainer = HieraTrainer(
        model=model,
        args=training_args,
        train_dataset=train_set if training_args.do_train else None,
        eval_dataset=eval_set if training_args.do_eval else None,
        processing_class=processor,
        compute_metrics=compute_metrics,
        preprocess_logits_for_metrics=lambda logits, labels: (
            logits[0] if isinstance(logits, tuple) else logits
        ).argmax(1),
        layer_decay=model_args.layer_decay,
        unreadable=UnreadableSamples(data_args.unreadable_files, data_args.max_unreadable_fraction),
        epoch_listeners=listeners,
    )
    return train_and_evaluate(trainer, training_args, "image-segmentation", model_args.model_name_or_path)


if __name__ == "__main__":
    main()
