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
it; not in the default set).
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
import functools
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
from hiera_hf.export import example_input
from hiera_hf.inference import resolve_mode
from hiera_hf.parity import from_official, official_model

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Peer:
    name: str
    model: torch.nn.Module
    ours: bool = False
    run: Callable | None = None  # (model, pixels) -> output; default model(pixels)
    times: list[float] = field(default_factory=list)
    context: bool = False  # shown for context (ViT-B/16), not a peer to beat


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


def timed_batches(args, peers, config, batch_sizes, section: str, device=None, dtype=None, after=None) -> list[dict]:
    """Time `peers` interleaved at each batch size (inference mode) on random pixels, given to ours as `(B, T, C, H,
    W)` and to the others in the official `(B, C, T, H, W)` for video; rows per batch size, in a section named
    `section.format(metric="throughput" or "latency")`. `after(rows, make_call)` runs after each batch size."""
    rows, video = [], config.is_video
    for batch_size in batch_sizes:
        pixels = torch.randn(batch_size, 3, *config.input_size, device=device, dtype=dtype)  # official layout
        ours_pixels = pixels.transpose(1, 2) if video else pixels

        def make_call(peer, pixels=pixels, ours_pixels=ours_pixels):
            inputs = ours_pixels if peer.ours else pixels
            return (lambda: peer.run(peer.model, inputs)) if peer.run else (lambda: peer.model(inputs))

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

    batch_sizes = (args.video_batch_size if video else args.batch_size, 1)
    rows = timed_batches(args, peers, config, batch_sizes, f"{name} inference {{metric}}", device, dtype)
    torch._dynamo.reset()  # drop the compiled model (dynamo's caches keep it alive otherwise)
    return rows


def vit_base(quick: bool):
    """ViT-B/16 (Transformers, SDPA), random weights: the context for Hiera-B's speed."""
    import transformers

    config = transformers.ViTConfig(num_labels=1000, attn_implementation="sdpa")
    if quick:
        config = transformers.ViTConfig(num_labels=1000, num_hidden_layers=1, image_size=64, hidden_size=96,
                                        num_attention_heads=2, intermediate_size=192)  # fmt: skip
    torch.manual_seed(0)
    return transformers.ViTForImageClassification(config).eval()


def _call_with(model, autocast: bool):
    """`model(pixels)` under bf16 autocast or not."""

    def call(pixels):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return model(pixels)

    return call


# Image peers also compiled with Inductor's GEMM autotuning, which gains every model 1.2-1.3x at batch 1 (section
# cpu-autotune): the fastest peers and ours. The official model, the slowest compiled, is left out (90 s a shape).
AUTOTUNED_PEERS = ("timm", "transformers built-in")


def compiled_peer(name: str, module, max_autotune: bool = False, **kinds) -> Peer:
    """`module` compiled by Inductor with freezing (`frozen_compiled`, as `fast_model` compiles), fed its own dtype."""
    from hiera_hf.inference import frozen_compiled

    forward = frozen_compiled(module.forward, max_autotune=max_autotune)
    return Peer(name, module, run=lambda m, x: forward(x.to(next(m.parameters()).dtype)), **kinds)


