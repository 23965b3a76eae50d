"""The dilated group regions a blind branch reads (chapter 3's graph experiment, issue [2/4]).

A model built with ``blind=(g, ...)`` (:class:`~mggnet_lite.nn.mggnet.MGGNet`) computes each
listed group's feature from the image with everything outside that group's region replaced
by the mean colour. The region is the image's own ground-truth group mask (written by
SynthFaces for every image, :func:`~.writer.load_group_masks`), resized to the input as the
loaders resize the image (to ``size`` x ``size``; a pixel is in when the region covers at
least half of it), grown by ``dilate`` pixels. We do not grow it by default: the accessory
covers the region and one pixel of the 178 x 218 image around it, so any growth at 64 px
(3 pixels there) shows a rim of the face around the accessory, beard and skin included. It never enters a loss: it only decides what the branch can see.
On an image whose group is hidden, the accessory covers the region (``occlusion.py``), so the
branch sees the accessory and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .labels import GROUP_NAMES
from .writer import MASK_DIR, load_packed_masks

DILATE = 0  # pixels at the input size (1 px at 64 px is about 3 px of the 178 x 218 image)
#: regions a RegionSource keeps once read (as bool), so a second pass over a split (chapter 3's
#: senders-to-mean control reads the test split twice) does not decode the mask PNGs again
CACHE_BYTES = 64 * 2**20


def group_regions(masks: np.ndarray | torch.Tensor, groups: Sequence[str], size: int,
                  dilate: int = DILATE) -> torch.Tensor:
    """``masks``: bool (B, 8, H, W) ground-truth group masks -> float (B, G, size, size) in
    {0, 1}: each of ``groups``' regions at the input size (pixels at least half covered), dilated by
    ``dilate`` pixels."""
    m = torch.as_tensor(np.asarray(masks))
    if m.dim() != 4 or m.shape[1] != len(GROUP_NAMES):
        raise ValueError(f"masks: expected (B, {len(GROUP_NAMES)}, H, W), got {tuple(m.shape)}")
    return _at_size(m[:, [GROUP_NAMES.index(g) for g in groups]].float(), size, dilate)


def packed_regions(packed: np.ndarray | torch.Tensor, groups: Sequence[str], size: int,
                   dilate: int = DILATE) -> torch.Tensor:
    """:func:`group_regions` of masks as SynthFaces writes them, uint8 (B, H, W) with bit k
    set where group k is (:func:`~.writer.load_packed_masks`): only ``groups``' bits are
    unpacked, for the same floats (a :class:`RegionSource` of three groups reads 0.75-1.0 ms an
    image this way, 1.9-2.0 ms unpacking all eight; 2-core Xeon)."""
    p = torch.as_tensor(np.asarray(packed))
    if p.dim() != 3 or p.dtype != torch.uint8:
        raise ValueError(f"packed: expected uint8 (B, H, W), got {p.dtype} {tuple(p.shape)}")
    bits = torch.tensor([GROUP_NAMES.index(g) for g in groups], dtype=torch.uint8)
    return _at_size(((p[:, None] >> bits.view(1, -1, 1, 1)) & 1).float(), size, dilate)


def _at_size(m: torch.Tensor, size: int, dilate: int) -> torch.Tensor:
    """float (B, G, H, W) in {0, 1} -> (B, G, size, size): pixels at least half covered,
    dilated by ``dilate`` pixels."""
    r = (F.interpolate(m, size=(size, size), mode="area") >= 0.5).float()
    if dilate > 0:
        r = F.max_pool2d(r, 2 * dilate + 1, stride=1, padding=dilate)
    return r


class RegionSource:
    """The regions of ``groups`` for the images of one split, by position in the split:
    ``source(start, count)`` gives those of images ``start .. start + count - 1`` as float
    (count, G, size, size). Loaders that do not shuffle (evaluation, feature computation)
    visit the split in this order."""

    def __init__(self, root: str | os.PathLike, filenames: Sequence[str],
                 groups: Sequence[str], size: int, dilate: int = DILATE) -> None:
        self.root, self.filenames = Path(root), list(filenames)
        self.groups, self.size, self.dilate = tuple(groups), int(size), int(dilate)
        self._kept: dict[tuple[int, int], torch.Tensor] = {}  # (start, count) -> bool regions
        self._kept_bytes = 0
        if not (self.root / MASK_DIR).is_dir():
            raise FileNotFoundError(
                f"{self.root / MASK_DIR}: a blind branch (blind={list(self.groups)}) reads each "
                "image's group region from SynthFaces' ground-truth masks, and this data folder "
                "has none: use a SynthFaces set rendered with masks, or blind=()")

    def __len__(self) -> int:
        return len(self.filenames)

    def __call__(self, start: int, count: int, flip: bool = False) -> torch.Tensor:
        if start < 0 or start + count > len(self.filenames):
            raise IndexError(f"regions {start}..{start + count} of a split of "
                             f"{len(self.filenames)} images")
        kept = self._kept.get((start, count))
        if kept is None:
            packed = np.stack([load_packed_masks(self.root, name)
                               for name in self.filenames[start:start + count]])
            kept = packed_regions(packed, self.groups, self.size, self.dilate).bool()
            if self._kept_bytes + kept.numel() <= CACHE_BYTES:
                self._kept[(start, count)] = kept
                self._kept_bytes += kept.numel()
        r = kept.float()
        return r.flip(3) if flip else r


def with_regions(loader: Iterable[tuple[torch.Tensor, torch.Tensor]],
                 regions: RegionSource | None
                 ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]]:
    """``(x, r, y)`` per batch of a loader that visits its split in order (evaluation, feature
    computation): ``r`` the batch's regions on ``x``'s device, or None when ``regions`` is None
    (a model without blind groups). Raises when the loader does not cover the split exactly."""
    start = 0
    for x, y in loader:
        r = None if regions is None else regions(start, len(x)).to(x.device)
        start += len(x)
        yield x, r, y
    if regions is not None and start != len(regions):
        raise ValueError(f"the loader gave {start} images, the regions are of {len(regions)}")


def regions_for(model: torch.nn.Module, ds: object, size: int) -> RegionSource | None:
    """The :class:`RegionSource` of ``model``'s blind groups over the split ``ds`` (a
    :class:`~mggnet_lite.data.CelebA`-like split with ``data_root`` and ``filenames``), or None
    for a model without blind groups."""
    blind = tuple(getattr(model, "blind", ()))
    if not blind:
        return None
    return RegionSource(ds.data_root, ds.filenames, blind, size)


def blinded_images(root: str | os.PathLike, filenames: Sequence[str], groups: Sequence[str],
                   size: int) -> np.ndarray:
    """What a blind branch sees, as pictures: uint8 (n, 1 + G, size, size, 3), per image the
    resized image, then for each of ``groups`` the image with everything outside the group's
    region (:func:`group_regions`) replaced by the mean colour (what the model computes on the
    normalised input, :meth:`~mggnet_lite.nn.mggnet.MGGNet.maps`)."""
    from PIL import Image

    from ..loader import IMAGENET_MEAN
    from .writer import IMAGE_DIR

    mean = np.array(IMAGENET_MEAN, np.float32) * 255
    regions = RegionSource(root, filenames, groups, size)(0, len(filenames)).numpy()
    out = []
    for name, r in zip(filenames, regions, strict=True):
        with Image.open(Path(root) / IMAGE_DIR / name) as im:
            img = np.asarray(im.convert("RGB").resize((size, size), Image.BILINEAR), np.float32)
        out.append([img] + [img * m[..., None] + mean * (1 - m[..., None]) for m in r])
    return np.asarray(out).round().astype(np.uint8)
