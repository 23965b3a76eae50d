"""Atomic file writes: the one way this package writes a file that others read.

A file is written to a temporary name in the same folder, flushed and fsynced, then
``os.replace``-d over the target, so a crash, a kill or a full disk while writing never
leaves a half-written checkpoint, results file, manifest or label file: readers see either
the old complete file or the new complete one (ARCHITECTURE.md, "Rules").
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


def user_cache_dir() -> Path:
    """This user's cache of generated files (SynthFaces sets the trainer renders when no data
    folder is given; the book's data and runs outside a source checkout):
    ``$XDG_CACHE_HOME/mggnet_lite``, else ``~/.cache/mggnet_lite``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "mggnet_lite"


def _default_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _default_mode()

#: errno values that mean "the disk (or the file size limit, or the quota) is full"
DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


class DiskFullError(OSError):
    """A write ran out of space; the message names the path, what was written, the free space."""


def free_space(path: str | os.PathLike) -> str:
    """Free space on the filesystem of ``path`` (or its nearest existing parent), for messages."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return f"{shutil.disk_usage(p).free / 2**20:.1f} MiB free"
    except OSError:
        return "free space unknown"


def disk_full(exc: OSError, path: str | os.PathLike, what: str, kept: str = "") -> DiskFullError:
    """The :class:`DiskFullError` to raise for ``exc`` while writing ``what`` to ``path``."""
    reason = "the file size limit (ulimit -f)" if exc.errno == errno.EFBIG else "no space left"
    kept = kept or f"{path} was left as it was (no partial file)"
    return DiskFullError(
        exc.errno,
        f"could not write {what} to {path}: {reason} ({free_space(path)} there). {kept}. "
        "Free some space or write somewhere else, then run the command again.",
    )


@contextlib.contextmanager
def atomic_writer(
    path: str | os.PathLike, mode: str = "wb", *, what: str = "a file", **open_kw: Any
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit fsync it and rename it over ``path``.

    On any exception (including KeyboardInterrupt) the temporary file is removed and ``path``
    is left as it was; a full disk becomes a :class:`DiskFullError` naming ``what`` and ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, path, what) from exc
        raise
    try:
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600; a written file gets the usual mode
        with os.fdopen(fd, mode, **open_kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows within one filesystem
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno in DISK_FULL:
            raise disk_full(exc, path, what) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (skipped where a folder cannot be fsynced)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, what: str = "a file") -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_writer(path, "wb", what=what) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, what: str = "a file") -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically, with ``\\n`` line ends on every platform."""
    with atomic_writer(path, "w", what=what, encoding="utf-8", newline="\n") as f:
        f.write(text)
    return Path(path)


def atomic_write_json(
    path: str | os.PathLike, obj: Any, indent: int | None = 2, *, what: str = "a JSON file"
) -> Path:
    """Write ``obj`` as JSON (plus a final newline) to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, default=str) + "\n", what=what)


#: the locks this process holds: (lock file, pid, thread) -> [file descriptor, depth]
_HELD: dict[tuple[str, int, int], list[int]] = {}


class FolderLock:
    """An exclusive advisory lock (``fcntl.flock``) on a lock file: one writer per folder.

    The kernel releases it when the holder exits, however it exits (a SIGKILL included), so a
    stale lock never blocks anyone. The holder's pid is written into the lock file for the
    messages of those who find it taken. ``wait=False``: raise :class:`FolderBusyError` at
    once instead of waiting; ``wait=True``: print once who we wait for (``what`` says what
    they are doing), then wait. Where ``fcntl`` is missing (Windows) locking is a no-op.

    Re-entrant within a thread: acquiring a lock file this thread already holds (through this
    object or another) counts one level deeper and returns at once; the file is unlocked when
    every level is released. Another thread or process waits (or is refused) as usual.
    """

    def __init__(self, path: str | os.PathLike, *, what: str = "writing there") -> None:
        self.path, self.what = Path(path), what
        self.depth = 0  # levels this object holds

    def _key(self) -> tuple[str, int, int]:
        return (os.path.realpath(self.path), os.getpid(), threading.get_ident())

    def holder(self) -> str:
        """The pid recorded by the current holder, or ``unknown``."""
        try:
            return self.path.read_text().strip() or "unknown"
        except OSError:
            return "unknown"

    def acquire(self, wait: bool = True) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = self._key()
        if key in _HELD:  # this thread holds it already: one level deeper
            _HELD[key][1] += 1
            self.depth += 1
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _flock(fd, self, wait)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _HELD[key] = [fd, 1]
        self.depth += 1
        return self

    def release(self) -> None:
        """Release one level this object holds (a no-op when it holds none)."""
        if self.depth == 0:
            return
        key = self._key()
        self.depth -= 1
        held = _HELD[key]
        held[1] -= 1
        if held[1] == 0:
            del _HELD[key]
            os.close(held[0])  # closing releases the flock

    def __enter__(self) -> FolderLock:
        return self.acquire(wait=True)

    def __exit__(self, *exc: object) -> None:
        self.release()


def _flock(fd: int, lock: FolderLock, wait: bool) -> None:
    """Take the exclusive flock on ``fd``: at once, or after saying whom we wait for."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: single-process use is still safe
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if not wait:
            raise FolderBusyError(lock.path.parent, lock.holder(), lock.what) from None
        print(f"waiting for pid {lock.holder()} ({lock.what}, lock {lock.path})", flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)


class FolderBusyError(RuntimeError):
    """Another live process holds the folder's lock."""

    def __init__(self, folder: Path, pid: str, what: str) -> None:
        self.folder, self.pid = folder, pid
        super().__init__(
            f"{folder} is in use by pid {pid} ({what}). Wait for it to finish, or use another "
            "folder; the lock is released when that process exits, however it exits."
        )
