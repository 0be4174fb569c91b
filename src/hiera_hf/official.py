# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The official checkpoints' key names (`hiera-transformer`, facebookresearch/hiera) mapped to ours.

One place for the mapping: the conversion script and the parity tests both use `convert_official_state_dict`.
"""

from __future__ import annotations

import re

import torch

from .configuration_hiera import HieraConfig

# Keys of one official layer (`blocks.i.*`, `decoder_blocks.i.*`) -> ours, relative to the layer.
_LAYER_RENAMES = {"norm1": "layernorm_before", "norm2": "layernorm_after"}

# Everything outside the layers: official prefix -> ours.
_RENAMES = {
    "pos_embed": "hiera.embeddings.position_embeddings",
    "pos_embed_spatial": "hiera.embeddings.position_embeddings",
    "pos_embed_temporal": "hiera.embeddings.temporal_position_embeddings",
    "patch_embed.proj": "hiera.embeddings.patch_embeddings.projection",
    "norm": "hiera.pooler.layernorm",
    "head.projection": "classifier",
    # MAE
    "encoder_norm": "encoder_norm",
    "multi_scale_fusion_heads": "multiscale_fusion.multi_scale_fusion_heads",
    "mask_token": "decoder.mask_token",
    "decoder_embed": "decoder.decoder_embeddings",
    "decoder_pos_embed": "decoder.decoder_position_embeddings",
    "decoder_norm": "decoder.decoder_norm",
    "decoder_pred": "decoder.decoder_pred",
}

_BLOCK = re.compile(r"^(decoder_blocks|blocks)\.(\d+)\.([a-z0-9_]+)(\..+)?$")


def _layer_location(config: HieraConfig, index: int) -> tuple[int, int]:
    """Flat official block index -> (stage, layer within stage)."""
    for stage, depth in enumerate(config.depths):
        if index < depth:
            return stage, index
        index -= depth
    raise ValueError(f"block {index} is beyond the {sum(config.depths)} blocks of depths={tuple(config.depths)}")


def official_key_to_hf(key: str, config: HieraConfig) -> str:
    """Map one official state-dict key to our key (for `HieraFor*` models, encoder keys under `hiera.`)."""
    match = _BLOCK.match(key)
    if match:
        kind, index, module, rest = match.group(1), int(match.group(2)), match.group(3), match.group(4) or ""
        module = _LAYER_RENAMES.get(module, module)
        if kind == "decoder_blocks":
            return f"decoder.decoder_block.layers.{index}.{module}{rest}"
        stage, layer = _layer_location(config, index)
        return f"hiera.encoder.stages.{stage}.layers.{layer}.{module}{rest}"
    for prefix in sorted(_RENAMES, key=len, reverse=True):
        if key == prefix or key.startswith(prefix + "."):
            return _RENAMES[prefix] + key[len(prefix) :]
    raise KeyError(key)


def convert_official_state_dict(state_dict: dict[str, torch.Tensor], config: HieraConfig) -> dict[str, torch.Tensor]:
    """Rename an official state dict (`checkpoint["model_state"]`) to our keys. Unknown keys raise `ValueError`."""
    converted, source, unknown, clashes = {}, {}, [], []
    for key, tensor in state_dict.items():
        try:
            target = official_key_to_hf(key, config)
        except (KeyError, ValueError):
            unknown.append(key)
            continue
        if target in converted:  # e.g. both pos_embed and pos_embed_spatial: one would be silently dropped
            clashes.append(f"{source[target]} and {key} both map to {target}")
        converted[target], source[target] = tensor, key
    if unknown:
        raise ValueError(f"Keys not in the official Hiera layout: {sorted(unknown)}")
    if clashes:
        raise ValueError(f"Conflicting keys: {clashes}")
    return converted
