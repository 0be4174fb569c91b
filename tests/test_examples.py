"""The Trainer examples on the embedded data: they learn, resume, scale to 2 processes, and reject bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers import EXAMPLE_COMMON, SMALL_IMAGE, SMALL_VIDEO, accelerate_launch, write_video
from hiera_examples import load_script as load

from hiera_hf import HieraForPreTraining
from hiera_hf.processors import processor_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

IMAGE_SCRIPT = EXAMPLES / "image-classification" / "run_image_classification.py"
VIDEO_SCRIPT = EXAMPLES / "video-classification" / "run_video_classification.py"
MAE_SCRIPT = EXAMPLES / "pretraining" / "run_mae.py"
SEGMENTATION_SCRIPT = EXAMPLES / "semantic-segmentation" / "run_semantic_segmentation.py"


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_data")
    make = load(EXAMPLES / "make_demo_data.py")
    make.write_digits(root)
    make.write_motion(root, per_class={"train": 24, "validation": 8})
    make.write_shapes(root)
    return root


def trainer_log(output_dir: Path) -> list[dict]:
    return json.loads((output_dir / "trainer_state.json").read_text())["log_history"]


def test_image_script_learns_digits(demo_data, tmp_path):
    out = tmp_path / "digits"
    metrics = load(IMAGE_SCRIPT).main(
        ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE,
         "--train_dir", str(demo_data / "digits/train"), "--validation_dir", str(demo_data / "digits/validation"),
         "--output_dir", str(out), "--do_train", "--do_eval", "--hflip_prob", "0", "--num_train_epochs", "3",
         "--per_device_train_batch_size", "32", "--learning_rate", "2e-3", "--warmup_steps", "0.1",
         "--logging_steps", "10", "--layer_decay", "0.9", *EXAMPLE_COMMON]
    )  # fmt: skip
    losses = [entry["loss"] for entry in trainer_log(out) if "loss" in entry]
    assert losses[-1] < 0.8 * losses[0], losses  # 3 epochs: the demo trains 20 (README numbers)
    assert metrics["eval_top1_accuracy"] > 0.3  # chance is 0.1
    assert metrics["eval_top5_accuracy"] >= metrics["eval_top1_accuracy"]
    from transformers import pipeline

    classifier = pipeline("image-classification", model=str(out))
    files = sorted((demo_data / "digits/validation").glob("*/*.png"))[::10]
    accuracy = sum(classifier(str(f), top_k=1)[0]["label"] == f.parent.name for f in files) / len(files)
    assert accuracy > 0.3


def test_segmentation_script_learns_shapes(demo_data, tmp_path):
    """UperNet on a Hiera backbone learns the shapes: mean IoU well above predicting the most frequent class (the
    background) everywhere; the saved folder segments through pipeline("image-segmentation") as the model does."""
    import numpy as np
    from hiera_examples import mean_iou
    from PIL import Image
    from transformers import pipeline

    out = tmp_path / "shapes"
    metrics = load(SEGMENTATION_SCRIPT).main(
        ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE,
         "--head_config_overrides", '{"hidden_size": 128, "auxiliary_channels": 32}',
         "--train_dir", str(demo_data / "shapes/train"), "--validation_dir", str(demo_data / "shapes/validation"),
         "--output_dir", str(out), "--do_train", "--do_eval", "--num_train_epochs", "20", "--learning_rate", "1e-3",
         "--per_device_train_batch_size", "16", "--warmup_steps", "0.05", "--lr_scheduler_type", "cosine",
         "--min_scale", "0.75", "--max_scale", "1.5", "--layer_decay", "0.9", "--logging_steps", "20", *EXAMPLE_COMMON]
    )  # fmt: skip
    id2label = json.loads((demo_data / "shapes/labels.json").read_text())
    id2label = {int(index): name for index, name in id2label.items()}
    masks = np.stack([np.array(Image.open(p)) for p in sorted((demo_data / "shapes/validation/masks").glob("*.png"))])
    majority = mean_iou(np.zeros_like(masks), masks, id2label)  # background everywhere
    assert metrics["eval_mean_iou"] > majority["mean_iou"] + 0.15, (metrics, majority)
    assert metrics["eval_pixel_accuracy"] > majority["pixel_accuracy"] + 0.08
    assert min(metrics[f"eval_iou_{name}"] for name in id2label.values()) > 0.05  # every class is found somewhere

    segmenter = pipeline("image-segmentation", model=str(out))
    images = sorted((demo_data / "shapes/validation/images").glob("*.png"))[:8]
    with torch.no_grad():
        pixel_values = segmenter.image_processor([Image.open(p) for p in images], return_tensors="pt").pixel_values
        expected = segmenter.model(pixel_values).logits.argmax(1).numpy()
    for image, classes in zip(images, expected):
        predicted = np.zeros_like(classes)
        for segment in segmenter(str(image)):
            predicted[np.array(segment["mask"]) > 0] = segmenter.model.config.label2id[segment["label"]]
        np.testing.assert_array_equal(predicted, classes)


def test_segmentation_backbone_from_a_folder(tmp_path):
    """--model_name_or_path FOLDER: UperNet's backbone holds the folder's encoder weights, its position embeddings
    interpolated to --crop_size, and an MAE folder's third query pooling is back."""
    from types import SimpleNamespace

    from hiera_hf import HieraForPreTraining, HieraModel

    mae = HieraForPreTraining(HieraModel.config_class.from_preset("hiera_tiny_224", for_pretraining=True))
    mae.save_pretrained(tmp_path / "mae")
    arguments = SimpleNamespace(
        model_name_or_path=str(tmp_path / "mae"), config_overrides=None, head_config_overrides='{"hidden_size": 32}'
    )
    model = load(SEGMENTATION_SCRIPT).build_model(arguments, 96, {0: "background", 1: "thing"})
    backbone = model.backbone
    assert backbone.config.num_query_pool == 3 and list(backbone.config.image_size) == [96, 96]
    assert backbone.out_features == ["stage1", "stage2", "stage3", "stage4"]
    assert model.config.num_labels == 2
    ours, saved = backbone.hiera.state_dict(), mae.hiera.state_dict()
    for name, value in saved.items():
        if "position_embeddings" in name:
            assert ours[name].shape[1] == 24 * 24  # 96 / 4 tokens per side
        else:
            torch.testing.assert_close(ours[name], value, atol=0, rtol=0)


