"""Explorer widgets (chapter 7): scrub what GAL and GCL learned, live and in the static site.

* :class:`MaskScrubber` (``masks.py``) shows the group attention masks M_i^b of GAL (paper
  Eq. 1) over the image, block by block as in the paper's Fig. 2 (Sec. 4.3: block 3 outlines
  the small regions, block 4 the large ones), with the group's attributes, predicted vs true.
* :class:`AffinityExplorer` (``affinity.py``) shows the directed affinities e_ij of GCL
  (Eq. 2; row i is what group i receives from group j) for one image and averaged over a
  split, as a matrix and as a graph of the strongest edges, beside the label co-occurrence.
* :func:`frame_scrubber` (``static.py``) precomputes frames for a few images into a
  :class:`FrameScrubber`, an anywidget whose JavaScript scrubs them: it works in the static
  site with no kernel and no network, where the Python-driven controls above cannot.

Both live widgets (``base.py``) run the model once per image and cache the outputs
(``outputs.py``), so a control change only re-draws: frames are composed from NumPy arrays
(``raster.py``) and sent as one PNG, not a matplotlib figure. Every control is in
``widget.controls`` (ARCHITECTURE.md, "widgets"), so code and tests drive them by setting
``.value`` (or calling ``.click()`` on the buttons).

Names are imported on first use, so ``mggnet_lite.widgets.raster``, ``.outputs`` and
``.lookups`` work without ipywidgets (the book extra).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# These imports are for type checkers only: at run time __getattr__ imports each name from
# its module in _HOMES, and __all__ is built from _HOMES, so none of them is used (F401,
# file-wide).
# ruff: noqa: F401
if TYPE_CHECKING:
    from ..analysis import group_cooccurrence
    from .affinity import AffinityExplorer
    from .base import Explorer, KernelNote
    from .lookups import ALL, AVERAGE, BOTH, COOC_STATS, IMAGE, ONE
    from .masks import MaskScrubber
    from .outputs import HasGroupMasks, ImageOutputs, OutputCache, ground_truth_source
    from .raster import (
        affinity_graph,
        colormap_lut,
        data_url,
        encode_png,
        hstack,
        mask_overlay,
        matrix_heatmap,
        region_overlay,
        resize_mask,
        short_name,
        titled,
        vstack,
    )
    from .static import FrameScrubber, frame_scrubber, write_offline_assets

_HOMES = {
    "mggnet_lite.analysis": ("group_cooccurrence",),
    ".affinity": ("AffinityExplorer",),
    ".base": ("Explorer", "KernelNote"),
    ".lookups": ("ALL", "AVERAGE", "BOTH", "COOC_STATS", "IMAGE", "ONE"),
    ".masks": ("MaskScrubber",),
    ".outputs": ("HasGroupMasks", "ImageOutputs", "OutputCache", "ground_truth_source"),
    ".raster": (
        "affinity_graph",
        "colormap_lut",
        "data_url",
        "encode_png",
        "hstack",
        "mask_overlay",
        "matrix_heatmap",
        "region_overlay",
        "resize_mask",
        "short_name",
        "titled",
        "vstack",
    ),
    ".static": ("FrameScrubber", "frame_scrubber", "write_offline_assets"),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}

__all__ = sorted(_WHERE)  # every lazily imported name


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first use (ipywidgets only when a widget is asked)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
