# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The fastest correct inference for a Hiera model on this machine, in one step:

    model = hiera_hf.fast_model("folder-or-hub-id")  # a HieraFor... model: call it, or give it to pipeline(...)

`mode="auto"` runs in bfloat16 where the CPU computes bfloat16 natively (AMX or AVX512-BF16: 2.8-4.6x fp32 on the
CPUs measured) and in float32 elsewhere (without them bf16 ran at 0.63x fp32 on an Intel Xeon, 0.13x on an
AVX2-only EPYC); on a GPU, bfloat16.
`compile=True` compiles the forward with Inductor and its `freezing` (weights folded into the graph as constants,
so bias and GELU fuse into oneDNN's packed GEMMs: 1.3x compiling without it in bf16 on CPU; the first call of each
input shape compiles, about 20 s for Hiera-B). The measurements and the modes that lose here are in
benchmarks/README.md; on a CPU without native bf16, `hiera_hf.export`'s ONNX Runtime int8 ran 1.3x this fp32 model.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

MODES = ("auto", "bf16", "fp32")
RECOMPILE_LIMIT = 64  # compiled (model, input shape) pairs per process that fast_model keeps


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (AMX-BF16 or AVX512-BF16)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    cpu = getattr(torch._C, "_cpu", None)
    if cpu is not None and all(hasattr(cpu, probe) for probe in probes):
        return any(getattr(cpu, probe)() for probe in probes)
    try:  # (older torch: the kernel's flags)
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return False
    return bool({"amx_bf16", "avx512_bf16"} & set(flags.split()))


def resolve_mode(mode: str, device: str | torch.device = "cpu") -> str:
    """Return "bf16" or "fp32" for `mode` on `device` (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
    if mode != "auto":
        return mode
    if torch.device(device).type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def fast_model(
    model, mode: str = "auto", compile: bool = True, device: str | torch.device = "cpu", max_autotune: bool = False
):
    """`model` (a loaded Hiera model, or a folder or Hub id, ours or in the official layout) in eval
    mode, in the dtype `mode` chooses, its forward compiled when `compile` (it stays a `HieraFor...` model:
    pipelines, `.config`, saving all work). Run it under `torch.inference_mode()` or `no_grad` (pipelines do):
    freezing applies to calls without gradients, and reads the weights once: reload rather than change them.

    `max_autotune=True` also lets Inductor time its own C++ GEMM kernels against oneDNN's for each matrix shape and
    keep the faster: Hiera-B bf16 on an AMX CPU 1.05x at batch 8 and 1.18x at batch 1, but each new input shape
    then compiles in about 90 s instead of 20 s (benchmarks/README.md)."""
    from .configuration_hiera import HieraConfig
    from .modeling_hiera import hiera_class_for, saved_task

    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[resolve_mode(mode, device)]
    if isinstance(model, (str, Path)) and str(model).endswith(".pth"):  # (no config beside it to pick the class)
        raise ValueError(
            f"fast_model reads folders and Hub ids; for the official checkpoint {str(model)!r} load the model first, "
            "e.g. fast_model(HieraForImageClassification.from_pretrained(path))."
        )
    if isinstance(model, (str, Path)):
        config = HieraConfig.from_pretrained(model)
        model = hiera_class_for(config, saved_task(config)).from_pretrained(model, dtype=dtype)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"fast_model takes a Hiera model, or a folder or Hub id, got {type(model).__name__}.")
    model = model.to(device=device, dtype=dtype).eval()
    if compile:
        model.forward = frozen_compiled(model.forward, max_autotune=max_autotune)
    return model


def frozen_compiled(function, max_autotune: bool = False):
    """`torch.compile(function)` run with Inductor's freezing (and its GEMM autotuning, when `max_autotune`). The
    flags must be set while Dynamo traces, which reads freezing to lift the parameters as constants:
    `compile(options={"freezing": True})` leaves the weights unfrozen (pytorch/pytorch#139272; Linear stays `addmm`
    with a bias copy, 1.3x slower in bf16 on CPU)."""
    import torch._dynamo.config as dynamo_config
    import torch._inductor.config as inductor_config

    # Static shapes: a second input shape would otherwise recompile with a dynamic batch, and Inductor packs fp32
    # Linear into MKL only at a known batch size. Each new shape compiles once.
    compiled = torch.compile(function, dynamic=False)
    flags = {"freezing": True}
    if max_autotune:  # (ATen: oneDNN's kernels stay among the candidates)
        flags.update(max_autotune=True, max_autotune_gemm_backends="CPP,ATEN")

    @functools.wraps(function)
    def call(*args, **kwargs):
        # Every model's forward runs through one code object (Transformers' output-capturing wrapper), whose Dynamo
        # cache holds 8 entries by default: a few models and shapes later, calls would silently run eagerly.
        with inductor_config.patch(**flags), dynamo_config.patch(recompile_limit=RECOMPILE_LIMIT):
            return compiled(*args, **kwargs)

    return call


__all__ = ["MODES", "cpu_has_native_bf16", "fast_model", "frozen_compiled", "resolve_mode"]
