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
`video-input` (the video processor on 640x360 H.264 clips of `--video-input-seconds`: one view, 15 views, against
Transformers' `load_video` with the same frames and against decoding every frame; time and peak memory, each case in
a fresh process per round; not in the default set).
Results: a markdown table and a PNG plot in `--output-dir` (default `benchmarks/results/`).

Training memory is measured per peer in a subprocess of its own, over one step (forward, backward, AdamW) at
`--memory-batch-size`: on CPU the growth of the peak resident set over the step (the model, its gradients, its
AdamW state and the batch already exist), on CUDA `torch.cuda.max_memory_allocated`; next to it, the bytes of the
tensors autograd saves for backward (`saved_tensors_hooks`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

import hiera_hf
from hiera_hf import HieraConfig
from hiera_hf.official import from_official, official_model

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Peer:
    name: str
    model: torch.nn.Module
    ours: bool = False
    run: Callable | None = None  # (model, pixels) -> output; default model(pixels)
    times: list[float] = field(default_factory=list)


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


# ---- sections -----------------------------------------------------------------------------------------------


def inference_section(args, device, dtype, video: bool) -> list[dict]:
    config = make_config(args.arch, video, False, args.quick)
    name, official = preset_name(args.arch, video), official_from_config(config)
    ours = from_official(official, config)
    ours_eager = from_official(official, config, attn_implementation="eager")
    peers = [
        Peer("hiera_hf (SDPA)", ours, ours=True),
        Peer("hiera_hf (eager attention)", ours_eager, ours=True),
        Peer("official hiera", official),
    ]
    if not video:
        peers.append(Peer("timm", timm_from_official(args.arch, config, official)))
        peers.append(Peer("transformers built-in", builtin_from_ours(ours)))
    if not args.no_compile:
        peers.insert(1, Peer("hiera_hf (SDPA) + torch.compile", torch.compile(ours), ours=True))
    for peer in peers:
        peer.model.to(device=device, dtype=dtype).eval()
        if "official" in peer.name:
            peer.model.head.train()  # its head adds a softmax in eval mode; compare like for like

    rows = []
    size = config.input_size
    throughput_batch = args.video_batch_size if video else args.batch_size
    for batch_size, metric in ((throughput_batch, "throughput"), (1, "latency")):
        pixels = torch.randn(batch_size, 3, *size, device=device, dtype=dtype)  # official layout
        ours_pixels = pixels.transpose(1, 2) if video else pixels

        def make_call(peer, pixels=pixels, ours_pixels=ours_pixels):
            inputs = ours_pixels if peer.ours else pixels
            return lambda: peer.model(inputs)

        for peer in peers:
            peer.times = []
        with torch.inference_mode():
            interleaved(peers, make_call, device, args.rounds, args.iterations)
        rows += summarise(peers, f"{name} inference {metric}", batch_size, "clips/s" if video else "images/s")
    torch._dynamo.reset()  # drop the compiled model (dynamo's caches keep it alive otherwise)
    return rows


def deploy_section(args, video: bool) -> list[dict]:
    """ONNX Runtime fp32 and int8 (dynamic, as `python -m hiera_hf.export --int8` keeps on the trained demo model)
    against our PyTorch eager model and the PyTorch peers, CPU fp32, interleaved, at batch 8 and 1 (video: 1)."""
    import tempfile

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from hiera_hf.export import ExportableHiera, export_onnx, onnx_session

    config = make_config(args.arch, video, False, args.quick)
    name, official = preset_name(args.arch, video), official_from_config(config)
    ours = from_official(official, config)
    peers = [Peer("hiera_hf PyTorch (SDPA)", ours, ours=True), Peer("official hiera", official.eval())]
    official.head.train()  # its head adds a softmax in eval mode; compare like for like
    if not video:
        peers.append(Peer("timm", timm_from_official(args.arch, config, official).eval()))
        peers.append(Peer("transformers built-in", builtin_from_ours(ours).eval()))
    folder = Path(tempfile.mkdtemp(prefix="hiera-deploy-"))
    frames = (config.num_frames,) if video else ()
    export_onnx(
        ExportableHiera(ours, "classification"), torch.randn(2, *frames, 3, *config.image_size), folder / "fp32.onnx"
    )
    quantize_dynamic(str(folder / "fp32.onnx"), str(folder / "int8.onnx"), weight_type=QuantType.QInt8)
    for file, label in (("fp32.onnx", "ONNX Runtime fp32"), ("int8.onnx", "ONNX Runtime int8 (dynamic)")):
        session = onnx_session(folder / file, threads=torch.get_num_threads())
        peers.insert(1, Peer(label, session, ours=True, run=lambda s, x: s.run(None, {"pixel_values": x.numpy()})))
    rows = []
    for batch_size in (1,) if video else (args.batch_size, 1):
        pixels = torch.randn(batch_size, 3, *config.input_size)  # official layout
        ours_pixels = pixels.transpose(1, 2) if video else pixels

        def make_call(peer, pixels=pixels, ours_pixels=ours_pixels):
            inputs = ours_pixels if peer.ours else pixels
            return (lambda: peer.run(peer.model, inputs)) if peer.run else (lambda: peer.model(inputs))

        for peer in peers:
            peer.times = []
        with torch.inference_mode():
            interleaved(peers, make_call, torch.device("cpu"), args.rounds, args.iterations)
        metric = "throughput" if batch_size > 1 else "latency"
        rows += summarise(peers, f"{name} deploy {metric} (CPU)", batch_size, "clips/s" if video else "images/s")
    return rows


def dense_section(args, device, dtype) -> list[dict]:
    """Backbone feature maps (all four stages) at each of --dense-sizes, batch 1: ours (`HieraBackbone`, any size at
    run time) against the official `return_intermediates=True` and timm's `features_only` model, both built for that
    size (timm's position embeddings are fixed at construction: it refuses any other size at run time)."""
    import timm

    from hiera_hf import HieraBackbone

    rows = []
    for size in args.dense_sizes:
        config = make_config(args.arch, False, False, args.quick, image_size=(size, size))
        official = official_from_config(config)
        ours = HieraBackbone(
            make_config(args.arch, False, False, args.quick, image_size=(size, size), out_indices=[1, 2, 3, 4])
        )
        ours.hiera.load_state_dict(from_official(official, config).hiera.state_dict(), strict=False)
        features = timm.create_model(
            f"hiera_{args.arch}_224",
            pretrained=False,
            features_only=True,
            stages=tuple(config.depths),
            img_size=(size, size),
        )
        features.model.load_state_dict(timm_from_official(args.arch, config, official).state_dict(), strict=False)
        peers = [
            Peer("hiera_hf HieraBackbone", ours.to(device, dtype).eval(), ours=True),
            Peer(
                "official return_intermediates",
                official.to(device, dtype).eval(),
                run=lambda m, x: m(x, return_intermediates=True)[1],
            ),
            Peer("timm features_only", features.to(device, dtype).eval()),
        ]
        pixels = torch.randn(1, 3, size, size, device=device, dtype=dtype)

        def make_call(peer, pixels=pixels):
            return (lambda: peer.run(peer.model, pixels)) if peer.run else (lambda: peer.model(pixels))

        with torch.inference_mode():
            interleaved(peers, make_call, device, args.rounds, 1, warmup=1)
        rows += summarise(peers, f"hiera_{args.arch} backbone {size}x{size}", 1, "images/s")
        del peers, ours, official, features
        gc.collect()
    largest = max(args.dense_sizes)
    for name in DENSE_MEMORY_PEERS:
        memory = measure_memory_in_subprocess(args, name)
        rows.append(
            {
                "section": f"hiera_{args.arch} backbone training step {largest}x{largest} (memory)",
                "peer": name,
                "batch": 1,
                "median_s": memory["seconds"],
                "rate": 1 / memory["seconds"],
                "unit": "images/s",
                "speedup_vs_fastest_peer": None,
                "rounds": 1,
                "memory_MB": memory["peak"] / 2**20,
                "saved_activations_MB": memory["saved"] / 2**20,
                "memory_batch": 1,
            }
        )
    return rows


def training_section(args, device, dtype) -> list[dict]:
    config = make_config(args.arch, False, False, args.quick)
    name = preset_name(args.arch, False)
    peers = [Peer(peer, build_training_peer(args, peer), ours=peer.startswith("hiera_hf")) for peer in TRAINING_PEERS]
    size = config.input_size
    batch_size = args.train_batch_size
    pixels = torch.randn(batch_size, 3, *size, device=device, dtype=dtype)
    labels = torch.randint(0, 1000, (batch_size,), device=device)
    steps = {}
    for peer in peers:
        peer.model.to(device=device, dtype=dtype).train()
        optimizer = torch.optim.AdamW(peer.model.parameters(), lr=1e-4)

        def step(peer=peer, optimizer=optimizer):
            output = peer.model(pixels)
            logits = output.logits if hasattr(output, "logits") else output
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        steps[peer.name] = step

    rows = []
    memory = {peer.name: measure_memory_in_subprocess(args, peer.name) for peer in peers}
    interleaved(peers, lambda peer: steps[peer.name], device, args.rounds, 1, warmup=1)
    rows += summarise(peers, f"{name} training step", batch_size, "images/s")
    for row in rows:
        row["memory_MB"] = memory[row["peer"]]["peak"] / 2**20
        row["saved_activations_MB"] = memory[row["peer"]]["saved"] / 2**20
        row["memory_batch"] = args.memory_batch_size
    return rows


TRAINING_PEERS = {
    "hiera_hf (SDPA)": "ours",
    "hiera_hf (SDPA) + gradient checkpointing": "ours_checkpointed",
    "official hiera": "official",
    "timm": "timm",
    "transformers built-in": "builtin",
}


def build_training_peer(args, name: str):
    config = make_config(args.arch, False, False, args.quick)
    official = official_from_config(config)
    kind = TRAINING_PEERS[name]
    if kind == "official":
        return official
    if kind == "timm":
        return timm_from_official(args.arch, config, official)
    ours = from_official(official, config)
    if kind == "builtin":
        return builtin_from_ours(ours)
    if kind == "ours_checkpointed":
        ours.gradient_checkpointing_enable()
    return ours


DENSE_MEMORY_PEERS = ("hiera_hf HieraBackbone", "hiera_hf HieraBackbone + gradient checkpointing")


def build_dense_peer(args, name: str):
    """Our four-stage backbone at the largest --dense-sizes, and a stand-in loss over its maps."""
    from hiera_hf import HieraBackbone

    size = max(args.dense_sizes)
    config = make_config(args.arch, False, False, args.quick, image_size=(size, size), out_indices=[1, 2, 3, 4])
    torch.manual_seed(0)
    model = HieraBackbone(config)
    if name.endswith("gradient checkpointing"):
        model.gradient_checkpointing_enable()
    pixels = torch.randn(1, 3, size, size)
    return model, pixels, lambda output: sum(feature_map.square().mean() for feature_map in output.feature_maps)


def memory_worker(args, name: str) -> dict:
    """One training step (forward, backward, AdamW) at --memory-batch-size for one peer, in this process alone
    (dense peers: the backbone at batch 1 and the largest --dense-sizes).

    `peak`: CUDA max allocated, or on CPU (Linux) the growth of the peak resident set over the step (after the
    model, its optimizer state and the batch exist). `saved`: bytes autograd keeps for backward. `seconds`: the step.
    """
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    if name in DENSE_MEMORY_PEERS:
        model, pixels, loss_of = build_dense_peer(args, name)
    else:
        model = build_training_peer(args, name)
        config = make_config(args.arch, False, False, args.quick)
        pixels = torch.randn(args.memory_batch_size, 3, *config.input_size)
        labels = torch.randint(0, 1000, (args.memory_batch_size,), device=device)

        def loss_of(output):
            logits = output.logits if hasattr(output, "logits") else output
            return torch.nn.functional.cross_entropy(logits.float(), labels)

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
        before = _proc_status_bytes("VmRSS")
    start = time.perf_counter()
    loss_of(model(pixels)).backward()
    optimizer.step()
    synchronize(device)
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = _proc_status_bytes("VmHWM") - before
    saved = saved_activation_bytes(lambda: loss_of(model(pixels)))  # after the step: the peak above is the step's
    return {"peak": peak, "saved": saved, "seconds": seconds}


# ---- video input: decoding and the transform, each case in a fresh process ------------------------------------------

VIDEO_INPUT_CASES = {
    "hiera_hf processor, 1 view": "HieraVideoProcessor()(path): the centered 16-frame clip",
    "hiera_hf processor, 15 views (5 clips x 3 crops)": "HieraVideoProcessor(num_clips=5, num_crops=3)(path)",
    "transformers load_video (pyav), the same 16 frames": "load_video(path, sample_indices_fn=<those indices>)",
    "every frame decoded, then the clip (the old processor's path)": "decode_video(path) then the processor",
}


def video_input_worker(case: str, path: str) -> dict:
    """One case on one file in this (fresh) process, called twice: seconds of the second call, peak resident memory
    of the process and its growth over the calls (VmHWM, reset after the imports)."""
    from transformers.video_utils import load_video

    from hiera_hf import HieraVideoProcessor
    from hiera_hf.video_processing_hiera import decode_video, probe_video

    processor = HieraVideoProcessor()
    indices = processor.sample_frames(probe_video(path)) if case.startswith("transformers") else None

    def call():
        if case == "hiera_hf processor, 1 view":
            processor(path, return_tensors="pt")
        elif case.startswith("hiera_hf processor, 15 views"):
            processor(path, num_clips=5, num_crops=3, return_tensors="pt")
        elif case.startswith("transformers load_video"):
            load_video(path, backend="pyav", sample_indices_fn=lambda metadata, **kwargs: indices)
        else:
            processor(decode_video(path)[0], return_tensors="pt")

    Path("/proc/self/clear_refs").write_text("5")
    before = _proc_status_bytes("VmRSS")
    call()  # warm-up (first-call costs of the decoder and of torch), then the call timed
    start = time.perf_counter()
    call()
    seconds = time.perf_counter() - start
    peak = _proc_status_bytes("VmHWM")
    return {"seconds": seconds, "peak_MB": peak / 2**20, "growth_MB": (peak - before) / 2**20}


def video_input_section(args) -> list[dict]:
    """Videos of several lengths (640x360 H.264 at 30 fps, a keyframe every 250 frames, made here): every case of
    `VIDEO_INPUT_CASES` in a fresh process per round, rounds interleaved; medians of time and memory."""
    import importlib.util
    import subprocess
    import tempfile

    spec = importlib.util.spec_from_file_location(
        "make_demo_data", Path(__file__).parents[1] / "examples/make_demo_data.py"
    )
    make_demo_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_demo_data)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seconds in args.video_input_seconds:
            size = (160, 96) if args.quick else (640, 360)
            path = make_demo_data.write_long_clip(Path(folder) / f"clip{seconds}.mp4", seconds, *size)
            cases = [
                c for c in VIDEO_INPUT_CASES if not (c.startswith("every frame") and seconds > args.full_decode_max)
            ]
            results = {case: [] for case in cases}
            for _ in range(args.rounds):
                for case in cases:
                    command = [sys.executable, __file__, "--video-input-worker", case, str(path)]
                    command += ["--threads", str(torch.get_num_threads())]
                    result = subprocess.run(command, capture_output=True, text=True)
                    if result.returncode != 0:
                        raise RuntimeError(f"video input case {case!r} failed:\n{result.stderr[-2000:]}")
                    results[case].append(json.loads(result.stdout.strip().splitlines()[-1]))
            reference = statistics.median(r["seconds"] for r in results[cases[2]])  # load_video
            section = f"video input: {seconds} s of {size[0]}x{size[1]} H.264 at 30 fps"
            for case in cases:
                median = statistics.median(r["seconds"] for r in results[case])
                rows.append(
                    {
                        "section": section,
                        "peer": case,
                        "batch": 1,
                        "median_s": median,
                        "rate": 1 / median,
                        "unit": "calls/s",
                        "speedup_vs_fastest_peer": reference / median if case.startswith("hiera_hf") else None,
                        "time_vs_load_video": median / reference,
                        "rounds": len(results[case]),
                        "peak_MB": statistics.median(r["peak_MB"] for r in results[case]),
                        "growth_MB": statistics.median(r["growth_MB"] for r in results[case]),
                    }
                )
    return rows


