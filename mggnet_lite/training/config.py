"""Every training knob in one place, the paper's schedule, and the ``quick`` / ``full`` profiles.

:class:`TrainConfig` defaults are the paper's Sec. 4.1 protocol: ResNet-18, SGD, batch 144,
lr 0.01 then 0.001, 224 x 224 input, random horizontal flip. The epochs depend on the task
(``PAPER_SCHEDULES``): CelebA prediction 9 + 5, CelebA balanced 12 + 3, LFWA 10 + 5.

The numbers are the paper's own, imported from :mod:`mggnet_lite.paper`; this module only
applies them.

Three profiles (ARCHITECTURE.md, "The book"), chosen by ``--profile`` or ``$MGGNET_PROFILE``:

* ``full``: a GPU and real data; the paper's schedule, plus the speed path of
  ARCHITECTURE.md, "Speed" (bf16 autocast, channels_last, the device-resident uint8 cache
  loader).
* ``synth``: a GPU and no real data: SynthFaces at scale (100,000 images), 224 px, the
  paper's ResNet-18 and schedule shape (9 + 5 epochs), fine-tuned from a backbone pretrained
  on SynthFaces (the stand-in for ImageNet; ``pretrain`` below).
* ``quick``: a CPU and SynthFaces (20,400 images, 64 px), in two stages (measured in
  ``benchmarks/studies/2026-12-01-quick-profile``): (1) a narrow ResNet-18 (width 16, no stem
  max-pool) is pretrained once on SynthFaces with the baseline's loss, shared by every variant
  as the paper's ImageNet weights are; (2) each variant trains GAL, GCL and the heads on that frozen
  backbone, from features computed once (:mod:`mggnet_lite.training.features`), with Adam and a
  one-cycle schedule. GAL pools with ``pool="mass"``, not Eq. 1's GAP (:mod:`.nn.gal`).

Without either, ``full`` is chosen with a GPU and real data (no ``synthfaces.json``),
``synth`` with a GPU and no real data, ``quick`` otherwise. Precedence: dataclass defaults <
profile < paper schedule for (dataset, criterion) (``full`` only) < explicit CLI flags <
``--set key=value``. A config with ``pretrain`` settings and no ``weights`` first trains (or
reuses) its pretraining run (:func:`pretrain_config`).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paper
from ..data import DATASETS, LOADERS
from ..data.synthfaces.writer import is_synthfaces
from ..nn import BACKBONES, TAP_BLOCKS, VARIANTS
from ..nn.gal import POOLS
from .runtime import has_gpu

PROFILES = ("quick", "synth", "full")
CRITERIA = ("prediction", "balanced")  # Sec. 4.1: the two training criteria (Tables 1 / 2)
#: what a run learns: the 40 attributes, or (stage 1 on SynthFaces, the stand-in for ImageNet)
#: how each image was drawn (data.synthfaces.drawing)
TARGETS = ("attributes", "drawing")
#: bf16 autocast on CUDA (fp32 on a CPU); also in training on a CPU that computes bf16 natively
#: (the quick profile; evaluation there stays fp32: training/evaluate.py, ``autocast_for``); none
AMP_MODES = ("bf16", "bf16-native", "none")
OPTIMIZERS = ("sgd", "adam")  # Sec. 4.1: SGD; Adam: the quick profile's frozen-backbone stage
#: Sec. 4.1's lr then low_lr; warm-up + cosine (one-cycle); Sec. 4.1's steps with lr and low_lr
#: scaled linearly with the batch (``lr_at``)
SCHEDULES = ("step", "onecycle", "scaled")
#: ``torch.compile`` modes of the training step (``compile=True`` is "default"; training/step.py)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune-no-cudagraphs")


def compile_mode(value: bool | str) -> str | None:
    """``TrainConfig.compile`` as ``torch.compile``'s mode: None (eager) for False, "default"
    for True, else one of :data:`COMPILE_MODES`; anything other is a clear error."""
    if isinstance(value, str) and value in COMPILE_MODES:
        return value
    if not isinstance(value, str) and value in (False, True):
        return "default" if value else None
    raise ValueError(f"compile={value!r}: choose true, false or one of {list(COMPILE_MODES)}")


#: "scaled": the share of all steps over which the lr rises linearly from the batch-144 value
#: to the scaled one (Goyal et al., 2017, warm up for 5 of 90 ImageNet epochs)
SCALED_WARMUP = 0.05

#: (dataset, criterion) -> (epochs at lr, epochs at low_lr): ``paper.SCHEDULES`` (Sec. 4.1),
#: plus LFWA balanced, which the paper does not train (it reports no balanced LFWA result):
#: we reuse the LFWA schedule for it.
PAPER_SCHEDULES: dict[tuple[str, str], tuple[int, int]] = {
    **paper.SCHEDULES,
    ("lfwa", "balanced"): paper.SCHEDULES[("lfwa", "prediction")],
}


@dataclass
class TrainConfig:
    """All knobs of a training run, in one place (ARCHITECTURE.md, "Rules": settings are
    decided once).

    The optimiser's momentum (0.9) and weight decay (5e-4) are not given in the paper; they
    are the usual ImageNet-ResNet SGD values, which the paper's "lr 0.01 then 0.001" suggests.
    """

    # task (Sec. 4.1)
    dataset: str = "celeba"  # one of data.DATASETS
    variant: str = "mggnet"  # one of nn.VARIANTS
    backbone: str = paper.BACKBONE
    width: int = 64  # ResNet channels of the first stage (the paper's ResNet-18: 64)
    stem_pool: bool = True  # the ResNet stem's max-pool; False: every map twice as fine
    pool: str = "gap"  # GAL's pooling: Eq. 1's "gap", or "mass" (nn.gal)
    # GCL's messages read the senders' features detached (nn.gcl): Eq. 2's forward, not Eq. 5's
    # joint training; the quick profile's choice (chapters 4 and 7)
    detach_senders: bool = False
    # groups whose GAL branch sees only their own region of the image (nn.mggnet, "blind";
    # chapter 3's graph experiment on SynthFaces); () for the paper's network
    blind: tuple[str, ...] = ()
    # blocks GAL / GCL sit on (Sec. 4.1: "block 3 and block 4"; ARCHITECTURE.md, "Paper to
    # code"); Table 3 ablates them
    taps: tuple[str, ...] = paper.TAPS
    weights: str | None = paper.WEIGHTS  # the paper starts from ImageNet; None = random init
    criterion: str = "prediction"  # prediction (BCE) | balanced (weighted BCE, Table 2)
    target: str = "attributes"  # one of TARGETS; "drawing" only for a baseline on SynthFaces
    # schedule (Sec. 4.1): epochs_at_lr at lr, then epochs_at_low_lr at low_lr
    epochs_at_lr: int = paper.SCHEDULES[("celeba", "prediction")][0]
    epochs_at_low_lr: int = paper.SCHEDULES[("celeba", "prediction")][1]
    lr: float = paper.LR
    low_lr: float = paper.LOW_LR
    batch_size: int = paper.BATCH_SIZE  # global batch; each DDP rank takes batch_size / world_size
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    optimizer: str = "sgd"  # one of OPTIMIZERS
    schedule: str = "step"  # one of SCHEDULES; onecycle runs lr over all epochs (low_lr unused)
    # train GAL / GCL / heads on a frozen backbone, from features computed once
    freeze_backbone: bool = False
    # settings of the stage that pretrains the backbone when ``weights`` is None (a dict of
    # TrainConfig fields applied to this config; None: no such stage). See pretrain_config.
    pretrain: dict[str, Any] | None = None
    max_pos_weight: float = 50.0  # clamp of the balanced weights N_neg / N_pos
    image_size: int = paper.IMAGE_SIZE
    flip: bool = paper.FLIP  # random horizontal flip, the paper's only augmentation
    seed: int = 0
    # speed path (ARCHITECTURE.md, "Speed")
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "bf16"  # one of AMP_MODES (bf16: autocast on CUDA only)
    channels_last: bool = True  # used on CUDA only
    compile: bool | str = False  # True ("default") or one of COMPILE_MODES: training/step.py
    loader: str = "auto"  # one of data.LOADERS (data.resolve_loader decides "auto")
    workers: int | None = None
    deterministic: bool = False  # torch.use_deterministic_algorithms (bitwise resume on CPU)
    threads: int | None = None  # torch.set_num_threads on CPU
    # bookkeeping
    eval_split: str = "test"  # split evaluated after training (results.json)
    val_split: str | None = None  # split evaluated after every epoch (metrics.jsonl), if any
    max_steps_per_epoch: int | None = None  # cap, for smoke tests and benchmarks
    log_every: int = 20  # steps between progress-bar refreshes (one host sync each)
    sync_every: int | None = None  # steps between NaN / stop checks; None: 1 on CPU, 20 on CUDA
    keep_epoch_checkpoints: bool = False  # also keep epoch_XX.pt besides last.pt
    # SynthFaces used when no data folder is given (quick profile only)
    synth_n: int = 2000
    synth_seed: int = 0
    # {group: share} of SynthFaces images with that group's region hidden, labels kept
    # (data.synthfaces.occlusion; chapter 3's experiment); None: no occlusion
    synth_occlusion: dict[str, float] | None = None
    profile: str = "full"
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes, recorded as given

    @property
    def epochs(self) -> int:
        return self.epochs_at_lr + self.epochs_at_low_lr

    def lr_at(self, epoch: int, step: int = 0, steps_per_epoch: int = 1) -> float:
        """The learning rate at ``step`` of ``epoch``. ``step`` (Sec. 4.1): ``lr`` for the first
        ``epochs_at_lr`` epochs, then ``low_lr``. ``onecycle``: cosine warm-up from lr / 25
        over the first 10% of all steps, then cosine decay to lr / 25 / 1e4 (the shape of
        PyTorch's ``OneCycleLR``; its momentum cycling is not used)."""
        if self.schedule == "step":
            return self.lr if epoch < self.epochs_at_lr else self.low_lr
        if self.schedule == "scaled":
            return self._scaled_lr(epoch, step, steps_per_epoch)
        t = self._done(epoch, step, steps_per_epoch)
        start, end, warm = self.lr / 25, self.lr / 25 / 1e4, 0.1
        if t < warm:
            return start + (self.lr - start) * (1 - math.cos(math.pi * t / warm)) / 2
        return end + (self.lr - end) * (1 + math.cos(math.pi * (t - warm) / (1 - warm))) / 2

    def _done(self, epoch: int, step: int, steps_per_epoch: int) -> float:
        """The share of all steps done before ``step`` of ``epoch``."""
        return (epoch * steps_per_epoch + step) / max(self.epochs * steps_per_epoch, 1)

    def _scaled_lr(self, epoch: int, step: int, steps_per_epoch: int) -> float:
        """``scaled``: Sec. 4.1's step schedule, its lr and low_lr given for the paper's batch
        of 144 and multiplied by ``batch_size / 144`` (the linear scaling rule of Goyal et al.,
        2017: at 512, lr 0.01 becomes 0.0356), after a linear warm-up from the batch-144 lr
        over the first :data:`SCALED_WARMUP` of all steps."""
        k = self.batch_size / paper.BATCH_SIZE
        lr = k * (self.lr if epoch < self.epochs_at_lr else self.low_lr)
        t = self._done(epoch, step, steps_per_epoch)
        if t < SCALED_WARMUP:
            return lr / k + (lr - lr / k) * t / SCALED_WARMUP
        return lr

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> TrainConfig:
        """Raise ValueError naming the bad knob."""
        choices = {
            "dataset": DATASETS,
            "variant": VARIANTS,
            "backbone": BACKBONES,
            "criterion": CRITERIA,
            "amp": AMP_MODES,
            "loader": LOADERS,
            "profile": PROFILES,
            "pool": POOLS,
            "optimizer": OPTIMIZERS,
            "schedule": SCHEDULES,
            "target": TARGETS,
        }
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key}={getattr(self, key)!r}: choose one of {list(allowed)}")
        for key in ("epochs_at_lr", "epochs_at_low_lr"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}={getattr(self, key)} must be >= 0")
        if self.epochs < 1:
            raise ValueError("epochs_at_lr + epochs_at_low_lr must be at least 1")
        for key in ("batch_size", "image_size", "log_every", "synth_n", "width"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key}={getattr(self, key)} must be >= 1")
        if self.weights in ("none", "None", ""):
            self.weights = None
        self.taps = (self.taps,) if isinstance(self.taps, str) else tuple(self.taps)
        if not self.taps or any(t not in TAP_BLOCKS for t in self.taps):
            raise ValueError(f"taps={list(self.taps)}: choose one or more of {list(TAP_BLOCKS)}")
        if self.freeze_backbone and self.weights is None and not self.pretrain:
            raise ValueError(
                "freeze_backbone=True needs pretrained weights: set weights=PATH (e.g. a "
                "pretraining run's last.pt), or pretrain settings, or freeze_backbone=false"
            )
        compile_mode(self.compile)
        ignored = [k for k in ("compile", "flip") if self.freeze_backbone and getattr(self, k)]
        if ignored:
            raise ValueError(
                f"{', '.join(f'{k}=True' for k in ignored)} with freeze_backbone=True: a frozen "
                "stage trains on features computed once from unflipped images, without "
                "torch.compile; set " + " ".join(f"{k}=false" for k in ignored)
            )
        self.blind = (self.blind,) if isinstance(self.blind, str) else tuple(self.blind)
        if not self.stem_pool and not self.backbone.startswith("resnet"):
            raise ValueError(f"stem_pool=False: only the ResNets have a stem max-pool, not "
                             f"backbone={self.backbone!r}; set stem_pool=true")
        if self.blind and not self.freeze_backbone:
            raise ValueError(
                f"blind={list(self.blind)} needs freeze_backbone=True: a blind group's maps are "
                "computed once per image with its region (data.synthfaces.blind), as frozen "
                "features are; set freeze_backbone=true or blind=()")
        if self.target != "attributes" and (self.variant != "baseline" or self.flip):
            raise ValueError(
                f"target={self.target!r} trains a backbone on a pretext (stage 1): use "
                "variant='baseline' and flip=false (a mirror flips the pose and the light "
                f"it learns), not variant={self.variant!r}, flip={self.flip}")
        if self.pretrain is not None:
            known = {f.name for f in dataclasses.fields(TrainConfig)} - {"pretrain"}
            bad = sorted(set(self.pretrain) - known)
            if not isinstance(self.pretrain, dict) or bad:
                raise ValueError(f"pretrain: unknown settings {bad}; known: {sorted(known)}")
        return self


