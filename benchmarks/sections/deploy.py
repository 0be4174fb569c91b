# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections deploy`: ONNX Runtime fp32 and int8 against PyTorch, on the CPU."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from benchmarks import common  # the peers' models: common.make_config, common.timm_from_official, ...
from benchmarks.common import Peer, timed_batches
from hiera_hf.parity import from_official


def deploy_section(args, video: bool) -> list[dict]:
    """ONNX Runtime fp32 and int8 (dynamic, as `python -m hiera_hf.export --int8` keeps on the trained demo model;
    `hiera_hf.export.quantize` makes it) against our PyTorch eager model and the PyTorch peers, CPU fp32,
    interleaved, at batch --batch-size and 1 (video: 1)."""
    from transformers.exporters import OnnxExporter

    from hiera_hf.export import export_onnx, onnx_session, quantize

    config = common.make_config(args.arch, video, False, args.quick)
    name, official = common.preset_name(args.arch, video), common.official_from_config(config)
    ours = from_official(official, config)
    peers = [Peer("hiera_hf PyTorch (SDPA)", ours, ours=True), Peer("official hiera", official.eval())]
    official.head.train()  # its head adds a softmax in eval mode; compare like for like
    if not video:
        peers.append(Peer("timm", common.timm_from_official(args.arch, config, official).eval()))
        peers.append(Peer("transformers built-in", common.builtin_from_ours(ours).eval()))
    frames = (config.num_frames,) if video else ()
    example = torch.randn(2, *frames, 3, *config.image_size)
    program = export_onnx(ours, example, "classification").program
    int8, _ = quantize(program, example, calibration=None, validation=None)  # no calibration: the dynamic one
    with tempfile.TemporaryDirectory(prefix="hiera-deploy-") as folder:  # a session holds its model once made
        for graph, label in ((program, "ONNX Runtime fp32"), (int8, "ONNX Runtime int8 (dynamic)")):
            OnnxExporter.save_program(graph, Path(folder) / f"{len(peers)}.onnx")
            session = onnx_session(Path(folder) / f"{len(peers)}.onnx", threads=torch.get_num_threads())
            run = lambda s, x: s.run(None, {"pixel_values": x.numpy()})  # noqa: E731
            peers.insert(1, Peer(label, session, ours=True, run=run))
    batch_sizes = (1,) if video else (args.batch_size, 1)
    return timed_batches(args, peers, config, batch_sizes, f"{name} deploy {{metric}} (CPU)")
