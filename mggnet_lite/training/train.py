"""Training: the paper's Sec. 4.1 protocol, fast on a GPU, safe to interrupt, multi-GPU.

``python -m mggnet_lite train --data DIR --variant mggnet --criterion prediction --out RUN``

* **Schedule** (Sec. 4.1): SGD, batch 144, lr 0.01 then 0.001 (CelebA prediction 9 + 5
  epochs, balanced 12 + 3 with the weighted loss, LFWA 10 + 5), 224 input, random flip; all
  in :class:`~mggnet_lite.training.config.TrainConfig`, overridable by flags or ``--set k=v``.
* **Speed** (ARCHITECTURE.md, "Speed"): bf16 autocast and channels_last on CUDA, the
  device-resident uint8 cache loader, optional ``torch.compile``. The step loop never waits
  for the GPU: the loss sum, the train confusion counts and a "first non-finite step" index
  live on the device; the host looks at them every ``sync_every`` steps (1 on CPU, where it
  is free; 20 on CUDA) and at the end of the epoch.
* **Safety** (ARCHITECTURE.md, "Files on disk"): a checkpoint (``last.pt``) is written
  atomically after every epoch and when SIGINT / SIGTERM arrives (the handler only sets a
  flag; the loop saves at the next check and exits with 128 + signal). ``--resume`` restores
  weights, optimiser, schedule position (epoch, step), RNG state and the partial epoch's
  accumulators, so a resumed run ends bitwise equal to an uninterrupted one on CPU. A
  non-finite loss stops the run naming its epoch / step / global step, and nothing is saved
  after it.
* **DDP** (the paper trained on 3 GPUs): under ``torchrun``, each rank reads its shard of
  every batch (``batch_size`` is the global batch), counts are ``all_reduce``-d, only
  rank 0 writes files.

The shape follows torchvision's reference scripts: :func:`~mggnet_lite.training.run.setup_run`
builds a complete :class:`~mggnet_lite.training.run.Run` (and resumes it),
:func:`train_one_epoch` is the step loop over its model, optimiser, loader and loss,
:func:`end_epoch` evaluates, logs and checkpoints, :func:`report` evaluates the test split.
:func:`ensure_run` is the one place that decides whether a run folder's run is reused,
resumed or trained (under the folder's lock); :func:`ensure_pretrained` applies it to the
shared stage 1 of the quick and synth profiles, for the CLI and the book alike.

Run folder: ``config.json``, ``metrics.jsonl`` (one line per epoch), ``last.pt`` (and
``epoch_XX.pt`` with ``keep_epoch_checkpoints``), ``results.json`` (see
:func:`mggnet_lite.training.evaluate.build_report`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from ..data import DATASETS, LOADERS
from ..data.loader import PlannedLoader
from ..data.synthfaces.blind import regions_for
from ..files import FolderBusyError
from ..nn import BACKBONES, VARIANTS
from ..nn.mggnet import MGGOutput
from .checkpoint import CheckpointError, check_config, load_checkpoint
from .config import (
    AMP_MODES,
    COMPILE_MODES,
    CRITERIA,
    PRETRAIN_REUSE_FREE,
    PROFILES,
    RESUME_FREE,
    SCHEDULES,
    TrainConfig,
    make_config,
    pretrain_config,
)
from .evaluate import build_report, format_tables, run_eval
from .folder import RunFolder, main_process
from .run import (
    DistInfo,
    EpochState,
    NonFiniteLossError,
    Run,
    TrainingInterrupted,
    check_data,
    data_location,
    setup_run,
)
from .step import train_step


@dataclass
class TrainResult:
    out: Path
    report: dict[str, Any] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    model: torch.nn.Module | None = None
    dist: DistInfo = field(default_factory=DistInfo)
    eval_counts: torch.Tensor | None = None  # (4, N) TP, FP, TN, FN, summed over ranks


def train(
    cfg: TrainConfig,
    out: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train and evaluate one model; returns the run folder and the report (rank 0).

    Raises :class:`TrainingInterrupted` after saving on SIGINT / SIGTERM and
    :class:`NonFiniteLossError` on a NaN / inf loss (the last good ``last.pt`` is kept).
    ``cfg.threads`` / ``cfg.deterministic`` hold for the call only (restored afterwards).

    One writer per run folder: the main process holds its lock (:meth:`RunFolder.lock`,
    released by the kernel however the process ends, re-entrant for a caller that holds it
    already). A folder another live process trains into raises :class:`~mggnet_lite.files.
    FolderBusyError` at once, naming it and the holder's pid (:func:`ensure_run` waits).
    A config with ``pretrain`` settings and no ``weights`` first gets its stage 1 in
    ``out/pretrain`` (:func:`ensure_pretrained`).
    """
    folder = RunFolder(out)
    guard = folder.lock().acquire(wait=False) if main_process() else None
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        if cfg.pretrain and cfg.weights is None:
            weights = ensure_pretrained(cfg, folder.path / "pretrain", data, progress=progress)
            cfg = dataclasses.replace(cfg, weights=weights)
        run = setup_run(cfg, folder.path, data, resume=resume, progress=progress)
        fit(run)
        return report(run)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)
        if guard is not None:
            guard.release()


