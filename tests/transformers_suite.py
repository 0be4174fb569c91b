"""Transformers' own common model tests (`ModelTesterMixin`, `BackboneTesterMixin`, `ConfigTester`), fetched at test
time from the source distribution on PyPI of the installed `transformers` version, never copied here.

The sdist ships `tests/*_common.py` but not the modules they import from `tests/exporters/`, `tests/generation/` and
`tests/utils/`; `_STUBS` provides those few names. The result is cached (`HIERA_HF_TEST_CACHE`, default
`~/.cache/hiera-hf`). When the sdist cannot be fetched, importing this module raises: the tests fail, they do not skip.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import transformers

PACKAGE = "transformers_common_tests"

# The names the common test files import from modules the sdist leaves out. Written here, not copied: the export
# and generation mixins add tests only for models that export through `transformers.exporters` or generate text
# (neither applies to a vision encoder), and the config kwargs are PreTrainedConfig fields set away from their
# defaults, which `ConfigTester.check_config_arguments_init` expects every config to keep.
_STUBS = {
    "exporters/test_export.py": "class ExportTesterMixin:\n    pass\n",
    "generation/test_utils.py": "class GenerationTesterMixin:\n    pass\n",
    "utils/test_configuration_utils.py": (
        "config_common_kwargs = {\n"
        '    "return_dict": False,\n'
        '    "output_hidden_states": True,\n'
        '    "output_attentions": True,\n'
        '    "dtype": "float16",\n'
        '    "chunk_size_feed_forward": 5,\n'
        '    "architectures": ["HieraModel"],\n'
        '    "id2label": {0: "label"},\n'
        '    "label2id": {"label": "0"},\n'
        '    "problem_type": "regression",\n'
        "}\n"
    ),
}


def _cache_dir() -> Path:
    return Path(os.environ.get("HIERA_HF_TEST_CACHE", Path.home() / ".cache" / "hiera-hf"))


def _fetch(version: str, destination: Path) -> None:
    """Download the sdist with pip and unpack its `tests/*.py` into `destination/PACKAGE`, all or nothing."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination.parent) as work:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", work]
        result = subprocess.run([*command, f"transformers=={version}"], capture_output=True, text=True)
        archives = list(Path(work).glob("transformers-*.tar.gz"))
        if result.returncode != 0 or not archives:
            raise RuntimeError(
                f"Could not download the transformers {version} source distribution from PyPI for its common model "
                f"tests (pip said: {result.stderr.strip()[-2000:]})."
            )
        staging = Path(work) / "staged"
        package = staging / PACKAGE
        package.mkdir(parents=True)
        with tarfile.open(archives[0]) as archive:
            for member in archive.getmembers():
                parts = Path(member.name).parts
                if len(parts) == 3 and parts[1] == "tests" and parts[2].endswith(".py") and member.isfile():
                    (package / parts[2]).write_bytes(archive.extractfile(member).read())
        if not (package / "test_modeling_common.py").is_file():
            raise RuntimeError(f"The transformers {version} sdist has no tests/test_modeling_common.py.")
        (package / "__init__.py").write_text("")
        for relative, text in _STUBS.items():
            path = package / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            (path.parent / "__init__.py").touch()
            path.write_text(text)
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(staging, destination)


def load() -> dict:
    """The common test modules of the installed transformers version: `{"modeling", "backbone", "configuration"}`."""
    version = transformers.__version__
    root = _cache_dir() / f"transformers-{version}-tests"
    if not (root / PACKAGE / "test_modeling_common.py").is_file():
        _fetch(version, root)
    if PACKAGE not in sys.modules:  # the staged package, imported from where it lies (no sys.path entry)
        spec = importlib.util.spec_from_file_location(PACKAGE, root / PACKAGE / "__init__.py")
        sys.modules[PACKAGE] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[PACKAGE])
    return {
        name: importlib.import_module(f"{PACKAGE}.test_{name}_common")
        for name in ("modeling", "backbone", "configuration")
    }