#: what each profile changes from the dataclass defaults
PROFILE_SETTINGS: dict[str, dict[str, Any]] = {
    "full": {
        "profile": "full",
        "amp": "bf16",
        "channels_last": True,
        "loader": "cache",
        "val_split": None,
    },
    # synth: a GPU without CelebA. SynthFaces at scale, the paper's input size, ResNet-18 and
    # schedule (9 + 5 epochs, lr 0.01 / 0.001, batch 144), starting from a backbone pretrained
    # on the same images (no ImageNet offline): 4 + 1 epochs of the baseline from scratch.
    "synth": {
        "profile": "synth",
        "weights": None,
        "pool": "mass",
        "amp": "bf16",
        "channels_last": True,
        "loader": "cache",
        "synth_n": 100_000,
        "synth_occlusion": {"eyes": 0.1, "mouth": 0.1, "neck": 0.1},
        "val_split": None,
        "pretrain": {"variant": "baseline", "criterion": "prediction", "lr": 0.1,
                     "low_lr": 0.01, "epochs_at_lr": 4, "epochs_at_low_lr": 1},
    },
    # quick: a 2-core CPU (module docstring; sized by benchmarks/studies/2026-12-01-quick-profile
    # and by runs on this project's 2-core machine, 2026-12-01: stage 1 trains at about 330
    # images/s there, stage 2 at about 2,000). 20,400 SynthFaces (16,390 train, 2,000 valid,
    # 2,010 test) at 64 px, 10% each with the eyes, mouth or neck hidden (chapter 3). Stage 1
    # pretrains a width-16 ResNet-18 without the stem's max-pool as the baseline (5 + 1 epochs,
    # SGD lr 0.1 / 0.01, batch 32, flips; about 3 min); stage 2 trains everything after it on
    # frozen, cached features: Adam 8e-3, one-cycle, batch 128, 8 epochs (under a minute per
    # network), no weight decay, no flips (the features are of the unflipped images), GCL's
    # senders detached. Width 16 without the max-pool costs what width 32 with it cost, and
    # gives block 3 a 16 x 16 grid whose masks point at their parts; with the senders
    # detached the nose's mask stays on the nose, and lr 8e-3 trains that in 8 epochs
    # (benchmarks/studies/2026-12-04-narrow-stem: four stage-2 seeds each).
    "quick": {
        "profile": "quick",
        "device": "cpu",
        "weights": None,
        "width": 16,
        "stem_pool": False,
        "detach_senders": True,
        "pool": "mass",
        "image_size": 64,
        "freeze_backbone": True,
        "optimizer": "adam",
        "schedule": "onecycle",
        "batch_size": 128,
        "epochs_at_lr": 8,
        "epochs_at_low_lr": 0,
        "lr": 8e-3,
        "low_lr": 8e-3,
        "weight_decay": 0.0,
        "flip": False,
        # both stages train in bf16 where the CPU has it natively (1.3x stage 1, 1.4-1.9x stage
        # 2; benchmarks/studies/2026-12-04-build-time), fp32 elsewhere; evaluation in fp32
        "amp": "bf16-native",
        "channels_last": False,
        "loader": "cache",
        "synth_n": 20_400,
        "synth_occlusion": {"eyes": 0.1, "mouth": 0.1, "neck": 0.1},
        "val_split": None,
        "log_every": 5,
        # stage 1 still learns the 40 attributes: the pretext "drawing" (target="drawing",
        # flip=False) gives frozen features on which no head beats the majority rate by more
        # than 6 points (benchmarks/studies/2026-12-02-stage1)
        "pretrain": {"variant": "baseline", "target": "attributes", "criterion": "prediction",
                     "freeze_backbone": False, "optimizer": "sgd", "schedule": "step",
                     "batch_size": 32, "epochs_at_lr": 5, "epochs_at_low_lr": 1, "lr": 0.1,
                     "low_lr": 0.01, "weight_decay": 5e-4, "flip": True},
    },
}


