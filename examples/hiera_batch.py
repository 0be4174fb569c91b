# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Batch inference for the evaluation and feature-extraction scripts: the inputs, two engines, resume by identity,
and the rows read back as they stream by.

- Inputs (`BatchInputs`): a class folder (listed by name, not decoded), a list of paths or URLs, a `datasets`
  dataset (streaming too), Parquet files or WebDataset shards. Each row has a `source` that names its input for
  good (a path, `<file>#<row>`, `<shard>#<key>`, `<dataset>:<split>:<index>`), so resuming skips what is written
  whatever was added since.
- Engines: `run_accelerate` (`python` or `accelerate launch`: each rank takes its own part and writes its own
  Parquet files as it goes; no collective waits, so no NCCL timeout) and `run_ray` (Ray Data: an actor pool with
  dynamic balancing, restarts and retries, streaming Parquet writes). Both write the same rows (the predictor's
  `pyarrow` schema) under `<output_dir>/rows/`, loadable with `datasets.load_dataset("parquet", ...)`.
- `manifest.json` records what the rows depend on (the predictor's `identity()` and the inputs); `--resume` refuses
  a run whose model, processor or options differ, naming what changed.
"""

from __future__ import annotations

import glob
import itertools
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from hiera_shards import expand_shards, shard_classes, shard_label

from hiera_hf.batch_inference import HieraPredictor

ROWS = "rows"
MEDIA_EXTENSIONS = ("png", "jpg", "jpeg", "webp", "bmp", "mp4", "avi", "mov", "mkv", "webm")


# ---- inputs ----------------------------------------------------------------------------------------------------


@dataclass
class BatchInputs:
    """What to run over: `kind` ("folder", "list", "datasets", "parquet", "webdataset") and its locations.

    Rows are `{"source", "input"?, "label"?}`: `input` holds bytes (or `datasets`' undecoded values) where the
    source is no file to open; `label` an integer class where the inputs have one (`classes` names them)."""

    kind: str
    locations: list[str]
    classes: list[str] | None = None
    dataset: dict = field(default_factory=dict)  # datasets: name, config, split, column, label_column, streaming

    @property
    def input_column(self) -> str | None:
        return None if self.kind in ("folder", "list") else "input"

    def describe(self) -> dict:
        return {"kind": self.kind, "locations": self.locations[:5], "count": len(self.locations), **self.dataset}

    def rows(self, rank: int = 0, world: int = 1) -> Iterator[dict]:
        """This rank's rows (every `world`-th item, or every `world`-th file for Parquet and shards)."""
        if self.kind in ("folder", "list"):
            yield from itertools.islice(self._listed(), rank, None, world)
        elif self.kind == "datasets":
            yield from self._dataset_rows(rank, world)
        else:
            read = read_parquet_rows if self.kind == "parquet" else read_shard_rows
            for location in self.locations[rank::world]:
                yield from read(location, self.classes)

    def _listed(self) -> Iterator[dict]:
        for location in self.locations:
            source, _, label = location.partition("\t")
            yield {"source": source, **({"label": int(label)} if label else {})}

    def _dataset_rows(self, rank: int, world: int) -> Iterator[dict]:
        info = self.dataset
        dataset = open_dataset(info)
        label = info.get("label_column")
        prefix = f"{info['name']}:{info['split']}"
        for index, row in enumerate(itertools.islice(dataset, rank, None, world)):
            yield {"source": f"{prefix}:{rank + index * world}", "input": row[info["column"]],
                   **({"label": row[label]} if label else {})}  # fmt: skip

    def ray_dataset(self, done: set[str]):
        """The rows as a Ray dataset, without those in `done`: listed rows from the driver, files read by tasks."""
        import ray.data

        if self.kind in ("folder", "list"):
            return ray.data.from_items([row for row in self._listed() if row["source"] not in done])
        if self.kind == "datasets":
            return ray.data.from_items([row for row in self._dataset_rows(0, 1) if row["source"] not in done])
        read = read_parquet_rows if self.kind == "parquet" else read_shard_rows
        classes = self.classes

        def rows_of(item: dict) -> list[dict]:
            return [row for row in read(item["location"], classes) if row["source"] not in done]

        # (one task per file: Ray's own readers name no row within a file, which resuming by identity needs)
        return ray.data.from_items([{"location": location} for location in self.locations]).flat_map(rows_of)


def open_dataset(info: dict):
    """A `datasets` dataset (a Hub id or a `save_to_disk` folder), streaming when asked, its input undecoded."""
    from datasets import DatasetDict, Image, IterableDatasetDict, Video, load_dataset, load_from_disk

    name = info["name"]
    if os.path.isdir(name) and not info.get("streaming"):
        dataset = load_from_disk(name)
    else:
        dataset = load_dataset(name, info.get("config"), streaming=bool(info.get("streaming")))
    if isinstance(dataset, (DatasetDict, IterableDatasetDict)):
        if info["split"] not in dataset:
            raise ValueError(f"The dataset {name!r} has no split {info['split']!r} (splits: {list(dataset)}).")
        dataset = dataset[info["split"]]
    if info["column"] not in dataset.column_names:
        raise ValueError(f"No column {info['column']!r} in {name!r} (columns: {dataset.column_names}).")
    undecoded = Video(decode=False) if info.get("video") else Image(decode=False)
    return dataset.cast_column(info["column"], undecoded)


def read_parquet_rows(path: str, classes=None) -> Iterator[dict]:
    """A Parquet file's rows, `<file>#<row>` each: its `image` or `video` column (bytes, `{"bytes", "path"}` or a
    path) as the input, its `label` column (integers) if it has one."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    column = next((name for name in ("image", "video", "input") if name in names), None)
    if column is None:
        raise ValueError(f"{path!r} has no image, video or input column (columns: {names}).")
    wanted = [column] + (["label"] if "label" in names else [])
    row = 0
    for batch in file.iter_batches(columns=wanted, batch_size=256):
        for values in batch.to_pylist():
            yield {"source": f"{path}#{row}", "input": values[column],
                   **({"label": values["label"]} if "label" in values else {})}  # fmt: skip
            row += 1


def read_shard_rows(url: str, classes=None) -> Iterator[dict]:
    """A WebDataset shard's samples, `<shard>#<key>` each: the first image or video member as bytes, the label
    from `.cls` (an integer) or `.json` (`{"label": name or integer}`, names looked up in `classes`)."""
    import webdataset as wds

    for sample in wds.WebDataset(url, shardshuffle=False, empty_check=False):
        extension = next((ext for ext in MEDIA_EXTENSIONS if ext in sample), None)
        row = {"source": f"{url}#{sample['__key__']}", "input": sample[extension] if extension else None}
        label = shard_label(sample, classes)
        if label is not None:
            row["label"] = label
        yield row


def add_batch_arguments(parser, split: str, output_required: bool = True) -> None:
    """The inputs, engine and output options both scripts take."""
    inputs = parser.add_argument_group("inputs (one of)")
    inputs.add_argument("--data_dir", help="<dir>/<class>/<file>, or <dir>/<file> without labels; listed, not read")
    inputs.add_argument("--sources_file", help="a text file of paths or URLs, one a line")
    inputs.add_argument("--dataset_name", help="a datasets id or a save_to_disk folder")
    inputs.add_argument("--data_files", help="Parquet files (a glob) with an image or video column")
    inputs.add_argument("--shards", help="WebDataset shards: data/train-{000000..000127}.tar (or a glob)")
    inputs.add_argument("--dataset_config_name")
    inputs.add_argument("--split", default=split)
    inputs.add_argument("--streaming", action="store_true", help="stream the datasets dataset")
    inputs.add_argument("--image_column", default="image")
    inputs.add_argument("--video_column", default="video", help="the video column, for a video model")
    inputs.add_argument("--label_column", default="label", help="'' for none")
    engine = parser.add_argument_group("engine")
    engine.add_argument("--engine", choices=("accelerate", "ray"), default="accelerate")
    engine.add_argument("--ray_address", default=None, help="default: RAY_ADDRESS, else a local cluster")
    engine.add_argument("--ray_num_actors", type=int, default=None, help="default: one per GPU, else one per CPU")
    engine.add_argument("--batch_size", type=int, default=32)
    engine.add_argument("--num_workers", type=int, default=2, help="accelerate: DataLoader workers decoding ahead")
    engine.add_argument("--rows_per_file", type=int, default=1024, help="rows per written Parquet file")
    engine.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    engine.add_argument("--fast", action="store_true", help="load through hiera_hf.fast_model")
    engine.add_argument("--resume", action="store_true", help="skip the sources already written")
    parser.add_argument("--output_dir", required=output_required)


def inputs_from_args(args, extensions: tuple[str, ...], is_video: bool) -> BatchInputs:
    """The one input the arguments name, listed (nothing is decoded here)."""
    given = [
        name for name in ("data_dir", "sources_file", "dataset_name", "data_files", "shards") if getattr(args, name)
    ]
    if len(given) != 1:
        raise ValueError(
            f"Give exactly one of --data_dir, --sources_file, --dataset_name, --data_files, --shards; got {given}."
        )
    if args.data_dir:
        return folder_inputs(args.data_dir, extensions)
    if args.sources_file:
        return BatchInputs(
            "list", [line.strip() for line in Path(args.sources_file).read_text().splitlines() if line.strip()]
        )
    if args.data_files:
        files = sorted(glob.glob(args.data_files))
        if not files:
            raise ValueError(f"--data_files {args.data_files!r} matches no file.")
        return BatchInputs("parquet", files)
    if args.shards:
        shards = expand_shards(args.shards)
        return BatchInputs("webdataset", shards, classes=shard_classes(shards))
    column = args.video_column if is_video else args.image_column
    info = {"name": args.dataset_name, "config": args.dataset_config_name, "split": args.split, "column": column,
            "label_column": args.label_column or None, "streaming": args.streaming, "video": is_video}  # fmt: skip
    features = open_dataset(info).features
    label = features.get(args.label_column) if args.label_column else None
    return BatchInputs(
        "datasets", [args.dataset_name], classes=list(getattr(label, "names", []) or []) or None, dataset=info
    )


def folder_inputs(data_dir: str, extensions: tuple[str, ...]) -> BatchInputs:
    """`<dir>/<class>/<file>` (labelled by class) or `<dir>/<file>`, listed by name, sorted."""
    if not os.path.isdir(data_dir):
        raise ValueError(f"--data_dir {data_dir!r} is not a directory.")
    entries = sorted(os.listdir(data_dir))
    classes = [name for name in entries if os.path.isdir(os.path.join(data_dir, name))]
    if classes:
        locations = [f"{os.path.join(data_dir, name, file)}\t{index}" for index, name in enumerate(classes)
                     for file in sorted(os.listdir(os.path.join(data_dir, name))) if file.lower().endswith(extensions)]  # fmt: skip
    else:
        locations = [os.path.join(data_dir, file) for file in entries if file.lower().endswith(extensions)]
    if not locations:
        raise ValueError(f"No files ({', '.join(extensions)}) under {data_dir!r}.")
    return BatchInputs("folder", locations, classes=classes or None)


def run_engine(predictor: HieraPredictor, inputs: BatchInputs, args) -> dict:
    return (run_ray if args.engine == "ray" else run_accelerate)(predictor, inputs, args.output_dir, args)


# ---- resume by identity --------------------------------------------------------------------------------------------


def written_sources(output_dir: str | os.PathLike) -> set[str]:
    """The sources already written under `<output_dir>/rows/` (their `source` column only)."""
    import pyarrow.parquet as pq

    done = set()
    for path in sorted(Path(output_dir, ROWS).glob("*.parquet")):
        done.update(pq.read_table(path, columns=["source"]).column("source").to_pylist())
    return done


def check_manifest(output_dir: str | os.PathLike, manifest: dict, resume: bool, is_main: bool) -> None:
    """Refuse to add rows to a folder of another run: without `resume` any rows there, with it a manifest that
    differs (naming what changed). The main process writes the manifest of a new run."""
    folder, path = Path(output_dir), Path(output_dir) / "manifest.json"
    has_rows = any(Path(folder, ROWS).glob("*.parquet"))
    if has_rows and not resume:
        raise ValueError(f"{str(folder)!r} holds rows of an earlier run: pass --resume, or another --output_dir.")
    if resume and path.is_file():
        earlier = json.loads(path.read_text())
        changed = sorted(key for key in ("model", "config_sha256", "weights_sha256", "processor", "options")
                         if earlier.get(key) != manifest.get(key))  # fmt: skip
        if changed:
            raise ValueError(
                f"Cannot resume {str(folder)!r}: its rows come from another {', '.join(changed)} "
                f"(was {[earlier.get(k) for k in changed]}, now {[manifest.get(k) for k in changed]})."
            )
    if is_main and not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".manifest.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
        os.replace(temporary, path)


# ---- the Accelerate engine -------------------------------------------------------------------------------------


class PreparedRows(torch.utils.data.IterableDataset):
    """This rank's rows in batches, decoded by DataLoader workers (each its share): `(columns, prepared, errors)`."""

    def __init__(self, inputs: BatchInputs, predictor: HieraPredictor, done: set[str], rank: int, world: int,
                 batch_size: int):  # fmt: skip
        self.inputs, self.predictor, self.done = inputs, predictor, done
        self.rank, self.world, self.batch_size = rank, world, batch_size

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        rows = (row for row in self.inputs.rows(self.rank, self.world) if row["source"] not in self.done)
        batches = _batches(rows, self.batch_size)
        for batch in itertools.islice(batches, worker, None, workers):
            columns = {name: [row.get(name) for row in batch] for name in batch[0]}
            yield (columns, *self.predictor.prepare_batch(columns))


def _batches(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


class PartWriter:
    """Rows into `<output_dir>/rows/part-<rank>-<run>-<n>.parquet`, `rows_per_file` at a time, each file written
    in one step (a kill leaves whole files only, so every written source is complete)."""

    def __init__(self, output_dir, rank: int, rows_per_file: int):
        self.folder = Path(output_dir) / ROWS
        self.folder.mkdir(parents=True, exist_ok=True)
        self.prefix, self.rows_per_file = f"part-{rank:05d}-{uuid.uuid4().hex[:8]}", rows_per_file
        self.pending, self.count, self.files = [], 0, 0

    def add(self, table) -> None:
        self.pending.append(table)
        self.count += table.num_rows
        if self.count >= self.rows_per_file:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.pending:
            return
        path = self.folder / f"{self.prefix}-{self.files:06d}.parquet"
        temporary = self.folder / f".{path.name}.tmp"
        pq.write_table(pa.concat_tables(self.pending), temporary)
        os.replace(temporary, path)
        self.pending, self.count, self.files = [], 0, self.files + 1


def run_accelerate(predictor: HieraPredictor, inputs: BatchInputs, output_dir, args) -> dict:
    """Each rank (`accelerate launch`, or one process) runs its own rows and writes them as it goes; the main
    process then waits for the others' `done` files (not a collective: no timeout) and returns the counts."""
    from accelerate import PartialState
    from tqdm.auto import tqdm

    state = PartialState(cpu=not torch.accelerator.is_available())  # CPUs only: gloo, as Trainer does with use_cpu
    predictor.device = predictor.device or str(state.device)
    done_path(output_dir, state.process_index).unlink(missing_ok=True)
    state.wait_for_everyone()  # (at the start, where no rank waits long: no earlier run's record is taken for this one's)
    check_manifest(
        output_dir, {**predictor.identity(), "inputs": inputs.describe()}, args.resume, state.is_main_process
    )
    done = written_sources(output_dir) if args.resume else set()
    data = PreparedRows(inputs, predictor, done, state.process_index, state.num_processes, args.batch_size)
    loader = torch.utils.data.DataLoader(data, batch_size=None, num_workers=args.num_workers)
    writer, start, count = PartWriter(output_dir, state.process_index, args.rows_per_file), time.perf_counter(), 0
    with tqdm(desc=f"rank {state.process_index}", unit="input", disable=not state.is_local_main_process) as progress:
        for columns, prepared, errors in loader:
            writer.add(predictor.finish(columns, prepared, errors, arrow=True))
            count += len(errors)
            progress.update(len(errors))
    writer.flush()
    mark_done(output_dir, state.process_index, count, time.perf_counter() - start)
    ranks = wait_for_ranks(output_dir, state.num_processes) if state.is_main_process else None
    return {"rank": state.process_index, "is_main": state.is_main_process, "rows": count, "ranks": ranks}


def done_path(output_dir, rank: int) -> Path:
    return Path(output_dir) / "ranks" / f"done-{rank}.json"


def mark_done(output_dir, rank: int, rows: int, seconds: float) -> None:
    path = done_path(output_dir, rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rank": rank, "rows": rows, "seconds": seconds}) + "\n")


def wait_for_ranks(output_dir, world: int, poll: float = 0.5) -> list[dict]:
    """Every rank's `done` record of this run (waiting for them by polling the shared folder)."""
    paths = [done_path(output_dir, rank) for rank in range(world)]
    while not all(path.exists() for path in paths):
        time.sleep(poll)
    return [json.loads(path.read_text()) for path in paths]


# ---- the Ray engine ----------------------------------------------------------------------------------------------


def start_ray(address: str | None):
    """Connect to `address` (or `RAY_ADDRESS`), else start a local cluster for the run."""
    import ray

    address = address or os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    return ray


def run_ray(predictor: HieraPredictor, inputs: BatchInputs, output_dir, args) -> dict:
    """An actor pool of predictors (`--ray_num_actors`: default one per GPU, else one per CPU), restarted and
    retried on failure, reading the inputs in tasks and writing Parquet as blocks finish."""
    ray = start_ray(args.ray_address)
    check_manifest(output_dir, {**predictor.identity(), "inputs": inputs.describe()}, args.resume, True)
    done = written_sources(output_dir) if args.resume else set()
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    actors = args.ray_num_actors or gpus or max(1, int(resources.get("CPU", 1)))
    cpus = 0 if gpus else max(1, int(resources.get("CPU", 1)) // actors)
    kwargs = {**predictor.constructor_kwargs(), "device": None}  # (each actor picks its own)
    start = time.perf_counter()
    rows = inputs.ray_dataset(done).map_batches(
        type(predictor),  # (a subclass too; every actor builds its own from the same arguments)
        fn_constructor_kwargs=kwargs,
        batch_size=args.batch_size,
        batch_format="pyarrow",
        concurrency=actors,
        num_gpus=1 if gpus else 0,
        num_cpus=cpus,
        max_restarts=-1,  # a killed actor is replaced and its batches run again
        max_task_retries=-1,
    )
    rows.write_parquet(str(Path(output_dir) / ROWS), min_rows_per_file=args.rows_per_file)
    return {"actors": actors, "seconds": time.perf_counter() - start}


# ---- the rows, read back ------------------------------------------------------------------------------------------


def iter_rows(output_dir, columns: list[str], batch_size: int = 1024) -> Iterator[dict[str, list]]:
    """The written rows in record batches of `columns`, one file at a time (never all of them in memory)."""
    import pyarrow.parquet as pq

    for path in sorted(Path(output_dir, ROWS).glob("*.parquet")):
        file = pq.ParquetFile(path)
        present = [name for name in columns if name in file.schema_arrow.names]
        for batch in file.iter_batches(columns=present, batch_size=batch_size):
            yield batch.to_pydict()


class StreamingAccuracy:
    """Top-1/top-5 and per-class accuracy of logits rows as they stream by (counts, not the rows)."""

    def __init__(self, id2label: dict[int, str], label_map: list[int] | None = None):
        self.id2label, self.label_map, self.sources = id2label, label_map, set()
        self.total = self.top1 = self.top5 = 0
        self.per_class = np.zeros((len(id2label), 2), dtype=np.int64)  # (count, correct)
        self.errors: list[str] = []

    def add(self, rows: dict[str, list]) -> None:
        for source, label, error, logits in zip(rows["source"], rows["label"], rows["error"], rows["logits"]):
            if source in self.sources:
                raise RuntimeError(f"{source!r} was written twice.")
            self.sources.add(source)
            if error is not None:
                self.errors.append(error)
                continue
            label = self.label_map[label] if self.label_map is not None else label  # the inputs' -> the model's
            ranked = np.argsort(-np.asarray(logits))[:5]
            self.total += 1
            self.top1 += int(ranked[0] == label)
            self.top5 += int(label in ranked)
            self.per_class[label] += (1, int(ranked[0] == label))

    def results(self) -> dict:
        per_class = {
            self.id2label[index]: {"accuracy": float(correct / count), "count": int(count)}
            for index, (count, correct) in enumerate(self.per_class)
            if count
        }
        return {
            "top1_accuracy": self.top1 / max(self.total, 1),
            "top5_accuracy": self.top5 / max(self.total, 1),
            "num_evaluated": self.total,
            "num_skipped": len(self.errors),
            "skipped": sorted(self.errors),
            "per_class": per_class,
        }


__all__ = [
    "BatchInputs",
    "add_batch_arguments",
    "inputs_from_args",
    "run_engine",
    "StreamingAccuracy",
    "expand_shards",
    "iter_rows",
    "run_accelerate",
    "run_ray",
    "written_sources",
]
