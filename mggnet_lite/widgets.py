"""Explorer widgets (chapter 7): scrub what GAL and GCL learned, live and in the static site.

* :class:`MaskScrubber` shows the group attention masks M_i^b of GAL (paper Eq. 1) over the
  image, block by block as in the paper's Fig. 2 (Sec. 4.3: block 3 outlines the small
  regions, block 4 the large ones), with the group's attributes, predicted vs true.
* :class:`AffinityExplorer` shows the directed affinities e_ij of GCL (Eq. 2; row i is what
  group i receives from group j) for one image and averaged over a split, as a matrix and as
  a graph of the strongest edges, beside the label co-occurrence of the same group pair.
* :func:`frame_scrubber` precomputes frames for a few images into a :class:`FrameScrubber`,
  an anywidget whose JavaScript scrubs them: it works in the static site with no kernel and
  no network (shared/FINDINGS.md), where the Python-driven controls above cannot.

Both live widgets run the model once per image and cache the outputs, so a control change
only re-draws: frames are composed from NumPy arrays and sent as one PNG (a few ms), not a
matplotlib figure. Every control is in ``widget.controls`` (DESIGN Sec. 3), so code and
tests drive them by setting ``.value`` (or calling ``.click()`` on the buttons).
"""

from __future__ import annotations

import base64
import io
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

try:
    import ipywidgets as W
    import traitlets as T
except ImportError as exc:  # pragma: no cover - the book extra is missing
    raise ImportError(
        "mggnet_lite.widgets needs ipywidgets: pip install 'mggnet-lite[book]'"
    ) from exc

try:
    import anywidget
except ImportError:  # pragma: no cover - then the static scrubber is unavailable
    anywidget = None

from .analysis import group_cooccurrence
from .attributes import GROUPS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BOTH = "both"
ONE, ALL = "one group", "all groups"
IMAGE, AVERAGE = "this image", "average"
COOC_STATS = {"P(a | b)": "conditional", "|P(a | b) - P(a)|": "dependence"}

# ======================================================================================
# Raster figures: NumPy / PIL, a few ms each (so a control step re-draws in time)
# ======================================================================================

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
    h = max(p.shape[0] for p in panels)
    w = sum(p.shape[1] for p in panels) + gap * (len(panels) - 1)
    out = np.full((h, w, 3), 255, np.uint8)
    x = 0
    for p in panels:
        out[: p.shape[0], x : x + p.shape[1]] = p
        x += p.shape[1] + gap
    return out


