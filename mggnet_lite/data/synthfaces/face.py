"""SynthFaces' face: ears, the face itself, cheeks, nose, eyes (with brows and glasses), mouth.

Each part's group region sits beside its drawing and uses the same anchors (the ear centre,
the eye centres, the mouth row) and the extreme face shapes of :class:`~.geometry._Bounds`,
so a region covers whatever the labels draw there (paper Sec. 3.1, Fig. 2).
"""

from __future__ import annotations

import math

import numpy as np

from .geometry import (
    CX,
    EYE_DX,
    EYE_Y,
    MID_Y,
    Part,
    Region,
    _Bounds,
    _Brush,
    _ellipse,
    _lin,
    _mirror,
    _Shape,
)
from .look import _c, _mix

_EAR_Y = 121  # row of the ears' centres
_EAR_AXES = (6.0, 12.0)  # the ear's half-width and half-height


def _side(pts: np.ndarray, side: int) -> np.ndarray:
    """Right-side template points as they are on ``side`` (1 right, -1 left, mirrored)."""
    return pts if side == 1 else _mirror(pts)


def _ear_x(b: _Brush | _Bounds) -> float:
    """Offset of the ears' centres from the centre line."""
    return b.p.face_w + 1


def _draw_ears(b: _Brush) -> None:
    """Both ears (a shade darker than the face, with a darker hollow) and earrings."""
    d, p, skin = b.d, b.p, b.skin
    ear_x = _ear_x(b)
    for side in (1, -1):
        d.polygon(
            _ellipse(CX + side * ear_x, _EAR_Y, *_EAR_AXES, 20),
            fill=_c(_mix(skin, (0, 0, 0), 0.08)),
        )
        d.polygon(
            _ellipse(CX + side * (ear_x + 1.5), _EAR_Y, 2.5, 7, 14),
            fill=_c(_mix(skin, (0, 0, 0), 0.25)),
        )
        if b.on["Wearing_Earrings"]:
            d.polygon(_ellipse(CX + side * (ear_x + 0.5), 137, 2.6, 2.6, 10), fill=_c(p.metal))
            d.polygon(_ellipse(CX + side * (ear_x + 0.5), 142.5, 2.0, 3.2, 10), fill=_c(p.metal))


def _ear_regions(r: _Bounds) -> list[Region]:
    """The ears half a pixel larger, in ``whole_face`` (their tone) and ``around_head``, and
    the earrings' drop in ``around_head``."""
    ear_x = _ear_x(r)
    a, h = _EAR_AXES
    ears = [_ellipse(CX + s * ear_x, _EAR_Y, a + 0.5, h + 0.5, 20) for s in (1, -1)]
    earrings = [
        np.array(
            [
                [CX + s * (ear_x - 3), 133],
                [CX + s * (ear_x + 4), 133],
                [CX + s * (ear_x + 4), 146],
                [CX + s * (ear_x - 3), 146],
            ]
        )
        for s in (1, -1)
    ]
    return [
        *(("whole_face", e) for e in ears),
        *(("around_head", e) for e in ears),
        *(("around_head", e) for e in earrings),
    ]


def _draw_face(b: _Brush) -> None:
    """The face: outline and shading, eye shadow for heavy makeup, wrinkles unless young."""
    d, on, skin, W = b.d, b.on, b.skin, b.W
    outline = b.shape.outline()
    d.polygon(outline, fill=_c(_mix(skin, (0, 0, 0), 0.1)))
    inner = (outline - [CX, MID_Y]) * [0.86, 0.92] + [CX, MID_Y - 2]
    d.polygon(inner, fill=_c(skin))
    if on["Heavy_Makeup"]:
        shadow = _mix(b.p.lipstick, (90, 60, 120), 0.5)
        for side in (1, -1):
            ex = CX + side * EYE_DX
            d.polygon(_ellipse(ex, EYE_Y - 4.5, 10.5, 4.5, 16), fill=_c(shadow, 110))
    if not on["Young"]:
        line = _c(_mix(skin, (0, 0, 0), 0.3), 160)
        for k in range(3):
            y = 84 + 4 * k
            d.line(np.array([[CX - 14, y], [CX, y - 1.5], [CX + 14, y]]), fill=line, width=W)
        for side in (1, -1):
            ox = CX + side * (EYE_DX + 11)
            for dy in (-2.5, 0, 2.5):
                d.line(
                    np.array([[ox, EYE_Y], [ox + side * 5, EYE_Y + dy * 1.4]]), fill=line, width=W
                )
            d.line(
                np.array([[CX + side * 9, 137], [CX + side * 14, 145], [CX + side * 17, 153]]),
                fill=line,
                width=W,
            )


