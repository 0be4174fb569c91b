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
    video_clip_dataset,
)

logger = logging.getLogger(__name__)


@dataclass
class MaeModelArguments(ModelArguments):
    mask_ratio: float | None = field(default=None, metadata={"help": "Default: 0.6 images, 0.9 videos."})


@dataclass
class DataArguments:
    modality: str = field(default="image", metadata={"help": "image or video"})
    dataset_name: str | None = None
    train_dir: str | None = None
    validation_dir: str | None = None
    image_column_name: str = "image"
    video_column_name: str = "video"
    frame_sampling_rate: int = 4
    max_train_samples: int | None = None
    unreadable_files: str = field(
        default="error",
        metadata={"help": "error: stop before training, listing the files that cannot be read; skip: leave them out."},
    )


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
        train_samples, eval_samples, _ = load_video_splits(
            data_args.dataset_name,
            None,
            data_args.train_dir,
            data_args.validation_dir,
            data_args.video_column_name,
            None,  # MAE needs no labels
            data_args.unreadable_files,
        )
        train_set = video_clip_dataset(train_samples, processor, None, train=True, seed=training_args.seed)
        eval_set = video_clip_dataset(eval_samples, processor, None, train=False) if eval_samples else None
    else:
        splits = load_image_splits(
            data_args.dataset_name,
            train_dir=data_args.train_dir,
            validation_dir=data_args.validation_dir,
            image_column=data_args.image_column_name,
            label_column=None,
            seed=training_args.seed,
            unreadable_files=data_args.unreadable_files,
        )
        crop = tuple(model.config.image_size)
        augment = transforms.Compose(
            [
                transforms.RandomResizedCrop(
                    crop, scale=(0.2, 1.0), interpolation=transforms.InterpolationMode.BICUBIC
                ),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize(processor.image_mean, processor.image_std),
            ]
        )
        column = data_args.image_column_name

        def train_example(example, rng):
            return {"pixel_values": augment(example[column].convert("RGB"))}

        def eval_example(example, rng):
            return {"pixel_values": processor(example[column], return_tensors="pt").pixel_values[0]}

        train_set, eval_set = splits["train"], splits["validation"]
        if data_args.max_train_samples:
            train_set = train_set.select(range(min(data_args.max_train_samples, len(train_set))))
        train_set = SeededDataset(train_set, train_example, training_args.seed)
        eval_set = SeededDataset(eval_set, eval_example)

    training_args.remove_unused_columns = False
    training_args.label_names = []  # the model computes its own loss
    trainer = HieraTrainer(
        model=model,
        args=training_args,
        train_dataset=train_set,
        eval_dataset=eval_set if training_args.do_eval else None,
        processing_class=processor,
    )
    return train_and_evaluate(trainer, training_args, "image-feature-extraction")


if __name__ == "__main__":
    main()
