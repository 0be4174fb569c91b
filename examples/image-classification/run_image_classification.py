# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Fine-tune (or train from scratch) a Hiera image classifier with `Trainer`.

    python examples/image-classification/run_image_classification.py \\
        --model_name_or_path hiera_tiny_224 --train_dir demo_data/digits/train \\
        --validation_dir demo_data/digits/validation --output_dir out/digits --do_train --do_eval
    accelerate launch --num_processes 2 examples/image-classification/run_image_classification.py ...
    python examples/image-classification/run_image_classification.py args.json

`--model_name_or_path`: a preset (random init, e.g. `hiera_tiny_224`), a local folder or a Hub id (a converted
checkpoint, or the output of `examples/pretraining/run_mae.py`). Training transforms: RandomResizedCrop and a
horizontal flip, optionally RandAugment, mixup/cutmix and label smoothing (`--label_smoothing_factor`), as in the
paper's fine-tuning recipe; `--layer_decay` enables layer-wise learning-rate decay. Evaluation uses the image
processor (the official evaluation transform). Top-1/top-5 accuracy comes from the
`examples/metrics/top_k_accuracy` evaluate module (loaded from its path: no download).
Mixup/CutMix mix every training batch (in the training step) and no evaluation batch; the per-image augmentation
is seeded per (seed, epoch, image), so a resumed run sees the same augmented images as an uninterrupted one.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from torchvision import transforms
from torchvision.transforms import v2
from transformers import TrainingArguments, set_seed

from hiera_hf import HieraForImageClassification
from hiera_hf.processors import processor_for
from hiera_hf.training import from_preset_or_pretrained

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the scripts' shared module
from hiera_examples import (  # noqa: E402
    HieraTrainer,
    ModelArguments,
    SeededDataset,
    load_image_splits,
    parse_arguments,
    soft_target_cross_entropy,
    top_k_accuracy,
    train_and_evaluate,
)
from hiera_training_data import (  # noqa: E402
    IMAGE_MEMBERS,
    ScaleArguments,
    UnreadableSamples,
    open_image,
    stream_classes,
    stream_splits,
)

logger = logging.getLogger(__name__)


@dataclass
class ImageModelArguments(ModelArguments):
    layer_decay: float | None = field(
        default=None, metadata={"help": "Layer-wise learning-rate decay (the paper fine-tunes with 0.65-0.9)."}
    )


@dataclass
class DataArguments(ScaleArguments):
    dataset_name: str | None = field(default=None, metadata={"help": "A datasets id or local dataset path."})
    dataset_config_name: str | None = None
    train_dir: str | None = field(default=None, metadata={"help": "An image folder: <dir>/<class>/<image>."})
    validation_dir: str | None = None
    train_val_split: float = 0.15
    image_column_name: str = "image"
    label_column_name: str = "label"
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    hflip_prob: float = 0.5
    rand_augment: bool = field(default=False, metadata={"help": "RandAugment (9, 0.5) on training images."})
    mixup: float = field(default=0.0, metadata={"help": "Mixup alpha (the paper uses 0.8); 0 disables."})
    cutmix: float = field(default=0.0, metadata={"help": "CutMix alpha (the paper uses 1.0); 0 disables."})


def datasets_on_disk(data_args, training_args):
    """The listed (not decoded) splits, their class names, and the rows each run reads."""
    splits = load_image_splits(
        data_args.dataset_name,
        data_args.dataset_config_name,
        data_args.train_dir,
        data_args.validation_dir,
        data_args.train_val_split,
        data_args.image_column_name,
        data_args.label_column_name,
        training_args.seed,
    )
    label_feature = splits["train"].features[data_args.label_column_name]
    if not hasattr(label_feature, "names"):
        raise ValueError(f"Label column {data_args.label_column_name!r} is not a ClassLabel: {label_feature}.")
    train_set, eval_set = splits["train"], splits.get("validation")
    if data_args.max_train_samples:
        train_set = train_set.shuffle(seed=training_args.seed).select(range(data_args.max_train_samples))
    if data_args.max_eval_samples and eval_set is not None:
        eval_set = eval_set.shuffle(seed=training_args.seed).select(range(data_args.max_eval_samples))
    return train_set, eval_set, list(label_feature.names)


