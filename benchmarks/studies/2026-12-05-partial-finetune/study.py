"""Issue 19, target 2: how far a *partly* fine-tuned trunk carries the baseline from a generic
stage 1, and at what cost per epoch (README.md beside this file has the results).

    python study.py probe WEIGHTS.pt OUT.json [--from block3|block4] [--lr 2e-3] [--epochs 8]
    python study.py variants WEIGHTS.pt OUT.json [--lr 8e-3] [--trunk-lr 2e-3] [--epochs 8] [--seed 0]
                                                 [--pos-power 0]
    python study.py seeds OUT.json RUN.json RUN.json [RUN.json ...] [--images IMAGES.json ...]
    python study.py images EARLIER.json RERUN.json IMAGES.json

``probe``: the book's SynthFaces set (``book.book_data()``). The generic stage 1 in
``WEIGHTS.pt`` (a torchvision ResNet-18 state dict, width 16, no stem max-pool: the quick
profile's trunk, as ``../2026-12-04-parts-pretext/study.py pretext --width 16 --no-stem-pool``
writes it) is frozen up to ``--from``; its maps there are computed once, as the book's stage 2
computes its features. The stages after it (block 4 and block 5 from ``block3``; block 5 from
``block4``) start from the stage 1's weights and train, with GAP(F_B) -> 40 classifiers on
top: the baseline of Table 3 fine-tuned from that point on. Adam, one-cycle, batch 128, bf16
autocast where the CPU has it, no weight decay, no flips: the quick profile's stage 2. Writes
the test split's mean and balanced accuracy after the last epoch and the seconds per epoch.

``variants``: the four variants of Table 3, built by the package (``build_model``) with the
quick profile's settings (width 16, no stem max-pool, ``pool="mass"``, senders detached) from
the same stage 1, block 3 frozen (its maps computed once, shared by all four), blocks 4 and 5
fine-tuned (Adam at ``--trunk-lr``) with everything after them (GAL, GCL, heads at ``--lr``),
one-cycle, Eq. 5's loss (``losses.mggnet_loss``); ``--pos-power P`` weighs each attribute's
positives by ``losses.balanced_pos_weight`` (N_neg / N_pos on the training split) to the power
P: 0 is Eq. 5's plain BCE (the prediction criterion, the default), 1 Table 2's balanced
criterion, in between a tempered weight (not the paper's). Records mean / balanced accuracy,
the paired differences (``analysis.paired_difference``) and the pointing game per block.

``seeds``: several ``variants`` files of the same stage 1 that differ in ``--seed`` pooled:
each network's accuracy over the runs (mean, sample standard deviation, range) and each pair's
difference with ``analysis.across_runs``'s interval (the spread between trainings and the test
images'), with its verdict; with ``--images``, also from the runs x images table of each
image's score (``analysis.two_way_difference``).

``images``: a ``variants`` run re-trained to keep each test image's score
(``correct_per_image``, which the earlier files predate), kept once it reproduces the earlier
file to the last digit.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

#: the blocks after each tap, which the probe fine-tunes
AFTER = {"block3": ("block4", "block5"), "block4": ("block5",)}


def _trunk(weights: str, tap: str) -> torch.nn.Module:
    """The stage 1 in ``weights`` as the quick profile's trunk (the package's backbone),
    tapped at ``tap``."""
    from mggnet_lite import book
    from mggnet_lite.nn.backbones import build_backbone

    cfg = book.book_config("mggnet")
    return build_backbone("resnet18", (tap,), weights, cfg.width, cfg.stem_pool)


@torch.inference_mode()
def _maps(net: torch.nn.Module, split: str, tap: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen trunk's ``tap`` maps (fp16) and the labels of ``split``, in order."""
    from mggnet_lite import book
    from mggnet_lite.data import make_loader
    from mggnet_lite.data.cache import open_cache

    cache = open_cache(book.book_data(), split)
    loader = make_loader(cache, batch_size=256, image_size=64, train=False, path="cache")
    net.eval()
    xs, ys = [], []
    for x, y in loader:
        xs.append(net(x, final=False)[tap].half())
        ys.append(y)
    return torch.cat(xs), torch.cat(ys).float()


