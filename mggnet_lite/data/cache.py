"""Decode-once cache: a split's JPEGs decoded once into a uint8 (N, H, W, 3) file (DESIGN Sec. 5, 6).

Why: PIL decodes about 900 CelebA images/s per core (DESIGN Sec. 6), so even 16 cores feed
a GPU no faster than its eager fp32 rate; a decoded cache read from memory (or kept on the
GPU) removes the decoder from the training loop. Images stay at native resolution (CelebA:
218 x 178), so any input size can be produced later by the loader.

On-disk format, one folder per split (``<cache_dir>/<dataset>-<split>-<hash of image dir>/``)::

    images.u8       raw uint8, C order, shape manifest["shape"] = (N, H, W, 3)
    labels.npy      (N, 40) uint8 0/1
    filenames.txt   N names relative to the image folder, one a line
    manifest.json   written last: shapes, byte sizes, source fingerprint, skipped files

A cache counts as complete only when ``manifest.json`` exists and the files have the sizes
it records; a build removes the old manifest first, writes ``*.partial`` files, fsyncs,
renames them, then writes the manifest via a temp file + rename. An interrupted or failed
build therefore never leaves something a later run would take as complete. A second call
reuses the cache when the source's fingerprint (file names, labels, file sizes and mtimes)
is unchanged. Concurrent builders (e.g. DDP ranks) serialise on a lock file.

Parallel decode: the output file is sized up front; each worker process (forkserver, so it
does not inherit the parent's threads) decodes a chunk of ~256 images into a buffer and
writes it at its offset with one ``pwrite``, the byte-level equivalent of writing a slice
of an ``np.memmap`` opened ``r+``, but durable with a plain ``fsync`` and with no shared
mapping to flush. Per image the only Python work is open / decode / one copy into the buffer.
Note: like any multiprocessing code under forkserver / spawn, a *script* that builds a cache
must guard its entry point with ``if __name__ == "__main__":`` (notebooks and
``python -m mggnet_lite cache`` need nothing).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .celeba import CelebA
from .errors import DatasetFormatError, DatasetNotFoundError
from .lfwa import LFWA

CACHE_FORMAT = "mggnet-lite-cache"
CACHE_VERSION = 1
IMAGES, LABELS, NAMES, MANIFEST = "images.u8", "labels.npy", "filenames.txt", "manifest.json"


@dataclass
class CachedSplit:
    """An opened cache: ``images`` (np.memmap uint8 NHWC, read-only), ``labels`` ((N, 40)
    uint8), ``filenames``, ``attr_names``, ``path`` (the cache folder), ``manifest``."""

    images: np.ndarray
    labels: np.ndarray
    filenames: list[str]
    attr_names: list[str]
    path: Path
    manifest: dict[str, Any] = field(repr=False)

    def __len__(self) -> int:
        return len(self.filenames)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 image and (40,) uint8 labels."""
        return self.images[index], self.labels[index]

    @property
    def attr(self) -> torch.Tensor:
        """(N, 40) long 0/1, as the datasets' ``attr``."""
        return torch.from_numpy(self.labels.astype(np.int64))

    def load_image(self, index: int) -> Image.Image:
        """The cached image as a PIL RGB image (same pixels the JPEG decoded to)."""
        return Image.fromarray(np.asarray(self.images[index]), "RGB")


# ----------------------------------------------------------------------------- helpers


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        return os.cpu_count() or 1


def _as_dataset(source: Any, split: str, dataset: str) -> CelebA | LFWA:
    if isinstance(source, CelebA | LFWA):
        return source
    if dataset == "celeba":
        return CelebA(source, split)
    if dataset == "lfwa":
        return LFWA(source, split)
    raise ValueError(f"dataset={dataset!r}: choose celeba or lfwa")


