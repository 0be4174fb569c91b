# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Export Hiera for deployment: ONNX (optionally int8) and `torch.export` programs, verified before writing.

    python -m hiera_hf.export MODEL OUTPUT_DIR [--task classification|base|backbone] [--int8]
        [--calibration-dir DIR] [--validation-dir DIR] [--no-pt2] [--overwrite]

MODEL is a folder, a Hub id or a preset (random weights). The task comes from the folder's architecture:
classifiers give `logits`, `HieraModel` gives `last_hidden_state` (and `pooler_output`), `HieraBackbone` its feature
maps; an MAE folder exports its encoder with `--task base` or `--task backbone`. Every file has a dynamic batch
axis. Classifiers and base models take the config's size (`image_size`, `num_frames`); backbones take any height,
width (and frame count) that are multiples of the mask unit, `patch_stride * masked_unit_size` (32 pixels and 2
frames for the presets), from two units up (64 pixels, 4 frames): pad other sizes to that, as `HieraBackbone` does
in PyTorch.

The export, the quantization and the file formats are Transformers' (`transformers.exporters`: `OnnxExporter`,
`DynamoExporter`, `OnnxRuntimeQuantizer`); this module adds what they leave to the caller: the dynamic spatial axes
of backbones, verification of the written files against PyTorch, the int8 choice, the processor, and a folder
written completely or not at all. OUTPUT_DIR holds `model.onnx` (+ `model.onnx.data`; `model_int8.onnx` with
`--int8`), `model.pt2` (`torch.export.load(path).module()(pixel_values=...)` returns the model's output class),
`config.json`, `export.json` (the exporters' metadata), the processor's file and `export_report.json`. Before the
folder is moved into place, the ONNX file and the program are run against PyTorch at two batch sizes (fp32, atol
1e-4); `--int8` reports top-1 agreement and the largest logit difference with the fp32 model on `--validation-dir`
images (dynamic quantization, and static quantization calibrated on `--calibration-dir`, keeping the one that agrees
best, the faster of those that tie).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_folder
from .configuration_hiera import PRESETS, HieraConfig
from .image_processing_hiera import IMAGE_EXTENSIONS
from .modeling_hiera import hiera_class_for, saved_task
from .processors import processor_for

ATOL = 1e-4
TASKS = ("classification", "base", "backbone")


class ExportError(ValueError):
    """The export cannot be done as asked (nothing has been written). `report`: what was measured, if anything."""

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report or {}


def load_for_export(model_name_or_path: str, task: str | None = None):
    """`(model, processor, task)` for a folder, Hub id or preset; raises `ExportError` for what cannot export."""
    if task is not None and task not in TASKS:
        raise ExportError(f"--task must be one of {', '.join(TASKS)}, got {task!r}.")
    if model_name_or_path in PRESETS:
        config = HieraConfig.from_preset(model_name_or_path)
        task = task or "classification"
        model = hiera_class_for(config, task)(config)
    else:
        config = HieraConfig.from_pretrained(model_name_or_path)
        task = task or saved_task(config)
        if task == "pretraining":  # MAE: the encoder exports as base or backbone
            raise ExportError(
                f"{model_name_or_path!r} is an MAE pre-training checkpoint (HieraForPreTraining): export its encoder "
                "with --task base or --task backbone, or fine-tune a classifier first."
            )
        model = hiera_class_for(config, task).from_pretrained(model_name_or_path)
    return model.eval(), processor_for(model.config, model_name_or_path), task


def example_input(config: HieraConfig, batch_size: int, seed: int = 0, extra_units=(0, 0)) -> torch.Tensor:
    """Random pixels at the config's size, or `extra_units` mask units taller and wider."""
    generator = torch.Generator().manual_seed(seed)
    frames = (config.num_frames,) if config.is_video else ()
    units = [s * m for s, m in zip(config.patch_stride[-2:], config.masked_unit_size[-2:])]
    size = [s + extra * unit for s, extra, unit in zip(config.image_size, extra_units, units)]
    return torch.randn(batch_size, *frames, config.num_channels, *size, generator=generator)


def dynamic_shapes(config: HieraConfig, task: str) -> dict:
    """A dynamic batch axis; for backbones also dynamic spatial axes, as multiples of the mask unit in pixels.

    Multiples, and at least two units: with sizes left free (the backbone pads them in PyTorch) `torch.export`'s
    shape solver emits guards it cannot prove for every size and gives up; one unit specialises a size-1 axis.
    """
    axes = {0: torch.export.Dim("batch", min=1, max=4096)}
    if task == "backbone":
        names = ("frames", "height", "width") if config.is_video else ("height", "width")
        positions = (1, 3, 4) if config.is_video else (2, 3)
        for name, position, stride, unit in zip(names, positions, config.patch_stride, config.masked_unit_size):
            axes[position] = stride * unit * torch.export.Dim(f"{name}_units", min=2, max=256)
    return {"pixel_values": axes}


def export_onnx(model, example: torch.Tensor, task: str):
    """The model as ONNX (`transformers.exporters.OnnxExporter`), axes as `dynamic_shapes`: an `ExportedModel`."""
    from transformers.exporters import OnnxConfig, OnnxExporter

    config = OnnxConfig(dynamic_shapes=dynamic_shapes(model.config, task))
    return OnnxExporter().export(model, {"pixel_values": example}, config)


def export_program(model, example: torch.Tensor, task: str):
    """The model as a `torch.export` program (`transformers.exporters.DynamoExporter`): an `ExportedModel`."""
    from transformers.exporters import DynamoConfig, DynamoExporter

    config = DynamoConfig(dynamic_shapes=dynamic_shapes(model.config, task))
    return DynamoExporter().export(model, {"pixel_values": example}, config)


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def output_tensors(outputs) -> list[torch.Tensor]:
    """A model's (or a loaded program's) output as the flat list of tensors the ONNX file returns, in its order."""
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    values = outputs.to_tuple() if hasattr(outputs, "to_tuple") else outputs
    return [tensor for value in values for tensor in output_tensors(value)]


def verify(model, task: str, folder: Path, batch_sizes=(1, 3), atol: float = ATOL) -> dict:
    """Largest difference of the written ONNX file and program from PyTorch, at each batch size (backbones: the
    second one also at another spatial size). Every file is measured; any above `atol` raises an `ExportError`
    naming it, with the whole report attached."""
    session = onnx_session(folder / "model.onnx")
    program = torch.export.load(str(folder / "model.pt2")).module() if (folder / "model.pt2").exists() else None
    report = {}
    for batch_size in batch_sizes:
        pixels = example_input(model.config, batch_size, seed=batch_size)
        if task == "backbone" and batch_size != batch_sizes[0]:
            pixels = example_input(model.config, batch_size, seed=batch_size, extra_units=(1, 2))
        with torch.no_grad():
            expected = output_tensors(model(pixels))
            candidates = {"onnx": [torch.from_numpy(a) for a in session.run(None, {"pixel_values": pixels.numpy()})]}
            if program is not None:
                candidates["pt2"] = output_tensors(program(pixel_values=pixels))
        for name, outputs in candidates.items():
            if len(outputs) != len(expected):
                difference = float("inf")
            else:
                difference = max(float((a - e).abs().max()) for a, e in zip(outputs, expected))
            report[f"{name}_max_abs_diff_batch{batch_size}"] = difference
    failed = {key: value for key, value in report.items() if not value <= atol}  # NaN fails too
    if failed:
        listed = ", ".join(f"{key} = {value:.2e}" for key, value in failed.items())
        raise ExportError(f"The exported files differ from PyTorch by more than {atol}: {listed}.", report)
    return report


# ---- int8 ------------------------------------------------------------------------------------------------------


def folder_inputs(directory: str | os.PathLike, processor, is_video: bool, limit: int = 1024) -> np.ndarray:
    """Pixel values of the images (or videos) under `directory` (any depth), processed as the model expects."""
    from PIL import Image

    from .video_processing_hiera import VIDEO_EXTENSIONS

    extensions = VIDEO_EXTENSIONS if is_video else IMAGE_EXTENSIONS
    files = sorted(p for p in Path(directory).rglob("*") if p.suffix.lower() in extensions)[:limit]
    if not files:
        raise ExportError(
            f"No {'videos' if is_video else 'images'} ({', '.join(extensions)}) under {str(directory)!r}."
        )
    items = [str(f) if is_video else Image.open(f).convert("RGB") for f in files]  # videos: decoded as sampled
    return processor(items, return_tensors="np").pixel_values.astype(np.float32)


def _run(session, pixels: np.ndarray, batch_size: int = 16) -> np.ndarray:
    return np.concatenate(
        [session.run(None, {"pixel_values": pixels[i : i + batch_size]})[0] for i in range(0, len(pixels), batch_size)]
    )


def _images_per_second(session, pixels: np.ndarray, rounds: int = 5) -> float:
    session.run(None, {"pixel_values": pixels})  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        session.run(None, {"pixel_values": pixels})
        times.append(time.perf_counter() - start)
    return len(pixels) / float(np.median(times))


def quantize(fp32_program, example: torch.Tensor, calibration: np.ndarray | None, validation: np.ndarray | None):
    """Dynamic int8 (weights) and, with `calibration` pixels, static int8 (QDQ, per channel), both by
    `transformers.exporters.OnnxRuntimeQuantizer` on the fp32 ONNX program. Each is measured (images/s at batch 8,
    top-1 agreement and largest logit difference with fp32 on `validation`); `choose_int8` picks one. Returns
    `(the winner's program, report)`."""
    from onnxruntime.quantization import QuantFormat, QuantType
    from transformers.exporters import (
        ExportFormat,
        OnnxExporter,
        OnnxRuntimeDynamicConfig,
        OnnxRuntimeQuantizer,
        OnnxRuntimeStaticConfig,
    )

    sample = {"pixel_values": example}
    quantizers = {"dynamic": OnnxRuntimeQuantizer(OnnxRuntimeDynamicConfig(weight_type=QuantType.QInt8))}
    if calibration is not None:
        batches = [{"pixel_values": torch.from_numpy(calibration[i : i + 8])} for i in range(0, len(calibration), 8)]
        static = OnnxRuntimeStaticConfig(quant_format=QuantFormat.QDQ, per_channel=True)
        quantizers["static"] = OnnxRuntimeQuantizer(static, calibration_dataset=batches)
    speed_input = validation if validation is not None else calibration
    report, programs = {}, {}
    with tempfile.TemporaryDirectory() as work:
        OnnxExporter.save_program(fp32_program, Path(work) / "fp32.onnx")
        reference = _run(onnx_session(Path(work) / "fp32.onnx"), validation) if validation is not None else None
        for name, quantizer in quantizers.items():
            programs[name] = quantizer.quantize(fp32_program, sample, ExportFormat.ONNX)
            OnnxExporter.save_program(programs[name], Path(work) / f"{name}.onnx")
            session = onnx_session(Path(work) / f"{name}.onnx")
            row = {}
            if speed_input is not None and len(speed_input) >= 8:
                row["images_per_second_batch8"] = _images_per_second(session, speed_input[:8])
            if reference is not None:
                logits = _run(session, validation)
                row["top1_agreement"] = float((logits.argmax(-1) == reference.argmax(-1)).mean())
                row["max_logit_diff"] = float(np.abs(logits - reference).max())
                row["validation_inputs"] = len(validation)
            report[name] = row
    winner = choose_int8(report)
    report["kept"] = winner
    return programs[winner], report


def choose_int8(report: dict[str, dict]) -> str:
    """The candidate that agrees best with fp32 (top-1), the faster of those that tie."""
    return max(
        report, key=lambda n: (report[n].get("top1_agreement", 0), report[n].get("images_per_second_batch8", 0))
    )


# ---- the export, and running what it wrote ----------------------------------------------------------------------


def export(
    model_name_or_path: str,
    output_dir: str | os.PathLike,
    task: str | None = None,
    int8: bool = False,
    calibration_dir: str | None = None,
    validation_dir: str | None = None,
    pt2: bool = True,
    overwrite: bool = False,
    atol: float = ATOL,
) -> dict:
    """Export, verify (to `atol`) and write `output_dir` in one step (see the module docstring). Returns the report."""
    model, processor, task = load_for_export(model_name_or_path, task)
    if int8 and task != "classification":
        raise ExportError(f"--int8 is for classifiers (agreement is measured on predicted labels); this is {task}.")
    is_video = model.config.is_video
    calibration = folder_inputs(calibration_dir, processor, is_video) if int8 and calibration_dir else None
    validation = folder_inputs(validation_dir, processor, is_video) if int8 and validation_dir else None
    axes = dynamic_shapes(model.config, task)["pixel_values"]
    report = {"model": str(model_name_or_path), "task": task}
    report["dynamic_axes"] = {position: str(dim) for position, dim in axes.items()}
    example = example_input(model.config, 2)
    with atomic_folder(output_dir, overwrite=overwrite) as staging:
        onnx = export_onnx(model, example, task)
        onnx.save_pretrained(staging)  # model.onnx(.data), export.json, config.json (with our source files)
        report["outputs"] = [output.name for output in onnx_session(staging / "model.onnx").get_outputs()]
        if pt2:
            from transformers.exporters import DynamoExporter

            DynamoExporter.save_program(export_program(model, example, task).program, staging / "model.pt2")
        report.update(verify(model, task, staging, atol=atol))
        if int8:
            from transformers.exporters import OnnxExporter

            winner, report["int8"] = quantize(onnx.program, example, calibration, validation)
            OnnxExporter.save_program(winner, staging / "model_int8.onnx")
        processor.save_pretrained(staging)
        (staging / "export_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


class HieraOnnxClassifier:
    """Run an exported classifier folder like `pipeline("image-classification")` / `("video-classification")`.

    `HieraOnnxClassifier(folder)(inputs, top_k=5)`: one input (a path, PIL image, array, or a video's path, array
    or list of PIL frames) gives a list of `{"label", "score"}` dicts, a list of inputs a list of such lists. The
    processor and the labels come from the folder; `int8=True` runs `model_int8.onnx`.
    """

    def __init__(self, folder: str | os.PathLike, int8: bool = False, threads: int | None = None):
        folder = Path(folder)
        self.config = HieraConfig.from_pretrained(folder)
        self.processor = processor_for(self.config, str(folder))
        self.session = onnx_session(folder / ("model_int8.onnx" if int8 else "model.onnx"), threads)

    def _prepare(self, item):
        if not self.config.is_video and isinstance(item, (str, os.PathLike)):
            from PIL import Image

            return Image.open(item).convert("RGB")
        return item

    def __call__(self, inputs, top_k: int = 5):
        from .video_processing_hiera import is_frame_list

        single = not isinstance(inputs, list) or (self.config.is_video and is_frame_list(inputs))
        items = [self._prepare(item) for item in ([inputs] if single else inputs)]
        pixels = self.processor(items, return_tensors="np").pixel_values.astype(np.float32)
        logits = _run(self.session, pixels)
        probabilities = np.exp(logits - logits.max(-1, keepdims=True))
        probabilities /= probabilities.sum(-1, keepdims=True)
        top_k = min(top_k, probabilities.shape[-1])
        results = [
            [{"label": self.config.id2label[int(i)], "score": float(row[i])} for i in np.argsort(-row)[:top_k]]
            for row in probabilities
        ]
        return results[0] if single else results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a folder, a Hub id or a preset (random weights)")
    parser.add_argument("output_dir")
    parser.add_argument("--task", choices=TASKS, help="default: from the folder's architecture")
    parser.add_argument("--int8", action="store_true", help="also write model_int8.onnx (ONNX Runtime quantization)")
    parser.add_argument("--calibration-dir", help="images or videos for static int8 calibration")
    parser.add_argument("--validation-dir", help="images or videos on which int8 agreement with fp32 is measured")
    parser.add_argument("--no-pt2", action="store_true", help="skip the torch.export program")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    try:
        report = export(
            args.model,
            args.output_dir,
            task=args.task,
            int8=args.int8,
            calibration_dir=args.calibration_dir,
            validation_dir=args.validation_dir,
            pt2=not args.no_pt2,
            overwrite=args.overwrite,
        )
    except (ExportError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
