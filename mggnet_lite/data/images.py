"""Images from outside: any mode PIL opens becomes 8-bit RGB, without surprises.

Photos and data sets arrive as grayscale, 16-bit, RGBA, palette or CMYK files; the network
wants 8-bit RGB. ``Image.convert("RGB")`` alone clips 16-bit values (a 16-bit PNG comes out
white) and drops transparency onto black; :func:`to_rgb` scales 16-bit and float images to
8 bits and lays transparent images on white. PIL's decompression-bomb limit stays on: a file
that claims more pixels than ``Image.MAX_IMAGE_PIXELS`` is refused before it is decoded
(ARCHITECTURE.md, "Rules").
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: modes whose samples are wider than 8 bits
_WIDE = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def to_rgb(im: Image.Image) -> Image.Image:
    """``im`` as an 8-bit RGB image (fully decoded): 16-bit / float scaled, alpha on white."""
    if im.width == 0 or im.height == 0:
        raise ValueError(f"the image has no pixels ({im.width} x {im.height})")
    if im.mode in _WIDE:
        a = np.asarray(im, dtype=np.float64)
        top = 1.0 if im.mode == "F" and a.max(initial=0) <= 1.0 else (
            65535.0 if a.max(initial=0) > 255 else 255.0)
        a = np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    # a new image (a copy even for RGB, so it outlives the caller's ``with Image.open``); the
    # full decode happens here, so a truncated file fails where the caller catches it
    return im.convert("RGB")
