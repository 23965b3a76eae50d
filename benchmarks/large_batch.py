"""Issue [4/4], item 3: does batch 512 with the linearly scaled lr keep batch 144's accuracy?

    python benchmarks/large_batch.py [--epochs 3 1] [--out benchmarks/results/large_batch_<date>.json]
    python benchmarks/large_batch.py --data CELEBA_LAYOUT_DIR --epochs 1 0 --max-steps 1 --out x.json

Two runs of MGG-Net (ResNet-18 of width 32, blocks 3+4, 64 px, SGD, CPU), from random weights
on the book's SynthFaces set (``mggnet_lite.book.book_data``), differing only in the batch:

* batch 144, Sec. 4.1's schedule: lr 0.01 for the first epochs, then 0.001;
* batch 512, ``schedule="scaled"`` (``TrainConfig.lr_at``): the same lrs x 512 / 144, after a
  linear warm-up over the first 5% of the steps.

Same seed, same epochs, so the same number of images seen. From random weights the network is
still learning over these epochs, so a schedule that learns slower shows (a fine-tuned start
would hide it). Both are scored on the validation split; the difference in mean accuracy gets
a 95% paired bootstrap interval over the validation images (``analysis.paired_difference``):
that is the noise of the split, not of the seed (one run each). Writes the machine, versions,
settings, each run's history and the verdict (|difference| <= 0.3 points).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from mggnet_lite import analysis, book
from mggnet_lite.metrics import AttributeMetrics
from mggnet_lite.training.config import SCALED_WARMUP, TrainConfig
from mggnet_lite.training.runtime import machine_info
from mggnet_lite.training.train import train

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 0.3  # points of mean accuracy (the bar)


def config(batch: int, epochs: tuple[int, int], max_steps: int | None = None) -> TrainConfig:
    """The run at ``batch``: 144 on Sec. 4.1's step schedule, anything else scaled."""
    return TrainConfig(
        variant="mggnet", width=32, weights=None, image_size=64,
        epochs_at_lr=epochs[0], epochs_at_low_lr=epochs[1], batch_size=batch,
        schedule="step" if batch == 144 else "scaled", device="cpu", amp="none",
        channels_last=False, eval_split="valid", val_split=None, seed=0, log_every=10,
        profile="quick", max_steps_per_epoch=max_steps,
    ).validate()


def _mean_accuracy(probs: torch.Tensor, labels: torch.Tensor) -> float:
    """Sec. 4.1's mean accuracy (in %), as the package scores it (``metrics.THRESHOLD``)."""
    m = AttributeMetrics(probs.shape[1])
    m.update(probs, labels)
    return m.summary()["mean_accuracy"]


def run(batch: int, epochs: tuple[int, int], data: Path, folder: Path,
        max_steps: int | None = None) -> dict:
    cfg = config(batch, epochs, max_steps)
    t0 = time.perf_counter()
    result = train(cfg, folder / f"batch{batch}", data, progress=False)
    seconds = time.perf_counter() - t0
    outs = book.test_outputs(result.model, {"config": cfg.to_dict(), "split": "valid"}, data)
    return {"config": dataclasses.asdict(cfg), "seconds": round(seconds, 1),
            "lr": [cfg.lr_at(e, 10**6, 10**6) for e in range(cfg.epochs)],  # after warm-up
            "mean_accuracy": _mean_accuracy(outs["probs"], outs["labels"]),
            "history": result.history, "_outs": outs}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, nargs=2, default=(3, 1), metavar=("AT_LR", "AT_LOW_LR"))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results"
                   / f"large_batch_{datetime.date.today()}.json")
    p.add_argument("--data", type=Path, default=None, help="default: the book's SynthFaces set")
    p.add_argument("--max-steps", type=int, default=None, help="steps per epoch (smoke tests)")
    args = p.parse_args()
    data = args.data or book.book_data()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {b: run(b, tuple(args.epochs), data, Path(tmp), args.max_steps)
                for b in (144, 512)}
    small, large = runs[144].pop("_outs"), runs[512].pop("_outs")
    diff, lo, hi = analysis.paired_difference(small["probs"], large["probs"], small["labels"])
    result = {
        "date": str(datetime.date.today()), "command": "python benchmarks/large_batch.py "
        f"--epochs {args.epochs[0]} {args.epochs[1]}",
        "machine": machine_info(torch.device("cpu")), "python": platform.python_version(),
        "torch": torch.__version__, "data": str(Path(data).name),
        "validation_images": len(small["labels"]), "warmup_share": SCALED_WARMUP,
        "runs": {str(b): r for b, r in runs.items()},
        "difference_512_minus_144": {"points": diff, "lo": lo, "hi": hi},
        "tolerance_points": TOLERANCE, "within_tolerance": abs(diff) <= TOLERANCE,
        "noise": "95% paired bootstrap interval over the validation images; one run each "
                 "(same seed), so the seed-to-seed spread is not in it",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    for b, r in runs.items():
        print(f"batch {b:>3}: mean accuracy {r['mean_accuracy']:.2f} on "
              f"{len(small['labels'])} validation images, {r['seconds']:.0f} s")
    print(f"512 - 144: {diff:+.2f} points [{lo:+.2f}, {hi:+.2f}] (95% paired bootstrap); "
          f"within {TOLERANCE}: {abs(diff) <= TOLERANCE}  -> {args.out}")


if __name__ == "__main__":
    main()
