"""Behaviour of the models: attention back-ends, compile, checkpointing, save/load, Auto, interop, bad input."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import transformers
from helpers import pixels_for, randomize_, small_config
from transformers import (
    AutoBackbone,
    AutoConfig,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
)

from hiera_hf import (
    HieraBackbone,
    HieraConfig,
    HieraForImageClassification,
    HieraForPreTraining,
    HieraForVideoClassification,
    HieraModel,
)


def classifier_for(config: HieraConfig, **kwargs):
    model_class = HieraForVideoClassification if config.is_video else HieraForImageClassification
    return randomize_(model_class(config, **kwargs)).eval()


# ---- attention back-ends, compile, gradient checkpointing ------------------------------------------------------


@pytest.mark.parametrize("implementation", ["eager", "flex_attention"])
@pytest.mark.parametrize("video", [False, True])
def test_attention_implementations_agree_with_sdpa(video, implementation):
    """Every attention function of Transformers' interface that runs on CPU gives SDPA's outputs."""
    config = small_config(video)
    sdpa = classifier_for(config)
    assert sdpa.config._attn_implementation == "sdpa"  # the default
    other = type(sdpa).from_pretrained(
        None, config=config, state_dict=sdpa.state_dict(), attn_implementation=implementation
    )
    assert other.config._attn_implementation == implementation
    pixels = pixels_for(config)
    with torch.no_grad():
        expected = other.eval()(pixels, output_hidden_states=True)
        actual = sdpa(pixels, output_hidden_states=True)
    torch.testing.assert_close(actual.logits, expected.logits, atol=1e-5, rtol=0)
    for a, b in zip(actual.reshaped_hidden_states, expected.reshaped_hidden_states):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_output_attentions_with_sdpa():
    config = small_config()
    model = classifier_for(config)
    with torch.no_grad():
        attentions = model(pixels_for(config), output_attentions=True).attentions
    assert len(attentions) == sum(config.depths)  # one per layer
    # stage 1: mask-unit attention over 64 tokens in each of 4 units; the last stage's only layer is global and
    # pools its queries (16 -> 4) while attending to all 16 keys.
    assert attentions[0].shape == (2, 1, 4, 64, 64)
    assert attentions[-1].shape == (2, 8, 1, 4, 16)
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(2, 1, 4, 64))


@pytest.mark.parametrize("video", [False, True])
def test_compile_fullgraph(video):
    config = small_config(video)
    model = classifier_for(config)
    pixels = pixels_for(config)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        expected = model(pixels).logits
        actual = compiled(pixels).logits
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("video", [False, True])
def test_gradient_checkpointing_same_gradients(video):
    config = small_config(video)
    model = classifier_for(config).train()
    pixels, labels = pixels_for(config), torch.tensor([1, 3])

    def gradients():
        model.zero_grad()
        model(pixels, labels=labels).loss.backward()
        return {name: p.grad.clone() for name, p in model.named_parameters()}

    layers = [layer.mlp for stage in model.hiera.encoder.stages for layer in stage.layers]  # inside each layer
    calls = []
    for layer in layers:
        # a pre-hook: non-reentrant checkpointing stops recomputing once it has what backward needs
        layer.register_forward_pre_hook(lambda module, args: calls.append(module))
    plain = gradients()
    assert len(calls) == len(layers)  # one forward per layer
    # activation_checkpointing_enable is the 5.23 name; gradient_checkpointing_enable works across 5.x.
    getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
    calls.clear()
    checkpointed = gradients()
    # each layer ran again during backward: its activations were recomputed, not stored
    assert len(calls) == 2 * len(layers) and all(calls.count(layer) == 2 for layer in layers)
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], atol=1e-6, rtol=0, msg=name)


def test_drop_path_only_in_training():
    config = small_config(drop_path_rate=0.5)
    model = classifier_for(config)
    pixels = pixels_for(config)
    with torch.no_grad():
        assert torch.equal(model(pixels).logits, model(pixels).logits)
        model.train()
        torch.manual_seed(0)
        first = model(pixels).logits
        torch.manual_seed(1)
        assert not torch.equal(first, model(pixels).logits)


# ---- heads and losses -----------------------------------------------------------------------------------------


def training_losses(model, steps: int, learning_rate: float, pixels, **inputs) -> list[float]:
    """The loss at each of `steps` AdamW steps on one fixed batch."""
    optimizer, losses = torch.optim.AdamW(model.parameters(), lr=learning_rate), []
    for _ in range(steps):
        loss = model(pixels, **inputs).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize(
    ("problem_type", "num_labels", "labels"),
    [
        ("single_label_classification", 5, torch.tensor([0, 4])),
        ("multi_label_classification", 5, torch.tensor([[1.0, 0, 0, 1, 0], [0, 1, 0, 0, 0]])),
        ("regression", 1, torch.tensor([0.5, -1.0])),
    ],
)
def test_each_kind_of_label_trains_the_classifier(problem_type, num_labels, labels):
    """The label layouts the forward documents reach a loss whose gradient fits them: 20 steps on a fixed batch
    bring the loss below a quarter of where it started."""
    config = small_config(problem_type=problem_type, num_labels=num_labels)
    torch.manual_seed(0)
    model = HieraForImageClassification(config).train()
    pixels = pixels_for(config) + torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)  # two inputs it can tell apart
    losses = training_losses(model, 20, 1e-3, pixels, labels=labels)
    assert losses[-1] < 0.25 * losses[0], (problem_type, losses[::4])


@pytest.mark.parametrize("model_class", [HieraModel, HieraForImageClassification, HieraForPreTraining, HieraBackbone])
def test_return_dict_false_gives_tuple(model_class):
    """Asked per call or set in the config (the heads' inner calls still get output objects), the same values."""
    config = small_config(mask_ratio=0.5, num_query_pool=2)
    model = randomize_(model_class(config)).eval()
    pixels, noise = pixels_for(config), torch.rand(2, 4)
    extra = {"noise": noise} if model_class is HieraForPreTraining else {}
    with torch.no_grad():
        expected = model(pixels, **extra).to_tuple()
        per_call = model(pixels, return_dict=False, **extra)
        model.config.return_dict = False
        from_config = model(pixels, **extra)
    for out in (per_call, from_config):
        assert isinstance(out, tuple) and len(out) == len(expected)
        for a, b in zip(out, expected):
            torch.testing.assert_close(a, b, atol=0, rtol=0)


@pytest.mark.parametrize("video", [False, True])
def test_pretraining_noise_makes_masking_deterministic(video):
    config = small_config(video, mask_ratio=0.5, num_query_pool=2)  # the official MAE pools twice
    model = randomize_(HieraForPreTraining(config)).eval()
    pixels = pixels_for(config)
    noise = torch.rand(2, config.num_mask_units, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        first, second = model(pixels, noise=noise), model(pixels, noise=noise)
        other = model(pixels, noise=noise.flip(-1))
    assert torch.equal(first.loss, second.loss) and not torch.equal(first.loss, other.loss)
    patches = (config.num_frames // 2 if video else 1) * (64 // 16) ** 2
    assert first.logits.shape == (2, patches, 16 * 16 * 3)
    assert first.bool_masked_pos.shape == (2, patches) and first.ids_restore.shape == (2, config.num_mask_units)
    # half of the mask units are visible
    assert first.bool_masked_pos.float().mean().item() == pytest.approx(0.5)


@pytest.mark.parametrize("video", [False, True])
def test_any_hiera_model_masks_per_call(video):
    """Masking is a forward argument: the same HieraModel runs unmasked, with noise, with a ratio, or with the units
    to keep; the config is never touched."""
    config = small_config(video)
    model = randomize_(HieraModel(config)).eval()
    pixels, units = pixels_for(config), config.num_mask_units
    noise = torch.rand(2, units, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(pixels, output_hidden_states=True)
        masked = model(pixels, noise=noise, mask_ratio=0.5, output_hidden_states=True)
        again = model(pixels, visible_units=masked.bool_masked_pos, output_hidden_states=True)
        quarter = model(pixels, noise=noise, mask_ratio=0.25)
        default = model(pixels, noise=noise)  # the config's ratio
    assert full.bool_masked_pos is None and full.last_hidden_state.shape[1] == full.hidden_states[-1].shape[1]
    assert masked.bool_masked_pos.sum(1).tolist() == [units // 2] * 2
    assert quarter.bool_masked_pos.sum(1).tolist() == [units - units // 4] * 2
    assert default.bool_masked_pos.sum(1).tolist() == [int(units * (1 - config.mask_ratio))] * 2
    kept = noise.argsort(1)[:, : units // 2]  # the smallest noise is kept
    assert torch.equal(masked.bool_masked_pos, torch.zeros(2, units, dtype=torch.bool).scatter_(1, kept, True))
    torch.testing.assert_close(again.last_hidden_state, masked.last_hidden_state, atol=0, rtol=0)
    assert again.ids_restore is None and torch.equal(masked.ids_restore, noise.argsort(1).argsort(1))
    # Masked hidden states are per kept mask unit: (batch, kept units, *unit shape, width).
    assert masked.reshaped_hidden_states[0].shape == (2, units // 2, *config.masked_unit_size, config.embed_dim)
    assert config.mask_ratio == 0.6


def test_pretraining_takes_the_mask_ratio_per_call():
    config = small_config(num_query_pool=2)
    model = randomize_(HieraForPreTraining(config)).eval()
    pixels = pixels_for(config)
    with torch.no_grad():
        ratios = {
            ratio: model(pixels, mask_ratio=ratio).bool_masked_pos.float().mean().item() for ratio in (0.25, 0.5)
        }
        keep = torch.tensor([[True, False, False, True], [False, True, True, False]])
        chosen = model(pixels, visible_units=keep)
    assert ratios == {0.25: 0.75, 0.5: 0.5} and config.mask_ratio == 0.6
    # 16x16-pixel prediction patches on a 4x4 grid, 2x2 of them per mask unit (units in raster order).
    expected = keep.view(2, 2, 2).repeat_interleave(2, dim=1).repeat_interleave(2, dim=2).flatten(1)
    assert torch.equal(chosen.bool_masked_pos, expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(mask_ratio=1.0), ValueError, r"mask_ratio must be in \[0, 1\), got 1.0"),
        (dict(mask_ratio=0.8), ValueError, "hides all 4 mask units"),
        (
            dict(noise=torch.rand(2, 5)),
            ValueError,
            r"noise must have shape \(2, 4\) \(batch, mask units\), got \(2, 5\)",
        ),
        (dict(noise=[[0.1] * 4] * 2), TypeError, r"noise must be a tensor of shape \(2, 4\).*got list"),
        (dict(mask_ratio="0.5"), TypeError, r"mask_ratio must be a number in \[0, 1\), got str '0.5'"),
        (
            dict(visible_units=torch.ones(2, 4)),
            TypeError,
            r"visible_units must be a bool tensor of shape \(2, 4\), got tensor",
        ),
        (
            dict(visible_units=torch.ones(2, 3, dtype=torch.bool)),
            ValueError,
            r"must have shape \(2, 4\), got \(2, 3\)",
        ),
        (dict(visible_units=torch.tensor([[True] * 4, [True, False, False, False]])), ValueError, "same number"),
        (dict(visible_units=torch.zeros(2, 4, dtype=torch.bool)), ValueError, "at least one"),
        (dict(visible_units=torch.ones(2, 4, dtype=torch.bool), mask_ratio=0.5), ValueError, "visible_units alone"),
    ],
)
def test_bad_masking_arguments_say_what_was_expected(kwargs, error, message):
    model = HieraModel(small_config()).eval()
    with pytest.raises(error, match=message):
        model(pixels_for(small_config()), **kwargs)


def test_heads_that_do_not_mask_refuse_masking_arguments():
    config = small_config()
    for model in (classifier_for(config), HieraBackbone(config)):
        with pytest.raises(TypeError, match=f"{type(model).__name__}.forward got unexpected.*noise.*only HieraModel"):
            model(pixels_for(config), noise=torch.rand(2, 4))


def test_video_mae_refuses_a_temporal_mask_unit_of_two_frames():
    config = small_config(video=True, num_frames=8, masked_unit_size=(2, 8, 8))
    HieraModel(config)  # the encoder masks any unit; the MAE decoder cannot
    with pytest.raises(ValueError, match=r"temporal mask unit of 1.*masked_unit_size=\(2, 8, 8\)"):
        HieraForPreTraining(config)


@pytest.mark.parametrize("video", [False, True])
def test_selected_hidden_states_for_every_class(video):
    """`output_hidden_states=[0, 2, -1]`: those states (and their spatial forms), None for the others."""
    config = small_config(video, num_query_pool=2)
    classes = [HieraModel, HieraBackbone, HieraForPreTraining, classifier_for(config).__class__]
    pixels, noise = (
        pixels_for(config),
        torch.rand(2, config.num_mask_units, generator=torch.Generator().manual_seed(0)),
    )
    for model_class in classes:
        torch.manual_seed(0)
        model = model_class(config).eval()
        inputs = {"noise": noise} if model_class is HieraForPreTraining else {}
        with torch.no_grad():
            full = model(pixels, output_hidden_states=True, **inputs)
            some = model(pixels, output_hidden_states=[0, 2, -1], **inputs)
            none = model(pixels, **inputs)
        assert none.hidden_states is None and getattr(none, "reshaped_hidden_states", None) is None
        names = ["hidden_states"] + (["reshaped_hidden_states"] if model_class is not HieraBackbone else [])
        for name in names:
            assert len(getattr(some, name)) == len(config.depths) + 1, (model_class, name)
            for index, (selected, every) in enumerate(zip(getattr(some, name), getattr(full, name))):
                if index in (0, 2, len(config.depths)):
                    torch.testing.assert_close(selected, every, atol=0, rtol=0)
                else:
                    assert selected is None, (model_class, name, index)


@pytest.mark.parametrize("video", [False, True])
def test_returned_attention_weights_are_the_ones_in_the_graph(video):
    config = small_config(video)
    model = classifier_for(config)
    outputs = model(pixels_for(config), output_attentions=True)
    for attention in outputs.attentions:
        attention.retain_grad()
    outputs.logits[:, 1].sum().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in outputs.attentions)


def test_output_attentions_from_the_config_switches_to_eager():
    config = small_config(output_attentions=True)
    model = classifier_for(config)
    assert model.config._attn_implementation == "sdpa"
    with torch.no_grad():
        attentions = model(pixels_for(config)).attentions
    assert len(attentions) == sum(config.depths) and attentions[0].shape == (2, 1, 4, 64, 64)


def test_pretraining_refuses_to_hide_nothing():
    """The loss covers the hidden units: with none hidden it would be NaN, so the call says why instead."""
    config = small_config(mask_ratio=0.5, num_query_pool=2)
    model = HieraForPreTraining(config).eval()
    for kwargs in (dict(mask_ratio=0.0), dict(visible_units=torch.ones(2, 4, dtype=torch.bool))):
        with pytest.raises(ValueError, match=r"Nothing is hidden \(mask_ratio=0 or visible_units all True\)"):
            model(pixels_for(config), **kwargs)


def test_pretraining_needs_a_visible_mask_unit():
    config = small_config(video=True, mask_ratio=0.9)  # 2 x 2 x 2 = 8 units: int(8 * 0.1) = 0 kept
    with pytest.raises(ValueError, match="keeps none of the 8 mask units"):
        HieraForPreTraining(config)


@pytest.mark.parametrize("video", [False, True])
def test_pretraining_lowers_the_loss_on_a_fixed_batch(video):
    """MAE training learns: 30 AdamW steps on one batch with one mask halve the reconstruction loss."""
    config = small_config(video, mask_ratio=0.5)
    torch.manual_seed(0)
    model = HieraForPreTraining(config).train()
    pixels = pixels_for(config)
    noise = torch.rand(len(pixels), config.num_mask_units, generator=torch.Generator().manual_seed(0))
    losses = training_losses(model, 30, 2e-3, pixels, noise=noise)
    assert losses[-1] < 0.5 * losses[0], losses[::5]


@pytest.mark.parametrize("video", [False, True])
def test_backbone_maps_are_rerolled_hidden_states(video):
    config = small_config(video, out_features=["stem", "stage1", "stage2", "stage3", "stage4"])
    backbone = HieraBackbone(config).eval()
    for norm in backbone.hidden_states_norms.values():  # identity norms: maps must be the spatial states
        torch.nn.init.ones_(norm.weight)
        torch.nn.init.zeros_(norm.bias)
    base = HieraModel(config, add_pooling_layer=False).eval()
    base.load_state_dict(backbone.hiera.state_dict())
    pixels = pixels_for(config)
    with torch.no_grad():
        maps = backbone(pixels).feature_maps
        states = base(pixels, output_hidden_states=True).reshaped_hidden_states
    norm = torch.nn.functional.layer_norm
    for feature_map, state in zip(maps, states):
        expected = norm(state, state.shape[-1:], eps=config.layer_norm_eps).movedim(-1, 1)
        torch.testing.assert_close(feature_map, expected, atol=1e-5, rtol=0)
    grids = [(16, 16), (16, 16), (8, 8), (4, 4), (2, 2)]
    assert [tuple(m.shape[-2:]) for m in maps] == grids
    assert [m.shape[1] for m in maps] == backbone.channels


def test_backbone_spatial_order():
    """A feature at one position of the input shows up at the same position of the stem map (no unroll order)."""
    config = small_config(out_features=["stem"])
    backbone = HieraBackbone(config).eval()
    with torch.no_grad():
        backbone.hiera.embeddings.position_embeddings.zero_()
        pixels = torch.zeros(1, 3, 64, 64)
        pixels[..., 20:24, 40:44] = 1.0  # patch (5, 10) of the 16x16 grid
        base = backbone(torch.zeros_like(pixels)).feature_maps[0]
        changed = (backbone(pixels).feature_maps[0] - base).abs().sum(1)[0]
    rows, cols = torch.nonzero(changed > 1e-6, as_tuple=True)
    assert rows.min() >= 4 and rows.max() <= 6 and cols.min() >= 9 and cols.max() <= 11


# ---- other sizes --------------------------------------------------------------------------------------------------


def test_interpolate_pos_encoding_image():
    config = small_config()
    model = classifier_for(config)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 96, 128), interpolate_pos_encoding=True, output_hidden_states=True)
        same = model(pixels_for(config), interpolate_pos_encoding=True).logits
        reference = model(pixels_for(config)).logits
    assert out.logits.shape == (1, 5)
    assert out.reshaped_hidden_states[1].shape == (1, 24, 32, 16)
    torch.testing.assert_close(same, reference, atol=0, rtol=0)  # the trained size is not interpolated


def test_interpolate_pos_encoding_matches_builtin_at_a_non_square_size():
    """Values, not just shapes: the built-in Hiera interpolates the same way (H and W swapped would differ)."""
    builtin = randomize_(transformers.HieraForImageClassification(builtin_config())).eval()
    ours = HieraForImageClassification.from_pretrained(
        None, config=small_config(depths=(1, 2, 2, 1)), state_dict=builtin.state_dict()
    ).eval()
    pixels = torch.randn(2, 3, 96, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # (the built-in fails on output_hidden_states at non-square sizes: compare outputs)
        expected = builtin(pixels, interpolate_pos_encoding=True).logits
        expected_tokens = builtin.hiera(pixels, interpolate_pos_encoding=True).last_hidden_state
        actual = ours(pixels, interpolate_pos_encoding=True).logits
        actual_tokens = ours.hiera(pixels, interpolate_pos_encoding=True).last_hidden_state
        swapped = ours(pixels.transpose(-1, -2), interpolate_pos_encoding=True).logits
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(actual_tokens, expected_tokens, atol=1e-5, rtol=0)
    assert (swapped - expected).abs().max() > 1e-3


def test_interpolate_pos_encoding_video_frames():
    config = small_config(video=True)
    model = classifier_for(config)
    with torch.no_grad():
        out = model(torch.randn(1, 8, 3, 64, 96), interpolate_pos_encoding=True, output_hidden_states=True)
    assert out.logits.shape == (1, 5)
    assert out.reshaped_hidden_states[1].shape == (1, 4, 16, 24, 16)


# ---- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("video", "shape", "interpolate", "message"),
    [
        (False, (2, 1, 64, 64), False, "Expected 3 channels"),
        (False, (2, 4, 3, 64, 64), False, "image model: pixel_values must be 4-D"),
        (True, (2, 3, 64, 64), False, "video model: pixel_values must be 5-D"),
        (True, (2, 4, 4, 64, 64), False, "Expected 3 channels"),
        (True, (2, 6, 3, 64, 64), False, r"\(frames, height, width\) = \(6, 64, 64\) does not match"),
        (False, (2, 3, 96, 96), False, "interpolate_pos_encoding=True"),
        (False, (2, 3, 48, 64), True, "cannot be tiled by mask units"),
        (True, (2, 5, 3, 64, 64), True, "cannot be tiled by mask units"),
    ],
)
def test_bad_pixel_values(video, shape, interpolate, message):
    model = classifier_for(small_config(video))
    with pytest.raises(ValueError, match=message):
        model(torch.randn(shape), interpolate_pos_encoding=interpolate)


@pytest.mark.parametrize("video", [False, True])
def test_integer_pixels_and_empty_batches_are_refused_clearly(video):
    config = small_config(video)
    model = classifier_for(config)
    pixels = pixels_for(config)
    processor = "HieraVideoProcessor" if video else "HieraImageProcessor"
    with pytest.raises(TypeError, match=f"floating-point tensor, got torch.uint8.*{processor}"):
        model((pixels * 50).clamp(0, 255).to(torch.uint8))
    with pytest.raises(ValueError, match="batch size 0"):
        model(pixels[:0])
    model.to(torch.bfloat16)  # float pixels of another dtype are cast to the model's
    with torch.no_grad():
        assert model(pixels).logits.dtype == torch.bfloat16


def test_misspelled_arguments_are_not_swallowed():
    model = classifier_for(small_config())
    with pytest.raises(TypeError, match="interpolate_pos_encodng"):
        model(pixels_for(small_config()), interpolate_pos_encodng=True)


def test_pixel_values_must_be_tensor():
    with pytest.raises(TypeError, match="pixel_values must be a torch.Tensor, got list"):
        classifier_for(small_config())(pixel_values=[[0.0]])


def test_wrong_model_class_for_config():
    with pytest.raises(ValueError, match="use HieraForVideoClassification"):
        HieraForImageClassification(small_config(video=True))
    with pytest.raises(ValueError, match="use HieraForImageClassification"):
        HieraForVideoClassification(small_config())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(depths=(1, 1, 1)), "num_heads needs one value per stage"),
        (dict(num_heads=(1, 3, 4, 8)), "width 32 is not divisible by num_heads=3"),
        (dict(query_stride=(2, 2, 2)), "query_stride needs 2 values for a image"),
        (dict(masked_unit_size=(4, 4)), "cannot be tiled by query_stride"),
        (dict(image_size=(72, 64)), "cannot be tiled by masked_unit_size"),
        (dict(num_query_pool=4), "num_query_pool must be in"),
        (dict(mask_ratio=1.0), "mask_ratio"),
        (dict(num_frames=4), "patch_size needs 3 values for a video"),
        (dict(image_size=224), r"image_size must be a list or tuple of integers >= 1, got 224"),
        (dict(patch_stride=(4, 0)), r"patch_stride must be a list or tuple of integers >= 1, got \(4, 0\)"),
        (dict(query_stride=(2, 0)), r"query_stride must be a list or tuple of integers >= 1, got \(2, 0\)"),
        (dict(num_heads=(1, 0, 4, 8)), r"num_heads must be a list or tuple of integers >= 1"),
        (dict(depths=(1, -1, 2, 1)), r"depths must be a list or tuple of integers >= 1, got \(1, -1, 2, 1\)"),
        (dict(num_frames=0), "num_frames must be a positive integer, got 0"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_config(**kwargs)


def test_derived_fields_cannot_be_overridden():
    config = small_config(hidden_size=768, stage_names=["x"])
    assert config.hidden_size == 128 and config.stage_names[-1] == "stage4"


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(ValueError, match="hiera_base_224"):
        HieraConfig.from_preset("hiera_gigantic_224")


# ---- save/load, Auto classes, dtype/device_map ---------------------------------------------------------------------


@pytest.mark.parametrize("video", [False, True])
def test_save_load_round_trip_with_auto(tmp_path, video):
    config = small_config(video)
    model = classifier_for(config)
    tmp_path = str(tmp_path)
    model.save_pretrained(tmp_path)
    assert (Path(tmp_path) / "model.safetensors").exists()
    auto_class = AutoModelForVideoClassification if video else AutoModelForImageClassification
    loaded = auto_class.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    assert type(AutoConfig.from_pretrained(tmp_path)) is HieraConfig
    pixels = pixels_for(config)
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixels).logits, model(pixels).logits, atol=0, rtol=0)
    base = AutoModel.from_pretrained(tmp_path)
    assert type(base) is HieraModel
    # AutoBackbone.from_pretrained in Transformers 5.23 asks the Hub whether a *local* folder is a repo (fails
    # offline), so check the Auto mapping through from_config and the folder through the class.
    assert type(AutoBackbone.from_config(loaded.config)) is HieraBackbone
    backbone = HieraBackbone.from_pretrained(tmp_path, out_features=["stage4"])
    assert backbone.out_features == ["stage4"]


def test_push_to_hub_uploads_the_complete_folder(tmp_path, monkeypatch):
    """`save_pretrained(push_to_hub=True)` of a model, the config and the processors uploads a folder whose
    `auto_map` names only classes whose source files are in it (Transformers copies them, `register_for_auto_class`);
    a model's names every Auto class that loads it. The Hub is faked here."""
    import json
    import os
    from types import SimpleNamespace
    from unittest import mock

    from hiera_hf import HieraImageProcessor, HieraVideoProcessor

    created = []
    fake_api = SimpleNamespace(
        create_repo=lambda repo_id, **kwargs: created.append(repo_id) or SimpleNamespace(repo_id=f"user/{repo_id}")
    )
    for module in (
        transformers.configuration_utils,
        transformers.image_processing_base,
        transformers.video_processing_utils,
    ):
        monkeypatch.setattr(module, "hf_api", lambda: fake_api)  # (each imported the name)
    HieraForImageClassification(small_config()).save_pretrained(tmp_path / "model")  # (its push goes elsewhere)
    mapping = json.loads((tmp_path / "model" / "config.json").read_text())["auto_map"]
    auto = {"AutoConfig", "AutoModel", "AutoModelForImageClassification", "AutoModelForPreTraining", "AutoBackbone"}
    assert set(mapping) == auto and {"modeling_hiera.py", "configuration_hiera.py"} <= set(
        os.listdir(tmp_path / "model")
    )
    cases = [
        (small_config(), "config.json"),
        (HieraImageProcessor(), "preprocessor_config.json"),
        (HieraVideoProcessor(), "video_preprocessor_config.json"),
    ]
    for saved, json_file in cases:
        folder = tmp_path / type(saved).__name__
        uploads = []

        def upload(working_dir, repo_id, timestamps, json_file=json_file, uploads=uploads, **kwargs):
            content = json.loads((Path(working_dir) / json_file).read_text())
            uploads.append((repo_id, sorted(p.name for p in Path(working_dir).iterdir()), content.get("auto_map")))

        with mock.patch.object(type(saved), "_upload_modified_files", side_effect=upload, autospec=False):
            saved.save_pretrained(str(folder), push_to_hub=True, commit_message="hiera")
        assert len(uploads) == 1, type(saved).__name__
        repo_id, files, mapping = uploads[0]
        assert repo_id == f"user/{folder.name}" and created[-1] == folder.name
        named = {
            entry for value in mapping.values() for entry in (value.values() if isinstance(value, dict) else [value])
        }
        assert json_file in files and {f"{entry.split('.')[0]}.py" for entry in named} <= set(files), (files, mapping)


def test_auto_pretraining_and_dtype_and_device_map(tmp_path):
    config = small_config()
    HieraForPreTraining(config).save_pretrained(tmp_path)
    model = AutoModelForPreTraining.from_pretrained(tmp_path, dtype=torch.bfloat16, device_map="auto")
    assert type(model) is HieraForPreTraining
    assert next(model.parameters()).dtype == torch.bfloat16
    with torch.no_grad():
        out = model(pixels_for(config).to(torch.bfloat16))
    assert torch.isfinite(out.loss)


def test_presets_build_official_geometry():
    config = HieraConfig.from_preset("hiera_base_16x224")
    assert config.input_size == (16, 224, 224) and config.num_mask_units == 392
    mae = HieraConfig.from_preset("hiera_base_16x224", for_pretraining=True)
    assert mae.num_query_pool == 2 and mae.mask_ratio == 0.9
    with torch.device("meta"):
        model = HieraForImageClassification(HieraConfig.from_preset("hiera_base_224", num_labels=1000))
    assert abs(sum(p.numel() for p in model.parameters()) - 51_520_000) < 10_000  # 51.52M in the notes


# ---- Transformers' built-in "hiera" --------------------------------------------------------------------------------


def builtin_config(**kwargs) -> transformers.HieraConfig:
    return transformers.HieraConfig(embed_dim=16, depths=(1, 2, 2, 1), image_size=(64, 64), num_labels=5, **kwargs)


def test_builtin_checkpoint_loads_into_ours(tmp_path):
    builtin = randomize_(transformers.HieraForImageClassification(builtin_config())).eval()
    builtin.save_pretrained(tmp_path / "classifier")
    builtin.hiera.save_pretrained(tmp_path / "base")
    ours = HieraForImageClassification.from_pretrained(tmp_path / "classifier").eval()
    ours_base = HieraModel.from_pretrained(tmp_path / "base").eval()
    assert ours.config.model_type == "hiera_hf"
    pixels = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = builtin(pixels, output_hidden_states=True)
        actual = ours(pixels, output_hidden_states=True)
        base_expected = builtin.hiera(pixels).last_hidden_state
        base_actual = ours_base(pixels).last_hidden_state
    torch.testing.assert_close(actual.logits, expected.logits, atol=1e-5, rtol=0)
    for a, b in zip(actual.reshaped_hidden_states, expected.reshaped_hidden_states):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.testing.assert_close(base_actual, base_expected, atol=1e-5, rtol=0)


def test_builtin_hiera_still_resolves_to_transformers(tmp_path):
    config = builtin_config()
    assert type(AutoConfig.for_model("hiera")) is transformers.HieraConfig
    assert type(AutoModel.from_config(config)) is transformers.HieraModel
    assert type(AutoModelForImageClassification.from_config(config)) is transformers.HieraForImageClassification
    mae_config = builtin_config(decoder_hidden_size=32, decoder_depth=1, decoder_num_heads=2)
    assert type(AutoModelForPreTraining.from_config(mae_config)) is transformers.HieraForPreTraining
    transformers.HieraForImageClassification(config).save_pretrained(tmp_path)
    loaded = AutoModelForImageClassification.from_pretrained(tmp_path)
    assert type(loaded) is transformers.HieraForImageClassification


def test_import_leaves_builtin_outputs_unchanged():
    """Run the built-in model in a fresh interpreter before and after `import hiera_hf`: same logits, same classes."""
    script = textwrap.dedent(
        """
        import torch, transformers
        from transformers import AutoModelForImageClassification
        torch.manual_seed(0)
        config = transformers.HieraConfig(embed_dim=16, depths=(1, 1, 1, 1), image_size=(64, 64), num_labels=3)
        model = AutoModelForImageClassification.from_config(config).eval()
        x = torch.randn(1, 3, 64, 64)
        before = model(x).logits
        weights = {k: v.clone() for k, v in model.state_dict().items()}
        import hiera_hf
        torch.manual_seed(0)
        again = AutoModelForImageClassification.from_config(config).eval()  # built after the import, same seed
        assert type(again) is transformers.HieraForImageClassification, type(again)
        assert again.state_dict().keys() == weights.keys()
        assert all(torch.equal(again.state_dict()[k], v) for k, v in weights.items())
        assert torch.equal(again(x).logits, before) and torch.equal(model(x).logits, before)
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
