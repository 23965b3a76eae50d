"""End-to-end training throughput: the plain pipeline a typical user writes vs ours
(ARCHITECTURE.md, "Speed").

``python -m mggnet_lite bench --data DIR`` (or ``benchmarks/throughput.py``) trains each of
the baseline and MGG-Net for a few steps two ways, on the same data and machine, in one run:

* **plain**: the paper's setting as a typical script writes it: our ``CelebA`` Dataset with a
  torchvision transform (resize to S x S, random flip, ToTensor, Normalize), a
  ``DataLoader`` with ``workers`` processes (persistent, so epoch restarts of a tiny
  benchmark set do not count), fp32, eager, NCHW, batch 144 (or ``plain_batch_size``: the
  paper's batch, while ours may run the batch its scaled schedule trains with), and
  ``loss.item()`` every step for the running loss (the usual logging, and a host sync per
  step).
* **ours**: what ``train`` does: the decoded uint8 cache (built before timing, its build
  time reported separately) read by :func:`mggnet_lite.data.make_loader` on the device
  (resize, flip, normalise as tensor ops), bf16 autocast + channels_last on CUDA (fp32 NCHW
  on a CPU, as ``train``'s default ``amp="bf16"`` is there), optional ``torch.compile``, no
  host sync per step.

Rates are training images per second (forward, Eq. 5 loss, backward, SGD step, and
the data pipeline), over ``steps`` timed steps after ``warmup`` untimed ones; on CUDA the
device is synchronised at both ends of the timed window.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from .. import paper
from ..data.celeba import SPLITS
from ..files import atomic_write_json
from ..losses import mggnet_loss
from ..nn.mggnet import build_model
from .config import COMPILE_MODES, TrainConfig
from .evaluate import data_info
from .runtime import machine_info, resolve_device, versions

#: the two networks compared by default (a subset of ``nn.VARIANTS``)
VARIANTS = ("baseline", "mggnet")
#: defaults of the sizes: the paper's setting, and the CI size (``--ci``, seconds on a CPU)
FULL_SIZES = {"n": 64, "image_size": paper.IMAGE_SIZE, "batch_size": paper.BATCH_SIZE,
              "steps": 20, "warmup": 5}
CI_SIZES = {"n": 64, "image_size": 32, "batch_size": 16, "steps": 3, "warmup": 1}


def _sgd(model: torch.nn.Module) -> torch.optim.SGD:
    """The trainer's optimiser at its first learning rate (``TrainConfig`` defaults, Sec. 4.1)."""
    cfg = TrainConfig()
    return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(
    step: Any, batches: Any, *, steps: int, warmup: int, device: torch.device
) -> dict[str, float]:
    """Run ``warmup`` then ``steps`` calls of ``step(x, y)`` on batches; time the second part."""
    n_img, t0 = 0, 0.0
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        x, y = next(batches)
        step(x, y)
        if i >= warmup:
            n_img += x.shape[0]
    _sync(device)
    seconds = time.perf_counter() - t0
    return {
        "images_per_s": n_img / seconds,
        "seconds": seconds,
        "images": n_img,
        "steps": steps,
        "warmup_steps": warmup,
    }


def _forever(make_iter: Any) -> Any:
    """Batches across epoch boundaries (a benchmark may need more steps than one epoch has)."""
    epoch = 0
    while True:
        yield from make_iter(epoch)
        epoch += 1


@dataclass(frozen=True)
class Setting:
    """What both pipelines are measured with: the network's trunk, the input, the timing."""

    device: torch.device
    backbone: str = paper.BACKBONE
    image_size: int = paper.IMAGE_SIZE
    batch_size: int = paper.BATCH_SIZE
    steps: int = 20  # timed steps
    warmup: int = 5  # untimed steps first
    seed: int = 0


