"""Training at scale (examples/hiera_training_data.py, examples/make_shards.py): shards each rank reads its own part
of, a streamed run resumed bit for bit, unreadable samples skipped and named (or the run stopped with the list),
nothing decoded before the first step, DeepSpeed's config taking the scripts' arguments, MAE on every image."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers import EXAMPLE_COMMON, SMALL_IMAGE, accelerate_launch
from hiera_examples import load_script
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
IMAGE_SCRIPT = EXAMPLES / "image-classification" / "run_image_classification.py"
MAE_SCRIPT = EXAMPLES / "pretraining" / "run_mae.py"
SEGMENTATION_SCRIPT = EXAMPLES / "semantic-segmentation" / "run_semantic_segmentation.py"


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The demo digits, one broken file among the training images, and the training images as 6 shards."""
    root = tmp_path_factory.mktemp("scale")
    load_script(EXAMPLES / "make_demo_data.py").write_digits(root)
    (root / "digits/train/3/broken.png").write_bytes(b"not a png")
    for split, folder, size in (("train", "shards", "250"), ("validation", "small_shards", "50")):
        load_script(EXAMPLES / "make_shards.py").main(
            ["--data_dir", str(root / "digits" / split), "--output_dir", str(root / folder), "--shard_size", size]
        )
    return root


def shards(digits: Path, folder: str = "shards") -> str:
    return str(digits / folder / json.loads((digits / folder / "shards.json").read_text())["pattern"])


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """24 training and 16 validation images with their masks, as folders and as shards of 5 (`--segmentation`)."""
    root = tmp_path_factory.mktemp("shapes")
    load_script(EXAMPLES / "make_demo_data.py").write_shapes(root, {"train": 24, "validation": 16})
    for split in ("train", "validation"):
        load_script(EXAMPLES / "make_shards.py").main(
            ["--segmentation", "--data_dir", str(root / "shapes" / split), "--output_dir", str(root / split),
             "--shard_size", "5", "--prefix", split]
        )  # fmt: skip
    return root


def image_args(output: Path, *extra: str) -> list[str]:
    return ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE, "--output_dir", str(output),
            "--do_train", "--per_device_train_batch_size", "16", *EXAMPLE_COMMON, *extra]  # fmt: skip


