"""SynthFaces' renderer: one face and its group masks from labels and a look.

An image is the background, the parts of :data:`~.parts.PARTS` replayed through the pose,
then lighting (a gradient and a colour cast), a Gaussian blur for ``Blurry`` and pixel noise.
The group masks are drawn from the parts' regions with the same pose and dilated by one pixel
(paper Sec. 3.1; ARCHITECTURE.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ...attributes import CELEBA_ATTRIBUTES
from .background import _background, _clutter
from .geometry import _SS, HEIGHT, WIDTH, _Pose, _Recorder
from .labels import GROUP_NAMES
from .look import FaceParams
from .occlusion import paint_occluder
from .parts import _draw_groups, _mask_regions

_MASK_MARGIN = 64  # room beside each group's tile, wider than any region overhangs the image


def _render_masks_packed(p: FaceParams, pose: _Pose) -> np.ndarray:
    """The group masks as one (H, W) uint8 image, bit k for group k, dilated by one pixel
    (a shape's anti-aliased or blurred edge can reach the neighbouring pixel).

    The eight groups are drawn side by side into one wide image (one tile each, with a
    margin), which costs one image and one transform instead of eight."""
    regions = _mask_regions(p)
    pitch = WIDTH + 2 * _MASK_MARGIN
    polys = [(k, poly) for k, g in enumerate(GROUP_NAMES) for poly in regions[g]]
    pts = np.concatenate([poly for _, poly in polys])
    xy = pts @ pose.m[:, :2].T + pose.m[:, 2]
    np.clip(xy[:, 0], -_MASK_MARGIN, WIDTH + _MASK_MARGIN, out=xy[:, 0])  # never bleed
    xy[:, 0] += np.repeat([k * pitch + _MASK_MARGIN for k, _ in polys], [len(q) for _, q in polys])
    flat = xy.ravel().tolist()
    wide = Image.new("L", (pitch * len(GROUP_NAMES), HEIGHT), 0)
    d = ImageDraw.Draw(wide)
    i = 0
    for k, poly in polys:
        j = i + 2 * len(poly)
        d.polygon(flat[i:j], fill=1 << k, outline=1 << k)
        i = j
    tiles = np.asarray(wide).reshape(HEIGHT, len(GROUP_NAMES), pitch)
    packed = np.bitwise_or.reduce(tiles[:, :, _MASK_MARGIN : _MASK_MARGIN + WIDTH], axis=1)
    # dilation by OR of the 4-neighbours works on all eight bit planes at once
    grown = packed.copy()
    grown[1:] |= packed[:-1]
    grown[:-1] |= packed[1:]
    grown[:, 1:] |= packed[:, :-1]
    grown[:, :-1] |= packed[:, 1:]
    return grown


@functools.lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """A fixed field of standard normal noise; each image reads its own random window
    (far cheaper than drawing 116k normals per image, and just as deterministic)."""
    return np.random.default_rng(20210705).standard_normal((512, 512, 3), dtype=np.float32)


def _render_packed(
    labels: Sequence[int] | np.ndarray,
    params: FaceParams,
    *,
    noise: bool,
    masks: bool,
    occlude: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Render to the packed form: (image uint8 (H, W, 3), masks uint8 (H, W) or None).

    ``occlude``: a group whose region an accessory hides (:mod:`.occlusion`); the masks do
    not change."""
    lab = np.asarray(labels).reshape(-1)
    if lab.shape != (len(CELEBA_ATTRIBUTES),):
        raise ValueError(f"labels: expected 40 values, got shape {np.asarray(labels).shape}")
    on = {a: bool(lab[i] > 0) for i, a in enumerate(CELEBA_ATTRIBUTES)}
    pose = _Pose(params)
    # the texture streams are label-free, so stubble dots etc. stay put across toggles
    rng = np.random.default_rng(params.texture_seed)
    size = (WIDTH * _SS, HEIGHT * _SS)
    canvas = _background(params, rng, size)
    d = ImageDraw.Draw(canvas, "RGBA")
    _clutter(d, params, rng)
    rec = _Recorder()
    _draw_groups(rec, on, params, np.random.default_rng([params.texture_seed, 1]))
    rec.replay(d, pose)
    img = canvas if _SS == 1 else canvas.reduce(_SS)

    # lighting: a gradient and a colour cast over the whole picture (label-free). The gain is
    # a row factor times a column factor, so it broadcasts without an (H, W, 3) gain array.
    gx, gy = math.cos(params.light_dir), math.sin(params.light_dir)
    k = 2 * params.light_strength / params.brightness
    rows = params.brightness * (1 + k * gy * (np.arange(HEIGHT, dtype=np.float32) / HEIGHT - 0.5))
    cols = 1 + k * gx * (np.arange(WIDTH, dtype=np.float32) / WIDTH - 0.5)
    f = np.asarray(img, dtype=np.float32)
    packed = _render_masks_packed(params, pose) if masks or occlude else None
    if occlude is not None:
        f = f.copy()
        bit = GROUP_NAMES.index(occlude)
        paint_occluder(f, (packed >> bit) & 1 > 0, occlude, params.texture_seed)
    f *= rows[:, None, None]
    f *= cols[:, None] * np.asarray(params.tint, np.float32)
    if on["Blurry"]:
        lit = Image.fromarray(np.clip(f + 0.5, 0, 255).astype(np.uint8))
        f = np.asarray(lit.filter(ImageFilter.GaussianBlur(params.blur_radius)), np.float32)
    if noise:
        oy, ox = rng.integers(0, 512 - HEIGHT), rng.integers(0, 512 - WIDTH)
        f += _noise_bank()[oy : oy + HEIGHT, ox : ox + WIDTH] * np.float32(params.noise_sigma)
    f += 0.5
    np.clip(f, 0, 255, out=f)
    return f.astype(np.uint8), (packed if masks else None)


def render(
    labels: Sequence[int] | np.ndarray,
    params: FaceParams,
    *,
    noise: bool = False,
    masks: bool = True,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Render one face: ``(image uint8 (218, 178, 3), group masks bool (8, 218, 178))``.

    ``labels``: 40 values in ``CELEBA_ATTRIBUTES`` order (0/1 or -1/1); any combination is
    drawn, even one the label model never produces. ``noise=False`` leaves out the pixel
    noise (JPEG is applied by :func:`synthesize`, not here), so toggling one attribute
    changes only the pixels that attribute draws. The masks (``None`` if ``masks=False``)
    depend on ``params`` only, never on the labels.
    """
    img, packed = _render_packed(labels, params, noise=noise, masks=masks)
    return img, (None if packed is None else unpack_masks(packed))


def pack_masks(masks: np.ndarray) -> np.ndarray:
    """(8, H, W) bool -> (H, W) uint8 with bit k set where group k is."""
    bits = (1 << np.arange(masks.shape[0], dtype=np.uint16)).astype(np.uint8)
    return np.tensordot(bits, masks.astype(np.uint8), axes=(0, 0)).astype(np.uint8)


def unpack_masks(packed: np.ndarray, k: int = len(GROUP_NAMES)) -> np.ndarray:
    """(H, W) uint8 -> (k, H, W) bool; inverse of :func:`pack_masks`."""
    return ((packed[None] >> np.arange(k, dtype=np.uint8)[:, None, None]) & 1).astype(bool)


# --------------------------------------------------------------------------------------
