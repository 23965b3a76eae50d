"""The site's MathJax / widget-manager source (_ext/offline_assets.py, ARCHITECTURE.md "The
book"): a one-page Jupyter Book built in a temporary folder, once with npm hidden from
PATH (the pages use the public CDNs, with one warning naming the fix) and once with npm
(the pages use the local copies it fetched, which a later build reuses without npm)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
JB = Path(sys.executable).with_name("jupyter-book")

_spec = importlib.util.spec_from_file_location(
    "offline_assets", ROOT / "_ext" / "offline_assets.py"
)
oa = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(oa)

CONFIG = f"""title: tiny
only_build_toc_files: true
exclude_patterns: [_build, _offline]
execute:
  execute_notebooks: 'off'
parse:
  myst_enable_extensions: [dollarmath, amsmath]
sphinx:
  local_extensions:
    offline_assets: {ROOT / "_ext"}
"""


def _book(tmp: Path) -> Path:
    book = tmp / "tiny"
    book.mkdir()
    (book / "_config.yml").write_text(CONFIG)
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    (book / "index.md").write_text("# Tiny\n\nAn equation:\n\n$$x^2$$\n")
    return book


def _no_npm_path() -> str:
    """A PATH holding only this interpreter's bin folder (the build needs nothing else)."""
    here = str(Path(sys.executable).parent)
    if shutil.which("npm", path=here):  # pragma: no cover
        pytest.skip(f"npm sits beside the interpreter in {here}: cannot hide it")
    return here


def _build(book: Path, path: str, *flags: str, mode: str | None = None):
    env = {k: v for k, v in os.environ.items() if k != oa.ENV} | {"PATH": path}
    if mode:
        env[oa.ENV] = mode
    done = subprocess.run(
        [str(JB), "build", ".", "--path-output", ".", *flags],
        cwd=book,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    page = book / "_build" / "html" / "index.html"
    html = page.read_text() if page.is_file() else ""
    return done, done.stdout + done.stderr, html


def _script_srcs(html: str) -> list[str]:
    """The pages' script URLs, without Sphinx's ``?v=`` cache-busting suffix."""
    return [s.split("?v=")[0] for s in re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)]


def test_without_npm_pages_use_the_cdn_with_one_warning(tmp_path):
    book = _book(tmp_path)
    done, out, html = _build(book, _no_npm_path())
    assert done.returncode == 0, out[-3000:]
    assert out.count("apt-get install npm") == 1, out[-3000:]
    assert "WARNING: offline assets: npm was not found on PATH" in out
    assert oa.CDN_MATHJAX in _script_srcs(html)
    assert not (book / oa.ASSETS_DIR / oa.STAMP).exists()
    # the anywidget bundle never needs npm: it is written and served in any case
    assert (book / "_build" / "html" / oa.OFFLINE / "anywidget" / "config.js").is_file()


def test_make_book_mode_without_npm_passes_W_and_says_so(tmp_path):
    """``make book`` builds with -W: the fallback must be a notice there, not a warning."""
    book = _book(tmp_path)
    done, out, html = _build(book, _no_npm_path(), "-W", "--keep-going", mode="auto-notice")
    assert done.returncode == 0, out[-3000:]
    assert out.count("apt-get install npm") == 1, out[-3000:]
    assert "WARNING: offline assets" not in out
    assert oa.CDN_MATHJAX in _script_srcs(html)


def _npm_registry_reachable(npm: str) -> bool:
    try:
        done = subprocess.run(
            [npm, "view", "mathjax@3", "version", "--loglevel=error"],
            capture_output=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


@pytest.mark.slow
def test_with_npm_pages_use_local_copies_and_reuse_them(tmp_path, monkeypatch):
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed")
    if not _npm_registry_reachable(npm):
        pytest.skip("the npm registry cannot be reached")
    book = _book(tmp_path)
    done, out, html = _build(book, os.environ["PATH"])
    assert done.returncode == 0, out[-3000:]
    assert "apt-get install npm" not in out
    src = "_static/offline/mathjax/tex-chtml.js"
    assert src in _script_srcs(html)
    site = book / "_build" / "html"
    for rel in (src, "_static/offline/require.js", "_static/offline/html-manager/embed-amd.js"):
        assert (site / rel).is_file(), rel
    assert oa.assets_ready(book)
    assert not (site / oa.STAMP).exists()
    # a later build reuses _offline/: it needs no npm (the choice is made in-process here,
    # a third jupyter-book run would only add half a minute)
    monkeypatch.setenv("PATH", _no_npm_path())
    assert oa.choose(book, "auto") is None


def test_choice_and_settings_without_a_build(tmp_path):
    """``cdn`` never runs npm and names its own fix; an older stamp means re-make."""
    why, fix = oa.choose(tmp_path, "cdn")
    assert oa.ENV in why and fix.startswith(f"unset {oa.ENV}")
    (tmp_path / oa.ASSETS_DIR).mkdir()
    (tmp_path / oa.ASSETS_DIR / oa.STAMP).write_text('{"npm": ["mathjax@2"]}\n')
    assert not oa.assets_ready(tmp_path)
    cfg = SimpleNamespace(html_extra_path=["extra"])
    oa._set_config(cfg, local=False)
    oa._set_config(cfg, local=True)
    assert cfg.html_extra_path == ["extra", "_offline/site"]
    assert cfg.mathjax_path == "offline/mathjax/tex-chtml.js"
    # require.js first, then the anywidget mapping (it calls requirejs.config), then the manager
    assert list(cfg.nb_ipywidgets_js) == [oa.LOCAL_REQUIRE, oa.ANYWIDGET_CONFIG, oa.LOCAL_WIDGETS]