def cpu_best_peers(args, video: bool) -> list[Peer]:
    """Every peer at each mode it runs: fp32 eager, bf16 autocast, bf16 weights (`dtype=`), and compiled with
    Inductor's freezing in fp32 and bf16 (images: `AUTOTUNED_PEERS` also with max-autotune); ours also through
    `hiera_hf.fast_model` (its auto choice; images: also with `max_autotune=True`), and the int8 and OpenVINO
    routes of `int8_peers`. On a CPU without native bf16: the bf16 and autotuned modes for ours only (below)."""
    import copy

    from hiera_hf import fast_model
    from hiera_hf.inference import cpu_has_native_bf16

    config = make_config(args.arch, video, False, args.quick)
    official = official_from_config(config)
    ours = from_official(official, config)
    official.head.train()  # its head adds a softmax in eval mode; compare like for like
    bases = {"hiera_hf": ours, "official hiera": official}
    if not video:
        bases["timm"] = timm_from_official(args.arch, config, official).eval()
        bases["transformers built-in"] = builtin_from_ours(ours).eval()
        bases["ViT-B/16 (transformers, SDPA)"] = vit_base(args.quick)
    # Without native bf16 (emulated: 0.13x fp32 on an AVX2-only EPYC) only ours runs the bf16 modes, as the measured
    # evidence: each peer's would take minutes and lose the same way.
    native_bf16 = cpu_has_native_bf16()
    peers = []
    for name, base in bases.items():
        kinds = {"ours": name == "hiera_hf", "context": name.startswith("ViT")}
        bf16 = copy.deepcopy(base).to(torch.bfloat16)
        with_bf16 = native_bf16 or kinds["ours"]
        peers.append(Peer(f"{name} fp32", base, **kinds))
        if native_bf16:
            peers.append(Peer(f"{name} bf16 autocast", base, run=lambda m, x: _call_with(m, True)(x), **kinds))
        if with_bf16:
            peers.append(Peer(f"{name} bf16 weights", bf16, run=lambda m, x: m(x.to(torch.bfloat16)), **kinds))
        if not args.no_compile:  # Inductor with freezing, as fast_model compiles
            peers.append(compiled_peer(f"{name} compiled fp32", copy.deepcopy(base), **kinds))
            if with_bf16:
                peers.append(compiled_peer(f"{name} compiled bf16 weights", copy.deepcopy(bf16), **kinds))
            if name in AUTOTUNED_PEERS and not video and native_bf16:
                label = f"{name} compiled bf16 weights, max-autotune"
                peers.append(compiled_peer(label, copy.deepcopy(bf16), max_autotune=True, **kinds))
    if not args.no_compile:
        # Inductor fuses the math path's softmax; the CPU flash kernel is one opaque call (compare the two).
        precision = resolve_mode("auto")
        eager = from_official(official, config, attn_implementation="eager").to(DTYPES[precision])
        label = f"hiera_hf compiled {'bf16 weights' if precision == 'bf16' else 'fp32'}, eager attention"
        peers.append(compiled_peer(label, eager, ours=True))
        fast = fast_model(copy.deepcopy(ours))
        peers.append(Peer("hiera_hf fast_model() (auto)", fast, ours=True, run=lambda m, x: m(x.to(m.dtype))))
        if not video and native_bf16:  # (its gain was measured in bf16; in fp32 each shape compiles for minutes)
            fast = fast_model(copy.deepcopy(ours), max_autotune=True)
            run = lambda m, x: m(x.to(m.dtype))  # noqa: E731
            peers.append(Peer("hiera_hf fast_model(max_autotune=True)", fast, ours=True, run=run))
    if not video:
        peers += int8_peers(args, ours, config, (args.batch_size, 1))
    else:  # (video: OpenVINO's routes only)
        example = example_input(config, 1)
        routes = openvino_routes(ours, example, [example])
        peers += [Peer(f"hiera_hf {name}", r, ours=True, run=lambda r, x: r(x)) for name, r in routes.items()]
    return peers


def int8_peers(args, ours, config, batch_sizes) -> list[Peer]:
    """The exported routes of our model as peers, calibrated on random input: ONNX Runtime's file and OpenVINO's once
    (dynamic batch axis; OpenVINO compiles a static copy per batch size itself), PT2E exported at each batch size
    it runs (static shapes) and picked by the input's."""
    examples = {batch_size: example_input(config, batch_size) for batch_size in batch_sizes}
    first = examples[batch_sizes[0]]
    routes = {ONNX_RUNTIME_INT8: onnx_runtime_int8_route(ours, first), **openvino_routes(ours, first, [first])}
    peers = [Peer(f"hiera_hf {name}", r, ours=True, run=lambda r, x: r(x)) for name, r in routes.items() if r]
    if not args.no_compile:
        by_batch = {size: pt2e_int8_route(ours, example, [example], static=True) for size, example in examples.items()}
        if all(by_batch.values()):
            peers.append(Peer(f"hiera_hf {PT2E_INT8}", by_batch, ours=True, run=lambda r, x: r[len(x)](x)))
    return peers


ONNX_RUNTIME_INT8 = "ONNX Runtime int8 (dynamic)"


