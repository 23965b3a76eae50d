"""The training run object: everything :func:`mggnet_lite.train.train` sets up before step one.

:func:`setup_run` builds a :class:`Run` (data, loaders, model, optimiser of the paper's
Sec. 4.1, device and DDP info, run folder) and, with ``resume=True``, restores it from the
run's ``last.pt``: weights, optimiser, RNG, position and the partial epoch's accumulators.
The methods are the pieces the loop in :mod:`mggnet_lite.train` calls: the periodic device
check, the mid-epoch and end-of-epoch checkpoint, the stop-on-signal (ARCHITECTURE.md,
"Files on disk" and "Speed").
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
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
from .data import make_loader, open_cache, resolve_loader
from .evaluate import data_info, open_split
from .files import atomic_write_json, atomic_write_text
from .losses import balanced_pos_weight
from .metrics import AttributeMetrics
from .nn.mggnet import build_model
from .profiles import TrainConfig, resolve_device

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
    "synth_occlusion",
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


@dataclass
class EpochState:
    """What a mid-epoch checkpoint must carry so the resumed epoch's metrics are exact."""

    loss_sum: torch.Tensor
    counts: AttributeMetrics
    elapsed: float = 0.0
    images: int = 0
    started: float = 0.0  # perf_counter at the epoch's start, less the time before a resume

    def payload(self) -> dict[str, Any]:
        return {
            "loss_sum": self.loss_sum.detach().cpu(),
            "counts": self.counts.counts.cpu(),
            "elapsed": self.elapsed,
            "images": self.images,
        }


def synth_name(n: int, seed: int, occlusion: dict[str, float] | None = None) -> str:
    """The folder name of a SynthFaces set: its size, seed and occlusion shares."""
    occ = "".join(f"-{g}{round(100 * s)}" for g, s in sorted((occlusion or {}).items()) if s)
    return f"synthfaces-n{n}-seed{seed}{occ}"


def default_synth_root(n: int, seed: int, occlusion: dict[str, float] | None = None) -> Path:
    """Where the quick profile renders SynthFaces when no data folder is given."""
    base = os.environ.get("MGGNET_CACHE") or Path.home() / ".cache" / "mggnet_lite"
    return Path(base).expanduser() / synth_name(n, seed, occlusion)


def resolve_data(data: str | os.PathLike | None, cfg: TrainConfig, main: bool = True) -> Path:
    """``data``, else ``$MGGNET_DATA``, else (quick and synth profiles) a rendered SynthFaces set."""
    if data is None:
        data = os.environ.get("MGGNET_DATA") or None
    if data is not None:
        return Path(data).expanduser()
    if cfg.profile == "full":
        raise ValueError(
            "no data folder: pass --data DIR (CelebA or LFWA) or set MGGNET_DATA; "
            "the quick and synth profiles render SynthFaces when none is given"
        )
    from .data import synthesize

    root = default_synth_root(cfg.synth_n, cfg.synth_seed, cfg.synth_occlusion)
    if main:
        print(
            f"no --data given: using SynthFaces (n={cfg.synth_n}, seed={cfg.synth_seed}, "
            f"occlusion {cfg.synth_occlusion}) at {root}",
            flush=True,
        )
    return synthesize(root, n=cfg.synth_n, seed=cfg.synth_seed, progress=main,
                      occlusion=cfg.synth_occlusion)


