"""``make test``'s one session (tests/_schedule.py): the longest files first, each worker its
share of the cores, each chapter's time at the end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import _schedule

ROOT = Path(__file__).resolve().parents[1]


def test_every_listed_file_exists() -> None:
    missing = [f for f in _schedule.LONGEST if not (ROOT / f).is_file()]
    assert not missing, f"tests/_schedule.py lists files that are gone: {missing}"


def test_longest_files_first_then_collection_order() -> None:
    ids = ["tests/test_a.py::x", "tests/test_a.py::y", "book/03_graph_correlation.ipynb::Cell 0",
           "tests/test_readme.py::z", "tests/test_b.py::w", "tests/test_install_cell.py::v"]
    items = [SimpleNamespace(nodeid=i) for i in ids]
    _schedule.order(items)
    assert [i.nodeid for i in items] == [
        "tests/test_install_cell.py::v", "tests/test_readme.py::z",
        "book/03_graph_correlation.ipynb::Cell 0", "tests/test_a.py::x", "tests/test_a.py::y",
        "tests/test_b.py::w"]


def test_chapter_times_sum_their_cells_in_book_order() -> None:
    reports = [("book/02_g.ipynb::Cell 0", 1.0), ("tests/test_a.py::x", 50.0),
               ("book/01_a.ipynb::Cell 0", 2.0), ("book/02_g.ipynb::Cell 1", 3.5)]
    lines = _schedule.chapter_lines(_schedule.chapter_seconds(reports))
    assert lines == ["chapter time: book/01_a.ipynb 2 s", "chapter time: book/02_g.ipynb 4 s"]


def _threads_after_share_cores(workers: str) -> list[str]:
    """torch's threads and OMP_NUM_THREADS in a fresh process after share_cores()."""
    code = ("import os, sys, torch; sys.path.insert(0, 'tests'); import _schedule; "
            "_schedule.share_cores(); "
            "print(torch.get_num_threads(), os.environ.get('OMP_NUM_THREADS'))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTEST_XDIST_WORKER_COUNT"] = workers
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True, check=True,
                          capture_output=True, env=env).stdout.split()


def test_a_worker_and_its_children_get_their_share_of_the_cores() -> None:
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert _threads_after_share_cores("2") == [share, share]
    alone = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                           text=True, check=True, capture_output=True,
                           env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})
    assert _threads_after_share_cores("1") == [alone.stdout.strip(), "None"]  # not in xdist