def cache_folder(ds: CelebA | LFWA, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the cache of ``ds`` lives: ``cache_dir`` or ``$MGGNET_CACHE`` or
    ``<data root>/.mggnet_cache``, then one folder per (dataset, split, image folder)."""
    if cache_dir is None:
        cache_dir = os.environ.get("MGGNET_CACHE") or (ds.data_root / ".mggnet_cache")
    tag = hashlib.sha1(str(ds.root).encode()).hexdigest()[:8]
    return Path(cache_dir).expanduser() / f"{ds.name}-{ds.split}-{tag}"


def source_fingerprint(ds: CelebA | LFWA) -> str:
    """sha256 over names, labels and each file's (size, mtime_ns): changes when any image is
    replaced, added, removed or relabelled. One ``stat`` per file (about 0.5 s for CelebA)."""
    files = ds.image_files()
    stats = np.empty((len(files), 2), np.int64)
    for i, f in enumerate(files):
        try:
            st = os.stat(f)
        except FileNotFoundError:
            raise DatasetNotFoundError(
                f"image {f} (listed in {ds.where(i)}) is missing; re-extract the images."
            ) from None
        stats[i] = st.st_size, st.st_mtime_ns
    h = hashlib.sha256()
    h.update(f"{CACHE_FORMAT}/{CACHE_VERSION}\n".encode())
    h.update("\n".join(ds.filenames).encode())
    h.update(np.ascontiguousarray(ds.attr.numpy().astype(np.uint8)).tobytes())
    h.update(stats.tobytes())
    return h.hexdigest()


def _read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest if the cache in ``folder`` is complete (all files at recorded sizes)."""
    try:
        man = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if man.get("format") != CACHE_FORMAT or man.get("version") != CACHE_VERSION:
        return None
    for name, size in man.get("bytes", {}).items():
        p = folder / name
        if not p.is_file() or p.stat().st_size != size:
            return None
    return man


def load_cache(folder: str | os.PathLike) -> CachedSplit:
    """Open a complete cache folder as is (no check against the source images; use
    :func:`open_cache` for that). Raises :class:`DatasetNotFoundError` if incomplete."""
    folder = Path(folder)
    man = _read_manifest(folder)
    if man is None:
        raise DatasetNotFoundError(
            f"{folder} is not a complete mggnet-lite cache (no valid {MANIFEST}); build it with "
            "python -m mggnet_lite cache --data DIR"
        )
    shape = tuple(man["shape"])
    images = (
        np.memmap(folder / IMAGES, np.uint8, "r", shape=shape)
        if shape[0]
        else np.zeros(shape, np.uint8)  # mmap of an empty file is not allowed
    )
    labels = np.load(folder / LABELS)
    names = (folder / NAMES).read_text().splitlines()
    return CachedSplit(images, labels, names, list(man["attr_names"]), folder.resolve(), man)


class _Lock:
    """An exclusive lock file (fcntl) so two processes don't build the same cache at once."""

    def __init__(self, path: Path) -> None:
        self.path, self.fd = path, -1

    def __enter__(self) -> _Lock:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl

            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except ImportError:  # Windows: no advisory locks; single-process use is still safe
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)  # closing releases the flock


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- decoding

_W: dict[str, Any] = {}  # per-worker state: the open output file and the expected shape


def _worker_init(out_path: str, hw: tuple[int, int]) -> None:
    # each worker writes its own rows at their offsets (pwrite): no shared memory, no locks
    _W["fd"] = os.open(out_path, os.O_WRONLY)
    _W["hw"] = hw


