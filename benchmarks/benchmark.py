# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Benchmark hiera-hf against the official `hiera` package, timm and Transformers' built-in Hiera.

All peers run in one process with the same random weights (official init, mapped through each library's own key
conversion), interleaved A B C A B C ... after warm-up; each figure is the median of `--rounds` rounds.

    python benchmarks/benchmark.py                                   # CPU fp32, Hiera-B image + video, all sections
    python benchmarks/benchmark.py --arch base --sections inference --batch-size 8 --threads 2
    python benchmarks/benchmark.py --device cuda --dtype bf16 --batch-size 256
    python benchmarks/benchmark.py --quick --output-dir /tmp/bench   # tiny config, one round (smoke test)

Sections: `inference` (throughput at --batch-size and latency at batch 1; ours eager-attention / SDPA / SDPA +
torch.compile vs the peers), `training` (forward + backward + AdamW step time, and memory with and without
gradient checkpointing), `mae` (MAE pre-training step vs the official MAE model), `deploy` (ONNX Runtime fp32 and
int8 against PyTorch, CPU; not in the default set: `--sections deploy`), `dense` (the four-stage backbone at
--dense-sizes against timm's `features_only` Hiera and the official `return_intermediates`, and the memory of a
backbone training step at the largest size with and without gradient checkpointing; not in the default set),
`cpu-best` (every peer at each of its CPU modes: fp32, bf16 autocast, bf16 weights, compiled fp32 and bf16 with
Inductor's freezing; ours also through `hiera_hf.fast_model`; at batch --batch-size and 1, video at 1; then the
share of our best mode's time spent in the GEMMs; not in the default set), `cpu-autotune` (Inductor's GEMM
autotuning against its default, compiled bf16: ours through `fast_model`, the built-in, timm; not in the default
set), `video-input` (the video processor on 640x360 H.264 clips of `--video-input-seconds`: one view, 15 views,
against Transformers' `load_video` with the same frames and against decoding every frame; time and peak memory, each
case in a fresh process per round; not in the default set), `gpu` (for `--device cuda --dtype bf16`: Hiera-B images at
--batch-size in every implementation, eager and compiled, beside ViT-B/16 (Transformers SDPA, timm), with the
targets, the kernel profiles, the card's measured matmul peak and the fraction of it Hiera-B reaches; a training
step with peak memory; video Hiera-B against the official; the other `--gpu-archs`; `benchmarks/gpu_check.sh` runs
it; not in the default set), `abswin` (timm's absolute-window Hiera-S 256, `HieraConfig.from_timm(
"hiera_small_abswin_256")`, against the same model with a plain position table and the same weights otherwise, fp32
and bf16, at --batch-size and 1: each abswin / plain time against the target, within 2%; not in the default set),
`batch` (batch inference on its two engines, each case a fresh process on a local Ray cluster: peak memory of
extracting stage maps at N and 20N images, Ray's 2 actors against one process, a killed actor, a killed driver
resumed; not in the default set), `scale` (the training scripts at scale, each case a fresh process: launch to
the end of the first step on a folder of N and 20N images and on 16 and 256 shards of the same size, training
throughput from shards against a folder, the video script's peak memory on a Video column of N and 4N videos; not
in the default set).
Results: a markdown table and a PNG plot in `--output-dir` (default `benchmarks/results/`).

The code: `benchmarks/common.py` (peers, timing, report), `benchmarks/sections/` (a module per section),
`benchmarks/workers.py` (the measurements run in a fresh process), `benchmarks/cpu_routes.py` (CPU modes and
exported routes).

Training memory is measured per peer in a subprocess of its own (`python -m benchmarks.workers memory`), over one
step (forward, backward, AdamW) at `--memory-batch-size`: on CPU the growth of the peak resident set over the step
(the model, its gradients, its AdamW state and the batch already exist), on CUDA `torch.cuda.max_memory_allocated`;
next to it, the bytes of the tensors autograd saves for backward (`saved_tensors_hooks`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):  # run as a script: `benchmarks` is imported from the repository root
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "benchmarks"]

import torch  # noqa: E402

from benchmarks.common import DTYPES, environment, write_report  # noqa: E402
from benchmarks.sections.abswin import abswin_section  # noqa: E402
from benchmarks.sections.batch_inference import batch_section  # noqa: E402
from benchmarks.sections.cpu_autotune import cpu_autotune_section  # noqa: E402
from benchmarks.sections.cpu_best import cpu_best_section  # noqa: E402
from benchmarks.sections.dense import dense_section  # noqa: E402
from benchmarks.sections.deploy import deploy_section  # noqa: E402
from benchmarks.sections.gpu import gpu_section  # noqa: E402
from benchmarks.sections.inference import inference_section  # noqa: E402
from benchmarks.sections.mae import mae_section  # noqa: E402
from benchmarks.sections.scale import scale_section  # noqa: E402
from benchmarks.sections.training import training_section  # noqa: E402
from benchmarks.sections.video_input import video_input_section  # noqa: E402


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="base", help="tiny, small, base, base_plus, large, huge")
    parser.add_argument("--sections", default="inference,training,mae", help="comma-separated")
    parser.add_argument("--video", choices=["yes", "no", "both"], default="both", help="image and/or video models")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--video-batch-size", type=int, default=2, help="throughput batch for video models")
    parser.add_argument("--train-batch-size", type=int, default=8)
    parser.add_argument("--memory-batch-size", type=int, default=32, help="batch of the training-memory figures")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=2, help="calls per timed measurement")
    parser.add_argument("--threads", type=int, default=None, help="torch threads on CPU (default: all cores)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=list(DTYPES), default="fp32")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny depths, one round: a smoke test")
    parser.add_argument("--output-dir", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default=None, help="results file stem")
    parser.add_argument("--dense-sizes", default="512,1024", help="square input sizes of the dense section")
    parser.add_argument(
        "--video-input-seconds",
        default=None,
        help="clip lengths of the video-input section (10,30,90,180; --quick: 3,6)",
    )
    parser.add_argument(
        "--full-decode-max", type=float, default=90, help="video input: longest clip to decode in full (memory!)"
    )
    parser.add_argument("--gpu-archs", default="tiny,base,large", help="architectures of the gpu section's images")
    parser.add_argument("--time-budget", type=float, default=None, help="gpu section: seconds, then skip the rest")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The options, lists parsed and `--quick`'s sizes applied; sets the torch threads."""
    args = parser().parse_args(argv)
    args.dense_sizes = [int(size) for size in str(args.dense_sizes).split(",")]
    args.gpu_archs = [arch.strip() for arch in args.gpu_archs.split(",") if arch.strip()]
    seconds = args.video_input_seconds or ("3,6" if args.quick else "10,30,90,180")
    args.video_input_seconds = [float(s) if "." in s else int(s) for s in seconds.split(",")]
    if args.quick:
        args.rounds, args.iterations = 1, 1
        args.dense_sizes = [64, 96]
        args.batch_size = args.video_batch_size = args.train_batch_size = args.memory_batch_size = 2
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def run_sections(args, device, dtype, save) -> list[dict]:
    """The sections asked for, in this order (names not known are ignored); `save(rows)` writes the report."""
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    kinds = {"yes": [True], "no": [False], "both": [False, True]}[args.video]
    rows = []
    for video in kinds:
        if "inference" in sections:
            rows += inference_section(args, device, dtype, video)
        if "mae" in sections:
            rows += mae_section(args, device, dtype, video)
        if "deploy" in sections:
            rows += deploy_section(args, video)
    if "training" in sections:
        rows += training_section(args, device, dtype)
    if "dense" in sections:
        rows += dense_section(args, device, dtype)
    if "video-input" in sections:
        rows += video_input_section(args)
    if "gpu" in sections:
        rows += gpu_section(args, device, dtype, lambda so_far: save(rows + so_far))
    if "cpu-best" in sections:
        for video in kinds:
            rows += cpu_best_section(args, video)
    if "cpu-autotune" in sections:
        rows += cpu_autotune_section(args)
    if "abswin" in sections:
        rows += abswin_section(args, device)
    if "batch" in sections:
        rows += batch_section(args)
    if "scale" in sections:
        rows += scale_section(args)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    env = environment(args, device)
    output = Path(args.output_dir)
    stem = args.name or f"{args.device}_{args.dtype}_{args.arch}" + ("_quick" if args.quick else "")
    rows = run_sections(args, device, dtype, lambda rows: write_report(rows, env, output, stem))
    print(write_report(rows, env, output, stem))
    return 0


if __name__ == "__main__":
    sys.exit(main())
