"""Meta's checkpoints as Meta publishes them load straight into our classes, with no conversion step and no official
package at load time: Hub repos in the official layout (written here by the official package's own
`save_pretrained`, as `facebook/hiera_*` were) and `.pth` files. The result equals the official model (fp32, 1e-4)
and the conversion script's output, and saves in our layout."""

from __future__ import annotations

import json
from pathlib import Path

import hiera
import pytest
import torch
from helpers import NotATensor, official_input, official_model, randomize_
from safetensors import safe_open
from transformers import AutoModelForImageClassification, AutoModelForPreTraining
from transformers.utils import logging

from hiera_hf import HieraConfig, HieraForImageClassification, HieraForPreTraining, HieraForVideoClassification
from hiera_hf.checkpoint_layouts import WEIGHTS_LICENSE, convert_state_dict
from hiera_hf.modeling_hiera import hiera_class_for
from hiera_hf.parity import paired_outputs

ROOT = Path(__file__).resolve().parents[1]
from conversion import convert_hiera_to_hf as conversion  # noqa: E402

ATOL = 1e-4
SMALL_VIDEO = {"depths": (1, 1, 2, 1)}  # the official video geometry, fewer layers
# (what the official folder holds, our class, preset, MAE?, config overrides)
CASES = {
    "image classifier": (HieraForImageClassification, "hiera_tiny_224", False, {"num_labels": 1000}),
    "video classifier": (HieraForVideoClassification, "hiera_base_16x224", False, {**SMALL_VIDEO, "num_labels": 400}),
    "image MAE": (HieraForPreTraining, "hiera_tiny_224", True, {}),
    "video MAE": (HieraForPreTraining, "hiera_base_16x224", True, SMALL_VIDEO),
}


def official_folder(tmp_path: Path, case: str) -> tuple[torch.nn.Module, Path]:
    """The official model of `case` with random weights, saved by the official package's `save_pretrained`."""
    _, name, pretraining, overrides = CASES[case]
    model = official_model(name, pretraining=pretraining, **overrides)
    folder = tmp_path / f"{name}.{case.replace(' ', '_')}"
    model.save_pretrained(folder)
    return model, folder


def assert_matches_official(ours, official, name: str) -> None:
    noise = None
    if not hasattr(official, "head"):
        noise = torch.rand(2, ours.config.num_mask_units, generator=torch.Generator().manual_seed(1))
    pixels = official_input(name, batch_size=2)
    if ours.config.is_video:  # the smaller video model of SMALL_VIDEO: same input size
        pixels = torch.randn(2, 3, *ours.config.input_size, generator=torch.Generator().manual_seed(0))
    for key, (actual, expected) in paired_outputs(ours, official, pixels, noise).items():
        torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0, msg=key)


@pytest.mark.parametrize("case", list(CASES))
def test_official_hub_layout_loads_equal_to_the_official_model(case, tmp_path):
    model_class, name, pretraining, _ = CASES[case]
    official, folder = official_folder(tmp_path, case)
    assert "model_type" not in json.loads((folder / "config.json").read_text())  # the official layout
    with safe_open(folder / "model.safetensors", "pt") as weights:
        assert "patch_embed.proj.weight" in weights.keys()
    ours = model_class.from_pretrained(folder).eval()
    assert_matches_official(ours, official, name)
    # The converted weights, key for key: what the conversion's key map makes of the official state dict.
    expected = convert_state_dict(official.state_dict(), ours.config.depths)
    assert set(expected) == set(ours.state_dict())
    for key, tensor in expected.items():
        assert torch.equal(ours.state_dict()[key], tensor), key
    if not pretraining:
        labels = 400 if ours.config.is_video else 1000
        assert ours.config.num_labels == labels and ours.config.id2label[0] in ("abseiling", "tench")

    # Saved, it is our layout (our config, our key names), and reloads to the same model.
    ours.save_pretrained(tmp_path / "saved")
    saved = json.loads((tmp_path / "saved/config.json").read_text())
    assert saved["model_type"] == "hiera_hf" and saved["architectures"] == [model_class.__name__]
    with safe_open(tmp_path / "saved/model.safetensors", "pt") as weights:
        assert set(weights.keys()) == set(ours.state_dict())
    again = model_class.from_pretrained(tmp_path / "saved").eval()
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), ours.state_dict().values()))


