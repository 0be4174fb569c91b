"""examples/evaluation: metrics through `evaluate` offline, 2 processes = 1, kill and resume, label matching, videos."""

from __future__ import annotations

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
from helpers import accelerate_launch, randomize_, small_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
from hiera_batch import folder_inputs  # noqa: E402
from hiera_examples import load_script  # noqa: E402

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


def run(arguments: list[str], processes: int = 1, script: Path = SCRIPT, background: bool = False, check=True):
    """The script with `arguments`, in one process or under `accelerate launch` (gloo); checked, or a `Popen`."""
    if processes == 1:
        command = [sys.executable, str(script)]
    else:
        config = EXAMPLES / "accelerate_configs" / "multi_cpu.yaml"
        command = [*accelerate_launch(config, "--num_processes", str(processes)), str(script)]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    if background:
        return subprocess.Popen(command + arguments, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    result = subprocess.run(command + arguments, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 or not check, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def results(folder: Path) -> dict:
    content = json.loads((folder / "results.json").read_text())
    return {key: content[key] for key in ("top1_accuracy", "top5_accuracy", "per_class", "num_evaluated", "skipped")}


def rows(folder: Path, columns=("source", "label", "error", "logits")) -> dict[str, dict]:
    """Every written row, by source (a source written twice fails here)."""
    import pyarrow.parquet as pq

    found = {}
    for path in sorted((folder / "rows").glob("*.parquet")):
        table = pq.read_table(path)
        for row in table.select([name for name in columns if name in table.column_names]).to_pylist():
            assert row["source"] not in found, f"{row['source']} written twice"
            found[row["source"]] = {**row, "file": path.name}
    return found


def test_two_processes_give_exactly_the_metrics_of_one(digits, tmp_path):
    common = ["--model_name_or_path", str(digits / "model"), "--data_dir", str(digits / "digits/validation")]
    common += ["--batch_size", "16", "--num_workers", "1", "--rows_per_file", "64"]
    single = run(common + ["--output_dir", str(tmp_path / "one")])
    run(common + ["--output_dir", str(tmp_path / "two")], processes=2)
    one, two = results(tmp_path / "one"), results(tmp_path / "two")
    assert one == two
    assert one["num_evaluated"] == 355 and len(one["skipped"]) == 1 and "broken.png" in one["skipped"][0]
    assert sum(entry["count"] for entry in one["per_class"].values()) == 355
    assert "top-1" in single.stdout and "(1 skipped)" in single.stdout
    # Sharding, shown by who wrote what: each rank its own files, disjoint sources, together every input once.
    written = rows(tmp_path / "two")
    by_rank = {
        rank: {s for s, row in written.items() if row["file"].startswith(f"part-{rank:05d}")} for rank in (0, 1)
    }
    assert by_rank[0] and by_rank[1] and not by_rank[0] & by_rank[1] and len(written) == 356
    ranks = json.loads((tmp_path / "two/results.json").read_text())["ranks"]
    assert [rank["rows"] for rank in ranks] == [len(by_rank[0]), len(by_rank[1])]
    # The top-1 figure is the model's: recompute it by hand from the written logits.
    good = [row for row in written.values() if row["error"] is None]
    hits = [np.argmax(row["logits"]) == row["label"] for row in good]  # folder classes 0-9 are the model's ids here
    assert one["top1_accuracy"] == pytest.approx(float(np.mean(hits)))


def test_killed_run_resumes_without_counting_twice(digits, tmp_path):
    common = ["--model_name_or_path", str(digits / "model"), "--data_dir", str(digits / "digits/validation")]
    common += ["--batch_size", "1", "--num_workers", "0", "--rows_per_file", "8"]  # 45 files
    run(common + ["--output_dir", str(tmp_path / "whole")])
    process = run(common + ["--output_dir", str(tmp_path / "killed")], background=True)
    files = tmp_path / "killed" / "rows"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if files.exists() and len(list(files.glob("*.parquet"))) >= 3:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # the process this test started
    process.wait()
    finished = {p.name: p.stat().st_mtime_ns for p in files.glob("*.parquet")}
    assert 3 <= len(finished) < 45, f"{len(finished)} files when killed: the kill came too late to test resuming"
    assert not (tmp_path / "killed" / "results.json").exists()
    run(common + ["--output_dir", str(tmp_path / "killed"), "--resume"])
    assert {name: (files / name).stat().st_mtime_ns for name in finished} == finished  # not redone
    assert results(tmp_path / "killed") == results(tmp_path / "whole")
    assert set(rows(tmp_path / "killed")) == set(rows(tmp_path / "whole"))  # each source once


def test_resuming_refuses_another_model_or_options(digits, tmp_path):
    from hiera_hf import HieraForImageClassification

    common = ["--data_dir", str(digits / "digits/validation"), "--output_dir", str(tmp_path / "out")]
    common += ["--num_workers", "0", "--batch_size", "64"]
    run(["--model_name_or_path", str(digits / "model"), *common])
    other = HieraForImageClassification.from_pretrained(digits / "model")
    torch.nn.init.zeros_(other.classifier.weight)
    other.save_pretrained(tmp_path / "other")
    (tmp_path / "other/preprocessor_config.json").write_bytes((digits / "model/preprocessor_config.json").read_bytes())
    for model, extra, message in (
        (digits / "model", [], "holds rows of an earlier run: pass --resume"),
        (tmp_path / "other", ["--resume"], "rows come from another model, weights_sha256"),
        (digits / "model", ["--resume", "--dtype", "bf16"], "rows come from another options"),
    ):
        result = run(["--model_name_or_path", str(model), *common, *extra], check=False)
        assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]


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
        folder_inputs(str(tmp_path / "empty"), IMAGE_EXTENSIONS)
    with pytest.raises(ValueError, match="is not a directory"):
        folder_inputs(str(tmp_path / "missing"), IMAGE_EXTENSIONS)


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
    first = sorted((tmp_path / "motion/validation").glob("*/*.mp4"))[0]
    views = HieraVideoProcessor.from_pretrained(tmp_path / "model")(
        str(first), num_clips=2, num_crops=3, return_tensors="pt"
    )
    with torch.no_grad():
        expected = model(views.pixel_values).logits.mean(0)
    np.testing.assert_allclose(rows(tmp_path / "out")[str(first)]["logits"], expected.numpy(), atol=1e-5)


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


def features(folder: Path) -> dict[str, dict]:
    return rows(folder, ("source", "label", "error", "embedding", "stage1", "stage1_shape", "stage4", "stage4_shape"))


def test_feature_extraction_two_processes_and_probed(digits, tmp_path):
    """The same rows from 1 and 2 processes (every input once, the same embeddings), stage maps channels first with
    their shapes, the broken file named in its row; a linear probe on the embeddings beats chance by far."""
    common = ["--model_name_or_path", str(digits / "model"), "--batch_size", "32", "--num_workers", "0"]
    validation = ["--data_dir", str(digits / "digits/validation")]
    for name, processes in (("one", 1), ("two", 2)):
        run([*common, *validation, "--output_dir", str(tmp_path / name), "--stage_maps"], processes, FEATURES)
    one, two = features(tmp_path / "one"), features(tmp_path / "two")
    assert len(one) == 356 and set(one) == set(two)
    for source, row in one.items():
        assert row["label"] == two[source]["label"] and row["error"] == two[source]["error"]
        if row["error"] is None:
            np.testing.assert_allclose(row["embedding"], two[source]["embedding"], atol=1e-6)
    good = next(row for row in one.values() if row["error"] is None)
    assert good["stage1_shape"] == [16, 16, 16] and good["stage4_shape"] == [128, 2, 2]
    assert len(good["stage4"]) == 128 * 2 * 2
    broken = [row for row in one.values() if row["error"] is not None]
    assert len(broken) == 1 and "broken.png" in broken[0]["error"] and broken[0]["embedding"] is None
    manifest = json.loads((tmp_path / "one/manifest.json").read_text())
    assert manifest["classes"] == [str(i) for i in range(10)] and manifest["options"]["stage_maps"] is True

    run([*common, "--data_dir", str(digits / "digits/train"), "--output_dir", str(tmp_path / "train")], 1, FEATURES)
    probe = load_script(FEATURES).linear_probe(str(tmp_path / "train"), str(tmp_path / "one"))
    assert probe["validation_examples"] == 355 and probe["linear_probe_accuracy"] > 0.5  # chance is 0.1
    from datasets import load_dataset

    loaded = load_dataset("parquet", data_files=str(tmp_path / "one/rows/*.parquet"), split="train")
    assert len(loaded) == 356 and {"source", "label", "error", "embedding", "stage1"} <= set(loaded.column_names)


def write_inputs(digits: Path, folder: Path) -> dict[str, list[str]]:
    """The validation digits as a sources file, Parquet files and WebDataset shards (with classes.json)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import webdataset as wds

    files = sorted((digits / "digits/validation").glob("*/*.png"))
    folder.mkdir()
    (folder / "sources.txt").write_text("\n".join(str(path) for path in files) + "\n")
    images = [path.read_bytes() for path in files]
    labels = [int(path.parent.name) for path in files]
    for part in range(2):
        table = pa.table({"image": images[part::2], "label": labels[part::2]})
        pq.write_table(table, folder / f"part-{part}.parquet")
    for shard in range(2):
        with wds.TarWriter(str(folder / f"shard-{shard:06d}.tar")) as sink:
            for index in range(shard, len(files), 2):
                sink.write({"__key__": f"{index:06d}", "png": images[index], "cls": str(labels[index])})
    (folder / "classes.json").write_text(json.dumps([str(i) for i in range(10)]))
    return {"sources": files}


def test_every_kind_of_input_gives_the_same_metrics(digits, tmp_path):
    """A folder, a list of paths, Parquet files, WebDataset shards and a `datasets` dataset (in memory and
    streaming) of the same images: the same top-1 and counts; sources name the inputs for good."""
    from datasets import load_dataset

    write_inputs(digits, tmp_path / "inputs")
    saved = load_dataset("imagefolder", data_dir=str(digits / "digits/validation"), split="train")
    saved.save_to_disk(str(tmp_path / "saved"))
    common = ["--model_name_or_path", str(digits / "model"), "--batch_size", "64", "--num_workers", "0"]
    kinds = {
        "folder": ["--data_dir", str(digits / "digits/validation")],
        "parquet": ["--data_files", str(tmp_path / "inputs/part-*.parquet")],
        "shards": ["--shards", str(tmp_path / "inputs/shard-{000000..000001}.tar")],
        "datasets": ["--dataset_name", str(tmp_path / "saved"), "--split", "train"],
    }
    measured = {}
    for kind, arguments in kinds.items():
        run([*common, *arguments, "--output_dir", str(tmp_path / kind)])
        measured[kind] = results(tmp_path / kind)
    reference = measured.pop("folder")
    assert reference["num_evaluated"] == 355
    for kind, result in measured.items():
        assert result["num_evaluated"] == 355 and len(result["skipped"]) == 1, kind  # broken.png, in each form
        assert result["top1_accuracy"] == pytest.approx(reference["top1_accuracy"]), kind
    assert all("#" in source for source in rows(tmp_path / "shards")), "shard sources are <shard>#<key>"
    listed = ["--sources_file", str(tmp_path / "inputs/sources.txt"), "--output_dir", str(tmp_path / "list")]
    run([*common, *listed], script=FEATURES)
    assert len(features(tmp_path / "list")) == 356


def test_streaming_datasets_input(digits, tmp_path):
    """A `datasets` dataset streamed (here a local folder of Parquet, as a Hub dataset would stream): read row by row,
    the same count as the folder."""
    from datasets import load_dataset

    (tmp_path / "stream").mkdir()
    rows_file = tmp_path / "stream" / "digits.parquet"
    load_dataset("imagefolder", data_dir=str(digits / "digits/validation"), split="train").to_parquet(str(rows_file))
    run(["--model_name_or_path", str(digits / "model"), "--num_workers", "0", "--batch_size", "64",
         "--dataset_name", str(tmp_path / "stream"), "--streaming", "--split", "train",
         "--output_dir", str(tmp_path / "out")])  # fmt: skip
    assert results(tmp_path / "out")["num_evaluated"] == 355  # (imagefolder skipped the broken file)
    assert all(source.startswith(f"{tmp_path / 'stream'}:train:") for source in rows(tmp_path / "out"))


def test_the_paper_line(digits, tmp_path):
    """A known architecture gets the paper's number beside its result; folders are matched by WordNet id or name."""
    from PIL import Image
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    from hiera_hf import HieraConfig, HieraForImageClassification

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
