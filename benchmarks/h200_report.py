"""The GPU script's Python side (``benchmarks/h200_run.sh``; issue [4/4], item 4): the version
check, the estimate printed before any stage runs, and the one JSON the run leaves behind.

    python benchmarks/h200_report.py check                 # Python, torch, torchvision usable?
    python benchmarks/h200_report.py estimate --n 202599 --epochs 14
    python benchmarks/h200_report.py assemble OUTDIR       # OUTDIR/h200_run.json from the stages

Only the standard library, torch and the package: the GPU machine has no registry.

**The estimate** (seconds on one H200, 16 cores) scales each stage of the one earlier run,
``results/h200_synthfaces_celeba_scale_partial.json`` (2026-11-28: 202,599 images, eager,
bf16, batch 144; stopped after 9 of 14 epochs), by the images it handles. For training it
also scales that run's rate by top-level ATen ops per MGG-Net step, then 935, now the
count ``benchmarks/op_count.py`` committed: that run's step was launch-bound (MGG-Net's
step cost 1.73x the baseline's, as its op count did), so fewer launches are what make the
step faster. That is a model, not a measurement; the estimate also prints the training time
at the old rate (no gain from the op cut) as its worst case.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTIAL = ROOT / "benchmarks" / "results" / "h200_synthfaces_celeba_scale_partial.json"
#: top-level ATen ops per MGG-Net training step in the partial run's code (op_count.py, "main
#: as it is" before the op cut: per-parameter SGD, torch.einsum, one BCE per head)
OPS_THEN = 935
#: what the GPU machine runs (its device page); the project's own pins are wider
TORCH_RANGE = ((2, 4), (2, 15))
BUDGET_S = 9 * 60
#: seconds per command for Python, torch and CUDA to start (each stage is one command)
STARTUP_S = 15.0
STAGES = ("generation", "cache_build", "training", "evaluation", "throughput")


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split("+")[0].split(".")[:2]
    return int(major), int(minor)


def check() -> dict[str, str]:
    """The versions this run will use; SystemExit naming what is missing or out of range."""
    try:
        import torch
        import torchvision
    except ImportError as err:
        raise SystemExit(f"{sys.executable} cannot import {err.name}: run the script with the "
                         "Python that has torch and torchvision (PY=/path/to/python)") from err
    from mggnet_lite.training.runtime import versions

    low, high = TORCH_RANGE
    if not low <= _version(torch.__version__) < high:
        raise SystemExit(f"torch {torch.__version__}: this project needs torch >= "
                         f"{low[0]}.{low[1]}, < {high[0]}.{high[1]} (pyproject.toml)")
    got = versions()
    got["cuda"] = torch.version.cuda or "none"
    if not torchvision.__version__:
        raise SystemExit("torchvision is missing: install the one built for this torch")
    return got


def op_count_now() -> int | None:
    """MGG-Net's top-level ATen ops per step in the newest committed op-count result."""
    files = sorted((ROOT / "benchmarks" / "results").glob("op_count_*.json"))
    if not files:
        return None
    return int(json.loads(files[-1].read_text())["counts"]["mggnet"]["total"])


def estimate(n: int, epochs: int, partial: Path = PARTIAL) -> dict[str, float]:
    """Seconds per stage on the H200 for ``n`` images and ``epochs`` epochs (module docstring),
    and the total; ``training_worst`` is the training time at the partial run's own rate."""
    run = json.loads(partial.read_text())
    n_then = run["data"]["n"]
    train_then = run["data"]["splits"]["train"]
    rate_then = run["train_images_per_s_epochs_1_to_9"]["mean"]
    scale = n / n_then
    seconds = {k: float(v) for k, v in run["stage_seconds"].items()
               if isinstance(v, (int, float))}
    gen = next(v for k, v in seconds.items() if k.startswith("generation"))
    cache = next(v for k, v in seconds.items() if k.startswith("cache_build"))
    ops_now = op_count_now() or OPS_THEN
    rate_now = rate_then * OPS_THEN / ops_now
    images = epochs * train_then * scale
    test_images = run["data"]["splits"]["test"] * scale
    bench = run["bench"]["sizes"]
    bench_images = 4 * (bench["steps"] + bench["warmup_steps"]) * bench["batch_size"]
    out = {
        "generation": gen * scale + STARTUP_S,
        "cache_build": cache * scale + STARTUP_S,
        "training": images / rate_now + STARTUP_S,
        # forward only, about three times a training step, plus loading the checkpoint
        "evaluation": test_images / (3 * rate_now) + STARTUP_S,
        # four pipelines, each with its DataLoader or cache start-up
        "throughput": bench_images / min(run["bench"]["throughput"]["plain"].values())
        + 4 * STARTUP_S,
    }
    out["total"] = sum(out.values())
    out["training_worst"] = images / rate_then + STARTUP_S
    out["total_worst"] = out["total"] - out["training"] + out["training_worst"]
    out["rate_now_images_per_s"], out["ops_now"] = rate_now, ops_now
    return out


