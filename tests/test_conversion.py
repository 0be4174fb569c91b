"""Conversion of the 20 official checkpoints: fabricated official checkpoints in, verified Transformers folders out.

Full conversion with verification against the official model runs for the ten checkpoints of the five smallest
architectures (fine-tuned and MAE each: one and two heads, 2-D and 3-D, both sources); the other ten are checked
key by key and shape by shape on the `meta` device. Full parity of every architecture through the same key map is
tests/test_parity.py's job.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from helpers import NotATensor, randomize_, write_video
from transformers import AutoModel, AutoModelForImageClassification, AutoModelForPreTraining, pipeline

ROOT = Path(__file__).resolve().parents[1]

from conversion import convert_hiera_to_hf as conversion  # noqa: E402
from conversion.convert_hiera_to_hf import CHECKPOINTS, ConversionError, convert_checkpoint  # noqa: E402
from hiera_hf import HieraBackbone, HieraForPreTraining, HieraModel  # noqa: E402
from hiera_hf.checkpoint_layouts import convert_state_dict  # noqa: E402
from hiera_hf.parity import PAPER_TOP1, official_model  # noqa: E402
from hiera_hf.samples import demo_image  # noqa: E402

FULL = [
    name
    for name in CHECKPOINTS
    if name.split(".")[0]
    in {"hiera_tiny_224", "hiera_small_224", "hiera_base_224", "hiera_base_plus_224", "hiera_base_16x224"}
]
META_ONLY = [name for name in CHECKPOINTS if name not in FULL]
assert len(CHECKPOINTS) == 20 and len(FULL) == 10


def official_for(name: str, device: str = "cpu", seed: int = 0) -> torch.nn.Module:
    """The official model of checkpoint `name` (its class count too), random weights."""
    checkpoint = CHECKPOINTS[name]
    torch.manual_seed(seed)
    if device == "meta":
        from accelerate import init_empty_weights

        with init_empty_weights():  # parameters on meta; the official init's linspace(...).item() stays on CPU
            return official_model(checkpoint.config(), checkpoint.pretraining)
    return randomize_(official_model(checkpoint.config(), checkpoint.pretraining), seed).eval()


def save_official(name: str, directory: Path, hub_format: bool = False) -> Path:
    """An official checkpoint as Meta ships it: `{"model_state": ...}` .pth, or the Hub original format."""
    model = official_for(name)
    if hub_format:
        model.save_pretrained(directory / name)  # PyTorchModelHubMixin: constructor config.json + safetensors
        return directory / name
    path = directory / f"{name}.pth"
    torch.save({"model_state": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Convert each checkpoint of FULL once per module (sources alternate: .pth, Hub original format)."""
    rows = {}

    def get(name: str) -> dict:
        if name not in rows:
            directory = tmp_path_factory.mktemp(name)
            hub_format = FULL.index(name) % 2 == 1
            source = save_official(name, directory, hub_format)
            kwargs = {"hub_source": str(source)} if hub_format else {"checkpoint_path": source}
            rows[name] = convert_checkpoint(name, directory / "out", **kwargs)
            shutil.rmtree(directory / name, ignore_errors=True)  # the source; the tests read only the output
            (directory / f"{name}.pth").unlink(missing_ok=True)
        return rows[name]

    yield get
    for row in rows.values():  # a module's full-size checkpoints add up to gigabytes
        shutil.rmtree(Path(row["output"]).parent, ignore_errors=True)


@pytest.mark.parametrize("name", FULL)
def test_convert_and_verify(name, converted):
    row = converted(name)
    assert row["max_abs_diff"] <= 1e-4 and row["processor_diff"] <= 1e-4
    folder = Path(row["output"])
    expected = {"model.safetensors", "config.json", "README.md", "configuration_hiera.py", "modeling_hiera.py"}
    assert expected <= set(os.listdir(folder))
    processor_file = "video_preprocessor_config.json" if CHECKPOINTS[name].is_video else "preprocessor_config.json"
    assert (folder / processor_file).exists()
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no staging folder left over
    if CHECKPOINTS[name].pretraining:
        model = AutoModelForPreTraining.from_pretrained(folder)
        assert type(model) is HieraForPreTraining
        assert type(AutoModel.from_pretrained(folder)) is HieraModel
        assert type(HieraBackbone.from_pretrained(folder, out_features=["stage1", "stage4"])) is HieraBackbone
    else:
        config = AutoModel.from_pretrained(folder).config
        labels = 400 if CHECKPOINTS[name].is_video else 1000
        assert config.num_labels == labels and config.id2label[0] in {"tench", "abseiling"}


