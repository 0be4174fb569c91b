# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Interop with the official implementation (`hiera-transformer`, facebookresearch/hiera), in one place.

- the official checkpoints' key names mapped to ours (`convert_official_state_dict`);
- our config as the official constructor's arguments, and the official model built from it (`official_model`);
- our model from an official one (`from_official`), and the two compared on the same input (`paired_outputs`);
- the accuracy the paper reports for the official fine-tuned checkpoints (`PAPER_TOP1`).

The conversion script, the parity tests and the benchmark all go through these.
"""

from __future__ import annotations

import math
import os
import re

import torch
from transformers.initialization import no_init_weights

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


def official_key_names(keys, config: HieraConfig) -> dict[str, str]:
    """Official key -> our key for every key of a checkpoint. Unknown keys, and two keys that would land on one of
    ours (e.g. both pos_embed and pos_embed_spatial: one would be silently dropped), raise `ValueError`."""
    names, source, unknown, clashes = {}, {}, [], []
    for key in keys:
        try:
            target = official_key_to_hf(key, config)
        except (KeyError, ValueError):
            unknown.append(key)
            continue
        if target in source:
            clashes.append(f"{source[target]} and {key} both map to {target}")
        names[key], source[target] = target, key
    if unknown:
        raise ValueError(f"Keys not in the official Hiera layout: {sorted(unknown)}")
    if clashes:
        raise ValueError(f"Conflicting keys: {clashes}")
    return names


def convert_official_state_dict(state_dict: dict[str, torch.Tensor], config: HieraConfig) -> dict[str, torch.Tensor]:
    """Rename an official state dict (`checkpoint["model_state"]`) to our keys. Unknown keys raise `ValueError`."""
    return {ours: state_dict[key] for key, ours in official_key_names(state_dict, config).items()}


def official_key_mapping(keys, config: HieraConfig) -> dict[str, str]:
    """The same renaming as Transformers' load-time `key_mapping` (`from_pretrained(..., key_mapping=...)`): one
    anchored pattern per checkpoint key, so it renames exactly as `official_key_to_hf` does."""
    return {f"^{re.escape(key)}$": ours for key, ours in official_key_names(keys, config).items()}


# ---- the checkpoints as Meta publishes them: Hub repos in the official layout, and .pth files ----------------------

# The official constructors' arguments (hiera-transformer 0.1.4) and their defaults. A Hub `config.json` written by
# the official `save_pretrained` holds the arguments the constructor was given (for MAE also the MAE class's own);
# the others take these defaults.
CLASSIFIER_ARGUMENTS = {
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
LAYOUTS = (
    "hiera-hf's own (config.json with model_type 'hiera_hf'), Transformers' built-in Hiera (model_type 'hiera'), "
    "or the official one (config.json of the hiera.Hiera / MaskedAutoencoderHiera constructor's arguments, such "
    "as embed_dim, stages, input_size, with model.safetensors in the official key names, as facebook/hiera_* on "
    "the Hub; or an official .pth file)"
)
WEIGHTS_LICENSE = (
    "Meta's official Hiera weights are licensed CC-BY-NC-4.0 (https://creativecommons.org/licenses/by-nc/4.0/): "
    "non-commercial use only, and models fine-tuned from them stay under it (hiera-hf's NOTICE)."
)
_OFFICIAL_ONLY = {"stages", "input_size", "q_pool", "in_chans", "mask_unit_size", "patch_kernel", "sep_pos_embed"}


def is_official_config(config_dict: dict) -> bool:
    """A config.json in the official layout: no model_type, and some argument only the official constructor has."""
    return "model_type" not in config_dict and bool(set(config_dict) & (_OFFICIAL_ONLY | set(MAE_ARGUMENTS)))


def official_labels(num_classes: int, is_video: bool) -> dict[int, str] | None:
    """ImageNet-1k (1000 classes, images) or Kinetics-400 (400, videos) class names as torchvision ships them (no
    download); None for other heads, or without torchvision."""
    try:
        from torchvision.models._meta import _IMAGENET_CATEGORIES, _KINETICS400_CATEGORIES
    except ImportError:
        return None
    names = _KINETICS400_CATEGORIES if is_video else _IMAGENET_CATEGORIES
    return dict(enumerate(names)) if len(names) == num_classes else None


def config_from_official(arguments: dict, pretraining: bool) -> dict:
    """The official constructor's `arguments` -> our config dict (a classifier's, or with `pretraining` the MAE's).

    Raises `ValueError` for what the official layout does not have, or what our config cannot express.
    """
    names = {**CLASSIFIER_ARGUMENTS, **MAE_ARGUMENTS}
    unknown = sorted(set(arguments) - set(names))
    if unknown:
        raise ValueError(
            f"config.json looks like the official layout but has arguments the official Hiera constructors do not "
            f"take: {unknown} (they take: {', '.join(names)})."
        )
    if arguments.get("norm_layer", "LayerNorm") != "LayerNorm":
        raise ValueError(f"norm_layer={arguments['norm_layer']!r}: only the official LayerNorm is supported.")
    given = {**CLASSIFIER_ARGUMENTS, **(MAE_ARGUMENTS if pretraining else {}), **arguments}
    input_size, stages = list(given["input_size"]), list(given["stages"])
    heads, widths, head, width = [], [], given["num_heads"], given["embed_dim"]
    for _ in stages:  # official: each stage multiplies the previous one's, rounding down
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
        "decoder_hidden_size": given.get("decoder_embed_dim", MAE_ARGUMENTS["decoder_embed_dim"]),
        "decoder_depth": given.get("decoder_depth", MAE_ARGUMENTS["decoder_depth"]),
        "decoder_num_heads": given.get("decoder_num_heads", MAE_ARGUMENTS["decoder_num_heads"]),
    }
    try:
        ours = HieraConfig.from_dict(config)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"The official arguments {arguments} describe a Hiera this package cannot build: {error}"
        ) from error
    if ours.stage_widths != widths:
        raise ValueError(f"Stage widths {widths} (dim_mul={given['dim_mul']}) are not embed_dim * dim_mul**i.")
    if pretraining:
        config["mask_ratio"] = 0.9 if ours.is_video else 0.6  # the paper's
        config["architectures"] = ["HieraForPreTraining"]
    else:
        config["num_labels"] = given["num_classes"]
        labels = official_labels(given["num_classes"], ours.is_video)
        if labels is not None:
            config["id2label"], config["label2id"] = labels, {name: index for index, name in labels.items()}
        config["architectures"] = [hiera_class_for(ours, "classification").__name__]
    return config


def official_weight_keys(pretrained_model_name_or_path, **download_kwargs) -> list[str] | None:
    """The tensor names in the `model.safetensors` of a folder or Hub repo (its header only), or None without one."""
    from safetensors import safe_open
    from transformers.utils import cached_file

    path = cached_file(
        pretrained_model_name_or_path,
        "model.safetensors",
        _raise_exceptions_for_missing_entries=False,
        **download_kwargs,
    )
    if path is None:
        return None
    with safe_open(path, framework="pt") as weights:
        return list(weights.keys())


def official_config_dict(config_dict: dict, pretrained_model_name_or_path, **download_kwargs) -> dict:
    """Our config dict for an official-layout `config.json`: MAE if it has the decoder's arguments or its weights
    have a decoder."""
    pretraining = bool(set(config_dict) & set(MAE_ARGUMENTS))
    if not pretraining:
        keys = official_weight_keys(pretrained_model_name_or_path, **download_kwargs) or []
        pretraining = "decoder_embed.weight" in keys
    return config_from_official(config_dict, pretraining)


def load_official_checkpoint(path) -> dict[str, torch.Tensor]:
    """An official `.pth` (`{"model_state": state_dict}`, read with `torch.load(..., weights_only=True)`)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{str(path)!r} does not exist.") from None
    except Exception as error:  # a truncated zip, a pickle weights_only refuses, a bad header...
        raise ValueError(f"Could not read checkpoint {str(path)!r}: {type(error).__name__}: {error}") from error
    state = checkpoint.get("model_state", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{str(path)!r} holds no state dict (expected {{'model_state': {{name: tensor}}}}).")
    return state


def official_checkpoint_config(path, state_dict: dict, architecture: str | None) -> HieraConfig:
    """The config of an official `.pth`: the preset `architecture` names, or the one its official file name names
    (`hiera_base_224.pth`, `mae_hiera_base_224.pth`); MAE when the weights have a decoder."""
    from .configuration_hiera import PRESETS

    pretraining = "decoder_embed.weight" in state_dict
    if architecture is None:
        stem = os.path.basename(str(path)).removesuffix(".pth").removeprefix("mae_")
        if stem not in PRESETS:
            raise ValueError(
                f"{str(path)!r} is not named after an official architecture: pass config=HieraConfig(...) or "
                f"architecture= one of {', '.join(PRESETS)}."
            )
        architecture = stem
    arguments = official_kwargs(HieraConfig.from_preset(architecture), pretraining)
    if "head.projection.weight" in state_dict:
        arguments["num_classes"] = state_dict["head.projection.weight"].shape[0]
    return HieraConfig.from_dict(config_from_official(arguments, pretraining))


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
    if state_dict is None:
        return model_class(**official_kwargs(config, pretraining)).eval()
    with no_init_weights():  # every weight is loaded next (the init of Hiera-H alone takes ~8 s)
        model = model_class(**official_kwargs(config, pretraining))
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def from_official(official: torch.nn.Module, config: HieraConfig, **kwargs) -> torch.nn.Module:
    """Our model (classifier, or MAE for the official MAE class) with `official`'s weights, in eval mode.

    `kwargs` go to the constructor (e.g. `attn_implementation`). Keys are mapped by `convert_official_state_dict` and
    loaded strictly: every official weight used, every one of ours filled.
    """
    if not isinstance(official, torch.nn.Module):
        raise TypeError(
            f"from_official takes an official hiera model (torch.nn.Module), got {type(official).__name__}; for a "
            "checkpoint's state dict use official_model(config, state_dict=...) first."
        )
    if not isinstance(config, HieraConfig):
        raise TypeError(f"from_official needs the HieraConfig of the model, got {type(config).__name__}.")
    pretraining = not hasattr(official, "head")  # the official MAE model deletes its head
    config = HieraConfig.from_dict(config.to_dict())  # a copy
    if not pretraining:
        config.num_labels = official.head.projection.out_features
    state_dict = convert_official_state_dict(official.state_dict(), config)
    model_class = hiera_class_for(config, "pretraining" if pretraining else "classification")
    with no_init_weights():  # every weight is loaded next (the init of Hiera-H alone takes ~8 s)
        model = model_class._from_config(config, **kwargs)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:  # missing, unexpected or differently sized weights
        raise ValueError(
            f"The official model does not have the architecture of this config (embed_dim={config.embed_dim}, "
            f"depths={tuple(config.depths)}, num_heads={tuple(config.num_heads)}, num_frames={config.num_frames}): "
            f"build the config from the same preset. {str(error)[:400]}"
        ) from error
    return model.eval()


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
            "masked_predictions": (outputs.logits[~outputs.bool_masked_pos], predictions),
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


def max_difference(model, official, pixel_values: torch.Tensor, noise: torch.Tensor | None = None) -> float:
    """The largest absolute difference over `paired_outputs`."""
    pairs = paired_outputs(model, official, pixel_values, noise)
    return max(float((ours - theirs).abs().max()) for ours, theirs in pairs.values())
