"""The static scrubber: frames precomputed in Python, scrubbed by JavaScript, no kernel.

:func:`frame_scrubber` renders every (image, group, block) overlay of GAL's masks (paper
Eq. 1, Fig. 2) for a few images into a :class:`FrameScrubber`, an anywidget whose
JavaScript (``frame_scrubber.js`` beside this file) scrubs them: it works in the static
site with no kernel and no network, where the Python-driven explorers cannot
(ARCHITECTURE.md, "widgets"). :func:`write_offline_assets` writes what that site needs to
load anywidget without a CDN (``python -m mggnet_lite.widgets offline-assets DIR``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..files import atomic_write_bytes, atomic_write_text
from .lookups import (
    BOTH,
    asset_text,
    attribute_table,
    display_ground_truth,
    gt_region,
    gt_rows,
    image_indices,
    mask_blocks,
    mask_problem,
    model_nodes,
    precompute,
)
from .outputs import OutputCache, ground_truth_source, output_cache
from .raster import data_url, mask_overlay, region_overlay, resize_mask

try:
    import anywidget
    import traitlets as T
except ImportError:  # pragma: no cover - then the static scrubber is unavailable
    anywidget = None

_FRAMES_CSS = """
.mggnet-frames { font-size: 13px; }
.mggnet-frames .mf-note { font-size: 12px; color: #1e4620; background: #e8f4ea;
  border: 1px solid #b7dfc0; border-radius: 4px; padding: 3px 8px; margin-bottom: 4px; }
.mggnet-frames .mf-row { margin: 4px 0; display: flex; gap: 6px; align-items: center; }
.mggnet-frames .mf-index { width: 260px; }
.mggnet-frames .mf-panels { display: flex; gap: 6px; }
.mggnet-frames figure { margin: 0; }
.mggnet-frames figcaption { font-size: 11px; text-align: center; }
.mggnet-frames table { font-size: 12px; }
"""

if anywidget is not None:

    class FrameScrubber(anywidget.AnyWidget):
        """Frames precomputed in Python, scrubbed by JavaScript: works with no kernel.

        Frames are ``data:`` URLs in synced traits, so the static site's widget state holds
        them all. Layout: ``mask_frames[(i * K + g) * B + b]`` (image i, group g, block b),
        ``gt_frames[i * K + g]`` (empty list: no ground truth), ``tables[i * K + g]``.
        ``index`` / ``group`` / ``block`` are synced both ways (Python can drive it too).
        """

        _esm = asset_text("frame_scrubber.js")
        _css = _FRAMES_CSS
        images = T.List(T.Unicode()).tag(sync=True)
        groups = T.List(T.Unicode()).tag(sync=True)
        blocks = T.List(T.Unicode()).tag(sync=True)
        image_frames = T.List(T.Unicode()).tag(sync=True)
        mask_frames = T.List(T.Unicode()).tag(sync=True)
        gt_frames = T.List(T.Unicode()).tag(sync=True)
        tables = T.List(T.Unicode()).tag(sync=True)
        index = T.Int(0).tag(sync=True)
        group = T.Int(0).tag(sync=True)
        block = T.Unicode("").tag(sync=True)

        def shown_sources(self, gt: bool = False) -> list[str]:
            """The data URLs the JavaScript shows for the current state (for tests)."""
            k, nb = len(self.groups), len(self.blocks)
            i, g = self.index, self.group
            shown = self.blocks if self.block == BOTH else [self.block]
            out = [self.image_frames[i]]
            out += [self.mask_frames[(i * k + g) * nb + self.blocks.index(b)] for b in shown]
            if gt and self.gt_frames:
                out.append(self.gt_frames[i * k + g])
            return out


def _render_frames(
    cache: OutputCache,
    indices: Sequence[int],
    model: torch.nn.Module,
    blocks: Sequence[str],
    gt_source: Callable[[int], np.ndarray] | None,
    opacity: float,
    quality: int,
) -> dict[str, list[str]]:
    """The trait lists of a :class:`FrameScrubber`, in its documented layout."""
    nodes = model_nodes(model)
    rows = gt_rows(nodes.names)
    out: dict[str, list[str]] = {
        k: [] for k in ("images", "image_frames", "mask_frames", "gt_frames", "tables")
    }
    for i in indices:
        item = cache.get(i)
        out["images"].append(item.name)
        out["image_frames"].append(data_url(item.image, quality=quality))
        size = item.image.shape[:2]
        gt = display_ground_truth(gt_source, i, size) if gt_source is not None else None
        ups = {b: resize_mask(item.masks[b], size) for b in blocks}
        for g, node in enumerate(nodes.names):
            for b in blocks:
                overlay = mask_overlay(item.image, ups[b][g], opacity)
                out["mask_frames"].append(data_url(overlay, quality=quality))
            if gt is not None:
                reg = gt_region(gt, rows[g], size)
                out["gt_frames"].append(data_url(region_overlay(item.image, reg), quality=quality))
            out["tables"].append(attribute_table(item, node, nodes.attributes, nodes.groups))
    return out


def frame_scrubber(
    model: torch.nn.Module,
    dataset: Any,
    *,
    indices: Sequence[int] = range(8),
    image_size: int = 224,
    opacity: float = 0.5,
    device: str | torch.device = "cpu",
    quality: int = 85,
    cache: OutputCache | None = None,
) -> FrameScrubber:
    """A :class:`FrameScrubber` over ``indices``: every (image, group, block) mask overlay,
    the true regions where the dataset has them, and the attribute tables, precomputed.

    Size: about 6-9 KB per JPEG frame, so 8 images x 8 groups x 2 blocks is about 1.5 MB
    of page. Raises ValueError for a model without masks (nothing to scrub). ``cache``: an
    explorer's :class:`OutputCache` of the same model and dataset, to reuse its outputs.
    """
    if anywidget is None:  # pragma: no cover
        raise ImportError("frame_scrubber needs anywidget: pip install 'anywidget>=0.9'")
    cache = output_cache(model, dataset, cache, image_size=image_size, device=device)
    idx = image_indices(list(indices), len(dataset))
    precompute(cache, idx)
    blocks = mask_blocks(cache, idx[0])
    if not blocks:
        raise ValueError(mask_problem(model, blocks))
    frames = _render_frames(
        cache, idx, model, blocks, ground_truth_source(dataset), opacity, quality
    )
    w = FrameScrubber(
        groups=list(model_nodes(model).names),
        blocks=list(blocks),
        **frames,
        index=0,
        group=0,
        block=BOTH if len(blocks) > 1 else blocks[0],
    )
    w.add_class("mggnet-frame-scrubber")
    return w


def write_offline_assets(dest: str | os.PathLike) -> list[Path]:
    """Write the anywidget AMD bundle (``index.js``, from the installed package) and the
    require.js mapping (``config.js``, from ``require_config.js`` beside this file) into
    ``dest``; return the paths.

    The site loads ``config.js`` after require.js (``nb_ipywidgets_js`` in ``_config.yml``).
    """
    if anywidget is None:  # pragma: no cover
        raise ImportError("anywidget is not installed: pip install 'anywidget>=0.9'")
    bundle = Path(anywidget.__file__).parent / "nbextension" / "index.js"
    if not bundle.is_file():  # pragma: no cover
        raise FileNotFoundError(f"{bundle}: this anywidget has no AMD bundle; use anywidget>=0.9")
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "index.js", bundle.read_bytes())
    atomic_write_text(out / "config.js", asset_text("require_config.js"))
    return [out / "index.js", out / "config.js"]


def main(argv: list[str] | None = None) -> int:
    """``python -m mggnet_lite.widgets offline-assets DIR`` (the Makefile's offline site)."""
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m mggnet_lite.widgets",
        description="Assets the static site needs for the explorer widgets.",
    )
    p.add_argument("command", choices=["offline-assets"])
    p.add_argument("dest", help="folder to write index.js and config.js into")
    args = p.parse_args(argv)
    for path in write_offline_assets(args.dest):
        print(path)
    return 0
