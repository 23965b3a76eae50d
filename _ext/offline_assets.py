"""Sphinx extension: the site's MathJax 3, require.js and ipywidgets HTML manager come from
the site itself when npm can fetch them once, else from public CDNs (ARCHITECTURE.md, "The
book").

At ``config-inited`` (before myst-nb reads ``nb_ipywidgets_js`` and before Sphinx compares
the configuration with the previous build's) it

* installs ``NPM_PACKAGES`` with npm into ``_offline/`` beside ``_config.yml`` (git-ignored)
  and copies the files the pages load into ``_offline/site/_static/offline/`` -- once: a
  stamp records what was installed, so later builds reuse it, with or without npm;
* writes chapter 7's anywidget AMD bundle and its require.js mapping there (from the
  installed ``anywidget``, no npm needed), so the widget manager never asks a CDN for it;
* sets ``mathjax_path``, ``nb_ipywidgets_js`` and ``html_extra_path`` to the local files,
  or, when they could not be made, to the CDN URLs with one warning naming the fix.

``_offline/site`` is copied into the site root by ``html_extra_path``, so the files are
served as ``_static/offline/...``; it is deliberately not a top-level ``_static/``, whose
every .js/.css Jupyter Book 1 would inject into every page.

``MGGNET_OFFLINE_ASSETS`` (environment): unset or ``auto`` as above; ``auto-notice`` the same,
but the fallback is reported as a notice, not a Sphinx warning (``make book`` builds with
``-W``); ``cdn`` always the CDNs (never runs npm), with the notice.

``python _ext/offline_assets.py [BOOK_ROOT]`` makes the assets without building
(``make offline-assets``); it fails when npm is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

NPM_PACKAGES = ("mathjax@3", "requirejs@2.3", "@jupyter-widgets/html-manager@1.0")
#: Bump when the copies below change, so an older ``_offline/`` is re-made.
RECIPE = 1
ASSETS_DIR = "_offline"  # relative to the book root (the folder of _config.yml)
SITE_DIR = "site"  # html_extra_path entry: its tree lands in the site root
OFFLINE = Path("_static", "offline")
STAMP = ".stamp"  # outside site/, so it is not copied into the build
ENV = "MGGNET_OFFLINE_ASSETS"
NPM_TIMEOUT_S = 600

#: The pages ask the manager's icon fonts relative to themselves (book/@jupyter-widgets/...).
FONT_DIRS = ("book/@jupyter-widgets/html-manager/dist", "book/@jupyter-widgets")
FONT_GLOBS = ("*.woff", "*.woff2", "*.ttf", "*.eot", "*.svg")

# Same packages and version ranges as the npm install, from jsDelivr (serves npm packages).
CDN = "https://cdn.jsdelivr.net/npm/"
CDN_MATHJAX = CDN + "mathjax@3/es5/tex-chtml.js"
CDN_REQUIRE = CDN + "requirejs@2.3/require.js"
CDN_WIDGETS = CDN + "@jupyter-widgets/html-manager@1.0/dist/embed-amd.js"

LOCAL_MATHJAX = "offline/mathjax/tex-chtml.js"  # Sphinx prefixes _static/
LOCAL_REQUIRE = "offline/require.js"
LOCAL_WIDGETS = "offline/html-manager/embed-amd.js"
ANYWIDGET_CONFIG = "offline/anywidget/config.js"

FIX = "for offline pages install npm (Node.js), e.g. `apt-get install npm`, then rebuild"


def stamp_text() -> str:
    """What a finished ``_offline/`` was made from; a different text means re-make it."""
    return json.dumps({"npm": list(NPM_PACKAGES), "recipe": RECIPE}, sort_keys=True) + "\n"


def assets_ready(root: str | os.PathLike) -> bool:
    """True when ``root/_offline`` holds the npm assets of this ``NPM_PACKAGES``/``RECIPE``."""
    stamp = Path(root, ASSETS_DIR, STAMP)
    try:
        return stamp.read_text(encoding="utf-8") == stamp_text()
    except OSError:
        return False


def _copy_from_npm(modules: Path, site: Path) -> None:
    """Copy what the pages load from ``node_modules`` into a ``site`` tree."""
    offline = site / OFFLINE
    shutil.copytree(modules / "mathjax" / "es5", offline / "mathjax")
    shutil.copy2(modules / "requirejs" / "require.js", offline / "require.js")
    dist = modules / "@jupyter-widgets" / "html-manager" / "dist"
    (offline / "html-manager").mkdir(parents=True)
    shutil.copy2(dist / "embed-amd.js", offline / "html-manager" / "embed-amd.js")
    for pattern in FONT_GLOBS:
        for f in dist.glob(pattern):
            shutil.copy2(f, offline / "html-manager" / f.name)
    for d in FONT_DIRS:
        (site / d).mkdir(parents=True, exist_ok=True)
        for pattern in ("*.woff*", "*.ttf"):
            for f in dist.glob(pattern):
                shutil.copy2(f, site / d / f.name)


def make_assets(root: str | os.PathLike, npm: str) -> Path:
    """Install ``NPM_PACKAGES`` with ``npm`` and lay out ``root/_offline/site``; return it.

    Built in a temporary folder beside it and swapped in at the end, so an interrupted run
    never leaves a half-filled site tree behind a valid stamp. Raises ``RuntimeError`` with
    npm's own message when the install fails.
    """
    from mggnet_lite.files import atomic_write_text

    base = Path(root, ASSETS_DIR)
    base.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".make-", dir=base))
    try:
        cmd = [npm, "install", "--prefix", str(work / "npm"), "--no-save", "--no-package-lock"]
        cmd += ["--no-audit", "--no-fund", "--loglevel=error", *NPM_PACKAGES]
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=NPM_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"`npm install` took over {NPM_TIMEOUT_S} s") from e
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"`npm install` failed: {' / '.join(tail)}")
        _copy_from_npm(work / "npm" / "node_modules", work / SITE_DIR)
        site = base / SITE_DIR
        (base / STAMP).unlink(missing_ok=True)
        if site.exists():
            shutil.rmtree(site)
        os.replace(work / SITE_DIR, site)
        atomic_write_text(base / STAMP, stamp_text())
        return site
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_anywidget(root: str | os.PathLike) -> None:
    """Chapter 7's anywidget bundle + require.js mapping, from the installed package."""
    from mggnet_lite.widgets import write_offline_assets

    write_offline_assets(Path(root, ASSETS_DIR, SITE_DIR) / OFFLINE / "anywidget")


