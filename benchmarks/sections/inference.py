# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections inference`: throughput at --batch-size (video: --video-batch-size) and latency at batch 1; ours with
eager attention, SDPA and SDPA + torch.compile against the official model, timm and the built-in."""

from __future__ import annotations

import torch

from benchmarks import common  # the peers' models: common.make_config, common.timm_from_official, ...
from benchmarks.common import Peer, timed_batches
from hiera_hf.parity import from_official


def inference_section(args, device, dtype, video: bool) -> list[dict]:
    config = common.make_config(args.arch, video, False, args.quick)
    name, official = common.preset_name(args.arch, video), common.official_from_config(config)
    ours = from_official(official, config)
    ours_eager = from_official(official, config, attn_implementation="eager")
    peers = [
        Peer("hiera_hf (SDPA)", ours, ours=True),
        Peer("hiera_hf (eager attention)", ours_eager, ours=True),
        Peer("official hiera", official),
    ]
    if not video:
        peers.append(Peer("timm", common.timm_from_official(args.arch, config, official)))
        peers.append(Peer("transformers built-in", common.builtin_from_ours(ours)))
    if not args.no_compile:
        peers.insert(1, Peer("hiera_hf (SDPA) + torch.compile", torch.compile(ours), ours=True))
    for peer in peers:
        peer.model.to(device=device, dtype=dtype).eval()
        if "official" in peer.name:
            peer.model.head.train()  # its head adds a softmax in eval mode; compare like for like

    batch_sizes = (args.video_batch_size if video else args.batch_size, 1)
    rows = timed_batches(args, peers, config, batch_sizes, f"{name} inference {{metric}}", device, dtype)
    torch._dynamo.reset()  # drop the compiled model (dynamo's caches keep it alive otherwise)
    return rows
