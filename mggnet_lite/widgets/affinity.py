"""AffinityExplorer: GCL's directed affinities e_ij (paper Eq. 2) vs the label co-occurrence.

Row i of e_ij is what group i receives from group j, for one image or averaged over a
split, shown as a matrix and as a graph of the strongest edges, beside the label
co-occurrence of the same group pair (:func:`mggnet_lite.analysis.group_cooccurrence`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..analysis import group_cooccurrence
from .base import Explorer, ExplorerOptions, W, unit_slider
from .lookups import AVERAGE, COOC_STATS, IMAGE, affinity_problem, dataset_labels
from .outputs import ImageOutputs
from .raster import affinity_graph, encode_png, hstack, matrix_heatmap, titled

if TYPE_CHECKING:
    from typing_extensions import Unpack


def average_indices(average_over: Sequence[int] | int | None, n: int) -> list[int]:
    """The images the average runs over: all ``n``, the first ``average_over``, or a list."""
    if average_over is None:
        return list(range(n))
    if isinstance(average_over, int):
        return list(range(min(n, average_over)))
    return [int(i) for i in average_over]


class AffinityExplorer(Explorer):
    """The K x K affinities e_ij of GCL (Eq. 2) per block: one image, or averaged.

    Panels: the matrix (row i = what group i receives from group j), a directed graph of
    the edges with e_ij >= ``threshold``, and the label co-occurrence of the same group pair
    (:func:`group_cooccurrence`, rows normalised like e_ij) for comparison, with the Pearson
    correlation of their off-diagonal entries. The average runs over ``average_over`` images
    of the dataset (default its first 64) and the co-occurrence over its labels.

    Controls: ``index``, ``prev``, ``next``, ``goto``, ``block``, ``scope`` (``"this image"`` /
    ``"average"``), ``threshold`` (edge threshold), ``cooc`` (which co-occurrence statistic).

    Options ``image_size``, ``indices``, ``device``, ``precompute``, ``cache``: as for
    :class:`~mggnet_lite.widgets.base.Explorer`.
    """

    what = "affinity explorer"

    def __init__(
        self,
        model: torch.nn.Module,
        dataset: Any,
        *,
        average_over: Sequence[int] | int | None = 64,
        **options: Unpack[ExplorerOptions],
    ) -> None:
        super().__init__(model, dataset, **options)
        self.average_indices = average_indices(average_over, len(dataset))
        items = self.cache.many(self.average_indices)
        self.blocks = tuple(items[0].affinity) if items else ()
        self.mean_affinity = {
            b: np.mean([it.affinity[b] for it in items], axis=0) for b in self.blocks
        }
        self.labels = dataset_labels(dataset, self.cache, self.average_indices)
        self._cooc: dict[str, np.ndarray] = {}
        self.controls.update(self._affinity_controls(len(self.node_names)))
        self.text = W.HTML()
        self._lay_out(
            [("block", "scope"), ("threshold", "cooc")],
            self.text,
            css=("mggnet-affinity-frame", "mggnet-affinity-explorer"),
            need_blocks=("block", "scope", "threshold"),
        )

    def _affinity_controls(self, k: int) -> dict[str, W.Widget]:
        return {
            "block": W.ToggleButtons(
                options=list(self.blocks) or ["(none)"],
                description="block",
                style={"button_width": "70px"},
            ),
            "scope": W.ToggleButtons(
                options=[IMAGE, AVERAGE],
                value=IMAGE,
                description="show",
                style={"button_width": "90px"},
            ),
            "threshold": unit_slider(round(1.5 / max(k - 1, 1), 2), 0.01, "edges ≥"),
            "cooc": W.Dropdown(
                options=list(COOC_STATS),
                value=list(COOC_STATS)[1],
                description="labels",
                layout=W.Layout(width="260px"),
            ),
        }

    def cooccurrence(self, stat: str) -> np.ndarray | None:
        """The (K, K) group co-occurrence of the dataset's labels (cached per statistic)."""
        if self.labels is None or not self.attributes:
            return None
        if set(self.node_names) != set(self.groups):
            return None  # 'independent' nodes are attributes, not groups
        if stat not in self._cooc:
            self._cooc[stat] = group_cooccurrence(self.labels, self.attributes, self.groups, stat)
        return self._cooc[stat]

    def _problem(self) -> str:
        return affinity_problem(self.model, self.blocks)

    def matrix(self, item: ImageOutputs) -> np.ndarray | None:
        """The affinity shown for the current controls (one image or the average)."""
        b = self.controls["block"].value
        if b not in self.blocks:
            return None
        return item.affinity[b] if self.controls["scope"].value == IMAGE else self.mean_affinity[b]

    def _draw(self, item: ImageOutputs) -> None:
        c = self.controls
        names = self.node_names
        panels = []
        m = self.matrix(item)
        scope = (
            f"image {item.name}"
            if c["scope"].value == IMAGE
            else f"mean of {len(self.average_indices)} images"
        )
        if m is not None:
            b = c["block"].value
            panels.append(matrix_heatmap(m, names, f"e_ij, {b}, {scope}"))
            panels.append(affinity_graph(m, names, c["threshold"].value, f"graph j -> i, {b}"))
        cooc = self.cooccurrence(COOC_STATS[c["cooc"].value])
        if cooc is not None:
            panels.append(
                matrix_heatmap(
                    cooc, names, f"labels: {c['cooc'].value}, rows sum 1", cmap="cividis"
                )
            )
        if not panels:
            panels.append(titled(item.image, "image"))
        self.frame.value = encode_png(hstack(panels, gap=10))
        self.header.value = f"<b>{scope}</b> · dataset #{item.index}"
        self.text.value = self._summary(m, cooc)

    def _summary(self, m: np.ndarray | None, cooc: np.ndarray | None) -> str:
        if m is None:
            return ""
        names = self.node_names
        k = len(names)
        off = ~np.eye(k, dtype=bool)
        order = np.argsort(-m[off])
        pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
        top = ", ".join(
            f"{names[pairs[t][1]]} → {names[pairs[t][0]]} {m[off][t]:.2f}" for t in order[:4]
        )
        text = f"Strongest edges (sender → receiver, e_ij): {top}."
        if cooc is not None:
            r = float(np.corrcoef(m[off], cooc[off])[0, 1]) if m[off].std() > 0 else float("nan")
            text += f" Pearson r with the label statistic over the {k * (k - 1)} edges: {r:+.2f}."
        return f'<div style="font-size:12px">{text}</div>'

    def _default_steps(self) -> dict[str, Sequence[Any]]:
        c = self.controls
        steps = super()._default_steps()
        steps["threshold"] = [0.3, c["threshold"].value]
        steps["cooc"] = list(COOC_STATS)
        if self.blocks:
            steps["block"] = list(c["block"].options)
            steps["scope"] = [AVERAGE, IMAGE]
        return steps