def _decode_chunk(task: tuple[int, list[str]]) -> tuple[int, int, list[tuple[int, str, str]]]:
    """Decode files ``task[1]`` (rows ``task[0]...``) and write them into the output file.
    Returns (start, count, problems) with problems = (row, kind, message)."""
    start, files = task
    h, w = _W["hw"]
    row_bytes = h * w * 3
    buf = np.zeros((len(files), h, w, 3), np.uint8)  # failed rows stay black until compaction
    problems: list[tuple[int, str, str]] = []
    for k, f in enumerate(files):
        try:
            with Image.open(f) as im:
                if im.mode != "RGB":
                    im = im.convert("RGB")
                else:
                    im.load()  # full decode here so truncated files fail inside the try
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
    while len(view):  # pwrite may write less than asked; loop until the chunk is out
        written = os.pwrite(_W["fd"], view, offset)
        view, offset = view[written:], offset + written
    return start, len(files), problems


def _probe_size(ds: CelebA | LFWA, files: list[str], skip_corrupt: bool) -> tuple[int, int]:
    """(H, W) of the first decodable image: the size every image of the split must have."""
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                im.load()
                return im.size[1], im.size[0]
        except FileNotFoundError:
            raise DatasetNotFoundError(f"image {f} (listed in {ds.where(i)}) is missing.") from None
        except (OSError, SyntaxError, ValueError) as exc:
            if not skip_corrupt:
                raise DatasetFormatError(
                    f"image {f} (listed in {ds.where(i)}) cannot be decoded ({exc}); re-extract "
                    "it, or pass skip_corrupt=True (--skip-corrupt) to leave it out of the cache."
                ) from None
    raise DatasetFormatError(f"no image of {ds!r} could be decoded")


def _pool_context() -> Any:
    import multiprocessing as mp

    # forkserver: workers fork from a clean server that imported this module once, so they
    # start fast and never inherit the parent's threads (fork of a threaded process can hang)
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return mp.get_context("spawn")


def _decode_all(
    files: list[str],
    out_path: Path,
    hw: tuple[int, int],
    workers: int,
    progress: bool,
    desc: str,
    on_problem: Any,
) -> list[int]:
    """Decode every file into ``out_path``; returns the rows that were skipped.
    ``on_problem(row, kind, msg)`` raises to abort or returns to skip."""
    from tqdm.auto import tqdm

    n = len(files)
    chunk = max(1, min(256, math.ceil(n / max(1, workers * 8))))
    tasks = [(s, files[s : s + chunk]) for s in range(0, n, chunk)]
    skipped: list[int] = []
    bar = tqdm(total=n, unit="img", desc=desc, disable=not progress, smoothing=0.1)
    try:
        if workers <= 1 or len(tasks) == 1:
            _worker_init(str(out_path), hw)
            try:
                for task in tasks:
                    _s, cnt, problems = _decode_chunk(task)
                    for row, kind, msg in problems:
                        on_problem(row, kind, msg)
                        skipped.append(row)
                    bar.update(cnt)
            finally:
                os.close(_W.pop("fd"))
        else:
            ctx = _pool_context()
            with ctx.Pool(workers, initializer=_worker_init, initargs=(str(out_path), hw)) as pool:
                # the with-block terminates the workers if on_problem raises
                for _s, cnt, problems in pool.imap_unordered(_decode_chunk, tasks):
                    for row, kind, msg in problems:
                        on_problem(row, kind, msg)
                        skipped.append(row)
                    bar.update(cnt)
    finally:
        bar.close()
    return sorted(skipped)


def _compact(path: Path, shape: tuple[int, int, int, int], skipped: list[int]) -> int:
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


# ----------------------------------------------------------------------------- public API


def build_cache(
    root: Any = None,
    split: str = "train",
    *,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    skip_corrupt: bool = False,
    progress: bool = True,
    dataset: str = "celeba",
    force: bool = False,
) -> Path:
    """Decode ``split`` of the dataset at ``root`` (a folder, or a CelebA / LFWA instance) once
    into a cache folder and return its path; reuse a complete, up-to-date cache unless
    ``force``. ``workers`` processes decode in parallel (default: all cores).
    ``skip_corrupt=True`` leaves undecodable images out (listed in the manifest and printed)
    instead of failing. ``dataset`` says how to read a folder: ``celeba`` or ``lfwa``."""
    ds = _as_dataset(root, split, dataset)
    folder = cache_folder(ds, cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"cannot create the cache folder {folder} ({exc}); choose another with "
            "cache_dir=... / --cache-dir or the MGGNET_CACHE environment variable"
        ) from None
    with _Lock(folder.parent / f".{folder.name}.lock"):
        fingerprint = source_fingerprint(ds)
        man = _read_manifest(folder)
        if not force and man is not None and man.get("fingerprint") == fingerprint:
            return folder
        return _build_locked(ds, folder, fingerprint, workers, skip_corrupt, progress)


