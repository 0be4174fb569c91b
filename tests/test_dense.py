"""HieraBackbone for dense prediction: any input size, loading at another size, Transformers' dense heads, bad input."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from helpers import randomize_, small_config
from transformers import (
    DetrConfig,
    DetrForObjectDetection,
    Mask2FormerConfig,
    Mask2FormerForUniversalSegmentation,
    UperNetConfig,
    UperNetForSemanticSegmentation,
)

from hiera_hf import (
    HieraBackbone,
    HieraConfig,
    HieraForImageClassification,
    HieraForPreTraining,
    HieraForVideoClassification,
    HieraImageProcessor,
    HieraModel,
)
from hiera_hf.training import layerwise_lr_groups

FOUR_STAGES = ["stage1", "stage2", "stage3", "stage4"]


def backbone_config(video: bool = False, **kwargs) -> HieraConfig:
    return small_config(video, **{"out_features": FOUR_STAGES, **kwargs})


def map_sizes(output) -> list[tuple[int, ...]]:
    return [tuple(feature_map.shape[2:]) for feature_map in output.feature_maps]


# ---- any input size ---------------------------------------------------------------------------------------------


def test_backbone_any_image_size():
    backbone = HieraBackbone(backbone_config()).eval()
    with torch.no_grad():
        assert map_sizes(backbone(torch.randn(1, 3, 480, 640))) == [(120, 160), (60, 80), (30, 40), (15, 20)]
        # Odd sizes round up: a partly real token counts.
        assert map_sizes(backbone(torch.randn(1, 3, 481, 641))) == [(121, 161), (61, 81), (31, 41), (16, 21)]
        assert map_sizes(backbone(torch.randn(2, 3, 4, 37))) == [(1, 10), (1, 5), (1, 3), (1, 2)]
    assert backbone.stage_strides()[1:] == [[4, 4], [8, 8], [16, 16], [32, 32]]


def test_backbone_any_video_size():
    backbone = HieraBackbone(backbone_config(video=True)).eval()
    with torch.no_grad():  # 5 frames pad to 6 (2 frames per token), 70x90 pad to 96x96
        sizes = map_sizes(backbone(torch.randn(1, 5, 3, 70, 90)))
    assert sizes == [(3, 18, 23), (3, 9, 12), (3, 5, 6), (3, 3, 3)]


@pytest.mark.parametrize("video", [False, True])
def test_backbone_without_padding_equals_interpolated_model(video):
    """Sizes the mask units tile need no padding: the maps are HieraModel's with interpolate_pos_encoding=True."""
    config = backbone_config(video)
    backbone = randomize_(HieraBackbone(config)).eval()
    pixels = torch.randn(1, 6, 3, 64, 96) if video else torch.randn(1, 3, 96, 128)
    with torch.no_grad():
        maps = backbone(pixels).feature_maps
        states = backbone.hiera(pixels, interpolate_pos_encoding=True, output_hidden_states=True)
    for stage, feature_map, state in zip(FOUR_STAGES, maps, states.reshaped_hidden_states[1:]):
        expected = backbone.hidden_states_norms[stage](state).movedim(-1, 1)
        torch.testing.assert_close(feature_map, expected, atol=1e-5, rtol=0)


def test_padding_is_zeros_at_the_bottom_right():
    """A 120x120 input is the top-left corner of a 128x128 input whose last 8 rows and columns are zero."""
    backbone = randomize_(HieraBackbone(backbone_config(out_features=["stage1"]))).eval()
    pixels = torch.randn(1, 3, 120, 120)
    with torch.no_grad():
        maps = backbone(pixels).feature_maps[0]
        padded_by_hand = backbone(torch.nn.functional.pad(pixels, (0, 8, 0, 8))).feature_maps[0]
    assert maps.shape[-2:] == (30, 30)
    torch.testing.assert_close(maps, padded_by_hand[..., :30, :30], atol=1e-5, rtol=0)


# ---- loading a checkpoint at another size -----------------------------------------------------------------------


