"""ATen operations per training step, baseline vs MGG-Net, counted on the CPU (issue 21,
item 1 and target 1).

    python benchmarks/op_count.py                       # ResNet-18, blocks 3+4, batch 8, 64 px
    python benchmarks/op_count.py --out counts.json

On a GPU at the paper's batch both networks are bound by launching operations from the CPU,
so the number of operations a step dispatches predicts its time (benchmarks/README.md, "H200").

**What is counted.** The step is the package's own, :func:`mggnet_lite.training.step.
train_step` (what ``train_one_epoch`` calls), on the model and optimiser that
``training/run.py`` builds (``_build_model``, ``_optimizer``: SGD, Sec. 4.1) and the loss
``setup_run`` gives it (``mggnet_loss``, Eq. 5, prediction criterion), fp32 on the CPU:

* after ``--warmup`` (2) untimed steps, ``torch.profiler.profile(activities=[CPU])`` records
  ONE step; ``train_step`` wraps its four phases (forward, loss, backward with
  ``zero_grad``, optimiser step) in ``torch.profiler.record_function``;
* a **top-level ATen op** is a recorded event whose name starts with ``aten::`` and that has
  no ``aten::`` event among its ancestors (the ``cpu_parent`` chain). The ops that an ATen op
  calls (``aten::conv2d`` -> ``aten::convolution`` -> ...) are not counted again; ATen ops
  called by something that is not ATen are: the autograd engine's backward ops, which sit
  under ``autograd::engine::evaluate_function: <Node>`` and the node's own event, the
  gradients it accumulates, and the optimiser's ops under ``Optimizer.step#SGD.step``;
* each op is assigned to the phase whose ``record_function`` event is its ancestor.

Also recorded, not part of the target: every ATen event however nested (``all_aten``: the
ops a top-level op is made of), and the host syncs in the step (``aten::item`` /
``aten::_local_scalar_dense``; 0 means the step never waits for the device).

Writes ``benchmarks/results/op_count_<date>.json`` (or ``--out``): date, machine, versions,
settings, per variant the counts per phase, the total and the op names per phase, the ratio
MGG-Net / baseline and whether it meets ``TARGET_RATIO``.
"""

from __future__ import annotations

import argparse
import collections
import functools
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile, record_function  # noqa: E402

from mggnet_lite.files import atomic_write_json  # noqa: E402
from mggnet_lite.losses import mggnet_loss  # noqa: E402
from mggnet_lite.training.config import TrainConfig  # noqa: E402
from mggnet_lite.training.run import DistInfo, _build_model, _optimizer  # noqa: E402
from mggnet_lite.training.runtime import machine_info, versions  # noqa: E402
from mggnet_lite.training.step import train_step  # noqa: E402

#: issue 21, target 1: MGG-Net's top-level ATen ops per step at most this times the baseline's
TARGET_RATIO = 1.3
PHASES = ("forward", "loss", "backward", "optimizer")
VARIANTS = ("baseline", "mggnet")
_MARK = "op_count:"  # prefix of the phases' record_function events
_SYNCS = ("aten::item", "aten::_local_scalar_dense")


def _ancestors(event: Any) -> list[str]:
    names, p = [], event.cpu_parent
    while p is not None:
        names.append(p.name)
        p = p.cpu_parent
    return names


def classify(events: Any) -> dict[str, Any]:
    """Counts of a profiled step's events: top-level ATen ops per phase and by name, every ATen
    event per phase, host syncs (module docstring)."""
    top: dict[str, collections.Counter] = {p: collections.Counter() for p in (*PHASES, "other")}
    nested: collections.Counter = collections.Counter()
    syncs = 0
    for e in events:
        if not e.name.startswith("aten::"):
            continue
        up = _ancestors(e)
        phase = next((a[len(_MARK):] for a in up if a.startswith(_MARK)), "other")
        nested[phase] += 1
        syncs += e.name in _SYNCS
        if not any(a.startswith("aten::") for a in up):
            top[phase][e.name] += 1
    if not top["other"]:
        del top["other"]
    per_phase = {p: sum(c.values()) for p, c in top.items()}
    return {
        "per_phase": per_phase,
        "total": sum(per_phase.values()),
        "all_aten": {"per_phase": dict(nested), "total": sum(nested.values())},
        "host_syncs": syncs,
        "ops": {p: dict(c.most_common()) for p, c in top.items()},
    }


