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
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from hiera_shards import MASK_MEMBER, expand_shards, shard_classes, shard_label
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


class ColumnRows(torch.utils.data.Dataset):
    """A `datasets` dataset's `columns` as a tuple per row, one row read at a time (never a whole column in
    memory)."""

    def __init__(self, dataset, columns: tuple[str, ...]):
        self.dataset, self.columns = dataset, columns

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple:
        row = self.dataset[index]
        return tuple(row[column] for column in self.columns)


def segmentation_pairs(directory: str | None, role: str, extensions: tuple[str, ...]) -> list[tuple[Path, Path]]:
    """(image, mask) path pairs of `<directory>/images/*` and `<directory>/masks/<stem>.png`, listed (a pair that
    cannot be read is found, named and left out when a worker reads it); every image must have its mask."""
    if directory is None or not Path(directory, "images").is_dir() or not Path(directory, "masks").is_dir():
        raise ValueError(f"--{role} {directory!r} must be a folder with images/ and masks/ sub-folders.")
    images = sorted(p for p in Path(directory, "images").iterdir() if p.suffix.lower() in extensions)
    if not images:
        raise ValueError(f"No images ({', '.join(extensions)}) in {Path(directory, 'images')}.")
    missing = [p.name for p in images if not Path(directory, "masks", p.stem + ".png").is_file()]
    if missing:
        raise ValueError(f"{len(missing)} image(s) in {directory} have no masks/<name>.png: {missing[:5]}.")
    return [(p, Path(directory, "masks", p.stem + ".png")) for p in images]


def read_labels(labels_file: str | None, folders: list) -> dict[int, str]:
    """Segmentation label names, `{"0": "background", ...}`: `labels_file`, else `labels.json` in the first of
    `folders` that has one (the data folder, its parent, the shards' folder)."""
    candidates = [Path(labels_file)] if labels_file else [Path(folder, "labels.json") for folder in folders]
    for path in candidates:
        if path.is_file():
            return {int(index): name for index, name in json.loads(path.read_text()).items()}
    where = " or ".join(str(path.parent) for path in candidates) or "the data folder"
    raise ValueError(f"No label names: pass --labels_file or put labels.json in {where}.")


# ---- streams ----------------------------------------------------------------------------------------------------


