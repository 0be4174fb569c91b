# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Interop with the official implementation (`hiera-transformer`, facebookresearch/hiera), in one place.

- the official checkpoints' key names mapped to ours (`convert_official_state_dict`);
- our config as the official constructor's arguments, and the official model built from it (`official_model`);
- our model from an official one (`from_official`), and the two compared on the same input (`paired_outputs`);
- the accuracy the paper reports for the official fine-tuned checkpoints (`PAPER_TOP1`).

The conversion script, the parity tests and the benchmark all go through these.
"""

from __future__ import annotations

import re

import torch

from .configuration_hiera import HieraConfig
from .modeling_hiera import hiera_class_for

# ImageNet-1k top-1 of the fine-tuned image checkpoints and Kinetics-400 top-1 (5 clips x 3 crops) of the video ones,
# as the paper reports them (%).
PAPER_TOP1 = {
    "hiera_tiny_224": 82.8,
    "hiera_small_224": 83.8,
    "hiera_base_224": 84.5,
    "hiera_base_plus_224": 85.2,
    "hiera_large_224": 86.1,
    "hiera_huge_224": 86.9,
    "hiera_base_16x224": 84.0,
    "hiera_base_plus_16x224": 85.0,
    "hiera_large_16x224": 87.3,
    "hiera_huge_16x224": 87.8,
}

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


# ---- the official model for one of our configs, and comparing outputs -------------------------------------------


def official_kwargs(config: HieraConfig, pretraining: bool = False) -> dict:
    """Our config -> the arguments of the official constructor (`hiera.Hiera`, or `hiera.MaskedAutoencoderHiera`)."""
    heads = list(config.num_heads)
    head_mul = heads[1] / heads[0] if len(heads) > 1 else 2.0
    if any(heads[0] * head_mul**i != h for i, h in enumerate(heads)):
        raise ValueError(f"num_heads {tuple(heads)} is not geometric: the official Hiera cannot express it.")
    kwargs = dict(
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
        kwargs.update(
            decoder_embed_dim=config.decoder_hidden_size,
            decoder_depth=config.decoder_depth,
            decoder_num_heads=config.decoder_num_heads,
        )
    else:
        kwargs.update(num_classes=config.num_labels, head_dropout=config.head_dropout)
    return kwargs


def official_model(config: HieraConfig, pretraining: bool = False, state_dict: dict | None = None) -> torch.nn.Module:
    """The official model (`pip install hiera-transformer`) with `config`'s architecture, in eval mode.

    Its own random init, or `state_dict` (official key names) loaded strictly.
    """
    import hiera

    model_class = hiera.MaskedAutoencoderHiera if pretraining else hiera.Hiera
    model = model_class(**official_kwargs(config, pretraining))
    if state_dict is not None:
        model.load_state_dict(state_dict, strict=True)
    return model.eval()


def from_official(official: torch.nn.Module, config: HieraConfig, **kwargs) -> torch.nn.Module:
    """Our model (classifier, or MAE for the official MAE class) with `official`'s weights, in eval mode.

    `kwargs` go to the constructor (e.g. `attn_implementation`). Keys are mapped by `convert_official_state_dict` and
    loaded strictly: every official weight used, every one of ours filled.
    """
    pretraining = not hasattr(official, "head")  # the official MAE model deletes its head
    config = HieraConfig.from_dict(config.to_dict())  # a copy
    if not pretraining:
        config.num_labels = official.head.projection.out_features
    state_dict = convert_official_state_dict(official.state_dict(), config)
    model_class = hiera_class_for(config, "pretraining" if pretraining else "classification")
    model = model_class._from_config(config, **kwargs)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def official_layout_to_ours(pixel_values: torch.Tensor) -> torch.Tensor:
    """Official pixels `(B, C, H, W)` / `(B, C, T, H, W)` -> ours `(B, C, H, W)` / `(B, T, C, H, W)`."""
    return pixel_values.transpose(1, 2) if pixel_values.ndim == 5 else pixel_values


@torch.no_grad()
def paired_outputs(model, official, pixel_values: torch.Tensor, noise: torch.Tensor | None = None) -> dict:
    """The same quantities from our `model` and the `official` one on `pixel_values` (official layout).

    Returns `{name: (ours, official)}`. Classifiers: `logits` (official: its head applies a softmax in eval mode,
    so it runs in train mode here), `pooled` features and each stage's output in spatial order (`stage1`, ...).
    MAE (`noise` fixes the mask of both): `loss` and `masked_predictions`.
    """
    ours_pixels = official_layout_to_ours(pixel_values)
    if not hasattr(official, "head"):
        outputs = model(ours_pixels, noise=noise)
        unit_grid = [t // m for t, m in zip(model.config.tokens_spatial_shape, model.config.masked_unit_size)]
        keep = model.hiera.visible_mask_units(unit_grid, pixel_values.shape[0], pixel_values.device, noise)[0]
        loss, predictions, _, _ = official(pixel_values, mask=keep)
        return {
            "loss": (outputs.loss, loss),
            "masked_predictions": (outputs.logits[~outputs.bool_masked_pos], predictions),
        }
    head_was_training = official.head.training
    official.head.train()
    try:
        official_logits, stages = official(pixel_values, return_intermediates=True)
    finally:
        official.head.train(head_was_training)
    outputs = model.hiera(ours_pixels, output_hidden_states=True)
    pairs = {
        "logits": (model.classifier(outputs.pooler_output), official_logits),
        "pooled": (outputs.pooler_output, official.norm(stages[-1].flatten(1, -2).mean(dim=1))),
    }
    for index, (ours_stage, official_stage) in enumerate(zip(outputs.reshaped_hidden_states[1:], stages)):
        pairs[f"stage{index + 1}"] = (ours_stage, official_stage)
    return pairs


def max_difference(model, official, pixel_values: torch.Tensor, noise: torch.Tensor | None = None) -> float:
    """The largest absolute difference over `paired_outputs`."""
    pairs = paired_outputs(model, official, pixel_values, noise)
    return max(float((ours - theirs).abs().max()) for ours, theirs in pairs.values())
