"""Two layout levers for the book's CPU build, each against its alternative in one process, in
interleaved rounds (the machine's speed drifts; a ratio within one run does not): GCL's
message layout (adopted, ``nn/gcl.py``) and channels_last on the CPU (measured, not adopted:
``benchmarks/README.md``, "Layouts").

    python benchmarks/layouts.py                        # writes results/layouts_<date>.json
    python benchmarks/layouts.py --rounds 3 --out x.json

* ``gcl``: the quick profile's stage-2 MGG-Net step (frozen features, batch 128, Adam), with
  GCL's pairwise messages written f-first (``nn/gcl.py``, d innermost) and W_g-first (the
  earlier form, whose d has a stride of K * D).
* ``stage1``: the quick profile's stage-1 step (its ResNet-18 trunk: width 16, no stem
  max-pool since 2026-12-04; width 32 with it before; batch 32, 64 px, SGD), NCHW against
  channels_last (``TrainConfig.channels_last``, which only CUDA runs use).
* ``features``: the frozen backbone's inference on a batch of 128 (what
  ``training/features.py`` computes once per split), NCHW against channels_last.

Each round times ``--steps`` calls of each alternative after two warm-up calls; the JSON has
every round's milliseconds per call, their medians and the machine. Then the price of the
layout in precision: one stage-1 step's parameter gradients in fp32, each layout, against the
same step in float64 (``stage1_gradient_relative_error``), and in bf16 autocast for scale (what
the quick profile trains in on a CPU with native bf16).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, uninstalled

from mggnet_lite.files import atomic_write_json  # noqa: E402
from mggnet_lite.losses import mggnet_loss  # noqa: E402
from mggnet_lite.nn import gcl as gcl_module  # noqa: E402
from mggnet_lite.nn.einsum import einsum  # noqa: E402
from mggnet_lite.nn.mggnet import build_model  # noqa: E402
from mggnet_lite.training.config import make_config  # noqa: E402
from mggnet_lite.training.run import AfterBackbone  # noqa: E402
from mggnet_lite.training.runtime import machine_info, versions  # noqa: E402
from mggnet_lite.training.step import train_step  # noqa: E402

CPU = torch.device("cpu")


def w_g_first(self, f, senders=None):
    """GraphCorrelation.forward as it was before: the same maths, W_g first in the einsum."""
    h = einsum("ide,bje->bijd", self.w_g, f if senders is None else senders)
    logits = einsum("bijd,id->bij", torch.relu(h), self.w_e)
    e = torch.softmax(logits + self.self_loop_logit, dim=-1)
    message = einsum("bij,bijd->bid", e, h)
    return torch.relu(torch.lerp(f, message, self.alpha)), e


def _stage2(fmt: torch.memory_format) -> Callable[[], None]:
    """One stage-2 MGG-Net step of the quick profile on random frozen features."""
    cfg = make_config("quick")
    torch.manual_seed(0)
    model = build_model("mggnet", cfg.backbone, None, taps=tuple(cfg.taps), width=cfg.width,
                        stem_pool=cfg.stem_pool, pool=cfg.pool).to(memory_format=fmt)
    model.backbone.requires_grad_(False)
    with torch.no_grad():
        maps = model.backbone(torch.randn(2, 3, cfg.image_size, cfg.image_size))
    b = cfg.batch_size
    feats = {t: torch.randn(b, *maps[t].shape[1:]).contiguous(memory_format=fmt)
             for t in model.backbone.taps}
    feats["final"] = torch.randn(b, maps["final"].shape[1])
    y = (torch.rand(b, 40) < 0.5).float()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                           foreach=True)
    net = AfterBackbone(model)
    return lambda: train_step(net, opt, mggnet_loss, feats, y, device=CPU)


def _stage1(fmt: torch.memory_format) -> Callable[[], None]:
    """One stage-1 step of the quick profile (the baseline trained on the attributes)."""
    cfg = make_config("quick")
    torch.manual_seed(0)
    model = build_model("baseline", cfg.backbone, None, width=cfg.width,
                        stem_pool=cfg.stem_pool).to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4,
                          foreach=True)
    x = torch.randn(32, 3, cfg.image_size, cfg.image_size).contiguous(memory_format=fmt)
    y = (torch.rand(32, 40) < 0.5).float()
    return lambda: train_step(model, opt, mggnet_loss, x, y, device=CPU)


def _features(fmt: torch.memory_format) -> Callable[[], None]:
    """The frozen backbone on a batch of 128, in inference mode."""
    cfg = make_config("quick")
    torch.manual_seed(0)
    backbone = build_model("mggnet", cfg.backbone, None, width=cfg.width,
                           stem_pool=cfg.stem_pool).backbone.eval()
    backbone = backbone.to(memory_format=fmt)
    x = torch.randn(128, 3, cfg.image_size, cfg.image_size).contiguous(memory_format=fmt)

    def run() -> None:
        with torch.inference_mode():
            backbone(x)
    return run


def stage1_gradient_errors() -> dict[str, float]:
    """The stage-1 step's parameter gradients in fp32, NCHW and channels_last, against the
    same step in float64 (NCHW): ||g - g64|| / ||g64|| over all parameters."""
    cfg = make_config("quick")
    torch.manual_seed(0)
    model = build_model("baseline", cfg.backbone, None, width=cfg.width, stem_pool=cfg.stem_pool)
    x = torch.randn(32, 3, cfg.image_size, cfg.image_size)
    y = (torch.rand(32, 40) < 0.5).float()

    def grads(dtype: torch.dtype, fmt: torch.memory_format, bf16: bool = False) -> torch.Tensor:
        m = copy.deepcopy(model).to(dtype).to(memory_format=fmt).train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = m(x.to(dtype).contiguous(memory_format=fmt))
        mggnet_loss(out, y.to(dtype)).backward()
        return torch.cat([p.grad.flatten().double() for p in m.parameters()])

    ref = grads(torch.float64, torch.contiguous_format)
    nchw, nhwc = torch.contiguous_format, torch.channels_last
    return {name: float((grads(torch.float32, fmt, bf16) - ref).norm() / ref.norm())
            for name, fmt, bf16 in (("nchw", nchw, False), ("channels_last", nhwc, False),
                                    ("nchw_bf16_autocast", nchw, True))}


def _timed(fn: Callable[[], None], steps: int) -> float:
    for _ in range(2):
        fn()
    t = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t) / steps * 1000


def compare(pairs: dict[str, Callable[[], Callable[[], None]]], rounds: int, steps: int,
            around: dict[str, Callable[[], None]] | None = None) -> dict:
    """``{name: {"ms": [per round], "median_ms": m}}``, the alternatives interleaved per round;
    ``around[name]`` is called before each of that alternative's rounds (a patch)."""
    fns = {k: make() for k, make in pairs.items()}
    out = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            (around or {}).get(k, lambda: None)()
            out[k].append(round(_timed(fn, steps), 2))
    return {k: {"ms": v, "median_ms": statistics.median(v)} for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    f_first = gcl_module.GraphCorrelation.forward
    nchw, nhwc = torch.contiguous_format, torch.channels_last
    res = {
        "gcl": compare({"f_first": lambda: _stage2(nchw), "w_g_first": lambda: _stage2(nchw)},
                       a.rounds, a.steps, around={
                           "f_first": lambda: setattr(gcl_module.GraphCorrelation, "forward",
                                                      f_first),
                           "w_g_first": lambda: setattr(gcl_module.GraphCorrelation, "forward",
                                                        w_g_first)}),
        "stage1": compare({"nchw": lambda: _stage1(nchw), "channels_last": lambda: _stage1(nhwc)},
                          a.rounds, a.steps),
        "features": compare({"nchw": lambda: _features(nchw),
                             "channels_last": lambda: _features(nhwc)}, a.rounds, a.steps),
    }
    gcl_module.GraphCorrelation.forward = f_first
    for name, r in res.items():
        print(name + ": " + ", ".join(f"{k} {v['median_ms']:.1f} ms" for k, v in r.items()))
    errors = stage1_gradient_errors()
    print("stage-1 gradients against float64: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
    date = datetime.date.today().isoformat()
    out = a.out or ROOT / "benchmarks" / "results" / f"layouts_{date}.json"
    atomic_write_json(out, {"kind": "layouts", "date": date, "command": " ".join(sys.argv),
                            "machine": machine_info(CPU), "versions": versions(),
                            "threads": torch.get_num_threads(), "rounds": a.rounds,
                            "steps": a.steps, "results": res,
                            "stage1_gradient_relative_error": errors})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
