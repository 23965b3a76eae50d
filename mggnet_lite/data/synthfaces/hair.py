"""SynthFaces' hair and hat: the back hair, the front hair (crown, hairline, bangs), the hat.

Each part's group region sits beside its drawing and is built from the same hair extent
(:func:`_hair_width`, :func:`_hair_top`), widened by :data:`_REACH`, so a region cannot drift
from what it covers: hair colour, texture and the hat in ``around_head``; baldness, bangs and
a receding hairline in ``hairline`` (paper Sec. 3.1, Fig. 2).
"""

from __future__ import annotations

import math

import numpy as np

from .geometry import CX, MID_Y, Part, Region, _Bounds, _Brush, _ellipse, _hairline, _lin
from .look import FaceParams, _c, _mix

# How far a hair region reaches past the hair: the widest wave (amplitude 2.5) plus a margin.
_REACH = 2.8


def _hair_width(p: FaceParams) -> float:
    """Half-width of the hair at the temples."""
    return p.face_w + p.hair_volume


def _hair_top(p: FaceParams) -> float:
    """Row of the top of the hair."""
    return p.head_top - 0.8 * p.hair_volume


def _crown(
    w: float, top: float, n: int, t0: float = math.pi, t1: float = 2 * math.pi
) -> np.ndarray:
    """The upper half-ellipse of the hair (or an arc of it), centred above the eyes."""
    return _ellipse(CX, MID_Y - 4, w, MID_Y - 4 - top, n, t0, t1)


def _draw_back_hair(b: _Brush) -> None:
    """The hair behind the head: the crown cap and the two side strips, with their strands."""
    d, on, p = b.d, b.on, b.p
    hair_w, hair_top = _hair_width(p), _hair_top(p)
    wavy = on["Wavy_Hair"]
    amp = 2.5 if wavy else 0.0
    if not on["Bald"]:
        cap = _crown(hair_w, hair_top, 40)
        cap = cap[cap[:, 1] <= 100.5]
        if wavy:
            ang = np.arctan2(cap[:, 1] - (MID_Y - 4), cap[:, 0] - CX)
            r = amp * np.sin(_lin(0, 9 * math.pi, len(cap)))
            cap = cap + np.stack([np.cos(ang) * r, np.sin(ang) * r], 1)
        d.polygon(cap, fill=_c(b.hair))
    bottom = max(p.hair_bottom, 126.0) if on["Bald"] else p.hair_bottom
    for side in (1, -1):
        v = _lin(98, bottom, 14)
        # wavy hair has a rippled outer edge; other hair tapers slightly towards the ends
        taper = 2 * (v - 98) / max(bottom - 98, 1)
        outer = CX + side * (hair_w + amp * np.sin(v / 4.0) if wavy else hair_w - taper)
        inner = np.full_like(v, CX + side * (p.face_w - 6))
        strip = np.concatenate([np.stack([outer, v], 1), np.stack([inner, v], 1)[::-1]])
        d.polygon(strip, fill=_c(b.hair))
        _draw_side_strands(b, side, bottom, hair_w)


def _draw_side_strands(b: _Brush, side: int, bottom: float, hair_w: float) -> None:
    """Strands on one side strip: straight lines for straight hair, ripples for wavy hair."""
    d, p, W = b.d, b.p, b.W
    if b.on["Straight_Hair"]:
        for k in range(5):
            x = CX + side * (p.face_w - 4 + k * (hair_w - p.face_w + 2) / 5)
            d.line(np.array([[x, 100], [x, bottom - 3]]), fill=_c(b.light_hair, 150), width=W)
    if b.on["Wavy_Hair"]:
        for k in range(3):
            x0 = CX + side * (p.face_w - 2 + k * (hair_w - p.face_w) / 3)
            vv = _lin(100, bottom - 3, 16)
            d.line(np.stack([x0 + 2 * np.sin(vv / 4.0), vv], 1), fill=_c(b.dark_hair, 170), width=W)


def _cap_region(p: FaceParams) -> np.ndarray:
    """The crown above the forehead, however voluminous or wavy the hair."""
    head = _crown(_hair_width(p) + _REACH, _hair_top(p) - _REACH, 40)
    return head[head[:, 1] <= 101]


def _back_hair_regions(r: _Bounds) -> list[Region]:
    """``around_head``: the crown and both side strips down to the longest hair."""
    p = r.p
    hair_w = _hair_width(p) + _REACH
    bottom = max(p.hair_bottom, 126.0)
    strips = [
        np.array(
            [
                [CX + s * (p.face_w - 7), 97],
                [CX + s * hair_w, 97],
                [CX + s * hair_w, bottom + 1],
                [CX + s * (p.face_w - 7), bottom + 1],
            ]
        )
        for s in (1, -1)
    ]
    return [("around_head", _cap_region(p)), *(("around_head", s) for s in strips)]


