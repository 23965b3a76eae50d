"""Evaluation in the paper's table formats (Sec. 4.1 metrics, Tables 1 and 2).

``python -m mggnet_lite evaluate RUN_DIR_or_CHECKPOINT --data DIR --split test [--flip-tta]``

Metrics are the paper's: mean accuracy over the 40 attributes (Table 1) and mean balanced
accuracy, (TPR + TNR) / 2 per attribute, then the mean (Table 2). Confusion counts are
accumulated on the device (:class:`~mggnet_lite.metrics.AttributeMetrics`) and summed over
DDP ranks with one ``all_reduce``; evaluation shards cover each image exactly once.

Every printed row and every results file says which data it was measured on. The
paper's published rows are shown beside ours, labelled as published CelebA / LFWA numbers;
a SynthFaces result gets its own block and is never placed in a CelebA or LFWA column.
Flip test-time averaging (mean of the probabilities of the image and its mirror) is off by
default and, when asked for, reported in its own row: the paper does not use it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from ..attributes import GROUPS
from ..data import LOADERS
from ..data.celeba import SPLITS
from ..data.synthfaces.blind import regions_for, with_regions
from ..files import atomic_write_json
from ..metrics import AttributeMetrics, majority_accuracy
from ..paper import TABLE1, TABLE2
from .checkpoint import data_info
from .runtime import cpu_has_native_bf16, machine_info, versions

VARIANT_NAMES = {
    "baseline": "Baseline",
    "independent": "Independent",
    "gal": "w/o GCL",
    "mggnet": "MGG-Net",
}


# ----------------------------------------------------------------------------- data


def open_split(data: str | os.PathLike, dataset: str, split: str) -> Any:
    """The CelebA / LFWA (or SynthFaces, read as CelebA) split at ``data``."""
    from ..data import LFWA, CelebA

    if dataset == "lfwa":
        if split == "valid":
            raise ValueError("LFWA has no valid split (only train and test), paper Sec. 4.1")
        return LFWA(data, split)
    return CelebA(data, split)


def data_label(info: Mapping[str, Any], split: str, n: int) -> str:
    """E.g. ``SynthFaces test (synthetic, NOT CelebA), n=400``."""
    name = info["name"]
    tail = " (synthetic, NOT CelebA/LFWA)" if info.get("synthetic") else ""
    return f"{name} {split}{tail}, n={n}"


# ----------------------------------------------------------------------------- loop


def autocast_for(device: torch.device, amp: str, *, training: bool = False) -> Any:
    """bf16 autocast for ``TrainConfig.amp`` (ARCHITECTURE.md, "Speed"), else nothing: on CUDA
    unless ``amp == "none"``; on a CPU only with ``amp == "bf16-native"``, in training, where the
    CPU computes bf16 natively (:func:`~.runtime.cpu_has_native_bf16`). Evaluation on a CPU
    stays fp32, so a run's scores and the book's own passes over a split are the same numbers."""
    if amp == "none":
        return nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if device.type == "cpu" and training and amp == "bf16-native" and cpu_has_native_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return nullcontext()


@torch.inference_mode()
def run_eval(
    model: torch.nn.Module,
    loader: Any,
    *,
    device: torch.device,
    amp: str = "none",
    flip_tta: bool = False,
    world_size: int = 1,
    num_attributes: int = 40,
    regions: Any = None,
) -> tuple[AttributeMetrics, AttributeMetrics | None]:
    """Counts over ``loader`` (summed over DDP ranks): plain and, if asked, flip-averaged.

    ``regions``: a model with blind groups needs each image's regions
    (:func:`~mggnet_lite.data.synthfaces.blind.regions_for`, over the loader's split in order).
    No host sync inside the loop: counts stay on the device until :meth:`summary`.
    """
    was_training = model.training
    model.eval()
    plain = AttributeMetrics(num_attributes, device)
    flipped = AttributeMetrics(num_attributes, device) if flip_tta else None
    try:
        for x, r, y in with_regions(loader, regions):
            with autocast_for(device, amp):
                p = model(x, r).probs if r is not None else model(x).probs
            p = p.float()
            plain.update(p, y)
            if flipped is not None:
                with autocast_for(device, amp):
                    pf = (model(x.flip(3), r.flip(3)) if r is not None else model(x.flip(3))).probs
                flipped.update((p + pf.float()) / 2, y)
    finally:
        model.train(was_training)
    if world_size > 1:
        for m in (plain, flipped):
            if m is not None:
                dist.all_reduce(m.counts)
    return plain, flipped


# ----------------------------------------------------------------------------- report


def build_report(
    *,
    plain: AttributeMetrics,
    flipped: AttributeMetrics | None,
    train_labels: torch.Tensor,
    eval_labels: torch.Tensor,
    attr_names: list[str],
    info: Mapping[str, Any],
    split: str,
    config: Mapping[str, Any],
    device: torch.device,
    times: Mapping[str, float],
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """The content of ``results.json``: metrics, majority baseline, data, machine, versions."""
    summary = plain.summary(attr_names)
    rates = eval_labels.double().mean(0)
    for i, a in enumerate(attr_names):
        summary["per_attribute"][a]["positive_rate"] = 100 * float(rates[i])
    variant = config.get("variant", "?")
    width = config.get("width", 64)
    backbone = f"{config.get('backbone')}" + (f" width {width}" if width != 64 else "")
    frozen = ", frozen pretrained backbone" if config.get("freeze_backbone") else ""
    target = config.get("target", "attributes")
    label = (
        f"{VARIANT_NAMES.get(variant, variant)} ({backbone}, {config.get('criterion')} "
        f"criterion{frozen}) on {data_label(info, split, summary['n'])}"
    ) if target == "attributes" else (
        f"stage 1 ({backbone}) on the pretext {target!r}: {len(attr_names)} drawing attributes "
        f"of {data_label(info, split, summary['n'])}")
    report: dict[str, Any] = {
        "kind": "mggnet-lite results",
        "label": label,
        "data": dict(info),
        "split": split,
        "n": summary["n"],
        "variant": variant,
        "backbone": config.get("backbone"),
        "criterion": config.get("criterion"),
        "mean_accuracy": summary["mean_accuracy"],
        "mean_balanced_accuracy": summary["mean_balanced_accuracy"],
        "majority_class": {
            "mean_accuracy": majority_accuracy(train_labels, eval_labels),
            "rule": f"predict each attribute's majority class on the train split, scored on {split}",
        },
        "per_attribute": summary["per_attribute"],
        "flip_tta": None,
        "machine": machine_info(device),
        "versions": versions(),
        "time_s": dict(times),
        "config": dict(config),
        "checkpoint": checkpoint,
    }
    if info.get("synthetic"):
        report["note"] = (
            "Measured on SynthFaces, a synthetic data set rendered by "
            "mggnet_lite; not comparable with the paper's CelebA / LFWA numbers."
        )
    if flipped is not None:
        fs = flipped.summary(attr_names)
        report["flip_tta"] = {
            "mean_accuracy": fs["mean_accuracy"],
            "mean_balanced_accuracy": fs["mean_balanced_accuracy"],
            "per_attribute": fs["per_attribute"],
            "note": "mean of p(image) and p(mirrored image); not in the paper",
        }
    return report


def _row(label: str, *cells: float | str | None, width: int = 58) -> str:
    out = f"  {label:<{width}}"
    for c in cells:
        out += f"{'-' if c is None else (f'{c:.2f}' if isinstance(c, float) else c):>12}"
    return out


def format_tables(report: Mapping[str, Any]) -> str:
    """Tables 1 and 2 of the paper with our row, labelled with its data, and per attribute."""
    if report.get("config", {}).get("target", "attributes") != "attributes":  # a pretext: no table
        return (f"{report['label']}\n  mean accuracy {report['mean_accuracy']:.2f}% (majority "
                f"{report['majority_class']['mean_accuracy']:.2f}%), balanced "
                f"{report['mean_balanced_accuracy']:.2f}%")
    info, name = report["data"], report["data"]["name"]
    variant = VARIANT_NAMES.get(report["variant"], report["variant"])
    ours = f"this run: {variant} ({report['backbone']}, {report['criterion']})"
    ours_flip = f"this run: {variant} + flip TTA (not in paper)"
    where = data_label(info, report["split"], report["n"])
    lines = [
        "",
        "Table 1 format: mean prediction accuracy (%) over 40 attributes",
        "  Published (Chen et al., ICME 2021, Table 1), measured on CelebA / LFWA:",
        _row("method", "CelebA (%)", "LFWA (%)"),
    ]
    lines += [_row(m, c, f) for m, c, f in TABLE1]
    flip = report.get("flip_tta")
    maj = report["majority_class"]["mean_accuracy"]
    if name in ("CelebA", "LFWA"):
        col = (lambda v: (v, None)) if name == "CelebA" else (lambda v: (None, v))
        lines += [f"  This run, measured on {where}:", _row(ours, *col(report["mean_accuracy"]))]
        if flip:
            lines.append(_row(ours_flip, *col(flip["mean_accuracy"])))
        lines.append(_row("majority class (train-split majority)", *col(maj)))
    else:
        col_name = f"{name} (%)"
        lines += [
            f"  This run, measured on {where}.",
            "  Not comparable with the published rows above:",
            _row("method", col_name),
            _row(ours, report["mean_accuracy"]),
        ]
        if flip:
            lines.append(_row(ours_flip, flip["mean_accuracy"]))
        lines.append(_row("majority class (train-split majority)", maj))

    lines += [
        "",
        "Table 2 format: mean balanced accuracy (%) over 40 attributes",
        "  Published (Chen et al., ICME 2021, Table 2), measured on CelebA:",
        _row("method", "CelebA (%)"),
    ]
    lines += [_row(m, v) for m, v in TABLE2]
    head = f"{name} (%)"
    lines += [f"  This run, measured on {where}" + (":" if name == "CelebA" else ".")]
    if name != "CelebA":
        lines.append("  Not comparable with the published rows above:")
    lines += [_row("method", head), _row(ours, report["mean_balanced_accuracy"])]
    if flip:
        lines.append(_row(ours_flip, flip["mean_balanced_accuracy"]))
    lines.append(_row("majority class (always 50 by definition)", 50.0))

    group_of = {a: g for g, members in GROUPS.items() for a in members}
    lines += [
        "",
        f"Per attribute, {where}:",
        f"  {'attribute':<22}{'group':<13}{'pos rate':>10}{'accuracy':>10}{'balanced':>10}"
        + (f"{'acc+flip':>10}" if flip else ""),
    ]
    for a, r in report["per_attribute"].items():
        line = (
            f"  {a:<22}{group_of.get(a, '?'):<13}{r['positive_rate']:>10.2f}"
            f"{r['accuracy']:>10.2f}{r['balanced_accuracy']:>10.2f}"
        )
        if flip:
            line += f"{flip['per_attribute'][a]['accuracy']:>10.2f}"
        lines.append(line)
    lines += [
        "",
        f"  mean accuracy {report['mean_accuracy']:.2f}% vs majority-class {maj:.2f}% on {where}",
    ]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- checkpoint


def evaluate_checkpoint(
    path: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    split: str = "test",
    flip_tta: bool = False,
    device: str = "auto",
    batch_size: int | None = None,
    loader: str = "auto",
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate a run folder (its ``last.pt``) or a checkpoint file; returns the report."""
    from ..data import make_loader, open_cache, resolve_loader
    from .checkpoint import load_model
    from .runtime import resolve_device

    t0 = time.perf_counter()
    path = Path(path)
    ckpt_path = path / "last.pt" if path.is_dir() else path
    model, ckpt = load_model(ckpt_path)
    cfg = ckpt["config"]
    if cfg.get("target", "attributes") != "attributes":
        raise ValueError(
            f"{ckpt_path} is a stage 1 trained on the pretext {cfg['target']!r}, not on the 40 "
            "attributes: its results.json holds its own scores. Evaluate a run trained on the "
            "attributes from it (weights=this checkpoint) instead.")
    data = data if data is not None else ckpt.get("data")
    if data is None:
        raise ValueError(f"{ckpt_path} records no data folder; pass --data DIR")
    dev = resolve_device(device)
    model.to(dev)
    ds = open_split(data, cfg["dataset"], split)
    train_ds = open_split(data, cfg["dataset"], "train")
    if loader == "auto":  # the run's own pipeline: same pixels as in training
        loader = cfg.get("loader", "auto")
    path_kind = resolve_loader(loader, dev)
    source = open_cache(ds, split, progress=progress) if path_kind == "cache" else ds
    ld = make_loader(
        source,
        batch_size=batch_size or cfg["batch_size"],
        image_size=cfg["image_size"],
        train=False,
        device=dev,
        path=path_kind,
    )
    t1 = time.perf_counter()
    plain, flipped = run_eval(
        model,
        ld,
        device=dev,
        amp=cfg.get("amp", "none"),
        flip_tta=flip_tta,
        num_attributes=len(ds.attr_names),
        regions=regions_for(model, ds, cfg["image_size"]),
    )
    t2 = time.perf_counter()
    info = data_info(data, cfg["dataset"], {"train": train_ds, split: ds})
    return build_report(
        plain=plain,
        flipped=flipped,
        train_labels=train_ds.attr,
        eval_labels=ds.attr,
        attr_names=list(ds.attr_names),
        info=info,
        split=split,
        config=cfg,
        device=dev,
        times={"setup": t1 - t0, "evaluate": t2 - t1},
        checkpoint=str(ckpt_path),
    )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mggnet_lite evaluate``."""
    parser.add_argument(
        "run",
        metavar="RUN_DIR_or_CHECKPOINT",
        help="a training run folder (uses its last.pt) or a checkpoint file",
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="data folder (default: the one the run was trained on)",
    )
    parser.add_argument("--split", default="test", choices=tuple(SPLITS))
    parser.add_argument(
        "--flip-tta",
        action="store_true",
        help="also report flip test-time averaging, in its own row",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--loader", default="auto", choices=LOADERS)
    parser.add_argument(
        "--json",
        metavar="PATH",
        default=None,
        help="write the report here (default: RUN_DIR/eval_<split>.json)",
    )


def cli_main(args: argparse.Namespace) -> int:
    """Evaluate, print the tables, write the JSON report."""
    from ..data import DatasetFormatError, DatasetNotFoundError
    from .checkpoint import CheckpointError

    try:
        report = evaluate_checkpoint(
            args.run,
            args.data,
            split=args.split,
            flip_tta=args.flip_tta,
            device=args.device,
            batch_size=args.batch_size,
            loader=args.loader,
        )
    except (CheckpointError, DatasetNotFoundError, DatasetFormatError, ValueError) as err:
        print(f"evaluate: error: {err}", file=sys.stderr)
        return 2
    print(format_tables(report))
    out = args.json
    if out is None and Path(args.run).is_dir():
        suffix = "_flip" if args.flip_tta else ""
        out = Path(args.run) / f"eval_{args.split}{suffix}.json"
    if out is not None:
        print(f"\nwrote {atomic_write_json(out, report)}")
    return 0
