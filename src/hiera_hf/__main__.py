# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""`python -m hiera_hf`: build a Hiera classifier from a preset (or load one) and classify an image.

With no `--model` the weights are random (no download happens), so the labels are meaningless: this shows the
model, its input pipeline and its outputs end to end. Pass `--model FOLDER` for a converted checkpoint.

`python -m hiera_hf visualize --model FOLDER_OR_HUB_ID --input FILE` writes pictures of what a model does
(predictions, attention, feature maps, MAE reconstruction; see `hiera_hf.visualization`).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from PIL import Image

from . import PRESETS, HieraConfig, HieraForImageClassification, HieraImageProcessorPil
from .checkpoint_layouts import official_labels
from .processors import processor_sizes
from .samples import demo_image


def main(argv: list[str] | None = None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["visualize"]:
        from .visualization import main as visualize

        return visualize(argv[1:])
    image_presets = [name for name in PRESETS if not HieraConfig.from_preset(name).is_video]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="hiera_tiny_224", choices=image_presets)
    parser.add_argument("--model", help="a saved HieraForImageClassification folder (instead of --preset)")
    parser.add_argument("--image", help="an image file (default: a drawn test picture)")
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error(f"--top-k must be at least 1, got {args.top_k}")

    if args.model:
        model = HieraForImageClassification.from_pretrained(args.model)
        source = args.model
    else:
        torch.manual_seed(0)
        labels = official_labels(1000, is_video=False) or {i: f"class_{i}" for i in range(1000)}  # (torchvision's)
        config = HieraConfig.from_preset(args.preset, id2label=labels, label2id={v: k for k, v in labels.items()})
        model = HieraForImageClassification(config)
        source = f"preset {args.preset}, random weights"
    model.eval()
    image = Image.open(args.image) if args.image else demo_image()
    processor = HieraImageProcessorPil(**processor_sizes(model.config))  # the official transform, model-sized
    pixel_values = processor(image, return_tensors="pt").pixel_values

    start = time.perf_counter()
    with torch.inference_mode():
        logits = model(pixel_values).logits
    elapsed = time.perf_counter() - start
    probabilities = logits.softmax(-1)[0]
    scores, indices = probabilities.topk(min(args.top_k, probabilities.numel()))
    parameters = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model: {source} ({parameters:.2f}M parameters, attention: {model.config._attn_implementation})")
    print(f"input: {args.image or 'drawn test picture'} -> pixel_values {tuple(pixel_values.shape)}")
    print(f"forward: {elapsed * 1000:.0f} ms on {torch.get_num_threads()} CPU threads")
    for score, index in zip(scores.tolist(), indices.tolist()):
        print(f"  {score:7.4f}  {model.config.id2label[index]}")


if __name__ == "__main__":
    main()
