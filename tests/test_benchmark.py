"""The benchmark keeps working: one round on a tiny config, every peer and section reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_smoke(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks/benchmark.py"), "--quick", "--no-compile"]
    result = subprocess.run(command + ["--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "cpu_fp32_base_quick.json").read_text())
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
    markdown = (tmp_path / "cpu_fp32_base_quick.md").read_text()
    assert "| hiera_hf (SDPA) |" in markdown and "ours / fastest peer" in markdown
    assert (tmp_path / "cpu_fp32_base_quick.png").stat().st_size > 1000


def test_benchmark_deploy_smoke(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks/benchmark.py"), "--quick", "--sections", "deploy"]
    result = subprocess.run(command + ["--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / "cpu_fp32_base_quick.json").read_text())["rows"]
    assert {row["section"] for row in rows} == {
        "hiera_base_224 deploy throughput (CPU)",
        "hiera_base_224 deploy latency (CPU)",
        "hiera_base_16x224 deploy latency (CPU)",
    }
    peers = {row["peer"] for row in rows}
    assert {"ONNX Runtime fp32", "ONNX Runtime int8 (dynamic)", "hiera_hf PyTorch (SDPA)", "timm"} <= peers
    assert all(row["rate"] > 0 for row in rows)


def test_benchmark_dense_smoke(tmp_path):
    command = [
        sys.executable,
        str(ROOT / "benchmarks/benchmark.py"),
        "--quick",
        "--sections",
        "dense",
        "--video",
        "no",
    ]
    result = subprocess.run(command + ["--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / "cpu_fp32_base_quick.json").read_text())["rows"]
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
    command = [sys.executable, str(ROOT / "benchmarks/benchmark.py"), "--quick", "--sections", "video-input"]
    result = subprocess.run(command + ["--output-dir", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / "cpu_fp32_base_quick.json").read_text())["rows"]
    assert {row["section"] for row in rows} == {f"video input: {s} s of 160x96 H.264 at 30 fps" for s in (3, 6)}
    assert len(rows) == 2 * 4 and all(row["median_s"] > 0 and row["peak_MB"] > 0 for row in rows)
    assert "time / load_video's" in (tmp_path / "cpu_fp32_base_quick.md").read_text()
