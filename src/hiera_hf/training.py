# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Model-specific helpers for training: loading with config overrides, layer-wise learning-rate decay groups. The
example scripts' plumbing (data, Trainer, arguments) is in `examples/`."""

from __future__ import annotations

import json
import re

from .configuration_hiera import PRESETS, HieraConfig


def from_preset_or_pretrained(
    model_class,
    name_or_path: str,
    config_overrides: str | dict | None = None,
    for_pretraining: bool = False,
    **config_kwargs,
):
    """A model from a preset name (random init), a local folder or a Hub id.

    `config_overrides`: a dict or JSON object string of config fields (e.g. `{"embed_dim": 32, "depths": [1, 1, 2,
    1], "image_size": [64, 64]}`). `config_kwargs` (labels, ...) are set on the config too. From a folder, a new
    `image_size`/`num_frames` interpolates the position embeddings and an MAE folder loads into other classes with
    three query poolings (see `HieraPreTrainedModel.from_pretrained`); any weight whose size differs (a head for
    other labels) is re-initialised, and Transformers' warning lists it.
    """
    overrides = json.loads(config_overrides) if isinstance(config_overrides, str) else dict(config_overrides or {})
    overrides.update(config_kwargs)
    if name_or_path in PRESETS:
        return model_class(HieraConfig.from_preset(name_or_path, for_pretraining=for_pretraining, **overrides))
    return model_class.from_pretrained(name_or_path, ignore_mismatched_sizes=True, **overrides)


_ENCODER_LAYER = re.compile(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.")


def layer_index(name: str, depths: list[int]) -> int:
    """0 for the embeddings, `i + 1` for the i-th transformer layer over all stages, `sum(depths) + 1` after."""
    if name.startswith("embeddings.") or ".embeddings." in name:
        return 0
    match = _ENCODER_LAYER.search(name)
    if match:
        stage, layer = int(match.group(1)), int(match.group(2))
        return sum(depths[:stage]) + layer + 1
    return sum(depths) + 1


def layerwise_lr_groups(model, learning_rate: float, weight_decay: float, layer_decay: float) -> list[dict]:
    """Parameter groups for AdamW with layer-wise learning-rate decay (the paper's fine-tuning recipe).

    Layer `l` of `L` gets `learning_rate * layer_decay ** (L + 1 - l)` (the head `l = L + 1` gets the full rate);
    biases, norms, position embeddings and the mask token get no weight decay.
    """
    config = getattr(model.config, "backbone_config", None) or model.config  # a dense model's Hiera backbone
    depths = list(config.depths)
    num_layers = sum(depths)
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        index = layer_index(name, depths)
        no_decay = param.ndim == 1 or "position_embeddings" in name or "mask_token" in name
        group = groups.setdefault(
            (index, no_decay),
            {
                "params": [],
                "lr": learning_rate * layer_decay ** (num_layers + 1 - index),
                "weight_decay": 0.0 if no_decay else weight_decay,
            },
        )
        group["params"].append(param)
    return list(groups.values())


__all__ = ["layer_index", "layerwise_lr_groups", "from_preset_or_pretrained"]