def choose(root: str | os.PathLike, mode: str) -> tuple[str, str] | None:
    """Make the npm assets if needed and possible; return None when the pages can load them
    locally, else (why not, the fix) for the fallback message."""
    if mode == "cdn":
        return f"{ENV}=cdn is set", f"unset {ENV} and rebuild"
    if assets_ready(root):
        return None
    npm = shutil.which("npm")
    if npm is None:
        return (
            "npm was not found on PATH, so MathJax 3 and the widget manager were not fetched",
            FIX,
        )
    try:
        make_assets(root, npm)
    except (RuntimeError, OSError) as e:
        return str(e), "let npm reach its registry (see `npm config get registry`), then rebuild"
    return None


def _set_config(config: Any, local: bool) -> None:
    """Point the pages at the local files, or at the CDNs (the anywidget bundle is always
    local: it comes from the installed Python package)."""
    if local:
        config.mathjax_path = LOCAL_MATHJAX
        config.nb_ipywidgets_js = {LOCAL_REQUIRE: {}, ANYWIDGET_CONFIG: {}, LOCAL_WIDGETS: {}}
    else:
        config.mathjax_path = CDN_MATHJAX
        config.nb_ipywidgets_js = {
            CDN_REQUIRE: {"crossorigin": "anonymous"},
            ANYWIDGET_CONFIG: {},
            CDN_WIDGETS: {"data-jupyter-widgets-cdn": CDN, "crossorigin": "anonymous"},
        }
    extra = list(config.html_extra_path)
    entry = f"{ASSETS_DIR}/{SITE_DIR}"
    if entry not in extra:
        config.html_extra_path = [*extra, entry]


def fallback_message(why: str, fix: str = FIX) -> str:
    """The one message of a build whose pages load MathJax and the widget manager from CDNs."""
    return (
        f"offline assets: {why}; the pages load MathJax 3 and the widget manager from public "
        f"CDNs (cdn.jsdelivr.net) and need the internet to show equations and widgets. "
        f"Fix: {fix}."
    )


def configure(app: Any, config: Any) -> None:
    """``config-inited``: make or reuse the assets, then set the configuration."""
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    root = Path(app.confdir)
    mode = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if mode not in ("auto", "auto-notice", "cdn"):
        raise ValueError(f"{ENV}={mode!r}: use auto, auto-notice or cdn")
    fallback = choose(root, mode)
    write_anywidget(root)
    _set_config(config, local=fallback is None)
    if fallback is None:
        logger.info(f"offline assets: pages load local copies from {root / ASSETS_DIR}")
        return
    message = fallback_message(*fallback)
    if mode == "auto":
        logger.warning(message, type="offline_assets", subtype="cdn")
    else:  # said at the end, where it is not lost among the notebook output
        app.connect("build-finished", lambda *_: print(message, file=sys.stderr, flush=True))


def setup(app: Any) -> dict[str, Any]:
    """Sphinx entry point."""
    # after myst-nb and sphinx.ext.mathjax registered their values, before anyone reads them
    app.connect("config-inited", configure, priority=100)
    return {"version": str(RECIPE), "parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    """``python _ext/offline_assets.py [BOOK_ROOT]``: make (or keep) the offline assets."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else Path(__file__).resolve().parents[1])
    if not assets_ready(root):
        npm = shutil.which("npm")
        if npm is None:
            print(f"npm is not on PATH: {FIX}", file=sys.stderr)
            return 1
        make_assets(root, npm)
    write_anywidget(root)
    print(root / ASSETS_DIR / SITE_DIR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
