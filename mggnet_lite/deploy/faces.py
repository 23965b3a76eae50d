"""Faces in a photograph: find them, locate the eyes, warp each to CelebA's aligned crop.

The network only ever saw CelebA's "Align & Cropped" images (paper Sec. 4.1): 178 x 218
pixels, warped by a similarity transform so that the eyes and the mouth sit at fixed
places. A face from an ordinary photo must be brought to that geometry first, or the group
masks (Eq. 1) look at the wrong parts (ARCHITECTURE.md, "Data").

**Detector.** OpenCV's Viola-Jones Haar cascades, which ship inside the
``opencv-python-headless`` wheel (``cv2.data.haarcascades``; nothing is downloaded at run
time): ``haarcascade_frontalface_default.xml`` for faces, ``haarcascade_eye.xml`` (then
``haarcascade_eye_tree_eyeglasses.xml``) for the two eye centres inside the upper face.
OpenCV is Apache-2.0; the cascade files carry the Intel License Agreement (3-clause BSD
style). OpenCV 5 no longer ships ``cv2.data``, hence the pin ``<5``. Limits: near-frontal
faces only (yaw within about +-30 degrees, in-plane roll within about +-15 degrees; profile
views are missed), faces at least :data:`MIN_FACE` pixels wide in the detection image, and
the usual Viola-Jones false positives and misses in clutter, harsh light and occlusion. It
gives no nose or mouth points. When the eye cascade does not find a plausible pair the face
is still returned, with eyes *estimated* from the box and ``eyes_detected=False``, so a
caller can say so instead of trusting invented landmarks.

**Canonical points.** CelebA's own alignment code (``align_face_celeba.m``, shipped with
the data set) fits a non-reflective similarity from (left eye, right eye, mouth centre) to
(70.745, 112), (108.237, 112), (89.432, 153.514) in MATLAB's 1-based pixels of the
178 x 218 crop. In 0-based pixel-centre coordinates (used here) that is
:data:`CANONICAL`; the means of ``list_landmarks_align_celeba.txt`` (eyes about (69, 111)
and (108, 111), mouth corners about (72, 152) and (105, 152)) agree within a pixel. With
only the eyes, the two eye points fix the similarity exactly (scale from the 37.5 px eye
distance); more points are fitted by least squares.

**Coordinates** are those of the image *as displayed*: EXIF orientation is applied first.
A landmark is a pixel-centre coordinate (the top-left pixel's centre is (0, 0)); a box is
``[x0, y0, x1, y1]`` in pixel edges. ``left_eye`` is the eye on the image's left, as in
CelebA's landmark files. Large files are decoded reduced (JPEG ``draft``), then shrunk to
at most :data:`MAX_DETECT_PIXELS` before detection; coordinates are scaled back to the
original pixels. PIL's decompression-bomb limit stays on.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps

from ..data.images import to_rgb

#: (width, height) of CelebA's aligned crops
CROP_SIZE: tuple[int, int] = (178, 218)
#: CelebA's alignment targets (``align_face_celeba.m``), 0-based pixel centres of the crop
CANONICAL: dict[str, tuple[float, float]] = {
    "left_eye": (69.745, 111.0),
    "right_eye": (107.237, 111.0),
    "mouth": (88.432, 152.514),
}
#: detection runs on an image of at most this many pixels (about 2000 x 2000)
MAX_DETECT_PIXELS = 4_000_000
#: a file that cannot be decoded reduced (not a JPEG) is refused above this many pixels
MAX_FULL_DECODE_PIXELS = 90_000_000
#: smallest face (pixels of the detection image) the face cascade looks for
MIN_FACE = 36
#: where the eyes sit in a Haar face box when the eye cascade fails (fractions of the box;
#: measured on matplotlib's grace_hopper.jpg: (0.31, 0.38) and (0.66, 0.37))
_BOX_EYES = ((0.32, 0.38), (0.68, 0.38))
#: (eye distance, eye height) as fractions of a Haar face box, for ranking eye pairs
_EYE_PAIR = (0.36, 0.38)
#: face width (pixels) the eye band is resized to before the eye cascades run
_EYE_ROI_WIDTH = 240

Source = str | os.PathLike | IO[bytes] | Image.Image


@dataclass
class LoadedImage:
    """An image ready for detection: RGB, displayed orientation, at most ``max_pixels``.

    ``scale`` = original displayed pixels per working pixel (x, y); ``size`` = the original
    displayed (width, height).
    """

    image: Image.Image
    scale: tuple[float, float]
    size: tuple[int, int]


@dataclass
class Face:
    """One face: where it is in the displayed image and its aligned 178 x 218 crop."""

    box: tuple[float, float, float, float]
    landmarks: dict[str, tuple[float, float]]
    eyes_detected: bool
    crop: Image.Image = field(repr=False)
    #: 2 x 3 similarity, displayed-image pixel centres -> crop pixel centres
    transform: np.ndarray = field(repr=False)

    def to_json(self, ndigits: int = 1) -> dict[str, Any]:
        """``{"box", "landmarks", "eyes_detected"}`` with coordinates rounded to ``ndigits``."""
        return {
            "box": [round(float(v), ndigits) for v in self.box],
            "landmarks": {
                k: [round(float(x), ndigits), round(float(y), ndigits)]
                for k, (x, y) in self.landmarks.items()
            },
            "eyes_detected": self.eyes_detected,
        }


def require_opencv() -> Any:
    """The ``cv2`` module, or an ``ImportError`` that says what to install (OpenCV < 5)."""
    try:
        import cv2
    except ImportError as err:
        raise ImportError(
            "face detection needs OpenCV with its Haar cascades: pip install "
            "'opencv-python-headless>=4.8,<5' (or the package's 'photos' extra)"
        ) from err
    if not hasattr(cv2, "data"):
        raise ImportError(
            f"OpenCV {cv2.__version__} does not ship cv2.data (its Haar cascades); "
            "install 'opencv-python-headless>=4.8,<5'"
        )
    return cv2


class DetectorError(RuntimeError):
    """The face detector itself cannot run (a cascade file of OpenCV is missing or broken):
    a fault of the installation, not of any photo."""


@functools.cache
def _cascade(name: str) -> Any:
    cv2 = require_opencv()
    path = os.path.join(cv2.data.haarcascades, name)
    clf = cv2.CascadeClassifier(path)
    if clf.empty():
        raise DetectorError(
            f"could not load the OpenCV cascade {path}: reinstall "
            "'opencv-python-headless>=4.8,<5' (it ships the cascades in cv2.data)"
        )
    return clf


# ----------------------------------------------------------------------------- decoding


def load_image(source: Source, max_pixels: int = MAX_DETECT_PIXELS) -> LoadedImage:
    """Decode ``source`` for detection: EXIF orientation, 8-bit RGB, at most ``max_pixels``.

    A JPEG is decoded at 1/2, 1/4 or 1/8 scale when that is enough (``Image.draft``), so a
    huge photo is never decoded at full size; other formats are decoded whole, and refused
    above :data:`MAX_FULL_DECODE_PIXELS`. Raises ``OSError`` / ``ValueError`` (unreadable,
    truncated, empty) or ``PIL.Image.DecompressionBombError``.
    """
    if isinstance(source, Image.Image):
        return _prepare(source, max_pixels, "the image", own=False)
    with Image.open(source) as im:
        return _prepare(im, max_pixels, str(getattr(source, "name", None) or source), own=True)


def _prepare(im: Image.Image, max_pixels: int, what: str, own: bool) -> LoadedImage:
    """:func:`load_image` of an opened image (``own``: ours to ``draft``, not the caller's)."""
    stored = im.size
    orientation = im.getexif().get(0x0112, 1)
    shown = (stored[1], stored[0]) if orientation in (5, 6, 7, 8) else stored
    pixels = stored[0] * stored[1]
    if pixels > max_pixels:
        f = math.sqrt(max_pixels / pixels)
        target = (max(1, int(stored[0] * f)), max(1, int(stored[1] * f)))
        if own and im.format == "JPEG":
            im.draft(None, target)  # decoder-side 1/2^k scaling, done before any pixel is read
        elif pixels > MAX_FULL_DECODE_PIXELS:
            raise ValueError(
                f"{what}: {stored[0]} x {stored[1]} pixels is too large to decode "
                f"whole (limit {MAX_FULL_DECODE_PIXELS:,}); save it as a JPEG or shrink it"
            )
    im = to_rgb(ImageOps.exif_transpose(im))
    if im.width * im.height > max_pixels:
        f = math.sqrt(max_pixels / (im.width * im.height))
        size = (max(1, int(im.width * f)), max(1, int(im.height * f)))
        im = im.resize(size, Image.BILINEAR, reducing_gap=2.0)
    return LoadedImage(im, (shown[0] / im.width, shown[1] / im.height), shown)


# ----------------------------------------------------------------------------- detection


def _pick_eyes(
    cands: list[tuple[float, float]], face: tuple[int, int, int, int]
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The most face-like (left, right) pair of candidate eye centres, or None.

    Cascade scores are not comparable between the two eye cascades, so pairs are ranked by
    geometry instead: centred on the box, at the box's eye height, about 0.36 w apart.
    """
    x, y, w, h = face
    ex, ey = _EYE_PAIR
    best, score = None, math.inf
    for lx, ly in cands:
        for rx, ry in cands:
            dx, dy = rx - lx, ry - ly
            if not (0.22 * w <= dx <= 0.65 * w and abs(dy) <= 0.45 * dx):  # roll < ~24 deg
                continue
            s = (
                abs((lx + rx) / 2 - (x + w / 2)) / w
                + abs((ly + ry) / 2 - (y + ey * h)) / h
                + abs(dx / w - ex)
            )
            if s < score:
                best, score = ((lx, ly), (rx, ry)), s
    return best


def find_eyes(
    gray: np.ndarray, face: tuple[int, int, int, int]
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Eye centres inside the upper part of ``face`` (x, y, w, h) of ``gray``, or None.

    The band from 10% to 55% of the box height is resized to a 240 px wide face first: the
    eye cascades' window is 20 x 20, so the eyes of a small face would otherwise be missed.
    Candidates of both eye cascades (plain, then the one trained with eyeglasses) are pooled.
    """
    cv2 = require_opencv()
    x, y, w, h = face
    top, bottom = int(0.10 * h), int(0.55 * h)
    k = _EYE_ROI_WIDTH / w
    roi = cv2.resize(
        np.ascontiguousarray(gray[y + top : y + bottom, x : x + w]),
        None,
        fx=k,
        fy=k,
        interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
    )
    side = _EYE_ROI_WIDTH
    cands = []
    for name in ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml"):
        boxes = _cascade(name).detectMultiScale(
            roi,
            scaleFactor=1.05,
            minNeighbors=3,
            minSize=(side // 14, side // 14),
            maxSize=(side // 2, side // 2),
        )
        cands += [
            (x + (bx + bw / 2) / k - 0.5, y + top + (by + bh / 2) / k - 0.5)
            for bx, by, bw, bh in (tuple(int(v) for v in b) for b in boxes)
        ]
    return _pick_eyes(cands, face)


def detect(image: Image.Image) -> list[tuple[tuple[int, int, int, int], dict, bool]]:
    """Faces of an RGB image, left to right: ``((x, y, w, h), {"left_eye", "right_eye"},
    eyes_detected)`` in that image's pixels (see the module docstring for the limits)."""
    cv2 = require_opencv()
    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    boxes = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=5, minSize=(MIN_FACE, MIN_FACE)
    )
    out = []
    for x, y, w, h in sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: b[0]):
        pair = find_eyes(gray, (x, y, w, h))
        found = pair is not None
        if pair is None:
            pair = tuple((x + fx * w - 0.5, y + fy * h - 0.5) for fx, fy in _BOX_EYES)
        out.append(((x, y, w, h), {"left_eye": pair[0], "right_eye": pair[1]}, found))
    return out


# ----------------------------------------------------------------------------- alignment


def similarity_transform(
    src: dict[str, tuple[float, float]], dst: dict[str, tuple[float, float]] | None = None
) -> np.ndarray:
    """The 2 x 3 non-reflective similarity (rotation, uniform scale, shift) taking the points
    of ``src`` to those of ``dst`` (default :data:`CANONICAL`) with the same names, least
    squares (exact for two points), as CelebA's ``cp2tform(..., 'nonreflective similarity')``."""
    dst = CANONICAL if dst is None else dst
    names = [k for k in src if k in dst]
    if len(names) < 2:
        raise ValueError(f"need at least two named points shared with {list(dst)}, got {names}")
    rows, rhs = [], []
    for k in names:
        (x, y), (u, v) = src[k], dst[k]
        rows += [[x, -y, 1.0, 0.0], [y, x, 0.0, 1.0]]
        rhs += [u, v]
    (a, b, tx, ty), *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


def apply_transform(m: np.ndarray, points: dict[str, tuple[float, float]]) -> dict:
    """``points`` mapped by the 2 x 3 matrix ``m``."""
    return {k: tuple(float(v) for v in m @ np.array([x, y, 1.0])) for k, (x, y) in points.items()}


def _homog(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def warp_to_crop(image: Image.Image, m: np.ndarray) -> Image.Image:
    """The 178 x 218 crop of ``image`` under ``m`` (image -> crop pixel centres).

    Bicubic with replicated borders, like CelebA's ``imtransform``; when the face is shrunk
    by 2x or more the image is first box-reduced (PIL ``reduce``), so the crop is not aliased.
    """
    cv2 = require_opencv()
    scale = math.hypot(m[0, 0], m[1, 0])
    k = int(1.0 / scale) if scale > 0 else 1
    if k >= 2:
        image = image.reduce(k)
        # reduced pixel centre i is at original k * (i + 0.5) - 0.5
        up = np.array([[k, 0.0, 0.5 * k - 0.5], [0.0, k, 0.5 * k - 0.5], [0.0, 0.0, 1.0]])
        m = (_homog(m) @ up)[:2]
    arr = cv2.warpAffine(
        np.asarray(image), m, CROP_SIZE, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    return Image.fromarray(arr, "RGB")


def detect_and_align(source: Source, max_pixels: int = MAX_DETECT_PIXELS) -> list[Face]:
    """Every face of ``source`` (a path, a binary file or a PIL image), aligned like CelebA.

    Coordinates are in the original image as displayed (EXIF applied); see the module
    docstring for the detector, its limits and the canonical points. ``[]`` when no face is
    found. Decoding errors propagate (``OSError``, ``ValueError``, ``DecompressionBombError``),
    and so does a :class:`DetectorError` when OpenCV's cascades cannot be loaded.
    """
    return faces_in(load_image(source, max_pixels))


def faces_in(loaded: LoadedImage) -> list[Face]:
    """The faces of an image :func:`load_image` decoded, each aligned like CelebA."""
    sx, sy = loaded.scale
    # working pixel centre i is at original s * (i + 0.5) - 0.5
    to_orig = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    faces = []
    for (x, y, w, h), eyes, found in detect(loaded.image):
        m_work = similarity_transform(eyes)
        landmarks = apply_transform(to_orig[:2], eyes)
        faces.append(
            Face(
                box=(x * sx, y * sy, (x + w) * sx, (y + h) * sy),
                landmarks=landmarks,
                eyes_detected=found,
                crop=warp_to_crop(loaded.image, m_work),
                transform=(_homog(m_work) @ np.linalg.inv(to_orig))[:2],
            )
        )
    return faces
