"""Shared test helpers: official models with random weights, mapped into ours through the package's key map; the
small models and common arguments the example scripts are run with."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import torch
from transformers.initialization import no_init_weights

from demo import SMALL_HIERA  # noqa: E402  (the main job's model: one definition)
from hiera_hf import VIDEO_GEOMETRY, HieraConfig, parity

SMALL_IMAGE = json.dumps(SMALL_HIERA)  # --config_overrides of the example scripts' small image model
SMALL_VIDEO = json.dumps({**SMALL_HIERA, "depths": [1, 1, 1, 1], "num_frames": 8})
EXAMPLE_COMMON = ["--report_to", "none", "--dataloader_num_workers", "0", "--seed", "0", "--save_strategy", "no"]


def accelerate_launch(config: Path, *options: str) -> list[str]:
    """`accelerate launch --config_file CONFIG` on a free port: tests running side by side (pytest -n) would both
    take the default 29500."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    return [*launch, "--main_process_port", str(port), *options]


class NotATensor:
    """Any class: `torch.load(weights_only=True)` refuses to unpickle it."""


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter random values (LayerNorm weights and biases too) so no constant hides a bug.

    Matrices get the official init's scale (std 0.02): larger weights blow activations up through 40+ residual
    blocks until fp32 rounding alone exceeds an absolute 1e-4.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("weight") and param.ndim == 1:  # norms: around 1
                param.copy_(1 + 0.1 * torch.randn(param.shape, generator=generator))
            else:
                param.copy_(0.02 * torch.randn(param.shape, generator=generator))
    return model


def sharpen_attention_(model: torch.nn.Module, factor: float = 10.0, seed: int = 0) -> torch.nn.Module:
    """Give every attention layer query/key weights `factor` times larger, redrawn per head: the default scale
    (std 0.02) makes every head attend almost uniformly, so a test could not tell heads or tokens apart."""
    from hiera_hf.modeling_hiera import HieraMaskUnitAttention

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, HieraMaskUnitAttention):
                query_key = module.qkv.weight[: 2 * module.dim_out]
                query_key.copy_(factor * 0.02 * torch.randn(query_key.shape, generator=generator))
    return model


def official_model(name: str, pretraining: bool = False, seed: int = 0, **config_kwargs) -> torch.nn.Module:
    """The official model (classifier, or MAE with `pretraining=True`) for preset `name`, random weights, eval mode."""
    config = HieraConfig.from_preset(name, for_pretraining=pretraining, **config_kwargs)
    torch.manual_seed(seed)
    with no_init_weights():  # randomize_ gives every parameter its value (the models hold no buffers)
        model = parity.official_model(config, pretraining)
    assert not list(model.buffers()), "randomize_ sets parameters only: initialise buffers too"
    return randomize_(model, seed).eval()


def converted_model(name: str, official_hiera: torch.nn.Module, pretraining: bool = False, **config_kwargs):
    """Our model for preset `name` loaded strictly from `official_hiera`'s state dict through the official key map."""
    config = HieraConfig.from_preset(name, for_pretraining=pretraining, **config_kwargs)
    return parity.from_official(official_hiera, config)


def official_input(name: str, batch_size: int = 2, seed: int = 0) -> torch.Tensor:
    """Random input in the official layout: (B, C, H, W) or (B, C, T, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    size = HieraConfig.from_preset(name).input_size
    return torch.randn(batch_size, 3, *size, generator=generator)


def write_video(path, frames, fps: int = 30) -> None:
    """Encode `(T, H, W, 3)` uint8 frames as an MPEG-4 .mp4 with PyAV (H and W even)."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"qscale": "1"}  # near-lossless, so decoded frames stay close to the originals
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def small_config(video: bool = False, **kwargs) -> HieraConfig:
    """A few-layer Hiera at 64x64 (x4 frames for video) with the official geometry otherwise."""
    base = dict(
        embed_dim=16,
        num_heads=(1, 2, 4, 8),
        depths=(1, 2, 2, 1),
        image_size=(64, 64),
        decoder_hidden_size=32,
        decoder_depth=1,
        decoder_num_heads=2,
        num_labels=5,
    )
    if video:
        base.update(num_frames=4, **VIDEO_GEOMETRY)
    base.update(kwargs)
    return HieraConfig(**base)


def pixels_for(config: HieraConfig, batch_size: int = 2, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    if config.is_video:
        return torch.randn(batch_size, config.num_frames, 3, *config.image_size, generator=generator)
    return torch.randn(batch_size, 3, *config.image_size, generator=generator)
