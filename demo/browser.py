# Copyright 2026 The hiera-hf authors. Licensed under the Apache License, Version 2.0.
"""Serve `demo/app.py` and open it in Debian's headless Chromium through Playwright (which downloads no browser):
what the browser test and `docs/make_pictures.py` share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
CHROMIUM = "/usr/bin/chromium"  # Debian's package: apt-get install -y chromium
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serve(app_args: list[str], log_path: Path, timeout: float = 600) -> Iterator[str]:
    """`python demo/app.py APP_ARGS` on a free local port (Gradio's GRADIO_SERVER_* settings); yields its URL once it
    answers, stops it afterwards. A server that exits or does not answer in `timeout` seconds raises RuntimeError
    with the end of its log."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, str(APP), *app_args], env=env, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"The demo did not start:\n{Path(log_path).read_text()[-3000:]}") from None
                    time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


@contextmanager
def chromium_page(width: int = 1400, height: int = 1600):
    """A Playwright page in headless Chromium with a fresh profile. Raises FileNotFoundError, saying how to
    install it, when Debian's chromium is missing."""
    if not Path(CHROMIUM).is_file():
        raise FileNotFoundError(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_FLAGS,
            headless=True,
            viewport={"width": width, "height": height},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def analyse(page, url: str, upload: str | os.PathLike, timeout_ms: int = 120_000) -> None:
    """Open the demo, upload a file, press Analyse and wait until every shown picture has rendered."""
    page.goto(url)
    page.wait_for_selector("#analyse")
    page.locator("#upload input[type=file]").set_input_files(str(upload))
    page.click("#analyse")
    page.wait_for_function(RENDERED, timeout=timeout_ms)


# The attention and feature pictures (and the reconstruction, when the page shows one) are loaded images.
RENDERED = """() => ['attention', 'features', 'reconstruction'].every(id => {
    const box = document.getElementById(id);
    if (!box || box.offsetParent === null) return id === 'reconstruction';
    const img = box.querySelector('img');
    return img !== null && img.complete && img.naturalWidth > 200;
})"""
