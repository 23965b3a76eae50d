"""Acceptance 4: the built chapter-7 page, served from 127.0.0.1 to a headless Chromium that
may not reach anything else: the precomputed scrubber moves and the displayed image changes.

The page is ``_build/html/book/07_explorer.html`` (``make book``), or ``$MGGNET_SITE``'s. When
neither holds it, a minimal book of chapter 7 alone is built in a temporary folder with the
same offline settings as ``_config.yml`` (needs ``make offline-assets`` once).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, images_differ, new_page

PAGE = "book/07_explorer.html"

MINI_CONFIG = """title: chapter 7 alone (browser test)
only_build_toc_files: true
exclude_patterns: [_build, _offline]
execute:
  execute_notebooks: force
  timeout: 900
  allow_errors: false
  run_in_temp: false
sphinx:
  config:
    html_extra_path: [_offline/site]
    mathjax_path: offline/mathjax/tex-chtml.js
    nb_ipywidgets_js:
      offline/require.js: {}
      offline/anywidget/config.js: {}
      offline/html-manager/embed-amd.js: {}
"""


def _build_mini(tmp: Path) -> Path:
    offline = ROOT / "_offline" / "site"
    if not (offline / "_static" / "offline" / "require.js").is_file():
        pytest.skip(
            "no built site and no _offline/site: run `make book` (or `make offline-assets`)"
        )
    from mggnet_lite.widgets import write_offline_assets

    book = tmp / "mini"
    (book / "book").mkdir(parents=True)
    shutil.copy(ROOT / "book" / "07_explorer.ipynb", book / "book" / "07_explorer.ipynb")
    shutil.copytree(offline, book / "_offline" / "site")
    write_offline_assets(book / "_offline" / "site" / "_static" / "offline" / "anywidget")
    (book / "_config.yml").write_text(MINI_CONFIG)
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/07_explorer\n")
    jb = Path(sys.executable).with_name("jupyter-book")
    t0 = time.perf_counter()
    subprocess.run(
        [str(jb), "build", ".", "--path-output", "."],
        cwd=book,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"\nbuilt chapter 7 alone in {time.perf_counter() - t0:.0f} s")
    return book / "_build" / "html"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    env = os.environ.get("MGGNET_SITE")
    real = Path(env) if env else ROOT / "_build" / "html"
    if (real / PAGE).is_file():
        return real
    return _build_mini(tmp_path_factory.mktemp("site"))


def test_static_page_scrubs_offline(server, browser):
    server, missing = server
    t0 = time.perf_counter()
    html = urllib.request.urlopen(f"{server}/{PAGE}").read().decode()
    assert "offline/anywidget/config.js" in html, (
        "the page does not load the anywidget mapping: add `offline/anywidget/config.js: {}` "
        "after offline/require.js under sphinx.config.nb_ipywidgets_js in _config.yml, then "
        "`make book`; without it the static scrubber tries a CDN and never renders offline"
    )
    page = new_page(browser)
    page.goto(f"{server}/{PAGE}", wait_until="load")
    frames = page.locator(".mggnet-frames")
    page.wait_for_selector(".mggnet-frames img.mf-frame", state="visible", timeout=60_000)
    frames.scroll_into_view_if_needed()
    panels = page.locator(".mggnet-frames .mf-panels")
    mask = ".mggnet-frames .mf-panels figure:nth-child(2) img"

    def src() -> str:
        return page.eval_on_selector(mask, "e => e.src")

    src0, shot0 = src(), panels.screenshot()
    page.locator(".mggnet-frames .mf-index").focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "([s, old]) => document.querySelector(s).src !== old", arg=[mask, src0], timeout=10_000
    )
    assert "image 2 / " in page.inner_text(".mggnet-frames .mf-label")
    src1, shot1 = src(), panels.screenshot()
    moved = images_differ(shot0, shot1)
    assert moved > 0.05, f"the slider did not change the picture ({moved:.3f})"

    page.locator(".mggnet-frames .mf-group").select_option(label="mouth")
    page.wait_for_function(
        "([s, old]) => document.querySelector(s).src !== old", arg=[mask, src1], timeout=10_000
    )
    shot2 = panels.screenshot()
    switched = images_differ(shot1, shot2)
    assert switched > 0.01, f"switching the group did not change the picture ({switched:.4f})"
    assert "Smiling" in page.inner_text(".mggnet-frames .mf-table")

    page.locator(".mggnet-frames .mf-block").select_option("block3")
    assert page.locator(".mggnet-frames .mf-panels img").count() == 2  # image + block3

    # the Python-driven widgets say they need a kernel, instead of silently doing nothing
    assert page.locator(".mggnet-note-static").count() >= 2
    assert page.locator(".mggnet-note-live").count() == 0
    widget_cdn = [u for u in page.blocked if "jsdelivr" in u or "unpkg" in u]
    print(
        f"\nstatic page: {time.perf_counter() - t0:.1f} s; changed pixels: slider "
        f"{moved:.1%}, group {switched:.1%}; blocked non-local requests: {page.blocked}"
    )
    assert not widget_cdn, f"widget code was fetched from a CDN: {widget_cdn}"
    assert not [p for p in missing if "anywidget" in p], f"anywidget assets missing: {missing}"
    fonts = [p for p in missing if p.endswith((".woff", ".woff2", ".ttf"))]
    if fonts:  # the HTML manager's icon font, asked relative to the page: cosmetic only
        print(f"missing icon fonts (cosmetic): {fonts}")