def _face_regions(r: _Bounds) -> list[Region]:
    """``whole_face``: the widest, longest face, reaching a little below the chin (a double
    chin, a beard and the chin's shading move with the face shape)."""
    zone = _Shape(r.p, male=1.0, chubby=1.0, oval=1.0)
    zone.w, zone.chin = r.big.w, r.long.chin + 7
    return [("whole_face", zone.outline(64))]


def _draw_cheeks(b: _Brush) -> None:
    """The middle face: cheekbones, blush, stubble, sideburns, on both sides."""
    d, on, shape, fh = b.d, b.on, b.shape, b.p.facial_hair
    for side in (1, -1):
        cw = shape.w
        if on["High_Cheekbones"]:
            # a highlight on the cheekbone and a soft hollow under it
            d.polygon(
                _side(_ellipse(CX + cw - 13, 123, 8, 3.5, 16), side), fill=(255, 245, 235, 60)
            )
            d.polygon(_side(_ellipse(CX + cw - 11, 133.5, 7, 2.2, 16), side), fill=(90, 50, 40, 40))
        if on["Rosy_Cheeks"]:
            d.polygon(_side(_ellipse(CX + cw - 15, 130, 7, 5, 16), side), fill=(225, 80, 90, 95))
        if on["5_o_Clock_Shadow"]:
            d.polygon(_side(shape.band(128, 166, 14), side), fill=_c(fh, 55))
            v = b.rng.uniform(128, 166, 60)
            hw = shape.half_width(v)
            x = 14 + b.rng.uniform(0, 1, 60) * np.maximum(hw - 15, 0)
            d.point(_side(np.stack([CX + x, v], 1), side), fill=_c(fh, 200))
        if on["Sideburns"]:
            d.polygon(_side(shape.edge_strip(88, 130, 6), side), fill=_c(fh))


def _cheek_regions(r: _Bounds) -> list[Region]:
    """``middle_face``: the lower cheek band of the widest face and the temples between the
    narrowest face's inside and the widest face's edge."""
    big, small = r.big, r.small
    out: list[Region] = []
    for s in (1, -1):
        band = big.band(110, 171, 8, 16)
        v = _lin(85, 132, 10)
        side = np.concatenate(
            [
                np.stack([CX + big.half_width(v) + 0.5, v], 1),
                np.stack([CX + small.half_width(v) - 8, v], 1)[::-1],
            ]
        )
        out += [("middle_face", q if s == 1 else _mirror(q)) for q in (band, side)]
    return out


def _draw_nose(b: _Brush) -> None:
    """The nose: bridge shading, a pointed or a rounded tip, nostrils and wings."""
    d, skin, W = b.d, b.skin, b.W
    big, pointy = b.on["Big_Nose"], b.on["Pointy_Nose"]
    nshade = _c(_mix(skin, (0, 0, 0), 0.25), 120)
    for side in (1, -1):
        d.line(np.array([[CX + side * 4, 112], [CX + side * 5, 132]]), fill=nshade, width=W)
    wing = 10.0 if big else 7.0
    tip_y = 137.0
    if pointy:
        d.polygon(
            np.array([[CX, tip_y + 4], [CX - 4, tip_y - 5], [CX + 4, tip_y - 5]]),
            fill=_c(_mix(skin, (255, 255, 255), 0.25)),
        )
        d.line(
            np.array([[CX - 3, tip_y + 2], [CX, tip_y + 5], [CX + 3, tip_y + 2]]),
            fill=_c(_mix(skin, (0, 0, 0), 0.4)),
            width=W,
        )
    else:
        d.polygon(
            _ellipse(CX, tip_y, 5.5 if big else 4.0, 3.5 if big else 3.0, 16),
            fill=_c(_mix(skin, (255, 255, 255), 0.12)),
        )
    for side in (1, -1):
        d.polygon(
            _ellipse(CX + side * (wing - 3.5), tip_y + 2.5, 3.2 if big else 2.2, 1.5, 12),
            fill=_c(_mix(skin, (0, 0, 0), 0.55)),
        )
        facing = math.pi / 2 - side * math.pi / 2  # the wing's arc opens outwards
        d.line(
            _ellipse(CX + side * (wing - 2), tip_y, 2.5, 3.5, 8, facing - 1.2, facing + 1.2),
            fill=nshade,
            width=W,
        )


