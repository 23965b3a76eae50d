"""The throughput benchmark in CI size on CPU (issue 4, acceptance 5): both pipelines, both
variants, the ratio printed, and a JSON with the machine, versions, sizes and rates."""

from __future__ import annotations

import json
import sys

from _train_helpers import REPO, run, synth_root

from mggnet_lite.training.bench import machine_slug


def test_throughput_script_ci_size(tmp_path):
    data = synth_root()  # the shared test set (96 images); --ci sets 32 px, batch 16, 3 steps
    out = tmp_path / "bench.json"
    proc = run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "throughput.py"),
            "--ci",
            "--data",
            str(data),
            "--threads",
            "1",
            "--plain-batch-size",  # the paper's batch for plain, ours at its own (h200_run.sh)
            "8",
            "--out",
            str(out),
        ]
    )
    assert proc.returncode == 0, proc.stderr
    assert "ours/plain" in proc.stdout
    for v in ("baseline", "mggnet"):
        assert f"plain {v:>9}" in proc.stdout and f"ours  {v:>9}" in proc.stdout
    res = json.loads(out.read_text())
    t = res["throughput"]
    assert set(t) == {"plain", "ours"}
    for pipe in ("plain", "ours"):
        assert set(t[pipe]) == {"baseline", "mggnet"}
        assert all(r > 0 for r in t[pipe].values())
    assert res["ratio_ours_over_plain"]["mggnet"] == t["ours"]["mggnet"] / t["plain"]["mggnet"]
    assert res["machine"]["name"] and res["machine"]["cpu_cores"] >= 1
    assert res["sizes"] == {
        "n_images": 96,
        "image_size": 32,
        "batch_size": 16,
        "plain_batch_size": 8,
        "steps": 3,
        "warmup_steps": 1,
        "workers": 0,
        "backbone": "resnet18",
    }
    assert res["data"]["name"] == "SynthFaces" and res["versions"]["mggnet_lite"]
    assert res["detail"]["plain"]["baseline"]["images"] == 3 * 8
    assert res["detail"]["ours"]["mggnet"]["images"] == 3 * 16


def test_machine_slug_names_the_machine():
    assert (
        machine_slug({"cpu": "Intel(R) Xeon(R) Processor", "cpu_cores": 2, "device": "cpu"})
        == "cpu-intel-xeon-2cores"
    )
    assert (
        machine_slug({"gpu": "NVIDIA H200", "device": "cuda:0", "cpu": "x", "cpu_cores": 16})
        == "gpu-nvidia-h200"
    )


def test_without_data_it_renders_its_set_into_the_user_cache(tmp_path):
    """No ``--data``: ``--n`` SynthFaces images rendered into the user cache (the trainer's
    default root), then measured."""
    import os
    import subprocess

    from _train_helpers import env

    e = dict(env(), XDG_CACHE_HOME=str(tmp_path / "cache"))
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "mggnet_lite", "bench", "--ci", "--n", "40",
                           "--variants", "baseline", "--threads", "1", "--out", str(out)],
                          capture_output=True, text=True, env=e, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["sizes"]["n_images"] == 40 and res["data"]["synthesized_for_bench"]
    assert os.path.commonpath([res["data"]["path"], str(tmp_path / "cache")]) == str(
        tmp_path / "cache")
