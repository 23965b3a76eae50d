"""Batch 512 with the paper's lr scaled linearly from 0.01 at batch 144, after a short warm-up
(``TrainConfig(schedule="scaled")``; issue [4/4], item 3), and the benchmark that compares it
with batch 144 (``benchmarks/large_batch.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mggnet_lite import paper
from mggnet_lite.training.config import SCALED_WARMUP, TrainConfig
from mggnet_lite.training.train import config_from_args, configure_parser

ROOT = Path(__file__).resolve().parents[1]


def test_scaled_lr_follows_the_batch_after_a_linear_warm_up() -> None:
    cfg = TrainConfig(batch_size=512, schedule="scaled", epochs_at_lr=3, epochs_at_low_lr=1)
    cfg.validate()
    k, spe = 512 / paper.BATCH_SIZE, 32
    total = cfg.epochs * spe
    warm = [cfg.lr_at(s // spe, s % spe, spe) for s in range(int(SCALED_WARMUP * total) + 1)]
    assert warm[0] == pytest.approx(paper.LR)  # starts at the batch-144 lr
    assert all(a < b for a, b in zip(warm, warm[1:], strict=False))  # rises linearly
    assert cfg.lr_at(1, 0, spe) == pytest.approx(k * paper.LR)  # 0.0356 at 512
    assert cfg.lr_at(3, 5, spe) == pytest.approx(k * paper.LOW_LR)  # Sec. 4.1's second stage
    same = TrainConfig(batch_size=144, schedule="scaled").validate()  # k = 1: Sec. 4.1 itself
    step = TrainConfig(batch_size=144, schedule="step").validate()
    for epoch in range(step.epochs):
        for s in (0, 7):
            assert same.lr_at(epoch, s, 10) == pytest.approx(step.lr_at(epoch, s, 10))


def test_the_command_line_takes_batch_and_schedule(tmp_path) -> None:
    import argparse

    p = argparse.ArgumentParser()
    configure_parser(p)
    args = p.parse_args(["--out", str(tmp_path / "run"), "--profile", "full", "--batch", "512",
                         "--schedule", "scaled", "--weights", "none"])
    cfg = config_from_args(args)
    assert (cfg.batch_size, cfg.schedule) == (512, "scaled")
    with pytest.raises(SystemExit):
        p.parse_args(["--out", "x", "--schedule", "linear"])


@pytest.mark.slow
def test_large_batch_benchmark_writes_its_comparison(tmp_path) -> None:
    from _train_helpers import env, synth_root

    data = synth_root(n=640)  # 512 training images: one batch of 512
    out = tmp_path / "large_batch.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "large_batch.py"), "--data", str(data),
         "--epochs", "1", "0", "--max-steps", "1", "--out", str(out)],
        capture_output=True, text=True, cwd=tmp_path, env=env())
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert set(result["runs"]) == {"144", "512"}
    assert result["runs"]["144"]["config"]["schedule"] == "step"
    assert result["runs"]["512"]["config"]["schedule"] == "scaled"
    assert result["runs"]["512"]["lr"] == [pytest.approx(paper.LR * 512 / 144)]
    d = result["difference_512_minus_144"]
    assert d["lo"] <= d["points"] <= d["hi"]
    runs = result["runs"]  # each run's own score is the package's (metrics.AttributeMetrics)
    assert runs["512"]["mean_accuracy"] - runs["144"]["mean_accuracy"] == pytest.approx(
        d["points"], abs=1e-6)
    assert result["within_tolerance"] == (abs(d["points"]) <= result["tolerance_points"])
    assert "512 - 144" in done.stdout


def test_committed_comparison_is_what_was_measured() -> None:
    """The newest committed run of benchmarks/large_batch.py (book's SynthFaces, CPU, from
    random weights): its verdict follows from its own numbers. 2026-12-03, 3 + 1 epochs: batch
    512, scaled, 1.56 points [1.42, 1.69] under batch 144 (128 steps against 452), issue
    [4/4]'s bar not met; 2026-12-04, the paper's 9 + 5 epochs: 0.22 points [0.12, 0.32] under,
    within the bar at the point estimate (benchmarks/README.md, "Batch 512")."""
    files = sorted((ROOT / "benchmarks" / "results").glob("large_batch_*.json"))
    assert files, "run python benchmarks/large_batch.py and commit its JSON"
    result = json.loads(files[-1].read_text())
    runs = result["runs"]
    assert runs["144"]["config"]["batch_size"] == 144 and runs["512"]["config"]["batch_size"] == 512
    for key in ("epochs_at_lr", "epochs_at_low_lr", "seed", "width", "image_size"):
        assert runs["144"]["config"][key] == runs["512"]["config"][key], key
    assert runs["512"]["lr"][0] == pytest.approx(runs["144"]["lr"][0] * 512 / 144)
    diff = runs["512"]["mean_accuracy"] - runs["144"]["mean_accuracy"]
    d = result["difference_512_minus_144"]
    assert diff == pytest.approx(d["points"], abs=1e-6) and d["lo"] <= diff <= d["hi"]
    assert result["within_tolerance"] == (abs(diff) <= result["tolerance_points"] == 0.3)
