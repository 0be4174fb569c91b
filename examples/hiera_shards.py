# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The WebDataset shards `make_shards.py` writes, as the training and batch-inference scripts read them: the shard
names, the class names beside them, a sample's label."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

MASK_MEMBER = "mask.png"  # make_shards.py --segmentation: <key>.<ext> image, <key>.mask.png class ids


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


def shard_label(sample: dict, classes: list[str] | None) -> int | None:
    """A sample's class index from its `.cls` (an integer, raw or decoded) or its `.json` member's "label" (an
    index, or a name in the shards' classes.json); None when it has neither."""
    if sample.get("cls") is not None:
        value = sample["cls"]
        return int(value.decode() if isinstance(value, bytes) else value)
    meta = sample.get("json")
    meta = json.loads(meta) if isinstance(meta, (bytes, str)) else meta
    label = meta.get("label") if isinstance(meta, dict) else None
    if label is None or isinstance(label, int):
        return label
    if isinstance(label, str) and classes and label in classes:
        return classes.index(label)
    raise ValueError(
        f"Label {label!r} of a .json member: expected a class index or a name in classes.json "
        f"({'which has ' + str(len(classes)) + ' names' if classes else 'not beside the shards'})."
    )
