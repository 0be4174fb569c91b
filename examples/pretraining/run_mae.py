# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""MAE pre-training of Hiera (`HieraForPreTraining`) on an image folder or a video folder, with `Trainer`.

    python examples/pretraining/run_mae.py --model_name_or_path hiera_tiny_224 \\
        --train_dir demo_data/digits/train --output_dir out/mae --do_train
    python examples/pretraining/run_mae.py --modality video --model_name_or_path hiera_base_16x224 \\
        --train_dir videos/train --output_dir out/mae-video --do_train

Mask ratio: 0.6 for images and 0.9 for videos (the paper's), or `--mask_ratio`. Class sub-folders are allowed and
ignored. The saved folder loads into the fine-tuning scripts as `--model_name_or_path` (the classifier gets
`num_query_pool=3` back, as in the official recipe).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from torchvision import transforms
from transformers import TrainingArguments, set_seed

from hiera_hf import HieraForPreTraining
from hiera_hf.processors import processor_for
from hiera_hf.training import from_preset_or_pretrained

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the scripts' shared module
from hiera_examples import (  # noqa: E402
    HieraTrainer,
    ModelArguments,
    SeededDataset,
    load_image_splits,
    load_video_splits,
    parse_arguments,
    train_and_evaluate,
    video_clip,
    video_clip_dataset,
)
from hiera_training_data import (  # noqa: E402
    IMAGE_MEMBERS,
    VIDEO_MEMBERS,
    ScaleArguments,
    UnreadableSamples,
    open_image,
    stream_splits,
)

logger = logging.getLogger(__name__)


@dataclass
class MaeModelArguments(ModelArguments):
    mask_ratio: float | None = field(default=None, metadata={"help": "Default: 0.6 images, 0.9 videos."})


@dataclass
class DataArguments(ScaleArguments):
    modality: str = field(default="image", metadata={"help": "image or video"})
    dataset_name: str | None = None
    train_dir: str | None = None
    validation_dir: str | None = None
    image_column_name: str = "image"
    video_column_name: str = "video"
    frame_sampling_rate: int = 4
    max_train_samples: int | None = None
    train_val_split: float = field(
        default=0.15,
        metadata={"help": "Of a folder without --validation_dir, held out for evaluation; 0: train on all."},
    )


def image_transforms(model, processor):
    """MAE's training augmentation (random resized crop, flip) and the evaluation transform, from PIL images."""
    crop = tuple(model.config.image_size)
    augment = transforms.Compose(
        [
            transforms.RandomResizedCrop(crop, scale=(0.2, 1.0), interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(processor.image_mean, processor.image_std),
        ]
    )
    return augment, lambda image: processor(image, return_tensors="pt").pixel_values[0]


def mae_sets(data_args, training_args, model, processor):
    """(train set, eval set or None, epoch listeners) of the images or videos: streamed, or listed on disk."""
    video, seed = data_args.modality == "video", training_args.seed
    augment, evaluate = image_transforms(model, processor) if not video else (None, None)
    if data_args.streamed:

        def train_example(sample, rng):
            media = sample["media"]
            return {"pixel_values": video_clip(processor, media, rng, True) if video else augment(open_image(media))}

        def eval_example(sample, rng):
            media = sample["media"]
            return {"pixel_values": video_clip(processor, media, rng, False) if video else evaluate(open_image(media))}

        media = VIDEO_MEMBERS if video else IMAGE_MEMBERS
        train_set, eval_set, _, listeners = stream_splits(
            data_args, media, train_example, eval_example, seed, training_args.do_eval, target=None
        )
        return train_set, eval_set, listeners
    if video:
        train, evaluation, _ = load_video_splits(data_args.dataset_name, None, data_args.train_dir,
                                                 data_args.validation_dir, data_args.video_column_name, None)  # fmt: skip
        return (video_clip_dataset(train, processor, None, train=True, seed=seed),
                video_clip_dataset(evaluation, processor, None, train=False) if evaluation else None, [])  # fmt: skip
    splits = load_image_splits(data_args.dataset_name, train_dir=data_args.train_dir,
                               validation_dir=data_args.validation_dir, train_val_split=data_args.train_val_split,
                               image_column=data_args.image_column_name, label_column=None, seed=seed)  # fmt: skip
    column, train = data_args.image_column_name, splits["train"]
    if data_args.max_train_samples:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    train_set = SeededDataset(train, lambda row, rng: {"pixel_values": augment(row[column].convert("RGB"))}, seed)
    eval_set = (
        SeededDataset(splits["validation"], lambda row, rng: {"pixel_values": evaluate(row[column])})
        if "validation" in splits
        else None
    )
    return train_set, eval_set, []


def main(argv: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_arguments((MaeModelArguments, DataArguments, TrainingArguments), argv)
    if data_args.modality not in ("image", "video"):
        raise ValueError(f"--modality must be image or video, got {data_args.modality!r}.")
    logging.basicConfig(level=logging.INFO if training_args.should_log else logging.WARNING)
    set_seed(training_args.seed)

    overrides = {"mask_ratio": model_args.mask_ratio} if model_args.mask_ratio is not None else {}
    model = from_preset_or_pretrained(
        HieraForPreTraining, model_args.model_name_or_path, model_args.config_overrides, True, **overrides
    )
    if model.config.is_video != (data_args.modality == "video"):
        raise ValueError(
            f"--modality {data_args.modality} does not match the model (num_frames={model.config.num_frames})."
        )
    processor = processor_for(model.config, model_args.model_name_or_path)
    if data_args.modality == "video":
        processor.frame_sampling_rate = data_args.frame_sampling_rate
    train_set, eval_set, listeners = mae_sets(data_args, training_args, model, processor)

    training_args.remove_unused_columns = False
    training_args.label_names = []  # the model computes its own loss
    trainer = HieraTrainer(
        model=model,
        args=training_args,
        train_dataset=train_set,
        eval_dataset=eval_set if training_args.do_eval else None,
        processing_class=processor,
        unreadable=UnreadableSamples(data_args.unreadable_files, data_args.max_unreadable_fraction),
        epoch_listeners=listeners,
    )
    return train_and_evaluate(trainer, training_args, "image-feature-extraction")


if __name__ == "__main__":
    main()
