"""Writing a SynthFaces set in CelebA's original layout, and ``python -m mggnet_lite synth``.

::

    out_dir/
      img_align_celeba/000001.jpg ...   178 x 218 RGB JPEG, 6-digit names from 000001
      list_attr_celeba.txt               line 1: n; line 2: the 40 names; then
                                         "000001.jpg -1  1 ..." (each value "%2d")
      list_eval_partition.txt            "000001.jpg 0" (0 train, 1 valid, 2 test)
      group_masks/000001.png             uint8, 178 x 218: bit k set where group k is
      synthfaces.json                    generator version, seed, n, split sizes, the model

The partition uses CelebA's proportions (162,770 / 19,867 / 19,962 of 202,599) in contiguous
blocks, as CelebA does. The label files are written once every image is on disk and
``synthfaces.json`` last, each atomically (:func:`~mggnet_lite.files.atomic_write_text`):
a folder without it is an interrupted run (ARCHITECTURE.md).
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ...attributes import CELEBA_ATTRIBUTES, GROUPS
from ...files import DISK_FULL, DiskFullError, FolderLock, atomic_write_text, disk_full, free_space
from ...parallel import imap_unordered
from .geometry import HEIGHT, WIDTH
from .labels import (
    GROUP_NAMES,
    LATENT_ATTRIBUTES,
    PLANTED_EDGES,
    WHOLE_IMAGE_ATTRIBUTES,
    label_model_summary,
    measure_dependencies,
    sample_labels,
)
from .look import params_for
from .occlusion import OCCLUDERS, OCCLUSION_FILE, check_occlusion, occlusion_plan
from .renderer import _render_packed, unpack_masks

#: Bump when the labels or the pixels for a given (seed, n) change.
GENERATOR_VERSION = "1.0"
IMAGE_DIR = "img_align_celeba"
MASK_DIR = "group_masks"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
META_FILE = "synthfaces.json"


def is_synthfaces(data: str | os.PathLike | None) -> bool:
    """True when ``data`` is a SynthFaces folder (it holds :data:`META_FILE`)."""
    return data is not None and (Path(data).expanduser() / META_FILE).is_file()

#: CelebA's split sizes (train, valid, test) of 202,599 images.
CELEBA_SPLIT_SIZES = (162_770, 19_867, 19_962)


def split_sizes(n: int) -> tuple[int, int, int]:
    """CelebA's train/valid/test proportions for ``n`` images (exact for n = 202,599)."""
    total = sum(CELEBA_SPLIT_SIZES)
    train = round(n * CELEBA_SPLIT_SIZES[0] / total)
    valid = round(n * CELEBA_SPLIT_SIZES[1] / total)
    return train, valid, n - train - valid


def image_name(index: int) -> str:
    """CelebA's file name of image ``index`` (0-based): ``000001.jpg`` for 0."""
    return f"{index + 1:06d}.jpg"


def _save(image: Image.Image, path: Path, **kw: object) -> None:
    """Encode in memory, then write: a failed write (a full disk) leaves no partial file."""
    buf = io.BytesIO()
    image.save(buf, format="JPEG" if path.suffix == ".jpg" else "PNG", **kw)
    try:
        path.write_bytes(buf.getbuffer())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _write_one(root: Path, index: int, labels: np.ndarray, seed: int, masks: bool,
               occlude: str | None = None) -> None:
    p = params_for(seed, index)
    img, packed = _render_packed(labels, p, noise=True, masks=masks, occlude=occlude)
    name = image_name(index)
    _save(Image.fromarray(img, "RGB"), root / IMAGE_DIR / name, quality=p.jpeg_quality)
    if packed is not None:
        # compress_level=1: the masks are flat regions, so fast zlib is nearly as small
        _save(Image.fromarray(packed, "L"), root / MASK_DIR / (name[:-4] + ".png"),
              compress_level=1, compress_type=3)


def _write_chunk(job: tuple[str, int, np.ndarray, int, bool, list]) -> int:
    root, start, labels, seed, masks, occlude = job
    for j in range(len(labels)):
        _write_one(Path(root), start + j, labels[j], seed, masks, occlude[j])
    return len(labels)


