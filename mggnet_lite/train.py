"""Training: the paper's Sec. 4.1 protocol, fast on a GPU, safe to interrupt, multi-GPU.

``python -m mggnet_lite train --data DIR --variant mggnet --criterion prediction --out RUN``

* **Schedule** (Sec. 4.1): SGD, batch 144, lr 0.01 then 0.001 (CelebA prediction 9 + 5
  epochs, balanced 12 + 3 with the weighted loss, LFWA 10 + 5), 224 input, random flip; all
  in :class:`~mggnet_lite.profiles.TrainConfig`, overridable by flags or ``--set k=v``.
* **Speed** (DESIGN Sec. 6): bf16 autocast and channels_last on CUDA, the device-resident
  uint8 cache loader, optional ``torch.compile``. The step loop never waits for the GPU:
  the loss sum, the train confusion counts and a "first non-finite step" index live on the
  device; the host looks at them every ``sync_every`` steps (1 on CPU, where it is free;
  20 on CUDA) and at the end of the epoch.
* **Safety** (DESIGN Sec. 8): a checkpoint (``last.pt``) is written atomically after every
  epoch and when SIGINT / SIGTERM arrives (the handler only sets a flag; the loop saves at
  the next check and exits with 128 + signal). ``--resume`` restores weights, optimiser,
  schedule position (epoch, step), RNG state and the partial epoch's accumulators, so a
  resumed run ends bitwise equal to an uninterrupted one on CPU. A non-finite loss stops the
  run naming its epoch / step / global step, and nothing is saved after it.
* **DDP** (the paper trained on 3 GPUs): under ``torchrun``, each rank reads its shard of
  every batch (``batch_size`` is the global batch), counts are ``all_reduce``-d, only
  rank 0 writes files.

Run folder: ``config.json``, ``metrics.jsonl`` (one line per epoch), ``last.pt`` (and
``epoch_XX.pt`` with ``keep_epoch_checkpoints``), ``results.json`` (see
:func:`mggnet_lite.evaluate.build_report`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .checkpoint import (
    CheckpointError,
    atomic_save,
    check_config,
    load_checkpoint,
    make_checkpoint,
    rng_state,
    set_rng_state,
)
from .evaluate import (
    autocast_for,
    build_report,
    data_info,
    format_tables,
    open_split,
    run_eval,
    write_json,
)
from .losses import balanced_pos_weight, mggnet_loss
from .metrics import AttributeMetrics
from .nn.mggnet import MGGOutput, build_model
from .profiles import PROFILES, TrainConfig, make_config, resolve_device

#: settings that may change between a run and its resume (they do not change the maths)
RESUME_FREE = (
    "device",
    "workers",
    "compile",
    "log_every",
    "sync_every",
    "threads",
    "loader",
    "keep_epoch_checkpoints",
    "profile",
    "extra",
    "eval_split",
    "val_split",
    "synth_n",
    "synth_seed",
)
_BIG = 2**62  # "no non-finite step yet" (all_reduce MIN picks the first real one)


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or inf; the message names the step. Nothing was saved after it."""


class TrainingInterrupted(Exception):
    """SIGINT / SIGTERM arrived; a checkpoint was saved at ``position``."""

    def __init__(self, signum: int, position: dict[str, int], path: Path | None) -> None:
        self.signum, self.position, self.path = signum, position, path
        name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {name} at epoch {position['epoch'] + 1}, step {position['step']} "
            f"(global step {position['global_step']}); checkpoint {path}; continue with --resume"
        )


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_name: str = "auto") -> DistInfo:
    """Join the process group when started by ``torchrun`` (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name != "cpu"
    if not dist.is_initialized():
        if use_cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistInfo(rank, world, local)


class _StopFlag:
    """SIGINT / SIGTERM set a flag; the loop saves at the next check. A second SIGINT aborts."""

    def __init__(self) -> None:
        self.signum = 0
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum and signum == signal.SIGINT:
            raise KeyboardInterrupt  # the user insists: stop now, last.pt is still intact
        self.signum = signum

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def float_output(out: MGGOutput) -> MGGOutput:
    """fp32 logits for the loss: under bf16 autocast Eq. 5's log-sum-exp is better in fp32."""
    if out.base_logits.dtype == torch.float32:
        return out
    return dataclasses.replace(
        out,
        base_logits=out.base_logits.float(),
        gal_logits={k: v.float() for k, v in out.gal_logits.items()},
        gcl_logits={k: v.float() for k, v in out.gcl_logits.items()},
        fused_logits=[z.float() for z in out.fused_logits],
        probs=out.probs.float(),
    )


