"""The benchmark keeps working: one round on a tiny config, every peer and section reported."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from hiera_hf.inference import cpu_has_native_bf16

ROOT = Path(__file__).resolve().parents[1]


def run_benchmark(tmp_path, *arguments: str, name: str = "cpu_fp32_base_quick") -> tuple[dict, str]:
    """`benchmark.py --quick ARGUMENTS` into tmp_path: (its JSON report, its markdown)."""
    command = [sys.executable, str(ROOT / "benchmarks/benchmark.py"), "--quick", *arguments]
    result = subprocess.run(command + ["--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((tmp_path / f"{name}.json").read_text()), (tmp_path / f"{name}.md").read_text()


def test_benchmark_smoke(tmp_path):
    report, markdown = run_benchmark(tmp_path, "--no-compile")
    sections = {row["section"] for row in report["rows"]}
    assert sections == {
        "hiera_base_224 inference throughput",
        "hiera_base_224 inference latency",
        "hiera_base_224 MAE pre-training step",
        "hiera_base_16x224 inference throughput",
        "hiera_base_16x224 inference latency",
        "hiera_base_16x224 MAE pre-training step",
        "hiera_base_224 training step",
    }
    peers = {row["peer"] for row in report["rows"]}
    assert {
        "hiera_hf (SDPA)",
        "hiera_hf (eager attention)",
        "official hiera",
        "timm",
        "transformers built-in",
    } <= peers
    assert all(row["rate"] > 0 for row in report["rows"])
    training = [row for row in report["rows"] if row["section"] == "hiera_base_224 training step"]
    assert len(training) == 5 and all(row["memory_MB"] > 0 and row["saved_activations_MB"] > 0 for row in training)
    assert {"torch", "transformers", "device", "threads", "dtype"} <= set(report["environment"])
    assert "| hiera_hf (SDPA) |" in markdown and "ours / fastest peer" in markdown
    assert (tmp_path / "cpu_fp32_base_quick.png").stat().st_size > 1000


def test_benchmark_deploy_smoke(tmp_path):
    rows = run_benchmark(tmp_path, "--sections", "deploy")[0]["rows"]
    assert {row["section"] for row in rows} == {
        "hiera_base_224 deploy throughput (CPU)",
        "hiera_base_224 deploy latency (CPU)",
        "hiera_base_16x224 deploy latency (CPU)",
    }
    peers = {row["peer"] for row in rows}
    assert {"ONNX Runtime fp32", "ONNX Runtime int8 (dynamic)", "hiera_hf PyTorch (SDPA)", "timm"} <= peers
    assert all(row["rate"] > 0 for row in rows)


def test_benchmark_dense_smoke(tmp_path):
    rows = run_benchmark(tmp_path, "--sections", "dense", "--video", "no")[0]["rows"]
    assert {row["section"] for row in rows} == {
        "hiera_base backbone 64x64",
        "hiera_base backbone 96x96",
        "hiera_base backbone training step 96x96 (memory)",
    }
    peers = {row["peer"] for row in rows}
    assert {"hiera_hf HieraBackbone", "official return_intermediates", "timm features_only"} <= peers
    memory = [row for row in rows if row["section"].endswith("(memory)")]
    assert len(memory) == 2 and all(row["memory_MB"] > 0 for row in memory)
    plain, checkpointed = sorted(memory, key=lambda row: row["peer"])
    assert checkpointed["saved_activations_MB"] < plain["saved_activations_MB"]  # checkpointing keeps less


def test_benchmark_video_input_smoke(tmp_path):
    report, markdown = run_benchmark(tmp_path, "--sections", "video-input", "--video-input-seconds", "3")
    rows = report["rows"]
    assert {row["section"] for row in rows} == {"video input: 3 s of 160x96 H.264 at 30 fps"}
    assert len(rows) == 5 and all(row["median_s"] > 0 and row["peak_MB"] > 0 for row in rows)
    assert next(r for r in rows if r["peer"].startswith("transformers load_video"))["time_vs_load_video"] == 1
    assert "time / load_video's" in markdown


def test_benchmark_cpu_best_smoke(tmp_path):
    """Every peer at each CPU mode, the int8 routes whose packages are here, and our best mode's GEMM share."""
    rows = run_benchmark(tmp_path, "--sections", "cpu-best", "--no-compile", "--video", "no")[0]["rows"]
    sections = {row["section"] for row in rows}
    assert sections == {"hiera_base_224 CPU modes, throughput", "hiera_base_224 CPU modes, latency"}
    peers = {row["peer"] for row in rows}
    native_bf16 = cpu_has_native_bf16()  # without it, only ours runs in bf16 (the evidence that it loses)
    for name in ("hiera_hf", "official hiera", "timm", "transformers built-in", "ViT-B/16 (transformers, SDPA)"):
        bf16_modes = {f"{name} bf16 autocast", f"{name} bf16 weights"}
        if native_bf16:
            assert {f"{name} fp32", *bf16_modes} <= peers, name
        else:
            assert f"{name} fp32" in peers and peers & bf16_modes == (
                {f"{name} bf16 weights"} if name == "hiera_hf" else set()
            ), name
    # onnxruntime, openvino and nncf are test dependencies
    assert {"hiera_hf ONNX Runtime int8 (dynamic)", "hiera_hf OpenVINO int8 (NNCF): fast_model(mode='int8')"} <= peers
    assert all(row["rate"] > 0 for row in rows)
    firsts = [row for row in rows if "gemm_fraction_of_our_best" in row]
    assert len(firsts) == 2 and all(0 < row["gemm_fraction_of_our_best"] < 1 for row in firsts)
    assert all(row["our_best"].startswith("hiera_hf") for row in firsts)
    for section in sections:  # ViT-B/16 is context: "ours / fastest peer" counts the Hiera peers alone
        section_rows = [row for row in rows if row["section"] == section]
        rivals = ("official", "timm", "transformers built-in")
        fastest = min(row["median_s"] for row in section_rows if row["peer"].startswith(rivals))
        for row in section_rows:
            assert abs(row["speedup_vs_fastest_peer"] - fastest / row["median_s"]) < 1e-9, row


