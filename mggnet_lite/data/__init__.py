"""Data: CelebA (3 layouts), LFWA, SynthFaces, the decode-once cache and the loaders (ARCHITECTURE.md, "Public contract" and "Data").

``synthesize`` is imported on first use, so the readers work even where the SynthFaces
renderer (and its extra imports) is not needed.
"""

from __future__ import annotations

from typing import Any

from .base import DATASETS
from .cache import CachedSplit, build_cache, load_cache, open_cache
from .celeba import CelebA
from .errors import DatasetFormatError, DatasetNotFoundError
from .lfwa import LFWA
from .loader import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LOADERS,
    Loader,
    make_loader,
    release_device_cache,
    resolve_loader,
)

__all__ = [
    "DATASETS",
    "CelebA",
    "LFWA",
    "synthesize",
    "DatasetNotFoundError",
    "DatasetFormatError",
    "CachedSplit",
    "build_cache",
    "open_cache",
    "load_cache",
    "make_loader",
    "Loader",
    "release_device_cache",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LOADERS",
    "resolve_loader",
]


def __getattr__(name: str) -> Any:
    if name == "synthesize":
        from .synthfaces import synthesize

        return synthesize
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