def onnx_runtime_int8_route(model, example: torch.Tensor):
    """Our classifier exported and quantized to ONNX Runtime's dynamic int8 (the export's; a dynamic batch axis):
    `call(pixels) -> logits`, or None (said on stderr) without onnxruntime."""
    import tempfile

    try:
        from onnxruntime.quantization import QuantType
        from transformers.exporters import ExportFormat, OnnxExporter, OnnxRuntimeDynamicConfig, OnnxRuntimeQuantizer

        from hiera_hf.export import export_onnx, onnx_session
    except ImportError as error:
        print(f"no ONNX Runtime int8 ({error})", file=sys.stderr)
        return None
    # (two images: a dynamic axis exported from one would be specialised to 1)
    program = export_onnx(model, example[[0, -1]], "classification").program
    quantizer = OnnxRuntimeQuantizer(OnnxRuntimeDynamicConfig(weight_type=QuantType.QInt8))
    with tempfile.TemporaryDirectory(prefix="hiera-cpu-routes-") as folder:  # a session holds its model
        path = Path(folder) / "int8.onnx"
        OnnxExporter.save_program(quantizer.quantize(program, {"pixel_values": example}, ExportFormat.ONNX), path)
        session = onnx_session(path, threads=torch.get_num_threads())
    return lambda x: torch.from_numpy(session.run(None, {"pixel_values": x.numpy()})[0])


def exported_cpu_routes(model, example: torch.Tensor, calibration: list[torch.Tensor]) -> dict:
    """Our classifier through `transformers.exporters` on the CPU, `{name: call(pixels) -> logits}`, for each route
    whose packages are here (the others are named on stderr): `onnx_runtime_int8_route`, `pt2e_int8_route` and
    `openvino_routes`, calibrated on `calibration`, with a dynamic batch axis."""
    routes = {ONNX_RUNTIME_INT8: onnx_runtime_int8_route(model, example)}
    routes[PT2E_INT8] = pt2e_int8_route(model, example, calibration)
    routes.update(openvino_routes(model, example, calibration))
    return {name: route for name, route in routes.items() if route is not None}


# The ops PT2E and OpenVINO leave in floating point run in bf16 where the CPU computes it natively, else fp32.
PT2E_INT8 = "PT2E int8 compiled" + (", bf16 autocast" if resolve_mode("auto") == "bf16" else "")


def pt2e_int8_route(model, example: torch.Tensor, calibration: list[torch.Tensor], static: bool = False):
    """PT2E int8 (torchao's X86InductorQuantizer, static activations calibrated on `calibration`, through
    `DynamoExporter` and `PT2EQuantizer`) compiled by Inductor, with a dynamic batch axis or, with `static`, at
    `example`'s batch size: `call(pixels) -> logits`, or None (said on stderr) where it cannot run."""
    from transformers.exporters import DynamoConfig, DynamoExporter

    from hiera_hf.export import dynamic_shapes

    axes = None if static else dynamic_shapes(model.config, "classification")
    try:
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as x86
        from transformers.exporters import PT2EQuantizer

        x86_quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
        samples = [{"pixel_values": batch} for batch in calibration]
        config = DynamoConfig(dynamic_shapes=axes, quantizer=PT2EQuantizer(x86_quantizer, calibration_dataset=samples))
        exported = DynamoExporter().export(model, {"pixel_values": example}, config=config)
        autocast = resolve_mode("auto") == "bf16"
        run = functools.partial(_run_pt2e, torch.compile(exported.program.module()), autocast=autocast)
        run(example)  # compiles now: a route Inductor cannot lower is reported, not fatal
        return run
    except Exception as error:  # ImportError, or Inductor's lowering errors (printed: the report says why)
        print(f"no PT2E int8 ({type(error).__name__}: {str(error)[:300]})", file=sys.stderr)
        return None


def openvino_routes(model, example: torch.Tensor, calibration: list[torch.Tensor]) -> dict:
    """OpenVINO in floating point (`OpenVINOExporter`) and in int8 (`hiera_hf.fast_model(mode="int8")`, calibrated
    on `calibration`), both run by the package's OpenVINO forward (a static copy of the graph per batch size, split
    between throughput streams): `{name: call(pixels) -> logits}`, empty (said on stderr) without openvino/nncf."""
    import copy

    from hiera_hf import fast_model
    from hiera_hf.export import dynamic_shapes
    from hiera_hf.inference import OpenVINOClassifierForward

    try:
        import nncf  # noqa: F401
        from transformers.exporters import OpenVINOConfig, OpenVINOExporter
    except ImportError as error:
        print(f"no OpenVINO ({error})", file=sys.stderr)
        return {}
    precision = resolve_mode("auto")
    config = OpenVINOConfig(dynamic_shapes=dynamic_shapes(model.config, "classification"))
    with torch.no_grad():
        program = OpenVINOExporter().export(model, {"pixel_values": example[[0, -1]]}, config=config).program
    floating = OpenVINOClassifierForward(model, program, precision)
    int8 = fast_model(copy.deepcopy(model), mode="int8", calibration=torch.cat(calibration))
    return {f"OpenVINO {precision}": lambda x: floating(x).logits, OPENVINO_INT8: lambda x: int8(x).logits}


