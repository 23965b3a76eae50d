"""DDP through torchrun on CPU (gloo), issue 4 acceptance 3: after a few steps the two ranks
hold identical weights, and the all_reduced evaluation counts equal a single-process
evaluation of the same split with those weights."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _train_helpers import REPO, env, synth_root

from mggnet_lite import build_model
from mggnet_lite.data import CelebA, make_loader, open_cache
from mggnet_lite.training.evaluate import run_eval


def _torchrun() -> list[str]:
    exe = Path(sys.executable).with_name("torchrun")
    if exe.exists():
        return [str(exe)]
    if shutil.which("torchrun"):
        return ["torchrun"]
    return [sys.executable, "-m", "torch.distributed.run"]


@pytest.mark.slow
def test_two_ranks_agree_and_reduce_like_one_process(tmp_path):
    data = synth_root()
    out = tmp_path / "run"
    cmd = [
        *_torchrun(),
        "--standalone",
        "--nproc_per_node=2",
        str(REPO / "tests" / "_ddp_worker.py"),
        str(data),
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env(), cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    r0 = torch.load(out / "rank0.pt", weights_only=True)
    r1 = torch.load(out / "rank1.pt", weights_only=True)
    assert r0["world_size"] == r1["world_size"] == 2
    assert r0["report"] and not r1["report"]  # only rank 0 builds (and writes) the report
    for k, v in r0["model"].items():  # parameters and BN buffers
        assert torch.equal(v, r1["model"][k]), k
    assert torch.equal(r0["counts"], r1["counts"])

    # the checkpoint rank 0 wrote holds the same weights
    ckpt = torch.load(out / "last.pt", weights_only=True)
    assert ckpt["world_size"] == 2 and ckpt["steps_per_epoch"] == 3
    for k, v in r0["model"].items():
        assert torch.equal(v, ckpt["model"][k]), k

    # single process, same weights, whole test split
    model = build_model("mggnet", "resnet18", None)
    model.load_state_dict(r0["model"])
    ds = CelebA(data, "test")
    loader = make_loader(
        open_cache(ds, "test", progress=False),
        batch_size=4,
        image_size=32,
        train=False,
        path="cache",
    )
    single, _ = run_eval(model, loader, device=torch.device("cpu"))
    assert int(single.counts[:, 0].sum()) == len(ds)
    assert torch.equal(single.counts, r0["counts"])