@dataclass
class _EpochState:
    """What a mid-epoch checkpoint must carry so the resumed epoch's metrics are exact."""

    loss_sum: torch.Tensor
    counts: AttributeMetrics
    elapsed: float = 0.0
    images: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "loss_sum": self.loss_sum.detach().cpu(),
            "counts": self.counts.counts.cpu(),
            "elapsed": self.elapsed,
            "images": self.images,
        }


@dataclass
class TrainResult:
    out: Path
    report: dict[str, Any] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    model: torch.nn.Module | None = None
    dist: DistInfo = field(default_factory=DistInfo)
    eval_counts: torch.Tensor | None = None  # (4, N) TP, FP, TN, FN, summed over ranks


def default_synth_root(n: int, seed: int) -> Path:
    """Where the quick profile renders SynthFaces when no data folder is given."""
    base = os.environ.get("MGGNET_CACHE") or Path.home() / ".cache" / "mggnet_lite"
    return Path(base).expanduser() / f"synthfaces-n{n}-seed{seed}"


def resolve_data(data: str | os.PathLike | None, cfg: TrainConfig, main: bool = True) -> Path:
    """``data``, else ``$MGGNET_DATA``, else (quick profile only) a rendered SynthFaces set."""
    if data is None:
        data = os.environ.get("MGGNET_DATA") or None
    if data is not None:
        return Path(data).expanduser()
    if cfg.profile != "quick":
        raise ValueError(
            "no data folder: pass --data DIR (CelebA or LFWA) or set MGGNET_DATA; "
            "the quick profile renders SynthFaces when none is given"
        )
    from .data import synthesize

    root = default_synth_root(cfg.synth_n, cfg.synth_seed)
    if main:
        print(
            f"no --data given: using SynthFaces (n={cfg.synth_n}, seed={cfg.synth_seed}) at {root}",
            flush=True,
        )
    return synthesize(root, n=cfg.synth_n, seed=cfg.synth_seed, progress=main)


