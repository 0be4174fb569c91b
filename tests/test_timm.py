"""timm's Hiera checkpoints, the fourth way in: every timm `hiera_*` architecture (random init, every tensor
perturbed, saved by timm's own `save_for_hf`) loads into our classes and matches timm's model in fp32 within 1e-4,
logits and stage maps; the absolute-window models at a second size too, as the paper means (the background table
interpolated, the window table tiled)."""

from __future__ import annotations

import gc
import json
import warnings
from pathlib import Path

import pytest
import timm
import timm.data
import torch
import torch.nn.functional as F
from helpers import randomize_
from safetensors import safe_open
from timm.models import save_for_hf

from hiera_hf import HieraBackbone, HieraConfig, HieraForImageClassification, HieraImageProcessorPil, HieraModel
from hiera_hf.checkpoint_layouts import TIMM_ARCHITECTURES
from hiera_hf.image_processing_hiera import timm_processor_kwargs
from hiera_hf.parity import timm_paired_outputs
from hiera_hf.processors import processor_for
from hiera_hf.samples import demo_image

ATOL = 1e-4
LARGE = ["hiera_large_224", "hiera_huge_224"]
ABSWIN = ["hiera_small_abswin_256", "hiera_base_abswin_256"]
OTHER_SIZE = (192, 288)  # non-square, 6x9 mask units
STAGES = ["stage1", "stage2", "stage3", "stage4"]


def test_every_timm_hiera_architecture_is_covered():
    assert sorted(timm.list_models("hiera_*")) == sorted(TIMM_ARCHITECTURES)


def timm_folder(tmp_path: Path, architecture: str, safetensors: bool = True, **kwargs) -> tuple[torch.nn.Module, Path]:
    """timm's model of `architecture` with random weights, saved by timm in its Hub layout."""
    torch.manual_seed(0)
    model = timm.create_model(architecture, pretrained=False, weight_init="skip", fix_init=False, **kwargs)
    randomize_(model).eval()
    folder = tmp_path / architecture
    save_for_hf(model, folder, safe_serialization=safetensors)
    return model, folder


def pixels(size, batch_size: int = 1) -> torch.Tensor:
    return torch.randn(batch_size, 3, *size, generator=torch.Generator().manual_seed(0))


def assert_pairs_close(pairs: dict) -> None:
    assert len(pairs) == 5  # logits (or pooled) and four stage maps
    for key, (ours, theirs) in pairs.items():
        torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=0, msg=key)


def assert_backbone_maps(backbone: HieraBackbone, reference: torch.nn.Module, size) -> None:
    """The backbone's maps are timm's stage maps (`forward_intermediates`) through the backbone's map norms."""
    x = pixels(size)
    with torch.no_grad():
        maps = backbone(x).feature_maps
        _, stages = reference.forward_intermediates(x, output_fmt="NHWC")
    assert len(maps) == len(stages) == 4
    for stage, ours, theirs in zip(STAGES, maps, stages):
        norm = backbone.hidden_states_norms[stage]
        expected = F.layer_norm(theirs, norm.normalized_shape, norm.weight, norm.bias, norm.eps).movedim(-1, 1)
        torch.testing.assert_close(ours, expected, atol=ATOL, rtol=0, msg=stage)


def check_architecture(architecture: str, tmp_path: Path) -> None:
    reference, folder = timm_folder(tmp_path, architecture)
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"] == architecture and "pretrained_cfg" in config  # timm's layout
    with safe_open(folder / "model.safetensors", "pt") as weights:
        assert "head.fc.weight" in weights.keys() and "blocks.0.norm1.weight" in weights.keys()
    size = tuple(reference.pretrained_cfg["input_size"][1:])
    ours = HieraForImageClassification.from_pretrained(folder).eval()
    assert ours.config.num_labels == 1000 and ours.config.id2label[0] == "tench"
    assert_pairs_close(timm_paired_outputs(ours, reference, pixels(size)))
    backbone = HieraBackbone.from_pretrained(folder, out_features=STAGES).eval()
    assert_backbone_maps(backbone, reference, size)
    del ours, backbone, reference
    gc.collect()


