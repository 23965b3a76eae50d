"""Each chapter opens with an install cell, so a notebook opened where the package is missing
(Colab, a bare kernel) installs it, and one opened where it is installed runs as it is
(issue [3/4], item 1). Its logic is run here with pip replaced by a recorder; the slow test
installs the repository with pip alone (no ``make``) into a fresh venv and runs a chapter,
copied out on its own, under nbval."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("0*.ipynb"))


def _install_cell(path: Path) -> dict:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return next(c for c in nb["cells"] if c["cell_type"] == "code")


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def test_every_chapter_opens_with_the_same_hidden_install_cell() -> None:
    cells = [_install_cell(p) for p in NOTEBOOKS]
    assert all(c.get("id") == "install" for c in cells)
    assert len({_source(c) for c in cells}) == 1, "the chapters' install cells differ"
    assert all("hide-cell" in c["metadata"].get("tags", []) for c in cells)


def _run(source: str, cwd: Path, monkeypatch, installed: bool = False) -> list[list[str]]:
    """Run the install cell in ``cwd`` as if mggnet_lite were (not) installed; pip's calls."""
    calls: list[list[str]] = []
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (real(name, *a) if installed or name != "mggnet_lite"
                                          else None))
    monkeypatch.setattr(subprocess, "check_call", lambda cmd, *a, **k: calls.append(cmd))
    monkeypatch.chdir(cwd)
    exec(compile(source, "install-cell", "exec"), {})
    return calls


def test_install_cell_installs_from_the_checkout_or_says_what_to_do(tmp_path, monkeypatch):
    source = _source(_install_cell(NOTEBOOKS[0]))
    monkeypatch.delenv("MGGNET_LITE_SOURCE", raising=False)
    assert _run(source, tmp_path, monkeypatch, installed=True) == []  # the build, nbval
    repo = tmp_path / "repo"
    (repo / "mggnet_lite").mkdir(parents=True)
    (repo / "book").mkdir()
    (repo / "pyproject.toml").write_text("[project]\nname = 'mggnet-lite'\n")
    calls = _run(source, repo / "book", monkeypatch)  # Binder, a clone: the checkout around it
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", f"{repo}[book]"]]
    alone = tmp_path / "alone"  # Colab: the notebook on its own
    alone.mkdir()
    with pytest.raises(ModuleNotFoundError, match="MGGNET_LITE_SOURCE"):
        _run(source, alone, monkeypatch)
    monkeypatch.setenv("MGGNET_LITE_SOURCE", "mggnet-lite[book] @ git+https://example.org/r")
    calls = _run(source, alone, monkeypatch)
    assert calls[0][-1] == "mggnet-lite[book] @ git+https://example.org/r"


def _copy_repository(dst: Path) -> Path:
    """The repository's files as git would check them out (no venv, data, runs or builds)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dst / name)
    return dst


@pytest.mark.slow
def test_a_chapter_runs_in_a_fresh_venv_with_only_pip_install(tmp_path) -> None:
    """``python -m venv``, ``pip install <repository>[book]`` (pinned by the lock file, as the
    Makefile pins it) and nbval; then chapter 4, copied out alone, passes nbval there."""
    repo = _copy_repository(tmp_path / "repo")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-compile",
                    "-c", str(repo / "requirements-lock.txt"),
                    f"{repo}[book]", "nbval", "pytest"], check=True)
    shutil.rmtree(repo)  # the package is installed, not read from a checkout
    where = tmp_path / "alone"
    where.mkdir()
    chapter = where / "04_multiscale_network.ipynb"
    shutil.copy2(ROOT / "book" / chapter.name, chapter)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MGGNET_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"), MPLBACKEND="Agg")
    done = subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--nbval-lax", "--nbval-current-env", chapter.name],
                          cwd=where, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "passed" in done.stdout
    located = subprocess.run([str(py), "-c", "import mggnet_lite; print(mggnet_lite.__file__)"],
                             capture_output=True, text=True, check=True, env=env,
                             cwd=where).stdout
    assert str(venv) in located, located
