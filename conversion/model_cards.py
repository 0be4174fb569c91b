# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Model cards of the converted checkpoints: Meta's official ones (`model_cards/template.md`) and timm's
(`model_cards/timm_template.md`), with a usage snippet from `model_cards/usage/` that the tests run."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from huggingface_hub import ModelCard, ModelCardData

from hiera_hf.parity import PAPER_TOP1

ROOT = Path(__file__).resolve().parents[1]
CARDS_DIR = ROOT / "model_cards"
USAGE_DIR = CARDS_DIR / "usage"  # the cards' usage snippets: Python files that ruff formats and lints
DEFAULT_HUB_ORG = "hiera-hf"  # where the rendered cards say the models live; --repo-id overrides


def usage_snippet(checkpoint, repo_id: str) -> str:
    """The card's code: `model_cards/usage/<image|video>_<task>.py` with the model id filled in."""
    template = USAGE_DIR / f"{'video' if checkpoint.is_video else 'image'}_{checkpoint.task}.py"
    return template.read_text().replace('"{repo_id}"', json.dumps(repo_id)).rstrip("\n")


def parameter_count(checkpoint) -> str:
    with torch.device("meta"):
        return f"{sum(p.numel() for p in checkpoint.model_class()(checkpoint.config()).parameters()) / 1e6:.2f}M"


def _official_card_text(checkpoint) -> dict:
    """What differs between the official cards: the description, training, accuracy, input and Hub tags."""
    video, dataset = checkpoint.is_video, "kinetics-400" if checkpoint.is_video else "imagenet-1k"
    name = "Kinetics-400" if video else "ImageNet-1k"
    text = {
        "dataset": dataset,
        "input_description": "16 RGB frames of 224x224 (every 4th frame), mean 0.45 / std 0.225"
        if video
        else "224x224 RGB (shorter side resized to 256, center crop), ImageNet mean/std",
    }
    if checkpoint.pretraining:
        return {
            **text,
            # The Hub has no video feature-extraction task, and these checkpoints have no classifier: no tag.
            "pipeline_tag": None if video else "image-feature-extraction",
            "description": f"Masked-autoencoder (MAE) pre-trained Hiera on {name}, without fine-tuning: the encoder "
            "and the MAE decoder. Use it for pixel reconstruction, features, or as the starting point for "
            "fine-tuning.",
            "training": f"MAE pre-training on {dataset} (mask ratio {checkpoint.config().mask_ratio})",
            "accuracy": "",
        }
    classes = "Kinetics-400 (400 action classes)" if video else "ImageNet-1k (1000 classes)"
    protocol = " (5 clips x 3 crops)" if video else ""
    return {
        **text,
        "pipeline_tag": "video-classification" if video else "image-classification",
        "description": f"Hiera {'video' if video else 'image'} classifier: MAE pre-trained and fine-tuned on "
        f"{classes}.",
        "training": f"MAE pre-training then supervised fine-tuning on {dataset}",
        "accuracy": f"{name} top-1 {PAPER_TOP1[checkpoint.architecture]}%{protocol}",
    }


def _card(source, repo_id: str, template: str, metadata: dict, **fields) -> ModelCard:
    """A card from `template` with the Hub `metadata` (license, pipeline tag, tags, datasets) and the fields every
    card has (title, architecture, parameters, usage)."""
    return ModelCard.from_template(
        ModelCardData(library_name="transformers", **metadata),
        template_path=str(CARDS_DIR / template),
        title=f"Hiera {source.name}",
        architecture=source.architecture,
        parameters=parameter_count(source),
        usage=usage_snippet(source, repo_id),
        **fields,
    )


def render_card(checkpoint, repo_id: str | None = None) -> ModelCard:
    """The card of a checkpoint, official or timm's."""
    repo_id = repo_id or f"{DEFAULT_HUB_ORG}/{checkpoint.repo_name}"
    if checkpoint.source == "timm":
        return render_timm_card(checkpoint, repo_id)
    text = _official_card_text(checkpoint)
    base_model = None
    if not checkpoint.pretraining:
        base_model = f"{repo_id.rsplit('/', 1)[0]}/{checkpoint.architecture}.{checkpoint.kind.split('_ft_')[0]}"
    tags = ["vision", "hiera", "video" if checkpoint.is_video else "image"] + (
        ["mae"] if checkpoint.pretraining else []
    )
    metadata = {"license": "cc-by-nc-4.0", "pipeline_tag": text.pop("pipeline_tag"), "tags": tags,
                "datasets": [text.pop("dataset")], "base_model": base_model}  # fmt: skip
    return _card(checkpoint, repo_id, "template.md", metadata, checkpoint=checkpoint.kind,
                 is_video=checkpoint.is_video, **text)  # fmt: skip


def render_timm_card(checkpoint, repo_id: str) -> ModelCard:
    """The card of a timm checkpoint: where the weights came from, what they were trained on, their license as
    timm's `pretrained_cfg` gives it."""
    abswin = "abswin" in checkpoint.architecture
    metadata = {
        "license": checkpoint.license,
        "pipeline_tag": "image-classification" if checkpoint.num_classes else "image-feature-extraction",
        "tags": ["vision", "hiera", "image", "timm"] + (["abswin"] if abswin else []),
        "datasets": list(checkpoint.datasets),
    }
    return _card(checkpoint, repo_id, "timm_template.md", metadata, description=checkpoint.description,
                 timm_id=checkpoint.name, input_description=checkpoint.input_description,
                 training=checkpoint.training, license_text=checkpoint.license_text, abswin=abswin)  # fmt: skip


def write_cards(checkpoints, directory: Path = CARDS_DIR) -> list[Path]:
    """(Re)render the committed cards `model_cards/<repo name>.md`."""
    paths = []
    for checkpoint in checkpoints:
        path = directory / f"{checkpoint.repo_name}.md"
        path.write_text(str(render_card(checkpoint)) + "\n")
        paths.append(path)
    return paths


__all__ = ["DEFAULT_HUB_ORG", "render_card", "usage_snippet", "write_cards"]
