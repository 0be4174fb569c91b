# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Write a folder completely or not at all (used by the conversion script and the exporter)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux `renameat2(RENAME_EXCHANGE)`); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    return renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0


def replace_folder(staging: Path, destination: Path) -> None:
    """Move the complete folder `staging` to `destination`; an existing `destination` stays in place until then.

    Where the system can swap two paths in one step, the old folder is never missing; elsewhere it is renamed
    aside first and put back if the move fails.
    """
    if not destination.exists():
        os.replace(staging, destination)
    elif _exchange(staging, destination):
        shutil.rmtree(staging)  # now holds the old folder
    else:
        aside = Path(tempfile.mkdtemp(prefix=f".{destination.name}.old.", dir=destination.parent))
        os.replace(destination, aside / destination.name)
        try:
            os.replace(staging, destination)
        except BaseException:
            os.replace(aside / destination.name, destination)
            raise
        finally:
            shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(destination: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder beside `destination`; when the block ends without an error it replaces
    `destination` (`overwrite=True` needed if it exists), otherwise it is removed and `destination` is untouched."""
    destination = Path(destination)
    if destination.exists() and not destination.is_dir():  # (overwrite replaces folders, never a file)
        raise FileExistsError(f"{str(destination)!r} is a file, not a folder: choose another output folder.")
    if destination.exists() and not overwrite:
        raise FileExistsError(f"{str(destination)!r} exists; pass overwrite=True (--overwrite) to replace it.")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        yield staging
        replace_folder(staging, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
