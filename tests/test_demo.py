"""The web demo (demo/app.py) in a real browser: Debian's headless Chromium driven by Playwright.

The browser is not optional: without /usr/bin/chromium the test fails and says how to install it (`.ci/run` does).
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import small_config, write_video
from PIL import Image, ImageDraw

from hiera_hf import HieraForImageClassification, HieraForPreTraining, HieraForVideoClassification
from hiera_hf import visualization as viz
from hiera_hf.modeling_hiera import load_saved

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "demo" / "app.py"
from hiera_examples import load_script  # noqa: E402

browser = load_script(ROOT / "demo" / "browser.py")


def save_models(folder: Path) -> tuple[Path, Path]:
    torch.manual_seed(0)
    labels = {i: name for i, name in enumerate(["circle", "square", "triangle", "star", "ring"])}
    config = small_config(id2label=labels, label2id={v: k for k, v in labels.items()})
    HieraForImageClassification(config).save_pretrained(folder / "classifier")
    HieraForPreTraining(small_config()).save_pretrained(folder / "mae")
    return folder / "classifier", folder / "mae"


def drawn_picture(path: Path) -> Path:
    image = Image.new("RGB", (120, 90), (40, 130, 70))
    ImageDraw.Draw(image).ellipse((10, 10, 70, 70), fill=(220, 40, 40))
    image.save(path)
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    classifier, mae = save_models(folder)
    with browser.serve(["--model", str(classifier), "--mae", str(mae)], folder / "app.log", timeout=120) as url:
        yield url, classifier


def test_demo_page_in_chromium(served, tmp_path):
    """Bad submissions give a message and leave the app serving; a picture gives the model's top-5 and three
    rendered pictures; a screenshot is saved. Without Debian's chromium this fails and says how to install it."""
    url, classifier_folder = served
    with browser.chromium_page() as page:
        check_the_page(page, url, classifier_folder, tmp_path)


def check_the_page(page, url, classifier_folder, tmp_path):
    page.goto(url)
    page.wait_for_selector("#analyse")
    upload = page.locator("#upload input[type=file]")

    def submit_and_expect_message(text: str) -> None:
        page.click("#analyse")
        page.locator(".toast-body", has_text=text).first.wait_for(timeout=30_000)
        page.locator(".toast-body .toast-close").first.click()  # dismissed, so the next message is a new one
        page.locator(".toast-body").first.wait_for(state="detached", timeout=10_000)

    submit_and_expect_message("Upload an image first.")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    upload.set_input_files(str(notes))
    submit_and_expect_message("'notes.txt' is not an image")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x07" * 300)
    page.locator("#upload button[aria-label='Clear']").click()
    upload.set_input_files(str(broken))
    submit_and_expect_message("broken.mp4")

    picture = drawn_picture(tmp_path / "disc.png")
    page.locator("#upload button[aria-label='Clear']").click()
    upload.set_input_files(str(picture))
    page.click("#analyse")
    rendered = "() => ['attention', 'features', 'reconstruction'].every(id => {"
    rendered += (
        " const img = document.querySelector(`#${id} img`); return img && img.complete && img.naturalWidth > 200 })"
    )
    page.wait_for_function(rendered, timeout=60_000)
    expected = viz.top_predictions(load_saved(str(classifier_folder)), None, picture, top_k=5)
    shown = page.locator("#labels").inner_text()
    positions = [shown.rfind(label) for label, _ in expected]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), (shown, expected)
    assert f"{round(expected[0][1] * 100)}%" in shown
    assert page.locator(".toast-body").count() == 0  # the good request raised nothing

    # A click on the model's view of the input moves the query there and redraws the attention.
    before = page.locator("#attention img").get_attribute("src")
    view = page.locator("#view img")
    box = view.bounding_box()
    view.click(position={"x": box["width"] * 0.8, "y": box["height"] * 0.1})
    page.wait_for_function(
        "src => { const img = document.querySelector('#attention img'); return img.src !== src && img.complete }",
        arg=before,
        timeout=30_000,
    )
    row = float(page.locator("#query_row input[type=number]").input_value())
    column = float(page.locator("#query_column input[type=number]").input_value())
    assert abs(row - 0.1) < 0.05 and abs(column - 0.8) < 0.05, (row, column)

    screenshot = tmp_path / "demo.png"
    page.screenshot(path=str(screenshot), full_page=True)
    with Image.open(screenshot) as image:
        colours = np.asarray(image.convert("RGB")).reshape(-1, 3)
        assert image.size[0] == 1400 and len(np.unique(colours[::97], axis=0)) > 50  # the figures are in it