def test_mixup_and_cutmix_mix_every_training_batch_and_no_evaluation_batch(demo_data, tmp_path, monkeypatch):
    """The paper's fine-tuning setup: a model loaded from a folder (eval mode), 2 DataLoader workers, evaluation
    every epoch. Every training batch is mixed (soft labels), no evaluation batch is."""
    import hiera_examples

    from hiera_hf import HieraForImageClassification
    from hiera_hf.training import from_preset_or_pretrained

    folder = tmp_path / "start"
    from_preset_or_pretrained(
        HieraForImageClassification, "hiera_tiny_224", SMALL_IMAGE, num_labels=10
    ).save_pretrained(folder)
    seen, original = [], hiera_examples.HieraTrainer.compute_loss

    def recording_compute_loss(self, model, inputs, *args, **kwargs):
        seen.append((model.training, inputs["labels"].ndim))
        return original(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(hiera_examples.HieraTrainer, "compute_loss", recording_compute_loss)
    load(IMAGE_SCRIPT).main(
        ["--model_name_or_path", str(folder), "--train_dir", str(demo_data / "digits/train"),
         "--validation_dir", str(demo_data / "digits/validation"), "--output_dir", str(tmp_path / "mix"),
         "--do_train", "--do_eval", "--num_train_epochs", "2", "--eval_strategy", "epoch",
         "--max_train_samples", "64", "--max_eval_samples", "32", "--mixup", "0.8", "--cutmix", "1.0",
         "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "16", "--report_to", "none",
         "--dataloader_num_workers", "2", "--save_strategy", "no", "--seed", "0"]
    )  # fmt: skip
    training = [ndim for is_training, ndim in seen if is_training]
    evaluation = [ndim for is_training, ndim in seen if not is_training]
    assert training == [2] * 8  # 2 epochs x 64 / 16: all mixed
    assert len(evaluation) == 3 * 2 and set(evaluation) == {1}  # 2 in-training evaluations + the final one


def test_rand_augment_runs_on_every_training_image(demo_data, tmp_path, monkeypatch):
    from torchvision import transforms

    calls, original = [], transforms.RandAugment.forward
    monkeypatch.setattr(
        transforms.RandAugment, "forward", lambda self, image: calls.append(1) or original(self, image)
    )
    load(IMAGE_SCRIPT).main(
        ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE,
         "--train_dir", str(demo_data / "digits/train"), "--validation_dir", str(demo_data / "digits/validation"),
         "--output_dir", str(tmp_path / "ra"), "--do_train", "--do_eval", "--num_train_epochs", "1",
         "--max_train_samples", "32", "--max_eval_samples", "16", "--rand_augment", "True",
         "--per_device_train_batch_size", "16", *EXAMPLE_COMMON]
    )  # fmt: skip
    assert len(calls) == 32  # the 32 training images, not the 16 evaluation images


