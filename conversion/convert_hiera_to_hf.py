# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Convert the public Hiera checkpoints to Transformers format, verify them, write model cards, push: Meta's 20
official ones and timm's 16.

    python conversion/convert_hiera_to_hf.py hiera_base_224.mae_in1k_ft_in1k --output-dir out/
    python conversion/convert_hiera_to_hf.py timm/hiera_small_abswin_256.sbb2_e200_in12k_ft_in1k --output-dir out/
    python conversion/convert_hiera_to_hf.py --all --output-dir out/
    python conversion/convert_hiera_to_hf.py hiera_tiny_224.mae_in1k --checkpoint-path mae_hiera_tiny_224.pth
    python conversion/convert_hiera_to_hf.py hiera_tiny_224.mae_in1k --hub-source facebook/hiera_tiny_224.mae_in1k
    python conversion/convert_hiera_to_hf.py timm/hiera_tiny_224.mae --hub-source ./a-local-copy-of-the-repo
    python conversion/convert_hiera_to_hf.py NAME --push-to-hub --repo-id ORG/NAME [--private] [--create-pr]
    python conversion/convert_hiera_to_hf.py --write-cards        # regenerate model_cards/*.md

Sources of the official checkpoints: Meta's download server (default, the official package's URLs), Meta's Hub
copies in the original format (`facebook/hiera_<arch>.<checkpoint>`: constructor `config.json` +
`model.safetensors`; a repo id or a local folder), or a local `.pth` / `.safetensors` file. timm's checkpoints:
their Hub repos (`timm/<name>`, default: `config.json` + `model.safetensors` or `pytorch_model.bin`) or a local
copy (`--hub-source`). Loading is `torch.load(..., weights_only=True)` or safetensors.

Every conversion is verified against its reference implementation (`pip install hiera-transformer`, or `timm`) on a
fixed input before anything is written, and the output folder is written to a temporary folder and renamed into
place.
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
from tqdm.auto import tqdm

from hiera_hf import PRESETS, HieraConfig, HieraImageProcessor, HieraImageProcessorPil, HieraVideoProcessor
from hiera_hf.atomic import atomic_folder
from hiera_hf.checkpoint_layouts import official_labels, read_state_dict
from hiera_hf.configuration_hiera import config_from_timm
from hiera_hf.image_processing_hiera import timm_processor_kwargs
from hiera_hf.modeling_hiera import hiera_class_for
from hiera_hf.parity import max_difference, official_model, timm_model, timm_paired_outputs
from hiera_hf.samples import demo_image

if __package__ in (None, ""):  # run as a script: its folder is on sys.path, the repository root is not
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conversion.model_cards import DEFAULT_HUB_ORG, render_card, write_cards  # noqa: E402

URL = "https://dl.fbaipublicfiles.com/hiera/{file}.pth"
ATOL = 1e-4


class ConversionError(ValueError):
    """A checkpoint that cannot be converted faithfully (nothing has been written)."""


@dataclass(frozen=True)
class Checkpoint:
    """One of Meta's official checkpoints."""

    architecture: str  # preset name, e.g. hiera_base_224
    is_video: bool
    pretraining: bool  # MAE weights (encoder + decoder), else fine-tuned classifier
    source = "official"

    @property
    def kind(self) -> str:
        """mae_in1k_ft_in1k, mae_in1k, mae_k400_ft_k400 or mae_k400."""
        dataset = "k400" if self.is_video else "in1k"
        return f"mae_{dataset}" if self.pretraining else f"mae_{dataset}_ft_{dataset}"

    @property
    def name(self) -> str:
        return f"{self.architecture}.{self.kind}"

    repo_name = name

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


