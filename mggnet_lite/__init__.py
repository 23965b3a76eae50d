"""mggnet-lite: MGG-Net (Chen et al., "Improving Facial Attribute Recognition by Group and
Graph Learning", ICME 2021) as a small, readable PyTorch package.

The public names (ARCHITECTURE.md, "Public contract") are imported on first use, so that
``python -m mggnet_lite --help`` and the pure-Python helpers (``files``, ``parallel``,
``paper``) start without importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "attributes": ("mggnet_lite.attributes", None),
    "mggnet_loss": ("mggnet_lite.losses", "mggnet_loss"),
    "MGGNet": ("mggnet_lite.nn.mggnet", "MGGNet"),
    "MGGOutput": ("mggnet_lite.nn.mggnet", "MGGOutput"),
    "build_model": ("mggnet_lite.nn.mggnet", "build_model"),
}

if TYPE_CHECKING:  # pragma: no cover
    from . import attributes
    from .losses import mggnet_loss
    from .nn.mggnet import MGGNet, MGGOutput, build_model


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'mggnet_lite' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    return value if attr is None else getattr(value, attr)


__all__ = ["attributes", "build_model", "mggnet_loss", "MGGNet", "MGGOutput", "__version__"]
