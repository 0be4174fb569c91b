# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""What each CPU mode of `benchmark.py --sections cpu-best` does to a trained classifier's predictions: top-1
agreement with fp32 eager and the largest logit difference, on every image of a validation folder.

    python benchmarks/cpu_modes_agreement.py MODEL_DIR VALIDATION_DIR [--calibration-dir DIR] [--threads 2]

Modes: bf16 autocast, bf16 weights, compiled (Inductor freezing) in fp32 and bf16 (`hiera_hf.fast_model`, also with
`max_autotune=True`), and the int8 routes whose packages are installed: ONNX Runtime dynamic int8
(`hiera_hf.export`'s), PT2E int8 with the x86 Inductor quantizer, OpenVINO (bf16 on CPUs with native bf16, else
fp32) and NNCF int8 (calibrated on --calibration-dir, default the validation images). Writes
`results/{--name}.{md,json}`.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: the `benchmarks` package
from benchmarks.cpu_routes import call_with, exported_cpu_routes  # noqa: E402
from hiera_hf import HieraForImageClassification, fast_model  # noqa: E402
from hiera_hf.export import folder_inputs  # noqa: E402
from hiera_hf.inference import cpu_has_native_bf16  # noqa: E402
from hiera_hf.processors import processor_for  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("validation_dir")
    parser.add_argument("--calibration-dir", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--description", default=None, help="what the model is, for the report")
    parser.add_argument("--output-dir", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="cpu_modes_agreement", help="results file stem")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = HieraForImageClassification.from_pretrained(args.model_dir).eval()
    processor = processor_for(model.config, args.model_dir)
    validation = torch.from_numpy(folder_inputs(args.validation_dir, processor, is_video=False))
    calibration = validation
    if args.calibration_dir:
        calibration = torch.from_numpy(folder_inputs(args.calibration_dir, processor, is_video=False, limit=256))

    bf16 = copy.deepcopy(model).to(torch.bfloat16)
    modes = {
        "bf16 autocast": call_with(model, True),
        "bf16 weights": lambda x: bf16(x.to(torch.bfloat16)),
        "compiled fp32 (freezing)": fast_model(args.model_dir, mode="fp32"),
        "compiled bf16 weights (fast_model on bf16 CPUs)": fast_model(args.model_dir, mode="bf16"),
        "compiled bf16 weights, max-autotune": fast_model(args.model_dir, mode="bf16", max_autotune=True),
    }
    modes.update(exported_cpu_routes(model, calibration[:8], list(calibration.split(8))))
    rows = agreement(model, modes, validation)
    lines = report(args, rows, len(validation))
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    (output / f"{args.name}.json").write_text(json.dumps(rows, indent=2))
    print("\n".join(lines))
    return 0


def agreement(model, modes: dict, validation: torch.Tensor) -> list[dict]:
    """Each mode's top-1 agreement with `model` in fp32 eager and its largest logit difference, on `validation`."""
    rows = []
    with torch.inference_mode():
        reference = torch.cat([model(batch).logits for batch in validation.split(32)])
        for name, mode in modes.items():
            run = (lambda x, m=mode: m(x).logits) if isinstance(mode, torch.nn.Module) else (lambda x, m=mode: m(x))

            def logits_of(x, run=run):
                output = run(x)
                return (output.logits if hasattr(output, "logits") else output).float()

            logits = torch.cat([logits_of(batch) for batch in validation.split(32)])
            rows.append(
                {
                    "mode": name,
                    "top1_agreement": (logits.argmax(-1) == reference.argmax(-1)).float().mean().item(),
                    "max_logit_diff": (logits - reference).abs().max().item(),
                    "images": len(validation),
                }
            )
    return rows


def report(args, rows: list[dict], images: int) -> list[str]:
    """The markdown report's lines."""
    results = Path(args.model_dir) / "eval_results.json"
    accuracy = json.loads(results.read_text()).get("eval_top1_accuracy") if results.exists() else None
    trained = f" (top-1 {accuracy:.1%} when trained)" if accuracy is not None else ""
    lines = [
        "# CPU modes: agreement with fp32 eager",
        "",
        f"Model: {args.description or Path(args.model_dir).name}{trained}; {images} validation images; "
        f"torch {torch.__version__}; CPU {torch.backends.cpu.get_cpu_capability()}, native bf16: "
        f"{'yes' if cpu_has_native_bf16() else 'no'} (the floating-point part of the exported routes follows it).",
        "",
        "| mode | top-1 agreement with fp32 | largest logit difference |",
        "|---|---|---|",
    ]
    lines += [f"| {r['mode']} | {r['top1_agreement']:.1%} | {r['max_logit_diff']:.4f} |" for r in rows]
    return lines


if __name__ == "__main__":
    sys.exit(main())
