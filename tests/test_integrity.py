"""What we wrote stays trustworthy: checksummed caches, truncated checkpoints, full disks,
worker processes that cannot start, and images from outside (issue [4/5], items 3, 4, 6, 7).

The full-disk tests use a real small filesystem (a tmpfs of a few MB, mounted as root) where
the machine allows it, and otherwise ``RLIMIT_FSIZE`` in a child process.
"""

from __future__ import annotations

import contextlib
import os
import resource
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mggnet_lite.data import build_cache, open_cache
from mggnet_lite.data.cache import IMAGES, LABELS, NAMES, verify_cache
from mggnet_lite.data.errors import DatasetFormatError, open_rgb
from mggnet_lite.files import DiskFullError, atomic_write_json
from mggnet_lite.parallel import WorkerError, imap_unordered
from mggnet_lite.training.checkpoint import (
    CheckpointError,
    atomic_save,
    load_checkpoint,
    make_checkpoint,
)

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- cache integrity


@pytest.fixture
def cache(celeba_root: Path, tmp_path: Path) -> Path:
    return build_cache(celeba_root, "train", cache_dir=tmp_path / "cache", workers=2,
                       progress=False)


def test_cache_records_checksums_and_verify_passes(cache: Path) -> None:
    man = verify_cache(cache)
    sums = man["sha256"]
    assert set(sums) == {IMAGES, LABELS, NAMES}
    assert len(sums[IMAGES]["sha256"]) >= 1


def test_altered_image_byte_is_found_by_verify_with_the_rebuild_command(
    cache: Path, celeba_root: Path, tmp_path: Path
) -> None:
    with open(cache / IMAGES, "r+b") as fh:
        fh.seek(12345)
        b = fh.read(1)
        fh.seek(12345)
        fh.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(DatasetFormatError) as err:
        verify_cache(cache)
    msg = str(err.value)
    assert str(cache / IMAGES) in msg and "--force" in msg and "python -m mggnet_lite cache" in msg
    r = subprocess.run(
        [sys.executable, "-m", "mggnet_lite", "cache", "--data", str(celeba_root), "--split",
         "train", "--cache-dir", str(tmp_path / "cache"), "--verify"],
        capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 1 and str(cache / IMAGES) in r.stderr


@pytest.mark.parametrize("name", [IMAGES, LABELS, NAMES])
def test_truncated_cache_file_is_refused_on_open(
    cache: Path, celeba_root: Path, tmp_path: Path, name: str
) -> None:
    with open(cache / name, "r+b") as fh:
        fh.truncate(os.path.getsize(cache / name) - 7)
    with pytest.raises(DatasetFormatError) as err:
        open_cache(celeba_root, "train", cache_dir=tmp_path / "cache")
    assert str(cache / name) in str(err.value) and "--force" in str(err.value)


def test_altered_label_file_is_refused_on_open(cache: Path, celeba_root: Path,
                                                tmp_path: Path) -> None:
    raw = bytearray((cache / LABELS).read_bytes())
    raw[-1] ^= 1  # same size, one label flipped
    (cache / LABELS).write_bytes(bytes(raw))
    with pytest.raises(DatasetFormatError, match="altered"):
        open_cache(celeba_root, "train", cache_dir=tmp_path / "cache")


# ----------------------------------------------------------------------------- checkpoints


def test_truncated_checkpoint_is_a_clear_checkpoint_error(tmp_path: Path) -> None:
    path = atomic_save(make_checkpoint({"a": 1}, model={"w": torch.ones(1000)}),
                       tmp_path / "last.pt")
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 3):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated") as err:
            load_checkpoint(path)
        assert str(path) in str(err.value)


# ----------------------------------------------------------------------------- full disk


@contextlib.contextmanager
def small_filesystem(tmp_path: Path, size_kb: int):
    """A real tmpfs of ``size_kb`` KiB (root only); skips when it cannot be mounted."""
    mnt = tmp_path / "small_fs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); "
                    "the RLIMIT_FSIZE test covers this case")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(folder: Path, leave_kb: int) -> None:
    """Fill the filesystem of ``folder`` until about ``leave_kb`` KiB are free."""
    with open(folder / "filler", "wb") as fh:
        with contextlib.suppress(OSError):
            while os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize > leave_kb * 1024:
                fh.write(b"\0" * 4096)
                fh.flush()


