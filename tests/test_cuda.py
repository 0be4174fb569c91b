"""GPU checks, run by `benchmarks/gpu_check.sh` on a machine with CUDA (CI has none: every test here skips there,
saying so). `HIERA_HF_TEST_DEVICE=cpu` runs the same code on the CPU, to check the script before device time is
spent (the kernel checks then only check that the code runs).

Tolerances against fp32 follow from the dtype: bf16 keeps 8 bits of mantissa (a relative rounding of 2**-8 = 0.4%
per operation), fp16 11 bits (0.05%); through 24 residual blocks the logits of a random Hiera-B move by up to a few
percent of their range in bf16 and a few tenths of a percent in fp16.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import SMALL_IMAGE, pixels_for, randomize_

from hiera_hf import (
    HieraBackbone,
    HieraConfig,
    HieraForImageClassification,
    HieraForPreTraining,
    HieraForVideoClassification,
)

ROOT = Path(__file__).resolve().parents[1]
DEVICE = os.environ.get("HIERA_HF_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(
    DEVICE == "cuda" and not torch.cuda.is_available(),
    reason="needs CUDA: benchmarks/gpu_check.sh runs these on a GPU machine (CI has none)",
)
ON_GPU = DEVICE == "cuda"


def flash_or_efficient_only():
    """SDPA limited to the flash and memory-efficient kernels: a call that would need the math kernel fails."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    if not ON_GPU:
        return sdpa_kernel([SDPBackend.MATH, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION])
    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION])


def base_classifier(video: bool = False, **overrides):
    name = "hiera_base_16x224" if video else "hiera_base_224"
    torch.manual_seed(0)
    config = HieraConfig.from_preset(name, num_labels=400 if video else 1000, **overrides)
    model_class = HieraForVideoClassification if video else HieraForImageClassification
    return randomize_(model_class(config)).eval().to(DEVICE)


def pixels(config: HieraConfig, batch_size: int = 4) -> torch.Tensor:
    return pixels_for(config, batch_size).to(DEVICE)


@pytest.mark.parametrize(("dtype", "relative"), [(torch.bfloat16, 0.05), (torch.float16, 0.01)])
def test_half_precision_against_fp32(dtype, relative):
    model = base_classifier()
    inputs = pixels(model.config)
    with torch.no_grad():
        expected = model(inputs, output_hidden_states=True)
        with flash_or_efficient_only():
            actual = model.to(dtype)(inputs.to(dtype), output_hidden_states=True)
    scale = expected.logits.abs().max()
    assert (actual.logits.float() - expected.logits).abs().max() <= relative * scale
    assert (actual.logits.argmax(-1) == expected.logits.argmax(-1)).float().mean() >= 0.75
    for ours, reference in zip(actual.reshaped_hidden_states, expected.reshaped_hidden_states):
        similarity = torch.nn.functional.cosine_similarity(ours.float().flatten(1), reference.flatten(1))
        assert similarity.min() > 1 - relative, similarity


@pytest.mark.parametrize("video", [False, True], ids=["image", "video"])
def test_every_block_runs_on_the_flash_or_efficient_kernel(video):
    """Every attention of every block, mask-unit and global, pooled and not: with only the fused kernels allowed,
    a block that needed the math kernel would fail."""
    model = base_classifier(video).to(torch.bfloat16)
    with torch.no_grad(), flash_or_efficient_only():
        logits = model(pixels(model.config, 2).to(torch.bfloat16)).logits
    assert torch.isfinite(logits).all()


def test_compile_fullgraph_matches_eager():
    model = base_classifier().to(torch.bfloat16)
    inputs = pixels(model.config, 8).to(torch.bfloat16)
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        expected, actual = model(inputs).logits, compiled(inputs).logits
    torch.testing.assert_close(actual.float(), expected.float(), atol=0.05 * expected.abs().max().item(), rtol=0)


