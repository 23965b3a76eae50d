"""Training through the CLI (issue 4): config precedence, run folder contents, labelled tables,
and kill-and-resume ending bitwise equal to an uninterrupted run (acceptance 2, 6)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from _train_helpers import COMPILE_SETS, env, run, synth_root, train_cmd

from mggnet_lite.training.config import PAPER_SCHEDULES, TrainConfig, make_config
from mggnet_lite.training.evaluate import format_tables

TIMING_KEYS = {"seconds", "images_per_s"}


@pytest.fixture(scope="module")
def data() -> Path:
    return synth_root()


# ----------------------------------------------------------------------------- config


def test_defaults_are_the_papers_protocol():
    cfg = TrainConfig()
    assert (cfg.batch_size, cfg.lr, cfg.low_lr, cfg.image_size) == (144, 0.01, 0.001, 224)
    assert (cfg.epochs_at_lr, cfg.epochs_at_low_lr, cfg.flip) == (9, 5, True)
    assert [cfg.lr_at(e) for e in (0, 8, 9, 13)] == [0.01, 0.01, 0.001, 0.001]


@pytest.mark.parametrize("task", sorted(PAPER_SCHEDULES))
def test_full_profile_takes_the_papers_schedule(task):
    cfg = make_config("full", overrides={"dataset": task[0], "criterion": task[1]})
    assert (cfg.epochs_at_lr, cfg.epochs_at_low_lr) == PAPER_SCHEDULES[task]
    assert (cfg.amp, cfg.channels_last, cfg.loader) == ("bf16", True, "cache")


def test_precedence_and_errors(monkeypatch):
    monkeypatch.setenv("MGGNET_PROFILE", "quick")
    cfg = make_config(None, overrides={"lr": 0.3, "seed": None}, sets=["lr=0.2", "seed=7"])
    assert (cfg.profile, cfg.lr, cfg.seed, cfg.weights) == ("quick", 0.2, 7, None)
    with pytest.raises(ValueError, match="unknown setting 'lrr'"):
        make_config("quick", sets=["lrr=1"])
    with pytest.raises(ValueError, match="criterion='weighted'"):
        make_config("quick", sets=["criterion=weighted"])
    monkeypatch.setenv("MGGNET_PROFILE", "fast")
    with pytest.raises(ValueError, match="MGGNET_PROFILE"):
        make_config(None)


# ----------------------------------------------------------------------------- tables


def _fake_report(name: str, synthetic: bool) -> dict:
    per = {"Smiling": {"accuracy": 90.0, "balanced_accuracy": 88.0, "positive_rate": 48.0}}
    return {
        "data": {"name": name, "synthetic": synthetic},
        "split": "test",
        "n": 100,
        "variant": "mggnet",
        "backbone": "resnet18",
        "criterion": "prediction",
        "mean_accuracy": 91.5,
        "mean_balanced_accuracy": 80.0,
        "per_attribute": per,
        "majority_class": {"mean_accuracy": 80.0},
        "flip_tta": None,
    }


def test_celeba_row_goes_in_celeba_column_synthfaces_row_never_does():
    celeba = format_tables(_fake_report("CelebA", False))
    row = next(line for line in celeba.splitlines() if line.strip().startswith("this run"))
    assert row.split()[-1] == "-" and "91.50" in row  # CelebA column set, LFWA column empty
    synth = format_tables(_fake_report("SynthFaces", True))
    assert "NOT CelebA/LFWA" in synth and "Not comparable" in synth
    assert "SynthFaces (%)" in synth
    for line in synth.splitlines():  # our number never sits under a CelebA (%) header row
        if "91.50" in line:
            assert "this run" in line or "SynthFaces" in line


# ----------------------------------------------------------------------------- CLI


def test_cli_train_then_evaluate(tmp_path, data):
    out = tmp_path / "run"
    proc = run(train_cmd(data, out, "--variant", "baseline", "--epochs", "1", "0"))
    assert proc.returncode == 0, proc.stderr
    assert "SynthFaces test (synthetic, NOT CelebA/LFWA)" in proc.stdout
    assert "majority class" in proc.stdout
    for name in ("config.json", "metrics.jsonl", "last.pt", "results.json"):
        assert (out / name).is_file(), name
    res = json.loads((out / "results.json").read_text())
    assert res["data"]["name"] == "SynthFaces" and res["data"]["synthetic"] is True
    assert res["data"]["seed"] == 0 and res["data"]["generator_version"]
    assert set(res["data"]["split_sizes"]) >= {"train", "test"}
    assert "not comparable" in res["note"]
    assert len(res["per_attribute"]) == 40
    # the majority baseline and n, recomputed from the label files themselves
    train_y, test_y = _labels_by_split(data, "0"), _labels_by_split(data, "2")
    assert res["split"] == "test" and res["n"] == len(test_y) == res["data"]["split_sizes"]["test"]
    majority = (train_y == 1).mean(0) >= 0.5  # each attribute's majority class on train
    expect = 100 * ((test_y == 1) == majority).mean()
    assert res["majority_class"]["mean_accuracy"] == pytest.approx(expect, rel=1e-9)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert res["machine"]["cpu_cores"] == cores and res["versions"]["torch"] == torch.__version__
    assert {"setup", "train", "evaluate"} <= set(res["time_s"])

    ev = run([*train_cmd(data, out)[:3], "evaluate", str(out), "--flip-tta"])
    assert ev.returncode == 0, ev.stderr
    assert "flip TTA (not in paper)" in ev.stdout and "NOT CelebA" in ev.stdout
    rep = json.loads((out / "eval_test_flip.json").read_text())
    assert rep["mean_accuracy"] == pytest.approx(res["mean_accuracy"])  # same pixels, weights
    assert rep["flip_tta"] is not None and rep["data"]["name"] == "SynthFaces"


def _labels_by_split(root: Path, split: str) -> np.ndarray:
    """(n, 40) labels in {-1, 1} of the images of ``split`` ("0" train, "1" valid, "2" test),
    read straight from CelebA's two text files (no package code)."""
    lines = (root / "list_eval_partition.txt").read_text().splitlines()
    part = dict(line.split() for line in lines)
    rows = (root / "list_attr_celeba.txt").read_text().splitlines()[2:]
    return np.array([[int(v) for v in row.split()[1:]] for row in rows
                     if part[row.split()[0]] == split])


