"""Issue 19, target 2: chapter 6's Table 3 on the book's own protocol (heads on stage 1's
frozen features), trained with several stage-2 seeds. Do its one-run verdicts replicate?
(README.md beside this file has the results.)

    python study.py run OUT.json [--seeds 0 1 2 3 4]
    python study.py pool OUT.json

Run from a checkout whose ``runs/book`` holds a build (``make book``): ``book.trained_model``
loads the four networks of Table 3 (baseline, independent, w/o GCL, MGG-Net) at each seed, and
trains those it does not find on the build's stage 1 and cached features with the quick
profile's settings; only ``seed`` differs (the heads' start and the batch order; stage 1 does
not inherit it, ``training.config.PRETRAIN_INHERITS``). Seed 0 is the build's own run. For
each seed: each network's mean and balanced accuracy on the test split and its training time,
and the six pairwise paired differences (``analysis.paired_difference``, as chapter 6). Then,
as ``../2026-12-05-partial-finetune/study.py seeds`` does for the fine-tuned protocol: each
network over the seeds (mean, sd, range) and each pair pooled with ``analysis.across_runs``.
``pool`` recomputes that pooled part of a ``run`` file from its runs, in place (for a change of
``analysis.across_runs``; no training).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import sys
from pathlib import Path

import torch

VARIANTS = ("baseline", "independent", "gal", "mggnet")  # Table 3's four networks


def one_seed(seed: int) -> dict:
    """The four networks at stage-2 seed ``seed``: accuracies, training time, paired pairs."""
    from mggnet_lite import analysis, book

    nets, preds = {}, {}
    for v in VARIANTS:
        model, report = book.trained_model(v, seed=seed)
        preds[v] = book.eval_predictions(model, report)
        nets[v] = {"mean_accuracy": report["mean_accuracy"],
                   "mean_balanced_accuracy": report["mean_balanced_accuracy"],
                   "train_s": report["time_s"]["train"], "run": Path(report["checkpoint"]).parent.name,
                   "machine": report["machine"], "versions": report["versions"]}
        print(f"seed {seed} {v:<12}{report['mean_accuracy']:.2f} / {report['mean_balanced_accuracy']:.2f}"
              f" (trained in {report['time_s']['train']:.0f} s)", flush=True)
    labels = preds["mggnet"][1]
    pairs = {}
    for a, b in itertools.combinations(VARIANTS, 2):  # b - a, as chapter 6 and the other study
        assert torch.equal(preds[a][1], labels)  # every network scored on the same images
        pairs[f"{b}-{a}"] = analysis.paired_difference(preds[a][0], preds[b][0], labels)
    return {"seed": seed, "n_test": len(labels), "variants": nets, "pairs": pairs}


def pooled(runs: list[dict]) -> dict:
    """Each network over the runs, and each pair pooled (``analysis.across_runs``): the
    fine-tuning study's ``summary``, which its ``study.py seeds`` writes."""
    path = Path(__file__).resolve().parents[1] / "2026-12-05-partial-finetune" / "study.py"
    spec = importlib.util.spec_from_file_location("partial_finetune_study", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.summary(runs)


def run(out: str, seeds: list[int]) -> None:
    runs = [one_seed(s) for s in seeds]
    res = {"seeds_runs": runs, **pooled(runs)}
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("out")
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    sub.add_parser("pool").add_argument("out")
    a = ap.parse_args(argv)
    if a.cmd == "pool":
        runs = json.loads(Path(a.out).read_text())["seeds_runs"]
        Path(a.out).write_text(json.dumps({"seeds_runs": runs, **pooled(runs)}, indent=1) + "\n")
    else:
        run(a.out, a.seeds)


if __name__ == "__main__":
    main(sys.argv[1:])
