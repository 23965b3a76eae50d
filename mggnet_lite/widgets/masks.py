"""MaskScrubber: GAL's group attention masks M_i^b (paper Eq. 1) over the image, as in Fig. 2.

Block by block (Sec. 4.3: block 3 outlines the small regions, block 4 the large ones), with
the group's attributes, predicted vs true, and the true part region where the dataset has
one (SynthFaces).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from .base import Explorer, ExplorerOptions, W, unit_slider
from .lookups import (
    ALL,
    BOTH,
    ONE,
    attribute_table,
    display_ground_truth,
    gt_region,
    gt_rows,
    mask_blocks,
    mask_problem,
)
from .outputs import ImageOutputs, ground_truth_source
from .raster import (
    encode_png,
    hstack,
    mask_overlay,
    region_overlay,
    resize_mask,
    short_name,
    titled,
    vstack,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack


class MaskScrubber(Explorer):
    """Scrub images and groups; see each group's attention mask M_i^b (Eq. 1) over the image.

    Controls (``self.controls``): ``index`` (slider over ``indices``), ``prev`` / ``next``,
    ``goto`` (any dataset index), ``group``, ``block`` (each tapped block, or ``"both"``
    side by side, as in Fig. 2), ``opacity``, ``gt`` (the true part region beside the learned
    mask, where the dataset has one: SynthFaces), ``view`` (``"one group"`` / ``"all groups"``:
    the K masks of the image at once). Below the frame: the group's attributes, predicted
    probability Y_a (Eq. 4) vs the label.

    Options (as for :class:`~mggnet_lite.widgets.base.Explorer`): ``indices``, the images
    the slider scrubs (default the first 32), computed up front when ``precompute``;
    ``image_size``, the model's input size (use the training size); ``device``; ``cache``,
    another explorer's :class:`OutputCache` of the same model and dataset, to share its
    outputs (e.g. ``AffinityExplorer(..., cache=scrubber.cache)``).
    """

    what = "mask scrubber"

    def __init__(
        self,
        model: torch.nn.Module,
        dataset: Any,
        *,
        opacity: float = 0.5,
        **options: Unpack[ExplorerOptions],
    ) -> None:
        super().__init__(model, dataset, **options)
        self.gt_source = ground_truth_source(dataset)
        self._gt_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._up_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.blocks = mask_blocks(self.cache, self.indices[0])
        self._gt_rows = gt_rows(self.node_names)
        self.controls.update(self._mask_controls(opacity))
        self.table = W.HTML()
        self._lay_out(
            [("group", "opacity", "gt"), ("block", "view")],
            self.table,
            css=("mggnet-mask-frame", "mggnet-mask-scrubber"),
            need_blocks=("block", "opacity", "view"),
        )

    def _mask_controls(self, opacity: float) -> dict[str, W.Widget]:
        block_opts = list(self.blocks) + ([BOTH] if len(self.blocks) > 1 else [])
        return {
            "group": W.Dropdown(
                options=list(self.node_names),
                value=self.node_names[0],
                description="group",
                layout=W.Layout(width="240px"),
            ),
            "block": W.ToggleButtons(
                options=block_opts or ["(none)"],
                value=(BOTH if BOTH in block_opts else (block_opts or ["(none)"])[0]),
                description="block",
                style={"button_width": "70px"},
            ),
            "opacity": unit_slider(opacity, 0.05, "opacity"),
            "gt": W.ToggleButton(
                False,
                description="ground truth",
                icon="check",
                tooltip="show the true part region beside the learned mask",
                disabled=self.gt_source is None,
            ),
            "view": W.ToggleButtons(
                options=[ONE, ALL],
                value=ONE,
                description="view",
                style={"button_width": "90px"},
            ),
        }

    # -- data helpers ------------------------------------------------------------------
    def _problem(self) -> str:
        return mask_problem(self.model, self.blocks)

    def ground_truth(self, index: int) -> np.ndarray | None:
        """True part regions (K, H, W) bool of image ``index`` at display size, or None."""
        if self.gt_source is None:
            return None
        if index not in self._gt_cache:
            size = self.cache.get(index).image.shape[:2]
            self._gt_cache[index] = display_ground_truth(self.gt_source, index, size)
            while len(self._gt_cache) > 64:
                self._gt_cache.popitem(last=False)
        return self._gt_cache[index]

    def upsampled(self, index: int, block: str, size: tuple[int, int]) -> np.ndarray:
        """(K, H, W) masks of ``block`` at ``size`` (cached: the costly part of a step)."""
        key = (index, block, size)
        if key not in self._up_cache:
            self._up_cache[key] = resize_mask(self.cache.get(index).masks[block], size)
            while len(self._up_cache) > 96:
                self._up_cache.popitem(last=False)
        self._up_cache.move_to_end(key)
        return self._up_cache[key]

    def shown_blocks(self) -> list[str]:
        """The blocks the ``block`` control selects (all of them for ``"both"``)."""
        b = self.controls["block"].value
        return list(self.blocks) if b == BOTH else ([b] if b in self.blocks else [])

    # -- drawing -----------------------------------------------------------------------
    def _draw(self, item: ImageOutputs) -> None:
        c = self.controls
        g = self.node_names.index(c["group"].value)
        view = c["view"].value
        frame = self._draw_all(item, g) if view == ALL and self.blocks else self._draw_one(item, g)
        self.frame.value = encode_png(frame)
        where = ", ".join(f"{b} {m.shape[-2]}x{m.shape[-1]}" for b, m in item.masks.items())
        self.header.value = (
            f"<b>image {item.name}</b> (dataset #{item.index}) · group "
            f"<b>{c['group'].value}</b> · {view} · masks: {where or 'none'}"
        )
        self.table.value = attribute_table(item, c["group"].value, self.attributes, self.groups)

    def _draw_one(self, item: ImageOutputs, g: int) -> np.ndarray:
        img = item.image
        size = img.shape[:2]
        group = self.node_names[g]
        panels = [titled(img, "image")]
        for b in self.shown_blocks():
            m = self.upsampled(item.index, b, size)[g]
            h, w = item.masks[b].shape[-2:]
            panels.append(
                titled(
                    mask_overlay(img, m, self.controls["opacity"].value), f"{b} ({h}x{w}) {group}"
                )
            )
        gt = self.ground_truth(item.index) if self.controls["gt"].value else None
        if gt is not None:
            region = gt_region(gt, self._gt_rows[g], size)
            panels.append(titled(region_overlay(img, region), f"true region: {group}"))
        return hstack(panels)

    def _draw_all(self, item: ImageOutputs, g: int) -> np.ndarray:
        h, w = item.image.shape[:2]
        size = (h // 2, w // 2)
        small = np.asarray(Image.fromarray(item.image).resize((size[1], size[0]), Image.BILINEAR))
        a = self.controls["opacity"].value
        rows = []
        for b in self.shown_blocks():
            ups = self.upsampled(item.index, b, size)
            rows.append(
                self._grid(
                    [
                        titled(mask_overlay(small, ups[k], a), short_name(n, 10), highlight=k == g)
                        for k, n in enumerate(self.node_names)
                    ],
                    b,
                )
            )
        gt = self.ground_truth(item.index) if self.controls["gt"].value else None
        if gt is not None:
            panels = []
            for k, n in enumerate(self.node_names):
                reg = gt_region(gt, self._gt_rows[k], (h, w))
                reg = np.asarray(Image.fromarray(reg).resize((size[1], size[0])), bool)
                panels.append(
                    titled(region_overlay(small, reg), short_name(n, 10), highlight=k == g)
                )
            rows.append(self._grid(panels, "truth"))
        return vstack(rows, gap=8)

    @staticmethod
    def _grid(panels: list[np.ndarray], label: str, ncols: int = 8) -> np.ndarray:
        rows = [hstack(panels[s : s + ncols], gap=2) for s in range(0, len(panels), ncols)]
        body = vstack(rows, gap=2)
        return titled(body, label)

    def _default_steps(self) -> dict[str, Sequence[Any]]:
        c = self.controls
        steps = super()._default_steps()
        steps["group"] = [self.node_names[1 % len(self.node_names)], self.node_names[0]]
        steps["opacity"] = [0.8, 0.5]
        steps["view"] = [ALL, ONE]
        if self.blocks:
            steps["block"] = list(c["block"].options)
        if self.gt_source is not None:
            steps["gt"] = [True, False]
        return steps