def _strip(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["eager", "compiled"])
def test_sigterm_mid_epoch_then_resume_equals_uninterrupted(tmp_path, data, compiled):
    # compiled: the step's forward and Eq. 5 compiled (issue [4/4], item 2), at test_compile's
    # settings (batch 8: the same graph, read from inductor's cache after its first compile)
    args = ["--variant", "mggnet", "--epochs", "1", "1", *(["--compile"] if compiled else [])]
    sets = COMPILE_SETS if compiled else None
    ref = tmp_path / "ref"
    proc = run(train_cmd(data, ref, *args, sets=sets))
    assert proc.returncode == 0, proc.stderr
    assert json.loads((ref / "config.json").read_text())["config"]["compile"] is compiled
    assert ("torch.compile (default)" in proc.stderr) is compiled, proc.stderr

    # same run, SIGTERM part-way through epoch 2
    out = tmp_path / "cut"
    child = subprocess.Popen(
        train_cmd(data, out, *args, sets=sets),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 240
    while child.poll() is None and time.time() < deadline:
        if metrics.is_file() and metrics.read_text().strip():
            break
        time.sleep(0.05)
    assert child.poll() is None, "the run ended before the first epoch was logged"
    epoch_s = _lines(ref / "metrics.jsonl")[1]["seconds"]  # the first also compiles
    time.sleep(0.35 * epoch_s)  # about a third into epoch 2
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=240)
    assert child.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err and "--resume" in err

    cut = torch.load(out / "last.pt", weights_only=True)
    steps = cut["steps_per_epoch"]
    assert cut["position"]["epoch"] == 1 and 0 < cut["position"]["step"] < steps, cut["position"]
    assert not (out / "results.json").exists()

    proc = run(train_cmd(data, out, *args, "--resume", sets=sets))
    assert proc.returncode == 0, proc.stderr

    a = torch.load(ref / "last.pt", weights_only=True)
    b = torch.load(out / "last.pt", weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k  # bitwise
    for sa, sb in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    assert a["position"] == b["position"]
    assert _strip(_lines(ref / "metrics.jsonl")) == _strip(_lines(out / "metrics.jsonl"))
    ra = json.loads((ref / "results.json").read_text())
    rb = json.loads((out / "results.json").read_text())
    assert rb["time_s"]["resumed"] is True
    for key in ("mean_accuracy", "mean_balanced_accuracy", "per_attribute", "n"):
        assert ra[key] == rb[key], key


def test_float_output_casts_bf16_logits_for_the_loss():
    from mggnet_lite import build_model, mggnet_loss
    from mggnet_lite.training.step import float_output

    torch.manual_seed(0)
    model = build_model("mggnet", "resnet18", None).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 3, 32, 32))
    assert out.base_logits.dtype == torch.bfloat16
    f = float_output(out)
    assert all(
        z.dtype == torch.float32
        for z in [f.base_logits, *f.fused_logits, *f.gal_logits.values(), *f.gcl_logits.values()]
    )
    y = torch.randint(0, 2, (2, 40)).float()
    assert mggnet_loss(f, y).dtype == torch.float32


def test_balanced_criterion_and_val_split_in_process(tmp_path, data):
    from _train_helpers import TINY_SETS

    from mggnet_lite.training.train import train

    cfg = make_config(
        "quick",
        sets=[*TINY_SETS, "criterion=balanced", "variant=gal", "epochs_at_lr=1",
              "epochs_at_low_lr=0", "max_steps_per_epoch=2", "val_split=valid"],
    )  # fmt: skip
    res = train(cfg, tmp_path / "run", data, progress=False)
    (row,) = res.history
    assert row["steps"] == 2 and "valid_mean_balanced_accuracy" in row
    assert res.report["criterion"] == "balanced" and res.report["variant"] == "gal"
