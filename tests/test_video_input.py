"""Videos of any length: the processor decodes only the frames its clips use (seeking to each window), in memory
that does not grow with the length; the transform is the official one as before; multi-view testing equals its
views taken one by one; sampling by time; decord; files that are not videos; `datasets` video datasets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import EXAMPLE_COMMON, SMALL_VIDEO

import hiera_hf.video_processing_hiera as video_processing
from hiera_hf import HieraVideoProcessor
from hiera_hf.video_processing_hiera import clip_indices, decode_video, read_video

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
from hiera_examples import load_script  # noqa: E402

make_demo_data = load_script(EXAMPLES / "make_demo_data.py")


@pytest.fixture(scope="module")
def clip20(tmp_path_factory) -> Path:
    """20 s of 640x360 H.264 at 30 fps, a keyframe every 250 frames."""
    return make_demo_data.write_long_clip(tmp_path_factory.mktemp("clips") / "clip20.mp4", 20)


@pytest.fixture(scope="module")
def all_frames(clip20) -> np.ndarray:
    return read_video(clip20)


class CountingContainer:
    """A PyAV container that counts the frames its decoder yields and the seeks made."""

    def __init__(self, container, counts):
        self.container, self.counts = container, counts

    def decode(self, *args, **kwargs):
        for frame in self.container.decode(*args, **kwargs):
            self.counts["frames"] += 1
            yield frame

    def seek(self, *args, **kwargs):
        self.counts["seeks"] += 1
        return self.container.seek(*args, **kwargs)


@pytest.fixture
def decode_counts(monkeypatch):
    counts = {"frames": 0, "seeks": 0, "opens": 0}
    decode_wanted, open_container = video_processing._decode_wanted, video_processing._open_container

    def counting(container, *args):
        return decode_wanted(CountingContainer(container, counts), *args)

    def counting_open(*args, **kwargs):
        counts["opens"] += 1
        return open_container(*args, **kwargs)

    monkeypatch.setattr(video_processing, "_decode_wanted", counting)
    monkeypatch.setattr(video_processing, "_open_container", counting_open)
    return counts


def test_only_the_frames_asked_for_are_decoded_and_kept(clip20, all_frames, decode_counts):
    indices = [300, 301, 302, 30, 590, 300, 599]  # any order, repeats; frame 30 and 590 in other GOPs
    frames, metadata = decode_video(clip20, lambda metadata: indices)
    assert np.array_equal(frames, all_frames[indices])  # what sequential decoding gives, bit for bit
    assert (metadata.total_num_frames, metadata.fps, metadata.duration) == (600, 30.0, 20.0)
    assert (metadata.width, metadata.height, metadata.frames_indices) == (640, 360, indices)
    # Three runs, each decoded from the keyframe before it: far fewer than the 600 frames of the clip.
    assert decode_counts["seeks"] == 3 and decode_counts["frames"] < 3 * 250, decode_counts
    past_the_end = decode_video(clip20, lambda metadata: [598, 650, 700])[0]
    assert np.array_equal(past_the_end, all_frames[[598, 599, 599]])  # the last frame repeats


def test_one_view_decodes_one_window_and_multi_view_opens_the_file_once(clip20, decode_counts, tmp_path):
    processor = HieraVideoProcessor()
    processor(str(clip20))
    assert decode_counts["opens"] == 1 and decode_counts["frames"] < 250 + 61, decode_counts  # keyframe to window end
    decode_counts.update(frames=0, opens=0, seeks=0)
    processor(str(clip20), num_clips=5, num_crops=3)
    # Windows 74 frames apart, closer than a keyframe interval: decoded on, once, not re-decoded after seeks.
    assert decode_counts == {"frames": 600, "seeks": 1, "opens": 1}, decode_counts
    long = make_demo_data.write_long_clip(tmp_path / "clip60.mp4", 60, width=160, height=96)
    decode_counts.update(frames=0, opens=0, seeks=0)
    processor(str(long), num_clips=5, num_crops=3)
    # Windows 435 frames apart: a seek to each, decoding from its keyframe (at most 250 frames before) to its end.
    assert decode_counts["opens"] == 1 and decode_counts["seeks"] == 5, decode_counts
    assert decode_counts["frames"] <= 5 * (250 + 61) < 1800, decode_counts


def reference_view(frames: np.ndarray, crop: int, num_crops: int) -> torch.Tensor:
    """Today's transform written out: float frames / 255, shorter side to 224 (bilinear, no antialias, longer side
    floored), crop `crop` of `num_crops` along the longer side, normalise with 0.45 / 0.225."""
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    height, width = clip.shape[-2:]
    size = (224, int(width * 224 / height)) if height <= width else (int(height * 224 / width), 224)
    clip = torch.nn.functional.interpolate(clip, size=size, mode="bilinear", align_corners=False)
    clip = (clip - 0.45) / 0.225
    top, left = (clip.shape[-2] - 224) // 2, (clip.shape[-1] - 224) // 2
    if num_crops > 1:
        left = round((clip.shape[-1] - 224) * crop / (num_crops - 1))
    return clip[..., top : top + 224, left : left + 224]


def test_multi_view_equals_the_views_taken_one_by_one(clip20, all_frames):
    views = HieraVideoProcessor(num_clips=5, num_crops=3)(str(clip20), return_tensors="pt").pixel_values
    assert views.shape == (15, 16, 3, 224, 224)
    for clip in range(5):
        frames = all_frames[clip_indices(len(all_frames), 16, 4, clip, 5)]
        for crop in range(3):
            expected = reference_view(frames, crop, 3)
            torch.testing.assert_close(views[3 * clip + crop], expected, atol=1e-5, rtol=0, msg=f"{clip}/{crop}")
    single = HieraVideoProcessor()(str(clip20), return_tensors="pt").pixel_values[0]
    torch.testing.assert_close(single, reference_view(all_frames[clip_indices(600, 16, 4)], 0, 1), atol=1e-5, rtol=0)


def test_sampling_by_time(clip20, all_frames):
    processor = HieraVideoProcessor()
    every_fourth = processor(str(clip20), return_tensors="pt").pixel_values
    torch.testing.assert_close(processor(str(clip20), fps=7.5, return_tensors="pt").pixel_values, every_fourth)
    every_second = processor(str(clip20), frame_sampling_rate=2, return_tensors="pt").pixel_values
    torch.testing.assert_close(processor(str(clip20), fps=15, return_tensors="pt").pixel_values, every_second)
    frames = all_frames[:120]
    from_array = processor(frames, fps=7.5, video_metadata={"fps": 30.0}, return_tensors="pt").pixel_values
    torch.testing.assert_close(from_array, processor(frames, return_tensors="pt").pixel_values)
    with pytest.raises(ValueError, match="needs the video's frame rate"):
        processor(frames, fps=7.5)
    output = processor(str(clip20), return_metadata=True, return_tensors="pt")
    metadata = output["video_metadata"][0]
    assert (metadata.total_num_frames, metadata.fps, metadata.video_backend) == (600, 30.0, "pyav")
    assert metadata.frames_indices == clip_indices(600, 16, 4).tolist()


def test_decord_gives_the_same_views_and_backends_are_checked(clip20):
    pyav = HieraVideoProcessor(num_clips=2)(str(clip20), return_tensors="pt").pixel_values
    decord = HieraVideoProcessor(num_clips=2, video_backend="decord")(str(clip20), return_tensors="pt")
    torch.testing.assert_close(decord.pixel_values, pyav, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="video_backend must be one of pyav, torchcodec, decord"):
        HieraVideoProcessor(video_backend="opencv")
    with open(clip20, "rb") as file, pytest.raises(TypeError, match="reads paths and URLs"):
        HieraVideoProcessor(video_backend="decord")(file)


def test_memory_does_not_grow_with_the_length(tmp_path):
    """Each clip processed in a fresh process: the peak resident memory of the processor call (VmHWM, reset once
    everything is imported) for 10 s and 60 s of 640x360 video. Decoding the 60 s into one array would take 1.2 GB."""
    peaks = {}
    for seconds in (10, 60):
        path = make_demo_data.write_long_clip(tmp_path / f"clip{seconds}.mp4", seconds)
        script = textwrap.dedent(
            f"""
            import json
            from pathlib import Path
            import torch
            from hiera_hf import HieraVideoProcessor

            def status(field):
                line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field))
                return int(line.split()[1]) * 1024

            processor = HieraVideoProcessor()
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM from here on
            before = status("VmRSS")
            views = processor({str(path)!r}, num_clips=5, num_crops=3, return_tensors="pt").pixel_values
            print(json.dumps({{"growth": status("VmHWM") - before, "shape": list(views.shape)}}))
            """
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        peaks[seconds] = json.loads(result.stdout.strip().splitlines()[-1])
        assert peaks[seconds]["shape"] == [15, 16, 3, 224, 224]
    growth = {seconds: peak["growth"] / 2**20 for seconds, peak in peaks.items()}
    assert abs(growth[60] - growth[10]) < 100, f"peak growth (MB) depends on the length: {growth}"
    assert growth[60] < 500, growth  # 15 views (144 MB of output) and one clip at a time in float


def test_corrupted_files_give_a_value_error_naming_them(tmp_path):
    """40 corrupted copies of a video (flipped bytes, truncations, garbage): each decodes or is a ValueError that
    names the file, never another exception."""
    good = tmp_path / "good.mp4"
    make_demo_data.write_long_clip(good, 3, width=160, height=96)
    data = good.read_bytes()
    rng = np.random.default_rng(0)
    processor, outcomes = HieraVideoProcessor(size={"shortest_edge": 64}, crop_size=64), []
    for index in range(40):
        corrupt = bytearray(data)
        if index % 3 == 0:
            corrupt = corrupt[: int(rng.integers(100, len(corrupt)))]
        elif index % 3 == 1:
            positions = rng.integers(0, len(corrupt), 50)
            for position in positions:
                corrupt[position] ^= 0xFF
        else:
            start = int(rng.integers(0, len(corrupt) - 500))
            corrupt[start : start + 500] = rng.integers(0, 256, 500, dtype=np.uint8).tobytes()
        path = tmp_path / f"corrupt{index}.mp4"
        path.write_bytes(bytes(corrupt))
        try:
            views = processor(str(path), return_tensors="pt").pixel_values
            assert views.shape == (1, 16, 3, 64, 64)
            outcomes.append("decoded")
        except ValueError as error:
            assert path.name in str(error)
            outcomes.append("refused")
    assert "refused" in outcomes, outcomes


def test_video_datasets_train_and_evaluate(tmp_path, decode_counts):
    """The video scripts take a `datasets` dataset with a Video column (read undecoded, our decoder reading its
    files), as the image scripts take image datasets; folder scans read the first frame only."""
    from datasets import ClassLabel, Dataset, DatasetDict, Features, Value, Video

    from hiera_hf import VIDEO_GEOMETRY, HieraConfig, HieraForVideoClassification, HieraVideoProcessor

    make_demo_data.write_motion(tmp_path, per_class={"train": 4, "validation": 2})
    classes = sorted(os.listdir(tmp_path / "motion" / "train"))
    splits = {}
    for split in ("train", "validation"):
        videos, labels = [], []
        for label, name in enumerate(classes):
            for file in sorted((tmp_path / "motion" / split / name).iterdir()):
                videos.append(str(file))
                labels.append(label)
        features = Features({"video": Video(), "label": ClassLabel(names=classes)})
        splits[split] = Dataset.from_dict({"video": videos, "label": labels}, features=Features(
            {"video": Value("string"), "label": ClassLabel(names=classes)})).cast(features)  # fmt: skip
    DatasetDict(splits).save_to_disk(str(tmp_path / "motion_dataset"))

    from hiera_examples import scan_video_folder

    decode_counts.update(frames=0)
    samples, _ = scan_video_folder(str(tmp_path / "motion" / "train"))
    assert len(samples) == 16 and decode_counts["frames"] == 0  # listed by name, decoded by the workers

    metrics = load_script(EXAMPLES / "video-classification" / "run_video_classification.py").main(
        ["--model_name_or_path", "hiera_base_16x224", "--config_overrides", SMALL_VIDEO,
         "--dataset_name", str(tmp_path / "motion_dataset"), "--frame_sampling_rate", "2",
         "--output_dir", str(tmp_path / "trained"), "--do_train", "--do_eval", "--max_steps", "2",
         "--per_device_train_batch_size", "4", "--eval_num_clips", "2", *EXAMPLE_COMMON]
    )  # fmt: skip
    assert "eval_loss" in metrics and "eval_2clip_top1_accuracy" in metrics

    config = HieraConfig(embed_dim=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8), num_frames=8, image_size=(64, 64),
                         id2label=dict(enumerate(classes)), label2id={n: i for i, n in enumerate(classes)},
                         **VIDEO_GEOMETRY)  # fmt: skip
    torch.manual_seed(0)
    HieraForVideoClassification(config).save_pretrained(tmp_path / "model")
    HieraVideoProcessor(num_frames=8, frame_sampling_rate=2, size={"shortest_edge": 64}, crop_size=64).save_pretrained(
        tmp_path / "model"
    )
    evaluation = EXAMPLES / "evaluation" / "run_evaluation.py"
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    for source in (
        ["--dataset_name", str(tmp_path / "motion_dataset")],
        ["--data_dir", str(tmp_path / "motion/validation")],
    ):
        name = source[0].strip("-")
        command = [sys.executable, str(evaluation), "--model_name_or_path", str(tmp_path / "model"), *source]
        command += ["--output_dir", str(tmp_path / name), "--num_clips", "2", "--num_crops", "1", "--num_workers", "0"]
        result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    by_dataset = json.loads((tmp_path / "dataset_name/results.json").read_text())
    by_folder = json.loads((tmp_path / "data_dir/results.json").read_text())
    assert by_dataset["num_evaluated"] == by_folder["num_evaluated"] == 8
    assert by_dataset["top1_accuracy"] == by_folder["top1_accuracy"]