def ensure_run(cfg: TrainConfig, folder: str | os.PathLike,
               data: str | os.PathLike | None = None, *, progress: bool = True,
               reuse_free: tuple[str, ...] = RESUME_FREE, what: str | None = None) -> RunFolder:
    """The run of ``cfg`` in ``folder``, reused, resumed or trained: the one place that decides.

    It takes the folder's lock first (waiting for another writer, and saying whom it waits
    for), then looks: a started or finished run is checked against ``cfg`` (every setting
    but ``reuse_free``) and ``data`` (the folder its checkpoint names) and refused loudly when
    either differs; a finished one is reused, a started one resumed; else it is trained.
    """
    rf, what = RunFolder(folder), what or cfg.variant
    with rf.lock():
        if rf.started():
            _check_reuse(rf, cfg, data, reuse_free)
        if rf.finished():
            print(f"loaded {what} from {rf.path} (trained earlier; delete the folder to retrain)")
            return rf
        print(f"{'resuming' if rf.started() else 'training'} {what} -> {rf.path}", flush=True)
        result = train(cfg, rf.path, data, resume=rf.started(), progress=progress)
        if result.report is not None:
            print(f"trained in {result.report['time_s']['train']:.0f} s on "
                  f"{result.report['machine']['name']}", flush=True)
    return rf


def _check_reuse(rf: RunFolder, cfg: TrainConfig, data: str | os.PathLike | None,
                 free: tuple[str, ...]) -> None:
    try:
        ckpt = load_checkpoint(rf.checkpoint)
        check_config(ckpt, cfg.to_dict(), rf.checkpoint, ignore=free, action="reuse")
        check_data(ckpt, data_location(data, cfg), rf.checkpoint)
    except CheckpointError as err:
        raise CheckpointError(
            f"{err}\nA run is only reused by the settings that made it: delete {rf.path} to "
            "train it again with these."
        ) from None


def ensure_pretrained(cfg: TrainConfig, folder: str | os.PathLike,
                      data: str | os.PathLike | None = None, *, progress: bool = True) -> str:
    """The weights (``last.pt``) of ``cfg``'s stage 1 (:func:`~mggnet_lite.training.config.
    pretrain_config`) in ``folder``, reused, resumed or trained by :func:`ensure_run`. Reuse
    is checked against :data:`~mggnet_lite.training.config.PRETRAIN_REUSE_FREE`."""
    pre = pretrain_config(cfg)
    rf = ensure_run(pre, folder, data, progress=progress, reuse_free=PRETRAIN_REUSE_FREE,
                    what=f"the pretrained backbone ({pre.variant}, stage 1)")
    return str(rf.checkpoint.resolve())


