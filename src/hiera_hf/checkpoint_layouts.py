# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The checkpoint layouts Hiera reads, and the one key map from their weight names to ours.

Four layouts:
- ours (config.json with model_type "hiera_hf") and Transformers' built-in Hiera's (model_type "hiera"): our names;
- Meta's official one (`hiera-transformer`): `.pth` files (`{"model_state": ...}`), or Hub repos holding the official
  constructor's arguments as config.json beside `model.safetensors` (`facebook/hiera_*`);
- timm's: config.json with `architecture` and `pretrained_cfg` beside `model.safetensors` or `pytorch_model.bin`
  (`timm/hiera_*`). timm kept the official weight names except for the head, LayerScale and the window position
  embedding, so one key map reads both.

A leaf: it imports nothing of the package (the configuration translates the layouts' arguments, the model loads
their weights through this map).
"""

from __future__ import annotations

import os
import re

import torch

# Keys of one reference layer (`blocks.i.*`, `decoder_blocks.i.*`) -> ours, relative to the layer.
_LAYER_RENAMES = {
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "ls1.gamma": "layer_scale1.lambda1",  # timm
    "ls2.gamma": "layer_scale2.lambda1",  # timm
}

# Everything outside the layers: reference prefix -> ours.
_RENAMES = {
    "pos_embed": "hiera.embeddings.position_embeddings",
    "pos_embed_spatial": "hiera.embeddings.position_embeddings",
    "pos_embed_temporal": "hiera.embeddings.temporal_position_embeddings",
    "pos_embed_win": "hiera.embeddings.window_position_embeddings",  # timm (abswin)
    "patch_embed.proj": "hiera.embeddings.patch_embeddings.projection",
    "norm": "hiera.pooler.layernorm",
    "head.norm": "hiera.pooler.layernorm",  # timm
    "head.projection": "classifier",
    "head.fc": "classifier",  # timm
    # MAE
    "encoder_norm": "encoder_norm",
    "multi_scale_fusion_heads": "multiscale_fusion.multi_scale_fusion_heads",
    "mask_token": "decoder.mask_token",
    "decoder_embed": "decoder.decoder_embeddings",
    "decoder_pos_embed": "decoder.decoder_position_embeddings",
    "decoder_norm": "decoder.decoder_norm",
    "decoder_pred": "decoder.decoder_pred",
}

_BLOCK = re.compile(r"^(decoder_blocks|blocks)\.(\d+)\.(.+)$")


def _layer_location(depths, index: int) -> tuple[int, int]:
    """Flat reference block index -> (stage, layer within stage)."""
    for stage, depth in enumerate(depths):
        if index < depth:
            return stage, index
        index -= depth
    raise ValueError(f"block {index} is beyond the {sum(depths)} blocks of depths={tuple(depths)}")


def _rename_in_layer(name: str) -> str:
    for reference in sorted(_LAYER_RENAMES, key=len, reverse=True):
        if name == reference or name.startswith(reference + "."):
            return _LAYER_RENAMES[reference] + name[len(reference) :]
    return name


def key_to_hf(key: str, depths) -> str:
    """One official or timm state-dict key -> ours (for `HieraFor*` models: encoder keys under `hiera.`)."""
    match = _BLOCK.match(key)
    if match:
        kind, index, name = match.group(1), int(match.group(2)), _rename_in_layer(match.group(3))
        if kind == "decoder_blocks":
            return f"decoder.decoder_block.layers.{index}.{name}"
        stage, layer = _layer_location(depths, index)
        return f"hiera.encoder.stages.{stage}.layers.{layer}.{name}"
    for prefix in sorted(_RENAMES, key=len, reverse=True):
        if key == prefix or key.startswith(prefix + "."):
            return _RENAMES[prefix] + key[len(prefix) :]
    raise KeyError(key)


def hf_key_names(keys, depths) -> dict[str, str]:
    """Reference key -> our key for every key of a checkpoint. Unknown keys, and two keys that would land on one of
    ours (e.g. both pos_embed and pos_embed_spatial: one would be silently dropped), raise `ValueError`."""
    names, source, unknown, clashes = {}, {}, [], []
    for key in keys:
        try:
            target = key_to_hf(key, depths)
        except (KeyError, ValueError):
            unknown.append(key)
            continue
        if target in source:
            clashes.append(f"{source[target]} and {key} both map to {target}")
        names[key], source[target] = target, key
    if unknown:
        raise ValueError(f"Keys in neither the official nor timm's Hiera layout: {sorted(unknown)}")
    if clashes:
        raise ValueError(f"Conflicting keys: {clashes}")
    return names


def convert_state_dict(state_dict: dict[str, torch.Tensor], depths) -> dict[str, torch.Tensor]:
    """Rename an official or timm state dict to our keys. Unknown keys raise `ValueError`."""
    return {ours: state_dict[key] for key, ours in hf_key_names(state_dict, depths).items()}


def hf_key_mapping(keys, depths) -> dict[str, str]:
    """The same renaming as Transformers' load-time `key_mapping` (`from_pretrained(..., key_mapping=...)`): one
    anchored pattern per checkpoint key, so it renames exactly as `key_to_hf` does."""
    return {f"^{re.escape(key)}$": ours for key, ours in hf_key_names(keys, depths).items()}


# Prefixes of reference weight names that none of ours starts with; timm's own marks.
_REFERENCE_PREFIXES = ("blocks.", "patch_embed.", "pos_embed", "norm.", "head.", "mask_token", "decoder_blocks.",
                       "decoder_embed.", "decoder_pos_embed", "decoder_norm.", "decoder_pred.", "multi_scale_fusion_heads.")  # fmt: skip
_TIMM_MARKS = ("head.fc.", "head.norm.", "pos_embed_win")


def reference_layout(keys) -> str | None:
    """Whose weight names `keys` are: "official", "timm" (`head.fc`/`head.norm`, LayerScale's `ls1`, or the window
    position embedding), or None for ours (and Transformers' built-in Hiera's)."""
    keys = list(keys)
    if not any(key.startswith(_REFERENCE_PREFIXES) for key in keys):
        return None
    timm = any(key.startswith(_TIMM_MARKS) or ".ls1." in key for key in keys)
    return "timm" if timm else "official"


# ---- telling the layouts apart --------------------------------------------------------------------------------

# The official constructors' arguments (hiera-transformer 0.1.4) and their defaults. A Hub `config.json` written by
# the official `save_pretrained` holds the arguments the constructor was given (for MAE also the MAE class's own);
# the others take these defaults.
OFFICIAL_ARGUMENTS = {
    "input_size": (224, 224),
    "in_chans": 3,
    "embed_dim": 96,
    "num_heads": 1,
    "num_classes": 1000,
    "stages": (2, 3, 16, 3),
    "q_pool": 3,
    "q_stride": (2, 2),
    "mask_unit_size": (8, 8),
    "mask_unit_attn": (True, True, False, False),
    "dim_mul": 2.0,
    "head_mul": 2.0,
    "patch_kernel": (7, 7),
    "patch_stride": (4, 4),
    "patch_padding": (3, 3),
    "mlp_ratio": 4.0,
    "drop_path_rate": 0.0,
    "norm_layer": "LayerNorm",
    "head_dropout": 0.0,
    "head_init_scale": 0.001,  # initialisation only
    "sep_pos_embed": False,
}
MAE_ARGUMENTS = {"decoder_embed_dim": 512, "decoder_depth": 8, "decoder_num_heads": 16}
_OFFICIAL_ONLY = {"stages", "input_size", "q_pool", "in_chans", "mask_unit_size", "patch_kernel", "sep_pos_embed"}

# timm 1.0's `Hiera` takes the official arguments (`img_size` for `input_size`, `drop_rate` for `head_dropout`)
# and these; the values are its defaults.
TIMM_ARGUMENTS = {
    "img_size": (224, 224),
    "global_pool": "avg",
    "use_expand_proj": True,
    "init_values": None,
    "fix_init": True,  # initialisation only
    "weight_init": "",  # initialisation only
    "drop_rate": 0.0,
    "patch_drop_rate": 0.0,
    "abs_win_pos_embed": False,
    "global_pos_size": (14, 14),
}

# timm's registered Hiera architectures (timm/models/hiera.py, 1.0.31): the arguments each one passes.
TIMM_ARCHITECTURES = {
    "hiera_tiny_224": {"embed_dim": 96, "num_heads": 1, "stages": (1, 2, 7, 2)},
    "hiera_small_224": {"embed_dim": 96, "num_heads": 1, "stages": (1, 2, 11, 2)},
    "hiera_base_224": {"embed_dim": 96, "num_heads": 1, "stages": (2, 3, 16, 3)},
    "hiera_base_plus_224": {"embed_dim": 112, "num_heads": 2, "stages": (2, 3, 16, 3)},
    "hiera_large_224": {"embed_dim": 144, "num_heads": 2, "stages": (2, 6, 36, 4)},
    "hiera_huge_224": {"embed_dim": 256, "num_heads": 4, "stages": (2, 6, 36, 4)},
    "hiera_small_abswin_256": {
        "embed_dim": 96,
        "num_heads": 1,
        "stages": (1, 2, 11, 2),
        "abs_win_pos_embed": True,
        "global_pos_size": (16, 16),
        "init_values": 1e-5,
        "weight_init": "jax",
        "use_expand_proj": False,
    },
    "hiera_base_abswin_256": {
        "embed_dim": 96,
        "num_heads": 1,
        "stages": (2, 3, 16, 3),
        "abs_win_pos_embed": True,
        "init_values": 1e-5,
        "weight_init": "jax",
    },
}

LAYOUTS = (
    "hiera-hf's own (config.json with model_type 'hiera_hf'), Transformers' built-in Hiera (model_type 'hiera'), "
    "the official one (config.json of the hiera.Hiera / MaskedAutoencoderHiera constructor's arguments, such "
    "as embed_dim, stages, input_size, with model.safetensors in the official key names, as facebook/hiera_* on "
    "the Hub; or an official .pth file), or timm's (config.json with 'architecture' and 'pretrained_cfg', with "
    "model.safetensors or pytorch_model.bin in timm's key names, as timm/hiera_* on the Hub)"
)
WEIGHTS_LICENSE = (
    "Meta's official Hiera weights are licensed CC-BY-NC-4.0 (https://creativecommons.org/licenses/by-nc/4.0/): "
    "non-commercial use only, and models fine-tuned from them stay under it (hiera-hf's NOTICE)."
)


def layout_of(config_dict: dict) -> str | None:
    """The layout of a loaded config.json: "hiera_hf", "hiera" (Transformers' built-in), "official", "timm" or
    None for anything else."""
    model_type = config_dict.get("model_type")
    if model_type in ("hiera_hf", "hiera"):
        return model_type
    if model_type in (None, "timm_wrapper") and "architecture" in config_dict and "pretrained_cfg" in config_dict:
        return "timm"  # (Transformers' config reader adds model_type "timm_wrapper" to timm's files)
    if model_type is not None:
        return None
    if set(config_dict) & (_OFFICIAL_ONLY | set(MAE_ARGUMENTS)):
        return "official"
    return None


def official_labels(num_classes: int, is_video: bool) -> dict[int, str] | None:
    """ImageNet-1k (1000 classes, images) or Kinetics-400 (400, videos) class names as torchvision ships them (no
    download); None for other heads, or without torchvision."""
    try:
        from torchvision.models._meta import _IMAGENET_CATEGORIES, _KINETICS400_CATEGORIES
    except ImportError:
        return None
    names = _KINETICS400_CATEGORIES if is_video else _IMAGENET_CATEGORIES
    return dict(enumerate(names)) if len(names) == num_classes else None


# ---- reading weights ------------------------------------------------------------------------------------------

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# `from_pretrained` arguments that say where the files come from.
DOWNLOAD_KWARGS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")


def weight_keys(pretrained_model_name_or_path, **download_kwargs) -> list[str] | None:
    """The tensor names of a folder's or Hub repo's weights (`model.safetensors`'s header, or `pytorch_model.bin`
    memory-mapped with `weights_only=True`), or None without either file."""
    from safetensors import safe_open
    from transformers.utils import cached_file

    for name in WEIGHT_FILES:
        try:
            path = cached_file(pretrained_model_name_or_path, name, **download_kwargs)
        except OSError:  # (what cached_file raises for a file the folder or repo does not have)
            continue
        if name.endswith(".safetensors"):
            with safe_open(path, framework="pt") as weights:
                return list(weights.keys())
        return list(read_state_dict(path, mmap=True))
    return None


def read_state_dict(path, mmap: bool = False) -> dict[str, torch.Tensor]:
    """A `.pth`/`.bin` state dict, bare or as `{"model_state": ...}` (Meta's files), read with
    `torch.load(..., weights_only=True)`; a `.safetensors` file. Anything else is a `ValueError` naming it."""
    if not os.path.isfile(path):
        raise ValueError(f"{str(path)!r} does not exist.")
    try:
        if str(path).endswith(".safetensors"):
            from safetensors.torch import load_file

            checkpoint = load_file(str(path))
        else:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # a truncated zip or header, a pickle weights_only refuses, ...
        raise ValueError(f"Could not read checkpoint {str(path)!r}: {type(error).__name__}: {error}") from error
    state = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{str(path)!r} holds no state dict (expected {{'model_state': {{name: tensor}}}}).")
    return state


__all__ = [
    "DOWNLOAD_KWARGS",
    "LAYOUTS",
    "MAE_ARGUMENTS",
    "OFFICIAL_ARGUMENTS",
    "TIMM_ARCHITECTURES",
    "TIMM_ARGUMENTS",
    "WEIGHTS_LICENSE",
    "convert_state_dict",
    "hf_key_mapping",
    "hf_key_names",
    "key_to_hf",
    "layout_of",
    "official_labels",
    "read_state_dict",
    "reference_layout",
    "weight_keys",
]
