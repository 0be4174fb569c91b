# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections gpu` (for `--device cuda --dtype bf16`; `benchmarks/gpu_check.sh` runs it): Hiera-B images at
--batch-size in every implementation, eager and compiled, beside ViT-B/16 (Transformers SDPA, timm), checked
against `GPU_TARGETS`; the kernel profiles of our best and ViT-B's best; the card's measured matmul peak and the
fraction of it Hiera-B reaches; a training step with its peak memory; video Hiera-B against the official; then the
other --gpu-archs. Cases past --time-budget are skipped and listed."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

import torch

from benchmarks.common import (
    DTYPES,
    Peer,
    Target,
    builtin_from_ours,
    calling,
    interleaved,
    make_config,
    official_from_config,
    summarise,
    synchronize,
    table_row,
    time_call,
    timm_from_official,
    vit_base,
)
from hiera_hf.parity import from_official

BASE = "base"  # the architecture the targets are about (--quick: its tiny depths)
OURS = "hiera_hf"  # our peers' names start with this
HIERA_B_GFLOP = 18.75  # per 224x224 image: 9.4 GMACs (the paper's table; facebookresearch/hiera#40)

# Our best images/s (eager or compiled) over the best of the peers whose names start with `compared`.
GPU_TARGETS = (
    Target("ViT-B/16", compared="ViT-B/16", threshold=1.5),
    Target("timm Hiera", compared="timm", threshold=1.3),
    Target("built-in", compared="transformers built-in", threshold=2.0),
    Target("official", compared="official", threshold=None),
)


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


def gpu_section(args, device, dtype, save: Callable[[list[dict]], None]) -> list[dict]:
    """Every case in turn; `save(rows)` after each: a run stopped by its time limit keeps what it measured. A peer
    that fails to compile or run is listed, not fatal."""
    budget, failures = Budget(args.time_budget), {}
    rows = base_images(args, device, dtype, budget, failures, save)
    gc.collect()  # (the base images' models are gone with base_images' frame)
    if budget.allows("training step"):
        rows += gpu_training(args, device, BASE)
        save(rows)
    if budget.allows("video Hiera-B 16x224"):
        rows += gpu_video(args, device, dtype, failures)
        save(rows)
        gc.collect()
    for arch in args.gpu_archs:
        if arch == BASE or not budget.allows(f"Hiera-{arch} images"):
            continue
        pixels = torch.randn(args.batch_size, 3, *make_config(arch, False, False, args.quick).image_size)
        peers = image_peers(args, arch, full=False)
        rows += measure(args, device, failures, peers, pixels.to(device, dtype), f"Hiera-{arch} images")[2]
        save(rows)
        gc.collect()
    torch._dynamo.reset()
    if failures or budget.skipped:
        body = [[name, error] for name, error in failures.items()]
        body += [[case, "skipped: past --time-budget"] for case in budget.skipped]
        rows.append(table_row("peers that did not run", ["peer or case", "why"], body))
    return rows


def measure(args, device, failures, peers, pixels, section, unit="images/s", layout=lambda peer, x: x):
    """Warm `peers` up (dropping those that fail into `failures`), time them interleaved in inference mode on
    `layout(peer, pixels)`: (the peers kept, their `make_call`, the rows)."""

    def make_call(peer):
        return calling(peer, layout(peer, pixels))

    with torch.inference_mode():
        peers = warm_or_drop(peers, make_call, failures)
        interleaved(peers, make_call, device, args.rounds, args.iterations, warmup=1)
    return peers, make_call, summarise(peers, section, len(pixels), unit)


def base_images(args, device, dtype, budget, failures, save) -> list[dict]:
    """Hiera-B images in every implementation, the targets, the kernel profiles, then the matmul peak."""
    pixels = torch.randn(args.batch_size, 3, *make_config(BASE, False, False, args.quick).image_size)
    pixels = pixels.to(device, dtype)
    peers, make_call, rows = measure(
        args, device, failures, image_peers(args, BASE, full=True), pixels, f"Hiera-{BASE} images"
    )
    best = {prefix: fastest(peers, prefix) for prefix in (OURS, *(target.compared for target in GPU_TARGETS))}
    rate = {prefix: args.batch_size / statistics.median(peer.times) for prefix, peer in best.items() if peer}
    if OURS in rate:
        rows.append(target_row(best, rate))
        for prefix in (OURS, "ViT-B/16"):
            if best[prefix] is not None:
                kernels = kernel_profile(make_call(best[prefix]), device)
                body = [[k["kernel"], f"{k['ms_per_call']:.2f}", f"{k['share']:.0%}"] for k in kernels]
                title = f"kernel profile: {best[prefix].name}, batch {args.batch_size}"
                rows.append(table_row(title, ["kernel", "ms per call", "share"], body))
    save(rows)
    if budget.allows("matmul peak"):
        eager = next((peer for peer in peers if peer.ours and peer.name.endswith("eager")), None)
        rows.append(matmul_peak_row(args, device, dtype, rate.get(OURS), eager, pixels[:1]))
        save(rows)
    return rows