@dataclass(eq=False, repr=False)
class Run:
    """One training run: config, folder, device, DDP info, then (set by :func:`setup_run`) the
    data, loaders, model, optimiser, position and history that the loop reads and updates."""

    cfg: TrainConfig
    out: Path
    data: Path
    dist: DistInfo
    device: torch.device
    show: bool  # progress bars and cache-building messages (rank 0, progress=True)
    train_ds: Any = field(init=False)
    eval_ds: Any = field(init=False)
    val_ds: Any | None = field(init=False)
    train_loader: Any = field(init=False)
    steps_per_epoch: int = field(init=False)
    info: dict[str, Any] = field(init=False)  # data name, path, split sizes (results.json)
    model: torch.nn.Module = field(init=False)  # the bare model: weights, buffers, eval
    forward: Callable[[torch.Tensor], Any] = field(init=False)  # DDP and/or compiled
    optimizer: torch.optim.Optimizer = field(init=False)
    pos_weight: torch.Tensor | None = field(init=False)
    start_epoch: int = 0
    start_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    partial: dict[str, Any] | None = None  # a resumed epoch's accumulators
    resumed: bool = False
    stop: _StopFlag = field(default_factory=_StopFlag)
    bad: torch.Tensor = field(init=False)  # first non-finite global step, on the device
    gstep: torch.Tensor = field(init=False)  # global step, on the device
    times: dict[str, float] = field(default_factory=dict)

    @property
    def ckpt_path(self) -> Path:
        return self.out / "last.pt"

    @property
    def amp(self) -> str:
        return self.cfg.amp if self.device.type == "cuda" else "none"

    @property
    def memory_format(self) -> torch.memory_format:
        cuda = self.device.type == "cuda"
        return torch.channels_last if (cuda and self.cfg.channels_last) else torch.contiguous_format

    @property
    def sync_every(self) -> int:
        """Steps between host looks at the device flags: free on CPU, 20 on CUDA by default."""
        return self.cfg.sync_every or (20 if self.device.type == "cuda" else 1)

    @property
    def per_rank(self) -> int:
        return self.cfg.batch_size // self.dist.world_size

    def loader(self, ds: Any, split: str, train: bool = False) -> Any:
        """A loader over ``ds``: the decoded cache (built once, then reused) or the dataset."""
        kind = resolve_loader(self.cfg.loader, self.device)
        src = open_cache(ds, split, progress=self.show) if kind == "cache" else ds
        kw = {
            "image_size": self.cfg.image_size,
            "device": self.device,
            "path": kind,
            "rank": self.dist.rank,
            "world_size": self.dist.world_size,
            "workers": self.cfg.workers,
            "memory_format": self.memory_format,
        }
        if train:
            kw.update(train=True, flip=self.cfg.flip, seed=self.cfg.seed)
        else:
            kw.update(train=False)
        return make_loader(src, batch_size=self.per_rank, **kw)

    def position(self, epoch: int, step: int) -> dict[str, int]:
        return {"epoch": epoch, "step": step, "global_step": epoch * self.steps_per_epoch + step}

    def set_lr(self, epoch: int, step: int = 0) -> None:
        """The schedule's lr (``TrainConfig.lr_at``): per epoch for Sec. 4.1's step schedule,
        per step for one-cycle."""
        lr = self.cfg.lr_at(epoch, step, self.steps_per_epoch)
        for g in self.optimizer.param_groups:
            g["lr"] = lr

    def epoch_state(self, first: int) -> EpochState:
        """Zeroed accumulators, or the checkpoint's partial ones when resuming mid-epoch."""
        state = EpochState(
            torch.zeros((), dtype=torch.float64, device=self.device),
            AttributeMetrics(len(self.train_ds.attr_names), self.device),
        )
        if first and self.partial is not None:
            state.loss_sum += self.partial["loss_sum"].to(self.device)
            state.counts.update_counts(self.partial["counts"])
            state.elapsed, state.images = self.partial["elapsed"], self.partial["images"]
        state.started = time.perf_counter() - state.elapsed
        return state

    def flag_non_finite(self, loss: torch.Tensor) -> None:
        """Record the first non-finite step on the device: no host sync in the step."""
        self.bad = torch.where((self.bad == _BIG) & ~torch.isfinite(loss), self.gstep, self.bad)

    def check(self) -> tuple[int, int]:
        """(signal to stop on or 0, first non-finite global step or -1), agreed by all ranks."""
        flags = torch.stack([torch.tensor(-self.stop.signum, device=self.device), self.bad.clone()])
        if self.dist.enabled:
            dist.all_reduce(flags, op=dist.ReduceOp.MIN)
        s, b = (int(v) for v in flags.tolist())
        return -s, (b if b < _BIG else -1)

    def fail(self, b: int) -> NonFiniteLossError:
        e, s = divmod(b, self.steps_per_epoch)
        return NonFiniteLossError(
            f"non-finite loss at epoch {e + 1}, step {s} (global step {b}; {self.steps_per_epoch} "
            f"steps per epoch); stopped without saving. The last good checkpoint is "
            f"{self.ckpt_path if self.ckpt_path.exists() else '(none yet)'}. Lower the learning "
            "rate (--lr) or check the data."
        )

    def poll(self, epoch: int, step: int, state: EpochState) -> None:
        """The periodic host look: raise on a non-finite loss; on a stop signal save a
        mid-epoch checkpoint (rank 0) and raise :class:`TrainingInterrupted`."""
        signum, b = self.check()
        if b >= 0:
            raise self.fail(b)
        if signum:
            self.sync_buffers()
            state.elapsed = time.perf_counter() - state.started
            pos = self.position(epoch, step)
            path = self.save(pos, state) if self.dist.main else None
            raise TrainingInterrupted(signum, pos, path or self.ckpt_path)

    def sync_buffers(self) -> None:
        # DDP broadcasts buffers at each forward, then each rank's forward updates its own
        # BN statistics: make all ranks hold rank 0's before evaluating or saving
        if self.dist.enabled:
            for b in self.model.buffers():
                dist.broadcast(b, 0)

    def save(self, position: dict[str, int], state: EpochState | None, tag: str = "last") -> Path:
        """Write ``<tag>.pt`` atomically: weights, optimiser, RNG, position, history."""
        payload = make_checkpoint(
            self.cfg.to_dict(),
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            rng=rng_state(),
            position=position,
            partial=state.payload() if state else None,
            history=self.history,
            steps_per_epoch=self.steps_per_epoch,
            world_size=self.dist.world_size,
            data=str(Path(self.data).resolve()),
            model_config=self.model.config,
        )
        return atomic_save(payload, self.out / f"{tag}.pt")

    def log_row(self, row: dict[str, Any]) -> None:
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")

    def write_run_files(self) -> None:
        """``config.json``, and ``metrics.jsonl`` rewritten from the (checkpoint's) history."""
        self.out.mkdir(parents=True, exist_ok=True)
        config = {
            "config": self.cfg.to_dict(),
            "data": str(Path(self.data).resolve()),
            "data_info": self.info,
            "world_size": self.dist.world_size,
            "model_config": self.model.config,
        }
        atomic_write_json(self.out / "config.json", config, what="the run's config")
        # metrics.jsonl mirrors the checkpoint's history: a line written after the last
        # checkpoint (then killed) must not appear twice after the resume
        _write_history(self.out / "metrics.jsonl", self.history)


