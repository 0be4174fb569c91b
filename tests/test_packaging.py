"""A package people can install: the sdist and the wheel build from this checkout, carry the licences, and the
wheel (not this editable checkout) works in a fresh environment: the command line, a save/load round trip and the
remote-code files it writes; the demo's Space folder installs from the wheel beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest
from test_repo import tiny_classifier_parameters

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = {path.name for path in (ROOT / "src" / "hiera_hf").glob("*.py")}
# What a saved folder carries as remote code: the modules `auto_map` names and those they import, not the tools.
REMOTE_CODE = {
    "checkpoint_layouts.py",
    "checks.py",
    "configuration_hiera.py",
    "image_processing_hiera.py",
    "modeling_hiera.py",
    "processing_common.py",
    "transformers_compat.py",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """`python -m build`: the sdist, then the wheel built from the sdist (so the sdist must be complete)."""
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return {"sdist": next(out.glob("hiera_hf-*.tar.gz")), "wheel": next(out.glob("hiera_hf-*.whl"))}


def test_sdist_and_wheel_carry_the_code_and_the_licences(built):
    with tarfile.open(built["sdist"]) as sdist:
        names = {Path(*Path(name).parts[1:]).as_posix() for name in sdist.getnames()}
    assert {"LICENSE", "NOTICE", "README.md", "pyproject.toml"} <= names
    assert {f"src/hiera_hf/{name}" for name in PACKAGE} <= names
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = wheel.read(info).decode()
    assert {f"hiera_hf/{name}" for name in PACKAGE} <= names
    dist_info = info.rsplit("/", 1)[0]
    assert {f"{dist_info}/licenses/LICENSE", f"{dist_info}/licenses/NOTICE"} <= names
    assert "License-Expression: Apache-2.0" in metadata
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
    notice = (ROOT / "NOTICE").read_text()
    assert "CC-BY-NC-4.0" in notice and "non-commercial" in notice


def fresh_environment(folder: Path) -> Path:
    """A new virtual environment that sees this environment's packages (torch, transformers, ...) but not
    hiera-hf: their site-packages linked in one by one, hiera-hf's entries left out (and none of its own, so
    torch finds the setuptools it needs). Returns its python; `pip --python` installs into it."""
    venv.EnvBuilder(with_pip=False).create(folder)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    shared = folder / "shared-site-packages"
    shared.mkdir()
    ours = Path(next(p for p in sys.path if p.endswith("site-packages") and Path(p, "torch").is_dir()))
    for entry in ours.iterdir():
        if "hiera_hf" not in entry.name.replace("-", "_"):
            (shared / entry.name).symlink_to(entry)
    Path(site, "shared.pth").write_text(f"{shared}\n")
    return python


def run(python: Path, code: str, cwd: Path) -> str:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(cwd / "modules")}
    result = subprocess.run(
        [str(python), "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=cwd, env=environment
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_the_wheel_works_in_a_fresh_environment_and_the_space_installs_it(built, tmp_path):
    space = tmp_path / "space"
    result = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "make_space.py"), str(space), "--wheel", str(built["wheel"])],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p.name for p in space.iterdir()} == {"app.py", "README.md", "requirements.txt", built["wheel"].name}
    assert f"./{built['wheel'].name}[demo]" in (space / "requirements.txt").read_text().splitlines()

    python = fresh_environment(tmp_path / "env")
    run(python, "import importlib.util; assert importlib.util.find_spec('hiera_hf') is None", tmp_path)
    # The Space's requirements, as a Space runs them (from its folder): the wheel, its dependencies already there.
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "-q", "-r", "requirements.txt"],
        capture_output=True, text=True, cwd=space,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-3000:]

    where = run(python, "import hiera_hf; print(hiera_hf.__file__)", tmp_path)
    assert where.startswith(str(tmp_path / "env")) and "site-packages" in where  # the wheel's copy, not editable
    command = subprocess.run([str(python), "-m", "hiera_hf"], capture_output=True, text=True, cwd=tmp_path)
    parameters = f"{tiny_classifier_parameters() / 1e6:.2f}M parameters"
    assert command.returncode == 0 and parameters in command.stdout, command.stderr[-3000:]

    saved = run(
        python,
        """
        import json, torch
        from hiera_hf import HieraConfig, HieraForImageClassification, HieraImageProcessor
        config = HieraConfig.from_preset("hiera_tiny_224", depths=(1, 1, 1, 1), num_labels=3)
        torch.manual_seed(0)
        model = HieraForImageClassification(config).eval()
        model.save_pretrained("folder")
        HieraImageProcessor().save_pretrained("folder")
        pixels = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        again = HieraForImageClassification.from_pretrained("folder").eval()
        with torch.no_grad():
            logits, reloaded = model(pixels).logits, again(pixels).logits
        assert torch.equal(logits, reloaded)
        print(json.dumps(logits[0].tolist()))
        """,
        tmp_path,
    )
    logits = json.loads(saved.strip().splitlines()[-1])
    assert {p.name for p in (tmp_path / "folder").glob("*.py")} == REMOTE_CODE  # (the parity tooling stays out)

    # The remote-code files the wheel wrote, where hiera_hf cannot be imported: the same logits.
    remote = run(
        python,
        """
        import importlib.abc, json, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "hiera_hf" or name.startswith("hiera_hf."):
                    raise ImportError("hidden")
        sys.meta_path.insert(0, Block())
        import torch
        from transformers import AutoModelForImageClassification
        model = AutoModelForImageClassification.from_pretrained("folder", trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        pixels = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            print(json.dumps(model(pixels).logits[0].tolist()))
        """,
        tmp_path,
    )
    assert json.loads(remote.strip().splitlines()[-1]) == logits