def _nose_regions(r: _Bounds) -> list[Region]:
    """``nose``: a trapezoid from the bridge to below the widest wings."""
    return [("nose", np.array([[CX - 7, 107], [CX + 7, 107], [CX + 15, 146], [CX - 15, 146]]))]


def _draw_eyes(b: _Brush) -> None:
    """Both eyes, each with its brow and, for eyeglasses, its lens; then the glasses' bridge.

    Each side is finished before the other so the draw calls keep the order of the
    pre-package generator (the bytes of a set depend on it)."""
    eh = 2.2 if b.on["Narrow_Eyes"] else 4.5
    for side in (1, -1):
        ex = CX + EYE_DX
        _draw_eye(b, side, ex, eh)
        _draw_brow(b, side)
        if b.on["Eyeglasses"]:
            _draw_lens(b, side, ex)
    if b.on["Eyeglasses"]:
        b.d.line(
            np.array([[CX - 7, EYE_Y - 3], [CX, EYE_Y - 5], [CX + 7, EYE_Y - 3]]),
            fill=_c(b.p.accessory),
            width=int(1.6 * b.W),
        )


def _draw_eye(b: _Brush, side: int, ex: float, eh: float) -> None:
    """One eye of half-height ``eh``: bags under it, the white, iris, pupil and upper lid."""
    d, W = b.d, b.W
    if b.on["Bags_Under_Eyes"]:
        d.polygon(_side(_ellipse(ex, EYE_Y + 5, 8, 3.2, 16), side), fill=(70, 40, 60, 80))
        d.line(
            _side(_ellipse(ex, EYE_Y + 4, 8, 4.5, 10, 0.4, math.pi - 0.4), side),
            fill=_c(_mix(b.skin, (0, 0, 0), 0.4)),
            width=W,
        )
    d.polygon(_side(_ellipse(ex, EYE_Y, 9, eh, 24), side), fill=(238, 236, 232))
    ih = min(3.6, eh)
    d.polygon(_side(_ellipse(ex, EYE_Y, 3.6, ih, 16), side), fill=_c(b.p.iris))
    d.polygon(_side(_ellipse(ex, EYE_Y, 1.5, min(1.5, eh * 0.6), 10), side), fill=(10, 10, 10))
    lid = _side(_ellipse(ex, EYE_Y, 9, eh, 14, math.pi, 2 * math.pi), side)
    d.line(lid, fill=(30, 20, 20), width=int((2.2 if b.on["Heavy_Makeup"] else 1.0) * W))


def _draw_brow(b: _Brush, side: int) -> None:
    """One brow: arched = a peak two thirds out, flat = nearly straight; bushy = thick,
    darker, with hair strokes across it."""
    bushy = b.on["Bushy_Eyebrows"]
    fh = b.p.facial_hair
    brow_w = (4.6 if bushy else 2.2) * b.W
    brow_col = _c(_mix(fh, (0, 0, 0), 0.3) if bushy else fh)
    rise = 6.0 if b.on["Arched_Eyebrows"] else 1.5
    bx = np.array([CX + 9, CX + 15, CX + 22, CX + 27, CX + 30])
    by = 102 - rise * np.array([0.2, 0.6, 1.0, 0.6, 0.0]) - np.array([0, 0.5, 1, 1, 0.5])
    b.d.line(_side(np.stack([bx, by], 1), side), fill=brow_col, width=int(brow_w), joint="curve")
    if bushy:
        for k in range(6):
            x = CX + 10 + 3.5 * k
            y = float(np.interp(x, bx, by))
            stroke = np.array([[x, y + 2.5], [x + 2.5, y - 3]])
            b.d.line(_side(stroke, side), fill=brow_col, width=b.W)


