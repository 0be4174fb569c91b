# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The fastest correct inference for a Hiera model on this machine, in one step:

    model = hiera_hf.fast_model("folder-or-hub-id")  # a HieraFor... model: call it, or give it to pipeline(...)

`mode="auto"` runs in bfloat16 where the CPU computes bfloat16 natively (AMX or AVX512-BF16: 2.8-4.6x fp32 on the
CPUs measured) and in float32 elsewhere (on a CPU without them bf16 ran at 0.63x fp32); on a GPU, bfloat16.
`compile=True` compiles the model in place with Inductor and its `freezing` option (weights folded into the
graph as constants: another 1.3-1.7x in bf16 on CPU; the first call of each input shape compiles, about 20 s for
Hiera-B). The measurements and the modes that lose here (int8) are in benchmarks/README.md.
"""

from __future__ import annotations

from pathlib import Path

import torch

MODES = ("auto", "bf16", "fp32")


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


def fast_model(model, mode: str = "auto", compile: bool = True, device: str | torch.device = "cpu"):
    """`model` (a loaded Hiera model, or a folder, Hub id or official layout its saved class loads from) in eval
    mode, in the dtype `mode` chooses, compiled in place when `compile` (so it stays a `HieraFor...` model:
    pipelines, `.config`, saving all work). Run it under `torch.inference_mode()` (pipelines do): Inductor's
    freezing applies to calls without gradients."""
    from .configuration_hiera import HieraConfig
    from .modeling_hiera import hiera_class_for, saved_task

    dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[resolve_mode(mode, device)]
    if isinstance(model, (str, Path)):
        config = HieraConfig.from_pretrained(model)
        model = hiera_class_for(config, saved_task(config)).from_pretrained(model, dtype=dtype)
    model = model.to(device=device, dtype=dtype).eval()
    if compile:
        model.compile(options={"freezing": True})
    return model


__all__ = ["MODES", "cpu_has_native_bf16", "fast_model", "resolve_mode"]
