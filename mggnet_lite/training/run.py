"""The training run object: everything :func:`mggnet_lite.training.train.train` sets up before step one.

:func:`setup_run` builds a :class:`Run` (data, loaders, model, optimiser of the paper's
Sec. 4.1, device and DDP info, run folder) and, with ``resume=True``, restores it from the
run's ``last.pt``: weights, optimiser, RNG, position and the partial epoch's accumulators.
The methods are the pieces the loop in :mod:`mggnet_lite.training.train` calls: the periodic device
check, the mid-epoch and end-of-epoch checkpoint, the stop-on-signal (ARCHITECTURE.md,
"Files on disk" and "Speed").
"""

from __future__ import annotations

import dataclasses
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from ..data import make_loader, open_cache, resolve_loader
from ..data.loader import PlannedLoader
from ..data.synthfaces.blind import regions_for
from ..data.synthfaces.drawing import (
    drawing_groups,
    drawing_labels,
    drawing_names,
    relabel,
    set_seed,
)
from ..files import user_cache_dir
from ..losses import balanced_pos_weight, mggnet_loss
from ..metrics import AttributeMetrics
from ..nn.mggnet import build_model
from .checkpoint import (
    CheckpointError,
    check_config,
    data_info,
    load_checkpoint,
    make_checkpoint,
    rng_state,
    set_rng_state,
)
from .config import RESUME_FREE, TrainConfig
from .evaluate import open_split
from .features import FeatureLoader, cached_features
from .folder import RunFolder
from .runtime import resolve_device
from .step import CompiledStep, compile_options

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
    """Where the trainer renders SynthFaces when no data folder is given: this user's cache
    (:func:`~mggnet_lite.files.user_cache_dir`)."""
    return user_cache_dir() / synth_name(n, seed, occlusion)


def data_location(data: str | os.PathLike | None, cfg: TrainConfig) -> Path:
    """The data folder a run of ``cfg`` reads: ``data``, else ``$MGGNET_DATA``, else (quick and
    synth profiles) the SynthFaces set of ``cfg`` in :func:`default_synth_root`, rendered or not."""
    if data is None:
        data = os.environ.get("MGGNET_DATA") or None
    if data is not None:
        return Path(data).expanduser()
    if cfg.profile == "full":
        raise ValueError(
            "no data folder: pass --data DIR (CelebA or LFWA) or set MGGNET_DATA; "
            "the quick and synth profiles render SynthFaces when none is given"
        )
    return default_synth_root(cfg.synth_n, cfg.synth_seed, cfg.synth_occlusion)


def resolve_data(data: str | os.PathLike | None, cfg: TrainConfig, main: bool = True) -> Path:
    """:func:`data_location`, with the SynthFaces set rendered first when it is the default."""
    root = data_location(data, cfg)
    if data is not None or os.environ.get("MGGNET_DATA"):
        return root
    from ..data import synthesize

    if main:
        print(f"no --data given: using SynthFaces (n={cfg.synth_n}, seed={cfg.synth_seed}, "
              f"occlusion {cfg.synth_occlusion}) at {root}", flush=True)
    return synthesize(root, n=cfg.synth_n, seed=cfg.synth_seed, progress=main,
                      occlusion=cfg.synth_occlusion)