def test_from_pretrained_at_another_image_size(tmp_path):
    model = randomize_(HieraBackbone(backbone_config())).eval()
    model.save_pretrained(tmp_path)
    resized = HieraBackbone.from_pretrained(tmp_path, image_size=(128, 192)).eval()
    assert list(resized.config.image_size) == [128, 192]
    assert resized.hiera.embeddings.position_embeddings.shape[1] == 32 * 48  # stored at the new size
    pixels = torch.randn(2, 3, 128, 192)
    with torch.no_grad():
        expected = model.hiera(pixels, interpolate_pos_encoding=True, output_hidden_states=True)
        maps = resized(pixels).feature_maps
    for stage, feature_map, state in zip(FOUR_STAGES, maps, expected.reshaped_hidden_states[1:]):
        torch.testing.assert_close(
            feature_map, model.hidden_states_norms[stage](state).movedim(-1, 1), atol=1e-5, rtol=0
        )
    # The resized folder saves and loads as it is.
    resized.save_pretrained(tmp_path / "resized")
    again = HieraBackbone.from_pretrained(tmp_path / "resized").eval()
    with torch.no_grad():
        torch.testing.assert_close(again(pixels).feature_maps[-1], maps[-1])


def test_from_pretrained_at_another_size_for_classifiers(tmp_path):
    image = randomize_(HieraForImageClassification(small_config())).eval()
    image.save_pretrained(tmp_path / "image")
    pixels = torch.randn(1, 3, 96, 96)
    loaded = HieraForImageClassification.from_pretrained(tmp_path / "image", image_size=[96, 96]).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(pixels).logits, image(pixels, interpolate_pos_encoding=True).logits)
    # A config passed in works the same way; HieraModel too.
    config = HieraConfig.from_pretrained(tmp_path / "image")
    config.image_size = [96, 96]
    base = HieraModel.from_pretrained(tmp_path / "image", config=config).eval()
    with torch.no_grad():
        expected = image.hiera(pixels, interpolate_pos_encoding=True).last_hidden_state
        torch.testing.assert_close(base(pixels).last_hidden_state, expected)

    video = randomize_(HieraForVideoClassification(small_config(video=True))).eval()
    video.save_pretrained(tmp_path / "video")
    clips = torch.randn(1, 8, 3, 96, 64)
    loaded = HieraForVideoClassification.from_pretrained(tmp_path / "video", num_frames=8, image_size=(96, 64)).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(clips).logits, video(clips, interpolate_pos_encoding=True).logits)

    with pytest.raises(ValueError, match="cannot be tiled by masked_unit_size"):
        HieraForImageClassification.from_pretrained(tmp_path / "image", image_size=(100, 100))
    with pytest.raises(ValueError, match=r"image_size must be \(height, width\), got 384"):
        HieraForImageClassification.from_pretrained(tmp_path / "image", image_size=384)


def test_mae_folder_loads_into_a_backbone(tmp_path):
    mae = randomize_(HieraForPreTraining(small_config(num_query_pool=2)))
    mae.save_pretrained(tmp_path)
    backbone = HieraBackbone.from_pretrained(tmp_path, out_features=FOUR_STAGES, image_size=(128, 128))
    assert backbone.config.num_query_pool == 3 and backbone.out_features == FOUR_STAGES
    mae_weights, weights = mae.hiera.state_dict(), backbone.hiera.state_dict()
    for name, value in mae_weights.items():
        if "position_embeddings" not in name:
            torch.testing.assert_close(weights[name], value, atol=0, rtol=0)
    assert HieraModel.from_pretrained(tmp_path).config.num_query_pool == 2  # the MAE encoder as it was trained
    assert HieraBackbone.from_pretrained(tmp_path, num_query_pool=2).config.num_query_pool == 2  # asked for


# ---- inside Transformers' dense models --------------------------------------------------------------------------


def test_upernet_trains_at_any_size():
    model = UperNetForSemanticSegmentation(
        UperNetConfig(backbone_config=backbone_config(), num_labels=3, hidden_size=32, auxiliary_channels=16)
    )
    assert type(model.backbone) is HieraBackbone
    for height, width in ((96, 128), (90, 75)):
        labels = torch.randint(0, 3, (2, height, width))
        output = model(torch.randn(2, 3, height, width), labels=labels)
        assert output.logits.shape == (2, 3, height, width) and torch.isfinite(output.loss)
        model.zero_grad()
        output.loss.backward()
        assert model.backbone.hiera.embeddings.patch_embeddings.projection.weight.grad.abs().sum() > 0
    groups = layerwise_lr_groups(model, 1e-3, 0.05, 0.5)  # the backbone's depths come from backbone_config
    rates = sorted({group["lr"] for group in groups})
    assert len(rates) == sum(model.config.backbone_config.depths) + 2 and rates[-1] == 1e-3


