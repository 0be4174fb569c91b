"""Image and video processors: parity with the official transforms, input kinds, errors, save/load, pipelines."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from helpers import write_video
from PIL import Image
from torchvision import transforms
from transformers import AutoImageProcessor, AutoVideoProcessor, pipeline

from hiera_hf import (
    VIDEO_GEOMETRY,
    HieraConfig,
    HieraForImageClassification,
    HieraForVideoClassification,
    HieraImageProcessor,
    HieraImageProcessorPil,
    HieraVideoProcessor,
)

OFFICIAL_IMAGE_TRANSFORM = transforms.Compose(
    [
        transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ]
)


def photo(height: int = 300, width: int = 400, seed: int = 0) -> Image.Image:
    """A smooth, photo-like RGB picture (gradients and shapes) plus mild noise."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rng = np.random.default_rng(seed)
    base = np.stack([np.sin(6 * x + seed), np.cos(5 * y), np.sin(3 * (x + y))], axis=-1) * 100 + 128
    return Image.fromarray(np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8))


# ---- images -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(300, 400), (480, 333), (224, 224), (256, 700)])
def test_pil_backend_matches_official_transform(size):
    image = photo(*size)
    ours = HieraImageProcessorPil()(image, return_tensors="pt").pixel_values[0]
    torch.testing.assert_close(ours, OFFICIAL_IMAGE_TRANSFORM(image), atol=1e-4, rtol=0)


def test_torchvision_backend_distance_to_official_transform():
    """Measured: tensor (torchvision) resizing rounds differently from PIL's; documented in the README."""
    image = photo()
    ours = HieraImageProcessor()(image, return_tensors="pt").pixel_values[0]
    difference = (ours - OFFICIAL_IMAGE_TRANSFORM(image)).abs()
    assert difference.max() < 0.02 and difference.mean() < 2e-3


@pytest.mark.parametrize("processor_class", [HieraImageProcessor, HieraImageProcessorPil])
def test_image_input_kinds_agree(processor_class):
    processor = processor_class()
    image = photo()
    array = np.asarray(image)
    reference = processor(image, return_tensors="pt").pixel_values
    kinds = {
        "numpy HWC uint8": array,
        "numpy CHW uint8": array.transpose(2, 0, 1).copy(),
        "torch CHW uint8": torch.from_numpy(array.transpose(2, 0, 1).copy()),
        "numpy HWC float [0,1]": array.astype(np.float32) / 255,
    }
    for kind, value in kinds.items():
        out = processor(value, return_tensors="pt").pixel_values
        assert out.shape == (1, 3, 224, 224), kind
        # floats resize without uint8 rounding/clamping; the torchvision backend then differs slightly
        tolerance = 0.15 if "float" in kind and processor_class is HieraImageProcessor else 1e-4
        torch.testing.assert_close(out, reference, atol=tolerance, rtol=0, msg=kind)
    batch = processor([image, photo(seed=1)], return_tensors="pt").pixel_values
    assert batch.shape == (2, 3, 224, 224)
    torch.testing.assert_close(batch[:1], reference, atol=1e-6, rtol=0)
    gray = image.convert("L")  # a (H, W) array or tensor is a grayscale image, alone or in a list
    expected = processor(gray, return_tensors="pt").pixel_values
    for value in (np.asarray(gray), torch.from_numpy(np.asarray(gray).copy()), [np.asarray(gray)]):
        torch.testing.assert_close(processor(value, return_tensors="pt").pixel_values, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "1"])
def test_image_modes_become_rgb(mode):
    image = (
        photo().convert(mode)
        if mode != "I;16"
        else Image.fromarray(np.asarray(photo().convert("L")).astype(np.uint16) * 257)
    )
    assert image.mode == mode
    for processor_class in (HieraImageProcessor, HieraImageProcessorPil):
        out = processor_class()(image, return_tensors="pt").pixel_values
        assert out.shape == (1, 3, 224, 224) and torch.isfinite(out).all()
    if mode == "I;16":  # 16-bit gray scaled to 8 bits, not clipped: same as the 8-bit gray image
        gray = HieraImageProcessorPil()(photo().convert("L"), return_tensors="pt").pixel_values
        torch.testing.assert_close(HieraImageProcessorPil()(image, return_tensors="pt").pixel_values, gray)


