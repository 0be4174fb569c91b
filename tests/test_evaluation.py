"""examples/evaluation: metrics through `evaluate` offline, 2 processes = 1, kill and resume, label matching, videos."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import randomize_, small_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
from hiera_examples import assigned_chunks, load_script  # noqa: E402

from hiera_hf.image_processing_hiera import IMAGE_EXTENSIONS  # noqa: E402

SCRIPT = EXAMPLES / "evaluation" / "run_evaluation.py"
FEATURES = EXAMPLES / "feature-extraction" / "extract_features.py"
DIGITS = {i: str(i) for i in range(10)}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The demo digits (355 validation images, one broken file added) and a random 10-class classifier folder."""
    from hiera_hf import HieraForImageClassification, HieraImageProcessor

    root = tmp_path_factory.mktemp("evaluation")
    load_script(EXAMPLES / "make_demo_data.py").write_digits(root)
    (root / "digits/validation/3/broken.png").write_bytes(b"not a png")
    config = small_config(id2label=DIGITS, label2id={v: k for k, v in DIGITS.items()}, num_labels=10)
    torch.manual_seed(0)
    randomize_(HieraForImageClassification(config)).save_pretrained(root / "model")
    HieraImageProcessor(size={"shortest_edge": 73}, crop_size={"height": 64, "width": 64}).save_pretrained(
        root / "model"
    )
    return root