#: settings that may change between a run and its resume (they do not change the maths)
RESUME_FREE = (
    "device", "workers", "compile", "log_every", "sync_every", "threads", "loader",
    "keep_epoch_checkpoints", "profile", "extra", "eval_split", "val_split",
    # the data of a resumed run is the folder its checkpoint names (training.run.setup_run)
    "synth_n", "synth_seed", "synth_occlusion",
)  # fmt: skip

#: what stage 1 takes from the config it pretrains for: the data it reads, the trunk it
#: trains, the machine and the bookkeeping. Everything else comes from the dataclass defaults
#: and the ``pretrain`` settings, so that a stage-2 setting (seed, max_pos_weight, taps, ...)
#: never makes a new stage 1.
PRETRAIN_INHERITS = (
    "dataset", "backbone", "width", "stem_pool", "image_size", "synth_n", "synth_seed", "synth_occlusion",
    "max_steps_per_epoch", "device", "amp", "channels_last", "compile", "loader", "workers",
    "deterministic", "threads", "eval_split", "log_every", "sync_every", "profile",
)  # fmt: skip

#: settings in which a finished stage 1 may differ from the config that asks to reuse it:
#: how it was computed, not what it learnt from. Unlike RESUME_FREE, the SynthFaces set
#: (synth_n, synth_seed, synth_occlusion) counts, and so does the data folder it names.
PRETRAIN_REUSE_FREE = (
    "device", "workers", "compile", "log_every", "sync_every", "threads", "loader",
    "keep_epoch_checkpoints", "profile", "extra", "eval_split", "val_split",
)  # fmt: skip


