"""Shared pieces of the training tests: a small SynthFaces set and a subprocess runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: tiny, fast settings (2-core CPU): 32 px, batch 4, deterministic single-threaded maths;
#: one end-to-end stage (the quick profile's two stages are tested in test_staged.py)
TINY_SETS = [
    "pretrain=none",
    "freeze_backbone=false",
    "optimizer=sgd",
    "schedule=step",
    "width=64",
    "pool=gap",
    "flip=true",
    "weight_decay=0.0005",
    "image_size=32",
    "batch_size=4",
    "lr=0.05",
    "low_lr=0.005",
    "deterministic=true",
    "threads=1",
    "loader=cache",
    "log_every=5",
]

#: the compiled runs' settings beside TINY_SETS (test_compile.py and test_train.py's compiled
#: resume): batch 8, the same graph in both, so the second compile is read from inductor's cache;
#: fp32 (the quick profile's amp="bf16-native" trains in bf16 on a CPU that has it, and there a
#: compiled step did not resume bitwise: the first conv's weights differed, 2026-12-04; eager
#: bf16 runs do, test_train.py's eager case on such a CPU)
COMPILE_SETS = ["variant=mggnet", "batch_size=8", "amp=none"]


#: this pytest session's folder for shared sets (conftest.py sets it from tmp_path_factory)
SESSION: dict[str, Path] = {}


def synth_root(n: int = 96, seed: int = 0) -> Path:
    """A SynthFaces set shared by the test modules of this session: rendered once per session
    into pytest's session folder (``tmp_path_factory``), never reused by a later run."""
    from mggnet_lite.data import synthesize

    if "dir" not in SESSION:
        raise RuntimeError("synth_root() needs conftest.py's session fixture (run under pytest)")
    root = SESSION["dir"] / f"synth-n{n}-seed{seed}"
    return synthesize(root, n=n, seed=seed, masks=False, progress=False)


def env() -> dict[str, str]:
    """Single-threaded children (the CI machine has 2 shared cores)."""
    e = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), e.get("PYTHONPATH")]))
    e.pop("MGGNET_PROFILE", None)
    return e


def train_cmd(data: Path, out: Path, *extra: str, sets: list[str] | None = None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "mggnet_lite",
        "train",
        "--data",
        str(data),
        "--out",
        str(out),
        "--profile",
        "quick",
        "--no-progress",
        *extra,
    ]
    for s in TINY_SETS + (sets or []):
        cmd += ["--set", s]
    return cmd


def run(cmd: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env(), cwd=REPO)
