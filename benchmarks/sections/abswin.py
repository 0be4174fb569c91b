# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`--sections abswin`: what the absolute-window position embedding costs. timm's absolute-window Hiera-S at 256x256
(`HieraConfig.from_timm("hiera_small_abswin_256")`: a background table of 16x16 interpolated to the token grid plus
a mask-unit table tiled over it, LayerScale, no expand projection) against the same architecture with a plain
position table at 256 (`window_positional_embedding_background_size=None`), with the same weights otherwise.
Inference mode, fp32 then bf16 (weights and inputs), at --batch-size and 1; --arch does not apply (--quick: tiny
depths, 64x64). The target, abswin within 2% of plain, is reported, not enforced."""

from __future__ import annotations

import torch

from benchmarks.common import Peer, Target, table_row, timed_batches

ARCHITECTURE = "hiera_small_abswin_256"
ABSWIN, PLAIN = "hiera_hf abswin (absolute-window position embedding)", "hiera_hf plain position table"
POSITION_TABLES = {"hiera.embeddings.position_embeddings", "hiera.embeddings.window_position_embeddings"}
ABSWIN_TARGET = Target(
    "abswin within 2% of plain", compared="abswin time / plain time", threshold=1.02, at_least=False
)
RUN_DTYPES = {"fp32": (torch.float32, "fp32"), "bf16": (torch.bfloat16, "bf16 weights")}


def abswin_models(quick: bool):
    """(abswin, plain) classifiers, eval mode: built from the same seed, every tensor but the position tables copied
    from abswin to plain (the tables' own initialisation draws differently, so the seed alone does not match them)."""
    from hiera_hf import HieraConfig, HieraForImageClassification

    fields = {"depths": (1, 1, 1, 1), "image_size": (64, 64)} if quick else {}
    models = []
    for background in ([16, 16], None):
        config = HieraConfig.from_timm(ARCHITECTURE, window_positional_embedding_background_size=background, **fields)
        torch.manual_seed(0)
        models.append(HieraForImageClassification(config).eval())
    abswin, plain = models
    abswin_state, plain_state = abswin.state_dict(), plain.state_dict()
    shared = {k: v for k, v in abswin_state.items() if k in plain_state and v.shape == plain_state[k].shape}
    plain.load_state_dict(shared, strict=False)
    differ = (set(plain_state) | set(abswin_state)) - set(shared)
    if not differ <= POSITION_TABLES:
        raise RuntimeError(f"abswin and plain differ beyond the position tables: {sorted(differ - POSITION_TABLES)}")
    return abswin, plain


def abswin_section(args, device) -> list[dict]:
    """Both models interleaved in one process, per dtype and batch size; each abswin row with its time over plain's
    and the target, then a table of those ratios."""
    abswin, plain = abswin_models(args.quick)
    peers = [Peer(ABSWIN, abswin, ours=True), Peer(PLAIN, plain)]
    rows = []
    for name, (dtype, label) in RUN_DTYPES.items():
        for peer in peers:
            peer.model.to(device=device, dtype=dtype)
        section = f"{ARCHITECTURE} {name} inference {{metric}}"
        dtype_rows = timed_batches(args, peers, abswin.config, (args.batch_size, 1), section, device, dtype)
        for row in dtype_rows:
            row["dtype"] = label
        rows += dtype_rows
    body = [ratio_cells(rows, section) for section in dict.fromkeys(row["section"] for row in rows)]
    title = f"{ARCHITECTURE}: abswin time / plain time (target: {ABSWIN_TARGET.name}, {ABSWIN_TARGET.goal()})"
    return rows + [table_row(title, ["section", "batch", "abswin / plain time", "target", ""], body)]


def ratio_cells(rows: list[dict], section: str) -> list:
    """The abswin / plain time of one section, set on both of its rows; the cells of the ratio table."""
    pair = {row["peer"]: row for row in rows if row["section"] == section}
    ratio = pair[ABSWIN]["median_s"] / pair[PLAIN]["median_s"]
    pair[ABSWIN].update(
        time_vs_plain=ratio, target=ABSWIN_TARGET.goal(), target_met=ABSWIN_TARGET.status(ratio) == "met"
    )
    pair[PLAIN]["time_vs_plain"] = 1.0
    return [section, pair[ABSWIN]["batch"], f"{ratio:.3f}", ABSWIN_TARGET.goal(), ABSWIN_TARGET.status(ratio)]
