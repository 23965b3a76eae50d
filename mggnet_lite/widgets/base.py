"""The explorers' common widget: image list, prev / next / index / goto, message, frame.

Every control is in ``widget.controls`` (ARCHITECTURE.md, "widgets"), so code and tests
drive them by setting ``.value`` (or calling ``.click()`` on the buttons). Frames are PNGs
of NumPy panels (:mod:`mggnet_lite.widgets.raster`); outputs come from an
:class:`~mggnet_lite.widgets.outputs.OutputCache`, so a control change only re-draws.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import numpy as np
import torch
from PIL import Image

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

from .lookups import asset_text, image_indices, model_nodes
from .lookups import precompute as precompute_outputs
from .outputs import ImageOutputs, OutputCache, output_cache

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

        _esm = asset_text("kernel_note.js")
        _css = _NOTE_CSS
        static_text = T.Unicode("").tag(sync=True)
        live_text = T.Unicode("").tag(sync=True)

        def __init__(self, static_text: str, live_text: str) -> None:
            super().__init__(static_text=static_text, live_text=live_text)
            self.on_msg(self._answer)

        def _answer(self, _widget: Any, content: Any, _buffers: Any) -> None:
            if isinstance(content, dict) and content.get("ping"):
                self.send({"alive": True})


def kernel_note(what: str) -> W.Widget:
    """The note above a live widget: it says whether a kernel runs the controls."""
    static = (
        f"Static page: the controls of this {what} run Python, so they need a live kernel "
        "(open the notebook in JupyterLab); here they do nothing. The precomputed scrubber "
        "further down works without one."
    )
    live = f"Live kernel connected: every control of this {what} works."
    if anywidget is None:
        return W.HTML(f'<div style="font-size:12px;color:#664d03">{static}</div>')
    return KernelNote(static, live)


def unit_slider(value: float, step: float, description: str) -> W.FloatSlider:
    """A slider over [0, 1] (an opacity, a threshold), drawn as its value moves."""
    return W.FloatSlider(
        value,
        min=0.0,
        max=1.0,
        step=step,
        description=description,
        continuous_update=True,
        layout=W.Layout(width="300px"),
    )


def message_html(text: str) -> str:
    """An error box for ``text`` (empty text: no box)."""
    if not text:
        return ""
    return (
        '<div class="mggnet-message" style="background:#fdecea;color:#611a15;'
        f'border:1px solid #f5c2c7;padding:4px 8px;border-radius:4px">{text}</div>'
    )


class ExplorerOptions(TypedDict, total=False):
    """The keyword options every explorer takes (see :class:`Explorer`)."""

    image_size: int
    indices: Sequence[int] | None
    device: str | torch.device
    precompute: bool
    cache: OutputCache | None


class Explorer(W.VBox):
    """Common parts: cache, image list, prev / next / index / goto, message, frame, timing.

    ``indices``: the images the slider scrubs (default the first ``default_count``),
    computed up front when ``precompute``; ``image_size``: the model's input size (use the
    training size); ``cache``: another explorer's :class:`OutputCache` of the same model and
    dataset, to share its outputs.

    Subclasses take these options as ``**options: Unpack[ExplorerOptions]``, set
    ``self.blocks``, add their controls to ``self.controls``, then call ``_lay_out()``;
    they draw in ``_draw`` and say what cannot be shown in ``_problem``.
    """

    what = "explorer"

    def __init__(
        self,
        model: torch.nn.Module,
        dataset: Any,
        *,
        image_size: int = 224,
        indices: Sequence[int] | None = None,
        device: str | torch.device = "cpu",
        precompute: bool = True,
        cache: OutputCache | None = None,
        default_count: int = 32,
    ) -> None:
        super().__init__()
        self.blocks: tuple[str, ...] = ()
        self.model, self.dataset = model, dataset
        self.cache = output_cache(model, dataset, cache, image_size=image_size, device=device)
        self.indices = image_indices(indices, len(dataset), default_count)
        nodes = model_nodes(model)
        self.node_names: tuple[str, ...] = nodes.names
        self.groups = nodes.groups
        self.attributes: tuple[str, ...] = nodes.attributes
        self.frame = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.header = W.HTML()
        self.message = W.HTML()
        self.note = kernel_note(self.what)
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
            precompute_outputs(self.cache, self.indices)

    def _lay_out(
        self,
        rows: Sequence[Sequence[str]],
        below: W.Widget,
        *,
        css: tuple[str, str],
        need_blocks: Sequence[str],
    ) -> None:
        """Finish the widget: lay it out, wire the controls and draw the first frame.

        Top to bottom: the kernel note, the navigation row, one row per entry of ``rows``
        (control names), the message, the header, the frame and ``below``. ``css`` are the
        classes of the frame and of the widget; ``need_blocks`` are the controls disabled
        when the model has no ``blocks`` to show.
        """
        if not self.blocks:
            for name in need_blocks:
                self.controls[name].disabled = True
        frame_class, widget_class = css
        self.frame.add_class(frame_class)
        self.add_class(widget_class)
        c = self.controls
        self.children = [
            self.note,
            W.HBox([c["prev"], c["index"], c["next"], c["goto"]]),
            *(W.HBox([c[name] for name in row]) for row in rows),
            self.message,
            self.header,
            self.frame,
            below,
        ]
        self._wire()
        self.redraw()

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
            self.message.value = message_html(str(exc))
            return
        self.current = int(index)
        self.redraw()

    def redraw(self) -> None:
        """Draw the current state of the controls (timed: ``render_seconds``)."""
        t0 = time.perf_counter()
        try:
            self.cache.check_index(self.current)
            item = self.cache.get(self.current)
            self.message.value = message_html(self._problem())
            self._draw(item)
        except IndexError as exc:
            self.message.value = message_html(str(exc))
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

