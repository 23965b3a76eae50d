"""benchmarks/book_cells.py (issue [2/4], target 5): each chapter's code cells timed in a fresh
kernel, with ``--fresh`` pointing the book's data and runs at new folders. Run as a user runs
it, on two small notebooks instead of the book's chapters."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from _train_helpers import REPO, run


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a chapter")]
    nb.cells += [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_cells_are_timed_in_order_and_fresh_folders_reach_the_kernel(tmp_path):
    first = _notebook(tmp_path / "01_a.ipynb", "x = 1",
                      "import time; time.sleep(0.6)  # the slow cell",
                      "import os, pathlib\npathlib.Path('seen.txt').write_text("
                      "os.environ['MGGNET_BOOK_RUNS'] + '|' + os.environ['MGGNET_BOOK_CACHE'])")
    second = _notebook(tmp_path / "02_b.ipynb", "y = 2")
    fresh, out = tmp_path / "fresh", tmp_path / "cells.json"
    proc = run([sys.executable, str(REPO / "benchmarks" / "book_cells.py"), "--notebooks",
                str(first), str(second), "--fresh", str(fresh), "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    got = json.loads(out.read_text())
    assert list(got["chapters"]) == ["01_a.ipynb", "02_b.ipynb"]
    cells = got["chapters"]["01_a.ipynb"]["cells"]
    assert [c[0] for c in cells] == [1, 2, 3]  # code cells only, by their index
    assert cells[1][1] >= 0.6 and cells[1][2].endswith("# the slow cell")
    assert cells[0][1] < 0.6 and got["chapters"]["01_a.ipynb"]["seconds"] >= 0.6
    assert got["seconds"] == pytest.approx(sum(c["seconds"] for c in got["chapters"].values()))
    assert got["fresh"] and got["machine"]["cpu_cores"] >= 1 and "torch" in got["versions"]
    seen = (tmp_path / "seen.txt").read_text()  # the kernel ran in the notebook's folder
    assert seen == f"{(fresh / 'runs').resolve()}|{(fresh / 'cache').resolve()}"
    assert "01_a.ipynb: " in proc.stdout and "the slow cell" in proc.stdout
    again = run([sys.executable, str(REPO / "benchmarks" / "book_cells.py"), "--notebooks",
                 str(second), "--fresh", str(fresh), "--out", str(out)])
    assert again.returncode != 0 and "not empty" in again.stderr  # a fresh folder is new