# timm's tags of its Hiera weights: (classes, license as timm's pretrained_cfg gives it, datasets, training).
_MAE = "MAE pre-training on ImageNet-1k (Meta)"
_SBB2 = 'supervised, 200 epochs, timm\'s "Searching for better ViT baselines" recipe (sbb2), by Ross Wightman'
_PATCH_DROP = "; patch dropout over the mask units in training (timm: it makes the position embedding generalise better to other sizes)"  # fmt: skip
TIMM_TAGS = {
    "mae_in1k_ft_in1k": (1000, "cc-by-nc-4.0", ("imagenet-1k",), f"{_MAE}, then supervised fine-tuning on it"),
    "mae": (0, "cc-by-nc-4.0", ("imagenet-1k",), f"{_MAE}; the encoder alone"),
    "sbb2_e200_in12k_ft_in1k": (
        1000,
        "apache-2.0",
        ("imagenet-12k", "imagenet-1k"),
        f"ImageNet-12k, {_SBB2}, then fine-tuned on ImageNet-1k",
    ),  # fmt: skip
    "sbb2_pd_e200_in12k_ft_in1k": (
        1000,
        "apache-2.0",
        ("imagenet-12k", "imagenet-1k"),
        f"ImageNet-12k, {_SBB2}, then fine-tuned on ImageNet-1k{_PATCH_DROP}",
    ),  # fmt: skip
    "sbb2_e200_in12k": (11821, "apache-2.0", ("imagenet-12k",), f"ImageNet-12k (11,821 classes), {_SBB2}"),
    "sbb2_pd_e200_in12k": (
        11821,
        "apache-2.0",
        ("imagenet-12k",),
        f"ImageNet-12k (11,821 classes), {_SBB2}{_PATCH_DROP}",
    ),  # fmt: skip
}


@dataclass(frozen=True)
class TimmCheckpoint:
    """One of timm's Hiera checkpoints (`timm/<architecture>.<tag>` on the Hub)."""

    architecture: str  # timm's, e.g. hiera_small_abswin_256
    tag: str
    source = "timm"
    is_video = False
    pretraining = False

    @property
    def name(self) -> str:
        return f"timm/{self.architecture}.{self.tag}"

    @property
    def repo_name(self) -> str:
        return f"timm-{self.architecture}.{self.tag}"

    @property
    def num_classes(self) -> int:
        return TIMM_TAGS[self.tag][0]

    @property
    def license(self) -> str:
        return TIMM_TAGS[self.tag][1]

    @property
    def datasets(self) -> tuple[str, ...]:
        return TIMM_TAGS[self.tag][2]

    @property
    def training(self) -> str:
        return TIMM_TAGS[self.tag][3]

    @property
    def task(self) -> str:
        return "classification" if self.num_classes else "base"

    def config(self) -> HieraConfig:
        return HieraConfig.from_timm(self.architecture, num_labels=self.num_classes)

    def model_class(self):
        return hiera_class_for(self.config(), self.task)

    @property
    def input_description(self) -> str:
        size = self.config().image_size[0]
        crop = 0.95 if size == 256 else 0.9  # timm's pretrained_cfg crop_pct
        return (
            f"{size}x{size} RGB (shorter side resized to {int(size / crop)}, bicubic, center crop), ImageNet mean/std"
        )

    @property
    def description(self) -> str:
        if self.tag.startswith("mae"):
            head = "classifier, fine-tuned on ImageNet-1k" if self.num_classes else "encoder, without a head"
            return (
                f"Meta's MAE pre-trained Hiera {head}, as timm publishes it: Meta's weights in timm's layout"
                + (". It holds the encoder alone (no MAE decoder): for pixel reconstruction use Meta's "
                   f"`{self.architecture}.mae_in1k`." if not self.num_classes else ".")
            )  # fmt: skip
        classes = (
            "ImageNet-1k classifier (1000 classes)"
            if self.num_classes == 1000
            else "ImageNet-12k classifier (11,821 classes)"
        )
        return f"Hiera-S with absolute-window position embeddings and LayerScale, trained by timm: an {classes}."

    @property
    def license_text(self) -> str:
        if self.license == "cc-by-nc-4.0":
            return (
                "**Weights: CC-BY-NC-4.0. Non-commercial use only.** They are Meta's official Hiera weights, released "
                "under the [Creative Commons Attribution-NonCommercial 4.0 license]"
                "(https://creativecommons.org/licenses/by-nc/4.0/), as timm's `pretrained_cfg` states."
            )
        return "**Weights: Apache-2.0**, as timm's `pretrained_cfg` states (trained by timm, not by Meta)."


