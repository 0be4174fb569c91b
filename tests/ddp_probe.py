"""Run an example script under `accelerate launch` and record what each rank did (for tests/test_examples.py).

    accelerate launch ... tests/ddp_probe.py SCRIPT.py [script arguments]     (PROBE_DIR=folder for the records)

Per rank it writes `rank<r>.json` (Trainer's parallel mode, the class of the model Trainer trained, the training
examples the rank fetched per epoch, how many parameters are sharded DTensors under FSDP) and, unless sharded,
`rank<r>.safetensors` (its final weights).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

from safetensors.torch import save_file

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def shared_module(name: str):
    """One of the scripts' shared modules, registered under its name before the script imports it: they then share
    one module."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


shared_module("hiera_shards")  # (hiera_training_data imports it)
hiera_training_data = shared_module("hiera_training_data")  # (hiera_examples imports it)
hiera_examples = shared_module("hiera_examples")

records = Path(os.environ["PROBE_DIR"])
rank = int(os.environ.get("RANK", "0"))
fetched = defaultdict(list)  # epoch -> training example indices this rank loaded

original_getitem = hiera_examples.SeededDataset.__getitem__
original_train = hiera_examples.HieraTrainer.train


def recording_getitem(self, index):
    if getattr(self.transform, "__name__", "") == "train_example":
        fetched[self.epoch].append(int(index))
    return original_getitem(self, index)


def recording_train(self, *args, **kwargs):
    result = original_train(self, *args, **kwargs)
    records.mkdir(parents=True, exist_ok=True)
    sharded = sum(type(p).__name__ == "DTensor" for p in self.model_wrapped.parameters())
    if not sharded:  # a sharded rank holds slices only: its checkpoint is the sharded one Trainer saved
        state = {name: tensor.detach().contiguous() for name, tensor in self.model.state_dict().items()}
        save_file(state, str(records / f"rank{rank}.safetensors"))
    summary = {
        "sharded_parameters": sharded,
        "parallel_mode": str(self.args.parallel_mode),
        "wrapped_model": type(self.model_wrapped).__name__,
        "fetched": {str(epoch): indices for epoch, indices in fetched.items()},
    }
    (records / f"rank{rank}.json").write_text(json.dumps(summary))
    return result


def recording_stream_call(self, example):
    """A stream's samples are read in DataLoader workers: each appends the keys it reads to a file of its own."""
    with open(records / f"stream-rank{rank}-pid{os.getpid()}.txt", "a") as file:
        file.write(f"{self.epoch}\t{sample_name(example)}\n")
    return original_stream_call(self, example)


hiera_examples.SeededDataset.__getitem__ = recording_getitem
hiera_examples.HieraTrainer.train = recording_train
records.mkdir(parents=True, exist_ok=True)
sample_name, original_stream_call = hiera_training_data.sample_name, hiera_training_data.StreamTransform.__call__
hiera_training_data.StreamTransform.__call__ = recording_stream_call

script = Path(sys.argv[1])
spec = importlib.util.spec_from_file_location(script.stem, script)
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
module.main(sys.argv[2:])
