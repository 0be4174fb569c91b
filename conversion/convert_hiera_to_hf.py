# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Convert the 20 official Hiera checkpoints to Transformers format, verify them, write model cards, push.

    python conversion/convert_hiera_to_hf.py hiera_base_224.mae_in1k_ft_in1k --output-dir out/
    python conversion/convert_hiera_to_hf.py --all --output-dir out/
    python conversion/convert_hiera_to_hf.py hiera_tiny_224.mae_in1k --checkpoint-path mae_hiera_tiny_224.pth
    python conversion/convert_hiera_to_hf.py hiera_tiny_224.mae_in1k --hub-source facebook/hiera_tiny_224.mae_in1k
    python conversion/convert_hiera_to_hf.py NAME --push-to-hub --repo-id ORG/NAME [--private] [--create-pr]
    python conversion/convert_hiera_to_hf.py --write-cards        # regenerate model_cards/*.md

Sources: Meta's download server (default, the official package's URLs), Meta's Hub copies in the original format
(`facebook/hiera_<arch>.<checkpoint>`: constructor `config.json` + `model.safetensors`; a repo id or a local
folder), or a local `.pth` / `.safetensors` file. Loading is `torch.load(..., weights_only=True)`.

Every conversion is verified against the official implementation (`pip install hiera-transformer`) on a fixed
input before anything is written, and the output folder is written to a temporary folder and renamed into place.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from huggingface_hub import ModelCard, ModelCardData
from PIL import Image, ImageDraw
from tqdm.auto import tqdm

from hiera_hf import PRESETS, HieraConfig, HieraImageProcessor, HieraImageProcessorPil, HieraVideoProcessor
from hiera_hf.atomic import atomic_folder
from hiera_hf.modeling_hiera import hiera_class_for
from hiera_hf.official import (
    PAPER_TOP1,
    convert_official_state_dict,
    load_official_checkpoint,
    max_difference,
    official_key_to_hf,
    official_labels,
    official_model,
)

ROOT = Path(__file__).resolve().parents[1]
CARDS_DIR = ROOT / "model_cards"
USAGE_DIR = CARDS_DIR / "usage"  # the cards' usage snippets: Python files that ruff formats and lints
DEFAULT_HUB_ORG = "hiera-hf"  # where the rendered cards say the models live; --repo-id overrides
URL = "https://dl.fbaipublicfiles.com/hiera/{file}.pth"
ATOL = 1e-4


class ConversionError(ValueError):
    """A checkpoint that cannot be converted faithfully (nothing has been written)."""


@dataclass(frozen=True)
class Checkpoint:
    architecture: str  # preset name, e.g. hiera_base_224
    is_video: bool
    pretraining: bool  # MAE weights (encoder + decoder), else fine-tuned classifier

    @property
    def kind(self) -> str:
        """mae_in1k_ft_in1k, mae_in1k, mae_k400_ft_k400 or mae_k400."""
        dataset = "k400" if self.is_video else "in1k"
        return f"mae_{dataset}" if self.pretraining else f"mae_{dataset}_ft_{dataset}"

    @property
    def name(self) -> str:
        return f"{self.architecture}.{self.kind}"

    @property
    def url(self) -> str:
        return URL.format(file=("mae_" if self.pretraining else "") + self.architecture)

    def config(self) -> HieraConfig:
        config = HieraConfig.from_preset(self.architecture, for_pretraining=self.pretraining)
        if not self.pretraining:
            config.id2label = official_labels(400 if self.is_video else 1000, self.is_video)
            config.label2id = {label: index for index, label in config.id2label.items()}
        return config

    def model_class(self):
        return hiera_class_for(HieraConfig.from_preset(self.architecture), self.task)

    @property
    def task(self) -> str:
        return "pretraining" if self.pretraining else "classification"


# Meta published a fine-tuned and an MAE checkpoint of every preset.
CHECKPOINTS: dict[str, Checkpoint] = {
    checkpoint.name: checkpoint
    for architecture in PRESETS
    for pretraining in (False, True)
    for checkpoint in [Checkpoint(architecture, HieraConfig.from_preset(architecture).is_video, pretraining)]
}