def pretrain_config(cfg: TrainConfig) -> TrainConfig:
    """The config of the run that pretrains ``cfg``'s backbone: the dataclass defaults, then
    the fields of :data:`PRETRAIN_INHERITS` from ``cfg``, then its ``pretrain`` settings; no
    weights and no further stage. Every variant and criterion of a profile shares it, as the
    paper's variants share the ImageNet weights."""
    if not cfg.pretrain:
        raise ValueError("this config has no pretraining stage (pretrain is None)")
    base = {k: getattr(cfg, k) for k in PRETRAIN_INHERITS}
    return TrainConfig(**{**base, **cfg.pretrain, "weights": None, "pretrain": None}).validate()


def choose_profile(requested: str | None = None, data: str | os.PathLike | None = None) -> str:
    """``requested``, else ``$MGGNET_PROFILE``, else: a GPU and real data: full; a GPU and no
    real data: synth; no GPU: quick."""
    name = requested or os.environ.get("MGGNET_PROFILE") or None
    if name is not None:
        if name not in PROFILES:
            raise ValueError(
                f"profile={name!r} (from --profile or $MGGNET_PROFILE): "
                f"choose one of {list(PROFILES)}"
            )
        return name
    real = data is not None and Path(data).expanduser().is_dir() and not is_synthfaces(data)
    if not has_gpu():
        return "quick"
    return "full" if real else "synth"


