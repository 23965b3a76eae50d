"""``benchmarks/layouts.py`` as typed (issue [2/4], target 5: the layout levers' step times)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_layouts_benchmark_runs_and_writes_its_json(tmp_path) -> None:
    out = tmp_path / "layouts.json"
    done = subprocess.run([sys.executable, "benchmarks/layouts.py", "--rounds", "1", "--steps",
                           "1", "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    r = json.loads(out.read_text())
    assert r["kind"] == "layouts" and r["machine"]["cpu_cores"] >= 1
    assert set(r["results"]) == {"gcl", "stage1", "features"}
    assert set(r["results"]["gcl"]) == {"f_first", "w_g_first"}
    for alts in r["results"].values():
        for v in alts.values():
            assert len(v["ms"]) == 1 and v["median_ms"] > 0
    errors = r["stage1_gradient_relative_error"]
    assert set(errors) == {"nchw", "channels_last", "nchw_bf16_autocast"}
    assert 0 < errors["nchw"] < 1e-4  # fp32 against float64: rounding only
    assert errors["nchw"] < errors["nchw_bf16_autocast"] and errors["channels_last"] > 0
