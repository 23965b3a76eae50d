"""One owner per decision of the training path (issue [1/4], items 2, 3 and 5): stage 1's own
settings and reuse list, the run folder and its lock, a complete ``Run``, the feature stamp,
the options a frozen stage refuses, and what a checkpoint of a run says about itself."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _train_helpers import REPO, TINY_SETS, env, synth_root

from mggnet_lite.files import FolderBusyError, FolderLock
from mggnet_lite.training.checkpoint import CheckpointError, read_run
from mggnet_lite.training.config import make_config, pretrain_config
from mggnet_lite.training.folder import RunFolder


def _quick(**sets):
    """The quick profile shrunk to seconds: 32 px, 2 steps per epoch, one thread."""
    small = {"image_size": 32, "max_steps_per_epoch": 2, "threads": 1, "synth_n": 300}
    cfg = make_config("quick", sets={**small, **sets})
    cfg.pretrain = {**cfg.pretrain, "epochs_at_lr": 1, "epochs_at_low_lr": 0}
    return cfg


# ----------------------------------------------------------------------------- stage 1


def test_stage_one_takes_none_of_stage_twos_settings() -> None:
    base = pretrain_config(make_config("quick"))
    other = pretrain_config(make_config("quick", sets={
        "seed": 7, "max_pos_weight": 5.0, "criterion": "balanced", "variant": "gal",
        "taps": ("block3",), "lr": 0.5, "batch_size": 64, "epochs_at_lr": 3}))
    assert other.to_dict() == base.to_dict()
    assert (base.variant, base.optimizer, base.batch_size, base.seed) == ("baseline", "sgd", 32, 0)
    # what stage 1 does take from the config: the data and the trunk
    moved = pretrain_config(make_config("quick", sets={"synth_n": 999, "image_size": 48}))
    assert (moved.synth_n, moved.image_size) == (999, 48)


def test_a_finished_stage_one_is_reused_only_by_its_own_settings_and_data(tmp_path) -> None:
    from mggnet_lite.training.train import ensure_pretrained

    data, folder = synth_root(300), tmp_path / "pretrain"
    weights = ensure_pretrained(_quick(), folder, data, progress=False)
    before = Path(weights).read_bytes()
    # the same settings (but for how it is computed): reused, not trained again
    assert ensure_pretrained(_quick(seed=3, workers=0), folder, data, progress=False) == weights
    assert Path(weights).read_bytes() == before
    # other SynthFaces settings: refused loudly (RESUME_FREE would have let them through)
    with pytest.raises(CheckpointError, match="synth_seed") as err:
        ensure_pretrained(_quick(synth_seed=1), folder, data, progress=False)
    assert f"delete {folder}" in str(err.value)
    # other data: refused, naming both folders
    with pytest.raises(CheckpointError, match="trained on the data in"):
        ensure_pretrained(_quick(), folder, synth_root(), progress=False)
    assert Path(weights).read_bytes() == before


def test_an_unfinished_stage_one_is_resumed_under_the_lock(tmp_path, capsys) -> None:
    from mggnet_lite.training.train import ensure_pretrained

    data, folder = synth_root(300), tmp_path / "pretrain"
    weights = ensure_pretrained(_quick(), folder, data, progress=False)
    (folder / "results.json").unlink()  # as if killed after its last checkpoint
    capsys.readouterr()
    assert ensure_pretrained(_quick(), folder, data, progress=False) == weights
    out = capsys.readouterr().out
    assert "resuming the pretrained backbone" in out and "training the pretrained" not in out
    assert RunFolder(folder).finished()


# ----------------------------------------------------------------------------- run folder


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_folder_lock_is_reentrant_within_a_thread_and_leaks_nothing(tmp_path) -> None:
    path = tmp_path / ".lock"
    fds = _open_fds()
    a, b = FolderLock(path), FolderLock(path)
    a.acquire(wait=False)
    a.acquire(wait=False)  # the same object again: one level deeper, not "busy by myself"
    b.acquire(wait=False)  # another object on the same file, same thread: deeper still
    assert _open_fds() == fds + 1 and path.read_text().strip() == str(os.getpid())
    probe = [sys.executable, "-c", "from mggnet_lite.files import FolderLock\n"
             f"FolderLock({str(path)!r}).acquire(wait=False)"]
    for release in (b.release, a.release):
        release()
        held = subprocess.run(probe, capture_output=True, text=True, env=env())
        assert held.returncode != 0 and "FolderBusyError" in held.stderr  # still held
    a.release()
    assert _open_fds() == fds
    assert subprocess.run(probe, capture_output=True, env=env()).returncode == 0  # free now
    a.release()  # a release too many is a no-op


def _holder(folder: Path) -> subprocess.Popen:
    """Another process that holds ``folder``'s run lock until it is killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom mggnet_lite.training.folder import RunFolder\n"
         f"RunFolder({str(folder)!r}).lock().acquire(wait=False)\nprint('held', flush=True)\n"
         "time.sleep(120)"], stdout=subprocess.PIPE, text=True, env=env())
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_trainer_is_refused_through_an_abbreviated_flag(tmp_path) -> None:
    """``--ou`` is argparse's abbreviation of ``--out``: the refusal goes through the trainer's
    own parser and its RunFolder lock, not through a re-spelling of the flag."""
    out = tmp_path / "run"
    holder = _holder(out)
    try:
        proc = subprocess.run([sys.executable, "-m", "mggnet_lite", "train", "--data",
                               str(synth_root()), "--ou", str(out)], capture_output=True,
                              text=True, env=env(), cwd=REPO, timeout=300)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2, proc.stderr
    assert f"pid {holder.pid}" in proc.stderr and str(out) in proc.stderr
    assert not (out / "pretrain").exists()  # refused before any work