def _make_source(
    ds: Any, split: str, cfg: TrainConfig, device: torch.device, progress: bool
) -> tuple[Any, str]:
    """The loader's source: the decoded cache (built once, then reused) or the dataset."""
    from .data import open_cache

    kind = cfg.loader if cfg.loader != "auto" else ("cache" if device.type == "cuda" else "pil")
    return (open_cache(ds, split, progress=progress) if kind == "cache" else ds), kind


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
    """
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        return _train(cfg, out, data, resume=resume, progress=progress)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)


def _train(
    cfg: TrainConfig,
    out: str | os.PathLike,
    data: str | os.PathLike | None,
    *,
    resume: bool,
    progress: bool,
) -> TrainResult:
    from tqdm.auto import tqdm

    from .data import make_loader

    t_start = time.perf_counter()
    cfg.validate()
    di = setup_distributed(cfg.device)
    dev = resolve_device(cfg.device, di.local_rank)
    out = Path(out)
    ckpt_path = out / "last.pt"
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    cuda = dev.type == "cuda"
    amp = cfg.amp if cuda else "none"
    mem = torch.channels_last if (cuda and cfg.channels_last) else torch.contiguous_format
    sync_every = cfg.sync_every or (20 if cuda else 1)
    if cfg.batch_size % di.world_size:
        raise ValueError(
            f"batch_size={cfg.batch_size} is the global batch; it must divide "
            f"evenly over {di.world_size} ranks"
        )

    ckpt = None
    if ckpt_path.exists() and not resume:
        raise FileExistsError(
            f"{out} already holds a run ({ckpt_path}); pass --resume to "
            "continue it, or choose another --out"
        )
    if resume and ckpt_path.exists():
        ckpt = load_checkpoint(ckpt_path)
        check_config(ckpt, cfg.to_dict(), ckpt_path, ignore=RESUME_FREE)
        if data is None:
            data = ckpt.get("data")
    data = resolve_data(data, cfg, di.main)

    # ---- data (the paper's splits; majority baseline and pos weights from the train split)
    train_ds = open_split(data, cfg.dataset, "train")
    eval_ds = open_split(data, cfg.dataset, cfg.eval_split)
    val_ds = open_split(data, cfg.dataset, cfg.val_split) if cfg.val_split else None
    src, kind = _make_source(train_ds, "train", cfg, dev, progress and di.main)
    per_rank = cfg.batch_size // di.world_size
    common = {
        "image_size": cfg.image_size,
        "device": dev,
        "path": kind,
        "seed": cfg.seed,
        "rank": di.rank,
        "world_size": di.world_size,
        "workers": cfg.workers,
        "memory_format": mem,
    }
    train_loader = make_loader(src, batch_size=per_rank, train=True, flip=cfg.flip, **common)
    steps_per_epoch = len(train_loader)
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    if steps_per_epoch < 1:
        raise ValueError(
            f"the train split has {len(train_ds)} images, fewer than one batch of "
            f"{cfg.batch_size}; lower --batch-size"
        )
    info = data_info(data, cfg.dataset, {"train": train_ds, cfg.eval_split: eval_ds})

    # ---- model, optimiser (Sec. 4.1); same seed on every rank, DDP also broadcasts rank 0's
    torch.manual_seed(cfg.seed)
    try:
        model = build_model(cfg.variant, cfg.backbone, cfg.weights, taps=tuple(cfg.taps))
    except RuntimeError as err:  # e.g. weights="imagenet" on an offline machine
        raise ValueError(f"{err} (train: --weights none trains from scratch)") from err
    model = model.to(dev, memory_format=mem)
    net: torch.nn.Module = model
    if di.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if cuda else None
        )
    fwd = torch.compile(net) if cfg.compile else net
    opt = torch.optim.SGD(
        model.parameters(),
        lr=cfg.lr_at(0),
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        nesterov=cfg.nesterov,
    )
    pos_weight = (
        balanced_pos_weight(train_ds.attr, cfg.max_pos_weight).to(dev)
        if cfg.criterion == "balanced"
        else None
    )

    start_epoch, start_step = 0, 0
    history: list[dict[str, Any]] = []
    partial: dict[str, Any] | None = None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        set_rng_state(ckpt["rng"])
        start_epoch, start_step = ckpt["position"]["epoch"], ckpt["position"]["step"]
        history = list(ckpt.get("history", []))
        partial = ckpt.get("partial")
        if ckpt.get("steps_per_epoch") not in (None, steps_per_epoch):
            raise CheckpointError(
                f"cannot resume from {ckpt_path}: it has {ckpt['steps_per_epoch']} steps per "
                f"epoch, this setup {steps_per_epoch} (other data or world size?)"
            )
    if di.main:
        out.mkdir(parents=True, exist_ok=True)
        write_json(
            {
                "config": cfg.to_dict(),
                "data": str(Path(data).resolve()),
                "data_info": info,
                "world_size": di.world_size,
                "model_config": model.config,
            },
            out / "config.json",
        )
        # metrics.jsonl mirrors the checkpoint's history: a line written after the last
        # checkpoint (then killed) must not appear twice after the resume
        _write_history(out / "metrics.jsonl", history)

    def save(position: dict[str, int], state: _EpochState | None, tag: str = "last") -> Path:
        payload = make_checkpoint(
            cfg.to_dict(),
            model=model.state_dict(),
            optimizer=opt.state_dict(),
            rng=rng_state(),
            position=position,
            partial=state.payload() if state else None,
            history=history,
            steps_per_epoch=steps_per_epoch,
            world_size=di.world_size,
            data=str(Path(data).resolve()),
            model_config=model.config,
        )
        return atomic_save(payload, out / f"{tag}.pt")

    def sync_buffers() -> None:
        # DDP broadcasts buffers at each forward, then each rank's forward updates its own
        # BN statistics: make all ranks hold rank 0's before evaluating or saving
        if di.enabled:
            for b in model.buffers():
                dist.broadcast(b, 0)

    t_setup = time.perf_counter() - t_start
    t_train0 = time.perf_counter()
    bad = torch.full((), _BIG, dtype=torch.long, device=dev)  # first non-finite global step
    gstep = torch.full((), start_epoch * steps_per_epoch + start_step, dtype=torch.long, device=dev)
    show = progress and di.main
    epoch_bar = tqdm(
        total=cfg.epochs,
        initial=start_epoch,
        desc="epochs",
        unit="ep",
        disable=not show,
        dynamic_ncols=True,
    )

    def check(stop: _StopFlag) -> tuple[int, int]:
        """(signal to stop on or 0, first non-finite global step or -1), agreed by all ranks."""
        flags = torch.stack([torch.tensor(-stop.signum, device=dev), bad.clone()])
        if di.enabled:
            dist.all_reduce(flags, op=dist.ReduceOp.MIN)
        s, b = (int(v) for v in flags.tolist())
        return -s, (b if b < _BIG else -1)

    def fail(b: int) -> NonFiniteLossError:
        e, s = divmod(b, steps_per_epoch)
        return NonFiniteLossError(
            f"non-finite loss at epoch {e + 1}, step {s} (global step {b}; {steps_per_epoch} "
            f"steps per epoch); stopped without saving. The last good checkpoint is "
            f"{ckpt_path if ckpt_path.exists() else '(none yet)'}. Lower the learning rate "
            "(--lr) or check the data."
        )

    try:
        with _StopFlag() as stop:
            for epoch in range(start_epoch, cfg.epochs):
                for g in opt.param_groups:  # step schedule of Sec. 4.1
                    g["lr"] = cfg.lr_at(epoch)
                first = start_step if epoch == start_epoch else 0
                train_loader.set_epoch(epoch)
                train_loader.start_at(first)
                state = _EpochState(
                    torch.zeros((), dtype=torch.float64, device=dev),
                    AttributeMetrics(len(train_ds.attr_names), dev),
                )
                if first and partial is not None:
                    state.loss_sum += partial["loss_sum"].to(dev)
                    state.counts.update_counts(partial["counts"])
                    state.elapsed, state.images = partial["elapsed"], partial["images"]
                t_epoch = time.perf_counter() - state.elapsed
                step_bar = tqdm(
                    total=steps_per_epoch,
                    initial=first,
                    leave=False,
                    desc=f"epoch {epoch + 1}/{cfg.epochs}",
                    unit="step",
                    disable=not show,
                    dynamic_ncols=True,
                )
                last_log = (time.perf_counter(), first, state.loss_sum.clone())
                model.train()
                batches = iter(train_loader)
                for step in range(first, steps_per_epoch):
                    if (step - first) % sync_every == 0:
                        signum, b = check(stop)
                        if b >= 0:
                            raise fail(b)
                        if signum:
                            sync_buffers()
                            state.elapsed = time.perf_counter() - t_epoch
                            pos = {
                                "epoch": epoch,
                                "step": step,
                                "global_step": epoch * steps_per_epoch + step,
                            }
                            path = save(pos, state) if di.main else None
                            raise TrainingInterrupted(signum, pos, path or ckpt_path)
                    x, y = next(batches)
                    with autocast_for(dev, amp):
                        o = fwd(x)
                    o = float_output(o)
                    loss = mggnet_loss(o, y, pos_weight)  # Eq. 5
                    # record the first non-finite step on the device: no host sync here
                    bad = torch.where((bad == _BIG) & ~torch.isfinite(loss), gstep, bad)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    gstep += 1
                    state.loss_sum += loss.detach()
                    state.counts.update(o.probs.detach(), y)
                    state.images += x.shape[0] * di.world_size
                    if show and ((step + 1) % cfg.log_every == 0 or step + 1 == steps_per_epoch):
                        now = time.perf_counter()
                        t0, s0, l0 = last_log
                        k = step + 1 - s0
                        step_bar.set_postfix(
                            loss=f"{float(state.loss_sum - l0) / k:.4f}",  # one sync per log
                            img_s=f"{k * cfg.batch_size / max(now - t0, 1e-9):.0f}",
                        )
                        step_bar.update(k)
                        last_log = (now, step + 1, state.loss_sum.clone())
                step_bar.close()
                # epoch end: final checks, metrics, checkpoint
                signum, b = check(stop)
                if b >= 0:
                    raise fail(b)
                sync_buffers()
                if di.enabled:
                    dist.all_reduce(state.loss_sum)
                    dist.all_reduce(state.counts.counts)
                seconds = time.perf_counter() - t_epoch
                summary = state.counts.summary(train_ds.attr_names)
                row: dict[str, Any] = {
                    "epoch": epoch + 1,
                    "lr": cfg.lr_at(epoch),
                    "steps": steps_per_epoch,
                    "train_loss": float(state.loss_sum) / (steps_per_epoch * di.world_size),
                    "train_mean_accuracy": summary["mean_accuracy"],
                    "train_mean_balanced_accuracy": summary["mean_balanced_accuracy"],
                    "seconds": seconds,
                    "images_per_s": state.images / max(seconds, 1e-9),
                }
                if val_ds is not None:
                    vsrc, _ = _make_source(val_ds, cfg.val_split, cfg, dev, show)
                    vl = make_loader(
                        vsrc,
                        batch_size=per_rank,
                        train=False,
                        **{k: v for k, v in common.items() if k != "seed"},
                    )
                    vm, _ = run_eval(model, vl, device=dev, amp=amp, world_size=di.world_size)
                    vs = vm.summary(val_ds.attr_names)
                    row.update(
                        {
                            f"{cfg.val_split}_mean_accuracy": vs["mean_accuracy"],
                            f"{cfg.val_split}_mean_balanced_accuracy": vs["mean_balanced_accuracy"],
                        }
                    )
                history.append(row)
                pos = {"epoch": epoch + 1, "step": 0, "global_step": (epoch + 1) * steps_per_epoch}
                if di.main:
                    save(pos, None)
                    if cfg.keep_epoch_checkpoints:
                        save(pos, None, tag=f"epoch_{epoch + 1:02d}")
                    with open(out / "metrics.jsonl", "a") as f:
                        f.write(json.dumps(row) + "\n")
                epoch_bar.set_postfix(
                    loss=f"{row['train_loss']:.4f}",
                    acc=f"{row['train_mean_accuracy']:.2f}",
                    img_s=f"{row['images_per_s']:.0f}",
                )
                epoch_bar.update(1)
                if signum:  # arrived during the epoch's last steps: the epoch checkpoint holds
                    raise TrainingInterrupted(signum, pos, ckpt_path)
    finally:
        epoch_bar.close()
    t_train = time.perf_counter() - t_train0

    # ---- final evaluation on the test split (Tables 1 and 2)
    t_eval0 = time.perf_counter()
    esrc, _ = _make_source(eval_ds, cfg.eval_split, cfg, dev, progress and di.main)
    el = make_loader(
        esrc, batch_size=per_rank, train=False, **{k: v for k, v in common.items() if k != "seed"}
    )
    plain, _ = run_eval(
        model,
        el,
        device=dev,
        amp=amp,
        world_size=di.world_size,
        num_attributes=len(eval_ds.attr_names),
    )
    t_eval = time.perf_counter() - t_eval0
    report = None
    if di.main:
        report = build_report(
            plain=plain,
            flipped=None,
            train_labels=train_ds.attr,
            eval_labels=eval_ds.attr,
            attr_names=list(eval_ds.attr_names),
            info=info,
            split=cfg.eval_split,
            config=cfg.to_dict(),
            device=dev,
            checkpoint=str(ckpt_path),
            times={
                "setup": t_setup,
                "train": t_train,
                "evaluate": t_eval,
                "train_all_sessions": sum(h["seconds"] for h in history),
                "resumed": ckpt is not None,
            },
        )
        report["world_size"] = di.world_size
        report["history"] = history
        write_json(report, out / "results.json")
    return TrainResult(out, report, history, model, di, plain.counts.cpu())


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in history))
    os.replace(tmp, path)


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
    p.add_argument("--dataset", choices=("celeba", "lfwa"), default=None)
    p.add_argument("--variant", choices=("baseline", "independent", "gal", "mggnet"), default=None)
    p.add_argument("--backbone", choices=("resnet18", "resnet34", "vgg16", "alexnet"), default=None)
    p.add_argument("--taps", nargs="+", default=None, metavar="BLOCK",
                   help="blocks for GAL/GCL (default: block3 block4, the paper's)")
    p.add_argument(
        "--weights",
        default=None,
        help="imagenet | none | a state-dict path (full profile: imagenet)",
    )
    p.add_argument("--criterion", choices=("prediction", "balanced"), default=None)
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
    p.add_argument("--batch-size", type=int, default=None, help="global batch (paper: 144)")
    p.add_argument("--image-size", type=int, default=None, help="paper: 224")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    p.add_argument("--amp", choices=("bf16", "none"), default=None)
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--loader", choices=("auto", "cache", "pil"), default=None)
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
    from .data import DatasetFormatError, DatasetNotFoundError

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