@pytest.mark.parametrize("name", META_ONLY)
def test_key_and_shape_mapping_on_meta(name):
    """Every official key maps onto a parameter of the right shape and every parameter is filled."""
    checkpoint = CHECKPOINTS[name]
    official = official_for(name, device="meta")
    converted = convert_state_dict(official.state_dict(), checkpoint.config().depths)
    assert checkpoint.model_class().weight_problems(converted, checkpoint.config()) == []
    with torch.device("meta"):
        model = checkpoint.model_class()(checkpoint.config())
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in official.parameters())


def test_converted_folders_work_with_auto_and_pipelines(converted, tmp_path):
    folder = converted("hiera_tiny_224.mae_in1k_ft_in1k")["output"]
    model = AutoModelForImageClassification.from_pretrained(folder)
    results = pipeline("image-classification", model=folder)(demo_image(), top_k=3)
    assert len(results) == 3 and all(r["label"] in model.config.label2id for r in results)
    assert np.asarray(pipeline("image-feature-extraction", model=folder)(demo_image(), pool=True)).shape == (1, 768)

    row = converted("hiera_base_16x224.mae_k400_ft_k400")
    frames = np.random.default_rng(0).integers(0, 256, (40, 128, 160, 3), dtype=np.uint8)
    write_video(tmp_path / "clip.mp4", frames)
    results = pipeline("video-classification", model=row["output"])(str(tmp_path / "clip.mp4"), top_k=2)
    assert len(results) == 2 and isinstance(results[0]["label"], str)


@pytest.mark.parametrize(
    "name", ["hiera_tiny_224.mae_in1k_ft_in1k", "hiera_tiny_224.mae_in1k", "hiera_base_16x224.mae_k400_ft_k400"]
)
def test_model_card_usage_runs_as_written(name, converted, tmp_path):
    run_card_snippet(converted(name)["output"], name, tmp_path)


def run_card_snippet(folder: str, name: str, tmp_path: Path) -> None:
    """The card's usage code, run on the converted folder (for the Hub id it names) with the Hub offline."""
    readme = Path(folder, "README.md").read_text()
    snippet = readme.split("```python\n", 1)[1].split("```", 1)[0]
    repo_line = f'model_id = "{conversion.DEFAULT_HUB_ORG}/{conversion.ALL_CHECKPOINTS[name].repo_name}"'
    assert repo_line in snippet
    snippet = snippet.replace(repo_line, f"model_id = {folder!r}")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


# ---- model cards ----------------------------------------------------------------------------------------------


def test_committed_cards_are_up_to_date():
    assert len(conversion.ALL_CHECKPOINTS) == 36 and len(conversion.TIMM_CHECKPOINTS) == 16
    for checkpoint in conversion.ALL_CHECKPOINTS.values():
        committed = (ROOT / "model_cards" / f"{checkpoint.repo_name}.md").read_text()
        assert committed == str(conversion.render_card(checkpoint)) + "\n", (
            f"model_cards/{checkpoint.repo_name}.md is stale: run python conversion/convert_hiera_to_hf.py --write-cards"
        )


def test_timm_cards_state_where_the_weights_came_from_and_their_license():
    for name, checkpoint in conversion.TIMM_CHECKPOINTS.items():
        card = conversion.render_card(checkpoint)
        assert f"https://huggingface.co/{name}" in card.text and "timm" in card.data.tags
        meta = checkpoint.tag.startswith("mae")
        assert card.data.license == ("cc-by-nc-4.0" if meta else "apache-2.0"), name
        assert ("Non-commercial use only" in card.text) == meta and "Apache-2.0" in card.text
        assert ("imagenet-12k" in card.data.datasets) == (not meta)
        assert ("Window Attention is Bugged" in card.text) == ("abswin" in name)


