"""Every command of README.md, run as a user types it (issue [1/4], item 1).

The commands are read from the README's ``bash`` blocks, so changing the README changes this
test. Each ``python -m mggnet_lite ...`` and ``mggnet-lite ...`` command runs in a subprocess
of ``bash``, as typed, in a new empty folder, with the project's environment first on ``PATH``
(as after ``source .venv/bin/activate``), default options (default workers: all cores) and no
``MGGNET_*`` variable set. The README's own commands are small (2,000 SynthFaces images), so
nothing is shrunk. The one input a user brings, ``photo.jpg``, is matplotlib's portrait of
Grace Hopper. A README command that is not run must be listed in :data:`NOT_RUN` with the
reason, or :func:`test_every_readme_command_is_run_or_excused` fails.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
#: how a README command starts -> why this test does not run it
NOT_RUN = {
    "make book": "the README's first command: .ci/run runs it itself, before the tests",
    "make test": "the README's test command: it runs this very test",
    "pip install": "installing the project: make test did it before running the tests",
}
#: the subcommands (as typed after the entry point) the README must show and this test runs
REQUIRED = ("--help", "params", "synth", "cache", "cache --verify", "train", "evaluate",
            "predict", "export", "bench --help")
ENTRY = re.compile(r"^(python -m mggnet_lite|mggnet-lite)(\s|$)")


def readme_commands(text: str) -> list[str]:
    """The commands of the ``bash`` blocks of ``text``, in order, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def subcommand(command: str) -> str:
    """``python -m mggnet_lite cache --data X --verify`` -> ``cache --verify``."""
    words = ENTRY.sub("", command).split()
    first = words[0] if words else ""
    flag = next((w for w in ("--verify", "--help") if w in words[1:]), "")
    return f"{first} {flag}".strip()


COMMANDS = readme_commands(README.read_text())
RUN = [c for c in COMMANDS if ENTRY.match(c)]


def test_every_readme_command_is_run_or_excused() -> None:
    for c in COMMANDS:
        assert ENTRY.match(c) or any(c.startswith(k) for k in NOT_RUN), (
            f"README command {c!r} is neither run by this test nor listed in NOT_RUN with a "
            "reason")
    assert sorted({subcommand(c) for c in RUN} & set(REQUIRED)) == sorted(REQUIRED), (
        f"the README must show (and this test run) each of {REQUIRED}")


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, float, str]]:
    """Every runnable README command, in README order, in one new folder: ``{command: (exit
    code, seconds, stdout + stderr)}``; printed as a table (``pytest -s``)."""
    import matplotlib

    home = tmp_path_factory.mktemp("readme-user")
    folder = home / "work"
    folder.mkdir()
    shutil.copy(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
                folder / "photo.jpg")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MGGNET_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["XDG_CACHE_HOME"] = str(home / ".cache")  # an empty user cache
    env["MPLBACKEND"] = "Agg"
    results = {}
    for command in RUN:
        t0 = time.monotonic()
        proc = subprocess.run(["bash", "-c", command], cwd=folder, env=env, text=True,
                              capture_output=True, timeout=1200)
        results[command] = (proc.returncode, time.monotonic() - t0, proc.stdout + proc.stderr)
    print("\nREADME commands, as typed (exit code, seconds):")
    for command, (code, seconds, _) in results.items():
        print(f"  {code:>3} {seconds:7.1f} s  {command}")
    results["folder"] = folder  # type: ignore[assignment]
    return results


@pytest.mark.slow
@pytest.mark.parametrize("command", RUN)
def test_readme_command_exits_0(typed, command: str) -> None:
    code, _, output = typed[command]
    assert code == 0, f"{command} exited {code}:\n{output[-3000:]}"


def _output(typed, sub: str) -> str:
    return next(out for c, (_, _, out) in typed.items() if c != "folder" and subcommand(c) == sub)


@pytest.mark.slow
def test_readme_commands_do_what_the_readme_says(typed) -> None:
    folder: Path = typed["folder"]
    data, run = folder / "data" / "synthfaces", folder / "runs" / "quick"
    listed = re.search(r"\{([a-z,]+)\}", _output(typed, "--help")).group(1).split(",")
    assert sorted(listed) == sorted({subcommand(c).split()[0] for c in RUN} - {"--help"})
    assert json.loads((data / "synthfaces.json").read_text())["n"] == 2000
    caches = list((data / ".mggnet_cache").iterdir())
    assert len(caches) >= 3, caches  # train, valid, test
    verified = _output(typed, "cache --verify")
    assert all(f"{split}: OK" in verified for split in ("train", "valid", "test")), verified
    # train: the quick profile's two stages, each evaluated; the network beats the majority
    pre, res = (json.loads((r / "results.json").read_text()) for r in (run / "pretrain", run))
    assert pre["config"]["variant"] == "baseline" and not pre["config"]["freeze_backbone"]
    assert res["config"]["variant"] == "mggnet" and res["config"]["freeze_backbone"]
    assert res["config"]["weights"] == str((run / "pretrain" / "last.pt").resolve())
    assert res["mean_accuracy"] > res["majority_class"]["mean_accuracy"], res["mean_accuracy"]
    evaluated = json.loads((run / "eval_test.json").read_text())
    assert evaluated["mean_accuracy"] == pytest.approx(res["mean_accuracy"], abs=1e-9)
    assert "Table 1 format" in _output(typed, "evaluate")
    predicted = json.loads((folder / "out.json").read_text())
    assert len(predicted["images"][0]["faces"]) == 1
    assert list((folder / "out").glob("*.png"))
    assert (folder / "model.onnx").is_file() and (folder / "model.onnx.card.md").is_file()
    assert "12.61M" in _output(typed, "params")
