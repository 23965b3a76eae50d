"""SynthFaces' pose geometry and the drawing kit every part of the face uses.

Shapes are built in template coordinates (1x pixels of the un-jittered face, eyes at
(70, 112) and (108, 112) as in CelebA's aligned crops) and go through the image's pose, a
similarity transform, in one matrix product for all the points of an image (ARCHITECTURE.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import ImageDraw

from .look import FaceParams, _hair_colour, _mix, _skin_colour

WIDTH, HEIGHT = 178, 218  # CelebA's aligned-and-cropped size

CX, MID_Y = 89.0, 116.0  # face centre line and widest row, in template pixels
EYE_Y, EYE_DX = 112.0, 19.0  # eyes at (70, 112) and (108, 112) as in CelebA's crops
ROT_CENTRE = (89.0, 118.0)
# Supersampling factor for drawing: 2 gives smoother edges for about 25% more time per
# image; 1 keeps generation near 200 images/s per core (issue 3), and JPEG softens the edges.
_SS = 1


@functools.lru_cache(maxsize=64)
def _unit_range(n: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n)


def _lin(a: float, b: float, n: int) -> np.ndarray:
    """``np.linspace(a, b, n)`` from a cached unit range (linspace's own overhead adds up)."""
    return a + (b - a) * _unit_range(n)


@functools.lru_cache(maxsize=256)
def _unit_arc(n: int, t0: float, t1: float) -> np.ndarray:
    t = np.linspace(t0, t1, n, endpoint=abs(t1 - t0) < 2 * math.pi - 1e-9)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def _ellipse(
    cx: float, cy: float, a: float, b: float, n: int = 28, t0: float = 0.0, t1: float = 2 * math.pi
) -> np.ndarray:
    """Polygon of an ellipse (or of an arc from angle t0 to t1), as an (n, 2) array."""
    return _unit_arc(n, t0, t1) * (a, b) + (cx, cy)


def _mirror(pts: np.ndarray) -> np.ndarray:
    out = pts.copy()
    out[:, 0] = 2 * CX - out[:, 0]
    return out


class _Shape:
    """Face outline for given proportions: half-width as a function of the row v."""

    def __init__(self, p: FaceParams, male: float, chubby: float, oval: float):
        self.w = p.face_w * (1 + 0.09 * chubby - 0.07 * oval)
        self.top = p.head_top
        self.chin = p.chin_y + 4 * oval
        self.pw = 2.0 + 1.3 * male + 0.6 * chubby - 0.4 * oval  # jaw squareness

    def half_width(self, v: np.ndarray | float) -> np.ndarray:
        # above MID_Y an ellipse (the skull); below it a superellipse of power pw (the jaw)
        v = np.asarray(v, dtype=np.float64)
        up = (MID_Y - v) / (MID_Y - self.top)
        lo = np.clip((v - MID_Y) / (self.chin - MID_Y), 0.0, 1.0)
        hw_up = np.sqrt(np.maximum(1.0 - up * up, 0.0))
        hw_lo = (1.0 - lo**self.pw) ** (1.0 / self.pw)
        return self.w * np.where(up > 0, hw_up, hw_lo)

    def outline(self, n: int = 48) -> np.ndarray:
        v = np.concatenate(
            [
                self.top + (MID_Y - self.top) * (1 - np.cos(_lin(0, math.pi / 2, n // 2))),
                MID_Y + (self.chin - MID_Y) * np.sin(_lin(0, math.pi / 2, n // 2))[1:],
            ]
        )
        hw = self.half_width(v)
        right = np.stack([CX + hw, v], 1)
        left = np.stack([CX - hw, v], 1)[::-1]
        return np.concatenate([right, left])

    def band(self, v0: float, v1: float, inner: float, n: int = 12) -> np.ndarray:
        """Right-side strip between the outline and the line |u - CX| = inner, rows v0..v1."""
        v = _lin(v0, v1, n)
        hw = self.half_width(v)
        outer = np.stack([CX + hw, v], 1)
        inn = np.stack([CX + np.minimum(inner, hw), v], 1)[::-1]
        return np.concatenate([outer, inn])

    def edge_strip(self, v0: float, v1: float, width: float, n: int = 10) -> np.ndarray:
        """Right-side strip of ``width`` just inside the outline, rows v0..v1."""
        v = _lin(v0, v1, n)
        hw = self.half_width(v)
        outer = np.stack([CX + hw - 0.3, v], 1)
        inn = np.stack([CX + np.maximum(hw - width, 0), v], 1)[::-1]
        return np.concatenate([outer, inn])


def _hairline(p: FaceParams, x_n: np.ndarray, receding: float) -> np.ndarray:
    """Row of the hairline at normalised x in [-1, 1]: lower at the temples, M if receding."""
    ax = np.abs(x_n)
    return p.hairline_y + 16 * ax**2 - receding * 15 * np.exp(-(((ax - 0.68) / 0.2) ** 2))


class _Pose:
    """The similarity transform template -> image (shift, scale, rotation about the face)."""

    def __init__(self, p: FaceParams):
        a = math.radians(p.angle)
        c, s = math.cos(a) * p.scale, math.sin(a) * p.scale
        rx, ry = ROT_CENTRE
        # x' = c*(u-rx) + s*(v-ry) + rx + dx ; y' = -s*(u-rx) + c*(v-ry) + ry + dy
        self.m = np.array(
            [[c, s, rx + p.dx - c * rx - s * ry], [-s, c, ry + p.dy + s * rx - c * ry]]
        )

    def __call__(self, pts: np.ndarray, ss: int = _SS) -> list[float]:
        """Template points (k, 2) -> flat [x0, y0, x1, y1, ...] on a canvas ``ss`` times 1x."""
        xy = np.asarray(pts, dtype=np.float64).reshape(-1, 2) @ self.m[:, :2].T + self.m[:, 2]
        # 1x pixel centre i sits at ss*i + (ss-1)/2 on the supersampled canvas
        return (xy * ss + (ss - 1) / 2).ravel().tolist()


class _Recorder:
    """Collects draw calls in template coordinates, then replays them through the pose with
    one matrix product for all points (per-shape numpy calls would dominate the run time)."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, np.ndarray, dict]] = []

    def polygon(self, pts: np.ndarray, **kw) -> None:
        self.ops.append(("polygon", np.asarray(pts, dtype=np.float64).reshape(-1, 2), kw))

    def line(self, pts: np.ndarray, **kw) -> None:
        self.ops.append(("line", np.asarray(pts, dtype=np.float64).reshape(-1, 2), kw))

    def point(self, pts: np.ndarray, **kw) -> None:
        self.ops.append(("point", np.asarray(pts, dtype=np.float64).reshape(-1, 2), kw))

    def replay(self, draw: ImageDraw.ImageDraw, pose: _Pose, ss: int = _SS) -> None:
        if not self.ops:
            return
        flat = pose(np.concatenate([pts for _, pts, _ in self.ops]), ss)
        i = 0
        for kind, pts, kw in self.ops:
            j = i + 2 * len(pts)
            getattr(draw, kind)(flat[i:j], **kw)
            i = j


# --------------------------------------------------------------------------------------
# The drawing kit: what each part draws with, and what each part's region is built from
# --------------------------------------------------------------------------------------

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class _Brush:
    """One image's drawing state, shared by every part: the recorder, the labels, the look,
    and the face shape and colours the labels give (derived once, so no part re-derives them).
    """

    d: _Recorder
    on: dict[str, bool]
    p: FaceParams
    rng: np.random.Generator  # label-free texture stream: stubble dots stay put across toggles
    shape: _Shape
    skin: RGB
    hair: RGB
    dark_hair: RGB
    light_hair: RGB
    W: int = _SS  # line widths scale with the canvas

    @classmethod
    def of(
        cls, d: _Recorder, on: dict[str, bool], p: FaceParams, rng: np.random.Generator
    ) -> _Brush:
        """The brush for one image with labels ``on`` and look ``p``."""
        hair = _hair_colour(on, p)
        shape = _Shape(p, on["Male"], on["Chubby"], on["Oval_Face"])
        dark, light = _mix(hair, (0, 0, 0), 0.35), _mix(hair, (255, 255, 255), 0.25)
        return cls(d, on, p, rng, shape, _skin_colour(on, p), hair, dark, light)


@dataclass(frozen=True)
class _Bounds:
    """The extreme face shapes of one image's proportions: the group regions are built from
    these, so a region covers every label combination and the masks never depend on labels.
    """

    p: FaceParams
    big: _Shape  # widest face, squarest jaw
    small: _Shape  # narrowest face
    long: _Shape  # longest chin at the widest width

    @classmethod
    def of(cls, p: FaceParams) -> _Bounds:
        """The bounds of one image's proportions ``p``."""
        big = _Shape(p, male=1.0, chubby=1.0, oval=0.0)
        small = _Shape(p, male=0.0, chubby=0.0, oval=1.0)
        long_ = _Shape(p, male=1.0, chubby=1.0, oval=1.0)
        long_.w = big.w
        return cls(p, big, small, long_)


#: One polygon (template coordinates) of a group's region: (group name, (k, 2) points).
Region = tuple[str, np.ndarray]


class Part(NamedTuple):
    """One part of the face: how it is drawn and where its group regions lie."""

    name: str
    draw: Callable[[_Brush], None]
    regions: Callable[[_Bounds], list[Region]]
