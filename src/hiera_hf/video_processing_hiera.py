# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Video processor for Hiera: `BaseVideoProcessor`'s stages with the official Kinetics evaluation and multi-view
testing, decoding only the frames the clips use.

Defaults (official Kinetics-400 evaluation): a clip of `num_frames=16` frames taken every `frame_sampling_rate=4`th
frame (a 64-frame window) from the middle of the video; the shorter side resized to 224 (bilinear, as the official
SlowFast-style loader interpolates float tensors without antialiasing, the longer side floored), center crop
224x224, scaled to [0, 1], normalised with mean 0.45 and std 0.225 per channel. Output: `pixel_values`
`(batch * views, frames, channels, height, width)`.

Multi-view testing as in the paper (5 clips x 3 crops): `num_clips` windows spread uniformly over the video and
`num_crops` crops along the longer side (3: start, center, end). Views of one video are consecutive; average them:
`logits.view(batch, num_clips * num_crops, -1).mean(1)`. `fps=` samples the clip's frames by time instead (`fps`
frames per second of video, from the container's frame rate).

Decoding (the stages `sample_frames` -> `fetch_videos`): the frame indices of every clip are chosen from the
container's metadata (`transformers.video_utils.VideoMetadata`: frame count, fps, duration) first, and only those
frames are decoded and kept, so memory does not grow with the length of the video. The default backend is PyAV,
which seeks to the keyframe before each window that lies far ahead and decodes the file once for all its views;
`video_backend="torchcodec"` or `"decord"` go through `transformers.video_utils.load_video` when installed.