def test_exif_orientation_is_applied():
    image = photo(200, 300)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, quality=95)
    loaded = Image.open(io.BytesIO(buffer.getvalue()))
    # orientation 6 is displayed rotated 90 degrees clockwise; built from pixels only, so no EXIF tag comes along
    upright = Image.fromarray(np.asarray(loaded)).transpose(Image.Transpose.ROTATE_270)
    assert upright.size == (200, 300)
    processor = HieraImageProcessorPil()
    torch.testing.assert_close(
        processor(loaded, return_tensors="pt").pixel_values, processor(upright, return_tensors="pt").pixel_values
    )


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        # the torchvision backend's own fetch step names the type first
        (42, TypeError, r"Unsupported image type int|got type=<class 'int'>"),
        # a 4-D array is a batch of images: the error names the shape of one
        (np.zeros((5, 32, 32, 7), dtype=np.uint8), ValueError, r"got shape \(32, 32, 7\)"),
        (np.zeros((32, 32, 7), dtype=np.uint8), ValueError, r"got shape \(32, 32, 7\)"),
    ],
)
def test_bad_image_inputs(value, error, message):
    for processor_class in (HieraImageProcessor, HieraImageProcessorPil):
        with pytest.raises(error, match=message):
            processor_class()(value, return_tensors="pt")


def test_image_processor_round_trip(tmp_path):
    processor = HieraImageProcessorPil(crop_size={"height": 192, "width": 192}, size={"shortest_edge": 219})
    processor.save_pretrained(tmp_path)
    assert type(AutoImageProcessor.from_pretrained(tmp_path)) is HieraImageProcessor
    loaded = AutoImageProcessor.from_pretrained(tmp_path, backend="pil")
    assert type(loaded) is HieraImageProcessorPil
    image = photo()
    torch.testing.assert_close(
        loaded(image, return_tensors="pt").pixel_values, processor(image, return_tensors="pt").pixel_values
    )


@pytest.mark.parametrize("video", [False, True])
def test_default_processor_fits_a_non_square_model(video):
    """A model without a processor file gets the official transform sized for its input, both sides: the crop of
    a 64x96 model is 64x96 whatever the frame's shape; a square model keeps the official sizes."""
    from helpers import pixels_for, small_config

    from hiera_hf.processors import processor_for

    config = small_config(video, image_size=(64, 96))
    processor = processor_for(config, None)
    frames = [np.zeros((120, 60, 3), np.uint8), np.zeros((60, 200, 3), np.uint8)]  # portrait, wide
    model = (HieraForVideoClassification if video else HieraForImageClassification)(config).eval()
    for frame in frames:
        inputs = processor(np.stack([frame] * config.num_frames) if video else frame, return_tensors="pt")
        assert inputs.pixel_values.shape == pixels_for(config)[:1].shape
        with torch.no_grad():
            assert model(inputs.pixel_values).logits.shape == (1, config.num_labels)
    square = processor_for(HieraConfig.from_preset("hiera_base_16x224" if video else "hiera_base_224"), None)
    assert (
        square.size.shortest_edge == (224 if video else 256)
        and square.crop_size.height == square.crop_size.width == 224
    )


# ---- videos -----------------------------------------------------------------------------------------------------


def moving_frames(num_frames: int = 70, height: int = 120, width: int = 160) -> np.ndarray:
    """A bright square moving right over a smooth background: `(T, H, W, 3)` uint8."""
    y, x = np.mgrid[0:height, 0:width]
    background = np.stack([x / width * 200, y / height * 200, np.full_like(x, 60.0)], -1)
    frames = np.repeat(background[None], num_frames, axis=0)
    for t in range(num_frames):
        left = (t * 2) % (width - 24)
        frames[t, 40:64, left : left + 24] = 250
    return frames.astype(np.uint8)


