# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Type predicates the argument checks share (a leaf: imports nothing of the package)."""

from __future__ import annotations


def is_int(value) -> bool:
    """An integer, not a bool (what argument checks of sizes and counts accept)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:
    """An int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


__all__ = ["is_int", "is_number"]
