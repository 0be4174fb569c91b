# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""What every section shares: the peers and their builders (the same random weights in each library), the timing
(interleaved rounds, medians), the rows a section returns, the launcher of the subprocess workers
(`benchmarks/workers.py`), the targets, and the report (markdown, plot, JSON, the environment).

A section is a function `(args, ...) -> list[dict]`: one row per peer and batch size (`summarise`), or a row that
the report prints as a table of its own (`table_row`).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

import hiera_hf
from hiera_hf import HieraConfig
from hiera_hf.parity import official_model

REPO_ROOT = Path(__file__).resolve().parents[1]
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Peer:
    name: str
    model: torch.nn.Module
    ours: bool = False
    run: Callable | None = None  # (model, pixels) -> output; default model(pixels)
    times: list[float] = field(default_factory=list)
    context: bool = False  # shown for context (ViT-B/16), not a peer to beat


@dataclass(frozen=True)
class Target:
    """A figure a section reports against: a measured ratio compared with `threshold` (None: shown, no target)."""

    name: str  # as the report names it
    compared: str  # what the ratio is of
    threshold: float | None
    at_least: bool = True  # the ratio must reach the threshold (else stay at or under it)
    unit: str = "x"  # how the threshold reads ("x" for a ratio, " MB", " s" for amounts)

    def goal(self) -> str:
        if self.threshold is None:
            return ""
        return f"{'>=' if self.at_least else '<='} {self.threshold}{self.unit}"

    def status(self, ratio: float) -> str:
        if self.threshold is None:
            return ""
        met = ratio >= self.threshold if self.at_least else ratio <= self.threshold
        return "met" if met else "**missed**"


# ---- models with the same weights ---------------------------------------------------------------------------


def preset_name(arch: str, video: bool) -> str:
    return f"hiera_{arch}_16x224" if video else f"hiera_{arch}_224"


def make_config(arch: str, video: bool, pretraining: bool, quick: bool, **fields) -> HieraConfig:
    name = preset_name(arch, video)
    overrides = {"depths": (1, 1, 1, 1), "image_size": (64, 64)} if quick else {}
    if quick and video:
        overrides["num_frames"] = 8  # 16 mask units: MAE at ratio 0.9 keeps one
    overrides.update(fields)
    return HieraConfig.from_preset(name, for_pretraining=pretraining, num_labels=400 if video else 1000, **overrides)


def official_from_config(config: HieraConfig, pretraining: bool = False):
    """The official model with the same hyper-parameters, official random init (seeded)."""
    torch.manual_seed(0)
    return official_model(config, pretraining)


def timm_from_official(arch: str, config: HieraConfig, official):
    import timm
    from timm.models.hiera import checkpoint_filter_fn

    model = timm.create_model(
        f"hiera_{arch}_224", pretrained=False, stages=tuple(config.depths), img_size=tuple(config.image_size)
    )
    model.load_state_dict(checkpoint_filter_fn({"model_state": official.state_dict()}, model), strict=True)
    return model


def builtin_from_ours(ours):
    """Transformers' built-in image Hiera: its key names are ours, so our state dict loads as is."""
    import transformers

    c = ours.config
    config = transformers.HieraConfig(
        embed_dim=c.embed_dim,
        image_size=list(c.image_size),
        depths=list(c.depths),
        num_heads=list(c.num_heads),
        num_labels=c.num_labels,
        layer_norm_eps=c.layer_norm_eps,
    )
    model = transformers.HieraForImageClassification(config)
    model.load_state_dict(ours.state_dict(), strict=True)
    return model


def vit_base(quick: bool):
    """ViT-B/16 (Transformers, SDPA), random weights: the context for Hiera-B's speed."""
    import transformers

    config = transformers.ViTConfig(num_labels=1000, attn_implementation="sdpa")
    if quick:
        config = transformers.ViTConfig(num_labels=1000, num_hidden_layers=1, image_size=64, hidden_size=96,
                                        num_attention_heads=2, intermediate_size=192)  # fmt: skip
    torch.manual_seed(0)
    return transformers.ViTForImageClassification(config).eval()


# ---- measurement --------------------------------------------------------------------------------------------


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_call(fn: Callable, device: torch.device, iterations: int) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / iterations


def interleaved(peers: list[Peer], make_call, device, rounds: int, iterations: int, warmup: int = 2) -> None:
    """Warm every peer up, then time A B C A B C ... for `rounds` rounds; medians land in `peer.times`."""
    calls = [make_call(peer) for peer in peers]
    for call in calls:
        for _ in range(warmup):
            call()
    for _ in range(rounds):
        for peer, call in zip(peers, calls):
            peer.times.append(time_call(call, device, iterations))


