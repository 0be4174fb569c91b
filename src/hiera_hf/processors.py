# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The processor that fits a model: its folder's own, one from timm's `pretrained_cfg`, or the official
evaluation transform sized for its config."""

from __future__ import annotations

import json

from .checkpoint_layouts import layout_of
from .configuration_hiera import PRESETS
from .image_processing_hiera import HieraImageProcessor, timm_processor_kwargs
from .video_processing_hiera import HieraVideoProcessor


def processor_sizes(config) -> dict:
    """`size` and `crop_size` of the official evaluation transform for `config`: the crop is the input size, the
    shorter side `int(256 / 224 * crop)` for images and `crop` for videos (of the longer crop side, when the input
    is not square, so that the crop fits in every frame)."""
    height, width = config.image_size
    crop = max(height, width)
    shorter = crop if config.is_video else int(256 / 224 * crop)
    return {"size": {"shortest_edge": shorter}, "crop_size": {"height": height, "width": width}}


def _saved_file(name_or_path, name: str) -> str | None:
    from transformers.utils import cached_file

    try:
        return cached_file(name_or_path, name)
    except OSError:  # (what cached_file raises for a file the folder or repo does not have)
        return None


def processor_for(config, name_or_path: str | None):
    """The processor of the model folder or Hub repo `name_or_path` (a timm one's from its `pretrained_cfg`), or
    the default one sized for `config` (`processor_sizes`)."""
    make = HieraVideoProcessor if config.is_video else HieraImageProcessor
    file = "video_preprocessor_config.json" if config.is_video else "preprocessor_config.json"
    if name_or_path in PRESETS:  # a preset names an architecture, not a folder (even where one has its name)
        name_or_path = None
    if name_or_path and _saved_file(name_or_path, file):
        return make.from_pretrained(name_or_path)
    saved_config = _saved_file(name_or_path, "config.json") if name_or_path else None
    if saved_config:
        with open(saved_config, encoding="utf-8") as handle:
            config_dict = json.load(handle)
        if layout_of(config_dict) == "timm":
            return HieraImageProcessor(**timm_processor_kwargs(config_dict["pretrained_cfg"]))
    default = processor_sizes(config)
    if config.is_video:
        default["num_frames"] = config.num_frames
    return make(**default)


__all__ = ["processor_for", "processor_sizes"]