def _proc_status_bytes(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024  # kB
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def measure_memory_in_subprocess(args, name: str) -> dict:
    import subprocess

    command = [sys.executable, __file__, "--memory-worker", name, "--arch", args.arch, "--device", args.device]
    command += ["--dtype", args.dtype, "--memory-batch-size", str(args.memory_batch_size)]
    command += ["--threads", str(torch.get_num_threads())] + (["--quick"] if args.quick else [])
    command += ["--dense-sizes", ",".join(map(str, args.dense_sizes))]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"memory measurement of {name!r} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def mae_section(args, device, dtype, video: bool) -> list[dict]:
    config = make_config(args.arch, video, True, args.quick)
    name, official = preset_name(args.arch, video), official_from_config(config, pretraining=True)
    ours = from_official(official, config)
    peers = [Peer("hiera_hf MAE (SDPA)", ours, ours=True), Peer("official hiera MAE", official)]
    size = config.input_size
    pixels = torch.randn(
        args.video_batch_size if video else args.train_batch_size, 3, *size, device=device, dtype=dtype
    )
    ours_pixels = pixels.transpose(1, 2) if video else pixels
    mask_ratio = ours.config.mask_ratio

    def make_call(peer):
        peer.model.to(device=device, dtype=dtype).train()
        optimizer = torch.optim.AdamW(peer.model.parameters(), lr=1e-4)

        def step():
            loss = peer.model(ours_pixels).loss if peer.ours else peer.model(pixels, mask_ratio=mask_ratio)[0]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    interleaved(peers, make_call, device, args.rounds, 1, warmup=1)
    unit = "clips/s" if video else "images/s"
    return summarise(peers, f"{name} MAE pre-training step", pixels.shape[0], unit)


def summarise(peers: list[Peer], section: str, batch_size: int, unit: str) -> list[dict]:
    medians = {peer.name: statistics.median(peer.times) for peer in peers}
    best_peer = min((t for p, t in medians.items() if not _is_ours(peers, p)), default=None)
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


def _is_ours(peers, name):
    return next(p for p in peers if p.name == name).ours


# ---- report -------------------------------------------------------------------------------------------------


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
        if "peak_MB" in section_rows[0]:  # video input: time and memory per case, load_video as the reference
            lines += [
                f"## {section}",
                "",
                "| case | median time (ms) | time / load_video's | peak memory (MB) | growth in the call (MB) |",
            ]
            lines += ["|---|---|---|---|---|"]
            for r in section_rows:
                lines.append(
                    f"| {r['peer']} | {r['median_s'] * 1e3:.0f} | {r['time_vs_load_video']:.2f} | {r['peak_MB']:.0f} "
                    f"| {r['growth_MB']:.0f} |"
                )
            lines.append("")
            continue
        memory = "memory_MB" in section_rows[0]
        lines += [f"## {section} (batch {section_rows[0]['batch']}, {env['dtype']})", ""]
        batch = section_rows[0].get("memory_batch")
        memory_title = f" training-step peak memory, batch {batch} (MB) | saved activations (MB) |"
        header = "| peer | median time (ms) | rate | ours / fastest peer |" + (memory_title if memory else "")
        lines += [header, "|---|---|---|---|" + ("---|---|" if memory else "")]
        for r in section_rows:
            ratio = f"{r['speedup_vs_fastest_peer']:.3f}x" if r["speedup_vs_fastest_peer"] else ""
            line = f"| {r['peer']} | {r['median_s'] * 1e3:.1f} | {r['rate']:.2f} {r['unit']} | {ratio} |"
            lines.append(line + (f" {r['memory_MB']:.0f} | {r['saved_activations_MB']:.0f} |" if memory else ""))
        lines.append("")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = list(dict.fromkeys(row["section"] for row in rows))
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


def main(argv: list[str] | None = None) -> int:
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
    parser.add_argument("--memory-worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--video-input-seconds", default="30,90,180", help="clip lengths of the video-input section")
    parser.add_argument(
        "--full-decode-max", type=float, default=90, help="video input: longest clip to decode in full (memory!)"
    )
    parser.add_argument("--video-input-worker", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.dense_sizes = [int(size) for size in str(args.dense_sizes).split(",")]
    args.video_input_seconds = [float(s) if "." in s else int(s) for s in str(args.video_input_seconds).split(",")]
    if args.quick:
        args.rounds, args.iterations = 1, 1
        args.dense_sizes = [64, 96]
        args.video_input_seconds = [3, 6]
        args.batch_size = args.video_batch_size = args.train_batch_size = args.memory_batch_size = 2
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_worker:
        print(json.dumps(memory_worker(args, args.memory_worker)))
        return 0
    if args.video_input_worker:
        print(json.dumps(video_input_worker(*args.video_input_worker)))
        return 0
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
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

    env = environment(args, device)
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    stem = args.name or f"{args.device}_{args.dtype}_{args.arch}" + ("_quick" if args.quick else "")
    report = markdown(rows, env)
    (output / f"{stem}.md").write_text(report)
    (output / f"{stem}.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
    plot(rows, output / f"{stem}.png")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
