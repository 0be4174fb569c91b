# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Pictures of what a Hiera model does (matplotlib: `pip install "hiera-hf[viz]"`).

Each function takes a model, its processor (None: the evaluation transform sized for the model) and an input (an
image or video path, a PIL image, an `(H, W, C)` image or `(T, H, W, C)` video array) and returns a matplotlib
`Figure`:

- `mae_reconstruction_figure`: original | masked input | prediction | prediction pasted into the visible patches.
- `attention_figure`: one query's attention weights over its mask unit (or the whole input), per head and averaged.
- `attention_rollout_figure`: attention rolled out from the last layer to the input tokens (optionally weighted by
  the gradient of a class: gradient rollout).
- `feature_maps_figure`: the first three principal components of each stage's features as RGB.
- `predictions_figure`: the top-k labels and their probabilities.

Videos are drawn as rows, one per temporal token (its first frame). `python -m hiera_hf visualize` writes the PNGs.
"""

from __future__ import annotations

import argparse
import io
import itertools
import math
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .configuration_hiera import HieraConfig
from .modeling_hiera import (
    HieraForImageClassification,
    HieraForPreTraining,
    HieraForVideoClassification,
    HieraModel,
    HieraPreTrainedModel,
    channels_first,
    load_saved,
    unroll,
)
from .video_processing_hiera import VIDEO_EXTENSIONS

FIGURES = ("predictions", "attention", "rollout", "features", "reconstruction")
ON_REQUEST = ("rollout",)  # drawn for every model, but only when asked for (`--figures rollout`)


def _figure(width: float, height: float):
    """A pyplot-free Figure: no global state, safe in a web server's worker threads."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('The pictures need matplotlib: pip install "hiera-hf[viz]".') from error
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


# ---------------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class PreparedInput:
    """A processed input: `pixel_values` `(1, C, H, W)` or `(1, T, C, H, W)` for the model, and the same pixels
    de-normalised to RGB in [0, 1] for drawing: `(H, W, 3)` or `(T, H, W, 3)`."""

    pixel_values: torch.Tensor
    rgb: np.ndarray


def default_processor(model: HieraPreTrainedModel):
    """The processor saved with the model (folder or Hub id), or the evaluation transform sized for its config."""
    from .processors import processor_for

    return processor_for(model.config, model.name_or_path)


