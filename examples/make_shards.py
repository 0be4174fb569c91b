# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Write an image or video folder, or a `datasets` dataset, as WebDataset shards the training, evaluation and
feature-extraction scripts read.

    python examples/make_shards.py --data_dir imagenet/train --output_dir shards/train --shard_size 1000
    python examples/make_shards.py --dataset_name my/videos --split train --video_column video --output_dir shards/k
    python examples/make_shards.py --segmentation --data_dir ade/train --output_dir shards/ade --shard_size 500
    python examples/run_image_classification.py ... --train_shards 'shards/train/train-{000000..000127}.tar'

Each sample is `<key>.<ext>` (the file's own bytes, not re-encoded: `.png`, `.jpg`, `.mp4`...), `<key>.cls` (the
class index) and `<key>.json` (`{"label": name, "source": where it came from}`); `classes.json` beside the shards
lists the class names in index order, and `shards.json` the shards and their sample counts. With `--segmentation`
(a folder of `images/` and `masks/<name>.png`, or a dataset with a mask column) a sample is the image, its mask as
`<key>.mask.png` and `<key>.json` (`{"source", "mask"}`), and `labels.json` (`{"0": "background", ...}`) is beside
the shards. Samples are shuffled
(`--seed`) before they are cut into shards of `--shard_size`, so that every shard holds every class. Nothing is
decoded; the folder is written completely or not at all.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
from pathlib import Path

from hiera_shards import MASK_MEMBER
from hiera_training_data import ColumnRows, read_labels, segmentation_pairs
from tqdm.auto import tqdm

from hiera_hf.atomic import atomic_folder
from hiera_hf.image_processing_hiera import IMAGE_EXTENSIONS
from hiera_hf.video_processing_hiera import VIDEO_EXTENSIONS


def folder_samples(data_dir: str, extensions: tuple[str, ...]) -> tuple[list[tuple[str, int]], list[str]]:
    """`(path, class index)` of `<dir>/<class>/<file>`, listed (not read), and the sorted classes."""
    if not os.path.isdir(data_dir):
        raise ValueError(f"--data_dir {data_dir!r} is not a directory (expected <dir>/<class>/<file>).")
    classes = sorted(d for d in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, d)))
    samples = [(os.path.join(data_dir, name, file), index) for index, name in enumerate(classes)
               for file in sorted(os.listdir(os.path.join(data_dir, name))) if file.lower().endswith(extensions)]  # fmt: skip
    if not samples:
        raise ValueError(f"No files ({', '.join(extensions)}) under {data_dir!r}/<class>/.")
    return samples, classes


def dataset_samples(name: str, config: str | None, split: str, column: str, label_column: str, masks: bool = False):
    """A `datasets` dataset's rows, undecoded, as `((bytes or path, extension), class index or mask)`, and its
    classes (None for masks)."""
    from datasets import Image, Video, load_dataset, load_from_disk

    dataset = load_from_disk(name) if os.path.isdir(name) else load_dataset(name, config)
    dataset = dataset[split] if split in getattr(dataset, "keys", lambda: [])() else dataset
    if column not in dataset.column_names or label_column not in dataset.column_names:
        raise ValueError(f"{name!r} needs columns {column!r} and {label_column!r} (it has {dataset.column_names}).")
    feature = dataset.features[column]
    dataset = dataset.cast_column(column, Video(decode=False) if isinstance(feature, Video) else Image(decode=False))
    if masks:
        return ColumnRows(dataset.cast_column(label_column, Image(decode=False)), (column, label_column)), None
    classes = list(getattr(dataset.features[label_column], "names", []) or [])
    if not classes:
        raise ValueError(f"The label column {label_column!r} is not a ClassLabel: {dataset.features[label_column]}.")
    return ColumnRows(dataset, (column, label_column)), classes


def media(value) -> tuple[bytes, str, str]:
    """`(bytes, extension, source)` of a path or a `{"bytes", "path"}` value, without decoding."""
    if isinstance(value, dict):
        path = value.get("path") or ""
        if value.get("bytes"):
            return value["bytes"], _extension(path, value["bytes"]), path or "bytes"
        value = path
    with open(value, "rb") as file:
        return file.read(), _extension(value, b""), str(value)


def _extension(path: str, content: bytes) -> str:
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix:
        return "jpg" if suffix in ("jpeg", "jpe") else suffix
    from PIL import Image

    with Image.open(io.BytesIO(content)) as image:  # (only the header: the format)
        return {"JPEG": "jpg"}.get(image.format, (image.format or "bin").lower())


