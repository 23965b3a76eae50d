"""Hostile and messy label files (issue [4/5], item 5): property-based tests.

Every reader of CelebA's ``list_attr_celeba.txt`` / ``list_eval_partition.txt``, the Kaggle
CSVs and LFWA's ``.mat`` index files gets at least 2,000 generated malformed inputs and must
raise only the project's own errors (``DatasetFormatError`` / ``DatasetNotFoundError``), with
the file (and, where a line is at fault, the line) in the message: never an IndexError,
KeyError, UnicodeDecodeError or h5py traceback. Valid files written by other editors (a
UTF-8 byte-order mark, CRLF line ends, tabs, trailing blank lines) read exactly like the
clean file. Seeds are fixed (``derandomize=True``) and example counts bounded, so CI time is
predictable.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mggnet_lite.attributes import CELEBA_ATTRIBUTES
from mggnet_lite.data.celeba import read_attr_file, read_partition_file
from mggnet_lite.data.errors import DatasetFormatError, DatasetNotFoundError

OURS = (DatasetFormatError, DatasetNotFoundError)
MANY = settings(max_examples=2000, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
FEW = settings(max_examples=200, derandomize=True, deadline=None, database=None,
               suppress_health_check=list(HealthCheck))
N_ROWS = 6


def _clean(kind: str) -> bytes:
    """A valid file of ``kind`` (attr_txt | attr_csv | part_txt | part_csv) with N_ROWS images."""
    rng = np.random.default_rng(0)
    names = [f"{i + 1:06d}.jpg" for i in range(N_ROWS)]
    labels = rng.choice([-1, 1], (N_ROWS, len(CELEBA_ATTRIBUTES)))
    if kind == "attr_txt":
        rows = [str(N_ROWS), " ".join(CELEBA_ATTRIBUTES) + " "]
        rows += [n + " " + " ".join(f"{v:2d}" for v in r) for n, r in zip(names, labels,
                                                                          strict=True)]
    elif kind == "attr_csv":
        rows = ["image_id," + ",".join(CELEBA_ATTRIBUTES)]
        rows += [n + "," + ",".join(str(v) for v in r) for n, r in zip(names, labels,
                                                                       strict=True)]
    elif kind == "part_txt":
        rows = [f"{n} {i % 3}" for i, n in enumerate(names)]
    else:
        rows = ["image_id,partition"] + [f"{n},{i % 3}" for i, n in enumerate(names)]
    return ("\n".join(rows) + "\n").encode()


_ATTR = {"attr_txt": "list_attr_celeba.txt", "attr_csv": "list_attr_celeba.csv"}
_PART = {"part_txt": "list_eval_partition.txt", "part_csv": "list_eval_partition.csv"}


def _read(kind: str, data: bytes, folder: Path):
    if kind in _ATTR:
        path = folder / _ATTR[kind]
        path.write_bytes(data)
        return read_attr_file(path), path
    attr = folder / "list_attr_celeba.txt"
    attr.write_bytes(_clean("attr_txt"))
    path = folder / _PART[kind]
    path.write_bytes(data)
    return read_partition_file(path, read_attr_file(attr)), path


# ----------------------------------------------------------------------------- mutations

_TOKENS = [b"-1", b"1", b"0", b"2", b" ", b"\t", b"\n", b"\r\n", b",", b"\xef\xbb\xbf",
           b"\xff\xfe", b"\x00", b"\xc3", "²".encode(), "١".encode(), b"1e3", b"-", b"--1",
           b"nan", b"000001.jpg", b"image_id", b"partition", b"Smiling", b"202599",
           b"-0", b"+1", b"\xe2\x80\x8b"]


@st.composite
def mutated(draw, kind: str) -> bytes:
    """A valid file of ``kind`` with one to four random edits (bytes, tokens, lines)."""
    data = bytearray(_clean(kind))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "token", "line",
                                   "dupline", "dropline"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 12))]
        elif op == "truncate":
            del data[pos:]
        elif op == "token":
            data[pos:pos] = draw(st.sampled_from(_TOKENS))
        else:
            lines = bytes(data).split(b"\n")
            k = draw(st.integers(0, len(lines) - 1))
            if op == "line":
                lines[k] = draw(st.binary(max_size=40))
            elif op == "dupline":
                lines.insert(k, lines[k])
            else:
                del lines[k]
            data = bytearray(b"\n".join(lines))
    return bytes(data)


def _check_refusal(kind: str, data: bytes) -> str:
    """Read one mutated file: the name of our error that refused it (its message names the file
    and the line), or ``"accepted"`` when it still reads, and then reads as a well-formed table."""
    folder = Path(tempfile.mkdtemp(prefix="hostile-"))
    try:
        try:
            got, _ = _read(kind, data, folder)
        except OURS as err:
            msg = str(err)
            name = _ATTR.get(kind) or _PART[kind]
            assert name in msg, msg
            assert "line" in msg or "empty" in msg, msg
            return type(err).__name__
    finally:
        shutil.rmtree(folder)
    # an edit that left a valid file (a -1 turned 1, a name changed ...): what was read is
    # what the file says, field by field
    rows = _fields(kind, data)
    if kind in _ATTR:
        if kind == "attr_txt":  # the image count, then the attribute names
            assert int(rows[0][0]) == len(rows) - 2 and len(rows[1]) == 40
        rows = rows[1:] if kind == "attr_csv" else rows[2:]
        assert all(len(r) == 41 and set(r[1:]) <= {b"1", b"-1"} for r in rows), rows
        assert got.attr_names == list(CELEBA_ATTRIBUTES)
        assert got.names == [r[0].decode("utf-8", "replace") for r in rows]
        assert got.labels.dtype == np.uint8
        assert np.array_equal(got.labels, [[v == b"1" for v in r[1:]] for r in rows])
    else:  # the same images as the label file, in order, each 0, 1 or 2
        if kind == "part_csv" or rows[0][1:] == [b"partition"]:
            rows = rows[1:]
        assert [r[0] for r in rows] == [f"{i + 1:06d}.jpg".encode() for i in range(N_ROWS)]
        assert all(len(r) == 2 and r[1] in (b"0", b"1", b"2") for r in rows), rows
        assert got.dtype == np.int8 and got.tolist() == [int(r[1]) for r in rows]
    return "accepted"


def _fields(kind: str, data: bytes) -> list[list[bytes]]:
    """The lines of a label file as lists of fields, by the format's rules (not the reader's
    code): a leading BOM is not text; blanks, tabs and CRs (and commas in a CSV) separate
    fields; trailing blank lines do not count."""
    sep = rb"[ \t\r,]+" if kind.endswith("csv") else rb"[ \t\r]+"
    text = data.removeprefix(b"\xef\xbb\xbf")
    rows = [[f for f in re.split(sep, line) if f] for line in text.split(b"\n")]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _require_refusals(outcomes: list[str], least: float) -> None:
    """At least the share ``least`` of the generated files was refused, with our format error:
    a reader that reads what it cannot understand fails here."""
    counts = Counter(outcomes)
    print(dict(counts))
    assert counts["DatasetFormatError"] >= least * len(outcomes), dict(counts)


@pytest.mark.parametrize("kind", ["attr_txt", "attr_csv", "part_txt", "part_csv"])
def test_malformed_celeba_files_raise_only_our_errors_naming_file_and_line(kind: str) -> None:
    outcomes: list[str] = []

    @MANY
    @given(mutated(kind))
    def check(data: bytes) -> None:
        outcomes.append(_check_refusal(kind, data))

    check()
    _require_refusals(outcomes, 0.5)


# ----------------------------------------------------------------------------- valid variants

@st.composite
def messy(draw, kind: str) -> bytes:
    """The clean file as another editor might save it: BOM, CRLF, tabs, blank lines at the end."""
    text = _clean(kind).decode()
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if kind.endswith("txt") and draw(st.booleans()):
        text = text.replace(" ", "\t")
    text += draw(st.sampled_from(["", "\n", "\n\n", "\r\n\r\n", " \n"]))
    data = text.encode()
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


@pytest.mark.parametrize("kind", ["attr_txt", "attr_csv", "part_txt", "part_csv"])
def test_bom_crlf_tabs_and_blank_lines_read_like_the_clean_file(kind: str, tmp_path: Path) -> None:
    clean, _ = _read(kind, _clean(kind), tmp_path)

    @FEW
    @given(messy(kind))
    def check(data: bytes) -> None:
        folder = Path(tempfile.mkdtemp(prefix="messy-"))
        try:
            got, _ = _read(kind, data, folder)
        finally:
            shutil.rmtree(folder)
        if kind in _ATTR:
            assert got.names == clean.names and got.attr_names == clean.attr_names
            assert np.array_equal(got.labels, clean.labels)
        else:
            assert np.array_equal(got, clean)

    check()


def test_a_label_file_with_a_bom_reads(tmp_path: Path) -> None:
    """The Windows-editor case of the issue, spelled out."""
    path = tmp_path / "list_attr_celeba.txt"
    path.write_bytes(b"\xef\xbb\xbf" + _clean("attr_txt").replace(b"\n", b"\r\n"))
    table = read_attr_file(path)
    assert table.names[0] == "000001.jpg" and table.labels.shape == (N_ROWS, 40)


# ----------------------------------------------------------------------------- LFWA .mat files


def _lfwa_variant(root: Path, which: str, variant: dict) -> None:
    """Rewrite one of LFWA's two .mat files of the fixture at ``root`` from ``variant``."""
    import h5py
    from conftest import _mat73_userblock, _write_cellstr, lfwa_content

    path = root / ("lfw_att_40.mat" if which == "attr" else "indices_train_test.mat")
    if variant.get("garbage") is not None:
        data = bytearray(path.read_bytes())
        for pos, val in variant["garbage"]:
            data[pos % len(data)] = val
        path.write_bytes(bytes(data[: variant.get("cut") or len(data)]))
        return
    names, labels, train, test, _ = lfwa_content()
    with h5py.File(path, "w", userblock_size=512) as f:
        if which == "attr":
            lab = variant["label"](labels)
            if lab is not None:
                f.create_dataset("label", data=lab)
            cells = variant["names"](names)
            if isinstance(cells, list):
                _write_cellstr(f, "name", cells)
            elif cells is not None:
                f.create_dataset("name", data=cells)
        else:
            for key, vec in (("indices_img_train", train), ("indices_img_test", test)):
                v = variant[key](vec)
                if v is not None:
                    f.create_dataset(key, data=v)
    _mat73_userblock(path)