def test_mask2former_trains():
    widths = {"hidden_dim": 32, "mask_feature_size": 32, "feature_size": 32, "encoder_feedforward_dim": 64}
    depths = {"dim_feedforward": 64, "encoder_layers": 1, "decoder_layers": 2, "num_attention_heads": 4}
    config = Mask2FormerConfig(backbone_config=backbone_config(), num_labels=3, num_queries=5, **widths, **depths)
    model = Mask2FormerForUniversalSegmentation(config)
    masks = [torch.randint(0, 2, (2, 96, 128)).float() for _ in range(2)]
    output = model(torch.randn(2, 3, 96, 128), mask_labels=masks, class_labels=[torch.tensor([0, 2])] * 2)
    assert output.masks_queries_logits.shape == (2, 5, 24, 32) and torch.isfinite(output.loss)
    output.loss.backward()
    assert model.model.pixel_level_module.encoder.hiera.embeddings.position_embeddings.grad is not None


def test_detr_trains():
    layers = {"encoder_layers": 1, "decoder_layers": 1, "encoder_attention_heads": 2, "decoder_attention_heads": 2}
    widths = {"d_model": 32, "encoder_ffn_dim": 32, "decoder_ffn_dim": 32, "num_queries": 5, "num_labels": 3}
    ours = {"use_timm_backbone": False, "use_pretrained_backbone": False, "backbone_config": backbone_config()}
    config = DetrConfig(**ours, **layers, **widths)
    model = DetrForObjectDetection(config)
    labels = [{"class_labels": torch.tensor([1]), "boxes": torch.tensor([[0.5, 0.5, 0.2, 0.3]])}] * 2
    output = model(torch.randn(2, 3, 100, 140), labels=labels)
    assert output.pred_boxes.shape == (2, 5, 4) and torch.isfinite(output.loss)
    output.loss.backward()
    assert model.model.backbone.model.hiera.embeddings.position_embeddings.grad is not None


def test_semantic_post_processing():
    processor = HieraImageProcessor()
    logits = torch.zeros(2, 3, 4, 4)
    logits[0, 1], logits[1, 2] = 1.0, 1.0

    output = SimpleNamespace(logits=logits)
    maps = processor.post_process_semantic_segmentation(output, target_sizes=[(8, 6), (3, 5)])
    assert [tuple(m.shape) for m in maps] == [(8, 6), (3, 5)]
    assert (maps[0] == 1).all() and (maps[1] == 2).all()
    with pytest.raises(ValueError, match="2 target sizes for a batch of 3"):
        processor.post_process_semantic_segmentation(SimpleNamespace(logits=torch.zeros(3, 2, 4, 4)), [(1, 1)] * 2)


# ---- bad input: a clear ValueError before any computation -----------------------------------------------------


def test_out_features_naming_no_stage():
    with pytest.raises(ValueError, match="name no stage"):
        HieraBackbone(small_config(out_features=[]))
    with pytest.raises(ValueError, match="out_features must be a subset of stage_names"):
        small_config(out_features=["stage9"])
    with pytest.raises(ValueError, match="out_indices must be valid indices"):
        small_config(out_indices=[7])


@pytest.mark.parametrize("out_features", [["stage4"], ["stage3", "stage4"]])
def test_head_that_needs_more_maps(out_features):
    with pytest.raises(ValueError, match=r"The head reads map index 2 but this HieraBackbone gives"):
        UperNetForSemanticSegmentation(UperNetConfig(backbone_config=small_config(out_features=out_features)))
    with pytest.raises(ValueError, match=r"The head reads the last 3 maps"):
        Mask2FormerForUniversalSegmentation(Mask2FormerConfig(backbone_config=small_config(out_features=out_features)))


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 3, 0, 64), "smaller than one patch"),
        ((1, 3, 1, 1), "smaller than one patch"),
        ((0, 3, 64, 64), "batch size 0"),
        ((1, 64, 64), "must be 4-D"),
        ((1, 1, 64, 64), "Expected 3 channels"),
    ],
)
def test_backbone_bad_input(shape, message):
    backbone = HieraBackbone(backbone_config()).eval()
    calls = []
    backbone.hiera.embeddings.register_forward_pre_hook(lambda module, args: calls.append(1))
    with pytest.raises(ValueError, match=message):
        backbone(torch.zeros(shape))
    assert not calls  # refused before any computation


def test_video_backbone_one_frame_is_refused():
    backbone = HieraBackbone(backbone_config(video=True))
    with pytest.raises(ValueError, match=r"\(frames, height, width\) = \(1, 64, 64\) is smaller than one patch"):
        backbone(torch.zeros(1, 1, 3, 64, 64))