@pytest.mark.parametrize("architecture", [name for name in TIMM_ARCHITECTURES if name not in LARGE])
def test_timm_parity(architecture, tmp_path):
    check_architecture(architecture, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", LARGE)
def test_timm_parity_large(architecture, tmp_path):
    check_architecture(architecture, tmp_path)


@pytest.mark.parametrize("architecture", ABSWIN)
def test_absolute_window_models_at_another_size(architecture, tmp_path):
    """At another size the background table is interpolated and the window table tiled, as timm does when built
    for that size: `interpolate_pos_encoding=True`, `image_size=` at load and the backbone agree with it."""
    small = {"embed_dim": 32, "stages": (1, 2, 2, 1)}  # timm's architecture, fewer and narrower layers
    reference, folder = timm_folder(tmp_path, architecture, **small)
    resized = timm.create_model(architecture, pretrained=False, img_size=OTHER_SIZE, **small).eval()
    resized.load_state_dict(reference.state_dict())  # the same tables fit every size
    ours = HieraForImageClassification.from_pretrained(folder).eval()
    assert_pairs_close(timm_paired_outputs(ours, resized, pixels(OTHER_SIZE), interpolate_pos_encoding=True))
    at_size = HieraForImageClassification.from_pretrained(folder, image_size=OTHER_SIZE).eval()
    assert at_size.config.image_size == list(OTHER_SIZE)
    assert_pairs_close(timm_paired_outputs(at_size, resized, pixels(OTHER_SIZE)))
    assert_backbone_maps(HieraBackbone.from_pretrained(folder, out_features=STAGES).eval(), resized, OTHER_SIZE)


def test_timm_mae_encoders_load_into_the_base_model_and_the_backbone(tmp_path):
    """timm's `.mae` checkpoints have no classifier (`num_classes=0`): the encoder and its final norm."""
    small = {"embed_dim": 32, "stages": (1, 2, 2, 1), "num_classes": 0}
    reference, folder = timm_folder(tmp_path, "hiera_tiny_224", safetensors=False, **small)  # pytorch_model.bin
    assert not (folder / "model.safetensors").exists() and (folder / "pytorch_model.bin").exists()
    base = HieraModel.from_pretrained(folder).eval()
    assert base.config.architectures == ["HieraModel"]
    assert_pairs_close(timm_paired_outputs(base, reference, pixels((224, 224))))
    assert_backbone_maps(HieraBackbone.from_pretrained(folder, out_features=STAGES).eval(), reference, (224, 224))
    classifier = HieraForImageClassification.from_pretrained(folder, num_labels=7)  # a new head, the same encoder
    assert classifier.config.num_labels == 7
    assert all(torch.equal(classifier.hiera.state_dict()[k], v) for k, v in base.state_dict().items())


def test_a_timm_folder_saves_in_our_layout(tmp_path):
    _, folder = timm_folder(tmp_path, "hiera_small_abswin_256", embed_dim=32, stages=(1, 2, 2, 1))
    ours = HieraForImageClassification.from_pretrained(folder).eval()
    assert ours.config.window_positional_embedding_background_size == [16, 16]
    assert ours.config.layer_scale_init_value == 1e-5 and ours.config.use_expand_projection is False
    ours.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved/config.json").read_text())
    assert saved["model_type"] == "hiera_hf" and "architecture" not in saved
    with safe_open(tmp_path / "saved/model.safetensors", "pt") as weights:
        assert set(weights.keys()) == set(ours.state_dict())
    again = HieraForImageClassification.from_pretrained(tmp_path / "saved").eval()
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), ours.state_dict().values()))


def test_the_processor_is_timms_evaluation_transform(tmp_path):
    """`pretrained_cfg`'s mean, std, crop_pct, interpolation and input size become the processor; on PIL input it
    gives what timm's own transform gives."""
    _, folder = timm_folder(tmp_path, "hiera_small_abswin_256", embed_dim=32, stages=(1, 2, 2, 1))
    pretrained_cfg = json.loads((folder / "config.json").read_text())["pretrained_cfg"]
    kwargs = timm_processor_kwargs(pretrained_cfg)
    assert kwargs["size"] == {"shortest_edge": 269} and kwargs["crop_size"] == {"height": 256, "width": 256}
    transform = timm.data.create_transform(**timm.data.resolve_data_config(pretrained_cfg=pretrained_cfg))
    ours = HieraImageProcessorPil(**kwargs)(demo_image(), return_tensors="pt").pixel_values[0]
    torch.testing.assert_close(ours, transform(demo_image()), atol=1e-6, rtol=0)
    processor = processor_for(HieraConfig.from_pretrained(folder), str(folder))
    assert processor.size.shortest_edge == 269 and list(processor.image_mean) == list(pretrained_cfg["mean"])
    with pytest.raises(ValueError, match="crop_mode 'squash'"):
        timm_processor_kwargs({**pretrained_cfg, "crop_mode": "squash"})


