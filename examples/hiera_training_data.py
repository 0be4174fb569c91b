# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Training data at ImageNet and Kinetics scale, for the four training scripts: a start-up that does not grow with
the data, unreadable samples found where they are read, and streamed input (a `datasets` dataset with
`--streaming`, or WebDataset shards with `--train_shards`) that every rank and DataLoader worker reads its own part
of, resumable without replaying the epoch.

- Folders are listed by name (`image_folder`): nothing is decoded before the first step.
- A sample that cannot be read becomes `{"unreadable": name}` in the DataLoader worker (`tolerant`); `collate`
  leaves it out of its batch and reports it; `UnreadableSamples` (in the Trainer) counts, names, and stops the run
  with the list when more than `--max_unreadable_fraction` of the samples read so far were unreadable (counted once
  at least 1,000 have been read), or at the first with `--unreadable_files error`; the names go to
  `<output_dir>/unreadable.json` at the end.
- Streams are `datasets` IterableDatasets: Accelerate gives each rank its own shards (`dispatch_batches=False`; the
  stream needs at least as many shards as processes), `datasets` each DataLoader worker its own part of those and
  reshuffles the shard order each epoch; a checkpoint saves the DataLoader's state
  (torchdata's StatefulDataLoader, through Accelerate), so a resumed run continues from there.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import TrainerCallback

UNREADABLE_POLICIES = ("skip", "error")
IMAGE_MEMBERS = ("png", "jpg", "jpeg", "webp", "bmp")
VIDEO_MEMBERS = ("mp4", "avi", "mov", "mkv", "webm")


@dataclass
class ScaleArguments:
    """The data options every training script has (its DataArguments inherit them)."""

    streaming: bool = field(default=False, metadata={"help": "Stream the datasets dataset instead of downloading it."})
    train_shards: str | None = field(
        default=None, metadata={"help": "WebDataset shards, e.g. 'data/train-{000000..000127}.tar' (or a glob)."}
    )
    validation_shards: str | None = None
    unreadable_files: str = field(
        default="skip", metadata={"help": "skip: leave unreadable samples out, counted and named; error: stop."}
    )
    max_unreadable_fraction: float = field(
        default=0.001, metadata={"help": "Stop when more of the samples read so far were unreadable (after 1,000)."}
    )

    @property
    def streamed(self) -> bool:
        return bool(self.streaming or self.train_shards)


# ---- unreadable samples -----------------------------------------------------------------------------------------


class UnreadableSamples:
    """What the DataLoaders read and could not (see the module docstring)."""

    def __init__(self, policy: str = "skip", max_fraction: float = 0.001, min_read: int = 1000):
        if policy not in UNREADABLE_POLICIES:
            raise ValueError(f"--unreadable_files must be one of {', '.join(UNREADABLE_POLICIES)}, got {policy!r}.")
        self.policy, self.max_fraction, self.min_read = policy, max_fraction, min_read
        self.read, self.names = 0, []

    def add(self, read: int, names: list[str]) -> None:
        self.read += read
        self.names += names
        if names and self.policy == "error":
            raise ValueError(
                f"Unreadable sample(s): {names}. The run stops at the first one with --unreadable_files error; "
                "--unreadable_files skip (the default) skips, counts and names them."
            )
        if self.read >= self.min_read and len(self.names) > self.max_fraction * self.read:
            listed = "\n  ".join(self.names[:50]) + (
                f"\n  ... and {len(self.names) - 50} more" if len(self.names) > 50 else ""
            )
            raise ValueError(
                f"{len(self.names)} of the {self.read} samples read so far are unreadable, more than "
                f"--max_unreadable_fraction {self.max_fraction}:\n  {listed}\nFix or remove them, or raise the fraction."
            )

    def write(self, output_dir, accelerator) -> dict:
        """Every rank's count and names, gathered, into `<output_dir>/unreadable.json` (main process)."""
        from accelerate.utils import gather_object

        reads, names = gather_object([self.read]), gather_object(self.names)
        report = {"read": int(sum(reads)), "unreadable": len(names), "names": sorted(names)}
        if accelerator.is_main_process:
            os.makedirs(output_dir, exist_ok=True)
            Path(output_dir, "unreadable.json").write_text(json.dumps(report, indent=2) + "\n")
        return report


def tolerant(transform):
    """`transform(example, rng)`, or `{"unreadable": name}` when the example cannot be read (decoded, transformed)."""

    def read(example, rng):
        try:
            return transform(example, rng)
        except Exception as error:  # a broken file raises whatever its decoder raises: named, not fatal
            return {"unreadable": f"{sample_name(example)}: {type(error).__name__}: {error}"}

    return read


def sample_name(example) -> str:
    """Where a sample came from: its shard and key, its file, or what its row holds."""
    if isinstance(example, dict):
        if "__key__" in example:  # a shard member, and the file it was made from (make_shards.py's json)
            meta = example.get("json")
            source = f" ({meta['source']})" if isinstance(meta, dict) and "source" in meta else ""
            return f"{example.get('__url__', '')}#{example['__key__']}{source}"
        for value in example.values():
            path = value.get("path") if isinstance(value, dict) else getattr(value, "filename", None)
            if path:
                return str(path)
    if isinstance(example, (tuple, list)) and example:
        return sample_name(example[0]) if isinstance(example[0], dict) else str(example[0])
    return repr(example)[:200]


# ---- folders, listed ----------------------------------------------------------------------------------------------


def image_folder(directory: str, extensions: tuple[str, ...], classes: list[str] | None = None):
    """`<dir>/<class>/<image>` as a `datasets.Dataset` of paths (an `Image` column, decoded when a row is read)
    and a `ClassLabel` column: listed by name, nothing opened."""
    from datasets import ClassLabel, Dataset, Features, Image

    if not os.path.isdir(directory):
        raise ValueError(f"{directory!r} is not a directory (expected <dir>/<class>/<image>).")
    classes = classes or sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
    paths, labels = [], []
    for index, name in enumerate(classes):
        folder = os.path.join(directory, name)
        files = (
            sorted(f for f in os.listdir(folder) if f.lower().endswith(extensions)) if os.path.isdir(folder) else []
        )
        paths += [os.path.join(folder, file) for file in files]
        labels += [index] * len(files)
    if not paths:
        raise ValueError(f"No images ({', '.join(extensions)}) under {directory!r}/<class>/.")
    features = Features({"image": Image(), "label": ClassLabel(names=classes)})
    return Dataset.from_dict({"image": paths, "label": labels}, features=features)


# ---- streams ----------------------------------------------------------------------------------------------------


def expand_shards(pattern: str) -> list[str]:
    """`data/train-{000000..000127}.tar` (WebDataset's brace notation) or a glob -> the sorted paths or URLs."""
    import braceexpand

    paths = [path for part in braceexpand.braceexpand(pattern) for path in (glob.glob(part) or [part])]
    missing = [path for path in paths if "://" not in path and not os.path.exists(path)]
    if missing:
        raise ValueError(f"Shards not found: {missing[:5]}{' ...' if len(missing) > 5 else ''} (from {pattern!r}).")
    return sorted(dict.fromkeys(paths))


def shard_classes(paths: list[str]) -> list[str] | None:
    """The class names `make_shards.py` writes beside the shards (`classes.json`), if there."""
    beside = Path(paths[0]).parent / "classes.json" if paths and "://" not in paths[0] else None
    return json.loads(beside.read_text()) if beside is not None and beside.is_file() else None


def open_stream(args, split: str, media: tuple[str, ...]):
    """`(stream, media column, label column, classes)` of a split: the `--train_shards`/`--validation_shards`
    (columns by member extension, labels from `.cls`) or the `--streaming` `datasets` dataset. Media stay undecoded
    (the DataLoader workers decode them, one sample at a time)."""
    from datasets import Image, Video, load_dataset

    pattern = args.train_shards if split == "train" else args.validation_shards
    if pattern:
        paths = expand_shards(pattern)
        if split == "train":  # the first epoch's shard order too (datasets reshuffles it from the second)
            paths = [
                paths[i]
                for i in np.random.default_rng(args.seed if hasattr(args, "seed") else 0).permutation(len(paths))
            ]
        stream = load_dataset("webdataset", data_files={split: paths}, split=split, streaming=True)
        column = next((name for name in media if name in stream.features), None)
        if column is None:
            raise ValueError(
                f"The shards {pattern!r} have no {'/'.join(media)} member (members: {list(stream.features)})."
            )
        classes, label = shard_classes(paths), "cls" if "cls" in stream.features else None
    else:
        stream = load_dataset(
            args.dataset_name, getattr(args, "dataset_config_name", None), split=split, streaming=True
        )
        column = args.video_column_name if media == VIDEO_MEMBERS else args.image_column_name
        label = getattr(args, "label_column_name", None)
        classes = list(getattr(stream.features.get(label), "names", []) or []) if label and stream.features else None
    stream = stream.cast_column(column, Video(decode=False) if media == VIDEO_MEMBERS else Image(decode=False))
    return stream, column, label, classes or None


@contextlib.contextmanager
def seeded(*key: int):
    """A numpy Generator drawn from `key` (seed, epoch, sample), with torch's CPU generator forked and seeded from
    it for the duration: torchvision's transforms draw from torch's global generator."""
    rng = np.random.default_rng(list(key))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(int(rng.integers(2**62)))  # the CPU generator fork_rng restores
        yield rng


class StreamTransform:
    """The per-sample transform of a stream: `transform(example, rng)` (made `tolerant`), its randomness drawn from
    (seed, epoch, the sample's key), so a sample's augmentation does not depend on which worker or rank reads it."""

    def __init__(self, transform, seed: int = 0):
        self.transform, self.seed, self.epoch = tolerant(transform), seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, example: dict) -> dict:
        key = hashlib.blake2b(sample_name(example).encode(), digest_size=8).digest()  # (stable across processes)
        with seeded(self.seed, self.epoch, int.from_bytes(key, "big")) as rng:
            return self.transform(example, rng)


