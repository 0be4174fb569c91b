# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""What the image and video processors share (a leaf: imports nothing of the package)."""

from __future__ import annotations


class HieraProcessorMixin:
    """The steps of the official evaluation transforms (resize the shorter side, center-crop, rescale, normalise;
    sizes and statistics differ per processor), and an `auto_map` naming every processor class of the folder."""

    _for_video: bool
    model_input_names = ["pixel_values"]
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True

    def to_dict(self) -> dict:
        # Transformers writes the saved class alone into `auto_map` (`register_for_auto_class`); an image folder
        # names both backends, so `AutoImageProcessor.from_pretrained(..., backend="pil")` finds its class too.
        output = super().to_dict()
        if self._for_video:
            output["auto_map"] = {"AutoVideoProcessor": "video_processing_hiera.HieraVideoProcessor"}
        else:
            output["auto_map"] = {
                "AutoImageProcessor": {
                    "torchvision": "image_processing_hiera.HieraImageProcessor",
                    "pil": "image_processing_hiera.HieraImageProcessorPil",
                }
            }
        return output


__all__ = ["HieraProcessorMixin"]
