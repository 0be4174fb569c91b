# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections mae`: an MAE pre-training step (forward, backward, AdamW) against the official MAE model."""

from __future__ import annotations

import torch

from benchmarks.common import Peer, interleaved, make_config, official_from_config, preset_name, summarise
from hiera_hf.parity import from_official


def mae_section(args, device, dtype, video: bool) -> list[dict]:
    config = make_config(args.arch, video, True, args.quick)
    name, official = preset_name(args.arch, video), official_from_config(config, pretraining=True)
    ours = from_official(official, config)
    peers = [Peer("hiera_hf MAE (SDPA)", ours, ours=True), Peer("official hiera MAE", official)]
    size = config.input_size
    pixels = torch.randn(
        args.video_batch_size if video else args.train_batch_size, 3, *size, device=device, dtype=dtype
    )
    ours_pixels = pixels.transpose(1, 2) if video else pixels
    mask_ratio = ours.config.mask_ratio

    def make_call(peer):
        peer.model.to(device=device, dtype=dtype).train()
        optimizer = torch.optim.AdamW(peer.model.parameters(), lr=1e-4)

        def step():
            loss = peer.model(ours_pixels).loss if peer.ours else peer.model(pixels, mask_ratio=mask_ratio)[0]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    interleaved(peers, make_call, device, args.rounds, 1, warmup=1)
    unit = "clips/s" if video else "images/s"
    return summarise(peers, f"{name} MAE pre-training step", pixels.shape[0], unit)