def vstack(rows: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """Rows one under the other on white, left-aligned."""
    w = max(r.shape[1] for r in rows)
    h = sum(r.shape[0] for r in rows) + gap * (len(rows) - 1)
    out = np.full((h, w, 3), 255, np.uint8)
    y = 0
    for r in rows:
        out[y : y + r.shape[0], : r.shape[1]] = r
        y += r.shape[0] + gap
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


# ======================================================================================
# Model outputs, computed once per image
# ======================================================================================


@runtime_checkable
class HasGroupMasks(Protocol):
    """Optional: a dataset that knows the true part regions of its images.

    ``group_masks(index)`` returns bool (K, H, W) in ``GROUPS`` order, aligned with the image.
    SynthFaces folders are recognised without it (``synthfaces.json`` + ``group_masks/``).
    """

    def group_masks(self, index: int) -> np.ndarray: ...


def ground_truth_source(dataset: Any) -> Callable[[int], np.ndarray] | None:
    """A function index -> true group masks (K, H, W) for ``dataset``, or None if it has none."""
    fn = getattr(dataset, "group_masks", None)
    if callable(fn):
        return fn
    bases = [getattr(dataset, a, None) for a in ("data_root", "root")]
    root = getattr(dataset, "root", None)
    if root is not None:
        bases.append(Path(root).parent)
    for base in bases:
        if base is None:
            continue
        base = Path(base)
        if (base / "synthfaces.json").is_file() and (base / "group_masks").is_dir():
            from .data.synthfaces import load_group_masks

            names = getattr(dataset, "filenames", None)
            return lambda i, b=base, n=names: load_group_masks(b, n[i] if n is not None else i)
    return None


@dataclass
class ImageOutputs:
    """Everything the explorers show about one image (numpy, on the CPU)."""

    index: int
    name: str
    image: np.ndarray  # (H, W, 3) uint8 as displayed
    target: np.ndarray | None  # (N,) 0/1, or None if unknown
    probs: np.ndarray  # (N,) Y_a (Eq. 4)
    masks: dict[str, np.ndarray]  # block -> (K, h, w) M_i^b (Eq. 1)
    affinity: dict[str, np.ndarray]  # block -> (K, K) e_ij (Eq. 2)


def _to_pil(img: Any) -> Image.Image:
    if isinstance(img, Image.Image):
        return img.convert("RGB")
    if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3:
        return Image.fromarray(img[..., :3])
    raise TypeError(
        f"the explorer needs the dataset's raw images (PIL or uint8 HxWx3), got {type(img).__name__}"
        "; pass the dataset without a transform (it resizes and normalises itself)"
    )


class OutputCache:
    """Runs ``model`` on dataset images on demand and keeps the outputs (LRU).

    The image is resized to ``image_size`` squared and normalised with ImageNet statistics,
    as the training loader does; the model runs in eval mode under ``inference_mode``.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        dataset: Any,
        *,
        image_size: int = 224,
        device: str | torch.device = "cpu",
        max_items: int = 512,
        display_max: int = 256,
    ) -> None:
        self.model, self.dataset = model, dataset
        self.image_size, self.device = int(image_size), torch.device(device)
        self.max_items, self.display_max = max_items, display_max
        self._items: OrderedDict[int, ImageOutputs] = OrderedDict()
        self._mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        self.forward_seconds = 0.0

    def __len__(self) -> int:
        return len(self.dataset)

    def check_index(self, index: int) -> None:
        """Raise IndexError with a readable message unless 0 <= index < len(dataset)."""
        n = len(self.dataset)
        if not isinstance(index, int | np.integer) or not 0 <= int(index) < n:
            raise IndexError(
                f"image index {index} is out of range: this dataset has {n} images (0 ... {n - 1})"
            )

    def _load(self, index: int) -> tuple[Image.Image, np.ndarray | None, str]:
        ds = self.dataset
        if hasattr(ds, "load_image") and hasattr(ds, "attr"):
            img, target = ds.load_image(index), ds.attr[index]
        else:
            img, target = ds[index]
        names = getattr(ds, "filenames", None)
        name = str(names[index]) if names is not None else f"#{index}"
        tgt = None if target is None else np.asarray(torch.as_tensor(target)).astype(np.int64)
        return _to_pil(img), tgt, name

    def get(self, index: int) -> ImageOutputs:
        """The outputs of image ``index`` (computed now if not cached)."""
        return self.many([index])[0]

    def many(self, indices: Iterable[int], batch_size: int = 16) -> list[ImageOutputs]:
        """Outputs of several images; the missing ones run through the model in batches."""
        idx = [int(i) for i in indices]
        for i in idx:
            self.check_index(i)
        todo = list(dict.fromkeys(i for i in idx if i not in self._items))
        for s in range(0, len(todo), batch_size):
            self._compute(todo[s : s + batch_size])
        out = []
        for i in idx:
            self._items.move_to_end(i)
            out.append(self._items[i])
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return out

    def _compute(self, indices: list[int]) -> None:
        loaded = [self._load(i) for i in indices]
        s = self.image_size
        x = (
            torch.stack(
                [
                    torch.from_numpy(
                        np.asarray(img.resize((s, s), Image.BILINEAR), np.uint8).copy()
                    )
                    for img, _, _ in loaded
                ]
            )
            .permute(0, 3, 1, 2)
            .float()
            .div_(255)
        )
        x = ((x - self._mean) / self._std).to(self.device)
        t0 = time.perf_counter()
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                out = self.model(x)
        finally:
            self.model.train(was_training)
        self.forward_seconds += time.perf_counter() - t0
        probs = out.probs.float().cpu().numpy()
        masks = {b: m.float().cpu().numpy() for b, m in out.masks.items()}
        aff = {b: a.float().cpu().numpy() for b, a in out.affinity.items()}
        for k, (i, (img, tgt, name)) in enumerate(zip(indices, loaded, strict=True)):
            if max(img.size) > self.display_max:  # keep frames small: they travel as PNG
                scale = self.display_max / max(img.size)
                img = img.resize(
                    (round(img.width * scale), round(img.height * scale)), Image.BILINEAR
                )
            self._items[i] = ImageOutputs(
                index=i,
                name=name,
                image=np.asarray(img, np.uint8),
                target=tgt,
                probs=probs[k],
                masks={b: m[k] for b, m in masks.items()},
                affinity={b: a[k] for b, a in aff.items()},
            )


# ======================================================================================
# Shared widget plumbing
# ======================================================================================

_NOTE_ESM = r"""
function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "mggnet-kernel-note mggnet-note-static";
  box.textContent = model.get("static_text");
  el.appendChild(box);
  model.on("msg:custom", (msg) => {
    if (msg && msg.alive) {
      box.className = "mggnet-kernel-note mggnet-note-live";
      box.textContent = model.get("live_text");
    }
  });
  // A running kernel answers this; the static page has none, so the warning stays.
  try { model.send({ ping: 1 }); } catch (e) { /* no kernel: keep the warning */ }
}
export default { render };
"""

_NOTE_CSS = """
.mggnet-kernel-note { font-size: 12px; padding: 3px 8px; border-radius: 4px; margin: 2px 0; }
.mggnet-note-static { background: #fff3cd; color: #664d03; border: 1px solid #ffe69c; }
.mggnet-note-live { background: #e8f4ea; color: #1e4620; border: 1px solid #b7dfc0; }
"""

if anywidget is not None:

    class KernelNote(anywidget.AnyWidget):
        """Says, in the page itself, whether the controls beside it can work.

        The JavaScript pings the kernel when the view renders; only a live kernel answers.
        In the static site nobody answers, so the reader sees that these controls need
        Python (instead of controls that silently do nothing).
        """

        _esm = _NOTE_ESM
        _css = _NOTE_CSS
        static_text = T.Unicode("").tag(sync=True)
        live_text = T.Unicode("").tag(sync=True)

        def __init__(self, static_text: str, live_text: str) -> None:
            super().__init__(static_text=static_text, live_text=live_text)
            self.on_msg(self._answer)

        def _answer(self, _widget: Any, content: Any, _buffers: Any) -> None:
            if isinstance(content, dict) and content.get("ping"):
                self.send({"alive": True})


def _kernel_note(what: str) -> W.Widget:
    static = (
        f"Static page: the controls of this {what} run Python, so they need a live kernel "
        "(open the notebook in JupyterLab); here they do nothing. The precomputed scrubber "
        "further down works without one."
    )
    live = f"Live kernel connected: every control of this {what} works."
    if anywidget is None:
        return W.HTML(f'<div style="font-size:12px;color:#664d03">{static}</div>')
    return KernelNote(static, live)


def _message_html(text: str) -> str:
    if not text:
        return ""
    return (
        '<div class="mggnet-message" style="background:#fdecea;color:#611a15;'
        f'border:1px solid #f5c2c7;padding:4px 8px;border-radius:4px">{text}</div>'
    )


class _Explorer(W.VBox):
    """Common parts: cache, image list, prev / next / index / goto, message, frame, timing."""

    what = "explorer"

    def __init__(
        self,
        model: torch.nn.Module,
        dataset: Any,
        *,
        image_size: int,
        indices: Sequence[int] | None,
        device: str | torch.device,
        precompute: bool,
        cache: OutputCache | None = None,
        default_count: int = 32,
    ) -> None:
        super().__init__()
        self.model, self.dataset = model, dataset
        if cache is not None and (cache.model is not model or cache.dataset is not dataset):
            raise ValueError("cache= belongs to another model or dataset")
        self.cache = cache or OutputCache(model, dataset, image_size=image_size, device=device)
        n = len(dataset)
        self.indices = [
            int(i) for i in (range(min(n, default_count)) if indices is None else indices)
        ]
        if not self.indices:
            raise ValueError("indices is empty: give at least one image index")
        self.node_names: tuple[str, ...] = tuple(getattr(model, "node_names", GROUPS))
        self.groups = dict(getattr(model, "groups", GROUPS))
        self.attributes: tuple[str, ...] = tuple(getattr(model, "attributes", ()))
        self.frame = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.header = W.HTML()
        self.message = W.HTML()
        self.note = _kernel_note(self.what)
        self.render_seconds: list[float] = []
        self.current: int = self.indices[0]
        self.controls: dict[str, W.Widget] = {
            "index": W.IntSlider(
                0,
                min=0,
                max=len(self.indices) - 1,
                description="image",
                continuous_update=True,
                layout=W.Layout(width="340px"),
            ),
            "prev": W.Button(description="◀ prev", layout=W.Layout(width="70px")),
            "next": W.Button(description="next ▶", layout=W.Layout(width="70px")),
            "goto": W.IntText(
                self.indices[0], description="dataset #", layout=W.Layout(width="170px")
            ),
        }
        if precompute:
            valid = [i for i in self.indices if 0 <= i < n]
            self.cache.many(valid)

    def _wire(self) -> None:
        c = self.controls
        c["prev"].on_click(lambda _b: self._step(-1))
        c["next"].on_click(lambda _b: self._step(+1))
        c["index"].observe(self._on_index, names="value")
        c["goto"].observe(lambda ch: self.show(ch["new"]), names="value")
        for name, ctl in c.items():
            if name not in ("index", "prev", "next", "goto"):
                ctl.observe(lambda _ch: self.redraw(), names="value")

    def _step(self, delta: int) -> None:
        s = self.controls["index"]
        s.value = min(max(s.value + delta, s.min), s.max)

    def _on_index(self, change: Mapping[str, Any]) -> None:
        self.show(self.indices[change["new"]])

    def show(self, index: int) -> None:
        """Show dataset image ``index`` (any index, not only the slider's list)."""
        try:
            self.cache.check_index(index)
        except IndexError as exc:
            self.message.value = _message_html(str(exc))
            return
        self.current = int(index)
        self.redraw()

    def redraw(self) -> None:
        """Draw the current state of the controls (timed: ``render_seconds``)."""
        t0 = time.perf_counter()
        try:
            self.cache.check_index(self.current)
            item = self.cache.get(self.current)
            self.message.value = _message_html(self._problem())
            self._draw(item)
        except IndexError as exc:
            self.message.value = _message_html(str(exc))
        self.render_seconds.append(time.perf_counter() - t0)

    def _problem(self) -> str:
        return ""

    def _draw(self, item: ImageOutputs) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def frame_array(self) -> np.ndarray:
        """The displayed frame as an (H, W, 3) uint8 array (decoded from the PNG)."""
        return np.asarray(Image.open(io.BytesIO(self.frame.value)).convert("RGB"))

    def benchmark(
        self, steps: Mapping[str, Sequence[Any]] | None = None, repeat: int = 3
    ) -> dict[str, float]:
        """Median re-draw time (ms) of one step of each control, after a first render.

        ``steps`` maps a control name to values to set in turn (default: a few per control).
        The controls are left as they were.
        """
        steps = steps or self._default_steps()
        result: dict[str, float] = {}
        for name, values in steps.items():
            ctl = self.controls[name]
            old = ctl.value
            times = []
            for _ in range(repeat):
                for v in values:
                    if v == ctl.value:
                        continue
                    n0 = len(self.render_seconds)
                    ctl.value = v
                    times.extend(self.render_seconds[n0:])
            ctl.value = old
            result[name] = 1000 * float(np.median(times)) if times else float("nan")
        return result

    def _default_steps(self) -> dict[str, Sequence[Any]]:
        c = self.controls
        return {"index": [1 % (c["index"].max + 1), 0]}


# ======================================================================================
# MaskScrubber: GAL's group attention masks (Eq. 1, Fig. 2)
# ======================================================================================


class MaskScrubber(_Explorer):
    """Scrub images and groups; see each group's attention mask M_i^b (Eq. 1) over the image.

    Controls (``self.controls``): ``index`` (slider over ``indices``), ``prev`` / ``next``,
    ``goto`` (any dataset index), ``group``, ``block`` (each tapped block, or ``"both"``
    side by side, as in Fig. 2), ``opacity``, ``gt`` (the true part region beside the learned
    mask, where the dataset has one: SynthFaces), ``view`` (``"one group"`` / ``"all groups"``:
    the K masks of the image at once). Below the frame: the group's attributes, predicted
    probability Y_a (Eq. 4) vs the label.

    ``indices``: the images the slider scrubs (default the first 32), computed up front
    when ``precompute``; ``image_size``: the model's input size (use the training size);
    ``cache``: another explorer's :class:`OutputCache` of the same model and dataset, to
    share its outputs (e.g. ``AffinityExplorer(..., cache=scrubber.cache)``).
    """

    what = "mask scrubber"

    def __init__(
        self,
        model: torch.nn.Module,
        dataset: Any,
        *,
        image_size: int = 224,
        indices: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        precompute: bool = True,
        opacity: float = 0.5,
        cache: OutputCache | None = None,
    ) -> None:
        super().__init__(
            model,
            dataset,
            image_size=image_size,
            indices=indices,
            device=device,
            precompute=precompute,
            cache=cache,
        )
        self.gt_source = ground_truth_source(dataset)
        self._gt_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._up_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        probe = self.cache.get(self.indices[0]) if 0 <= self.indices[0] < len(dataset) else None
        self.blocks: tuple[str, ...] = tuple(probe.masks) if probe is not None else ()
        block_opts = list(self.blocks) + ([BOTH] if len(self.blocks) > 1 else [])
        gt_names = tuple(GROUPS)
        self._gt_rows = [gt_names.index(n) if n in gt_names else None for n in self.node_names]
        self.controls.update(
            {
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
                "opacity": W.FloatSlider(
                    opacity,
                    min=0.0,
                    max=1.0,
                    step=0.05,
                    description="opacity",
                    continuous_update=True,
                    layout=W.Layout(width="300px"),
                ),
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
        )
        if not self.blocks:
            for name in ("block", "opacity", "view"):
                self.controls[name].disabled = True
        self.table = W.HTML()
        self.frame.add_class("mggnet-mask-frame")
        self.add_class("mggnet-mask-scrubber")
        c = self.controls
        self.children = [
            self.note,
            W.HBox([c["prev"], c["index"], c["next"], c["goto"]]),
            W.HBox([c["group"], c["opacity"], c["gt"]]),
            W.HBox([c["block"], c["view"]]),
            self.message,
            self.header,
            self.frame,
            self.table,
        ]
        self._wire()
        self.redraw()

    # -- data helpers ------------------------------------------------------------------
    def _problem(self) -> str:
        if not self.blocks:
            variant = getattr(self.model, "variant", type(self.model).__name__)
            return (
                f"This model ({variant!r}) has no group attention masks: GAL (Eq. 1) is not "
                "part of it. Build a 'gal' or 'mggnet' model to see masks; the predictions "
                "below still work."
            )
        return ""

    def ground_truth(self, index: int) -> np.ndarray | None:
        """True part regions (K, H, W) bool of image ``index`` at display size, or None."""
        if self.gt_source is None:
            return None
        if index not in self._gt_cache:
            gt = np.asarray(self.gt_source(index), bool)
            h, w = self.cache.get(index).image.shape[:2]
            if gt.shape[1:] != (h, w):
                gt = resize_mask(gt.astype(np.float32), (h, w)) > 0.5
            self._gt_cache[index] = gt
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
        self.table.value = self._table(item, c["group"].value)

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
            row = self._gt_rows[g]
            region = gt[row] if row is not None else np.zeros(size, bool)
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
                r = self._gt_rows[k]
                reg = gt[r] if r is not None else np.zeros((h, w), bool)
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

    def _table(self, item: ImageOutputs, node: str) -> str:
        attrs = self.attributes
        members = self.groups.get(node, (node,) if node in attrs else ())
        rows = []
        for a in members:
            t = attrs.index(a)
            p = float(item.probs[t])
            truth = None if item.target is None else int(item.target[t])
            ok = "" if truth is None else ("✓" if (p >= 0.5) == bool(truth) else "✗")
            bar = (
                f'<div style="background:#dde;width:100px;height:10px;display:inline-block">'
                f'<div style="background:#3b6fd4;width:{p * 100:.0f}px;height:10px"></div>'
                "</div>"
            )
            rows.append(
                f"<tr><td>{a}</td><td>{bar} {p:.2f}</td>"
                f"<td>{'?' if truth is None else truth}</td><td>{ok}</td></tr>"
            )
        return (
            '<table class="mggnet-attr-table" style="font-size:12px">'
            "<tr><th>attribute</th><th>predicted Y<sub>a</sub></th><th>label</th><th></th>"
            f"</tr>{''.join(rows)}</table>"
        )

    def _default_steps(self) -> dict[str, Sequence[Any]]:
        c = self.controls
        steps: dict[str, Sequence[Any]] = {
            "index": [1 % (c["index"].max + 1), 0],
            "group": [self.node_names[1 % len(self.node_names)], self.node_names[0]],
            "opacity": [0.8, 0.5],
            "view": [ALL, ONE],
        }
        if self.blocks:
            steps["block"] = list(c["block"].options)
        if self.gt_source is not None:
            steps["gt"] = [True, False]
        return steps


# ======================================================================================
# AffinityExplorer: GCL's directed affinities (Eq. 2) vs label co-occurrence
# ======================================================================================


class AffinityExplorer(_Explorer):
    """The K x K affinities e_ij of GCL (Eq. 2) per block: one image, or averaged.

    Panels: the matrix (row i = what group i receives from group j), a directed graph of
    the edges with e_ij >= ``threshold``, and the label co-occurrence of the same group pair
    (:func:`group_cooccurrence`, rows normalised like e_ij) for comparison, with the Pearson
    correlation of their off-diagonal entries. The average runs over ``average_over`` images
    of the dataset (default its first 64) and the co-occurrence over its labels.

    Controls: ``index``, ``prev``, ``next``, ``goto``, ``block``, ``scope`` (``"this image"`` /
    ``"average"``), ``threshold`` (edge threshold), ``cooc`` (which co-occurrence statistic).
    """

    what = "affinity explorer"

    def __init__(
        self,
        model: torch.nn.Module,
        dataset: Any,
        *,
        image_size: int = 224,
        indices: Sequence[int] | None = None,
        average_over: Sequence[int] | int | None = 64,
        device: str | torch.device = "cpu",
        precompute: bool = True,
        cache: OutputCache | None = None,
    ) -> None:
        super().__init__(
            model,
            dataset,
            image_size=image_size,
            indices=indices,
            device=device,
            precompute=precompute,
            cache=cache,
        )
        n = len(dataset)
        if average_over is None:
            avg_idx = list(range(n))
        elif isinstance(average_over, int):
            avg_idx = list(range(min(n, average_over)))
        else:
            avg_idx = [int(i) for i in average_over]
        self.average_indices = avg_idx
        items = self.cache.many(avg_idx)
        self.blocks: tuple[str, ...] = tuple(items[0].affinity) if items else ()
        self.mean_affinity = {
            b: np.mean([it.affinity[b] for it in items], axis=0) for b in self.blocks
        }
        self.labels = self._labels(avg_idx)
        k = len(self.node_names)
        self._cooc: dict[str, np.ndarray] = {}
        self.controls.update(
            {
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
                "threshold": W.FloatSlider(
                    round(1.5 / max(k - 1, 1), 2),
                    min=0.0,
                    max=1.0,
                    step=0.01,
                    description="edges ≥",
                    continuous_update=True,
                    layout=W.Layout(width="300px"),
                ),
                "cooc": W.Dropdown(
                    options=list(COOC_STATS),
                    value=list(COOC_STATS)[1],
                    description="labels",
                    layout=W.Layout(width="260px"),
                ),
            }
        )
        if not self.blocks:
            for name in ("block", "scope", "threshold"):
                self.controls[name].disabled = True
        self.text = W.HTML()
        self.frame.add_class("mggnet-affinity-frame")
        self.add_class("mggnet-affinity-explorer")
        c = self.controls
        self.children = [
            self.note,
            W.HBox([c["prev"], c["index"], c["next"], c["goto"]]),
            W.HBox([c["block"], c["scope"]]),
            W.HBox([c["threshold"], c["cooc"]]),
            self.message,
            self.header,
            self.frame,
            self.text,
        ]
        self._wire()
        self.redraw()

    def _labels(self, idx: list[int]) -> np.ndarray | None:
        attr = getattr(self.dataset, "attr", None)
        if attr is not None:
            return np.asarray(torch.as_tensor(attr)).astype(np.float64)
        rows = [self.cache.get(i).target for i in idx]
        return None if any(r is None for r in rows) else np.stack(rows).astype(np.float64)

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
        if not self.blocks:
            variant = getattr(self.model, "variant", type(self.model).__name__)
            return (
                f"This model ({variant!r}) has no graph affinities: GCL (Eq. 2) is only in "
                "the 'mggnet' variant. The label co-occurrence below is still shown."
            )
        return ""

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
        steps: dict[str, Sequence[Any]] = {
            "index": [1 % (c["index"].max + 1), 0],
            "threshold": [0.3, c["threshold"].value],
            "cooc": list(COOC_STATS),
        }
        if self.blocks:
            steps["block"] = list(c["block"].options)
            steps["scope"] = [AVERAGE, IMAGE]
        return steps


# ======================================================================================
# FrameScrubber: precomputed frames scrubbed by JavaScript (works in the static site)
# ======================================================================================

_FRAMES_ESM = r"""
function render({ model, el }) {
  const K = model.get("groups").length, blocks = model.get("blocks");
  const B = blocks.length, N = model.get("images").length;
  const root = document.createElement("div");
  root.className = "mggnet-frames";
  root.innerHTML = `
    <div class="mf-note">Precomputed for ${N} images: this scrubber runs in your browser and
      works without a kernel. Opacity and other images need the live widgets above.</div>
    <div class="mf-row">
      <button class="mf-prev">◀</button>
      <input class="mf-index" type="range" min="0" max="${N - 1}" step="1">
      <button class="mf-next">▶</button> <span class="mf-label"></span>
    </div>
    <div class="mf-row">group <select class="mf-group"></select>
      block <select class="mf-block"></select>
      <label class="mf-gt-wrap"><input class="mf-gt" type="checkbox"> ground truth</label>
    </div>
    <div class="mf-panels"></div>
    <div class="mf-table"></div>`;
  el.appendChild(root);
  const $ = (s) => root.querySelector(s);
  const slider = $(".mf-index"), group = $(".mf-group"), block = $(".mf-block");
  const gt = $(".mf-gt"), panels = $(".mf-panels");
  model.get("groups").forEach((g, k) => group.add(new Option(g, k)));
  [...blocks, ...(B > 1 ? ["both"] : [])].forEach((b) => block.add(new Option(b, b)));
  if (!model.get("gt_frames").length) $(".mf-gt-wrap").style.display = "none";

  function frame(src, title) {
    const fig = document.createElement("figure");
    fig.innerHTML = `<figcaption>${title}</figcaption>`;
    const img = document.createElement("img");
    img.src = src; img.alt = title; img.className = "mf-frame";
    fig.prepend(img);
    return fig;
  }
  function draw() {
    const i = model.get("index"), g = model.get("group"), b = model.get("block");
    slider.value = i; group.value = g; block.value = b;
    $(".mf-label").textContent = `image ${i + 1} / ${N}: ${model.get("images")[i]}`;
    panels.replaceChildren();
    panels.appendChild(frame(model.get("image_frames")[i], "image"));
    const shown = b === "both" ? blocks : [b];
    const gname = model.get("groups")[g];
    for (const s of shown) {
      const t = blocks.indexOf(s);
      panels.appendChild(frame(model.get("mask_frames")[(i * K + g) * B + t], `${s}: ${gname}`));
    }
    if (gt.checked && model.get("gt_frames").length) {
      panels.appendChild(frame(model.get("gt_frames")[i * K + g], `true region: ${gname}`));
    }
    $(".mf-table").innerHTML = model.get("tables")[i * K + g];
  }
  function set(name, value) {
    model.set(name, value);
    try { model.save_changes(); } catch (e) { /* static page: no kernel to tell */ }
    draw();
  }
  slider.addEventListener("input", () => set("index", Number(slider.value)));
  $(".mf-prev").addEventListener("click", () => set("index", Math.max(0, model.get("index") - 1)));
  $(".mf-next").addEventListener("click", () => set("index", Math.min(N - 1, model.get("index") + 1)));
  group.addEventListener("change", () => set("group", Number(group.value)));
  block.addEventListener("change", () => set("block", block.value));
  gt.addEventListener("change", draw);
  for (const name of ["index", "group", "block"]) model.on(`change:${name}`, draw);
  draw();
}
export default { render };
"""

_FRAMES_CSS = """
.mggnet-frames { font-size: 13px; }
.mggnet-frames .mf-note { font-size: 12px; color: #1e4620; background: #e8f4ea;
  border: 1px solid #b7dfc0; border-radius: 4px; padding: 3px 8px; margin-bottom: 4px; }
.mggnet-frames .mf-row { margin: 4px 0; display: flex; gap: 6px; align-items: center; }
.mggnet-frames .mf-index { width: 260px; }
.mggnet-frames .mf-panels { display: flex; gap: 6px; }
.mggnet-frames figure { margin: 0; }
.mggnet-frames figcaption { font-size: 11px; text-align: center; }
.mggnet-frames table { font-size: 12px; }
"""

if anywidget is not None:

    class FrameScrubber(anywidget.AnyWidget):
        """Frames precomputed in Python, scrubbed by JavaScript: works with no kernel.

        Frames are ``data:`` URLs in synced traits, so the static site's widget state holds
        them all. Layout: ``mask_frames[(i * K + g) * B + b]`` (image i, group g, block b),
        ``gt_frames[i * K + g]`` (empty list: no ground truth), ``tables[i * K + g]``.
        ``index`` / ``group`` / ``block`` are synced both ways (Python can drive it too).
        """

        _esm = _FRAMES_ESM
        _css = _FRAMES_CSS
        images = T.List(T.Unicode()).tag(sync=True)
        groups = T.List(T.Unicode()).tag(sync=True)
        blocks = T.List(T.Unicode()).tag(sync=True)
        image_frames = T.List(T.Unicode()).tag(sync=True)
        mask_frames = T.List(T.Unicode()).tag(sync=True)
        gt_frames = T.List(T.Unicode()).tag(sync=True)
        tables = T.List(T.Unicode()).tag(sync=True)
        index = T.Int(0).tag(sync=True)
        group = T.Int(0).tag(sync=True)
        block = T.Unicode("").tag(sync=True)

        def shown_sources(self, gt: bool = False) -> list[str]:
            """The data URLs the JavaScript shows for the current state (for tests)."""
            k, nb = len(self.groups), len(self.blocks)
            i, g = self.index, self.group
            shown = self.blocks if self.block == BOTH else [self.block]
            out = [self.image_frames[i]]
            out += [self.mask_frames[(i * k + g) * nb + self.blocks.index(b)] for b in shown]
            if gt and self.gt_frames:
                out.append(self.gt_frames[i * k + g])
            return out


def frame_scrubber(
    model: torch.nn.Module,
    dataset: Any,
    *,
    indices: Sequence[int] = range(8),
    image_size: int = 224,
    opacity: float = 0.5,
    device: str | torch.device = "cpu",
    quality: int = 85,
    cache: OutputCache | None = None,
) -> FrameScrubber:
    """A :class:`FrameScrubber` over ``indices``: every (image, group, block) mask overlay,
    the true regions where the dataset has them, and the attribute tables, precomputed.

    Size: about 6-9 KB per JPEG frame, so 8 images x 8 groups x 2 blocks is about 1.5 MB
    of page. Raises ValueError for a model without masks (nothing to scrub). ``cache``: an
    explorer's :class:`OutputCache` of the same model and dataset, to reuse its outputs.
    """
    if anywidget is None:  # pragma: no cover
        raise ImportError("frame_scrubber needs anywidget: pip install 'anywidget>=0.9'")
    sc = MaskScrubber(
        model,
        dataset,
        image_size=image_size,
        indices=list(indices),
        device=device,
        opacity=opacity,
        cache=cache,
    )
    if not sc.blocks:
        raise ValueError(sc._problem())
    nodes = sc.node_names
    image_frames, mask_frames, gt_frames, tables, names = [], [], [], [], []
    for i in sc.indices:
        item = sc.cache.get(i)
        names.append(item.name)
        image_frames.append(data_url(item.image, quality=quality))
        size = item.image.shape[:2]
        gt = sc.ground_truth(i)
        for g, node in enumerate(nodes):
            for b in sc.blocks:
                m = sc.upsampled(i, b, size)[g]
                mask_frames.append(data_url(mask_overlay(item.image, m, opacity), quality=quality))
            if gt is not None:
                row = sc._gt_rows[g]
                reg = gt[row] if row is not None else np.zeros(size, bool)
                gt_frames.append(data_url(region_overlay(item.image, reg), quality=quality))
            tables.append(sc._table(item, node))
    sc.close()
    w = FrameScrubber(
        images=names,
        groups=list(nodes),
        blocks=list(sc.blocks),
        image_frames=image_frames,
        mask_frames=mask_frames,
        gt_frames=gt_frames,
        tables=tables,
        index=0,
        group=0,
        block=BOTH if len(sc.blocks) > 1 else sc.blocks[0],
    )
    w.add_class("mggnet-frame-scrubber")
    return w


# ======================================================================================
# Offline assets for the static site
# ======================================================================================

_REQUIRE_CONFIG = """// Written by `python -m mggnet_lite.widgets offline-assets DIR` (see mggnet_lite/widgets.py).
// Maps the AMD module "anywidget" to the copy beside this file, so the ipywidgets HTML
// manager loads it from this site instead of falling back to a CDN (static pages work offline).
(function () {
  var src = document.currentScript && document.currentScript.src;
  if (!src || !window.requirejs) { return; }
  var here = src.substring(0, src.lastIndexOf("/") + 1);
  window.requirejs.config({ paths: { anywidget: here + "index" } });
})();
"""


def write_offline_assets(dest: str | os.PathLike) -> list[Path]:
    """Write the anywidget AMD bundle (``index.js``, from the installed package) and the
    require.js mapping (``config.js``) into ``dest``; return the paths.

    The site loads ``config.js`` after require.js (``nb_ipywidgets_js`` in ``_config.yml``).
    """
    if anywidget is None:  # pragma: no cover
        raise ImportError("anywidget is not installed: pip install 'anywidget>=0.9'")
    bundle = Path(anywidget.__file__).parent / "nbextension" / "index.js"
    if not bundle.is_file():  # pragma: no cover
        raise FileNotFoundError(f"{bundle}: this anywidget has no AMD bundle; use anywidget>=0.9")
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    (out / "index.js").write_bytes(bundle.read_bytes())
    (out / "config.js").write_text(_REQUIRE_CONFIG, encoding="utf-8")
    return [out / "index.js", out / "config.js"]


def _main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m mggnet_lite.widgets",
        description="Assets the static site needs for the explorer widgets.",
    )
    p.add_argument("command", choices=["offline-assets"])
    p.add_argument("dest", help="folder to write index.js and config.js into")
    args = p.parse_args(argv)
    for path in write_offline_assets(args.dest):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