Short videos: frame indices past the end repeat the last frame (so a 10-frame video still gives 16 frames).
"""

from __future__ import annotations

import io
import os
from functools import partial

import numpy as np
import torch
from PIL import Image
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_utils import PILImageResampling, SizeDict
from transformers.processing_utils import VideosKwargs
from transformers.video_processing_utils import BaseVideoProcessor
from transformers.video_utils import VideoMetadata, load_video

from .checks import is_int, is_number
from .processing_common import HieraProcessorMixin


class HieraVideoProcessorKwargs(VideosKwargs, total=False):
    frame_sampling_rate: int
    num_clips: int
    num_crops: int


VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm")  # what folder scans take for videos
VIDEO_BACKENDS = ("pyav", "torchcodec", "decord")
SEEK_AHEAD = 64  # frames: wanted frames this close are one run, decoded in one go
DEFAULT_GOP = 250  # frames between keyframes until the stream shows its own (libx264's default)


def _source_name(source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return getattr(source, "name", None) or f"<{type(source).__name__}>"


def _is_file_like(video) -> bool:
    return isinstance(video, (str, os.PathLike, io.IOBase)) or hasattr(video, "read")


# ---- PyAV: metadata from the container, only the wanted frames decoded ----------------------------------------------


def _stream_metadata(container, stream) -> VideoMetadata:
    """Frame count, fps and duration from the container; counted by demuxing (no decoding) where it says none."""
    fps = float(stream.average_rate or stream.guessed_rate or 0) or None
    total = stream.frames
    if not total and fps:
        if stream.duration:
            seconds = float(stream.duration * stream.time_base)
        else:
            seconds = container.duration / 1_000_000 if container.duration else 0.0
        total = int(round(seconds * fps))
    if not total:  # e.g. a stream that states neither: count its packets
        total = sum(1 for packet in container.demux(stream) if packet.size)
        container.seek(0, stream=stream)
    return VideoMetadata(
        total_num_frames=int(total),
        fps=fps,
        width=stream.codec_context.width,
        height=stream.codec_context.height,
        duration=total / fps if fps else None,
        video_backend="pyav",
    )


def _runs(indices: list[int]) -> list[list[int]]:
    """Sorted frame indices -> runs decoded in one go (a gap over `SEEK_AHEAD` frames starts a new run)."""
    runs = [[indices[0]]]
    for index in indices[1:]:
        if index - runs[-1][-1] > SEEK_AHEAD:
            runs.append([])
        runs[-1].append(index)
    return runs


class _SeekMissed(Exception):
    """A seek did not land on or before the frame asked for (or frames carry no timestamps)."""


def _decode_seeking(container, stream, wanted: set[int], fps: float) -> dict[int, np.ndarray]:
    """One pass over the runs of `wanted`, keeping (as RGB) the wanted frames; a frame's index comes from its
    timestamp. A run further ahead than a keyframe interval (the longest seen so far; `DEFAULT_GOP` before two are
    seen) is reached by seeking to the keyframe before it, a nearer one by decoding on, so no frame is decoded twice
    in streams with regular keyframes."""
    start, time_base = stream.start_time or 0, stream.time_base
    kept, intervals, position, frames = {}, [], 0, None
    index = frame = keyframe = None  # `keyframe`: the last one seen since the last seek
    for run in _runs(sorted(wanted)):
        first, last = run[0], run[-1]
        if frames is None or first - position > max(intervals, default=DEFAULT_GOP):
            container.seek(start + int(first / fps / time_base), stream=stream, backward=True, any_frame=False)
            frames, landed, keyframe = container.decode(stream), False, None
        else:
            landed = True  # decoding on from `position`
        for frame in frames:
            if frame.pts is None:
                raise _SeekMissed
            index = int(round(float((frame.pts - start) * time_base) * fps))
            if not landed:
                if index > first:  # the seek landed past the run
                    raise _SeekMissed
                landed = True
            if frame.key_frame:  # intervals between keyframes decoded in one stretch (a seek skips some)
                if keyframe is not None and index > keyframe:
                    intervals.append(index - keyframe)
                keyframe = index
            if index in wanted and index not in kept:
                kept[index] = frame.to_ndarray(format="rgb24")
            if index >= last:
                position = index + 1
                break
        else:  # the stream ended before `last`: keep its last frame, which the frames past the end repeat
            if frame is not None and index not in kept:
                kept[index] = frame.to_ndarray(format="rgb24")
            break
    return kept


def _decode_in_order(container, stream, wanted: set[int]) -> dict[int, np.ndarray]:
    """From the start to the last wanted frame, counting frames; only the wanted ones are kept."""
    kept, last, frame, index = {}, max(wanted), None, None
    for index, frame in enumerate(container.decode(stream)):
        if index in wanted:
            kept[index] = frame.to_ndarray(format="rgb24")
        if index >= last:
            break
    else:  # the stream ended before `last` (see `_decode_seeking`)
        if frame is not None and index not in kept:
            kept[index] = frame.to_ndarray(format="rgb24")
    return kept


def _decode_wanted(container, stream, wanted: set[int], fps: float | None) -> dict[int, np.ndarray]:
    """`{index: (H, W, 3) uint8}` for the frames of `wanted` the stream has: by seeking where timestamps allow,
    else (or where a seek misses) decoding in order from the start."""
    if fps and stream.time_base is not None:
        try:
            return _decode_seeking(container, stream, wanted, fps)
        except _SeekMissed:
            container.seek(0, stream=stream)
    return _decode_in_order(container, stream, wanted)


def _open_container(source):
    """A PyAV input container for a path, path-like or binary file object."""
    import av

    return av.open(os.fspath(source) if isinstance(source, os.PathLike) else source)


def decode_video(source, sample_indices_fn=None) -> tuple[np.ndarray, VideoMetadata]:
    """Decode the frames `sample_indices_fn(metadata=...)` picks (default: all) of a video file (path or binary
    file object) with PyAV: `(frames, H, W, 3)` uint8 in the order asked (repeats allowed; indices past the last
    frame repeat it), and the `VideoMetadata` (with `frames_indices`).

    Only the asked frames are kept, and windows far apart are reached by seeking, so memory and time depend on the
    frames asked for, not on the length of the video. An unreadable, truncated, empty or non-video file raises
    `ValueError` naming the file.
    """
    import av  # optional dependency: pip install av

    name = _source_name(source)
    try:
        with _open_container(source) as container:
            if not container.streams.video:
                raise ValueError(f"{name!r} has no video stream.")
            # PyAV's default threading, as load_video's: frame threading decodes slower (benchmarks/README.md).
            stream = container.streams.video[0]
            metadata = _stream_metadata(container, stream)
            if metadata.total_num_frames == 0:
                raise ValueError(f"Video {name!r} contains no frames.")
            if sample_indices_fn is None:
                indices = np.arange(metadata.total_num_frames)
            else:
                indices = np.asarray(sample_indices_fn(metadata=metadata), dtype=np.int64)
            wanted = {min(int(i), metadata.total_num_frames - 1) for i in indices}  # past the end: the last frame
            kept = _decode_wanted(container, stream, wanted, metadata.fps)
    except (av.FFmpegError, UnicodeDecodeError, OverflowError, ZeroDivisionError) as error:
        # (garbled headers also surface as metadata that is not UTF-8, or frame rates and counts that overflow)
        raise ValueError(f"Could not decode video {name!r}: {type(error).__name__}: {error}") from error
    if not kept:
        raise ValueError(f"Video {name!r} contains no frames.")
    available = sorted(kept)
    # A frame the stream does not have (past its end, or a count the container overstated) repeats the one before.
    frames = [kept[available[max(np.searchsorted(available, i, "right") - 1, 0)]] for i in indices.tolist()]
    metadata.frames_indices = indices.tolist()
    return np.stack(frames), metadata


def read_video(source) -> np.ndarray:
    """Every frame of a video file: `(frames, H, W, 3)` uint8 (memory grows with the length: the processor and
    the examples decode only the frames they use, with `decode_video`)."""
    return decode_video(source)[0]


def probe_video(source) -> VideoMetadata:
    """A video's metadata, checked to decode (its first frame only); `ValueError` naming an unreadable file."""
    return decode_video(source, lambda metadata: [0])[1]


