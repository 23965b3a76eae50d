"""Issue 19, target 5: levers on a first build's time. Stage 1 (the width-32 ResNet-18 every
variant starts from) is the largest cell of a first build; the blind network's setup (its
groups' maps of blinded images) is the next largest that is not a training.

    python study.py run LEVER OUT.json [--variants mggnet] [--seed 0]
    python study.py speed OUT.json [--steps 20] [--rounds 4]
    python study.py blind OUT.json [--batches 8] [--rounds 4]
    python study.py stage2 OUT.json [--steps 15] [--rounds 3]
    python study.py emulated OUT.json [--steps 10] [--rounds 3]

``LEVER``: ``profile`` (stage 1 as ``PROFILES["quick"]``: batch 32, SGD lr 0.1 / 0.01, trained
again in its own folders), ``b64`` (batch 64, lr 0.2 / 0.02: the linear scaling rule of Goyal
et al., 2017), ``b64-lr1`` (batch 64, lr 0.1 / 0.01), ``bf16`` (batch 32, bf16 autocast on the
CPU; when it was run the package autocast on CUDA only and this study patched ``autocast_for``
in its process, evaluation included; since then it is the package's ``amp="bf16-native"``,
whose evaluation stays fp32). Stage 2 and the cached features are fp32 in every lever
(``amp="none"``), as the profile was when these ran. The runs go through the book's own ``book.trained_model`` (``run`` is
``../2026-12-03-levers/study.py``'s). ``speed``: a stage-1 step at batch 32 and 64.
``blind``: one batch of the blind setup's maps through the whole trunk (as before 2026-12-04)
and through the tapped blocks only (``Backbone.forward(x, final=False)``, what
``MGGNet.blind_maps`` now runs). ``stage2``: a stage-2 step (Adam, batch 128, random features
of the profile's shapes) of GAL, independent and MGG-Net, fp32 against ``amp="bf16-native"``
(bf16 autocast on a CPU that has it), interleaved rounds, minima. ``emulated``: a stage-1
step of the quick profile's trunk in fp32 against bf16 autocast forced on (what
``"bf16-native"`` would run without its check of the CPU), interleaved rounds, medians.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "2026-12-03-levers"))
import study as levers  # noqa: E402

_spec = importlib.util.spec_from_file_location(  # the narrow-stem study's step timer
    "narrow_stem", Path(__file__).resolve().parent.parent / "2026-12-04-narrow-stem" / "study.py")
narrow_stem = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(narrow_stem)
_time = narrow_stem._time  # seconds per call of a step, after 3 warm-up calls

LEVERS = {"profile": {"amp": "none"},
          "b64": {"batch_size": 64, "lr": 0.2, "low_lr": 0.02, "amp": "none"},
          "b64-lr1": {"batch_size": 64, "lr": 0.1, "low_lr": 0.01, "amp": "none"},
          "bf16": {"amp": "bf16-native"}}


def settings_of(lever: str) -> dict:
    """``book.trained_model`` keyword arguments of ``lever`` (both stages tagged in ``extra``
    so that their run folders never collide with the book's)."""
    from mggnet_lite.training.config import PROFILE_SETTINGS

    note = {"lever": f"2026-12-04-stage1-{lever}"}
    pre = {**PROFILE_SETTINGS["quick"]["pretrain"], **LEVERS[lever], "extra": dict(note)}
    return {"extra": dict(note), "pretrain": pre, "amp": "none"}  # stage 2 in fp32


def speed(out: str, steps: int = 20, rounds: int = 4) -> None:
    """Seconds per stage-1 step (the baseline, 64 px, SGD with momentum, forward + backward)
    at batch 32 and 64, interleaved rounds, medians; and the ratio per image."""
    from mggnet_lite.nn.mggnet import build_model
    from mggnet_lite.training.runtime import machine_info

    torch.manual_seed(0)
    model = build_model("baseline", "resnet18", None, width=32)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    times: dict[int, list[float]] = {32: [], 64: []}
    for _ in range(rounds):
        for batch in times:
            x, y = torch.randn(batch, 3, 64, 64), (torch.rand(batch, 40) > 0.5).float()

            def step(x: torch.Tensor = x, y: torch.Tensor = y) -> None:
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    model(x).base_logits, y)
                opt.zero_grad()
                loss.backward()
                opt.step()

            times[batch].append(_time(step, steps))
    med = {b: sorted(t)[len(t) // 2] for b, t in times.items()}
    res = {"machine": machine_info("cpu"), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "steps": steps, "rounds": rounds,
           "step_s": times, "median_step_s": med,
           "images_per_s": {b: b / s for b, s in med.items()},
           "per_image_ratio_64_over_32": (med[64] / 64) / (med[32] / 32)}
    print(json.dumps({k: res[k] for k in ("median_step_s", "images_per_s",
                                          "per_image_ratio_64_over_32")}, indent=1))
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def blind(out: str, batches: int = 8, rounds: int = 4) -> None:
    """Seconds per batch of 128 blinded images (stage 2's batch, in which the features are
    computed): the trunk to block 5 against the trunk to the last tap (block 4), interleaved
    rounds, medians."""
    from mggnet_lite.nn.mggnet import build_model
    from mggnet_lite.training.runtime import machine_info

    torch.manual_seed(0)
    model = build_model("mggnet", "resnet18", None, width=32, pool="mass").eval()
    x = torch.randn(128, 3, 64, 64)
    times: dict[str, list[float]] = {"to block 5": [], "to the last tap": []}
    with torch.inference_mode():
        for _ in range(rounds):
            for name, final in (("to block 5", True), ("to the last tap", False)):
                times[name].append(_time(lambda f=final: model.backbone(x, final=f),
                                               batches))
    med = {k: sorted(t)[len(t) // 2] for k, t in times.items()}
    res = {"machine": machine_info("cpu"), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "batch": 128, "batches": batches,
           "rounds": rounds, "batch_s": times, "median_batch_s": med,
           "ratio": med["to the last tap"] / med["to block 5"]}
    print(json.dumps({k: res[k] for k in ("median_batch_s", "ratio")}, indent=1))
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def stage2(out: str, steps: int = 15, rounds: int = 3) -> None:
    """Seconds per stage-2 step (``train_step`` on ``AfterBackbone``: Eq. 5, Adam 2e-3, batch
    128, random block-3 / block-4 / final features at the profile's shapes) per variant, with
    ``amp="none"`` and ``"bf16-native"``, interleaved rounds, minima; and fp32 / bf16."""
    import functools

    from mggnet_lite.losses import mggnet_loss
    from mggnet_lite.nn.mggnet import MGGNet
    from mggnet_lite.training.run import AfterBackbone
    from mggnet_lite.training.runtime import machine_info
    from mggnet_lite.training.step import train_step

    torch.manual_seed(0)
    feats = {"block3": torch.randn(128, 64, 8, 8), "block4": torch.randn(128, 128, 4, 4),
             "final": torch.randn(128, 256)}
    y, cpu = (torch.rand(128, 40) < 0.3).float(), torch.device("cpu")
    loss = functools.partial(mggnet_loss, pos_weight=None)
    times: dict[str, dict[str, list[float]]] = {}
    for _ in range(rounds):
        for variant in ("gal", "independent", "mggnet"):
            for amp in ("none", "bf16-native"):
                model = MGGNet(variant, "resnet18", None, width=32, pool="mass")
                model.backbone.requires_grad_(False)
                net = AfterBackbone(model).train()
                opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad],
                                       lr=2e-3, foreach=True)
                times.setdefault(variant, {}).setdefault(amp, []).append(_time(
                    lambda n=net, o=opt, a=amp: train_step(n, o, loss, feats, y, device=cpu,
                                                           amp=a), steps))
    best = {v: {a: min(t) for a, t in d.items()} for v, d in times.items()}
    res = {"machine": machine_info("cpu"), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "steps": steps, "rounds": rounds,
           "step_s": times, "min_step_s": best,
           "fp32_over_bf16": {v: d["none"] / d["bf16-native"] for v, d in best.items()}}
    print(json.dumps({k: res[k] for k in ("min_step_s", "fp32_over_bf16")}, indent=1))
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def emulated(out: str, steps: int = 10, rounds: int = 3) -> None:
    """Seconds per stage-1 step of the quick profile's trunk (width 16, no stem max-pool,
    batch 32, 64 px, SGD, forward + backward of the baseline) in fp32 and under bf16 autocast
    forced on whatever the CPU has, interleaved rounds, medians; and bf16 / fp32."""
    import contextlib

    from mggnet_lite.nn.mggnet import build_model
    from mggnet_lite.training.runtime import cpu_has_native_bf16, machine_info

    torch.manual_seed(0)
    model = build_model("baseline", "resnet18", None, width=16, stem_pool=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(32, 3, 64, 64), (torch.rand(32, 40) > 0.5).float()
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(rounds):
        for amp in times:
            def step(amp: str = amp) -> None:
                ctx = (torch.autocast("cpu", dtype=torch.bfloat16) if amp == "bf16"
                       else contextlib.nullcontext())
                with ctx:
                    logits = model(x).base_logits
                loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
                opt.zero_grad()
                loss.backward()
                opt.step()

            times[amp].append(_time(step, steps))
    med = {k: sorted(t)[len(t) // 2] for k, t in times.items()}
    res = {"machine": machine_info("cpu"), "cpu_native_bf16": cpu_has_native_bf16(),
           "torch": torch.__version__, "threads": torch.get_num_threads(), "steps": steps,
           "rounds": rounds, "step_s": times, "median_step_s": med,
           "images_per_s": {k: 32 / s for k, s in med.items()},
           "bf16_over_fp32": med["bf16"] / med["fp32"]}
    print(json.dumps({k: res[k] for k in ("cpu_native_bf16", "median_step_s", "images_per_s",
                                          "bf16_over_fp32")}, indent=1))
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("lever", choices=list(LEVERS))
    r.add_argument("out")
    r.add_argument("--variants", nargs="+", default=["mggnet"])
    r.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("speed")
    s.add_argument("out")
    s.add_argument("--steps", type=int, default=20)
    s.add_argument("--rounds", type=int, default=4)
    b = sub.add_parser("blind")
    b.add_argument("out")
    b.add_argument("--batches", type=int, default=8)
    b.add_argument("--rounds", type=int, default=4)
    t = sub.add_parser("stage2")
    t.add_argument("out")
    t.add_argument("--steps", type=int, default=15)
    t.add_argument("--rounds", type=int, default=3)
    e = sub.add_parser("emulated")
    e.add_argument("out")
    e.add_argument("--steps", type=int, default=10)
    e.add_argument("--rounds", type=int, default=3)
    a = p.parse_args()
    if a.cmd == "emulated":
        emulated(a.out, a.steps, a.rounds)
        return
    if a.cmd == "stage2":
        stage2(a.out, a.steps, a.rounds)
        return
    if a.cmd == "speed":
        speed(a.out, a.steps, a.rounds)
        return
    if a.cmd == "blind":
        blind(a.out, a.batches, a.rounds)
        return
    levers.settings_of = settings_of  # the levers study's run reads settings_of(lever)
    levers.run(a.lever, a.out, a.variants, a.seed)


if __name__ == "__main__":
    main()