_LABELS = [
        lambda y: y.T, lambda y: y, lambda y: None, lambda y: y.T[:39], lambda y: y[:5].T,
        lambda y: np.full((40, 24), np.nan), lambda y: y.T * 3, lambda y: y.T.astype(np.int8),
        lambda y: np.zeros((0,)), lambda y: np.zeros((2, 40, 24)), lambda y: b"label",
    lambda y: np.array(["a", "b"], dtype="S1"), lambda y: y.T - 0.5, lambda y: -y.T,
]
_NAMES = [
        lambda n: n, lambda n: None, lambda n: n[:3], lambda n: n + ["extra\\x.jpg"],
        lambda n: np.arange(24.0), lambda n: [""] * 24, lambda n: ["\u00e9" * 300] * 24,
    lambda n: np.array([b"x"] * 24), lambda n: [s.replace("\\", "/") for s in n],
]
_INDICES = [
        lambda v: v.astype(np.float64).reshape(1, -1), lambda v: None,
        lambda v: (v - 1).astype(np.float64), lambda v: v + 0.5, lambda v: v * 100,
        lambda v: -v, lambda v: np.array([np.nan]), lambda v: np.zeros((0,)),
        lambda v: np.array([b"1"]), lambda v: np.concatenate([v, v]).astype(np.float64),
    lambda v: v.astype(np.int64).reshape(-1, 1), lambda v: np.array([1e30]),
]


