# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Train UperNet with a Hiera backbone for semantic segmentation with `Trainer`.

    python examples/semantic-segmentation/run_semantic_segmentation.py \\
        --model_name_or_path hiera_tiny_224 --train_dir demo_data/shapes/train \\
        --validation_dir demo_data/shapes/validation --output_dir out/shapes --do_train --do_eval
    accelerate launch --num_processes 2 examples/semantic-segmentation/run_semantic_segmentation.py ...

Data: `<dir>/images/<name>.<ext>` with `<dir>/masks/<name>.png` (one class id per pixel, 255 = ignore); label names
from `--labels_file`, else `labels.json` (`{"0": "background", ...}`) in the data folder or its parent.
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
from PIL import Image
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
from hiera_training_data import ScaleArguments, UnreadableSamples  # noqa: E402

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
    train_dir: str | None = field(default=None, metadata={"help": "A folder with images/ and masks/."})
    validation_dir: str | None = None
    labels_file: str | None = field(default=None, metadata={"help": 'JSON {"0": "background", ...}.'})
    crop_size: int = field(default=64, metadata={"help": "Training crop and evaluation size (square)."})
    min_scale: float = 0.5
    max_scale: float = 2.0
    hflip_prob: float = 0.5
    max_train_samples: int | None = None
    max_eval_samples: int | None = None


def scan_segmentation_folder(directory: str | None, role: str) -> list[tuple[Path, Path]]:
    """(image, mask) path pairs of `<directory>/images/*` and `<directory>/masks/<stem>.png`, listed (a pair that
    cannot be read is found, named and left out when a worker reads it); every image must have its mask."""
    if directory is None or not Path(directory, "images").is_dir() or not Path(directory, "masks").is_dir():
        raise ValueError(f"--{role} {directory!r} must be a folder with images/ and masks/ sub-folders.")
    images = sorted(p for p in Path(directory, "images").iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not images:
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) in {Path(directory, 'images')}.")
    missing = [p.name for p in images if not Path(directory, "masks", p.stem + ".png").is_file()]
    if missing:
        raise ValueError(f"{len(missing)} image(s) in {directory} have no masks/<name>.png: {missing[:5]}.")
    return [(p, Path(directory, "masks", p.stem + ".png")) for p in images]


def read_labels(labels_file: str | None, train_dir: str) -> dict[int, str]:
    candidates = (
        [Path(labels_file)]
        if labels_file
        else [Path(train_dir, "labels.json"), Path(train_dir).parent / "labels.json"]
    )
    for path in candidates:
        if path.is_file():
            return {int(index): name for index, name in json.loads(path.read_text()).items()}
    raise ValueError(f"No label names: pass --labels_file or put labels.json in {candidates[0].parent} or its parent.")


def read_mask(path: Path, num_labels: int) -> torch.Tensor:
    mask = torch.from_numpy(np.array(Image.open(path), dtype=np.int64))
    if mask.ndim != 2:
        raise ValueError(
            f"{path}: a mask must be one class id per pixel (a grey-level PNG), got shape {tuple(mask.shape)}."
        )
    bad = mask[(mask >= num_labels) & (mask != IGNORE_INDEX)]
    if len(bad):
        raise ValueError(
            f"{path} holds class id {int(bad[0])}; the labels have ids 0..{num_labels - 1} (and {IGNORE_INDEX})."
        )
    return mask


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
        raise ValueError(
            "Semantic segmentation reads image/mask folders: --train_shards and --streaming are for the "
            "classification and MAE scripts (shards hold one image per sample, no mask)."
        )
    train_files = scan_segmentation_folder(data_args.train_dir, "train_dir")
    eval_files = []
    if training_args.do_eval:
        eval_files = scan_segmentation_folder(data_args.validation_dir, "validation_dir")
    train_files = train_files[: data_args.max_train_samples]
    eval_files = eval_files[: data_args.max_eval_samples]
    id2label = read_labels(data_args.labels_file, data_args.train_dir)
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

    def train_example(paths, rng):
        image = tv_tensors.Image(v2.functional.pil_to_tensor(Image.open(paths[0]).convert("RGB")))
        image, mask = augment(image, tv_tensors.Mask(read_mask(paths[1], num_labels)))
        return {"pixel_values": normalize(image).as_subclass(torch.Tensor), "labels": mask.as_subclass(torch.Tensor)}

    def eval_example(paths, rng):
        pixel_values = processor(Image.open(paths[0]), return_tensors="pt").pixel_values[0]
        mask = read_mask(paths[1], num_labels)[None, None].float()
        mask = torch.nn.functional.interpolate(mask, size=(crop, crop), mode="nearest")[0, 0].long()
        return {"pixel_values": pixel_values, "labels": mask}

    def compute_metrics(eval_pred):
        return mean_iou(eval_pred.predictions, eval_pred.label_ids, id2label, IGNORE_INDEX)

    training_args.remove_unused_columns = False
    trainer = HieraTrainer(
        model=model,
        args=training_args,
        train_dataset=SeededDataset(train_files, train_example, training_args.seed)
        if training_args.do_train
        else None,
        eval_dataset=SeededDataset(eval_files, eval_example) if training_args.do_eval else None,
        processing_class=processor,
        compute_metrics=compute_metrics,
        preprocess_logits_for_metrics=lambda logits, labels: (
            logits[0] if isinstance(logits, tuple) else logits
        ).argmax(1),
        layer_decay=model_args.layer_decay,
        unreadable=UnreadableSamples(data_args.unreadable_files, data_args.max_unreadable_fraction),
    )
    return train_and_evaluate(trainer, training_args, "image-segmentation", model_args.model_name_or_path)


if __name__ == "__main__":
    main()
