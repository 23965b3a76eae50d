"""LFWA reader: LFW images with the 40 CelebA attributes from MMLab (ARCHITECTURE.md, "Data";
paper Sec. 4.1).

Expected files (the MMLab LFWA release next to the LFW image folder)::

    <root>/lfw_att_40.mat          labels and image names (MATLAB v7.3 = HDF5)
    <root>/indices_train_test.mat  the train/test split (MATLAB v7.3 = HDF5)
    <root>/lfw/<Person_Name>/<Person_Name>_0001.jpg   the LFW images (250x250)

``<root>`` may also be ``<root>/lfwa`` or ``<root>/LFWA``; the image folder may be named
``lfw``, ``lfw-deepfunneled`` or ``lfw_funneled``, or be passed as ``images=``.

Structure we read, and how sure we are. We have no copy of the release here; this follows
public code that reads it (h5py / mat73 loaders in several repositories) and MATLAB's v7.3
conventions:

* ``lfw_att_40.mat`` holds ``label``, ``name`` and ``AttrName`` (plus ``#refs#``). MATLAB
  stores arrays column-major, so its N x 40 ``label`` appears in HDF5 as (40, N); readers
  transpose it (seen in public code). We accept either orientation (the axis of length 40).
  Values 0/1 (some converted copies use -1/1, also accepted); 13,143 images.
* ``name`` is a cell array: HDF5 object references (shape (1, N) or (N, 1)), each to a
  uint16 char array (MATLAB char, one code unit per element) holding a path relative to the
  image folder with Windows separators, e.g. ``Aaron_Eckhart\\Aaron_Eckhart_0001.jpg``
  (public loaders replace ``\\`` with ``/`` and prefix ``lfw/``). Fairly sure.
* ``AttrName``: a cell of the 40 attribute names. We do not rely on its spelling; we only
  warn if it clearly disagrees with CelebA's order (the release uses CelebA's 40 attributes).
* ``indices_train_test.mat`` holds ``indices_img_train`` and ``indices_img_test`` (1-based
  MATLAB indices into ``name``, stored as doubles, 6,263 train, the rest test) and
  ``indices_identity_train/test`` (unused). Sure of the names and 1-basing; the vector
  orientation does not matter (we flatten).

A pre-v7.3 (MATLAB v5) copy of either file is read with scipy when scipy is installed.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..attributes import CELEBA_ATTRIBUTES
from .base import AttributeImages, Listing
from .errors import DatasetFormatError, DatasetNotFoundError, resolve_data_root

ATTR_FILE = "lfw_att_40.mat"
SPLIT_FILE = "indices_train_test.mat"
IMAGE_DIRS = ("lfw", "lfw-deepfunneled", "lfw_funneled")
SUBDIRS = ("", "lfwa", "LFWA")

LFWA_HELP = (
    "Get LFWA from the MMLab CelebA page https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
    '(link "LFWA": the annotation files lfw_att_40.mat and indices_train_test.mat) and the LFW '
    "images from https://vis-www.cs.umass.edu/lfw/ (lfw.tgz, extracted so that "
    "<root>/lfw/Aaron_Eckhart/Aaron_Eckhart_0001.jpg exists). Put the two .mat files next to "
    "the lfw/ folder and pass that folder as root=... or set MGGNET_DATA to it."
)


def _find_root(base: Path) -> Path:
    tried = []
    for sub in SUBDIRS:
        cand = base / sub if sub else base
        tried.append(cand)
        if (cand / ATTR_FILE).is_file():
            return cand
    listing = "\n".join(f"  {c / ATTR_FILE}, {c / SPLIT_FILE}, {c}/lfw/" for c in tried)
    raise DatasetNotFoundError(f"LFWA not found: looked for\n{listing}\n{LFWA_HELP}")


def _open_mat(path: Path) -> Any:
    """An h5py File for a v7.3 .mat; for an older .mat, a dict from scipy.io.loadmat."""
    import h5py

    if not path.is_file():
        raise DatasetNotFoundError(f"LFWA: {path} is missing.\n{LFWA_HELP}")
    if h5py.is_hdf5(str(path)):
        return h5py.File(path, "r")
    try:
        from scipy.io import loadmat
    except ImportError:
        raise DatasetFormatError(
            f"{path} is not a MATLAB v7.3 (HDF5) file. The MMLab release is v7.3; for an older "
            "(v5) copy install scipy (pip install scipy) so it can be read, or re-download it."
        ) from None
    try:
        return loadmat(str(path))
    except Exception as exc:  # scipy raises several types for garbage input
        raise DatasetFormatError(f"{path} cannot be read as a .mat file ({exc}).") from None


def _get(mat: Any, path: Path, key: str) -> Any:
    try:
        return mat[key]
    except KeyError:
        keys = [k for k in mat.keys() if not k.startswith(("#", "__"))]
        raise DatasetFormatError(
            f"{path}: entry {key!r} is missing (found {keys}). This is not the MMLab LFWA "
            f"release file; re-download it.\n{LFWA_HELP}"
        ) from None


def _matlab_string(obj: Any) -> str:
    """A MATLAB char array (uint16 code units in HDF5, a str array in scipy) as ``str``."""
    arr = np.asarray(obj)
    if arr.dtype.kind in "US":
        return "".join(str(x) for x in arr.ravel())
    # column-major storage: a 1 x L char row is (L, 1) in HDF5; ravel gives the code units
    return "".join(map(chr, arr.ravel().astype(np.int64).tolist()))


def _read_cell_strings(mat: Any, ds: Any, path: Path, key: str) -> list[str]:
    import h5py

    if isinstance(ds, h5py.Dataset):
        refs = np.asarray(ds[()]).ravel()
        if refs.dtype != h5py.ref_dtype and refs.dtype.kind != "O":
            raise DatasetFormatError(
                f"{path}: {key!r} should be a cell array (object references), found dtype "
                f"{refs.dtype}. Re-download the file.\n{LFWA_HELP}"
            )
        out = []
        for i, ref in enumerate(refs):
            try:
                out.append(_matlab_string(mat[ref][()]))
            except Exception as exc:
                raise DatasetFormatError(
                    f"{path}: {key}{{{i + 1}}} (entry {i + 1}) cannot be read ({exc}). "
                    f"Re-download the file.\n{LFWA_HELP}"
                ) from None
        return out
    return [_matlab_string(x) for x in np.asarray(ds, dtype=object).ravel()]  # scipy cell


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn whatever h5py / NumPy raise on a damaged or foreign .mat file into our error."""
    try:
        yield
    except (DatasetFormatError, DatasetNotFoundError):
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError ... on bad bytes
        first = (str(exc).splitlines() or [""])[0][:200]
        raise DatasetFormatError(
            f"{path} cannot be read as the MMLab LFWA file ({type(exc).__name__}: {first}). It "
            f"is damaged or is not the release file; re-download it.\n{LFWA_HELP}"
        ) from None


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def read_lfwa_labels(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """``lfw_att_40.mat``: (image names relative to the LFW folder, (N, 40) uint8 0/1 labels,
    the file's own attribute names). Any damage is a :class:`DatasetFormatError` naming it."""
    with _reading(path):
        mat = _open_mat(path)
        try:
            raw = np.asarray(_get(mat, path, "label")[()], dtype=np.float64)
            names = _read_cell_strings(mat, _get(mat, path, "name"), path, "name")
            attr_names: list[str] = []
            if "AttrName" in mat:
                attr_names = _read_cell_strings(mat, mat["AttrName"], path, "AttrName")
        finally:
            if hasattr(mat, "close"):
                mat.close()
    n_attr = len(CELEBA_ATTRIBUTES)
    if raw.ndim != 2 or n_attr not in raw.shape:
        raise DatasetFormatError(
            f"{path}: 'label' has shape {raw.shape}; expected N x {n_attr} (or {n_attr} x N "
            f"as MATLAB v7.3 stores it). Re-download the file.\n{LFWA_HELP}"
        )
    # HDF5 sees MATLAB's N x 40 as (40, N); take the axis of length 40 as attributes
    labels = raw.T if raw.shape[0] == n_attr and raw.shape[1] != n_attr else raw
    if labels.shape[0] != len(names):
        raise DatasetFormatError(
            f"{path}: 'label' has {labels.shape[0]} rows but 'name' has {len(names)} "
            f"entries. Re-download the file.\n{LFWA_HELP}"
        )
    values = set(np.unique(labels).tolist())
    if values <= {0.0, 1.0}:
        out = labels.astype(np.uint8)
    elif values <= {-1.0, 1.0}:
        out = (labels > 0).astype(np.uint8)
    else:
        bad = ~np.isin(labels, [0.0, 1.0])
        r, c = (int(v[0]) for v in np.nonzero(bad))
        raise DatasetFormatError(
            f"{path}: label({r + 1},{c + 1}) (image {names[r]!r}, attribute "
            f"{CELEBA_ATTRIBUTES[c]}) is {labels[r, c]:g}; labels must be 0/1 (or -1/1). "
            f"Re-download the file.\n{LFWA_HELP}"
        )
    if attr_names and len(attr_names) == n_attr:
        mismatch = [
            (i, a) for i, a in enumerate(attr_names) if _norm(a) != _norm(CELEBA_ATTRIBUTES[i])
        ]
        if len(mismatch) > n_attr // 2:
            warnings.warn(
                f"{path}: AttrName does not follow CelebA's attribute order "
                f"(e.g. column {mismatch[0][0] + 1} is {mismatch[0][1]!r}); columns are "
                "used in CelebA's order.",
                stacklevel=4,
            )
    # Windows separators in the release; our filenames are POSIX, relative to the image dir
    return [n.replace("\\", "/").strip() for n in names], out, attr_names

def read_lfwa_split(path: Path, n: int, attr_name: str = ATTR_FILE) -> tuple[np.ndarray, np.ndarray]:
    """``indices_train_test.mat``: 0-based train and test indices into the ``n`` images of
    ``attr_name``. Any damage is a :class:`DatasetFormatError` naming the file."""
    with _reading(path):
        return _split_indices(path, n, attr_name)

def _split_indices(path: Path, n: int, attr_name: str) -> tuple[np.ndarray, np.ndarray]:
    mat = _open_mat(path)
    try:
        out = []
        for key in ("indices_img_train", "indices_img_test"):
            raw = np.asarray(_get(mat, path, key)[()], dtype=np.float64).ravel()
            idx = raw.astype(np.int64)
            bad = np.flatnonzero((idx != raw) | (idx < 1) | (idx > n))
            if len(bad):
                j = int(bad[0])
                raise DatasetFormatError(
                    f"{path}: {key}({j + 1}) = {raw[j]:g} is not a 1-based index into the "
                    f"{n} images of {attr_name}. Use the split file of the same "
                    f"release.\n{LFWA_HELP}"
                )
            out.append(idx - 1)  # MATLAB is 1-based
    finally:
        if hasattr(mat, "close"):
            mat.close()
    train, test = out
    both = np.intersect1d(train, test)
    if len(both):
        raise DatasetFormatError(
            f"{path}: image {int(both[0]) + 1} is in both indices_img_train and "
            f"indices_img_test. Use the unmodified split file.\n{LFWA_HELP}"
        )
    return train, test


class LFWA(AttributeImages):
    """LFWA with the same item / attribute interface as :class:`~mggnet_lite.data.CelebA`.

    ``split``: ``train`` (6,263 images in the release) | ``test`` | ``all``. ``root=None``
    reads ``$MGGNET_DATA``. ``images`` overrides the LFW image folder.
    """

    name = "lfwa"

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        transform: Callable[[Image.Image], Any] | None = None,
        target_transform: Callable[[torch.Tensor], Any] | None = None,
        *,
        images: str | os.PathLike | None = None,
        check_files: bool = True,
    ) -> None:
        split_key = self._split_key(split, ("train", "test", "all"), "LFWA has train, test and all")
        base = resolve_data_root(root, "LFWA", LFWA_HELP)
        self.data_root = _find_root(base)
        self.attr_file = self.data_root / ATTR_FILE
        self.split_file = self.data_root / SPLIT_FILE
        if images is not None:
            image_dir = Path(images).expanduser()
        else:
            found = [self.data_root / d for d in IMAGE_DIRS if (self.data_root / d).is_dir()]
            image_dir = found[0] if found else self.data_root / IMAGE_DIRS[0]
        if not image_dir.is_dir():
            raise DatasetNotFoundError(
                f"LFWA: found {self.attr_file} but not the LFW image folder (looked for "
                f"{', '.join(str(self.data_root / d) + '/' for d in IMAGE_DIRS)}).\n{LFWA_HELP}"
            )

        names, labels, self.source_attr_names = self._read_labels()
        n = len(names)
        train, test = self._read_split(n)
        rows = {
            "train": train,
            "test": test,
            "all": np.unique(np.concatenate([train, test])),
        }[split_key]
        found = Listing("mmlab", image_dir, names, CELEBA_ATTRIBUTES, labels, rows)
        self._keep(split_key, found, transform, target_transform)
        if check_files:
            base_dir = str(self.root)
            for i, f in enumerate(self.filenames):
                if not os.path.isfile(os.path.join(base_dir, f)):
                    raise DatasetNotFoundError(
                        f"LFWA: image {self.root / f} (listed in {self.where(i)}) is missing. "
                        f"Extract the full LFW archive into {self.root}/, or pass "
                        f"check_files=False to defer the check to loading.\n{LFWA_HELP}"
                    )

    def _read_labels(self) -> tuple[list[str], np.ndarray, list[str]]:
        return read_lfwa_labels(self.attr_file)

    def _read_split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        return read_lfwa_split(self.split_file, n, self.attr_file.name)

    def where(self, index: int) -> str:
        """Where item ``index`` is listed, for error messages."""
        return f"{self.attr_file} name{{{int(self._rows[index]) + 1}}}"

    def __repr__(self) -> str:
        return f"LFWA(split={self.split!r}, n={len(self)}, root={str(self.root)!r})"