# Meta published a fine-tuned and an MAE checkpoint of every preset.
CHECKPOINTS: dict[str, Checkpoint] = {
    checkpoint.name: checkpoint
    for architecture in PRESETS
    for pretraining in (False, True)
    for checkpoint in [Checkpoint(architecture, HieraConfig.from_preset(architecture).is_video, pretraining)]
}
# timm's: Meta's image checkpoints in its layout (the MAE ones without the decoder), and its own abswin models.
TIMM_CHECKPOINTS: dict[str, TimmCheckpoint] = {
    checkpoint.name: checkpoint
    for checkpoint in [
        *[TimmCheckpoint(f"hiera_{size}_224", tag) for size in ("tiny", "small", "base", "base_plus", "large", "huge")
          for tag in ("mae_in1k_ft_in1k", "mae")],
        *[TimmCheckpoint("hiera_small_abswin_256", tag) for tag in TIMM_TAGS if tag.startswith("sbb2")],
    ]
}  # fmt: skip
ALL_CHECKPOINTS = {**CHECKPOINTS, **TIMM_CHECKPOINTS}


def get_checkpoint(name: str) -> Checkpoint | TimmCheckpoint:
    if name not in ALL_CHECKPOINTS:
        raise ConversionError(f"Unknown checkpoint {name!r}. Valid names:\n  " + "\n  ".join(ALL_CHECKPOINTS))
    return ALL_CHECKPOINTS[name]


# ---- loading --------------------------------------------------------------------------------------------------


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """An official `.pth` (`{"model_state": ...}`, loaded with weights_only=True) or a `.safetensors` file."""
    try:
        return read_state_dict(path)
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


def hub_files(source: str, names: tuple[str, ...]) -> dict[str, Path]:
    """The files of a Hub repo (or a local folder) among `names` that it has."""
    folder = Path(source)
    if folder.is_dir():
        return {name: folder / name for name in names if (folder / name).is_file()}
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    files = {}
    for name in names:
        try:
            files[name] = Path(hf_hub_download(source, name))
        except EntryNotFoundError:
            continue
        except Exception as error:
            raise ConversionError(f"Could not fetch {source!r} from the Hub: {error}") from error
    return files