@pytest.mark.parametrize("pretraining", [False, True], ids=["fine-tuned", "MAE"])
def test_preset_constructor_folders_equal_the_conversion_scripts_output(pretraining, tmp_path):
    """A folder of the official preset function's `save_pretrained` (its config.json holds only the arguments the
    preset passes; the rest are the constructor's defaults) loads to the very weights the conversion writes."""
    torch.manual_seed(0)
    builder = hiera.mae_hiera_tiny_224 if pretraining else hiera.hiera_tiny_224
    official = randomize_(builder(pretrained=False)).eval()
    official.save_pretrained(tmp_path / "hub")
    arguments = json.loads((tmp_path / "hub/config.json").read_text())
    assert "input_size" not in arguments and arguments["stages"] == [1, 2, 7, 2]
    model_class = HieraForPreTraining if pretraining else HieraForImageClassification
    ours = model_class.from_pretrained(tmp_path / "hub").eval()
    assert_matches_official(ours, official, "hiera_tiny_224")
    name = f"hiera_tiny_224.{'mae_in1k' if pretraining else 'mae_in1k_ft_in1k'}"
    row = conversion.convert_checkpoint(name, tmp_path / "converted", hub_source=str(tmp_path / "hub"))
    converted = model_class.from_pretrained(row["output"])
    assert set(converted.state_dict()) == set(ours.state_dict())
    assert all(torch.equal(converted.state_dict()[k], v) for k, v in ours.state_dict().items())
    where = {"_name_or_path": "", "auto_map": None}  # where it was read from, and what save_pretrained adds
    assert converted.config.to_dict() | where == ours.config.to_dict() | where


def test_other_classes_and_the_auto_classes(tmp_path):
    official, folder = official_folder(tmp_path, "image MAE")
    mae = HieraForPreTraining.from_pretrained(folder)
    # An MAE checkpoint into a classifier: the official fine-tuning recipe's third query pooling, same encoder.
    classifier = HieraForImageClassification.from_pretrained(folder, num_labels=7)
    assert classifier.config.num_query_pool == 3 and classifier.config.num_labels == 7
    encoder = {k: v for k, v in mae.state_dict().items() if k.startswith("hiera.")}
    assert all(torch.equal(classifier.state_dict()[k], v) for k, v in encoder.items())
    for task, prefix in (("base", ""), ("backbone", "hiera.")):  # HieraModel, HieraBackbone
        own = hiera_class_for(classifier.config, task).from_pretrained(folder).state_dict()
        assert all(torch.equal(own[prefix + k.removeprefix("hiera.")], v) for k, v in encoder.items())
    # The Auto classes cannot tell the model type from an official config.json (it has none): given our config,
    # they take our class and load the same way.
    config = HieraConfig.from_pretrained(folder)
    assert config.architectures == ["HieraForPreTraining"] and config.decoder_hidden_size == 512
    auto = AutoModelForPreTraining.from_pretrained(folder, config=config)
    assert type(auto) is HieraForPreTraining
    assert all(torch.equal(auto.state_dict()[k], v) for k, v in mae.state_dict().items())
    _, classifier_folder = official_folder(tmp_path, "image classifier")
    auto = AutoModelForImageClassification.from_pretrained(
        classifier_folder, config=HieraConfig.from_pretrained(classifier_folder)
    )
    assert type(auto) is HieraForImageClassification


