"""Parity with the official implementation (`hiera-transformer`): same random weights, same input, fp32."""

from __future__ import annotations

import gc

import hiera
import pytest
import torch
from accelerate import init_empty_weights
from helpers import converted_model, official_input, official_model

from hiera_hf import PRESETS, HieraConfig
from hiera_hf.configuration_hiera import official_arguments
from hiera_hf.parity import official_layout_to_ours, paired_outputs

ATOL = 1e-4
SMALL = ["hiera_tiny_224", "hiera_small_224", "hiera_base_224", "hiera_base_plus_224", "hiera_base_16x224"]
LARGE = ["hiera_large_224", "hiera_huge_224", "hiera_base_plus_16x224", "hiera_large_16x224", "hiera_huge_16x224"]
assert sorted(SMALL + LARGE) == sorted(PRESETS)


@pytest.mark.parametrize("pretraining", [False, True])
@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_are_the_official_constructors(name, pretraining):
    """`official_arguments(preset)` is what the official `hiera.<name>` / `hiera.mae_<name>` constructor passes."""
    builder = getattr(hiera, f"mae_{name}" if pretraining else name)
    with init_empty_weights():  # the official init's linspace(...).item() stays on CPU
        named = builder(pretrained=False).config
    ours = official_arguments(HieraConfig.from_preset(name, for_pretraining=pretraining), pretraining)
    shared = set(ours) & set(named) - {"num_classes"}
    assert shared >= {"input_size", "embed_dim", "stages", "q_pool", "q_stride", "mask_unit_size", "sep_pos_embed"}
    assert {key: ours[key] for key in shared} == {key: named[key] for key in shared}


def _check_classifier(name: str) -> None:
    official = official_model(name)
    ours = converted_model(name, official)
    pairs = paired_outputs(ours, official, official_input(name, batch_size=1))
    assert len(pairs) == 2 + len(ours.config.depths)  # logits, pooled, every stage
    for key, (actual, expected) in pairs.items():
        torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0, msg=key)
    del official, ours
    gc.collect()


@pytest.mark.parametrize("name", SMALL)
def test_classifier_parity(name):
    _check_classifier(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE)
def test_classifier_parity_large(name):
    _check_classifier(name)


@pytest.mark.parametrize("name", ["hiera_tiny_224", "hiera_base_224", "hiera_base_16x224"])
def test_mae_parity(name):
    official = official_model(name, pretraining=True)
    ours = converted_model(name, official, pretraining=True)
    noise = torch.rand(2, ours.config.num_mask_units, generator=torch.Generator().manual_seed(1))
    pairs = paired_outputs(ours, official, official_input(name, batch_size=2), noise)
    for key, (actual, expected) in pairs.items():
        torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0, msg=key)


def test_mae_parity_without_noise_uses_one_mask_for_both():
    """`paired_outputs` (and so conversion's verification) without `noise` draws one mask for both models."""
    official = official_model("hiera_tiny_224", pretraining=True)
    ours = converted_model("hiera_tiny_224", official, pretraining=True)
    torch.manual_seed(5)
    for key, (actual, expected) in paired_outputs(ours, official, official_input("hiera_tiny_224")).items():
        torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0, msg=key)


def test_from_official_refuses_what_it_cannot_convert():
    from hiera_hf.parity import from_official

    official = official_model("hiera_tiny_224")
    config = HieraConfig.from_preset("hiera_tiny_224")
    with pytest.raises(TypeError, match="takes an official hiera model.*got dict.*official_model"):
        from_official(dict(official.state_dict()), config)
    with pytest.raises(TypeError, match="needs the HieraConfig of the model, got NoneType"):
        from_official(official, None)
    with pytest.raises(
        ValueError, match=r"do not fit HieraForImageClassification with this config \(embed_dim=96, depths=\(2,"
    ):
        from_official(official, HieraConfig.from_preset("hiera_base_224"))


@pytest.mark.parametrize("name", ["hiera_tiny_224", "hiera_base_16x224"])
def test_mae_checkpoint_as_encoder(name):
    """An MAE checkpoint loads into HieraModel (num_query_pool=2) and gives the official encoder's tokens."""
    from hiera_hf import HieraModel

    official = official_model(name, pretraining=True)
    mae = converted_model(name, official, pretraining=True)
    model = HieraModel(mae.config, add_pooling_layer=False).eval()
    model.load_state_dict(mae.hiera.state_dict(), strict=True)
    pixels = official_input(name, batch_size=1)
    keep_all = torch.ones(1, mae.config.num_mask_units, dtype=torch.bool)
    with torch.no_grad():
        # The official MAE class has no norm/head; its base forward with every unit kept returns the raw tokens.
        official_tokens = hiera.Hiera.forward(official, pixels, mask=keep_all)
        tokens = model(official_layout_to_ours(pixels)).last_hidden_state
    # With two pooling stages one unroll step remains: ours are unit-major (units, 4 tokens each), the official
    # tokens are unit-innermost (4, units).
    batch_size, _, channels = tokens.shape
    tokens = tokens.view(batch_size, mae.config.num_mask_units, -1, channels).transpose(1, 2).reshape_as(tokens)
    torch.testing.assert_close(tokens, official_tokens, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["hiera_tiny_224", "hiera_base_16x224"])
def test_mae_parity_with_the_units_to_keep(name):
    """`visible_units` is the official forward's `mask` (True = keep, units in raster order)."""
    official = official_model(name, pretraining=True)
    ours = converted_model(name, official, pretraining=True)
    units = ours.config.num_mask_units
    generator = torch.Generator().manual_seed(3)
    keep = torch.zeros(2, units, dtype=torch.bool)
    for row in keep:
        row[torch.randperm(units, generator=generator)[: units // 4]] = True
    pixels = official_input(name, batch_size=2)
    with torch.no_grad():
        outputs = ours(official_layout_to_ours(pixels), visible_units=keep)
        loss, predictions, _, _ = official(pixels, mask=keep)
    torch.testing.assert_close(outputs.loss, loss, atol=ATOL, rtol=0)
    torch.testing.assert_close(outputs.logits[~outputs.bool_masked_pos], predictions, atol=ATOL, rtol=0)
