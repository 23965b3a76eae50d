import json
import re
import subprocess
import sys

import pytest
from _train_helpers import REPO, env

from mggnet_lite import cli

#: every subcommand of ``python -m mggnet_lite``, in the order --help lists them
SUBCOMMANDS = ("synth", "cache", "train", "evaluate", "params", "bench", "predict", "export")


def test_help_lists_every_subcommand():
    assert tuple(cli.SUBCOMMANDS) == SUBCOMMANDS
    proc = subprocess.run([sys.executable, "-m", "mggnet_lite", "--help"], capture_output=True,
                          text=True, check=True, env=env(), cwd=REPO, timeout=120)
    assert "{" + ",".join(SUBCOMMANDS) + "}" in proc.stdout  # the usage line's choices
    section = proc.stdout.split("positional arguments:")[1].split("options:")[0]
    listed = re.findall(r"^    (\w+) +\S", section, flags=re.M)  # one line per subcommand
    assert tuple(listed) == SUBCOMMANDS, proc.stdout
    words = " ".join(section.split())
    for name, (_module, help_) in cli.SUBCOMMANDS.items():
        assert f" {name} {help_} " in f" {words} ", name  # each with its one-line help


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_reaches_its_module(name, capsys):
    """``python -m mggnet_lite NAME --help`` imports NAME's module and prints its options."""
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: python -m mggnet_lite {name}"), out
    assert cli.SUBCOMMANDS[name][1] in " ".join(out.split())  # its description


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
