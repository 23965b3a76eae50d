"""SynthFaces' per-image look: everything about one image that is not a label.

Each image gets its own pose (shift, scale, small rotation), face proportions, skin and hair
tones, accessory colours, background, lighting, pixel noise and JPEG quality, drawn from
``SeedSequence([seed, index])`` (:func:`params_for`), so the bytes of image ``index`` do not
depend on the worker count or on the other images (ARCHITECTURE.md).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FaceParams:
    """Everything about one image that is not a label: pose, proportions, colours, noise."""

    dx: float
    dy: float
    scale: float
    angle: float  # degrees, counter-clockwise
    face_w: float  # half-width of the face at the cheeks
    head_top: float
    chin_y: float
    mouth_y: float
    hairline_y: float
    hair_volume: float
    hair_bottom: float
    bangs_len: float
    neck_w: float
    skin: tuple[float, float, float]
    hair_tone: float  # position inside the hair colour's palette
    hair_other: int  # palette for hair of none of the four named colours
    facial_hair: tuple[float, float, float]
    iris: tuple[float, float, float]
    lip: tuple[float, float, float]
    lipstick: tuple[float, float, float]
    shirt: tuple[float, float, float]
    accessory: tuple[float, float, float]  # frames, hat, tie
    metal: tuple[float, float, float]  # earrings, necklace
    glasses_round: bool
    hat_brim: bool
    bg_a: tuple[float, float, float]
    bg_b: tuple[float, float, float]
    bg_angle: float
    bg_texture: float
    bg_shapes: int
    light_dir: float
    light_strength: float
    brightness: float
    tint: tuple[float, float, float]
    blur_radius: float
    noise_sigma: float
    jpeg_quality: int
    texture_seed: int


_HAIR_PALETTES = {
    "Black_Hair": ((14, 12, 12), (45, 36, 30)),
    "Blond_Hair": ((236, 208, 150), (190, 150, 90)),
    "Brown_Hair": ((120, 78, 46), (80, 50, 30)),
    "Gray_Hair": ((205, 205, 200), (140, 138, 135)),
}
_HAIR_OTHER = (  # neither black, blond, brown nor gray: auburn, red, dark blond, near black
    ((150, 70, 40), (110, 45, 25)),
    ((185, 95, 50), (150, 70, 35)),
    ((160, 130, 85), (130, 100, 65)),
    ((65, 45, 35), (50, 35, 28)),
)


_IRIS = np.array([(70, 45, 25), (40, 25, 15), (60, 90, 120), (70, 100, 60), (100, 75, 40)])
_LIPSTICK = np.array([(190, 30, 45), (160, 20, 60), (210, 70, 90), (130, 25, 35)])
_METAL = np.array([(225, 190, 80), (200, 200, 210)])  # gold, silver


def _f3(x: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    return (float(x[0]), float(x[1]), float(x[2]))


def _uniform_rgb(rng: np.random.Generator, lo: float, hi: float) -> tuple[float, float, float]:
    return _f3(rng.uniform(lo, hi, 3))


def sample_params(rng: np.random.Generator) -> FaceParams:
    """Draw the non-label parameters of one image (pose, proportions, colours, noise)."""
    u = rng.uniform
    # Skin: mostly light tones as in CelebA, some darker.
    t = float(rng.beta(1.3, 3.0))
    skin = _mix((250.0, 214.0, 190.0), (110.0, 70.0, 48.0), t)
    fh = float(u(20, 80))
    hue = float(u(0, 1))
    bg_a = tuple(float(x) for x in _hsv_to_rgb(hue, u(0.05, 0.6), u(0.35, 0.95)))
    bg_b = tuple(
        float(x) for x in _hsv_to_rgb((hue + u(-0.25, 0.25)) % 1, u(0.05, 0.6), u(0.2, 0.95))
    )
    return FaceParams(
        dx=float(u(-6, 6)),
        dy=float(u(-6, 6)),
        scale=float(u(0.9, 1.1)),
        angle=float(u(-8, 8)),
        face_w=float(u(35, 40)),
        head_top=float(u(40, 47)),
        chin_y=float(u(172, 179)),
        mouth_y=float(u(150, 154)),
        hairline_y=float(u(66, 74)),
        hair_volume=float(u(5, 13)),
        hair_bottom=float(u(118, 215)),
        bangs_len=float(u(92, 97)),
        neck_w=float(u(17, 21)),
        skin=skin,
        hair_tone=float(u(0, 1)),
        hair_other=int(rng.integers(len(_HAIR_OTHER))),
        facial_hair=(fh, fh * 0.8, fh * 0.65),
        iris=_f3(rng.choice(_IRIS) + u(-10, 10, 3)),
        lip=(skin[0] * 0.82, skin[1] * 0.55, skin[2] * 0.58),
        lipstick=_f3(rng.choice(_LIPSTICK) + u(-15, 15, 3)),
        shirt=_uniform_rgb(rng, 20, 235),
        accessory=_uniform_rgb(rng, 10, 200),
        metal=_f3(rng.choice(_METAL)),
        glasses_round=bool(rng.random() < 0.4),
        hat_brim=bool(rng.random() < 0.5),
        bg_a=bg_a,
        bg_b=bg_b,
        bg_angle=float(u(0, 2 * math.pi)),
        bg_texture=float(u(0, 30)),
        bg_shapes=int(rng.integers(0, 4)),
        light_dir=float(u(0, 2 * math.pi)),
        light_strength=float(u(0, 0.25)),
        brightness=float(u(0.85, 1.1)),
        tint=_uniform_rgb(rng, 0.94, 1.06),
        blur_radius=float(u(1.3, 2.0)),
        noise_sigma=float(u(1, 6)),
        jpeg_quality=int(rng.integers(72, 96)),
        texture_seed=int(rng.integers(2**31)),
    )


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return (255 * r, 255 * g, 255 * b)


def params_for(seed: int, index: int) -> FaceParams:
    """The parameters of image ``index`` (0-based) of the set with ``seed``."""
    return sample_params(np.random.default_rng(np.random.SeedSequence([int(seed), int(index)])))


def _c(rgb: Iterable[float], alpha: float | None = None) -> tuple[int, ...]:
    t = tuple(int(round(min(255.0, max(0.0, float(x))))) for x in rgb)
    return t if alpha is None else (*t, int(alpha))


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> tuple[float, float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def _hair_colour(on: dict[str, bool], p: FaceParams) -> tuple[float, float, float]:
    for name in ("Gray_Hair", "Blond_Hair", "Brown_Hair", "Black_Hair"):
        if on[name]:
            lo, hi = _HAIR_PALETTES[name]
            break
    else:
        lo, hi = _HAIR_OTHER[p.hair_other]
    return _mix(lo, hi, p.hair_tone)


def _skin_colour(on: dict[str, bool], p: FaceParams) -> tuple[float, float, float]:
    skin = p.skin
    if on["Male"]:
        skin = (skin[0] * 0.97, skin[1] * 0.91, skin[2] * 0.88)
    if not on["Young"]:
        grey = sum(skin) / 3
        skin = _mix(skin, (grey * 0.95, grey * 0.95, grey * 0.95), 0.22)
    if on["Pale_Skin"]:
        skin = _mix(skin, (246, 236, 232), 0.6)
    if on["Heavy_Makeup"]:
        skin = _mix(skin, (238, 200, 178), 0.18)
    return skin