def test_cards_state_license_and_metadata():
    for name, checkpoint in CHECKPOINTS.items():
        card = conversion.render_card(checkpoint)
        assert card.data.license == "cc-by-nc-4.0" and card.data.library_name == "transformers"
        assert "Non-commercial use only" in card.text and "Apache-2.0" in card.text
        assert "@article{ryali2023hiera" in card.text
        if not checkpoint.pretraining:
            assert card.data.base_model.endswith(name.replace("_ft_in1k", "").replace("_ft_k400", ""))
            assert f"{PAPER_TOP1[checkpoint.architecture]}%" in card.text
        expected_tag = {
            (False, False): "image-classification",
            (True, False): "video-classification",
            (False, True): "image-feature-extraction",
            (True, True): None,  # video MAE: no classifier head, and the Hub has no video feature-extraction task
        }[checkpoint.is_video, checkpoint.pretraining]
        assert card.data.pipeline_tag == expected_tag, name


# ---- bad inputs: nothing is written ---------------------------------------------------------------------------


def _assert_nothing_written(directory: Path) -> None:
    assert not directory.exists() or not any(directory.iterdir())


def test_truncated_checkpoint(tmp_path):
    source = save_official("hiera_tiny_224.mae_in1k", tmp_path)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(source.read_bytes()[:10_000])
    with pytest.raises(ConversionError, match="truncated.pth"):
        convert_checkpoint("hiera_tiny_224.mae_in1k", tmp_path / "out", checkpoint_path=truncated)
    _assert_nothing_written(tmp_path / "out")


def test_wrong_architecture_for_the_name(tmp_path):
    source = save_official("hiera_tiny_224.mae_in1k_ft_in1k", tmp_path)
    with pytest.raises(
        ConversionError, match=r"Checkpoint does not fit hiera_small_224.mae_in1k_ft_in1k: .*\n  missing: "
    ):
        convert_checkpoint("hiera_small_224.mae_in1k_ft_in1k", tmp_path / "out", checkpoint_path=source)
    source = save_official("hiera_base_224.mae_in1k_ft_in1k", tmp_path)
    with pytest.raises(ConversionError, match="other shapes"):
        convert_checkpoint("hiera_base_plus_224.mae_in1k_ft_in1k", tmp_path / "out", checkpoint_path=source)
    hub = save_official("hiera_tiny_224.mae_in1k_ft_in1k", tmp_path, hub_format=True)
    with pytest.raises(ConversionError, match="config.json is not hiera_small_224"):
        convert_checkpoint("hiera_small_224.mae_in1k_ft_in1k", tmp_path / "out", hub_source=str(hub))
    _assert_nothing_written(tmp_path / "out")


def test_extra_and_missing_keys_are_listed(tmp_path):
    state = official_for("hiera_tiny_224.mae_in1k_ft_in1k").state_dict()
    extra = {**state, "blocks.0.attn.bogus": torch.zeros(1)}
    torch.save({"model_state": extra}, tmp_path / "extra.pth")
    with pytest.raises(ConversionError, match=r"blocks\.0\.attn\.bogus"):
        convert_checkpoint("hiera_tiny_224.mae_in1k_ft_in1k", tmp_path / "out", checkpoint_path=tmp_path / "extra.pth")
    unknown = {**state, "totally.unknown": torch.zeros(1)}
    torch.save({"model_state": unknown}, tmp_path / "unknown.pth")
    with pytest.raises(ValueError, match="totally.unknown"):
        convert_checkpoint(
            "hiera_tiny_224.mae_in1k_ft_in1k", tmp_path / "out", checkpoint_path=tmp_path / "unknown.pth"
        )
    clash = {**state, "pos_embed_spatial": state["pos_embed"]}
    torch.save({"model_state": clash}, tmp_path / "clash.pth")
    with pytest.raises(ValueError, match="pos_embed and pos_embed_spatial both map to"):
        convert_checkpoint("hiera_tiny_224.mae_in1k_ft_in1k", tmp_path / "out", checkpoint_path=tmp_path / "clash.pth")
    missing = {k: v for k, v in state.items() if k != "norm.weight"}
    torch.save({"model_state": missing}, tmp_path / "missing.pth")
    with pytest.raises(ConversionError, match=r"hiera\.pooler\.layernorm\.weight"):
        convert_checkpoint(
            "hiera_tiny_224.mae_in1k_ft_in1k", tmp_path / "out", checkpoint_path=tmp_path / "missing.pth"
        )
    _assert_nothing_written(tmp_path / "out")


