"""Worker processes that either work or fail loudly: never a hang (ARCHITECTURE.md, "Rules").

The cache build and the SynthFaces renderer decode / draw in worker processes started with
``forkserver`` (they fork from a clean server, so they never inherit the parent's threads).
Like ``spawn``, that start method re-imports a *script's* main module in every worker. A
script that builds a cache (or calls ``book.trained_model``) at top level, without
``if __name__ == "__main__":``, would then run itself again inside each worker, whose pool
keeps replacing them: the script hangs. Two guards:

* :func:`check_entry_point` refuses at once, before any worker starts, when the call comes
  from the top level of a main script outside such a guard, naming the script and line;
* :func:`imap_unordered` runs tasks on a :class:`~concurrent.futures.ProcessPoolExecutor`,
  which notices a worker that dies (killed, out of memory, crashed in its initialiser)
  and raises :class:`WorkerError` naming the job, instead of replacing it forever.
"""

from __future__ import annotations

import ast
import multiprocessing as mp
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import FrameType
from typing import Any


class WorkerError(RuntimeError):
    """A worker process could not start or died while working."""


def pool_context(preload: Iterable[str] = (), method: str = "forkserver") -> Any:
    """``method`` (``forkserver`` or ``fork``) where the platform has it, else ``spawn``.

    ``forkserver`` preloads ``preload``; ``fork`` (no re-import at all) suits workers that
    only run NumPy / PIL code, such as the SynthFaces renderer.
    """
    if method == "fork" and "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(preload))
        return ctx
    return mp.get_context("spawn")


def _guarded_lines(path: Path) -> list[tuple[int, int]]:
    """Line ranges of ``if __name__ == "__main__":`` blocks in the script at ``path``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    ranges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) \
                and "__name__" in ast.unparse(node.test):
            ranges.append((node.lineno, node.end_lineno or node.lineno))
    return ranges


def _unguarded_call_site() -> tuple[Path, int] | None:
    """(script, line) when this call comes from a main script's top level, unguarded."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if main is None or script is None:
        return None  # REPL or notebook kernel: workers have no script to re-run
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_globals is main.__dict__ and frame.f_code.co_name == "<module>":
            line = frame.f_lineno
            path = Path(script)
            if any(a <= line <= b for a, b in _guarded_lines(path)):
                return None
            return path, line
        frame = frame.f_back
    return None


def check_entry_point(what: str) -> None:
    """Refuse to start worker processes from an unguarded script, or from inside a worker.

    ``what`` names the job for the message (e.g. ``"the cache build"``).
    """
    refuse_in_bootstrapping_worker(what)
    site = _unguarded_call_site()
    if site is not None:
        path, line = site
        raise WorkerError(
            f"{path} line {line} starts {what} at the top level of the script. Its worker "
            "processes re-import the script, which would start it again in every worker. "
            "Put the script's code under `if __name__ == \"__main__\":` (see the multiprocessing "
            "docs, 'Safe importing of main module'), or run it from a notebook."
        )


def refuse_in_bootstrapping_worker(what: str) -> None:
    """Raise inside a worker that is still importing the main script (it would re-run it)."""
    if getattr(mp.current_process(), "_inheriting", False):
        raise WorkerError(
            f"{what} was started while a worker process was still importing the main script: "
            "the script starts it at top level. Put that code under "
            "`if __name__ == \"__main__\":`."
        )


def imap_unordered(
    fn: Callable[[Any], Any],
    tasks: Iterable[Any],
    workers: int,
    *,
    what: str,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
    preload: Iterable[str] = (),
    method: str = "forkserver",
) -> Iterator[Any]:
    """``fn(task)`` for every task on ``workers`` processes, results as they finish.

    A worker that dies raises :class:`WorkerError` naming ``what`` and the exit codes; when
    the caller stops iterating (or raises), pending tasks are cancelled.
    """
    ctx = pool_context(preload, method)
    if ctx.get_start_method() != "fork":  # fork re-imports nothing; the others re-run a script
        check_entry_point(what)
    pool = ProcessPoolExecutor(workers, mp_context=ctx,
                               initializer=initializer, initargs=initargs)
    try:
        todo = iter(tasks)
        running = {pool.submit(fn, t) for _, t in zip(range(2 * workers), todo, strict=False)}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                result = fut.result()
                nxt = next(todo, _END)
                if nxt is not _END:
                    running.add(pool.submit(fn, nxt))
                yield result
    except BrokenProcessPool as exc:
        codes = sorted({p.exitcode for p in getattr(pool, "_processes", {}).values()
                        if p.exitcode not in (None, 0)})
        raise WorkerError(
            f"a worker process of {what} died (exit codes {codes or 'unknown'}; a negative "
            "code is the signal, -9 often means out of memory). Run it again with workers=1 "
            "to see the error in this process."
        ) from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()
