"""Issue 19: levers on where GAL's block-3 masks point that each change the trunk or its input,
measured with the quick profile's two stages (README.md beside this file has the results).

    python study.py run LEVER OUT.json [--variants gal mggnet] [--seed 0]
    python study.py speed OUT.json [--steps 40]
    python study.py table results/*.json

``LEVER`` (each one change to the quick profile, everything else as ``PROFILES["quick"]``):

* ``profile``: none (the profile's own stage 1 and GAL run, already in the runs folder, for
  reference);
* ``rerun``: none either, trained again in its own folders (``extra={"lever":
  "profile-rerun-1-thread"}`` in both stages): the 64 px stage-1 time on this machine under
  the same conditions as the levers (one thread);
* ``stem``: the ResNet stem without its 3x3 / 2 max-pool (64 px input; block 3 is 16 x 16,
  its receptive field 51 px instead of 99). The trunk is patched in this process only
  (:func:`patch_stem`); both stages carry ``extra={"lever": "stem-no-maxpool"}`` so that
  their run folders (hashed over the config) never collide with the profile's;
* ``size96``: ``image_size=96`` for both stages (block 3 is 12 x 12, receptive field 99 px);
* ``block2``: GAL also taps block 2 (torchvision ``layer1``, 16 x 16 at 64 px):
  ``taps=("block2", "block3", "block4")``. Stage 1 does not depend on the taps, so it is the
  profile's own.

Stage 1 is the profile's (the baseline on the 40 attributes, width-32 ResNet-18, SGD lr 0.1
for 5 epochs then 0.01 for 1, batch 32, flips), stage 2 the profile's (frozen features, Adam
2e-3, one-cycle, 8 epochs), both through the book's own ``book.trained_model`` and run
folders (``$MGGNET_BOOK_RUNS``). Scored on the test split: mean and balanced accuracy, and per
tapped block the pointing game, lift and chance per group (``book.localisation``; the true
regions are read for this score only, never by a loss).

``speed``: seconds per stage-1 training step (batch 32, SGD, forward + backward) of the
profile's trunk and of the ``stem`` and ``size96`` trunks, same process and threads: the
stage-1 cost ratio of each lever.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

LEVERS = ("profile", "rerun", "stem", "size96", "block2")
STEM_NOTE = {"lever": "stem-no-maxpool"}
RERUN_NOTE = {"lever": "profile-rerun-1-thread"}


def patch_stem() -> None:
    """Make every ResNet built in this process drop the stem's max-pool: block 1 becomes
    conv1 + bn1 + relu (stride 2 instead of 4). The max-pool has no parameters, so the state
    dict keys are unchanged; only the run folders' ``extra`` tells such a run apart."""
    from mggnet_lite.nn import backbones

    if getattr(backbones._split, "no_maxpool", False):
        return
    split = backbones._split

    def no_maxpool(name: str, model: torch.nn.Module, width: int = 64):
        stages, channels = split(name, model, width)
        if name.startswith("resnet"):
            stages["block1"] = torch.nn.Sequential(model.conv1, model.bn1, model.relu)
        return stages, channels

    no_maxpool.no_maxpool = True
    backbones._split = no_maxpool


def settings_of(lever: str) -> dict:
    """The book-config settings of ``lever`` (``book.trained_model``'s keyword arguments)."""
    from mggnet_lite.training.config import PROFILE_SETTINGS

    if lever == "profile":
        return {}
    if lever == "stem":
        patch_stem()
        return {"extra": dict(STEM_NOTE),
                "pretrain": {**PROFILE_SETTINGS["quick"]["pretrain"], "extra": dict(STEM_NOTE)}}
    if lever == "rerun":
        return {"extra": dict(RERUN_NOTE),
                "pretrain": {**PROFILE_SETTINGS["quick"]["pretrain"], "extra": dict(RERUN_NOTE)}}
    if lever == "size96":
        return {"image_size": 96}
    if lever == "block2":
        return {"taps": ("block2", "block3", "block4")}
    raise ValueError(f"lever={lever!r}: choose one of {LEVERS}")


