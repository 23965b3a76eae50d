"""SynthFaces' neck group: the neck with shirt, necktie and necklace, and the chin with beard,
goatee and double chin (the ``neck`` group, paper Sec. 3.1, Fig. 2).

Each part's region sits beside its drawing and is built from the same neck width and the same
extreme chin (:class:`~.geometry._Bounds`), so it covers every label combination.
"""

from __future__ import annotations

import numpy as np

from .geometry import CX, Part, Region, _Bounds, _Brush, _ellipse, _lin, _mirror
from .look import _c, _mix


def _draw_neck(b: _Brush) -> None:
    """The shirt, the neck (a shade darker than the face), and a necktie or a necklace."""
    d, p = b.d, b.p
    nw = p.neck_w
    shirt = np.array(
        [
            [CX - 110, 260],
            [CX - 100, 214],
            [CX - 60, 203],
            [CX - nw - 3, 197],
            [CX, 206],
            [CX + nw + 3, 197],
            [CX + 60, 203],
            [CX + 100, 214],
            [CX + 110, 260],
        ]
    )
    d.polygon(shirt, fill=_c(p.shirt))
    neck = np.array(
        [[CX - nw, 148], [CX + nw, 148], [CX + nw + 1, 199], [CX, 207], [CX - nw - 1, 199]]
    )
    d.polygon(neck, fill=_c(_mix(p.skin, (0, 0, 0), 0.18)))
    if b.on["Wearing_Necktie"]:
        _draw_necktie(b)
    if b.on["Wearing_Necklace"]:
        x = _lin(-nw + 1, nw - 1, 15)
        chain = np.stack([CX + x, 189 + 9 * (1 - (x / nw) ** 2)], 1)
        d.line(chain, fill=_c(p.metal), width=int(1.5 * b.W), joint="curve")
        d.polygon(_ellipse(CX, 201.5, 2.6, 3.2, 12), fill=_c(p.metal))


def _draw_necktie(b: _Brush) -> None:
    """A white collar, the knot, the blade and a highlight across it."""
    d, p, nw = b.d, b.p, b.p.neck_w
    for side in (1, -1):
        collar = np.array(
            [[CX + side * (nw + 4), 195], [CX + side * 2, 206], [CX + side * (nw + 8), 210]]
        )
        d.polygon(collar, fill=(240, 240, 240))
    d.polygon(
        np.array([[CX - 4, 201], [CX + 4, 201], [CX + 3, 208], [CX - 3, 208]]),
        fill=_c(p.accessory),
    )
    d.polygon(
        np.array([[CX - 3, 208], [CX + 3, 208], [CX + 7, 235], [CX, 242], [CX - 7, 235]]),
        fill=_c(p.accessory),
    )
    d.line(
        np.array([[CX - 3, 214], [CX + 5, 222]]),
        fill=_c(_mix(p.accessory, (255, 255, 255), 0.4)),
        width=b.W,
    )


def _neck_regions(r: _Bounds) -> list[Region]:
    """``neck``: the neck with a margin, and the chest where the tie and necklace hang."""
    nw = r.p.neck_w
    neck = np.array(
        [[CX - nw - 7, 146], [CX + nw + 7, 146], [CX + nw + 7, 260], [CX - nw - 7, 260]]
    )
    chest = np.array(
        [[CX - nw - 12, 186], [CX + nw + 12, 186], [CX + nw + 12, 260], [CX - nw - 12, 260]]
    )
    return [("neck", neck), ("neck", chest)]


def _draw_chin(b: _Brush) -> None:
    """The neck group on the face: a beard on chin and jaw, a goatee, a double chin."""
    d, on, shape = b.d, b.on, b.shape
    fh = b.p.facial_hair
    if not on["No_Beard"]:
        v = _lin(157, shape.chin, 14)
        hw = shape.half_width(v)
        right = np.stack([CX + hw, v], 1)
        beard = np.concatenate(
            [
                right,
                [[CX, shape.chin + 2]],
                _mirror(right)[::-1],
                [[CX - 12, 157], [CX - 10, 163], [CX + 10, 163], [CX + 12, 157]],
            ]
        )
        d.polygon(beard, fill=_c(fh, 170))
        v = b.rng.uniform(158, shape.chin, 80)
        xs = b.rng.uniform(-1, 1, 80) * (shape.half_width(v) - 1)
        keep = (np.abs(xs) > 10) | (v > 164)
        d.point(np.stack([CX + xs[keep], v[keep]], 1), fill=_c(_mix(fh, (0, 0, 0), 0.4)))
    if on["Goatee"]:
        g = np.array(
            [
                [CX - 8, 162],
                [CX + 8, 162],
                [CX + 6, shape.chin],
                [CX, shape.chin + 4],
                [CX - 6, shape.chin],
            ]
        )
        d.polygon(g, fill=_c(_mix(fh, (0, 0, 0), 0.2)))
    if on["Double_Chin"]:
        _draw_double_chin(b)


def _draw_double_chin(b: _Brush) -> None:
    """A crease under the chin and a faint highlight above it."""
    shape, skin = b.shape, b.skin
    v = _lin(-1, 1, 13)
    xx = v * min(b.p.neck_w + 1, shape.w * 0.55)
    yy = shape.chin + 5 - 4 * v**2
    b.d.line(np.stack([CX + xx, yy], 1), fill=_c(_mix(skin, (0, 0, 0), 0.35)), width=int(1.5 * b.W))
    b.d.polygon(
        np.concatenate(
            [
                np.stack([CX + xx, yy - 0.5], 1),
                np.stack([CX + xx[::-1] * 0.8, shape.chin + 0.5 + 0 * xx], 1),
            ]
        ),
        fill=_c(_mix(skin, (255, 255, 255), 0.05)),
    )


def _chin_regions(r: _Bounds) -> list[Region]:
    """``neck``: the jaw below the mouth down past the longest chin."""
    long_ = r.long
    lower = np.concatenate(
        [np.stack([CX + long_.half_width(v), v], 1) for v in [_lin(155, long_.chin, 12)]]
    )
    return [("neck", np.concatenate([lower, [[CX, long_.chin + 5]], _mirror(lower)[::-1]]))]


NECK = Part("neck", _draw_neck, _neck_regions)
CHIN = Part("chin", _draw_chin, _chin_regions)
