"""Raster figures of the explorers, without ipywidgets (ARCHITECTURE.md, "widgets").

``mggnet_lite.widgets.raster`` is plain NumPy / PIL, so it must import (and these tests
run) where the book extra is not installed; the widgets themselves are tested in
tests/test_widgets.py.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import numpy as np
from PIL import Image

from mggnet_lite.widgets.raster import (
    data_url,
    encode_png,
    hstack,
    mask_overlay,
    region_overlay,
    titled,
    vstack,
)


def test_raster_imports_without_ipywidgets():
    code = (
        "import sys; sys.modules['ipywidgets'] = None; sys.modules['anywidget'] = None; "
        "import mggnet_lite.widgets.raster, mggnet_lite.widgets.outputs; "
        "from mggnet_lite.widgets import encode_png, BOTH, group_cooccurrence\n"
        "try:\n    from mggnet_lite.widgets import MaskScrubber\n"
        "except ImportError as exc:\n    print(exc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "needs ipywidgets" in done.stdout  # the widgets say what is missing


def test_overlays_and_stacks():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (20, 10, 3), dtype=np.uint8)
    np.testing.assert_array_equal(mask_overlay(img, np.ones((5, 5)), opacity=0.0), img)
    region = np.zeros((20, 10), bool)
    region[:5] = True
    out = region_overlay(img, region)
    np.testing.assert_array_equal(out[5:], (img[5:] * 0.3).astype(np.uint8))
    assert titled(img, "x").shape == (16 + 20, 10, 3)
    assert hstack([img, img], gap=4).shape == (20, 24, 3)
    assert vstack([img, img[:5]], gap=2).shape == (27, 10, 3)


def test_encoders_round_trip():
    frame = np.zeros((6, 8, 3), np.uint8)
    frame[2:4, 3:5] = (200, 30, 90)
    png = np.asarray(Image.open(io.BytesIO(encode_png(frame))).convert("RGB"))
    np.testing.assert_array_equal(png, frame)
    url = data_url(frame, fmt="PNG")
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    np.testing.assert_array_equal(np.asarray(decoded), frame)
