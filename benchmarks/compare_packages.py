# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""A/B of this checkout's hiera_hf against another checkout's (a refactor must not slow the model), in one process.

    git worktree add /tmp/old <revision>        # or any checkout of the package
    python benchmarks/compare_packages.py --old /tmp/old [--rounds 9] [--threads 2]

The other checkout's `src/hiera_hf` is imported under another name; both models get the same weights and the
same inputs, and run interleaved (A B A B ...) in inference mode: Hiera-B images in fp32 and bf16 weights at batch
8 and 1, and the video Hiera-B at batch 1 in fp32. Prints the median times and new/old ratios, and checks the
outputs agree (1e-4 in fp32).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

import hiera_hf


def import_old(checkout: Path):
    """The other checkout's package, as `hiera_hf_old` (its modules import each other relatively)."""
    folder = Path(tempfile.mkdtemp(prefix="hiera-old-"))
    shutil.copytree(checkout / "src" / "hiera_hf", folder / "hiera_hf_old")
    spec = importlib.util.spec_from_file_location(
        "hiera_hf_old",
        folder / "hiera_hf_old" / "__init__.py",
        submodule_search_locations=[str(folder / "hiera_hf_old")],
    )
    module = sys.modules["hiera_hf_old"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pair(old, preset: str, dtype: torch.dtype):
    """(new, old) classifiers of `preset` with the same random weights, in eval mode and `dtype`."""
    config = hiera_hf.HieraConfig.from_preset(preset, num_labels=1000)
    new = hiera_hf.modeling_hiera.hiera_class_for(config)(config).eval()
    old_config = old.HieraConfig.from_preset(preset, num_labels=1000)
    old_model = old.modeling_hiera.hiera_class_for(old_config)(old_config).eval()
    old_model.load_state_dict(new.state_dict(), strict=True)
    return new.to(dtype), old_model.to(dtype)


def time_case(models, pixels, rounds: int, iterations: int = 2) -> list[list[float]]:
    times = [[], []]
    with torch.inference_mode():
        for model in models:  # warm-up
            model(pixels)
        for _ in range(rounds):
            for index, model in enumerate(models):
                start = time.perf_counter()
                for _ in range(iterations):
                    model(pixels)
                times[index].append((time.perf_counter() - start) / iterations)
    return times


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, type=Path, help="the other checkout (its src/hiera_hf)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    old = import_old(args.old)
    cases = [("hiera_base_224", torch.float32, 8), ("hiera_base_224", torch.float32, 1),
             ("hiera_base_224", torch.bfloat16, 8), ("hiera_base_224", torch.bfloat16, 1),
             ("hiera_base_16x224", torch.float32, 1)]  # fmt: skip
    rows = []
    for preset, dtype, batch in cases:
        models = pair(old, preset, dtype)
        config = models[0].config
        shape = (batch, config.num_frames, 3, 224, 224) if config.is_video else (batch, 3, 224, 224)
        pixels = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(dtype)
        with torch.inference_mode():
            difference = float((models[0](pixels).logits - models[1](pixels).logits).abs().max())
        new, old_times = (statistics.median(t) for t in time_case(models, pixels, args.rounds))
        rows.append({"preset": preset, "dtype": str(dtype).split(".")[1], "batch": batch, "new_ms": 1000 * new,
                     "old_ms": 1000 * old_times, "new_over_old": new / old_times, "max_logit_diff": difference})  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return rows


if __name__ == "__main__":
    main()
