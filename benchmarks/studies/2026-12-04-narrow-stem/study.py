"""Issue 19, item 3: a fine block-3 grid at the profile's cost. Dropping the stem's max-pool
made GAL's block-3 masks point in 8 of 8 groups (``../2026-12-03-levers``) at 2.1x the stage-1
time and ~3x the stage-2 time. A narrower trunk pays for it: convolution cost scales with
pixels x channels^2, so 4x the pixels at half the width costs the same multiply-adds.

    python study.py run LEVER OUT.json [--variants gal mggnet] [--seed 0] [--pool softmax]
    python study.py speed OUT.json [--steps 30]
    python study.py table results/A.json results/B.json ...

``LEVER``: ``stemW`` for W in 16, 24, 32: the stem without its max-pool (``../2026-12-03-levers``
``patch_stem``) and a width-W ResNet-18 in both stages (the profile: max-pool, width 32);
``book``: the book's own runs (``$MGGNET_BOOK_RUNS``, a build's, reused);
``profile``: the profile itself, trained again in its own folders (the reference, same
threads). Everything else as ``PROFILES["quick"]``; the runs go through the book's own
``book.trained_model`` (``run`` is ``../2026-12-03-levers/study.py``'s).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "2026-12-03-levers"))
import study as levers  # noqa: E402

LEVERS = ("book", "profile", "stem16", "stem24", "stem32")


def settings_of(lever: str) -> dict:
    """``book.trained_model`` keyword arguments of ``lever`` (both stages tagged in ``extra``
    so that their run folders never collide with the profile's)."""
    from mggnet_lite.training.config import PROFILE_SETTINGS

    if lever == "book":  # the book's own runs (a build's, reused; no extra)
        return {}
    note = {"lever": f"2026-12-04-{lever}"}
    pre = {**PROFILE_SETTINGS["quick"]["pretrain"], "extra": dict(note)}
    if lever == "profile":
        return {"extra": dict(note), "pretrain": pre}
    width = int(lever.removeprefix("stem"))
    levers.patch_stem()
    return {"extra": dict(note), "width": width, "pretrain": pre}


def patch_detach_senders() -> None:
    """GCL (Eq. 2) in this process: node j sends W_gi f_j with f_j detached, so the messages
    train W_g and w_e but no other group's attention module; each f_i still reaches its own
    heads and its own residual (1 - alpha) f_i with gradients. Stage 2 only (the stage-2
    ``extra`` names it, so its run folders are its own)."""
    from mggnet_lite.nn import gcl

    forward = gcl.GraphCorrelation.forward
    if getattr(forward, "detached", False):
        return

    def detached(self, f, senders=None):
        return forward(self, f, f.detach() if senders is None else senders)

    detached.detached = True
    gcl.GraphCorrelation.forward = detached


def _time(step, steps: int) -> float:
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps


def speed(out: str, steps: int = 30, rounds: int = 3) -> None:
    """Seconds per step, interleaved rounds, medians: stage 1 (batch 32 at 64 px, SGD,
    forward + backward of the baseline) and stage 2 (batch 128, Adam, MGG-Net's heads on
    frozen block maps, ``forward_features``) of each trunk."""
    from mggnet_lite.nn import backbones
    from mggnet_lite.nn.mggnet import build_model
    from mggnet_lite.training.runtime import machine_info

    plain = backbones._split
    cases = [("profile", 32, False), ("stem16", 16, True), ("stem24", 24, True),
             ("stem32", 32, True)]
    res: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                 "machine": machine_info("cpu"), "steps": steps, "rounds": rounds,
                 "stage1_s": {}, "stage2_s": {}}
    for _ in range(rounds):
        for lever, width, stem in cases:
            backbones._split = plain
            if stem:
                levers.patch_stem()
            torch.manual_seed(0)
            m1 = build_model("baseline", "resnet18", None, width=width).train()
            o1 = torch.optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
            x, y = torch.randn(32, 3, 64, 64), (torch.rand(32, 40) > 0.5).float()

            def s1(m1=m1, o1=o1, x=x, y=y):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    m1(x).base_logits, y)
                o1.zero_grad(set_to_none=True)
                loss.backward()
                o1.step()

            m2 = build_model("mggnet", "resnet18", None, width=width).train()
            with torch.no_grad():
                maps = m2.backbone(torch.randn(128, 3, 64, 64))
            feats = {t: maps[t].detach() for t in m2.backbone.taps}
            feats["final"] = maps["final"].mean((2, 3)).detach()
            heads = [p for n, p in m2.named_parameters() if not n.startswith("backbone")]
            o2 = torch.optim.Adam(heads, lr=2e-3)
            y2 = (torch.rand(128, 40) > 0.5).float()

            def s2(m2=m2, o2=o2, feats=feats, y2=y2):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    torch.stack(m2.forward_features(feats).fused_logits).mean(0), y2)
                o2.zero_grad(set_to_none=True)
                loss.backward()
                o2.step()

            res["stage1_s"].setdefault(lever, []).append(_time(s1, steps))
            res["stage2_s"].setdefault(lever, []).append(_time(s2, steps))
            print(lever, res["stage1_s"][lever][-1], res["stage2_s"][lever][-1], flush=True)
    backbones._split = plain
    for key in ("stage1_s", "stage2_s"):
        med = {k: float(np.median(v)) for k, v in res[key].items()}
        res[key.replace("_s", "_ratio")] = {k: v / med["profile"] for k, v in med.items()}
    print(json.dumps({k: res[k] for k in ("stage1_ratio", "stage2_ratio")}, indent=1))
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def table(paths: list[str]) -> None:
    """The README's table: one row per (run file, variant) at block 3, then block 4."""
    groups = None
    for block in ("block3", "block4"):
        for path in paths:
            r = json.loads(Path(path).read_text())
            bf16 = "-bf16-" in Path(path).name  # trained with the profile's amp="bf16-native"
            groups = groups or r["groups"]
            if groups is r["groups"] and block == "block3" and path == paths[0]:
                print("| trunk | stage 2 | variant | block | mean acc. | balanced | "
                      + " | ".join(groups) + " | >= 0.5 | lift >= 2 | >= 2x chance |")
                print("| --- | --- | --- | --- | ---: | ---: | "
                      + " | ".join("---:" for _ in groups) + " | ---: | ---: | ---: |")
            s = r["settings"]
            trunk = ("width 32, max-pool (the profile)" if r["lever"] in ("book", "profile")
                     else f"width {s['width']}, no max-pool")
            extra = [f"seed {r['seed']}"] + (["bf16"] if bf16 else [])
            pre = s.get("pretrain", {})
            if pre.get("epochs_at_lr", 5) != 5 or pre.get("epochs_at_low_lr", 1) != 1:
                extra.append(f"stage 1 {pre['epochs_at_lr']}+{pre['epochs_at_low_lr']} epochs")
            if s.get("epochs_at_lr"):
                extra.append(f"{s['epochs_at_lr']} epochs")
            if s.get("lr"):
                extra.append(f"lr {s['lr']:g}")
            if s.get("pool"):
                extra.append(f"pool {s['pool']}")
            if s.get("extra", {}).get("gcl"):
                extra.append("senders detached")
            for v, row in r["variants"].items():
                c = row["count"][block]
                print(f"| {trunk} | {', '.join(extra)} | {v} | {block} "
                      f"({row['grid'][block][0]}x{row['grid'][block][1]}) | "
                      f"{row['mean_accuracy']:.2f} | {row['mean_balanced_accuracy']:.2f} | "
                      + " | ".join(f"{x:.2f}" for x in row["pointing"][block])
                      + f" | {c['pointing_ge_0.5']} | {c['lift_ge_2']} | "
                      f"{c['pointing_ge_2x_chance']} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("lever", choices=LEVERS)
    r.add_argument("out")
    r.add_argument("--variants", nargs="+", default=["gal"])
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--pool", default=None, help="stage 2's GAL pooling (default: the profile's)")
    r.add_argument("--stage1-epochs", type=int, nargs=2, default=None, metavar=("AT_LR", "LOW"),
                   help="stage 1's epochs at lr 0.1 and 0.01 (the profile: 5 1)")
    r.add_argument("--epochs", type=int, default=None, help="stage 2's epochs (the profile: 8)")
    r.add_argument("--lr", type=float, default=None, help="stage 2's Adam lr (the profile: 2e-3)")
    r.add_argument("--detach-senders", action="store_true",
                   help="GCL's messages read the senders' f detached (patch_detach_senders)")
    s = sub.add_parser("speed")
    s.add_argument("out")
    s.add_argument("--steps", type=int, default=30)
    t = sub.add_parser("table")
    t.add_argument("paths", nargs="+")
    a = ap.parse_args(argv)
    if a.cmd == "table":
        table(a.paths)
    elif a.cmd == "run":
        def lever_settings(lever: str) -> dict:
            out = {**settings_of(lever), **({"pool": a.pool} if a.pool else {})}
            if a.stage1_epochs:  # a stage 1 of its own: its own folder
                e1, e2 = a.stage1_epochs
                note = {**out.get("extra", {}), "stage1_epochs": f"{e1}+{e2}"}
                out["pretrain"] = {**out["pretrain"], "epochs_at_lr": e1, "epochs_at_low_lr": e2,
                                   "extra": note}
                out["extra"] = dict(note)
            if a.epochs:
                out["epochs_at_lr"] = a.epochs
            if a.lr:
                out["lr"] = out["low_lr"] = a.lr
            if a.detach_senders:
                patch_detach_senders()
                out["extra"] = {**out.get("extra", {}), "gcl": "detached-senders"}
            return out

        levers.settings_of = lever_settings  # the levers study's run, with these levers
        levers.run(a.lever, a.out, a.variants, a.seed)
    else:
        speed(a.out, a.steps)


if __name__ == "__main__":
    main(sys.argv[1:])
