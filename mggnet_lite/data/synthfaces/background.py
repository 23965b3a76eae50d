"""SynthFaces' background: a colour gradient with low-frequency texture, and clutter shapes
behind the person; both label-free (ARCHITECTURE.md)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .geometry import _SS, HEIGHT, WIDTH, _ellipse
from .look import FaceParams, _c


def _background(p: FaceParams, rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Colour gradient + low-frequency texture, built small and upsampled (cheap): bilinear
    to 1x, then nearest to the supersampled canvas (which the final 2x reduce undoes)."""
    gw, gh = 12, 14
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    proj = (xs / (gw - 1) - 0.5) * math.cos(p.bg_angle) + (ys / (gh - 1) - 0.5) * math.sin(
        p.bg_angle
    )
    t = np.clip(proj + 0.5, 0, 1)[..., None]
    g = np.asarray(p.bg_a, np.float32) * (1 - t) + np.asarray(p.bg_b, np.float32) * t
    g += rng.standard_normal((gh, gw, 1), dtype=np.float32) * p.bg_texture
    g += rng.standard_normal((gh, gw, 3), dtype=np.float32) * (p.bg_texture * 0.3)
    small = Image.fromarray(np.clip(g, 0, 255).astype(np.uint8), "RGB")
    one = small.resize((size[0] // _SS, size[1] // _SS), Image.BILINEAR)
    return one if _SS == 1 else one.resize(size, Image.NEAREST)


def _clutter(d: ImageDraw.ImageDraw, p: FaceParams, rng: np.random.Generator) -> None:
    """``p.bg_shapes`` translucent ellipses anywhere in the picture, behind the person."""
    for _ in range(p.bg_shapes):
        cx, cy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
        a, b = rng.uniform(8, 40, 2)
        col = _c(rng.uniform(0, 255, 3), 110)
        d.polygon((_ellipse(cx, cy, a, b, 16) * _SS).ravel().tolist(), fill=col)