def test_benchmark_abswin_smoke(tmp_path):
    """timm's absolute-window Hiera-S against the same model with a plain position table, fp32 and bf16, each at
    --batch-size and 1, with abswin / plain time and the target (reported, not enforced)."""
    report, markdown = run_benchmark(tmp_path, "--sections", "abswin")
    rows = report["rows"]
    timings = [row for row in rows if "table" not in row]
    sections = {f"hiera_small_abswin_256 {dtype} inference {metric}" for dtype in ("fp32", "bf16")
                for metric in ("throughput", "latency")}  # fmt: skip
    assert {row["section"] for row in timings} == sections
    abswin, plain = "hiera_hf abswin (absolute-window position embedding)", "hiera_hf plain position table"
    for section in sections:
        assert {row["peer"] for row in timings if row["section"] == section} == {abswin, plain}, section
    assert all(row["rate"] > 0 for row in timings)
    for row in timings:
        expected = row["median_s"] / next(
            r["median_s"] for r in timings if r["section"] == row["section"] and r["peer"] == plain
        )
        assert abs(row["time_vs_plain"] - expected) < 1e-9, row
    assert {row["target"] for row in timings if row["peer"] == abswin} == {"<= 1.02x"}
    ratios = next(row for row in rows if "table" in row)
    assert "abswin within 2% of plain" in ratios["section"] and len(ratios["table"]["rows"]) == 4
    assert "abswin / plain time" in markdown and "bf16 weights" in markdown


def test_benchmark_gpu_section_dry_run(tmp_path):
    """The GPU section's code on the CPU (benchmarks/gpu_check.sh runs it with --device cuda): every case, the
    targets, both kernel profiles and the matmul peak are reported, so the one device run cannot fail on them."""
    arguments = ("--sections", "gpu", "--dtype", "bf16", "--no-compile", "--gpu-archs", "tiny,base", "--name", "gpu")
    report, markdown = run_benchmark(tmp_path, *arguments, name="gpu")
    rows = report["rows"]
    sections = {row["section"] for row in rows}
    assert {
        "Hiera-base images",
        "Hiera-base targets (best of eager and compiled each)",
        "matmul peak",
        "Hiera-base training step (bf16 autocast, AdamW)",
        "Hiera-base 16x224 video",
        "Hiera-tiny images",
    } <= sections
    assert "peers that did not run" not in sections, [r for r in rows if r["section"] == "peers that did not run"]
    profiles = [row for row in rows if row["section"].startswith("kernel profile")]
    assert len(profiles) == 2 and all(row["table"]["rows"] for row in profiles)
    targets = next(row for row in rows if "targets" in row["section"])["table"]["rows"]
    assert [row[0].split(" best (")[0] for row in targets] == [
        f"hiera_hf best vs {peer}" for peer in ("ViT-B/16", "timm Hiera", "built-in", "official")
    ]
    images = [row for row in rows if row["section"] == "Hiera-base images"]
    assert {row["peer"] for row in images} == {
        f"{name} eager"
        for name in (
            "hiera_hf Hiera-base", "official Hiera-base", "timm Hiera-base", "transformers built-in Hiera-base",
            "ViT-B/16 (transformers, SDPA)", "ViT-B/16 (timm)",
        )
    }  # fmt: skip
    assert "## matmul peak" in markdown and "fraction of the measured peak" in markdown


def test_benchmark_scale_smoke(tmp_path):
    """`--sections scale --quick`: every case runs its fresh processes and reports a measurement and the verdict
    of its target on it (quick's corpora are smaller than the targets', so which verdict is not asserted)."""
    from benchmarks.sections.scale import TARGETS

    report, markdown = run_benchmark(tmp_path, "--sections", "scale")
    (table,) = [row["table"] for row in report["rows"] if row["section"].startswith("training at scale")]
    assert len(table["rows"]) == 5 and "training at scale" in markdown
    # (the 64x64 PNG throughput is reported beside the 256x256 JPEG target, with no verdict)
    for kind, (_, measured, result, _, status) in zip(
        ("folder", "shards", "throughput", None, "video"), table["rows"]
    ):
        value = float(result.strip("+x MB"))
        assert math.isfinite(value) and (value > 0 or kind == "video") and measured, (kind, measured, result)
        assert status == (TARGETS[kind].status(value) if kind else ""), (kind, result, status)