def test_video_script_learns_motion(demo_data, tmp_path):
    out = tmp_path / "motion"
    metrics = load(VIDEO_SCRIPT).main(
        ["--model_name_or_path", "hiera_base_16x224", "--config_overrides", SMALL_VIDEO,
         "--train_dir", str(demo_data / "motion/train"), "--validation_dir", str(demo_data / "motion/validation"),
         "--frame_sampling_rate", "2", "--output_dir", str(out), "--do_train", "--do_eval",
         "--num_train_epochs", "8", "--per_device_train_batch_size", "8", "--learning_rate", "1e-3",
         "--warmup_steps", "0.1", "--logging_steps", "4", "--eval_num_clips", "2", *EXAMPLE_COMMON]
    )  # fmt: skip
    losses = [entry["loss"] for entry in trainer_log(out) if "loss" in entry]
    assert losses[-1] < losses[0], losses
    assert metrics["eval_top1_accuracy"] > 0.4  # chance is 0.25
    assert "eval_2clip_top1_accuracy" in metrics


# 16 mask units of 4x4 tokens on a 64x64 image (6 visible at ratio 0.6): enough context to reconstruct from. The
# demo geometry (8x8-token units) has 4 units, one visible, and stays image-blind in a CPU-sized run.
MAE_IMAGE = json.dumps(load(EXAMPLES / "demo.py").DIGITS_MAE)  # the web demo trains the same MAE


def test_mae_learns_from_the_image_and_fine_tunes_from_its_encoder(demo_data, tmp_path):
    mae_out = tmp_path / "mae"
    load(MAE_SCRIPT).main(
        ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", MAE_IMAGE,
         "--train_dir", str(demo_data / "digits/train"), "--output_dir", str(mae_out), "--do_train",
         "--max_steps", "600", "--per_device_train_batch_size", "32", "--learning_rate", "2e-3",
         "--warmup_steps", "0.1", "--logging_steps", "50", *EXAMPLE_COMMON]
    )  # fmt: skip
    losses = [entry["loss"] for entry in trainer_log(mae_out) if "loss" in entry]
    assert losses[-1] < 0.85 * losses[0], losses
    config = json.loads((mae_out / "config.json").read_text())
    assert config["mask_ratio"] == 0.6 and config["num_query_pool"] == 2

    # Held-out digits, fixed masks: the reconstruction uses the visible patches of *this* image. Fed another
    # image's visible patches (same masks, same targets), the same model does worse on most images. A sign test:
    # blind to its input, it would win on half of the 355 images (+- 0.027); 3.5 of those above (p < 0.0003).
    from PIL import Image

    from hiera_hf import HieraForPreTraining, HieraImageProcessor

    mae = HieraForPreTraining.from_pretrained(mae_out).eval()
    files = sorted((demo_data / "digits/validation").glob("*/*.png"))
    pixels = HieraImageProcessor.from_pretrained(mae_out)([Image.open(f) for f in files], return_tensors="pt")
    pixels = pixels.pixel_values
    noise = torch.rand(len(files), mae.config.num_mask_units, generator=torch.Generator().manual_seed(0))

    def loss(image, fed):  # the MAE loss on `image`'s hidden patches, the encoder fed `fed`
        hook = mae.hiera.embeddings.register_forward_pre_hook(lambda module, args: (pixels[fed : fed + 1], *args[1:]))
        with torch.no_grad():
            value = float(mae(pixels[image : image + 1], noise=noise[image : image + 1]).loss)
        hook.remove()
        return value

    wins = [loss(i, i) < loss(i, (i - 1) % len(files)) for i in range(len(files))]
    assert sum(wins) / len(wins) > 0.5 + 3.5 * 0.5 / len(wins) ** 0.5, (sum(wins), len(wins))  # measured: 233

    # Fine-tuning from the MAE folder starts from its encoder, with a pooling at every stage transition.
    from hiera_hf import HieraForImageClassification
    from hiera_hf.training import from_preset_or_pretrained

    classifier = from_preset_or_pretrained(HieraForImageClassification, str(mae_out), num_labels=10)
    assert classifier.config.num_query_pool == 2  # one per stage transition of this 3-stage model
    encoder = {k: v for k, v in mae.hiera.state_dict().items()}
    loaded = classifier.hiera.state_dict()
    assert set(encoder) < set(loaded)  # plus the pooler's layer norm
    assert all(torch.equal(loaded[k], v) for k, v in encoder.items())
    metrics = load(IMAGE_SCRIPT).main(
        ["--model_name_or_path", str(mae_out), "--train_dir", str(demo_data / "digits/train"),
         "--validation_dir", str(demo_data / "digits/validation"), "--output_dir", str(tmp_path / "ft"),
         "--do_train", "--do_eval", "--max_steps", "2", "--max_train_samples", "64", "--max_eval_samples", "32",
         *EXAMPLE_COMMON]
    )  # fmt: skip
    fine_tuned = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert fine_tuned["architectures"] == ["HieraForImageClassification"] and "eval_top1_accuracy" in metrics


