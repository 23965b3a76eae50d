"""Decode-once cache: a split's JPEGs decoded once into a uint8 (N, H, W, 3) file.

(ARCHITECTURE.md, "Data" and "Speed".) Why: PIL decodes about 900 CelebA images/s per
core (ARCHITECTURE.md, "Speed"), so even 16 cores feed
a GPU no faster than its eager fp32 rate; a decoded cache read from memory (or kept on the
GPU) removes the decoder from the training loop. Images stay at native resolution (CelebA:
218 x 178), so any input size can be produced later by the loader.

On-disk format, one folder per split (``<cache_dir>/<dataset>-<split>-<hash of image dir>/``)::

    images.u8       raw uint8, C order, shape manifest["shape"] = (N, H, W, 3)
    labels.npy      (N, 40) uint8 0/1
    filenames.txt   N names relative to the image folder, one a line
    manifest.json   written last: shapes, byte sizes, source fingerprint, skipped files

A cache counts as complete only when ``manifest.json`` exists; it records each file's size and
sha256 (``images.u8`` block by block, hashed by the workers as they write). Opening a cache
checks the sizes, the ``labels.npy`` header and the small files' sha256 every time (cheap);
``python -m mggnet_lite cache --verify`` hashes every byte. A truncated or altered file is
refused with a message naming it and the command that rebuilds it. A build writes
``*.partial`` files and fsyncs them; only when they are complete does it remove the old
manifest, rename them into place and write the new manifest (atomically, the commit point).
So an interrupted or failed build (a kill, a full disk) leaves the previous cache as it was,
and never something a later run would take as complete. A second call reuses the cache when
the source's fingerprint (file names, labels, file sizes and mtimes) is unchanged. Concurrent
builders (e.g. DDP ranks, two notebooks) serialise on a lock file.

Parallel decode (:mod:`.decode`): the output file is sized up front; each worker process
writes its chunk at its offset with one ``pwrite``. Like any multiprocessing code under
forkserver / spawn, a *script* that builds a cache must guard its entry point with
``if __name__ == "__main__":``; an unguarded one is refused at once with that advice
(:mod:`mggnet_lite.parallel`), and a worker that dies is an error, never a hang.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..files import DISK_FULL, FolderLock, atomic_write_json, disk_full
from ..parallel import refuse_in_bootstrapping_worker
from .base import DATASETS
from .celeba import SPLITS, CelebA
from .decode import block_checksums, compact, decode_all, probe_size
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
    """The manifest of the cache in ``folder``, or None when there is none (never finished)."""
    try:
        man = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if man.get("format") != CACHE_FORMAT or man.get("version") != CACHE_VERSION:
        return None
    return man


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 24):
            h.update(block)
    return h.hexdigest()


def _rebuild_hint(man: dict[str, Any]) -> str:
    src = man.get("source", {})
    data, split = src.get("data_root", "DIR"), src.get("split", "SPLIT")
    dataset = src.get("dataset", "celeba")  # the reader's name: celeba or lfwa
    return (f"rebuild it with: python -m mggnet_lite cache --data {data} --dataset {dataset} "
            f"--split {split} --force")


def check_cache(folder: Path, man: dict[str, Any], *, full: bool = False) -> None:
    """Refuse a cache whose files were cut short or altered since they were written.

    Always (cheap): every file's size, the ``labels.npy`` header against the manifest's shape,
    and the sha256 of the small files (labels, file names). ``full=True`` (``cache --verify``)
    also hashes ``images.u8`` block by block. Raises :class:`DatasetFormatError` naming the
    file and the command that rebuilds it.
    """
    def bad(name: str, why: str) -> DatasetFormatError:
        return DatasetFormatError(f"cache file {folder / name} {why}; {_rebuild_hint(man)}")

    for name, size in man.get("bytes", {}).items():
        p = folder / name
        if not p.is_file():
            raise bad(name, "is missing")
        if p.stat().st_size != size:
            raise bad(name, f"has {p.stat().st_size} bytes, the manifest says {size} (truncated?)")
    n = man["shape"][0]
    try:
        with open(folder / LABELS, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(fh)
    except (OSError, ValueError) as exc:
        raise bad(LABELS, f"has no valid .npy header ({exc})") from None
    if shape != (n, len(man["attr_names"])) or dtype != np.uint8:
        raise bad(LABELS, f"holds {shape} {dtype}, the manifest says ({n}, 40) uint8")
    sums = man.get("sha256", {})
    for name in (LABELS, NAMES):
        if name in sums and _sha256_file(folder / name) != sums[name]:
            raise bad(name, "was altered after it was written (its sha256 differs)")
    if full and IMAGES in sums:
        row = int(np.prod(man["shape"][1:]))
        got = block_checksums(folder / IMAGES, row, sums[IMAGES]["rows_per_block"])
        for k, (a, b) in enumerate(zip(got, sums[IMAGES]["sha256"], strict=False)):
            if a != b:
                r = sums[IMAGES]["rows_per_block"]
                raise bad(IMAGES, f"was altered after it was written (rows {k * r}-{k * r + r - 1}"
                          " differ from their sha256)")


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
    check_cache(folder, man)
    shape = tuple(man["shape"])
    images = (
        np.memmap(folder / IMAGES, np.uint8, "r", shape=shape)
        if shape[0]
        else np.zeros(shape, np.uint8)  # mmap of an empty file is not allowed
    )
    labels = np.load(folder / LABELS)
    names = (folder / NAMES).read_text().splitlines()
    return CachedSplit(images, labels, names, list(man["attr_names"]), folder.resolve(), man)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


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
    refuse_in_bootstrapping_worker("the cache build")  # else it would wait on our own lock
    ds = _as_dataset(root, split, dataset)
    folder = cache_folder(ds, cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(
            f"cannot create the cache folder {folder} ({exc}); choose another with "
            "cache_dir=... / --cache-dir or the MGGNET_CACHE environment variable"
        ) from None
    with FolderLock(folder.parent / f".{folder.name}.lock", what="building this cache"):
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
    files = ds.image_files()
    n = len(files)
    workers = max(1, int(workers or default_workers()))
    t0 = time.perf_counter()
    h, w = probe_size(ds, files, skip_corrupt) if n else (0, 0)
    shape = (n, h, w, 3)
    _check_free_space(ds, folder, n * h * w * 3)
    partial = {name: folder / f"{name}.partial" for name in (IMAGES, LABELS, NAMES)}
    skipped_info: list[dict[str, str]] = []
    done = False
    try:
        with open(partial[IMAGES], "wb") as fh:
            fh.truncate(n * h * w * 3)  # sparse, sized up front so workers can write anywhere
        on_problem = _problem_handler(ds, skip_corrupt, skipped_info)
        skipped, sums = decode_all(files, partial[IMAGES], (h, w), workers, progress,
                                   f"cache {ds.name}/{ds.split}", on_problem)
        keep = np.setdiff1d(np.arange(n), np.asarray(skipped, np.int64))
        if skipped:
            compact(partial[IMAGES], shape, skipped)
            shape = (len(keep), h, w, 3)
            sums["sha256"] = block_checksums(partial[IMAGES], h * w * 3, sums["rows_per_block"])
            for info in skipped_info:
                print(f"skipped corrupt image {info['error']}", file=sys.stderr)
        _write_labels_and_names(ds, keep, partial)
        _fsync_path(partial[IMAGES])
        # the new files are complete: only now is the previous cache given up. From here until
        # the new manifest lands, the folder has no manifest, so it never looks complete.
        (folder / MANIFEST).unlink(missing_ok=True)
        for name, p in partial.items():
            os.replace(p, folder / name)
        seconds = time.perf_counter() - t0
        man = _manifest(ds, folder, shape, fingerprint, skipped_info, seconds, workers, n)
        man["sha256"] = {LABELS: _sha256_file(folder / LABELS), NAMES: _sha256_file(folder / NAMES),
                         IMAGES: sums}
        atomic_write_json(folder / MANIFEST, man, indent=1, what="the cache manifest")
        done = True  # the manifest is the commit point
    except OSError as exc:
        if exc.errno in DISK_FULL:
            raise disk_full(exc, folder / IMAGES, f"the cache of {ds!r}",
                            kept=f"Any previous cache in {folder} was left as it was; the "
                            "partial files were removed") from exc
        raise
    finally:
        if not done:
            for p in partial.values():
                p.unlink(missing_ok=True)
    return folder


def _check_free_space(ds: CelebA | LFWA, folder: Path, need: int) -> None:
    free = shutil.disk_usage(folder).free
    if need > free:
        raise OSError(
            f"the cache of {ds!r} needs {need / 2**30:.1f} GiB but {folder} has "
            f"{free / 2**30:.1f} GiB free; point cache_dir / --cache-dir / MGGNET_CACHE elsewhere"
        )


def _problem_handler(
    ds: CelebA | LFWA, skip_corrupt: bool, skipped_info: list[dict[str, str]]
) -> Callable[[int, str, str], None]:
    """What to do with an image that is missing, of another size, or cannot be decoded."""

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

    return on_problem


def _write_labels_and_names(ds: CelebA | LFWA, keep: np.ndarray, partial: dict[str, Path]) -> None:
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


def _manifest(
    ds: CelebA | LFWA,
    folder: Path,
    shape: tuple[int, ...],
    fingerprint: str,
    skipped_info: list[dict[str, str]],
    seconds: float,
    workers: int,
    n: int,
) -> dict[str, Any]:
    from .. import __version__

    return {
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


def verify_cache(folder: str | os.PathLike) -> dict[str, Any]:
    """Check every file of the cache in ``folder`` against its manifest (sizes, headers and the
    sha256 of every block); returns the manifest or raises :class:`DatasetFormatError`."""
    folder = Path(folder)
    man = _read_manifest(folder)
    if man is None:
        raise DatasetNotFoundError(f"{folder} has no complete cache (no valid {MANIFEST})")
    check_cache(folder, man, full=True)
    return man


def _verify_cli(args: argparse.Namespace, splits: list[str]) -> int:
    status = 0
    for split in splits:
        try:
            ds = _as_dataset(args.data, split, args.dataset)
            folder = cache_folder(ds, args.cache_dir)
            man = verify_cache(folder)
            print(f"{split}: OK, {man['shape'][0]} images, every block matches ({folder})")
        except (DatasetNotFoundError, DatasetFormatError, OSError) as exc:
            print(f"{split}: {exc}", file=sys.stderr)
            status = 1
    return status


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mggnet_lite cache``."""
    parser.add_argument(
        "--data", metavar="DIR", default=None, help="dataset folder (default: $MGGNET_DATA)"
    )
    parser.add_argument("--dataset", choices=DATASETS, default="celeba")
    parser.add_argument(
        "--split",
        nargs="+",
        choices=tuple(SPLITS),
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
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check every byte of the existing caches against their manifest (build nothing)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def cli_main(args: argparse.Namespace) -> int:
    """Build (or reuse) the cache of each requested split and print where it is."""
    splits = args.split or (
        ["train", "test"] if args.dataset == "lfwa" else ["train", "valid", "test"]
    )
    if args.verify:
        return _verify_cli(args, splits)
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