def test_pickle_refused_by_weights_only(tmp_path):
    torch.save({"model_state": {"pos_embed": NotATensor()}}, tmp_path / "evil.pth")
    with pytest.raises(ConversionError, match="evil.pth.*UnpicklingError|evil.pth.*weights_only"):
        convert_checkpoint("hiera_tiny_224.mae_in1k", tmp_path / "out", checkpoint_path=tmp_path / "evil.pth")
    _assert_nothing_written(tmp_path / "out")


def test_unknown_name_lists_valid_ones(tmp_path):
    with pytest.raises(ConversionError, match="hiera_base_16x224.mae_k400_ft_k400"):
        convert_checkpoint("hiera_gigantic_224.mae_in1k", tmp_path)
    result = subprocess.run(
        [sys.executable, str(ROOT / "conversion/convert_hiera_to_hf.py"), "hiera_tiny_224.nope"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "hiera_tiny_224.mae_in1k_ft_in1k" in result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hiera_tiny_224.mae_in1k", "--push-to-hub"], "--push-to-hub needs --repo-id"),
        (["hiera_tiny_224.mae_in1k", "hiera_base_224.mae_in1k", "--checkpoint-path", "x.pth"], "exactly one"),
        (["hiera_tiny_224.mae_in1k", "--checkpoint-path", "x.pth", "--hub-source", "y"], "not both"),
        (["hiera_tiny_224.mae_in1k", "--checkpoint-path", "missing.pth"], "is not a file"),
        (["hiera_tiny_224.mae_in1k", "--private"], "only apply with --push-to-hub"),
        (["hiera_tiny_224.mae_in1k", "--push-to-hub", "--dry-run", "--repo-id", "me/x"], "give one of them"),
        (["--all", "--push-to-hub", "--repo-id", "me/one-repo"], "names one repository"),
        (["hiera_tiny_224.mae_in1k", "hiera_tiny_224.nope"], "unknown checkpoint"),
    ],
)
def test_argument_combinations_are_checked_before_any_work(argv, message, tmp_path, capsys):
    with mock.patch.object(conversion, "convert_checkpoint") as convert:
        assert conversion.main([*argv, "--output-dir", str(tmp_path)]) == 2
    convert.assert_not_called()
    assert message in capsys.readouterr().err


def test_existing_output_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "hiera_tiny_224.mae_in1k").mkdir()
    with mock.patch.object(conversion, "convert_checkpoint") as convert:
        assert conversion.main(["hiera_tiny_224.mae_in1k", "--output-dir", str(tmp_path)]) == 2
    convert.assert_not_called()
    assert "--overwrite" in capsys.readouterr().err


def test_failed_verification_writes_nothing(tmp_path):
    source = save_official("hiera_tiny_224.mae_in1k_ft_in1k", tmp_path)
    with mock.patch.object(conversion, "verify", side_effect=ConversionError("differs by 1e-2")):
        with pytest.raises(ConversionError, match="differs"):
            convert_checkpoint("hiera_tiny_224.mae_in1k_ft_in1k", tmp_path / "out", checkpoint_path=source)
    _assert_nothing_written(tmp_path / "out")
    # a failure while writing removes the staging folder too
    with mock.patch.object(conversion.HieraImageProcessor, "save_pretrained", side_effect=OSError("disk full")):
        with pytest.raises(OSError, match="disk full"):
            convert_checkpoint("hiera_tiny_224.mae_in1k_ft_in1k", tmp_path / "out", checkpoint_path=source)
    assert not any((tmp_path / "out").iterdir())