class AfterBackbone(torch.nn.Module):
    """The part of ``model`` a frozen-backbone run trains: its forward takes the backbone's
    features, not images (:meth:`~mggnet_lite.nn.mggnet.MGGNet.forward_features`)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, feats: dict[str, torch.Tensor]) -> Any:
        return self.model.forward_features(feats)


@dataclass(eq=False, repr=False)
class Run:
    """One training run, complete once :func:`setup_run` returns it: config, folder, device, DDP
    info, data, loaders, model, optimiser, loss, position and history. The loop in
    :mod:`mggnet_lite.training.train` reads it and updates its position and history."""

    cfg: TrainConfig
    folder: RunFolder
    data: Path
    dist: DistInfo
    device: torch.device
    show: bool  # progress bars and cache-building messages (rank 0, progress=True)
    train_ds: Any
    eval_ds: Any
    val_ds: Any | None
    info: dict[str, Any]  # data name, path, split sizes (results.json)
    model: torch.nn.Module  # the bare model: weights, buffers, eval
    forward: torch.nn.Module  # what a step calls: the model, DDP, or AfterBackbone
    optimizer: torch.optim.Optimizer
    loss: Callable[[Any, torch.Tensor], torch.Tensor]  # Eq. 5 with this run's weights
    train_loader: PlannedLoader  # images, or a frozen backbone's features
    steps_per_epoch: int
    compiled: CompiledStep | None = None  # forward + Eq. 5 as one graph (compile)
    start_epoch: int = 0
    start_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    partial: dict[str, Any] | None = None  # a resumed epoch's accumulators
    resumed: bool = False
    times: dict[str, float] = field(
        default_factory=lambda: {"setup": 0.0, "train": 0.0, "evaluate": 0.0})
    stop: _StopFlag = field(default_factory=_StopFlag)

    def __post_init__(self) -> None:
        start = self.position(self.start_epoch, self.start_step)["global_step"]
        # first non-finite global step and the global step, on the device: no sync per step
        self.bad = torch.full((), _BIG, dtype=torch.long, device=self.device)
        self.gstep = torch.full((), start, dtype=torch.long, device=self.device)

    @property
    def amp(self) -> str:
        """``cfg.amp``: :func:`~.evaluate.autocast_for` decides what it means on this device."""
        return self.cfg.amp

    @property
    def sync_every(self) -> int:
        """Steps between host looks at the device flags: free on CPU, 20 on CUDA by default."""
        return self.cfg.sync_every or (20 if self.device.type == "cuda" else 1)

    def loader(self, ds: Any, split: str) -> PlannedLoader:
        """An evaluation loader over ``ds`` with this run's pipeline (:func:`split_loader`)."""
        return split_loader(self.cfg, ds, split, self.device, self.dist, show=self.show)

    def first_step(self, epoch: int) -> int:
        """Where ``epoch`` starts: the checkpoint's step for a resumed epoch, else 0."""
        return self.start_step if epoch == self.start_epoch else 0

    def position(self, epoch: int, step: int) -> dict[str, int]:
        return {"epoch": epoch, "step": step, "global_step": epoch * self.steps_per_epoch + step}

    def set_lr(self, epoch: int, step: int = 0) -> None:
        """The schedule's lr (``TrainConfig.lr_at``): per epoch for Sec. 4.1's step schedule,
        per step for one-cycle."""
        lr = self.cfg.lr_at(epoch, step, self.steps_per_epoch)
        for g in self.optimizer.param_groups:
            g["lr"] = lr

    def before_step(self, epoch: int, step: int, state: EpochState) -> None:
        """The schedule's lr for this step (every step for one-cycle, at the epoch's first for
        Sec. 4.1's step schedule), then, every ``sync_every`` steps from the epoch's first, the
        host look at the device (:meth:`poll`)."""
        first = self.first_step(epoch)
        if self.cfg.schedule != "step" or step == first:
            self.set_lr(epoch, step)
        if (step - first) % self.sync_every == 0:
            self.poll(epoch, step, state)

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
        last = self.folder.checkpoint
        return NonFiniteLossError(
            f"non-finite loss at epoch {e + 1}, step {s} (global step {b}; {self.steps_per_epoch} "
            f"steps per epoch); stopped without saving. The last good checkpoint is "
            f"{last if last.exists() else '(none yet)'}. Lower the learning rate (--lr) or "
            "check the data."
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
            raise TrainingInterrupted(signum, pos, path or self.folder.checkpoint)

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
        return self.folder.save(payload, tag)

    def write_run_files(self) -> None:
        """``config.json``, and ``metrics.jsonl`` rewritten from the (checkpoint's) history."""
        self.folder.write_config({
            "config": self.cfg.to_dict(),
            "data": str(Path(self.data).resolve()),
            "data_info": self.info,
            "world_size": self.dist.world_size,
            "model_config": self.model.config,
        })
        self.folder.write_history(self.history)


def split_loader(cfg: TrainConfig, ds: Any, split: str, device: torch.device, di: DistInfo,
                 *, show: bool, train: bool = False) -> PlannedLoader:
    """A loader over ``ds`` with ``cfg``'s pipeline (``data.resolve_loader``: the decoded cache,
    built once then reused, or PIL), image size and this rank's shard of ``cfg.batch_size``;
    ``train``: shuffled, with ``cfg.flip``."""
    kind = resolve_loader(cfg.loader, device)
    base = getattr(ds, "relabelled_from", ds)  # a pretext's view reads the same images
    src = open_cache(base, split, progress=show) if kind == "cache" else ds
    if kind == "cache" and base is not ds:  # the cache keeps the true labels; swap them here
        src = dataclasses.replace(src, attr_names=list(ds.attr_names), labels=drawing_labels(
            src.filenames, set_seed(base.data_root), cfg.target).numpy().astype(np.uint8))
    extra = {"flip": cfg.flip, "seed": cfg.seed} if train else {}
    return make_loader(src, batch_size=cfg.batch_size // di.world_size, image_size=cfg.image_size,
                       device=device, path=kind, rank=di.rank, world_size=di.world_size,
                       workers=cfg.workers, memory_format=memory_format(cfg, device),
                       train=train, **extra)


def memory_format(cfg: TrainConfig, device: torch.device) -> torch.memory_format:
    """channels_last on CUDA when ``cfg.channels_last`` (ARCHITECTURE.md, "Speed"), else NCHW."""
    cuda = device.type == "cuda"
    return torch.channels_last if cuda and cfg.channels_last else torch.contiguous_format


def setup_run(
    cfg: TrainConfig,
    out: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
) -> Run:
    """Everything before the first step, as one complete :class:`Run`; with ``resume``,
    continue ``out/last.pt``.

    Sets ``cfg.threads`` / ``cfg.deterministic`` for the process (:func:`~mggnet_lite.training.
    train.train` restores them). The order (data, ``manual_seed``, model, optimiser, resumed
    RNG) is what makes a resumed run bitwise equal to an uninterrupted one.
    """
    t_start = time.perf_counter()
    cfg.validate()
    di = setup_distributed(cfg.device)
    dev = resolve_device(cfg.device, di.local_rank)
    if cfg.compile:
        compile_options(cfg.compile, dev)  # a mode this device cannot run fails here
    _process_settings(cfg, di)
    folder = RunFolder(out)
    ckpt = _previous_checkpoint(cfg, folder, resume, data)
    root = resolve_data(data if data is not None else ckpt and ckpt.get("data"), cfg, di.main)
    show = progress and di.main
    splits = _open_splits(root, cfg)
    images = None if cfg.freeze_backbone else split_loader(cfg, splits["train"], "train", dev,
                                                           di, show=show, train=True)
    model, forward = _build_model(cfg, dev, di)
    optimizer = _optimizer(cfg, model)
    if cfg.freeze_backbone:  # the features of a frozen backbone, computed once
        images, forward = _feature_loader(cfg, model, splits["train"], root, dev, di, show)
    steps = _steps_per_epoch(cfg, images, len(splits["train"]))
    resumed = _restore(ckpt, model, optimizer, steps, folder) if ckpt is not None else {}
    pos_weight = (balanced_pos_weight(splits["train"].attr, cfg.max_pos_weight).to(dev)
                  if cfg.criterion == "balanced" else None)
    run = Run(
        cfg, folder, root, di, dev, show,
        train_ds=splits["train"], eval_ds=splits["eval"], val_ds=splits["val"],
        info=data_info(root, cfg.dataset, {"train": splits["train"],
                                           cfg.eval_split: splits["eval"]}),
        model=model, forward=forward, optimizer=optimizer,
        loss=functools.partial(mggnet_loss, pos_weight=pos_weight),
        train_loader=images, steps_per_epoch=steps, **resumed,
    )
    if cfg.compile:
        run.compiled = CompiledStep(forward, run.loss, device=dev, amp=run.amp, mode=cfg.compile)
        if di.main:
            print(f"torch.compile ({run.compiled.mode}): the step's forward and Eq. 5 are one "
                  "graph; the first step compiles it (a minute or more on a CPU)",
                  file=sys.stderr, flush=True)
    if di.main:
        run.write_run_files()
    run.times["setup"] = time.perf_counter() - t_start
    return run


def _process_settings(cfg: TrainConfig, di: DistInfo) -> None:
    """Threads and determinism for this process; the global batch must split over the ranks."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True)
    if cfg.batch_size % di.world_size:
        raise ValueError(
            f"batch_size={cfg.batch_size} is the global batch; it must divide "
            f"evenly over {di.world_size} ranks"
        )


def _previous_checkpoint(cfg: TrainConfig, folder: RunFolder, resume: bool,
                         data: str | os.PathLike | None) -> dict[str, Any] | None:
    """The checkpoint to resume, checked against ``cfg`` and ``data``; refuses to overwrite."""
    path = folder.checkpoint
    if path.exists() and not resume:
        raise FileExistsError(
            f"{folder.path} already holds a run ({path}); pass --resume to "
            "continue it, or choose another --out"
        )
    if not (resume and path.exists()):
        return None
    ckpt = load_checkpoint(path)
    check_config(ckpt, cfg.to_dict(), path, ignore=RESUME_FREE)
    check_data(ckpt, data, path)
    return ckpt


def check_data(ckpt: dict[str, Any], data: str | os.PathLike | None, path: Path) -> None:
    """Refuse a checkpoint trained on another data folder than ``data`` (None: any)."""
    if data is None or not ckpt.get("data"):
        return
    ours = str(Path(data).expanduser().resolve())
    if ours != ckpt["data"]:
        raise CheckpointError(
            f"{path} was trained on the data in {ckpt['data']}, not {ours}. Pass that folder "
            "as --data, or start a new run in another --out folder."
        )


def _open_splits(root: Path, cfg: TrainConfig) -> dict[str, Any]:
    """The paper's splits: train, the evaluated split and the per-epoch validation split;
    with a pretext ``target``, each labelled with it (:func:`~mggnet_lite.data.synthfaces.
    drawing.relabel`) instead of the 40 attributes."""
    names = {"train": "train", "eval": cfg.eval_split, "val": cfg.val_split}
    out = {k: open_split(root, cfg.dataset, v) if v else None for k, v in names.items()}
    if cfg.target == "attributes":
        return out
    return {k: relabel(ds, cfg.target) if ds is not None else None for k, ds in out.items()}


def _build_model(cfg: TrainConfig, dev: torch.device, di: DistInfo
                 ) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(model, what a step calls): same seed on every rank, DDP also broadcasts rank 0's; with
    ``freeze_backbone`` only the parts after the backbone are trained. ``compile`` compiles
    the step's forward and loss around what this returns (:class:`~.step.CompiledStep`)."""
    torch.manual_seed(cfg.seed)
    if cfg.freeze_backbone and (cfg.weights is None or di.enabled):
        raise ValueError(
            "freeze_backbone=True needs pretrained weights (a pretraining run's last.pt) and "
            "one process: set weights=PATH, or give the config pretrain settings, and do not "
            "start it with torchrun"
        )
    try:
        labels = {} if cfg.target == "attributes" else {  # a pretext: its own output columns
            "attributes": drawing_names(cfg.target), "groups": drawing_groups(cfg.target)}
        model = build_model(cfg.variant, cfg.backbone, cfg.weights, taps=tuple(cfg.taps),
                            width=cfg.width, pool=cfg.pool, blind=tuple(cfg.blind),
                            stem_pool=cfg.stem_pool, detach_senders=cfg.detach_senders, **labels)
    except RuntimeError as err:  # e.g. weights="imagenet" on an offline machine
        raise ValueError(f"{err} (train: --weights none trains from scratch)") from err
    model = model.to(dev, memory_format=memory_format(cfg, dev))
    if cfg.freeze_backbone:
        model.backbone.requires_grad_(False)
        return model, AfterBackbone(model)
    net: torch.nn.Module = model
    if di.enabled:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dev.index] if dev.type == "cuda" else None
        )
    return model, net


