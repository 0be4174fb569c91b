# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""The README's pictures, from the demo models (the main job's digits classifier and the digits MAE, trained into
`demo_output/` when missing), and a screenshot of the web demo serving them in headless Chromium.

    python docs/make_pictures.py [--output-dir docs/pictures] [--model FOLDER --mae FOLDER --input FILE]

Needs `pip install -e ".[demo]"`, Playwright and Debian's chromium. The folder is written completely or not at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
from hiera_examples import load_script  # noqa: E402

from hiera_hf import visualization as viz  # noqa: E402
from hiera_hf.atomic import atomic_folder  # noqa: E402
from hiera_hf.modeling_hiera import load_saved  # noqa: E402

DIGIT = Path("data/digits/validation/3/1004.png")  # relative to demo_output/


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default=str(ROOT / "docs" / "pictures"))
    parser.add_argument("--model", help="a classifier folder (default: the demo's, with --mae and --input)")
    parser.add_argument("--mae", help="an MAE folder")
    parser.add_argument("--input", help="an image file")
    args = parser.parse_args(argv)
    app = load_script(ROOT / "demo" / "app.py")
    browser = load_script(ROOT / "demo" / "browser.py")
    if args.model is None:
        args.model, args.mae = app.demo_models()
        args.input = app.DEMO_OUTPUT / DIGIT
    classifier, mae = load_saved(str(args.model)), load_saved(str(args.mae))
    digit = Path(args.input)

    with atomic_folder(args.output_dir, overwrite=True) as staging:
        figures = {
            "predictions": viz.predictions_figure(classifier, None, digit),
            "attention_mask_unit": viz.attention_figure(classifier, None, digit, query=(20, 36), layer=0),
            "attention_global": viz.attention_figure(classifier, None, digit, query=(20, 36), layer=-1),
            "attention_rollout": viz.attention_rollout_figure(classifier, None, digit, gradient=True),
            "feature_maps": viz.feature_maps_figure(classifier, None, digit),
            "mae_reconstruction": viz.mae_reconstruction_figure(mae, None, digit, mask_ratio=0.6, seed=0),
        }
        for name, figure in figures.items():
            figure.savefig(staging / f"{name}.png")
        served = ["--model", str(args.model), "--mae", str(args.mae)]
        with browser.serve(served, staging / "app.log") as url, browser.chromium_page(1400, 1500) as page:
            browser.analyse(page, url, digit)
            page.screenshot(path=str(staging / "demo.png"), full_page=True)
        (staging / "app.log").unlink()
    print("\n".join(sorted(str(p) for p in Path(args.output_dir).iterdir())))


if __name__ == "__main__":
    main()
