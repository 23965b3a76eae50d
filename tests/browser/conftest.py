"""Browser tests of the explorer (issue 6): Playwright driving Debian's Chromium.

They run under ``make browser-test`` (which sets ``MGGNET_BROWSER_TESTS=1``) and are skipped
otherwise: they start JupyterLab or a web server, run chapter 7 and take minutes, not seconds.
Playwright never downloads a browser here: it launches ``/usr/bin/chromium``
(``apt-get install chromium``; override with ``MGGNET_CHROMIUM``).
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("MGGNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    why = None
    if os.environ.get("MGGNET_BROWSER_TESTS") != "1":
        why = "browser tests run under `make browser-test` (MGGNET_BROWSER_TESTS=1)"
    elif not Path(CHROMIUM).exists():
        why = f"no Chromium at {CHROMIUM}: apt-get install chromium (or set MGGNET_CHROMIUM)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            why = "playwright is not installed: PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 pip install playwright"
    if why:
        for item in items:
            if here in Path(str(item.fspath)).parents:
                item.add_marker(pytest.mark.skip(reason=why))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_local(url: str) -> bool:
    scheme = urlparse(url).scheme
    return scheme in ("data", "blob", "about") or urlparse(url).hostname in (
        "127.0.0.1",
        "localhost",
    )


@pytest.fixture()
def browser() -> Iterator:
    """A headless Chromium; every page opened from it gets ``page.blocked`` (the non-local
    URLs it tried, all aborted: the tests run with no network)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def new_page(browser, viewport=(1400, 1000)):
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.blocked = []

    def route(r):
        if is_local(r.request.url):
            r.continue_()
        else:
            page.blocked.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return page


def png_pixels(data: bytes):
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def images_differ(a: bytes, b: bytes) -> float:
    """Fraction of pixels that differ between two screenshots (0 if the sizes differ too)."""
    pa, pb = png_pixels(a), png_pixels(b)
    if pa.shape != pb.shape:
        return 1.0
    return float((abs(pa - pb).sum(2) > 24).mean())


def copy_tree(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)


@pytest.fixture(scope="module")
def server(site: Path):
    """Serve the module's ``site`` folder on 127.0.0.1; yields (base URL, 404 paths)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            if args and "404" in str(args[1:2]):
                missing.append(self.path)

    missing: list[str] = []
    handler = functools.partial(Quiet, directory=str(site))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", missing
    finally:
        httpd.shutdown()
