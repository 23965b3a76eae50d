"""Checkpoint safety (DESIGN Sec. 8; issue 4, acceptance 4): atomic writes, weights_only loads,
loud version / config mismatches, and a NaN loss that stops the run without losing last.pt."""

from __future__ import annotations

import argparse
import errno
import json
import math
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from _train_helpers import REPO, TINY_SETS, env, synth_root

import mggnet_lite.training.run as run_mod
import mggnet_lite.training.train as train_mod
from mggnet_lite import __version__
from mggnet_lite.training.checkpoint import (
    CheckpointError,
    atomic_save,
    check_config,
    load_checkpoint,
    make_checkpoint,
)
from mggnet_lite.training.config import make_config
from mggnet_lite.training.evaluate import cli_main, configure_parser


class _Evil:
    """Unpickling this calls open(marker, "w"): creates the marker file if code runs."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def data() -> Path:
    return synth_root()


def tiny_config(**sets):
    return make_config(
        "quick",
        sets=[
            *TINY_SETS,
            "epochs_at_lr=1",
            "epochs_at_low_lr=1",
            "variant=baseline",
            *(f"{k}={v}" for k, v in sets.items()),
        ],
    )


def test_atomic_save_keeps_old_file_when_pickling_fails(tmp_path):
    path = tmp_path / "last.pt"
    atomic_save({"a": torch.arange(3)}, path)
    with pytest.raises(
        (pickle.PicklingError, AttributeError, TypeError)
    ):  # a lambda cannot be pickled: the save fails before a byte is written
        atomic_save({"a": torch.zeros(3), "bad": lambda: 0}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind


#: a child that saves a 4 MB checkpoint over ``argv[1]`` while the kernel refuses any write past
#: 64 KiB of a file (``ulimit -f``): the write itself fails midway, whatever file it goes to
WRITE_PAST_LIMIT = textwrap.dedent("""
    import resource, signal, sys
    import torch
    from mggnet_lite.training.checkpoint import atomic_save
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write returns EFBIG instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE,
                       (65536, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    try:
        atomic_save({"a": torch.zeros(1_000_000)}, sys.argv[1])
    except OSError as err:
        print("REFUSED", type(err).__name__, err.errno, err, flush=True)
    else:
        print("WROTE", flush=True)
""")


def test_atomic_save_keeps_old_file_when_the_write_fails_midway(tmp_path):
    path = tmp_path / "last.pt"
    atomic_save({"a": torch.arange(3)}, path)
    old = path.read_bytes()
    assert len(old) < 65536  # the old file fits under the limit; the new one (4 MB) does not
    proc = subprocess.run([sys.executable, "-c", WRITE_PAST_LIMIT, str(path)],
                          capture_output=True, text=True, env=env(), cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("REFUSED "), proc.stdout
    _, kind, code = proc.stdout.split()[:3]
    assert int(code) == errno.EFBIG, proc.stdout  # the save failed while writing its bytes
    assert path.read_bytes() == old, "the old checkpoint was overwritten by a partial one"
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temp file left behind
    # reported as the file size limit, naming the target
    assert kind == "DiskFullError" and str(path) in proc.stdout and "ulimit -f" in proc.stdout


def test_code_in_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save(make_checkpoint({}, model={}, payload=_Evil(marker)), path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_checkpoint(path)
    assert not marker.exists()
    # the same file through the evaluate command: refused with exit code 2, nothing runs
    p = argparse.ArgumentParser()
    configure_parser(p)
    assert cli_main(p.parse_args([str(path), "--data", str(tmp_path)])) == 2
    assert not marker.exists()


def test_other_version_is_refused_with_both_versions(tmp_path):
    path = tmp_path / "old.pt"
    ckpt = make_checkpoint({"lr": 0.01}, model={})
    ckpt["mggnet_lite"] = "0.0.1"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert "mggnet_lite version" in str(err.value)
    assert f"ours='{__version__}'" in str(err.value) and "checkpoint='0.0.1'" in str(err.value)


def test_not_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save({"w": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not an mggnet-lite training checkpoint"):
        load_checkpoint(path)


def test_config_diff_lists_each_key():
    ckpt = make_checkpoint({"lr": 0.01, "batch_size": 144, "seed": 0})
    with pytest.raises(CheckpointError) as err:
        check_config(ckpt, {"lr": 0.02, "batch_size": 144, "seed": 1}, "x.pt")
    msg = str(err.value)
    assert "2 differences" in msg
    assert "lr: ours=0.02  checkpoint=0.01" in msg and "seed: ours=1  checkpoint=0" in msg
    assert "batch_size" not in msg


def test_resume_with_other_config_is_refused(tmp_path, data):
    out = tmp_path / "run"
    train_mod.train(tiny_config(epochs_at_low_lr=0), out, data, progress=False)
    before = (out / "last.pt").read_bytes()
    with pytest.raises(CheckpointError) as err:
        train_mod.train(
            tiny_config(epochs_at_low_lr=0, lr=0.1), out, data, resume=True, progress=False
        )
    assert "lr: ours=0.1  checkpoint=0.05" in str(err.value)
    with pytest.raises(FileExistsError, match="--resume"):  # no silent overwrite either
        train_mod.train(tiny_config(epochs_at_low_lr=0), out, data, progress=False)
    assert (out / "last.pt").read_bytes() == before


def test_nan_loss_stops_run_and_keeps_last_good_checkpoint(tmp_path, data, monkeypatch):
    cfg = tiny_config()
    real_loss = run_mod.mggnet_loss
    calls = {"n": 0}
    bad_call = 22  # global step 22: in epoch 2 (19 steps per epoch at 77 images / batch 4)

    def poisoned(out, targets, pos_weight=None):
        loss = real_loss(out, targets, pos_weight)
        calls["n"] += 1
        return loss * math.nan if calls["n"] == bad_call + 1 else loss

    monkeypatch.setattr(run_mod, "mggnet_loss", poisoned)  # the loss setup_run gives the run
    out = tmp_path / "run"
    with pytest.raises(train_mod.NonFiniteLossError) as err:
        train_mod.train(cfg, out, data, progress=False)
    ckpt = load_checkpoint(out / "last.pt")
    steps_per_epoch = ckpt["steps_per_epoch"]
    e, s = divmod(bad_call, steps_per_epoch)
    assert e == 1, "the NaN must land after the first epoch checkpoint"
    assert f"epoch {e + 1}, step {s} (global step {bad_call}" in str(err.value)
    assert ckpt["position"] == {"epoch": 1, "step": 0, "global_step": steps_per_epoch}
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert not (out / "results.json").exists()
    # the kept checkpoint resumes cleanly once the loss is healthy again
    monkeypatch.setattr(run_mod, "mggnet_loss", real_loss)
    res = train_mod.train(cfg, out, data, resume=True, progress=False)
    assert [h["epoch"] for h in res.history] == [1, 2]
    assert json.loads((out / "results.json").read_text())["data"]["name"] == "SynthFaces"