@st.composite
def lfwa_variant(draw, which: str) -> dict:
    if draw(st.integers(0, 1)) == 0:  # a damaged file: random bytes and maybe cut short
        return {"garbage": draw(st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                         min_size=1, max_size=8)),
                "cut": draw(st.one_of(st.none(), st.integers(0, 4000)))}
    pools = (_LABELS, _NAMES) if which == "attr" else (_INDICES, _INDICES)
    return {"structured": tuple(draw(st.integers(0, len(p) - 1)) for p in pools)}


_BUILT: dict[tuple, bytes] = {}  # structured variants are few: write each HDF5 file once


def _structured_bytes(root: Path, which: str, key: tuple[int, int]) -> bytes:
    name = "lfw_att_40.mat" if which == "attr" else "indices_train_test.mat"
    if (which, key) not in _BUILT:
        if which == "attr":
            variant = {"label": _LABELS[key[0]], "names": _NAMES[key[1]]}
        else:
            variant = {"indices_img_train": _INDICES[key[0]], "indices_img_test": _INDICES[key[1]]}
        _lfwa_variant(root, which, variant)
        _BUILT[which, key] = (root / name).read_bytes()
    return _BUILT[which, key]


@pytest.mark.parametrize("which", ["attr", "split"])
def test_malformed_lfwa_mat_files_raise_only_our_errors(which: str, tmp_path: Path) -> None:
    from conftest import write_lfwa

    from mggnet_lite.data.lfwa import read_lfwa_labels, read_lfwa_split

    root = write_lfwa(tmp_path / "lfwa")
    name = "lfw_att_40.mat" if which == "attr" else "indices_train_test.mat"
    template = (root / name).read_bytes()

    outcomes: list[str] = []

    @MANY
    @given(lfwa_variant(which))
    def check(variant: dict) -> None:
        if "structured" in variant:
            (root / name).write_bytes(_structured_bytes(root, which, variant["structured"]))
        else:
            (root / name).write_bytes(template)
            _lfwa_variant(root, which, variant)
        try:
            if which == "attr":
                names, labels, _ = read_lfwa_labels(root / name)
            else:
                train, test = read_lfwa_split(root / name, 24)
        except OURS as err:
            assert name in str(err), str(err)
            outcomes.append(type(err).__name__)
            return
        outcomes.append("accepted")  # then what was read is well-formed
        if which == "attr":
            assert labels.dtype == np.uint8 and labels.shape == (len(names), 40)
            assert set(np.unique(labels).tolist()) <= {0, 1}
        else:
            both = np.concatenate([train, test])
            assert both.min(initial=0) >= 0 and both.max(initial=0) < 24
            assert len(np.intersect1d(train, test)) == 0

    check()
    _require_refusals(outcomes, 0.25)
