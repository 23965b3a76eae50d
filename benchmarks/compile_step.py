"""Eager against compiled training steps on this machine (issue [4/4], item 2, target 2).

    python benchmarks/compile_step.py                 # writes results/compile_step_<date>.json
    python benchmarks/compile_step.py --quick --out X # a small run (tests/test_compile_bench.py)

For the baseline and MGG-Net (ResNet-18, blocks 3 + 4) it builds the model twice from the same
seed and runs the package's step (:func:`mggnet_lite.training.step.train_step`: forward, Eq. 5,
backward, foreach SGD) on the same random batches, eagerly and with the forward and Eq. 5
compiled (:class:`~mggnet_lite.training.step.CompiledStep`, ``torch.compile``'s default mode;
on a CPU with inductor's layout optimisation off). It records the first 3 losses of each and
their largest difference, the seconds of the first compiled step (the compile), and the
median seconds per step over ``--steps`` steps after 3 warm-up steps, measured alternately
(eager, compiled, eager, ...) so that both see the same machine load. The speed ratio is
eager / compiled: above 1, the compiled step is faster.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

from mggnet_lite.losses import mggnet_loss  # noqa: E402
from mggnet_lite.training.config import TrainConfig  # noqa: E402
from mggnet_lite.training.run import DistInfo, _build_model, _optimizer  # noqa: E402
from mggnet_lite.training.runtime import machine_info  # noqa: E402
from mggnet_lite.training.step import CompiledStep, train_step  # noqa: E402

#: the settings measured: the book's stage 1 (width 32, 64 px, batch 32) by default
FULL = {"width": 32, "image_size": 64, "batch_size": 32, "steps": 20}
QUICK = {"width": 16, "image_size": 32, "batch_size": 8, "steps": 3}


def _stepper(variant: str, s: dict[str, Any], compiled: bool) -> tuple[Any, Any]:
    """(step(x, y) -> loss, config): one model, optimiser and loss, eager or compiled."""
    cfg = TrainConfig(variant=variant, backbone="resnet18", weights=None, width=s["width"],
                      image_size=s["image_size"], batch_size=s["batch_size"], device="cpu",
                      pool="mass", seed=0).validate()
    device = torch.device("cpu")
    model, forward = _build_model(cfg, device, DistInfo())
    optimizer = _optimizer(cfg, model)
    loss_fn = functools.partial(mggnet_loss, pos_weight=None)
    comp = CompiledStep(forward, loss_fn, device=device) if compiled else None
    model.train()

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return train_step(forward, optimizer, loss_fn, x, y, device=device, compiled=comp)[1]

    return step, cfg


def measure(variant: str, s: dict[str, Any]) -> dict[str, Any]:
    """One variant: losses, compile seconds, median step seconds, eager and compiled."""
    g = torch.Generator().manual_seed(0)
    b, n = s["batch_size"], s["image_size"]
    batches = [(torch.randn(b, 3, n, n, generator=g), (torch.rand(b, 40, generator=g) < 0.5)
                .float()) for _ in range(3)]
    steps = {"eager": _stepper(variant, s, False)[0], "compiled": _stepper(variant, s, True)[0]}
    losses: dict[str, list[float]] = {k: [] for k in steps}
    compile_s = 0.0
    for k, step in steps.items():
        for i, (x, y) in enumerate(batches):
            t0 = time.perf_counter()
            losses[k].append(float(step(x, y).detach()))
            if k == "compiled" and i == 0:
                compile_s = time.perf_counter() - t0
    times: dict[str, list[float]] = {k: [] for k in steps}
    x, y = batches[0]
    for _ in range(s["steps"]):
        for k, step in steps.items():  # alternately: the same load for both
            t0 = time.perf_counter()
            float(step(x, y).detach())
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {
        "losses": losses,
        "max_loss_difference": max(abs(a - c) for a, c in zip(*losses.values(), strict=True)),
        "compile_seconds": round(compile_s, 1),
        "seconds_per_step": {k: round(v, 5) for k, v in med.items()},
        "images_per_s": {k: round(b / v, 1) for k, v in med.items()},
        "speed_ratio_eager_over_compiled": round(med["eager"] / med["compiled"], 3),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a small setting (tests)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--out", default=None, help="default: results/compile_step_<date>.json")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    s = QUICK if args.quick else FULL
    today = datetime.date.today().isoformat()
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"compile_step_{today}.json")
    result = {"kind": "mggnet-lite compiled step", "date": today,
              "command": "python benchmarks/compile_step.py " + " ".join(argv or sys.argv[1:]),
              "machine": machine_info(torch.device("cpu")), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "setting": s,
              "variants": {v: measure(v, s) for v in ("baseline", "mggnet")}}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    for v, r in result["variants"].items():
        print(f"{v:8s} eager {1e3 * r['seconds_per_step']['eager']:7.1f} ms/step, compiled "
              f"{1e3 * r['seconds_per_step']['compiled']:7.1f} ms/step: eager / compiled "
              f"{r['speed_ratio_eager_over_compiled']:.2f}; compile {r['compile_seconds']} s; "
              f"largest loss difference over 3 steps {r['max_loss_difference']:.1e}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