def _epoch_seconds(folder: Path) -> float | None:
    """Sum of the epochs' training seconds in a run's metrics.jsonl."""
    path = folder / "metrics.jsonl"
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return float(sum(r.get("seconds", 0.0) for r in rows if "epoch" in r))


def run(lever: str, out: str, variants: list[str], seed: int = 0) -> None:
    """Train (or reuse) ``lever``'s stage 1 and ``variants``, score them on the test split and
    write ``out``. ``seed``: stage 2's seed (a TrainConfig field that stage 1 does not
    inherit, so stage 1 is seed 0's whatever it is)."""
    from mggnet_lite import book
    from mggnet_lite.data import CelebA
    from mggnet_lite.data import synthfaces as sf
    from mggnet_lite.training.runtime import machine_info
    from mggnet_lite.training.train import ensure_pretrained

    settings = settings_of(lever)
    if seed:
        settings["seed"] = seed
    data = book.book_data()
    res: dict = {"lever": lever, "settings": {k: v for k, v in settings.items()}, "seed": seed,
                 "torch": torch.__version__, "threads": torch.get_num_threads(),
                 "machine": machine_info("cpu"), "variants": {}}
    cfg = book.book_config(variants[0], **settings)
    pre = book.pretrain_folder(cfg)
    reused = (pre / "results.json").is_file()
    t0 = time.time()
    ensure_pretrained(cfg, pre, data, progress=False)
    res["stage1"] = {"folder": str(pre), "reused": reused, "wall_s": time.time() - t0,
                     "epoch_s": _epoch_seconds(pre),
                     "test_mean_accuracy": json.loads((pre / "results.json").read_text())
                     .get("mean_accuracy")}
    print("stage 1", res["stage1"], flush=True)
    test = CelebA(data, split="test")
    truth = torch.from_numpy(np.stack([sf.load_group_masks(data, f) for f in test.filenames]))
    for v in variants:
        folder = book.run_folder(book.book_config(v, **settings))
        was = (folder / "results.json").is_file()
        t0 = time.time()
        model, report = book.trained_model(v, **settings)
        wall = time.time() - t0
        outs = book.test_outputs(model, report)
        loc = book.localisation({b: outs[f"masks:{b}"] for b in model.backbone.taps}, truth)
        print(book.format_localisation(loc, model.group_names, f"{lever} {v}:"), flush=True)
        row = {"folder": str(folder), "reused": was, "wall_s": wall,
               "epoch_s": _epoch_seconds(folder),
               "mean_accuracy": report["mean_accuracy"],
               "mean_balanced_accuracy": report["mean_balanced_accuracy"],
               "grid": {b: list(outs[f"masks:{b}"].shape[-2:]) for b in loc},
               "pointing": {b: loc[b]["pointing"].tolist() for b in loc},
               "lift": {b: loc[b]["lift"].tolist() for b in loc},
               "ceiling": {b: loc[b]["ceiling"].tolist() for b in loc},
               "chance": {b: loc[b]["chance"].tolist() for b in loc}}
        row["count"] = {b: {"pointing_ge_0.5": int((loc[b]["pointing"] >= 0.5).sum()),
                            "lift_ge_2": int((loc[b]["lift"] >= 2).sum()),
                            "pointing_ge_2x_chance":
                                int((loc[b]["pointing"] >= 2 * loc[b]["chance"]).sum())}
                        for b in loc}
        res["groups"] = list(model.group_names)
        res["variants"][v] = row
        print(v, {k: row[k] for k in ("mean_accuracy", "wall_s", "count")}, flush=True)
        Path(out).write_text(json.dumps(res, indent=1) + "\n")


