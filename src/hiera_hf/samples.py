# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""A drawn test picture, for demos and checks that need an image and must not download one."""

from __future__ import annotations

from PIL import Image, ImageDraw


def demo_image() -> Image.Image:
    """A red disc and a blue square on a green background, 320x240."""
    image = Image.new("RGB", (320, 240), (90, 160, 90))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 60, 160, 180), fill=(200, 40, 40))
    draw.rectangle((190, 70, 290, 170), fill=(40, 60, 200))
    return image


__all__ = ["demo_image"]