def _draw_front_hair(b: _Brush) -> None:
    """The hair in front of the forehead: the crown down to the hairline (M-shaped when
    receding), its strands, and the bangs; nothing when bald."""
    d, on, p, W = b.d, b.on, b.p, b.W
    if on["Bald"]:
        return
    hair_w, hair_top = _hair_width(p), _hair_top(p)
    xn = _lin(-1, 1, 25)
    hl = _hairline(p, xn, float(on["Receding_Hairline"]))
    w_cap = p.face_w + 1
    spread = np.sqrt(np.clip(1 - ((MID_Y - hl) / (MID_Y - hair_top)) ** 2, 0, 1))
    front = np.stack([CX + xn * w_cap * spread, hl], 1)
    arc = _crown(hair_w, hair_top, 24, 2 * math.pi, math.pi)
    arc = arc[arc[:, 1] <= front[0, 1]]
    d.polygon(np.concatenate([front, arc]), fill=_c(b.hair))
    if on["Straight_Hair"]:
        for k in range(-3, 4):
            d.line(
                np.array([[CX + 4 * k, hair_top + 4], [CX + 7 * k, p.hairline_y - 2]]),
                fill=_c(b.light_hair, 140),
                width=W,
            )
    if on["Wavy_Hair"]:
        for k in range(2):
            xx = _lin(-p.face_w * 0.8, p.face_w * 0.8, 16)
            d.line(
                np.stack([CX + xx, hair_top + 10 + 9 * k + 2 * np.sin(xx / 3)], 1),
                fill=_c(b.dark_hair, 160),
                width=W,
            )
    if on["Bangs"]:
        _draw_bangs(b, w_cap)


def _draw_bangs(b: _Brush, w_cap: float) -> None:
    """A fringe over the forehead, jagged at the bottom, with a few dark strands."""
    d, p = b.d, b.p
    n = 13
    xb = _lin(-0.85, 0.85, n) * p.face_w
    bot = p.bangs_len + np.where(np.arange(n) % 2 == 0, 0.0, -3.0)
    top = _hairline(p, xb / w_cap, 0.0) - 3
    d.polygon(
        np.concatenate([np.stack([CX + xb, top], 1)[::-1], np.stack([CX + xb, bot], 1)]),
        fill=_c(b.hair),
    )
    for k in range(1, n - 1, 2):
        d.line(
            np.array([[CX + xb[k], top[k] + 3], [CX + xb[k] + 1, bot[k] - 1]]),
            fill=_c(b.dark_hair, 140),
            width=b.W,
        )


def _front_hair_regions(r: _Bounds) -> list[Region]:
    """``hairline``: the crown, where bangs, baldness and a receding hairline show."""
    return [("hairline", _cap_region(r.p))]


def _draw_hat(b: _Brush) -> None:
    """A dome over the hair with a band, and a brim for some images."""
    if not b.on["Wearing_Hat"]:
        return
    d, p = b.d, b.p
    hat_w = _hair_width(p) + 3
    dome = _ellipse(
        CX,
        p.hairline_y - 2,
        hat_w,
        p.hairline_y - 2 - (_hair_top(p) - 6),
        24,
        math.pi,
        2 * math.pi,
    )
    d.polygon(dome, fill=_c(p.accessory))
    d.line(
        np.array([[CX - hat_w, p.hairline_y - 4], [CX + hat_w, p.hairline_y - 4]]),
        fill=_c(_mix(p.accessory, (0, 0, 0), 0.35)),
        width=3 * b.W,
    )
    if p.hat_brim:
        d.polygon(
            np.array(
                [
                    [CX - hat_w - 8, p.hairline_y - 1],
                    [CX + hat_w + 8, p.hairline_y - 1],
                    [CX + hat_w, p.hairline_y - 6],
                    [CX - hat_w, p.hairline_y - 6],
                ]
            ),
            fill=_c(_mix(p.accessory, (0, 0, 0), 0.2)),
        )


def _hat_regions(r: _Bounds) -> list[Region]:
    """``around_head``: the dome one pixel larger all round, and the widest brim."""
    p = r.p
    hat_w = _hair_width(p) + 3
    # the hat's top row as the region has always computed it (through the reach and back),
    # so the masks keep their bytes
    hat_top = _hair_top(p) - _REACH + _REACH - 6
    dome = _ellipse(
        CX, p.hairline_y - 2, hat_w + 1, p.hairline_y - 2 - hat_top + 1, 24, math.pi, 2 * math.pi
    )
    brim = [[CX + hat_w + 9, p.hairline_y], [CX - hat_w - 9, p.hairline_y]]
    return [("around_head", np.concatenate([dome, brim]))]


BACK_HAIR = Part("back_hair", _draw_back_hair, _back_hair_regions)
FRONT_HAIR = Part("front_hair", _draw_front_hair, _front_hair_regions)
HAT = Part("hat", _draw_hat, _hat_regions)
