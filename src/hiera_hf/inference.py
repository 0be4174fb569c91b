# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The fastest correct inference for a Hiera model on this machine, in one step:

    model = hiera_hf.fast_model("folder-or-hub-id")  # a HieraFor... model: call it, or give it to pipeline(...)
    model = hiera_hf.fast_model("folder", mode="int8", calibration="train-images/")  # OpenVINO int8 (classifiers)

`mode="auto"` runs in bfloat16 where the CPU computes bfloat16 natively (AMX or AVX512-BF16: 2.8-4.6x fp32 on the
CPUs measured) and in float32 elsewhere (without them bf16 ran at 0.63x fp32 on an Intel Xeon, 0.13x on an
AVX2-only EPYC); on a GPU, bfloat16.
`compile=True` compiles the forward with Inductor and its `freezing` (weights folded into the graph as constants,
so bias and GELU fuse into oneDNN's packed GEMMs: 1.3x compiling without it in bf16 on CPU; the first call of each
input shape compiles, about 20 s for Hiera-B).
`mode="int8"` quantizes a classifier's weights and activations to int8 (NNCF, calibrated on `calibration`) and runs
it on OpenVINO (`pip install openvino nncf`): the fastest mode on CPUs with int8 dot-product instructions (VNNI or
AMX), 1.7x the fastest peer's best on an AVX512-BF16/VNNI EPYC. The measurements and the modes that lose here are in
benchmarks/README.md.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from pathlib import Path

import torch

MODES = ("auto", "bf16", "fp32", "int8")
RECOMPILE_LIMIT = 64  # compiled (model, input shape) pairs per process that fast_model keeps
INT8_MIN_AGREEMENT = 0.99  # top-1 agreement with fp32 below which mode="int8" warns
INT8_CHECKED_INPUTS = 256  # calibration inputs on which that agreement is measured


def _cpu_has(probes: tuple[str, ...], flags: set[str]) -> bool:
    """Whether torch's CPU probes (or, in older torch, the kernel's `flags`) report any of these features."""
    cpu = getattr(torch._C, "_cpu", None)
    if cpu is not None and all(hasattr(cpu, probe) for probe in probes):
        return any(getattr(cpu, probe)() for probe in probes)
    try:
        line = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return False
    return bool(flags & set(line.split()))


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (AMX-BF16 or AVX512-BF16)."""
    return _cpu_has(("_is_amx_tile_supported", "_is_avx512_bf16_supported"), {"amx_bf16", "avx512_bf16"})


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Xeon since Sapphire Rapids)."""
    return _cpu_has(("_is_amx_tile_supported",), {"amx_tile"})


def resolve_mode(mode: str, device: str | torch.device = "cpu") -> str:
    """Return "bf16", "fp32" or "int8" for `mode` on `device` (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}.")
    if mode != "auto":
        return mode
    if torch.device(device).type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def fast_model(
    model,
    mode: str = "auto",
    compile: bool = True,
    device: str | torch.device = "cpu",
    max_autotune: bool = False,
    calibration=None,
):
    """`model` (a loaded Hiera model, or a folder or Hub id, ours or in the official layout) in eval
    mode, in the dtype `mode` chooses, its forward compiled when `compile` (it stays a `HieraFor...` model:
    pipelines, `.config`, saving all work). Run it under `torch.inference_mode()` or `no_grad` (pipelines do):
    freezing applies to calls without gradients, and reads the weights once: reload rather than change them.

    `max_autotune=True` also lets Inductor time its own C++ GEMM kernels against oneDNN's for each matrix shape and
    keep the faster: Hiera-B bf16 on an AMX CPU 1.05x at batch 8 and 1.18x at batch 1, but each new input shape
    then compiles in about 90 s instead of 20 s (benchmarks/README.md).

    `mode="int8"` (classifiers, CPU): `openvino_int8`, calibrated on `calibration` (a folder of images or videos,
    processed by the model folder's processor, or a `pixel_values` tensor of a few hundred inputs)."""
    from .modeling_hiera import load_saved

    mode = resolve_mode(mode, device)
    dtype = torch.bfloat16 if mode == "bf16" else torch.float32
    if isinstance(model, (str, Path)) and str(model).endswith(".pth"):  # (no config beside it to pick the class)
        raise ValueError(
            f"fast_model reads folders and Hub ids; for the official checkpoint {str(model)!r} load the model first, "
            "e.g. fast_model(HieraForImageClassification.from_pretrained(path))."
        )
    source = None
    if isinstance(model, (str, Path)):
        source = str(model)
        model = load_saved(model, dtype=dtype)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"fast_model takes a Hiera model, or a folder or Hub id, got {type(model).__name__}.")
    if mode == "int8":
        return openvino_int8(model, calibration, device=device, processor_source=source)
    model = model.to(device=device, dtype=dtype).eval()
    if compile:
        attention = getattr(getattr(model, "config", None), "_attn_implementation", None)
        if torch.device(device).type == "cpu" and attention == "sdpa" and not cpu_has_amx():
            # PyTorch's CPU flash-attention kernel is fast with AMX only; elsewhere Inductor's fused math path wins
            # (measured: benchmarks/README.md, "Speed choices in the code").
            model.set_attn_implementation("eager")
        model.forward = frozen_compiled(model.forward, max_autotune=max_autotune)
    return model