def probe(weights: str, out: str, tap: str, lr: float, epochs: int, seed: int = 0) -> None:
    from mggnet_lite.training.runtime import cpu_has_native_bf16

    torch.manual_seed(seed)
    net = _trunk(weights, tap)
    t0 = time.time()
    xtr, ytr = _maps(net, "train", tap)
    xte, yte = _maps(net, "test", tap)
    maps_s = time.time() - t0
    head = torch.nn.Sequential(*[net.stages[b] for b in AFTER[tap]],
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                               torch.nn.Linear(128, ytr.shape[1]))
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    steps = epochs * ((len(xtr) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    bf16 = cpu_has_native_bf16()
    g = torch.Generator().manual_seed(seed)
    log = []
    for epoch in range(epochs):
        head.train()
        t1 = time.time()
        for idx in torch.randperm(len(xtr), generator=g).split(128):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = F.binary_cross_entropy_with_logits(head(xtr[idx].float()).float(), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        log.append({"epoch": epoch, "loss": float(loss.detach()), "s": time.time() - t1,
                    **_score(head, xte, yte)})
        print(log[-1], flush=True)
    res = {"weights": weights, "from": tap, "trains": AFTER[tap], "lr": lr, "epochs": epochs,
           "seed": seed, "maps_s": maps_s, "log": log, **log[-1]}
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


@torch.inference_mode()
def _score(head: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    head.eval()
    return _accuracy(torch.cat([torch.sigmoid(head(b.float())) for b in x.split(512)]), y)


def variants(weights: str, out: str, lr: float, trunk_lr: float, epochs: int,
             names: list[str], seed: int = 0, pos_power: float = 0.0) -> None:
    from mggnet_lite import analysis, book
    from mggnet_lite.losses import balanced_pos_weight, mggnet_loss
    from mggnet_lite.metrics import THRESHOLD
    from mggnet_lite.nn import build_model

    cfg = book.book_config("mggnet")
    kw = {"width": cfg.width, "stem_pool": cfg.stem_pool, "pool": cfg.pool}
    t0 = time.time()
    trunk = _trunk(weights, "block3")
    x3 = {s: _maps(trunk, s, "block3") for s in ("train", "test")}
    res: dict = {"weights": weights, "lr": lr, "trunk_lr": trunk_lr, "epochs": epochs,
                 "seed": seed, "maps_s": time.time() - t0, "variants": {}, "pairs": {}}
    loss = mggnet_loss  # Eq. 5 (the prediction criterion)
    if pos_power:  # Table 2's weighted BCE (pos_power 1) or a tempered one
        res["pos_power"] = pos_power
        loss = functools.partial(
            mggnet_loss, pos_weight=balanced_pos_weight(x3["train"][1]) ** pos_power)
    probs, truth = {}, None
    for v in names:
        torch.manual_seed(seed)
        extra = {"detach_senders": cfg.detach_senders} if v == "mggnet" else {}
        model = build_model(v, weights=weights, **kw, **extra)
        t1 = time.time()
        _fit_partial(model, *x3["train"], lr, trunk_lr, epochs, seed, loss)
        probs[v], masks = _predict(model, x3["test"][0])
        labels = x3["test"][1]
        r = {"s": time.time() - t1, **_accuracy(probs[v], labels)}
        if v in ("gal", "mggnet"):  # independent has one mask per attribute
            truth = book.true_masks("test") if truth is None else truth  # read once
            loc = book.localisation(masks, truth)
            print(book.format_localisation(loc, model.group_names, f"{v}:"), flush=True)
            r["pointing"] = {b: loc[b]["pointing"].tolist() for b in loc}
            r["lift"] = {b: loc[b]["lift"].tolist() for b in loc}
            res["chance"], res["groups"] = loc["block3"]["chance"].tolist(), model.group_names
        # each test image's number of correct attributes (Sec. 4.1's threshold): the two-way
        # (runs x images) interval of analysis.two_way_difference needs them, not only the mean
        r["correct_per_image"] = ((probs[v] >= THRESHOLD) == labels.bool()).sum(1).tolist()
        res["variants"][v] = r
        print(v, {k: r[k] for k in ("s", "mean_accuracy", "mean_balanced_accuracy")}, flush=True)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            res["pairs"][f"{b}-{a}"] = analysis.paired_difference(probs[a], probs[b], labels)
            print(b, "-", a, res["pairs"][f"{b}-{a}"], flush=True)
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def _after_block3(model: torch.nn.Module, m3: torch.Tensor) -> dict[str, torch.Tensor]:
    m4 = model.backbone.stages["block4"](m3)
    return {"block3": m3, "block4": m4, "final": model.backbone.stages["block5"](m4)}


class _FromBlock3(torch.nn.Module):
    """``model`` from block 3's maps on (blocks 4 and 5, then GAL, GCL and the heads), as the
    package's ``AfterBackbone`` is ``model`` from the cached features on."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, m3: torch.Tensor):
        return self.model.forward_features(_after_block3(self.model, m3.float()))


def _fit_partial(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float,
                 trunk_lr: float, epochs: int, seed: int, loss_fn) -> None:
    """Blocks 4 and 5 at ``trunk_lr`` and the rest at ``lr``, one-cycle, the package's
    ``train_step`` (``loss_fn``, Eq. 5, in fp32; bf16 autocast where the CPU has it:
    ``"bf16-native"``)."""
    from mggnet_lite.training.step import train_step

    trunk = [p for s in ("block4", "block5") for p in model.backbone.stages[s].parameters()]
    ids = {id(p) for p in model.backbone.parameters()}
    rest = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.Adam([{"params": trunk, "lr": trunk_lr}, {"params": rest, "lr": lr}])
    steps = epochs * ((len(x) + 127) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[trunk_lr, lr], total_steps=steps)
    net, cpu = _FromBlock3(model).train(), torch.device("cpu")
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        t1 = time.time()
        for idx in torch.randperm(len(x), generator=g).split(128):
            _, loss = train_step(net, opt, loss_fn, x[idx], y[idx], device=cpu,
                                 amp="bf16-native")
            sched.step()
        print({"epoch": epoch, "loss": float(loss.detach()), "s": time.time() - t1}, flush=True)


@torch.inference_mode()
def _predict(model: torch.nn.Module, x: torch.Tensor
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.eval()
    probs, masks = [], {b: [] for b in model.backbone.taps}
    for b in x.split(256):
        out = model.forward_features(_after_block3(model, b.float()))
        probs.append(out.probs)
        for t in masks:
            masks[t].append(out.masks[t])
    return torch.cat(probs), {t: torch.cat(m) for t, m in masks.items() if m}


def _accuracy(probs: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Mean and balanced accuracy (%) as the book scores them (``metrics.AttributeMetrics``)."""
    from mggnet_lite.metrics import AttributeMetrics

    m = AttributeMetrics(y.shape[1])
    m.update(probs, y)
    s = m.summary()
    return {k: s[k] for k in ("mean_accuracy", "mean_balanced_accuracy")}


def summary(runs: list[dict]) -> dict:
    """Several runs of the four networks (``variants`` files, or any dicts with ``seed``,
    ``variants`` and ``pairs`` alike) over their seeds: each network's mean and balanced accuracy
    (runs, mean, sd, range) and each pair pooled with ``analysis.across_runs``, with its
    verdict (printed). ``../2026-12-05-stage2-seeds/study.py`` pools its runs with it too."""
    import numpy as np

    from mggnet_lite import analysis

    res: dict = {"seeds": [r["seed"] for r in runs], "networks": {}, "pairs": {}}
    for v in runs[0]["variants"]:
        for key in ("mean_accuracy", "mean_balanced_accuracy"):
            x = np.array([r["variants"][v][key] for r in runs])
            res["networks"].setdefault(v, {})[key] = {
                "runs": x.tolist(), "mean": x.mean(), "sd": x.std(ddof=1), "min": x.min(), "max": x.max()}
    for pair in runs[0]["pairs"]:
        per_run = [tuple(r["pairs"][pair]) for r in runs]
        mean, lo, hi = analysis.across_runs(per_run)
        res["pairs"][pair] = {"runs": per_run, "mean": mean, "lo": lo, "hi": hi,
                              "verdict": analysis.verdict_word(lo, hi)}
        print(f"{pair:<22}{mean:+.2f} [{lo:+.2f}, {hi:+.2f}] {res['pairs'][pair]['verdict']}; runs: "
              + ", ".join(f"{d:+.2f}" for d, _, _ in per_run), flush=True)
        kept, scores = _per_image(runs, pair)
        if len(kept) >= 2:  # the runs x images table of those that kept it: two_way_difference
            mean, lo, hi = analysis.two_way_difference(*scores)
            _, *parts = analysis.two_way_parts(*scores)
            res["pairs"][pair]["two_way"] = {
                "seeds": kept, "mean": mean, "lo": lo, "hi": hi,
                "verdict": analysis.verdict_word(lo, hi),
                **dict(zip(("runs_var", "images_var", "cells_var"), parts, strict=True))}
            print(f"{'  two-way':<22}{mean:+.2f} [{lo:+.2f}, {hi:+.2f}] "
                  f"{res['pairs'][pair]['two_way']['verdict']}; variances: runs {parts[0]:.4f}, "
                  f"images {parts[1]:.3f}, cells {parts[2]:.3f}", flush=True)
    return res


def _per_image(runs: list[dict], pair: str) -> tuple[list[int], tuple]:
    """The seeds of the runs that kept ``correct_per_image`` for both of ``pair``'s ("b-a")
    networks, and their accuracy (points) per run and test image, ``(a, b)``, each (runs,
    images)."""
    import numpy as np

    from mggnet_lite.attributes import CELEBA_ATTRIBUTES

    b, a = pair.split("-")
    kept = [r for r in runs if all("correct_per_image" in r["variants"][v] for v in (a, b))]
    return [r["seed"] for r in kept], tuple(
        100 / len(CELEBA_ATTRIBUTES) * np.array([r["variants"][v]["correct_per_image"] for r in kept])
        for v in (a, b))


def images(earlier: str, rerun: str, out: str) -> None:
    """Keep each test image's score of ``rerun`` (a ``variants`` file written with the same
    command as ``earlier``, which predates ``correct_per_image``) once it reproduces
    ``earlier``: the same settings, and every accuracy, pair and pointing game to the last
    digit. Writes the counts, with the accuracies they check against, to ``out``."""
    from mggnet_lite.attributes import CELEBA_ATTRIBUTES

    a, b = (json.loads(Path(f).read_text()) for f in (earlier, rerun))
    same = ("weights", "seed", "lr", "trunk_lr", "epochs", "pairs")
    diff = [k for k in same if a[k] != b[k]] + [
        "pos_power"] * (a.get("pos_power", 0.0) != b.get("pos_power", 0.0)) + [
        f"{v}.{k}" for v in a["variants"] for k in a["variants"][v]
        if k != "s" and a["variants"][v][k] != b["variants"][v][k]]
    if diff:
        sys.exit(f"images: {rerun} does not reproduce {earlier}: {diff}")
    n_attr = len(CELEBA_ATTRIBUTES)
    res: dict = {"earlier": earlier, "seed": b["seed"], "weights": b["weights"], "variants": {}}
    for v, r in b["variants"].items():
        got = 100 * sum(r["correct_per_image"]) / (n_attr * len(r["correct_per_image"]))
        assert abs(got - r["mean_accuracy"]) < 1e-9, (v, got, r["mean_accuracy"])
        res["variants"][v] = {"mean_accuracy": r["mean_accuracy"],
                              "correct_per_image": r["correct_per_image"]}
    Path(out).write_text(json.dumps(res) + "\n")
    print(f"{rerun} reproduces {earlier}; wrote {out}", flush=True)


def with_images(runs: list[dict], files: list[str]) -> None:
    """Add each ``images`` file's counts to the run of its seed (same stage 1, same accuracy)."""
    by_seed = {r["seed"]: r for r in runs}
    for f in files:
        img = json.loads(Path(f).read_text())
        run = by_seed.get(img["seed"])
        if run is None or run["weights"] != img["weights"]:
            sys.exit(f"seeds: {f} (seed {img['seed']}) matches none of the runs")
        for v, r in img["variants"].items():
            if r["mean_accuracy"] != run["variants"][v]["mean_accuracy"]:
                sys.exit(f"seeds: {f}'s {v} is not the run of seed {img['seed']}")
            run["variants"][v]["correct_per_image"] = r["correct_per_image"]


def seeds(out: str, files: list[str], image_files: list[str] | None = None) -> None:
    from mggnet_lite import analysis

    runs = [json.loads(Path(f).read_text()) for f in files]
    if len({r["weights"] for r in runs}) != 1 or len({r["seed"] for r in runs}) != len(runs):
        sys.exit("seeds: the runs must share one stage 1 (weights) and differ in their seed")
    if len({r.get("pos_power", 0.0) for r in runs}) != 1:
        sys.exit("seeds: the runs must share one loss (--pos-power)")
    with_images(runs, image_files or [])
    res: dict = {"files": files, "images": image_files or [], **summary(runs)}
    # what it would take: the pooled half-width with S runs and n test images, from the measured
    # spread between runs (sd) and the runs' image variance (scaled by 1 / n), largest over pairs
    from mggnet_lite import book
    from mggnet_lite.data.synthfaces.writer import split_sizes

    n0 = split_sizes(book.default_synth_n())[2]  # the book's test split, which every run scored
    res["plan"] = []
    parts = [analysis.run_variances(p["runs"]) for p in res["pairs"].values()]
    two_way = [p["two_way"] for p in res["pairs"].values() if "two_way" in p]
    for n_runs in sorted({len(runs), 10, 20, *(len(t["seeds"]) for t in two_way)}):
        for n in (n0, 2 * n0, 4 * n0):
            half = max(analysis.pooled_half_width(between, images * n0 / n, n_runs)
                       for between, images in parts)
            row = {"runs": n_runs, "test_images": n, "largest_half_width": float(half)}
            if len(two_way) == len(parts):  # the same from the runs x images table's variances
                row["largest_two_way_half_width"] = max(float(analysis.two_way_half_width(
                    t["runs_var"], t["images_var"], t["cells_var"], n_runs, n)) for t in two_way)
            res["plan"].append(row)
            print(f"{n_runs} runs, {n} test images: largest half-width {half:.2f}"
                  + (f", two-way {row['largest_two_way_half_width']:.2f}" if len(row) > 3 else ""),
                  flush=True)
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("weights")
    p.add_argument("out")
    p.add_argument("--from", dest="tap", choices=tuple(AFTER), default="block3")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--epochs", type=int, default=8)
    v = sub.add_parser("variants")
    v.add_argument("weights")
    v.add_argument("out")
    v.add_argument("--lr", type=float, default=8e-3)
    v.add_argument("--trunk-lr", type=float, default=2e-3)
    v.add_argument("--epochs", type=int, default=8)
    v.add_argument("--variants", nargs="+", default=["baseline", "independent", "gal", "mggnet"])
    v.add_argument("--seed", type=int, default=0, help="stage 2's seed: heads' start, batch order")
    v.add_argument("--pos-power", type=float, default=0.0,
                   help="positives weighted by (N_neg / N_pos) ** P: 0 Eq. 5, 1 Table 2's criterion")
    k = sub.add_parser("seeds")
    k.add_argument("out")
    k.add_argument("files", nargs="+")
    k.add_argument("--images", nargs="+", default=[], help="images files, one per seed")
    m = sub.add_parser("images")
    m.add_argument("earlier")
    m.add_argument("rerun")
    m.add_argument("out")
    a = ap.parse_args(argv)
    if a.cmd == "probe":
        probe(a.weights, a.out, a.tap, a.lr, a.epochs)
    elif a.cmd == "seeds":
        seeds(a.out, a.files, a.images)
    elif a.cmd == "images":
        images(a.earlier, a.rerun, a.out)
    else:
        variants(a.weights, a.out, a.lr, a.trunk_lr, a.epochs, a.variants, a.seed, a.pos_power)


if __name__ == "__main__":
    main(sys.argv[1:])