def _write_history(path: Path, history: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(r) + "\n" for r in history)
    atomic_write_text(path, text, what="the training history")


def setup_run(
    cfg: TrainConfig,
    out: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
) -> Run:
    """Everything before the first step; with ``resume``, continue ``out/last.pt``.

    Sets ``cfg.threads`` / ``cfg.deterministic`` for the process (:func:`~mggnet_lite.train.train`
    restores them). The order (data, ``manual_seed``, model, optimiser, resumed RNG) is what
    makes a resumed run bitwise equal to an uninterrupted one.
    """
    t_start = time.perf_counter()
    cfg.validate()
    di = setup_distributed(cfg.device)
    dev = resolve_device(cfg.device, di.local_rank)
    out = Path(out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    if cfg.batch_size % di.world_size:
        raise ValueError(
            f"batch_size={cfg.batch_size} is the global batch; it must divide "
            f"evenly over {di.world_size} ranks"
        )
    ckpt = _previous_checkpoint(cfg, out / "last.pt", resume)
    if ckpt is not None and data is None:
        data = ckpt.get("data")
    run = Run(cfg, out, resolve_data(data, cfg, di.main), di, dev, show=progress and di.main)
    _open_data(run)
    _build_model(run)
    if cfg.freeze_backbone:
        _attach_features(run)
    if ckpt is not None:
        _restore(run, ckpt)
    if di.main:
        run.write_run_files()
    run.times["setup"] = time.perf_counter() - t_start
    run.bad = torch.full((), _BIG, dtype=torch.long, device=dev)
    start = run.position(run.start_epoch, run.start_step)["global_step"]
    run.gstep = torch.full((), start, dtype=torch.long, device=dev)
    return run


def _previous_checkpoint(cfg: TrainConfig, path: Path, resume: bool) -> dict[str, Any] | None:
    """The checkpoint to resume, checked against ``cfg``; refuses to overwrite a run."""
    if path.exists() and not resume:
        raise FileExistsError(
            f"{path.parent} already holds a run ({path}); pass --resume to "
            "continue it, or choose another --out"
        )
    if not (resume and path.exists()):
        return None
    ckpt = load_checkpoint(path)
    check_config(ckpt, cfg.to_dict(), path, ignore=RESUME_FREE)
    return ckpt


def _open_data(run: Run) -> None:
    """The paper's splits and the train loader (majority baseline and pos weights: train)."""
    cfg = run.cfg
    run.train_ds = open_split(run.data, cfg.dataset, "train")
    run.eval_ds = open_split(run.data, cfg.dataset, cfg.eval_split)
    run.val_ds = open_split(run.data, cfg.dataset, cfg.val_split) if cfg.val_split else None
    if cfg.freeze_backbone:  # the features of a frozen backbone: _attach_features, after the model
        steps = len(run.train_ds) // run.per_rank
    else:
        run.train_loader = run.loader(run.train_ds, "train", train=True)
        steps = len(run.train_loader)
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    if steps < 1:
        raise ValueError(
            f"the train split has {len(run.train_ds)} images, fewer than one batch of "
            f"{cfg.batch_size}; lower --batch-size"
        )
    run.steps_per_epoch = steps
    splits = {"train": run.train_ds, cfg.eval_split: run.eval_ds}
    run.info = data_info(run.data, cfg.dataset, splits)


def _build_model(run: Run) -> None:
    """Model and SGD (Sec. 4.1; or Adam); same seed on every rank, DDP also broadcasts rank 0's.
    With ``freeze_backbone`` only the parts after the backbone are trained."""
    cfg, dev = run.cfg, run.device
    torch.manual_seed(cfg.seed)
    if cfg.freeze_backbone and (cfg.weights is None or run.dist.enabled):
        raise ValueError(
            "freeze_backbone=True needs pretrained weights (a pretraining run's last.pt) and "
            "one process: set weights=PATH, or give the config pretrain settings, and do not "
            "start it with torchrun"
        )
    try:
        model = build_model(cfg.variant, cfg.backbone, cfg.weights, taps=tuple(cfg.taps),
                            width=cfg.width, pool=cfg.pool)
    except RuntimeError as err:  # e.g. weights="imagenet" on an offline machine
        raise ValueError(f"{err} (train: --weights none trains from scratch)") from err
    run.model = model.to(dev, memory_format=run.memory_format)
    if cfg.freeze_backbone:
        run.model.backbone.requires_grad_(False)
    net: torch.nn.Module = run.model
    if run.dist.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            run.model, device_ids=[dev.index] if dev.type == "cuda" else None
        )
    run.forward = torch.compile(net) if cfg.compile else net
    params = [p for p in run.model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        run.optimizer = torch.optim.Adam(params, lr=cfg.lr_at(0), weight_decay=cfg.weight_decay)
    else:
        run.optimizer = torch.optim.SGD(params, lr=cfg.lr_at(0), momentum=cfg.momentum,
                                        weight_decay=cfg.weight_decay, nesterov=cfg.nesterov)
    run.pos_weight = (
        balanced_pos_weight(run.train_ds.attr, cfg.max_pos_weight).to(dev)
        if cfg.criterion == "balanced"
        else None
    )


def _attach_features(run: Run) -> None:
    """A frozen-backbone run trains on features computed once (:mod:`mggnet_lite.features`)."""
    from .features import FeatureLoader, cached_features

    cfg = run.cfg
    feats = cached_features(
        run.model.backbone, run.loader(run.train_ds, "train"), weights=cfg.weights,
        data=run.data, split="train", image_size=cfg.image_size, taps=run.model.backbone.taps,
        device=run.device, show=run.show)
    run.train_loader = FeatureLoader(feats, torch.as_tensor(run.train_ds.attr), run.per_rank,
                                     seed=cfg.seed, device=run.device)
    run.forward = run.model.forward_features


def _restore(run: Run, ckpt: dict[str, Any]) -> None:
    """Weights, optimiser, RNG, position, history and partial epoch from ``ckpt``."""
    run.model.load_state_dict(ckpt["model"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    set_rng_state(ckpt["rng"])
    run.start_epoch, run.start_step = ckpt["position"]["epoch"], ckpt["position"]["step"]
    run.history = list(ckpt.get("history", []))
    run.partial = ckpt.get("partial")
    run.resumed = True
    if ckpt.get("steps_per_epoch") not in (None, run.steps_per_epoch):
        raise CheckpointError(
            f"cannot resume from {run.ckpt_path}: it has {ckpt['steps_per_epoch']} steps per "
            f"epoch, this setup {run.steps_per_epoch} (other data or world size?)"
        )