def test_training_step_with_amp_and_gradient_checkpointing():
    model = base_classifier(drop_path_rate=0.0).train()
    inputs, labels = pixels(model.config, 8), torch.arange(8, device=DEVICE)

    def gradients():
        model.zero_grad()
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            loss = model(inputs, labels=labels).loss
        loss.backward()
        return loss.item(), {n: p.grad.float().clone() for n, p in model.named_parameters()}

    loss, plain = gradients()
    getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()  # 5.23 name; older 5.x
    checkpointed_loss, checkpointed = gradients()
    assert torch.isfinite(torch.tensor(loss)) and abs(checkpointed_loss - loss) < 1e-2 * abs(loss)
    for name, gradient in plain.items():
        assert torch.isfinite(checkpointed[name]).all(), name
        scale = gradient.abs().max().item() + 1e-8
        assert (checkpointed[name] - gradient).abs().max().item() <= 0.05 * scale, name


@pytest.mark.parametrize("video", [False, True], ids=["image", "video"])
def test_mae_trains_in_bf16(video):
    name = "hiera_base_16x224" if video else "hiera_base_224"
    torch.manual_seed(0)
    model = HieraForPreTraining(HieraConfig.from_preset(name, for_pretraining=True)).to(DEVICE).train()
    with flash_or_efficient_only(), torch.autocast(DEVICE, dtype=torch.bfloat16):
        loss = model(pixels(model.config, 2)).loss
    loss.backward()
    assert torch.isfinite(loss) and model.decoder.mask_token.grad is not None


def test_video_classifier_and_the_backbone_at_1024():
    video = base_classifier(video=True).to(torch.bfloat16)
    with torch.no_grad(), flash_or_efficient_only():
        assert video(pixels(video.config, 2).to(torch.bfloat16)).logits.shape == (2, 400)
    stages = ["stage1", "stage2", "stage3", "stage4"]
    backbone = HieraBackbone(HieraConfig.from_preset("hiera_base_224", out_features=stages))
    backbone = backbone.to(DEVICE, torch.bfloat16).eval()
    with torch.no_grad(), flash_or_efficient_only():
        maps = backbone(torch.randn(1, 3, 1024, 1024, device=DEVICE, dtype=torch.bfloat16)).feature_maps
    assert [tuple(m.shape[2:]) for m in maps] == [(256, 256), (128, 128), (64, 64), (32, 32)]
    assert all(torch.isfinite(m).all() for m in maps)


@pytest.mark.skipif(not ON_GPU, reason="FSDP needs an accelerator: runs on the GPU only")
def test_image_example_under_fsdp_saves_and_resumes_a_sharded_checkpoint(tmp_path):
    """The image example under `accelerate launch` with the shipped FSDP config, on the one GPU: its parameters are
    sharded (FSDP2 DTensors), a sharded checkpoint is saved at step 3, and a run resumed from it ends at step 6."""
    from hiera_examples import load_script

    load_script(ROOT / "examples" / "make_demo_data.py").write_digits(tmp_path / "data")
    digits = tmp_path / "data" / "digits"
    arguments = [
        str(ROOT / "examples" / "image-classification" / "run_image_classification.py"),
        "--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE,
        "--train_dir", str(digits / "train"), "--validation_dir", str(digits / "validation"),
        "--do_train", "--max_steps", "6", "--per_device_train_batch_size", "16", "--save_strategy", "steps",
        "--save_steps", "3", "--report_to", "none", "--dataloader_num_workers", "0", "--seed", "0",
    ]  # fmt: skip
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    launch += [str(ROOT / "examples/accelerate_configs/fsdp.yaml"), "--num_processes", "1"]
    launch += [str(ROOT / "tests/ddp_probe.py")]
    environment = {**os.environ, "PROBE_DIR": str(tmp_path / "records"), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "run"
    result = subprocess.run(
        [*launch, *arguments, "--output_dir", str(out)], capture_output=True, text=True, env=environment, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    record = json.loads((tmp_path / "records" / "rank0.json").read_text())
    assert record["sharded_parameters"] > 0, record  # FSDP2 made its parameters DTensors
    checkpoint = out / "checkpoint-3"
    sharded = [p for p in checkpoint.rglob("*") if p.suffix == ".distcp" or "fsdp" in p.name]
    assert sharded, sorted(p.name for p in checkpoint.iterdir())
    resumed = subprocess.run(
        [*launch, *arguments, "--output_dir", str(out), "--resume_from_checkpoint", str(checkpoint)],
        capture_output=True, text=True, env=environment, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-4000:]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 6
