# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""PyTorch Hiera for images and videos.

Hiera ("Hiera: A Hierarchical Vision Transformer without the Bells-and-Whistles", Ryali et al., ICML 2023) in
Transformers form. Images and videos share every module: a model has `D = 2` spatial dimensions (height, width) or
`D = 3` (time, height, width), and shapes below write `*grid` for those D sizes.

Numerical parity with the official implementation (`hiera-transformer`) depends on a few of its quirks, reproduced
here and marked "official:" where they happen.
"""

import copy
import functools
import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.backbone_utils import BackboneMixin
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BackboneOutput, ImageClassifierOutput, ModelOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs, auto_docstring, logging
from transformers.utils.generic import can_return_tuple
from transformers.utils.output_capturing import (
    OutputRecorder,
    capture_outputs,
    resolve_hidden_states_indices,
    selected_hidden_states,
)

from .checkpoint_layouts import (
    DOWNLOAD_KWARGS,
    LAYOUTS,
    WEIGHTS_LICENSE,
    hf_key_mapping,
    hf_key_names,
    read_state_dict,
    reference_layout,
    weight_keys,
)
from .checks import is_number
from .configuration_hiera import HieraConfig, official_checkpoint_config
from .transformers_compat import save_in_our_key_names

logger = logging.get_logger(__name__)

# ---------------------------------------------------------------------------------------------------------------
# Token order: unroll and reroll
# ---------------------------------------------------------------------------------------------------------------


def unroll(hidden_states: torch.Tensor, grid: list[int], schedule: list[list[int]]) -> torch.Tensor:
    """Reorder tokens from raster order so that mask units and pooling become plain reshapes.

    Each step of `schedule` splits every grid coordinate `p` into `p = q * s + r` (stride `s`). After steps
    `s_1 .. s_k` the coarse index `q` is the mask unit, and the tokens are stored unit-major:

        (q, r_1, r_2, ..., r_k)        q and each r_j a D-dimensional index, r_1 the finest stride

    Two consequences carry the whole model:
      * a mask unit's tokens are contiguous: mask-unit attention is `x.view(B * units, tokens_per_unit, C)`;
      * within a unit, `r_1` is outermost, so max-pooling by stride `s_1` is
        `x.view(B, units, prod(s_1), -1, C).amax(dim=2)`, and what remains is again unrolled by `s_2 .. s_k`.
    The official code stores `(r_1, ..., r_k, q)` (units innermost) and permutes q/k/v around every attention;
    unit-major storage lets attention take strided views instead of copies. All steps are one permute here.

    Args:
        hidden_states: `(batch, prod(grid), channels)` in raster order.
        grid: the token grid, D sizes.
        schedule: the strides of each step, k lists of D ints.
    Returns:
        `(batch, prod(grid), channels)` in unit-major unrolled order.
    """
    batch_size, num_tokens, channels = hidden_states.shape
    num_dims, num_steps = len(grid), len(schedule)
    coarse = [size // math.prod([step[d] for step in schedule]) for d, size in enumerate(grid)]
    # Raster coordinate d is the mixed-radix number (q_d, r_k_d, ..., r_1_d), most significant first.
    shape = [batch_size]
    for d in range(num_dims):
        shape += [coarse[d]] + [schedule[j][d] for j in reversed(range(num_steps))]
    shape.append(channels)
    # Axis of q_d is 1 + d*(k+1); axis of r_j_d is 1 + d*(k+1) + (k - j).
    order = [0] + [1 + d * (num_steps + 1) for d in range(num_dims)]
    for j in range(num_steps):
        order += [1 + d * (num_steps + 1) + num_steps - j for d in range(num_dims)]
    order.append(len(shape) - 1)
    return hidden_states.view(shape).permute(order).reshape(batch_size, num_tokens, channels)


def reroll(hidden_states: torch.Tensor, schedule: list[list[int]], num_dims: int) -> torch.Tensor:
    """Undo `unroll` within the mask units: `(batch, tokens, C)` -> `(batch, units, *unit_shape, C)`.

    `schedule` is what is left of the unroll schedule at this depth (query pooling consumes its first steps);
    `unit_shape` is the per-dimension product of those strides. Units keep their order, so with masking the unit
    axis lists the kept mask units only. `undo_windowing` then restores the grid.
    """
    batch_size, num_tokens, channels = hidden_states.shape
    num_steps = len(schedule)
    unit_shape = [math.prod([step[d] for step in schedule]) for d in range(num_dims)]
    num_units = num_tokens // math.prod(unit_shape)
    hidden_states = hidden_states.view(batch_size, num_units, *[s for step in schedule for s in step], channels)
    # Axis of r_j_d is 2 + j*D + d.
    order = [0, 1] + [2 + j * num_dims + d for d in range(num_dims) for j in reversed(range(num_steps))]
    order.append(2 + num_steps * num_dims)
    return hidden_states.permute(order).reshape(batch_size, num_units, *unit_shape, channels)


def undo_windowing(hidden_states: torch.Tensor, grid: list[int], unit_shape: list[int]) -> torch.Tensor:
    """`(batch, units, *unit_shape, C)` with units in raster order -> `(batch, *grid, C)`."""
    batch_size, channels = hidden_states.shape[0], hidden_states.shape[-1]
    num_dims = len(grid)
    num_units = [size // unit for size, unit in zip(grid, unit_shape)]
    hidden_states = hidden_states.view(batch_size, *num_units, *unit_shape, channels)
    order = [0] + [axis for d in range(num_dims) for axis in (1 + d, 1 + num_dims + d)] + [1 + 2 * num_dims]
    return hidden_states.permute(order).reshape(batch_size, *grid, channels)


def pool_tokens(hidden_states: torch.Tensor, stride: int, num_units: int, mean: bool = False) -> torch.Tensor:
    """Max-pool (or average) unrolled tokens by a flattened stride: `(B, N, ...)` -> `(B, N // stride, ...)` (see
    `unroll`)."""
    batch_size = hidden_states.shape[0]
    grouped = hidden_states.view(batch_size, num_units, stride, -1, *hidden_states.shape[2:])
    return (grouped.mean(dim=2) if mean else grouped.amax(dim=2)).flatten(1, 2)


# ---------------------------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------------------------


@auto_docstring(custom_intro="Hiera encoder's outputs: tokens, pooled features, and the mask when it masks.")
@dataclass
class HieraModelOutput(ModelOutput):
    r"""
    last_hidden_state (`torch.FloatTensor` of shape `(batch_size, tokens, hidden_size)`):
        Output of the last stage (tokens in unrolled order; in raster order once every unroll step has been pooled
        away, as for the official classifiers).
    pooler_output (`torch.FloatTensor` of shape `(batch_size, hidden_size)`, *optional*):
        Mean over the tokens followed by layer norm (`add_pooling_layer=True`).
    visible_units (`torch.BoolTensor` of shape `(batch_size, num_mask_units)`, *optional*, returned when masking):
        True for each mask unit the encoder saw (the forward's `visible_units`).
    bool_masked_pos (`torch.BoolTensor` of shape `(batch_size, num_mask_units)`, *optional*, returned when masking):
        `visible_units` under the name Transformers' built-in Hiera gives it (per mask unit, True = kept).
    ids_restore (`torch.LongTensor` of shape `(batch_size, num_mask_units)`, *optional*, returned when masking):
        Inverse of the random shuffle that chose the mask (None for `visible_units` given).
    hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
        The embeddings and each stage's output, `(batch_size, tokens, width)` in unrolled order.
    attentions (`tuple(torch.FloatTensor)`, *optional*, returned when `output_attentions=True`):
        Per layer, the attention weights `(batch_size, heads, mask_units, queries, keys)` (1 unit if global).
    reshaped_hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
        The same as `hidden_states` in spatial layout, `(batch_size, *grid, width)` (`*grid`: height, width, or
        frames, height, width); with masking `(batch_size, kept_mask_units, *mask_unit_shape, width)`.
    """

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    visible_units: torch.BoolTensor | None = None
    bool_masked_pos: torch.BoolTensor | None = None
    ids_restore: torch.LongTensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    reshaped_hidden_states: tuple[torch.Tensor, ...] | None = None


@auto_docstring(custom_intro="Hiera classification outputs: `ImageClassifierOutput` plus the maps in spatial layout.")
@dataclass
class HieraForClassificationOutput(ImageClassifierOutput):
    r"""
    reshaped_hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
        The hidden states in spatial layout, see `HieraModelOutput`.
    """

    reshaped_hidden_states: tuple[torch.Tensor, ...] | None = None


@auto_docstring(custom_intro="Hiera MAE pre-training outputs: the loss, the predicted pixels and the mask.")
@dataclass
class HieraForPreTrainingOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`):
        Mean squared error on the (normalised) pixels of the hidden prediction patches.
    logits (`torch.FloatTensor` of shape `(batch_size, num_patches, patch_pixels)`):
        Predicted pixels of every prediction patch (16x16 pixels for the presets; for video, the first frame of
        each temporal token), patches in raster order.
    visible_patches (`torch.BoolTensor` of shape `(batch_size, num_patches)`):
        True for each prediction patch the encoder saw (the loss covers the others).
    visible_units (`torch.BoolTensor` of shape `(batch_size, num_mask_units)`):
        True for each mask unit the encoder saw.
    bool_masked_pos (`torch.BoolTensor` of shape `(batch_size, num_patches)`):
        `visible_patches` under the name Transformers' built-in Hiera gives it (per patch, True = visible).
    ids_restore (`torch.LongTensor` of shape `(batch_size, num_mask_units)`):
        Inverse of the random shuffle that chose the mask.
    hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
        The encoder's, see `HieraModelOutput`.
    attentions (`tuple(torch.FloatTensor)`, *optional*, returned when `output_attentions=True`):
        The encoder's, see `HieraModelOutput`.
    reshaped_hidden_states (`tuple(torch.FloatTensor)`, *optional*, returned when `output_hidden_states=True`):
        The hidden states in spatial layout, see `HieraModelOutput`.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    visible_patches: torch.BoolTensor | None = None
    visible_units: torch.BoolTensor | None = None
    bool_masked_pos: torch.BoolTensor | None = None
    ids_restore: torch.LongTensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    reshaped_hidden_states: tuple[torch.Tensor, ...] | None = None


# ---------------------------------------------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------------------------------------------


class HieraPatchEmbeddings(nn.Module):
    """`(B, C_in, *input)` pixels -> `(B, prod(grid), embed_dim)` tokens in raster order (Conv2d or Conv3d)."""

    def __init__(self, config: HieraConfig):
        super().__init__()
        conv = nn.Conv3d if config.is_video else nn.Conv2d
        self.projection = conv(
            config.num_channels,
            config.embed_dim,
            kernel_size=tuple(config.patch_size),
            stride=tuple(config.patch_stride),
            padding=tuple(config.patch_padding),
        )

    def forward(self, pixel_values: torch.Tensor, unit_keep: torch.Tensor | None = None) -> torch.Tensor:
        if unit_keep is not None:
            # Zero the pixels of hidden mask units so the overlapping kernel cannot leak them (official: nearest
            # interpolation of the (B, 1, *unit_grid) mask to the pixel grid).
            unit_keep = F.interpolate(unit_keep.to(pixel_values.dtype), size=pixel_values.shape[2:])
            pixel_values = pixel_values * unit_keep
        return self.projection(pixel_values).flatten(2).transpose(1, 2)


class HieraEmbeddings(nn.Module):
    """Patch embeddings plus position embeddings: one table; spatial + temporal tables for video; or, with
    `window_positional_embedding_background_size`, a background table and a mask-unit (window) table."""

    def __init__(self, config: HieraConfig):
        super().__init__()
        self.config = config
        self.patch_embeddings = HieraPatchEmbeddings(config)
        grid = config.tokens_spatial_shape
        background = config.window_positional_embedding_background_size
        if background is not None:
            # Channels first, as timm keeps them: (1, C, *background) and (1, C, *mask_unit).
            self.position_embeddings = nn.Parameter(torch.zeros(1, config.embed_dim, *background))
            self.window_position_embeddings = nn.Parameter(torch.zeros(1, config.embed_dim, *config.masked_unit_size))
        elif config.separate_position_embeddings:
            # (1, H'*W', C) repeated over time + (1, T', C) repeated over space.
            self.position_embeddings = nn.Parameter(torch.zeros(1, math.prod(grid[1:]), config.embed_dim))
            self.temporal_position_embeddings = nn.Parameter(torch.zeros(1, grid[0], config.embed_dim))
        else:
            self.position_embeddings = nn.Parameter(torch.zeros(1, math.prod(grid), config.embed_dim))

    @staticmethod
    def _resize_table(table: torch.Tensor, old: list[int], new: list[int]) -> torch.Tensor:
        """Interpolate a `(1, prod(old), C)` table laid out on grid `old` to grid `new`."""
        # Exported with dynamic sizes (SymInts): always resize, any size may come. Static sizes compare as ints.
        static = all(isinstance(size, int) for size in new)
        if (static or not torch.compiler.is_exporting()) and list(old) == list(new):
            return table
        channels = table.shape[-1]
        table = table.reshape(1, *old, channels).movedim(-1, 1)
        mode = {1: "linear", 2: "bicubic", 3: "trilinear"}[len(old)]
        table = F.interpolate(table, size=tuple(new), mode=mode, align_corners=False)
        return table.movedim(1, -1).reshape(1, -1, channels)

    def absolute_window_embedding(self, grid: list[int]) -> torch.Tensor:
        """ "Window Attention is Bugged" (Bolya et al., ICLR 2024): the background table interpolated to the token
        grid plus the window table tiled over the mask units, `(1, prod(grid), C)`. The same at every size: only
        the background is resized, the window part stays one mask unit's (timm: bicubic, antialiased)."""
        window = self.window_position_embeddings
        tiles = [size // unit for size, unit in zip(grid, window.shape[2:])]
        # (in fp32: PyTorch has no antialiased bicubic kernel for bf16 on CPU)
        background = F.interpolate(self.position_embeddings.float(), size=tuple(grid), mode="bicubic", antialias=True)
        return (background.to(window.dtype) + window.tile(tiles)).flatten(2).transpose(1, 2)

    def position_embedding(self, grid: list[int]) -> torch.Tensor:
        """`(1, prod(grid), C)` position embeddings for a token grid, interpolated if it is not the trained one."""
        if self.config.window_positional_embedding_background_size is not None:
            return self.absolute_window_embedding(grid)
        trained = self.config.tokens_spatial_shape
        if not self.config.separate_position_embeddings:
            return self._resize_table(self.position_embeddings, trained, grid)
        spatial = self._resize_table(self.position_embeddings, trained[1:], grid[1:])
        temporal = self._resize_table(self.temporal_position_embeddings, trained[:1], grid[:1])
        # official: spatial.repeat over time + temporal.repeat_interleave over space; the same sums, broadcast
        # (1, 1, H'*W', C) + (1, T', 1, C), which exports with a dynamic grid (repeat_interleave did not to ONNX).
        return (spatial[:, None] + temporal[:, :, None]).flatten(1, 2)

    def resize(self, grid: list[int]) -> None:
        """Replace the tables by their interpolation to token `grid` (the caller updates the config's size). The
        absolute-window tables fit every grid as they are."""
        if self.config.window_positional_embedding_background_size is not None:
            return
        trained = self.config.tokens_spatial_shape
        if self.config.separate_position_embeddings:
            spatial = self._resize_table(self.position_embeddings.data, trained[1:], grid[1:])
            temporal = self._resize_table(self.temporal_position_embeddings.data, trained[:1], grid[:1])
            self.temporal_position_embeddings = nn.Parameter(temporal)
        else:
            spatial = self._resize_table(self.position_embeddings.data, trained, grid)
        self.position_embeddings = nn.Parameter(spatial)

    def token_grid(self, pixel_values: torch.Tensor) -> list[int]:
        """The token grid (D sizes) of channels-first `(B, C_in, *input)` pixels."""
        return [size // stride for size, stride in zip(pixel_values.shape[2:], self.config.patch_stride)]

    def forward(self, pixel_values: torch.Tensor, unit_keep: torch.Tensor | None = None) -> torch.Tensor:
        """`(B, C_in, *input)` -> `(B, prod(grid), embed_dim)` in raster order."""
        return self.patch_embeddings(pixel_values, unit_keep) + self.position_embedding(self.token_grid(pixel_values))


# ---------------------------------------------------------------------------------------------------------------
# Attention, MLP, layer, stage, encoder
# ---------------------------------------------------------------------------------------------------------------


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    num_units: int = 1,
    **kwargs: Unpack[TransformersKwargs],
) -> tuple[torch.Tensor, torch.Tensor]:
    """`(B * units, heads, tokens, head_dim)` q/k/v -> output `(B * units, queries, heads, head_dim)` and the weights
    `(B, heads, units, queries, keys)`, the layout Transformers' built-in Hiera returns. The weights are put in that
    layout *before* they multiply the values, so the tensor returned is the one in the graph (its `.grad` fills)."""
    attn_weights = (query * scaling) @ key.transpose(-1, -2)  # official: scales the queries, not the product
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = F.dropout(attn_weights.softmax(dim=-1), p=dropout, training=module.training)
    attn_weights = attn_weights.unflatten(0, (-1, num_units)).transpose(1, 2)  # (B, heads, units, q, k)
    attn_output = attn_weights.transpose(1, 2).flatten(0, 1) @ value  # a view back to (B * units, heads, q, k)
    return attn_output.transpose(1, 2), attn_weights


class HieraMaskUnitAttention(nn.Module):
    """Multi-head attention within mask units (or globally), optionally max-pooling the queries.

    Mask units are folded into the batch, so every attention function of Transformers' interface (eager, SDPA,
    flex, flash) gets 4-D `(batch * units, heads, tokens, head_dim)` tensors: the official code passes 5-D tensors,
    which sends SDPA on GPUs to its slow math kernel.
    """

    def __init__(
        self,
        config: HieraConfig,
        dim: int,
        dim_out: int,
        num_heads: int,
        query_stride: int = 1,
        window_size: int = 0,
        use_mask_unit_attn: bool = False,
    ):
        super().__init__()
        self.config = config
        self.num_heads = num_heads
        self.head_dim = dim_out // num_heads
        self.dim_out = dim_out
        self.query_stride = query_stride  # flattened, e.g. 2x2 -> 4
        self.window_size = window_size  # tokens per mask unit after this layer's pooling
        self.use_mask_unit_attn = use_mask_unit_attn
        self.scale = self.head_dim**-0.5
        self.is_causal = False
        self.qkv = nn.Linear(dim, 3 * dim_out)
        self.proj = nn.Linear(dim_out, dim_out)

    def num_units(self, num_tokens: int) -> int:
        """Mask units present in a sequence of `num_tokens` tokens (before this layer's pooling)."""
        return num_tokens // (self.query_stride * self.window_size) if self.window_size else 1

    def forward(
        self, hidden_states: torch.Tensor, **kwargs: Unpack[TransformersKwargs]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`(B, N, C)` -> `(B, N / query_stride, C_out)`, and the weights `(B, heads, units, queries, keys)` if the
        eager function ran (it does whenever attentions are asked for, whatever `attn_implementation` says)."""
        batch_size, num_tokens, _ = hidden_states.shape
        num_units = self.num_units(num_tokens)
        # (B, N, 3C) -> (B, U, T, 3, h, d): a unit's tokens are contiguous (see `unroll`).
        qkv = self.qkv(hidden_states).view(batch_size, num_units, -1, 3, self.num_heads, self.head_dim)
        query, key, value = qkv.unbind(3)  # (B, U, T, h, d) strided views
        if self.query_stride > 1:
            query = pool_tokens(query.flatten(1, 2), self.query_stride, num_units)  # (B, U * T', h, d)
        # Mask-unit attention folds the units into the batch; global attention attends over all of them.
        units = num_units if self.use_mask_unit_attn else 1
        query, key, value = (
            t.reshape(batch_size * units, -1, self.num_heads, self.head_dim).transpose(1, 2)
            for t in (query, key, value)
        )
        wants_weights = kwargs.get("output_attentions", self.config.output_attentions)
        implementation = "eager" if wants_weights else self.config._attn_implementation
        if implementation == "eager":  # lays the weights out per mask unit (other kernels return none)
            kwargs = {**kwargs, "num_units": units}
        attention = ALL_ATTENTION_FUNCTIONS.get_interface(implementation, eager_attention_forward)
        attn_output, attn_weights = attention(self, query, key, value, None, scaling=self.scale, dropout=0.0, **kwargs)
        # (B', T', h, d) -> (B, N', C): free when the kernel wrote that layout, as SDPA does on CPU.
        return self.proj(attn_output.reshape(batch_size, -1, self.dim_out)), attn_weights


class HieraMlp(nn.Module):
    def __init__(self, config: HieraConfig, dim: int):
        super().__init__()
        self.activation_fn = ACT2FN[config.hidden_act]
        self.fc1 = nn.Linear(dim, int(dim * config.mlp_ratio))
        self.fc2 = nn.Linear(int(dim * config.mlp_ratio), dim)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_fn(self.fc1(hidden_states)))


class HieraLayerScale(nn.Module):
    """LayerScale: a learned per-channel factor on a residual branch (timm's `init_values`)."""

    def __init__(self, config: HieraConfig, dim: int):
        super().__init__()
        self.lambda1 = nn.Parameter(config.layer_scale_init_value * torch.ones(dim))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states * self.lambda1


class HieraDropPath(nn.Module):
    """Stochastic depth: drop the residual branch per sample while training."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return hidden_states
        keep_prob = 1 - self.drop_prob
        shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
        keep = hidden_states.new_empty(shape).bernoulli_(keep_prob)
        return hidden_states * keep / keep_prob

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


class HieraLayer(GradientCheckpointingLayer):
    """Pre-norm transformer layer; the first layer of a pooling stage widens the tokens and pools them."""

    def __init__(
        self,
        config: HieraConfig,
        dim: int,
        dim_out: int,
        num_heads: int,
        drop_path: float = 0.0,
        query_stride: int = 1,
        window_size: int = 0,
        use_mask_unit_attn: bool = False,
    ):
        super().__init__()
        self.dim, self.dim_out, self.query_stride = dim, dim_out, query_stride
        self.layernorm_before = nn.LayerNorm(dim, eps=config.layer_norm_eps)
        self.attn = HieraMaskUnitAttention(
            config, dim, dim_out, num_heads, query_stride, window_size, use_mask_unit_attn
        )
        self.layernorm_after = nn.LayerNorm(dim_out, eps=config.layer_norm_eps)
        self.mlp = HieraMlp(config, dim_out)
        self.drop_path = HieraDropPath(drop_path) if drop_path > 0 else nn.Identity()
        scaled = config.layer_scale_init_value is not None
        self.layer_scale1 = HieraLayerScale(config, dim_out) if scaled else nn.Identity()
        self.layer_scale2 = HieraLayerScale(config, dim_out) if scaled else nn.Identity()
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out and config.use_expand_projection else None

    def forward(self, hidden_states: torch.Tensor, **kwargs: Unpack[TransformersKwargs]) -> torch.Tensor:
        """`(B, N, dim)` -> `(B, N / query_stride, dim_out)`."""
        normed = self.layernorm_before(hidden_states)
        if self.dim != self.dim_out:
            num_units = self.attn.num_units(hidden_states.shape[1])
            if self.proj is not None:
                # official: the widened residual is pool(proj(norm1(x))), i.e. it projects the *normalised* input.
                hidden_states = pool_tokens(self.proj(normed), self.query_stride, num_units)
            else:
                # timm (use_expand_proj=False): the max- and the average-pooled input, side by side (2x wide).
                pooled = [pool_tokens(hidden_states, self.query_stride, num_units, mean) for mean in (False, True)]
                hidden_states = torch.cat(pooled, dim=-1)
        attn_output, _ = self.attn(normed, **kwargs)
        hidden_states = hidden_states + self.drop_path(self.layer_scale1(attn_output))
        return hidden_states + self.drop_path(self.layer_scale2(self.mlp(self.layernorm_after(hidden_states))))


class HieraStage(nn.Module):
    def __init__(self, layers: list[HieraLayer]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, hidden_states: torch.Tensor, **kwargs: Unpack[TransformersKwargs]) -> torch.Tensor:
        for layer in self.layers:
            hidden_states = layer(hidden_states, **kwargs)
        return hidden_states


class HieraEncoder(nn.Module):
    def __init__(self, config: HieraConfig):
        super().__init__()
        self.config = config
        drop_rates = torch.linspace(0, config.drop_path_rate, sum(config.depths), device="cpu").tolist()
        flat_query_stride = math.prod(config.query_stride)
        window_size = math.prod(config.masked_unit_size)
        stages, dim = [], config.embed_dim
        for stage, depth in enumerate(config.depths):
            pools_queries = 0 < stage <= config.num_query_pool
            if pools_queries:
                window_size //= flat_query_stride
            layers = []
            for i in range(depth):
                # official: the first layer of a stage still uses the previous stage's mask-unit flag, so global
                # attention only starts once the tokens have been pooled.
                use_mask_unit_attn = config.masked_unit_attention[stage - 1 if i == 0 and stage > 0 else stage]
                layers.append(
                    HieraLayer(
                        config,
                        dim=dim if i == 0 else config.stage_widths[stage],
                        dim_out=config.stage_widths[stage],
                        num_heads=config.num_heads[stage],
                        drop_path=drop_rates[sum(config.depths[:stage]) + i],
                        query_stride=flat_query_stride if pools_queries and i == 0 else 1,
                        window_size=window_size,
                        use_mask_unit_attn=use_mask_unit_attn,
                    )
                )
            stages.append(HieraStage(layers))
            dim = config.stage_widths[stage]
        self.stages = nn.ModuleList(stages)
        self.unroll_schedule = [list(config.query_stride)] * (len(config.depths) - 1)

    def forward(self, hidden_states: torch.Tensor, **kwargs: Unpack[TransformersKwargs]) -> torch.Tensor:
        """`(B, N, C)` unrolled tokens -> `(B, N / prod(query_stride)**num_query_pool, hidden_size)`."""
        for stage in self.stages:
            hidden_states = stage(hidden_states, **kwargs)
        return hidden_states

    def to_units(self, hidden_states: torch.Tensor, num_pooled: int) -> torch.Tensor:
        """Unrolled tokens after `num_pooled` query poolings -> `(B, units, *unit_shape, C)` (see `reroll`)."""
        return reroll(hidden_states, self.unroll_schedule[num_pooled:], len(self.config.query_stride))

    def to_grid(self, hidden_states: torch.Tensor, num_pooled: int, grid: list[int]) -> torch.Tensor:
        """Unrolled tokens of an unmasked input with token `grid` after `num_pooled` poolings -> `(B, *grid', C)`."""
        units = self.to_units(hidden_states, num_pooled)
        pooled_grid = [size // stride**num_pooled for size, stride in zip(grid, self.config.query_stride)]
        return undo_windowing(units, pooled_grid, list(units.shape[2:-1]))

    def token_stride(self, num_pooled: int) -> list[int]:
        """Input pixels (frames) per token after `num_pooled` query poolings, per dimension."""
        return [p * q**num_pooled for p, q in zip(self.config.patch_stride, self.config.query_stride)]

    def poolings_before(self, index: int) -> int:
        """How many query poolings `hidden_states[index]` has been through (0: the embeddings)."""
        return min(max(index - 1, 0), self.config.num_query_pool)

    def reshape_hidden_states(
        self, hidden_states: tuple[torch.Tensor | None, ...], grid: list[int] | None
    ) -> tuple[torch.Tensor | None, ...]:
        """Embeddings and stage outputs in spatial layout: on the token `grid`, or per kept mask unit (`grid` None,
        for masked inputs). `hidden_states[i]` (i >= 1) is stage `i - 1`'s output, pooled `min(i - 1, q_pool)` times;
        None (a state `output_hidden_states=[...]` did not select) stays None."""
        reshaped = []
        for index, states in enumerate(hidden_states):
            num_pooled = self.poolings_before(index)
            if states is not None:
                states = self.to_units(states, num_pooled) if grid is None else self.to_grid(states, num_pooled, grid)
            reshaped.append(states)
        return tuple(reshaped)


# ---------------------------------------------------------------------------------------------------------------
# Input checks, pre-trained model base, base model
# ---------------------------------------------------------------------------------------------------------------


def spatial_size(config: HieraConfig, pixel_values: torch.Tensor) -> tuple:
    """(height, width) of `(B, C, H, W)` images, (frames, height, width) of `(B, T, C, H, W)` videos."""
    shape = pixel_values.shape
    return (shape[1], *shape[3:]) if config.is_video else tuple(shape[2:])


def check_pixel_values(config: HieraConfig, pixel_values, sizes: str = "configured") -> None:
    """Raise a `TypeError`/`ValueError` naming what `config` expects if `pixel_values` does not fit it.

    Images are `(batch, channels, height, width)`, videos `(batch, frames, channels, height, width)`, floats as the
    processors return them. `sizes`: "configured" (the config's input size only), "tiled" (any size that mask units
    tile: `interpolate_pos_encoding=True`) or "padded" (any size of at least one patch stride: the backbone pads).
    """
    if not isinstance(pixel_values, torch.Tensor):
        raise TypeError(f"pixel_values must be a torch.Tensor, got {type(pixel_values).__name__}.")
    kind = "video" if config.is_video else "image"
    if not pixel_values.is_floating_point():
        raise TypeError(
            f"pixel_values must be a floating-point tensor, got {pixel_values.dtype}: convert raw pixels with "
            f"Hiera{kind.capitalize()}Processor (it scales and normalises them)."
        )
    expected = "(batch, frames, channels, height, width)" if config.is_video else "(batch, channels, height, width)"
    num_dims = 5 if config.is_video else 4
    if pixel_values.ndim != num_dims:
        raise ValueError(
            f"This is {'a video' if config.is_video else 'an image'} model: pixel_values must be {num_dims}-D "
            f"{expected}, got shape {tuple(pixel_values.shape)}."
        )
    if pixel_values.shape[0] == 0:
        raise ValueError(f"pixel_values holds no {kind} (batch size 0, shape {tuple(pixel_values.shape)}).")
    channels = pixel_values.shape[2 if config.is_video else 1]
    if channels != config.num_channels:
        raise ValueError(
            f"Expected {config.num_channels} channels in pixel_values, got {channels} "
            f"(shape {tuple(pixel_values.shape)}, expected {expected})."
        )
    size = spatial_size(config, pixel_values)
    names = "(frames, height, width)" if config.is_video else "(height, width)"
    if sizes == "configured" and size != tuple(config.input_size):
        raise ValueError(
            f"Input size {names} = {size} does not match the model's {tuple(config.input_size)}; pass "
            "interpolate_pos_encoding=True to run at another size."
        )
    if sizes == "padded":
        if any(s < stride for s, stride in zip(size, config.patch_stride)):
            raise ValueError(
                f"Input size {names} = {size} is smaller than one patch: each size must be at least patch_stride = "
                f"{tuple(config.patch_stride)}."
            )
        return
    unit = [s * m for s, m in zip(config.patch_stride, config.masked_unit_size)]
    if any(s % u for s, u in zip(size, unit)):
        raise ValueError(
            f"Input size {names} = {size} cannot be tiled by mask units: each size must be a multiple of "
            f"patch_stride * masked_unit_size = {tuple(unit)} (HieraBackbone pads any size)."
        )


def check_kwargs(model: nn.Module, kwargs: dict) -> None:
    """Refuse keyword arguments that are not Transformers' common ones: every head passes its extra arguments on to
    `HieraModel`, so a misspelling (or masking asked of a head that does not mask) fails loudly instead of binding
    to another parameter or being ignored."""
    unknown = sorted(set(kwargs) - set(TransformersKwargs.__annotations__))
    if unknown:
        masking = {"noise", "visible_units", "mask_ratio"} & set(unknown)
        hint = f" ({', '.join(sorted(masking))}: only HieraModel and HieraForPreTraining mask)" if masking else ""
        raise TypeError(
            f"{type(model).__name__}.forward got unexpected keyword argument(s): {', '.join(unknown)}{hint}."
        )


def filter_stage_outputs(forward):
    """Transformers' `filter_output_hidden_states`, for `reshaped_hidden_states` too (the library's filters
    `hidden_states` only): heads built on every stage's output (the MAE fusion, the backbone's maps) ask the encoder
    for all of them and return those the caller asked for (`output_hidden_states` True, False or layer indices)."""

    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        requested = kwargs.get("output_hidden_states", self.config.output_hidden_states)
        output = forward(self, *args, **{**kwargs, "output_hidden_states": True})
        selected = selected_hidden_states(requested)
        data = dict(output.items())
        for key in ("hidden_states", "reshaped_hidden_states"):
            if key not in data:
                continue
            if not requested:
                del data[key]
            elif selected is not None:
                kept = resolve_hidden_states_indices(self, selected, num_hidden_states=len(data[key]))
                data[key] = tuple(states if i in kept else None for i, states in enumerate(data[key]))
        return type(output)(**data)

    return wrapper


def channels_first(pixel_values: torch.Tensor, is_video: bool) -> torch.Tensor:
    """Videos `(B, T, C, H, W)` -> `(B, C, T, H, W)` for the 3-D convolution; images unchanged."""
    return pixel_values.transpose(1, 2) if is_video else pixel_values


@auto_docstring
class HieraPreTrainedModel(PreTrainedModel):
    config: HieraConfig
    config_class = HieraConfig
    base_model_prefix = "hiera"
    main_input_name = "pixel_values"
    input_modalities = ("image", "video")
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_flash_attn = True  # 4-D, non-causal, no mask: what flash kernels take (not run here: no GPU in CI)
    _supports_attention_backend = True
    _can_compile_fullgraph = True
    _input_embed_layer = "patch_embeddings"  # (`get_input_embeddings` finds it under `embeddings`)
    _no_split_modules = ["HieraLayer"]
    # Transformers' hooks collect these: the input of the first stage and every stage's output; every layer's
    # attention weights (index 1 of HieraMaskUnitAttention's output).
    _can_record_outputs = {
        "hidden_states": OutputRecorder(HieraStage, index=0),
        "attentions": OutputRecorder(HieraMaskUnitAttention, index=1),
    }

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, HieraEmbeddings):
            for table in ("position_embeddings", "temporal_position_embeddings", "window_position_embeddings"):
                if getattr(module, table, None) is not None:
                    init.trunc_normal_(getattr(module, table), std=std)
        elif isinstance(module, HieraDecoder):
            init.trunc_normal_(module.mask_token, std=std)
            init.trunc_normal_(module.decoder_position_embeddings, std=std)
        elif isinstance(module, HieraLayerScale):
            init.constant_(module.lambda1, self.config.layer_scale_init_value)
        elif isinstance(module, (nn.Linear, nn.Conv2d, nn.Conv3d)):
            init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                init.constant_(module.bias, std)  # official: biases start at 0.02 (its init reuses the weight std)
        elif isinstance(module, nn.LayerNorm):
            init.constant_(module.bias, std)  # official: likewise for LayerNorm biases
            init.constant_(module.weight, self.config.layer_norm_init)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, config=None, **kwargs):
        """Transformers' `from_pretrained`, for every layout of `checkpoint_layouts.LAYOUTS`: our folders and
        Transformers' built-in Hiera's; Meta's Hub repos in the official layout (`facebook/hiera_<arch>.<checkpoint>`)
        and timm's (`timm/hiera_*`), whose config.json is translated (`HieraConfig.get_config_dict`) and whose
        weights are renamed as they load, through Transformers' `key_mapping`, with the one key map of
        `checkpoint_layouts`; and official `.pth` files (`{"model_state": ...}`, with `config=`,
        `architecture="hiera_base_224"` or their official file name). The model then saves in our layout: the same
        folder the conversion script writes.

        Also two things a saved config cannot say for itself:

        - `image_size=(H, W)` / `num_frames=T` (keyword arguments, or in `config=`) other than the saved size: the
          weights load at the saved size, then `resize_position_embeddings` interpolates the position embeddings
          to the new grid (instead of re-initialising them or refusing the mismatch).
        - a folder saved by `HieraForPreTraining` (MAE) loaded into a classifier or a backbone gets
          `num_query_pool = len(depths) - 1` (3 for the official models) unless given: MAE pre-trains with two
          poolings, the official fine-tuning recipe uses three; the weights are the same. `HieraModel` keeps the
          MAE encoder's pooling.
        """
        size = {key: kwargs.pop(key) for key in ("image_size", "num_frames") if key in kwargs}
        architecture = kwargs.pop("architecture", None)
        path = pretrained_model_name_or_path
        if path is None:
            return super().from_pretrained(None, *model_args, config=config, **kwargs)
        if str(path).endswith(".pth"):
            return cls._from_official_checkpoint(path, config, architecture, size, **kwargs)
        if architecture is not None:
            raise ValueError("architecture= names the architecture of an official .pth file; folders carry a config.")
        hub = {key: kwargs[key] for key in DOWNLOAD_KWARGS if key in kwargs}
        if os.path.isdir(path) and not os.path.isfile(os.path.join(path, kwargs.get("subfolder", ""), "config.json")):
            found = sorted(os.listdir(path))[:12]
            raise ValueError(f"{str(path)!r} has no config.json (it holds {found}). Hiera reads {LAYOUTS}.")
        if isinstance(config, PreTrainedConfig):
            saved = cls.config_class.from_pretrained(path, **hub)
            size = {"image_size": config.image_size, "num_frames": config.num_frames, **size}
            config = copy.deepcopy(config)  # built at the saved size, resized below
            config.image_size, config.num_frames = saved.image_size, saved.num_frames
        else:
            config, kwargs = cls._saved_config(path, kwargs)
        keys = weight_keys(path, **hub)
        reference = reference_layout(keys or [])  # "official" or "timm" names, or None for ours
        if reference:
            kwargs["key_mapping"] = hf_key_mapping(keys, config.depths)
        model = super().from_pretrained(path, *model_args, config=config, **kwargs)
        if reference:
            save_in_our_key_names(model)
            if reference == "official":
                logger.warning_once(WEIGHTS_LICENSE)
        if size:
            model.resize_position_embeddings(**size)
        return model

    @classmethod
    def _saved_config(cls, path, kwargs: dict) -> tuple[HieraConfig, dict]:
        """The folder's config (any layout, read once) with the config fields among `kwargs` applied, and the
        arguments left for loading the weights, as Transformers splits them."""
        hub = {key: kwargs[key] for key in DOWNLOAD_KWARGS if key in kwargs}
        # Loading arguments that are config attributes too: Transformers takes them before reading the config.
        loading = {key: kwargs[key] for key in ("dtype", "torch_dtype") if key in kwargs}
        fields = {key: value for key, value in kwargs.items() if key not in {**hub, **loading}}
        config, unused = cls.config_class.from_pretrained(path, return_unused_kwargs=True, **hub, **fields)
        pretrained_mae = "HieraForPreTraining" in (config.architectures or [])
        if cls not in (HieraModel, HieraForPreTraining) and pretrained_mae and "num_query_pool" not in kwargs:
            config.num_query_pool = len(config.depths) - 1
        return config, {**unused, **hub, **loading}

    @classmethod
    def from_reference_weights(cls, state_dict: dict[str, torch.Tensor], config: HieraConfig, **kwargs):
        """This class with an official or timm state dict (their key names), renamed by the one key map
        (`checkpoint_layouts`) and loaded strictly: the one path from a reference model's weights to ours (`.pth`
        files, `parity.from_official`/`from_timm`, the conversion script). Raises `ValueError` listing the weights
        that do not fit `config`. `kwargs` go to `from_pretrained` (`attn_implementation`, `dtype`, ...)."""
        names = hf_key_names(state_dict, config.depths)  # reference -> ours; unknown reference keys raise
        if cls is HieraModel:  # the base model's own names carry no `hiera.` prefix
            names = {key: ours.removeprefix("hiera.") for key, ours in names.items()}
        converted = {ours: state_dict[key] for key, ours in names.items()}
        problems = cls.weight_problems(converted, config, {ours: key for key, ours in names.items()})
        if problems:
            raise ValueError(
                f"The weights do not fit {cls.__name__} with this config (embed_dim={config.embed_dim}, "
                f"depths={tuple(config.depths)}, num_heads={tuple(config.num_heads)}, num_frames={config.num_frames})"
                ": build the config from the same architecture.\n  " + "\n  ".join(problems)
            )
        return super().from_pretrained(None, config=config, state_dict=converted, **kwargs).eval()

    @classmethod
    def weight_problems(cls, state_dict: dict[str, torch.Tensor], config: HieraConfig, names=None) -> list[str]:
        """What keeps `state_dict` (our key names) from loading strictly into this class built from `config`: missing
        and unexpected weights, and weights of another shape (named by `names[key]`, the checkpoint's own name, where
        given). Checked on the meta device (nothing is allocated)."""
        with torch.device("meta"):
            expected = {key: tuple(value.shape) for key, value in cls(config).state_dict().items()}
        given = {key: tuple(value.shape) for key, value in state_dict.items()}
        names = names or {}
        missing = [key for key in sorted(set(expected) - set(given)) if not key.startswith("hidden_states_norms.")]
        unused = sorted(names.get(key, key) for key in set(given) - set(expected))
        common = sorted(set(given) & set(expected))
        shapes = [
            f"{names.get(key, key)}: {given[key]} for {expected[key]}" for key in common if given[key] != expected[key]
        ]
        problems = [f"missing: {missing}"] if missing else []  # (the backbone's map norms are its own: not missing)
        problems += [f"not used: {unused}"] if unused else []
        return problems + ([f"other shapes (another architecture?): {shapes}"] if shapes else [])

    @classmethod
    def _from_official_checkpoint(cls, path, config, architecture, size, **kwargs):
        """An official `.pth`: its weights renamed by the one key map, into `config` (or the architecture's)."""
        state_dict = read_state_dict(path)
        if config is None:
            pretraining = "decoder_embed.weight" in state_dict
            config = official_checkpoint_config(path, state_dict, architecture)
            if cls not in (HieraModel, HieraForPreTraining) and pretraining:
                kwargs.setdefault("num_query_pool", len(config.depths) - 1)  # as for MAE folders (above)
        loading = {key: kwargs.pop(key) for key in ("dtype", "torch_dtype") if key in kwargs}
        config, kwargs = cls.config_class.from_dict(config.to_dict(), return_unused_kwargs=True, **kwargs)
        model = cls.from_reference_weights(state_dict, config, **kwargs, **loading)
        logger.warning_once(WEIGHTS_LICENSE)
        if size:
            model.resize_position_embeddings(**size)
        return model

    def resize_position_embeddings(self, image_size=None, num_frames=None) -> None:
        """Interpolate the position embeddings to another input size, in place, and record it in the config.

        The interpolation is the one `interpolate_pos_encoding=True` applies on the fly, so the resized model at the
        new size gives the same outputs as the original one run there with the flag.
        """
        config = self.config
        if image_size is not None and not (isinstance(image_size, (list, tuple)) and len(image_size) == 2):
            raise ValueError(f"image_size must be (height, width), got {image_size!r}.")
        image_size = list(config.image_size if image_size is None else image_size)
        num_frames = config.num_frames if num_frames is None else num_frames
        if [image_size, num_frames] == [list(config.image_size), config.num_frames]:
            return
        if isinstance(self, HieraForPreTraining):
            raise ValueError("MAE pre-training runs at the size its decoder was built for; load another class.")
        resized = HieraConfig.from_dict({**config.to_dict(), "image_size": image_size, "num_frames": num_frames})
        if resized.is_video != config.is_video:
            raise ValueError(
                f"num_frames={num_frames} would turn this {'video' if config.is_video else 'image'} "
                "model into the other kind."
            )
        for module in self.modules():
            if isinstance(module, HieraEmbeddings):
                module.resize(resized.tokens_spatial_shape)
        config.image_size, config.num_frames = image_size, num_frames


@auto_docstring(
    custom_intro="""
    The Hiera encoder: embeddings -> unroll -> stages -> (mean pool + layer norm). Given `noise`, `visible_units` or
    `mask_ratio` it hides mask units from the encoder, as MAE pre-training does.
    """
)
class HieraModel(HieraPreTrainedModel):
    def __init__(self, config: HieraConfig, add_pooling_layer: bool = True):
        r"""
        add_pooling_layer (`bool`, *optional*, defaults to `True`):
            Whether to add the mean pool + layer norm that makes `pooler_output`.
        """
        super().__init__(config)
        self.num_features = config.hidden_size
        self.embeddings = HieraEmbeddings(config)
        self.encoder = HieraEncoder(config)
        self.pooler = HieraPooler(config) if add_pooling_layer else None
        self.post_init()

    def visible_mask_units(
        self,
        unit_grid: list[int],
        batch_size: int,
        device: torch.device,
        noise: torch.Tensor | None = None,
        visible_units: torch.Tensor | None = None,
        mask_ratio: float | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The mask units the encoder sees: `visible_units` as given, or the `1 - mask_ratio` with the smallest
        `noise` (random noise if none is given; default ratio `config.mask_ratio`).

        Returns `keep` `(B, U)` bool (True = visible), `ids_keep` `(B, U_keep)` (visible units in ascending order,
        so tokens keep their unrolled order, as the official boolean indexing does) and `ids_restore` `(B, U)`
        (the inverse of the shuffle that `noise` sorts into; None for `visible_units`).
        """
        num_units = math.prod(unit_grid)
        expected = (batch_size, num_units)
        if visible_units is not None:
            if noise is not None or mask_ratio is not None:
                raise ValueError("Pass visible_units alone: it already says which mask units are hidden.")
            if not isinstance(visible_units, torch.Tensor) or visible_units.dtype != torch.bool:
                raise TypeError(f"visible_units must be a bool tensor of shape {expected}, got {visible_units!r:.80}.")
            visible_units = visible_units.to(device)
            if tuple(visible_units.shape) != expected:
                raise ValueError(f"visible_units must have shape {expected}, got {tuple(visible_units.shape)}.")
            counts = visible_units.sum(dim=1)
            if not torch.compiler.is_compiling() and (counts.min() != counts.max() or counts.min() == 0):
                raise ValueError(
                    f"visible_units must show the same number (at least one) of the {num_units} mask units in every "
                    f"row, got {counts.tolist()}."
                )
            ids_keep = visible_units.nonzero()[:, 1].view(batch_size, -1)  # row-major: ascending per row
            return visible_units, ids_keep, None
        mask_ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        if not is_number(mask_ratio):
            raise TypeError(f"mask_ratio must be a number in [0, 1), got {type(mask_ratio).__name__} {mask_ratio!r}.")
        if not 0 <= mask_ratio < 1:
            raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}.")
        num_keep = int(num_units * (1 - mask_ratio))
        if num_keep < 1:
            raise ValueError(
                f"mask_ratio={mask_ratio} hides all {num_units} mask units: choose a lower ratio (one unit stays "
                f"visible below {1 - 1 / num_units:.4g})."
            )
        if noise is None:
            noise = torch.rand(batch_size, num_units, device=device)
        elif not isinstance(noise, torch.Tensor):
            raise TypeError(
                f"noise must be a tensor of shape {expected} (batch, mask units), got {type(noise).__name__}."
            )
        elif tuple(noise.shape) != expected:
            raise ValueError(f"noise must have shape {expected} (batch, mask units), got {tuple(noise.shape)}.")
        noise = noise.to(device)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :num_keep].sort(dim=1).values
        keep = torch.zeros(batch_size, num_units, dtype=torch.bool, device=noise.device).scatter_(1, ids_keep, True)
        return keep, ids_keep, ids_restore

    @can_return_tuple
    @auto_docstring
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        visible_units: torch.Tensor | None = None,
        mask_ratio: float | None = None,
        interpolate_pos_encoding: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> HieraModelOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`, or `(batch_size, num_frames, num_channels, height, width)` for video):
            The pixels, as the model's image or video processor returns them.
        noise (`torch.FloatTensor` of shape `(batch_size, num_mask_units)`, *optional*):
            Hide the `mask_ratio` of the mask units with the largest noise (MAE masking); the same noise gives the
            same mask.
        visible_units (`torch.BoolTensor` of shape `(batch_size, num_mask_units)`, *optional*):
            True for the mask units the encoder sees, the same number in every row (official: `mask`); instead of
            `noise`.
        mask_ratio (`float`, *optional*):
            The fraction of mask units to hide (default `config.mask_ratio`); alone, with random noise.
        interpolate_pos_encoding (`bool`, *optional*):
            Run at another size (and frame count) by interpolating the position embeddings.
        """
        check_kwargs(self, kwargs)
        if pixel_values is None:
            raise ValueError("You have to specify pixel_values.")
        check_pixel_values(self.config, pixel_values, "tiled" if interpolate_pos_encoding else "configured")
        pixel_values = channels_first(pixel_values, self.config.is_video)
        pixel_values = pixel_values.to(self.embeddings.patch_embeddings.projection.weight.dtype)
        grid = self.embeddings.token_grid(pixel_values)
        masking = noise is not None or visible_units is not None or mask_ratio is not None
        keep = ids_keep = ids_restore = None
        if masking:
            unit_grid = [t // m for t, m in zip(grid, self.config.masked_unit_size)]
            keep, ids_keep, ids_restore = self.visible_mask_units(
                unit_grid, pixel_values.shape[0], pixel_values.device, noise, visible_units, mask_ratio
            )
        # return_dict=True: the outer decorator makes the tuple (config.return_dict=False would make one here too)
        outputs = self._encode(pixel_values, keep, ids_keep, ids_restore, return_dict=True, **kwargs)
        if outputs.hidden_states is not None:
            outputs.reshaped_hidden_states = self.encoder.reshape_hidden_states(
                outputs.hidden_states, None if masking else grid
            )
        return outputs

    @capture_outputs(tie_last_hidden_states=False)
    def _encode(
        self,
        pixel_values: torch.Tensor,
        keep: torch.Tensor | None,
        ids_keep: torch.Tensor | None,
        ids_restore: torch.Tensor | None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> HieraModelOutput:
        """`(B, C, *input)` checked pixels -> tokens; Transformers' hooks add `hidden_states` and `attentions`."""
        batch_size = pixel_values.shape[0]
        grid = self.embeddings.token_grid(pixel_values)
        unit_keep = None
        if keep is not None:
            unit_keep = keep.view(batch_size, 1, *[t // m for t, m in zip(grid, self.config.masked_unit_size)])

        embeddings = self.embeddings(pixel_values, unit_keep)  # (B, N, C) raster order
        hidden_states = unroll(embeddings, grid, self.encoder.unroll_schedule)  # (B, N, C) unrolled
        if ids_keep is not None:
            # Drop hidden mask units: tokens are unit-major, (units, tokens_per_unit).
            channels = hidden_states.shape[-1]
            hidden_states = hidden_states.view(batch_size, keep.shape[1], -1, channels)
            index = ids_keep[:, :, None, None].expand(-1, -1, hidden_states.shape[2], channels)
            hidden_states = hidden_states.gather(1, index).view(batch_size, -1, channels)

        sequence_output = self.encoder(hidden_states, **kwargs)
        return HieraModelOutput(
            last_hidden_state=sequence_output,
            pooler_output=self.pooler(sequence_output) if self.pooler is not None else None,
            visible_units=keep,
            bool_masked_pos=keep,
            ids_restore=ids_restore,
        )


class HieraPooler(nn.Module):
    """Mean over tokens, then layer norm: `(B, N, C)` -> `(B, C)`."""

    def __init__(self, config: HieraConfig):
        super().__init__()
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.layernorm(hidden_states.mean(dim=1))


# ---------------------------------------------------------------------------------------------------------------
# Heads: classification (image and video), MAE pre-training, backbone
# ---------------------------------------------------------------------------------------------------------------


class _HieraForClassification(HieraPreTrainedModel):
    # Pooled features -> dropout -> linear. Returns logits (official: its head adds a softmax in eval mode).

    loss_type = "ForImageClassification"
    _expects_video: bool

    def __init__(self, config: HieraConfig):
        super().__init__(config)
        if config.is_video != self._expects_video:
            raise ValueError(
                f"{type(self).__name__} needs {'a video' if self._expects_video else 'an image'} config "
                f"(num_frames {'set' if self._expects_video else 'None'}), got num_frames={config.num_frames}; "
                f"use {hiera_class_for(config, 'classification').__name__}."
            )
        self.num_labels = config.num_labels
        self.hiera = HieraModel(config, add_pooling_layer=True)
        self.dropout = nn.Dropout(config.head_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels) if config.num_labels > 0 else nn.Identity()
        self.post_init()

    @can_return_tuple
    @auto_docstring
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        interpolate_pos_encoding: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> HieraForClassificationOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`, or `(batch_size, num_frames, num_channels, height, width)` for video):
            The pixels, as the model's image or video processor returns them.
        labels (`torch.LongTensor` of shape `(batch_size,)`, *optional*):
            Class indices; floats `(batch_size, num_labels)` for multi-label, `(batch_size,)` floats for regression
            (`num_labels=1`). The loss follows `config.problem_type`.
        interpolate_pos_encoding (`bool`, *optional*):
            Run at another size (and frame count) by interpolating the position embeddings.
        """
        check_kwargs(self, kwargs)
        outputs = self.hiera(
            pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, return_dict=True, **kwargs
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))  # (B, num_labels)
        loss = self.loss_function(labels, logits, self.config) if labels is not None else None
        return HieraForClassificationOutput(
            loss=loss,
            logits=logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            reshaped_hidden_states=outputs.reshaped_hidden_states,
        )


@auto_docstring(
    custom_intro="""
    Hiera with a linear classifier on the pooled features, for images `(batch_size, num_channels, height, width)`.
    """
)
class HieraForImageClassification(_HieraForClassification):
    _expects_video = False


@auto_docstring(
    custom_intro="""
    Hiera with a linear classifier on the pooled features, for videos `(batch_size, num_frames, num_channels, height,
    width)`.
    """
)
class HieraForVideoClassification(_HieraForClassification):
    _expects_video = True


class HieraMultiScaleHead(nn.Module):
    """MAE fusion: bring the first `num_query_pool` stage outputs to the last stage's mask-unit shape and sum.

    official: the heads are strided convolutions (kernel = stride) summed with the last stage (identity).
    """

    def __init__(self, config: HieraConfig):
        super().__init__()
        conv = nn.Conv3d if config.is_video else nn.Conv2d
        num_pools = config.num_query_pool
        final_unit = [m // s**num_pools for m, s in zip(config.masked_unit_size, config.query_stride)]
        unit = list(config.masked_unit_size)
        heads = []
        for stage in range(num_pools):
            kernel = tuple(u // f for u, f in zip(unit, final_unit))
            heads.append(conv(config.stage_widths[stage], config.hidden_size, kernel_size=kernel, stride=kernel))
            unit = [u // s for u, s in zip(unit, config.query_stride)]
        heads.append(nn.Identity())
        self.multi_scale_fusion_heads = nn.ModuleList(heads)

    def forward(self, feature_maps: list[torch.Tensor]) -> torch.Tensor:
        """Each map `(B, units, *unit_shape, C_i)` -> sum of `(B, units, *final_unit_shape, C)`."""
        fused = 0.0
        for head, feature_map in zip(self.multi_scale_fusion_heads, feature_maps):
            if not isinstance(head, nn.Identity):
                batch_size, num_units = feature_map.shape[:2]
                # (B, U, *unit, C) -> (B*U, C, *unit) -> conv -> (B, U, *final_unit, C')
                feature_map = head(feature_map.flatten(0, 1).movedim(-1, 1)).movedim(1, -1)
                feature_map = feature_map.reshape(batch_size, num_units, *feature_map.shape[1:])
            fused = fused + feature_map
        return fused


class HieraDecoder(nn.Module):
    """MAE decoder: fill hidden mask units with a mask token, restore the grid, global attention, predict pixels."""

    def __init__(self, config: HieraConfig):
        super().__init__()
        if not (config.decoder_hidden_size and config.decoder_depth and config.decoder_num_heads):
            raise ValueError(
                "HieraForPreTraining needs decoder_hidden_size, decoder_depth and decoder_num_heads in the config "
                "(the official MAE decoder is 512 / 8 / 16; see HieraConfig.from_preset(..., for_pretraining=True))."
            )
        num_pools = config.num_query_pool
        self.grid_final = [t // s**num_pools for t, s in zip(config.tokens_spatial_shape, config.query_stride)]
        self.unit_shape_final = [m // s**num_pools for m, s in zip(config.masked_unit_size, config.query_stride)]
        width = config.decoder_hidden_size
        self.decoder_embeddings = nn.Linear(config.hidden_size, width)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, width))
        self.decoder_position_embeddings = nn.Parameter(torch.zeros(1, math.prod(self.grid_final), width))
        self.decoder_block = HieraStage(
            [HieraLayer(config, width, width, config.decoder_num_heads) for _ in range(config.decoder_depth)]
        )
        self.decoder_norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        # A prediction patch is the last spatial stride of one final token, e.g. 4 * 2**2 = 16 pixels.
        self.pred_stride = config.patch_stride[-1] * config.query_stride[-1] ** num_pools
        self.decoder_pred = nn.Linear(width, self.pred_stride**2 * config.num_channels)

    def forward(self, encoded: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`encoded` `(B, kept_units, *final_unit, C)`, `keep` `(B, U)` -> logits `(B, L, pixels)`, visible `(B, L)`."""
        hidden = self.decoder_embeddings(encoded)
        batch_size, num_units = keep.shape
        # (B, U, *final_unit, C): kept units from the encoder, the mask token elsewhere.
        full = self.mask_token.to(hidden.dtype).expand(batch_size * num_units, *self.unit_shape_final, -1).clone()
        full[keep.flatten()] = hidden.flatten(0, 1)
        full = full.view(batch_size, num_units, *self.unit_shape_final, -1)
        hidden = undo_windowing(full, self.grid_final, self.unit_shape_final).flatten(1, -2)  # (B, L, C)
        unit_keep = keep.view(batch_size, num_units, *[1] * len(self.unit_shape_final), 1)
        unit_keep = unit_keep.expand(-1, -1, *self.unit_shape_final, 1)
        visible = undo_windowing(unit_keep, self.grid_final, self.unit_shape_final).flatten(1)  # (B, L)

        hidden = self.decoder_block(hidden + self.decoder_position_embeddings)
        return self.decoder_pred(self.decoder_norm(hidden)), visible


@auto_docstring(
    custom_intro="""
    Masked-autoencoder pre-training for images and videos (MAE with multi-scale fusion, as in the paper).
    """
)
class HieraForPreTraining(HieraPreTrainedModel):
    def __init__(self, config: HieraConfig):
        super().__init__(config)
        if int(config.num_mask_units * (1 - config.mask_ratio)) < 1:
            raise ValueError(
                f"mask_ratio={config.mask_ratio} keeps none of the {config.num_mask_units} mask units of a "
                f"{tuple(config.input_size)} input visible: lower mask_ratio or use a larger input."
            )
        if config.is_video and config.masked_unit_size[0] > 1:
            # official: its decoder fails the same way (a shape mismatch); its presets use 1.
            raise ValueError(
                f"Video MAE needs a temporal mask unit of 1 frame token (masked_unit_size[0] = 1), got "
                f"masked_unit_size={tuple(config.masked_unit_size)}: the decoder predicts one frame per temporal token."
            )
        self.hiera = HieraModel(config, add_pooling_layer=False)
        self.encoder_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.multiscale_fusion = HieraMultiScaleHead(config)
        self.decoder = HieraDecoder(config)
        self.post_init()

    def pixel_targets(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """`(B, C, *input)` -> `(B, L, pixels)`: one row of pixels per prediction patch, in raster order.

        official: video targets use the first frame of each temporal token and flatten (ph, pw, C) channel-last,
        images flatten (C, ph, pw) channel-first.
        """
        size = self.decoder.pred_stride
        if self.config.is_video:
            pixel_values = pixel_values[:, :, :: self.config.patch_stride[0]]
        # (B, C, [T,] H, W) -> (B, C, [T,] H/p, W/p, p, p)
        patches = pixel_values.unfold(-2, size, size).unfold(-2, size, size)
        if self.config.is_video:
            patches = patches.permute(0, 2, 3, 4, 5, 6, 1)  # (B, T, H/p, W/p, p, p, C)
            return patches.flatten(1, 3).flatten(2)
        patches = patches.permute(0, 2, 3, 1, 4, 5)  # (B, H/p, W/p, C, p, p)
        return patches.flatten(1, 2).flatten(2)

    @can_return_tuple
    @filter_stage_outputs
    @auto_docstring
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        visible_units: torch.Tensor | None = None,
        mask_ratio: float | None = None,
        interpolate_pos_encoding: bool | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> HieraForPreTrainingOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`, or `(batch_size, num_frames, num_channels, height, width)` for video):
            The pixels, as the model's image or video processor returns them.
        noise (`torch.FloatTensor` of shape `(batch_size, num_mask_units)`, *optional*):
            The units with the smallest noise are kept: fix it for reproducible masks.
        visible_units (`torch.BoolTensor` of shape `(batch_size, num_mask_units)`, *optional*):
            The mask units the encoder sees, instead of random ones.
        mask_ratio (`float`, *optional*):
            The fraction of mask units to hide (default `config.mask_ratio`).
        interpolate_pos_encoding (`bool`, *optional*):
            Refused: MAE pre-training runs at the size its decoder was built for.
        """
        check_kwargs(self, kwargs)
        if interpolate_pos_encoding:
            raise ValueError("MAE pre-training runs at the configured input size only (its decoder is built for it).")
        if visible_units is None and mask_ratio is None:
            mask_ratio = self.config.mask_ratio  # always mask, with random noise when none is given
        outputs = self.hiera(
            pixel_values, noise=noise, visible_units=visible_units, mask_ratio=mask_ratio, return_dict=True, **kwargs
        )
        # Stage outputs per kept mask unit; the resolution stops changing after the pooling stages.
        stage_maps = outputs.reshaped_hidden_states[1:]
        if stage_maps[-1].shape[1] == self.config.num_mask_units:  # (a shape: no device sync)
            raise ValueError(
                "Nothing is hidden (mask_ratio=0 or visible_units all True): the MAE loss covers the hidden mask "
                "units, so it would be NaN. Hide at least one unit, or run HieraModel for features."
            )
        fused = self.multiscale_fusion(list(stage_maps[: self.config.num_query_pool]) + [stage_maps[-1]])
        logits, visible = self.decoder(self.encoder_norm(fused), outputs.visible_units)

        targets = self.pixel_targets(channels_first(pixel_values, self.config.is_video))
        if self.config.normalize_pixel_loss:
            mean = targets.mean(dim=-1, keepdim=True)
            var = targets.var(dim=-1, keepdim=True)  # unbiased, as in the official code
            targets = (targets - mean) / (var + 1.0e-6) ** 0.5
        masked_patches = ~visible  # the loss covers the patches the encoder did not see
        loss = ((logits[masked_patches] - targets[masked_patches]) ** 2).mean()
        return HieraForPreTrainingOutput(
            loss=loss,
            logits=logits,
            visible_patches=visible,
            visible_units=outputs.visible_units,
            bool_masked_pos=visible,
            ids_restore=outputs.ids_restore,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            reshaped_hidden_states=outputs.reshaped_hidden_states,
        )


class BackboneChannels(list):
    """`HieraBackbone.channels`, which dense heads read when they are built: reading more maps than `out_features`
    gives raises a `ValueError` that says so (UperNet's auxiliary head reads index 2, Mask2Former the last 3), instead
    of an `IndexError` there or a shape mismatch deep in the head's forward."""

    def __init__(self, channels: list[int], out_features: list[str], stage_names: list[str]):
        super().__init__(channels)
        self.out_features, self.stage_names = out_features, stage_names

    def __getitem__(self, key):
        if isinstance(key, int) and not -len(self) <= key < len(self):
            wanted = f"map index {key}"
        elif isinstance(key, slice) and key.start is not None and key.start < -len(self):
            wanted = f"the last {-key.start} maps"
        else:
            return super().__getitem__(key)
        raise ValueError(
            f"The head reads {wanted} but this HieraBackbone gives {len(self)} (out_features={self.out_features}). "
            f"Ask for more stages, e.g. out_features={self.stage_names[1:]} (UperNet and Mask2Former use four)."
        )


@auto_docstring(
    custom_intro="""
    Hiera backbone: multi-scale feature maps at any input size, for dense heads (UperNet, Mask2Former, DETR).
    """
)
class HieraBackbone(BackboneMixin, HieraPreTrainedModel):
    """Multi-scale feature maps, channels first: `(B, C_i, *grid_i)` for each stage in `out_features`, at any
    input size, for dense heads (UperNet, Mask2Former, DETR) that call it with pixel values only.

    Each map is `reshaped_hidden_states[i]` (tokens rerolled to the grid) passed through a per-stage layer norm.
    Stage `i` (stem: 0) has stride `patch_stride * query_stride**min(max(i - 1, 0), num_query_pool)` (4, 4, 8,
    16, 32 pixels for stem, stage1..4 of the image presets; 2 frames in time for video).

    Any size: the input is zero-padded at the bottom and right (and after the last frame) up to a multiple of
    `patch_stride * masked_unit_size` (32 pixels for the image presets), the position embeddings are interpolated
    to that grid (as `interpolate_pos_encoding=True` does), and each map is cropped back to the input's extent,
    rounded up: 480x640 gives 120x160, 60x80, 30x40, 15x20. Zero is the mean colour after normalisation; tokens
    next to the bottom/right border attend to padded tokens in their mask unit (and in the global stages), so
    their features differ a little from those of an unpadded input. Sizes that need no padding give exactly
    `HieraModel(..., interpolate_pos_encoding=True)`'s maps.
    """

    def __init__(self, config: HieraConfig):
        super().__init__(config)
        if not config.out_features:
            raise ValueError(f"out_features/out_indices name no stage: choose from {config.stage_names}.")
        self.num_features = [config.embed_dim] + config.stage_widths
        self.hiera = HieraModel(config, add_pooling_layer=False)
        self.hidden_states_norms = nn.ModuleDict(
            {
                stage: nn.LayerNorm(channels, eps=config.layer_norm_eps)
                for stage, channels in zip(self.out_features, self.channels)
            }
        )
        self.post_init()

    @property
    def channels(self) -> BackboneChannels:
        """Channels of each map in `out_features`."""
        return BackboneChannels(super().channels, self.out_features, self.stage_names)

    def stage_strides(self) -> list[list[int]]:
        """Per entry of `stage_names`, the stride of its map in input pixels (frames), per dimension."""
        encoder = self.hiera.encoder
        return [encoder.token_stride(encoder.poolings_before(index)) for index in range(len(self.stage_names))]

    def pad(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Zero-pad checked pixels (processor layout) at the end of each size up to a multiple of the mask units."""
        config = self.config
        unit = [s * m for s, m in zip(config.patch_stride, config.masked_unit_size)]
        size = spatial_size(config, pixel_values)
        # Round up to a multiple: torch.export keeps symbolic sizes then simple enough to reason about (a `% unit`
        # form made its shape solver run for many minutes); exported, always pad (by 0 where nothing is missing).
        padding = [(s + u - 1) // u * u - s for s, u in zip(size, unit)]
        if not torch.compiler.is_exporting() and not any(padding):
            return pixel_values
        # F.pad lists (start, end) pairs from the last dimension backwards; video channels sit between T and H.
        pairs = [(0, amount) for amount in reversed(padding)]
        if config.is_video:
            pairs.insert(2, (0, 0))
        return F.pad(pixel_values, [value for pair in pairs for value in pair])

    @can_return_tuple
    @filter_stage_outputs
    @auto_docstring
    def forward(self, pixel_values: torch.Tensor, **kwargs: Unpack[TransformersKwargs]) -> BackboneOutput:
        r"""
        pixel_values (`torch.FloatTensor` of shape `(batch_size, num_channels, height, width)`, or `(batch_size, num_frames, num_channels, height, width)` for video):
            The pixels, any size of at least one patch stride (the backbone pads to whole mask units).
        """
        check_kwargs(self, kwargs)
        check_pixel_values(self.config, pixel_values, "padded")
        size = spatial_size(self.config, pixel_values)
        outputs = self.hiera(self.pad(pixel_values), interpolate_pos_encoding=True, return_dict=True, **kwargs)
        feature_maps = []
        for stage, hidden, stride in zip(self.stage_names, outputs.reshaped_hidden_states, self.stage_strides()):
            if stage in self.out_features:
                extent = [slice(0, -(-s // t)) for s, t in zip(size, stride)]  # ceil: a partly real token counts
                hidden = hidden[(slice(None), *extent)]  # (B, *grid_i, C) cropped to the input
                feature_maps.append(self.hidden_states_norms[stage](hidden).movedim(-1, 1).contiguous())
        return BackboneOutput(
            feature_maps=tuple(feature_maps),  # each (B, C_i, *grid_i)
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


_SAVED_TASKS = {
    "HieraForImageClassification": "classification",
    "HieraForVideoClassification": "classification",
    "HieraModel": "base",
    "HieraBackbone": "backbone",
    "HieraForPreTraining": "pretraining",
}


def saved_task(config: HieraConfig) -> str:
    """The task (see `hiera_class_for`) of the class a config was saved from (`architectures`; none: "base")."""
    architecture = (config.architectures or ["HieraModel"])[0]
    if architecture not in _SAVED_TASKS:
        raise ValueError(f"A {architecture} checkpoint: expected one of {', '.join(_SAVED_TASKS)}.")
    return _SAVED_TASKS[architecture]


def load_saved(name_or_path, **kwargs) -> HieraPreTrainedModel:
    """The model a folder or Hub id holds, as the class it was saved from (its config's `architectures`), in eval
    mode. `kwargs` go to `from_pretrained`."""
    config = HieraConfig.from_pretrained(name_or_path, **{k: kwargs[k] for k in DOWNLOAD_KWARGS if k in kwargs})
    return hiera_class_for(config, saved_task(config)).from_pretrained(name_or_path, **kwargs).eval()


def hiera_class_for(config: HieraConfig, task: str = "classification") -> type[HieraPreTrainedModel]:
    """Our model class for `config` and a task: "base", "classification" (image or video, from the config),
    "pretraining" (MAE) or "backbone"."""
    classes = {
        "base": HieraModel,
        "classification": HieraForVideoClassification if config.is_video else HieraForImageClassification,
        "pretraining": HieraForPreTraining,
        "backbone": HieraBackbone,
    }
    if task not in classes:
        raise ValueError(f"Unknown task {task!r}: expected one of {', '.join(classes)}.")
    return classes[task]


# Transformers then copies this file (and its imports) into saved folders and names the class in `auto_map`.
for _model_class, _auto_class in (
    (HieraModel, "AutoModel"),
    (HieraForImageClassification, "AutoModelForImageClassification"),
    (HieraForVideoClassification, "AutoModelForVideoClassification"),
    (HieraForPreTraining, "AutoModelForPreTraining"),
    (HieraBackbone, "AutoBackbone"),
):
    _model_class.register_for_auto_class(_auto_class)

__all__ = [
    "HieraBackbone",
    "HieraForImageClassification",
    "HieraForPreTraining",
    "HieraForVideoClassification",
    "HieraModel",
    "HieraPreTrainedModel",
    "hiera_class_for",
    "load_saved",
    "saved_task",
]