def test_make_shards_writes_every_sample_once_with_its_classes(digits):
    import webdataset as wds

    manifest = json.loads((digits / "shards/shards.json").read_text())
    files = sorted((digits / "shards").glob("train-*.tar"))
    assert len(files) == len(manifest["shards"]) == 6 and manifest["samples"] == 1443
    sources, labels = [], set()
    for sample in wds.WebDataset([str(f) for f in files], shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        sources.append(meta["source"])
        labels.add((int(sample["cls"]), meta["label"]))
    assert len(sources) == len(set(sources)) == 1443  # the broken file too: found when it is read, not here
    classes = json.loads((digits / "shards/classes.json").read_text())
    assert all(classes[index] == name for index, name in labels) and len(classes) == 10


def test_two_processes_on_shards_read_disjoint_samples_covering_the_epoch(digits, tmp_path):
    """2 gloo processes, 2 DataLoader workers each, one epoch of the 1,443 samples: every sample read once, by
    one rank (the probe records what each worker read in epoch 0); the broken one named."""
    records = tmp_path / "records"
    # A rank has 3 of the 6 shards (at most 750 samples: 32 + 16 batches of 16 from its two workers); 50 steps see
    # each rank to the end of its epoch 0 (a rank that gets there first goes on into epoch 1, not counted here).
    steps = 50
    command = [*accelerate_launch(EXAMPLES / "accelerate_configs/multi_cpu.yaml", "--num_cpu_threads_per_process", "1"),
               str(ROOT / "tests/ddp_probe.py"), str(IMAGE_SCRIPT),
               *image_args(tmp_path / "out", "--train_shards", shards(digits), "--max_steps", str(steps),
                           "--dataloader_num_workers", "2")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PROBE_DIR": str(records)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    read = {rank: [] for rank in (0, 1)}
    for path in records.glob("stream-rank*-pid*.txt"):
        rank = int(path.name.split("-")[1].removeprefix("rank"))
        read[rank] += [line.split("\t")[1] for line in path.read_text().splitlines() if line.startswith("0\t")]
    first, second = set(read[0]), set(read[1])
    assert len(read[0]) == len(first) and len(read[1]) == len(second), "a rank read a sample twice"
    assert first and second and not first & second, "the ranks read the same samples"
    assert len(first | second) == 1443, len(first | second)  # the epoch, each sample once
    unreadable = json.loads((tmp_path / "out/unreadable.json").read_text())
    assert unreadable["unreadable"] >= 1 and all(".tar#" in n and "broken.png" in n for n in unreadable["names"])


def test_a_streamed_run_resumes_bit_for_bit(digits, tmp_path):
    """Shards with 2 DataLoader workers (355 images: an epoch is 23 or 24 steps of 16): stopped at a checkpoint in
    the second epoch and resumed, the final weights are the unbroken run's, bit for bit (the DataLoader's state and
    the stream's epoch restored, nothing replayed)."""
    arguments = image_args(tmp_path / "whole", "--train_shards", shards(digits, "small_shards"), "--max_steps", "30",
                           "--dataloader_num_workers", "2", "--save_strategy", "steps", "--save_steps", "26")  # fmt: skip
    script = load_script(IMAGE_SCRIPT)
    script.main(arguments)
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    os.rename(tmp_path / "whole/checkpoint-26", resumed / "checkpoint-26")
    assert torch.load(resumed / "checkpoint-26/dataloader_state.pt", weights_only=True)["epoch"] == 1
    script.main([*[str(resumed) if a == str(tmp_path / "whole") else a for a in arguments],
                 "--resume_from_checkpoint", str(resumed / "checkpoint-26")])  # fmt: skip
    whole, again = load_file(tmp_path / "whole/model.safetensors"), load_file(resumed / "model.safetensors")
    assert all(torch.equal(whole[name], again[name]) for name in whole)


def test_a_broken_file_in_a_folder_is_skipped_and_named(digits, tmp_path):
    folder = ["--train_dir", str(digits / "digits/train"), "--train_val_split", "0", "--num_train_epochs", "1"]
    metrics = load_script(IMAGE_SCRIPT).main(image_args(tmp_path / "out", *folder))
    report = json.loads((tmp_path / "out/unreadable.json").read_text())
    assert report["unreadable"] == 1 and "broken.png" in report["names"][0] and metrics["unreadable_samples"] == 1
    assert report["read"] >= 1443 - 16  # (the epoch: the last batch may be short)


def test_a_broken_sample_in_a_shard_is_skipped_and_named(digits, tmp_path):
    """The broken file of the folder went into a shard as it was (make_shards.py decodes nothing): one epoch of the
    stream skips it and names its shard, key and source."""
    steps = [
        "--train_shards",
        shards(digits),
        "--max_steps",
        str(-(-1443 // 32)),
        "--per_device_train_batch_size",
        "32",
    ]
    metrics = load_script(IMAGE_SCRIPT).main(image_args(tmp_path / "out", *steps))
    report = json.loads((tmp_path / "out/unreadable.json").read_text())
    assert metrics["unreadable_samples"] == report["unreadable"] >= 1, report  # (once more if the next epoch began)
    assert all(".tar#" in name and "broken.png" in name for name in report["names"]), report["names"]


def test_too_many_unreadable_samples_stop_the_run_with_the_list(tmp_path):
    """More than --max_unreadable_fraction of the samples read (after 1,000) unreadable: the run stops, naming
    them; --unreadable_files error stops at the first."""
    from PIL import Image

    folder = tmp_path / "images" / "a"
    folder.mkdir(parents=True)
    for index in range(1100):
        if index % 50 == 7:
            (folder / f"{index}.png").write_bytes(b"broken")
        else:
            Image.new("RGB", (16, 16), (index % 255, 0, 0)).save(folder / f"{index}.png")
    (tmp_path / "images" / "b").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "images/b/0.png")
    script = load_script(IMAGE_SCRIPT)
    common = ["--train_dir", str(tmp_path / "images"), "--train_val_split", "0.01", "--max_steps", "80"]
    with pytest.raises(ValueError, match=r"of the \d+ samples read so far are unreadable, more than") as stopped:
        script.main(image_args(tmp_path / "out", *common, "--per_device_train_batch_size", "32"))
    assert "7.png" in str(stopped.value) or "57.png" in str(stopped.value)
    assert json.loads(next((tmp_path / "out").glob("unreadable-rank0.json")).read_text())["names"]
    with pytest.raises(ValueError, match="Unreadable sample.*--unreadable_files error"):
        script.main(image_args(tmp_path / "first", *common, "--unreadable_files", "error"))


PROBE = """
import json, sys
import PIL.Image
from transformers import Trainer

opened = []
original_open, original_step = PIL.Image.open, Trainer.training_step
def counting_open(*args, **kwargs):
    opened.append(1)
    return original_open(*args, **kwargs)
def first_step(self, *args, **kwargs):
    if not hasattr(first_step, "seen"):
        first_step.seen = len(opened)
        print("decoded before step 1:", first_step.seen, flush=True)
    return original_step(self, *args, **kwargs)
PIL.Image.open, Trainer.training_step = counting_open, first_step
sys.argv = sys.argv[1:]
import runpy
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_nothing_is_decoded_before_the_first_step(digits, tmp_path):
    """The folder is listed, not checked: before the first step only the first batch's images are opened."""
    arguments = image_args(tmp_path / "out", "--train_dir", str(digits / "digits/train"), "--max_steps", "1")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", PROBE, str(IMAGE_SCRIPT), *arguments], capture_output=True,
                            text=True, timeout=600, env=env)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    decoded = int(result.stdout.split("decoded before step 1:")[1].split()[0])
    # Two batches of 16 (no DataLoader workers here), of the 1,443 images: Accelerate's loader reads one batch
    # ahead, to know which one is the last.
    assert 0 < decoded <= 32, decoded


def test_mae_trains_on_every_image_with_no_held_out_split(digits, tmp_path):
    """`--train_val_split 0`: every image of a folder without a validation folder is a training image."""
    from hiera_examples import load_image_splits

    folder = str(digits / "digits/validation")
    assert len(load_image_splits(train_dir=folder, train_val_split=0)["train"]) == 355
    assert "validation" not in load_image_splits(train_dir=folder, train_val_split=0)
    assert len(load_image_splits(train_dir=folder)["train"]) == 355 - 54  # the default holds out 15%, rounded up
    mae = {"embed_dim": 32, "num_heads": [1, 2, 4], "depths": [1, 1, 1], "masked_unit_size": [4, 4],
           "masked_unit_attention": [True, True, False], "image_size": [64, 64], "decoder_hidden_size": 32,
           "decoder_depth": 1, "decoder_num_heads": 2}  # fmt: skip
    load_script(MAE_SCRIPT).main(
        ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", json.dumps(mae), "--train_dir", folder,
         "--train_val_split", "0", "--do_train", "--max_steps", "1", "--output_dir", str(tmp_path / "out"),
         *EXAMPLE_COMMON]
    )  # fmt: skip
    assert json.loads((tmp_path / "out/trainer_state.json").read_text())["global_step"] == 1


def test_deepspeed_takes_the_scripts_arguments(tmp_path):
    """The shipped DeepSpeed config leaves what Trainer owns "auto": Transformers fills it from the arguments
    (gradient accumulation 4 included) without a mismatch. DeepSpeed's package is installed here for its metadata
    only (Transformers checks its version); nothing of it runs."""
    target = tmp_path / "deepspeed"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
               str(target), "deepspeed"]  # fmt: skip
    result = subprocess.run(
        install, capture_output=True, text=True, timeout=600, env={**os.environ, "DS_BUILD_OPS": "0"}
    )
    assert result.returncode == 0, result.stderr[-2000:]
    code = f"""
import json
from transformers import TrainingArguments
from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig
from helpers import small_config
from hiera_hf import HieraForImageClassification
config = HfTrainerDeepSpeedConfig({str(EXAMPLES / "accelerate_configs/deepspeed_zero2.json")!r})
args = TrainingArguments(output_dir={str(tmp_path / "out")!r}, per_device_train_batch_size=8,
                         gradient_accumulation_steps=4, max_grad_norm=0.5, report_to="none")
config.trainer_config_process(args)
config.trainer_config_finalize(args, HieraForImageClassification(small_config()), 100)
print(json.dumps(config.config))
"""
    paths = [str(target), str(ROOT / "tests"), str(EXAMPLES), os.environ.get("PYTHONPATH", "")]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)})  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    merged = json.loads(result.stdout.strip().splitlines()[-1])
    assert merged["gradient_accumulation_steps"] == 4 and merged["train_micro_batch_size_per_gpu"] == 8
    assert merged["gradient_clipping"] == 0.5 and merged["train_batch_size"] == 32
    yaml = (EXAMPLES / "accelerate_configs/deepspeed_zero2.yaml").read_text()
    assert "deepspeed_config_file: examples/accelerate_configs/deepspeed_zero2.json" in yaml
    assert "gradient_accumulation_steps" not in yaml.split("deepspeed_config:")[1]


