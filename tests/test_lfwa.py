"""LFWA reader on a fabricated MMLab release in the real MATLAB v7.3 (HDF5) structure (issue 3)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from mggnet_lite.attributes import CELEBA_ATTRIBUTES
from mggnet_lite.data import LFWA, DatasetFormatError, DatasetNotFoundError


def _expected(truth, split: str):
    names, labels, train, test, _ = truth["lfwa"]()
    rows = {"train": train - 1, "test": test - 1, "all": np.arange(len(names))}[split]
    return [names[i].replace("\\", "/") for i in rows], labels[rows].astype(np.int64)


@pytest.mark.parametrize("split", ["train", "test", "all"])
def test_reads_release(lfwa_root, fixture_truth, split):
    ds = LFWA(lfwa_root, split)
    names, labels = _expected(fixture_truth, split)
    assert len(ds) == {"train": 10, "test": 14, "all": 24}[split]
    assert ds.filenames == names and all("\\" not in f for f in ds.filenames)
    assert ds.attr.dtype == torch.long and torch.equal(ds.attr, torch.from_numpy(labels))
    assert ds.attr_names == list(CELEBA_ATTRIBUTES)
    assert ds.source_attr_names == list(CELEBA_ATTRIBUTES)
    img, target = ds[0]
    assert img.mode == "RGB" and img.size == (250, 250)
    assert torch.equal(target, ds.attr[0])
    assert ds.root == (lfwa_root / "lfw").resolve()


def test_untransposed_labels_column_cells_and_pm1(tmp_path, make_lfwa):
    a = LFWA(make_lfwa(tmp_path / "a"), "all")
    b = LFWA(make_lfwa(tmp_path / "b", transposed=False, column_cells=True), "all")
    assert a.filenames == b.filenames and torch.equal(a.attr, b.attr)
    with h5py.File(tmp_path / "b" / "lfw_att_40.mat", "r+") as f:  # some copies use -1/1
        f["label"][...] = f["label"][()] * 2 - 1
    assert torch.equal(LFWA(tmp_path / "b", "all").attr, a.attr)


def test_found_via_env_and_subfolder(tmp_path, make_lfwa, monkeypatch):
    make_lfwa(tmp_path / "lfwa")
    monkeypatch.setenv("MGGNET_DATA", str(tmp_path))
    assert len(LFWA(None, "train")) == 10


def test_not_found_message(tmp_path, monkeypatch):
    monkeypatch.delenv("MGGNET_DATA", raising=False)
    with pytest.raises(DatasetNotFoundError) as e:
        LFWA(tmp_path)
    msg = str(e.value)
    for part in ("lfw_att_40.mat", "indices_train_test.mat", str(tmp_path / "lfwa"), "mmlab",
                 "vis-www.cs.umass.edu/lfw", "MGGNET_DATA"):  # fmt: skip
        assert part in msg, part
    with pytest.raises(DatasetNotFoundError, match="nowhere"):
        LFWA(tmp_path / "nowhere")


def test_missing_pieces(lfwa_root):
    (lfwa_root / "indices_train_test.mat").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"indices_train_test.mat is missing"):
        LFWA(lfwa_root)


def test_missing_image_folder_and_image(tmp_path, make_lfwa):
    root = make_lfwa(tmp_path / "r")
    victim = root / "lfw" / "Zico" / "Zico_0001.jpg"
    victim.unlink()
    with pytest.raises(DatasetNotFoundError) as e:
        LFWA(root, "all")
    assert str(victim) in str(e.value) and "lfw_att_40.mat name{5}" in str(e.value)
    lazy = LFWA(root, "all", check_files=False)
    with pytest.raises(DatasetNotFoundError, match="Zico_0001.jpg"):
        lazy[lazy.filenames.index("Zico/Zico_0001.jpg")]
    (root / "lfw").rename(root / "elsewhere")
    with pytest.raises(DatasetNotFoundError, match=r"not the LFW image folder"):
        LFWA(root)
    assert len(LFWA(root, "all", images=root / "elsewhere", check_files=False)) == 24


def test_bad_label_value_names_entry(lfwa_root):
    with h5py.File(lfwa_root / "lfw_att_40.mat", "r+") as f:
        lab = f["label"][()]  # (40, N)
        lab[4, 6] = 2  # image 7, attribute 5 (Bald)
        f["label"][...] = lab
    with pytest.raises(DatasetFormatError, match=r"label\(7,5\) .*Abel_Pacheco_0002.*Bald.* is 2"):
        LFWA(lfwa_root)


def test_bad_index_names_entry(lfwa_root):
    with h5py.File(lfwa_root / "indices_train_test.mat", "r+") as f:
        v = f["indices_img_test"][()]
        v[0, 3] = 0  # MATLAB indices start at 1
        f["indices_img_test"][...] = v
    with pytest.raises(
        DatasetFormatError, match=r"indices_img_test\(4\) = 0 is not a 1-based index"
    ):
        LFWA(lfwa_root)


def test_overlapping_split(lfwa_root):
    with h5py.File(lfwa_root / "indices_train_test.mat", "r+") as f:
        v = f["indices_img_test"][()]
        v[0, 0] = f["indices_img_train"][0, 0]
        f["indices_img_test"][...] = v
    with pytest.raises(DatasetFormatError, match="in both indices_img_train and indices_img_test"):
        LFWA(lfwa_root)


def test_missing_entry_and_not_hdf5(lfwa_root):
    with h5py.File(lfwa_root / "lfw_att_40.mat", "r+") as f:
        del f["name"]
    with pytest.raises(DatasetFormatError, match=r"entry 'name' is missing"):
        LFWA(lfwa_root)
    (lfwa_root / "lfw_att_40.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 200)
    with pytest.raises(DatasetFormatError, match=r"lfw_att_40.mat"):
        LFWA(lfwa_root)
