# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Write a Hugging Face Space folder for the demo: `app.py`, its `README.md` (the Space's front matter), the built
hiera-hf wheel, and a `requirements.txt` that installs that wheel (hiera-hf is not on PyPI).

    python demo/make_space.py OUTPUT_DIR [--wheel dist/hiera_hf-0.1.0-py3-none-any.whl] [--overwrite]

Without `--wheel` it builds one from this checkout (`python -m build --wheel`, which `pip install build` provides).
The folder is written completely or not at all; upload it as the Space (then set `HIERA_MODEL`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEMO = Path(__file__).resolve().parent
ROOT = DEMO.parent
sys.path.insert(0, str(ROOT / "src"))
from hiera_hf.atomic import atomic_folder  # noqa: E402


def build_wheel(output_dir: Path) -> Path:
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(output_dir), str(ROOT)], check=True)
    return next(output_dir.glob("hiera_hf-*.whl"))


def space_requirements(wheel_name: str) -> str:
    """`demo/requirements.txt` with its line for this checkout (`.[demo]`) pointing at the wheel instead."""
    lines = (DEMO / "requirements.txt").read_text().splitlines()
    if ".[demo]" not in lines:
        raise ValueError("demo/requirements.txt has no '.[demo]' line to point at the wheel.")
    return "\n".join(f"./{wheel_name}[demo]" if line == ".[demo]" else line for line in lines) + "\n"


def make_space(output_dir, wheel: str | None = None, overwrite: bool = False) -> Path:
    with tempfile.TemporaryDirectory() as build_dir:
        wheel_path = Path(wheel) if wheel else build_wheel(Path(build_dir))
        if not wheel_path.is_file() or wheel_path.suffix != ".whl":
            raise ValueError(f"--wheel {str(wheel_path)!r} is not a wheel file.")
        with atomic_folder(output_dir, overwrite=overwrite) as staging:
            for name in ("app.py", "README.md"):
                shutil.copyfile(DEMO / name, staging / name)
            shutil.copyfile(wheel_path, staging / wheel_path.name)
            (staging / "requirements.txt").write_text(space_requirements(wheel_path.name))
    return Path(output_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output_dir")
    parser.add_argument("--wheel", help="a built hiera-hf wheel (default: build one)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)
    print(make_space(args.output_dir, args.wheel, args.overwrite))


if __name__ == "__main__":
    main()
