"""Shared fixtures: small fabricated CelebA and LFWA folders in their real on-disk formats.

* ``make_celeba(root, n=30, layout="original", ...)`` writes a CelebA-format folder in one of
  the layouts ``original`` | ``torchvision`` | ``kaggle``; same seed, same bytes.
* ``celeba_root`` -> a 30-image original-layout folder (178 x 218 JPEGs, as CelebA).
* ``make_lfwa(root, ...)`` / ``lfwa_root``: an MMLab LFWA release (MATLAB v7.3 files written
  with h5py) next to an ``lfw/<Person>/<Person>_0001.jpg`` image folder.

Nothing here touches the network or the real datasets.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mggnet_lite.attributes import CELEBA_ATTRIBUTES

sys.path.insert(0, str(Path(__file__).parent))  # tests/_*.py helpers
import _schedule  # noqa: E402

CELEBA_SIZE = (178, 218)  # (width, height) of CelebA's aligned crops


def _jpeg_bytes(rng: np.random.Generator, size: tuple[int, int], quality: int = 90) -> bytes:
    """A smooth random colour image (a small random grid upsampled), JPEG-encoded."""
    grid = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    img = Image.fromarray(grid, "RGB").resize(size, Image.BICUBIC)
    noise = rng.integers(-12, 13, (size[1], size[0], 3))
    arr = np.clip(np.asarray(img, np.int16) + noise, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def celeba_content(n: int = 30, seed: int = 0, size: tuple[int, int] = CELEBA_SIZE):
    """(names, labels -1/1 (n, 40), partition 0/1/2 (n,), jpeg bytes per image)."""
    rng = np.random.default_rng(seed)
    names = [f"{i + 1:06d}.jpg" for i in range(n)]
    labels = rng.choice(np.array([-1, 1]), size=(n, len(CELEBA_ATTRIBUTES)))
    # shuffled split membership (not contiguous) so selection bugs show; ~60/20/20
    partition = rng.permutation(np.arange(n) * 5 // n)
    partition = np.select([partition < 3, partition < 4], [0, 1], 2).astype(np.int64)
    images = [_jpeg_bytes(rng, size) for _ in range(n)]
    return names, labels, partition, images


def write_celeba(
    root: str | Path,
    n: int = 30,
    layout: str = "original",
    seed: int = 0,
    size: tuple[int, int] = CELEBA_SIZE,
) -> Path:
    """Write a CelebA-format folder at ``root`` in ``layout``; returns ``root``.

    The text files follow the real formatting: count line, name line with a trailing space,
    values right-aligned in width 2 (``000001.jpg -1  1 ...``)."""
    root = Path(root)
    names, labels, partition, images = celeba_content(n, seed, size)
    if layout == "original":
        base, image_dir, csv = root, root / "img_align_celeba", False
    elif layout == "torchvision":
        base = root / "celeba"
        image_dir, csv = base / "img_align_celeba", False
    elif layout == "kaggle":
        base, image_dir, csv = root, root / "img_align_celeba" / "img_align_celeba", True
    else:
        raise ValueError(layout)
    image_dir.mkdir(parents=True, exist_ok=True)
    for name, data in zip(names, images, strict=True):
        (image_dir / name).write_bytes(data)
    if csv:
        rows = ["image_id," + ",".join(CELEBA_ATTRIBUTES)]
        rows += [
            f"{nm}," + ",".join(str(v) for v in row) for nm, row in zip(names, labels, strict=True)
        ]
        (base / "list_attr_celeba.csv").write_text("\n".join(rows) + "\n")
        parts = ["image_id,partition"] + [
            f"{nm},{p}" for nm, p in zip(names, partition, strict=True)
        ]
        (base / "list_eval_partition.csv").write_text("\n".join(parts) + "\n")
        return root
    lines = [str(n), " ".join(CELEBA_ATTRIBUTES) + " "]
    lines += [
        f"{nm} " + " ".join(f"{v:2d}" for v in row) for nm, row in zip(names, labels, strict=True)
    ]
    (base / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    parts = [f"{nm} {p}" for nm, p in zip(names, partition, strict=True)]
    (base / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")
    if layout == "torchvision":  # torchvision also reads these three files at construction
        (base / "identity_CelebA.txt").write_text(
            "".join(f"{nm} {1 + i % 7}\n" for i, nm in enumerate(names))
        )
        bbox = [str(n), "image_id x_1 y_1 width height"]
        bbox += [f"{nm} 95 71 226 313" for nm in names]
        (base / "list_bbox_celeba.txt").write_text("\n".join(bbox) + "\n")
        lm = [str(n), "lefteye_x lefteye_y righteye_x righteye_y nose_x nose_y "
              "leftmouth_x leftmouth_y rightmouth_x rightmouth_y"]  # fmt: skip
        lm += [f"{nm} 69 109 106 113 77 142 73 152 108 154" for nm in names]
        (base / "list_landmarks_align_celeba.txt").write_text("\n".join(lm) + "\n")
    return root


# ----------------------------------------------------------------------------- LFWA

LFW_PEOPLE = ("Aaron_Eckhart", "Abel_Pacheco", "Ai_Sugiyama", "Bill_Gates", "Zico")


def _mat73_userblock(path: Path) -> None:
    """Write MATLAB's 512-byte v7.3 header into the HDF5 user block (as MATLAB does)."""
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
    head = text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"
    with open(path, "r+b") as fh:
        fh.write(head.ljust(512, b"\x00"))


