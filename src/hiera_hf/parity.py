# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Parity tooling: the reference implementations (Meta's official `hiera-transformer` and timm) built for one of our
configs, our model from theirs, and the two compared on the same input.

- `official_model` / `timm_model`: the reference model with a config's architecture;
- `from_official` / `from_timm`: our model with a reference model's weights (through the one key map);
- `paired_outputs` / `timm_paired_outputs`, `max_difference`: the same quantities from both;
- `PAPER_TOP1`: the accuracy the paper reports for the official fine-tuned checkpoints.

The conversion script, the parity tests and the benchmarks use these; models do not (this module is not part of a
saved folder's remote code).
"""

from __future__ import annotations

import math

import torch
from transformers.initialization import no_init_weights

from .configuration_hiera import HieraConfig, official_arguments, timm_arguments
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


def official_model(config: HieraConfig, pretraining: bool = False, state_dict: dict | None = None) -> torch.nn.Module:
    """The official model (`pip install hiera-transformer`) with `config`'s architecture, in eval mode.

    Its own random init, or `state_dict` (official key names) loaded strictly.
    """
    import hiera

    model_class = hiera.MaskedAutoencoderHiera if pretraining else hiera.Hiera
    if state_dict is None:
        return model_class(**official_arguments(config, pretraining)).eval()
    with no_init_weights():  # every weight is loaded next (the init of Hiera-H alone takes ~8 s)
        model = model_class(**official_arguments(config, pretraining))
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def timm_model(config: HieraConfig, state_dict: dict | None = None, **kwargs) -> torch.nn.Module:
    """timm's `Hiera` with `config`'s architecture, in eval mode: its own random init, or `state_dict` (timm's key
    names) loaded strictly. `kwargs` override timm's constructor arguments (`num_classes=0`, `img_size`, ...)."""
    from timm.models.hiera import Hiera

    arguments = {**timm_arguments(config), **kwargs}
    if state_dict is None:
        return Hiera(**arguments).eval()
    with no_init_weights():  # every weight is loaded next
        model = Hiera(**{"weight_init": "skip", "fix_init": False, **arguments})
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def _checked_reference(model, config, name: str) -> None:
    article = "an" if name[0] in "aeiou" else "a"
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"from_{name} takes {article} {name} hiera model (torch.nn.Module), got {type(model).__name__}; for a "
            f"checkpoint's state dict use {name}_model(config, state_dict=...) first."
        )
    if not isinstance(config, HieraConfig):
        raise TypeError(f"from_{name} needs the HieraConfig of the model, got {type(config).__name__}.")


def from_official(official: torch.nn.Module, config: HieraConfig, **kwargs) -> torch.nn.Module:
    """Our model (classifier, or MAE for the official MAE class) with `official`'s weights, in eval mode.

    `kwargs` go to `from_pretrained` (e.g. `attn_implementation`). The weights go through
    `HieraPreTrainedModel.from_reference_weights`: every official weight used, every one of ours filled.
    """
    _checked_reference(official, config, "official")
    pretraining = not hasattr(official, "head")  # the official MAE model deletes its head
    config = HieraConfig.from_dict(config.to_dict())  # a copy
    if not pretraining:
        config.num_labels = official.head.projection.out_features
    model_class = hiera_class_for(config, "pretraining" if pretraining else "classification")
    return model_class.from_reference_weights(official.state_dict(), config, **kwargs)


def from_timm(timm: torch.nn.Module, config: HieraConfig, task: str = "classification", **kwargs) -> torch.nn.Module:
    """Our model for `task` ("classification", "base" or "backbone") with the weights of timm's `Hiera` `timm`,
    in eval mode (see `from_official`). The base model takes timm's head norm as its pooler's; the backbone takes
    neither (its map norms are its own and keep their init)."""
    _checked_reference(timm, config, "timm")
    config = HieraConfig.from_dict(config.to_dict())
    state_dict = timm.state_dict()
    if task == "classification":
        config.num_labels = timm.num_classes
    else:
        head = ("head.",) if task == "backbone" else ("head.fc.",)
        state_dict = {key: value for key, value in state_dict.items() if not key.startswith(head)}
    return hiera_class_for(config, task).from_reference_weights(state_dict, config, **kwargs)