def official_video_transform(frames: np.ndarray, num_frames=16, rate=4, short=224, crop=224) -> torch.Tensor:
    """The SlowFast/pytorchvideo evaluation transform written out: strided center clip, float frames,
    `short_side_scale` (bilinear, align_corners=False, long side floored), center crop, normalise."""
    start = max(len(frames) - ((num_frames - 1) * rate + 1), 0) // 2
    indices = np.minimum(start + rate * np.arange(num_frames), len(frames) - 1)
    clip = torch.from_numpy(frames[indices]).permute(0, 3, 1, 2).float() / 255.0  # (T, C, H, W)
    height, width = clip.shape[-2:]
    if height <= width:
        size = (short, int(math.floor(width / height * short)))
    else:
        size = (int(math.floor(height / width * short)), short)
    clip = torch.nn.functional.interpolate(clip, size=size, mode="bilinear", align_corners=False)
    top, left = (clip.shape[-2] - crop) // 2, (clip.shape[-1] - crop) // 2
    clip = clip[..., top : top + crop, left : left + crop]
    return (clip - 0.45) / 0.225


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("videos") / "moving.mp4"
    write_video(path, moving_frames())
    return path


def test_video_processor_matches_official_transform():
    frames = moving_frames()
    ours = HieraVideoProcessor()(frames, return_tensors="pt").pixel_values
    assert ours.shape == (1, 16, 3, 224, 224)
    torch.testing.assert_close(ours[0], official_video_transform(frames), atol=1e-4, rtol=0)


def test_video_input_kinds_agree(video_file):
    processor = HieraVideoProcessor()
    from hiera_hf.video_processing_hiera import read_video

    decoded = read_video(video_file)
    assert decoded.shape == (70, 120, 160, 3)
    # near-lossless encode; yuv420p halves the chroma resolution, which costs a few levels at colour edges
    assert np.abs(decoded.astype(int) - moving_frames().astype(int)).mean() < 6
    reference = processor(decoded, return_tensors="pt").pixel_values
    with open(video_file, "rb") as file:
        kinds = {
            "path": str(video_file),
            "pathlike": video_file,
            "file object": io.BytesIO(file.read()),
            "PIL frames": [Image.fromarray(frame) for frame in decoded],
            "tensor THWC": torch.from_numpy(decoded),
            "tensor TCHW": torch.from_numpy(decoded).permute(0, 3, 1, 2),
        }
    for kind, value in kinds.items():
        torch.testing.assert_close(processor(value, return_tensors="pt").pixel_values, reference, msg=kind)
    batch = processor([str(video_file), decoded], return_tensors="pt").pixel_values
    assert batch.shape == (2, 16, 3, 224, 224)
    torch.testing.assert_close(batch[1:], reference)


def test_short_video_repeats_last_frame():
    frames = moving_frames(num_frames=10)
    out = HieraVideoProcessor()(frames, return_tensors="pt").pixel_values[0]
    assert out.shape == (16, 3, 224, 224)
    # frames 0, 4, 8 then the last frame (9) repeated
    torch.testing.assert_close(out[3:], out[3:4].expand(13, -1, -1, -1))
    torch.testing.assert_close(out, official_video_transform(frames), atol=1e-4, rtol=0)


def test_multi_view_testing():
    frames = moving_frames(num_frames=120, width=224)
    out = HieraVideoProcessor(num_clips=5, num_crops=3)(frames, return_tensors="pt").pixel_values
    assert out.shape == (15, 16, 3, 224, 224)
    # clip 0 starts at frame 0, clip 4 ends at the last frame; crops move along the longer (width) side
    single = HieraVideoProcessor(num_frames=16, frame_sampling_rate=4)
    first_clip = single(frames[:61], return_tensors="pt").pixel_values[0]
    assert not torch.equal(out[0], out[1]) and not torch.equal(out[0], out[3])
    torch.testing.assert_close(out[1], first_clip, atol=1e-5, rtol=0)  # clip 0, center crop


def test_video_processor_round_trip(tmp_path):
    processor = HieraVideoProcessor(num_frames=8, frame_sampling_rate=2, num_clips=2, num_crops=3)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "video_preprocessor_config.json").exists()
    loaded = AutoVideoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is HieraVideoProcessor
    assert (loaded.num_frames, loaded.frame_sampling_rate, loaded.num_clips, loaded.num_crops) == (8, 2, 2, 3)
    frames = moving_frames()
    torch.testing.assert_close(loaded(frames).pixel_values, processor(frames).pixel_values)