def _write_cellstr(f, key: str, strings: list[str], column: bool = False) -> None:
    """A MATLAB cell array of char rows: object references to uint16 (L, 1) datasets in #refs#."""
    import h5py

    refs_group = f.require_group("#refs#")
    refs = []
    for i, s in enumerate(strings):
        ds = refs_group.create_dataset(
            f"{key}_{i}", data=np.array([ord(c) for c in s], np.uint16).reshape(-1, 1)
        )
        ds.attrs["MATLAB_class"] = np.bytes_(b"char")
        ds.attrs["MATLAB_int_decode"] = np.int32(2)
        refs.append(ds.ref)
    shape = (len(refs), 1) if column else (1, len(refs))
    cell = f.create_dataset(key, shape, dtype=h5py.ref_dtype)
    cell[...] = np.array(refs, dtype=h5py.ref_dtype).reshape(shape)
    cell.attrs["MATLAB_class"] = np.bytes_(b"cell")


def lfwa_content(n: int = 24, n_train: int = 10, seed: int = 1):
    rng = np.random.default_rng(seed)
    names, counts = [], {}
    for i in range(n):
        person = LFW_PEOPLE[i % len(LFW_PEOPLE)]
        counts[person] = counts.get(person, 0) + 1
        names.append(f"{person}\\{person}_{counts[person]:04d}.jpg")  # Windows separators
    labels = rng.integers(0, 2, (n, len(CELEBA_ATTRIBUTES))).astype(np.float64)
    order = rng.permutation(n)
    train = np.sort(order[:n_train]) + 1  # 1-based, as MATLAB
    test = np.sort(order[n_train:]) + 1
    images = [_jpeg_bytes(rng, (250, 250)) for _ in range(n)]
    return names, labels, train, test, images


def write_lfwa(
    root: str | Path,
    n: int = 24,
    n_train: int = 10,
    seed: int = 1,
    transposed: bool = True,
    column_cells: bool = False,
) -> Path:
    """Write a fabricated MMLab LFWA release at ``root``; returns ``root``.

    ``transposed=True`` stores ``label`` as (40, N), as MATLAB v7.3 does for an N x 40 array."""
    import h5py

    root = Path(root)
    names, labels, train, test, images = lfwa_content(n, n_train, seed)
    for name, data in zip(names, images, strict=True):
        p = root / "lfw" / Path(*name.split("\\"))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    att = root / "lfw_att_40.mat"
    with h5py.File(att, "w", userblock_size=512) as f:
        lab = f.create_dataset("label", data=labels.T if transposed else labels)
        lab.attrs["MATLAB_class"] = np.bytes_(b"double")
        _write_cellstr(f, "name", names, column=column_cells)
        _write_cellstr(f, "AttrName", list(CELEBA_ATTRIBUTES))
    _mat73_userblock(att)
    idx = root / "indices_train_test.mat"
    with h5py.File(idx, "w", userblock_size=512) as f:
        for key, vec in (("indices_img_train", train), ("indices_img_test", test)):
            d = f.create_dataset(key, data=vec.astype(np.float64).reshape(1, -1))
            d.attrs["MATLAB_class"] = np.bytes_(b"double")
        for key in ("indices_identity_train", "indices_identity_test"):
            d = f.create_dataset(key, data=np.arange(1, 4, dtype=np.float64).reshape(1, -1))
            d.attrs["MATLAB_class"] = np.bytes_(b"double")
    _mat73_userblock(idx)
    return root


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session", autouse=True)
def _session_sets(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Sets shared within this session (``_train_helpers.synth_root``) live in pytest's own
    session folder: a run never sees what an earlier run left behind."""
    import _train_helpers

    _train_helpers.SESSION["dir"] = tmp_path_factory.mktemp("shared-sets")


@pytest.fixture
def make_celeba() -> Callable[..., Path]:
    """The :func:`write_celeba` factory, for tests that need several folders or layouts."""
    return write_celeba


@pytest.fixture
def make_lfwa() -> Callable[..., Path]:
    """The :func:`write_lfwa` factory."""
    return write_lfwa


@pytest.fixture
def fixture_truth() -> dict[str, Callable]:
    """What the factories write: ``celeba_content`` / ``lfwa_content`` (names, labels, ...)."""
    return {"celeba": celeba_content, "lfwa": lfwa_content}


@pytest.fixture
def celeba_root(tmp_path: Path) -> Path:
    """A 30-image CelebA folder in the original layout."""
    return write_celeba(tmp_path / "celeba_data", n=30)


@pytest.fixture
def lfwa_root(tmp_path: Path) -> Path:
    """A 24-image LFWA release (10 train / 14 test)."""
    return write_lfwa(tmp_path / "lfwa_data")


# ---- make test's one session: the longest files first, then each chapter's time -------------
_durations: list[tuple[str, float]] = []


def pytest_configure(config) -> None:
    _schedule.share_cores()


def pytest_collection_modifyitems(config, items) -> None:
    _schedule.order(items)


def pytest_runtest_logreport(report) -> None:
    _durations.append((report.nodeid, report.duration))


def pytest_terminal_summary(terminalreporter) -> None:
    for line in _schedule.chapter_lines(_schedule.chapter_seconds(_durations)):
        terminalreporter.write_line(line)