def test_segmentation_shards_pair_each_image_with_its_mask(shapes):
    """make_shards.py --segmentation: each folder image once, with its own mask, bytes as they were; labels.json
    beside; and the stream the script reads gives every image with its mask."""
    import numpy as np
    import webdataset as wds
    from hiera_training_data import IMAGE_MEMBERS, open_image, stream_splits

    folder = shapes / "shapes/validation"
    files = sorted((shapes / "validation").glob("*.tar"))
    sources = []
    for sample in wds.WebDataset([str(f) for f in files], shardshuffle=False, empty_check=False):
        meta = json.loads(sample["json"])
        assert Path(meta["mask"]) == folder / "masks" / Path(meta["source"]).name
        assert (
            sample["png"] == Path(meta["source"]).read_bytes()
            and sample["mask.png"] == Path(meta["mask"]).read_bytes()
        )
        sources.append(meta["source"])
    assert sorted(sources) == sorted(str(p) for p in (folder / "images").iterdir()) and len(files) == 4
    assert (shapes / "validation/labels.json").read_text() == (shapes / "shapes/labels.json").read_text()

    def pair(sample, rng):
        return {"image": np.array(open_image(sample["media"])), "mask": np.array(open_image(sample["label"], None))}

    args = SimpleNamespace(train_shards=shards(shapes, "train"), validation_shards=shards(shapes, "validation"),
                           streaming=False, seed=0, max_train_samples=None)  # fmt: skip
    _, stream, _, _ = stream_splits(args, IMAGE_MEMBERS, pair, pair, 0, True, target="mask")
    expected = {np.array(open_image(p)).tobytes(): np.array(open_image(folder / "masks" / p.name, None))
                for p in (folder / "images").iterdir()}  # fmt: skip
    read = list(stream)
    assert len(read) == 16 and all(np.array_equal(expected[row["image"].tobytes()], row["mask"]) for row in read)