def test_setup_run_returns_a_complete_run_that_reports_without_fit(tmp_path) -> None:
    from mggnet_lite.training.run import Run, setup_run
    from mggnet_lite.training.train import report

    cfg = make_config("quick", sets=[*TINY_SETS, "epochs_at_lr=1", "epochs_at_low_lr=0"])
    run = setup_run(cfg, tmp_path / "run", synth_root(), progress=False)
    missing = [f.name for f in dataclasses.fields(Run) if not hasattr(run, f.name)]
    assert not missing, missing
    assert run.steps_per_epoch == len(run.train_loader)
    result = report(run)  # no fit: evaluates the untrained model, times say so
    assert result.report["time_s"]["train"] == 0.0 and result.report["n"] > 0


# ----------------------------------------------------------------------------- frozen stage


def test_a_frozen_stage_refuses_the_options_it_would_ignore() -> None:
    for key in ("compile", "flip"):
        with pytest.raises(ValueError, match=f"{key}=True with freeze_backbone=True"):
            make_config("quick", sets={key: True})
    make_config("quick", sets={"freeze_backbone": False, "flip": True, "compile": True})


def test_features_are_stamped_with_their_input_pipeline(tmp_path, capsys) -> None:
    from mggnet_lite.data import CelebA, make_loader
    from mggnet_lite.nn import build_backbone
    from mggnet_lite.training.features import cached_features

    data = synth_root()
    weights = tmp_path / "pre" / "last.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"stand-in checkpoint")  # the stamp reads its size and mtime only
    backbone = build_backbone("resnet18", ("block3",), None, width=8).eval()
    split = CelebA(data, "test")

    def features(path: str) -> dict[str, torch.Tensor]:
        loader = make_loader(split, batch_size=16, image_size=32, train=False, path=path)
        return cached_features(backbone, loader, weights=weights, data=data, split="test",
                               image_size=32, taps=("block3",), device=torch.device("cpu"),
                               show=True)

    cache = features("cache")
    assert "computing" in capsys.readouterr().out
    assert torch.equal(features("cache")["block3"], cache["block3"])
    assert "computing" not in capsys.readouterr().out  # same pipeline: read back
    pil = features("pil")
    assert "computing" in capsys.readouterr().out  # another pipeline: computed again
    assert not torch.equal(pil["block3"], cache["block3"])  # and they differ


# ----------------------------------------------------------------------------- a run's story


def test_an_epoch_checkpoint_does_not_carry_the_final_results(tmp_path) -> None:
    from mggnet_lite.training.train import train

    cfg = make_config("quick", sets=[*TINY_SETS, "epochs_at_lr=1", "epochs_at_low_lr=1",
                                     "max_steps_per_epoch=2", "keep_epoch_checkpoints=true"])
    train(cfg, tmp_path / "run", synth_root(), progress=False)
    assert read_run(tmp_path / "run")["results"]["n"] > 0
    assert read_run(tmp_path / "run" / "last.pt")["results"] is not None
    early = read_run(tmp_path / "run" / "epoch_01.pt")
    assert early["results"] is None and early["data"]["name"] == "SynthFaces"


def test_the_trainers_default_data_lives_in_the_user_cache_not_in_mggnet_cache(
        tmp_path, monkeypatch) -> None:
    from mggnet_lite.training.run import data_location

    monkeypatch.delenv("MGGNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("MGGNET_CACHE", str(tmp_path / "decoded"))  # the decoded caches only
    root = data_location(None, make_config("quick"))
    assert root.parent == tmp_path / "xdg" / "mggnet_lite", root


def test_folder_busy_is_refused_at_once(tmp_path) -> None:
    rf = RunFolder(tmp_path / "run")
    holder = _holder(rf.path)
    try:
        assert f"pid {holder.pid}" in rf.busy()
        with pytest.raises(FolderBusyError):
            rf.lock().acquire(wait=False)
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10
    while rf.busy() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rf.busy() is None