def ramp_clip(index: int) -> np.ndarray:
    """16 frames of 64x64: a colour ramp (across or down, by `index`) with a white square moving over it."""
    y, x = np.mgrid[0:64, 0:64]
    ramp = np.repeat(((x if index % 2 else y) * 3.5 + 7 * index % 30)[..., None], 3, axis=-1)
    ramp[..., index % 3] *= 0.6
    frames = np.repeat(ramp[None], 16, axis=0)
    for t, frame in enumerate(frames):
        frame[4 + 2 * t : 16 + 2 * t, 4 + 2 * t : 16 + 2 * t] = 255
    return np.clip(frames, 0, 255).astype(np.uint8)


def test_video_mae_reconstructs_better_than_the_mean(tmp_path):
    """The video MAE example learns: on its training clips, with one mask, its saved model's loss is below that of
    predicting each hidden patch's mean (0 in the per-patch normalised targets). The clips have structure to learn
    (the motion clips' per-pixel noise has none a short run could beat the mean on)."""
    for index in range(16):
        (tmp_path / "ramps" / f"{index % 2}").mkdir(parents=True, exist_ok=True)
        write_video(tmp_path / "ramps" / f"{index % 2}" / f"{index}.mp4", ramp_clip(index))
    load(MAE_SCRIPT).main(
        ["--modality", "video", "--model_name_or_path", "hiera_base_16x224", "--config_overrides", SMALL_VIDEO,
         "--train_dir", str(tmp_path / "ramps"), "--frame_sampling_rate", "2",
         "--output_dir", str(tmp_path / "vmae"), "--do_train", "--max_steps", "50", "--learning_rate", "2e-3",
         "--per_device_train_batch_size", "8", *EXAMPLE_COMMON]
    )  # fmt: skip
    model = HieraForPreTraining.from_pretrained(tmp_path / "vmae").eval()
    assert model.config.mask_ratio == 0.9  # the video recipe's
    clips = [str(path) for path in sorted((tmp_path / "ramps").glob("*/*.mp4"))]
    pixels = processor_for(model.config, str(tmp_path / "vmae"))(clips, return_tensors="pt").pixel_values
    noise = torch.rand(len(pixels), model.config.num_mask_units, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        outputs = model(pixels, noise=noise)
        targets = model.pixel_targets(pixels.transpose(1, 2))
    targets = (targets - targets.mean(-1, keepdim=True)) / (targets.var(-1, keepdim=True) + 1e-6) ** 0.5
    mean_loss = (targets[~outputs.visible_patches] ** 2).mean()
    assert outputs.loss < 0.95 * mean_loss, (outputs.loss.item(), mean_loss.item())


def _image_args(demo_data, out, *extra):
    return [
        str(IMAGE_SCRIPT), "--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE,
        "--train_dir", str(demo_data / "digits/train"), "--validation_dir", str(demo_data / "digits/validation"),
        "--output_dir", str(out), "--do_train", "--max_train_samples", "256", "--max_eval_samples", "64",
        "--per_device_train_batch_size", "16", "--report_to", "none", "--dataloader_num_workers", "0", *extra,
    ]  # fmt: skip


def test_accelerate_launch_two_processes_is_data_parallel(demo_data, tmp_path):
    """The documented 2-process CPU launch trains one model: wrapped in DDP, the same weights on both ranks, and
    each epoch split into disjoint halves (64 images, 16 per rank and step, 2 epochs = 4 steps)."""
    out, records = tmp_path / "ddp", tmp_path / "records"
    command = [*accelerate_launch(EXAMPLES / "accelerate_configs/multi_cpu.yaml", "--num_cpu_threads_per_process", "1"),
               str(ROOT / "tests/ddp_probe.py"),
               *_image_args(demo_data, out, "--max_train_samples", "64", "--num_train_epochs", "2", "--do_eval",
                            "--save_strategy", "no")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROBE_DIR": str(records)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    ranks = [json.loads((records / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["parallel_mode"] == "ParallelMode.DISTRIBUTED" for r in ranks), ranks
    assert all(r["wrapped_model"] == "DistributedDataParallel" for r in ranks), ranks
    for epoch in ("0", "1"):
        first, second = (set(r["fetched"][epoch]) for r in ranks)
        assert len(first) == len(second) == 32 and not first & second and first | second == set(range(64))
    assert ranks[0]["fetched"]["0"] != ranks[0]["fetched"]["1"]  # reshuffled each epoch
    from safetensors.torch import load_file

    weights = [load_file(records / f"rank{r}.safetensors") for r in (0, 1)]
    initial = load_file(out / "model.safetensors")  # rank 0 saved the trained model
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name
        assert torch.equal(tensor, initial[name]), name
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 4


def test_resume_after_kill_ends_like_an_uninterrupted_run(demo_data, tmp_path):
    """Random crops, flips, mixup and stochastic depth; killed after step 4 of 20 (an epoch is 16 steps) and
    resumed: the final weights are the uninterrupted run's, bit for bit."""
    from safetensors.torch import load_file

    def args(out):
        extra = ["--max_steps", "20", "--save_steps", "4", "--save_strategy", "steps", "--mixup", "0.8",
                 "--config_overrides", json.dumps({**json.loads(SMALL_IMAGE), "drop_path_rate": 0.1})]  # fmt: skip
        return _image_args(demo_data, out, *extra)

    unbroken = subprocess.run([sys.executable, *args(tmp_path / "unbroken")], capture_output=True, text=True)
    assert unbroken.returncode == 0, unbroken.stderr[-3000:]

    out = tmp_path / "resume"
    process = subprocess.Popen([sys.executable, *args(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / "checkpoint-4"
    deadline = time.time() + 600
    while not (checkpoint / "trainer_state.json").exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert (checkpoint / "trainer_state.json").exists()  # Trainer writes it last, after the weights
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (out / "model.safetensors").exists()  # it really died before the end
    for later in out.glob("checkpoint-*"):
        if later != checkpoint:
            shutil.rmtree(later)  # resume from the first checkpoint exactly
    resumed = subprocess.run(
        [sys.executable, *args(out), "--resume_from_checkpoint", str(checkpoint)], capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 20
    expected, actual = load_file(tmp_path / "unbroken" / "model.safetensors"), load_file(out / "model.safetensors")
    assert expected.keys() == actual.keys()
    assert all(torch.equal(actual[name], tensor) for name, tensor in expected.items())
    start = load_file(checkpoint / "model.safetensors")
    assert not torch.equal(start["classifier.weight"], expected["classifier.weight"])  # 16 more steps did train


def test_multi_clip_evaluation_averages_the_right_windows(tmp_path, monkeypatch):
    """`--eval_num_clips 3` against a computation by hand, on 32-frame videos whose three windows really differ."""
    import numpy as np
    from helpers import write_video

    from hiera_hf import HieraConfig, HieraForVideoClassification
    from hiera_hf.processors import processor_for
    from hiera_hf.video_processing_hiera import read_video

    make = load(EXAMPLES / "make_demo_data.py")
    rng = np.random.default_rng(0)
    samples = []
    for direction in ("left", "up"):
        for index in range(2):
            path = tmp_path / direction / f"{index}.mp4"
            path.parent.mkdir(exist_ok=True)
            write_video(path, make.motion_clip(direction, rng, frames=32, size=128))
            samples.append((str(path), direction))
    torch.manual_seed(0)
    config = HieraConfig.from_preset("hiera_base_16x224", num_labels=2, **json.loads(SMALL_VIDEO))
    model = HieraForVideoClassification(config).eval()
    processor = processor_for(config, str(tmp_path))
    processor.num_frames, processor.frame_sampling_rate = 8, 2

    video_script = load(VIDEO_SCRIPT)
    logits = video_script.multi_clip_logits(model, processor, samples, num_clips=3, batch_size=2)

    expected = []
    for path, _ in samples:
        frames = read_video(path)
        slack = len(frames) - 15  # a window is 8 frames, 2 apart
        starts = [0, round(slack / 2), slack]  # first, middle and last window
        clips = [frames[start + 2 * np.arange(8)] for start in starts]
        assert min(np.abs(a.astype(int) - b).mean() for a, b in zip(clips, clips[1:])) > 1  # the windows differ
        views = torch.cat([processor(c, do_sample_frames=False, return_tensors="pt").pixel_values for c in clips])
        with torch.no_grad():
            expected.append(model(views).logits.mean(0))
    torch.testing.assert_close(torch.from_numpy(logits), torch.stack(expected), atol=1e-5, rtol=0)
    from accelerate import PartialState

    metrics = video_script.multi_clip_accuracy(PartialState(), model, processor, samples, {"left": 0, "up": 1}, 3, 2)
    hand = float((torch.stack(expected).argmax(-1) == torch.tensor([0, 0, 1, 1])).float().mean())
    assert metrics == {"eval_3clip_top1_accuracy": hand}

    # Shared over 2 ranks (each its every-other video, then gathered): the numbers of one process.
    ranks = [SimpleNamespace(process_index=r, num_processes=2) for r in (0, 1)]
    shares = []
    with monkeypatch.context() as patch:
        patch.setattr(video_script, "gather_object", lambda rows: shares.append(rows) or rows)
        for rank in ranks:
            video_script.multi_clip_accuracy(rank, model, processor, samples, {"left": 0, "up": 1}, 3, 2)
        patch.setattr(video_script, "gather_object", lambda rows: shares[1] + shares[0])  # rank 1's first
        shared = video_script.multi_clip_accuracy(ranks[0], model, processor, samples, {"left": 0, "up": 1}, 3, 2)
    assert [i for i, _, _ in shares[0]] == [0, 2] and [i for i, _, _ in shares[1]] == [1, 3]
    assert shared == metrics


def test_cpu_processes_get_use_cpu_and_fsdp_on_cpu_stops(monkeypatch, tmp_path):
    """Under a multi-process launch without an accelerator every script's parser turns on `use_cpu` (flags and
    JSON files alike); FSDP, which Accelerate would quietly run as DDP there, is refused with what to do."""
    import hiera_examples
    from hiera_examples import parse_arguments
    from transformers import TrainingArguments

    flags = ["--output_dir", str(tmp_path)]
    (tmp_path / "args.json").write_text(json.dumps({"output_dir": str(tmp_path)}))
    assert parse_arguments((TrainingArguments,), flags)[0].use_cpu is False  # one process: untouched
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    with monkeypatch.context() as launched:
        launched.setenv("WORLD_SIZE", "2")
        assert hiera_examples.cpu_processes_without_accelerator()
    # (parsed in this single process as if launched: a real WORLD_SIZE would make Trainer join a process group)
    monkeypatch.setattr(hiera_examples, "cpu_processes_without_accelerator", lambda: True)
    assert parse_arguments((TrainingArguments,), flags)[0].use_cpu is True
    assert parse_arguments((TrainingArguments,), [str(tmp_path / "args.json")])[0].use_cpu is True
    with pytest.raises(ValueError, match="FSDP needs an accelerator.*multi_cpu.yaml"):
        parse_arguments((TrainingArguments,), [*flags, "--fsdp", "full_shard"])
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(ValueError, match="FSDP needs an accelerator"):
        parse_arguments((TrainingArguments,), flags)


# ---- bad arguments: clear errors before training -----------------------------------------------------------------


def test_missing_data_dir(tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        load(IMAGE_SCRIPT).main(["--train_dir", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "o")])
    with pytest.raises(ValueError, match="--dataset_name .* or --train_dir"):
        load(IMAGE_SCRIPT).main(["--output_dir", str(tmp_path / "o")])
    with pytest.raises(ValueError, match="is not a directory"):
        load(VIDEO_SCRIPT).main(["--train_dir", str(tmp_path / "nope"), "--output_dir", str(tmp_path / "o")])


def test_dataset_without_label_column(tmp_path):
    from datasets import Dataset
    from PIL import Image

    images = [Image.new("RGB", (64, 64), (i * 20, 0, 0)) for i in range(8)]
    Dataset.from_dict({"picture": images, "category": list(range(8))}).save_to_disk(tmp_path / "ds")
    with pytest.raises(ValueError, match="no image column 'image'"):
        load(IMAGE_SCRIPT).main(["--dataset_name", str(tmp_path / "ds"), "--output_dir", str(tmp_path / "o")])
    with pytest.raises(ValueError, match="no label column 'label'"):
        load(IMAGE_SCRIPT).main(
            [
                "--dataset_name",
                str(tmp_path / "ds"),
                "--image_column_name",
                "picture",
                "--output_dir",
                str(tmp_path / "o"),
            ]
        )


def _small_copy(source: Path, destination: Path, per_folder: int) -> None:
    """The first `per_folder` files of each leaf folder of `source`: a training set one short epoch reads whole."""
    for folder in sorted(p for p in source.rglob("*") if p.is_dir() and not any(c.is_dir() for c in p.iterdir())):
        target = destination / folder.relative_to(source)
        target.mkdir(parents=True)
        for file in sorted(folder.iterdir())[:per_folder]:
            shutil.copy(file, target / file.name)


@pytest.mark.parametrize("script", ["mae", "segmentation", "video"])
def test_a_broken_file_is_skipped_when_read_and_named(demo_data, tmp_path, script):
    """One unreadable file in the training folder (the image script's case is in test_scale.py): nothing checks it
    up front; the epoch that reads it skips it, and unreadable.json names it. `--unreadable_files error` stops at
    it, naming it."""
    data = tmp_path / "train"
    if script == "segmentation":
        _small_copy(demo_data / "shapes/train", data, 6)
        shutil.copy(demo_data / "shapes/labels.json", tmp_path)
        broken = sorted((data / "images").iterdir())[2]
        path = SEGMENTATION_SCRIPT
        arguments = ["--config_overrides", SMALL_IMAGE, "--head_config_overrides", '{"hidden_size": 32}']
        arguments += ["--train_dir", str(data), "--crop_size", "64"]
    elif script == "video":
        _small_copy(demo_data / "motion/train", data, 2)
        broken = data / "left" / sorted(p.name for p in (data / "left").iterdir())[0]
        path, arguments = VIDEO_SCRIPT, ["--config_overrides", SMALL_VIDEO, "--frame_sampling_rate", "2"]
        arguments += ["--train_dir", str(data)]
    else:
        _small_copy(demo_data / "digits/train", data, 2)
        broken = data / "3" / sorted(p.name for p in (data / "3").iterdir())[1]
        path, arguments = MAE_SCRIPT, ["--config_overrides", SMALL_IMAGE, "--train_dir", str(data)]
        arguments += ["--train_val_split", "0"]
    broken.write_bytes(os.urandom(2048))  # random bytes where an image or a video was
    preset = "hiera_base_16x224" if script == "video" else "hiera_tiny_224"
    arguments = ["--model_name_or_path", preset, *arguments, "--do_train", "--num_train_epochs", "1"]
    arguments += ["--per_device_train_batch_size", "4", *EXAMPLE_COMMON]
    load(path).main([*arguments, "--output_dir", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out/unreadable.json").read_text())
    assert report["unreadable"] == 1 and broken.name in report["names"][0], report
    with pytest.raises(ValueError, match=rf"(?s)Unreadable sample.*{broken.name}.*--unreadable_files error"):
        load(path).main([*arguments, "--output_dir", str(tmp_path / "stop"), "--unreadable_files", "error"])