def test_segmentation_trains_on_shards_and_evaluates_them_as_the_folder(shapes, tmp_path):
    """The segmentation script on shards: trained 3 steps with 2 DataLoader workers; its evaluation of the
    validation shards gives the metrics of the same model on the validation folder."""
    common = ["--model_name_or_path", "hiera_tiny_224", "--config_overrides", SMALL_IMAGE,
              "--head_config_overrides", '{"hidden_size": 32}', "--per_device_eval_batch_size", "4", *EXAMPLE_COMMON]  # fmt: skip
    script = load_script(SEGMENTATION_SCRIPT)
    streamed = script.main(
        [*common, "--train_shards", shards(shapes, "train"), "--validation_shards", shards(shapes, "validation"),
         "--do_train", "--max_steps", "3", "--per_device_train_batch_size", "4", "--dataloader_num_workers", "2",
         "--output_dir", str(tmp_path / "trained")]
    )  # fmt: skip
    assert json.loads((tmp_path / "trained/trainer_state.json").read_text())["global_step"] == 3
    assert math.isfinite(streamed["train_loss"])
    on_shards = script.main([*common, "--train_shards", shards(shapes, "train"), "--validation_shards",
                             shards(shapes, "validation"), "--do_eval", "--output_dir", str(tmp_path / "shards")])  # fmt: skip
    on_folder = script.main([*common, "--train_dir", str(shapes / "shapes/train"), "--validation_dir",
                             str(shapes / "shapes/validation"), "--do_eval", "--output_dir", str(tmp_path / "folder")])  # fmt: skip
    metrics = [name for name in on_folder if name.startswith("eval_") and ("iou" in name or "accuracy" in name)]
    assert len(metrics) >= 4 and all(on_shards[name] == pytest.approx(on_folder[name], abs=1e-6) for name in metrics)
    # the same images as a datasets dataset (Parquet splits with an image and an annotation column), not streamed
    from datasets import Dataset, Features, Image

    for split in ("train", "validation"):
        images = sorted((shapes / "shapes" / split / "images").iterdir())
        columns = {
            "image": [str(p) for p in images],
            "annotation": [str(p).replace("/images/", "/masks/") for p in images],
        }
        Dataset.from_dict(columns, features=Features({"image": Image(), "annotation": Image()})).to_parquet(
            str(tmp_path / "parquet" / f"{split}.parquet")
        )
    on_dataset = script.main([*common, "--dataset_name", str(tmp_path / "parquet"), "--labels_file",
                              str(shapes / "shapes/labels.json"), "--do_eval", "--output_dir", str(tmp_path / "ds")])  # fmt: skip
    assert all(on_dataset[name] == pytest.approx(on_folder[name], abs=1e-6) for name in metrics)