def transforms_for(data_args, model, processor):
    """The training transform (random resized crop, flip, RandAugment, normalisation) and the evaluation one (the
    processor's), each from an RGB PIL image."""
    crop = model.config.image_size
    train_transform = [transforms.RandomResizedCrop(tuple(crop), interpolation=transforms.InterpolationMode.BICUBIC)]
    if data_args.hflip_prob > 0:
        train_transform.append(transforms.RandomHorizontalFlip(data_args.hflip_prob))
    if data_args.rand_augment:
        train_transform.append(transforms.RandAugment(num_ops=2, magnitude=9))
    train_transform += [transforms.ToTensor(), transforms.Normalize(processor.image_mean, processor.image_std)]
    train_transform = transforms.Compose(train_transform)
    return train_transform, lambda image: processor(image, return_tensors="pt").pixel_values[0]


def main(argv: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_arguments(
        (ImageModelArguments, DataArguments, TrainingArguments), argv
    )
    logging.basicConfig(level=logging.INFO if training_args.should_log else logging.WARNING)
    set_seed(training_args.seed)
    labels, listeners = None, []
    if data_args.streamed:
        labels = stream_classes(data_args, IMAGE_MEMBERS)
    else:
        train_set, eval_set, labels = datasets_on_disk(data_args, training_args)
    label_kwargs = {"id2label": dict(enumerate(labels)), "label2id": {name: i for i, name in enumerate(labels)}}
    model = from_preset_or_pretrained(
        HieraForImageClassification, model_args.model_name_or_path, model_args.config_overrides,
        **(label_kwargs if labels else {}),
    )  # fmt: skip
    processor = processor_for(model.config, model_args.model_name_or_path)
    train_transform, eval_transform = transforms_for(data_args, model, processor)
    if data_args.streamed:
        train_set, eval_set, _, listeners = stream_splits(
            data_args, IMAGE_MEMBERS,
            lambda sample, rng: {"pixel_values": train_transform(open_image(sample["media"])), "labels": sample["label"]},
            lambda sample, rng: {"pixel_values": eval_transform(open_image(sample["media"])), "labels": sample["label"]},
            training_args.seed, training_args.do_eval,
        )  # fmt: skip
    else:
        image_column, label_column = data_args.image_column_name, data_args.label_column_name

        def train_example(row, rng):
            return {"pixel_values": train_transform(row[image_column].convert("RGB")), "labels": row[label_column]}

        def eval_example(row, rng):
            return {"pixel_values": eval_transform(row[image_column]), "labels": row[label_column]}

        train_set = SeededDataset(train_set, train_example, training_args.seed)
        eval_set = eval_set and SeededDataset(eval_set, eval_example)
    mix = batch_mixing(data_args, model.config.num_labels)
    training_args.remove_unused_columns = False
    trainer = HieraTrainer(
        model=model,
        args=training_args,
        train_dataset=train_set if training_args.do_train else None,
        eval_dataset=eval_set if training_args.do_eval else None,
        processing_class=processor,
        compute_metrics=top_k_accuracy,
        compute_loss_func=soft_target_cross_entropy if mix is not None else None,
        layer_decay=model_args.layer_decay,
        batch_augmentation=mix,
        unreadable=UnreadableSamples(data_args.unreadable_files, data_args.max_unreadable_fraction),
        epoch_listeners=listeners,
    )
    return train_and_evaluate(trainer, training_args, "image-classification", model_args.model_name_or_path)


def batch_mixing(data_args, num_labels: int):
    """Mixup or CutMix of training batches (HieraTrainer applies them), or None."""
    mixing = []
    if data_args.mixup > 0:
        mixing.append(v2.MixUp(alpha=data_args.mixup, num_classes=num_labels))
    if data_args.cutmix > 0:
        mixing.append(v2.CutMix(alpha=data_args.cutmix, num_classes=num_labels))
    return v2.RandomChoice(mixing) if mixing else None


if __name__ == "__main__":
    main()