def count_step(variant: str, *, backbone: str = "resnet18", taps: tuple[str, ...] = ("block3", "block4"),
               batch_size: int = 8, image_size: int = 64, warmup: int = 2, seed: int = 0
               ) -> dict[str, Any]:
    """Profile one training step of ``variant`` (after ``warmup``) and classify its ops."""
    cfg = TrainConfig(variant=variant, backbone=backbone, taps=taps, weights=None,
                      batch_size=batch_size, image_size=image_size, device="cpu", seed=seed)
    device = torch.device("cpu")
    model, forward = _build_model(cfg, device, DistInfo())
    optimizer = _optimizer(cfg, model)
    loss_fn = functools.partial(mggnet_loss, pos_weight=None)  # setup_run's, prediction criterion
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, 3, image_size, image_size, generator=g)
    y = (torch.rand(batch_size, len(model.attributes), generator=g) < 0.5).float()
    model.train()
    for _ in range(warmup):
        train_step(forward, optimizer, loss_fn, x, y, device=device)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_step(forward, optimizer, loss_fn, x, y, device=device,
                   phase=lambda name: record_function(_MARK + name))
    return classify(prof.events())


def measure(*, backbone: str = "resnet18", taps: tuple[str, ...] = ("block3", "block4"),
            batch_size: int = 8, image_size: int = 64, warmup: int = 2) -> dict[str, Any]:
    """Both variants' counts and their ratio, JSON-ready."""
    counts = {v: count_step(v, backbone=backbone, taps=taps, batch_size=batch_size,
                            image_size=image_size, warmup=warmup) for v in VARIANTS}
    ratio = counts["mggnet"]["total"] / counts["baseline"]["total"]
    return {
        "kind": "mggnet-lite op count",
        "what": "top-level ATen ops in one training step (forward, Eq. 5, backward, optimiser) "
        "on the CPU, profiled after warm-up steps; see benchmarks/op_count.py",
        "definition": "events named aten::* with no aten::* ancestor in the cpu_parent chain "
        "(the autograd engine's backward ops count: their ancestors are autograd nodes)",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info("cpu"),
        "versions": versions(),
        "settings": {"backbone": backbone, "taps": list(taps), "batch_size": batch_size,
                     "image_size": image_size, "warmup_steps": warmup, "device": "cpu",
                     "dtype": "float32", "criterion": "prediction",
                     "optimizer": repr_optimizer(backbone)},
        "counts": counts,
        "ratio": ratio,
        "target_ratio": TARGET_RATIO,
        "target_met": ratio <= TARGET_RATIO,
    }


def repr_optimizer(backbone: str) -> dict[str, Any]:
    """The optimiser's settings as ``training/run.py`` builds them (one parameter group)."""
    model = torch.nn.Linear(1, 1)
    group = _optimizer(TrainConfig(backbone=backbone, weights=None), model).param_groups[0]
    return {"class": "SGD", **{k: v for k, v in group.items() if k != "params"}}


def report(res: dict[str, Any]) -> str:
    """The counts per phase, both variants, as a text table."""
    c = res["counts"]
    lines = [f"top-level ATen ops per training step ({res['settings']['backbone']}, "
             f"{'+'.join(res['settings']['taps'])}, batch {res['settings']['batch_size']}, "
             f"{res['settings']['image_size']} px, CPU):",
             f"  {'phase':<10}{'baseline':>10}{'mggnet':>10}"]
    phases = list(dict.fromkeys([*c["baseline"]["per_phase"], *c["mggnet"]["per_phase"]]))
    for p in phases:
        lines.append(f"  {p:<10}{c['baseline']['per_phase'].get(p, 0):>10}"
                     f"{c['mggnet']['per_phase'].get(p, 0):>10}")
    lines.append(f"  {'total':<10}{c['baseline']['total']:>10}{c['mggnet']['total']:>10}")
    lines.append(f"  ratio mggnet / baseline {res['ratio']:.2f} (target <= {res['target_ratio']}: "
                 f"{'met' if res['target_met'] else 'NOT met'}); host syncs in the step: "
                 f"{c['baseline']['host_syncs']}, {c['mggnet']['host_syncs']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="op_count.py", description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--taps", nargs="+", default=["block3", "block4"])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--out", metavar="JSON", default=None,
                   help="result file (default benchmarks/results/op_count_<date>.json)")
    args = p.parse_args(argv)
    res = measure(backbone=args.backbone, taps=tuple(args.taps), batch_size=args.batch_size,
                  image_size=args.image_size, warmup=args.warmup)
    print(report(res))
    out = Path(args.out) if args.out else (Path(__file__).resolve().parent / "results"
                                           / f"op_count_{res['date'][:10]}.json")
    print(f"wrote {atomic_write_json(out, res)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
