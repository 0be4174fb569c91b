# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Hiera configuration: one config for image (2-D) and video (3-D) models."""

from __future__ import annotations

import math
import os

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.backbone_utils import BackboneConfigMixin

from .checkpoint_layouts import (
    DOWNLOAD_KWARGS,
    LAYOUTS,
    MAE_ARGUMENTS,
    OFFICIAL_ARGUMENTS,
    TIMM_ARCHITECTURES,
    TIMM_ARGUMENTS,
    layout_of,
    official_labels,
    weight_keys,
)
from .checks import is_int


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
        window_positional_embedding_background_size: images only; set, the absolute-window position embedding of
            "Window Attention is Bugged" (Bolya et al., ICLR 2024; timm's `abs_win_pos_embed` with
            `global_pos_size`, the name as in Transformers' SAM 2): a global table of this (height, width),
            interpolated to the token grid, plus a table of one mask unit, tiled across the units.
        layer_scale_init_value: set, each residual branch is scaled by a learned per-channel factor starting at
            this value (LayerScale; timm's `init_values`).
        use_expand_projection: a stage's first layer widens the residual by a linear projection (official); False
            concatenates the max- and the average-pooled tokens instead, doubling the width (timm's
            `use_expand_proj=False`).
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
    window_positional_embedding_background_size: list[int] | tuple[int, ...] | None = None
    layer_scale_init_value: float | int | None = None
    use_expand_projection: bool = True
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
        """Also read the other layouts (see `checkpoint_layouts.LAYOUTS`): Transformers' built-in Hiera configs
        (model_type "hiera": their fields are a subset of ours with the same meaning), Meta's Hub repos (the official
        constructor's arguments) and timm's (`architecture` and `pretrained_cfg`), translated to ours, so
        `from_pretrained` of any of them just works. Anything else is a `ValueError`."""
        download = {key: kwargs[key] for key in DOWNLOAD_KWARGS if key in kwargs}
        config_dict, kwargs = super().get_config_dict(pretrained_model_name_or_path, **kwargs)
        return translated_config_dict(config_dict, pretrained_model_name_or_path, **download), kwargs

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """Transformers' save; saved by a model (whose Auto class `auto_map` then names), `auto_map` names every Auto
        class that loads the folder, so `trust_remote_code=True` loads it into any of them where `hiera_hf` is not
        installed (Transformers copies the source files, and writes only the saving class into `auto_map`)."""
        if any(
            name.startswith("AutoModel") or name == "AutoBackbone" for name in getattr(self, "auto_map", None) or {}
        ):
            self.auto_map = {**self.auto_map, **model_auto_map(self.is_video)}
        return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)

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
        self._check_options()

    def _check_options(self):
        """Position embeddings, the MAE decoder and mask, timm's options."""
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
        background = self.window_positional_embedding_background_size
        if background is not None:
            if self.is_video:
                raise ValueError("window_positional_embedding_background_size is for image models (num_frames None).")
            if not (
                isinstance(background, (list, tuple))
                and len(background) == 2
                and all(is_int(v) and v >= 1 for v in background)
            ):
                raise ValueError(
                    f"window_positional_embedding_background_size must be (height, width) positive integers, got "
                    f"{background!r}."
                )
        scale = self.layer_scale_init_value
        if scale is not None and not (isinstance(scale, (int, float)) and not isinstance(scale, bool)):
            raise ValueError(f"layer_scale_init_value must be a number or None, got {scale!r}.")
        if not self.use_expand_projection and self.embed_dim_multiplier != 2:
            raise ValueError(
                "use_expand_projection=False widens each stage by concatenating two pooled copies of its tokens, so "
                f"embed_dim_multiplier must be 2, got {self.embed_dim_multiplier}."
            )

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

    @classmethod
    def from_timm(cls, architecture: str, **kwargs) -> HieraConfig:
        """A config for one of timm's Hiera architectures (`TIMM_ARCHITECTURES`: the six official image ones and
        `hiera_{small,base}_abswin_256`), at timm's default input size; `kwargs` override fields."""
        size = (256, 256) if architecture.endswith("_256") else (224, 224)
        timm_config = {"architecture": architecture, "pretrained_cfg": {"input_size": [3, *size]}}
        if "num_labels" in kwargs:  # the head (and ImageNet's names for 1000)
            timm_config["num_classes"] = kwargs.pop("num_labels")
        return cls.from_dict({**config_from_timm(timm_config), **kwargs})


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


# ---- the other layouts' arguments, translated ---------------------------------------------------------------------


def translated_config_dict(config_dict: dict, pretrained_model_name_or_path, **download_kwargs) -> dict:
    """Our config dict for a `config.json` in any layout Hiera reads (see `checkpoint_layouts.layout_of`)."""
    layout = layout_of(config_dict)
    if layout == "hiera_hf":
        return config_dict
    if layout == "hiera":
        return {**config_dict, "model_type": HieraConfig.model_type}
    if layout == "official":
        # MAE if it has the decoder's arguments or its weights have a decoder.
        pretraining = bool(set(config_dict) & set(MAE_ARGUMENTS))
        if not pretraining:
            pretraining = "decoder_embed.weight" in (
                weight_keys(pretrained_model_name_or_path, **download_kwargs) or []
            )
        return config_from_official(config_dict, pretraining)
    if layout == "timm":
        return config_from_timm(config_dict)
    model_type = config_dict.get("model_type")
    found = f"model_type {model_type!r}" if model_type else f"keys {sorted(config_dict)[:12]}"
    raise ValueError(
        f"{str(pretrained_model_name_or_path)!r} is in no layout Hiera reads: its config.json has {found}. "
        f"Hiera reads {LAYOUTS}."
    )


def _constructor_config(given: dict) -> tuple[dict, list[int]]:
    """Our config fields from every argument of the official constructor (defaults filled in), and the stage
    widths the official model would build (each stage multiplies the previous one's width, rounding down)."""
    if given["norm_layer"] != "LayerNorm":
        raise ValueError(f"norm_layer={given['norm_layer']!r}: only the official LayerNorm is supported.")
    input_size, stages = list(given["input_size"]), list(given["stages"])
    heads, widths, head, width = [], [], given["num_heads"], given["embed_dim"]
    for _ in stages:
        heads.append(int(head))
        widths.append(int(width))
        head, width = head * given["head_mul"], width * given["dim_mul"]
    config = {
        "model_type": HieraConfig.model_type,
        "embed_dim": given["embed_dim"],
        "image_size": input_size[-2:],
        "num_frames": input_size[0] if len(input_size) == 3 else None,
        "num_channels": given["in_chans"],
        "depths": stages,
        "num_heads": heads,
        "embed_dim_multiplier": given["dim_mul"],
        "num_query_pool": given["q_pool"],
        "query_stride": list(given["q_stride"]),
        "masked_unit_size": list(given["mask_unit_size"]),
        "masked_unit_attention": list(given["mask_unit_attn"]),
        "patch_size": list(given["patch_kernel"]),
        "patch_stride": list(given["patch_stride"]),
        "patch_padding": list(given["patch_padding"]),
        "mlp_ratio": given["mlp_ratio"],
        "drop_path_rate": given["drop_path_rate"],
        "head_dropout": given["head_dropout"],
        "separate_position_embeddings": given["sep_pos_embed"],
    }
    return config, widths


def _checked(config: dict, widths: list[int], source: str) -> HieraConfig:
    """`config` as a HieraConfig, or a `ValueError` saying that the `source` arguments describe a Hiera we cannot
    build."""
    try:
        ours = HieraConfig.from_dict(config)
    except (TypeError, ValueError) as error:
        raise ValueError(f"The {source} describe a Hiera this package cannot build: {error}") from error
    if ours.stage_widths != widths:
        raise ValueError(f"Stage widths {widths} of the {source} are not embed_dim * dim_mul**i.")
    return ours


def _with_head(config: dict, num_classes: int, labels: dict[int, str] | None, is_video: bool) -> dict:
    config["num_labels"] = num_classes
    if labels is not None:
        config["id2label"], config["label2id"] = labels, {name: index for index, name in labels.items()}
    config["architectures"] = ["HieraForVideoClassification" if is_video else "HieraForImageClassification"]
    return config


def config_from_official(arguments: dict, pretraining: bool) -> dict:
    """The official constructor's `arguments` -> our config dict (a classifier's, or with `pretraining` the MAE's).

    Raises `ValueError` for what the official layout does not have, or what our config cannot express.
    """
    names = {**OFFICIAL_ARGUMENTS, **MAE_ARGUMENTS}
    unknown = sorted(set(arguments) - set(names))
    if unknown:
        raise ValueError(
            f"config.json looks like the official layout but has arguments the official Hiera constructors do not "
            f"take: {unknown} (they take: {', '.join(names)})."
        )
    given = {**OFFICIAL_ARGUMENTS, **MAE_ARGUMENTS, **arguments}
    config, widths = _constructor_config(given)
    config.update(
        decoder_hidden_size=given["decoder_embed_dim"],
        decoder_depth=given["decoder_depth"],
        decoder_num_heads=given["decoder_num_heads"],
    )
    ours = _checked(config, widths, f"official arguments {arguments}")
    if pretraining:
        config["mask_ratio"] = 0.9 if ours.is_video else 0.6  # the paper's
        config["architectures"] = ["HieraForPreTraining"]
        return config
    num_classes = given["num_classes"]
    return _with_head(config, num_classes, official_labels(num_classes, ours.is_video), ours.is_video)


def official_checkpoint_config(path, state_dict: dict, architecture: str | None) -> HieraConfig:
    """The config of an official `.pth`: the preset `architecture` names, or the one its official file name names
    (`hiera_base_224.pth`, `mae_hiera_base_224.pth`); MAE when the weights have a decoder; the head's class count."""
    pretraining = "decoder_embed.weight" in state_dict
    if architecture is None:
        stem = os.path.basename(str(path)).removesuffix(".pth").removeprefix("mae_")
        if stem not in PRESETS:
            raise ValueError(
                f"{str(path)!r} is not named after an official architecture: pass config=HieraConfig(...) or "
                f"architecture= one of {', '.join(PRESETS)}."
            )
        architecture = stem
    arguments = official_arguments(HieraConfig.from_preset(architecture, for_pretraining=pretraining), pretraining)
    if "head.projection.weight" in state_dict:
        arguments["num_classes"] = state_dict["head.projection.weight"].shape[0]
    return HieraConfig.from_dict(config_from_official(arguments, pretraining))


def official_arguments(config: HieraConfig, pretraining: bool = False) -> dict:
    """Our config -> the arguments of the official constructor (`hiera.Hiera`, or `hiera.MaskedAutoencoderHiera`).
    Raises `ValueError` for what the official model cannot express."""
    heads = list(config.num_heads)
    head_mul = heads[1] / heads[0] if len(heads) > 1 else 2.0
    if any(heads[0] * head_mul**i != h for i, h in enumerate(heads)):
        raise ValueError(f"num_heads {tuple(heads)} is not geometric: the official Hiera cannot express it.")
    timm_only = {
        "window_positional_embedding_background_size": None,
        "layer_scale_init_value": None,
        "use_expand_projection": True,
    }
    different = [name for name, default in timm_only.items() if getattr(config, name) != default]
    if different:
        raise ValueError(f"{', '.join(different)}: timm's options, which the official Hiera does not have.")
    arguments = dict(
        input_size=tuple(config.input_size),
        in_chans=config.num_channels,
        embed_dim=config.embed_dim,
        num_heads=heads[0],
        stages=tuple(config.depths),
        q_pool=config.num_query_pool,
        q_stride=tuple(config.query_stride),
        mask_unit_size=tuple(config.masked_unit_size),
        mask_unit_attn=tuple(config.masked_unit_attention),
        dim_mul=config.embed_dim_multiplier,
        head_mul=head_mul,
        patch_kernel=tuple(config.patch_size),
        patch_stride=tuple(config.patch_stride),
        patch_padding=tuple(config.patch_padding),
        mlp_ratio=config.mlp_ratio,
        drop_path_rate=config.drop_path_rate,
        sep_pos_embed=config.separate_position_embeddings,
    )
    if pretraining:
        return {
            **arguments,
            "decoder_embed_dim": config.decoder_hidden_size,
            "decoder_depth": config.decoder_depth,
            "decoder_num_heads": config.decoder_num_heads,
        }
    return {**arguments, "num_classes": config.num_labels, "head_dropout": config.head_dropout}


def _timm_labels(timm_config: dict, num_classes: int) -> dict[int, str] | None:
    """Class names of a timm config: its `label_descriptions` or `label_names`, else ImageNet-1k's for 1000."""
    names = timm_config.get("label_names")
    if isinstance(names, dict):
        names = [names[key] for key in sorted(names, key=int)]
    if names and len(names) == num_classes:
        descriptions = timm_config.get("label_descriptions") or {}
        return {index: descriptions.get(name, name) for index, name in enumerate(names)}
    return official_labels(num_classes, is_video=False)


def config_from_timm(timm_config: dict) -> dict:
    """A timm `config.json` (`architecture`, `pretrained_cfg`, optionally `model_args` and `num_classes`) -> our
    config dict. Raises `ValueError` naming an architecture that is not timm's Hiera, or an option we lack."""
    architecture = timm_config["architecture"]
    if architecture not in TIMM_ARCHITECTURES:
        other = " (timm's SAM 2 Hiera, hieradet_sam2, is another model)" if "sam2" in architecture else ""
        raise ValueError(
            f"timm architecture {architecture!r} is not one of timm's Hiera models{other}: Hiera reads "
            f"{', '.join(TIMM_ARCHITECTURES)}."
        )
    pretrained_cfg = timm_config.get("pretrained_cfg") or {}
    arguments = {**TIMM_ARCHITECTURES[architecture], **(timm_config.get("model_args") or {})}
    timm_takes = (set(OFFICIAL_ARGUMENTS) - {"input_size", "head_dropout"}) | set(TIMM_ARGUMENTS)
    unknown = sorted(set(arguments) - timm_takes)
    if unknown:
        raise ValueError(f"timm's {architecture} has arguments that timm's Hiera does not take: {unknown}.")
    given = {**OFFICIAL_ARGUMENTS, **TIMM_ARGUMENTS, **arguments}
    lacking = {
        "global_pool": given["global_pool"] not in ("avg", ""),
        "patch_drop_rate": bool(given["patch_drop_rate"]),
        "abs_win_pos_embed with sep_pos_embed": given["abs_win_pos_embed"] and given["sep_pos_embed"],
    }
    lacking = [f"{name}={given[name.split()[0]]!r}" for name, missing in lacking.items() if missing]
    if lacking:
        raise ValueError(f"timm's {architecture} uses Hiera options hiera-hf does not have: {', '.join(lacking)}.")
    image_size = arguments.get("img_size", list(pretrained_cfg.get("input_size", (3, 224, 224)))[1:])
    image_size = [image_size] * 2 if isinstance(image_size, int) else list(image_size)
    config, widths = _constructor_config({**given, "input_size": image_size, "head_dropout": given["drop_rate"]})
    config.update(
        window_positional_embedding_background_size=list(given["global_pos_size"])
        if given["abs_win_pos_embed"]
        else None,
        layer_scale_init_value=given["init_values"],
        use_expand_projection=given["use_expand_proj"],
    )
    _checked(config, widths, f"arguments of timm's {architecture}")
    num_classes = timm_config.get("num_classes", arguments.get("num_classes", pretrained_cfg.get("num_classes", 1000)))
    if not num_classes:  # timm's MAE encoders: no head
        return {**config, "architectures": ["HieraModel"]}
    return _with_head(config, num_classes, _timm_labels(timm_config, num_classes), is_video=False)


def timm_arguments(config: HieraConfig) -> dict:
    """Our config -> `timm.create_model(architecture, **arguments)` keyword arguments for timm's `Hiera` (image
    models). Raises `ValueError` for what timm's Hiera cannot express."""
    if config.is_video:
        raise ValueError("timm's Hiera is image-only: a video config has no timm model.")
    official = official_arguments(
        HieraConfig.from_dict(
            {
                **config.to_dict(),
                "window_positional_embedding_background_size": None,
                "layer_scale_init_value": None,
                "use_expand_projection": True,
            }
        )
    )
    background = config.window_positional_embedding_background_size
    arguments = {key: value for key, value in official.items() if key not in ("input_size", "head_dropout")}
    return {
        **arguments,
        "img_size": tuple(config.image_size),
        "drop_rate": config.head_dropout,
        "abs_win_pos_embed": background is not None,
        "global_pos_size": tuple(background or TIMM_ARGUMENTS["global_pos_size"]),
        "init_values": config.layer_scale_init_value,
        "use_expand_proj": config.use_expand_projection,
    }


# ---- remote code ---------------------------------------------------------------------------------------------------


def model_auto_map(is_video: bool) -> dict:
    """Every Auto model class that applies to a Hiera folder, mapped to `module.Class` (see
    `HieraConfig.save_pretrained`)."""
    mapping = {
        "AutoConfig": "configuration_hiera.HieraConfig",
        "AutoModel": "modeling_hiera.HieraModel",
        "AutoModelForPreTraining": "modeling_hiera.HieraForPreTraining",
        "AutoBackbone": "modeling_hiera.HieraBackbone",
    }
    task = "Video" if is_video else "Image"
    mapping[f"AutoModelFor{task}Classification"] = f"modeling_hiera.HieraFor{task}Classification"
    return mapping


HieraConfig.register_for_auto_class()  # Transformers then copies this file (and its imports) into saved folders

__all__ = [
    "PRESETS",
    "VIDEO_GEOMETRY",
    "HieraConfig",
    "config_from_official",
    "config_from_timm",
    "model_auto_map",
    "official_arguments",
    "official_checkpoint_config",
    "timm_arguments",
]