def speed(out: str, steps: int = 40) -> None:
    """Seconds per stage-1 step of each lever's trunk (batch 32 of random images, 40 outputs,
    SGD with momentum, forward + backward), after 5 warm-up steps."""
    from mggnet_lite.nn import backbones
    from mggnet_lite.nn.mggnet import build_model
    from mggnet_lite.training.runtime import machine_info

    plain = backbones._split
    res: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                 "machine": machine_info("cpu"), "steps": steps, "s_per_step": {}}
    for lever, size in (("profile", 64), ("stem", 64), ("size96", 96), ("profile", 64)):
        backbones._split = plain
        if lever == "stem":
            patch_stem()
        torch.manual_seed(0)
        model = build_model("baseline", "resnet18", None, width=32).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        x, y = torch.randn(32, 3, size, size), (torch.rand(32, 40) > 0.5).float()
        for i in range(5 + steps):
            if i == 5:
                t0 = time.perf_counter()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).base_logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        s = (time.perf_counter() - t0) / steps
        res["s_per_step"].setdefault(lever, []).append(s)
        print(lever, size, f"{s:.4f} s/step", flush=True)
    backbones._split = plain
    base = float(np.mean(res["s_per_step"]["profile"]))
    res["ratio"] = {k: float(np.mean(v)) / base for k, v in res["s_per_step"].items()}
    print(res["ratio"])
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def table(paths: list[str]) -> None:
    """The README's table: one row per (lever, variant, tapped block) of the ``run`` files."""
    head = None
    for path in paths:
        r = json.loads(Path(path).read_text())
        if "variants" not in r or "lever" not in r:
            continue
        if head is None:
            head = ("| lever | variant | block (grid) | mean acc. | " + " | ".join(r["groups"])
                    + " | >= 0.5 | lift >= 2 | >= 2x chance | seed | machine | torch"
                  " | stage 1 train s | stage 2 train s | stage 2 wall s |")
            print(head)
            print("| --- | --- | --- | ---: | " + " | ".join("---:" for _ in r["groups"])
                  + " | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |")
            print("| chance | | block 3 | | " + " | ".join(
                f"{c:.2f}" for c in next(iter(r["variants"].values()))["chance"]["block3"])
                + " | | | | | | | | | |")
        s1, reused = r["stage1"]["epoch_s"], r["stage1"]["reused"]
        machine = f"{r['machine']['name']}, {r['threads']} thread(s)"
        for v, row in r["variants"].items():
            for b in row["pointing"]:
                c = row["count"][b]
                print(f"| {r['lever']} | {v} | {b} ({row['grid'][b][0]}x{row['grid'][b][1]}) | "
                      f"{row['mean_accuracy']:.2f} | "
                      + " | ".join(f"{x:.2f}" for x in row["pointing"][b])
                      + f" | {c['pointing_ge_0.5']} | {c['lift_ge_2']} | "
                      f"{c['pointing_ge_2x_chance']} | {r['seed']} | {machine} | "
                      f"{r['torch'].split('+')[0]} | {s1:.0f}{' (reused)' * reused} | "
                      f"{row['epoch_s']:.0f}{' (reused)' * row['reused']} | "
                      f"{'-' if row['reused'] else format(row['wall_s'], '.0f')} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("lever", choices=LEVERS)
    r.add_argument("out")
    r.add_argument("--variants", nargs="+", default=["gal"])
    r.add_argument("--seed", type=int, default=0, help="stage 2's seed")
    s = sub.add_parser("speed")
    s.add_argument("out")
    s.add_argument("--steps", type=int, default=40)
    t = sub.add_parser("table")
    t.add_argument("paths", nargs="+")
    a = ap.parse_args(argv)
    if a.cmd == "table":
        table(a.paths)
    elif a.cmd == "run":
        run(a.lever, a.out, a.variants, a.seed)
    else:
        speed(a.out, a.steps)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main(sys.argv[1:])
