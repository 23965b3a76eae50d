"""CelebA reader: the aligned-and-cropped images with their 40 binary attributes
(ARCHITECTURE.md, "Data").

Paper Sec. 4.1 trains and tests on CelebA's official partition (162,770 / 19,867 / 19,962
images); the sizes here come from the partition file, never from constants.

Layouts found automatically under ``root`` (first match wins):

* ``original``: ``img_align_celeba/``, ``list_attr_celeba.txt``, ``list_eval_partition.txt``
  (what the MMLab page / Google Drive gives after unzipping; also SynthFaces' layout);
* ``torchvision``: the same under ``<root>/celeba/`` (``torchvision.datasets.CelebA``);
* ``kaggle``: the "jessicali9530/celeba-dataset" mirror: ``list_attr_celeba.csv``,
  ``list_eval_partition.csv`` and images one folder deeper,
  ``img_align_celeba/img_align_celeba/000001.jpg``;
* ``drive``: the Google Drive folder tree as downloaded (``Img/img_align_celeba/``,
  ``Anno/list_attr_celeba.txt``, ``Eval/list_eval_partition.txt``).

Items are what ``torchvision.datasets.CelebA(target_type="attr")`` returns: a PIL image
(RGB) and a ``(40,)`` long tensor of 0/1 (the files' -1/1 mapped to 0/1).

Parsing is vectorised over the file's bytes (numpy), so the 202,599-line label file is
read in a fraction of a second; every format error still names the file and line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..attributes import CELEBA_ATTRIBUTES
from .base import AttributeImages, Listing
from .errors import DatasetFormatError, DatasetNotFoundError, resolve_data_root

SPLITS: dict[str, int | None] = {"train": 0, "valid": 1, "test": 2, "all": None}

CELEBA_HELP = (
    "Get CelebA from the MMLab page https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html "
    '(Google Drive: "Align&Cropped Images" -> img_align_celeba.zip, unzip it; "Anno" -> '
    'list_attr_celeba.txt; "Eval" -> list_eval_partition.txt), or let torchvision fetch it '
    "with torchvision.datasets.CelebA(root, download=True) (needs gdown; gives <root>/celeba/), "
    'or use the Kaggle mirror "jessicali9530/celeba-dataset" (CSV files). Then pass the folder '
    "as root=... or set MGGNET_DATA to it."
)


@dataclass(frozen=True)
class Layout:
    """Where one on-disk layout keeps the images and the two annotation files."""

    name: str
    image_dir: Path
    attr_file: Path
    partition_file: Path


def candidate_layouts(root: Path) -> list[Layout]:
    """The layouts we look for under ``root``, in search order (module docstring)."""
    kaggle_images = root / "img_align_celeba" / "img_align_celeba"
    if not kaggle_images.is_dir() and kaggle_images.parent.is_dir():
        kaggle_images = kaggle_images.parent  # some unzip tools flatten the nested folder
    return [
        Layout(
            "original",
            root / "img_align_celeba",
            root / "list_attr_celeba.txt",
            root / "list_eval_partition.txt",
        ),
        Layout(
            "torchvision",
            root / "celeba" / "img_align_celeba",
            root / "celeba" / "list_attr_celeba.txt",
            root / "celeba" / "list_eval_partition.txt",
        ),
        Layout(
            "kaggle",
            kaggle_images,
            root / "list_attr_celeba.csv",
            root / "list_eval_partition.csv",
        ),
        Layout(
            "drive",
            root / "Img" / "img_align_celeba",
            root / "Anno" / "list_attr_celeba.txt",
            root / "Eval" / "list_eval_partition.txt",
        ),
    ]


def _layout_listing(layouts: Sequence[Layout]) -> str:
    return "\n".join(
        f"  {lay.name:<11} images {lay.image_dir}/, labels {lay.attr_file}, "
        f"partition {lay.partition_file}"
        for lay in layouts
    )


def find_layout(root: Path) -> Layout:
    """The first layout whose label file exists under ``root``; its image folder and partition
    file must exist too. Raises :class:`DatasetNotFoundError` listing every path looked at."""
    layouts = candidate_layouts(root)
    for lay in layouts:
        if lay.attr_file.is_file():
            if not lay.image_dir.is_dir():
                raise DatasetNotFoundError(
                    f"CelebA ({lay.name} layout): found the label file {lay.attr_file} but not "
                    f"the image folder {lay.image_dir}/. Unzip img_align_celeba.zip there "
                    f"(it holds 000001.jpg ... 202599.jpg).\n{CELEBA_HELP}"
                )
            if not lay.partition_file.is_file():
                raise DatasetNotFoundError(
                    f"CelebA ({lay.name} layout): found {lay.attr_file} but not the partition "
                    f"file {lay.partition_file} (train/valid/test split, "
                    f'"Eval/list_eval_partition.txt" on the Drive). Put it next to the label file.'
                    f"\n{CELEBA_HELP}"
                )
            return lay
    have_images = [lay for lay in layouts if lay.image_dir.is_dir()]
    if have_images:
        lay = have_images[0]
        raise DatasetNotFoundError(
            f"CelebA: found the image folder {lay.image_dir}/ but no label file. Looked for "
            f"{', '.join(str(x.attr_file) for x in layouts)}. Put list_attr_celeba.txt "
            f'(Drive folder "Anno") and list_eval_partition.txt ("Eval") next to the image '
            f"folder.\n{CELEBA_HELP}"
        )
    raise DatasetNotFoundError(
        f"CelebA not found under {root}. Looked for these layouts:\n{_layout_listing(layouts)}\n"
        f"{CELEBA_HELP}"
    )


# ----------------------------------------------------------------------------- parsing


@dataclass
class _Tokens:
    """Whitespace (or comma) separated tokens of a text file, found with numpy."""

    data: bytes
    buf: np.ndarray  # uint8 view of data
    starts: np.ndarray  # token start offsets
    ends: np.ndarray  # token end offsets (exclusive)
    counts: np.ndarray  # tokens per line, trailing empty lines dropped

    def text(self, k: int) -> str:
        return self.data[self.starts[k] : self.ends[k]].decode("utf-8", "replace")

    def line_tokens(self, line: int) -> list[str]:
        first = int(self.counts[:line].sum())
        return [self.text(k) for k in range(first, first + int(self.counts[line]))]


def _tokenize(path: Path, comma: bool) -> _Tokens:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetNotFoundError(f"cannot read {path}: {exc}") from None
    if data.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte-order mark (a Windows editor): not text
        data = b"   " + data[3:]  # blanks keep every byte offset (and so every token) in place
    if not data.strip():
        raise DatasetFormatError(f"{path} is empty; re-download it.\n{CELEBA_HELP}")
    buf = np.frombuffer(data, np.uint8)
    newline = buf == 10
    brk = newline | (buf == 32) | (buf == 9) | (buf == 13)
    if comma:
        brk |= buf == 44
    # a token starts at a non-break byte preceded by a break (or the file start) and ends
    # before the next break: two shifted comparisons instead of a Python loop per field
    word = ~brk
    start_mask = word & np.concatenate(([True], brk[:-1]))
    starts = np.flatnonzero(start_mask)
    ends = np.flatnonzero(word & np.concatenate((brk[1:], [True]))) + 1
    # tokens per line: how many token starts fall between consecutive line starts (a binary
    # search per line, not per token)
    line_starts = np.concatenate(([0], np.flatnonzero(newline) + 1, [len(buf)]))
    counts = np.diff(np.searchsorted(starts, line_starts))
    nonempty = np.flatnonzero(counts)
    if not len(nonempty):  # only separators (a CSV of commas)
        raise DatasetFormatError(f"{path} is empty (no fields); re-download it.\n{CELEBA_HELP}")
    counts = counts[: nonempty[-1] + 1]  # drop trailing blank lines only
    return _Tokens(data, buf, starts, ends, counts)


def _check_field_counts(tok: _Tokens, path: Path, first: int, expected: int, what: str) -> int:
    """All lines from ``first`` (0-based) on must have ``expected`` fields; returns the number
    of such lines. The message names the first bad line (1-based, as editors count)."""
    body = tok.counts[first:]
    bad = np.flatnonzero(body != expected)
    if len(bad):
        line = first + int(bad[0])
        got = tok.line_tokens(line)
        shown = " ".join(got[:6]) + (" ..." if len(got) > 6 else "")
        raise DatasetFormatError(
            f"{path} line {line + 1}: expected {expected} fields ({what}), found {len(got)}: "
            f"{shown!r}. The file is truncated or edited; re-download it.\n{CELEBA_HELP}"
        )
    return len(body)


def _first_tokens(tok: _Tokens, first: int, n: int, width: int) -> list[str]:
    """The first token of each of ``n`` lines starting at line ``first`` (all ``width`` wide)."""
    k0 = int(tok.counts[:first].sum())
    idx = k0 + np.arange(n) * width
    data, s, e = tok.data, tok.starts[idx].tolist(), tok.ends[idx].tolist()
    return [data[a:b].decode("utf-8", "replace") for a, b in zip(s, e, strict=True)]


@dataclass
class AttrTable:
    """A parsed label file: image names, attribute names, 0/1 labels, and where each row was."""

    path: Path
    names: list[str]
    attr_names: list[str]
    labels: np.ndarray  # (N, 40) uint8 0/1
    first_line: int  # 1-based line number of the first data row


def read_attr_file(path: str | os.PathLike) -> AttrTable:
    """Parse ``list_attr_celeba.txt`` (count line, name line, ``name v1 ... v40``) or the Kaggle
    ``list_attr_celeba.csv`` (``image_id,<40 names>`` header). Values must be -1 or 1; they
    become 0/1 (paper Sec. 4.1 / torchvision's mapping)."""
    path = Path(path)
    is_csv = path.suffix.lower() == ".csv"
    tok = _tokenize(path, comma=is_csv)
    n_attr = len(CELEBA_ATTRIBUTES)
    if is_csv:
        header = tok.line_tokens(0)
        attr_names, first = header[1:], 1
        if len(header) != n_attr + 1:
            raise DatasetFormatError(
                f"{path} line 1: expected a header 'image_id,' + {n_attr} attribute names, "
                f"found {len(header)} fields. Re-download the file.\n{CELEBA_HELP}"
            )
    else:
        head = tok.line_tokens(0)
        if len(head) != 1 or not (head[0].isascii() and head[0].isdigit()):
            raise DatasetFormatError(
                f"{path} line 1: expected the number of images (e.g. 202599), found "
                f"{' '.join(head)[:60]!r}. This is not CelebA's list_attr_celeba.txt (or its "
                f"first line was removed).\n{CELEBA_HELP}"
            )
        declared = int(head[0])
        attr_names, first = tok.line_tokens(1) if len(tok.counts) > 1 else [], 2
        if len(attr_names) != n_attr:
            raise DatasetFormatError(
                f"{path} line 2: expected the {n_attr} attribute names, found "
                f"{len(attr_names)}. Re-download the file.\n{CELEBA_HELP}"
            )
    for col, (got, want) in enumerate(zip(attr_names, CELEBA_ATTRIBUTES, strict=True)):
        if got != want:
            raise DatasetFormatError(
                f"{path} line {first}: attribute column {col + 1} is {got!r}, expected {want!r} "
                f"(CelebA's 40 attributes in file order). Use the unmodified label file."
            )
    n = _check_field_counts(tok, path, first, n_attr + 1, f"an image name and {n_attr} labels")
    if not is_csv and n != declared:
        raise DatasetFormatError(
            f"{path} line 1 says {declared} images but the file has {n} label lines: it is "
            f"truncated or was edited. Re-download it.\n{CELEBA_HELP}"
        )
    # labels: token k of row i is value (i, k-1). Valid tokens are "1" (-> 1) and "-1" (-> 0):
    # checked with whole-array ops on the token offsets (contiguous slices, no Python loop)
    k0 = int(tok.counts[:first].sum())
    width = n_attr + 1
    s = tok.starts[k0 : k0 + n * width].reshape(n, width)[:, 1:]
    e = tok.ends[k0 : k0 + n * width].reshape(n, width)[:, 1:]
    length = e - s
    pos = length == 1
    ok = (tok.buf[e - 1] == ord("1")) & (pos | ((length == 2) & (tok.buf[s] == ord("-"))))
    if not ok.all():
        row, col = (int(v[0]) for v in np.nonzero(~ok))
        value = tok.text(k0 + row * width + col + 1)
        raise DatasetFormatError(
            f"{path} line {first + row + 1}, column {col + 2} ({CELEBA_ATTRIBUTES[col]}): label "
            f"{value!r} is not -1 or 1. CelebA labels are -1/1; fix or re-download the file."
        )
    names = _first_tokens(tok, first, n, n_attr + 1)
    return AttrTable(path, names, list(attr_names), pos.astype(np.uint8), first + 1)


def read_partition_file(path: str | os.PathLike, attr: AttrTable) -> np.ndarray:
    """Parse ``list_eval_partition.txt`` (``name 0|1|2``) or the Kaggle CSV (``image_id,partition``
    header) and check it lists exactly the label file's images in the same order. Returns
    (N,) int8 with 0 = train, 1 = valid, 2 = test."""
    path = Path(path)
    is_csv = path.suffix.lower() == ".csv"
    tok = _tokenize(path, comma=is_csv)
    first = 0
    if is_csv or (tok.counts[0] == 2 and tok.line_tokens(0)[1].lower() == "partition"):
        first = 1
    n = _check_field_counts(tok, path, first, 2, "an image name and 0/1/2")
    names = _first_tokens(tok, first, n, 2)
    k0 = int(tok.counts[:first].sum())
    vk = k0 + np.arange(n) * 2 + 1
    c0 = tok.buf[tok.starts[vk]]
    ok = (tok.ends[vk] - tok.starts[vk] == 1) & (c0 >= ord("0")) & (c0 <= ord("2"))
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        raise DatasetFormatError(
            f"{path} line {first + row + 1}: partition {tok.text(int(vk[row]))!r} is not 0, 1 "
            f"or 2 (train, valid, test). Re-download the file.\n{CELEBA_HELP}"
        )
    if names != attr.names:
        m = min(n, len(attr.names))
        diff = next((i for i in range(m) if names[i] != attr.names[i]), m)
        if diff < m:
            detail = f"has {names[diff]!r} where {attr.path.name} line {attr.first_line + diff} has {attr.names[diff]!r}"
        elif n < len(attr.names):
            detail = f"ends after {n} images but {attr.path.name} goes on with {attr.names[diff]!r} (line {attr.first_line + diff})"
        else:
            detail = (
                f"lists {names[diff]!r} beyond the {len(attr.names)} images of {attr.path.name}"
            )
        raise DatasetFormatError(
            f"{path} line {first + diff + 1} disagrees with the label file {attr.path}: it "
            f"{detail}. Both files must list the same images in the same order; use the "
            f"partition and label files of the same release.\n{CELEBA_HELP}"
        )
    return (c0 - ord("0")).astype(np.int8)


def check_images_exist(
    image_dir: Path, names: Sequence[str], attr: AttrTable, rows: np.ndarray
) -> None:
    """Raise :class:`DatasetNotFoundError` naming the first missing image (one ``listdir``,
    not one ``stat`` per file: 0.1 s for CelebA's 202,599 files)."""
    present = set(os.listdir(image_dir))
    missing = [i for i, name in enumerate(names) if name not in present]
    if missing:
        i = missing[0]
        raise DatasetNotFoundError(
            f"{len(missing)} image(s) listed in {attr.path} are missing from {image_dir}/; the "
            f"first is {names[i]} (line {attr.first_line + int(rows[i])}). The image archive "
            f"was not fully extracted: unzip img_align_celeba.zip again into that folder, or pass "
            f"check_files=False to defer the check to loading.\n{CELEBA_HELP}"
        )


# ----------------------------------------------------------------------------- dataset


class CelebA(AttributeImages):
    """CelebA with ``target_type="attr"`` semantics (ARCHITECTURE.md, "Public contract" and
    "Data"; paper Sec. 4.1).

    ``root=None`` reads ``$MGGNET_DATA``. ``split`` is ``train | valid | test | all``.
    Attributes: ``root`` (the resolved image folder), ``data_root``, ``layout``,
    ``filenames``, ``attr`` ((N, 40) long 0/1), ``attr_names`` (40, file order),
    ``attr_file``, ``partition_file``.
    """

    name = "celeba"

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: str = "train",
        transform: Callable[[Image.Image], Any] | None = None,
        target_transform: Callable[[torch.Tensor], Any] | None = None,
        *,
        check_files: bool = True,
    ) -> None:
        split_key = self._split_key(split, SPLITS, f"choose one of {', '.join(SPLITS)}")
        self.data_root = resolve_data_root(root, "CelebA", CELEBA_HELP)
        lay = find_layout(self.data_root)
        table = read_attr_file(lay.attr_file)
        partition = read_partition_file(lay.partition_file, table)
        code = SPLITS[split_key]
        rows = np.arange(len(table.names)) if code is None else np.flatnonzero(partition == code)
        self.attr_file = lay.attr_file
        self.partition_file = lay.partition_file
        self._first_line = table.first_line
        found = Listing(lay.name, lay.image_dir, table.names, table.attr_names, table.labels, rows)
        self._keep(split_key, found, transform, target_transform)
        if check_files:
            check_images_exist(lay.image_dir, self.filenames, table, rows)

    @property
    def split_file(self) -> Path:
        return self.partition_file

    def where(self, index: int) -> str:
        """Where item ``index`` is listed, for error messages."""
        return f"{self.attr_file} line {self._first_line + int(self._rows[index])}"

    def __repr__(self) -> str:
        return (
            f"CelebA(split={self.split!r}, n={len(self)}, layout={self.layout!r}, "
            f"root={str(self.root)!r})"
        )
