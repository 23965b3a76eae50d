"""The one GPU script (``benchmarks/h200_run.sh``, issue [4/4] item 4), run end to end on the
CPU exactly as its header says (``N=1000 DEVICE=cpu EPOCHS=1``), and its H200 estimate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import h200_report  # noqa: E402

STAGES = ("generation", "cache_build", "training", "evaluation")


def test_the_estimate_for_the_h200_is_within_its_budget() -> None:
    est = h200_report.estimate(202599, 14)
    assert set(h200_report.STAGES) <= set(est)
    assert est["total"] == pytest.approx(sum(est[k] for k in h200_report.STAGES))
    assert est["total"] < h200_report.BUDGET_S, est  # 9 minutes
    assert est["ops_now"] < h200_report.OPS_THEN  # it rests on the op cut (op_count.py)
    assert est["training_worst"] > est["training"]  # and says what it would be without it


@pytest.mark.slow
def test_the_script_runs_end_to_end_on_the_cpu(tmp_path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "N": "1000", "DEVICE": "cpu", "EPOCHS": "1", "OUTDIR": str(out),
           "WORK": str(tmp_path / "work"), "PY": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "h200_run.sh")], env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.index("estimate for one H200") < done.stdout.index("generation:")
    report = json.loads((out / "h200_run.json").read_text())
    assert {"machine", "versions", "data", "stage_seconds", "train", "throughput"} <= set(report)
    assert "gpu" in report["machine"]
    assert {"python", "torch", "torchvision"} <= set(report["versions"])
    assert report["data"]["n"] == 1000
    for stage in STAGES:
        assert report["stage_seconds"][stage] > 0, stage
    train = report["train"]
    assert train["epochs"] == 1 and len(train["history"]) == 1 and train["images_per_s"] > 0
    assert 0 < train["test"]["mean_accuracy"] <= 100
    assert 0 < train["test"]["mean_balanced_accuracy"] <= 100
    for pipeline in ("plain", "ours"):
        for variant in ("baseline", "mggnet"):
            assert report["throughput"][pipeline][variant] > 0, (pipeline, variant)


def test_a_failed_stage_still_leaves_the_report(tmp_path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "N": "-5", "DEVICE": "cpu", "EPOCHS": "1", "OUTDIR": str(out),
           "WORK": str(tmp_path / "work"), "PY": sys.executable}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "h200_run.sh")], env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0
    assert "generation FAILED" in done.stdout
    report = json.loads((out / "h200_run.json").read_text())
    assert report["stage_seconds"]["generation"] is None


def test_on_cuda_it_trains_at_512_on_the_scaled_schedule(tmp_path) -> None:
    """The H200 defaults (issue [4/4], item 3): ours at batch 512 with Sec. 4.1's lrs scaled by
    512 / 144, the plain pipeline at the paper's 144. Read from the script's first line, which
    it prints before any stage (N=-5 then stops it at the first stage, on any machine)."""
    env = {**os.environ, "N": "-5", "DEVICE": "cuda", "OUTDIR": str(tmp_path / "out"),
           "WORK": str(tmp_path / "work"), "PY": sys.executable}
    env = {k: v for k, v in env.items() if k not in ("BATCH", "PLAIN_BATCH", "SCHEDULE")}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "h200_run.sh")], env=env,
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0 and "generation FAILED" in done.stdout
    assert "224 px, batch 512 (scaled schedule; plain pipeline: batch 144)" in done.stdout