def saved_activation_bytes(step: Callable) -> int:
    """Bytes of the distinct tensors autograd keeps for backward during `step()` (forward only)."""
    seen: dict[tuple, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        seen[(storage.data_ptr(), tensor.device)] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    return sum(seen.values())


def calling(peer: Peer, inputs) -> Callable[[], object]:
    """`peer`'s call on `inputs`: `peer.run(model, inputs)`, or `model(inputs)`."""
    return (lambda: peer.run(peer.model, inputs)) if peer.run else (lambda: peer.model(inputs))


def timed_batches(args, peers, config, batch_sizes, section: str, device=None, dtype=None, after=None) -> list[dict]:
    """Time `peers` interleaved at each batch size (inference mode) on random pixels, given to ours as `(B, T, C, H,
    W)` and to the others in the official `(B, C, T, H, W)` for video; rows per batch size, in a section named
    `section.format(metric="throughput" or "latency")`. `after(rows, make_call)` runs after each batch size."""
    rows, video = [], config.is_video
    for batch_size in batch_sizes:
        pixels = torch.randn(batch_size, 3, *config.input_size, device=device, dtype=dtype)  # official layout
        ours_pixels = pixels.transpose(1, 2) if video else pixels

        def make_call(peer, pixels=pixels, ours_pixels=ours_pixels):
            return calling(peer, ours_pixels if peer.ours else pixels)

        for peer in peers:
            peer.times = []
        with torch.inference_mode():
            interleaved(peers, make_call, device or torch.device("cpu"), args.rounds, args.iterations)
        metric = "throughput" if batch_size > 1 else "latency"
        batch_rows = summarise(peers, section.format(metric=metric), batch_size, "clips/s" if video else "images/s")
        if after is not None:
            after(batch_rows, make_call)
        rows += batch_rows
    return rows


def summarise(peers: list[Peer], section: str, batch_size: int, unit: str) -> list[dict]:
    medians = {peer.name: statistics.median(peer.times) for peer in peers}
    rivals = {peer.name for peer in peers if not peer.ours and not peer.context}
    best_peer = min((t for p, t in medians.items() if p in rivals), default=None)
    rows = []
    for peer in peers:
        median = medians[peer.name]
        rows.append(
            {
                "section": section,
                "peer": peer.name,
                "batch": batch_size,
                "median_s": median,
                "rate": batch_size / median,
                "unit": unit,
                "speedup_vs_fastest_peer": (best_peer / median) if best_peer else None,
                "rounds": len(peer.times),
            }
        )
    return rows


def table_row(section: str, header: list[str], body: list[list]) -> dict:
    """A row the report prints as its own table (profiles, targets) and the plot leaves out."""
    return {"section": section, "table": {"header": header, "rows": body}}


def proc_status_bytes(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"{field_name} not in /proc/self/status")


# ---- the subprocess workers (benchmarks/workers.py), parent side ------------------------------------------------


def run_worker(*arguments: str) -> dict:
    """`python -m benchmarks.workers ARGUMENTS` in a fresh process (from the repository root, with this process's
    torch threads): the JSON line it prints last."""
    command = [sys.executable, "-m", "benchmarks.workers", *arguments, "--threads", str(torch.get_num_threads())]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"worker {' '.join(arguments[:2])!r} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def memory_in_subprocess(args, name: str) -> dict:
    """The training-step memory of peer `name` (a training or a dense one), by the `memory` worker."""
    options = ["--arch", args.arch, "--device", args.device, "--dtype", args.dtype]
    options += [
        "--memory-batch-size",
        str(args.memory_batch_size),
        "--dense-sizes",
        ",".join(map(str, args.dense_sizes)),
    ]
    return run_worker("memory", name, *options, *(["--quick"] if args.quick else []))


# ---- report -------------------------------------------------------------------------------------------------


# ---- the example scripts, each case a fresh process ----------------------------------------------------------------
def write_images(folder: Path, count: int, size: int = 64, suffix: str = ".png") -> Path:
    """`count` drawn digits, `size` pixels square, as `folder/<digit>/<index><suffix>`."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for index in range(count):
        label = int(digits.target[index % len(digits.target)])
        pixels = (digits.images[index % len(digits.images)] / 16 * 255).astype(np.uint8)
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(pixels).resize((size, size)).rotate(index % 7).convert("RGB")
        image.save(folder / str(label) / f"{index}{suffix}")
    return folder


# The script's own peak resident set: VmHWM, which starts afresh at exec (ru_maxrss would carry the forking
# parent's size into the child).
PEAK = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); print('peak', next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))"  # noqa: E501


def run_measured(command: list[str]) -> tuple[float, float]:
    """(seconds, its own peak resident MB) of a script's command line, in a fresh process."""
    start = time.perf_counter()
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "examples"), str(REPO_ROOT / "src")])}
    result = subprocess.run([sys.executable, "-c", PEAK, *command[1:]], check=True, env=environment,
                            capture_output=True, text=True)  # fmt: skip
    return time.perf_counter() - start, int(result.stdout.split("peak")[-1]) / 1024


