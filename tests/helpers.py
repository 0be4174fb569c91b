"""Shared test helpers: official models with random weights, mapped into ours through the package's key map."""

from __future__ import annotations

import hiera
import torch

from hiera_hf import HieraConfig, HieraForImageClassification, HieraForPreTraining, HieraForVideoClassification
from hiera_hf.official import convert_official_state_dict


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


def official_model(name: str, pretraining: bool = False, **kwargs) -> torch.nn.Module:
    """An official `hiera` model (classifier, or MAE with `pretraining=True`) with random weights, in eval mode."""
    builder = getattr(hiera, f"mae_{name}" if pretraining else name)
    torch.manual_seed(0)
    return randomize_(builder(pretrained=False, **kwargs)).eval()


def converted_model(name: str, official: torch.nn.Module, pretraining: bool = False, **config_kwargs):
    """Our model for preset `name` loaded strictly from `official`'s state dict through the official key map."""
    config = HieraConfig.from_preset(name, for_pretraining=pretraining, **config_kwargs)
    if pretraining:
        model_class = HieraForPreTraining
    else:
        model_class = HieraForVideoClassification if config.is_video else HieraForImageClassification
        config.num_labels = official.head.projection.out_features
    model = model_class(config)
    model.load_state_dict(convert_official_state_dict(official.state_dict(), config), strict=True)
    return model.eval()


def official_input(name: str, batch_size: int = 2, seed: int = 0) -> torch.Tensor:
    """Random input in the official layout: (B, C, H, W) or (B, C, T, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    size = HieraConfig.from_preset(name).input_size
    return torch.randn(batch_size, 3, *size, generator=generator)


def to_ours(pixel_values: torch.Tensor) -> torch.Tensor:
    """Official video layout (B, C, T, H, W) -> ours (B, T, C, H, W); images unchanged."""
    return pixel_values.transpose(1, 2) if pixel_values.ndim == 5 else pixel_values


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