OPENVINO_INT8 = "OpenVINO int8 (NNCF): fast_model(mode='int8')"


def _run_pt2e(model, pixels, autocast: bool):
    # Inductor lowers the int8 weight prepacking only with freezing set globally (compile's options={"freezing"}
    # fails: "qlinear_prepack is not an OpOverload"), and not under inference mode: no_grad instead.
    import torch._inductor.config as inductor_config

    with torch.inference_mode(False), torch.no_grad(), inductor_config.patch(freezing=True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return model(pixel_values=pixels)


def cpu_best_section(args, video: bool) -> list[dict]:
    """`cpu_best_peers` at batch --batch-size and 1 (video: 1), interleaved in this process; then the profile of our
    fastest mode: the share of its time in the matrix multiplications (the GEMMs every implementation runs alike)."""
    config = make_config(args.arch, video, False, args.quick)
    name = preset_name(args.arch, video)
    peers = cpu_best_peers(args, video)

    def add_gemm_share(rows, make_call):
        # The profiler sees PyTorch's kernels only: the share is that of our fastest PyTorch mode.
        in_torch = [p for p in peers if p.ours and isinstance(p.model, torch.nn.Module)]
        fastest = min(in_torch, key=lambda p: statistics.median(p.times))
        with torch.inference_mode():
            rows[0]["gemm_fraction_of_our_best"] = gemm_fraction(make_call(fastest))
        rows[0]["our_best"] = fastest.name

    batch_sizes = (1,) if video else (args.batch_size, 1)
    rows = timed_batches(args, peers, config, batch_sizes, f"{name} CPU modes, {{metric}}", after=add_gemm_share)
    torch._dynamo.reset()
    return rows


def cpu_autotune_section(args) -> list[dict]:
    """Inductor's GEMM autotuning (`max_autotune`: its C++ GEMM templates timed against oneDNN per matrix shape)
    against its default, both frozen, in bf16 weights: ours through `fast_model`, and the two fastest peers of
    `cpu-best` (the built-in, timm); Hiera-B 224 at batch --batch-size and 1, interleaved. Every (model, shape)
    autotunes for about 90 s; the official model (the slowest compiled peer of `cpu-best`) is left out for that."""
    import copy

    from hiera_hf import fast_model

    config = make_config(args.arch, False, False, args.quick)
    name, official = preset_name(args.arch, False), official_from_config(config)
    ours = from_official(official, config)
    to_bf16 = lambda m, x: m(x.to(torch.bfloat16))  # noqa: E731
    peers = [
        Peer("hiera_hf fast_model()", fast_model(copy.deepcopy(ours), mode="bf16"), ours=True, run=to_bf16),
        Peer(
            "hiera_hf fast_model(max_autotune=True)",
            fast_model(copy.deepcopy(ours), mode="bf16", max_autotune=True),
            ours=True,
            run=to_bf16,
        ),
    ]
    bases = {"transformers built-in": builtin_from_ours(ours), "timm": timm_from_official(args.arch, config, official)}
    for peer_name, base in bases.items():
        bf16 = base.eval().to(torch.bfloat16)
        for label, max_autotune in (("compiled bf16 weights", False), ("compiled bf16 weights, max-autotune", True)):
            peers.append(compiled_peer(f"{peer_name} {label}", copy.deepcopy(bf16), max_autotune=max_autotune))
    section = f"{name} CPU compiled bf16, default vs max-autotune, {{metric}}"
    rows = timed_batches(args, peers, config, (args.batch_size, 1), section)
    for row in rows:
        row["dtype"] = "bf16 weights"
    torch._dynamo.reset()
    return rows


GEMM_KERNELS = ("linear", "addmm", "mm", "bmm", "matmul", "qlinear", "gemm")


def gemm_fraction(call) -> float:
    """The share of `call()`'s CPU time spent in matrix-multiplication kernels (torch.profiler, self time)."""
    from torch.profiler import ProfilerActivity, profile

    call()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(2):
            call()
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    gemms = sum(
        event.self_cpu_time_total
        for event in events
        if any(kernel in event.key.lower().split("::")[-1] for kernel in GEMM_KERNELS) and "attention" not in event.key
    )
    return gemms / total if total else 0.0


def deploy_section(args, video: bool) -> list[dict]:
    """ONNX Runtime fp32 and int8 (dynamic, as `python -m hiera_hf.export --int8` keeps on the trained demo model)
    against our PyTorch eager model and the PyTorch peers, CPU fp32, interleaved, at batch 8 and 1 (video: 1)."""
    import tempfile

    from onnxruntime.quantization import QuantType
    from transformers.exporters import ExportFormat, OnnxExporter, OnnxRuntimeDynamicConfig, OnnxRuntimeQuantizer

    from hiera_hf.export import export_onnx, onnx_session

    config = make_config(args.arch, video, False, args.quick)
    name, official = preset_name(args.arch, video), official_from_config(config)
    ours = from_official(official, config)
    peers = [Peer("hiera_hf PyTorch (SDPA)", ours, ours=True), Peer("official hiera", official.eval())]
    official.head.train()  # its head adds a softmax in eval mode; compare like for like
    if not video:
        peers.append(Peer("timm", timm_from_official(args.arch, config, official).eval()))
        peers.append(Peer("transformers built-in", builtin_from_ours(ours).eval()))
    frames = (config.num_frames,) if video else ()
    example = torch.randn(2, *frames, 3, *config.image_size)
    program = export_onnx(ours, example, "classification").program
    quantizer = OnnxRuntimeQuantizer(OnnxRuntimeDynamicConfig(weight_type=QuantType.QInt8))
    int8 = quantizer.quantize(program, {"pixel_values": example}, ExportFormat.ONNX)
    with tempfile.TemporaryDirectory(prefix="hiera-deploy-") as folder:  # a session holds its model once made
        for graph, label in ((program, "ONNX Runtime fp32"), (int8, "ONNX Runtime int8 (dynamic)")):
            OnnxExporter.save_program(graph, Path(folder) / f"{len(peers)}.onnx")
            session = onnx_session(Path(folder) / f"{len(peers)}.onnx", threads=torch.get_num_threads())
            run = lambda s, x: s.run(None, {"pixel_values": x.numpy()})  # noqa: E731
            peers.insert(1, Peer(label, session, ours=True, run=run))
    batch_sizes = (1,) if video else (args.batch_size, 1)
    return timed_batches(args, peers, config, batch_sizes, f"{name} deploy {{metric}} (CPU)")


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
        getattr(ours, "activation_checkpointing_enable", ours.gradient_checkpointing_enable)()  # the 5.23 name
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
        getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
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
    "hiera_hf decode_video alone, the same 16 frames": "decode_video(path, <those indices>): the processor's decoding",
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
            load_video_case = next(case for case in cases if case.startswith("transformers load_video"))
            reference = statistics.median(r["seconds"] for r in results[load_video_case])
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


def _is_ours(peers, name):
    return next(p for p in peers if p.name == name).ours


# ---- GPU: Hiera-B against ViT-B/16 and the Hiera peers ---------------------------------------------------------

HIERA_B_GFLOP = 18.75  # per 224x224 image: 9.4 GMACs (the paper's table; facebookresearch/hiera#40)


class Budget:
    """A wall-clock budget for the GPU section: a case that would start after it is skipped and reported."""

    def __init__(self, seconds: float | None):
        self.deadline = time.monotonic() + seconds if seconds else None
        self.skipped: list[str] = []

    def allows(self, case: str) -> bool:
        if self.deadline is None or time.monotonic() < self.deadline:
            return True
        self.skipped.append(case)
        return False


def matmul_peak_tflops(device, dtype, size: int = 8192) -> float:
    """The card's measured dense matrix-product rate: size^3 products on random data, median of 10 after 3."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    seconds = statistics.median(time_call(lambda: a @ b, device, 1) for _ in range(10))
    return 2 * size**3 / seconds / 1e12


def timm_vit_base(quick: bool):
    import timm

    torch.manual_seed(0)
    small = {"img_size": 64, "depth": 1, "embed_dim": 96, "num_heads": 2} if quick else {}
    return timm.create_model("vit_base_patch16_224", pretrained=False, **small).eval()


def image_peers(args, arch: str, full: bool) -> list[Peer]:
    """Hiera `arch` in every implementation, eager and (unless --no-compile) compiled; `full`: all peers compiled
    and ViT-B/16 (Transformers SDPA and timm) beside them, else ours and timm's compiled only."""
    config = make_config(arch, False, False, args.quick)
    official = official_from_config(config)
    ours = from_official(official, config)
    bases = {
        f"hiera_hf Hiera-{arch}": (ours, {"ours": True}),
        f"official Hiera-{arch}": (official, {}),
        f"timm Hiera-{arch}": (timm_from_official(arch, config, official), {}),
        f"transformers built-in Hiera-{arch}": (builtin_from_ours(ours), {}),
    }
    if full:
        bases["ViT-B/16 (transformers, SDPA)"] = (vit_base(args.quick), {"context": True})
        bases["ViT-B/16 (timm)"] = (timm_vit_base(args.quick), {"context": True})
    peers = []
    for name, (model, kinds) in bases.items():
        model = model.eval().to(args.device, DTYPES[args.dtype])
        if name.startswith("official"):
            model.head.train()  # its head adds a softmax in eval mode; compare like for like
        peers.append(Peer(f"{name} eager", model, **kinds))
        if not args.no_compile and (full or name.startswith(("hiera_hf", "timm"))):
            peers.append(Peer(f"{name} compiled", torch.compile(model), **kinds))
    return peers


def warm_or_drop(peers: list[Peer], make_call, failures: dict) -> list[Peer]:
    """Run each peer twice (compiling it); a peer that fails is reported in `failures`, not fatal."""
    kept = []
    for peer in peers:
        try:
            call = make_call(peer)
            for _ in range(2):
                call()
            kept.append(peer)
        except Exception as error:  # a compile or kernel error of one peer must not lose the whole run
            failures[peer.name] = f"{type(error).__name__}: {str(error)[:300]}"
    return kept


def kernel_profile(call, device, top: int = 12) -> list[dict]:
    """The kernels `call()` spends its time in (torch.profiler, self device time, 3 calls): name, ms per call,
    share of the total."""
    from torch.profiler import ProfilerActivity, profile

    activity = ProfilerActivity.CUDA if device.type == "cuda" else ProfilerActivity.CPU
    call()
    synchronize(device)
    with profile(activities=[activity]) as profiler:
        for _ in range(3):
            call()
        synchronize(device)
    attribute = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = [(event.key, getattr(event, attribute)) for event in profiler.key_averages()]
    total = sum(time for _, time in events) or 1.0
    events.sort(key=lambda event: -event[1])
    return [{"kernel": key[:90], "ms_per_call": time / 3 / 1e3, "share": time / total} for key, time in events[:top]]


def flops_per_image(model, pixels) -> float:
    """Floating-point operations of one forward pass on `pixels` (one image), as FlopCounterMode counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(pixels)
    return counter.get_total_flops()


def table_row(section: str, header: list[str], body: list[list]) -> dict:
    """A row the report prints as its own table (profiles, targets) and the plot leaves out."""
    return {"section": section, "table": {"header": header, "rows": body}}


def gpu_section(args, device, dtype, save: Callable[[list[dict]], None]) -> list[dict]:
    """Images in bf16 at --batch-size: Hiera-B (every peer eager and compiled, ViT-B/16 beside them), its kernel
    profile and ViT-B's, the card's matmul peak and the fraction of it Hiera-B reaches, a training step
    (AMP, AdamW) with its peak memory, video Hiera-B 16x224 at --video-batch-size, then the other --gpu-archs;
    cases past --time-budget are skipped and listed. `save(rows)` after each case: a run stopped by its time limit
    keeps what it measured."""
    budget, failures, rows = Budget(args.time_budget), {}, []
    unit = "images/s"

    def measure(peers, pixels, section, batch_size, unit=unit, layout=lambda peer, x: x):
        def make_call(peer):
            inputs = layout(peer, pixels)
            return (lambda: peer.run(peer.model, inputs)) if peer.run else (lambda: peer.model(inputs))

        with torch.inference_mode():
            peers = warm_or_drop(peers, make_call, failures)
            interleaved(peers, make_call, device, args.rounds, args.iterations, warmup=1)
        return peers, make_call, summarise(peers, section, batch_size, unit)

    def fastest(peers, predicate):
        chosen = [peer for peer in peers if predicate(peer)]
        return min(chosen, key=lambda peer: statistics.median(peer.times)) if chosen else None

    base = "base"  # the architecture the targets are about (--quick: its tiny depths)
    pixels = torch.randn(args.batch_size, 3, *make_config(base, False, False, args.quick).image_size)
    pixels = pixels.to(device, dtype)
    peers, make_call, section_rows = measure(
        image_peers(args, base, full=True), pixels, f"Hiera-{base} images", args.batch_size
    )
    rows += section_rows
    best = {
        label: fastest(peers, lambda peer, prefix=prefix: peer.name.startswith(prefix))
        for label, prefix in (
            ("hiera_hf", "hiera_hf"),
            ("ViT-B/16", "ViT-B/16"),
            ("timm Hiera", "timm"),
            ("built-in", "transformers built-in"),
            ("official", "official"),
        )
    }
    rate = {label: args.batch_size / statistics.median(peer.times) for label, peer in best.items() if peer}
    targets = [("ViT-B/16", 1.5), ("timm Hiera", 1.3), ("built-in", 2.0), ("official", None)]
    if "hiera_hf" in rate:
        body = []
        for label, goal in targets:
            if label in rate:
                ratio = rate["hiera_hf"] / rate[label]
                status = "" if goal is None else ("met" if ratio >= goal else "**missed**")
                goal_text = "" if goal is None else f">= {goal}x"
                body.append(
                    [f"hiera_hf best vs {label} best ({best[label].name})", f"{ratio:.2f}x", goal_text, status]
                )
        rows.append(
            table_row(f"Hiera-{base} targets (best of eager and compiled each)", ["case", "ratio", "target", ""], body)
        )
        for label in ("hiera_hf", "ViT-B/16"):
            if best[label] is not None:
                kernels = kernel_profile(make_call(best[label]), device)
                body = [[k["kernel"], f"{k['ms_per_call']:.2f}", f"{k['share']:.0%}"] for k in kernels]
                title = f"kernel profile: {best[label].name}, batch {args.batch_size}"
                rows.append(table_row(title, ["kernel", "ms per call", "share"], body))
    best_candidates = peers
    save(rows)

    if budget.allows("matmul peak"):
        size = 512 if args.quick else 8192
        peak = matmul_peak_tflops(device, dtype, size)
        body = [[f"measured {args.dtype} matrix-product peak ({size}^3, random data)", f"{peak:.1f} TFLOP/s"]]
        if "hiera_hf" in rate:
            eager = next(peer for peer in best_candidates if peer.ours and peer.name.endswith("eager"))
            counted = flops_per_image(eager.model, pixels[:1]) / 1e9
            for label, gflop in ((f"{HIERA_B_GFLOP} GFLOP per image (9.4 GMACs)", HIERA_B_GFLOP),
                                 (f"{counted:.2f} GFLOP per image (counted, FlopCounterMode)", counted)):  # fmt: skip
                achieved = rate["hiera_hf"] * gflop / 1e3
                body += [
                    [f"Hiera-{base} at {rate['hiera_hf']:.0f} images/s x {label}", f"{achieved:.1f} TFLOP/s"],
                    ["fraction of the measured peak", f"{achieved / peak:.1%}"],
                ]
        rows.append(table_row("matmul peak", ["", ""], body))
        save(rows)
    del best_candidates, peers, make_call
    gc.collect()

    if budget.allows("training step"):
        rows += gpu_training(args, device, base)
        save(rows)

    if budget.allows("video Hiera-B 16x224"):
        config = make_config(base, True, False, args.quick)
        official = official_from_config(config)
        ours = from_official(official, config).eval().to(device, dtype)
        official = official.eval().to(device, dtype)
        official.head.train()
        video_peers = [Peer("hiera_hf eager", ours, ours=True), Peer("official eager", official)]
        if not args.no_compile:
            video_peers.insert(1, Peer("hiera_hf compiled", torch.compile(ours), ours=True))
        clips = torch.randn(args.video_batch_size, 3, *config.input_size, device=device, dtype=dtype)
        _, _, section_rows = measure(
            video_peers, clips, f"Hiera-{base} 16x224 video", args.video_batch_size, "clips/s",
            layout=lambda peer, x: x.transpose(1, 2) if peer.ours else x,
        )  # fmt: skip
        rows += section_rows
        save(rows)
        del video_peers, ours, official
        gc.collect()

    for arch in args.gpu_archs:
        if arch == base or not budget.allows(f"Hiera-{arch} images"):
            continue
        pixels = torch.randn(args.batch_size, 3, *make_config(arch, False, False, args.quick).image_size)
        _, _, section_rows = measure(
            image_peers(args, arch, full=False), pixels.to(device, dtype), f"Hiera-{arch} images", args.batch_size
        )
        rows += section_rows
        save(rows)
        gc.collect()
    torch._dynamo.reset()
    if failures or budget.skipped:
        body = [[name, error] for name, error in failures.items()]
        body += [[case, "skipped: past --time-budget"] for case in budget.skipped]
        rows.append(table_row("peers that did not run", ["peer or case", "why"], body))
    return rows


def gpu_training(args, device, arch: str) -> list[dict]:
    """A training step (forward and backward under bf16 autocast, fp32 weights, AdamW) at --train-batch-size,
    interleaved, and each peer's peak memory over one step above its weights, gradients and AdamW state."""
    config = make_config(arch, False, False, args.quick)
    official = official_from_config(config)
    ours = from_official(official, config)
    models = {
        "hiera_hf": ours,
        "official": official,
        "timm": timm_from_official(arch, config, official),
        "transformers built-in": builtin_from_ours(ours),
    }
    pixels = torch.randn(args.train_batch_size, 3, *config.image_size, device=device)
    labels = torch.randint(0, 1000, (args.train_batch_size,), device=device)
    peers, steps = [], {}
    for name, model in models.items():
        model = model.to(device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step(model=model, optimizer=optimizer):
            with torch.autocast(device.type, dtype=torch.bfloat16):
                output = model(pixels)
            logits = output.logits if hasattr(output, "logits") else output
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            optimizer.zero_grad(set_to_none=False)  # gradients stay allocated: the peak is the step's own
            loss.backward()
            optimizer.step()

        step()  # allocates the gradients and the AdamW state
        peers.append(Peer(f"{name} Hiera-{arch}", model, ours=name == "hiera_hf"))
        steps[peers[-1].name] = step
    memory = {}
    for peer in peers:
        synchronize(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            steps[peer.name]()
            memory[peer.name] = (torch.cuda.max_memory_allocated() - before) / 2**20
        else:
            memory[peer.name] = float("nan")  # CPU: the training section measures memory in fresh processes
    interleaved(peers, lambda peer: steps[peer.name], device, args.rounds, 1, warmup=1)
    rows = summarise(peers, f"Hiera-{arch} training step (bf16 autocast, AdamW)", args.train_batch_size, "images/s")
    for row in rows:
        row["memory_MB"] = memory[row["peer"]]
        row["memory_batch"] = args.train_batch_size
    return rows


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
    if device.type == "cuda":
        import subprocess

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
            table = section_rows[0]["table"]
            lines += [f"## {section}", "", "| " + " | ".join(table["header"]) + " |"]
            lines += ["|" + "---|" * len(table["header"])]
            lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in table["rows"]] + [""]
            continue
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
        modes = "gemm_fraction_of_our_best" in section_rows[0]  # cpu-best: the dtype is in each peer's name
        dtype = section_rows[0].get("dtype") or ("modes as named" if modes else env["dtype"])
        lines += [f"## {section} (batch {section_rows[0]['batch']}, {dtype})", ""]
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
        lines.append("")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sections = list(dict.fromkeys(row["section"] for row in rows if "table" not in row))
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
    parser.add_argument(
        "--video-input-seconds",
        default=None,
        help="clip lengths of the video-input section (10,30,90,180; --quick: 3,6)",
    )
    parser.add_argument(
        "--full-decode-max", type=float, default=90, help="video input: longest clip to decode in full (memory!)"
    )
    parser.add_argument("--video-input-worker", nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--gpu-archs", default="tiny,base,large", help="architectures of the gpu section's images")
    parser.add_argument("--time-budget", type=float, default=None, help="gpu section: seconds, then skip the rest")
    args = parser.parse_args(argv)
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
    if args.memory_worker:
        print(json.dumps(memory_worker(args, args.memory_worker)))
        return 0
    if args.video_input_worker:
        print(json.dumps(video_input_worker(*args.video_input_worker)))
        return 0
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    kinds = {"yes": [True], "no": [False], "both": [False, True]}[args.video]

    env = environment(args, device)
    output = Path(args.output_dir)
    stem = args.name or f"{args.device}_{args.dtype}_{args.arch}" + ("_quick" if args.quick else "")

    def save(rows: list[dict]) -> str:
        output.mkdir(parents=True, exist_ok=True)
        report = markdown(rows, env)
        (output / f"{stem}.md").write_text(report)
        (output / f"{stem}.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=2))
        plot(rows, output / f"{stem}.png")
        return report

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

    print(save(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