#: the optimiser's multi-tensor implementation: a handful of ``_foreach_*`` ops per step
#: instead of three per parameter (torch's default on a CPU; ``benchmarks/op_count.py``)
OPTIMIZER_IMPL: dict[str, Any] = {"foreach": True}


def _optimizer(cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD (Sec. 4.1), or Adam (the quick profile's frozen stage), over the trained parameters,
    in their multi-tensor form (:data:`OPTIMIZER_IMPL`: the same arithmetic)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr_at(0), weight_decay=cfg.weight_decay,
                                **OPTIMIZER_IMPL)
    return torch.optim.SGD(params, lr=cfg.lr_at(0), momentum=cfg.momentum,
                           weight_decay=cfg.weight_decay, nesterov=cfg.nesterov, **OPTIMIZER_IMPL)


def _feature_loader(cfg: TrainConfig, model: torch.nn.Module, train_ds: Any, root: Path,
                    dev: torch.device, di: DistInfo, show: bool
                    ) -> tuple[FeatureLoader, torch.nn.Module]:
    """A frozen-backbone run trains on features computed once (:mod:`.features`)."""
    feats = cached_features(
        model.backbone, split_loader(cfg, train_ds, "train", dev, di, show=show),
        weights=cfg.weights, data=root, split="train", image_size=cfg.image_size,
        taps=model.backbone.taps, device=dev, show=show,
        blind=(model, regions_for(model, train_ds, cfg.image_size)) if model.blind else None)
    loader = FeatureLoader(feats, torch.as_tensor(train_ds.attr), cfg.batch_size, seed=cfg.seed,
                           device=dev)
    return loader, AfterBackbone(model)


def _steps_per_epoch(cfg: TrainConfig, loader: PlannedLoader, n_train: int) -> int:
    """The loader's batches per epoch, capped by ``max_steps_per_epoch``."""
    steps = min(len(loader), cfg.max_steps_per_epoch or len(loader))
    if steps < 1:
        raise ValueError(
            f"the train split has {n_train} images, fewer than one batch of "
            f"{cfg.batch_size}; lower --batch-size"
        )
    return steps


def _restore(ckpt: dict[str, Any], model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             steps: int, folder: RunFolder) -> dict[str, Any]:
    """Weights, optimiser and RNG from ``ckpt``; returns the :class:`Run` fields of its position,
    history and partial epoch."""
    if ckpt.get("steps_per_epoch") not in (None, steps):
        raise CheckpointError(
            f"cannot resume from {folder.checkpoint}: it has {ckpt['steps_per_epoch']} steps per "
            f"epoch, this setup {steps} (other data or world size?)"
        )
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    for group in optimizer.param_groups:  # a checkpoint's groups carry their implementation
        group.update(OPTIMIZER_IMPL)
    set_rng_state(ckpt["rng"])
    return {"start_epoch": ckpt["position"]["epoch"], "start_step": ckpt["position"]["step"],
            "history": list(ckpt.get("history", [])), "partial": ckpt.get("partial"),
            "resumed": True}
