"""How far the face detector of :mod:`mggnet_lite.deploy.faces` can be trusted: a measurement.

Two real portraits that ship inside installed packages (nothing is downloaded):

* ``grace_hopper`` -- matplotlib's ``sample_data/grace_hopper.jpg`` (512 x 600), public domain
  (US Navy photograph);
* ``astronaut`` -- scikit-image's ``skimage.data.astronaut()`` (Eileen Collins; its head and
  shoulders, x 64..448 and y 0..384 of the 512 x 512 image), public domain (NASA).
  scikit-image is in the ``book`` extra; without it that portrait is skipped with a
  message, not an error.

Their eye centres were marked by hand once (:data:`EYES`: 16x zooms and the grey values of
the irises, about +-1 px). Each portrait is then mirrored or not, scaled so that its eyes are
``eye_px`` pixels apart, rolled by ``degrees`` about the eye midpoint (positive =
counter-clockwise as displayed) and pasted onto a grey canvas with a margin of 15% of its
size, at one of several ``positions``; the hand-marked eyes go through the same map, so
every synthetic photo knows where its eyes are. :func:`measure` runs the detector on each and
scores it; :func:`summarize` and :func:`format_table` give recall and false faces per
setting. ``benchmarks/face_limits.py`` runs the full sweep; :data:`QUICK` is a reduced one
for the book (a few seconds). Pure code: no UI library is imported.

A detection *is* the face when its box holds the true eye midpoint; it *locates* it when both
of its eyes lie within :data:`EYE_TOLERANCE` of the inter-eye distance of the true ones. Every
other detection is a false face (a second box on the same face counts as one).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

#: the hand-marked eye centres (image-left eye first), 0-based pixel-centre coordinates; the
#: astronaut's are (202.8, 100.3) and (246.3, 102.5) in the whole image. tests/test_faces.py's
#: older marks of grace_hopper (4x zoom) are within 1.7 px of these.
EYES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "grace_hopper": ((222.0, 189.5), (304.0, 186.5)),
    "astronaut": ((138.8, 100.3), (182.3, 102.5)),  # of the crop x 64..448, y 0..384
}
#: a face is located when both eyes are within this fraction of the inter-eye distance
EYE_TOLERANCE = 0.06
#: the full sweep of benchmarks/face_limits.py
ROTATIONS: tuple[float, ...] = (-20, -16, -15, -12, -8, -4, 0, 4, 8, 12, 15, 16, 20)
EYE_PX: tuple[float, ...] = (24, 30, 40, 60, 90)
#: where the portrait sits on the canvas: fractions of the free margin (x, y)
POSITIONS: tuple[tuple[float, float], ...] = ((0.1, 0.1), (0.9, 0.35), (0.4, 0.9))
#: the target range of the detector's limits (issue 20): rolls up to 15 degrees, eyes at
#: least 30 px apart (:func:`in_target`)
TARGET_DEGREES, TARGET_EYE_PX = 15.0, 30.0
#: a sweep for the book (chapter 7): 12 photos, a few seconds
QUICK: dict[str, Any] = {"eye_px": (30, 60), "rotations": (-15, 15, 20),
                         "mirrors": (False,), "positions": ((0.5, 0.5),)}
#: the canvas's grey
_BACKGROUND = (118, 118, 118)

Detector = Callable[[Image.Image], list[Any]]


@dataclass(frozen=True)
class Synthetic:
    """One synthetic photo and where its eyes truly are (pixel centres, image-left first)."""

    image: Image.Image
    left_eye: tuple[float, float]
    right_eye: tuple[float, float]


def load_portrait(name: str) -> np.ndarray:
    """The RGB pixels (H x W x 3, uint8) of a portrait of :data:`EYES`; ``ImportError`` when
    the package that ships it is not installed."""
    if name == "grace_hopper":
        from matplotlib import cbook

        with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
            return np.asarray(im.convert("RGB"))
    if name == "astronaut":
        from skimage import data  # public domain, shipped in the scikit-image wheel

        return np.ascontiguousarray(data.astronaut()[:384, 64:448, :3])  # head and shoulders
    raise ValueError(f"unknown portrait {name!r}; known: {sorted(EYES)}")


def synthesize(
    pixels: np.ndarray,
    eyes: tuple[tuple[float, float], tuple[float, float]],
    eye_px: float,
    degrees: float = 0.0,
    mirror: bool = False,
    position: tuple[float, float] = (0.5, 0.5),
) -> Synthetic:
    """``pixels`` mirrored, scaled to ``eye_px`` between the eyes, rolled by ``degrees`` about
    the eye midpoint and pasted on a grey canvas at ``position``; with the eyes mapped too."""
    import cv2

    h, w = pixels.shape[:2]
    (lx, ly), (rx, ry) = eyes
    if mirror:
        pixels = pixels[:, ::-1]
        (lx, ly), (rx, ry) = (w - 1 - rx, ry), (w - 1 - lx, ly)
    s = eye_px / math.hypot(rx - lx, ry - ly)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    kx, ky = size[0] / w, size[1] / h  # cv2.resize: x' = (x + 0.5) k - 0.5
    inter = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    small = cv2.resize(np.ascontiguousarray(pixels), size, interpolation=inter)
    resize = np.array([[kx, 0, 0.5 * kx - 0.5], [0, ky, 0.5 * ky - 0.5], [0, 0, 1.0]])
    centre = resize[:2] @ [(lx + rx) / 2, (ly + ry) / 2, 1.0]
    # the whole-pixel size leaves the eyes a little off eye_px apart: the turn corrects it
    near = math.dist(resize[:2] @ [lx, ly, 1.0], resize[:2] @ [rx, ry, 1.0])
    rot = np.vstack([cv2.getRotationMatrix2D(tuple(centre), degrees, eye_px / near), [0, 0, 1]])
    corners = rot[:2] @ np.array([[-0.5, -0.5, 1], [size[0] - 0.5, -0.5, 1],
                                  [-0.5, size[1] - 0.5, 1], [size[0] - 0.5, size[1] - 0.5, 1]]).T
    lo, hi = corners.min(axis=1), corners.max(axis=1)
    margin = 0.15 * float(max(hi - lo))
    shift = 2 * margin * np.asarray(position, dtype=float) - lo + [0.37, 0.61]  # sub-pixel
    canvas = tuple(int(math.ceil(hi[i] - lo[i] + 2 * margin)) for i in (0, 1))
    move = np.array([[1, 0, shift[0]], [0, 1, shift[1]], [0, 0, 1.0]])
    m = move @ rot
    arr = cv2.warpAffine(
        small, m[:2], canvas, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
        borderValue=_BACKGROUND,
    )
    full = m @ resize
    le, re = (tuple(float(v) for v in full[:2] @ [x, y, 1.0]) for x, y in ((lx, ly), (rx, ry)))
    return Synthetic(Image.fromarray(arr, "RGB"), le, re)


def default_detector(image: Image.Image) -> list[Any]:
    """:func:`mggnet_lite.deploy.faces.detect_and_align`, the detector the package uses."""
    from .faces import detect_and_align

    return detect_and_align(image)


@dataclass(frozen=True)
class Found:
    """A detection as :func:`score` reads it (a :class:`~.faces.Face` without the crop)."""

    box: tuple[float, float, float, float]
    landmarks: dict[str, tuple[float, float]]
    eyes_detected: bool


def detector(rolls: tuple[float, ...] | None = None, verify: bool = True) -> Detector:
    """:func:`~.faces.detect` with other settings (``rolls=(0.0,)``: no rotation sweep;
    ``verify=False``: no false-face check), as a detector for :func:`measure`."""
    from .faces import detect

    def run(image: Image.Image) -> list[Found]:
        return [Found((x, y, x + w, y + h), eyes, found)
                for (x, y, w, h), eyes, found in detect(image, rolls=rolls, verify=verify)]

    return run


def score(faces: Sequence[Any], truth: Synthetic) -> dict[str, Any]:
    """How the detections ``faces`` (each with ``box``, ``landmarks``, ``eyes_detected``)
    match the true face of ``truth``: found, located, eye error, false faces."""
    mid = [(a + b) / 2 for a, b in zip(truth.left_eye, truth.right_eye, strict=True)]
    iod = math.dist(truth.left_eye, truth.right_eye)
    best, best_err = None, math.inf
    for f in faces:
        x0, y0, x1, y1 = f.box
        if not (x0 <= mid[0] <= x1 and y0 <= mid[1] <= y1):
            continue
        err = max(math.dist(f.landmarks["left_eye"], truth.left_eye),
                  math.dist(f.landmarks["right_eye"], truth.right_eye)) / iod
        if err < best_err:
            best, best_err = f, err
    return {
        "faces": len(faces),
        "found": best is not None,
        "located": best is not None and best_err <= EYE_TOLERANCE,
        "eye_error": None if best is None else round(best_err, 4),
        "eyes_detected": None if best is None else bool(best.eyes_detected),
        "false_faces": len(faces) - (best is not None),
    }


def measure(
    portraits: Iterable[str] = ("grace_hopper", "astronaut"),
    eye_px: Iterable[float] = EYE_PX,
    rotations: Iterable[float] = ROTATIONS,
    mirrors: Iterable[bool] = (False, True),
    positions: Iterable[tuple[float, float]] = POSITIONS,
    detector: Detector | None = None,
) -> list[dict[str, Any]]:
    """One row per synthetic photo: the setting, the canvas size, :func:`score` and seconds.

    A portrait whose package is missing is skipped with a row ``{"portrait", "skipped"}``.
    """
    detector = detector or default_detector
    rows: list[dict[str, Any]] = []
    eye_px, rotations = list(eye_px), list(rotations)
    mirrors, positions = list(mirrors), list(positions)
    for name in portraits:
        try:
            pixels = load_portrait(name)
        except ImportError as err:
            rows.append({"portrait": name, "skipped": f"{type(err).__name__}: {err}"})
            continue
        for px in eye_px:
            for deg in rotations:
                for mirror in mirrors:
                    for pos in positions:
                        syn = synthesize(pixels, EYES[name], px, deg, mirror, pos)
                        t = time.perf_counter()
                        found = detector(syn.image)
                        rows.append({
                            "portrait": name, "eye_px": px, "degrees": deg, "mirror": mirror,
                            "position": list(pos), "canvas": list(syn.image.size),
                            **score(found, syn),
                            "seconds": round(time.perf_counter() - t, 3),
                        })
    return rows


def summarize(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (portrait, eye_px, degrees): photos, found, located, false faces, worst eye error."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in rows:
        if "skipped" not in r:
            groups.setdefault((r["portrait"], r["eye_px"], r["degrees"]), []).append(r)
    out = []
    for (name, px, deg), rs in groups.items():
        errs = [r["eye_error"] for r in rs if r["eye_error"] is not None]
        out.append({
            "portrait": name, "eye_px": px, "degrees": deg, "photos": len(rs),
            "found": sum(r["found"] for r in rs), "located": sum(r["located"] for r in rs),
            "exactly_one": sum(r["located"] and r["faces"] == 1 for r in rs),
            "false_faces": sum(r["false_faces"] for r in rs),
            "worst_eye_error": max(errs) if errs else None,
        })
    return out


def sweep_settings() -> dict[str, Any]:
    """The full sweep's settings and the scoring rules, for a results file."""
    return {"portraits": {k: {"eyes": v} for k, v in EYES.items()}, "eye_px": EYE_PX,
            "rotations": ROTATIONS, "mirrors": [False, True], "positions": POSITIONS,
            "eye_tolerance": EYE_TOLERANCE,
            "target": "exactly one face, both eyes within 6% of the inter-eye distance, "
                      f"|roll| <= {TARGET_DEGREES:g} degrees, eyes >= {TARGET_EYE_PX:g} px apart"}