def train_one_epoch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: PlannedLoader,
    loss_fn: Callable[[MGGOutput, torch.Tensor], torch.Tensor],
    epoch: int,
    run: Run,
) -> EpochState:
    """One epoch of Sec. 4.1's SGD on Eq. 5's loss; returns its accumulators (loss sum, train
    confusion counts), which stay on the device: no host sync per step.

    ``model`` takes a batch of images, or (frozen backbone) of its features. ``run`` supplies
    the schedule and the periodic checks (:meth:`Run.before_step`: every ``sync_every`` steps
    a non-finite loss stops the run, SIGINT / SIGTERM saves a mid-epoch checkpoint and stops
    it). A resumed epoch starts at the checkpoint's step, with its partial sums.
    """
    first = run.first_step(epoch)
    loader.set_epoch(epoch)  # this epoch's shuffle and flips, from (seed, epoch)
    loader.start_at(first)  # skip the batches a resumed epoch has seen
    state = run.epoch_state(first)
    bar = _StepBar(run, epoch, first, state.loss_sum)
    model.train()
    batches = iter(loader)
    for step in range(first, run.steps_per_epoch):
        run.before_step(epoch, step, state)  # lr schedule; every sync_every steps: poll
        x, y = next(batches)
        probs, loss = train_step(model, optimizer, loss_fn, x, y, device=run.device,
                                 amp=run.amp, compiled=run.compiled)
        run.flag_non_finite(loss)
        run.gstep += 1
        state.loss_sum += loss.detach()
        state.counts.update(probs.detach(), y)
        state.images += y.shape[0] * run.dist.world_size
        bar.update(step + 1, state.loss_sum)
    bar.close()
    return state

class _StepBar:
    """The step bar: mean loss and images/s since its last refresh, every ``log_every`` steps
    (each refresh is one host sync on a GPU)."""

    def __init__(self, run: Run, epoch: int, first: int, loss_sum: torch.Tensor) -> None:
        from tqdm.auto import tqdm

        self.run = run
        self.bar = tqdm(
            total=run.steps_per_epoch,
            initial=first,
            leave=False,
            desc=f"epoch {epoch + 1}/{run.cfg.epochs}",
            unit="step",
            disable=not run.show,
            dynamic_ncols=True,
        )
        self.last = (time.perf_counter(), first, loss_sum.clone())

    def update(self, done: int, loss_sum: torch.Tensor) -> None:
        run = self.run
        if not run.show or (done % run.cfg.log_every and done != run.steps_per_epoch):
            return
        now = time.perf_counter()
        t0, s0, l0 = self.last
        k = done - s0
        self.bar.set_postfix(
            loss=f"{float(loss_sum - l0) / k:.4f}",  # one sync per log
            img_s=f"{k * run.cfg.batch_size / max(now - t0, 1e-9):.0f}",
        )
        self.bar.update(k)
        self.last = (now, done, loss_sum.clone())

    def close(self) -> None:
        self.bar.close()


def end_epoch(run: Run, epoch: int, state: EpochState) -> int:
    """Epoch end: final device check, counts summed over ranks, valid split evaluated (if
    any), one history line, checkpoint. Returns the stop signal that arrived during the
    epoch's last steps (0: none); the checkpoint just written holds it."""
    cfg = run.cfg
    signum, b = run.check()
    if b >= 0:
        raise run.fail(b)
    run.sync_buffers()
    if run.dist.enabled:
        dist.all_reduce(state.loss_sum)
        dist.all_reduce(state.counts.counts)
    seconds = time.perf_counter() - state.started
    summary = state.counts.summary(run.train_ds.attr_names)
    row: dict[str, Any] = {
        "epoch": epoch + 1,
        "lr": cfg.lr_at(epoch),
        "steps": run.steps_per_epoch,
        "train_loss": float(state.loss_sum) / (run.steps_per_epoch * run.dist.world_size),
        "train_mean_accuracy": summary["mean_accuracy"],
        "train_mean_balanced_accuracy": summary["mean_balanced_accuracy"],
        "seconds": seconds,
        "images_per_s": state.images / max(seconds, 1e-9),
    }
    if run.val_ds is not None:
        vl = run.loader(run.val_ds, cfg.val_split)
        vm, _ = run_eval(
            run.model, vl, device=run.device, amp=run.amp, world_size=run.dist.world_size,
            regions=regions_for(run.model, run.val_ds, cfg.image_size),
        )
        vs = vm.summary(run.val_ds.attr_names)
        row[f"{cfg.val_split}_mean_accuracy"] = vs["mean_accuracy"]
        row[f"{cfg.val_split}_mean_balanced_accuracy"] = vs["mean_balanced_accuracy"]
    run.history.append(row)
    pos = run.position(epoch + 1, 0)
    if run.dist.main:
        run.save(pos, None)
        if cfg.keep_epoch_checkpoints:
            run.save(pos, None, tag=run.folder.epoch_checkpoint(epoch + 1).stem)
        run.folder.log_row(row)
    return signum


