"""Decode-once cache (build, reuse, crash safety, corrupt input) and the two loaders (issue 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from mggnet_lite.data import (
    LFWA,
    CachedSplit,
    CelebA,
    DatasetFormatError,
    DatasetNotFoundError,
    build_cache,
    make_loader,
    open_cache,
)
from mggnet_lite.data import cache as cache_mod
from mggnet_lite.data import decode as decode_mod

# PIL rounds its resized image to uint8 and the cache path does not: one grey level is
# 1 / (255 * 0.224) = 0.0175 in normalised units. Measured: max 0.0175, mean 0.0052.
MAX_TOL, MEAN_TOL = 0.02, 0.008


def _decoded(ds, i: int) -> np.ndarray:
    with Image.open(ds.image_path(i)) as im:
        return np.asarray(im.convert("RGB"))


def _complete_files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ----------------------------------------------------------------------------- cache


def test_build_then_reuse(celeba_root, tmp_path):
    ds = CelebA(celeba_root, "all")
    folder = build_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False)
    c = open_cache(ds, cache_dir=tmp_path / "c", build=False)
    assert isinstance(c, CachedSplit) and c.path == folder.resolve()
    assert c.images.shape == (30, 218, 178, 3) and c.images.dtype == np.uint8
    assert c.filenames == ds.filenames and c.attr_names == ds.attr_names
    assert np.array_equal(c.labels, ds.attr.numpy().astype(np.uint8))
    for i in range(len(ds)):
        assert np.array_equal(c.images[i], _decoded(ds, i))
    assert _complete_files(folder) == ["filenames.txt", "images.u8", "labels.npy", "manifest.json"]
    man = json.loads((folder / "manifest.json").read_text())
    assert man["shape"] == [30, 218, 178, 3] and man["skipped"] == []

    stamp = (folder / "images.u8").stat().st_mtime_ns
    assert build_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False) == folder
    assert (folder / "images.u8").stat().st_mtime_ns == stamp  # reused, not rebuilt
    # the cache folder can be opened directly too (e.g. copied to another machine)
    assert open_cache(folder).filenames == ds.filenames

    # a changed source (an image rewritten) invalidates it
    p = ds.image_path(3)
    Image.fromarray(np.zeros((218, 178, 3), np.uint8)).save(p, "JPEG")
    with pytest.raises(DatasetNotFoundError, match="out of date"):
        open_cache(CelebA(celeba_root, "all"), cache_dir=tmp_path / "c", build=False)
    c2 = open_cache(CelebA(celeba_root, "all"), cache_dir=tmp_path / "c", workers=1, progress=False)
    assert c2.images[3].max() < 10


def test_default_cache_dir_env_and_split(celeba_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MGGNET_CACHE", raising=False)
    folder = build_cache(celeba_root, "valid", workers=1, progress=False)
    assert folder.parent == celeba_root.resolve() / ".mggnet_cache"
    assert folder.name.startswith("celeba-valid-")
    monkeypatch.setenv("MGGNET_CACHE", str(tmp_path / "envcache"))
    assert (
        build_cache(celeba_root, "valid", workers=1, progress=False).parent == tmp_path / "envcache"
    )


def test_parallel_build_matches_serial(celeba_root, tmp_path):
    ds = CelebA(celeba_root, "all")
    a = open_cache(ds, cache_dir=tmp_path / "serial", workers=1, progress=False)
    b = open_cache(ds, cache_dir=tmp_path / "pool", workers=2, progress=False)
    assert b.manifest["workers"] == 2
    assert np.array_equal(np.asarray(a.images), np.asarray(b.images))


def test_interrupted_rebuild_keeps_the_previous_cache_and_leaves_no_partial_file(
    celeba_root, tmp_path, monkeypatch
):
    # Issue [4/5] changed this: an interrupted (or full-disk) rebuild used to invalidate the
    # previous cache first; now the previous cache stays usable until the new one is complete.
    ds = CelebA(celeba_root, "all")
    good = build_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False)
    before = {f: (good / f).read_bytes() for f in _complete_files(good)}
    calls = {"n": 0}
    real = decode_mod._decode_chunk

    def dying(task):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build
        return real(task)

    monkeypatch.setattr(decode_mod, "_decode_chunk", dying)
    with pytest.raises(KeyboardInterrupt):
        build_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False, force=True)
    left = _complete_files(good)
    assert not any(f.endswith((".partial", ".tmp")) for f in left)
    assert {f: (good / f).read_bytes() for f in left} == before
    assert len(open_cache(ds, cache_dir=tmp_path / "c", build=False)) == 30
    assert len(cache_mod.load_cache(good)) == 30
    monkeypatch.undo()
    assert len(open_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False)) == 30


def test_a_build_that_never_finished_is_not_taken_as_complete(celeba_root, tmp_path,
                                                             monkeypatch):
    ds = CelebA(celeba_root, "all")
    real = decode_mod._decode_chunk
    calls = {"n": 0}

    def dying(task):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(decode_mod, "_decode_chunk", dying)
    with pytest.raises(KeyboardInterrupt):
        build_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False)
    folder = cache_mod.cache_folder(ds, tmp_path / "c")
    left = _complete_files(folder)
    assert "manifest.json" not in left and not any(f.endswith((".partial", ".tmp")) for f in left)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        open_cache(ds, cache_dir=tmp_path / "c", build=False)
    with pytest.raises(DatasetNotFoundError, match="not a complete"):
        cache_mod.load_cache(folder)


def test_corrupt_jpeg_fails_or_is_skipped(celeba_root, tmp_path, capsys):
    ds = CelebA(celeba_root, "all")
    bad = ds.image_path(7)
    bad.write_bytes(bad.read_bytes()[:500])  # truncated download
    with pytest.raises(DatasetFormatError) as e:
        build_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert (
        str(bad) in str(e.value) and "line 10" in str(e.value) and "--skip-corrupt" in str(e.value)
    )
    folder = cache_mod.cache_folder(ds, tmp_path / "c")
    assert "manifest.json" not in _complete_files(folder)
    assert not any(f.endswith(".partial") for f in _complete_files(folder))

    c = open_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False, skip_corrupt=True)
    assert len(c) == 29 and ds.filenames[7] not in c.filenames
    assert [s["file"] for s in c.manifest["skipped"]] == [ds.filenames[7]]
    assert ds.filenames[7] in capsys.readouterr().err
    keep = [i for i in range(30) if i != 7]
    for j, i in enumerate(keep):  # rows after the hole moved down, order kept
        assert c.filenames[j] == ds.filenames[i]
        assert np.array_equal(c.images[j], _decoded(ds, i))
        assert np.array_equal(c.labels[j], ds.attr[i].numpy())


def test_size_mismatch_and_missing_image(celeba_root, tmp_path):
    ds = CelebA(celeba_root, "all")
    Image.new("RGB", (100, 120)).save(ds.image_path(5), "JPEG")
    with pytest.raises(DatasetFormatError, match=r"is 100x120, expected 178x218.*share one size"):
        build_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False)
    ds.image_path(5).unlink()
    lazy = CelebA(celeba_root, "all", check_files=False)
    with pytest.raises(DatasetNotFoundError, match=rf"{ds.filenames[5]}.*line 8"):
        build_cache(lazy, cache_dir=tmp_path / "c", workers=1, progress=False)
    assert "manifest.json" not in _complete_files(cache_mod.cache_folder(ds, tmp_path / "c"))


def test_cli(celeba_root, tmp_path, capsys):
    from mggnet_lite.cli import main

    rc = main(["cache", "--data", str(celeba_root), "--split", "valid", "test",
               "--cache-dir", str(tmp_path / "c"), "--workers", "1", "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0 and "valid:" in out and "test:" in out
    assert main(["cache", "--data", str(tmp_path / "none"), "--no-progress"]) == 1
    assert "does not exist" in capsys.readouterr().err


# ----------------------------------------------------------------------------- loaders


def _all_batches(loader):
    return [(x.clone(), y.clone()) for x, y in loader]


@pytest.mark.parametrize("image_size, train", [(224, False), (224, True), (128, False)])
def test_pil_and_cache_paths_agree(celeba_root, tmp_path, image_size, train):
    ds = CelebA(celeba_root, "all")
    c = open_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False)
    kw = dict(batch_size=8, image_size=image_size, train=train, seed=3)
    a = make_loader(ds, path="pil", **kw)
    b = make_loader(c, path="cache", **kw)
    assert len(a) == len(b) == (3 if train else 4)
    diffs = []
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        assert xa.shape == xb.shape == (xa.shape[0], 3, image_size, image_size)
        assert xa.dtype == xb.dtype == ya.dtype == torch.float32 and ya.shape[1] == 40
        assert torch.equal(ya, yb)
        diffs.append((xa - xb).abs())
    d = torch.cat([t.flatten() for t in diffs])
    assert d.max() < MAX_TOL and d.mean() < MEAN_TOL, (d.max(), d.mean())


@pytest.mark.parametrize("image_size", [64, 224])
def test_a_split_resized_once_gives_the_per_batch_floats_bit_for_bit(
        celeba_root, tmp_path, image_size, monkeypatch):
    # from its second pass on, the CPU cache path resizes a small split once
    # (loader.PRESIZE_BYTES): the batches, flips included, are the very floats of resizing each
    # batch (218 x 178 -> 64 shrinks, -> 224 grows)
    from mggnet_lite.data import loader as loader_mod

    c = open_cache(celeba_root, "all", cache_dir=tmp_path / "c", workers=1, progress=False)
    kw = dict(batch_size=7, image_size=image_size, train=True, seed=5, path="cache")
    loader_mod.release_device_cache()
    once = make_loader(c, **kw)
    first = _all_batches(once)  # a first pass (one evaluation, one look) resizes each batch
    assert once._resized is None
    second = _all_batches(once)  # the same epoch again, from the split resized once
    assert once._resized is not None and once._resized.shape == (30, 3) + (image_size,) * 2
    assert all(torch.equal(xa, xb) for (xa, _), (xb, _) in zip(first, second, strict=True))
    monkeypatch.setattr(loader_mod, "PRESIZE_BYTES", 30 * 3 * image_size**2 * 4 - 1)
    per_batch = make_loader(c, **kw)
    for epoch in (1, 2, 3):
        once.set_epoch(epoch)
        per_batch.set_epoch(epoch)
        assert any(f.any() for _, f in once.batches())
        a, b = _all_batches(once), _all_batches(per_batch)
        assert per_batch._resized is None  # one byte over the limit: resized batch by batch
        for (xa, ya), (xb, yb) in zip(a, b, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_lfwa_downscale_agrees(lfwa_root, tmp_path):
    ds = LFWA(lfwa_root, "all")
    c = open_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False)
    a = make_loader(ds, batch_size=12, train=False, path="pil")
    b = make_loader(c, batch_size=12, train=False, path="cache")
    d = torch.cat([(xa - xb).abs().flatten() for (xa, _), (xb, _) in zip(a, b, strict=True)])
    assert d.max() < MAX_TOL and d.mean() < MEAN_TOL, (d.max(), d.mean())


def test_flip_and_normalisation(celeba_root, tmp_path):
    c = open_cache(celeba_root, "all", cache_dir=tmp_path / "c", workers=1, progress=False)
    plain = make_loader(c, batch_size=30, image_size=64, train=False, path="cache")
    flipped = make_loader(c, batch_size=30, image_size=64, train=False, flip=True, path="cache")
    (x0, _), (x1, _) = next(iter(plain)), next(iter(flipped))
    flips = flipped.batches()[0][1]
    assert 0 < flips.sum() < 30
    assert torch.allclose(x1[flips], x0[flips].flip(3), atol=1e-5)
    assert torch.equal(x1[~flips], x0[~flips])
    # normalised with ImageNet statistics: a mid-grey pixel maps near (0.5 - mean) / std
    cl = make_loader(c, batch_size=4, image_size=32, train=False, path="cache",
                     memory_format=torch.channels_last)  # fmt: skip
    x, _ = next(iter(cl))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert -2.2 < x.min() and x.max() < 2.7


@pytest.mark.parametrize("path", ["pil", "cache"])
def test_set_epoch_and_start_at(celeba_root, tmp_path, path, monkeypatch):
    ds = CelebA(celeba_root, "all")
    src = (
        ds if path == "pil" else open_cache(ds, cache_dir=tmp_path / "c", workers=1, progress=False)
    )
    loader = make_loader(src, batch_size=4, image_size=32, train=True, seed=7, path=path)
    assert len(loader) == 7 and loader.num_samples == 28
    e0 = [i.tolist() for i, _ in loader.batches()]
    loader.set_epoch(1)
    e1 = [i.tolist() for i, _ in loader.batches()]
    assert e0 != e1 and len(set(sum(e0, []))) == 28  # shuffled, last 2 dropped
    again = make_loader(src, batch_size=4, image_size=32, train=True, seed=7, path=path)
    again.set_epoch(1)
    assert [i.tolist() for i, _ in again.batches()] == e1
    other = make_loader(ds, batch_size=4, image_size=32, train=True, seed=7, path="pil")
    other.set_epoch(1)
    assert [(i.tolist(), f.tolist()) for i, f in other.batches()] == [
        (i.tolist(), f.tolist()) for i, f in again.batches()
    ]  # same order and flips for both paths

    full = _all_batches(loader)
    if path == "pil":  # skipped batches are never decoded
        seen = []
        real = CelebA.load_image
        monkeypatch.setattr(CelebA, "load_image", lambda self, i: seen.append(i) or real(self, i))
    loader.start_at(5)
    tail = _all_batches(loader)
    assert len(tail) == 2
    for (xa, ya), (xb, yb) in zip(full[5:], tail, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    if path == "pil":
        assert sorted(seen) == sorted(sum([i.tolist() for i, _ in loader.batches()[5:]], []))
    assert len(_all_batches(loader)) == 7  # the offset applies to one pass only
    with pytest.raises(ValueError):
        loader.start_at(8)


def test_ddp_shards(celeba_root, tmp_path):
    c = open_cache(celeba_root, "all", cache_dir=tmp_path / "c", workers=1, progress=False)
    ws = 4
    # evaluation: no padding, every sample exactly once over all ranks
    ev = [
        make_loader(c, batch_size=3, train=False, rank=r, world_size=ws, path="cache")
        for r in range(ws)
    ]
    got = sorted(i for ld in ev for idx, _ in ld.batches() for i in idx.tolist())
    assert got == list(range(30)) and sum(ld.num_samples for ld in ev) == 30
    # training: padded to equal shards, disjoint apart from the padding, covering everything
    tr = [make_loader(c, batch_size=2, train=True, drop_last=False, rank=r, world_size=ws,
                      path="cache", seed=1) for r in range(ws)]  # fmt: skip
    assert len({len(ld) for ld in tr}) == 1 and {ld.num_samples for ld in tr} == {8}
    idx = [i for ld in tr for b, _ in ld.batches() for i in b.tolist()]
    assert len(idx) == 32 and set(idx) == set(range(30))
    # flips belong to positions of the global order: independent of the world size
    solo = make_loader(c, batch_size=32, train=True, drop_last=False, path="cache", seed=1)
    order, flips = solo.plan.epoch(0)
    for r, ld in enumerate(tr):
        i, f = ld.plan.epoch(0)
        assert torch.equal(i, torch.cat([order, order[:2]])[r::ws])
        assert torch.equal(f, torch.cat([flips, flips[:2]])[r::ws])
    with pytest.raises(ValueError):
        make_loader(c, batch_size=2, rank=4, world_size=4, path="cache")
