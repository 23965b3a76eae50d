"""Frozen-backbone features: the quick profile's second stage (ARCHITECTURE.md, "The book").

With ``freeze_backbone=True`` a run trains GAL, GCL and the heads on a pretrained backbone
that does not change. Its block maps F_b (Sec. 3.2) and GAP(F_B) are therefore the same at
every epoch, so they are computed once per split and kept beside the pretrained checkpoint,
``<pretrain run>/features/<split>-<size>px-<tap>.pt`` (fp16, loaded ``weights_only=True``);
every variant of the profile reuses them. A training step is then the part of
:meth:`~mggnet_lite.nn.mggnet.MGGNet.forward` after the backbone
(:meth:`~mggnet_lite.nn.mggnet.MGGNet.forward_features`): many more steps per second on a CPU.

A feature file records the checkpoint it came from (size and modification time), the data
folder, the split's size and the input pipeline; one that does not match is computed again. Files are written
atomically under a folder lock, so two processes never compute into one file at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..data.loader import EpochPlan, Loader, PlannedLoader
from ..data.synthfaces.blind import with_regions
from ..files import FolderLock
from .checkpoint import atomic_save


def feature_dir(weights: str | os.PathLike) -> Path:
    """Where the features of the backbone in ``weights`` (a run's ``last.pt``) are kept."""
    return Path(weights).parent / "features"


def _stamp(weights: Path, data: Path, n: int, pipeline: str) -> dict[str, Any]:
    """What a feature file was computed from: the checkpoint (path, size, mtime), the data
    folder, the split's size, and the input pipeline (``pil`` and ``cache`` resize
    differently, so their features differ)."""
    st = weights.stat()
    return {"checkpoint": str(weights.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "data": str(Path(data).resolve()), "n": n, "pipeline": pipeline}


@torch.inference_mode()
def compute_features(backbone: torch.nn.Module, loader: Any, taps: Sequence[str],
                     device: torch.device) -> dict[str, torch.Tensor]:
    """``{tap: F_b (M, C, h, w)} | {"final": GAP(F_B) (M, C)}`` in fp16 on the CPU, for the
    images of ``loader`` in order (no flips), with the backbone in eval mode."""
    was = backbone.training
    backbone.eval()
    out: dict[str, list[torch.Tensor]] = {t: [] for t in (*taps, "final")}
    try:
        for x, _y in loader:
            maps = backbone(x.to(device))
            for t in taps:
                out[t].append(maps[t].half().cpu())
            out["final"].append(torch.flatten(F.adaptive_avg_pool2d(maps["final"], 1), 1)
                                .half().cpu())
    finally:
        backbone.train(was)
    return {t: torch.cat(v) for t, v in out.items()}


def compute_blind_features(model: torch.nn.Module, loader: Any, regions: Any,
                           device: torch.device) -> dict[str, torch.Tensor]:
    """``{"tap@g": F_b (M, C, h, w)}`` in fp16 on the CPU: the maps of each of ``model.blind``'s
    blinded inputs (:meth:`~mggnet_lite.nn.mggnet.MGGNet.maps`), ``regions`` being a
    :class:`~mggnet_lite.data.synthfaces.blind.RegionSource` over the loader's split, which the
    loader visits in order."""
    was = model.training
    model.eval()
    out: dict[str, list[torch.Tensor]] = {}
    try:
        with torch.inference_mode():
            for x, r, _y in with_regions(loader, regions):
                x = x.to(device)
                for key, f in model.blind_maps(x, r.to(device)).items():
                    out.setdefault(key, []).append(f.half().cpu())
    finally:
        model.train(was)
    return {t: torch.cat(v) for t, v in out.items()}


def cached_features(backbone: torch.nn.Module, loader: Loader, *, weights: str | os.PathLike,
                    data: str | os.PathLike, split: str, image_size: int,
                    taps: Sequence[str], device: torch.device, show: bool = False,
                    blind: tuple[torch.nn.Module, Any] | None = None
                    ) -> dict[str, torch.Tensor]:
    """The features of ``split`` for ``taps`` (and ``"final"``): read from
    :func:`feature_dir` when they match (:func:`_stamp`), else computed with ``backbone``
    from ``loader`` (in order, no flips) and written there. ``blind``: ``(model, regions)``
    also gives the blind groups' maps (:func:`compute_blind_features`), kept the same way."""
    weights = Path(weights)
    folder = feature_dir(weights)
    folder.mkdir(parents=True, exist_ok=True)
    n = loader.num_samples
    stamp = _stamp(weights, Path(data), n, loader.path)
    plain = (*taps, "final")
    seen = () if blind is None else tuple(f"{t}@{g}" for g in blind[0].blind for t in taps)
    paths = {t: folder / f"{split}-{image_size}px-{t}.pt" for t in (*plain, *seen)}
    with FolderLock(folder / ".lock", what=f"computing features in {folder}"):
        found: dict[str, torch.Tensor] = {}
        for t, p in paths.items():
            obj = _read(p)
            if obj is not None and obj.get("stamp") == _stamp_of(stamp, t, blind):
                found[t] = obj["features"]
        todo = [part for part in (plain, seen) if part and any(t not in found for t in part)]
        if todo and show:
            print(f"computing frozen-backbone features of the {split} split ({n} images) "
                  f"into {folder}", flush=True)
        for part in todo:
            feats = (compute_features(backbone, loader, taps, device) if part is plain else
                     compute_blind_features(blind[0], loader, blind[1], device))
            for t in part:
                atomic_save({"stamp": _stamp_of(stamp, t, blind), "features": feats[t]},
                            paths[t], what="frozen features")
            found.update(feats)
        return found


def _stamp_of(stamp: dict[str, Any], name: str, blind: tuple[torch.nn.Module, Any] | None
              ) -> dict[str, Any]:
    """A blind group's file also records how its regions were drawn."""
    if "@" not in name or blind is None:
        return stamp
    return {**stamp, "regions": {"size": blind[1].size, "dilate": blind[1].dilate}}


def _read(path: Path) -> dict[str, Any] | None:
    """A feature file's contents, or None when it is missing or unreadable (a damaged file is
    computed again and replaced, never trusted)."""
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # truncated zip, foreign pickle, ...: recompute
        print(f"ignoring unreadable feature file {path} ({type(err).__name__}); computing it "
              "again", flush=True)
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("features"), torch.Tensor):
        return None
    return obj


class FeatureLoader(PlannedLoader):
    """Batches ``({tap: features}, labels)`` of one split for a frozen-backbone run, drawn by
    the same :class:`~mggnet_lite.data.loader.EpochPlan` as the image loaders: shuffled per
    epoch from ``(seed, epoch)``, no flips, last partial batch dropped."""

    def __init__(self, feats: dict[str, torch.Tensor], labels: torch.Tensor, batch_size: int,
                 *, seed: int, device: torch.device) -> None:
        n = len(labels)
        if any(len(v) != n for v in feats.values()):
            raise ValueError(f"features and labels disagree on the number of images ({n})")
        super().__init__(EpochPlan(n, batch_size, shuffle=True, flip=False, seed=seed, rank=0,
                                   world_size=1, drop_last=True, pad=False))
        self.feats, self.labels, self.device = feats, labels.float(), device

    def _iter_batches(self, todo: Sequence[tuple[torch.Tensor, torch.Tensor]]
                      ) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        for i, _flips in todo:
            yield ({t: v[i].to(self.device).float() for t, v in self.feats.items()},
                   self.labels[i].to(self.device))
