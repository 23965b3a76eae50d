"""Raster figures for the explorers: NumPy / PIL only, a few ms each (ARCHITECTURE.md, "widgets").

A control step re-draws in time because frames are composed from uint8 arrays and sent as
one PNG, not drawn as a matplotlib figure. Nothing here needs ipywidgets or anywidget, so
the pictures can be made (and tested) without the book extra.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

_LUTS: dict[str, np.ndarray] = {}
_FONTS: dict[int, Any] = {}


def colormap_lut(name: str = "turbo") -> np.ndarray:
    """A (256, 3) uint8 lookup table of a matplotlib colormap (computed once)."""
    if name not in _LUTS:
        from matplotlib import colormaps

        _LUTS[name] = (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    return _LUTS[name]


def _font(size: int = 11) -> Any:
    if size not in _FONTS:
        try:
            _FONTS[size] = ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1: the fixed bitmap font
            _FONTS[size] = ImageFont.load_default()
    return _FONTS[size]


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear up-sampling of an (h, w) or (K, h, w) mask in [0, 1] to ``size`` = (H, W)."""
    h, w = size
    m = torch.as_tensor(np.asarray(mask, np.float32))
    flat = m.reshape(-1, 1, *m.shape[-2:])
    up = torch.nn.functional.interpolate(flat, size=(h, w), mode="bilinear", align_corners=False)
    return up.reshape(*m.shape[:-2], h, w).clamp_(0, 1).numpy()


def mask_overlay(
    image: np.ndarray, mask: np.ndarray, opacity: float = 0.5, cmap: str = "jet"
) -> np.ndarray:
    """A group attention mask M_i (Eq. 1) as a heat map over the image, as in Fig. 2.

    ``image``: (H, W, 3) uint8; ``mask``: (h, w) in [0, 1], up-sampled bilinearly to (H, W)
    (the mask covers the whole network input, so it lines up with the whole image).
    """
    if mask.shape != image.shape[:2]:
        mask = resize_mask(mask, image.shape[:2])
    heat = colormap_lut(cmap)[np.clip(mask * 255 + 0.5, 0, 255).astype(np.uint8)]
    a = float(np.clip(opacity, 0, 1))
    return (image * (1 - a) + heat * a + 0.5).astype(np.uint8)


def region_overlay(
    image: np.ndarray, region: np.ndarray, colour: Sequence[int] = (40, 220, 90)
) -> np.ndarray:
    """A ground-truth part region (bool (H, W)): the image dimmed outside it, tinted inside."""
    r = np.asarray(region, bool)[..., None]
    tint = image * 0.55 + np.asarray(colour, np.float32) * 0.45
    return np.where(r, tint, image * 0.3).astype(np.uint8)


def titled(
    panel: np.ndarray, title: str, *, height: int = 16, highlight: bool = False
) -> np.ndarray:
    """The panel with a white title strip on top (blue when ``highlight``)."""
    h, w = panel.shape[:2]
    strip = Image.new("RGB", (w, height), (40, 90, 200) if highlight else (255, 255, 255))
    ImageDraw.Draw(strip).text(
        (3, 2), title, fill=(255, 255, 255) if highlight else (0, 0, 0), font=_font(11)
    )
    return np.concatenate([np.asarray(strip), panel], axis=0)


