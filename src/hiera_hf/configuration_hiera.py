# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Hiera configuration: one config for image (2-D) and video (3-D) models."""

from __future__ import annotations

import json
import math
import os
import shutil

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.backbone_utils import BackboneConfigMixin


@strict
class HieraConfig(BackboneConfigMixin, PreTrainedConfig):
    r"""
    Configuration of a Hiera model for images or videos.

    Field names follow Transformers' built-in (image-only) `HieraConfig` where they mean the same thing. A video
    model sets `num_frames` and gives 3 values (time, height, width) for `patch_size`, `patch_stride`,
    `patch_padding`, `query_stride` and `masked_unit_size`; an image model gives 2 (height, width).

    Args:
        embed_dim: width of the first stage; stage `i` has width `embed_dim * embed_dim_multiplier**i`.
        image_size: (height, width) of the input the position embeddings were trained for.
        num_frames: number of input frames for a video model, `None` for an image model.
        patch_size, patch_stride, patch_padding: kernel, stride and padding of the patch-embedding convolution.
        mlp_ratio: hidden width of the MLP relative to its input.
        depths: number of layers in each stage.
        num_heads: attention heads in each stage.
        embed_dim_multiplier: width growth from one stage to the next.
        num_query_pool: number of stage transitions that pool the queries (3 for classifiers, 2 for MAE).
        query_stride: pooling stride of each stage transition, per spatial dimension.
        masked_unit_size: size of a mask unit in tokens, per spatial dimension.
        masked_unit_attention: per stage, whether attention is restricted to mask units (else global).
        separate_position_embeddings: video only: a spatial table repeated over time plus a temporal table.
        drop_path_rate: stochastic depth rate, increased linearly over the layers.
        head_dropout: dropout before the classification head.
        num_channels: input channels.
        decoder_hidden_size, decoder_depth, decoder_num_heads: MAE decoder (used by `HieraForPreTraining`).
        normalize_pixel_loss: normalise the MAE pixel targets per patch (the official recipe always does).
        mask_ratio: fraction of mask units hidden from the MAE encoder.
        out_features, out_indices: stages returned by `HieraBackbone` ("stem", "stage1", ...).
    """

    model_type = "hiera_hf"
    # Transformers' common names, as its hierarchical configs (Swin) map them: heads per stage, and
    # `num_hidden_layers` (a property below) the number of stages, so `hidden_states` has `num_hidden_layers + 1`.
    attribute_map = {"num_attention_heads": "num_heads"}

    embed_dim: int = 96
    image_size: list[int] | tuple[int, ...] = (224, 224)
    num_frames: int | None = None
    patch_size: list[int] | tuple[int, ...] = (7, 7)
    patch_stride: list[int] | tuple[int, ...] = (4, 4)
    patch_padding: list[int] | tuple[int, ...] = (3, 3)
    mlp_ratio: float = 4.0
    depths: list[int] | tuple[int, ...] = (2, 3, 16, 3)
    num_heads: list[int] | tuple[int, ...] = (1, 2, 4, 8)
    embed_dim_multiplier: float | int = 2.0
    num_query_pool: int = 3
    query_stride: list[int] | tuple[int, ...] = (2, 2)
    masked_unit_size: list[int] | tuple[int, ...] = (8, 8)
    masked_unit_attention: list[bool] | tuple[bool, ...] = (True, True, False, False)
    separate_position_embeddings: bool = False
    drop_path_rate: float | int = 0.0
    head_dropout: float | int = 0.0
    num_channels: int = 3
    hidden_act: str = "gelu"
    initializer_range: float = 0.02
    layer_norm_init: float = 1.0
    layer_norm_eps: float = 1e-6
    decoder_hidden_size: int | None = None
    decoder_depth: int | None = None
    decoder_num_heads: int | None = None
    normalize_pixel_loss: bool | None = True
    mask_ratio: float = 0.6
    _out_features: list[str] | None = None
    _out_indices: list[int] | None = None

    def __post_init__(self, **kwargs):
        # Class attribute and derived values: a loaded or copied dict must not override them.
        for derived in ("model_type", "hidden_size", "stage_names"):
            kwargs.pop(derived, None)
        self._check_geometry()
        self.hidden_size = int(self.embed_dim * self.embed_dim_multiplier ** (len(self.depths) - 1))
        self.stage_names = ["stem"] + [f"stage{idx}" for idx in range(1, len(self.depths) + 1)]
        self.set_output_features_output_indices(
            out_indices=kwargs.pop("out_indices", None), out_features=kwargs.pop("out_features", None)
        )
        super().__post_init__(**kwargs)

    @classmethod
    def get_config_dict(cls, pretrained_model_name_or_path, **kwargs):
        """Also read Transformers' built-in Hiera configs (model_type "hiera": their fields are a subset of ours with
        the same meaning) and the official layout of Meta's Hub repos (`facebook/hiera_*`: the official
        constructor's arguments), so `from_pretrained` of either just works. Anything else is a `ValueError`."""
        download = {key: kwargs[key] for key in DOWNLOAD_KWARGS if key in kwargs}
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        model_type = config_dict.get("model_type")
        if model_type == "hiera":
            config_dict = {**config_dict, "model_type": cls.model_type}
        elif model_type is None or model_type != cls.model_type:
            from .official import LAYOUTS, is_official_config, official_config_dict  # (official imports this module)

            if not is_official_config(config_dict):
                found = f"model_type {model_type!r}" if model_type else f"keys {sorted(config_dict)[:12]}"
                raise ValueError(
                    f"{str(pretrained_model_name_or_path)!r} is in no layout Hiera reads: its config.json has {found}. "
                    f"Hiera reads {LAYOUTS}."
                )
            config_dict = official_config_dict(config_dict, pretrained_model_name_or_path, **download)
        return config_dict, kwargs

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """Save `config.json` with a complete `auto_map` and our source files next to it, so that
        `trust_remote_code=True` loads the folder where `hiera_hf` is not installed."""
        self.auto_map = auto_map(self.is_video)
        upload = hub_upload_after_save(self, save_directory, push_to_hub, kwargs)
        super().save_pretrained(save_directory, **kwargs)
        save_source_files(save_directory)
        upload()

    # ---- derived geometry (plain properties: not serialised) -------------------------------------------------
    @property
    def input_size(self) -> tuple[int, ...]:
        """Spatial input size: (height, width) for images, (frames, height, width) for videos."""
        frames = () if self.num_frames is None else (self.num_frames,)
        return (*frames, *self.image_size)

    @property
    def num_hidden_layers(self) -> int:
        """Stages: `hidden_states` holds the embeddings and each stage's output (`sum(depths)` attention layers)."""
        return len(self.depths)

    @property
    def is_video(self) -> bool:
        return self.num_frames is not None

    @property
    def stage_widths(self) -> list[int]:
        return [int(self.embed_dim * self.embed_dim_multiplier**i) for i in range(len(self.depths))]

    @property
    def tokens_spatial_shape(self) -> list[int]:
        return [size // stride for size, stride in zip(self.input_size, self.patch_stride)]

    @property
    def num_mask_units(self) -> int:
        return math.prod(t // m for t, m in zip(self.tokens_spatial_shape, self.masked_unit_size))

    # ---- validation ------------------------------------------------------------------------------------------
    def _check_geometry(self):
        """Raise `ValueError` for shapes the model cannot build (a plain `ValueError`: `@strict` validators would
        wrap it in their own error type)."""
        for name in ("image_size", "depths", "num_heads", "patch_size", "patch_stride", "patch_padding", "query_stride",
                     "masked_unit_size"):  # fmt: skip
            value, lowest = getattr(self, name), 0 if name == "patch_padding" else 1
            if not isinstance(value, (list, tuple)) or not all(is_int(v) and v >= lowest for v in value):
                raise ValueError(f"{name} must be a list or tuple of integers >= {lowest}, got {value!r}.")
        for name, value in (
            ("embed_dim", self.embed_dim),
            ("num_frames", 1 if self.num_frames is None else self.num_frames),
        ):
            if not is_int(value) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if len(self.image_size) != 2:
            raise ValueError(f"image_size must be (height, width), got {tuple(self.image_size)}.")
        num_dims = len(self.input_size)
        kind = "video (num_frames is set)" if self.is_video else "image (num_frames is None)"
        for name in ("patch_size", "patch_stride", "patch_padding", "query_stride", "masked_unit_size"):
            value = getattr(self, name)
            if len(value) != num_dims:
                raise ValueError(f"{name} needs {num_dims} values for a {kind} model, got {tuple(value)}.")
        num_stages = len(self.depths)
        for name in ("num_heads", "masked_unit_attention"):
            if len(getattr(self, name)) != num_stages:
                raise ValueError(
                    f"{name} needs one value per stage ({num_stages} stages from depths={tuple(self.depths)}), "
                    f"got {tuple(getattr(self, name))}."
                )
        for stage, (width, heads) in enumerate(zip(self.stage_widths, self.num_heads)):
            if width % heads != 0:
                raise ValueError(f"stage {stage + 1}: width {width} is not divisible by num_heads={heads}.")
        if not 0 <= self.num_query_pool < num_stages:
            raise ValueError(f"num_query_pool must be in [0, {num_stages - 1}], got {self.num_query_pool}.")
        for dim, (unit, stride) in enumerate(zip(self.masked_unit_size, self.query_stride)):
            if unit % stride ** (num_stages - 1) != 0:
                raise ValueError(
                    f"masked_unit_size {tuple(self.masked_unit_size)} cannot be tiled by query_stride "
                    f"{tuple(self.query_stride)} over {num_stages - 1} stage transitions (dimension {dim}: "
                    f"{unit} is not divisible by {stride}**{num_stages - 1})."
                )
        for size, stride in zip(self.input_size, self.patch_stride):
            if size % stride != 0:
                raise ValueError(f"input size {self.input_size} is not divisible by patch_stride {self.patch_stride}.")
        for tokens, unit in zip(self.tokens_spatial_shape, self.masked_unit_size):
            if tokens % unit != 0:
                raise ValueError(
                    f"the token grid {tuple(self.tokens_spatial_shape)} of input size {self.input_size} cannot be "
                    f"tiled by masked_unit_size {tuple(self.masked_unit_size)}."
                )
        if self.separate_position_embeddings and not self.is_video:
            raise ValueError("separate_position_embeddings is for video models: set num_frames too.")
        if self.decoder_hidden_size is not None and self.decoder_num_heads:
            if self.decoder_hidden_size % self.decoder_num_heads != 0:
                raise ValueError(
                    f"decoder_hidden_size {self.decoder_hidden_size} is not divisible by "
                    f"decoder_num_heads {self.decoder_num_heads}."
                )
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {self.mask_ratio}.")

    # ---- presets ----------------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, for_pretraining: bool = False, **kwargs) -> HieraConfig:
        """A config for one of the ten official architectures (see `PRESETS`).

        `for_pretraining=True` gives the MAE variant: the official `mae_*` constructors pool queries at two stage
        transitions instead of three, and video MAE masks 90% of the mask units.
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown Hiera preset {name!r}. Valid presets: {', '.join(PRESETS)}.")
        mae = {}
        if for_pretraining:
            mae = {"num_query_pool": 2, "mask_ratio": 0.9 if cls(**PRESETS[name]).is_video else 0.6}
        return cls(**{**PRESETS[name], **mae, **kwargs})


# `from_pretrained` arguments that say where the files come from.
DOWNLOAD_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")

# ---- remote code ---------------------------------------------------------------------------------------------------
# `save_pretrained` of the config and the processors writes these files and `auto_map` entries naming them. The
# files import each other relatively only, so they load as a Hub "remote code" package.
SOURCE_FILES = (
    "configuration_hiera.py",
    "modeling_hiera.py",
    "official.py",  # (read for official-layout folders; Transformers copies every module the files import)
    "image_processing_hiera.py",
    "video_processing_hiera.py",
)


def auto_map(is_video: bool) -> dict:
    """Every Auto class that applies to a Hiera folder, mapped to `module.Class` in `SOURCE_FILES`."""
    mapping = {
        "AutoConfig": "configuration_hiera.HieraConfig",
        "AutoModel": "modeling_hiera.HieraModel",
        "AutoModelForPreTraining": "modeling_hiera.HieraForPreTraining",
        "AutoBackbone": "modeling_hiera.HieraBackbone",
    }
    if is_video:
        mapping["AutoModelForVideoClassification"] = "modeling_hiera.HieraForVideoClassification"
        mapping["AutoVideoProcessor"] = "video_processing_hiera.HieraVideoProcessor"
    else:
        mapping["AutoModelForImageClassification"] = "modeling_hiera.HieraForImageClassification"
        mapping["AutoImageProcessor"] = {
            "torchvision": "image_processing_hiera.HieraImageProcessor",
            "pil": "image_processing_hiera.HieraImageProcessorPil",
        }
    return mapping


def save_source_files(save_directory) -> None:
    """Copy our source files (those present next to this one) into `save_directory`."""
    here = os.path.dirname(os.path.abspath(__file__))
    for name in SOURCE_FILES:
        source = os.path.join(here, name)
        if os.path.isfile(source):
            shutil.copyfile(source, os.path.join(save_directory, name))


def add_auto_map_to_json(path, is_video: bool) -> None:
    """Add `auto_map` to a saved processor config (`preprocessor_config.json`, `video_preprocessor_config.json`),
    replacing the file in one step (a failed write leaves the saved one)."""
    with open(path, encoding="utf-8") as file:
        content = json.load(file)
    content["auto_map"] = auto_map(is_video)
    with open(f"{path}.tmp", "w", encoding="utf-8") as file:
        json.dump(content, file, indent=2, sort_keys=True)
        file.write("\n")
    os.replace(f"{path}.tmp", path)


HUB_KWARGS = ("repo_id", "commit_message", "commit_description", "token", "private", "create_pr", "revision")


def hub_upload_after_save(saved, save_directory, push_to_hub: bool, kwargs: dict):
    """With `push_to_hub`, take the Hub arguments out of `kwargs`, create the repo and return a call that uploads
    the saved folder (without it, a call that does nothing). Transformers' `save_pretrained(push_to_hub=True)` uploads before it returns, before our source
    files and `auto_map` are added: the repo would not load with `trust_remote_code`. As Transformers does, the
    repo is created first and the files the save wrote or changed are uploaded."""
    if not push_to_hub:
        return lambda: None
    hub = {key: kwargs.pop(key) for key in HUB_KWARGS if key in kwargs}
    from transformers.utils.hub import hf_api

    repo_id = hub.pop("repo_id", os.path.basename(os.path.normpath(save_directory)))
    token, private = hub.get("token"), hub.pop("private", None)
    repo_id = hf_api().create_repo(repo_id, exist_ok=True, token=token, private=private).repo_id
    os.makedirs(save_directory, exist_ok=True)
    timestamps = saved._get_files_timestamps(save_directory)
    return lambda: saved._upload_modified_files(save_directory, repo_id, timestamps, **hub)


class HieraProcessorMixin:
    """What our image and video processors share: the steps of the official evaluation transforms (resize the
    shorter side, center-crop, rescale, normalise; sizes and statistics differ per processor), and a
    `save_pretrained` that also writes `auto_map` and the source files (see `save_source_files`)."""

    _config_file: str  # the processor's JSON file name
    _for_video: bool
    model_input_names = ["pixel_values"]
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        upload = hub_upload_after_save(self, save_directory, push_to_hub, kwargs)
        files = super().save_pretrained(save_directory, **kwargs)
        add_auto_map_to_json(os.path.join(save_directory, self._config_file), is_video=self._for_video)
        save_source_files(save_directory)
        upload()
        return files


def is_int(value) -> bool:
    """An integer, not a bool (what argument checks of sizes and counts accept)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """An int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The official video models' 3-D geometry (time, height, width); images use the HieraConfig defaults.
VIDEO_GEOMETRY = {
    "patch_size": (3, 7, 7),
    "patch_stride": (2, 4, 4),
    "patch_padding": (1, 3, 3),
    "query_stride": (1, 2, 2),
    "masked_unit_size": (1, 8, 8),
    "separate_position_embeddings": True,
}


def _preset(embed_dim: int, first_heads: int, depths: tuple[int, ...], video: bool) -> dict:
    """Constructor arguments of the official `hiera_*` functions, mapped to our field names."""
    preset = {
        "embed_dim": embed_dim,
        "depths": depths,
        "num_heads": tuple(first_heads * 2**i for i in range(len(depths))),
        # MAE decoder of the official `mae_hiera_*` constructors.
        "decoder_hidden_size": 512,
        "decoder_depth": 8,
        "decoder_num_heads": 16,
    }
    if video:
        preset.update(num_frames=16, **VIDEO_GEOMETRY)
    return preset


_SIZES = {
    "tiny": (96, 1, (1, 2, 7, 2)),
    "small": (96, 1, (1, 2, 11, 2)),
    "base": (96, 1, (2, 3, 16, 3)),
    "base_plus": (112, 2, (2, 3, 16, 3)),
    "large": (144, 2, (2, 6, 36, 4)),
    "huge": (256, 4, (2, 6, 36, 4)),
}
PRESETS: dict[str, dict] = {f"hiera_{size}_224": _preset(*_SIZES[size], video=False) for size in _SIZES}
PRESETS.update(
    {f"hiera_{size}_16x224": _preset(*_SIZES[size], video=True) for size in ("base", "base_plus", "large", "huge")}
)

__all__ = ["PRESETS", "SOURCE_FILES", "VIDEO_GEOMETRY", "HieraConfig", "HieraProcessorMixin", "auto_map"]
