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

Written to OUTPUT_DIR, completely or not at all: `model.onnx` (+ `model_int8.onnx` with `--int8`), `model.pt2`,
`config.json`, the processor's file, `export_report.json`. Before the folder is moved into place, the ONNX file and
the program are run against PyTorch at two batch sizes (fp32, atol 1e-4); `--int8` reports top-1 agreement and the
largest logit difference with the fp32 model on `--validation-dir` images (dynamic quantization, and static
quantization calibrated on `--calibration-dir`, keeping the faster one of those that agree best).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .atomic import atomic_folder
from .configuration_hiera import PRESETS, HieraConfig
from .image_processing_hiera import IMAGE_EXTENSIONS
from .modeling_hiera import hiera_class_for, saved_task
from .training import processor_for

ATOL = 1e-4
TASKS = ("classification", "base", "backbone")


class ExportError(ValueError):
    """The export cannot be done as asked (nothing has been written). `report`: what was measured, if anything."""

    def __init__(self, message: str, report: dict | None = None):
        super().__init__(message)
        self.report = report or {}


class ExportableHiera(torch.nn.Module):
    """A Hiera model with plain tensor outputs (what ONNX and `torch.export` take), named in `output_names`."""

    def __init__(self, model: torch.nn.Module, task: str):
        super().__init__()
        self.model, self.task = model.eval(), task
        if task == "classification":
            self.output_names = ["logits"]
        elif task == "backbone":
            self.output_names = list(model.out_features)
        else:
            self.output_names = ["last_hidden_state"] + (["pooler_output"] if model.pooler is not None else [])
        self.eval()

    def forward(self, pixel_values: torch.Tensor):
        outputs = self.model(pixel_values)
        if self.task == "classification":
            return outputs.logits
        if self.task == "backbone":
            return tuple(outputs.feature_maps)
        return tuple(outputs[name] for name in self.output_names)


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


def export_onnx(module: ExportableHiera, example: torch.Tensor, path: Path) -> None:
    """ONNX through `torch.onnx.export(dynamo=True)`, with the axes of `dynamic_shapes` dynamic."""
    program = torch.onnx.export(
        module,
        (example,),
        dynamo=True,
        dynamic_shapes=dynamic_shapes(module.model.config, module.task),
        input_names=["pixel_values"],
        output_names=module.output_names,
        verbose=False,
    )
    program.save(str(path))


def export_program(module: ExportableHiera, example: torch.Tensor, path: Path) -> None:
    """A `torch.export` program (`.pt2`, load with `torch.export.load(path).module()`), axes as `dynamic_shapes`."""
    program = torch.export.export(module, (example,), dynamic_shapes=dynamic_shapes(module.model.config, module.task))
    torch.export.save(program, str(path))


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def verify(module: ExportableHiera, folder: Path, config: HieraConfig, batch_sizes=(1, 3), atol: float = ATOL) -> dict:
    """Largest difference of the written ONNX file and program from PyTorch, at each batch size (backbones: the
    second one also at another spatial size). Every file is measured; any above `atol` raises an `ExportError`
    naming it, with the whole report attached."""
    session = onnx_session(folder / "model.onnx")
    program = torch.export.load(str(folder / "model.pt2")).module() if (folder / "model.pt2").exists() else None
    report = {}
    for batch_size in batch_sizes:
        pixels = example_input(config, batch_size, seed=batch_size)
        if module.task == "backbone" and batch_size != batch_sizes[0]:
            pixels = example_input(config, batch_size, seed=batch_size, extra_units=(1, 2))
        with torch.no_grad():
            expected = module(pixels)
            expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
            candidates = {"onnx": [torch.from_numpy(a) for a in session.run(None, {"pixel_values": pixels.numpy()})]}
            if program is not None:
                actual = program(pixels)
                candidates["pt2"] = [actual] if isinstance(actual, torch.Tensor) else list(actual)
        for name, outputs in candidates.items():
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


def quantize(fp32_path: Path, work_dir: Path, calibration: np.ndarray | None, validation: np.ndarray | None) -> tuple:
    """Dynamic int8 (weights) and, with `calibration` pixels, static int8 (QDQ, per channel). Each is measured
    (images/s at batch 8, top-1 agreement and largest logit difference with fp32 on `validation`); the one that
    agrees best wins, the faster on a tie. Returns `(path of the winner, report)`."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    candidates = {"dynamic": work_dir / "dynamic.onnx"}
    quantize_dynamic(str(fp32_path), str(candidates["dynamic"]), weight_type=QuantType.QInt8)
    if calibration is not None:

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.batches = iter([{"pixel_values": calibration[i : i + 8]} for i in range(0, len(calibration), 8)])

            def get_next(self):
                return next(self.batches, None)

        candidates["static"] = work_dir / "static.onnx"
        quantize_static(
            str(fp32_path), str(candidates["static"]), Reader(), quant_format=QuantFormat.QDQ, per_channel=True
        )
    speed_input = validation if validation is not None else calibration
    fp32 = onnx_session(fp32_path)
    reference = _run(fp32, validation) if validation is not None else None
    report = {}
    for name, path in candidates.items():
        session = onnx_session(path)
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
    return candidates[winner], report


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
    module = ExportableHiera(model, task)
    axes = dynamic_shapes(model.config, task)["pixel_values"]
    report = {"model": str(model_name_or_path), "task": task, "outputs": module.output_names}
    report["dynamic_axes"] = {position: str(dim) for position, dim in axes.items()}
    with atomic_folder(output_dir, overwrite=overwrite) as staging:
        example = example_input(model.config, 2)
        export_onnx(module, example, staging / "model.onnx")
        if pt2:
            export_program(module, example, staging / "model.pt2")
        report.update(verify(module, staging, model.config, atol=atol))
        if int8:
            work = staging / ".int8"
            work.mkdir()
            winner, report["int8"] = quantize(staging / "model.onnx", work, calibration, validation)
            os.replace(winner, staging / "model_int8.onnx")
            for leftover in work.iterdir():
                leftover.unlink()
            work.rmdir()
        model.config.save_pretrained(staging)
        processor.save_pretrained(staging)
        (staging / "export_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


class HieraOnnxClassifier:
    """Run an exported classifier folder like `pipeline("image-classification")` / `("video-classification")`.

    `HieraOnnxClassifier(folder)(inputs, top_k=5)`: one input (a path, PIL image, array, or video path/frames) gives
    a list of `{"label", "score"}` dicts, a list of inputs a list of such lists. The processor and the labels come
    from the folder; `int8=True` runs `model_int8.onnx`.
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
        single = not isinstance(inputs, list)
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
