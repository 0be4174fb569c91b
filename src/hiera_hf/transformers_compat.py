# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The private Transformers names the package relies on, where Transformers offers no public seam: one home, each
with why, and each pinned by a test (tests/test_transformers_compat.py) that fails if Transformers changes the
behaviour relied on.

(The hooks a model file is written against, `_init_weights`, `_can_record_outputs`, `_supports_*`,
`config._attn_implementation` and the video processor's stage methods, are Transformers' model-author interface,
used as its own model files use them, and not collected here.)
"""

from __future__ import annotations


def save_in_our_key_names(model) -> None:
    """After loading official or timm weights through `from_pretrained(..., key_mapping=...)`: make
    `save_pretrained` write our key names. Transformers 5 records the renamings a load applied in
    `model._weight_conversions` and reverses them when saving, to give back the checkpoint's own names; a converted
    model is to save in ours (the folder the conversion script writes). There is no public switch for it."""
    model._weight_conversions = []


__all__ = ["save_in_our_key_names"]
