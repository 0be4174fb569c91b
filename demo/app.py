# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""A web page for trying a Hiera model (Gradio; laid out as a Hugging Face Space).

    python demo/app.py --model FOLDER_OR_HUB_ID [--mae FOLDER_OR_HUB_ID]

Upload an image (or a video, for a video model): the page shows the top-5 labels (classifiers), one query token's
attention, each stage's feature maps and, with an MAE checkpoint (`--model` or `--mae`), its reconstruction at the
chosen mask ratio. With no `--model` (and no `HIERA_MODEL` variable, as a Space would set) it serves the README
main job's digits classifier and a digits MAE, training them first when they are not in `demo_output/`.
Gradio's `GRADIO_SERVER_NAME` and `GRADIO_SERVER_PORT` choose the address.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline and private by default

import gradio as gr  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from hiera_hf import HieraForImageClassification, HieraForPreTraining, HieraForVideoClassification  # noqa: E402
from hiera_hf import visualization as viz  # noqa: E402
from hiera_hf.modeling_hiera import load_saved

ROOT = Path(__file__).resolve().parent.parent
DEMO_OUTPUT = ROOT / "demo_output"
DEMO_MODELS = {"classifier": DEMO_OUTPUT / "hiera-digits", "mae": DEMO_OUTPUT / "hiera-digits-mae"}
CONCURRENT_REQUESTS = 4  # per event; a 2-core Space gains little beyond a few


def demo_models() -> tuple[Path, Path]:
    """The main job's digits classifier and the digits MAE, trained with `examples/demo.py` when missing."""
    script = ROOT / "examples" / "demo.py"
    for kind, flag in (("classifier", []), ("mae", ["--mae"])):
        if not (DEMO_MODELS[kind] / "config.json").is_file():
            if not script.is_file():
                raise SystemExit(f"No --model given and {script} is not here to train the demo model.")
            print(f"Training the demo {kind} (examples/demo.py {' '.join(flag)}) ...", flush=True)
            subprocess.run([sys.executable, str(script), "--output-dir", str(DEMO_OUTPUT), *flag], check=True)
    return DEMO_MODELS["classifier"], DEMO_MODELS["mae"]