def environment(args, device) -> dict:
    import transformers

    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "hiera_hf": hiera_hf.__version__,
        "python": platform.python_version(),
        "dtype": args.dtype,
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            query = ["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader"]
            info["driver"] = subprocess.run(query, capture_output=True, text=True, timeout=30).stdout.strip()
    for package in ("timm", "hiera"):
        with contextlib.suppress(Exception):
            info[package] = __import__(package).__version__ if package == "timm" else _version("hiera-transformer")
    if device.type == "cpu":
        with contextlib.suppress(OSError):
            lines = Path("/proc/cpuinfo").read_text().splitlines()
            model_names = [line for line in lines if line.startswith("model name")]
            info["device"] = model_names[0].split(":", 1)[1].strip() if model_names else info["device"]
    return info


def _version(distribution: str) -> str:
    from importlib.metadata import version

    return version(distribution)


def markdown(rows: list[dict], env: dict) -> str:
    lines = ["# hiera-hf benchmark", "", " | ".join(f"**{k}** {v}" for k, v in env.items()), ""]
    sections = dict.fromkeys(row["section"] for row in rows)
    for section in sections:
        section_rows = [r for r in rows if r["section"] == section]
        if "table" in section_rows[0]:  # profiles, targets: a table of its own
            lines += _table_markdown(section, section_rows[0]["table"])
        elif "peak_MB" in section_rows[0]:  # video input: time and memory per case, load_video as the reference
            lines += _video_input_markdown(section, section_rows)
        else:
            lines += _timing_markdown(section, section_rows, env)
    return "\n".join(lines)


def _table_markdown(section: str, table: dict) -> list[str]:
    lines = [f"## {section}", "", "| " + " | ".join(table["header"]) + " |"]
    lines += ["|" + "---|" * len(table["header"])]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in table["rows"]] + [""]


def _video_input_markdown(section: str, section_rows: list[dict]) -> list[str]:
    lines = [
        f"## {section}",
        "",
        "| case | median time (ms) | time / load_video's | peak memory (MB) | growth in the call (MB) |",
        "|---|---|---|---|---|",
    ]
    for r in section_rows:
        lines.append(
            f"| {r['peer']} | {r['median_s'] * 1e3:.0f} | {r['time_vs_load_video']:.2f} | {r['peak_MB']:.0f} "
            f"| {r['growth_MB']:.0f} |"
        )
    return lines + [""]


def _timing_markdown(section: str, section_rows: list[dict], env: dict) -> list[str]:
    memory = "memory_MB" in section_rows[0]
    modes = "gemm_fraction_of_our_best" in section_rows[0]  # cpu-best: the dtype is in each peer's name
    dtype = section_rows[0].get("dtype") or ("modes as named" if modes else env["dtype"])
    lines = [f"## {section} (batch {section_rows[0]['batch']}, {dtype})", ""]
    if modes:
        first = section_rows[0]
        share = first["gemm_fraction_of_our_best"]
        lines += [
            f"Our fastest PyTorch mode: {first['our_best']}; {share:.0%} of its time is in the matrix "
            "multiplications (torch.profiler).",
            "",
        ]
    batch = section_rows[0].get("memory_batch")
    memory_title = f" training-step peak memory, batch {batch} (MB) | saved activations (MB) |"
    header = "| peer | median time (ms) | rate | ours / fastest peer |" + (memory_title if memory else "")
    lines += [header, "|---|---|---|---|" + ("---|---|" if memory else "")]
    for r in section_rows:
        ratio = f"{r['speedup_vs_fastest_peer']:.3f}x" if r["speedup_vs_fastest_peer"] else ""
        line = f"| {r['peer']} | {r['median_s'] * 1e3:.1f} | {r['rate']:.2f} {r['unit']} | {ratio} |"
        saved = f"{r['saved_activations_MB']:.0f}" if "saved_activations_MB" in r else ""
        peak = r.get("memory_MB", float("nan"))
        peak = f"{peak:.0f}" if peak == peak else "-"  # NaN: not measured
        lines.append(line + (f" {peak} | {saved} |" if memory else ""))
    return lines + [""]


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = list(dict.fromkeys(row["section"] for row in rows if "table" not in row))
    if not sections:  # (tables only: nothing to draw)
        return
    figure, axes = plt.subplots(len(sections), 1, figsize=(9, 2.2 + 1.4 * len(sections) * 1.3), squeeze=False)
    for axis, section in zip(axes[:, 0], sections):
        section_rows = [r for r in rows if r["section"] == section]
        names = [r["peer"] for r in section_rows]
        rates = [r["rate"] for r in section_rows]
        colors = ["tab:blue" if r["speedup_vs_fastest_peer"] is not None else "tab:gray" for r in section_rows]
        axis.barh(names, rates, color=colors)
        axis.invert_yaxis()
        axis.set_title(f"{section} (batch {section_rows[0]['batch']})", fontsize=9)
        axis.set_xlabel(section_rows[0]["unit"], fontsize=8)
        axis.tick_params(labelsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_report(rows: list[dict], env: dict, output: Path, stem: str) -> str:
    """`<stem>.md`, `<stem>.json` and `<stem>.png` in `output`; returns the markdown."""
    output.mkdir(parents=True, exist_ok=True)
    report = markdown(rows, env)
    (output / f"{stem}.md").write_text(report)
    (output / f"{stem}.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    plot(rows, output / f"{stem}.png")
    return report
