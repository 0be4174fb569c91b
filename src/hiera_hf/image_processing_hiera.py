# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Image processors for Hiera: the official evaluation transform, with a torchvision and a PIL backend.

Defaults: resize the shorter side to 256 (bicubic; `int(256 / 224 * crop)`), center-crop 224, scale to [0, 1],
normalise with the ImageNet mean and std. `HieraImageProcessorPil` reproduces `torchvision.transforms`
`Resize(256, BICUBIC) -> CenterCrop(224) -> ToTensor -> Normalize` on PIL input exactly (PIL resampling);
`HieraImageProcessor` resizes tensors with torchvision (faster, batched, GPU-capable) and differs from it by
interpolation rounding (see README).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageOps
from transformers.image_processing_backends import PilBackend, TorchvisionBackend
from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, PILImageResampling

from .processing_common import HieraProcessorMixin

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".jpe", ".tif", ".tiff")  # what folder scans take


def to_rgb_image(image):
    """Bring one input image to a form both backends take unchanged: an RGB PIL image or a uint8/float array.

    PIL images: EXIF orientation applied; grayscale, palette, CMYK, RGBA (alpha dropped) and 16/32-bit integer
    images become 8-bit RGB. Arrays and tensors: `(H, W)`, `(H, W, C)` or `(C, H, W)` with C in {1, 3, 4};
    floats are taken to be in [0, 1] and scaled to [0, 255] so that every input is rescaled the same way.
    """
    if isinstance(image, Image.Image):
        image = ImageOps.exif_transpose(image)
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
            bits = 16 if image.mode.startswith("I;16") else 32
            array = np.asarray(image, dtype=np.float64) / (2**bits - 1) * 255.0
            image = Image.fromarray(np.clip(np.round(array), 0, 255).astype(np.uint8), mode="L")
        return image.convert("RGB")
    if isinstance(image, torch.Tensor):
        array_like, shape = image, tuple(image.shape)
        is_float = image.is_floating_point()
    elif isinstance(image, np.ndarray):
        array_like, shape = image, image.shape
        is_float = np.issubdtype(image.dtype, np.floating)
    else:
        raise TypeError(
            f"Unsupported image type {type(image).__name__}: expected a PIL image, a numpy array or a torch tensor."
        )
    channel_counts = (1, 3, 4)
    if not (len(shape) == 2 or (len(shape) == 3 and (shape[0] in channel_counts or shape[-1] in channel_counts))):
        raise ValueError(
            f"Expected an image of shape (H, W), (H, W, C) or (C, H, W) with C in {channel_counts}, got shape {shape}."
        )
    return array_like * 255.0 if is_float else array_like


class _HieraImageDefaults(HieraProcessorMixin):
    """Defaults and the input step shared by both backends (class attributes win over the backends' in the MRO)."""

    _for_video = False
    resample = PILImageResampling.BICUBIC
    image_mean = IMAGENET_DEFAULT_MEAN
    image_std = IMAGENET_DEFAULT_STD
    size = {"shortest_edge": 256}

    def _prepare_images_structure(self, images, expected_ndims: int = 3):
        # Transformers' flattening takes 3-D arrays only: a (H, W) grayscale one gets its channel axis here
        # (`to_rgb_image` then makes it RGB, as it does grayscale PIL images).
        def with_channel(image):
            return image[..., None] if isinstance(image, (np.ndarray, torch.Tensor)) and image.ndim == 2 else image

        images = (
            [with_channel(image) for image in images] if isinstance(images, (list, tuple)) else with_channel(images)
        )
        return super()._prepare_images_structure(images, expected_ndims=expected_ndims)

    def process_image(self, image, *args, **kwargs):
        return super().process_image(to_rgb_image(image), *args, **kwargs)

    def post_process_semantic_segmentation(self, outputs, target_sizes=None) -> list[torch.Tensor]:
        """Class ids per pixel from a semantic-segmentation model's `logits` `(batch, num_labels, h, w)`: one
        `(height, width)` tensor per image, the logits resized bilinearly to `target_sizes[i]` when given (what
        `pipeline("image-segmentation")` asks for: the original image sizes)."""
        logits = outputs.logits
        if target_sizes is None:
            return list(logits.argmax(dim=1))
        if len(target_sizes) != len(logits):
            raise ValueError(f"Got {len(target_sizes)} target sizes for a batch of {len(logits)} images.")
        resized = []
        for image_logits, size in zip(logits, target_sizes):
            size = tuple(int(s) for s in size)
            resized.append(torch.nn.functional.interpolate(image_logits[None], size=size, mode="bilinear")[0])
        return [image_logits.argmax(dim=0) for image_logits in resized]


class HieraImageProcessor(_HieraImageDefaults, TorchvisionBackend):
    """Torchvision backend (tensors, batched, works on GPU tensors)."""


class HieraImageProcessorPil(_HieraImageDefaults, PilBackend):
    """PIL/NumPy backend: matches `torchvision.transforms` on PIL images."""


def timm_processor_kwargs(pretrained_cfg: dict) -> dict:
    """Processor arguments for timm's evaluation transform of a model's `pretrained_cfg`: the shorter side resized
    to `floor(size / crop_pct)` with its `interpolation`, a center crop of its `input_size`, its `mean` and `std`.
    Raises `ValueError` for what that transform does and ours does not (other crop modes, non-square inputs)."""
    _, height, width = pretrained_cfg.get("input_size", (3, 224, 224))
    crop_pct = pretrained_cfg.get("crop_pct") or 0.875  # timm's DEFAULT_CROP_PCT
    interpolation = pretrained_cfg.get("interpolation", "bicubic")
    resampling = {
        "bicubic": PILImageResampling.BICUBIC,
        "bilinear": PILImageResampling.BILINEAR,
        "nearest": PILImageResampling.NEAREST,
        "lanczos": PILImageResampling.LANCZOS,
    }
    problems = []
    if pretrained_cfg.get("crop_mode", "center") != "center":
        problems.append(f"crop_mode {pretrained_cfg['crop_mode']!r} (only 'center')")
    if height != width:
        problems.append(f"a non-square input_size {height}x{width}")
    if interpolation not in resampling:
        problems.append(f"interpolation {interpolation!r} (one of {', '.join(resampling)})")
    if problems:
        raise ValueError(
            f"timm's pretrained_cfg asks for {' and '.join(problems)}: HieraImageProcessor has no such transform."
        )
    return {
        "size": {"shortest_edge": math.floor(height / crop_pct)},
        "crop_size": {"height": height, "width": width},
        "resample": resampling[interpolation],
        "image_mean": list(pretrained_cfg.get("mean", IMAGENET_DEFAULT_MEAN)),
        "image_std": list(pretrained_cfg.get("std", IMAGENET_DEFAULT_STD)),
    }


HieraImageProcessor.register_for_auto_class()  # Transformers then copies this file (and its imports) when saving
HieraImageProcessorPil.register_for_auto_class()


__all__ = [
    "IMAGE_EXTENSIONS",
    "HieraImageProcessor",
    "HieraImageProcessorPil",
    "timm_processor_kwargs",
    "to_rgb_image",
]
