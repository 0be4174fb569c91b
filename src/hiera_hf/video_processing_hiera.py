# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Video processor for Hiera: PyAV decoding, the official Kinetics evaluation transform, multi-view testing.

Defaults (official Kinetics-400 evaluation): a clip of `num_frames=16` frames taken every `frame_sampling_rate=4`th
frame (a 64-frame window) from the middle of the video; the shorter side resized to 224 (bilinear, as the official
SlowFast-style loader interpolates float tensors without antialiasing, the longer side floored), center crop 224x224, scaled to [0, 1], normalised with mean 0.45 and
std 0.225 per channel. Output: `pixel_values` `(batch * views, frames, channels, height, width)`.

Multi-view testing as in the paper (5 clips x 3 crops): `num_clips` windows spread uniformly over the video and
`num_crops` crops along the longer side (3: start, center, end). Views of one video are consecutive; average them:
`logits.view(batch, num_clips * num_crops, -1).mean(1)`.

Short videos: frame indices past the end repeat the last frame (so a 10-frame video still gives 16 frames).
"""

from __future__ import annotations

import io
import os

import numpy as np
import torch
from PIL import Image
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_utils import PILImageResampling, SizeDict
from transformers.processing_utils import VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor

from .configuration_hiera import HieraProcessorMixin


class HieraVideoProcessorKwargs(VideosKwargs, total=False):
    frame_sampling_rate: int
    num_clips: int
    num_crops: int


VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")  # what folder scans take for videos


def _source_name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or f"<{type(source).__name__}>"


def read_video(source) -> np.ndarray:
    """Decode every frame of a video file (path or binary file object) with PyAV: `(frames, H, W, 3)` uint8.

    An unreadable, truncated, empty or non-video file raises `ValueError` naming the file.
    """
    import av  # optional dependency: pip install av

    name = _source_name(source)
    try:
        with av.open(source) as container:
            if not container.streams.video:
                raise ValueError(f"{name!r} has no video stream.")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    except av.FFmpegError as error:
        raise ValueError(f"Could not decode video {name!r}: {error}") from error
    if not frames:
        raise ValueError(f"Video {name!r} contains no frames.")
    return np.stack(frames)


def clip_indices(num_video_frames: int, num_frames: int, rate: int, clip: int = 0, num_clips: int = 1) -> np.ndarray:
    """Indices of `num_frames` frames `rate` apart, for clip `clip` of `num_clips` spread uniformly over the video.

    One clip is centered; several are placed at evenly spaced offsets (first at the start, last at the end).
    Indices past the end are clamped to the last frame.
    """
    window = (num_frames - 1) * rate + 1
    slack = max(num_video_frames - window, 0)
    start = slack // 2 if num_clips == 1 else round(slack * clip / (num_clips - 1))
    return np.minimum(start + rate * np.arange(num_frames), num_video_frames - 1)


def _to_frames(video) -> torch.Tensor:
    """One video in any accepted form -> `(frames, 3, H, W)` uint8 tensor."""
    if isinstance(video, (str, os.PathLike, io.IOBase)) or hasattr(video, "read"):
        array = read_video(video)
    elif isinstance(video, (list, tuple)) and video and all(isinstance(f, Image.Image) for f in video):
        array = np.stack([np.asarray(frame.convert("RGB")) for frame in video])
    elif isinstance(video, (np.ndarray, torch.Tensor)):
        array = video
    else:
        raise TypeError(
            f"Unsupported video input {type(video).__name__}: expected a path or file object, a list of PIL "
            "frames, or a (frames, height, width, channels) uint8 array or tensor."
        )
    frames = torch.as_tensor(np.asarray(array) if not isinstance(array, torch.Tensor) else array)
    if frames.ndim != 4 or (frames.shape[-1] != 3 and frames.shape[1] != 3):
        raise ValueError(
            "Expected a video of shape (frames, height, width, 3) or (frames, 3, height, width), got shape "
            f"{tuple(frames.shape)}."
        )
    if frames.shape[0] == 0:
        raise ValueError("The video has no frames.")
    if frames.shape[-1] == 3 and frames.shape[1] != 3:
        frames = frames.permute(0, 3, 1, 2)
    if frames.is_floating_point():  # floats are taken to be in [0, 1]
        frames = (frames * 255).round().clamp(0, 255).to(torch.uint8)
    return frames.contiguous()


def _as_batch(videos) -> list:
    """A single video or a batch of them -> a list of single videos."""
    if isinstance(videos, (np.ndarray, torch.Tensor)):
        return list(videos) if videos.ndim == 5 else [videos]
    if isinstance(videos, (list, tuple)):
        if videos and all(isinstance(v, Image.Image) for v in videos):
            return [videos]  # one video as a list of frames
        return list(videos)
    return [videos]


class HieraVideoProcessor(HieraProcessorMixin, BaseVideoProcessor):
    """Decode (PyAV), sample a strided clip, resize the shorter side, crop, normalise (see the module docstring)."""

    _config_file, _for_video = "video_preprocessor_config.json", True
    valid_kwargs = HieraVideoProcessorKwargs
    resample = PILImageResampling.BILINEAR
    image_mean = (0.45, 0.45, 0.45)
    image_std = (0.225, 0.225, 0.225)
    size = {"shortest_edge": 224}
    do_sample_frames = True
    num_frames = 16
    frame_sampling_rate = 4
    num_clips = 1
    num_crops = 1

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # `_set_attributes` keeps only `valid_kwargs`; ours are plain ints, set them explicitly.
        for name in ("frame_sampling_rate", "num_clips", "num_crops"):
            if kwargs.get(name) is not None:
                setattr(self, name, kwargs[name])

    def fetch_videos(self, video_url_or_urls, sample_indices_fn=None):
        """Decode with PyAV (Transformers' default route needs torchcodec)."""
        if isinstance(video_url_or_urls, list):
            return [self.fetch_videos(v, sample_indices_fn) for v in video_url_or_urls]
        return read_video(video_url_or_urls)

    @staticmethod
    def _resize_shorter_side(clip: torch.Tensor, shorter: int, resample) -> torch.Tensor:
        """`(T, C, H, W)` float -> shorter side `shorter`, interpolated without antialiasing (bilinear by default),
        the longer side floored (as the official SlowFast-style video loader does)."""
        height, width = clip.shape[-2:]
        if height <= width:
            size = (shorter, int(width * shorter / height))
        else:
            size = (int(height * shorter / width), shorter)
        if size == (height, width):
            return clip
        modes = {PILImageResampling.NEAREST: "nearest", PILImageResampling.BICUBIC: "bicubic"}
        mode = modes.get(PILImageResampling(resample), "bilinear")
        corners = None if mode == "nearest" else False
        return torch.nn.functional.interpolate(clip, size=size, mode=mode, align_corners=corners)

    def _crops(self, clip: torch.Tensor, crop: SizeDict, num_crops: int) -> list[torch.Tensor]:
        """`num_crops` crops of `(T, C, H, W)`: 1 = center; more = evenly spaced along the longer side."""
        height, width = clip.shape[-2:]
        if height < crop.height or width < crop.width:
            raise ValueError(f"Frames of {height}x{width} are smaller than the crop {crop.height}x{crop.width}.")
        top, left = (height - crop.height) // 2, (width - crop.width) // 2
        if num_crops == 1:
            return [clip[..., top : top + crop.height, left : left + crop.width]]
        crops = []
        for index in range(num_crops):
            if width >= height:
                left = round((width - crop.width) * index / (num_crops - 1))
            else:
                top = round((height - crop.height) * index / (num_crops - 1))
            crops.append(clip[..., top : top + crop.height, left : left + crop.width])
        return crops

    def preprocess(self, videos, **kwargs) -> BatchFeature:
        """Videos -> `BatchFeature(pixel_values=(batch * num_clips * num_crops, frames, 3, H, W))`."""
        return_tensors = kwargs.pop("return_tensors", None)
        unknown = set(kwargs) - set(self.valid_kwargs.__annotations__)
        if unknown:
            raise TypeError(f"Unknown video processor arguments: {sorted(unknown)}")
        options = {name: kwargs.get(name, getattr(self, name, None)) for name in self.valid_kwargs.__annotations__}
        sizes = self._standardize_kwargs(size=options["size"], crop_size=options["crop_size"])
        options["size"], options["crop_size"] = sizes["size"], sizes["crop_size"]
        options["image_mean"], options["image_std"] = tuple(options["image_mean"]), tuple(options["image_std"])

        views = []
        for video in _as_batch(videos):
            frames = _to_frames(video)
            if options["do_sample_frames"]:
                num_frames, rate = options["num_frames"], options["frame_sampling_rate"]
                clips = [
                    frames[clip_indices(len(frames), num_frames, rate, clip, options["num_clips"])]
                    for clip in range(options["num_clips"])
                ]
            else:
                clips = [frames]
            for clip in clips:
                clip = clip.float()
                if options["do_rescale"]:
                    clip = clip * options["rescale_factor"]
                if options["do_resize"]:
                    clip = self._resize_shorter_side(clip, options["size"].shortest_edge, options["resample"])
                if options["do_normalize"]:
                    mean = torch.tensor(options["image_mean"]).view(1, 3, 1, 1)
                    std = torch.tensor(options["image_std"]).view(1, 3, 1, 1)
                    clip = (clip - mean) / std
                crops = (
                    self._crops(clip, options["crop_size"], options["num_crops"])
                    if options["do_center_crop"]
                    else [clip]
                )
                views += crops
        if len({tuple(view.shape) for view in views}) > 1:
            raise ValueError(
                "Videos of a batch ended up with different shapes "
                f"{sorted({tuple(v.shape) for v in views})}: enable do_sample_frames and do_center_crop."
            )
        return BatchFeature(data={"pixel_values": torch.stack(views)}, tensor_type=return_tensors)


__all__ = ["VIDEO_EXTENSIONS", "HieraVideoProcessor", "clip_indices", "read_video"]