def parse_value(text: str) -> Any:
    """``--set`` values: ints, floats, true/false, none, else the string."""
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def make_config(
    profile: str | None = None,
    data: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    sets: list[str] | dict[str, Any] | None = None,
) -> TrainConfig:
    """Build a config: defaults < profile < paper schedule (full) < ``overrides`` < ``sets``.

    ``overrides`` come from explicit CLI flags (None values are ignored); ``sets`` are
    ``key=value`` strings (or a dict) applied last. Unknown keys raise ValueError.
    """
    name = choose_profile(profile, data)
    cfg = TrainConfig()
    known = {f.name for f in dataclasses.fields(TrainConfig)}

    def apply(values: dict[str, Any], origin: str) -> None:
        for k, v in values.items():
            if k not in known:
                raise ValueError(f"{origin}: unknown setting {k!r}; known: {sorted(known)}")
            setattr(cfg, k, v)

    apply(PROFILE_SETTINGS[name], f"profile {name}")
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    set_values: dict[str, Any] = {}
    if isinstance(sets, dict):
        set_values = dict(sets)
    else:
        for item in sets or []:
            key, eq, value = item.partition("=")
            if not eq:
                raise ValueError(f"--set {item!r}: expected key=value, e.g. --set lr=0.02")
            set_values[key.strip()] = parse_value(value.strip())
    if "amp" in set_values and set_values["amp"] is None:  # --set amp=none: the mode, not None
        set_values["amp"] = "none"
    dataset = set_values.get("dataset", given.get("dataset", cfg.dataset))
    criterion = set_values.get("criterion", given.get("criterion", cfg.criterion))
    if name in ("full", "synth") and (dataset, criterion) in PAPER_SCHEDULES:
        cfg.epochs_at_lr, cfg.epochs_at_low_lr = PAPER_SCHEDULES[(dataset, criterion)]
    apply(given, "option")
    apply(set_values, "--set")
    return cfg.validate()