@pytest.mark.parametrize("case", ["image classifier", "video MAE"])
def test_official_pth_checkpoints(case, tmp_path):
    model_class, name, pretraining, overrides = CASES[case]
    official = official_model(name, pretraining=pretraining, **overrides)
    file = f"{'mae_' if pretraining else ''}{name}.pth"  # Meta's file names name the architecture
    torch.save({"model_state": official.state_dict()}, tmp_path / file)
    config = HieraConfig.from_preset(name, for_pretraining=pretraining, **overrides)
    if not pretraining:
        config.num_labels = official.head.projection.out_features
    ours = model_class.from_pretrained(tmp_path / file, config=config).eval()
    assert_matches_official(ours, official, name)
    if "depths" not in overrides:  # the full preset: the file name or architecture= says which
        by_name = model_class.from_pretrained(tmp_path / file)
        torch.save({"model_state": official.state_dict()}, tmp_path / "renamed.pth")
        by_argument = model_class.from_pretrained(tmp_path / "renamed.pth", architecture=name)
        for model in (by_name, by_argument):
            assert all(torch.equal(model.state_dict()[k], v) for k, v in ours.state_dict().items())
        assert by_name.config.id2label[0] == "tench"
        with pytest.raises(ValueError, match="not named after an official architecture: pass config="):
            model_class.from_pretrained(tmp_path / "renamed.pth")


def test_loading_official_weights_states_their_license(tmp_path, caplog):
    _, folder = official_folder(tmp_path, "image classifier")
    logging.get_logger("transformers").warning_once.cache_clear()  # (it says it once per process)
    HieraForImageClassification.from_pretrained(folder)
    assert WEIGHTS_LICENSE in caplog.text
    assert "CC-BY-NC-4.0" in WEIGHTS_LICENSE and "CC-BY-NC-4.0" in (ROOT / "NOTICE").read_text()


def test_folders_in_no_layout_say_what_is_read_and_what_was_found(tmp_path):
    layouts = "Hiera reads hiera-hf's own"
    empty = tmp_path / "weights_only"
    empty.mkdir()
    (empty / "model.bin").write_bytes(b"")
    with pytest.raises(ValueError, match=rf"has no config.json \(it holds \['model.bin'\]\)\. {layouts}"):
        HieraForImageClassification.from_pretrained(empty)
    other = tmp_path / "vit"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "vit", "hidden_size": 768}))
    with pytest.raises(
        ValueError, match=rf"in no layout Hiera reads: its config.json has model_type 'vit'\. {layouts}"
    ):
        HieraForImageClassification.from_pretrained(other)
    (other / "config.json").write_text(json.dumps({"hidden_size": 768}))
    with pytest.raises(ValueError, match=r"its config.json has keys \['hidden_size'\]"):
        HieraConfig.from_pretrained(other)

    _, folder = official_folder(tmp_path, "image classifier")
    arguments = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**arguments, "window_spec": [8, 4]}))
    with pytest.raises(ValueError, match=r"arguments the official Hiera constructors do not take: \['window_spec'\]"):
        HieraForImageClassification.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**arguments, "embed_dim": 100, "num_heads": 3}))
    with pytest.raises(ValueError, match="describe a Hiera this package cannot build: .*not divisible by num_heads"):
        HieraForImageClassification.from_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(arguments))
    from safetensors.torch import load_file, save_file

    save_file(
        {**load_file(folder / "model.safetensors"), "totally.unknown": torch.zeros(1)}, folder / "model.safetensors"
    )
    with pytest.raises(
        ValueError, match=r"Keys in neither the official nor timm.s Hiera layout: \[.totally.unknown.\]"
    ):
        HieraForImageClassification.from_pretrained(folder)

    torch.save({"model_state": {"pos_embed": NotATensor()}}, tmp_path / "hiera_tiny_224.pth")
    with pytest.raises(ValueError, match="hiera_tiny_224.pth.*(UnpicklingError|weights_only)"):
        HieraForImageClassification.from_pretrained(tmp_path / "hiera_tiny_224.pth")
    torch.save({"model_state": {"totally.unknown": torch.zeros(1)}}, tmp_path / "hiera_tiny_224.pth")
    with pytest.raises(
        ValueError, match=r"Keys in neither the official nor timm.s Hiera layout: \['totally.unknown'\]"
    ):
        HieraForImageClassification.from_pretrained(tmp_path / "hiera_tiny_224.pth")
