# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections cpu-best`: every peer at each of its CPU modes (fp32, bf16 autocast, bf16 weights, compiled fp32 and
bf16 with Inductor's freezing), ours also through `hiera_hf.fast_model` and the exported int8 and OpenVINO routes;
then the share of our fastest PyTorch mode's time spent in the matrix multiplications."""

from __future__ import annotations

import copy
import statistics

import torch

from benchmarks import common  # the peers' models: common.make_config, common.timm_from_official, ...
from benchmarks.common import DTYPES, Peer, timed_batches
from benchmarks.cpu_routes import (
    ONNX_RUNTIME_INT8,
    PT2E_INT8,
    call_with,
    compiled_peer,
    onnx_runtime_int8_route,
    openvino_routes,
    pt2e_int8_route,
)
from hiera_hf.export import example_input
from hiera_hf.inference import resolve_mode
from hiera_hf.parity import from_official

# Image peers also compiled with Inductor's GEMM autotuning (its gain: section cpu-autotune, benchmarks/README.md):
# the fastest peers and ours. The official model, the slowest compiled, is left out (autotuning takes long a shape).
AUTOTUNED_PEERS = ("timm", "transformers built-in")
GEMM_KERNELS = ("linear", "addmm", "mm", "bmm", "matmul", "qlinear", "gemm")


def cpu_best_section(args, video: bool) -> list[dict]:
    """`cpu_best_peers` at batch --batch-size and 1 (video: 1), interleaved in this process; then the profile of our
    fastest mode: the share of its time in the matrix multiplications (the GEMMs every implementation runs alike)."""
    config = common.make_config(args.arch, video, False, args.quick)
    name = common.preset_name(args.arch, video)
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


def cpu_best_peers(args, video: bool) -> list[Peer]:
    """Every peer at each mode it runs (`mode_peers`); ours also through `hiera_hf.fast_model` (`fast_model_peers`),
    and the int8 and OpenVINO routes of `int8_peers` (video: OpenVINO's only)."""
    from hiera_hf.inference import cpu_has_native_bf16

    config = common.make_config(args.arch, video, False, args.quick)
    official = common.official_from_config(config)
    ours = from_official(official, config)
    official.head.train()  # its head adds a softmax in eval mode; compare like for like
    bases = {"hiera_hf": ours, "official hiera": official}
    if not video:
        bases["timm"] = common.timm_from_official(args.arch, config, official).eval()
        bases["transformers built-in"] = common.builtin_from_ours(ours).eval()
        bases["ViT-B/16 (transformers, SDPA)"] = common.vit_base(args.quick)
    native_bf16 = cpu_has_native_bf16()
    peers = [peer for name, base in bases.items() for peer in mode_peers(args, name, base, video, native_bf16)]
    if not args.no_compile:
        peers += fast_model_peers(official, config, ours, video, native_bf16)
    if not video:
        peers += int8_peers(args, ours, config, (args.batch_size, 1))
    else:
        example = example_input(config, 1)
        routes = openvino_routes(ours, example, [example])
        peers += [Peer(f"hiera_hf {name}", r, ours=True, run=lambda r, x: r(x)) for name, r in routes.items()]
    return peers


def mode_peers(args, name: str, base, video: bool, native_bf16: bool) -> list[Peer]:
    """`base` in fp32 eager, bf16 autocast, bf16 weights (`dtype=`), and compiled with Inductor's freezing in fp32
    and bf16 (images: `AUTOTUNED_PEERS` also with max-autotune). On a CPU without native bf16 only ours runs the bf16
    modes, as the evidence that they lose there (emulated bf16; each peer's would take minutes and lose alike)."""
    kinds = {"ours": name == "hiera_hf", "context": name.startswith("ViT")}
    bf16 = copy.deepcopy(base).to(torch.bfloat16)
    with_bf16 = native_bf16 or kinds["ours"]
    peers = [Peer(f"{name} fp32", base, **kinds)]
    if native_bf16:
        peers.append(Peer(f"{name} bf16 autocast", base, run=lambda m, x: call_with(m, True)(x), **kinds))
    if with_bf16:
        peers.append(Peer(f"{name} bf16 weights", bf16, run=lambda m, x: m(x.to(torch.bfloat16)), **kinds))
    if not args.no_compile:  # Inductor with freezing, as fast_model compiles
        peers.append(compiled_peer(f"{name} compiled fp32", copy.deepcopy(base), **kinds))
        if with_bf16:
            peers.append(compiled_peer(f"{name} compiled bf16 weights", copy.deepcopy(bf16), **kinds))
        if name in AUTOTUNED_PEERS and not video and native_bf16:
            label = f"{name} compiled bf16 weights, max-autotune"
            peers.append(compiled_peer(label, copy.deepcopy(bf16), max_autotune=True, **kinds))
    return peers


def fast_model_peers(official, config, ours, video: bool, native_bf16: bool) -> list[Peer]:
    """Ours compiled with eager attention, and through `fast_model` (its auto choice; images with native bf16: also
    with `max_autotune=True`)."""
    from hiera_hf import fast_model

    # Inductor fuses the math path's softmax; the CPU flash kernel is one opaque call (compare the two).
    precision = resolve_mode("auto")
    eager = from_official(official, config, attn_implementation="eager").to(DTYPES[precision])
    label = f"hiera_hf compiled {'bf16 weights' if precision == 'bf16' else 'fp32'}, eager attention"
    run = lambda m, x: m(x.to(m.dtype))  # noqa: E731
    peers = [compiled_peer(label, eager, ours=True)]
    peers.append(Peer("hiera_hf fast_model() (auto)", fast_model(copy.deepcopy(ours)), ours=True, run=run))
    if not video and native_bf16:  # (its gain was measured in bf16; in fp32 each shape compiles for minutes)
        fast = fast_model(copy.deepcopy(ours), max_autotune=True)
        peers.append(Peer("hiera_hf fast_model(max_autotune=True)", fast, ours=True, run=run))
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