def _chunks(root: Path, labels: np.ndarray, seed: int, masks: bool, size: int,
            plan: list[str | None]) -> Iterator:
    for s in range(0, len(labels), size):
        yield (str(root), s, labels[s : s + size], seed, masks, plan[s : s + size])


def _occlusion_text(plan: list[str | None]) -> str:
    return "".join(f"{image_name(i)} {g or '-'}\n" for i, g in enumerate(plan))


def _attr_text(labels: np.ndarray) -> str:
    lines = [str(len(labels)), " ".join(CELEBA_ATTRIBUTES)]
    pm = np.where(labels > 0, 1, -1)
    for i, row in enumerate(pm):
        lines.append(image_name(i) + " " + " ".join(f"{v:2d}" for v in row))
    return "\n".join(lines) + "\n"


def _partition_text(n: int) -> str:
    tr, va, _ = split_sizes(n)
    part = np.full(n, 2)
    part[:tr] = 0
    part[tr : tr + va] = 1
    return "".join(f"{image_name(i)} {part[i]}\n" for i in range(n))


def _metadata(n: int, seed: int, labels: np.ndarray, masks: bool,
              occlusion: dict[str, float]) -> dict:
    ref = sample_labels(10_000, 0)
    meta = {
        "name": "SynthFaces",
        "generator": "mggnet_lite.data.synthfaces",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n": n,
        "image_size": [WIDTH, HEIGHT],
        "split_sizes": dict(zip(("train", "valid", "test"), split_sizes(n), strict=True)),
        "files": {
            "images": IMAGE_DIR,
            "attributes": ATTR_FILE,
            "partition": PARTITION_FILE,
            "group_masks": MASK_DIR if masks else None,
        },
        "group_masks": {
            "format": "uint8 PNG, 178x218, bit k set where group k is",
            "groups": {
                g: {"bit": k, "attributes": list(GROUPS[g])} for k, g in enumerate(GROUP_NAMES)
            },
        },
        "latent_attributes": list(LATENT_ATTRIBUTES),
        "whole_image_attributes": list(WHOLE_IMAGE_ATTRIBUTES),
        "attribute_model": label_model_summary(),
        "planted_edges": [list(e) for e in PLANTED_EDGES],
        "positive_rates_model_10000_draws": {
            a: round(float(ref[:, i].mean()), 4) for i, a in enumerate(CELEBA_ATTRIBUTES)
        },
        "positive_rates_this_set": {
            a: round(float(labels[:, i].mean()), 4) if n else None
            for i, a in enumerate(CELEBA_ATTRIBUTES)
        },
        "dependencies_model_10000_draws": measure_dependencies(ref),
        "dependencies_this_set": measure_dependencies(labels),
    }
    if occlusion:  # only then: a set without occlusion keeps the bytes it always had
        meta["occlusion"] = {
            "shares": occlusion,
            "file": OCCLUSION_FILE,
            "occluders": {g: OCCLUDERS[g] for g in occlusion},
            "note": "the hidden group's labels are kept; its group mask still marks where it is",
        }
    return meta


