"""Faces in a photograph: find them, locate the eyes, warp each to CelebA's aligned crop.

The network only ever saw CelebA's "Align & Cropped" images (paper Sec. 4.1): 178 x 218
pixels, warped by a similarity transform so that the eyes and the mouth sit at fixed
places. A face from an ordinary photo must be brought to that geometry first, or the group
masks (Eq. 1) look at the wrong parts (ARCHITECTURE.md, "Data").

**Detector.** OpenCV's Viola-Jones Haar cascades, shipped inside the
``opencv-python-headless`` wheel (``cv2.data.haarcascades``; nothing is downloaded). OpenCV is
Apache-2.0; the cascade files carry the Intel License Agreement (3-clause BSD style). OpenCV 5
no longer ships ``cv2.data``, hence the pin ``<5``. :func:`detect` runs, in order:

1. *Rotation sweep*: ``haarcascade_frontalface_default.xml`` on the image as it is and turned
   by -12 and +12 degrees (:data:`ROLLS`); boxes and eyes are mapped back, and a face found in
   several passes is reported once. One pass alone finds faces rolled up to about 12 degrees.
2. *Eyes*: ``haarcascade_eye.xml`` and ``haarcascade_eye_tree_eyeglasses.xml`` in the upper
   face give candidates; a pair is chosen by geometry, votes and how iris-like each point is,
   then each point moves to the darkest iris-sized disc near it (:func:`iris_response`: box
   centres are off by up to 6% of the eye distance, the iris peaks by about 2%).
3. *False faces*: a second cascade, ``haarcascade_frontalface_alt2.xml``, must find each face
   again on a crop turned upright and scaled by its eyes (:func:`verified`; by its box when no
   eyes were found, with a higher bar), and a box covering half of a better face is dropped.
   This removes the badge of Grace Hopper's cap, which the first cascade takes for a face.
   A confirmed face without an eye pair gets eyes *estimated* from its box and
   ``eyes_detected=False``. No nose or mouth points.

**Measured limits** (:mod:`.face_limits`, ``benchmarks/results/face_limits_2026-12-03.json``):
matplotlib's ``grace_hopper.jpg`` (US Navy) and scikit-image's ``astronaut`` (NASA), both
public domain, eyes marked by hand, scaled (eyes 24 to 90 px apart), rolled, mirrored, placed
at 3 spots of a grey canvas. A cell: how many of 6 photos (2 mirror images x 3 spots) give
exactly one face with both eyes within 6% of the eye distance (``+Nf``: N false faces)::

    portrait     eye px |  -20  -16  -15  -12   -8   -4    0    4    8   12   15   16   20
    grace_hopper     24 |  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6
    grace_hopper     30 |  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6
    grace_hopper     40 |  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6
    grace_hopper     60 |  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6
    grace_hopper     90 |  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6
    astronaut        24 |  4/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  5/6  5/6  3/6
    astronaut        30 |  4/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  5/6  5/6
    astronaut        40 |  5/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6
    astronaut        60 |  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6
    astronaut        90 |  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  6/6  4/6

The target, that result at every roll up to +-15 degrees with eyes 30 px or more apart, holds
on all 432 such photos: worst eye error 2.4%, no false face. Beyond +-15 degrees or under 30 px
the astronaut is sometimes missed (the nearest pass leaves up to 8 degrees of roll, the small
face too few cascade hits), once with a wrong eye (16 degrees, 30 px). On the 432 photos the
detector of commit 3684211 got 219 right (52 false faces), one pass of this one 398 (33
misses at 15 degrees), no second cascade 237 (279 false faces). 3 passes: 3.2x the old time.
Not measured: yaw (near-frontal only, about +-30 degrees), faces under :data:`MIN_FACE` px,
harsh light, occlusion.

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
#: (eye distance, eye height) in Haar face boxes, to rank eye pairs (0.35 to 0.51 measured)
_EYE_PAIR = (0.42, 0.38)
#: iris radii tried, as fractions of the eye distance (an iris: 11.7 mm of about 63, halved)
_IRIS: tuple[float, ...] = (0.07, 0.085, 0.1)
#: outer radius of the ring around the iris disc, in iris radii (:func:`iris_response`)
_RING = 1.6
#: in-plane rolls (degrees, counter-clockwise) the face cascade runs at (:func:`detect`)
ROLLS: tuple[float, ...] = (0.0, -12.0, 12.0)
#: the face cascade's ``minNeighbors`` in each pass (OpenCV's usual 5 lost small faces;
#: the second cascade removes what the lower bar lets through)
FACE_HITS = 2
#: the second face cascade that must confirm each face, upright and scaled (:func:`verified`)
VERIFY_CASCADE = "haarcascade_frontalface_alt2.xml"
#: the hits (neighbours) it must give; in face_limits' sweep true faces gave 36 or more,
#: false ones 4 or fewer
VERIFY_HITS = 12
#: the same for a face whose eyes were not found, checked on its box (false ones: 7 or fewer)
VERIFY_HITS_WITHOUT_EYES = 15
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


def iris_response(roi: np.ndarray, eye_distance: float) -> np.ndarray:
    """How much darker a disc is than the ring around it (out to :data:`_RING` times its
    radius), at every pixel of ``roi``, summed over the iris radii :data:`_IRIS` (fractions
    of ``eye_distance``): high on an iris against white and skin, low on eyebrows, frames
    and hair (dark all round) and on bright skin."""
    cv2 = require_opencv()
    total, src = np.zeros(roi.shape, np.float32), roi.astype(np.float32)
    for r in (f * eye_distance for f in _IRIS):
        n = int(math.ceil(_RING * r))
        rr = np.hypot(*np.mgrid[-n : n + 1, -n : n + 1]).astype(np.float32)
        disc, ring = (rr <= r).astype(np.float32), ((rr > r) & (rr <= _RING * r)).astype(np.float32)
        kernel = ring / ring.sum() - disc / disc.sum()
        total += cv2.filter2D(src, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    return total


def _peak(resp: np.ndarray, c: tuple[float, float], win: float) -> tuple[float, float, float]:
    """The highest point of ``resp`` within ``win`` of ``c``, to a sub-pixel (x, y, value)."""
    hgt, wid = resp.shape
    x0, x1 = max(0, int(c[0] - win)), min(wid, int(c[0] + win) + 2)
    y0, y1 = max(0, int(c[1] - win)), min(hgt, int(c[1] + win) + 2)
    if x0 >= x1 or y0 >= y1:
        return (c[0], c[1], -math.inf)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    patch = np.pad(np.where(np.hypot(xx - c[0], yy - c[1]) <= win, resp[y0:y1, x0:x1], -np.inf),
                   1, constant_values=-np.inf)
    iy, ix = (int(i) for i in np.unravel_index(int(np.argmax(patch)), patch.shape))
    a, m, b = patch[iy, ix - 1 : ix + 2], patch[iy, ix], patch[iy - 1 : iy + 2, ix]
    # vertex of the parabola through three samples, each way (none at the window's rim)
    dx, dy = (0.5 * (q[0] - q[2]) / d if np.isfinite(d := q[0] - 2 * m + q[2]) and d < 0 else 0.0
              for q in (a, b))
    return (x0 + ix - 1 + dx, y0 + iy - 1 + dy, float(m))


def _eye_candidates(roi: np.ndarray) -> list[tuple[float, float, int, float]]:
    """Centres of the boxes of both eye cascades, ``(x, y, votes, iris)`` in ``roi`` pixels:
    boxes whose centres lie within 0.12 of a nominal eye distance are merged (mean, votes);
    ``iris`` is the strongest :func:`iris_response` near the point, over the best one's."""
    side, iod = _EYE_ROI_WIDTH, _EYE_PAIR[0] * _EYE_ROI_WIDTH
    points: list[list[float]] = []
    for name in ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml"):
        boxes = _cascade(name).detectMultiScale(roi, scaleFactor=1.05, minNeighbors=3, minSize=(
            side // 14, side // 14), maxSize=(side // 2, side // 2))
        for bx, by, bw, bh in (tuple(int(v) for v in b) for b in boxes):
            x, y = bx + bw / 2 - 0.5, by + bh / 2 - 0.5
            for p in points:
                if math.hypot(p[0] / p[2] - x, p[1] / p[2] - y) <= 0.12 * iod:
                    p[0], p[1], p[2] = p[0] + x, p[1] + y, p[2] + 1
                    break
            else:
                points.append([x, y, 1])
    resp = iris_response(roi, iod)
    cands = [(sx / n, sy / n, int(n)) for sx, sy, n in points]
    iris = [_peak(resp, (x, y), 0.1 * iod)[2] for x, y, _ in cands]
    top = max(max(iris, default=0.0), 1e-6)
    return [(x, y, n, max(0.0, v) / top) for (x, y, n), v in zip(cands, iris, strict=True)]


def _pick_eyes(cands: list[tuple[float, float, int, float]], band: tuple[float, float]
               ) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The most face-like (left, right) pair of ``(x, y, votes, iris)`` candidates, or None.

    ``band``: the eye band's (width, row of the box's eye height). Ranked by geometry (centred,
    at eye height, 0.34 to 0.50 box widths apart, roll under 24 degrees), by how many cascade
    boxes found each eye and by how iris-like each point is (an eye corner or frame is not)."""
    w, eye_row = band
    best, score = None, math.inf
    for lx, ly, lv, li in cands:
        for rx, ry, rv, ri in cands:
            dx, dy = rx - lx, ry - ly
            if not (0.22 * w <= dx <= 0.65 * w and abs(dy) <= 0.45 * dx):
                continue
            s = (
                abs((lx + rx) / 2 - w / 2) / w
                + abs((ly + ry) / 2 - eye_row) / w
                + max(0.0, abs(dx / w - _EYE_PAIR[0]) - 0.08)
                - 0.03 * min(lv + rv, 6)
                - 0.1 * (li + ri)
            )
            if s < score:
                best, score = ((lx, ly), (rx, ry)), s
    return best


def find_eyes(gray: np.ndarray, face: tuple[int, int, int, int]
              ) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Eye (iris) centres inside the upper part of ``face`` (x, y, w, h) of ``gray``, or None.

    The band from 10% to 55% of the box height is resized to a 240 px wide face first (the
    eye cascades' window is 20 x 20); candidates of both eye cascades are pooled, a pair is
    picked (:func:`_pick_eyes`) and each point moves to its iris (:func:`iris_response`)."""
    cv2 = require_opencv()
    x, y, w, h = face
    top, bottom, k = int(0.10 * h), int(0.55 * h), _EYE_ROI_WIDTH / w
    band = np.ascontiguousarray(gray[y + top : y + bottom, x : x + w])
    inter = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    roi = cv2.resize(band, None, fx=k, fy=k, interpolation=inter)
    pair = _pick_eyes(_eye_candidates(roi), (_EYE_ROI_WIDTH, (_EYE_PAIR[1] - 0.10) * h * k))
    if pair is None:
        return None
    iod = math.dist(*pair)  # again, with this face's own iris size
    resp = iris_response(roi, iod)
    pair = tuple(_peak(resp, p, 0.12 * iod)[:2] for p in pair)
    left, right = ((x + (px + 0.5) / k - 0.5, y + top + (py + 0.5) / k - 0.5) for px, py in pair)
    return left, right


def _rolled(gray: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``gray`` turned by ``degrees`` (counter-clockwise as displayed) on a canvas that holds
    all of it, and the 3 x 3 map from ``gray``'s pixel centres to the turned image's."""
    cv2 = require_opencv()
    if degrees == 0:
        return gray, np.eye(3)
    h, w = gray.shape
    a = math.radians(degrees)
    cw = int(math.ceil(abs(w * math.cos(a)) + abs(h * math.sin(a))))
    ch = int(math.ceil(abs(w * math.sin(a)) + abs(h * math.cos(a))))
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, 1.0)
    m[:, 2] += ((cw - 1) / 2 - (w - 1) / 2, (ch - 1) / 2 - (h - 1) / 2)
    out = cv2.warpAffine(gray, m, (cw, ch), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    return out, _homog(m)


def _pass(gray: np.ndarray, degrees: float) -> list[dict[str, Any]]:
    """Faces of ``gray`` turned by ``degrees``, mapped back to ``gray``'s pixel centres:
    ``{"centre", "side", "eyes" (or None), "level", "hits", "roll", "box_eyes"}`` each (``level``:
    the eye line's angle in the turned image, degrees; ``box_eyes``: eyes guessed from the box).
    """
    cv2 = require_opencv()
    turned, m = _rolled(gray, degrees)
    back = np.linalg.inv(m)
    boxes, hits = _cascade("haarcascade_frontalface_default.xml").detectMultiScale2(
        cv2.equalizeHist(turned), scaleFactor=1.1, minNeighbors=FACE_HITS,
        minSize=(MIN_FACE, MIN_FACE)
    )
    h, w = gray.shape
    out = []
    for (x, y, bw, bh), n in zip(boxes, np.ravel(hits), strict=True):
        x, y, bw, bh = int(x), int(y), int(bw), int(bh)
        cx, cy = (back @ [x + bw / 2 - 0.5, y + bh / 2 - 0.5, 1.0])[:2]
        if not (-0.5 <= cx <= w - 0.5 and -0.5 <= cy <= h - 0.5):
            continue  # a face of the replicated border
        pair = find_eyes(turned, (x, y, bw, bh))
        level = math.inf if pair is None else abs(math.degrees(math.atan2(
            pair[1][1] - pair[0][1], pair[1][0] - pair[0][0])))
        guess = [(x + fx * bw - 0.5, y + fy * bh - 0.5) for fx, fy in _BOX_EYES]
        out.append({"centre": (float(cx), float(cy)), "side": float(bw), "level": level,
                    "eyes": None if pair is None else _mapped(back, pair), "hits": int(n),
                    "roll": degrees, "box_eyes": _mapped(back, guess)})
    return out


def _mapped(m: np.ndarray, points: Any) -> tuple[tuple[float, float], ...]:
    """``points`` (x, y) mapped by the 3 x 3 matrix ``m``."""
    return tuple((float(p[0]), float(p[1])) for p in (m @ [x, y, 1.0] for x, y in points))


def _merge(cands: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The detections of all passes grouped by face (centres within 0.4 of the smaller box,
    sizes within 1.5x); each group's first member has the most level eye pair."""
    order = sorted(cands, key=lambda c: (c["eyes"] is None, c["level"], -c["hits"]))
    groups: list[list[dict[str, Any]]] = []
    for c in order:
        for g in groups:
            small, big = sorted((c["side"], g[0]["side"]))
            if math.dist(c["centre"], g[0]["centre"]) <= 0.4 * small and big <= 1.5 * small:
                g.append(c)
                break
        else:
            groups.append([c])
    return groups


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Intersection of the two (axis-aligned, square) boxes over the smaller one's area."""
    sa, sb = a["side"] / 2, b["side"] / 2
    ix, iy = (max(0.0, min(p + sa, q + sb) - max(p - sa, q - sb))
              for p, q in zip(a["centre"], b["centre"], strict=True))
    return ix * iy / (2 * min(sa, sb)) ** 2


def _warp_gray(gray: np.ndarray, m: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` x ``size`` image of ``gray`` under ``m``; the part of ``gray`` it shows is
    first box-reduced (INTER_AREA) when ``m`` shrinks by 2x or more, so it is not aliased."""
    cv2 = require_opencv()
    k = int(1.0 / math.hypot(m[0, 0], m[1, 0]))
    if k >= 2:  # the part of gray the crop shows, reduced k times
        inv = cv2.invertAffineTransform(m)
        pts = np.array([[0, 0], [size, 0], [0, size], [size, size]]) @ inv[:, :2].T + inv[:, 2]
        x0, y0 = np.maximum(0, np.floor(pts.min(axis=0)).astype(int) - k)
        x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + k
        hk, wk = (min(y1, gray.shape[0]) - y0) // k, (min(x1, gray.shape[1]) - x0) // k
        if hk > 0 and wk > 0:
            part = gray[y0 : y0 + hk * k, x0 : x0 + wk * k]
            # reduced pixel centre i is at part pixel k * (i + 0.5) - 0.5, at gray + (x0, y0)
            up = np.array([[k, 0, x0 + 0.5 * k - 0.5], [0, k, y0 + 0.5 * k - 0.5], [0, 0, 1.0]])
            gray = cv2.resize(part, (wk, hk), interpolation=cv2.INTER_AREA)
            m = (_homog(m) @ up)[:2]
    return cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def verified(gray: np.ndarray, face: dict[str, Any]) -> bool:
    """Whether a second cascade (:data:`VERIFY_CASCADE`), run on ``face`` turned upright and
    scaled by its eyes (or, without eyes, by its box), finds a face there with
    :data:`VERIFY_HITS` hits or more (:data:`VERIFY_HITS_WITHOUT_EYES` without eyes)."""
    cv2 = require_opencv()
    if face["eyes"] is not None:  # the eyes to (42, 48) and (78, 48) of a 120 x 120 crop
        m = similarity_transform(dict(zip("lr", face["eyes"], strict=True)),
                                 {"l": (42.0, 48.0), "r": (78.0, 48.0)})
    else:  # the box, turned back by its pass's roll, onto the square from 20 to 100
        m = cv2.getRotationMatrix2D(face["centre"], -face["roll"], 80.0 / face["side"])
        m[:, 2] += (59.5 - face["centre"][0], 59.5 - face["centre"][1])
    boxes, hits = _cascade(VERIFY_CASCADE).detectMultiScale2(cv2.equalizeHist(
        _warp_gray(gray, m, 120)), scaleFactor=1.05, minNeighbors=1, minSize=(56, 56),
        maxSize=(118, 118))
    need = VERIFY_HITS if face["eyes"] is not None else VERIFY_HITS_WITHOUT_EYES
    return any(
        n >= need and abs(x + w / 2 - 60) < 12 and abs(y + h / 2 - 60) < 15
        for (x, y, w, h), n in zip(boxes, np.ravel(hits), strict=True)
    )


def _agreed_eyes(group: list[dict[str, Any]]) -> tuple | None:
    """The eye pair that most passes of ``group`` agree on (each eye within a tenth of the
    eye distance; ties go to the most level pair), averaged over those passes; or None."""
    pairs = [c for c in group if c["eyes"] is not None]
    if not pairs:
        return None

    def agree(a: tuple, b: tuple) -> bool:
        return max(math.dist(a[0], b[0]), math.dist(a[1], b[1])) <= 0.1 * math.dist(*a)

    best = max(pairs, key=lambda c: (sum(agree(c["eyes"], o["eyes"]) for o in pairs), -c["level"]))
    same = [o["eyes"] for o in pairs if agree(best["eyes"], o["eyes"])]
    return tuple(tuple(float(v) for v in np.mean([e[i] for e in same], axis=0)) for i in (0, 1))


def _keep(gray: np.ndarray, groups: list[list[dict[str, Any]]],
          verify: bool = True) -> list[dict[str, Any]]:
    """One face per group that the second cascade confirms (:func:`verified`, on the agreed
    eyes, else on any pass's box; not when ``verify`` is false) and that covers at most half
    of a better face (eyes first, then more passes, then more hits)."""
    ranked = sorted(groups, key=lambda g: (g[0]["eyes"] is None, -len(g),
                                           -sum(c["hits"] for c in g)))
    kept: list[dict[str, Any]] = []
    for g in ranked:
        face = dict(g[0], eyes=_agreed_eyes(g))
        if any(_overlap(face, k) > 0.5 for k in kept):
            continue
        if verify and not any(verified(gray, c) for c in ([face] if face["eyes"] else g)):
            continue
        kept.append(face)
    return kept


def detect(
    image: Image.Image, rolls: tuple[float, ...] | None = None, verify: bool = True
) -> list[tuple[tuple[float, float, float, float], dict, bool]]:
    """Faces of an RGB image, left to right: ``((x, y, w, h), {"left_eye", "right_eye"},
    eyes_detected)`` in that image's pixels (see the module docstring for the limits).

    The face cascade runs on the image turned by each of ``rolls`` (default :data:`ROLLS`);
    a face found in several passes is reported once: the box of the pass with the most level
    eyes (a square around its centre), the eyes most passes agree on. ``verify=False`` skips
    the false-face check (:func:`verified`), to show what it removes."""
    cv2 = require_opencv()
    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    cands = [c for r in (ROLLS if rolls is None else rolls) for c in _pass(gray, float(r))]
    out = []
    kept = _keep(gray, _merge(cands), verify)
    for f in sorted(kept, key=lambda f: f["centre"][0] - f["side"] / 2):  # left edges
        (cx, cy), s = f["centre"], f["side"]
        pair = f["box_eyes"] if f["eyes"] is None else f["eyes"]
        out.append(((cx + 0.5 - s / 2, cy + 0.5 - s / 2, s, s),
                    {"left_eye": pair[0], "right_eye": pair[1]}, f["eyes"] is not None))
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