def test_checkpoint_and_results_on_a_full_tmpfs_keep_the_previous_file(tmp_path: Path) -> None:
    with small_filesystem(tmp_path, 4096) as fs:
        old = atomic_save(make_checkpoint({}, model={"w": torch.zeros(10)}), fs / "last.pt")
        atomic_write_json(fs / "results.json", {"accuracy": 1})
        _fill(fs, leave_kb=64)
        big = make_checkpoint({}, model={"w": torch.randn(200_000)})  # 800 KB
        with pytest.raises(DiskFullError) as err:
            atomic_save(big, fs / "last.pt")
        msg = str(err.value)
        assert str(fs / "last.pt") in msg and "checkpoint" in msg and "free" in msg
        assert torch.equal(load_checkpoint(old)["model"]["w"], torch.zeros(10))
        with pytest.raises(DiskFullError, match="results"):
            atomic_write_json(fs / "results.json", {"x": "y" * 500_000}, what="the results")
        assert (fs / "results.json").read_text().strip().endswith("}")
        assert sorted(p.name for p in fs.iterdir()) == ["filler", "last.pt", "results.json"]


def test_cache_build_on_a_full_tmpfs_leaves_no_partial_file(tmp_path: Path,
                                                             celeba_root: Path) -> None:
    with small_filesystem(tmp_path, 2048) as fs:
        # the 18 train images of 178x218 need ~2 MB decoded: more than the filesystem holds
        with pytest.raises(OSError) as err:
            build_cache(celeba_root, "train", cache_dir=fs, workers=1, progress=False)
        assert "free" in str(err.value) and str(fs) in str(err.value)
        leftovers = [p for p in fs.rglob("*") if p.is_file() and not p.name.startswith(".")]
        assert leftovers == []


def test_cache_rebuild_that_hits_a_full_disk_keeps_the_previous_cache(
    tmp_path: Path, celeba_root: Path, monkeypatch
) -> None:
    from mggnet_lite.data import cache as cache_mod

    with small_filesystem(tmp_path, 3072) as fs:
        old = build_cache(celeba_root, "train", cache_dir=fs, workers=1, progress=False)
        before = (old / IMAGES).read_bytes()
        _fill(fs, leave_kb=256)
        # skip the up-front free-space check, so the write itself runs out of space
        monkeypatch.setattr(cache_mod, "_check_free_space", lambda *a: None)
        with pytest.raises(DiskFullError) as err:
            build_cache(celeba_root, "train", cache_dir=fs, workers=1, progress=False,
                        force=True)
        msg = str(err.value)
        assert str(old) in msg and "free" in msg and "cache" in msg
        assert not [p for p in old.iterdir() if p.name.endswith((".partial", ".tmp"))]
        assert (old / IMAGES).read_bytes() == before
        assert verify_cache(old)["shape"][0] == 18


def test_synthfaces_render_on_a_full_disk(tmp_path: Path, monkeypatch) -> None:
    from mggnet_lite.data.synthfaces import synthesize, writer

    with small_filesystem(tmp_path, 1024) as fs:
        with pytest.raises(DiskFullError, match="nothing was written"):  # the up-front check
            synthesize(fs / "faces", n=400, workers=1, progress=False)
        assert not (fs / "faces").exists()
        monkeypatch.setattr(writer, "_check_space", lambda *a: None)
        with pytest.raises(DiskFullError) as err:
            synthesize(fs / "faces", n=400, workers=1, progress=False)
        assert str(fs / "faces") in str(err.value) and "free" in str(err.value)
        assert not writer.is_complete(fs / "faces", 400, 0)
        for f in (fs / "faces").rglob("*.*"):  # every file left is complete
            with Image.open(f) as im:
                im.load()