def test_demo_requests_for_video_and_mae_models(tmp_path):
    """The request handler without the browser: a video classifier on an .mp4, and an MAE on its own."""
    app = load_script(APP)
    torch.manual_seed(0)
    video_demo = app.Demo(HieraForVideoClassification(small_config(video=True)).eval())
    video = tmp_path / "clip.mp4"
    write_video(video, np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8))
    labels, view, attention, features, reconstruction = video_demo.run(str(video), 0, 0.2, 0.8, 0.6, 0)
    assert len(labels) == 5 and reconstruction is None and view.size == (256, 256)  # 64x64, enlarged
    assert attention.size[0] > 200 and features.size[1] > 200

    mae_demo = app.Demo(HieraForPreTraining(small_config()).eval())
    picture = drawn_picture(tmp_path / "disc.png")
    labels, _, _, _, reconstruction = mae_demo.run(str(picture), 2, 0.5, 0.5, 0.5, 1)
    assert labels is None and reconstruction.size[0] > 200
    with pytest.raises(ValueError, match="must both be image models"):
        app.Demo(HieraForImageClassification(small_config()), HieraForPreTraining(small_config(video=True)))


def test_demo_serves_concurrent_requests_each_with_its_own_mask_ratio(tmp_path):
    """Two requests with different mask ratios held inside the MAE's forward at the same time (a barrier): each
    gets the reconstruction it gets alone, since the ratio is a forward argument and nothing is shared; and the
    page's events let several requests run at once."""
    app = load_script(APP)
    classifier, mae = save_models(tmp_path)
    demo = app.Demo(load_saved(str(classifier)), load_saved(str(mae)))
    picture = str(drawn_picture(tmp_path / "disc.png"))
    ratios = (0.25, 0.75)
    alone = {ratio: np.asarray(demo.run(picture, 0, 0.5, 0.5, ratio, 0)[4]) for ratio in ratios}
    assert not np.array_equal(alone[0.25], alone[0.75])
    barrier = threading.Barrier(len(ratios), timeout=60)

    def wait_for_the_other_request(module, args):
        barrier.wait()  # (a pre-hook that returns something replaces the arguments)

    hook = demo.mae.hiera.register_forward_pre_hook(wait_for_the_other_request)
    try:
        with ThreadPoolExecutor(len(ratios)) as pool:
            futures = {ratio: pool.submit(demo.run, picture, 0, 0.5, 0.5, ratio, 0) for ratio in ratios}
            together = {ratio: np.asarray(future.result(timeout=120)[4]) for ratio, future in futures.items()}
    finally:
        hook.remove()
    for ratio in ratios:
        assert np.array_equal(together[ratio], alone[ratio]), ratio
    limits = [function.concurrency_limit for function in demo.blocks("test").fns.values()]
    assert limits and all(limit == app.CONCURRENT_REQUESTS > 1 for limit in limits)


def test_demo_without_a_model_trains_the_missing_demo_models(tmp_path, monkeypatch):
    app = load_script(APP)
    monkeypatch.setattr(app, "DEMO_OUTPUT", tmp_path)
    monkeypatch.setattr(app, "DEMO_MODELS", {"classifier": tmp_path / "c", "mae": tmp_path / "m"})
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text("{}")
    calls = []

    def fake_run(command, check):
        calls.append(command)
        (tmp_path / "m").mkdir()
        (tmp_path / "m" / "config.json").write_text("{}")

    monkeypatch.setattr(app.subprocess, "run", fake_run)
    assert app.demo_models() == (tmp_path / "c", tmp_path / "m")
    assert calls == [[sys.executable, str(ROOT / "examples" / "demo.py"), "--output-dir", str(tmp_path), "--mae"]]
    assert app.demo_models() == (tmp_path / "c", tmp_path / "m") and len(calls) == 1  # present: nothing to train


def test_demo_folder_is_laid_out_as_a_space():
    import yaml

    front_matter = (ROOT / "demo" / "README.md").read_text().split("---")[1]
    card = yaml.safe_load(front_matter)
    assert card["sdk"] == "gradio" and (ROOT / "demo" / card["app_file"]).is_file()
    assert int(card["sdk_version"].split(".")[0]) >= 5
    requirements = (ROOT / "demo" / "requirements.txt").read_text().splitlines()
    assert {"gradio>=5", ".[demo]"} <= {line for line in requirements if not line.startswith("#")}  # this checkout


def test_docs_pictures_script(tmp_path):
    """docs/make_pictures.py (the README's pictures and screenshot), on small models and a drawn picture."""
    classifier, mae = save_models(tmp_path)
    output = tmp_path / "pictures"
    load_script(ROOT / "docs" / "make_pictures.py").main(
        ["--model", str(classifier), "--mae", str(mae), "--input", str(drawn_picture(tmp_path / "disc.png")),
         "--output-dir", str(output)]
    )  # fmt: skip
    names = {"predictions", "attention_mask_unit", "attention_global", "attention_rollout", "feature_maps"}
    names |= {"mae_reconstruction", "demo"}
    assert {p.name for p in output.iterdir()} == {f"{name}.png" for name in names}
    with Image.open(output / "demo.png") as screenshot:
        assert screenshot.size[0] == 1400
