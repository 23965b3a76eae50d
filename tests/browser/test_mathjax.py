"""The equations of the built site render with no network (_ext/offline_assets.py,
ARCHITECTURE.md "The book"): chapter 3, served from 127.0.0.1 to a headless Chromium that
may reach nothing else, loads MathJax 3 from the site and typesets its equations.

The site is ``_build/html`` (``make book``, with npm so the pages get local copies), or
``$MGGNET_SITE``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import ROOT, new_page

PAGE = "book/03_graph_correlation.html"


@pytest.fixture(scope="module")
def site() -> Path:
    env = os.environ.get("MGGNET_SITE")
    real = Path(env) if env else ROOT / "_build" / "html"
    if not (real / PAGE).is_file():
        pytest.skip(f"no {PAGE} in {real}: run `make book` first")
    return real


def test_chapter3_equations_render_offline(server, browser):
    base, missing = server
    page = new_page(browser)
    page.goto(f"{base}/{PAGE}", wait_until="load")
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    mathjax = [s for s in scripts if "mathjax" in s.lower()]
    assert mathjax, f"{PAGE}: no MathJax script"
    assert all(s.startswith(base) for s in mathjax), (
        f"{PAGE} loads MathJax from {mathjax}: the site was built without npm "
        "(apt-get install npm, then rebuild)"
    )
    page.wait_for_selector("mjx-container", state="attached", timeout=20_000)
    rendered = page.locator("mjx-container").count()
    raw = page.locator("main .math:not(:has(mjx-container))").count()
    print(f"\n{PAGE}: {rendered} mjx-container, {raw} math blocks left as TeX")
    assert rendered >= 1
    assert raw == 0, f"{raw} math blocks not typeset"
    assert not [p for p in missing if "mathjax" in p], f"missing MathJax files: {missing}"
    assert not [u for u in page.blocked if "mathjax" in u.lower()], page.blocked