def frozen_compiled(function, max_autotune: bool = False):
    """`torch.compile(function)` run with Inductor's freezing (and its GEMM autotuning, when `max_autotune`). The
    flags must be set while Dynamo traces, which reads freezing to lift the parameters as constants:
    `compile(options={"freezing": True})` leaves the weights unfrozen (pytorch/pytorch#139272; Linear stays `addmm`
    with a bias copy, slower in bf16 on CPU)."""
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


# ---- int8 on OpenVINO ---------------------------------------------------------------------------------------------


def openvino_int8(model, calibration, device: str | torch.device = "cpu", processor_source: str | None = None):
    """A Hiera classifier quantized to int8 (weights and activations: NNCF's symmetric preset, calibrated on
    `calibration`) and run by OpenVINO on the CPU: the same model object, its forward replaced (`.config`, pipelines
    and saving, which writes the original weights, keep working). The ops left in floating point run in bf16 where
    the CPU computes it natively, else fp32.

    Export and quantization are `transformers.exporters`' (`OpenVINOExporter`, `NNCFOpenVINOQuantizer`), with a
    dynamic batch axis; each batch size then gets its own static copy of the graph, compiled on first use (OpenVINO
    runs a static graph faster), its batch split between gcd(threads, batch) throughput streams (faster than one
    stream; both measured in benchmarks/README.md). Top-1 agreement with the fp32 model is measured on up to `INT8_CHECKED_INPUTS`
    calibration inputs, and a `UserWarning` says so if it falls below 99% (without VNNI or AMX, int8 sums in 16 bits
    and agrees less)."""
    from .modeling_hiera import _HieraForClassification

    if not isinstance(model, _HieraForClassification):
        raise ValueError(
            f"mode='int8' is for classifiers (its agreement with fp32 is measured on predicted labels); got "
            f"{type(model).__name__}: use mode='auto' for it."
        )
    if torch.device(device).type != "cpu":
        raise ValueError(f"mode='int8' runs on OpenVINO's CPU plugin; got device={str(device)!r}.")
    try:
        import nncf
        import openvino  # noqa: F401
        from transformers.exporters import (
            NNCFOpenVINOQuantizer,
            NNCFQuantizationConfig,
            OpenVINOConfig,
            OpenVINOExporter,
        )
    except ImportError as error:
        raise ImportError(f"mode='int8' runs on OpenVINO: pip install openvino nncf ({error}).") from error
    from .export import dynamic_shapes

    model = model.float().eval()
    pixels = calibration_inputs(model, calibration, processor_source)
    samples = [{"pixel_values": batch} for batch in pixels.split(8)]
    # Symmetric activations (NNCF's PERFORMANCE preset): faster than its default (MIXED), with the same agreement
    # on the trained digits model (benchmarks/README.md).
    quantizer = NNCFOpenVINOQuantizer(
        NNCFQuantizationConfig(preset=nncf.QuantizationPreset.PERFORMANCE, subset_size=len(samples)),
        calibration_dataset=samples,
    )
    config = OpenVINOConfig(dynamic_shapes=dynamic_shapes(model.config, "classification"), quantizer=quantizer)
    with torch.no_grad():  # (a sample of two: a dynamic axis traced at size 1 would be specialised to 1)
        program = OpenVINOExporter().export(model, {"pixel_values": pixels[[0, -1]]}, config=config).program
    run = OpenVINOClassifierForward(model, program, precision=resolve_mode("auto"))
    checked = pixels[:INT8_CHECKED_INPUTS]
    with torch.no_grad():
        expected = torch.cat([model(batch).logits for batch in checked.split(8)])
        actual = torch.cat([run(batch).logits for batch in checked.split(8)])
    agreement = (actual.argmax(-1) == expected.argmax(-1)).float().mean().item()
    if agreement < INT8_MIN_AGREEMENT:
        warnings.warn(
            f"int8 agrees with fp32 on {agreement:.1%} of {len(checked)} calibration inputs' top-1 labels (largest "
            f"logit difference {(actual - expected).abs().max().item():.3f}); on this CPU prefer mode='auto'.",
            stacklevel=3,
        )
    model.forward = run
    return model