def _build_locked(
    ds: CelebA | LFWA,
    folder: Path,
    fingerprint: str,
    workers: int | None,
    skip_corrupt: bool,
    progress: bool,
) -> Path:
    # invalidate first: from here until the new manifest lands the folder is "incomplete"
    (folder / MANIFEST).unlink(missing_ok=True)
    files = ds.image_files()
    n = len(files)
    workers = max(1, int(workers or default_workers()))
    t0 = time.perf_counter()
    h, w = _probe_size(ds, files, skip_corrupt) if n else (0, 0)
    shape = (n, h, w, 3)
    need = n * h * w * 3
    free = shutil.disk_usage(folder).free
    if need > free:
        raise OSError(
            f"the cache of {ds!r} needs {need / 2**30:.1f} GiB but {folder} has "
            f"{free / 2**30:.1f} GiB free; point cache_dir / --cache-dir / MGGNET_CACHE elsewhere"
        )
    partial = {name: folder / f"{name}.partial" for name in (IMAGES, LABELS, NAMES)}
    skipped_info: list[dict[str, str]] = []

    def on_problem(row: int, kind: str, msg: str) -> None:
        where = ds.where(row)
        if kind == "missing":
            raise DatasetNotFoundError(f"image {msg} (listed in {where}); re-extract the images.")
        if kind == "size":
            raise DatasetFormatError(
                f"image {msg} (listed in {where}): all images of a split must share one size "
                "to be cached as one array. Use the aligned-and-cropped images (178x218 for "
                "CelebA) or the PIL loader path (path='pil'), which resizes each image."
            )
        if not skip_corrupt:
            raise DatasetFormatError(
                f"image {msg} (listed in {where}) cannot be decoded: re-extract it, or pass "
                "skip_corrupt=True (python -m mggnet_lite cache --skip-corrupt) to leave it out "
                "of the cache."
            )
        skipped_info.append({"file": ds.filenames[row], "listed_in": where, "error": msg})

    done = False
    try:
        with open(partial[IMAGES], "wb") as fh:
            fh.truncate(need)  # sparse, sized up front so workers can write at any offset
        skipped = _decode_all(
            files,
            partial[IMAGES],
            (h, w),
            workers,
            progress,
            f"cache {ds.name}/{ds.split}",
            on_problem,
        )
        keep = np.setdiff1d(np.arange(n), np.asarray(skipped, np.int64))
        if skipped:
            _compact(partial[IMAGES], shape, skipped)
            shape = (len(keep), h, w, 3)
            for info in skipped_info:
                print(f"skipped corrupt image {info['error']}", file=sys.stderr)
        labels = ds.attr.numpy().astype(np.uint8)[keep]
        with open(partial[LABELS], "wb") as fh:
            np.save(fh, labels)
            fh.flush()
            os.fsync(fh.fileno())
        names = [ds.filenames[i] for i in keep.tolist()]
        with open(partial[NAMES], "w", encoding="utf-8") as fh:
            fh.write("".join(f"{x}\n" for x in names))
            fh.flush()
            os.fsync(fh.fileno())
        _fsync_path(partial[IMAGES])
        for name, p in partial.items():
            os.replace(p, folder / name)
        seconds = time.perf_counter() - t0
        from .. import __version__

        man = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            "package_version": __version__,
            "source": ds.source_info(),
            "shape": list(shape),
            "dtype": "uint8",
            "layout": "NHWC",
            "attr_names": list(ds.attr_names),
            "fingerprint": fingerprint,
            "bytes": {name: (folder / name).stat().st_size for name in (IMAGES, LABELS, NAMES)},
            "skipped": skipped_info,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "build_seconds": round(seconds, 3),
            "workers": workers,
            "images_per_second": round(n / seconds, 1) if seconds > 0 else None,
        }
        tmp = folder / f"{MANIFEST}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(man, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / MANIFEST)  # the commit point
        _fsync_path(folder)
        done = True
    finally:
        if not done:
            for p in [*partial.values(), folder / f"{MANIFEST}.tmp"]:
                p.unlink(missing_ok=True)
    return folder