def load_hub_original(source: str, checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    """Meta's original-format Hub repo (or a local copy): check its `config.json`, return its weights."""
    files = hub_files(source, ("config.json", "model.safetensors"))
    if "config.json" not in files:
        raise ConversionError(f"{source!r} has no config.json (expected Meta's original Hub format).")
    check_constructor_kwargs(json.loads(files["config.json"].read_text()), checkpoint)
    if "model.safetensors" not in files:
        raise ConversionError(f"{source!r} has no model.safetensors beside its config.json.")
    return load_state_dict_file(files["model.safetensors"])


def load_timm_repo(source: str, checkpoint: TimmCheckpoint) -> tuple[dict, dict[str, torch.Tensor]]:
    """timm's Hub repo (or a local copy): its `config.json`, checked to be `checkpoint`'s, and its weights."""
    files = hub_files(source, ("config.json", "model.safetensors", "pytorch_model.bin"))
    if "config.json" not in files:
        raise ConversionError(f"{source!r} has no config.json (expected timm's Hub format).")
    timm_config = json.loads(files["config.json"].read_text())
    found = (timm_config.get("architecture"), timm_config.get("num_classes"))
    if found != (checkpoint.architecture, checkpoint.num_classes):
        raise ConversionError(
            f"The source's config.json is not {checkpoint.name}: architecture {found[0]!r} with {found[1]} classes "
            f"(expected {checkpoint.architecture!r} with {checkpoint.num_classes})."
        )
    weights = files.get("model.safetensors") or files.get("pytorch_model.bin")
    if weights is None:
        raise ConversionError(f"{source!r} has no model.safetensors or pytorch_model.bin beside its config.json.")
    return timm_config, load_state_dict_file(weights)


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


def build_model(checkpoint, state_dict: dict[str, torch.Tensor], config: HieraConfig | None = None):
    """Our model for `checkpoint` with the reference `state_dict` loaded through the one path
    (`from_reference_weights`): every key consumed, every key filled, shapes equal."""
    try:
        return checkpoint.model_class().from_reference_weights(state_dict, config or checkpoint.config())
    except ValueError as error:
        raise ConversionError(f"Checkpoint does not fit {checkpoint.name}: {error}") from error


def _fixed_pixels(config: HieraConfig) -> tuple[torch.Tensor, torch.Generator]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(1, 3, *config.input_size, generator=generator), generator  # (B, C, [T,] H, W)


def verify(checkpoint: Checkpoint, model, official_state: dict[str, torch.Tensor]) -> float:
    """Max abs difference to the official model on a fixed input (logits, or MAE loss and predictions)."""
    official = official_model(model.config, checkpoint.pretraining, state_dict=official_state)
    pixels, generator = _fixed_pixels(model.config)
    noise = torch.rand(1, model.config.num_mask_units, generator=generator) if checkpoint.pretraining else None
    return _within_tolerance(checkpoint, max_difference(model, official, pixels, noise), "the official model")


def verify_timm(checkpoint: TimmCheckpoint, model, timm_state: dict[str, torch.Tensor]) -> float:
    """Max abs difference to timm's model on a fixed input (logits or pooled features, and every stage's map)."""
    timm = timm_model(model.config, state_dict=timm_state, num_classes=checkpoint.num_classes)
    pairs = timm_paired_outputs(model, timm, _fixed_pixels(model.config)[0])
    difference = max(float((ours - theirs).abs().max()) for ours, theirs in pairs.values())
    return _within_tolerance(checkpoint, difference, "timm's model")


def _within_tolerance(checkpoint, difference: float, reference: str) -> float:
    if not difference <= ATOL:
        raise ConversionError(f"{checkpoint.name}: outputs differ from {reference} by {difference:.2e} > {ATOL}.")
    return difference


def _official_image_transform(image):
    from torchvision import transforms

    official = transforms.Compose(
        [
            transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    return official(image)


def verify_processor(is_video: bool, pretrained_cfg: dict | None = None) -> float:
    """Our processor against the reference evaluation transform on a fixed picture or clip: the official one, or
    timm's for a timm `pretrained_cfg` (`timm.data.create_transform`)."""
    if is_video:
        # 61 frames: the 16-frame window at stride 4 fits exactly, starting at frame 0
        frames = np.random.default_rng(0).integers(0, 256, (61, 240, 320, 3), dtype=np.uint8)
        ours = HieraVideoProcessor()(frames, return_tensors="pt").pixel_values[0]
        clip = torch.from_numpy(frames[::4]).permute(0, 3, 1, 2).float() / 255
        clip = torch.nn.functional.interpolate(clip, size=(224, 298), mode="bilinear", align_corners=False)
        reference = (clip[..., 37:261] - 0.45) / 0.225
    elif pretrained_cfg is not None:
        import timm.data

        transform = timm.data.create_transform(**timm.data.resolve_data_config(pretrained_cfg=pretrained_cfg))
        ours = HieraImageProcessorPil(**timm_processor_kwargs(pretrained_cfg))(demo_image(), return_tensors="pt")
        ours, reference = ours.pixel_values[0], transform(demo_image())
    else:
        ours = HieraImageProcessorPil()(demo_image(), return_tensors="pt").pixel_values[0]
        reference = _official_image_transform(demo_image())
    difference = float((ours - reference).abs().max())
    if not difference <= ATOL:
        raise ConversionError(f"processor differs from the reference transform by {difference:.2e} > {ATOL}.")
    return difference


# ---- conversion -----------------------------------------------------------------------------------------------


def _official_source(checkpoint: Checkpoint, checkpoint_path, hub_source, cache_dir) -> dict[str, torch.Tensor]:
    if checkpoint_path is not None:
        return load_state_dict_file(checkpoint_path)
    if hub_source is not None:
        return load_hub_original(hub_source, checkpoint)
    return load_state_dict_file(download(checkpoint, Path(cache_dir or Path(torch.hub.get_dir()) / "checkpoints")))


def _converted(checkpoint, checkpoint_path, hub_source, cache_dir):
    """The verified model and processor of `checkpoint`, and their differences to the references."""
    if checkpoint.source == "timm":
        if checkpoint_path is not None:
            raise ConversionError("timm checkpoints come as Hub repos: give --hub-source (a repo id or a folder).")
        timm_config, state = load_timm_repo(hub_source or checkpoint.name, checkpoint)
        model = build_model(checkpoint, state, HieraConfig.from_dict(config_from_timm(timm_config)))
        differences = verify_timm(checkpoint, model, state), verify_processor(False, timm_config["pretrained_cfg"])
        return model, HieraImageProcessor(**timm_processor_kwargs(timm_config["pretrained_cfg"])), differences
    state = _official_source(checkpoint, checkpoint_path, hub_source, cache_dir)
    model = build_model(checkpoint, state)
    differences = verify(checkpoint, model, state), verify_processor(checkpoint.is_video)
    return model, HieraVideoProcessor() if checkpoint.is_video else HieraImageProcessor(), differences


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

    Source: `checkpoint_path` (local .pth/.safetensors), else `hub_source` (Meta's original Hub format or timm's,
    a repo id or a local folder), else Meta's download server (timm's: its Hub repo). Nothing is written unless
    every check passes, and an existing folder (`overwrite=True`) stays in place until the new one replaces it.
    """
    checkpoint = get_checkpoint(name)
    destination = Path(output_dir) / checkpoint.name
    if destination.exists() and not overwrite:
        raise ConversionError(f"{str(destination)!r} exists; pass overwrite=True (--overwrite) to replace it.")
    model, processor, (difference, processor_difference) = _converted(
        checkpoint, checkpoint_path, hub_source, cache_dir
    )
    with atomic_folder(destination, overwrite=overwrite) as staging:
        model.save_pretrained(staging)
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
    parser.add_argument("--all", action="store_true", help="convert all 36 checkpoints (Meta's 20, timm's 16)")
    parser.add_argument("--list", action="store_true", help="list the checkpoint names")
    parser.add_argument("--output-dir", default="converted")
    parser.add_argument("--checkpoint-path", help="local official .pth or .safetensors (one name only)")
    parser.add_argument("--hub-source", help="the original-format Hub repo id or a local copy (one name only)")
    parser.add_argument("--cache-dir", help="where downloads from Meta's server are kept")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--push-to-hub", action="store_true")
    parser.add_argument("--repo-id", help="ORG/NAME (one name) or ORG (several: ORG/<repo name of the checkpoint>)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--create-pr", action="store_true")
    parser.add_argument("--revision", help="branch to push to")
    parser.add_argument("--dry-run", action="store_true", help="write the folders, then print what would be uploaded")
    parser.add_argument("--write-cards", action="store_true", help="regenerate model_cards/*.md and exit")
    return parser


def check_arguments(args: argparse.Namespace, names: list[str]) -> str | None:
    """What is wrong with this combination of arguments (None if nothing): checked before any download."""
    unknown = [name for name in names if name not in ALL_CHECKPOINTS]
    if unknown:
        return f"unknown checkpoint(s) {', '.join(unknown)}; valid names:\n  " + "\n  ".join(ALL_CHECKPOINTS)
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


def _repo_id(args: argparse.Namespace, name: str, several: bool) -> str:
    repo_name = ALL_CHECKPOINTS[name].repo_name
    if several or not args.repo_id:
        return f"{(args.repo_id or DEFAULT_HUB_ORG).rstrip('/')}/{repo_name}"
    return args.repo_id


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(ALL_CHECKPOINTS))
        return 0
    if args.write_cards:
        for path in write_cards(ALL_CHECKPOINTS.values()):
            print(path)
        return 0
    names = list(ALL_CHECKPOINTS) if args.all else args.names
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
            repo_id = _repo_id(args, name, several=len(names) > 1)
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