# ---- frame sampling ---------------------------------------------------------------------------------------------------


def clip_indices(num_video_frames: int, num_frames: int, rate: float, clip: int = 0, num_clips: int = 1) -> np.ndarray:
    """Indices of `num_frames` frames `rate` apart, for clip `clip` of `num_clips` spread uniformly over the video.

    One clip is centered; several are placed at evenly spaced offsets (first at the start, last at the end).
    Indices past the end are clamped to the last frame. `rate` may be fractional (sampling by time).
    """
    window = (num_frames - 1) * rate + 1
    slack = max(num_video_frames - window, 0)
    start = int(slack // 2) if num_clips == 1 else round(slack * clip / (num_clips - 1))
    offsets = np.arange(num_frames) * rate
    offsets = offsets.astype(np.int64) if float(rate).is_integer() else np.round(offsets).astype(np.int64)
    return np.minimum(start + offsets, num_video_frames - 1)


def is_frame_list(video) -> bool:
    """Whether `video` is one video given as a list (or tuple) of PIL frames, not a batch of videos."""
    return isinstance(video, (list, tuple)) and bool(video) and all(isinstance(f, Image.Image) for f in video)


def _to_frames(video) -> torch.Tensor:
    """One decoded video (array, tensor or PIL frames) -> `(frames, 3, H, W)` uint8 tensor."""
    if is_frame_list(video):
        video = np.stack([np.asarray(frame.convert("RGB")) for frame in video])
    elif not isinstance(video, (np.ndarray, torch.Tensor)):
        raise TypeError(
            f"Unsupported video input {type(video).__name__}: expected a path or file object, a list of PIL "
            "frames, or a (frames, height, width, channels) uint8 array or tensor."
        )
    frames = torch.as_tensor(video)
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
    return frames  # not made contiguous: the transform copies a few frames at a time


def _as_batch(videos) -> list:
    """A single video or a batch of them -> a list of single videos."""
    if isinstance(videos, (np.ndarray, torch.Tensor)):
        return list(videos) if videos.ndim == 5 else [videos]
    if is_frame_list(videos):
        return [videos]
    if isinstance(videos, (list, tuple)):
        return list(videos)
    return [videos]


class HieraVideoProcessor(HieraProcessorMixin, BaseVideoProcessor):
    """Decode only the clips' frames, resize the shorter side, crop, normalise (see the module docstring)."""

    _for_video = True
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
    video_backend = "pyav"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # `_set_attributes` keeps only `valid_kwargs`; ours are plain values, set them explicitly.
        for name in ("frame_sampling_rate", "num_clips", "num_crops", "video_backend"):
            if kwargs.get(name) is not None:
                setattr(self, name, kwargs[name])
        if self.video_backend not in VIDEO_BACKENDS:
            raise ValueError(f"video_backend must be one of {', '.join(VIDEO_BACKENDS)}, got {self.video_backend!r}.")

    # ---- stages: sample (indices from metadata), fetch (decode those frames), transform -----------------------

    def sample_frames(
        self,
        metadata: VideoMetadata,
        num_frames: int | None = None,
        fps: float | None = None,
        frame_sampling_rate: int | None = None,
        num_clips: int | None = None,
        **kwargs,
    ) -> np.ndarray:
        """The frame indices of every clip, clip after clip: `num_clips * num_frames` indices, `frame_sampling_rate`
        frames apart, or `fps` frames per second of video (from `metadata.fps`)."""
        num_frames = self.num_frames if num_frames is None else num_frames
        rate = self.frame_sampling_rate if frame_sampling_rate is None else frame_sampling_rate
        num_clips = self.num_clips if num_clips is None else num_clips
        if fps is not None:
            if not metadata.fps:
                raise ValueError(
                    "Sampling by time (fps=...) needs the video's frame rate: files have it; for arrays pass "
                    "video_metadata={'fps': ...}."
                )
            rate = metadata.fps / fps
        total = metadata.total_num_frames
        return np.concatenate([clip_indices(total, num_frames, rate, clip, num_clips) for clip in range(num_clips)])

    def fetch_videos(self, video_url_or_urls, sample_indices_fn=None):
        """Decode the sampled frames of files, file objects or URLs: PyAV by default (`decode_video`: seeks, and
        counts frames where the container does not say; Transformers' PyAV reader decodes from the start and trusts
        the container's count), torchcodec or decord through `transformers.video_utils.load_video`."""
        if isinstance(video_url_or_urls, list):
            return list(zip(*[self.fetch_videos(v, sample_indices_fn) for v in video_url_or_urls]))
        source = video_url_or_urls
        is_url = isinstance(source, str) and source.startswith(("http://", "https://"))
        if self.video_backend == "pyav" and not is_url:
            return decode_video(source, sample_indices_fn)
        name = _source_name(source)
        if not isinstance(source, str):
            if isinstance(source, os.PathLike):
                source = os.fspath(source)
            else:
                raise TypeError(f"video_backend={self.video_backend!r} reads paths and URLs; {name} is a file object.")
        try:
            return load_video(source, backend=self.video_backend, sample_indices_fn=sample_indices_fn)
        except (RuntimeError, OSError) as error:
            raise ValueError(f"Could not decode video {name!r} with {self.video_backend}: {error}") from error

    def _decode_and_sample_videos(self, videos, video_metadata=None, do_sample_frames=None, sample_indices_fn=None):
        """Each video on its own (a batch may mix files and arrays, and files may be paths, path-likes or file
        objects, which the base stage does not take): files are decoded at the sampled frames only, arrays indexed.
        Returns `(frames, metadata)` per video, frames `(T, 3, H, W)` uint8."""
        videos = _as_batch(videos)
        if video_metadata is not None and not isinstance(video_metadata, list):
            video_metadata = [video_metadata]
        if video_metadata is not None and len(video_metadata) != len(videos):
            raise ValueError(f"Got {len(videos)} videos but {len(video_metadata)} video_metadata entries.")
        decoded, metadata_list = [], []
        for position, video in enumerate(videos):
            if _is_file_like(video):
                frames, metadata = self.fetch_videos(video, sample_indices_fn if do_sample_frames else None)
                frames = _to_frames(frames)
            else:
                frames = _to_frames(video)
                given = video_metadata[position] if video_metadata is not None else {}
                metadata = VideoMetadata(**{"total_num_frames": len(frames), **dict(given)})
                if do_sample_frames:
                    metadata.frames_indices = sample_indices_fn(metadata=metadata).tolist()
                    frames = frames[metadata.frames_indices]
            decoded.append(frames)
            metadata_list.append(metadata)
        return decoded, metadata_list

    @staticmethod
    def _shorter_side_size(height: int, width: int, shorter: int) -> tuple[int, int]:
        """The size with the shorter side `shorter` and the longer side floored (as the official SlowFast-style
        video loader computes it)."""
        if height <= width:
            return shorter, int(width * shorter / height)
        return int(height * shorter / width), shorter

    @staticmethod
    def _crop_boxes(height: int, width: int, crop: SizeDict, num_crops: int) -> list[tuple[int, int]]:
        """`(top, left)` of `num_crops` crops of a `height` x `width` frame: 1 = center; more = evenly spaced along
        the longer side."""
        if height < crop.height or width < crop.width:
            raise ValueError(f"Frames of {height}x{width} are smaller than the crop {crop.height}x{crop.width}.")
        top, left = (height - crop.height) // 2, (width - crop.width) // 2
        if num_crops == 1:
            return [(top, left)]
        if width >= height:
            return [(top, round((width - crop.width) * i / (num_crops - 1))) for i in range(num_crops)]
        return [(round((height - crop.height) * i / (num_crops - 1)), left) for i in range(num_crops)]

    def _preprocess(self, videos: list[torch.Tensor], clips_per_video: int, **options) -> torch.Tensor:
        """The official transform of each clip (`clips_per_video` consecutive clips of equal length per video),
        then its crops: `(views, frames, 3, H, W)`, views of a video consecutive.

        Written into the output a few frames at a time: on the CPU, fresh full-clip float buffers cost more in page
        faults than the arithmetic does (15 views of 640x360 frames: 185 -> 92 ms), and a few frames stay in cache.
        """
        scale, shift = torch.ones(1, 3, 1, 1), torch.zeros(1, 3, 1, 1)
        if options["do_rescale"]:
            scale = scale * options["rescale_factor"]
        if options["do_normalize"]:
            std = torch.tensor(options["image_std"]).view(1, 3, 1, 1)
            scale, shift = scale / std, -torch.tensor(options["image_mean"]).view(1, 3, 1, 1) / std
        modes = {PILImageResampling.NEAREST: "nearest", PILImageResampling.BICUBIC: "bicubic"}
        mode = modes.get(PILImageResampling(options["resample"]), "bilinear")
        corners = None if mode == "nearest" else False
        crop = options["crop_size"]
        if not videos:
            raise ValueError("Expected at least one video, got an empty batch.")
        plans, shapes = [], []  # per video: clips, resized size, crop boxes; per view: its shape
        for frames in videos:
            height, width = frames.shape[-2:]
            if options["do_resize"]:
                height, width = self._shorter_side_size(height, width, options["size"].shortest_edge)
            if options["do_center_crop"]:
                boxes, view_size = (
                    self._crop_boxes(height, width, crop, options["num_crops"]),
                    (crop.height, crop.width),
                )
            else:
                boxes, view_size = [(0, 0)], (height, width)
            clips = frames.chunk(clips_per_video)
            plans.append((clips, (height, width), boxes, view_size))
            shapes += [(len(clip), 3, *view_size) for clip in clips for _ in boxes]
        if len(set(shapes)) > 1:
            raise ValueError(
                f"Videos of a batch ended up with different shapes {sorted(set(shapes))}: enable do_sample_frames "
                "and do_center_crop."
            )
        device = videos[0].device
        output = torch.empty((len(shapes), *shapes[0]), device=device)
        scale, shift = scale.to(device), shift.to(device)
        view = 0
        for clips, size, boxes, (view_height, view_width) in plans:
            frame_bytes = 4 * 3 * clips[0].shape[-2] * clips[0].shape[-1]
            step = max(1, (8 << 20) // frame_bytes) if device.type == "cpu" else len(clips[0])  # ~8 MB of float
            for clip in clips:
                for start in range(0, len(clip), step):
                    part = clip[start : start + step].contiguous().float()
                    if tuple(part.shape[-2:]) != size:  # interpolation is linear: resizing, then rescaling, is exact
                        part = torch.nn.functional.interpolate(part, size=size, mode=mode, align_corners=corners)
                    for index, (top, left) in enumerate(boxes):  # rescale and normalise each crop: one pass
                        region = part[..., top : top + view_height, left : left + view_width]
                        torch.addcmul(shift, region, scale, out=output[view + index, start : start + step])
                view += len(boxes)
        return output

    def preprocess(self, videos, **kwargs) -> BatchFeature:
        """Videos -> `BatchFeature(pixel_values=(batch * num_clips * num_crops, frames, 3, H, W))`, through the
        stages of `BaseVideoProcessor.preprocess` (sample, decode, prepare, standardise, transform), with the
        clips of multi-view testing kept apart for their crops."""
        return_tensors = kwargs.pop("return_tensors", None)
        unknown = set(kwargs) - set(self.valid_kwargs.__annotations__)
        if unknown:
            raise TypeError(f"Unknown video processor arguments: {sorted(unknown)}")
        options = {name: kwargs.get(name, getattr(self, name, None)) for name in self.valid_kwargs.__annotations__}
        for name in ("num_frames", "frame_sampling_rate", "num_clips", "num_crops"):
            value = options[name]
            if value is not None and not (is_int(value) and value >= 1):
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        fps = options.get("fps")
        if fps is not None and not (is_number(fps) and fps > 0):
            raise ValueError(f"fps (frames sampled per second of video) must be a positive number, got {fps!r}.")
        sample_indices_fn = partial(self.sample_frames, **options) if options["do_sample_frames"] else None
        videos, metadata = self._decode_and_sample_videos(
            videos, options.pop("video_metadata"), options["do_sample_frames"], sample_indices_fn
        )
        videos = self._prepare_input_videos(
            videos,
            do_convert_rgb=options.pop("do_convert_rgb"),
            input_data_format="channels_first",
            device=options.pop("device"),  # the transform then runs there (e.g. "cuda")
        )
        options = self._standardize_kwargs(**options)
        options["image_mean"], options["image_std"] = tuple(options["image_mean"]), tuple(options["image_std"])
        clips_per_video = options["num_clips"] if options["do_sample_frames"] else 1
        data = {"pixel_values": self._preprocess(videos, clips_per_video, **options)}
        output = BatchFeature(data=data, tensor_type=return_tensors)
        if options.get("return_metadata"):
            output["video_metadata"] = metadata
        return output


HieraVideoProcessor.register_for_auto_class()  # Transformers then copies this file (and its imports) when saving

__all__ = [
    "VIDEO_BACKENDS",
    "VIDEO_EXTENSIONS",
    "HieraVideoProcessor",
    "clip_indices",
    "decode_video",
    "probe_video",
    "read_video",
]
