"""Model outputs per image, computed once and cached (ARCHITECTURE.md, "widgets").

The explorers run the model once per image (eval mode, ``inference_mode``) and keep its
probabilities Y_a (paper Eq. 4), group masks M_i^b (Eq. 1) and affinities e_ij (Eq. 2), so
a control change only re-draws. No ipywidgets here: the static scrubber and tests use it too.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image

from ..data.loader import pil_to_tensor


@runtime_checkable
class HasGroupMasks(Protocol):
    """Optional: a dataset that knows the true part regions of its images.

    ``group_masks(index)`` returns bool (K, H, W) in ``GROUPS`` order, aligned with the image.
    SynthFaces folders are recognised without it (``synthfaces.json`` + ``group_masks/``).
    """

    def group_masks(self, index: int) -> np.ndarray: ...


def ground_truth_source(dataset: Any) -> Callable[[int], np.ndarray] | None:
    """A function index -> true group masks (K, H, W) for ``dataset``, or None if it has none."""
    fn = getattr(dataset, "group_masks", None)
    if callable(fn):
        return fn
    bases = [getattr(dataset, a, None) for a in ("data_root", "root")]
    root = getattr(dataset, "root", None)
    if root is not None:
        bases.append(Path(root).parent)
    for base in bases:
        if base is None:
            continue
        base = Path(base)
        if (base / "synthfaces.json").is_file() and (base / "group_masks").is_dir():
            from ..data.synthfaces import load_group_masks

            names = getattr(dataset, "filenames", None)
            return lambda i, b=base, n=names: load_group_masks(b, n[i] if n is not None else i)
    return None


@dataclass
class ImageOutputs:
    """Everything the explorers show about one image (numpy, on the CPU)."""

    index: int
    name: str
    image: np.ndarray  # (H, W, 3) uint8 as displayed
    target: np.ndarray | None  # (N,) 0/1, or None if unknown
    probs: np.ndarray  # (N,) Y_a (Eq. 4)
    masks: dict[str, np.ndarray]  # block -> (K, h, w) M_i^b (Eq. 1)
    affinity: dict[str, np.ndarray]  # block -> (K, K) e_ij (Eq. 2)


def _to_pil(img: Any) -> Image.Image:
    if isinstance(img, Image.Image):
        return img.convert("RGB")
    if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3:
        return Image.fromarray(img[..., :3])
    raise TypeError(
        f"the explorer needs the dataset's raw images (PIL or uint8 HxWx3), got {type(img).__name__}"
        "; pass the dataset without a transform (it resizes and normalises itself)"
    )


class OutputCache:
    """Runs ``model`` on dataset images on demand and keeps the outputs (LRU).

    The image is resized to ``image_size`` squared and normalised with ImageNet statistics,
    as the training loader does; the model runs in eval mode under ``inference_mode``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        dataset: Any,
        *,
        image_size: int = 224,
        device: str | torch.device = "cpu",
        max_items: int = 512,
        display_max: int = 256,
    ) -> None:
        self.model, self.dataset = model, dataset
        self.image_size, self.device = int(image_size), torch.device(device)
        self.max_items, self.display_max = max_items, display_max
        self._items: OrderedDict[int, ImageOutputs] = OrderedDict()
        self.forward_seconds = 0.0

    def __len__(self) -> int:
        return len(self.dataset)

    def check_index(self, index: int) -> None:
        """Raise IndexError with a readable message unless 0 <= index < len(dataset)."""
        n = len(self.dataset)
        if not isinstance(index, int | np.integer) or not 0 <= int(index) < n:
            raise IndexError(
                f"image index {index} is out of range: this dataset has {n} images (0 ... {n - 1})"
            )

    def _load(self, index: int) -> tuple[Image.Image, np.ndarray | None, str]:
        ds = self.dataset
        if hasattr(ds, "load_image") and hasattr(ds, "attr"):
            img, target = ds.load_image(index), ds.attr[index]
        else:
            img, target = ds[index]
        names = getattr(ds, "filenames", None)
        name = str(names[index]) if names is not None else f"#{index}"
        tgt = None if target is None else np.asarray(torch.as_tensor(target)).astype(np.int64)
        return _to_pil(img), tgt, name

    def get(self, index: int) -> ImageOutputs:
        """The outputs of image ``index`` (computed now if not cached)."""
        return self.many([index])[0]

    def many(self, indices: Iterable[int], batch_size: int = 16) -> list[ImageOutputs]:
        """Outputs of several images; the missing ones run through the model in batches."""
        idx = [int(i) for i in indices]
        for i in idx:
            self.check_index(i)
        todo = list(dict.fromkeys(i for i in idx if i not in self._items))
        for s in range(0, len(todo), batch_size):
            self._compute(todo[s : s + batch_size])
        out = []
        for i in idx:
            self._items.move_to_end(i)
            out.append(self._items[i])
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return out

    def _compute(self, indices: list[int]) -> None:
        loaded = [self._load(i) for i in indices]
        # the training loader's own PIL transform (resize, ImageNet normalisation), called
        x = torch.stack([pil_to_tensor(img, self.image_size) for img, _, _ in loaded])
        x = x.to(self.device)
        t0 = time.perf_counter()
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                out = self.model(x)
        finally:
            self.model.train(was_training)
        self.forward_seconds += time.perf_counter() - t0
        probs = out.probs.float().cpu().numpy()
        masks = {b: m.float().cpu().numpy() for b, m in out.masks.items()}
        aff = {b: a.float().cpu().numpy() for b, a in out.affinity.items()}
        for k, (i, (img, tgt, name)) in enumerate(zip(indices, loaded, strict=True)):
            if max(img.size) > self.display_max:  # keep frames small: they travel as PNG
                scale = self.display_max / max(img.size)
                img = img.resize(
                    (round(img.width * scale), round(img.height * scale)), Image.BILINEAR
                )
            self._items[i] = ImageOutputs(
                index=i,
                name=name,
                image=np.asarray(img, np.uint8),
                target=tgt,
                probs=probs[k],
                masks={b: m[k] for b, m in masks.items()},
                affinity={b: a[k] for b, a in aff.items()},
            )


def output_cache(
    model: torch.nn.Module,
    dataset: Any,
    cache: OutputCache | None,
    *,
    image_size: int,
    device: str | torch.device,
) -> OutputCache:
    """``cache`` if it holds outputs of this very model and dataset, else a new one.

    Raises ValueError for a cache of another model or dataset (its outputs would be wrong).
    """
    if cache is not None and (cache.model is not model or cache.dataset is not dataset):
        raise ValueError("cache= belongs to another model or dataset")
    return cache or OutputCache(model, dataset, image_size=image_size, device=device)