class Demo:
    """What one request computes, from a model and optionally an MAE of the same modality."""

    def __init__(self, model, mae=None):
        if isinstance(model, HieraForPreTraining) and mae is None:
            mae = model  # an MAE alone: its encoder's attention and features, and its reconstructions
        if mae is not None and not isinstance(mae, HieraForPreTraining):
            raise ValueError(f"--mae must be an MAE (HieraForPreTraining) checkpoint, got a {type(mae).__name__}.")
        if mae is not None and mae.config.is_video != model.config.is_video:
            raise ValueError("--model and --mae must both be image models or both video models.")
        self.model, self.mae = model, mae
        self.processor = viz.default_processor(model)
        self.mae_processor = viz.default_processor(mae) if mae is not None else None
        self.is_classifier = isinstance(model, (HieraForImageClassification, HieraForVideoClassification))
        self.num_layers = sum(model.config.depths)
        self.kind = "a video" if model.config.is_video else "an image"

    def run(self, upload, layer, query_row, query_column, mask_ratio, seed):
        """One submission -> (top-5 labels, the model's view of the input, attention, feature maps, reconstruction);
        bad input -> a message."""
        path = self._path(upload)
        with self._answer_bad_input(), torch.inference_mode():
            prepared = viz.prepare_input(self.model, self.processor, path)
            labels = None
            if self.is_classifier:
                labels = dict(viz.top_predictions(self.model, self.processor, prepared, top_k=5))
            attention = self._attention(prepared, layer, query_row, query_column)
            features = viz.figure_to_image(viz.feature_maps_figure(self.model, self.processor, prepared))
            reconstruction = None
            if self.mae is not None:
                figure = viz.mae_reconstruction_figure(self.mae, self.mae_processor, path, mask_ratio, int(seed))
                reconstruction = viz.figure_to_image(figure)
            return labels, self._view(prepared), attention, features, reconstruction

    def choose_query(self, upload, layer, event: gr.SelectData):
        """A click on the model's view -> the query sliders there, and the attention of that token."""
        with self._answer_bad_input(), torch.inference_mode():
            prepared = viz.prepare_input(self.model, self.processor, self._path(upload))
            height, width = (size * self._view_scale(prepared) for size in prepared.pixel_values.shape[-2:])
            column, row = event.index  # pixels of the view
            query_row, query_column = (row + 0.5) / height, (column + 0.5) / width
            return query_row, query_column, self._attention(prepared, layer, query_row, query_column)

    def _path(self, upload) -> str:
        if upload is None:
            raise gr.Error(f"Upload {self.kind} first.", title="Nothing to analyse")
        return upload if isinstance(upload, str) else upload.name

    @contextmanager
    def _answer_bad_input(self):
        try:
            yield
        except gr.Error:
            raise
        except (ValueError, TypeError) as error:  # unreadable or unsuitable input: say so, keep serving
            raise gr.Error(str(error), title="Cannot use this file") from error

    def _attention(self, prepared, layer, query_row, query_column) -> Image.Image:
        size = prepared.pixel_values.shape[-2:]
        query = [min(int(f * s), s - 1) for f, s in zip((query_row, query_column), size)]
        if self.model.config.is_video:
            query.insert(0, prepared.pixel_values.shape[1] // 2)  # the middle frame
        figure = viz.attention_figure(self.model, self.processor, prepared, query=query, layer=int(layer))
        return viz.figure_to_image(figure)

    @staticmethod
    def _view_scale(prepared) -> int:
        return max(1, 256 // max(prepared.pixel_values.shape[-2:]))  # small inputs enlarged to click on

    def _view(self, prepared) -> Image.Image:
        """The input as the model sees it (the middle frame of a video), where the query is chosen."""
        rgb = prepared.rgb[len(prepared.rgb) // 2] if self.model.config.is_video else prepared.rgb
        view = Image.fromarray((rgb * 255).round().astype("uint8"))
        scale = self._view_scale(prepared)
        return view.resize((view.width * scale, view.height * scale), Image.Resampling.NEAREST)

    def blocks(self, title: str) -> gr.Blocks:
        kind = self.kind
        with gr.Blocks(title="Hiera") as page:
            gr.Markdown(
                f"# Hiera: {title}\nUpload {kind}, then press **Analyse**. Hiera is a hierarchical vision "
                "transformer (Ryali et al., ICML 2023), here through hiera-hf's Transformers classes."
            )
            with gr.Row():
                with gr.Column(scale=1):
                    upload = gr.File(label=f"{kind.split()[1].capitalize()} file", elem_id="upload")
                    layer = gr.Slider(
                        0, self.num_layers - 1, value=self.num_layers - 1, step=1, label="Attention: layer"
                    )
                    query_row = gr.Slider(
                        0, 1, value=0.5, label="Attention: query row (fraction of the height)", elem_id="query_row"
                    )
                    query_column = gr.Slider(
                        0,
                        1,
                        value=0.5,
                        label="Attention: query column (fraction of the width)",
                        elem_id="query_column",
                    )
                    mask_ratio = gr.Slider(
                        0.1, 0.9, value=self.mae.config.mask_ratio if self.mae else 0.6, step=0.05,
                        label="MAE: mask ratio", visible=self.mae is not None,
                    )  # fmt: skip
                    seed = gr.Number(0, precision=0, label="MAE: mask seed", visible=self.mae is not None)
                    button = gr.Button("Analyse", variant="primary", elem_id="analyse")
                    view = gr.Image(
                        label="The model's input: click to place the attention query",
                        type="pil",
                        interactive=False,
                        elem_id="view",
                    )
                with gr.Column(scale=2):
                    labels = gr.Label(num_top_classes=5, label="Top-5", elem_id="labels", visible=self.is_classifier)
                    attention = gr.Image(label="Attention", type="pil", elem_id="attention", show_label=False)
                    features = gr.Image(label="Feature maps", type="pil", elem_id="features", show_label=False)
                    reconstruction = gr.Image(
                        label="MAE reconstruction",
                        type="pil",
                        elem_id="reconstruction",
                        visible=self.mae is not None,
                        show_label=False,
                    )
            self._connect(button, view, [upload, layer, query_row, query_column, mask_ratio, seed],
                          [labels, view, attention, features, reconstruction])  # fmt: skip
        return page

    def _connect(self, button, view, inputs: list, outputs: list) -> None:
        """Requests run at once (up to CONCURRENT_REQUESTS): each passes its mask ratio to the model's forward,
        nothing is shared between calls. Clicking the view moves the attention query."""
        button.click(self.run, inputs, outputs, concurrency_limit=CONCURRENT_REQUESTS)
        upload, layer, query_row, query_column = inputs[:4]
        attention = outputs[2]
        view.select(
            self.choose_query,
            [upload, layer],
            [query_row, query_column, attention],
            concurrency_limit=CONCURRENT_REQUESTS,
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=os.environ.get("HIERA_MODEL"), help="a saved folder or Hub id")
    parser.add_argument("--mae", default=os.environ.get("HIERA_MAE_MODEL"), help="an MAE folder for reconstructions")
    args = parser.parse_args(argv)
    if args.model is None:
        args.model, args.mae = demo_models()
    model = load_saved(str(args.model))
    mae = load_saved(str(args.mae)) if args.mae else None
    Demo(model, mae).blocks(Path(str(args.model)).name).launch()


if __name__ == "__main__":
    main()
