# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The benchmark's subprocess workers: measurements that need a process of their own (a peak resident set that
nothing else has grown, a decoder's first call). Each prints one JSON line; the sections start them through
`benchmarks.common.run_worker` (from the repository root).

    python -m benchmarks.workers memory NAME [--arch base] [--device cpu] [--dtype fp32] [--memory-batch-size 32]
        [--dense-sizes 512,1024] [--quick] [--threads N]
    python -m benchmarks.workers video-input CASE PATH [--threads N]

`memory`: one training step (forward, backward, AdamW) of one peer, a name of `TRAINING_PEERS` (at
--memory-batch-size) or of `DENSE_MEMORY_PEERS` (the backbone at batch 1 and the largest --dense-sizes):
{"peak", "saved", "seconds"}. `video-input`: one case of `VIDEO_INPUT_CASES` on one video file:
{"seconds", "peak_MB", "growth_MB"}.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import DTYPES, make_config, proc_status_bytes, saved_activation_bytes, synchronize
from benchmarks.sections.dense import DENSE_MEMORY_PEERS, build_dense_peer
from benchmarks.sections.training import TRAINING_PEERS, build_training_peer


def memory(args) -> dict:
    """One training step for peer `args.name`, in this process alone.

    `peak`: CUDA max allocated, or on CPU (Linux) the growth of the peak resident set over the step (after the
    model, its optimizer state and the batch exist). `saved`: bytes autograd keeps for backward. `seconds`: the step.
    """
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    model, pixels, loss_of = _memory_peer(args, device)
    model = model.to(device=device, dtype=dtype).train()
    pixels = pixels.to(device=device, dtype=dtype)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    for parameter in model.parameters():  # allocate the AdamW state up front so the step measures activations
        optimizer.state[parameter] = {
            "step": torch.tensor(0.0),
            "exp_avg": torch.zeros_like(parameter),
            "exp_avg_sq": torch.zeros_like(parameter),
        }
        parameter.grad = torch.zeros_like(parameter)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        # getrusage's max RSS survives fork/exec (a child inherits its parent's peak); VmHWM is this process's own,
        # and writing 5 to clear_refs resets it to the current RSS.
        Path("/proc/self/clear_refs").write_text("5")
        before = proc_status_bytes("VmRSS")
    start = time.perf_counter()
    loss_of(model(pixels)).backward()
    optimizer.step()
    synchronize(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else proc_status_bytes("VmHWM") - before
    saved = saved_activation_bytes(lambda: loss_of(model(pixels)))  # after the step: the peak above is the step's
    return {"peak": peak, "saved": saved, "seconds": seconds}


def _memory_peer(args, device):
    """(model, pixels, loss of its output) of the peer `args.name`."""
    if args.name in DENSE_MEMORY_PEERS:
        return build_dense_peer(args, args.name)
    if args.name not in TRAINING_PEERS:
        raise SystemExit(f"unknown peer {args.name!r}: one of {[*TRAINING_PEERS, *DENSE_MEMORY_PEERS]}")
    model = build_training_peer(args, args.name)
    config = make_config(args.arch, False, False, args.quick)
    pixels = torch.randn(args.memory_batch_size, 3, *config.input_size)
    labels = torch.randint(0, 1000, (args.memory_batch_size,), device=device)

    def loss_of(output):
        logits = output.logits if hasattr(output, "logits") else output
        return torch.nn.functional.cross_entropy(logits.float(), labels)

    return model, pixels, loss_of


def video_input(args) -> dict:
    """Case `args.case` on `args.path` in this (fresh) process, called twice: seconds of the second call, peak
    resident memory of the process and its growth over the calls (VmHWM, reset after the imports)."""
    from transformers.video_utils import load_video

    from hiera_hf import HieraVideoProcessor
    from hiera_hf.video_processing_hiera import decode_video, probe_video

    case, path = args.case, args.path
    processor = HieraVideoProcessor()
    indices = processor.sample_frames(probe_video(path)) if "the same 16 frames" in case else None

    def call():
        if case == "hiera_hf processor, 1 view":
            processor(path, return_tensors="pt")
        elif case.startswith("hiera_hf processor, 15 views"):
            processor(path, num_clips=5, num_crops=3, return_tensors="pt")
        elif case.startswith("hiera_hf decode_video"):
            decode_video(path, lambda metadata: indices)
        elif case.startswith("transformers load_video"):
            load_video(path, backend="pyav", sample_indices_fn=lambda metadata, **kwargs: indices)
        else:
            processor(decode_video(path)[0], return_tensors="pt")

    Path("/proc/self/clear_refs").write_text("5")
    before = proc_status_bytes("VmRSS")
    call()  # warm-up (first-call costs of the decoder and of torch), then the call timed
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    peak = proc_status_bytes("VmHWM")
    return {"seconds": seconds, "peak_MB": peak / 2**20, "growth_MB": (peak - before) / 2**20}


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.workers", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    workers = parser.add_subparsers(dest="worker", required=True)
    step = workers.add_parser("memory", help="one training step's memory, one peer")
    step.add_argument("name", help="a peer of TRAINING_PEERS or DENSE_MEMORY_PEERS")
    step.add_argument("--arch", default="base")
    step.add_argument("--device", default="cpu")
    step.add_argument("--dtype", choices=list(DTYPES), default="fp32")
    step.add_argument("--memory-batch-size", type=int, default=32)
    step.add_argument("--dense-sizes", default="512,1024", help="the dense peers run at the largest")
    step.add_argument("--quick", action="store_true", help="tiny depths (benchmark.py --quick)")
    step.set_defaults(run=memory)
    decode = workers.add_parser("video-input", help="one video-input case on one file")
    decode.add_argument("case", help="a name of VIDEO_INPUT_CASES")
    decode.add_argument("path", help="the video file")
    decode.set_defaults(run=video_input)
    for worker in (step, decode):
        worker.add_argument("--threads", type=int, default=None, help="torch threads (the parent's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if hasattr(args, "dense_sizes"):
        args.dense_sizes = [int(size) for size in str(args.dense_sizes).split(",")]
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps(args.run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
