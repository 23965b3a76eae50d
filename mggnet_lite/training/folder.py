"""A run folder and its one owner (ARCHITECTURE.md, "Files on disk").

:class:`RunFolder` names every file of a run (``last.pt``, ``epoch_XX.pt``, ``config.json``,
``metrics.jsonl``, ``results.json``, ``.lock``), says when a run is started or finished,
writes them (atomically, except the appended log line, which :meth:`RunFolder.write_history`
rewrites from the checkpoint's history on every start) and holds the lock that makes one
process at a time train into the folder. Only the main process writes (:func:`main_process`:
rank 0 under ``torchrun``, the only process otherwise).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..files import FolderBusyError, FolderLock, atomic_write_json, atomic_write_text
from .checkpoint import atomic_save


def main_process() -> bool:
    """True in the process that writes a run's files: rank 0 under ``torchrun``, else the one."""
    return int(os.environ.get("RANK", "0")) == 0


class RunFolder:
    """The files of one training run, and the lock that gives the folder a single writer."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def checkpoint(self) -> Path:
        """``last.pt``: weights, optimiser, RNG, position and history of the latest save."""
        return self.path / "last.pt"

    def epoch_checkpoint(self, epoch: int) -> Path:
        return self.path / f"epoch_{epoch:02d}.pt"

    @property
    def results(self) -> Path:
        return self.path / "results.json"

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    def started(self) -> bool:
        """A checkpoint is there: the run can be resumed (or is finished)."""
        return self.checkpoint.is_file()

    def finished(self) -> bool:
        """The run ended: its last checkpoint and its test results are both written."""
        return self.started() and self.results.is_file()

    def lock(self) -> FolderLock:
        """The lock one process holds while it trains into this folder (re-entrant)."""
        return FolderLock(self.path / ".lock", what=f"training into {self.path}")

    def busy(self) -> str | None:
        """Why this process may not train here now (another live process holds the folder),
        or None. Non-main ranks never hold the lock, so they are never refused."""
        if not main_process() or not self.path.is_dir():
            return None
        lock = self.lock()
        try:
            lock.acquire(wait=False)
        except FolderBusyError as err:
            return str(err)
        lock.release()
        return None

    def save(self, payload: dict[str, Any], tag: str = "last") -> Path:
        """Write a checkpoint ``<tag>.pt`` atomically."""
        return atomic_save(payload, self.path / f"{tag}.pt")

    def log_row(self, row: dict[str, Any]) -> None:
        """Append one epoch's line to ``metrics.jsonl``."""
        with open(self.metrics, "a") as f:
            f.write(json.dumps(row) + "\n")

    def write_history(self, history: list[dict[str, Any]]) -> None:
        """``metrics.jsonl`` rewritten from the checkpoint's history: a line written after the
        last checkpoint (then killed) must not appear twice after the resume."""
        text = "".join(json.dumps(r) + "\n" for r in history)
        atomic_write_text(self.metrics, text, what="the training history")

    def write_config(self, config: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.config_file, config, what="the run's config")

    def write_results(self, report: dict[str, Any]) -> Path:
        return atomic_write_json(self.results, report, what="the results")

    def read_results(self) -> dict[str, Any] | None:
        """``results.json`` when the run has finished, else None."""
        return json.loads(self.results.read_text()) if self.results.is_file() else None