def test_failed_overwrite_keeps_the_previous_folder(tmp_path):
    """A second conversion with --overwrite that fails at any point leaves the first output as it was."""
    source = save_official("hiera_tiny_224.mae_in1k_ft_in1k", tmp_path)
    name = "hiera_tiny_224.mae_in1k_ft_in1k"
    first = Path(convert_checkpoint(name, tmp_path / "out", checkpoint_path=source)["output"])
    before = {path.name: path.read_bytes() for path in first.iterdir()}

    def unchanged() -> bool:
        return {path.name: path.read_bytes() for path in first.iterdir()} == before and [
            p.name for p in (tmp_path / "out").iterdir()
        ] == [name]

    with mock.patch.object(conversion.HieraImageProcessor, "save_pretrained", side_effect=OSError("disk full")):
        with pytest.raises(OSError, match="disk full"):
            convert_checkpoint(name, tmp_path / "out", checkpoint_path=source, overwrite=True)
    assert unchanged()
    import hiera_hf.atomic as atomic

    with mock.patch.object(atomic, "replace_folder", side_effect=OSError("killed")):
        with pytest.raises(OSError, match="killed"):
            convert_checkpoint(name, tmp_path / "out", checkpoint_path=source, overwrite=True)
    assert unchanged()
    # and a successful overwrite replaces it
    row = convert_checkpoint(name, tmp_path / "out", checkpoint_path=source, overwrite=True)
    assert Path(row["output"]) == first and (first / "model.safetensors").exists()
    assert [p.name for p in (tmp_path / "out").iterdir()] == [name]


@pytest.mark.parametrize("one_step_exchange", [True, False])
def test_replace_folder_never_loses_the_old_folder(tmp_path, one_step_exchange):
    import hiera_hf.atomic as atomic

    def folder(name: str, content: str) -> Path:
        (tmp_path / name).mkdir()
        (tmp_path / name / "file.txt").write_text(content)
        return tmp_path / name

    destination, staging = folder("model", "old"), folder("staging", "new")
    real_replace, calls = os.replace, []

    def replace_failing_on_the_move_in(source, target):
        calls.append(source)
        if Path(source) == staging:  # the kill between moving the old folder aside and moving the new one in
            raise OSError("killed")
        return real_replace(source, target)

    no_exchange = mock.patch.object(atomic, "_exchange", return_value=False)
    with (
        contextlib.nullcontext() if one_step_exchange else no_exchange,
        mock.patch.object(atomic.os, "replace", replace_failing_on_the_move_in),
    ):
        if one_step_exchange:  # the swap is one system call: there is no moment without the old folder
            atomic.replace_folder(staging, destination)
            assert (destination / "file.txt").read_text() == "new" and not calls
        else:
            with pytest.raises(OSError, match="killed"):
                atomic.replace_folder(staging, destination)
            assert (destination / "file.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model"] + ([] if one_step_exchange else ["staging"]))


# ---- Hub upload -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def converted_tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("converted")
    source = save_official("hiera_tiny_224.mae_in1k", directory)
    yield convert_checkpoint("hiera_tiny_224.mae_in1k", directory / "out", checkpoint_path=source)["output"]
    shutil.rmtree(directory, ignore_errors=True)


def test_push_to_hub_calls(converted_tiny):
    with mock.patch("huggingface_hub.HfApi") as api_class:
        files = conversion.push_to_hub(converted_tiny, "me/hiera-tiny", private=True, create_pr=True, revision="v1")
    api = api_class.return_value
    api.create_repo.assert_called_once_with("me/hiera-tiny", private=True, exist_ok=True)
    api.create_branch.assert_not_called()  # a PR targets `revision` directly
    kwargs = api.upload_folder.call_args.kwargs
    assert kwargs["repo_id"] == "me/hiera-tiny" and kwargs["folder_path"] == converted_tiny
    assert kwargs["create_pr"] is True and kwargs["revision"] == "v1"
    assert {"model.safetensors", "config.json", "README.md", "preprocessor_config.json"} <= set(files)
    with mock.patch("huggingface_hub.HfApi") as api_class:
        conversion.push_to_hub(converted_tiny, "me/hiera-tiny", revision="dev")
    api_class.return_value.create_branch.assert_called_once_with("me/hiera-tiny", branch="dev", exist_ok=True)


