"""Two input pipelines with one protocol (ARCHITECTURE.md, "Data" and "Speed"; paper Sec. 4.1).

* ``path="pil"``: Dataset + DataLoader; PIL decode, bilinear resize, horizontal flip,
  ToTensor, Normalize. The honest baseline and the CPU path.
* ``path="cache"``: the decoded uint8 cache (:mod:`.cache`) kept resident on ``device``; a
  batch is an index-gather, then resize (bilinear), flip and normalise as tensor ops on
  the device. No decoder in the loop: ARCHITECTURE.md ("Speed") records 113k images/s for this on an
  H200, against ~900 images/s per core for PIL.
* ``path="auto"``: cache on CUDA, pil otherwise.

Both paths draw the epoch from the same plan: the permutation comes from a
``torch.Generator`` seeded with (seed, epoch), and the flip of each sample is drawn from the
same generator by its position in the epoch, so for a given (seed, epoch, step) the two
paths give the same samples with the same flips, and a resumed run (``start_at``) sees
exactly the batches it would have seen. Training shards are padded (like
``DistributedSampler``) so all ranks have the same number of batches; evaluation shards are
not padded, so every sample is seen exactly once over all ranks (reduce sums, not means).

Agreement of the two paths (tests/test_cache_loader.py): PIL rounds its resized image to
uint8, the cache path does not, so for CelebA (218x178 -> 224x224, an upscale) they differ
by at most half a grey level, i.e. ~0.0087 in normalised units. When an image is shrunk
(LFWA's 250x250 -> 224) the cache path uses ``antialias=True``, as PIL always filters when
downscaling; for upscales antialiasing is a no-op and the plain bilinear kernel is used.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .cache import CachedSplit, open_cache

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LOADERS = ("auto", "cache", "pil")  # the choices of every --loader flag and config field


def resolve_loader(path: str, device: str | torch.device) -> str:
    """The input pipeline for ``path`` on ``device``: ``auto`` is the cache on CUDA, pil elsewhere.

    The one place that decides it; training, evaluation and the book all ask here.
    """
    if path not in LOADERS:
        raise ValueError(f"loader={path!r}: choose one of {list(LOADERS)}")
    if path == "auto":
        return "cache" if torch.device(device).type == "cuda" else "pil"
    return path


def _epoch_seed(seed: int, epoch: int) -> int:
    # SeedSequence mixes (seed, epoch) so nearby seeds/epochs give unrelated streams
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF])
    a, b = state.generate_state(2, np.uint32).tolist()
    return (a << 31) ^ b  # < 2**63, a valid manual_seed


class EpochPlan:
    """Which samples (and flips) each rank sees in each epoch, batch by batch."""

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        shuffle: bool,
        flip: bool,
        seed: int,
        rank: int,
        world_size: int,
        drop_last: bool,
        pad: bool,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank={rank} must be in [0, world_size={world_size})")
        self.n, self.batch_size = n, batch_size
        self.shuffle, self.flip, self.seed = shuffle, flip, seed
        self.rank, self.world_size = rank, world_size
        self.drop_last, self.pad = drop_last, pad
        self.total = math.ceil(n / world_size) * world_size if pad else n
        shard = len(range(rank, self.total, world_size))
        self.num_batches = shard // batch_size if drop_last else math.ceil(shard / batch_size)
        self.num_samples = min(shard, self.num_batches * batch_size)

    def epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(indices, flips) of this rank's samples for ``epoch``, in order, ``num_samples`` long."""
        n, total = self.n, self.total
        if self.shuffle or self.flip:
            g = torch.Generator().manual_seed(_epoch_seed(self.seed, epoch))
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        # one coin per position of the global order, drawn after the permutation: the flip of
        # a sample depends on (seed, epoch, position) only, not on the rank, world size or path
        flips = torch.rand(n, generator=g) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool)
        if total > n:  # pad by wrapping around (all ranks then have equal batch counts)
            reps = math.ceil(total / n)
            order, flips = order.repeat(reps)[:total], flips.repeat(reps)[:total]
        pos = torch.arange(self.rank, total, self.world_size)[: self.num_samples]
        return order[pos], flips[pos]


def pil_to_tensor(img: Image.Image, size: int, flip: bool = False) -> torch.Tensor:
    """The PIL path's transform of one RGB image: bilinear resize to ``size`` x ``size``,
    optional horizontal flip, to a (3, size, size) float tensor normalised with ImageNet's mean
    and std. Training, evaluation and ``predict`` all go through it."""
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    if flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    x = torch.from_numpy(np.array(img, np.uint8)).permute(2, 0, 1).float().div_(255)
    return (x - _MEAN) / _STD


_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


class _PilItems(torch.utils.data.Dataset):
    """Items keyed by (index, flip): decode, then :func:`pil_to_tensor` (CPU)."""

    def __init__(self, source: Any, size: int) -> None:
        self.source, self.size = source, size
        self.labels = source.attr.float()

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: tuple[int, bool]) -> tuple[torch.Tensor, torch.Tensor]:
        index, flip = key
        return pil_to_tensor(self.source.load_image(index), self.size, flip), self.labels[index]


