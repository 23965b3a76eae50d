"""What the CelebA and LFWA readers share: items as torchvision's CelebA gives them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from .errors import open_rgb

# The real data sets a run can name; a SynthFaces set is written in CelebA's layout, so it is
# "celeba" here. Every --dataset flag and config check takes its choices from this tuple.
DATASETS: tuple[str, ...] = ("celeba", "lfwa")


class AttributeImages(torch.utils.data.Dataset):
    """A list of image files with a (N, 40) 0/1 attribute tensor.

    Subclasses set ``root``, ``filenames``, ``attr``, ``transform``, ``target_transform``,
    ``name``, ``split``, ``layout``, ``attr_file`` and ``split_file``, and say in
    :meth:`where` where an item is listed (for error messages).
    """

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