def _draw_lens(b: _Brush, side: int, ex: float) -> None:
    """One lens of the glasses (round or rectangular), its frame and the arm to the ear."""
    d, p, W = b.d, b.p, b.W
    frame = _c(p.accessory)
    if p.glasses_round:
        rim = _ellipse(ex, EYE_Y, 12, 10, 28)
    else:
        rim = np.array(
            [
                [ex - 13, EYE_Y - 8],
                [ex + 13, EYE_Y - 8],
                [ex + 12, EYE_Y + 8],
                [ex - 12, EYE_Y + 8],
            ]
        )
    d.polygon(_side(rim, side), fill=(200, 220, 235, 40))
    d.line(_side(np.concatenate([rim, rim[:1]]), side), fill=frame, width=int(1.6 * W))
    arm = np.array(
        [
            [ex + (12 if p.glasses_round else 13), EYE_Y - 3],
            [CX + b.shape.half_width(EYE_Y - 3) - 0.5, EYE_Y - 4],
        ]
    )
    d.line(_side(arm, side), fill=frame, width=int(1.4 * W))


def _eye_regions(r: _Bounds) -> list[Region]:
    """``eyes``: a disc round each eye (brows, bags, lenses) and a band for the glasses' arms
    across the widest face."""
    w = r.big.w
    arms = np.array(
        [
            [CX - w - 1, EYE_Y - 9],
            [CX + w + 1, EYE_Y - 9],
            [CX + w + 1, EYE_Y + 3],
            [CX - w - 1, EYE_Y + 3],
        ]
    )
    eyes = [_ellipse(CX + s * EYE_DX, 109, 17, 17, 24) for s in (1, -1)]
    return [*(("eyes", e) for e in eyes), ("eyes", arms)]


def _draw_mouth(b: _Brush) -> None:
    """The mouth: a mustache above it, the opening (with teeth when smiling), both lips."""
    d, on, p = b.d, b.on, b.p
    my = p.mouth_y
    smile = on["Smiling"]
    mw = 16.0 if smile else 13.0
    lips_k = 1.6 if on["Big_Lips"] else 1.0
    gap = (4.5 if smile else 3.5) if on["Mouth_Slightly_Open"] else 0.0
    x = _lin(-mw, mw, 17)
    mid = my - (3.0 if smile else 0.0) * (x / mw) ** 2 + (1.0 if smile else 0.0)
    up_top = mid - lips_k * (3.0 - 1.2 * np.exp(-((x / 3.0) ** 2))) * (1 - (x / mw) ** 2) ** 0.5
    lo_bot = mid + gap + lips_k * 4.0 * (1 - (x / mw) ** 2) ** 0.6
    lip = p.lipstick if on["Wearing_Lipstick"] else p.lip
    if on["Mustache"]:
        xm = _lin(-mw - 2, mw + 2, 13)
        top = my - 9 - 1.0 * np.cos(xm / (mw + 2) * math.pi / 2)
        bot = np.interp(xm, x, up_top, left=mid[0], right=mid[-1]) - 0.5
        d.polygon(_between(xm, top, bot), fill=_c(p.facial_hair))
    if gap:
        d.polygon(_between(x, mid, mid + gap), fill=(45, 15, 20))
        if smile:
            d.polygon(_between(x * 0.8, mid + 0.2, mid + gap * 0.5), fill=(240, 238, 228))
    d.polygon(_between(x, up_top, mid), fill=_c(_mix(lip, (0, 0, 0), 0.1)))
    d.polygon(_between(x, mid + gap, lo_bot), fill=_c(lip))
    d.line(np.stack([CX + x, mid], 1), fill=_c(_mix(lip, (0, 0, 0), 0.5)), width=b.W)


def _between(x: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """The polygon between two curves over offsets ``x`` from the centre line."""
    return np.concatenate([np.stack([CX + x, upper], 1), np.stack([CX + x, lower], 1)[::-1]])


def _mouth_regions(r: _Bounds) -> list[Region]:
    """``mouth``: an ellipse from above the mustache to below the fullest lower lip."""
    my = r.p.mouth_y
    return [("mouth", _ellipse(CX, (my - 12 + my + 14) / 2, 26, 15, 28))]


EARS = Part("ears", _draw_ears, _ear_regions)
FACE = Part("face", _draw_face, _face_regions)
CHEEKS = Part("cheeks", _draw_cheeks, _cheek_regions)
NOSE = Part("nose", _draw_nose, _nose_regions)
EYES = Part("eyes", _draw_eyes, _eye_regions)
MOUTH = Part("mouth", _draw_mouth, _mouth_regions)