def print_estimate(n: int, epochs: int) -> dict[str, float]:
    est = estimate(n, epochs)
    print(f"estimate for one H200 (from {PARTIAL.name}; training at "
          f"{est['rate_now_images_per_s']:,.0f} images/s = that run's rate x {OPS_THEN} / "
          f"{est['ops_now']} ops per step):")
    for k in STAGES:
        print(f"  {k:<12} {est[k]:7.0f} s")
    print(f"  {'total':<12} {est['total']:7.0f} s ({est['total'] / 60:.1f} min; budget "
          f"{BUDGET_S / 60:.0f} min); at the old rate {est['total_worst']:.0f} s")
    return est


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def assemble(outdir: Path) -> dict:
    """``OUTDIR/h200_run.json`` in the issue's schema, from what the stages wrote there."""
    times = {}
    for line in (outdir / "stage_times.txt").read_text().splitlines():
        key, value = line.split()
        times[key] = round(float(value), 1)
    results = _read(outdir / "run" / "results.json") or {}
    bench = _read(outdir / "bench.json") or {}
    meta = _read(outdir / "meta.json") or {}
    history = results.get("history", [])
    seen = sum(h["images_per_s"] * h["seconds"] for h in history)
    took = sum(h["seconds"] for h in history)
    report = {
        "machine": {**results.get("machine", {}), "gpu": results.get("machine", {}).get("gpu")},
        "versions": meta.get("versions", results.get("versions", {})),
        "data": {**meta.get("data", {}), "as_trained": results.get("data")},
        "estimate": meta.get("estimate", {}),
        "stage_seconds": {k: times.get(k) for k in STAGES},
        "train": {
            "epochs": len(history),
            "images_per_s": seen / took if took else None,
            "history": history,
            "config": results.get("config", {}),
            "test": {"mean_accuracy": results.get("mean_accuracy"),
                     "mean_balanced_accuracy": results.get("mean_balanced_accuracy")},
        },
        "evaluate": {k: v for k, v in (_read(outdir / "evaluate.json") or {}).items()
                     if k in ("split", "n", "mean_accuracy", "mean_balanced_accuracy")},
        "throughput": {p: bench.get("throughput", {}).get(p, {}) for p in ("plain", "ours")},
        "throughput_sizes": bench.get("sizes", {}),
    }
    (outdir / "h200_run.json").write_text(json.dumps(report, indent=1) + "\n")
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("check")
    e = sub.add_parser("estimate")
    e.add_argument("--n", type=int, default=202599)
    e.add_argument("--epochs", type=int, default=14)
    e.add_argument("--meta", type=Path, default=None, help="also record it (and the versions) here")
    a = sub.add_parser("assemble")
    a.add_argument("outdir", type=Path)
    args = p.parse_args()
    if args.cmd == "check":
        print("versions: " + ", ".join(f"{k} {v}" for k, v in check().items()))
    elif args.cmd == "estimate":
        est = print_estimate(args.n, args.epochs)
        if args.meta is not None:
            meta = {"versions": check(), "estimate": est,
                    "data": {"name": "SynthFaces (synthetic, NOT CelebA)", "n": args.n,
                             "seed": 0, "epochs": args.epochs}}
            args.meta.write_text(json.dumps(meta, indent=1) + "\n")
    else:
        report = assemble(args.outdir)
        print(f"wrote {args.outdir / 'h200_run.json'}: stages {report['stage_seconds']}")


if __name__ == "__main__":
    main()
