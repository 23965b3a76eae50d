"""Where the book's build spends its time: each chapter run in a fresh kernel, in book order,
with every code cell's wall time (issue [2/4], target 5: pay for a lever by removing waste).

    python benchmarks/book_cells.py --fresh /tmp/first-build   # the first build's cost
    python benchmarks/book_cells.py                             # a later build's (runs reused)
    python benchmarks/book_cells.py --notebooks book/03_graph_correlation.ipynb --out x.json

With ``--fresh DIR`` the chapters render SynthFaces into ``DIR/cache`` and train into
``DIR/runs`` (``MGGNET_BOOK_CACHE``, ``MGGNET_BOOK_RUNS``, both empty at the start), as on a
fresh clone; without it they use the book's own folders, as a later build does. The kernels are
the build's (nbclient, the kernel of this Python); the Sphinx part of ``jupyter-book build``
is not timed. Writes ``benchmarks/results/book_cells_<date>.json`` (or ``--out``): machine,
versions, and per chapter its seconds and every code cell's (index, seconds, first line); it
prints each chapter's slowest cells as it goes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

from mggnet_lite.files import atomic_write_json  # noqa: E402
from mggnet_lite.training.runtime import machine_info, versions  # noqa: E402


def time_cells(path: Path, timeout: int = 3600) -> dict[str, Any]:
    """Run the notebook at ``path`` in a fresh kernel (its folder as the working directory):
    its seconds and each code cell's ``[index, seconds, first line]``."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    cells, t_nb = [], time.perf_counter()
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            t0 = time.perf_counter()
            client.execute_cell(cell, i)
            first = cell.source.splitlines()[0][:90] if cell.source else ""
            cells.append([i, round(time.perf_counter() - t0, 2), first])
    return {"seconds": round(time.perf_counter() - t_nb, 2), "cells": cells}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--notebooks", nargs="+", type=Path,
                   default=sorted((ROOT / "book").glob("[0-9]*.ipynb")))
    p.add_argument("--fresh", type=Path, help="render and train into this (new) folder")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    if args.fresh is not None:
        if args.fresh.exists() and any(args.fresh.iterdir()):
            p.error(f"--fresh {args.fresh}: the folder is not empty; name a new one")
        for sub, var in (("cache", "MGGNET_BOOK_CACHE"), ("runs", "MGGNET_BOOK_RUNS")):
            (args.fresh / sub).mkdir(parents=True, exist_ok=True)
            os.environ[var] = str((args.fresh / sub).resolve())  # the kernels inherit it
    chapters = {}
    for path in args.notebooks:
        chapters[path.name] = timed = time_cells(path.resolve())
        print(f"{path.name}: {timed['seconds']:.1f} s", flush=True)
        for i, s, first in sorted(timed["cells"], key=lambda c: -c[1])[:5]:
            print(f"  cell {i:>3} {s:8.1f} s  {first}", flush=True)
    total = sum(c["seconds"] for c in chapters.values())
    print(f"all chapters: {total:.1f} s")
    today = datetime.date.today().isoformat()
    out = args.out or ROOT / "benchmarks" / "results" / f"book_cells_{today}.json"
    atomic_write_json(out, {
        "kind": "mggnet-lite book cell times", "date": today,
        "command": " ".join(["python benchmarks/book_cells.py", *(argv or sys.argv[1:])]),
        "fresh": args.fresh is not None, "machine": machine_info("cpu"),
        "versions": versions(), "seconds": round(total, 2), "chapters": chapters})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