def class_members(value, label: int, classes: list[str]) -> dict:
    """A classification sample's members: the file's bytes, `.cls` and `.json`."""
    content, extension, source = media(value)
    return {extension: content, "cls": str(label), "json": json.dumps({"label": classes[label], "source": source})}


def mask_members(value, mask, classes=None) -> dict:
    """A segmentation sample's members: the image's bytes, its mask's as `.mask.png`, and `.json`."""
    content, extension, source = media(value)
    mask_content, mask_extension, mask_source = media(mask)
    if mask_extension != "png":
        raise ValueError(f"Masks must be PNG (lossless class ids), got {mask_extension!r} for {mask_source}.")
    return {extension: content, MASK_MEMBER: mask_content, "json": json.dumps({"source": source, "mask": mask_source})}


def write_shards(samples, classes, output_dir: str, shard_size: int, prefix: str, seed: int,
                 overwrite: bool = False, members=class_members, names_file: str = "classes.json") -> dict:  # fmt: skip
    """Shuffle `samples` (`(path or value, class index or mask)`) and write them as shards of `shard_size`
    samples (`members(value, target, classes)` each), `classes` as `names_file` beside them."""
    import webdataset as wds

    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    counts = []
    with atomic_folder(output_dir, overwrite=overwrite) as staging:
        with wds.ShardWriter(str(staging / f"{prefix}-%06d.tar"), maxcount=shard_size, verbose=0) as sink:
            for key, index in enumerate(tqdm(order, desc="writing shards", unit="sample")):
                value, target = samples[index]
                sink.write({"__key__": f"{key:09d}", **members(value, target, classes)})
                if key % shard_size == 0:
                    counts.append(0)
                counts[-1] += 1
        shards = sorted(path.name for path in staging.glob(f"{prefix}-*.tar"))
        (staging / names_file).write_text(json.dumps(classes, indent=2) + "\n")
        manifest = {
            "shards": dict(zip(shards, counts)),
            "samples": len(samples),
            "pattern": brace_pattern(prefix, len(shards)),
        }
        (staging / "shards.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def brace_pattern(prefix: str, count: int) -> str:
    """The shards' names in WebDataset's brace notation, `train-{000000..000127}.tar`."""
    return f"{prefix}-{{000000..{count - 1:06d}}}.tar"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", help="<dir>/<class>/<image or video>")
    parser.add_argument("--dataset_name", help="a datasets id or save_to_disk folder")
    parser.add_argument("--dataset_config_name")
    parser.add_argument("--split", default="train")
    parser.add_argument("--column", default="image", help="the image or video column of the dataset")
    parser.add_argument("--label_column", default="label")
    parser.add_argument("--videos", action="store_true", help="a folder of videos (default: images)")
    parser.add_argument(
        "--segmentation",
        action="store_true",
        help="images with masks: <dir>/images, <dir>/masks/<name>.png (or --label_column, a mask)",
    )
    parser.add_argument(
        "--labels_file", help="segmentation label names (default: labels.json in --data_dir or its parent)"
    )
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--shard_size", type=int, default=1000, help="samples per shard")
    parser.add_argument("--prefix", default=None, help="shard name prefix (default: the split)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    if (args.data_dir is None) == (args.dataset_name is None):
        parser.error("give exactly one of --data_dir and --dataset_name")
    if args.shard_size < 1:
        parser.error(f"--shard_size must be at least 1, got {args.shard_size}")
    if args.segmentation and args.data_dir:
        samples = segmentation_pairs(args.data_dir, "data_dir", IMAGE_EXTENSIONS)
    elif args.data_dir:
        samples, classes = folder_samples(args.data_dir, VIDEO_EXTENSIONS if args.videos else IMAGE_EXTENSIONS)
    else:
        samples, classes = dataset_samples(args.dataset_name, args.dataset_config_name, args.split, args.column,
                                           args.label_column, args.segmentation)  # fmt: skip
    layout = {}
    if args.segmentation:
        folders = [args.data_dir, Path(args.data_dir).parent] if args.data_dir else []
        classes = {str(index): name for index, name in read_labels(args.labels_file, folders).items()}
        layout = {"members": mask_members, "names_file": "labels.json"}
    manifest = write_shards(samples, classes, args.output_dir, args.shard_size, args.prefix or args.split, args.seed,
                            args.overwrite, **layout)  # fmt: skip
    print(
        f"{manifest['samples']} samples in {len(manifest['shards'])} shards: {args.output_dir}/{manifest['pattern']}"
    )
    return manifest


if __name__ == "__main__":
    main()
