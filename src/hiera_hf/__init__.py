# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Hiera (images and videos) for Hugging Face Transformers.

Importing the package registers `HieraConfig` (model_type "hiera_hf") and its models with the Auto classes.
Transformers' own image-only Hiera (model_type "hiera") is left untouched.
"""

from transformers import (
    AutoBackbone,
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForImageClassification,
    AutoModelForPreTraining,
    AutoModelForVideoClassification,
    AutoVideoProcessor,
)

from .configuration_hiera import PRESETS, VIDEO_GEOMETRY, HieraConfig
from .image_processing_hiera import HieraImageProcessor, HieraImageProcessorPil
from .inference import fast_model
from .modeling_hiera import (
    HieraBackbone,
    HieraForImageClassification,
    HieraForPreTraining,
    HieraForVideoClassification,
    HieraModel,
    HieraPreTrainedModel,
)
from .video_processing_hiera import HieraVideoProcessor

__version__ = "0.1.0"


def _register() -> None:
    AutoConfig.register(HieraConfig.model_type, HieraConfig, exist_ok=True)
    # exist_ok: the mappings also know the built-in config by the same class *name*; ours is keyed by the class
    # object and looked up first, so the built-in "hiera" models keep resolving to Transformers' classes.
    for auto_class, model_class in (
        (AutoModel, HieraModel),
        (AutoModelForImageClassification, HieraForImageClassification),
        (AutoModelForVideoClassification, HieraForVideoClassification),
        (AutoModelForPreTraining, HieraForPreTraining),
        (AutoBackbone, HieraBackbone),
    ):
        auto_class.register(HieraConfig, model_class, exist_ok=True)
    AutoImageProcessor.register(
        HieraConfig,
        image_processor_classes={"torchvision": HieraImageProcessor, "pil": HieraImageProcessorPil},
        exist_ok=True,
    )
    AutoVideoProcessor.register(HieraConfig, HieraVideoProcessor, exist_ok=True)


_register()

__all__ = [
    "PRESETS",
    "VIDEO_GEOMETRY",
    "HieraBackbone",
    "HieraConfig",
    "HieraForImageClassification",
    "HieraForPreTraining",
    "HieraForVideoClassification",
    "HieraImageProcessor",
    "HieraImageProcessorPil",
    "HieraVideoProcessor",
    "HieraModel",
    "HieraPreTrainedModel",
    "fast_model",
]
