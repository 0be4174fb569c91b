# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections training`: a training step (forward, backward, AdamW) at --train-batch-size, interleaved, and each
peer's memory over one step at --memory-batch-size, measured by the `memory` worker in a process of its own."""

from __future__ import annotations

import torch

from benchmarks.common import (
    Peer,
    builtin_from_ours,
    interleaved,
    make_config,
    memory_in_subprocess,
    official_from_config,
    preset_name,
    summarise,
    timm_from_official,
)
from hiera_hf.parity import from_official

TRAINING_PEERS = {
    "hiera_hf (SDPA)": "ours",
    "hiera_hf (SDPA) + gradient checkpointing": "ours_checkpointed",
    "official hiera": "official",
    "timm": "timm",
    "transformers built-in": "builtin",
}


def build_training_peer(args, name: str):
    """The model of `TRAINING_PEERS[name]`, with the official random weights (as every other peer here)."""
    config = make_config(args.arch, False, False, args.quick)
    official = official_from_config(config)
    kind = TRAINING_PEERS[name]
    if kind == "official":
        return official
    if kind == "timm":
        return timm_from_official(args.arch, config, official)
    ours = from_official(official, config)
    if kind == "builtin":
        return builtin_from_ours(ours)
    if kind == "ours_checkpointed":
        getattr(ours, "activation_checkpointing_enable", ours.gradient_checkpointing_enable)()  # the 5.23 name
    return ours


def training_section(args, device, dtype) -> list[dict]:
    config = make_config(args.arch, False, False, args.quick)
    name = preset_name(args.arch, False)
    peers = [Peer(peer, build_training_peer(args, peer), ours=peer.startswith("hiera_hf")) for peer in TRAINING_PEERS]
    size = config.input_size
    batch_size = args.train_batch_size
    pixels = torch.randn(batch_size, 3, *size, device=device, dtype=dtype)
    labels = torch.randint(0, 1000, (batch_size,), device=device)
    steps = {}
    for peer in peers:
        peer.model.to(device=device, dtype=dtype).train()
        optimizer = torch.optim.AdamW(peer.model.parameters(), lr=1e-4)

        def step(peer=peer, optimizer=optimizer):
            output = peer.model(pixels)
            logits = output.logits if hasattr(output, "logits") else output
            loss = torch.nn.functional.cross_entropy(logits.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        steps[peer.name] = step

    rows = []
    memory = {peer.name: memory_in_subprocess(args, peer.name) for peer in peers}
    interleaved(peers, lambda peer: steps[peer.name], device, args.rounds, 1, warmup=1)
    rows += summarise(peers, f"{name} training step", batch_size, "images/s")
    for row in rows:
        row["memory_MB"] = memory[row["peer"]]["peak"] / 2**20
        row["saved_activations_MB"] = memory[row["peer"]]["saved"] / 2**20
        row["memory_batch"] = args.memory_batch_size
    return rows
