# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Batch inference over many inputs: one picklable predictor for Ray Data's `map_batches`,
`datasets.map(batched=True, with_rank=True)` and a plain loop.

    predictor = HieraPredictor("hiera-hf/hiera_base_224.mae_in1k_ft_in1k")
    ray.data.from_items(rows).map_batches(predictor_class_or_instance, batch_size=32, concurrency=4)  # Ray
    dataset.map(predictor, batched=True, with_rank=True, batch_size=32)                             # datasets
    predictor({"source": ["a.jpg", "b.jpg"]})                                                          # a loop

A batch is a dict of columns (or a `pyarrow.Table`): `source` (the input's identity; also its input when there is
no `input_column`), optionally the input column (image bytes, `{"bytes", "path"}` values as `datasets` stores them
undecoded, paths or URLs, arrays, PIL images; videos: paths, URLs or bytes) and a `label` column, passed through.
Each row gets `error` (None, or why its input could not be read: that row has no outputs, the batch goes on) and
the outputs: `logits`, `top_k_ids`, `top_k_labels`, `top_k_scores` for classifiers; `embedding` (the pooled
features) otherwise or when asked; with `stage_maps`, `stage1`.. (each map flattened, channels first) and its
`stage1_shape`. The same columns come back as the batch came: a `pyarrow.Table` (an explicit schema, so every
writer writes the same Parquet) or a dict of lists.
"""

from __future__ import annotations

import hashlib
import io
import json
import os

import numpy as np
import torch

OUTPUTS = ("logits", "embedding")


def read_image(value):
    """An RGB PIL image from bytes, a `{"bytes", "path"}` dict, a path or URL, an array or a PIL image."""
    from PIL import Image
    from transformers.image_utils import load_image

    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        with Image.open(io.BytesIO(value)) as image:
            return image.convert("RGB")
    if isinstance(value, np.ndarray):
        return Image.fromarray(value).convert("RGB")
    if isinstance(value, (str, os.PathLike, Image.Image)):
        return load_image(str(value) if isinstance(value, os.PathLike) else value).convert("RGB")
    raise TypeError(f"an image as bytes, a path, a URL, an array or a PIL image, got {type(value).__name__}")


def video_input(value):
    """A video as the video processor reads it: a path or URL, or a file object for bytes."""
    if isinstance(value, dict):
        value = value.get("bytes") or value.get("path")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(value))
    if isinstance(value, (str, os.PathLike)):
        return str(value)
    raise TypeError(f"a video as a path, a URL or bytes, got {type(value).__name__}")


def _as_columns(batch) -> tuple[dict[str, list], bool]:
    if hasattr(batch, "to_pydict"):  # a pyarrow.Table (Ray's batch_format="pyarrow")
        return batch.to_pydict(), True
    return {name: list(values) for name, values in dict(batch).items()}, False


class HieraPredictor:
    """Map a batch of inputs to Hiera's outputs, one row per input (see the module docstring).

    Args:
        model_name_or_path: a saved folder or Hub id (any Hiera class: a classifier gives logits, others embeddings).
        outputs: "logits" or "embedding" (default: logits for classifiers, embedding otherwise).
        input_column: the column holding the inputs; None: `source` is the input (a path or URL).
        top_k: labels and scores kept per row for classifiers.
        stage_maps: also return each stage's map.
        dtype: "fp32" or "bf16" (bf16 where the device computes it natively; fp32 is the evaluation's default).
        fast: load through `hiera_hf.fast_model` (compiled; its own choice of precision on CPU).
        num_clips, num_crops: views per video (the paper's Kinetics protocol: 5 x 3); their logits are averaged.
        device: where to run (default: `cuda:<rank>` with `with_rank` on a GPU machine, else CUDA if any, else CPU).

    The model and processor load on the first call, once per worker: the object itself pickles small.
    """

    def __init__(
        self,
        model_name_or_path: str,
        outputs: str | None = None,
        input_column: str | None = None,
        top_k: int = 5,
        stage_maps: bool = False,
        dtype: str = "fp32",
        fast: bool = False,
        num_clips: int = 1,
        num_crops: int = 1,
        device: str | None = None,
    ):
        if outputs is not None and outputs not in OUTPUTS:
            raise ValueError(f"outputs must be one of {', '.join(OUTPUTS)} or None, got {outputs!r}.")
        if dtype not in ("fp32", "bf16"):
            raise ValueError(f"dtype must be 'fp32' or 'bf16', got {dtype!r}.")
        if not (isinstance(top_k, int) and top_k >= 1):
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
        self.model_name_or_path, self.outputs, self.input_column = str(model_name_or_path), outputs, input_column
        self.top_k, self.stage_maps, self.dtype, self.fast = top_k, stage_maps, dtype, fast
        self.views, self.device = (num_clips, num_crops), device
        self._model = self._config = self._processor = None

    def constructor_kwargs(self) -> dict:
        """The arguments that build this predictor again (Ray builds each actor's from them)."""
        return dict(model_name_or_path=self.model_name_or_path, outputs=self.outputs, input_column=self.input_column,
                    top_k=self.top_k, stage_maps=self.stage_maps, dtype=self.dtype, fast=self.fast,
                    num_clips=self.views[0], num_crops=self.views[1], device=self.device)  # fmt: skip

    def __getstate__(self) -> dict:  # workers load their own model
        return {**self.__dict__, "_model": None, "_config": None, "_processor": None}

    # ---- loading -------------------------------------------------------------------------------------------------
    def _load_processor(self) -> None:
        """The config and the processor alone: what `prepare` needs (decoding workers load no model)."""
        from .configuration_hiera import HieraConfig
        from .processors import processor_for

        self._config = HieraConfig.from_pretrained(self.model_name_or_path)
        self._processor = processor_for(self._config, self.model_name_or_path)
        classifier = any(name.endswith("Classification") for name in self._config.architectures or [])
        if self.outputs is None:
            self.outputs = "logits" if classifier else "embedding"
        if self.outputs == "logits" and not classifier:
            raise ValueError(f"{self.model_name_or_path!r} is not a classifier: ask for outputs='embedding'.")

    def _load(self, rank: int | None) -> None:
        from .modeling_hiera import HieraModel, load_saved

        if self._processor is None:
            self._load_processor()
        gpus = torch.cuda.device_count()
        device = self.device or (f"cuda:{(rank or 0) % gpus}" if gpus else "cpu")
        # Embeddings come from the encoder with its pooler, whatever class the folder was saved from.
        path = self.model_name_or_path
        model = load_saved(path) if self.outputs == "logits" else HieraModel.from_pretrained(path)
        if self.fast:
            from .inference import fast_model

            model = fast_model(model, mode="bf16" if self.dtype == "bf16" else "fp32", device=device)
        else:
            model = model.to(device=device, dtype=torch.bfloat16 if self.dtype == "bf16" else torch.float32)
        self._model = model.eval()

    @property
    def model(self):
        if self._model is None:
            self._load(None)
        return self._model

    @property
    def config(self):
        if self._config is None:
            self._load_processor()
        return self._config

    def identity(self) -> dict:
        """What the outputs depend on: the model (its config and a fingerprint of its weights), the processor and
        the options. A resumed run must have the same."""
        model = self.model
        weights = hashlib.sha256()
        for name, tensor in sorted(model.state_dict().items()):
            flat = tensor.detach().float().flatten()
            weights.update(name.encode() + flat[:: max(1, flat.numel() // 64)].cpu().numpy().tobytes())
        config = {
            k: v for k, v in model.config.to_dict().items() if k not in ("_name_or_path", "transformers_version")
        }
        return {
            "model": self.model_name_or_path,
            "config_sha256": hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest(),
            "weights_sha256": weights.hexdigest(),
            "processor": json.loads(self._processor.to_json_string()),
            "options": {"outputs": self.outputs, "top_k": self.top_k, "stage_maps": self.stage_maps,
                        "dtype": self.dtype, "fast": self.fast, "views": list(self.views)},
        }  # fmt: skip

    # ---- one input ------------------------------------------------------------------------------------------------
    def prepare(self, value) -> torch.Tensor:
        """One input's pixels `(views, ...)`; raises for what cannot be read. Needs no model (decoding workers)."""
        if self.config.is_video:
            num_clips, num_crops = self.views
            return self._processor(
                video_input(value), num_clips=num_clips, num_crops=num_crops, return_tensors="pt"
            ).pixel_values
        return self._processor(read_image(value), return_tensors="pt").pixel_values

    @torch.inference_mode()
    def predict(self, pixel_values: torch.Tensor, num_inputs: int) -> dict[str, np.ndarray]:
        """`(num_inputs * views, ...)` pixels -> per-input output arrays (views averaged)."""
        model = self.model
        parameter = next(model.parameters())
        pixel_values = pixel_values.to(device=parameter.device, dtype=parameter.dtype)
        outputs = model(pixel_values, output_hidden_states=self.stage_maps)
        results = {}
        if self.outputs == "logits":
            logits = outputs.logits.float().view(num_inputs, -1, outputs.logits.shape[-1]).mean(1)
            scores, ids = logits.softmax(-1).topk(min(self.top_k, logits.shape[-1]), dim=-1)
            results.update(logits=logits.cpu().numpy(), top_k_ids=ids.cpu().numpy(), top_k_scores=scores.cpu().numpy())
        else:
            pooled = outputs.pooler_output if outputs.pooler_output is not None else outputs.last_hidden_state.mean(1)
            results["embedding"] = pooled.float().view(num_inputs, -1, pooled.shape[-1]).mean(1).cpu().numpy()
        if self.stage_maps:  # (B * views, *grid, C) -> (B, C, *grid), the first view's
            for stage, states in enumerate(outputs.reshaped_hidden_states[1:], start=1):
                states = states.movedim(-1, 1).float()
                results[f"stage{stage}"] = states.view(num_inputs, -1, *states.shape[1:])[:, 0].cpu().numpy()
        return results

    # ---- a batch --------------------------------------------------------------------------------------------------
    def __call__(self, batch, rank: int | None = None):
        if self._model is None:
            self._load(rank)
        columns, arrow = _as_columns(batch)
        return self.finish(columns, *self.prepare_batch(columns), arrow=arrow)

    def prepare_batch(self, columns: dict[str, list]) -> tuple[list, list]:
        """Each row's pixels (None where unreadable) and error (None where read): the decoding half of a call, which
        a DataLoader worker can run ahead of the model."""
        if "source" not in columns:
            raise ValueError(f"a batch needs a 'source' column (the inputs' identity); it has {sorted(columns)}.")
        inputs = columns.get(self.input_column) if self.input_column else columns["source"]
        if inputs is None:
            raise ValueError(f"No input column {self.input_column!r} in the batch (columns: {sorted(columns)}).")
        prepared, errors = [], []
        for source, value in zip(columns["source"], inputs):
            try:
                prepared.append(self.prepare(value))
                errors.append(None)
            except Exception as error:  # one unreadable input is its row's error, not the batch's
                prepared.append(None)
                errors.append(f"{source}: {type(error).__name__}: {error}")
        return prepared, errors

    def finish(self, columns: dict[str, list], prepared: list, errors: list, arrow: bool = False):
        """The model half of a call: the rows of a prepared batch, as a dict of lists or a `pyarrow.Table`."""
        good = [index for index, pixels in enumerate(prepared) if pixels is not None]
        results = self.predict(torch.cat([prepared[i] for i in good]), len(good)) if good else {}
        rows = self._rows(columns, errors, good, results)
        return self._table(rows) if arrow else rows

    def _rows(self, columns: dict, errors: list, good: list[int], results: dict) -> dict[str, list]:
        size, position = len(errors), {index: n for n, index in enumerate(good)}
        rows = {"source": [str(source) for source in columns["source"]], "error": errors}
        if "label" in columns:
            rows["label"] = columns["label"]
        for name, values in results.items():
            rows[name] = [values[position[i]].reshape(-1).tolist() if i in position else None for i in range(size)]
            if name.startswith("stage"):
                rows[f"{name}_shape"] = [list(values.shape[1:]) if i in position else None for i in range(size)]
        if "top_k_ids" in results:
            id2label = self.config.id2label
            rows["top_k_labels"] = [None if ids is None else [id2label[j] for j in ids] for ids in rows["top_k_ids"]]
        for name in self.output_columns():  # a batch of unreadable inputs only: the same columns, empty
            rows.setdefault(name, [None] * size)
        order = ["source", "label", "error", *self.output_columns()]
        return {name: rows[name] for name in order if name in rows}

    def output_columns(self) -> list[str]:
        """The output columns of every row, in order."""
        names = ["logits", "top_k_ids", "top_k_scores", "top_k_labels"] if self.outputs == "logits" else ["embedding"]
        if self.stage_maps:
            names += [
                name
                for stage in range(1, len(self.config.depths) + 1)
                for name in (f"stage{stage}", f"stage{stage}_shape")
            ]
        return names

    def _table(self, rows: dict[str, list]):
        import pyarrow as pa

        floats, ints = pa.list_(pa.float32()), pa.list_(pa.int32())
        kinds = {"source": pa.string(), "error": pa.string(), "top_k_labels": pa.list_(pa.string())}
        fields = []
        for name, values in rows.items():
            kind = kinds.get(name) or (ints if name == "top_k_ids" or name.endswith("_shape") else None)
            if name == "label":
                kind = pa.array(values).type
            fields.append(pa.field(name, kind or floats))
        return pa.Table.from_pydict(rows, schema=pa.schema(fields))


__all__ = ["HieraPredictor", "read_image", "video_input"]
