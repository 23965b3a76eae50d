import json
import subprocess
import sys


def test_help_lists_subcommands():
    proc = subprocess.run([sys.executable, "-m", "mggnet_lite", "--help"], capture_output=True,
                          text=True, check=True)
    for sub in ("synth", "cache", "train", "evaluate", "params", "bench"):
        assert sub in proc.stdout


def test_params_table_beside_the_paper(tmp_path):
    out = tmp_path / "params.json"
    proc = subprocess.run([sys.executable, "-m", "mggnet_lite", "params", "--json", str(out)],
                          capture_output=True, text=True, check=True)
    assert "12.8M" in proc.stdout and "11.0M" in proc.stdout
    rows = {r["variant"]: r for r in json.loads(out.read_text())["rows"]}
    assert abs(rows["baseline"]["total"] / 11.2e6 - 1) < 0.03
    assert abs(rows["mggnet"]["total"] / 12.8e6 - 1) < 0.15
    assert rows["independent"]["gal"] == 5 * rows["gal"]["gal"]  # 40 masks vs 8
    assert rows["mggnet"]["gcl"] > 0 and rows["gal"]["gcl"] == 0