def get_checkpoint(name: str) -> Checkpoint:
    if name not in CHECKPOINTS:
        raise ConversionError(f"Unknown checkpoint {name!r}. Valid names:\n  " + "\n  ".join(CHECKPOINTS))
    return CHECKPOINTS[name]


# ---- loading --------------------------------------------------------------------------------------------------


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """An official `.pth` (`{"model_state": ...}`, loaded with weights_only=True) or a `.safetensors` file."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"Checkpoint file {str(path)!r} does not exist.")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:  # a truncated or garbled header
            raise ConversionError(
                f"Could not read checkpoint {str(path)!r}: {type(error).__name__}: {error}"
            ) from error
    try:
        return load_official_checkpoint(path)
    except ValueError as error:
        raise ConversionError(str(error)) from error


def download(checkpoint: Checkpoint, cache_dir: Path) -> Path:
    """Fetch the official `.pth` from Meta's server into `cache_dir` (with a progress bar)."""
    target = cache_dir / Path(checkpoint.url).name
    if not target.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(checkpoint.url, str(target), progress=True)
        except Exception as error:
            raise ConversionError(f"Could not download {checkpoint.url}: {error}") from error
    return target


def load_hub_original(source: str, checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    """Meta's original-format Hub repo (or a local copy): check its `config.json`, return its weights."""
    folder = Path(source)
    if folder.is_dir():
        config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    else:
        from huggingface_hub import hf_hub_download

        try:
            config_path = Path(hf_hub_download(source, "config.json"))
            weights_path = Path(hf_hub_download(source, "model.safetensors"))
        except Exception as error:
            raise ConversionError(f"Could not fetch {source!r} from the Hub: {error}") from error
    if not config_path.is_file():
        raise ConversionError(f"{source!r} has no config.json (expected Meta's original Hub format).")
    constructor_kwargs = json.loads(config_path.read_text())
    check_constructor_kwargs(constructor_kwargs, checkpoint)
    return load_state_dict_file(weights_path)


def check_constructor_kwargs(kwargs: dict, checkpoint: Checkpoint) -> None:
    """Meta's Hub `config.json` holds the official constructor's arguments: they must describe `checkpoint`."""
    expected = checkpoint.config()
    known = {
        "embed_dim": expected.embed_dim,
        "num_heads": expected.num_heads[0],
        "stages": list(expected.depths),
        "input_size": list(expected.input_size),
        "q_pool": expected.num_query_pool,
    }
    wrong = {k: (kwargs[k], v) for k, v in known.items() if k in kwargs and _as_list(kwargs[k]) != _as_list(v)}
    if wrong:
        details = ", ".join(f"{k}={got} (expected {want})" for k, (got, want) in wrong.items())
        raise ConversionError(f"The source's config.json is not {checkpoint.name}: {details}.")


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else value


# ---- mapping and verification -------------------------------------------------------------------------------


def build_model(checkpoint: Checkpoint, official_state: dict[str, torch.Tensor], device: str | None = None):
    """Our model for `checkpoint` with `official_state` loaded: every key consumed, every key filled, shapes equal."""
    config = checkpoint.config()
    converted = convert_official_state_dict(official_state, config)  # unknown official keys raise
    with torch.device(device or "cpu"):
        model = checkpoint.model_class()(config)
    expected = model.state_dict()
    problems = []
    official_name = {official_key_to_hf(k, config): k for k in official_state}  # ours -> checkpoint's key
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(official_name[k] for k in set(converted) - set(expected))
    wrong_shape = sorted(
        f"{official_name[k]}: checkpoint {tuple(converted[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(converted)
        if converted[k].shape != expected[k].shape
    )
    if missing:
        problems.append(f"missing from the checkpoint: {missing}")
    if unexpected:
        problems.append(f"not used by {checkpoint.name}: {unexpected}")
    if wrong_shape:
        problems.append(f"shape mismatches (wrong architecture for the name?): {wrong_shape}")
    if problems:
        raise ConversionError(f"Checkpoint does not fit {checkpoint.name}:\n  " + "\n  ".join(problems))
    if device != "meta":
        model.load_state_dict(converted, strict=True, assign=False)
    return model.eval()


def verify(checkpoint: Checkpoint, model, official_state: dict[str, torch.Tensor]) -> float:
    """Max abs difference to the official model on a fixed input (logits, or MAE loss and predictions)."""
    official = official_model(model.config, checkpoint.pretraining, state_dict=official_state)
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(1, 3, *model.config.input_size, generator=generator)  # official layout (B, C, [T,] H, W)
    noise = torch.rand(1, model.config.num_mask_units, generator=generator) if checkpoint.pretraining else None
    difference = max_difference(model, official, pixels, noise)
    if not difference <= ATOL:
        raise ConversionError(
            f"{checkpoint.name}: outputs differ from the official model by {difference:.2e} > {ATOL}."
        )
    return difference


def verify_processor(is_video: bool) -> float:
    """Our default processor against the official evaluation transform on a fixed picture or clip."""
    if is_video:
        # 61 frames: the 16-frame window at stride 4 fits exactly, starting at frame 0
        frames = np.random.default_rng(0).integers(0, 256, (61, 240, 320, 3), dtype=np.uint8)
        ours = HieraVideoProcessor()(frames, return_tensors="pt").pixel_values[0]
        clip = torch.from_numpy(frames[::4]).permute(0, 3, 1, 2).float() / 255
        clip = torch.nn.functional.interpolate(clip, size=(224, 298), mode="bilinear", align_corners=False)
        reference = (clip[..., 37:261] - 0.45) / 0.225
    else:
        from torchvision import transforms

        official = transforms.Compose(
            [
                transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
                transforms.CenterCrop(224),
                transforms.ToTensor(),
                transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
            ]
        )
        image = demo_image()
        ours = HieraImageProcessorPil()(image, return_tensors="pt").pixel_values[0]
        reference = official(image)
    difference = float((ours - reference).abs().max())
    if not difference <= ATOL:
        raise ConversionError(f"processor differs from the official transform by {difference:.2e} > {ATOL}.")
    return difference


def demo_image() -> Image.Image:
    image = Image.new("RGB", (320, 240), "skyblue")
    ImageDraw.Draw(image).ellipse((100, 60, 220, 180), fill="orange")
    return image


# ---- model cards ----------------------------------------------------------------------------------------------


def usage_snippet(checkpoint: Checkpoint, repo_id: str) -> str:
    """The card's code: `model_cards/usage/<image|video>_<task>.py` with the model id filled in."""
    template = USAGE_DIR / f"{'video' if checkpoint.is_video else 'image'}_{checkpoint.task}.py"
    return template.read_text().replace('"{repo_id}"', json.dumps(repo_id)).rstrip("\n")


def render_card(checkpoint: Checkpoint, repo_id: str | None = None) -> ModelCard:
    repo_id = repo_id or f"{DEFAULT_HUB_ORG}/{checkpoint.name}"
    config = checkpoint.config()
    with torch.device("meta"):
        parameters = sum(p.numel() for p in checkpoint.model_class()(config).parameters())
    dataset = "kinetics-400" if checkpoint.is_video else "imagenet-1k"
    if checkpoint.pretraining:
        # The Hub has no video feature-extraction task, and these checkpoints have no classifier: no tag for video.
        pipeline_tag = None if checkpoint.is_video else "image-feature-extraction"
        description = (
            f"Masked-autoencoder (MAE) pre-trained Hiera on {'Kinetics-400' if checkpoint.is_video else 'ImageNet-1k'}"
            ", without fine-tuning: the encoder and the MAE decoder. Use it for pixel reconstruction, features, or "
            "as the starting point for fine-tuning."
        )
        training = f"MAE pre-training on {dataset} (mask ratio {config.mask_ratio})"
        accuracy = ""
        base_model = None
    else:
        pipeline_tag = "video-classification" if checkpoint.is_video else "image-classification"
        description = (
            f"Hiera {'video' if checkpoint.is_video else 'image'} classifier: MAE pre-trained and fine-tuned on "
            f"{'Kinetics-400 (400 action classes)' if checkpoint.is_video else 'ImageNet-1k (1000 classes)'}."
        )
        training = f"MAE pre-training then supervised fine-tuning on {dataset}"
        protocol = " (5 clips x 3 crops)" if checkpoint.is_video else ""
        accuracy = f"{'Kinetics-400' if checkpoint.is_video else 'ImageNet-1k'} top-1 {PAPER_TOP1[checkpoint.architecture]}%{protocol}"
        pretrained = checkpoint.kind.split("_ft_")[0]
        base_model = f"{repo_id.rsplit('/', 1)[0]}/{checkpoint.architecture}.{pretrained}"
    input_description = (
        "16 RGB frames of 224x224 (every 4th frame), mean 0.45 / std 0.225"
        if checkpoint.is_video
        else "224x224 RGB (shorter side resized to 256, center crop), ImageNet mean/std"
    )
    card_data = ModelCardData(
        license="cc-by-nc-4.0",
        library_name="transformers",
        pipeline_tag=pipeline_tag,
        tags=["vision", "hiera", "video" if checkpoint.is_video else "image"]
        + (["mae"] if checkpoint.pretraining else []),
        datasets=[dataset],
        base_model=base_model,
    )
    return ModelCard.from_template(
        card_data,
        template_path=str(CARDS_DIR / "template.md"),
        title=f"Hiera {checkpoint.name}",
        description=description,
        checkpoint=checkpoint.kind,
        architecture=checkpoint.architecture,
        parameters=f"{parameters / 1e6:.2f}M",
        input_description=input_description,
        training=training,
        accuracy=accuracy,
        is_video=checkpoint.is_video,
        usage=usage_snippet(checkpoint, repo_id),
    )


def write_cards(directory: Path = CARDS_DIR) -> list[Path]:
    """(Re)render the committed cards `model_cards/<name>.md` for all 20 checkpoints."""
    paths = []
    for checkpoint in CHECKPOINTS.values():
        path = directory / f"{checkpoint.name}.md"
        path.write_text(str(render_card(checkpoint)) + "\n")
        paths.append(path)
    return paths


# ---- conversion -----------------------------------------------------------------------------------------------


def convert_checkpoint(
    name: str,
    output_dir: str | os.PathLike,
    checkpoint_path: str | os.PathLike | None = None,
    hub_source: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    repo_id: str | None = None,
    overwrite: bool = False,
) -> dict:
    """Convert one checkpoint into `output_dir/<name>` (weights, configs, code, card). Returns a summary row.

    Source: `checkpoint_path` (local .pth/.safetensors), else `hub_source` (Meta's original Hub format, repo id or
    local folder), else Meta's download server. Nothing is written unless every check passes, and an existing
    folder (`overwrite=True`) stays in place until the new one replaces it.
    """
    checkpoint = get_checkpoint(name)
    destination = Path(output_dir) / checkpoint.name
    if destination.exists() and not overwrite:
        raise ConversionError(f"{str(destination)!r} exists; pass overwrite=True (--overwrite) to replace it.")
    if checkpoint_path is not None:
        official_state = load_state_dict_file(checkpoint_path)
    elif hub_source is not None:
        official_state = load_hub_original(hub_source, checkpoint)
    else:
        cache = Path(cache_dir or Path(torch.hub.get_dir()) / "checkpoints")
        official_state = load_state_dict_file(download(checkpoint, cache))

    model = build_model(checkpoint, official_state)
    difference = verify(checkpoint, model, official_state)
    processor_difference = verify_processor(checkpoint.is_video)
    with atomic_folder(destination, overwrite=overwrite) as staging:
        model.save_pretrained(staging)
        processor = HieraVideoProcessor() if checkpoint.is_video else HieraImageProcessor()
        processor.save_pretrained(staging)
        render_card(checkpoint, repo_id).save(staging / "README.md")
    return {
        "checkpoint": checkpoint.name,
        "max_abs_diff": difference,
        "processor_diff": processor_difference,
        "output": str(destination),
    }


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    create_pr: bool = False,
    revision: str | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Upload a verified folder to `repo_id` in one commit (or list what would be uploaded with `dry_run`)."""
    folder = Path(folder)
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    if dry_run:
        return files
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None and not create_pr:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            commit_message=f"Upload {folder.name} (converted with hiera-hf)",
            revision=revision,
            create_pr=create_pr,
        )
    except Exception as error:
        raise ConversionError(
            f"Upload of {str(folder)!r} to {repo_id!r} failed ({type(error).__name__}: {error}). "
            "The local folder is intact; retry when the Hub is reachable and you are logged in."
        ) from error
    return files


def summary_table(rows: list[dict]) -> str:
    lines = ["| checkpoint | max abs diff | processor diff | output |", "|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['checkpoint']} | {row['max_abs_diff']:.2e} | {row['processor_diff']:.2e} | {row['output']} |"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"checkpoint names, e.g. {next(iter(CHECKPOINTS))}")
    parser.add_argument("--all", action="store_true", help="convert all 20 checkpoints")
    parser.add_argument("--list", action="store_true", help="list the checkpoint names")
    parser.add_argument("--output-dir", default="converted")
    parser.add_argument("--checkpoint-path", help="local official .pth or .safetensors (one name only)")
    parser.add_argument("--hub-source", help="Meta's original-format Hub repo id or a local copy (one name only)")
    parser.add_argument("--cache-dir", help="where downloads from Meta's server are kept")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--push-to-hub", action="store_true")
    parser.add_argument("--repo-id", help="ORG/NAME (one name) or ORG (several: ORG/<checkpoint name>)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--create-pr", action="store_true")
    parser.add_argument("--revision", help="branch to push to")
    parser.add_argument("--dry-run", action="store_true", help="write the folders, then print what would be uploaded")
    parser.add_argument("--write-cards", action="store_true", help="regenerate model_cards/*.md and exit")
    return parser


def check_arguments(args: argparse.Namespace, names: list[str]) -> str | None:
    """What is wrong with this combination of arguments (None if nothing): checked before any download."""
    unknown = [name for name in names if name not in CHECKPOINTS]
    if unknown:
        return f"unknown checkpoint(s) {', '.join(unknown)}; valid names:\n  " + "\n  ".join(CHECKPOINTS)
    if args.checkpoint_path and args.hub_source:
        return "give --checkpoint-path or --hub-source, not both"
    if (args.checkpoint_path or args.hub_source) and len(names) != 1:
        return "--checkpoint-path and --hub-source take exactly one checkpoint name"
    if args.checkpoint_path and not Path(args.checkpoint_path).is_file():
        return f"--checkpoint-path {args.checkpoint_path!r} is not a file"
    if args.push_to_hub and args.dry_run:
        return "--dry-run lists what --push-to-hub would upload: give one of them"
    if args.push_to_hub and not args.repo_id:
        return "--push-to-hub needs --repo-id (ORG/NAME for one checkpoint, ORG for several)"
    if (args.private or args.create_pr or args.revision) and not (args.push_to_hub or args.dry_run):
        return "--private, --create-pr and --revision only apply with --push-to-hub"
    if args.repo_id and len(names) > 1 and "/" in args.repo_id.strip("/"):
        return f"--repo-id {args.repo_id!r} names one repository; give an organisation for {len(names)} checkpoints"
    existing = [str(Path(args.output_dir) / name) for name in names if (Path(args.output_dir) / name).exists()]
    if existing and not args.overwrite:
        return f"{', '.join(existing)} exist(s); pass --overwrite to replace"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(CHECKPOINTS))
        return 0
    if args.write_cards:
        for path in write_cards():
            print(path)
        return 0
    names = list(CHECKPOINTS) if args.all else args.names
    if not names:
        parser.error("name a checkpoint, or pass --all / --list / --write-cards")
    problem = check_arguments(args, names)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    options = {key: getattr(args, key) for key in ("checkpoint_path", "hub_source", "cache_dir", "overwrite")}
    try:
        rows = []
        for name in tqdm(names, desc="checkpoints", disable=len(names) == 1):
            repo_id = args.repo_id if len(names) == 1 else f"{(args.repo_id or DEFAULT_HUB_ORG).rstrip('/')}/{name}"
            repo_id = repo_id or f"{DEFAULT_HUB_ORG}/{name}"
            row = convert_checkpoint(name, args.output_dir, repo_id=repo_id, **options)
            rows.append(row)
            if args.push_to_hub or args.dry_run:
                files = push_to_hub(row["output"], repo_id, args.private, args.create_pr, args.revision, args.dry_run)
                print(f"{'would upload' if args.dry_run else 'uploaded'} to {repo_id}: {', '.join(files)}")
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(summary_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
