# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections dense`: the four-stage backbone at each of --dense-sizes against timm's `features_only` Hiera and
the official `return_intermediates`, then the memory of a backbone training step at the largest size, with and
without gradient checkpointing (the `memory` worker, a process per peer)."""

from __future__ import annotations

import gc

import torch

from benchmarks.common import (
    Peer,
    calling,
    interleaved,
    make_config,
    memory_in_subprocess,
    official_from_config,
    summarise,
    timm_from_official,
)
from hiera_hf.parity import from_official

DENSE_MEMORY_PEERS = ("hiera_hf HieraBackbone", "hiera_hf HieraBackbone + gradient checkpointing")


def dense_section(args, device, dtype) -> list[dict]:
    """Backbone feature maps (all four stages) at each of --dense-sizes, batch 1: ours (`HieraBackbone`, any size at
    run time) against the official `return_intermediates=True` and timm's `features_only` model, both built for that
    size (timm's position embeddings are fixed at construction: it refuses any other size at run time)."""
    rows = []
    for size in args.dense_sizes:
        peers = dense_peers(args, size, device, dtype)
        pixels = torch.randn(1, 3, size, size, device=device, dtype=dtype)
        with torch.inference_mode():
            interleaved(peers, lambda peer, pixels=pixels: calling(peer, pixels), device, args.rounds, 1, warmup=1)
        rows += summarise(peers, f"hiera_{args.arch} backbone {size}x{size}", 1, "images/s")
        del peers
        gc.collect()
    largest = max(args.dense_sizes)
    for name in DENSE_MEMORY_PEERS:
        memory = memory_in_subprocess(args, name)
        rows.append(
            {
                "section": f"hiera_{args.arch} backbone training step {largest}x{largest} (memory)",
                "peer": name,
                "batch": 1,
                "median_s": memory["seconds"],
                "rate": 1 / memory["seconds"],
                "unit": "images/s",
                "speedup_vs_fastest_peer": None,
                "rounds": 1,
                "memory_MB": memory["peak"] / 2**20,
                "saved_activations_MB": memory["saved"] / 2**20,
                "memory_batch": 1,
            }
        )
    return rows


def dense_peers(args, size: int, device, dtype) -> list[Peer]:
    """Ours, the official and timm's backbones at `size`x`size`, with the same weights, in eval mode."""
    import timm

    from hiera_hf import HieraBackbone

    config = make_config(args.arch, False, False, args.quick, image_size=(size, size))
    official = official_from_config(config)
    ours = HieraBackbone(
        make_config(args.arch, False, False, args.quick, image_size=(size, size), out_indices=[1, 2, 3, 4])
    )
    ours.hiera.load_state_dict(from_official(official, config).hiera.state_dict(), strict=False)
    features = timm.create_model(
        f"hiera_{args.arch}_224",
        pretrained=False,
        features_only=True,
        stages=tuple(config.depths),
        img_size=(size, size),
    )
    features.model.load_state_dict(timm_from_official(args.arch, config, official).state_dict(), strict=False)
    return [
        Peer("hiera_hf HieraBackbone", ours.to(device, dtype).eval(), ours=True),
        Peer(
            "official return_intermediates",
            official.to(device, dtype).eval(),
            run=lambda m, x: m(x, return_intermediates=True)[1],
        ),
        Peer("timm features_only", features.to(device, dtype).eval()),
    ]


def build_dense_peer(args, name: str):
    """Our four-stage backbone at the largest --dense-sizes, and a stand-in loss over its maps."""
    from hiera_hf import HieraBackbone

    size = max(args.dense_sizes)
    config = make_config(args.arch, False, False, args.quick, image_size=(size, size), out_indices=[1, 2, 3, 4])
    torch.manual_seed(0)
    model = HieraBackbone(config)
    if name.endswith("gradient checkpointing"):
        getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)()
    pixels = torch.randn(1, 3, size, size)
    return model, pixels, lambda output: sum(feature_map.square().mean() for feature_map in output.feature_maps)
