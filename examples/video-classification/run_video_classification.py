# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Fine-tune (or train from scratch) a Hiera video classifier with `Trainer` on a folder of videos.

    python examples/video-classification/run_video_classification.py \\
        --model_name_or_path hiera_base_16x224 --train_dir videos/train --validation_dir videos/validation \\
        --output_dir out/videos --do_train --do_eval
    accelerate launch --num_processes 2 examples/video-classification/run_video_classification.py ...

Data: `<dir>/<class>/<video>` folders (.mp4, .avi, .mkv, .mov, .webm), or a `datasets` dataset (`--dataset_name`, with a
`Video` and a `ClassLabel` column), decoded with PyAV: only the frames of each clip. Every video is probed (header and
first frame) before training starts: unreadable ones stop the run with their list (`--unreadable_files skip` leaves
them out). Training takes a random window of `num_frames` frames (every
`--frame_sampling_rate`th frame); the in-training evaluation takes the centered window; the final evaluation
averages the logits of `--eval_num_clips` windows spread uniformly over each video (multi-clip testing).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import TrainingArguments, set_seed

from hiera_hf import HieraForVideoClassification
from hiera_hf.processors import processor_for
from hiera_hf.training import from_preset_or_pretrained

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # examples/: the scripts' shared module
from hiera_examples import (  # noqa: E402
    HieraTrainer,
    ModelArguments,
    load_video_splits,
    parse_arguments,
    top_k_accuracy,
    train_and_evaluate,
    video_clip_dataset,
    video_source,
)

logger = logging.getLogger(__name__)


@dataclass
class VideoModelArguments(ModelArguments):
    model_name_or_path: str = field(default="hiera_base_16x224", metadata={"help": "A preset, folder or Hub id."})


@dataclass
class DataArguments:
    dataset_name: str | None = field(
        default=None, metadata={"help": "A datasets id or save_to_disk folder with a Video and a ClassLabel column."}
    )
    dataset_config_name: str | None = None
    video_column_name: str = "video"
    label_column_name: str = "label"
    train_dir: str | None = field(default=None, metadata={"help": "A video folder: <dir>/<class>/<video>."})
    validation_dir: str | None = None
    frame_sampling_rate: int = 4
    eval_num_clips: int = 3
    unreadable_files: str = field(
        default="error",
        metadata={"help": "error: stop before training, listing the files that cannot be read; skip: leave them out."},
    )


def multi_clip_logits(model, processor, samples, num_clips: int, batch_size: int) -> np.ndarray:
    """`(videos, num_labels)` logits averaged over `num_clips` uniformly spaced windows of each video."""
    model.eval()
    all_logits = []
    for video, _ in samples:
        views = processor(video_source(video), num_clips=num_clips, return_tensors="pt").pixel_values
        views = views.to(model.device, model.dtype)
        with torch.no_grad():
            logits = torch.cat([model(views[i : i + batch_size]).logits for i in range(0, len(views), batch_size)])
        all_logits.append(logits.float().mean(0).cpu().numpy())
    return np.stack(all_logits)


def multi_clip_accuracy(model, processor, samples, label2id, num_clips: int, batch_size: int) -> dict:
    """Top-1/top-5 of the multi-clip logits (`multi_clip_logits`)."""
    logits = multi_clip_logits(model, processor, samples, num_clips, batch_size)
    metrics = top_k_accuracy((logits, np.array([label2id[name] for _, name in samples])))
    return {f"eval_{num_clips}clip_{k}": v for k, v in metrics.items()}


def main(argv: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_arguments(
        (VideoModelArguments, DataArguments, TrainingArguments), argv
    )
    logging.basicConfig(level=logging.INFO if training_args.should_log else logging.WARNING)
    set_seed(training_args.seed)

    if data_args.dataset_name is None and data_args.train_dir is None:
        raise ValueError("Give --dataset_name (a datasets id or local path) or --train_dir (a video folder).")
    train_samples, eval_samples, classes = load_video_splits(
        data_args.dataset_name,
        data_args.dataset_config_name,
        data_args.train_dir,
        data_args.validation_dir,
        data_args.video_column_name,
        data_args.label_column_name,
        data_args.unreadable_files,
    )
    if training_args.do_eval and not eval_samples:
        raise ValueError("--do_eval needs --validation_dir (or a validation split in --dataset_name).")
    id2label = dict(enumerate(classes))
    label2id = {name: i for i, name in id2label.items()}
    model = from_preset_or_pretrained(
        HieraForVideoClassification,
        model_args.model_name_or_path,
        model_args.config_overrides,
        id2label=id2label,
        label2id=label2id,
    )
    processor = processor_for(model.config, model_args.model_name_or_path)
    processor.num_frames = model.config.num_frames
    processor.frame_sampling_rate = data_args.frame_sampling_rate

    training_args.remove_unused_columns = False
    trainer = HieraTrainer(
        model=model,
        args=training_args,
        train_dataset=video_clip_dataset(train_samples, processor, label2id, train=True, seed=training_args.seed),
        eval_dataset=video_clip_dataset(eval_samples, processor, label2id, train=False) if eval_samples else None,
        processing_class=processor,
        compute_metrics=top_k_accuracy,
    )

    def multi_clip():
        clips, batch_size = data_args.eval_num_clips, training_args.per_device_eval_batch_size
        return multi_clip_accuracy(trainer.model, processor, eval_samples, label2id, clips, batch_size)

    extra = multi_clip if data_args.eval_num_clips > 1 else None
    return train_and_evaluate(trainer, training_args, "video-classification", model_args.model_name_or_path, extra)


if __name__ == "__main__":
    main()