def open_cache(
    root: Any = None,
    split: str = "train",
    *,
    cache_dir: str | os.PathLike | None = None,
    build: bool = True,
    **kw: Any,
) -> CachedSplit:
    """The cache of ``split`` as a :class:`CachedSplit`, checked against the source images;
    built first (``build_cache(**kw)``) when missing or stale and ``build`` is true.
    ``root`` may also be a cache folder itself (opened as is, no source check)."""
    if isinstance(root, str | os.PathLike) and (Path(root) / MANIFEST).is_file():
        return load_cache(root)
    ds = _as_dataset(root, split, kw.pop("dataset", "celeba"))
    folder = cache_folder(ds, cache_dir)
    man = _read_manifest(folder)
    if man is not None and man.get("fingerprint") == source_fingerprint(ds):
        return load_cache(folder)
    if not build:
        state = "is out of date" if man is not None else "does not exist (or is incomplete)"
        raise DatasetNotFoundError(
            f"the cache {folder} {state}; build it with build_cache(...) or "
            f"python -m mggnet_lite cache --data {ds.data_root} --split {ds.split}"
        )
    return load_cache(build_cache(ds, split, cache_dir=cache_dir, **kw))


# ----------------------------------------------------------------------------- CLI


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mggnet_lite cache``."""
    parser.add_argument(
        "--data", metavar="DIR", default=None, help="dataset folder (default: $MGGNET_DATA)"
    )
    parser.add_argument("--dataset", choices=("celeba", "lfwa"), default="celeba")
    parser.add_argument(
        "--split",
        nargs="+",
        choices=("train", "valid", "test", "all"),
        default=None,
        help="split(s) to cache (default: train valid test; LFWA: train test)",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        default=None,
        help="where caches go (default: $MGGNET_CACHE or <data>/.mggnet_cache)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="decoding processes (default: all cores)"
    )
    parser.add_argument(
        "--skip-corrupt",
        action="store_true",
        help="leave undecodable images out of the cache (reported) instead of stopping",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def cli_main(args: argparse.Namespace) -> int:
    """Build (or reuse) the cache of each requested split and print where it is."""
    splits = args.split or (
        ["train", "test"] if args.dataset == "lfwa" else ["train", "valid", "test"]
    )
    try:
        for split in splits:
            t0 = time.perf_counter()
            folder = build_cache(
                args.data,
                split,
                cache_dir=args.cache_dir,
                workers=args.workers,
                skip_corrupt=args.skip_corrupt,
                progress=not args.no_progress,
                dataset=args.dataset,
                force=args.force,
            )
            man = _read_manifest(folder) or {}
            n = man.get("shape", [0])[0]
            size = sum(man.get("bytes", {}).values()) / 2**30
            took = time.perf_counter() - t0
            print(
                f"{split}: {n} images, {size:.2f} GiB at {folder} "
                f"({took:.1f} s; built at {man.get('images_per_second')} img/s "
                f"with {man.get('workers')} workers; {len(man.get('skipped', []))} skipped)"
            )
    except (DatasetNotFoundError, DatasetFormatError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
