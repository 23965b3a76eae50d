"""What the explorers and the static scrubber read about a model and its images.

Plain functions, so that :class:`~mggnet_lite.widgets.masks.MaskScrubber` and
:func:`~mggnet_lite.widgets.static.frame_scrubber` share them instead of one reading the
other's internals (ARCHITECTURE.md, "widgets"). No ipywidgets here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np
import torch

from ..attributes import GROUPS
from ..metrics import THRESHOLD
from .outputs import ImageOutputs, OutputCache
from .raster import resize_mask

BOTH = "both"
ONE, ALL = "one group", "all groups"
IMAGE, AVERAGE = "this image", "average"
COOC_STATS = {"P(a | b)": "conditional", "|P(a | b) - P(a)|": "dependence"}


def asset_text(name: str) -> str:
    """A text file shipped beside this module (the widgets' JavaScript, package data)."""
    return files("mggnet_lite.widgets").joinpath(name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class ModelNodes:
    """The graph nodes of a model (groups G_i, or attributes for 'independent' nodes)."""

    names: tuple[str, ...]
    groups: dict[str, Sequence[str]]
    attributes: tuple[str, ...]


def model_nodes(model: torch.nn.Module) -> ModelNodes:
    """The model's node names, group -> attributes map and attribute order (paper Sec. 3.1)."""
    return ModelNodes(
        names=tuple(getattr(model, "node_names", GROUPS)),
        groups=dict(getattr(model, "groups", GROUPS)),
        attributes=tuple(getattr(model, "attributes", ())),
    )


def image_indices(indices: Sequence[int] | None, n: int, default_count: int = 32) -> list[int]:
    """The dataset indices to scrub: ``indices``, or the first ``default_count`` of ``n``."""
    out = [int(i) for i in (range(min(n, default_count)) if indices is None else indices)]
    if not out:
        raise ValueError("indices is empty: give at least one image index")
    return out


def precompute(cache: OutputCache, indices: Sequence[int]) -> None:
    """Run the model on the valid ``indices`` now (in batches), so scrubbing only re-draws."""
    n = len(cache)
    cache.many([i for i in indices if 0 <= i < n])


def mask_blocks(cache: OutputCache, first: int) -> tuple[str, ...]:
    """The blocks with GAL masks (Eq. 1), read off image ``first``; () if none or invalid."""
    if not 0 <= first < len(cache):
        return ()
    return tuple(cache.get(first).masks)


#: What a view says when the model lacks its blocks, after "This model (<variant>) has no ".
_LACKING = {
    "masks": (
        "group attention masks: GAL (Eq. 1) is not part of it. Build a 'gal' or 'mggnet' "
        "model to see masks; the predictions below still work."
    ),
    "affinities": (
        "graph affinities: GCL (Eq. 2) is only in the 'mggnet' variant. The label "
        "co-occurrence below is still shown."
    ),
}


def _lacks(model: torch.nn.Module, blocks: Sequence[str], view: str) -> str:
    """'' when ``blocks`` is not empty, else why the model shows no ``view`` (a _LACKING key)."""
    if blocks:
        return ""
    variant = getattr(model, "variant", type(model).__name__)
    return f"This model ({variant!r}) has no {_LACKING[view]}"


def mask_problem(model: torch.nn.Module, blocks: Sequence[str]) -> str:
    """Why a model shows no masks ('' when it has some)."""
    return _lacks(model, blocks, "masks")


def affinity_problem(model: torch.nn.Module, blocks: Sequence[str]) -> str:
    """Why a model shows no affinities ('' when it has some)."""
    return _lacks(model, blocks, "affinities")


def gt_rows(node_names: Sequence[str]) -> list[int | None]:
    """For each node, its row in the true group masks (``GROUPS`` order), or None."""
    gt_names = tuple(GROUPS)
    return [gt_names.index(n) if n in gt_names else None for n in node_names]


def gt_region(gt: np.ndarray, row: int | None, size: tuple[int, int]) -> np.ndarray:
    """The true region of one node: ``gt[row]``, or nothing (all False) for a non-group node."""
    return gt[row] if row is not None else np.zeros(size, bool)


def display_ground_truth(
    source: Callable[[int], np.ndarray], index: int, size: tuple[int, int]
) -> np.ndarray:
    """True part regions (K, H, W) bool of image ``index``, resized to the display ``size``."""
    gt = np.asarray(source(index), bool)
    if gt.shape[1:] != tuple(size):
        gt = resize_mask(gt.astype(np.float32), size) > 0.5
    return gt


def attribute_table(
    item: ImageOutputs,
    node: str,
    attributes: Sequence[str],
    groups: Mapping[str, Sequence[str]],
) -> str:
    """HTML table of the node's attributes: predicted Y_a (Eq. 4) vs the label."""
    members = groups.get(node, (node,) if node in attributes else ())
    rows = []
    for a in members:
        t = attributes.index(a)
        p = float(item.probs[t])
        truth = None if item.target is None else int(item.target[t])
        ok = "" if truth is None else ("✓" if (p >= THRESHOLD) == bool(truth) else "✗")
        bar = (
            f'<div style="background:#dde;width:100px;height:10px;display:inline-block">'
            f'<div style="background:#3b6fd4;width:{p * 100:.0f}px;height:10px"></div>'
            "</div>"
        )
        rows.append(
            f"<tr><td>{a}</td><td>{bar} {p:.2f}</td>"
            f"<td>{'?' if truth is None else truth}</td><td>{ok}</td></tr>"
        )
    return (
        '<table class="mggnet-attr-table" style="font-size:12px">'
        "<tr><th>attribute</th><th>predicted Y<sub>a</sub></th><th>label</th><th></th>"
        f"</tr>{''.join(rows)}</table>"
    )


def dataset_labels(dataset: Any, cache: OutputCache, indices: Sequence[int]) -> np.ndarray | None:
    """The (M, N) 0/1 labels to count co-occurrence on: ``dataset.attr`` if it has one,
    else the targets of ``indices``; None if any image has no label."""
    attr = getattr(dataset, "attr", None)
    if attr is not None:
        return np.asarray(torch.as_tensor(attr)).astype(np.float64)
    rows = [cache.get(i).target for i in indices]
    return None if any(r is None for r in rows) else np.stack(rows).astype(np.float64)
