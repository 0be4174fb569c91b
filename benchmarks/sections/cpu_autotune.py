# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections cpu-autotune`: Inductor's GEMM autotuning against its default, compiled bf16 weights."""

from __future__ import annotations

import copy

import torch

from benchmarks import common  # the peers' models: common.make_config, common.timm_from_official, ...
from benchmarks.common import Peer, timed_batches
from benchmarks.cpu_routes import compiled_peer
from hiera_hf.parity import from_official


def cpu_autotune_section(args) -> list[dict]:
    """Inductor's GEMM autotuning (`max_autotune`: its C++ GEMM templates timed against oneDNN per matrix shape)
    against its default, both frozen, in bf16 weights: ours through `fast_model`, and the two fastest peers of
    `cpu-best` (the built-in, timm); Hiera-B 224 at batch --batch-size and 1, interleaved. Autotuning every (model,
    shape) is most of the section's time; the official model (the slowest compiled peer of `cpu-best`) is left out."""
    from hiera_hf import fast_model

    config = common.make_config(args.arch, False, False, args.quick)
    name, official = common.preset_name(args.arch, False), common.official_from_config(config)
    ours = from_official(official, config)
    to_bf16 = lambda m, x: m(x.to(torch.bfloat16))  # noqa: E731
    peers = [
        Peer("hiera_hf fast_model()", fast_model(copy.deepcopy(ours), mode="bf16"), ours=True, run=to_bf16),
        Peer(
            "hiera_hf fast_model(max_autotune=True)",
            fast_model(copy.deepcopy(ours), mode="bf16", max_autotune=True),
            ours=True,
            run=to_bf16,
        ),
    ]
    bases = {
        "transformers built-in": common.builtin_from_ours(ours),
        "timm": common.timm_from_official(args.arch, config, official),
    }
    for peer_name, base in bases.items():
        bf16 = base.eval().to(torch.bfloat16)
        for label, max_autotune in (("compiled bf16 weights", False), ("compiled bf16 weights, max-autotune", True)):
            peers.append(compiled_peer(f"{peer_name} {label}", copy.deepcopy(bf16), max_autotune=max_autotune))
    section = f"{name} CPU compiled bf16, default vs max-autotune, {{metric}}"
    rows = timed_batches(args, peers, config, (args.batch_size, 1), section)
    for row in rows:
        row["dtype"] = "bf16 weights"
    torch._dynamo.reset()
    return rows
