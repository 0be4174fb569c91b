"""Parity with the official implementation (`hiera-transformer`): same random weights, same input, fp32."""

from __future__ import annotations

import gc

import pytest
import torch
from helpers import converted_model, official_input, official_model, to_ours

from hiera_hf import PRESETS

ATOL = 1e-4
SMALL = ["hiera_tiny_224", "hiera_small_224", "hiera_base_224", "hiera_base_plus_224", "hiera_base_16x224"]
LARGE = ["hiera_large_224", "hiera_huge_224", "hiera_base_plus_16x224", "hiera_large_16x224", "hiera_huge_16x224"]
assert sorted(SMALL + LARGE) == sorted(PRESETS)


def _check_classifier(name: str) -> None:
    official = official_model(name)
    ours = converted_model(name, official)
    pixels = official_input(name, batch_size=1)
    with torch.no_grad():
        _, stages = official(pixels, return_intermediates=True)
        official.head.train()  # official: the head applies softmax in eval mode; compare logits before it
        official_logits = official(pixels)
        official_pooled = official.norm(stages[-1].flatten(1, -2).mean(dim=1))
        outputs = ours(to_ours(pixels), output_hidden_states=True)
        pooled = ours.hiera(to_ours(pixels)).pooler_output
    torch.testing.assert_close(outputs.logits, official_logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(pooled, official_pooled, atol=ATOL, rtol=0)
    assert len(outputs.reshaped_hidden_states) == len(stages) + 1  # embeddings + one per stage
    for ours_stage, official_stage in zip(outputs.reshaped_hidden_states[1:], stages):
        torch.testing.assert_close(ours_stage, official_stage, atol=ATOL, rtol=0)
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
    pixels = official_input(name, batch_size=2)
    noise = torch.rand(2, ours.config.num_mask_units, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outputs = ours(to_ours(pixels), noise=noise)
        keep = ours.hiera.random_masking(2, pixels.device, noise)[0]
        loss, predictions, _labels, official_keep = official(pixels, mask=keep)
    assert torch.equal(official_keep, keep)
    assert outputs.bool_masked_pos.shape == outputs.logits.shape[:2]
    torch.testing.assert_close(outputs.loss, loss, atol=ATOL, rtol=0)
    torch.testing.assert_close(outputs.logits[~outputs.bool_masked_pos], predictions, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["hiera_tiny_224", "hiera_base_16x224"])
def test_mae_checkpoint_as_encoder(name):
    """An MAE checkpoint loads into HieraModel (num_query_pool=2) and gives the official encoder's tokens."""
    import hiera

    from hiera_hf import HieraConfig, HieraModel
    from hiera_hf.official import convert_official_state_dict

    official = official_model(name, pretraining=True)
    config = HieraConfig.from_preset(name, for_pretraining=True)
    state = convert_official_state_dict(official.state_dict(), config)
    encoder_state = {k.removeprefix("hiera."): v for k, v in state.items() if k.startswith("hiera.")}
    model = HieraModel(config, add_pooling_layer=False).eval()
    model.load_state_dict(encoder_state, strict=True)
    pixels = official_input(name, batch_size=1)
    keep_all = torch.ones(1, config.num_mask_units, dtype=torch.bool)
    with torch.no_grad():
        # The official MAE class has no norm/head; its base forward with every unit kept returns the raw tokens.
        official_tokens = hiera.Hiera.forward(official, pixels, mask=keep_all)
        tokens = model(to_ours(pixels)).last_hidden_state
    # With two pooling stages one unroll step remains: ours are unit-major (units, 4 tokens each), the official
    # tokens are unit-innermost (4, units).
    batch_size, _, channels = tokens.shape
    tokens = tokens.view(batch_size, config.num_mask_units, -1, channels).transpose(1, 2).reshape_as(tokens)
    torch.testing.assert_close(tokens, official_tokens, atol=ATOL, rtol=0)