def official_layout_to_ours(pixel_values: torch.Tensor) -> torch.Tensor:
    """Official pixels `(B, C, H, W)` / `(B, C, T, H, W)` -> ours `(B, C, H, W)` / `(B, T, C, H, W)`."""
    return pixel_values.transpose(1, 2) if pixel_values.ndim == 5 else pixel_values


@torch.no_grad()
def paired_outputs(model, official, pixel_values: torch.Tensor, noise: torch.Tensor | None = None) -> dict:
    """The same quantities from our `model` and the `official` one on `pixel_values` (official layout).

    Returns `{name: (ours, official)}`. Classifiers: `logits` (official: its head applies a softmax in eval mode,
    so it runs in train mode here), `pooled` features and each stage's output in spatial order (`stage1`, ...).
    MAE: `loss` and `masked_predictions`, both models hiding the same units (those `noise` picks; random noise,
    the same for both, if none is given).
    """
    ours_pixels = official_layout_to_ours(pixel_values)
    if not hasattr(official, "head"):
        unit_grid = [t // m for t, m in zip(model.config.tokens_spatial_shape, model.config.masked_unit_size)]
        if noise is None:
            noise = torch.rand(pixel_values.shape[0], math.prod(unit_grid), device=pixel_values.device)
        outputs = model(ours_pixels, noise=noise)
        keep = model.hiera.visible_mask_units(unit_grid, pixel_values.shape[0], pixel_values.device, noise)[0]
        loss, predictions, _, _ = official(pixel_values, mask=keep)
        return {
            "loss": (outputs.loss, loss),
            "masked_predictions": (outputs.logits[~outputs.visible_patches], predictions),
        }
    head_was_training = official.head.training
    official.head.train()
    try:
        official_logits, stages = official(pixel_values, return_intermediates=True)
    finally:
        official.head.train(head_was_training)
    outputs = model(ours_pixels, output_hidden_states=True)  # the classifier's own forward, checks and all
    pairs = {
        "logits": (outputs.logits, official_logits),
        "pooled": (
            model.hiera.pooler(outputs.hidden_states[-1]),
            official.norm(stages[-1].flatten(1, -2).mean(dim=1)),
        ),
    }
    for index, (ours_stage, official_stage) in enumerate(zip(outputs.reshaped_hidden_states[1:], stages)):
        pairs[f"stage{index + 1}"] = (ours_stage, official_stage)
    return pairs


@torch.no_grad()
def timm_paired_outputs(model, timm, pixel_values: torch.Tensor, interpolate_pos_encoding: bool = False) -> dict:
    """The same quantities from our image classifier (or base model) `model` and timm's `Hiera` `timm` on
    `pixel_values`: `logits` (a base model: `pooled`, timm's head without its classifier), and each stage's output in
    spatial order (timm's `forward_intermediates`, channels last)."""
    outputs = model(pixel_values, output_hidden_states=True, interpolate_pos_encoding=interpolate_pos_encoding)
    features, stages = timm.forward_intermediates(pixel_values, output_fmt="NHWC")
    head = "logits" if hasattr(outputs, "logits") else "pooler_output"
    pairs = {head.replace("pooler_output", "pooled"): (getattr(outputs, head), timm.forward_head(features))}
    for index, (ours_stage, timm_stage) in enumerate(zip(outputs.reshaped_hidden_states[1:], stages)):
        pairs[f"stage{index + 1}"] = (ours_stage, timm_stage)
    return pairs


def max_difference(model, official, pixel_values: torch.Tensor, noise: torch.Tensor | None = None) -> float:
    """The largest absolute difference over `paired_outputs`."""
    pairs = paired_outputs(model, official, pixel_values, noise)
    return max(float((ours - theirs).abs().max()) for ours, theirs in pairs.values())


__all__ = [
    "PAPER_TOP1",
    "from_official",
    "from_timm",
    "max_difference",
    "official_layout_to_ours",
    "official_model",
    "paired_outputs",
    "timm_model",
    "timm_paired_outputs",
]