def _read(source, is_video: bool):
    """A path, PIL image or array -> a PIL image or a `(T, H, W, 3)` frame array, with errors that say what came."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{str(path)!r} is not a file.")
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            return path  # the video processor decodes the frames it uses (and names an unreadable file)
        try:
            with Image.open(path) as image:
                image.load()
                return image.copy()
        except (UnidentifiedImageError, OSError) as error:
            kind = "a video or an image" if is_video else "an image"
            raise ValueError(
                f"{path.name!r} is not {kind} this model can read (images: anything PIL opens; videos: "
                f"{', '.join(VIDEO_EXTENSIONS)})."
            ) from error
    if isinstance(source, (Image.Image, np.ndarray, torch.Tensor)):
        return source
    raise TypeError(f"Expected an image or video path, a PIL image or an array, got {type(source).__name__}.")


def prepare_input(model: HieraPreTrainedModel, processor, source) -> PreparedInput:
    """Read `source`, check that it suits the model (image model: an image; video model: a video) and process it
    (a `PreparedInput` passes through, so one input can feed several pictures)."""
    if isinstance(source, PreparedInput):
        return source
    processor = processor or default_processor(model)
    is_video = model.config.is_video
    data = _read(source, is_video)
    data_is_video = isinstance(data, Path) or (not isinstance(data, Image.Image) and np.ndim(data) == 4)
    if data_is_video != is_video:
        wanted, got = ("a video", "an image") if is_video else ("an image", "a video")
        named = f" ({Path(source).name!r})" if isinstance(source, (str, os.PathLike)) else ""
        raise ValueError(f"This model takes {wanted}; got {got}{named}.")
    pixel_values = processor(data, return_tensors="pt").pixel_values[:1]
    return PreparedInput(pixel_values, _to_rgb(pixel_values[0], processor))


def _to_rgb(pixels: torch.Tensor, processor) -> np.ndarray:
    """Normalised `(..., C, H, W)` pixels -> `(..., H, W, C)` RGB in [0, 1] (NaN stays NaN)."""
    mean = torch.tensor(processor.image_mean).view(3, 1, 1)
    std = torch.tensor(processor.image_std).view(3, 1, 1)
    return (pixels * std + mean).clamp(0, 1).movedim(-3, -1).numpy()


def _frames(prepared: PreparedInput, config: HieraConfig) -> np.ndarray:
    """RGB frames to draw, `(rows, H, W, 3)`: the image, or the first frame of each temporal token."""
    if not config.is_video:
        return prepared.rgb[None]
    return prepared.rgb[:: config.patch_stride[0]]


def _encoder(model: HieraPreTrainedModel) -> HieraModel:
    """The model's encoder (`HieraModel`, which masks only when asked to: an MAE's encoder runs unmasked)."""
    if isinstance(model, HieraModel):
        return model
    if isinstance(model, HieraPreTrainedModel) and isinstance(getattr(model, "hiera", None), HieraModel):
        return model.hiera  # the classifiers, the backbone and MAE
    raise TypeError(f"Expected a Hiera model from hiera_hf, got {type(model).__name__}.")


def _caption(figure, text: str, fontsize: int = 10) -> None:
    """A title wrapped to the figure's width (about 1.6 x fontsize points per character)."""
    width = int(figure.get_figwidth() * 72 / (0.6 * fontsize))
    lines = [textwrap.fill(line, width) for line in text.splitlines()]
    figure.suptitle("\n".join(lines), fontsize=fontsize)


def _hide_axes(axes) -> None:
    for ax in np.ravel(axes):
        ax.set_xticks([])
        ax.set_yticks([])


# ---------------------------------------------------------------------------------------------------------------
# Predictions
# ---------------------------------------------------------------------------------------------------------------


def top_predictions(model, processor, source, top_k: int = 5) -> list[tuple[str, float]]:
    """The `top_k` (label, probability) pairs of a classifier, best first."""
    if not isinstance(model, (HieraForImageClassification, HieraForVideoClassification)):
        raise TypeError(f"Predictions need a classifier, got {type(model).__name__}.")
    prepared = prepare_input(model, processor, source)
    with torch.inference_mode():
        probabilities = model(prepared.pixel_values).logits.float().softmax(-1)[0]
    scores, indices = probabilities.topk(min(top_k, probabilities.numel()))
    return [(model.config.id2label[i], s) for s, i in zip(scores.tolist(), indices.tolist())]


def predictions_figure(model, processor, source, top_k: int = 5):
    """A bar chart of the top-k labels and probabilities, beside the input."""
    prepared = prepare_input(model, processor, source)
    pairs = top_predictions(model, processor, prepared, top_k)
    frame = _frames(prepared, model.config)[0]
    figure = _figure(8, 0.45 * len(pairs) + 1.6)
    image_ax, bar_ax = figure.subplots(1, 2, width_ratios=[1, 2])
    image_ax.imshow(frame)
    image_ax.set_title("input (first frame)" if model.config.is_video else "input")
    _hide_axes(image_ax)
    labels, scores = [label for label, _ in pairs][::-1], [score for _, score in pairs][::-1]
    bars = bar_ax.barh(range(len(pairs)), scores, color="tab:blue")
    bar_ax.set_yticks(range(len(pairs)), labels)
    bar_ax.bar_label(bars, labels=[f"{s:.1%}" for s in scores], padding=3)
    bar_ax.set_xlim(0, 1.15)
    bar_ax.set_xlabel("probability")
    bar_ax.set_title(f"top-{len(pairs)} predictions")
    return figure