class _BatchList(torch.utils.data.Sampler):
    """A batch sampler whose batches the loader replaces before each pass (persistent workers
    keep working, because the DataLoader asks the sampler anew at every iteration)."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, bool]]] = []

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


_RESIDENT: dict[tuple[str, str], torch.Tensor] = {}
#: from its second pass over a split on, the cache path on a CPU resizes the whole split once
#: when it takes at most this many bytes at the input size (float32; the book's 16,390 training
#: images at 64 px: 805 MB); a batch is then an index-gather of the very floats the per-batch
#: resize gives. A single pass (an evaluation, one batch to look at) and larger splits (CelebA at
#: 64 px: 8 GB) resize batch by batch, as on a GPU, where resizing costs nothing.
PRESIZE_BYTES = 1 << 30
_RESIZED: dict[tuple[str, int], torch.Tensor] = {}


def release_device_cache() -> None:
    """Drop the device copies of caches kept by the cache path (frees GPU memory) and the
    splits resized once on the CPU."""
    _RESIDENT.clear()
    _RESIZED.clear()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _resident_images(cache: CachedSplit, device: torch.device) -> torch.Tensor:
    """The cache's images as a uint8 tensor on ``device``; uploaded once per process."""
    key = (str(cache.path), str(device))
    if key in _RESIDENT:
        return _RESIDENT[key]
    with warnings.catch_warnings():  # the memmap is read-only; we never write through it
        warnings.simplefilter("ignore", UserWarning)
        host = torch.from_numpy(cache.images)
    if device.type == "cpu":
        images = host  # zero-copy view of the memmap; pages come in on first touch
    else:
        need = cache.images.nbytes
        if device.type == "cuda":
            free, _total = torch.cuda.mem_get_info(device)
            if need > 0.9 * free:
                raise RuntimeError(
                    f"the cache {cache.path} needs {need / 2**30:.1f} GiB on {device} but only "
                    f"{free / 2**30:.1f} GiB is free; use path='pil' or a smaller split"
                )
        images = torch.empty(tuple(cache.images.shape), dtype=torch.uint8, device=device)
        step = max(1, (256 << 20) // max(1, int(np.prod(cache.images.shape[1:]))))
        for a in range(0, len(cache), step):  # in 256 MiB pieces: no full host copy needed
            images[a : a + step].copy_(host[a : a + step])
    _RESIDENT[key] = images
    return images


def _to_size(images: torch.Tensor, size: int, antialias: bool) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float (B, 3, size, size), bilinear (module docstring)."""
    x = images.permute(0, 3, 1, 2).float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=antialias)
    return x


def _resized_split(cache: CachedSplit, size: int, antialias: bool) -> torch.Tensor | None:
    """The whole split at ``size`` (float32, on the CPU), resized once per process in pieces,
    or None when it would take more than :data:`PRESIZE_BYTES`."""
    n, _h, _w, c = cache.images.shape
    if n * c * size * size * 4 > PRESIZE_BYTES:
        return None
    key = (str(cache.path), size)
    if key not in _RESIZED:
        src = _resident_images(cache, torch.device("cpu"))
        out = torch.empty((n, c, size, size))
        for a in range(0, n, 64):  # 64 at a time: 4.7 s for 16,390 images, 256: 7.5 s
            out[a : a + 64] = _to_size(src[a : a + 64], size, antialias)
        _RESIZED[key] = out
    return _RESIZED[key]


class PlannedLoader:
    """Batches drawn by an :class:`EpochPlan`: the interface the training loop uses (``len``,
    ``num_samples``, ``set_epoch``, ``start_at``, iteration). A subclass says how a batch of
    sample indices and flips becomes tensors (:meth:`_iter_batches`)."""

    def __init__(self, plan: EpochPlan) -> None:
        self.plan, self.batch_size = plan, plan.batch_size
        self.epoch, self._start = 0, 0

    def __len__(self) -> int:
        return self.plan.num_batches

    @property
    def num_samples(self) -> int:
        """Samples per epoch for this rank."""
        return self.plan.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (its shuffle order and flips); also clears :meth:`start_at`."""
        self.epoch, self._start = int(epoch), 0

    def start_at(self, step: int) -> None:
        """Make the next pass skip the first ``step`` batches of the current epoch (exact
        mid-epoch resume); skipped batches are never read."""
        if not 0 <= step <= len(self):
            raise ValueError(f"start_at({step}): the epoch has {len(self)} batches")
        self._start = int(step)

    def batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(indices, flips) of each batch of the current epoch, for inspection and tests."""
        idx, flips = self.plan.epoch(self.epoch)
        bs = self.batch_size
        return [
            (idx[b * bs : (b + 1) * bs], flips[b * bs : (b + 1) * bs]) for b in range(len(self))
        ]

    def __iter__(self) -> Iterator[Any]:
        todo = self.batches()[self._start :]
        self._start = 0  # a resume offset applies to one pass only
        return self._iter_batches(todo)

    def _iter_batches(self, todo: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> Iterator[Any]:
        raise NotImplementedError


class Loader(PlannedLoader):
    """Iterate ``(x, y)``: x float32 (B, 3, S, S) normalised with ImageNet mean/std, y float32
    (B, 40) 0/1, both on ``device``. See :func:`make_loader`."""

    def __init__(
        self,
        source: Any,
        plan: EpochPlan,
        *,
        path: str,
        image_size: int,
        device: torch.device,
        workers: int,
        memory_format: torch.memory_format,
    ) -> None:
        super().__init__(plan)
        self.source, self.path = source, path
        self.image_size, self.device, self.memory_format = image_size, device, memory_format
        if path == "pil":
            self._sampler = _BatchList()
            self._dl = torch.utils.data.DataLoader(
                _PilItems(source, image_size),
                batch_sampler=self._sampler,
                num_workers=workers,
                pin_memory=device.type == "cuda",
                persistent_workers=workers > 0,
            )
        else:
            cache: CachedSplit = source
            self._images = _resident_images(cache, device)
            self._labels = torch.from_numpy(cache.labels.astype(np.float32)).to(device)
            self._scale = (1.0 / (255.0 * torch.tensor(IMAGENET_STD))).view(1, 3, 1, 1).to(device)
            self._shift = (
                (torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD))
                .view(1, 3, 1, 1)
                .to(device)
            )
            h, w = cache.images.shape[1:3]
            self._antialias = image_size < h or image_size < w
            self._resized: torch.Tensor | None = None  # the split at image_size (PRESIZE_BYTES)
            self._passes = 0

    def _iter_batches(
        self, todo: Sequence[tuple[torch.Tensor, torch.Tensor]]
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.path == "pil":
            yield from self._iter_pil(todo)
        else:
            self._passes += 1
            if self._passes == 2 and self.device.type == "cpu":  # a second pass: resize once
                self._resized = _resized_split(self.source, self.image_size, self._antialias)
            for idx, flips in todo:
                yield self._cache_batch(idx, flips)

    def _iter_pil(
        self, todo: Sequence[tuple[torch.Tensor, torch.Tensor]]
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self._sampler.batches = [
            list(zip(idx.tolist(), flips.tolist(), strict=True)) for idx, flips in todo
        ]
        non_blocking = self.device.type == "cuda"
        for x, y in self._dl:
            x = x.to(self.device, non_blocking=non_blocking)
            yield (
                x.contiguous(memory_format=self.memory_format),
                y.to(self.device, non_blocking=non_blocking),
            )

    def _cache_batch(
        self, idx: torch.Tensor, flips: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dev = self.device
        idx_d = idx.to(dev, non_blocking=True)
        if self._resized is not None:
            x = self._resized.index_select(0, idx_d)
        else:
            x = _to_size(self._images.index_select(0, idx_d), self.image_size, self._antialias)
        if flips.any():
            f = flips.to(dev, non_blocking=True).view(-1, 1, 1, 1)
            x = torch.where(f, x.flip(3), x)
        x = x * self._scale - self._shift  # (x / 255 - mean) / std in one fused pass
        return x.contiguous(memory_format=self.memory_format), self._labels.index_select(0, idx_d)


def make_loader(
    source: Any,
    *,
    batch_size: int,
    image_size: int = 224,
    train: bool = True,
    device: str | torch.device = "cpu",
    path: str = "auto",
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    workers: int | None = None,
    drop_last: bool | None = None,
    memory_format: torch.memory_format = torch.contiguous_format,
    flip: bool | None = None,
) -> Loader:
    """A loader over ``source`` (a CelebA / LFWA dataset or a :class:`CachedSplit`).

    ``train=True``: shuffled per epoch, random horizontal flip (paper Sec. 4.1), last partial
    batch dropped; ``train=False``: in order, no flip, last batch kept, shards not padded.
    ``flip`` overrides the flip default. ``path``: ``pil`` | ``cache`` | ``auto`` (module
    docstring). ``workers``: DataLoader processes for the pil path (default 0 on CPU, all
    cores up to 16 on CUDA). DDP: rank r of world_size takes every world_size-th sample.
    """
    device = torch.device(device)
    path = resolve_loader(path, device)
    if path == "cache" and not isinstance(source, CachedSplit):
        source = open_cache(source, source.split)  # decode once (or reuse), then keep resident
    if path == "pil" and not hasattr(source, "load_image"):
        raise TypeError(
            f"{type(source).__name__} has no load_image(); pass a CelebA/LFWA or CachedSplit"
        )
    if workers is None:
        workers = min(16, os.cpu_count() or 1) if device.type == "cuda" else 0
    plan = EpochPlan(
        len(source),
        batch_size,
        shuffle=train,
        flip=train if flip is None else flip,
        seed=seed,
        rank=rank,
        world_size=world_size,
        drop_last=train if drop_last is None else drop_last,
        pad=train,
    )
    return Loader(
        source,
        plan,
        path=path,
        image_size=image_size,
        device=device,
        workers=workers,
        memory_format=memory_format,
    )