def test_push_offline_fails_clearly_and_keeps_folder(converted_tiny):
    before = sorted(os.listdir(converted_tiny))
    script = (
        f"from conversion.convert_hiera_to_hf import push_to_hub\npush_to_hub({converted_tiny!r}, 'me/hiera-tiny')"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode != 0 and "The local folder is intact" in result.stderr
    assert sorted(os.listdir(converted_tiny)) == before


def test_cli_dry_run_and_summary(tmp_path, capsys):
    source = save_official("hiera_tiny_224.mae_in1k", tmp_path)
    code = conversion.main(
        [
            "hiera_tiny_224.mae_in1k",
            "--checkpoint-path",
            str(source),
            "--output-dir",
            str(tmp_path / "out"),
            "--dry-run",
            "--repo-id",
            "me/tiny-mae",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "would upload to me/tiny-mae:" in out and "model.safetensors" in out
    assert "| hiera_tiny_224.mae_in1k |" in out  # summary table
    assert (tmp_path / "out" / "hiera_tiny_224.mae_in1k" / "model.safetensors").exists()


# ---- timm's checkpoints ---------------------------------------------------------------------------------------


def timm_repo(directory: Path, name: str) -> Path:
    """timm's Hub repo of checkpoint `name` (random weights, timm's own `save_for_hf`), at `directory/name`."""
    import timm
    from timm.models import save_for_hf

    checkpoint = conversion.TIMM_CHECKPOINTS[name]
    torch.manual_seed(0)
    model = timm.create_model(checkpoint.architecture, num_classes=checkpoint.num_classes, weight_init="skip")
    save_for_hf(randomize_(model).eval(), directory / name, safe_serialization=True)
    return directory / name


@pytest.mark.parametrize("name", ["timm/hiera_small_abswin_256.sbb2_e200_in12k_ft_in1k", "timm/hiera_tiny_224.mae"])
def test_timm_checkpoints_convert_and_verify(name, tmp_path):
    source = timm_repo(tmp_path / "hub", name)
    row = convert_checkpoint(name, tmp_path / "out", hub_source=str(source))
    assert row["max_abs_diff"] <= 1e-4 and row["processor_diff"] <= 1e-4
    folder = Path(row["output"])
    assert folder == tmp_path / "out" / name and (folder / "preprocessor_config.json").exists()
    card = (folder / "README.md").read_text()
    assert f"https://huggingface.co/{name}" in card
    if conversion.TIMM_CHECKPOINTS[name].num_classes:
        model = AutoModelForImageClassification.from_pretrained(folder)
        assert model.config.window_positional_embedding_background_size == [16, 16]
        results = pipeline("image-classification", model=str(folder))(demo_image(), top_k=2)
        assert len(results) == 2 and results[0]["label"] in model.config.label2id
    else:
        assert type(AutoModel.from_pretrained(folder)) is HieraModel
        run_card_snippet(str(folder), name, tmp_path)  # the features snippet of timm's encoders
    processor = json.loads((folder / "preprocessor_config.json").read_text())
    assert processor["crop_size"]["height"] == (256 if "256" in name else 224)


def test_timm_sources_that_are_not_the_checkpoint_are_refused(tmp_path):
    source = timm_repo(tmp_path / "hub", "timm/hiera_tiny_224.mae")
    with pytest.raises(ConversionError, match="not timm/hiera_small_224.mae: architecture 'hiera_tiny_224'"):
        convert_checkpoint("timm/hiera_small_224.mae", tmp_path / "out", hub_source=str(source))
    with pytest.raises(ConversionError, match="timm checkpoints come as Hub repos"):
        convert_checkpoint("timm/hiera_tiny_224.mae", tmp_path / "out", checkpoint_path=source / "model.safetensors")
    _assert_nothing_written(tmp_path / "out")