def fit(run: Run) -> None:
    """The epochs from the run's position to ``cfg.epochs``, with SIGINT / SIGTERM caught."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    bar = tqdm(
        total=run.cfg.epochs,
        initial=run.start_epoch,
        desc="epochs",
        unit="ep",
        disable=not run.show,
        dynamic_ncols=True,
    )
    try:
        with run.stop:
            for epoch in range(run.start_epoch, run.cfg.epochs):
                state = train_one_epoch(run.forward, run.optimizer, run.train_loader,
                                        run.loss, epoch, run)
                signum = end_epoch(run, epoch, state)
                row = run.history[-1]
                bar.set_postfix(
                    loss=f"{row['train_loss']:.4f}",
                    acc=f"{row['train_mean_accuracy']:.2f}",
                    img_s=f"{row['images_per_s']:.0f}",
                )
                bar.update(1)
                if signum:  # arrived during the epoch's last steps: the epoch checkpoint holds
                    raise TrainingInterrupted(signum, run.position(epoch + 1, 0),
                                             run.folder.checkpoint)
    finally:
        bar.close()
    run.times["train"] = time.perf_counter() - t0


def report(run: Run) -> TrainResult:
    """Final evaluation on the test split (Tables 1 and 2); rank 0 writes ``results.json``."""
    cfg = run.cfg
    t0 = time.perf_counter()
    plain, _ = run_eval(
        run.model,
        run.loader(run.eval_ds, cfg.eval_split),
        device=run.device,
        amp=run.amp,
        world_size=run.dist.world_size,
        num_attributes=len(run.eval_ds.attr_names),
        regions=regions_for(run.model, run.eval_ds, cfg.image_size),
    )
    run.times["evaluate"] = time.perf_counter() - t0
    rep = None
    if run.dist.main:
        rep = build_report(
            plain=plain,
            flipped=None,
            train_labels=run.train_ds.attr,
            eval_labels=run.eval_ds.attr,
            attr_names=list(run.eval_ds.attr_names),
            info=run.info,
            split=cfg.eval_split,
            config=cfg.to_dict(),
            device=run.device,
            checkpoint=str(run.folder.checkpoint),
            times={
                **run.times,
                "train_all_sessions": sum(h["seconds"] for h in run.history),
                "resumed": run.resumed,
            },
        )
        rep["world_size"] = run.dist.world_size
        rep["history"] = run.history
        run.folder.write_results(rep)
    return TrainResult(run.folder.path, rep, run.history, run.model, run.dist, plain.counts.cpu())


# ----------------------------------------------------------------------------- CLI


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mggnet_lite train``; unset flags keep the profile's value."""
    p = parser
    p.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="CelebA / LFWA / SynthFaces folder (default $MGGNET_DATA; the quick "
        "profile renders SynthFaces when none is given)",
    )
    p.add_argument("--out", metavar="RUN_DIR", required=True, help="run folder")
    p.add_argument(
        "--profile",
        choices=PROFILES,
        default=None,
        help="quick (CPU + SynthFaces) or full (GPU + real data, the paper's "
        "schedule); default $MGGNET_PROFILE, else full only with a GPU and "
        "real data",
    )
    p.add_argument("--dataset", choices=DATASETS, default=None)
    p.add_argument("--variant", choices=VARIANTS, default=None)
    p.add_argument("--backbone", choices=BACKBONES, default=None)
    p.add_argument(
        "--taps",
        nargs="+",
        default=None,
        metavar="BLOCK",
        help="blocks for GAL/GCL (default: block3 block4, the paper's)",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="imagenet | none | a state-dict path (full profile: imagenet)",
    )
    p.add_argument("--criterion", choices=CRITERIA, default=None)
    p.add_argument(
        "--epochs",
        type=int,
        nargs=2,
        metavar=("AT_LR", "AT_LOW_LR"),
        default=None,
        help="epochs at --lr, then at --low-lr (paper: 9 5, 12 3, 10 5)",
    )
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--low-lr", type=float, default=None)
    p.add_argument("--batch-size", "--batch", type=int, default=None,
                   help="global batch (paper: 144; with --schedule scaled the lr follows it)")
    p.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help="step: Sec. 4.1 (lr, then low-lr); scaled: the same with lr and low-lr "
                        "x batch/144 after a short warm-up; onecycle: warm-up + cosine")
    p.add_argument("--image-size", type=int, default=None, help="paper: 224")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    p.add_argument("--amp", choices=AMP_MODES, default=None)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--compile", nargs="?", const=True, default=None, choices=COMPILE_MODES,
                   metavar="MODE", help="torch.compile the step's forward and Eq. 5: "
                   "default (no MODE), reduce-overhead (CUDA graphs) or "
                   "max-autotune-no-cudagraphs")
    p.add_argument("--no-compile", dest="compile", action="store_const", const=False)
    p.add_argument("--loader", choices=LOADERS, default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR/last.pt")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any TrainConfig field, e.g. --set weight_decay=1e-4 (repeatable)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults < profile < paper schedule < flags < ``--set``."""
    over = {
        k: getattr(args, k)
        for k in (
            "dataset",
            "variant",
            "backbone",
            "criterion",
            "lr",
            "batch_size",
            "schedule",
            "image_size",
            "seed",
            "device",
            "amp",
            "channels_last",
            "compile",
            "loader",
            "workers",
        )
    }
    over["low_lr"] = args.low_lr
    if args.taps is not None:
        over["taps"] = tuple(args.taps)
    if args.weights is not None:
        over["weights"] = None if args.weights.lower() == "none" else args.weights
        if over["weights"] is None:  # "none" must override the profile's value
            args.sets = [*args.sets, "weights=none"]
    if args.epochs is not None:
        over["epochs_at_lr"], over["epochs_at_low_lr"] = args.epochs
    return make_config(args.profile, args.data, over, args.sets)


def cli_main(args: argparse.Namespace) -> int:
    """Train, then print the evaluation in the paper's table format."""
    from ..data import DatasetFormatError, DatasetNotFoundError

    try:
        cfg = config_from_args(args)
    except ValueError as err:
        print(f"train: error: {err}", file=sys.stderr)
        return 2
    rank0 = int(os.environ.get("RANK", "0")) == 0
    if rank0:
        print(
            f"profile {cfg.profile}: {cfg.variant} ({cfg.backbone}), {cfg.criterion}, "
            f"{cfg.epochs_at_lr}+{cfg.epochs_at_low_lr} epochs, lr {cfg.lr}/{cfg.low_lr}, "
            f"batch {cfg.batch_size}, {cfg.image_size} px, device {cfg.device}",
            flush=True,
        )
    try:
        result = train(cfg, args.out, args.data, resume=args.resume, progress=not args.no_progress)
    except TrainingInterrupted as err:
        print(f"train: {err}", file=sys.stderr)
        return 128 + err.signum
    except NonFiniteLossError as err:
        print(f"train: error: {err}", file=sys.stderr)
        return 3
    except (
        CheckpointError,
        DatasetNotFoundError,
        DatasetFormatError,
        FileExistsError,
        FolderBusyError,
        ValueError,
    ) as err:
        print(f"train: error: {err}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if result.report is not None:
        r = result.report
        print(format_tables(r))
        print(
            f"\ntimes: setup {r['time_s']['setup']:.1f} s, train {r['time_s']['train']:.1f} s, "
            f"evaluate {r['time_s']['evaluate']:.1f} s; results in {result.out / 'results.json'}"
        )
    return 0
