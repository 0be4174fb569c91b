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
from accelerate.utils import gather_object
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
    video_clip,
    video_clip_dataset,
    video_source,
)
from hiera_training_data import VIDEO_MEMBERS, ScaleArguments, UnreadableSamples, stream_classes, stream_splits  # noqa: E402

logger = logging.getLogger(__name__)


@dataclass
class VideoModelArguments(ModelArguments):
    model_name_or_path: str = field(default="hiera_base_16x224", metadata={"help": "A preset, folder or Hub id."})


@dataclass
class DataArguments(ScaleArguments):
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
    return np.stack(all_logits) if all_logits else np.zeros((0, model.config.num_labels), np.float32)


def multi_clip_accuracy(accelerator, model, processor, samples, label2id, num_clips: int, batch_size: int) -> dict:
    """Top-1/top-5 of the multi-clip logits (`multi_clip_logits`), every rank taking every N-th video: gathered in
    video order, the numbers of one process."""
    mine = list(range(accelerator.process_index, len(samples), accelerator.num_processes))
    logits = multi_clip_logits(model, processor, [samples[i] for i in mine], num_clips, batch_size)
    rows = sorted(
        gather_object([(i, row, label2id[samples[i][1]]) for i, row in zip(mine, logits)]), key=lambda r: r[0]
    )
    metrics = top_k_accuracy((np.stack([row[1] for row in rows]), np.array([row[2] for row in rows])))
    return {f"eval_{num_clips}clip_{k}": v for k, v in metrics.items()}


def video_sets(data_args, training_args, processor, label2id):
    """(train set, eval set, epoch listeners): from shards or a stream, or from folders and datasets on disk."""
    if data_args.streamed:

        def train_clip(sample, rng):
            return {"pixel_values": video_clip(processor, sample["media"], rng, True), "labels": sample["label"]}

        def eval_clip(sample, rng):
            return {"pixel_values": video_clip(processor, sample["media"], rng, False), "labels": sample["label"]}

        train_set, eval_set, _, listeners = stream_splits(
            data_args, VIDEO_MEMBERS, train_clip, eval_clip, training_args.seed, training_args.do_eval
        )
        return train_set, eval_set, listeners
    return (video_clip_dataset(data_args.train_samples, processor, label2id, train=True, seed=training_args.seed),
            video_clip_dataset(data_args.eval_samples, processor, label2id, train=False) if data_args.eval_samples
            else None, [])  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    model_args, data_args, training_args = parse_arguments(
        (VideoModelArguments, DataArguments, TrainingArguments), argv
    )
    logging.basicConfig(level=logging.INFO if training_args.should_log else logging.WARNING)
    set_seed(training_args.seed)
    if data_args.streamed:
        classes, data_args.eval_samples = stream_classes(data_args, VIDEO_MEMBERS), []
    else:
        if data_args.dataset_name is None and data_args.train_dir is None:
            raise ValueError("Give --dataset_name, --train_dir (a video folder), --train_shards or --streaming.")
        data_args.train_samples, data_args.eval_samples, classes = load_video_splits(
            data_args.dataset_name, data_args.dataset_config_name, data_args.train_dir, data_args.validation_dir,
            data_args.video_column_name, data_args.label_column_name,
        )  # fmt: skip
        if training_args.do_eval and not data_args.eval_samples:
            raise ValueError("--do_eval needs --validation_dir (or a validation split in --dataset_name).")
    labels = (
        {"id2label": dict(enumerate(classes)), "label2id": {name: i for i, name in enumerate(classes)}}
        if classes
        else {}
    )
    model = from_preset_or_pretrained(
        HieraForVideoClassification, model_args.model_name_or_path, model_args.config_overrides, **labels
    )
    processor = processor_for(model.config, model_args.model_name_or_path)
    processor.num_frames = model.config.num_frames
    processor.frame_sampling_rate = data_args.frame_sampling_rate
    label2id = model.config.label2id
    train_set, eval_set, listeners = video_sets(data_args, training_args, processor, label2id)

    training_args.remove_unused_columns = False
    trainer = HieraTrainer(
        model=model,
        args=training_args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=processor,
        compute_metrics=top_k_accuracy,
        unreadable=UnreadableSamples(data_args.unreadable_files, data_args.max_unreadable_fraction),
        epoch_listeners=listeners,
    )

    def multi_clip():
        clips, batch_size = data_args.eval_num_clips, training_args.per_device_eval_batch_size
        samples = data_args.eval_samples
        return multi_clip_accuracy(trainer.accelerator, trainer.model, processor, samples, label2id, clips, batch_size)

    extra = multi_clip if data_args.eval_num_clips > 1 and data_args.eval_samples else None
    return train_and_evaluate(trainer, training_args, "video-classification", model_args.model_name_or_path, extra)


if __name__ == "__main__":
    main()