def test_bad_videos(tmp_path):
    processor = HieraVideoProcessor()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4096))
    with pytest.raises(ValueError, match="corrupt.mp4"):
        processor(str(corrupt))
    good = tmp_path / "good.mp4"
    write_video(good, moving_frames())
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated.mp4"):
        processor(str(truncated))
    empty = tmp_path / "empty.mp4"
    write_video(empty, np.zeros((0, 64, 64, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="empty.mp4"):
        processor(str(empty))
    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    with pytest.raises(ValueError, match="notes.txt"):
        processor(str(text))
    with pytest.raises(TypeError, match="Unsupported video input int"):
        processor(42)
    with pytest.raises(ValueError, match=r"got shape \(16, 64, 64, 5\)"):
        processor(np.zeros((16, 64, 64, 5), dtype=np.uint8))
    with pytest.raises(ValueError, match="no frames"):
        processor(np.zeros((0, 64, 64, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (dict(num_clips=0), "num_clips must be a positive integer, got 0"),
        (dict(num_crops=0), "num_crops must be a positive integer, got 0"),
        (dict(num_frames=0), "num_frames must be a positive integer, got 0"),
        (dict(frame_sampling_rate=0), "frame_sampling_rate must be a positive integer, got 0"),
        (dict(num_frames=2.5), "num_frames must be a positive integer, got 2.5"),
        (dict(fps=0), r"fps \(frames sampled per second of video\) must be a positive number, got 0"),
    ],
)
def test_bad_sampling_options_are_named(option, message, tmp_path):
    """Zeros are refused, not replaced by the defaults or left to fail in torch (or, for a file, blamed on it)."""
    path = tmp_path / "clip.mp4"
    write_video(path, moving_frames())
    for video in (moving_frames(), str(path)):
        with pytest.raises(ValueError, match=message):
            HieraVideoProcessor()(video, **option)


# ---- pipelines and remote code ------------------------------------------------------------------------------------


def tiny_config(video: bool = False) -> HieraConfig:
    kwargs = dict(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8))
    decoder = dict(decoder_hidden_size=32, decoder_depth=1, decoder_num_heads=2)
    kwargs.update(decoder)
    labels = ["left", "right", "still"]
    kwargs.update(id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)})
    if video:
        kwargs.update(num_frames=8, **VIDEO_GEOMETRY)
    return HieraConfig(**kwargs)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("image_model")
    torch.manual_seed(0)
    HieraForImageClassification(tiny_config()).save_pretrained(folder)
    HieraImageProcessorPil().save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video_model")
    torch.manual_seed(0)
    HieraForVideoClassification(tiny_config(video=True)).save_pretrained(folder)
    HieraVideoProcessor(num_frames=8).save_pretrained(folder)
    return folder


def assert_same_results(actual: list[dict], expected: list[dict]) -> None:
    assert [r["label"] for r in actual] == [r["label"] for r in expected]
    assert [r["score"] for r in actual] == pytest.approx([r["score"] for r in expected], abs=1e-6)


def test_image_classification_pipeline(image_folder):
    """A pipeline from the folder and one from the loaded objects return the same labels and scores."""
    processor = HieraImageProcessorPil.from_pretrained(image_folder)
    from_folder = pipeline("image-classification", model=str(image_folder), image_processor=processor)
    model = HieraForImageClassification.from_pretrained(image_folder)
    from_objects = pipeline("image-classification", model=model, image_processor=HieraImageProcessorPil())
    assert_same_results(from_objects(photo(), top_k=2), from_folder(photo(), top_k=2))


def test_pipeline_scores_are_the_softmax_of_the_model(image_folder, video_folder, video_file):
    """What the pipelines return is softmax(model(processor(x))) with the folder's own model and processor."""
    from transformers import AutoImageProcessor, AutoVideoProcessor

    cases = [
        ("image-classification", image_folder, photo(), AutoImageProcessor, HieraForImageClassification),
        ("video-classification", video_folder, str(video_file), AutoVideoProcessor, HieraForVideoClassification),
    ]
    for task, folder, inputs, processor_class, model_class in cases:
        results = pipeline(task, model=str(folder))(inputs, top_k=3)
        processor, model = processor_class.from_pretrained(folder), model_class.from_pretrained(folder).eval()
        with torch.no_grad():
            probabilities = model(**processor(inputs, return_tensors="pt")).logits.softmax(-1)[0]
        expected = {model.config.id2label[i]: float(p) for i, p in enumerate(probabilities)}
        assert {r["label"] for r in results} == set(expected)
        for result in results:
            assert result["score"] == pytest.approx(expected[result["label"]], abs=1e-6), (task, result)
        assert max(expected.values()) - min(expected.values()) > 1e-4  # the scores tell the labels apart