def test_file_size_limit_in_a_child_gives_a_disk_full_error(tmp_path: Path) -> None:
    """The fallback where no filesystem can be mounted: RLIMIT_FSIZE (ulimit -f)."""
    code = textwrap.dedent(f"""
        import resource, torch
        from pathlib import Path
        from mggnet_lite.training.checkpoint import atomic_save, make_checkpoint, load_checkpoint
        from mggnet_lite.files import DiskFullError
        p = Path({str(tmp_path)!r}) / "last.pt"
        atomic_save(make_checkpoint({{}}, model={{"w": torch.zeros(10)}}), p)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        try:
            atomic_save(make_checkpoint({{}}, model={{"w": torch.randn(500_000)}}), p)
        except DiskFullError as e:
            print("DISKFULL", e)
        assert load_checkpoint(p)["model"]["w"].numel() == 10
        print("OLD OK", sorted(x.name for x in p.parent.iterdir()))
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "DISKFULL" in r.stdout and "file size limit" in r.stdout and "last.pt" in r.stdout
    assert "OLD OK ['last.pt']" in r.stdout


# ----------------------------------------------------------------------------- worker processes


def test_unguarded_script_fails_at_once_with_the_fix(tmp_path: Path, celeba_root: Path) -> None:
    script = tmp_path / "my_script.py"
    script.write_text(
        "from mggnet_lite.data import build_cache\n"
        f"build_cache({str(celeba_root)!r}, 'train', cache_dir={str(tmp_path / 'c')!r}, "
        "workers=2, progress=False)\n"
    )
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 60
    assert r.returncode != 0
    assert f"{script} line 2" in r.stderr and 'if __name__ == "__main__":' in r.stderr


def test_guarded_script_builds(tmp_path: Path, celeba_root: Path) -> None:
    script = tmp_path / "ok.py"
    script.write_text(
        "from mggnet_lite.data import build_cache\n"
        "if __name__ == '__main__':\n"
        f"    print(build_cache({str(celeba_root)!r}, 'train', cache_dir={str(tmp_path / 'c')!r},"
        " workers=2, progress=False))\n"
    )
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert verify_cache(Path(r.stdout.strip()))["shape"][0] > 0


def test_a_worker_that_dies_is_an_error_naming_the_job() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from _worker_helpers import die_on_three

        t0 = time.monotonic()
        with pytest.raises(WorkerError, match="the test job") as err:
            list(imap_unordered(die_on_three, range(8), 2, what="the test job"))
        assert time.monotonic() - t0 < 60
        assert "exit codes" in str(err.value)
    finally:
        sys.path.remove(str(Path(__file__).parent))


# ----------------------------------------------------------------------------- images from outside


def _png_header_only(w: int, h: int) -> bytes:
    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(tag + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


def test_outside_images_get_a_message_or_a_proper_rgb(tmp_path: Path) -> None:
    bomb, zero = tmp_path / "bomb.png", tmp_path / "zero.png"
    bomb.write_bytes(_png_header_only(100_000, 100_000))
    zero.write_bytes(_png_header_only(0, 0))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for path in (bomb, zero):
        with pytest.raises(DatasetFormatError) as err:
            open_rgb(path, "list_attr_celeba.txt line 3")
        assert str(path) in str(err.value) and "line 3" in str(err.value)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"refusing a bomb allocated {grown_mb:.0f} MB"
    g16 = tmp_path / "g16.png"
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(g16)
    px = np.asarray(open_rgb(g16))
    assert px.shape == (8, 8, 3) and 120 <= px.min() <= px.max() <= 135  # mid grey, not white
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 12), (0, 255, 255, 0)).save(cmyk)  # red in CMYK
    r, g, b = np.asarray(open_rgb(cmyk)).reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


def test_skip_corrupt_reports_a_bomb_in_an_image_folder(make_celeba, tmp_path: Path) -> None:
    root = make_celeba(tmp_path / "celeba", n=30)
    from mggnet_lite.data import CelebA

    ds = CelebA(root, "train")
    victim = Path(ds.image_files()[2])
    victim.write_bytes(_png_header_only(100_000, 100_000))
    with pytest.raises(DatasetFormatError, match=victim.name):
        build_cache(ds, "train", cache_dir=tmp_path / "c1", workers=1, progress=False)
    folder = build_cache(ds, "train", cache_dir=tmp_path / "c2", workers=1, progress=False,
                         skip_corrupt=True)
    man = verify_cache(folder)
    assert [s["file"] for s in man["skipped"]] == [victim.name]
    assert "exceeds limit" in man["skipped"][0]["error"]