def open_stream(args, split: str, media: tuple[str, ...], masks: bool = False):
    """`(stream, media column, target column, classes)` of a split: the `--train_shards`/`--validation_shards`
    (columns by member extension; the target a `.cls`, else a `.json` member's "label", or with `masks` the
    `.mask.png`) or the `--streaming` `datasets` dataset (`--label_column_name`). Media and masks stay undecoded
    (the DataLoader workers decode them, one sample at a time)."""
    from datasets import Image, Video, load_dataset

    pattern = args.train_shards if split == "train" else args.validation_shards
    if pattern:
        paths = expand_shards(pattern)
        if split == "train":  # the first epoch's shard order too (datasets reshuffles it from the second)
            paths = [paths[i] for i in np.random.default_rng(getattr(args, "seed", 0)).permutation(len(paths))]
        stream = load_dataset("webdataset", data_files={split: paths}, split=split, streaming=True)
        column = next((name for name in media if name in stream.features), None)
        targets = (MASK_MEMBER,) if masks else ("cls", "json")
        target = next((name for name in targets if name in stream.features), None)
        if column is None or (masks and target is None):
            wanted = "/".join(media) + (f" and a {MASK_MEMBER}" if masks else "")
            raise ValueError(
                f"The shards {pattern!r} need a {wanted} member per sample (members: {list(stream.features)})."
            )
        classes = shard_classes(paths)
    else:
        stream = load_dataset(
            args.dataset_name, getattr(args, "dataset_config_name", None), split=split, streaming=True
        )
        column = args.video_column_name if media == VIDEO_MEMBERS else args.image_column_name
        target = getattr(args, "label_column_name", None)
        classes = list(getattr(stream.features.get(target), "names", []) or []) if target and stream.features else None
    stream = stream.cast_column(column, Video(decode=False) if media == VIDEO_MEMBERS else Image(decode=False))
    if masks:
        stream = stream.cast_column(target, Image(decode=False))
    return stream, column, target, classes or None


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
        # (a shard member by shard file and key: the same augmentation wherever the shards are copied)
        name = f"{os.path.basename(example['__url__'])}#{example['__key__']}" if "__url__" in example else None
        key = hashlib.blake2b((name or sample_name(example)).encode(), digest_size=8).digest()  # (across processes)
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
    """A stream's position saved with each checkpoint (`dataloader_state.pt`: the StatefulDataLoader's state and
    the stream's epoch, which `datasets` needs to match to resume) and restored when training resumes from one, so
    the epoch goes on where it stopped instead of being replayed."""

    NAME = "dataloader_state.pt"

    def __init__(self, epochs):
        self.epochs = epochs  # hiera_examples.EpochToDatasets: its stream_epoch
        self.resume_from: str | None = None

    def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
        path = Path(self.resume_from or "", self.rank_name(args.process_index))
        if self.resume_from and path.is_file():
            saved = torch.load(path, weights_only=True)
            train_dataloader.load_state_dict(saved["dataloader"])
            self.epochs.stream_epoch = saved["epoch"] - 1  # (the next epoch to begin is the saved one)

    def on_save(self, args, state, control, train_dataloader=None, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if train_dataloader is not None and hasattr(train_dataloader, "state_dict") and folder.is_dir():
            temporary = folder / f".{self.rank_name(args.process_index)}.tmp"
            torch.save({"dataloader": train_dataloader.state_dict(), "epoch": self.epochs.stream_epoch}, temporary)
            os.replace(temporary, folder / self.rank_name(args.process_index))  # in one step

    @classmethod
    def rank_name(cls, rank: int) -> str:
        return cls.NAME if rank == 0 else f"{cls.NAME}.{rank}"


def stream_classes(args, media: tuple[str, ...]) -> list[str] | None:
    """The class names of a labelled stream (the shards' classes.json, or the dataset's ClassLabel; None: the
    model's labels); refuses shards whose samples have no label."""
    stream, _, target, classes = open_stream(args, "train", media)
    if args.train_shards and target is None:
        raise ValueError(
            f"The shards {args.train_shards!r} have no .cls or .json member, so no labels (members: "
            f"{list(stream.features)}); make them with examples/make_shards.py from a <dir>/<class>/ folder."
        )
    return classes


def stream_splits(args, media: tuple[str, ...], train_example, eval_example, seed: int, do_eval: bool,
                  target: str | None = "class"):  # fmt: skip
    """`(train set, eval set or None, classes, epoch listeners)` of the streamed input: `train_example(sample, rng)`
    and `eval_example` get `{"media": the undecoded image or video, "label": ...}`, the label as `target` says:
    "class" its class index, "mask" the undecoded mask, None nothing."""
    masks = target == "mask"
    train, column, member, classes = open_stream(args, "train", media, masks)
    if getattr(args, "max_train_samples", None):
        train = train.take(args.max_train_samples)

    def adapted(function, column: str, member: str | None):
        def read(example, rng):
            label = example.get(member) if member and target else None
            if target == "class" and member is not None:
                label = shard_label({member: label}, classes) if args.train_shards else label
                if label is None:
                    raise ValueError(f"no label (its .{member} member has none)")
            return function({"media": example[column], "label": label}, rng)

        return read

    transform = StreamTransform(adapted(train_example, column, member), seed)
    train_set = streamed_dataset(train, transform)
    eval_set = None
    if do_eval and (args.validation_shards or (args.streaming and not args.train_shards)):
        stream, column, member, _ = open_stream(args, "validation", media, masks)
        evaluate = StreamTransform(adapted(eval_example, column, member), seed)
        eval_set = streamed_dataset(stream, evaluate)
    return train_set, eval_set, classes, [transform]


def open_image(value, mode: str | None = "RGB"):
    """A PIL image from an undecoded `{"bytes", "path"}` value (or a path), converted to `mode` (None: as stored,
    e.g. a mask's class ids)."""
    import io

    from PIL import Image

    if isinstance(value, dict):
        value = io.BytesIO(value["bytes"]) if value.get("bytes") else value["path"]
    with Image.open(value) as image:
        return image.convert(mode) if mode else image.copy()
