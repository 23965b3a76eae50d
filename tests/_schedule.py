"""How ``make test``'s one pytest session orders its files, and what it prints per chapter.

``make test`` runs the unit tests and the chapters (nbval) in one session on every core
(pytest-xdist, whole files per worker: ``--dist loadfile``); :func:`share_cores` gives each
worker its share of them. xdist hands out files in collection order, so a long file
collected last runs alone at the end while the other cores wait. :func:`order` puts the
longest files first (longest-processing-time first); the rest keep their order. The
durations behind :data:`LONGEST` are ``pytest --durations`` of ``make test`` on a 2-core CPU
(ARCHITECTURE.md, "Rules"); a file missing from it only runs later.

:func:`chapter_seconds` sums each chapter's cells (setup, call and teardown of every nbval
item), which ``make test`` prints at the end as ``chapter time: book/NN_name.ipynb S s``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable

#: files by measured duration, longest first (seconds in ``make test`` after ``make book`` on a
#: 2-core EPYC, 2026-12-04). Chapter 2 comes second: on a fresh checkout (no ``make book``
#: before) it trains stage 1, which chapters 3, 5, 6 and 7 wait for.
LONGEST: tuple[str, ...] = (
    "tests/test_install_cell.py",            # 142: pip into a fresh venv, then chapter 4
    "book/02_group_attention.ipynb",         # 54 (about 400 on a fresh checkout)
    "tests/test_gpu_script.py",              # 123
    "tests/test_face_limits.py",             # 93
    "tests/test_readme.py",                  # 85: every README command, as typed
    "tests/test_train.py",                   # 70
    "tests/test_hostile_files.py",           # 57
    "tests/test_concurrency.py",             # 56
    "book/03_graph_correlation.ipynb",       # 54
    "book/07_explorer.ipynb",                # 44
    "tests/test_entry_point.py",             # 40
    "book/06_evaluation.ipynb",              # 40
    "tests/test_offline_assets.py",          # 30
    "tests/test_ddp.py",                     # 21
)  # fmt: skip


def share_cores() -> None:
    """In an xdist worker, give torch this worker's share of the cores (cores / workers, at
    least 1), here and, through ``OMP_NUM_THREADS``, in every process it starts (a test's
    subprocess, a chapter's kernel) that does not set its own. By default each process would
    use every core: two workers' kernels and trainings then run four spinning OpenMP threads on
    two cores, and a chapter's evaluation cell took 10 times as long as alone."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1 or "OMP_NUM_THREADS" in os.environ:
        return
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def _file(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def order(items: list) -> None:
    """Sort ``items`` (pytest's collected items) in place: the files of :data:`LONGEST` first,
    in its order, then every other file in collection order; a file's items keep theirs."""
    rank = {f: i for i, f in enumerate(LONGEST)}
    first_seen: dict[str, int] = {}
    for i, item in enumerate(items):
        first_seen.setdefault(_file(item.nodeid), i)
    items.sort(key=lambda it: (rank.get(_file(it.nodeid), len(rank)),
                               first_seen[_file(it.nodeid)]))


def chapter_seconds(reports: Iterable[tuple[str, float]]) -> dict[str, float]:
    """``{chapter file: seconds}`` from ``(nodeid, duration)`` of the session's reports,
    chapters (``*.ipynb``) only, in the order first seen."""
    out: dict[str, float] = defaultdict(float)
    for nodeid, duration in reports:
        if _file(nodeid).endswith(".ipynb"):
            out[_file(nodeid)] += duration
    return dict(out)


def chapter_lines(seconds: dict[str, float]) -> list[str]:
    """``chapter time: book/NN_name.ipynb S s`` per chapter, in book order."""
    return [f"chapter time: {f} {seconds[f]:.0f} s" for f in sorted(seconds)]