def plain_rate(ds: Any, variant: str, s: Setting, *, workers: int = 0) -> dict[str, float]:
    """Images/s of the plain PIL + DataLoader, fp32 eager NCHW pipeline (module docstring)."""
    import torchvision.transforms as T

    from ..data import IMAGENET_MEAN, IMAGENET_STD

    device, seed = s.device, s.seed
    ds.transform = T.Compose(
        [
            T.Resize((s.image_size, s.image_size)),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    try:
        g = torch.Generator().manual_seed(seed)
        dl = torch.utils.data.DataLoader(
            ds,
            batch_size=s.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=workers,
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            generator=g,
        )
        torch.manual_seed(seed)
        model = build_model(variant, s.backbone, None).to(device)
        opt = _sgd(model)
        model.train()
        running = 0.0

        def step(x: torch.Tensor, y: torch.Tensor) -> None:
            nonlocal running
            x, y = x.to(device), y.to(device).float()
            loss = mggnet_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            running += loss.item()  # the usual per-step logging

        return _time_steps(
            step, _forever(lambda e: iter(dl)), steps=s.steps, warmup=s.warmup, device=device
        )
    finally:
        ds.transform = None


def ours_rate(cache: Any, variant: str, s: Setting, *, compile: bool | str = False
              ) -> dict[str, float]:
    """Images/s of the cache loader + bf16 / channels_last (CUDA) pipeline of ``train``, with
    its step (:func:`~.step.train_step`; ``compile``: its forward and Eq. 5 compiled, as
    ``train --compile [MODE]``)."""
    from ..data import make_loader
    from .step import CompiledStep, train_step

    device = s.device
    cuda = device.type == "cuda"
    mem = torch.channels_last if cuda else torch.contiguous_format
    loader = make_loader(cache, batch_size=s.batch_size, image_size=s.image_size, train=True,
                         device=device, path="cache", seed=s.seed, memory_format=mem)
    torch.manual_seed(s.seed)
    model = build_model(variant, s.backbone, None).to(device, memory_format=mem)
    opt = _sgd(model)
    model.train()
    loss_sum = torch.zeros((), device=device)
    amp = "bf16" if cuda else "none"
    comp = CompiledStep(model, mggnet_loss, device=device, amp=amp, mode=compile) if compile \
        else None

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        nonlocal loss_sum
        _, loss = train_step(model, opt, mggnet_loss, x, y, device=device, amp=amp,
                             compiled=comp)  # Eq. 5 in fp32, as in train
        loss_sum += loss.detach()  # stays on the device: no host sync per step

    def epoch_iter(e: int) -> Any:
        loader.set_epoch(e)
        return iter(loader)

    result = _time_steps(step, _forever(epoch_iter), steps=s.steps, warmup=s.warmup,
                         device=device)
    result.update(amp=amp, channels_last=cuda, compiled=compile)
    return result


def machine_slug(info: dict[str, Any]) -> str:
    """A file-name-safe machine name, e.g. ``cpu-intel-xeon-2cores`` or ``gpu-nvidia-h200``."""
    name = (
        f"gpu-{info['gpu']}"
        if info.get("gpu") and str(info.get("device", "")).startswith("cuda")
        else f"cpu-{info['cpu']}-{info['cpu_cores']}cores"
    )
    name = re.sub(r"\(r\)|\(tm\)|cpu @ [\d.]+ghz|processor", "", name.lower())
    return re.sub(r"[^a-z0-9]+", "-", name).strip("-")[:60]


def _measure(
    ds: Any, cache: Any, variants: tuple[str, ...], s: Setting, *, workers: int,
    compile: bool | str, plain_batch_size: int,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """``(rates, detail)`` of both pipelines for each variant, printed as they come; the plain
    one at ``plain_batch_size``, ours at ``s.batch_size``."""
    plain = replace(s, batch_size=plain_batch_size)
    rates: dict[str, dict[str, Any]] = {"plain": {}, "ours": {}}
    detail: dict[str, dict[str, Any]] = {"plain": {}, "ours": {}}
    for v in variants:
        r = plain_rate(ds, v, plain, workers=workers)
        rates["plain"][v], detail["plain"][v] = r["images_per_s"], r
        print(f"plain {v:>9}: {r['images_per_s']:9.1f} img/s", flush=True)
        r = ours_rate(cache, v, s, compile=compile)
        rates["ours"][v], detail["ours"][v] = r["images_per_s"], r
        print(
            f"ours  {v:>9}: {r['images_per_s']:9.1f} img/s  "
            f"(x{rates['ours'][v] / rates['plain'][v]:.2f} vs plain)",
            flush=True,
        )
    return rates, detail


def run_bench(
    data: str | Path | None = None,
    *,
    n: int = 64,
    split: str = "all",
    image_size: int = paper.IMAGE_SIZE,
    batch_size: int = paper.BATCH_SIZE,
    plain_batch_size: int | None = None,
    steps: int = 20,
    warmup: int = 5,
    workers: int | None = None,
    variants: tuple[str, ...] = VARIANTS,
    backbone: str = paper.BACKBONE,
    device: str = "auto",
    compile: bool | str = False,
    threads: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Measure both pipelines for each variant; returns the JSON-ready result. ``batch_size``
    is ours, ``plain_batch_size`` the plain pipeline's (default: the same)."""
    from ..data import CelebA, open_cache, synthesize

    if threads:
        torch.set_num_threads(threads)
    dev = resolve_device(device)
    synthesized = data is None
    if data is None:
        from .run import default_synth_root

        data = synthesize(default_synth_root(n, 0), n=n, seed=0, masks=False, progress=progress)
    ds = CelebA(data, split)
    t0 = time.perf_counter()
    cache = open_cache(ds, split, progress=progress)
    cache_s = time.perf_counter() - t0
    if workers is None:
        cores = machine_info()["cpu_cores"]
        workers = min(16, cores) if dev.type == "cuda" else 0
    setting = Setting(dev, backbone, image_size, batch_size, steps, warmup)
    plain_batch_size = plain_batch_size or batch_size
    rates, detail = _measure(ds, cache, variants, setting, workers=workers, compile=compile,
                             plain_batch_size=plain_batch_size)
    machine = machine_info(dev)
    return {
        "kind": "mggnet-lite throughput",
        "what": "end-to-end training images/s (data pipeline + forward + Eq. 5 loss + backward "
        "+ SGD step), warm-up steps excluded",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine,
        "versions": versions(),
        "data": data_info(data, "celeba", {split: ds})
        | {"split": split, "synthesized_for_bench": synthesized},
        "sizes": {
            "n_images": len(ds),
            "image_size": image_size,
            "batch_size": batch_size,
            "plain_batch_size": plain_batch_size,
            "steps": steps,
            "warmup_steps": warmup,
            "workers": workers,
            "backbone": backbone,
        },
        **_describe(dev, compile),
        "cache_build_s": cache_s,
        "throughput": rates,
        "ratio_ours_over_plain": {v: rates["ours"][v] / rates["plain"][v] for v in variants},
        "detail": detail,
    }


def _describe(dev: torch.device, compile: bool | str) -> dict[str, Any]:
    """What each pipeline is, in words, and what the ratio means on this device."""
    return {
        "pipelines": {
            "plain": "PIL Dataset + torchvision transforms + DataLoader(workers, persistent), "
            "fp32, eager, NCHW, loss.item() per step",
            "ours": (
                "uint8 cache resident on the device, resize/flip/normalise on the device, "
                + ("bf16 autocast, channels_last" if dev.type == "cuda" else "fp32, NCHW")
                + (f", torch.compile ({compile if isinstance(compile, str) else 'default'})"
                   if compile else ", eager")
                + ", no per-step sync"
            ),
        },
        "note": (
            "CPU: both pipelines are compute-bound here, so the ratio is near 1; the decoded "
            "cache pays off on a GPU (ARCHITECTURE.md, Speed)"
            if dev.type == "cpu"
            else "GPU: the plain pipeline is fed by PIL decoding on the CPU cores"
        ),
    }




def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mggnet_lite bench``."""
    p = parser
    p.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="CelebA-layout folder (default: render --n SynthFaces images)",
    )
    p.add_argument("--n", type=int, default=None, help="SynthFaces images when no --data (64)")
    p.add_argument("--split", default="all", choices=tuple(SPLITS))
    p.add_argument("--image-size", type=int, default=None, help=f"default {paper.IMAGE_SIZE}")
    p.add_argument("--batch-size", type=int, default=None, help=f"default {paper.BATCH_SIZE}")
    p.add_argument("--plain-batch-size", type=int, default=None,
                   help="the plain pipeline's batch (default: --batch-size)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 20)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (5)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="DataLoader processes of the plain pipeline (default: cores up to 16 "
        "on CUDA, 0 on CPU)",
    )
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--backbone", default=paper.BACKBONE)
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", nargs="?", const=True, default=False, choices=COMPILE_MODES,
                   metavar="MODE", help="our step's forward and Eq. 5 compiled, as train "
                   "--compile [MODE]")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument(
        "--out",
        metavar="JSON",
        default=None,
        help="result file (default: benchmarks/results/throughput-<machine>.json)",
    )
    p.add_argument(
        "--ci",
        action="store_true",
        help="CI size: 64 SynthFaces, 32 px, batch 16, 3 + 1 steps (explicit flags win)",
    )


def cli_main(args: argparse.Namespace) -> int:
    """Run the benchmark, print the rates and ratio, write the JSON."""
    defaults = CI_SIZES if args.ci else FULL_SIZES  # explicit flags win over --ci
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    res = run_bench(
        args.data,
        n=args.n,
        split=args.split,
        image_size=args.image_size,
        batch_size=args.batch_size,
        plain_batch_size=args.plain_batch_size,
        steps=args.steps,
        warmup=args.warmup,
        workers=args.workers,
        variants=tuple(args.variants),
        backbone=args.backbone,
        device=args.device,
        compile=args.compile,
        threads=args.threads,
    )
    print(
        f"\ntraining images/s on {res['machine']['name']} ({res['data']['name']}, "
        f"{res['sizes']['n_images']} images, {args.image_size} px, batch {args.batch_size}):"
    )
    print(f"  {'variant':<10}{'plain':>12}{'ours':>12}{'ours/plain':>12}")
    for v in args.variants:
        t = res["throughput"]
        print(
            f"  {v:<10}{t['plain'][v]:>12.1f}{t['ours'][v]:>12.1f}"
            f"{res['ratio_ours_over_plain'][v]:>12.2f}"
        )
    out = (
        Path(args.out)
        if args.out
        else (Path("benchmarks/results") / f"throughput-{machine_slug(res['machine'])}.json")
    )
    print(f"wrote {atomic_write_json(out, res)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``benchmarks/throughput.py``."""
    parser = argparse.ArgumentParser(prog="throughput.py", description=__doc__.splitlines()[0])
    configure_parser(parser)
    return cli_main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