# ---------------------------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class QueryAttention:
    """One query token's attention weights laid onto the key token grid.

    `weights` `(heads, *key_grid)`: zero outside the keys the query attends to (its mask unit, or everything for
    global attention); each head sums to 1. `query_box`: the query token's extent in input pixels, per dimension
    `(start, stop)`. `key_stride`: input pixels per key token, per dimension. `mask_unit_attention`: whether the layer
    attends within mask units.
    """

    weights: torch.Tensor
    query_box: list[tuple[int, int]]
    key_stride: list[int]
    mask_unit_attention: bool
    layer: int
    stage: int


def query_attention(model, processor, source, query=None, layer: int = -1) -> QueryAttention:
    """The attention weights of the token at `query` (input pixel coordinates `(y, x)`, or `(t, y, x)` for videos;
    default the center) in encoder layer `layer` (an index over all layers; negative counts from the end).

    Tokens are stored unrolled (see `modeling_hiera.unroll`), so the query's place in the sequence is found by
    unrolling the raster indices of the layer's query grid, and the key weights go back onto the grid with
    `HieraEncoder.to_grid`, the same inverse the model uses for `reshaped_hidden_states`.
    """
    encoder = _encoder(model)
    config = encoder.config
    prepared = prepare_input(model, processor, source)
    layers = [(s, block) for s, stage in enumerate(encoder.encoder.stages) for block in stage.layers]
    if not -len(layers) <= layer < len(layers):
        raise ValueError(f"layer must be in [{-len(layers)}, {len(layers) - 1}], got {layer}.")
    layer = layer % len(layers)
    stage, block = layers[layer]
    pixels = channels_first(prepared.pixel_values, config.is_video)
    size = list(pixels.shape[2:])
    query = [s // 2 for s in size] if query is None else list(query)
    if len(query) != len(size) or not all(0 <= q < s for q, s in zip(query, size)):
        raise ValueError(f"query must be {len(size)} pixel coordinates inside the input {tuple(size)}, got {query}.")

    with torch.inference_mode():
        attentions = encoder(prepared.pixel_values, output_attentions=True).attentions
    weights = attentions[layer][0]  # (heads, units, queries, keys)
    grid = encoder.embeddings.token_grid(pixels)
    pooled_out = encoder.encoder.poolings_before(stage + 1)
    pooled_in = pooled_out - (block.attn.query_stride > 1)

    query_grid = [g // q**pooled_out for g, q in zip(grid, config.query_stride)]
    query_stride = encoder.encoder.token_stride(pooled_out)
    cell = [q // s for q, s in zip(query, query_stride)]
    raster = int(np.ravel_multi_index(cell, query_grid))
    order = torch.arange(math.prod(query_grid), dtype=torch.float64).view(1, -1, 1)
    order = unroll(order, query_grid, encoder.encoder.unroll_schedule[pooled_out:]).flatten()
    position = int((order == raster).nonzero())
    num_queries, num_keys = weights.shape[-2:]
    unit, index = divmod(position, num_queries)
    keys = torch.zeros(weights.shape[0], num_keys * weights.shape[1])
    keys[:, unit * num_keys : (unit + 1) * num_keys] = weights[:, unit, index].float()
    key_map = encoder.encoder.to_grid(keys.T[None], pooled_in, grid)[0].movedim(-1, 0)  # (heads, *key_grid)
    box = [(c * s, (c + 1) * s) for c, s in zip(cell, query_stride)]
    key_stride = encoder.encoder.token_stride(pooled_in)
    return QueryAttention(key_map, box, key_stride, block.attn.use_mask_unit_attn, layer, stage)


def attention_figure(model, processor, source, query=None, layer: int = -1):
    """The query's attention over its mask unit (or the whole input), laid on the input: averaged over heads and
    per head. Videos: one row per temporal token of the keys."""
    from matplotlib.patches import Rectangle

    prepared = prepare_input(model, processor, source)
    result = query_attention(model, processor, prepared, query, layer)
    config = model.config
    frames = _frames(prepared, config)
    maps = torch.cat([result.weights.mean(0, keepdim=True), result.weights])  # (1 + heads, *key_grid)
    if not config.is_video:
        maps = maps[:, None]  # one temporal position
    titles = ["input + query", "mean of heads"] + [f"head {h}" for h in range(result.weights.shape[0])]
    # Images: the panels wrap after 5; videos: a row per temporal token, a column per panel.
    wrap = len(titles) if config.is_video else min(len(titles), 5)
    rows = maps.shape[1] * math.ceil(len(titles) / wrap)
    figure = _figure(1.9 * wrap, 2.0 * rows + 0.6)
    axes = np.array(figure.subplots(rows, wrap, squeeze=False))
    height, width = frames.shape[1:3]
    query_time = result.query_box[0][0] // config.patch_stride[0] if config.is_video else 0
    (y0, y1), (x0, x1) = result.query_box[-2:]
    for time, panel in itertools.product(range(maps.shape[1]), range(len(titles))):
        ax = axes[time + panel // wrap, panel % wrap]
        ax.imshow(frames[min(time, len(frames) - 1)])
        if panel == 0 and time == query_time:
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec="red", lw=2))
        elif panel > 0:
            weight = maps[panel - 1, time].numpy()
            ax.imshow(weight, cmap="inferno", alpha=0.65, extent=(-0.5, width - 0.5, height - 0.5, -0.5))
        if time == 0:
            ax.set_title(titles[panel], fontsize=9)
    for ax in axes.flat[len(titles) :] if not config.is_video else []:
        ax.remove()
    _hide_axes(axes)
    scope = "its mask unit" if result.mask_unit_attention else "the whole input (global attention)"
    _caption(figure, f"Layer {result.layer} (stage {result.stage}): the red query token's attention over {scope}")
    return figure


# ---------------------------------------------------------------------------------------------------------------
# Attention rollout
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Rollout:
    """How much each input token contributes to the output, by attention rollout (Abnar & Zuidema, 2020).

    `relevance` `(*token_grid)`: sums to 1. `class_index`: the class whose gradient weighted the attention (gradient
    rollout), or None. `token_stride`: input pixels (frames) per token, per dimension.
    """

    relevance: torch.Tensor
    class_index: int | None
    token_stride: list[int]


@dataclass
class LayerMixing:
    """How one layer mixes tokens: `attention` `(units, queries, keys)` (head-averaged; one unit when global), and
    the residual path's pooling, `stride` tokens of each of `pool_units` mask units into one (stride 1: identity)."""

    attention: torch.Tensor
    pool_units: int
    stride: int


def layer_mixing(block, attention: torch.Tensor, gradient: torch.Tensor | None = None) -> LayerMixing:
    """The mixing of encoder layer `block` from its weights `(heads, units, queries, keys)`: their mean over heads,
    or with gradient rollout that of `relu(attention * gradient)` (the gradient weighting of Chefer et al., 2021)."""
    weights = attention if gradient is None else (attention * gradient).clamp_min(0)
    num_tokens = weights.shape[1] * weights.shape[3]  # the layer's input tokens: units x keys
    return LayerMixing(weights.double().mean(dim=0), block.attn.num_units(num_tokens), block.attn.query_stride)


def rollout_relevance(mixings: list[LayerMixing]) -> torch.Tensor:
    """Each input token's share of the output, rolled back from the last layer (whose tokens the pooled output
    averages, so they start equal): `r_in = r_out @ M`, `M = (A + P) / 2` with its rows normalised to 1 (Abnar &
    Zuidema's rollout), `A` the attention (block-diagonal over mask units) and `P` the residual path: identity, or
    for a pooling layer the average of each pooled group (a smooth stand-in for the max-pool, which routes through
    one token of the group). Products of vectors with the blocks, in the unrolled layout: `M` is never built.
    Returns `(input tokens,)` in unrolled order."""
    last = mixings[-1].attention
    relevance = torch.full(
        (last.shape[0] * last.shape[1],), 1.0 / (last.shape[0] * last.shape[1]), dtype=torch.float64
    )
    for mixing in reversed(mixings):
        units, queries, keys = mixing.attention.shape
        # Row i of (A + P) / 2 sums to (sum_k A[i, k] + 1) / 2: dividing by it normalises the row.
        share = relevance / (mixing.attention.sum(dim=-1).flatten() + 1.0)
        through_attention = torch.einsum("uq,uqk->uk", share.view(units, queries), mixing.attention).flatten()
        # The pooled token (unit u, position q) came from positions (s, q), s < stride, of unit u (see `unroll`).
        pooled = share.view(mixing.pool_units, 1, -1) / mixing.stride
        through_residual = pooled.expand(-1, mixing.stride, -1).flatten()
        relevance = through_attention + through_residual
    return relevance


def attention_rollout(model, processor, source, class_index: int | None = None, gradient: bool = False) -> Rollout:
    """Attention rollout from the last layer back to the input tokens, through the mask-unit and global layers and
    the query pooling (see `rollout_relevance`). `gradient=True` (implied by a `class_index`) weights each layer's
    attention by the gradient of the logit of `class_index` (default: the predicted class) first: needs a
    classifier."""
    gradient = gradient or class_index is not None
    encoder = _encoder(model)
    prepared = prepare_input(model, processor, source)
    is_classifier = isinstance(model, (HieraForImageClassification, HieraForVideoClassification))
    if gradient and not is_classifier:
        raise TypeError(f"Gradient rollout needs a classifier (its logits), got {type(model).__name__}.")
    if class_index is not None and not 0 <= class_index < model.config.num_labels:
        raise ValueError(f"class_index must be in [0, {model.config.num_labels - 1}], got {class_index}.")
    if gradient:
        with torch.enable_grad():
            outputs = model(prepared.pixel_values, output_attentions=True)
            class_index = int(outputs.logits[0].argmax()) if class_index is None else class_index
            gradients = torch.autograd.grad(outputs.logits[0, class_index], outputs.attentions)
        attentions = [a.detach() for a in outputs.attentions]
    else:
        with torch.inference_mode():
            attentions = encoder(prepared.pixel_values, output_attentions=True).attentions
        gradients = [None] * len(attentions)
    blocks = [block for stage in encoder.encoder.stages for block in stage.layers]
    mixings = [
        layer_mixing(block, a[0], None if g is None else g[0]) for block, a, g in zip(blocks, attentions, gradients)
    ]
    relevance = rollout_relevance(mixings)
    grid = encoder.embeddings.token_grid(channels_first(prepared.pixel_values, encoder.config.is_video))
    relevance_map = encoder.encoder.to_grid(relevance.float()[None, :, None], 0, grid)[0, ..., 0]
    return Rollout(relevance_map, class_index if gradient else None, encoder.encoder.token_stride(0))


def attention_rollout_figure(model, processor, source, class_index: int | None = None, gradient: bool = False):
    """The rollout relevance laid on the input (a row per temporal token for videos), beside the input."""
    prepared = prepare_input(model, processor, source)
    result = attention_rollout(model, processor, prepared, class_index, gradient)
    frames = _frames(prepared, model.config)
    maps = result.relevance if model.config.is_video else result.relevance[None]
    figure = _figure(4.2, 2.0 * len(frames) + 0.8)
    axes = np.array(figure.subplots(len(frames), 2, squeeze=False))
    height, width = frames.shape[1:3]
    for row, frame in enumerate(frames):
        axes[row, 0].imshow(frame)
        axes[row, 1].imshow(frame)
        extent = (-0.5, width - 0.5, height - 0.5, -0.5)
        axes[row, 1].imshow(maps[min(row, len(maps) - 1)].numpy(), cmap="inferno", alpha=0.65, extent=extent)
    axes[0, 0].set_title("input", fontsize=9)
    axes[0, 1].set_title("rollout", fontsize=9)
    _hide_axes(axes)
    if result.class_index is None:
        caption = "Attention rollout: how much each input token feeds the output, through every layer"
    else:
        label = model.config.id2label.get(result.class_index, str(result.class_index))
        caption = f"Gradient-weighted attention rollout for class {label!r}"
    _caption(figure, caption, fontsize=9)
    return figure


# ---------------------------------------------------------------------------------------------------------------
# Feature maps
# ---------------------------------------------------------------------------------------------------------------


def principal_components_rgb(features: torch.Tensor) -> np.ndarray:
    """`(*grid, C)` features -> `(*grid, 3)` in [0, 1]: the first three principal components, each stretched
    between its 1st and 99th percentile (missing components, when C < 3, stay 0)."""
    flat = features.reshape(-1, features.shape[-1]).double()
    flat = flat - flat.mean(0)
    _, _, vh = torch.linalg.svd(flat, full_matrices=False)
    components = flat @ vh[:3].T  # (N, <=3)
    low, high = components.quantile(0.01, dim=0), components.quantile(0.99, dim=0)
    scaled = ((components - low) / (high - low).clamp_min(1e-12)).clamp(0, 1)
    rgb = torch.zeros(flat.shape[0], 3, dtype=torch.float64)
    rgb[:, : scaled.shape[1]] = scaled
    return rgb.view(*features.shape[:-1], 3).numpy()


def feature_maps_figure(model, processor, source):
    """Each stage's `reshaped_hidden_states` as RGB (first three principal components). Videos: a row per
    temporal token."""
    encoder = _encoder(model)
    prepared = prepare_input(model, processor, source)
    with torch.inference_mode():
        stage_maps = encoder(prepared.pixel_values, output_hidden_states=True).reshaped_hidden_states[1:]
    frames = _frames(prepared, model.config)
    pictures = [principal_components_rgb(m[0]) for m in stage_maps]  # (*grid, 3) each
    if not model.config.is_video:
        pictures = [p[None] for p in pictures]
    rows, columns = len(frames), len(pictures) + 1
    figure = _figure(2.0 * columns, 2.0 * rows + 0.6)
    axes = np.array(figure.subplots(rows, columns, squeeze=False))
    for row in range(rows):
        axes[row, 0].imshow(frames[row])
        for stage, picture in enumerate(pictures):
            axes[row, stage + 1].imshow(picture[min(row, len(picture) - 1)], interpolation="nearest")
            if row == 0:
                grid = "x".join(str(s) for s in stage_maps[stage].shape[1:-1])
                axes[0, stage + 1].set_title(f"stage {stage} ({grid})", fontsize=9)
    axes[0, 0].set_title("input", fontsize=9)
    _hide_axes(axes)
    _caption(figure, "Feature maps: the first three principal components of each stage as RGB")
    return figure


# ---------------------------------------------------------------------------------------------------------------
# MAE reconstruction
# ---------------------------------------------------------------------------------------------------------------


def _patches_to_frames(patches: torch.Tensor, config: HieraConfig, size: int, grid: list[int]) -> torch.Tensor:
    """MAE targets/predictions `(L, pixels)` -> `(rows, C, H, W)` (see `HieraForPreTraining.pixel_targets`)."""
    channels = config.num_channels
    if config.is_video:  # (T', H/p, W/p, p, p, C)
        patches = patches.view(*grid, size, size, channels).permute(0, 5, 1, 3, 2, 4)
    else:  # (H/p, W/p, C, p, p)
        patches = patches.view(1, *grid, channels, size, size).permute(0, 3, 1, 4, 2, 5)
    return patches.reshape(patches.shape[0], channels, grid[-2] * size, grid[-1] * size)


def mae_reconstruction(model: HieraForPreTraining, processor, source, mask_ratio: float | None = None, seed: int = 0):
    """Mask, encode, decode: `{"original", "masked", "prediction", "pasted"}` RGB arrays `(rows, H, W, 3)` in [0, 1]
    (rows: 1 for images, the temporal tokens for videos) and `"visible"` `(rows, H, W)` bool.

    A model trained with `normalize_pixel_loss` predicts each patch normalised to zero mean and unit variance; the
    prediction is brought back with each target patch's own mean and variance (as MAE demos do), so its brightness
    and contrast come from the hidden original and only its structure from the model.
    """
    if not isinstance(model, HieraForPreTraining):
        raise TypeError(f"MAE reconstructions need a HieraForPreTraining model, got {type(model).__name__}.")
    processor = processor or default_processor(model)
    prepared = prepare_input(model, processor, source)
    config = model.config
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, config.num_mask_units, generator=generator)
    with torch.inference_mode():
        outputs = model(prepared.pixel_values, noise=noise, mask_ratio=mask_ratio)
    targets = model.pixel_targets(channels_first(prepared.pixel_values, config.is_video))[0]  # (L, pixels)
    prediction = outputs.logits[0].float()
    if config.normalize_pixel_loss:
        mean, var = targets.mean(-1, keepdim=True), targets.var(-1, keepdim=True)
        prediction = prediction * (var + 1.0e-6) ** 0.5 + mean
    size = model.decoder.pred_stride
    grid = model.decoder.grid_final  # (T',) H/p, W/p: one prediction patch per final token
    visible = outputs.visible_patches[0][:, None].expand_as(targets)  # (L, pixels), True = seen by the encoder
    images = {
        "original": targets,
        "masked": torch.where(visible, targets, torch.nan),
        "prediction": prediction,
        "pasted": torch.where(visible, targets, prediction),
    }
    result = {name: _to_rgb(_patches_to_frames(p, config, size, grid), processor) for name, p in images.items()}
    result["visible"] = ~np.isnan(result["masked"][..., 0])
    result["masked"] = np.nan_to_num(result["masked"], nan=0.5)  # hidden patches grey
    return result


def mae_reconstruction_figure(model, processor, source, mask_ratio: float | None = None, seed: int = 0):
    """original | masked input | prediction | prediction pasted into the visible patches; a row per temporal token."""
    result = mae_reconstruction(model, processor, source, mask_ratio, seed)
    rows = len(result["original"])
    figure = _figure(8, 2.0 * rows + 0.9)
    axes = np.array(figure.subplots(rows, 4, squeeze=False))
    titles = ["original", "masked input", "prediction", "prediction + visible"]
    for row in range(rows):
        for column, name in enumerate(("original", "masked", "prediction", "pasted")):
            axes[row, column].imshow(result[name][row])
            if row == 0:
                axes[0, column].set_title(titles[column], fontsize=9)
    _hide_axes(axes)
    ratio = model.config.mask_ratio if mask_ratio is None else mask_ratio
    hidden = 1 - result["visible"].mean()
    caption = f"MAE reconstruction: mask ratio {ratio:g} ({hidden:.0%} of the pixels hidden), seed {seed}."
    if model.config.normalize_pixel_loss:
        caption += "\nPredictions are per-patch normalised pixels, shown with each original patch's mean and variance."
    _caption(figure, caption, fontsize=9)
    return figure


# ---------------------------------------------------------------------------------------------------------------
# Output and command line
# ---------------------------------------------------------------------------------------------------------------


def figure_to_image(figure) -> Image.Image:
    """Render a Figure to an RGB PIL image."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def available_figures(model) -> list[str]:
    """The pictures that make sense for a model: predictions need a classifier, reconstructions an MAE."""
    names = ["attention", "features"]
    if isinstance(model, (HieraForImageClassification, HieraForVideoClassification)):
        names.insert(0, "predictions")
    if isinstance(model, HieraForPreTraining):
        names.append("reconstruction")
    return names


def make_figure(name: str, model, processor, source, **options):
    """One of `FIGURES` by name, with the options that figure takes (`top_k`, `query`, `layer`, `class_index`,
    `gradient`, `mask_ratio`, `seed`)."""
    if name == "predictions":
        return predictions_figure(model, processor, source, options.get("top_k", 5))
    if name == "attention":
        return attention_figure(model, processor, source, options.get("query"), options.get("layer", -1))
    if name == "rollout":
        return attention_rollout_figure(model, processor, source, options.get("class_index"), options.get("gradient"))
    if name == "features":
        return feature_maps_figure(model, processor, source)
    if name == "reconstruction":
        return mae_reconstruction_figure(model, processor, source, options.get("mask_ratio"), options.get("seed", 0))
    raise ValueError(f"Unknown figure {name!r}: expected one of {', '.join(FIGURES)}.")


def main(argv: list[str] | None = None) -> list[Path]:
    """`python -m hiera_hf visualize --model FOLDER_OR_HUB_ID --input FILE [--output-dir DIR]`: write the PNGs."""
    parser = argparse.ArgumentParser(prog="python -m hiera_hf visualize", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a saved model folder or Hub id")
    parser.add_argument("--input", required=True, help="an image or video file")
    parser.add_argument("--output-dir", default="pictures")
    parser.add_argument(
        "--figures", nargs="+", choices=FIGURES, help="default: all that suit the model, but rollout (on request)"
    )
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--layer", type=int, default=-1, help="attention: encoder layer index (default: last)")
    parser.add_argument("--query", type=int, nargs="+", help="attention: pixel coordinates y x (t y x for video)")
    parser.add_argument(
        "--gradient-rollout", action="store_true", help="rollout: weight attention by a class gradient"
    )
    parser.add_argument("--class-index", type=int, help="gradient rollout: the class (default: the predicted one)")
    parser.add_argument("--mask-ratio", type=float, help="reconstruction: default the model's")
    parser.add_argument("--seed", type=int, default=0, help="reconstruction: the mask's seed")
    args = parser.parse_args(argv)

    model = load_saved(args.model)
    processor = default_processor(model)
    names = args.figures or available_figures(model)
    unsuitable = sorted(set(names) - set(available_figures(model)) - set(ON_REQUEST))
    if unsuitable:
        parser.error(f"{type(model).__name__} cannot draw {', '.join(unsuitable)}.")
    options = dict(
        top_k=args.top_k,
        layer=args.layer,
        query=args.query,
        class_index=args.class_index,
        gradient=args.gradient_rollout,
        mask_ratio=args.mask_ratio,
        seed=args.seed,
    )
    # Draw everything before writing anything: a bad input or option leaves no partial set of files.
    figures = {name: make_figure(name, model, processor, args.input, **options) for name in names}
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    written = [output / f"{Path(args.input).stem}_{name}.png" for name in figures]
    staged = [path.with_name(f".{path.name}.tmp") for path in written]
    try:  # every file encoded before any is moved into place: a failed write leaves the folder as it was
        for figure, temporary in zip(figures.values(), staged):
            figure.savefig(temporary, format="png")
    except BaseException:
        for temporary in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, path in zip(staged, written):
        os.replace(temporary, path)
        print(path)
    return written


__all__ = [
    "FIGURES",
    "ON_REQUEST",
    "PreparedInput",
    "QueryAttention",
    "Rollout",
    "attention_figure",
    "attention_rollout",
    "attention_rollout_figure",
    "available_figures",
    "feature_maps_figure",
    "figure_to_image",
    "mae_reconstruction",
    "mae_reconstruction_figure",
    "make_figure",
    "predictions_figure",
    "prepare_input",
    "principal_components_rgb",
    "query_attention",
    "top_predictions",
]