def fastest(peers: list[Peer], prefix: str) -> Peer | None:
    """The fastest of the peers whose names start with `prefix` (eager or compiled), or None."""
    chosen = [peer for peer in peers if peer.name.startswith(prefix)]
    return min(chosen, key=lambda peer: statistics.median(peer.times)) if chosen else None


def target_row(best: dict[str, Peer | None], rate: dict[str, float]) -> dict:
    """`GPU_TARGETS` checked: our best rate over each compared peer's best, the target, met or missed."""
    body = []
    for target in GPU_TARGETS:
        if target.compared in rate:
            ratio = rate[OURS] / rate[target.compared]
            case = f"hiera_hf best vs {target.name} best ({best[target.compared].name})"
            body.append([case, f"{ratio:.2f}x", target.goal(), target.status(ratio)])
    section = f"Hiera-{BASE} targets (best of eager and compiled each)"
    return table_row(section, ["case", "ratio", "target", ""], body)


def matmul_peak_row(args, device, dtype, ours_rate: float | None, eager: Peer | None, image) -> dict:
    """The card's matmul peak and, with our rate, the fraction of it Hiera-B reaches (at the paper's FLOPs per
    image and at those FlopCounterMode counts on our eager model)."""
    size = 512 if args.quick else 8192
    peak = matmul_peak_tflops(device, dtype, size)
    body = [[f"measured {args.dtype} matrix-product peak ({size}^3, random data)", f"{peak:.1f} TFLOP/s"]]
    if ours_rate is not None:
        counted = flops_per_image(eager.model, image) / 1e9
        for label, gflop in ((f"{HIERA_B_GFLOP} GFLOP per image (9.4 GMACs)", HIERA_B_GFLOP),
                             (f"{counted:.2f} GFLOP per image (counted, FlopCounterMode)", counted)):  # fmt: skip
            achieved = ours_rate * gflop / 1e3
            body += [
                [f"Hiera-{BASE} at {ours_rate:.0f} images/s x {label}", f"{achieved:.1f} TFLOP/s"],
                ["fraction of the measured peak", f"{achieved / peak:.1%}"],
            ]
    return table_row("matmul peak", ["", ""], body)


def gpu_video(args, device, dtype, failures) -> list[dict]:
    """Video Hiera-B 16x224 at --video-batch-size: ours eager and compiled against the official."""
    config = make_config(BASE, True, False, args.quick)
    official = official_from_config(config)
    ours = from_official(official, config).eval().to(device, dtype)
    official = official.eval().to(device, dtype)
    official.head.train()  # its head adds a softmax in eval mode; compare like for like
    peers = [Peer("hiera_hf eager", ours, ours=True), Peer("official eager", official)]
    if not args.no_compile:
        peers.insert(1, Peer("hiera_hf compiled", torch.compile(ours), ours=True))
    clips = torch.randn(args.video_batch_size, 3, *config.input_size, device=device, dtype=dtype)
    layout = lambda peer, x: x.transpose(1, 2) if peer.ours else x  # noqa: E731
    return measure(args, device, failures, peers, clips, f"Hiera-{BASE} 16x224 video", "clips/s", layout)[2]


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
        peers.append(Peer(f"{name} Hiera-{arch}", model.to(device).train(), ours=name == "hiera_hf"))
        steps[peers[-1].name] = training_step(peers[-1].model, pixels, labels, device)
        steps[peers[-1].name]()  # allocates the gradients and the AdamW state
    memory = {peer.name: step_memory_MB(steps[peer.name], device) for peer in peers}
    interleaved(peers, lambda peer: steps[peer.name], device, args.rounds, 1, warmup=1)
    rows = summarise(peers, f"Hiera-{arch} training step (bf16 autocast, AdamW)", args.train_batch_size, "images/s")
    for row in rows:
        row["memory_MB"] = memory[row["peer"]]
        row["memory_batch"] = args.train_batch_size
    return rows


def training_step(model, pixels, labels, device) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16):
            output = model(pixels)
        logits = output.logits if hasattr(output, "logits") else output
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        optimizer.zero_grad(set_to_none=False)  # gradients stay allocated: the peak is the step's own
        loss.backward()
        optimizer.step()

    return step


def step_memory_MB(step, device) -> float:
    """The peak CUDA memory `step()` allocates above what exists before it; NaN on the CPU (the training section
    measures memory in fresh processes)."""
    synchronize(device)
    if device.type != "cuda":
        return float("nan")
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    step()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


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