def hstack(panels: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Panels side by side on white, top-aligned."""
    return _stack(panels, gap, axis=1)


def vstack(rows: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Rows one under the other on white, left-aligned."""
    return _stack(rows, gap, axis=0)


def _stack(panels: Sequence[np.ndarray], gap: int, axis: int) -> np.ndarray:
    """Panels on white along ``axis`` (0: down, 1: across), ``gap`` apart, aligned at 0."""
    across = 1 - axis
    size = [0, 0]
    size[axis] = sum(p.shape[axis] for p in panels) + gap * (len(panels) - 1)
    size[across] = max(p.shape[across] for p in panels)
    out = np.full((size[0], size[1], 3), 255, np.uint8)
    at = 0
    for p in panels:
        where = [slice(0, p.shape[0]), slice(0, p.shape[1])]
        where[axis] = slice(at, at + p.shape[axis])
        out[tuple(where)] = p
        at += p.shape[axis] + gap
    return out


def short_name(name: str, n: int = 4) -> str:
    """``middle_face`` -> ``midf``: a column label that fits a heat-map cell."""
    parts = name.split("_")
    return (parts[0][:2] + parts[1][:2]) if len(parts) > 1 and n == 4 else name[:n]


def matrix_heatmap(
    matrix: np.ndarray,
    names: Sequence[str],
    title: str,
    *,
    vmax: float | None = None,
    cell: int = 30,
    cmap: str = "viridis",
    row_label: str = "i (receives)",
    col_label: str = "j (sends)",
) -> np.ndarray:
    """A K x K matrix as a labelled heat map with values in the cells (uint8 RGB).

    Used for the affinity e_ij of Eq. 2 (row i = what group i receives from group j, the
    diagonal is not an edge and stays blank) and for label co-occurrence.
    """
    m = np.asarray(matrix, np.float64)
    k = m.shape[0]
    off = ~np.eye(k, dtype=bool)
    top = float(vmax if vmax is not None else (m[off].max() if k > 1 else m.max()) or 1.0)
    left, head = 86, 34
    img = Image.new("RGB", (left + k * cell + 4, head + k * cell + 16), (255, 255, 255))
    d = ImageDraw.Draw(img)
    f = _font(10)
    d.text((2, 1), title, fill=(0, 0, 0), font=_font(11))
    d.text((left, head - 13), col_label, fill=(90, 90, 90), font=f)
    lut = colormap_lut(cmap)
    for i in range(k):
        d.text((2, head + i * cell + cell // 2 - 6), names[i][:14], fill=(0, 0, 0), font=f)
        d.text(
            (left + i * cell + 3, head + k * cell + 2), short_name(names[i]), fill=(0, 0, 0), font=f
        )
        for j in range(k):
            x0, y0 = left + j * cell, head + i * cell
            if i == j:
                d.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=(235, 235, 235))
                continue
            v = min(max(m[i, j] / top, 0.0), 1.0)
            c = tuple(int(t) for t in lut[int(v * 255)])
            d.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=c)
            ink = (0, 0, 0) if sum(c) > 380 else (255, 255, 255)
            d.text(
                (x0 + 3, y0 + cell // 2 - 6),
                f"{m[i, j]:.2f}"[1:] if m[i, j] < 1 else "1.0",
                fill=ink,
                font=f,
            )
    d.text((2, head + k * cell + 2), row_label, fill=(90, 90, 90), font=f)
    return np.asarray(img)


def affinity_graph(
    matrix: np.ndarray,
    names: Sequence[str],
    threshold: float,
    title: str,
    *,
    size: int = 300,
) -> np.ndarray:
    """The directed graph of Eq. 2: an arrow j -> i for every e_ij >= ``threshold``.

    Arrow width and colour grow with e_ij; e_ij and e_ji are drawn as two offset arrows, so
    the asymmetry the paper insists on (Sec. 3.2, e_ij != e_ji) is visible.
    """
    m = np.asarray(matrix, np.float64)
    k = m.shape[0]
    img = Image.new("RGB", (size, size + 18), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.text((2, 1), title, fill=(0, 0, 0), font=_font(11))
    cx, cy, r, node_r = size / 2, size / 2 + 18, size / 2 - 42, 13
    ang = [-math.pi / 2 + 2 * math.pi * t / k for t in range(k)]
    pos = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in ang]
    lut = colormap_lut("plasma")
    top = max(float(m[~np.eye(k, dtype=bool)].max()) if k > 1 else 1.0, 1e-6)
    edges = [(m[i, j], j, i) for i in range(k) for j in range(k) if i != j and m[i, j] >= threshold]
    for e, j, i in sorted(edges):  # strongest drawn last, on top
        (x0, y0), (x1, y1) = pos[j], pos[i]
        dx, dy = x1 - x0, y1 - y0
        length = math.hypot(dx, dy) or 1.0
        ux, uy = dx / length, dy / length
        px, py = -uy * 3.5, ux * 3.5  # offset: j->i and i->j do not overlap
        sx, sy = x0 + ux * node_r + px, y0 + uy * node_r + py
        tx, ty = x1 - ux * (node_r + 2) + px, y1 - uy * (node_r + 2) + py
        c = tuple(int(t) for t in lut[int(min(e / top, 1.0) * 200)])
        d.line([(sx, sy), (tx, ty)], fill=c, width=max(1, int(1 + 5 * e / top)))
        hx, hy = tx - ux * 9, ty - uy * 9
        d.polygon([(tx, ty), (hx + uy * 5, hy - ux * 5), (hx - uy * 5, hy + ux * 5)], fill=c)
    for (x, y), name in zip(pos, names, strict=True):
        d.ellipse(
            [x - node_r, y - node_r, x + node_r, y + node_r],
            fill=(230, 240, 255),
            outline=(40, 90, 200),
            width=2,
        )
        d.text((x - 10, y - 6), short_name(name), fill=(0, 0, 0), font=_font(10))
    d.text(
        (2, size + 4),
        f"{len(edges)} edges with e_ij >= {threshold:.2f}",
        fill=(90, 90, 90),
        font=_font(10),
    )
    return np.asarray(img)


def encode_png(frame: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 frame (fast zlib level: ~2 ms for a 700 x 250 frame)."""
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def data_url(frame: np.ndarray, fmt: str = "JPEG", quality: int = 85) -> str:
    """A ``data:`` URL of the frame, for the static scrubber's precomputed frames."""
    buf = io.BytesIO()
    kw = {"quality": quality} if fmt == "JPEG" else {"compress_level": 6}
    Image.fromarray(frame).save(buf, format=fmt, **kw)
    mime = "jpeg" if fmt == "JPEG" else "png"
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")