def test_what_is_not_timms_hiera_is_named(tmp_path):
    _, folder = timm_folder(tmp_path, "hiera_tiny_224", embed_dim=32, stages=(1, 2, 2, 1))
    config = json.loads((folder / "config.json").read_text())
    for architecture, message in (
        ("vit_base_patch16_224", "timm architecture 'vit_base_patch16_224' is not one of timm's Hiera models"),
        ("sam2_hiera_tiny", "'sam2_hiera_tiny' is not one of timm's Hiera models .timm's SAM 2 Hiera"),
    ):
        (folder / "config.json").write_text(json.dumps({**config, "architecture": architecture}))
        with pytest.raises(ValueError, match=message):
            HieraForImageClassification.from_pretrained(folder)
    for option, value in (("global_pool", "max"), ("patch_drop_rate", 0.1)):
        model_args = {**config["model_args"], option: value}
        (folder / "config.json").write_text(json.dumps({**config, "model_args": model_args}))
        with pytest.raises(ValueError, match=f"uses Hiera options hiera-hf does not have: {option}="):
            HieraForImageClassification.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**config, "model_args": {"window_spec": [8, 4]}}))
    with pytest.raises(ValueError, match=r"arguments that timm's Hiera does not take: \['window_spec'\]"):
        HieraConfig.from_pretrained(folder)


def test_the_options_cost_nothing_when_unused():
    """Without timm's options a layer holds exactly what it held before: no LayerScale parameters, the projection."""
    config = HieraConfig.from_preset("hiera_tiny_224", depths=(1, 1, 1, 1))
    names = {name for name, _ in HieraModel(config).named_parameters()}
    assert not [name for name in names if "layer_scale" in name or "window_position" in name]
    assert "encoder.stages.1.layers.0.proj.weight" in names
    timm_like = HieraConfig.from_timm("hiera_small_abswin_256", depths=(1, 1, 1, 1))
    names = {name for name, _ in HieraModel(timm_like).named_parameters()}
    assert "encoder.stages.1.layers.0.proj.weight" not in names and "embeddings.window_position_embeddings" in names


# ---- the absolute-window model in deployment: compiled, exported, int8 ------------------------------------------

ABSWIN_SMALL = {"window_positional_embedding_background_size": (4, 4), "layer_scale_init_value": 1e-5}


def abswin_classifier(tmp_path: Path) -> Path:
    from helpers import small_config

    from hiera_hf import HieraImageProcessor

    config = small_config(**ABSWIN_SMALL, use_expand_projection=False)
    torch.manual_seed(0)
    randomize_(HieraForImageClassification(config)).save_pretrained(tmp_path / "abswin")
    HieraImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(
        tmp_path / "abswin"
    )
    return tmp_path / "abswin"


def test_fast_model_of_an_absolute_window_model(tmp_path):
    from hiera_hf import fast_model

    folder = abswin_classifier(tmp_path)
    reference = HieraForImageClassification.from_pretrained(folder).eval()
    fast = fast_model(str(folder), mode="fp32")
    x = pixels((64, 64), batch_size=2)
    with torch.inference_mode():
        expected = reference(x).logits
        torch.testing.assert_close(fast(x).logits, expected, atol=1e-4, rtol=0)
    torch._dynamo.reset()
    with warnings.catch_warnings():  # (agreement of a random model's int8 is not the point here)
        warnings.simplefilter("ignore")
        int8 = fast_model(
            HieraForImageClassification.from_pretrained(folder), mode="int8", calibration=pixels((64, 64), 16)
        )
    with torch.inference_mode():
        torch.testing.assert_close(int8(x).logits, expected, atol=0.5, rtol=0)  # int8: a rough bound only


def test_onnx_and_int8_export_of_an_absolute_window_model(tmp_path):
    from hiera_hf.export import export, onnx_session

    folder = abswin_classifier(tmp_path)
    images = tmp_path / "images" / "class"
    images.mkdir(parents=True)
    for index in range(8):
        demo_image().rotate(index * 40).save(images / f"{index}.png")
    report = export(
        str(folder), tmp_path / "out", int8=True, calibration_dir=images.parent, validation_dir=images.parent
    )
    assert report["task"] == "classification" and (tmp_path / "out" / "model_int8.onnx").exists()
    reference = HieraForImageClassification.from_pretrained(folder).eval()
    x = pixels((64, 64), batch_size=3)
    with torch.no_grad():
        expected = reference(x).logits
    for name in ("model.onnx", "model_int8.onnx"):
        (logits,) = onnx_session(tmp_path / "out" / name).run(None, {"pixel_values": x.numpy()})
        tolerance = 1e-4 if name == "model.onnx" else 0.5  # int8: random weights, a rough bound only
        torch.testing.assert_close(torch.from_numpy(logits), expected, atol=tolerance, rtol=0, msg=name)


def test_an_absolute_window_model_runs_in_bf16():
    """bf16 weights: the background table is interpolated in fp32 (PyTorch's CPU kernel has no bf16), then cast."""
    from helpers import small_config

    model = HieraForImageClassification(small_config(**ABSWIN_SMALL)).eval()
    x = pixels((64, 64), batch_size=2)
    with torch.inference_mode():
        expected = model(x).logits
        logits = model.to(torch.bfloat16)(x.to(torch.bfloat16)).logits
    assert logits.dtype == torch.bfloat16
    torch.testing.assert_close(logits.float(), expected, atol=0.05, rtol=0)  # bf16 rounding of a tiny random model
