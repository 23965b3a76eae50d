"""What the CelebA and LFWA readers share: items as torchvision's CelebA gives them."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image

from .errors import open_rgb

# The real data sets a run can name; a SynthFaces set is written in CelebA's layout, so it is
# "celeba" here. Every --dataset flag and config check takes its choices from this tuple.
DATASETS: tuple[str, ...] = ("celeba", "lfwa")


class Listing(NamedTuple):
    """What a reader found for one split, kept by :meth:`AttributeImages._keep`."""

    layout: str
    image_dir: Path  # the image folder as found (``root`` is it resolved)
    names: Sequence[str]  # every image the label file lists, in file order
    attr_names: Sequence[str]
    labels: np.ndarray  # (len(names), 40) 0/1, rows as ``names``
    rows: np.ndarray  # the split's rows of ``names`` and ``labels``


class AttributeImages(torch.utils.data.Dataset):
    """A list of image files with a (N, 40) 0/1 attribute tensor.

    Subclasses set ``name``, ``data_root``, ``attr_file`` and ``split_file``, check
    ``split`` with :meth:`_split_key`, hand the split they read to :meth:`_keep` (which sets
    ``split``, ``layout``, ``root``, ``filenames``, ``attr_names``, ``attr``, ``transform``
    and ``target_transform``), and say in :meth:`where` where an item is listed (for error
    messages).
    """

    @staticmethod
    def _split_key(split: str, splits: Collection[str], choices: str) -> str:
        """``split`` in lower case; a ValueError ending in ``choices`` if not in ``splits``."""
        key = split.lower() if isinstance(split, str) else split
        if key not in splits:
            raise ValueError(f"split={split!r}: {choices}")
        return key

    def _keep(
        self,
        split: str,
        found: Listing,
        transform: Callable[[Image.Image], Any] | None,
        target_transform: Callable[[torch.Tensor], Any] | None,
    ) -> None:
        """Keep the rows ``found.rows`` of what a reader found as the items of ``split``."""
        self.split = split
        self.layout = found.layout
        self.root = found.image_dir.resolve()
        self.filenames: list[str] = [found.names[i] for i in found.rows.tolist()]
        self.attr_names: list[str] = list(found.attr_names)
        self.attr = torch.from_numpy(found.labels[found.rows].astype(np.int64))
        self.transform = transform
        self.target_transform = target_transform
        self._rows = found.rows  # row in the label file, for messages

    def __len__(self) -> int:
        return len(self.filenames)

    def where(self, index: int) -> str:
        """Where item ``index`` is listed, for error messages."""
        raise NotImplementedError

    def image_path(self, index: int) -> Path:
        return self.root / self.filenames[index]

    def image_files(self) -> list[str]:
        """Absolute paths of all images, in dataset order (for the cache builder)."""
        base = str(self.root)
        return [os.path.join(base, f) for f in self.filenames]

    def load_image(self, index: int) -> Image.Image:
        """The decoded RGB image of item ``index``, without ``transform``."""
        return open_rgb(self.image_path(index), self.where(index))

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img: Any = self.load_image(index)
        target: Any = self.attr[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def source_info(self) -> dict[str, str]:
        """What the cache manifest records about where the data came from."""
        return {
            "dataset": self.name,
            "data_root": str(self.data_root),
            "split": self.split,
            "layout": self.layout,
            "image_dir": str(self.root),
            "label_file": str(self.attr_file),
            "partition_file": str(self.split_file),
        }