def is_complete(root: str | os.PathLike, n: int, seed: int, masks: bool = True,
                occlusion: dict[str, float] | None = None) -> bool:
    """True if ``root`` holds a finished SynthFaces set of this version, ``n``, ``seed`` and
    occlusion shares."""
    try:
        meta = json.loads((Path(root) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        meta.get("generator_version") == GENERATOR_VERSION
        and meta.get("n") == n
        and meta.get("seed") == seed
        and (meta.get("files", {}).get("group_masks") is not None or not masks)
        and meta.get("occlusion", {}).get("shares", {}) == check_occlusion(occlusion)
    )


_NAME_RE = re.compile(r"^(\d{6})\.(jpg|png)$")


#: bytes on disk per image (JPEG + mask PNG), measured on a 300-image set: ~8.5 KB + 1.9 KB
_BYTES_PER_IMAGE = {True: 12_000, False: 10_000}


def synthesize(
    out_dir: str | os.PathLike,
    n: int = 1000,
    seed: int = 0,
    *,
    workers: int | None = None,
    masks: bool = True,
    progress: bool = True,
    force: bool = False,
    chunk_size: int = 256,
    occlusion: dict[str, float] | None = None,
) -> Path:
    """Render a SynthFaces set of ``n`` images into ``out_dir`` in CelebA's layout; returns it.

    A finished set with the same version, ``n`` and ``seed`` is reused unless ``force``.
    ``workers=None`` uses every core (``os.cpu_count()``); the bytes are the same for any
    worker count. The label files come after the images and ``synthfaces.json`` last, so an
    interrupted run never looks complete. Two processes rendering into one folder serialise
    on a lock: the second waits, then reuses what the first rendered. ``occlusion``:
    ``{group: share}`` of images whose group region an accessory hides (:mod:`.occlusion`).
    """
    if n < 1:
        raise ValueError(f"synthesize: n must be at least 1, got {n}")
    root, occlusion = Path(out_dir), check_occlusion(occlusion)
    if not force and is_complete(root, n, seed, masks, occlusion):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with FolderLock(root.parent / f".{root.name}.lock", what=f"rendering SynthFaces into {root}"):
        if not force and is_complete(root, n, seed, masks, occlusion):  # done while we waited
            return root
        _check_space(root, n, masks)
        _prepare_folder(root, n, masks)
        labels, plan = sample_labels(n, seed), occlusion_plan(n, seed, occlusion)
        try:
            _render_all(root, labels, seed, masks, plan, workers, chunk_size, progress)
            if occlusion:
                atomic_write_text(root / OCCLUSION_FILE, _occlusion_text(plan),
                                  what="the occlusion list")
            atomic_write_text(root / PARTITION_FILE, _partition_text(n), what="the partition")
            atomic_write_text(root / ATTR_FILE, _attr_text(labels), what="the label file")
            meta = _metadata(n, seed, labels, masks, occlusion)
            atomic_write_text(root / META_FILE, json.dumps(meta, indent=2) + "\n",
                              what="synthfaces.json")
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise disk_full(exc, root, f"the SynthFaces set ({n} images)",
                                kept=f"{root} is marked unfinished (no {META_FILE}); every "
                                "file in it is complete, and the next call renders it again"
                                ) from exc
            raise
    return root


def _check_space(root: Path, n: int, masks: bool) -> None:
    need = n * _BYTES_PER_IMAGE[masks]
    free = shutil.disk_usage(root.parent).free
    if need > free:
        raise DiskFullError(
            errno.ENOSPC,
            f"rendering {n} SynthFaces images into {root} needs about {need / 2**20:.0f} MiB, "
            f"and {free_space(root.parent)} there; nothing was written. Free some space or "
            "choose another folder.",
        )


def _prepare_folder(root: Path, n: int, masks: bool) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for stale in (META_FILE, ATTR_FILE, PARTITION_FILE, OCCLUSION_FILE):  # mark it unfinished
        (root / stale).unlink(missing_ok=True)
    for sub, wanted in ((IMAGE_DIR, True), (MASK_DIR, masks)):
        folder = root / sub
        if not wanted:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        folder.mkdir(exist_ok=True)
        for entry in os.scandir(folder):  # files of an earlier, larger set
            mt = _NAME_RE.match(entry.name)
            if mt and int(mt.group(1)) > n:
                os.unlink(entry.path)


def _render_all(root: Path, labels: np.ndarray, seed: int, masks: bool, plan: list,
                workers: int | None, chunk_size: int, progress: bool) -> None:
    n = len(labels)
    workers = os.cpu_count() or 1 if workers is None else max(1, int(workers))
    workers = min(workers, math.ceil(n / chunk_size))
    from tqdm.auto import tqdm

    with tqdm(total=n, desc="SynthFaces", unit="img", disable=not progress) as bar:
        jobs = _chunks(root, labels, seed, masks, chunk_size, plan)
        if workers <= 1:
            for job in jobs:
                bar.update(_write_chunk(job))
        else:
            # fork: the renderer is NumPy / PIL only, so nothing is re-imported; a worker
            # that dies is an error (parallel.py), never a hang
            for k in imap_unordered(_write_chunk, jobs, workers, what="the SynthFaces render",
                                    method="fork"):
                bar.update(k)


def load_group_masks(root: str | os.PathLike, index_or_filename: int | str) -> np.ndarray:
    """Ground-truth group masks of one image: bool (8, 218, 178), groups in ``GROUPS`` order.

    ``index_or_filename``: 0-based position in the label file (0 is ``000001.jpg``), or a
    file name such as ``"000001.jpg"`` / ``"000001"``.
    """
    return unpack_masks(load_packed_masks(root, index_or_filename))


def stack_group_masks(root: str | os.PathLike, names: Sequence[int | str]) -> np.ndarray:
    """:func:`load_group_masks` of many images, stacked: bool (N, 8, 218, 178), in the order of
    ``names`` (positions or file names, as there). Filled in place, so a split's masks (the
    test split's 2,010 take 624 MB) are held once, not twice as a list and its stack."""
    out = np.empty((len(names), len(GROUPS), HEIGHT, WIDTH), dtype=bool)
    for i, name in enumerate(names):
        out[i] = load_group_masks(root, name)
    return out


def load_packed_masks(root: str | os.PathLike, index_or_filename: int | str) -> np.ndarray:
    """The mask PNG of one image as written: uint8 (218, 178), bit k set where group k is
    (:func:`~.renderer.pack_masks`); ``index_or_filename`` as in :func:`load_group_masks`."""
    if isinstance(index_or_filename, str):
        stem = Path(index_or_filename).stem
    else:
        stem = image_name(int(index_or_filename))[:-4]
    path = Path(root) / MASK_DIR / f"{stem}.png"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no group mask; SynthFaces writes them unless masks=False "
            "(regenerate with `python -m mggnet_lite synth --out DIR --n N`)"
        )
    with Image.open(path) as im:
        return np.asarray(im)


