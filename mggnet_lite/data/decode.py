"""Parallel decode of a split's images into one uint8 (N, H, W, 3) file (the cache's writer).

Each worker process (forkserver, :mod:`mggnet_lite.parallel`) decodes a chunk of ~256 images
into a buffer, hashes it (sha256, recorded in the cache manifest so ``cache --verify`` can
check every byte later) and writes it at its offset with one ``pwrite``: no shared memory, no
locks, durable with a plain ``fsync`` (ARCHITECTURE.md, "Data").
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..parallel import imap_unordered
from .errors import DatasetFormatError, DatasetNotFoundError
from .images import to_rgb

_W: dict[str, Any] = {}  # per-worker state: the open output file and the expected shape


def _worker_init(out_path: str, hw: tuple[int, int]) -> None:
    # each worker writes its own rows at their offsets (pwrite): no shared memory, no locks
    _W["fd"] = os.open(out_path, os.O_WRONLY)
    _W["hw"] = hw


def _decode_chunk(task: tuple[int, list[str]]) -> tuple[int, int, list[tuple[int, str, str]], str]:
    """Decode files ``task[1]`` (rows ``task[0]...``) and write them into the output file.
    Returns (start, count, problems, sha256 of the chunk's bytes), problems = (row, kind, msg)."""
    start, files = task
    h, w = _W["hw"]
    row_bytes = h * w * 3
    buf = np.zeros((len(files), h, w, 3), np.uint8)  # failed rows stay black until compaction
    problems: list[tuple[int, str, str]] = []
    for k, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im = to_rgb(im)  # full decode here, so truncated files fail inside the try
                if im.size != (w, h):
                    problems.append(
                        (start + k, "size", f"{f} is {im.size[0]}x{im.size[1]}, expected {w}x{h}")
                    )
                    continue
                buf[k] = np.asarray(im)
        except FileNotFoundError:
            problems.append((start + k, "missing", f"{f} is missing"))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            problems.append((start + k, "corrupt", f"{f}: {type(exc).__name__}: {exc}"))
    view, offset = memoryview(buf).cast("B"), start * row_bytes
    digest = hashlib.sha256(view).hexdigest()
    while len(view):  # pwrite may write less than asked; loop until the chunk is out
        written = os.pwrite(_W["fd"], view, offset)
        view, offset = view[written:], offset + written
    return start, len(files), problems, digest


def probe_size(ds: Any, files: list[str], skip_corrupt: bool) -> tuple[int, int]:
    """(H, W) of the first decodable image: the size every image of the split must have."""
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im.load()
                return im.size[1], im.size[0]
        except FileNotFoundError:
            raise DatasetNotFoundError(f"image {f} (listed in {ds.where(i)}) is missing.") from None
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
            if not skip_corrupt:
                raise DatasetFormatError(
                    f"image {f} (listed in {ds.where(i)}) cannot be decoded ({exc}); re-extract "
                    "it, or pass skip_corrupt=True (--skip-corrupt) to leave it out of the cache."
                ) from None
    raise DatasetFormatError(f"no image of {ds!r} could be decoded")


def decode_all(
    files: list[str],
    out_path: Path,
    hw: tuple[int, int],
    workers: int,
    progress: bool,
    desc: str,
    on_problem: Callable[[int, str, str], None],
) -> tuple[list[int], dict[str, Any]]:
    """Decode every file into ``out_path``; returns (rows skipped, block checksums).

    ``on_problem(row, kind, msg)`` raises to abort or returns to skip. The checksums are
    ``{"rows_per_block": r, "sha256": [...]}``, one per block of r rows in file order."""
    from tqdm.auto import tqdm

    n = len(files)
    chunk = max(1, min(256, math.ceil(n / max(1, workers * 8))))
    tasks = [(s, files[s : s + chunk]) for s in range(0, n, chunk)]
    skipped: list[int] = []
    digests: dict[int, str] = {}
    bar = tqdm(total=n, unit="img", desc=desc, disable=not progress, smoothing=0.1)
    try:
        for s, cnt, problems, digest in _results(tasks, out_path, hw, workers, desc):
            digests[s] = digest
            for row, kind, msg in problems:
                on_problem(row, kind, msg)
                skipped.append(row)
            bar.update(cnt)
    finally:
        bar.close()
    return sorted(skipped), {"rows_per_block": chunk, "sha256": [digests[s] for s in sorted(digests)]}


def _results(tasks: list, out_path: Path, hw: tuple[int, int], workers: int, desc: str
             ) -> Iterator[tuple[int, int, list[tuple[int, str, str]], str]]:
    """``_decode_chunk`` of every task: in this process, or on forkserver workers
    (:mod:`mggnet_lite.parallel`: a dead worker or an unguarded script is an error naming the
    job, never a hang; pending chunks are cancelled when the caller stops)."""
    if workers <= 1 or len(tasks) == 1:
        _worker_init(str(out_path), hw)
        try:
            yield from map(_decode_chunk, tasks)
        finally:
            os.close(_W.pop("fd"))
        return
    yield from imap_unordered(_decode_chunk, tasks, workers, what=f"the {desc} build",
                              initializer=_worker_init, initargs=(str(out_path), hw),
                              preload=[__name__])


def block_checksums(path: Path, row_bytes: int, rows_per_block: int) -> list[str]:
    """sha256 of each block of ``rows_per_block`` rows of the file at ``path``, in order."""
    out = []
    block = max(1, row_bytes * rows_per_block)
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            out.append(hashlib.sha256(chunk).hexdigest())
    return out


def compact(path: Path, shape: tuple[int, int, int, int], skipped: list[int]) -> int:
    """Remove the rows in ``skipped`` by shifting later rows down (order is kept, so cache
    index i is still dataset index i among the kept images); returns the new row count."""
    n = shape[0]
    row = int(np.prod(shape[1:]))
    mm = np.memmap(path, np.uint8, "r+", shape=(n, row))
    keep_from, dst = 0, 0
    for cut in [*skipped, n]:
        src = keep_from
        while src < cut:  # copy the run [keep_from, cut) down in blocks (overlap-safe in numpy)
            m = min(4096, cut - src)
            mm[dst : dst + m] = mm[src : src + m]
            src, dst = src + m, dst + m
        keep_from = cut + 1
    mm.flush()
    del mm
    with open(path, "r+b") as fh:
        fh.truncate(dst * row)
    return dst