def test_shard_labels_from_json_members_and_refused_without_any(digits, tmp_path):
    """Shards without .cls: the label is the .json member's "label" (a name in classes.json), and training on them
    gives the weights training on the .cls shards gives, bit for bit; shards with no label at all are refused
    before training, naming their members."""
    import shutil

    import webdataset as wds
    from hiera_shards import shard_label
    from hiera_training_data import IMAGE_MEMBERS, stream_classes

    assert shard_label({"json": b'{"label": 0}'}, None) == 0 and shard_label({"cls": b"1"}, None) == 1
    with pytest.raises(ValueError, match="'bird'.*2 names"):
        shard_label({"json": {"label": "bird"}}, ["cat", "dog"])
    named, bare = tmp_path / "named", tmp_path / "bare"
    for folder, keep in ((named, ("png", "json")), (bare, ("png",))):
        folder.mkdir()
        for shard in sorted((digits / "shards").glob("train-*.tar")):
            with wds.TarWriter(str(folder / shard.name)) as sink:
                for sample in wds.WebDataset(str(shard), shardshuffle=False, empty_check=False):
                    sink.write({"__key__": sample["__key__"], **{k: sample[k] for k in keep}})
        shutil.copy(digits / "shards/classes.json", folder)
    pattern = Path(shards(digits)).name
    script, weights = load_script(IMAGE_SCRIPT), []
    for folder in (digits / "shards", named):
        out = tmp_path / f"out-{folder.name}"
        script.main(image_args(out, "--train_shards", str(folder / pattern), "--max_steps", "2"))
        weights.append(load_file(out / "model.safetensors"))
    assert all(torch.equal(weights[0][name], weights[1][name]) for name in weights[0])
    with pytest.raises(ValueError, match=r"no \.cls or \.json member"):
        stream_classes(SimpleNamespace(train_shards=str(bare / pattern), seed=0), IMAGE_MEMBERS)