def calibration_inputs(model, calibration, processor_source: str | None = None) -> torch.Tensor:
    """`calibration` as float32 `pixel_values`, checked as the model checks its input: a tensor or array as it is, a
    folder's images or videos through the processor of the model's folder (`processor_source`), else the default
    processor sized for the model."""
    import numpy as np

    from .modeling_hiera import check_pixel_values

    if calibration is None:
        raise ValueError(
            "mode='int8' calibrates the activations' ranges on real inputs: pass calibration= a folder of images (or "
            "videos) like those the model will see, or their pixel_values tensor (a few hundred are enough)."
        )
    if isinstance(calibration, (str, os.PathLike)):
        from .export import folder_inputs
        from .processors import processor_for

        processor = processor_for(model.config, processor_source)
        calibration = torch.from_numpy(folder_inputs(calibration, processor, model.config.is_video))
    elif isinstance(calibration, np.ndarray):
        calibration = torch.from_numpy(calibration)
    if not isinstance(calibration, torch.Tensor):
        raise TypeError(
            f"calibration must be a folder of images or videos, or a pixel_values tensor; got "
            f"{type(calibration).__name__}."
        )
    check_pixel_values(model.config, calibration)  # (raw uint8 pixels are refused: process them first)
    return calibration.float()


@functools.cache
def openvino_core():
    """The process's one `openvino.Core`, for every program the package compiles: a new Core per program has
    crashed processes that compiled many (ultralytics/ultralytics#25864, openvinotoolkit/openvino#35338), and a CI
    run here crashed (segfault) after the int8 tests, which made one per batch size."""
    import openvino

    return openvino.Core()


class OpenVINOClassifierForward:
    """A classifier's forward on an OpenVINO program: `(pixel_values, labels=None, return_dict=None)` -> the model's
    output (logits, and the loss with `labels`). One static copy of the program per batch size (see
    `openvino_int8`).

    It keeps the model's config and loss, not the model: the model holds this forward, and a cycle between them
    would leave OpenVINO's compiled programs to the cycle collector, freed at some later point; this way they go
    when the model does."""

    def __init__(self, model, program, precision: str, threads: int | None = None):
        self.config, self.loss_function, self.program = model.config, model.loss_function, program
        self.threads = threads or torch.get_num_threads()
        self.properties = {
            "INFERENCE_PRECISION_HINT": {"bf16": "bf16", "fp32": "f32"}[precision],
            "INFERENCE_NUM_THREADS": self.threads,
        }
        self.requests = {}  # batch size -> an infer request per stream

    def _requests_for(self, batch_size: int) -> list:
        if batch_size not in self.requests:
            streams = math.gcd(self.threads, batch_size)
            program = self.program.clone()
            shape = program.inputs[0].get_partial_shape()
            shape[0] = batch_size // streams  # the batch axis of each stream's part; the others are static already
            program.reshape({program.inputs[0].get_any_name(): shape})
            hint = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": streams} if streams > 1 else {}
            compiled = openvino_core().compile_model(program, "CPU", {**self.properties, **hint})
            self.requests[batch_size] = [compiled.create_infer_request() for _ in range(streams)]
        return self.requests[batch_size]

    def __call__(self, pixel_values=None, labels=None, return_dict=None, **kwargs):
        import numpy as np

        from .modeling_hiera import HieraForClassificationOutput, check_pixel_values

        asked = sorted(name for name, value in kwargs.items() if value not in (None, False))
        if asked:
            raise ValueError(
                f"An int8 OpenVINO model returns logits only; got {', '.join(asked)}: use fast_model(mode='auto') "
                "for hidden states, attentions or other input sizes."
            )
        config = self.config
        check_pixel_values(config, pixel_values)
        requests = self._requests_for(len(pixel_values))
        parts = np.split(pixel_values.detach().float().cpu().numpy(), len(requests))
        for request, part in zip(requests, parts):
            # (copied into the request's own input: a shared array would be left dangling in it)
            request.start_async({0: part})
        for request in requests:
            request.wait()
        logits = torch.from_numpy(np.concatenate([request.get_output_tensor(0).data for request in requests]))
        loss = self.loss_function(labels, logits, config) if labels is not None else None
        output = HieraForClassificationOutput(loss=loss, logits=logits)
        return output if (config.return_dict if return_dict is None else return_dict) else output.to_tuple()


__all__ = [
    "MODES",
    "cpu_has_amx",
    "cpu_has_native_bf16",
    "fast_model",
    "frozen_compiled",
    "openvino_int8",
    "resolve_mode",
]