def tree_hash(root: str | os.PathLike) -> str:
    """SHA-256 over every file's relative path and bytes under ``root`` (for determinism)."""
    h = hashlib.sha256()
    base = Path(root)
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        h.update(path.relative_to(base).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# Command line: python -m mggnet_lite synth --out DIR --n N --seed S
# --------------------------------------------------------------------------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mggnet_lite synth``."""
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--n", type=int, default=1000, help="number of images (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all)")
    parser.add_argument("--no-masks", action="store_true", help="skip the group mask PNGs")
    parser.add_argument("--force", action="store_true", help="regenerate a finished set")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--occlude",
        action="append",
        default=[],
        metavar="GROUP=SHARE",
        help="hide GROUP (eyes, mouth or neck) behind an accessory on SHARE of the images, "
        "labels kept (repeatable; e.g. --occlude mouth=0.3)",
    )


def cli_main(args: argparse.Namespace) -> int:
    """Run ``synth``; prints the root and the split sizes."""
    if args.n < 1:
        print(f"synth: --n must be at least 1, got {args.n}", file=sys.stderr)
        return 2
    try:
        occlusion = {g: float(s) for g, s in (o.split("=", 1) for o in args.occlude)}
        check_occlusion(occlusion)
    except ValueError as exc:
        print(f"synth: --occlude {args.occlude}: {exc} (write GROUP=SHARE, e.g. mouth=0.3)",
              file=sys.stderr)
        return 2
    root = synthesize(
        args.out,
        occlusion=occlusion,
        n=args.n,
        seed=args.seed,
        workers=args.workers,
        masks=not args.no_masks,
        progress=not args.quiet,
        force=args.force,
    )
    tr, va, te = split_sizes(args.n)
    print(f"SynthFaces: {args.n} images (train {tr}, valid {va}, test {te}) in {root}")
    return 0