def streamed_dataset(stream, transform: StreamTransform):
    """The stream mapped by `transform`: a `datasets` IterableDataset still, which Accelerate shards by rank and
    `datasets` by DataLoader worker, and whose shard order `datasets` reshuffles at each epoch (`set_epoch`).
    No sample buffer on top (`IterableDataset.shuffle`): in datasets 5.2 its state does not restore with several
    DataLoader workers, and a resumed run would lose the buffer; `make_shards.py` shuffles the samples when it writes
    the shards instead, as WebDataset corpora are written."""
    return stream.map(transform, remove_columns=list(stream.column_names or []))


class DataLoaderState(TrainerCallback):
    """A stream's position saved with each checkpoint (`dataloader_state.pt`, the StatefulDataLoader's state) and
    restored when training resumes from one, so the epoch goes on where it stopped instead of being replayed."""

    NAME = "dataloader_state.pt"

    def __init__(self):
        self.resume_from: str | None = None

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        path = Path(self.resume_from or "", self.rank_name(args.process_index))
        if self.resume_from and path.is_file():
            train_dataloader.load_state_dict(torch.load(path, weights_only=True))

    def on_save(self, args, state, control, train_dataloader=None, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if train_dataloader is not None and hasattr(train_dataloader, "state_dict") and folder.is_dir():
            temporary = folder / f".{self.rank_name(args.process_index)}.tmp"
            torch.save(train_dataloader.state_dict(), temporary)
            os.replace(temporary, folder / self.rank_name(args.process_index))  # in one step

    @classmethod
    def rank_name(cls, rank: int) -> str:
        return cls.NAME if rank == 0 else f"{cls.NAME}.{rank}"


def stream_splits(args, media: tuple[str, ...], train_example, eval_example, seed: int, do_eval: bool):
    """`(train set, eval set or None, classes, epoch listeners)` of the streamed input: `train_example(sample, rng)`
    and `eval_example` get `{"media": the undecoded image or video, "label": its class index or None}`."""
    train, column, label, classes = open_stream(args, "train", media)
    if getattr(args, "max_train_samples", None):
        train = train.take(args.max_train_samples)

    def adapted(function, column: str, label: str | None):
        def read(example, rng):
            return function({"media": example[column], "label": example.get(label) if label else None}, rng)

        return read

    transform = StreamTransform(adapted(train_example, column, label), seed)
    train_set = streamed_dataset(train, transform)
    eval_set = None
    if do_eval and (args.validation_shards or (args.streaming and not args.train_shards)):
        stream, column, label, _ = open_stream(args, "validation", media)
        evaluate = StreamTransform(adapted(eval_example, column, label), seed)
        eval_set = streamed_dataset(stream, evaluate)
    return train_set, eval_set, classes, [transform]


def open_image(value):
    """An RGB PIL image from an undecoded `{"bytes", "path"}` value (or a path)."""
    import io

    from PIL import Image

    if isinstance(value, dict):
        value = io.BytesIO(value["bytes"]) if value.get("bytes") else value["path"]
    with Image.open(value) as image:
        return image.convert("RGB")
