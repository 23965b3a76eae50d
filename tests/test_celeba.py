"""CelebA reader: torchvision agreement, the three layouts, and every bad-input message (issue 3)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mggnet_lite.attributes import CELEBA_ATTRIBUTES
from mggnet_lite.data import CelebA, DatasetFormatError, DatasetNotFoundError
from mggnet_lite.data.celeba import read_attr_file, read_partition_file

SPLITS = ("train", "valid", "test", "all")


def _pixels(img) -> np.ndarray:
    return np.asarray(img.convert("RGB"))


@pytest.mark.parametrize("split", SPLITS)
def test_agrees_with_torchvision(tmp_path, make_celeba, monkeypatch, split):
    import torchvision.datasets as tv_datasets

    root = make_celeba(tmp_path, n=30, layout="torchvision")
    # our files are fabricated, so torchvision's md5 check would fail; bypass only that
    monkeypatch.setattr(tv_datasets.CelebA, "_check_integrity", lambda self: True)
    ref = tv_datasets.CelebA(str(root), split=split, target_type="attr", download=False)
    ours = CelebA(root, split=split)
    assert ours.layout == "torchvision"
    assert ours.filenames == list(ref.filename)
    assert ours.attr.dtype == torch.long and torch.equal(ours.attr, ref.attr)
    assert len(ours) == len(ref)
    for i in (0, len(ref) - 1):
        (img_a, t_a), (img_b, t_b) = ours[i], ref[i]
        assert img_a.mode == "RGB" and img_a.size == (178, 218)
        assert np.array_equal(_pixels(img_a), _pixels(img_b))
        assert torch.equal(t_a, t_b) and t_a.shape == (40,)


def test_three_layouts_identical(tmp_path, make_celeba):
    roots = {
        lay: make_celeba(tmp_path / lay, n=30, layout=lay)
        for lay in ("original", "torchvision", "kaggle")
    }
    sizes = {}
    for split in SPLITS:
        sets = {lay: CelebA(r, split) for lay, r in roots.items()}
        assert {d.layout for d in sets.values()} == set(roots)
        a = sets["original"]
        sizes[split] = len(a)
        for d in sets.values():
            assert d.filenames == a.filenames
            assert torch.equal(d.attr, a.attr)
            assert d.attr_names == list(CELEBA_ATTRIBUTES)
            assert np.array_equal(_pixels(d[0][0]), _pixels(a[0][0]))
    assert sizes["train"] + sizes["valid"] + sizes["test"] == sizes["all"] == 30
    assert min(sizes["train"], sizes["valid"], sizes["test"]) > 0


def test_item_interface_and_env_var(celeba_root, monkeypatch):
    ds = CelebA(
        celeba_root, "valid", transform=lambda im: im.size, target_transform=lambda t: t.sum()
    )
    img, target = ds[0]
    assert img == (178, 218) and int(target) == int(ds.attr[0].sum())
    assert ds.root == (celeba_root / "img_align_celeba").resolve()
    assert set(np.unique(ds.attr.numpy())) <= {0, 1}
    monkeypatch.setenv("MGGNET_DATA", str(celeba_root))
    assert CelebA(None, "valid").filenames == ds.filenames
    with pytest.raises(ValueError, match="split"):
        CelebA(celeba_root, "validation")


# ----------------------------------------------------------------------------- errors


def _edit_line(path: Path, lineno: int, fn) -> None:
    lines = path.read_text().splitlines()
    lines[lineno - 1] = fn(lines[lineno - 1])
    path.write_text("\n".join(lines) + "\n")


def test_missing_root_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("MGGNET_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError) as e:
        CelebA(tmp_path / "nowhere")
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg and "MGGNET_DATA" in msg and "mmlab" in msg.lower()
    with pytest.raises(DatasetNotFoundError, match="MGGNET_DATA"):
        CelebA(None)
    monkeypatch.setenv("MGGNET_DATA", str(tmp_path / "gone"))
    with pytest.raises(DatasetNotFoundError, match=r"gone.*MGGNET_DATA"):
        CelebA()


def test_empty_folder_lists_every_layout(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        CelebA(tmp_path)
    msg = str(e.value)
    for rel in ("list_attr_celeba.txt", "celeba/list_attr_celeba.txt", "list_attr_celeba.csv",
                "img_align_celeba/img_align_celeba", "list_eval_partition.txt"):  # fmt: skip
        assert str(tmp_path / rel) in msg, rel
    for hint in ("Align&Cropped Images", "Anno", "download=True", "Kaggle", "MGGNET_DATA"):
        assert hint in msg, hint
    assert isinstance(e.value, FileNotFoundError)


def test_missing_label_file(celeba_root):
    (celeba_root / "list_attr_celeba.txt").unlink()
    with pytest.raises(DatasetNotFoundError) as e:
        CelebA(celeba_root)
    msg = str(e.value)
    assert "no label file" in msg and str(celeba_root / "list_attr_celeba.txt") in msg
    assert "Anno" in msg


def test_missing_partition_file(celeba_root):
    (celeba_root / "list_eval_partition.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="list_eval_partition.txt"):
        CelebA(celeba_root)


def test_wrong_field_count_names_line(celeba_root):
    f = celeba_root / "list_attr_celeba.txt"
    _edit_line(f, 7, lambda s: s.rsplit(" ", 1)[0])  # drop the last value of image 5
    with pytest.raises(DatasetFormatError) as e:
        CelebA(celeba_root)
    msg = str(e.value)
    assert f"{f} line 7" in msg and "expected 41 fields" in msg and "found 40" in msg
    assert "000005.jpg" in msg and "re-download" in msg


def test_blank_line_in_the_middle(celeba_root):
    f = celeba_root / "list_attr_celeba.txt"
    _edit_line(f, 10, lambda s: "")
    with pytest.raises(DatasetFormatError, match=r"line 10: expected 41 fields.*found 0"):
        CelebA(celeba_root)


@pytest.mark.parametrize("layout", ["original", "kaggle"])
def test_label_not_pm1_names_line_and_attribute(tmp_path, make_celeba, layout):
    root = make_celeba(tmp_path, n=30, layout=layout)
    if layout == "original":
        f, lineno, sep = root / "list_attr_celeba.txt", 9, " "
    else:
        f, lineno, sep = root / "list_attr_celeba.csv", 8, ","

    def set_col3(line: str) -> str:  # value 4 = Bald is field index 5 (1-based)
        fields = line.split() if sep == " " else line.split(",")
        fields[5] = "0"
        return sep.join(fields)

    _edit_line(f, lineno, set_col3)
    with pytest.raises(DatasetFormatError) as e:
        CelebA(root)
    msg = str(e.value)
    assert f"{f} line {lineno}, column 6 (Bald)" in msg and "'0' is not -1 or 1" in msg


def test_count_line_disagrees(celeba_root):
    f = celeba_root / "list_attr_celeba.txt"
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:-1]) + "\n")  # truncated: 29 label lines, header says 30
    with pytest.raises(DatasetFormatError, match=r"line 1 says 30 images but the file has 29"):
        CelebA(celeba_root)


def test_wrong_attribute_header(celeba_root):
    f = celeba_root / "list_attr_celeba.txt"
    _edit_line(f, 2, lambda s: s.replace("Bald", "Bold"))
    with pytest.raises(
        DatasetFormatError, match=r"line 2: attribute column 5 is 'Bold', expected 'Bald'"
    ):
        CelebA(celeba_root)


def test_missing_image_named_at_construction_and_load(celeba_root):
    ds_all = CelebA(celeba_root, "all")
    victim = ds_all.filenames[4]
    (celeba_root / "img_align_celeba" / victim).unlink()
    with pytest.raises(DatasetNotFoundError) as e:
        CelebA(celeba_root, "all")
    msg = str(e.value)
    assert victim in msg and "line 7" in msg and "unzip" in msg
    lazy = CelebA(celeba_root, "all", check_files=False)
    with pytest.raises(DatasetNotFoundError, match=rf"{victim}.*list_attr_celeba.txt line 7"):
        lazy[4]


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_jpeg_named_at_load(celeba_root, damage):
    ds = CelebA(celeba_root, "all")
    path = ds.image_path(2)
    data = path.read_bytes()
    path.write_bytes(b"not a jpeg at all" if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(DatasetFormatError) as e:
        ds[2]
    msg = str(e.value)
    assert str(path) in msg and "line 5" in msg and "skip_corrupt" in msg
    ds[3]  # the others still load


@pytest.mark.parametrize(
    "edit, expect",
    [
        (
            "swap",
            r"line 4 disagrees.*has '000005.jpg' where list_attr_celeba.txt line 6 has '000004.jpg'",
        ),
        ("drop", r"line 30 disagrees.*ends after 29 images.*'000030.jpg' \(line 32\)"),
        ("extra", r"line 31 disagrees.*lists '000031.jpg' beyond the 30 images"),
    ],
)
def test_partition_disagrees_with_labels(celeba_root, edit, expect):
    f = celeba_root / "list_eval_partition.txt"
    lines = f.read_text().splitlines()
    if edit == "swap":
        lines[3], lines[4] = lines[4], lines[3]
    elif edit == "drop":
        lines = lines[:-1]
    else:
        lines.append("000031.jpg 0")
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=expect):
        CelebA(celeba_root)


def test_partition_bad_value(celeba_root):
    f = celeba_root / "list_eval_partition.txt"
    _edit_line(f, 3, lambda s: s.split()[0] + " 3")
    with pytest.raises(DatasetFormatError, match=r"list_eval_partition.txt line 3: partition '3'"):
        CelebA(celeba_root)


def _big_label_file(path: Path, n: int) -> np.ndarray:
    """Write a real-format label file of n lines fast (fixed-width rows built with numpy)."""
    rng = np.random.default_rng(0)
    vals = rng.integers(0, 2, (n, 40))
    width = 10 + 40 * 3 + 1
    rows = np.full((n, width), ord(" "), np.uint8)
    digits = (np.arange(1, n + 1)[:, None] // 10 ** np.arange(5, -1, -1)) % 10
    rows[:, :6] = ord("0") + digits
    rows[:, 6:10] = np.frombuffer(b".jpg", np.uint8)
    cols = 10 + 3 * np.arange(40)
    rows[:, cols + 1] = np.where(vals == 1, ord(" "), ord("-"))
    rows[:, cols + 2] = ord("1")
    rows[:, -1] = ord("\n")
    head = f"{n}\n{' '.join(CELEBA_ATTRIBUTES)} \n".encode()
    path.write_bytes(head + rows.tobytes())
    return vals


def test_full_size_label_file_parses_fast(tmp_path):
    n = 202_599
    f = tmp_path / "list_attr_celeba.txt"
    vals = _big_label_file(f, n)
    p = tmp_path / "list_eval_partition.txt"
    split = np.repeat([0, 1, 2], [162_770, 19_867, 19_962])
    p.write_text("".join(f"{i + 1:06d}.jpg {s}\n" for i, s in enumerate(split.tolist())))
    t0 = time.perf_counter()
    table = read_attr_file(f)
    part = read_partition_file(p, table)
    took = time.perf_counter() - t0
    assert table.labels.shape == (n, 40) and np.array_equal(table.labels, vals)
    assert table.names[0] == "000001.jpg" and table.names[-1] == "202599.jpg"
    assert np.bincount(part).tolist() == [162_770, 19_867, 19_962]
    print(f"parsed {n} label lines + partition in {took:.2f} s")
    # the target is < 2 s, so a chapter never waits on the labels; allow slack for a loaded
    # 2-core CI machine
    assert took < 6.0