def run(arguments: list[str], processes: int = 1, script: Path = SCRIPT, background: bool = False):
    """The script with `arguments`, in one process or under `accelerate launch` (gloo); checked, or a `Popen`."""
    if processes == 1:
        command = [sys.executable, str(script)]
    else:
        config = EXAMPLES / "accelerate_configs" / "multi_cpu.yaml"
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
        command += ["--num_processes", str(processes), str(script)]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    if background:
        return subprocess.Popen(command + arguments, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    result = subprocess.run(command + arguments, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def results(folder: Path) -> dict:
    content = json.loads((folder / "results.json").read_text())
    return {key: content[key] for key in ("top1_accuracy", "top5_accuracy", "per_class", "num_evaluated", "skipped")}


def test_two_processes_give_exactly_the_metrics_of_one(digits, tmp_path):
    common = ["--model_name_or_path", str(digits / "model"), "--data_dir", str(digits / "digits/validation")]
    common += ["--chunk_size", "40", "--batch_size", "16", "--num_workers", "1"]  # 9 chunks: 5 and 4, uneven
    single = run(common + ["--output_dir", str(tmp_path / "one")])
    run(common + ["--output_dir", str(tmp_path / "two")], processes=2)
    one, two = results(tmp_path / "one"), results(tmp_path / "two")
    assert one == two
    assert json.loads((tmp_path / "two/results.json").read_text())["num_processes"] == 2
    assert one["num_evaluated"] == 355 and len(one["skipped"]) == 1 and "broken.png" in one["skipped"][0]
    assert sum(entry["count"] for entry in one["per_class"].values()) == 355
    assert "top-1" in single.stdout and "(1 skipped)" in single.stdout
    check_each_process_ran_its_own_share(tmp_path / "two", json.loads((tmp_path / "two/results.json").read_text()))
    # The top-1 figure is the model's: recompute it by hand for the saved logits.
    chunks = [np.load(p) for p in sorted((tmp_path / "two/chunks").glob("chunk-*.npz"))]
    logits, labels = np.concatenate([c["logits"] for c in chunks]), np.concatenate([c["labels"] for c in chunks])
    assert one["top1_accuracy"] == pytest.approx(float((logits.argmax(-1) == labels).mean()))


def check_each_process_ran_its_own_share(output_dir: Path, summary: dict, num_processes: int = 2) -> None:
    """Sharding, shown by who did what: every chunk file was written by the process it belongs to (c % n), each
    process's own account lists exactly its chunks, and their examples add up to the total once."""
    chunk_files = sorted((output_dir / "chunks").glob("chunk-*.npz"))
    writers = {int(p.stem.split("-")[1]): int(np.load(p)["process_index"]) for p in chunk_files}
    assert writers == {c: c % num_processes for c in writers}, f"chunks not written by their own process: {writers}"
    shares = {int(rank): share for rank, share in summary["per_process"].items()}
    assert sorted(shares) == list(range(num_processes))
    for rank, share in shares.items():
        assert share["chunks"] == [c for c in sorted(writers) if c % num_processes == rank], (
            f"process {rank} ran chunks {share['chunks']}, not its own share"
        )
        assert share["examples"] > 0, f"process {rank} did no work"
    total = sum(share["examples"] for share in shares.values())
    assert total == summary["num_examples"], f"the processes ran {total} examples for {summary['num_examples']}"


def test_chunks_are_shared_out_once_each():
    for num_chunks, num_processes in itertools.product((1, 5, 9, 16), (1, 2, 3, 4)):
        shares = [assigned_chunks(num_chunks, rank, num_processes) for rank in range(num_processes)]
        assert sorted(c for share in shares for c in share) == list(range(num_chunks)), (num_chunks, num_processes)
        assert all(c % num_processes == rank for rank, share in enumerate(shares) for c in share)
    with pytest.raises(ValueError, match="not one of 2 processes"):
        assigned_chunks(4, 2, 2)


def test_killed_run_resumes_without_counting_twice(digits, tmp_path):
    common = ["--model_name_or_path", str(digits / "model"), "--data_dir", str(digits / "digits/validation")]
    common += ["--chunk_size", "8", "--batch_size", "1", "--num_workers", "0"]  # 45 chunks
    run(common + ["--output_dir", str(tmp_path / "whole")])
    process = run(common + ["--output_dir", str(tmp_path / "killed")], background=True)
    chunks = tmp_path / "killed" / "chunks"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if chunks.exists() and len(list(chunks.glob("chunk-*.npz"))) >= 3:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in chunks.glob("chunk-*.npz")}
    assert 3 <= len(finished) < 45, f"{len(finished)} chunks when killed: the kill came too late to test resuming"
    assert not (tmp_path / "killed" / "results.json").exists()
    run(common + ["--output_dir", str(tmp_path / "killed"), "--resume"])
    assert {name: p.stat().st_mtime_ns for name, p in ((n, chunks / n) for n in finished)} == finished  # not redone
    assert results(tmp_path / "killed") == results(tmp_path / "whole")


def test_labels_by_name_or_wordnet_id_and_clear_errors(tmp_path):
    main = load_script(SCRIPT)
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    imagenet = dict(enumerate(_IMAGENET_CATEGORIES))
    assert main.match_classes(["n01440764", "goldfish", "great_white_shark"], imagenet) == {
        "n01440764": 0,
        "goldfish": 1,
        "great_white_shark": 2,
    }
    assert main.match_classes(["Tinca_tinca"], {0: "tench, Tinca tinca"}) == {"Tinca_tinca": 0}
    with pytest.raises(ValueError, match=r"2 of 3 classes match none.*\['cat', 'dog'\]"):
        main.match_classes(["cat", "dog", "3"], DIGITS)
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(ValueError, match="No files"):
        main.folder_samples(str(tmp_path / "empty"), IMAGE_EXTENSIONS, DIGITS)
    with pytest.raises(ValueError, match="is not a directory"):
        main.folder_samples(str(tmp_path / "missing"), IMAGE_EXTENSIONS, DIGITS)


def test_mismatched_folder_fails_before_any_model_work(digits, tmp_path):
    (tmp_path / "data" / "cat").mkdir(parents=True)
    picture = next((digits / "digits/validation/3").glob("*.png"))
    (tmp_path / "data" / "cat" / "a.png").write_bytes(picture.read_bytes())
    command = [sys.executable, str(SCRIPT), "--model_name_or_path", str(digits / "model")]
    command += ["--data_dir", str(tmp_path / "data"), "--output_dir", str(tmp_path / "out")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "1 of 1 classes match none" in result.stderr
    assert not (tmp_path / "out").exists()  # nothing written, no model loaded


def test_video_folder_averages_clips_and_crops(tmp_path):
    from hiera_hf import HieraForVideoClassification, HieraVideoProcessor

    make = load_script(EXAMPLES / "make_demo_data.py")
    make.write_motion(tmp_path, per_class={"validation": 2})
    labels = dict(enumerate(make.DIRECTIONS))
    config = small_config(video=True, num_labels=4, id2label=labels, label2id={v: k for k, v in labels.items()})
    model = randomize_(HieraForVideoClassification(config)).eval()
    model.save_pretrained(tmp_path / "model")
    sizes = dict(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64})
    HieraVideoProcessor(num_frames=4, frame_sampling_rate=2, **sizes).save_pretrained(tmp_path / "model")
    arguments = ["--model_name_or_path", str(tmp_path / "model"), "--data_dir", str(tmp_path / "motion/validation")]
    arguments += ["--output_dir", str(tmp_path / "out"), "--num_clips", "2", "--num_crops", "3", "--batch_size", "3"]
    run(arguments)
    report = json.loads((tmp_path / "out/results.json").read_text())
    assert report["num_evaluated"] == 8 and report["views_per_video"] == 6
    chunk = np.load(next((tmp_path / "out/chunks").glob("chunk-*.npz")))
    first = sorted((tmp_path / "motion/validation").glob("*/*.mp4"))[0]
    views = HieraVideoProcessor.from_pretrained(tmp_path / "model")(
        str(first), num_clips=2, num_crops=3, return_tensors="pt"
    )
    with torch.no_grad():
        expected = model(views.pixel_values).logits.mean(0)
    np.testing.assert_allclose(chunk["logits"][0], expected.numpy(), atol=1e-5)


def test_metric_modules_load_offline(tmp_path):
    """evaluate.load(<path>) with the Hub unreachable, and the numbers a hand computation gives."""
    code = f"""
import evaluate, json, numpy as np
top_k = evaluate.load({str(EXAMPLES / "metrics" / "top_k_accuracy")!r}, keep_in_memory=True)
scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
print(json.dumps(top_k.compute(predictions=scores, references=[1, 1, 0, 2], k=(1, 2))))
iou = evaluate.load({str(EXAMPLES / "metrics" / "mean_iou")!r}, keep_in_memory=True)
prediction, truth = np.array([[[0, 0], [1, 1]]]), np.array([[[0, 1], [1, 255]]])
print(json.dumps(iou.compute(predictions=prediction, references=truth, num_labels=2, label_names=["a", "b"])))
"""
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    top_k, iou = (json.loads(line) for line in result.stdout.strip().splitlines()[-2:])
    assert top_k == {"top1_accuracy": 0.25, "top2_accuracy": 0.5}
    # a: truth {(0,0)}, predicted {(0,0),(0,1)} -> 1/2; b: truth {(0,1),(1,0)}, predicted {(1,0)} (255 ignored) -> 1/2
    assert iou == {"mean_iou": 0.5, "pixel_accuracy": 2 / 3, "iou_a": 0.5, "iou_b": 0.5}


def test_feature_extraction_two_processes_resumable_and_probed(digits, tmp_path):
    """The same dataset from 1 and 2 processes (every example once, in order), stage maps in the input's layout,
    skipped files listed; a linear probe on the embeddings beats chance by far."""
    from datasets import load_from_disk

    common = ["--model_name_or_path", str(digits / "model"), "--chunk_size", "64", "--batch_size", "32"]
    common += ["--num_workers", "0"]
    validation = ["--data_dir", str(digits / "digits/validation")]
    for name, processes in (("one", 1), ("two", 2)):
        arguments = [*common, *validation, "--output_dir", str(tmp_path / name), "--stage_maps", "--num_shards", "2"]
        run(arguments, processes, FEATURES)
    one, two = load_from_disk(str(tmp_path / "one/features")), load_from_disk(str(tmp_path / "two/features"))
    assert len(one) == 355 and one["source"] == two["source"] and one["label"] == two["label"]
    np.testing.assert_array_equal(np.asarray(one["embedding"]), np.asarray(two["embedding"]))
    assert one.features["label"].names == [str(i) for i in range(10)]
    assert np.asarray(one[0]["stage1"]).shape == (16, 16, 16) and np.asarray(one[0]["stage4"]).shape == (128, 2, 2)
    assert len(list((tmp_path / "two/features").glob("*.arrow"))) == 2
    shares = json.loads((tmp_path / "two/features/per_process.json").read_text())
    check_each_process_ran_its_own_share(tmp_path / "two", {"per_process": shares, "num_examples": 356})
    assert "broken.png" in json.loads((tmp_path / "one/features/skipped.json").read_text())[0]

    run([*common, "--data_dir", str(digits / "digits/train"), "--output_dir", str(tmp_path / "train")], 1, FEATURES)
    probe = load_script(FEATURES).linear_probe(str(tmp_path / "train/features"), str(tmp_path / "one/features"))
    assert probe["validation_examples"] == 355 and probe["linear_probe_accuracy"] > 0.5  # chance is 0.1


def test_datasets_input_and_the_paper_line(digits, tmp_path):
    """A `datasets` dataset (saved with save_to_disk) gives the folder's metrics (the broken file aside); features
    come from it too; a known architecture gets the paper's number beside its result."""
    from datasets import load_dataset, load_from_disk
    from PIL import Image
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from hiera_hf import HieraConfig, HieraForImageClassification

    rows = load_dataset("imagefolder", data_dir=str(digits / "digits/validation"), split="train")
    rows.save_to_disk(str(tmp_path / "rows"))
    common = ["--model_name_or_path", str(digits / "model"), "--batch_size", "64", "--num_workers", "0"]
    run([*common, "--dataset_name", str(tmp_path / "rows"), "--output_dir", str(tmp_path / "from_rows")])
    run([*common, "--data_dir", str(digits / "digits/validation"), "--output_dir", str(tmp_path / "from_folder")])
    from_rows, from_folder = results(tmp_path / "from_rows"), results(tmp_path / "from_folder")
    assert from_rows["num_evaluated"] == from_folder["num_evaluated"] == 355
    assert from_rows["top1_accuracy"] == from_folder["top1_accuracy"]
    run([*common, "--dataset_name", str(tmp_path / "rows"), "--output_dir", str(tmp_path / "features")], 1, FEATURES)
    assert len(load_from_disk(str(tmp_path / "features/features"))) == 355

    imagenet = dict(enumerate(_IMAGENET_CATEGORIES))
    config = HieraConfig.from_preset("hiera_tiny_224", id2label=imagenet, label2id={v: k for k, v in imagenet.items()})
    HieraForImageClassification(config).save_pretrained(tmp_path / "tiny")
    for folder in ("n01440764", "goldfish"):  # tench by WordNet id, goldfish by name
        (tmp_path / "imagenet" / folder).mkdir(parents=True)
        Image.new("RGB", (256, 256), (120, 90, 60)).save(tmp_path / "imagenet" / folder / "a.png")
    arguments = ["--model_name_or_path", str(tmp_path / "tiny"), "--data_dir", str(tmp_path / "imagenet")]
    result = run([*arguments, "--output_dir", str(tmp_path / "paper"), "--num_workers", "0"])
    assert "on 2 images (0 skipped); the paper reports 82.8% for hiera_tiny_224" in result.stdout
    per_class = json.loads((tmp_path / "paper/results.json").read_text())["per_class"]
    assert set(per_class) == {"tench", "goldfish"}
