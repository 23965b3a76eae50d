"""``python -m mggnet_lite`` starts worker processes itself (issue [1/4], item 1): a CLI training
in the quick profile on a SynthFaces folder without a cache builds the cache with the default
workers (all cores, started by ``forkserver``, which re-imports the entry point) and trains."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _train_helpers import env


@pytest.mark.slow
def test_cli_training_on_a_folder_without_a_cache_uses_worker_processes(tmp_path: Path) -> None:
    e = {k: v for k, v in env().items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    py = [sys.executable, "-m", "mggnet_lite"]
    synth = subprocess.run([*py, "synth", "--out", "data/s", "--n", "600", "--seed", "5",
                            "--quiet"], cwd=tmp_path, env=e, capture_output=True, text=True,
                           timeout=600)
    assert synth.returncode == 0, synth.stderr
    assert not (tmp_path / "data/s/.mggnet_cache").exists()
    proc = subprocess.run([*py, "train", "--data", "data/s", "--out", "runs/r", "--variant",
                           "baseline", "--epochs", "1", "1", "--no-progress"], cwd=tmp_path,
                          env=e, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "WorkerError" not in proc.stderr
    built = list((tmp_path / "data/s/.mggnet_cache").glob("celeba-*"))
    assert len(built) >= 2, built  # train (stages 1 and 2) and test
    res = json.loads((tmp_path / "runs/r/results.json").read_text())
    assert res["config"]["workers"] is None  # the default: every core
    assert [h["epoch"] for h in res["history"]] == [1, 2]
