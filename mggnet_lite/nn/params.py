"""Parameter counts of each variant beside the paper's (Sec. 4.2: baseline 11M, MGG-Net 12.8M,
GAL + GCL 1.8M), and an optional CPU forward+backward timing.

``python -m mggnet_lite params [--backbone resnet18] [--gal-reduction 8] [--time]``
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from ..files import atomic_write_json
from ..paper import PARAMS_M
from .mggnet import VARIANTS, build_model


def count(module: torch.nn.Module | None) -> int:
    """Number of parameters of ``module`` (0 for None)."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def param_table(backbone: str = "resnet18", gal_reduction: int = 8) -> list[dict]:
    """One row per variant: total, backbone, base head, GAL, GCL, group heads (parameters)."""
    rows = []
    for v in VARIANTS:
        m = build_model(v, backbone, gal_reduction=gal_reduction)
        rows.append({
            "variant": v, "total": count(m), "backbone": count(m.backbone),
            "base_head": count(m.base_head), "gal": count(m.gal), "gcl": count(m.gcl),
            "group_heads": count(m.heads),
            "paper_total_M": PARAMS_M.get(v),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    """The table as text, in millions, with the paper's numbers where it gives them."""
    head = (f"{'variant':<12}{'total':>8}{'backbone':>10}{'GAL':>8}{'GCL':>8}"
            f"{'heads':>8}{'GAL+GCL':>9}{'paper total':>13}")
    lines = [head, "-" * len(head)]
    for r in rows:
        paper = "" if r["paper_total_M"] is None else f"{r['paper_total_M']:.1f}M"
        extra = r["gal"] + r["gcl"]
        lines.append(
            f"{r['variant']:<12}{r['total'] / 1e6:>7.2f}M{r['backbone'] / 1e6:>9.2f}M"
            f"{r['gal'] / 1e6:>7.2f}M{r['gcl'] / 1e6:>7.2f}M"
            f"{(r['group_heads'] + r['base_head']) / 1e6:>7.3f}M{extra / 1e6:>8.2f}M{paper:>13}"
        )
    lines.append(f"paper (ResNet-18): GAL + GCL = {PARAMS_M['gal+gcl']}M; "
                 "'heads' = base head + per-block group heads (Eq. 3)")
    return "\n".join(lines)


def time_step(variant: str, backbone: str = "resnet18", batch: int = 8, size: int = 224,
              repeats: int = 5) -> float:
    """Median seconds of one forward + backward of ``mggnet_loss`` on random input (CPU)."""
    from ..losses import mggnet_loss

    torch.manual_seed(0)
    m = build_model(variant, backbone).train()
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, 2, (batch, len(m.attributes)))
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        m.zero_grad(set_to_none=True)
        mggnet_loss(m(x), y).backward()
        if i:  # the first call warms up the allocator
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def configure_parser(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m mggnet_lite params``."""
    p.add_argument("--backbone", default="resnet18")
    p.add_argument("--gal-reduction", type=int, default=8,
                   help="hidden width of each group attention module = C / reduction")
    p.add_argument("--time", action="store_true",
                   help="also time forward+backward of baseline vs MGG-Net (batch 8, 224, CPU)")
    p.add_argument("--json", type=Path, help="write the table (and timings) to this JSON file")


def cli_main(args: argparse.Namespace) -> int:
    """Print the table (and timings); write it as JSON when asked."""
    rows = param_table(args.backbone, args.gal_reduction)
    print(f"Parameters, {args.backbone}, gal_reduction={args.gal_reduction}")
    print(format_table(rows))
    result: dict = {"backbone": args.backbone, "gal_reduction": args.gal_reduction, "rows": rows}
    if args.time:
        t = {v: time_step(v, args.backbone) for v in ("baseline", "mggnet")}
        print(f"\nforward+backward, batch 8, 224x224, CPU ({torch.get_num_threads()} threads), "
              f"median of 5: baseline {t['baseline']:.3f} s, mggnet {t['mggnet']:.3f} s, "
              f"ratio {t['mggnet'] / t['baseline']:.2f}x")
        result["step_time_s"] = t
        result["machine"] = {"cpu": platform.processor() or platform.machine(),
                             "threads": torch.get_num_threads(), "torch": torch.__version__}
    if args.json:
        atomic_write_json(args.json, result)
    return 0