def in_target(
    row: dict[str, Any], max_degrees: float = TARGET_DEGREES, min_eye_px: float = TARGET_EYE_PX
) -> bool:
    """Whether a photo of :func:`measure` lies in the target range: roll up to
    ``max_degrees``, eyes at least ``min_eye_px`` apart (skipped photos never do)."""
    return ("skipped" not in row and abs(row["degrees"]) <= max_degrees
            and row["eye_px"] >= min_eye_px)


def target_misses(
    rows: Iterable[dict[str, Any]], max_degrees: float = TARGET_DEGREES,
    min_eye_px: float = TARGET_EYE_PX,
) -> list[dict[str, Any]]:
    """The photos of the target range (:func:`in_target`) that do not give exactly one face
    with both eyes located."""
    return [r for r in rows if in_target(r, max_degrees, min_eye_px)
            and not (r["located"] and r["faces"] == 1)]


def latest_results(results: Path) -> Path:
    """The newest full sweep in a results folder (``face_limits_<date>.json``, the date
    ISO-formatted, so the names sort by date); a clear error when there is none."""
    found = sorted(Path(results).glob("face_limits_*.json"))
    if not found:
        raise FileNotFoundError(
            f"no face_limits_<date>.json in {results}: run python benchmarks/face_limits.py")
    return found[-1]


def format_table(rows: Iterable[dict[str, Any]]) -> str:
    """A text matrix, one line per (portrait, eye_px), one column per roll: each cell is
    ``located/photos``, with ``+Nf`` when N false faces were seen (rows of :func:`measure`)."""
    summary = summarize(rows)
    degs = sorted({s["degrees"] for s in summary})
    cells: dict[tuple, str] = {}
    for s in summary:
        cell = f"{s['located']}/{s['photos']}"
        cells[(s["portrait"], s["eye_px"], s["degrees"])] = cell + (
            f"+{s['false_faces']}f" if s["false_faces"] else "")
    width = max([len(c) for c in cells.values()] + [4])
    lines = ["portrait     eye px | " + " ".join(f"{d:>{width}g}" for d in degs)]
    for name, px in dict.fromkeys((s["portrait"], s["eye_px"]) for s in summary):
        line = " ".join(f"{cells.get((name, px, d), '-'):>{width}}" for d in degs)
        lines.append(f"{name:<12} {px:>6g} | {line}")
    return "\n".join(lines)