def test_image_feature_extraction_pipeline(image_folder):
    extractor = pipeline("image-feature-extraction", model=str(image_folder))
    tokens = np.asarray(extractor(photo()))
    pooled = np.asarray(extractor(photo(), pool=True))
    assert tokens.shape == (1, 49, 128) and pooled.shape == (1, 128)


def test_video_classification_pipeline(video_folder, video_file):
    """As for images: from the folder or from the loaded objects, the same labels and scores."""
    results = pipeline("video-classification", model=str(video_folder))(str(video_file), top_k=3)
    model = HieraForVideoClassification.from_pretrained(video_folder)
    from_objects = pipeline("video-classification", model=model, video_processor=HieraVideoProcessor(num_frames=8))
    assert_same_results(from_objects(str(video_file), top_k=3), results)


def test_remote_code_without_the_package(image_folder, video_folder, video_file, tmp_path):
    """In a fresh interpreter where `hiera_hf` cannot be imported, the folders load with trust_remote_code."""
    assert (image_folder / "modeling_hiera.py").exists() and (video_folder / "video_processing_hiera.py").exists()
    photo().save(tmp_path / "photo.png")
    script = textwrap.dedent(
        f"""
        import importlib.abc, importlib.util, sys

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "hiera_hf" or name.startswith("hiera_hf."):
                    raise ImportError("hiera_hf is hidden in this test")

        sys.meta_path.insert(0, Block())
        try:
            import hiera_hf
        except ImportError:
            pass
        else:
            raise SystemExit("hiera_hf is importable")

        import json
        import torch
        from PIL import Image
        from transformers import (AutoBackbone, AutoConfig, AutoImageProcessor, AutoModel,
            AutoModelForImageClassification, AutoModelForPreTraining, AutoModelForVideoClassification,
            AutoVideoProcessor, pipeline)

        image, video = {str(image_folder)!r}, {str(video_folder)!r}
        config = AutoConfig.from_pretrained(image, trust_remote_code=True)
        assert type(config).__name__ == "HieraConfig" and config.model_type == "hiera_hf"
        model = AutoModelForImageClassification.from_pretrained(image, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        assert type(AutoModel.from_pretrained(image, trust_remote_code=True)).__name__ == "HieraModel"
        assert type(AutoModelForPreTraining.from_config(config, trust_remote_code=True)).__name__ == "HieraForPreTraining"
        assert type(AutoBackbone.from_config(config, trust_remote_code=True)).__name__ == "HieraBackbone"
        processor = AutoImageProcessor.from_pretrained(image, trust_remote_code=True)
        assert type(processor).__name__ == "HieraImageProcessor", type(processor)
        picture = Image.open({str(tmp_path / "photo.png")!r})
        results = {{
            "image": pipeline("image-classification", model=image, trust_remote_code=True)(picture, top_k=2),
            "features": pipeline("image-feature-extraction", model=image, trust_remote_code=True)(picture)[0],
        }}
        video_model = AutoModelForVideoClassification.from_pretrained(video, trust_remote_code=True)
        assert type(AutoVideoProcessor.from_pretrained(video, trust_remote_code=True)).__name__ == "HieraVideoProcessor"
        results["video"] = pipeline("video-classification", model=video, trust_remote_code=True)({str(video_file)!r}, top_k=2)
        print(json.dumps(results))
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    picture = Image.open(tmp_path / "photo.png")
    local = {  # the same pipelines with hiera_hf installed: the remote code computes the same
        "image": pipeline("image-classification", model=str(image_folder))(picture, top_k=2),
        "features": pipeline("image-feature-extraction", model=str(image_folder))(picture)[0],
        "video": pipeline("video-classification", model=str(video_folder))(str(video_file), top_k=2),
    }
    for task in ("image", "video"):
        assert [r["label"] for r in remote[task]] == [r["label"] for r in local[task]], task
        assert [r["score"] for r in remote[task]] == pytest.approx([r["score"] for r in local[task]], abs=1e-5), task
    np.testing.assert_allclose(np.array(remote["features"]), np.array(local["features"]), atol=1e-5, rtol=0)
