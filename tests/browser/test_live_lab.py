"""Acceptance 3: JupyterLab on 127.0.0.1, chapter 7 run in a real Chromium; moving the image
slider and switching the group change the rendered mask frame (pixel comparison); uploading
a photo to the "Your own photo" widget shows its explained face (issue [3/5]).

Both tests use one JupyterLab and one run of the chapter (:func:`chapter`, module scope): the
chapter takes most of a test's time, and the scrubber and the upload are separate widgets.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.request

import pytest

from mggnet_lite.files import atomic_write_bytes

from .conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, images_differ, new_page

NOTEBOOK = "book/07_explorer.ipynb"
RUN_TIMEOUT_MS = int(os.environ.get("MGGNET_BROWSER_RUN_TIMEOUT", "900")) * 1000


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """A JupyterLab server on 127.0.0.1 with a fresh workspace; yields its base URL + token.

    Autosave is off: the chapter is the committed, stripped notebook, and a test that runs
    longer than the autosave interval must not write its outputs into it (checked after).
    """
    tmp_path = tmp_path_factory.mktemp("lab")
    port, token = free_port(), secrets.token_hex(16)
    chapter = ROOT / NOTEBOOK
    committed = chapter.read_bytes()
    docmanager = tmp_path / "settings" / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    log = open(tmp_path / "lab.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            "--LabApp.expose_app_in_browser=True",
            f"--ServerApp.root_dir={ROOT}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
            "--ServerApp.open_browser=False",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((tmp_path / "lab.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        else:
            raise RuntimeError("JupyterLab did not start in 60 s")
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if chapter.read_bytes() != committed:
            atomic_write_bytes(chapter, committed, what="chapter 7")
            pytest.fail(f"JupyterLab saved {NOTEBOOK} during the test (put back as it was)")


def _wait_src_change(page, selector: str, old: str, timeout_ms: int = 20_000) -> str:
    page.wait_for_function(
        "([sel, old]) => { const e = document.querySelector(sel); return e && e.src !== old; }",
        arg=[selector, old],
        timeout=timeout_ms,
    )
    return page.eval_on_selector(selector, "e => e.src")


def _open_and_run_chapter(page, base: str, token: str) -> None:
    """Open chapter 7 in JupyterLab, wait for its kernel, start "run all cells"."""
    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}", wait_until="domcontentloaded")
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
        " && window.jupyterapp.shell.currentWidget.sessionContext"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
        " && window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
        timeout=120_000,
    )
    # Do not await the command's promise: it settles only when every cell has run, far past
    # page.evaluate's patience; start it, then watch the page.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


@pytest.fixture(scope="module")
def chapter(lab):
    """Chapter 7 run once in JupyterLab, in its own headless Chromium: ``(page, seconds the
    run took)``, once every cell has run (the kernel idle, the mask scrubber's frames shown)
    and the kernel has answered the scrubber's ping."""
    from playwright.sync_api import sync_playwright

    base, token = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            t0 = time.perf_counter()
            page = new_page(browser)
            _open_and_run_chapter(page, base, token)
            page.wait_for_selector("img.mggnet-mask-frame", state="visible",
                                   timeout=RUN_TIMEOUT_MS)
            page.wait_for_function(
                "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel"
                ".status === 'idle' && document.querySelector('.mggnet-frames img.mf-frame')",
                timeout=RUN_TIMEOUT_MS,
                polling=1000,
            )
            ran = time.perf_counter() - t0
            # the kernel answered the note's ping: the live page says its controls work
            page.wait_for_selector(".mggnet-mask-scrubber .mggnet-note-live", timeout=20_000)
            yield page, ran
        finally:
            browser.close()


def test_live_scrubber_in_jupyterlab(chapter):
    page, ran = chapter
    t0 = time.perf_counter()
    frame = "img.mggnet-mask-frame"
    img = page.locator(frame)
    img.scroll_into_view_if_needed()
    src0 = img.get_attribute("src")
    shot0 = img.screenshot()

    handle = page.locator(".mggnet-mask-scrubber .widget-slider .noUi-handle").first
    handle.click()
    page.keyboard.press("ArrowRight")
    src1 = _wait_src_change(page, frame, src0)
    shot1 = img.screenshot()
    moved = images_differ(shot0, shot1)
    assert moved > 0.05, f"the image slider did not change the picture ({moved:.3f})"

    page.locator(".mggnet-mask-scrubber select").first.select_option(index=6)  # mouth
    _wait_src_change(page, frame, src1)
    shot2 = img.screenshot()
    switched = images_differ(shot1, shot2)
    assert switched > 0.01, f"switching the group did not change the picture ({switched:.4f})"
    assert "Smiling" in page.inner_text(".mggnet-attr-table")
    print(
        f"\nlive JupyterLab: chapter ran in {ran:.0f} s, then the test "
        f"{time.perf_counter() - t0:.0f} s; changed pixels: slider {moved:.1%}, "
        f"group {switched:.1%}; blocked non-local requests: {len(page.blocked)}"
    )
    assert not page.blocked, f"JupyterLab tried the network: {page.blocked[:5]}"


def _choose_file(page, button: str, file) -> None:
    """Click the upload button and answer the file chooser it opens (the widget's
    ``<input type=file>`` is never attached to the page, so it cannot be filled directly)."""
    with page.expect_file_chooser() as chooser:
        page.click(button)
    chooser.value.set_files(file)


def test_upload_a_photo_in_jupyterlab(chapter):
    """A user's upload (a click on the FileUpload button, a file picked in the file chooser)
    runs detection, alignment and the model in the kernel, and the explained face appears
    where there was no picture; a file that is not an image gives a message and hides the
    picture again."""
    from matplotlib import cbook

    photo = str(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    page, _ = chapter
    t0 = time.perf_counter()
    box = ".mggnet-photo-upload"
    button, frame = f"{box} button.widget-upload", f"{box} img.mggnet-photo-frame"
    page.wait_for_selector(button, timeout=20_000)
    page.wait_for_selector(f"{box} .mggnet-note-live", timeout=20_000)
    assert not page.is_visible(frame), "a picture is shown before any upload"
    src0 = page.eval_on_selector(frame, "e => e.src")
    _choose_file(page, button, photo)
    _wait_src_change(page, frame, src0, timeout_ms=120_000)
    page.wait_for_function(
        "sel => { const e = document.querySelector(sel);"
        " return e.complete && e.naturalWidth > 0 && e.offsetParent !== null; }",
        arg=frame,
        timeout=20_000,
    )
    size = page.eval_on_selector(frame, "e => [e.naturalWidth, e.naturalHeight]")
    assert size[0] > 800 and size[1] > 800, f"the explained face is only {size} px"
    assert "grace_hopper.jpg: 1 face(s), showing face 1" in page.inner_text(box)

    _choose_file(page, button, {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"text"})
    page.wait_for_function(
        "sel => document.querySelector(sel).innerText.includes('Cannot read notes.txt')",
        arg=box,
        timeout=60_000,
    )
    page.wait_for_selector(frame, state="hidden", timeout=20_000)
    print(
        f"\nupload in JupyterLab (the chapter already run): {time.perf_counter() - t0:.0f} s, explained face "
        f"{size[0]} x {size[1]} px; blocked non-local requests: {len(page.blocked)}"
    )
    assert not page.blocked, f"JupyterLab tried the network: {page.blocked[:5]}"
