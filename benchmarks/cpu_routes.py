# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The ways a classifier runs on the CPU beyond eager PyTorch: bf16 autocast, Inductor with freezing, and our
model's exported routes (ONNX Runtime int8, PT2E int8, OpenVINO). Shared by the `cpu-best` and `cpu-autotune`
sections and by `benchmarks/cpu_modes_agreement.py`, which checks what each does to the predictions."""

from __future__ import annotations

import copy
import functools
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.common import Peer
from hiera_hf.inference import resolve_mode

ONNX_RUNTIME_INT8 = "ONNX Runtime int8 (dynamic)"
# The ops PT2E and OpenVINO leave in floating point run in bf16 where the CPU computes it natively, else fp32.
PT2E_INT8 = "PT2E int8 compiled" + (", bf16 autocast" if resolve_mode("auto") == "bf16" else "")
OPENVINO_INT8 = "OpenVINO int8 (NNCF): fast_model(mode='int8')"


def call_with(model, autocast: bool):
    """`model(pixels)` under bf16 autocast or not."""

    def call(pixels):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return model(pixels)

    return call


def compiled_peer(name: str, module, max_autotune: bool = False, **kinds) -> Peer:
    """`module` compiled by Inductor with freezing (`frozen_compiled`, as `fast_model` compiles), fed its own dtype."""
    from hiera_hf.inference import frozen_compiled

    forward = frozen_compiled(module.forward, max_autotune=max_autotune)
    return Peer(name, module, run=lambda m, x: forward(x.to(next(m.parameters()).dtype)), **kinds)


def exported_cpu_routes(model, example: torch.Tensor, calibration: list[torch.Tensor]) -> dict:
    """Our classifier through `transformers.exporters` on the CPU, `{name: call(pixels) -> logits}`, for each route
    whose packages are here (the others are named on stderr): `onnx_runtime_int8_route`, `pt2e_int8_route` and
    `openvino_routes`, calibrated on `calibration`, with a dynamic batch axis."""
    routes = {ONNX_RUNTIME_INT8: onnx_runtime_int8_route(model, example)}
    routes[PT2E_INT8] = pt2e_int8_route(model, example, calibration)
    routes.update(openvino_routes(model, example, calibration))
    return {name: route for name, route in routes.items() if route is not None}


def onnx_runtime_int8_route(model, example: torch.Tensor):
    """Our classifier exported and quantized to ONNX Runtime's dynamic int8 by `hiera_hf.export.quantize` (as
    `python -m hiera_hf.export --int8` does; a dynamic batch axis): `call(pixels) -> logits`, or None (said on
    stderr) without onnxruntime."""
    try:
        import onnxruntime.quantization  # noqa: F401
        from transformers.exporters import OnnxExporter

        from hiera_hf.export import export_onnx, onnx_session, quantize
    except ImportError as error:
        print(f"no ONNX Runtime int8 ({error})", file=sys.stderr)
        return None
    # (two images: a dynamic axis exported from one would be specialised to 1)
    program = export_onnx(model, example[[0, -1]], "classification").program
    int8, _ = quantize(program, example, calibration=None, validation=None)  # no calibration: the dynamic one
    with tempfile.TemporaryDirectory(prefix="hiera-cpu-routes-") as folder:  # a session holds its model
        path = Path(folder) / "int8.onnx"
        OnnxExporter.save_program(int8, path)
        session = onnx_session(path, threads=torch.get_num_threads())
    return lambda x: torch.from_numpy(session.run(None, {"pixel_values": x.numpy()})[0])


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


def _run_pt2e(model, pixels, autocast: bool):
    # Inductor lowers the int8 weight prepacking only with freezing set globally (compile's options={"freezing"}
    # fails: "qlinear_prepack is not an OpOverload"), and not under inference mode: no_grad instead.
    import torch._inductor.config as inductor_config

    with torch.inference_mode(False), torch.no_grad(), inductor_config.patch(freezing=True):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return model(pixel_values=pixels)


def openvino_routes(model, example: torch.Tensor, calibration: list[torch.Tensor]) -> dict:
    """OpenVINO in floating point (`OpenVINOExporter`) and in int8 (`hiera_hf.fast_model(mode="int8")`, calibrated
    on `calibration`), both run by the package's OpenVINO forward (a static copy of the graph per batch size, split
    between throughput streams): `{name: call(pixels) -> logits}`, empty (said on stderr) without openvino/nncf."""
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
