"""SynthFaces: a synthetic face set in CelebA's own layout, with ground truth (DESIGN.md Sec. 5).

Why a synthetic set
-------------------
The book has to run anywhere, with no download, and we want an *instrument*: because we
render every face ourselves we know (a) where each of the 40 CelebA attributes lives in the
picture, as one ground-truth mask per part-based group G_i (paper Sec. 3.1, Fig. 2), and
(b) which attributes we made depend on which, as a directed graph planted across groups
(the non-spatial correlations that the paper's GCL, Sec. 3.2, is meant to pick up, e.g.
"people wearing lipstick are more likely to wear a necklace").

What is written
---------------
``synthesize(out_dir, n, seed)`` writes CelebA's *original* layout, so every CelebA reader
reads it unchanged::

    out_dir/
      img_align_celeba/000001.jpg ...   178 x 218 RGB JPEG, 6-digit names from 000001
      list_attr_celeba.txt               line 1: n; line 2: the 40 names; then
                                         "000001.jpg -1  1 ..." (each value "%2d")
      list_eval_partition.txt            "000001.jpg 0" (0 train, 1 valid, 2 test)
      group_masks/000001.png             uint8, 178 x 218: bit k set where group k is
      synthfaces.json                    generator version, seed, n, split sizes, the model

The partition uses CelebA's proportions (162,770 / 19,867 / 19,962 of 202,599) in
contiguous blocks, as CelebA does; for n = 202,599 the sizes are exactly CelebA's.
``synthfaces.json`` is written last (atomically): a folder without it is an interrupted run,
and the label files are only written once every image is on disk.

The label model
---------------
Labels are drawn from a Bayesian network of conditional Bernoulli draws in a fixed
topological order (:data:`LABEL_MODEL`, one conditional probability table per attribute).
The roots are ``Male`` and ``Young``; the latent ``Attractive`` depends on both, and most
other attributes depend on one to three of ``Male``, ``Young``, ``Attractive``,
``Heavy_Makeup``, ``Smiling`` and ``Wearing_Lipstick``. The marginals come out within about
one point of CelebA's positive rates (:data:`CELEBA_POSITIVE_RATES`). The planted directed
edges (:data:`PLANTED_EDGES`) cross groups on purpose:

* ``Wearing_Lipstick -> Wearing_Necklace`` (the paper's example; mouth -> neck),
* ``Male -> Wearing_Necktie, Goatee, Mustache, Sideburns, 5_o_Clock_Shadow, Bald,
  Big_Nose, Bushy_Eyebrows`` (+) and ``-> No_Beard, Wearing_Lipstick, Heavy_Makeup,
  Wearing_Earrings, Blond_Hair, Bangs, Wavy_Hair`` (-),
* ``Heavy_Makeup -> Wearing_Lipstick, Arched_Eyebrows, Rosy_Cheeks, Wearing_Earrings``,
* ``Smiling -> Mouth_Slightly_Open, High_Cheekbones, Narrow_Eyes``,
* ``Young -> not Gray_Hair, Bald, Receding_Hairline, Bags_Under_Eyes, Eyeglasses,
  Double_Chin``; ``Young -> Attractive``,
* ``Attractive (latent) -> Heavy_Makeup, Oval_Face, Smiling, Pointy_Nose`` and
  ``-> not Chubby, Blurry``; ``Chubby -> Double_Chin``.

:func:`measure_dependencies` measures P(child | parent) and P(child | not parent) for
each edge on a label matrix; ``synthfaces.json`` lists the values measured on 10,000 draws
of the model and on the written set itself.

Exclusive attributes stay exclusive, through zero entries of the tables ("zero_if"):
at most one of Black/Blond/Brown/Gray_Hair; at most one of Straight/Wavy_Hair; Bald has
no hair colour, texture, bangs or receding hairline; Receding_Hairline has no bangs.
Beards follow one rule: ``No_Beard = 0`` means a beard is drawn on the chin and jaw (the
neck group); only men have one; ``Goatee`` and ``Mustache`` refine a beard, so either
implies ``No_Beard = 0``. Sideburns and the 5 o'clock shadow are cheek hair and may occur
with ``No_Beard = 1``.

Rendering
---------
Every attribute except the latent ones (:data:`LATENT_ATTRIBUTES`: ``Attractive``) changes
pixels inside its own group's mask, e.g. hair colour, texture, hat and earrings in
``around_head``; bangs, baldness and a receding hairline in ``hairline``; brows, bags,
glasses and narrow eyes in ``eyes``; nose shape in ``nose``; cheekbones, blush, sideburns
and stubble in ``middle_face``; lips, lipstick, open mouth, smile and mustache in
``mouth``; double chin, goatee, beard, necklace and necktie in ``neck``. The ``whole_face``
attributes change the face and ears: ``Male`` (jaw, skin tint), ``Young`` (wrinkles, skin),
``Chubby`` / ``Oval_Face`` (face shape), ``Pale_Skin`` and ``Heavy_Makeup`` (foundation,
eye shadow, eyeliner). :data:`WHOLE_IMAGE_ATTRIBUTES` (``Blurry``: a Gaussian blur) touch
the whole picture instead.

Faces sit as in CelebA's aligned crops (eyes near (70, 112) and (108, 112)), then each image
gets its own pose (shift, scale, small rotation), skin and hair tones, face proportions,
background (gradient, low-frequency texture, clutter), lighting (gradient, colour cast),
pixel noise and JPEG quality. Shapes are PIL polygons and lines; all the points of an image
go through the pose transform in one matrix product. The group masks are drawn from their own
polygons with the same pose transform and dilated by one pixel; they do not depend on the
labels (they mark where a group's attributes *can* appear, e.g. the hat region even when
there is no hat).

Determinism: image i's pose, colours and noise come from ``SeedSequence([seed, i])`` and
the label matrix from ``SeedSequence([seed, 0x5EED])`` drawn once in the parent, so the
bytes do not depend on the worker count, and no file holds a timestamp.
"""

from __future__ import annotations

import argparse
import colorsys
import functools
import hashlib
import itertools
import json
import math
import multiprocessing as mp
import os
import re
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..attributes import CELEBA_ATTRIBUTES, GROUPS

#: Bump when the labels or the pixels for a given (seed, n) change.
GENERATOR_VERSION = "1.0"

WIDTH, HEIGHT = 178, 218  # CelebA's aligned-and-cropped size
IMAGE_DIR = "img_align_celeba"
MASK_DIR = "group_masks"
ATTR_FILE = "list_attr_celeba.txt"
PARTITION_FILE = "list_eval_partition.txt"
META_FILE = "synthfaces.json"

#: CelebA's split sizes (train, valid, test) of 202,599 images.
CELEBA_SPLIT_SIZES = (162_770, 19_867, 19_962)

#: CelebA's positive rates (the targets of the label model), in percent.
CELEBA_POSITIVE_RATES: dict[str, float] = {
    "5_o_Clock_Shadow": 11, "Arched_Eyebrows": 27, "Attractive": 51, "Bags_Under_Eyes": 20,
    "Bald": 2, "Bangs": 15, "Big_Lips": 24, "Big_Nose": 23, "Black_Hair": 24,
    "Blond_Hair": 15, "Blurry": 5, "Brown_Hair": 21, "Bushy_Eyebrows": 14, "Chubby": 6,
    "Double_Chin": 5, "Eyeglasses": 7, "Goatee": 6, "Gray_Hair": 4, "Heavy_Makeup": 39,
    "High_Cheekbones": 45, "Male": 42, "Mouth_Slightly_Open": 48, "Mustache": 4,
    "Narrow_Eyes": 12, "No_Beard": 83, "Oval_Face": 28, "Pale_Skin": 4, "Pointy_Nose": 28,
    "Receding_Hairline": 8, "Rosy_Cheeks": 7, "Sideburns": 6, "Smiling": 48,
    "Straight_Hair": 21, "Wavy_Hair": 32, "Wearing_Earrings": 19, "Wearing_Hat": 5,
    "Wearing_Lipstick": 47, "Wearing_Necklace": 12, "Wearing_Necktie": 7, "Young": 77,
}  # fmt: skip

#: Attributes that no pixel shows; only their correlations reveal them.
LATENT_ATTRIBUTES: tuple[str, ...] = ("Attractive",)

#: Attributes that by nature change the whole image, not one group's region.
WHOLE_IMAGE_ATTRIBUTES: tuple[str, ...] = ("Blurry",)

GROUP_NAMES: tuple[str, ...] = tuple(GROUPS)
_IDX = {a: i for i, a in enumerate(CELEBA_ATTRIBUTES)}


# --------------------------------------------------------------------------------------
# Label model: a Bayesian network of conditional Bernoulli draws
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """One conditional Bernoulli draw: P(name = 1 | parents), and 0 if any ``zero_if`` is 1.

    ``table`` maps each 0/1 configuration of ``parents`` (in order) to a probability.
    ``zero_if`` parents encode exclusions (hair colours, beards, ...).
    """

    name: str
    parents: tuple[str, ...]
    table: dict[tuple[int, ...], float]
    zero_if: tuple[str, ...] = ()


def _n(name: str, parents: Sequence[str], table, zero_if: Sequence[str] = ()) -> Node:
    if not isinstance(table, dict):
        table = {(): float(table)}
    return Node(name, tuple(parents), dict(table), tuple(zero_if))


#: The label model, in topological order (every parent comes before its children).
LABEL_MODEL: tuple[Node, ...] = (
    _n("Male", (), 0.42),
    _n("Young", (), 0.77),
    # Latent: CelebA's Attractive leans young and female; no pixel shows it.
    _n("Attractive", ("Male", "Young"),
       {(0, 0): 0.35, (0, 1): 0.72, (1, 0): 0.12, (1, 1): 0.38}),
    _n("Pale_Skin", (), 0.04),
    _n("Blurry", ("Attractive",), {(0,): 0.07, (1,): 0.03}),
    _n("Chubby", ("Attractive", "Male", "Young"),
       {(0, 0, 0): 0.15, (0, 0, 1): 0.06, (0, 1, 0): 0.20, (0, 1, 1): 0.10,
        (1, 0, 0): 0.01, (1, 0, 1): 0.01, (1, 1, 0): 0.01, (1, 1, 1): 0.01}),
    _n("Oval_Face", ("Attractive",), {(0,): 0.16, (1,): 0.40}),
    _n("Heavy_Makeup", ("Male", "Attractive"),
       {(0, 0): 0.39, (0, 1): 0.84, (1, 0): 0.01, (1, 1): 0.01}),
    _n("Smiling", ("Attractive",), {(0,): 0.38, (1,): 0.58}),
    # Hairline and hair: Bald excludes every other hair attribute.
    _n("Bald", ("Male", "Young"), {(0, 0): 0.0, (0, 1): 0.0, (1, 0): 0.16, (1, 1): 0.015}),
    _n("Receding_Hairline", ("Male", "Young"),
       {(0, 0): 0.12, (0, 1): 0.04, (1, 0): 0.28, (1, 1): 0.07}, zero_if=("Bald",)),
    _n("Bangs", ("Male",), {(0,): 0.24, (1,): 0.07}, zero_if=("Bald", "Receding_Hairline")),
    _n("Gray_Hair", ("Young",), {(0,): 0.17, (1,): 0.004}, zero_if=("Bald",)),
    _n("Black_Hair", (), 0.255, zero_if=("Bald", "Gray_Hair")),
    _n("Blond_Hair", ("Male",), {(0,): 0.33, (1,): 0.06},
       zero_if=("Bald", "Gray_Hair", "Black_Hair")),
    _n("Brown_Hair", (), 0.38, zero_if=("Bald", "Gray_Hair", "Black_Hair", "Blond_Hair")),
    _n("Wavy_Hair", ("Male",), {(0,): 0.46, (1,): 0.14}, zero_if=("Bald",)),
    _n("Straight_Hair", (), 0.318, zero_if=("Bald", "Wavy_Hair")),
    _n("Wearing_Hat", (), 0.05),
    _n("Wearing_Earrings", ("Male", "Heavy_Makeup"),
       {(0, 0): 0.17, (0, 1): 0.42, (1, 0): 0.01, (1, 1): 0.01}),
    # Eyes
    _n("Arched_Eyebrows", ("Male", "Heavy_Makeup"),
       {(0, 0): 0.28, (0, 1): 0.50, (1, 0): 0.05, (1, 1): 0.05}),
    _n("Bushy_Eyebrows", ("Male",), {(0,): 0.07, (1,): 0.24}),
    _n("Bags_Under_Eyes", ("Male", "Young"),
       {(0, 0): 0.35, (0, 1): 0.08, (1, 0): 0.55, (1, 1): 0.22}),
    _n("Eyeglasses", ("Young",), {(0,): 0.16, (1,): 0.043}),
    _n("Narrow_Eyes", ("Smiling",), {(0,): 0.07, (1,): 0.17}),
    # Nose
    _n("Big_Nose", ("Male", "Young"),
       {(0, 0): 0.22, (0, 1): 0.10, (1, 0): 0.55, (1, 1): 0.33}),
    _n("Pointy_Nose", ("Attractive",), {(0,): 0.20, (1,): 0.36}),
    # Middle face
    _n("High_Cheekbones", ("Smiling",), {(0,): 0.18, (1,): 0.75}),
    _n("Rosy_Cheeks", ("Male", "Heavy_Makeup"),
       {(0, 0): 0.05, (0, 1): 0.14, (1, 0): 0.02, (1, 1): 0.02}),
    # Beards: No_Beard = 0 means a beard on chin and jaw; only men have one.
    _n("No_Beard", ("Male",), {(0,): 1.0, (1,): 0.60}),
    _n("Sideburns", ("Male", "No_Beard"),
       {(0, 0): 0.0, (0, 1): 0.0, (1, 0): 0.25, (1, 1): 0.07}),
    _n("5_o_Clock_Shadow", ("Male", "No_Beard"),
       {(0, 0): 0.0, (0, 1): 0.0, (1, 0): 0.18, (1, 1): 0.30}),
    _n("Goatee", (), 0.35, zero_if=("No_Beard",)),
    # Mouth
    _n("Big_Lips", ("Male",), {(0,): 0.30, (1,): 0.16}),
    _n("Mouth_Slightly_Open", ("Smiling",), {(0,): 0.29, (1,): 0.68}),
    _n("Mustache", ("Goatee",), {(0,): 0.10, (1,): 0.45}, zero_if=("No_Beard",)),
    _n("Wearing_Lipstick", ("Male", "Heavy_Makeup"),
       {(0, 0): 0.55, (0, 1): 0.93, (1, 0): 0.01, (1, 1): 0.01}),
    # Neck
    _n("Double_Chin", ("Chubby", "Young"),
       {(0, 0): 0.08, (0, 1): 0.015, (1, 0): 0.40, (1, 1): 0.40}),
    _n("Wearing_Necklace", ("Wearing_Lipstick",), {(0,): 0.04, (1,): 0.21}),
    _n("Wearing_Necktie", ("Male",), {(0,): 0.005, (1,): 0.155}),
)  # fmt: skip

#: Planted directed dependencies: (parent, child, sign, why). sign +1: the parent raises
#: P(child); -1: lowers it. Each is measured by :func:`measure_dependencies`.
PLANTED_EDGES: tuple[tuple[str, str, int, str], ...] = (
    ("Wearing_Lipstick", "Wearing_Necklace", +1, "the paper's example (Sec. 1): mouth -> neck"),
    ("Male", "Wearing_Necktie", +1, "whole_face -> neck"),
    ("Male", "Goatee", +1, "only men have beards"),
    ("Male", "Mustache", +1, "only men have beards"),
    ("Male", "Sideburns", +1, "only men have sideburns"),
    ("Male", "5_o_Clock_Shadow", +1, "only men have stubble"),
    ("Male", "No_Beard", -1, "40% of men have a beard"),
    ("Male", "Wearing_Lipstick", -1, "whole_face -> mouth"),
    ("Male", "Heavy_Makeup", -1, "within whole_face"),
    ("Male", "Wearing_Earrings", -1, "whole_face -> around_head"),
    ("Male", "Bald", +1, "baldness is male and old"),
    ("Male", "Big_Nose", +1, "whole_face -> nose"),
    ("Male", "Bushy_Eyebrows", +1, "whole_face -> eyes"),
    ("Male", "Blond_Hair", -1, "whole_face -> around_head"),
    ("Male", "Bangs", -1, "whole_face -> hairline"),
    ("Male", "Wavy_Hair", -1, "whole_face -> around_head"),
    ("Heavy_Makeup", "Wearing_Lipstick", +1, "makeup comes with lipstick"),
    ("Heavy_Makeup", "Arched_Eyebrows", +1, "shaped brows"),
    ("Heavy_Makeup", "Rosy_Cheeks", +1, "blush"),
    ("Heavy_Makeup", "Wearing_Earrings", +1, "dressed up"),
    ("Smiling", "Mouth_Slightly_Open", +1, "within mouth"),
    ("Smiling", "High_Cheekbones", +1, "mouth -> middle_face"),
    ("Smiling", "Narrow_Eyes", +1, "mouth -> eyes (smiling eyes)"),
    ("Young", "Gray_Hair", -1, "whole_face -> around_head"),
    ("Young", "Bald", -1, "whole_face -> hairline"),
    ("Young", "Receding_Hairline", -1, "whole_face -> hairline"),
    ("Young", "Bags_Under_Eyes", -1, "whole_face -> eyes"),
    ("Young", "Eyeglasses", -1, "whole_face -> eyes"),
    ("Young", "Double_Chin", -1, "whole_face -> neck"),
    ("Young", "Attractive", +1, "CelebA's annotators"),
    ("Male", "Attractive", -1, "CelebA's annotators"),
    ("Attractive", "Heavy_Makeup", +1, "latent -> visible"),
    ("Attractive", "Oval_Face", +1, "latent -> visible"),
    ("Attractive", "Smiling", +1, "latent -> mouth"),
    ("Attractive", "Pointy_Nose", +1, "latent -> nose"),
    ("Attractive", "Chubby", -1, "latent -> visible"),
    ("Attractive", "Blurry", -1, "latent -> image quality"),
    ("Chubby", "Double_Chin", +1, "whole_face -> neck"),
)

#: Exclusion rules the label model guarantees (checked by the tests).
EXCLUSIONS: tuple[str, ...] = (
    "at most one of Black_Hair, Blond_Hair, Brown_Hair, Gray_Hair",
    "at most one of Straight_Hair, Wavy_Hair",
    "Bald excludes Bangs, Receding_Hairline, every hair colour and texture",
    "Receding_Hairline excludes Bangs",
    "No_Beard = 0 only for Male; Goatee or Mustache imply No_Beard = 0",
    "Sideburns and 5_o_Clock_Shadow only for Male",
)

_LABEL_STREAM = 0x5EED  # SeedSequence([seed, _LABEL_STREAM]) draws the label matrix


def _check_model() -> None:
    seen: set[str] = set()
    for node in LABEL_MODEL:
        for p in node.parents + node.zero_if:
            if p not in seen:
                raise AssertionError(f"LABEL_MODEL: parent {p} of {node.name} comes later")
        if set(node.table) != set(itertools.product((0, 1), repeat=len(node.parents))):
            raise AssertionError(f"LABEL_MODEL: table of {node.name} is incomplete")
        seen.add(node.name)
    if seen != set(CELEBA_ATTRIBUTES):
        raise AssertionError(f"LABEL_MODEL: missing {set(CELEBA_ATTRIBUTES) - seen}")


_check_model()


def sample_labels(n: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Draw ``n`` label vectors from :data:`LABEL_MODEL`; returns uint8 (n, 40) of 0/1.

    Columns are in ``CELEBA_ATTRIBUTES`` order. Vectorised: one uniform matrix, one pass
    over the 40 nodes. With an int seed, the first rows do not depend on ``n``.
    """
    rng = (
        seed
        if isinstance(seed, np.random.Generator)
        else np.random.default_rng(np.random.SeedSequence([int(seed), _LABEL_STREAM]))
    )
    u = rng.random((n, len(LABEL_MODEL)), dtype=np.float64)
    out = np.zeros((n, len(CELEBA_ATTRIBUTES)), dtype=np.uint8)
    for j, node in enumerate(LABEL_MODEL):
        k = len(node.parents)
        table = np.array(
            [node.table[c] for c in itertools.product((0, 1), repeat=k)], dtype=np.float64
        )
        idx = np.zeros(n, dtype=np.intp)
        for par in node.parents:  # first parent is the most significant bit
            idx = idx * 2 + out[:, _IDX[par]]
        p = table[idx]
        for z in node.zero_if:
            p = np.where(out[:, _IDX[z]] == 1, 0.0, p)
        out[:, _IDX[node.name]] = u[:, j] < p
    return out


def measure_dependencies(labels: np.ndarray, edges: Iterable[tuple] = PLANTED_EDGES) -> list[dict]:
    """Measure each edge on a label matrix (n, 40), 0/1 or -1/1.

    Returns one dict per edge: ``parent``, ``child``, ``sign`` (planted), ``description``,
    ``p_child_given_parent``, ``p_child_given_not_parent`` (None where undefined),
    ``difference`` and ``n_parent``.
    """
    y = np.asarray(labels) > 0
    out = []
    for parent, child, sign, why in edges:
        par, ch = y[:, _IDX[parent]], y[:, _IDX[child]]
        n1, n0 = int(par.sum()), int((~par).sum())
        p1 = float(ch[par].mean()) if n1 else None
        p0 = float(ch[~par].mean()) if n0 else None
        diff = p1 - p0 if p1 is not None and p0 is not None else None
        out.append(
            {
                "parent": parent,
                "child": child,
                "sign": sign,
                "description": why,
                "p_child_given_parent": None if p1 is None else round(p1, 4),
                "p_child_given_not_parent": None if p0 is None else round(p0, 4),
                "difference": None if diff is None else round(diff, 4),
                "n_parent": n1,
            }
        )
    return out


def label_model_summary() -> dict:
    """The label model as plain JSON-able data (for ``synthfaces.json`` and the book)."""
    nodes = []
    for node in LABEL_MODEL:
        table = [
            {"given": dict(zip(node.parents, cfg, strict=True)), "p": p}
            for cfg, p in node.table.items()
        ]
        nodes.append(
            {
                "name": node.name,
                "parents": list(node.parents),
                "zero_if": list(node.zero_if),
                "table": table,
            }
        )
    return {
        "kind": "Bayesian network of conditional Bernoulli draws, in this order",
        "nodes": nodes,
        "exclusions": list(EXCLUSIONS),
        "target_positive_rates_percent": CELEBA_POSITIVE_RATES,
    }


# --------------------------------------------------------------------------------------
# Per-image parameters
# --------------------------------------------------------------------------------------

CX, MID_Y = 89.0, 116.0  # face centre line and widest row, in template pixels
EYE_Y, EYE_DX = 112.0, 19.0  # eyes at (70, 112) and (108, 112) as in CelebA's crops
ROT_CENTRE = (89.0, 118.0)
# Supersampling factor for drawing: 2 gives smoother edges for about 25% more time per
# image; 1 keeps generation near 200 images/s per core (issue 3), and JPEG softens the edges.
_SS = 1


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


# --------------------------------------------------------------------------------------
# Geometry helpers (template coordinates: 1x pixels of the un-jittered face)
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _unit_range(n: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n)


def _lin(a: float, b: float, n: int) -> np.ndarray:
    """``np.linspace(a, b, n)`` from a cached unit range (linspace's own overhead adds up)."""
    return a + (b - a) * _unit_range(n)


@functools.lru_cache(maxsize=256)
def _unit_arc(n: int, t0: float, t1: float) -> np.ndarray:
    t = np.linspace(t0, t1, n, endpoint=abs(t1 - t0) < 2 * math.pi - 1e-9)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def _ellipse(
    cx: float, cy: float, a: float, b: float, n: int = 28, t0: float = 0.0, t1: float = 2 * math.pi
) -> np.ndarray:
    """Polygon of an ellipse (or of an arc from angle t0 to t1), as an (n, 2) array."""
    return _unit_arc(n, t0, t1) * (a, b) + (cx, cy)


def _mirror(pts: np.ndarray) -> np.ndarray:
    out = pts.copy()
    out[:, 0] = 2 * CX - out[:, 0]
    return out


class _Shape:
    """Face outline for given proportions: half-width as a function of the row v."""

    def __init__(self, p: FaceParams, male: float, chubby: float, oval: float):
        self.w = p.face_w * (1 + 0.09 * chubby - 0.07 * oval)
        self.top = p.head_top
        self.chin = p.chin_y + 4 * oval
        self.pw = 2.0 + 1.3 * male + 0.6 * chubby - 0.4 * oval  # jaw squareness

    def half_width(self, v: np.ndarray | float) -> np.ndarray:
        # above MID_Y an ellipse (the skull); below it a superellipse of power pw (the jaw)
        v = np.asarray(v, dtype=np.float64)
        up = (MID_Y - v) / (MID_Y - self.top)
        lo = np.clip((v - MID_Y) / (self.chin - MID_Y), 0.0, 1.0)
        hw_up = np.sqrt(np.maximum(1.0 - up * up, 0.0))
        hw_lo = (1.0 - lo**self.pw) ** (1.0 / self.pw)
        return self.w * np.where(up > 0, hw_up, hw_lo)

    def outline(self, n: int = 48) -> np.ndarray:
        v = np.concatenate(
            [
                self.top + (MID_Y - self.top) * (1 - np.cos(_lin(0, math.pi / 2, n // 2))),
                MID_Y + (self.chin - MID_Y) * np.sin(_lin(0, math.pi / 2, n // 2))[1:],
            ]
        )
        hw = self.half_width(v)
        right = np.stack([CX + hw, v], 1)
        left = np.stack([CX - hw, v], 1)[::-1]
        return np.concatenate([right, left])

    def band(self, v0: float, v1: float, inner: float, n: int = 12) -> np.ndarray:
        """Right-side strip between the outline and the line |u - CX| = inner, rows v0..v1."""
        v = _lin(v0, v1, n)
        hw = self.half_width(v)
        outer = np.stack([CX + hw, v], 1)
        inn = np.stack([CX + np.minimum(inner, hw), v], 1)[::-1]
        return np.concatenate([outer, inn])

    def edge_strip(self, v0: float, v1: float, width: float, n: int = 10) -> np.ndarray:
        """Right-side strip of ``width`` just inside the outline, rows v0..v1."""
        v = _lin(v0, v1, n)
        hw = self.half_width(v)
        outer = np.stack([CX + hw - 0.3, v], 1)
        inn = np.stack([CX + np.maximum(hw - width, 0), v], 1)[::-1]
        return np.concatenate([outer, inn])


def _hairline(p: FaceParams, x_n: np.ndarray, receding: float) -> np.ndarray:
    """Row of the hairline at normalised x in [-1, 1]: lower at the temples, M if receding."""
    ax = np.abs(x_n)
    return p.hairline_y + 16 * ax**2 - receding * 15 * np.exp(-(((ax - 0.68) / 0.2) ** 2))


class _Pose:
    """The similarity transform template -> image (shift, scale, rotation about the face)."""

    def __init__(self, p: FaceParams):
        a = math.radians(p.angle)
        c, s = math.cos(a) * p.scale, math.sin(a) * p.scale
        rx, ry = ROT_CENTRE
        # x' = c*(u-rx) + s*(v-ry) + rx + dx ; y' = -s*(u-rx) + c*(v-ry) + ry + dy
        self.m = np.array(
            [[c, s, rx + p.dx - c * rx - s * ry], [-s, c, ry + p.dy + s * rx - c * ry]]
        )

    def __call__(self, pts: np.ndarray, ss: int = _SS) -> list[float]:
        """Template points (k, 2) -> flat [x0, y0, x1, y1, ...] on a canvas ``ss`` times 1x."""
        xy = np.asarray(pts, dtype=np.float64).reshape(-1, 2) @ self.m[:, :2].T + self.m[:, 2]
        # 1x pixel centre i sits at ss*i + (ss-1)/2 on the supersampled canvas
        return (xy * ss + (ss - 1) / 2).ravel().tolist()


class _Recorder:
    """Collects draw calls in template coordinates, then replays them through the pose with
    one matrix product for all points (per-shape numpy calls would dominate the run time)."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, np.ndarray, dict]] = []

    def polygon(self, pts: np.ndarray, **kw) -> None:
        self.ops.append(("polygon", np.asarray(pts, dtype=np.float64).reshape(-1, 2), kw))

    def line(self, pts: np.ndarray, **kw) -> None:
        self.ops.append(("line", np.asarray(pts, dtype=np.float64).reshape(-1, 2), kw))

    def point(self, pts: np.ndarray, **kw) -> None:
        self.ops.append(("point", np.asarray(pts, dtype=np.float64).reshape(-1, 2), kw))

    def replay(self, draw: ImageDraw.ImageDraw, pose: _Pose, ss: int = _SS) -> None:
        if not self.ops:
            return
        flat = pose(np.concatenate([pts for _, pts, _ in self.ops]), ss)
        i = 0
        for kind, pts, kw in self.ops:
            j = i + 2 * len(pts)
            getattr(draw, kind)(flat[i:j], **kw)
            i = j


def _c(rgb: Iterable[float], alpha: float | None = None) -> tuple[int, ...]:
    t = tuple(int(round(min(255.0, max(0.0, float(x))))) for x in rgb)
    return t if alpha is None else (*t, int(alpha))


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> tuple[float, float, float]:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


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


def _background(p: FaceParams, rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Colour gradient + low-frequency texture, built small and upsampled (cheap): bilinear
    to 1x, then nearest to the supersampled canvas (which the final 2x reduce undoes)."""
    gw, gh = 12, 14
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    proj = (xs / (gw - 1) - 0.5) * math.cos(p.bg_angle) + (ys / (gh - 1) - 0.5) * math.sin(
        p.bg_angle
    )
    t = np.clip(proj + 0.5, 0, 1)[..., None]
    g = np.asarray(p.bg_a, np.float32) * (1 - t) + np.asarray(p.bg_b, np.float32) * t
    g += rng.standard_normal((gh, gw, 1), dtype=np.float32) * p.bg_texture
    g += rng.standard_normal((gh, gw, 3), dtype=np.float32) * (p.bg_texture * 0.3)
    small = Image.fromarray(np.clip(g, 0, 255).astype(np.uint8), "RGB")
    one = small.resize((size[0] // _SS, size[1] // _SS), Image.BILINEAR)
    return one if _SS == 1 else one.resize(size, Image.NEAREST)


def _draw_groups(
    d: _Recorder, on: dict[str, bool], p: FaceParams, rng: np.random.Generator
) -> None:
    """Draw the person, back to front, in template coordinates (replayed with the pose)."""
    W = _SS  # line widths scale with the canvas
    shape = _Shape(p, on["Male"], on["Chubby"], on["Oval_Face"])
    skin = _skin_colour(on, p)
    hair = _hair_colour(on, p)
    dark_hair = _mix(hair, (0, 0, 0), 0.35)
    light_hair = _mix(hair, (255, 255, 255), 0.25)
    fh = p.facial_hair
    wavy, straight = on["Wavy_Hair"], on["Straight_Hair"]

    # --- back hair (around_head; its crown is in hairline too) ---
    hair_w = p.face_w + p.hair_volume
    hair_top = p.head_top - 0.8 * p.hair_volume
    amp = 2.5 if wavy else 0.0
    if not on["Bald"]:
        cap = _ellipse(CX, MID_Y - 4, hair_w, MID_Y - 4 - hair_top, 40, math.pi, 2 * math.pi)
        cap = cap[cap[:, 1] <= 100.5]
        if wavy:
            ang = np.arctan2(cap[:, 1] - (MID_Y - 4), cap[:, 0] - CX)
            r = amp * np.sin(_lin(0, 9 * math.pi, len(cap)))
            cap = cap + np.stack([np.cos(ang) * r, np.sin(ang) * r], 1)
        d.polygon(cap, fill=_c(hair))
    bottom = max(p.hair_bottom, 126.0) if on["Bald"] else p.hair_bottom
    for side in (1, -1):
        v = _lin(98, bottom, 14)
        # wavy hair has a rippled outer edge; other hair tapers slightly towards the ends
        taper = 2 * (v - 98) / max(bottom - 98, 1)
        outer = CX + side * (hair_w + amp * np.sin(v / 4.0) if wavy else hair_w - taper)
        inner = np.full_like(v, CX + side * (p.face_w - 6))
        strip = np.concatenate([np.stack([outer, v], 1), np.stack([inner, v], 1)[::-1]])
        d.polygon(strip, fill=_c(hair))
        if straight:
            for k in range(5):
                x = CX + side * (p.face_w - 4 + k * (hair_w - p.face_w + 2) / 5)
                d.line(np.array([[x, 100], [x, bottom - 3]]), fill=_c(light_hair, 150), width=W)
        if wavy:
            for k in range(3):
                x0 = CX + side * (p.face_w - 2 + k * (hair_w - p.face_w) / 3)
                vv = _lin(100, bottom - 3, 16)
                d.line(
                    np.stack([x0 + 2 * np.sin(vv / 4.0), vv], 1), fill=_c(dark_hair, 170), width=W
                )

    # --- shirt, neck, necklace, necktie (neck) ---
    nw = p.neck_w
    shirt = np.array(
        [
            [CX - 110, 260],
            [CX - 100, 214],
            [CX - 60, 203],
            [CX - nw - 3, 197],
            [CX, 206],
            [CX + nw + 3, 197],
            [CX + 60, 203],
            [CX + 100, 214],
            [CX + 110, 260],
        ]
    )
    d.polygon(shirt, fill=_c(p.shirt))
    neck = np.array(
        [[CX - nw, 148], [CX + nw, 148], [CX + nw + 1, 199], [CX, 207], [CX - nw - 1, 199]]
    )
    d.polygon(neck, fill=_c(_mix(p.skin, (0, 0, 0), 0.18)))
    if on["Wearing_Necktie"]:
        for side in (1, -1):
            collar = np.array(
                [[CX + side * (nw + 4), 195], [CX + side * 2, 206], [CX + side * (nw + 8), 210]]
            )
            d.polygon(collar, fill=(240, 240, 240))
        d.polygon(
            np.array([[CX - 4, 201], [CX + 4, 201], [CX + 3, 208], [CX - 3, 208]]),
            fill=_c(p.accessory),
        )
        d.polygon(
            np.array([[CX - 3, 208], [CX + 3, 208], [CX + 7, 235], [CX, 242], [CX - 7, 235]]),
            fill=_c(p.accessory),
        )
        d.line(
            np.array([[CX - 3, 214], [CX + 5, 222]]),
            fill=_c(_mix(p.accessory, (255, 255, 255), 0.4)),
            width=W,
        )
    if on["Wearing_Necklace"]:
        x = _lin(-nw + 1, nw - 1, 15)
        chain = np.stack([CX + x, 189 + 9 * (1 - (x / nw) ** 2)], 1)
        d.line(chain, fill=_c(p.metal), width=int(1.5 * W), joint="curve")
        d.polygon(_ellipse(CX, 201.5, 2.6, 3.2, 12), fill=_c(p.metal))

    # --- ears (around_head, in whole_face for their tone), earrings ---
    ear_x = p.face_w + 1
    for side in (1, -1):
        d.polygon(_ellipse(CX + side * ear_x, 121, 6, 12, 20), fill=_c(_mix(skin, (0, 0, 0), 0.08)))
        d.polygon(
            _ellipse(CX + side * (ear_x + 1.5), 121, 2.5, 7, 14),
            fill=_c(_mix(skin, (0, 0, 0), 0.25)),
        )
        if on["Wearing_Earrings"]:
            d.polygon(_ellipse(CX + side * (ear_x + 0.5), 137, 2.6, 2.6, 10), fill=_c(p.metal))
            d.polygon(_ellipse(CX + side * (ear_x + 0.5), 142.5, 2.0, 3.2, 10), fill=_c(p.metal))

    # --- face (whole_face): outline, shading ---
    outline = shape.outline()
    d.polygon(outline, fill=_c(_mix(skin, (0, 0, 0), 0.1)))
    inner = (outline - [CX, MID_Y]) * [0.86, 0.92] + [CX, MID_Y - 2]
    d.polygon(inner, fill=_c(skin))
    if on["Heavy_Makeup"]:
        shadow = _mix(p.lipstick, (90, 60, 120), 0.5)
        for side in (1, -1):
            ex = CX + side * EYE_DX
            d.polygon(_ellipse(ex, EYE_Y - 4.5, 10.5, 4.5, 16), fill=_c(shadow, 110))
    if not on["Young"]:
        line = _c(_mix(skin, (0, 0, 0), 0.3), 160)
        for k in range(3):
            y = 84 + 4 * k
            d.line(np.array([[CX - 14, y], [CX, y - 1.5], [CX + 14, y]]), fill=line, width=W)
        for side in (1, -1):
            ox = CX + side * (EYE_DX + 11)
            for dy in (-2.5, 0, 2.5):
                d.line(
                    np.array([[ox, EYE_Y], [ox + side * 5, EYE_Y + dy * 1.4]]), fill=line, width=W
                )
            d.line(
                np.array([[CX + side * 9, 137], [CX + side * 14, 145], [CX + side * 17, 153]]),
                fill=line,
                width=W,
            )

    # --- middle face: cheekbones, blush, stubble, sideburns ---
    for side in (1, -1):

        def m(pts: np.ndarray, side: int = side) -> np.ndarray:
            return pts if side == 1 else _mirror(pts)

        cw = shape.w
        if on["High_Cheekbones"]:
            # a highlight on the cheekbone and a soft hollow under it
            d.polygon(m(_ellipse(CX + cw - 13, 123, 8, 3.5, 16)), fill=(255, 245, 235, 60))
            d.polygon(m(_ellipse(CX + cw - 11, 133.5, 7, 2.2, 16)), fill=(90, 50, 40, 40))
        if on["Rosy_Cheeks"]:
            d.polygon(m(_ellipse(CX + cw - 15, 130, 7, 5, 16)), fill=(225, 80, 90, 95))
        if on["5_o_Clock_Shadow"]:
            d.polygon(m(shape.band(128, 166, 14)), fill=_c(fh, 55))
            v = rng.uniform(128, 166, 60)
            hw = shape.half_width(v)
            x = 14 + rng.uniform(0, 1, 60) * np.maximum(hw - 15, 0)
            d.point(m(np.stack([CX + x, v], 1)), fill=_c(fh, 200))
        if on["Sideburns"]:
            d.polygon(m(shape.edge_strip(88, 130, 6)), fill=_c(fh))

    # --- nose ---
    big, pointy = on["Big_Nose"], on["Pointy_Nose"]
    nshade = _c(_mix(skin, (0, 0, 0), 0.25), 120)
    for side in (1, -1):
        d.line(np.array([[CX + side * 4, 112], [CX + side * 5, 132]]), fill=nshade, width=W)
    wing = 10.0 if big else 7.0
    tip_y = 137.0
    if pointy:
        d.polygon(
            np.array([[CX, tip_y + 4], [CX - 4, tip_y - 5], [CX + 4, tip_y - 5]]),
            fill=_c(_mix(skin, (255, 255, 255), 0.25)),
        )
        d.line(
            np.array([[CX - 3, tip_y + 2], [CX, tip_y + 5], [CX + 3, tip_y + 2]]),
            fill=_c(_mix(skin, (0, 0, 0), 0.4)),
            width=W,
        )
    else:
        d.polygon(
            _ellipse(CX, tip_y, 5.5 if big else 4.0, 3.5 if big else 3.0, 16),
            fill=_c(_mix(skin, (255, 255, 255), 0.12)),
        )
    for side in (1, -1):
        d.polygon(
            _ellipse(CX + side * (wing - 3.5), tip_y + 2.5, 3.2 if big else 2.2, 1.5, 12),
            fill=_c(_mix(skin, (0, 0, 0), 0.55)),
        )
        d.line(
            (
                _ellipse(
                    CX + side * (wing - 2),
                    tip_y,
                    2.5,
                    3.5,
                    8,
                    math.pi / 2 - side * math.pi / 2 - 1.2,
                    math.pi / 2 - side * math.pi / 2 + 1.2,
                )
            ),
            fill=nshade,
            width=W,
        )

    # --- eyes ---
    narrow = on["Narrow_Eyes"]
    eh = 2.2 if narrow else 4.5
    brow_w = (4.6 if on["Bushy_Eyebrows"] else 2.2) * W
    brow_col = _c(_mix(fh, (0, 0, 0), 0.3) if on["Bushy_Eyebrows"] else fh)
    for side in (1, -1):

        def m(pts: np.ndarray, side: int = side) -> np.ndarray:
            return pts if side == 1 else _mirror(pts)

        ex = CX + EYE_DX
        if on["Bags_Under_Eyes"]:
            d.polygon(m(_ellipse(ex, EYE_Y + 5, 8, 3.2, 16)), fill=(70, 40, 60, 80))
            d.line(
                m(_ellipse(ex, EYE_Y + 4, 8, 4.5, 10, 0.4, math.pi - 0.4)),
                fill=_c(_mix(skin, (0, 0, 0), 0.4)),
                width=W,
            )
        d.polygon(m(_ellipse(ex, EYE_Y, 9, eh, 24)), fill=(238, 236, 232))
        ih = min(3.6, eh)
        d.polygon(m(_ellipse(ex, EYE_Y, 3.6, ih, 16)), fill=_c(p.iris))
        d.polygon(m(_ellipse(ex, EYE_Y, 1.5, min(1.5, eh * 0.6), 10)), fill=(10, 10, 10))
        lid = m(_ellipse(ex, EYE_Y, 9, eh, 14, math.pi, 2 * math.pi))
        d.line(lid, fill=(30, 20, 20), width=int((2.2 if on["Heavy_Makeup"] else 1.0) * W))
        # brows: arched = a peak two thirds out; flat = nearly straight
        rise = 6.0 if on["Arched_Eyebrows"] else 1.5
        bx = np.array([CX + 9, CX + 15, CX + 22, CX + 27, CX + 30])
        by = 102 - rise * np.array([0.2, 0.6, 1.0, 0.6, 0.0]) - np.array([0, 0.5, 1, 1, 0.5])
        d.line(m(np.stack([bx, by], 1)), fill=brow_col, width=int(brow_w), joint="curve")
        if on["Bushy_Eyebrows"]:
            for k in range(6):
                x = CX + 10 + 3.5 * k
                y = float(np.interp(x, bx, by))
                d.line(m(np.array([[x, y + 2.5], [x + 2.5, y - 3]])), fill=brow_col, width=W)
        if on["Eyeglasses"]:
            frame = _c(p.accessory)
            if p.glasses_round:
                rim = _ellipse(ex, EYE_Y, 12, 10, 28)
            else:
                rim = np.array(
                    [
                        [ex - 13, EYE_Y - 8],
                        [ex + 13, EYE_Y - 8],
                        [ex + 12, EYE_Y + 8],
                        [ex - 12, EYE_Y + 8],
                    ]
                )
            d.polygon(m(rim), fill=(200, 220, 235, 40))
            d.line(m(np.concatenate([rim, rim[:1]])), fill=frame, width=int(1.6 * W))
            d.line(
                m(
                    np.array(
                        [
                            [ex + (12 if p.glasses_round else 13), EYE_Y - 3],
                            [CX + shape.half_width(EYE_Y - 3) - 0.5, EYE_Y - 4],
                        ]
                    )
                ),
                fill=frame,
                width=int(1.4 * W),
            )
    if on["Eyeglasses"]:
        d.line(
            np.array([[CX - 7, EYE_Y - 3], [CX, EYE_Y - 5], [CX + 7, EYE_Y - 3]]),
            fill=_c(p.accessory),
            width=int(1.6 * W),
        )

    # --- mouth ---
    my = p.mouth_y
    smile = on["Smiling"]
    mw = 16.0 if smile else 13.0
    lips_k = 1.6 if on["Big_Lips"] else 1.0
    gap = (4.5 if smile else 3.5) if on["Mouth_Slightly_Open"] else 0.0
    x = _lin(-mw, mw, 17)
    mid = my - (3.0 if smile else 0.0) * (x / mw) ** 2 + (1.0 if smile else 0.0)
    up_top = mid - lips_k * (3.0 - 1.2 * np.exp(-((x / 3.0) ** 2))) * (1 - (x / mw) ** 2) ** 0.5
    lo_bot = mid + gap + lips_k * 4.0 * (1 - (x / mw) ** 2) ** 0.6
    lip = p.lipstick if on["Wearing_Lipstick"] else p.lip
    if on["Mustache"]:
        xm = _lin(-mw - 2, mw + 2, 13)
        top = my - 9 - 1.0 * np.cos(xm / (mw + 2) * math.pi / 2)
        bot = np.interp(xm, x, up_top, left=mid[0], right=mid[-1]) - 0.5
        d.polygon(
            np.concatenate([np.stack([CX + xm, top], 1), np.stack([CX + xm, bot], 1)[::-1]]),
            fill=_c(fh),
        )
    if gap:
        inside = np.concatenate(
            [np.stack([CX + x, mid], 1), np.stack([CX + x, mid + gap], 1)[::-1]]
        )
        d.polygon(inside, fill=(45, 15, 20))
        if smile:
            d.polygon(
                np.concatenate(
                    [
                        np.stack([CX + x * 0.8, mid + 0.2], 1),
                        np.stack([CX + x * 0.8, mid + gap * 0.5], 1)[::-1],
                    ]
                ),
                fill=(240, 238, 228),
            )
    d.polygon(
        np.concatenate([np.stack([CX + x, up_top], 1), np.stack([CX + x, mid], 1)[::-1]]),
        fill=_c(_mix(lip, (0, 0, 0), 0.1)),
    )
    d.polygon(
        np.concatenate([np.stack([CX + x, mid + gap], 1), np.stack([CX + x, lo_bot], 1)[::-1]]),
        fill=_c(lip),
    )
    d.line(np.stack([CX + x, mid], 1), fill=_c(_mix(lip, (0, 0, 0), 0.5)), width=W)

    # --- neck group on the face: beard, goatee, double chin ---
    if not on["No_Beard"]:
        v = _lin(157, shape.chin, 14)
        hw = shape.half_width(v)
        right = np.stack([CX + hw, v], 1)
        beard = np.concatenate(
            [
                right,
                [[CX, shape.chin + 2]],
                _mirror(right)[::-1],
                [[CX - 12, 157], [CX - 10, 163], [CX + 10, 163], [CX + 12, 157]],
            ]
        )
        d.polygon(beard, fill=_c(fh, 170))
        v = rng.uniform(158, shape.chin, 80)
        xs = rng.uniform(-1, 1, 80) * (shape.half_width(v) - 1)
        keep = (np.abs(xs) > 10) | (v > 164)
        d.point(np.stack([CX + xs[keep], v[keep]], 1), fill=_c(_mix(fh, (0, 0, 0), 0.4)))
    if on["Goatee"]:
        g = np.array(
            [
                [CX - 8, 162],
                [CX + 8, 162],
                [CX + 6, shape.chin],
                [CX, shape.chin + 4],
                [CX - 6, shape.chin],
            ]
        )
        d.polygon(g, fill=_c(_mix(fh, (0, 0, 0), 0.2)))
    if on["Double_Chin"]:
        v = _lin(-1, 1, 13)
        xx = v * min(nw + 1, shape.w * 0.55)
        yy = shape.chin + 5 - 4 * v**2
        d.line(np.stack([CX + xx, yy], 1), fill=_c(_mix(skin, (0, 0, 0), 0.35)), width=int(1.5 * W))
        d.polygon(
            np.concatenate(
                [
                    np.stack([CX + xx, yy - 0.5], 1),
                    np.stack([CX + xx[::-1] * 0.8, shape.chin + 0.5 + 0 * xx], 1),
                ]
            ),
            fill=_c(_mix(skin, (255, 255, 255), 0.05)),
        )

    # --- front hair: crown and hairline (hairline), bangs, hat ---
    if not on["Bald"]:
        xn = _lin(-1, 1, 25)
        hl = _hairline(p, xn, float(on["Receding_Hairline"]))
        w_cap = p.face_w + 1
        front = np.stack(
            [
                CX
                + xn * w_cap * np.sqrt(np.clip(1 - ((MID_Y - hl) / (MID_Y - hair_top)) ** 2, 0, 1)),
                hl,
            ],
            1,
        )
        arc = _ellipse(CX, MID_Y - 4, hair_w, MID_Y - 4 - hair_top, 24, 2 * math.pi, math.pi)
        arc = arc[arc[:, 1] <= front[0, 1]]
        d.polygon(np.concatenate([front, arc]), fill=_c(hair))
        if straight:
            for k in range(-3, 4):
                d.line(
                    np.array([[CX + 4 * k, hair_top + 4], [CX + 7 * k, p.hairline_y - 2]]),
                    fill=_c(light_hair, 140),
                    width=W,
                )
        if wavy:
            for k in range(2):
                xx = _lin(-p.face_w * 0.8, p.face_w * 0.8, 16)
                d.line(
                    np.stack([CX + xx, hair_top + 10 + 9 * k + 2 * np.sin(xx / 3)], 1),
                    fill=_c(dark_hair, 160),
                    width=W,
                )
        if on["Bangs"]:
            n = 13
            xb = _lin(-0.85, 0.85, n) * p.face_w
            bot = p.bangs_len + np.where(np.arange(n) % 2 == 0, 0.0, -3.0)
            top = _hairline(p, xb / w_cap, 0.0) - 3
            d.polygon(
                np.concatenate([np.stack([CX + xb, top], 1)[::-1], np.stack([CX + xb, bot], 1)]),
                fill=_c(hair),
            )
            for k in range(1, n - 1, 2):
                d.line(
                    np.array([[CX + xb[k], top[k] + 3], [CX + xb[k] + 1, bot[k] - 1]]),
                    fill=_c(dark_hair, 140),
                    width=W,
                )
    if on["Wearing_Hat"]:
        hat_w = hair_w + 3
        dome = _ellipse(
            CX, p.hairline_y - 2, hat_w, p.hairline_y - 2 - (hair_top - 6), 24, math.pi, 2 * math.pi
        )
        d.polygon(dome, fill=_c(p.accessory))
        d.line(
            np.array([[CX - hat_w, p.hairline_y - 4], [CX + hat_w, p.hairline_y - 4]]),
            fill=_c(_mix(p.accessory, (0, 0, 0), 0.35)),
            width=3 * W,
        )
        if p.hat_brim:
            d.polygon(
                np.array(
                    [
                        [CX - hat_w - 8, p.hairline_y - 1],
                        [CX + hat_w + 8, p.hairline_y - 1],
                        [CX + hat_w, p.hairline_y - 6],
                        [CX - hat_w, p.hairline_y - 6],
                    ]
                ),
                fill=_c(_mix(p.accessory, (0, 0, 0), 0.2)),
            )


def _mask_regions(p: FaceParams) -> dict[str, list[np.ndarray]]:
    """Polygons (template coordinates) of each group's region: the union of everywhere its
    attributes can draw for this image's proportions, whatever the labels."""
    big = _Shape(p, male=1.0, chubby=1.0, oval=0.0)  # widest face, squarest jaw
    small = _Shape(p, male=0.0, chubby=0.0, oval=1.0)  # narrowest face
    long_ = _Shape(p, male=1.0, chubby=1.0, oval=1.0)
    long_.w = big.w  # longest chin at the widest width: covers every label combination
    # the face region reaches a little below the chin: a double chin, a beard and the
    # chin's shading move with the face shape
    chin_zone = _Shape(p, male=1.0, chubby=1.0, oval=1.0)
    chin_zone.w, chin_zone.chin = big.w, long_.chin + 7
    face = chin_zone.outline(64)
    hair_w = p.face_w + p.hair_volume + 2.8
    hair_top = p.head_top - 0.8 * p.hair_volume - 2.8
    head = _ellipse(CX, MID_Y - 4, hair_w, MID_Y - 4 - hair_top, 40, math.pi, 2 * math.pi)
    cap = head[head[:, 1] <= 101]
    ear_x = p.face_w + 1
    bottom = max(p.hair_bottom, 126.0)
    hat_w = p.face_w + p.hair_volume + 3
    hat_top = hair_top + 2.8 - 6
    out: dict[str, list[np.ndarray]] = {g: [] for g in GROUP_NAMES}
    ears = [_ellipse(CX + s * ear_x, 121, 6.5, 12.5, 20) for s in (1, -1)]
    out["whole_face"] = [face, *ears]
    strips = []
    for s in (1, -1):
        strips.append(
            np.array(
                [
                    [CX + s * (p.face_w - 7), 97],
                    [CX + s * hair_w, 97],
                    [CX + s * hair_w, bottom + 1],
                    [CX + s * (p.face_w - 7), bottom + 1],
                ]
            )
        )
    hat = np.concatenate(
        [
            _ellipse(
                CX,
                p.hairline_y - 2,
                hat_w + 1,
                p.hairline_y - 2 - hat_top + 1,
                24,
                math.pi,
                2 * math.pi,
            ),
            [[CX + hat_w + 9, p.hairline_y], [CX - hat_w - 9, p.hairline_y]],
        ]
    )
    earrings = [
        np.array(
            [
                [CX + s * (ear_x - 3), 133],
                [CX + s * (ear_x + 4), 133],
                [CX + s * (ear_x + 4), 146],
                [CX + s * (ear_x - 3), 146],
            ]
        )
        for s in (1, -1)
    ]
    out["around_head"] = [cap, *strips, hat, *ears, *earrings]
    out["hairline"] = [cap]
    eyes = [_ellipse(CX + s * EYE_DX, 109, 17, 17, 24) for s in (1, -1)]
    arms = np.array(
        [
            [CX - big.w - 1, EYE_Y - 9],
            [CX + big.w + 1, EYE_Y - 9],
            [CX + big.w + 1, EYE_Y + 3],
            [CX - big.w - 1, EYE_Y + 3],
        ]
    )
    out["eyes"] = [*eyes, arms]
    out["nose"] = [np.array([[CX - 7, 107], [CX + 7, 107], [CX + 15, 146], [CX - 15, 146]])]
    cheeks = []
    for s in (1, -1):
        band = big.band(110, 171, 8, 16)
        v = _lin(85, 132, 10)
        side = np.concatenate(
            [
                np.stack([CX + big.half_width(v) + 0.5, v], 1),
                np.stack([CX + small.half_width(v) - 8, v], 1)[::-1],
            ]
        )
        cheeks += [band, side] if s == 1 else [_mirror(band), _mirror(side)]
    out["middle_face"] = cheeks
    out["mouth"] = [_ellipse(CX, (p.mouth_y - 12 + p.mouth_y + 14) / 2, 26, 15, 28)]
    lower = np.concatenate(
        [np.stack([CX + long_.half_width(v), v], 1) for v in [_lin(155, long_.chin, 12)]]
    )
    jaw = np.concatenate([lower, [[CX, long_.chin + 5]], _mirror(lower)[::-1]])
    nw = p.neck_w
    neck = np.array(
        [[CX - nw - 7, 146], [CX + nw + 7, 146], [CX + nw + 7, 260], [CX - nw - 7, 260]]
    )
    chest = np.array(
        [[CX - nw - 12, 186], [CX + nw + 12, 186], [CX + nw + 12, 260], [CX - nw - 12, 260]]
    )
    out["neck"] = [jaw, neck, chest]
    return out


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
    labels: Sequence[int] | np.ndarray, params: FaceParams, *, noise: bool, masks: bool
) -> tuple[np.ndarray, np.ndarray | None]:
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
    for _ in range(params.bg_shapes):  # clutter behind the person
        cx, cy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
        a, b = rng.uniform(8, 40, 2)
        col = _c(rng.uniform(0, 255, 3), 110)
        d.polygon((_ellipse(cx, cy, a, b, 16) * _SS).ravel().tolist(), fill=col)
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
    return f.astype(np.uint8), (_render_masks_packed(params, pose) if masks else None)


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
# Writing a set
# --------------------------------------------------------------------------------------


def split_sizes(n: int) -> tuple[int, int, int]:
    """CelebA's train/valid/test proportions for ``n`` images (exact for n = 202,599)."""
    total = sum(CELEBA_SPLIT_SIZES)
    train = round(n * CELEBA_SPLIT_SIZES[0] / total)
    valid = round(n * CELEBA_SPLIT_SIZES[1] / total)
    return train, valid, n - train - valid


def image_name(index: int) -> str:
    """CelebA's file name of image ``index`` (0-based): ``000001.jpg`` for 0."""
    return f"{index + 1:06d}.jpg"


def _write_one(root: Path, index: int, labels: np.ndarray, seed: int, masks: bool) -> None:
    p = params_for(seed, index)
    img, packed = _render_packed(labels, p, noise=True, masks=masks)
    name = image_name(index)
    Image.fromarray(img, "RGB").save(root / IMAGE_DIR / name, quality=p.jpeg_quality)
    if packed is not None:
        # compress_level=1: the masks are flat regions, so fast zlib is nearly as small
        Image.fromarray(packed, "L").save(
            root / MASK_DIR / (name[:-4] + ".png"), compress_level=1, compress_type=3
        )


def _write_chunk(job: tuple[str, int, np.ndarray, int, bool]) -> int:
    root, start, labels, seed, masks = job
    for j in range(len(labels)):
        _write_one(Path(root), start + j, labels[j], seed, masks)
    return len(labels)


def _chunks(root: Path, labels: np.ndarray, seed: int, masks: bool, size: int) -> Iterator:
    for s in range(0, len(labels), size):
        yield (str(root), s, labels[s : s + size], seed, masks)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, path)


def _attr_text(labels: np.ndarray) -> str:
    lines = [str(len(labels)), " ".join(CELEBA_ATTRIBUTES)]
    pm = np.where(labels > 0, 1, -1)
    for i, row in enumerate(pm):
        lines.append(image_name(i) + " " + " ".join(f"{v:2d}" for v in row))
    return "\n".join(lines) + "\n"


def _partition_text(n: int) -> str:
    tr, va, _ = split_sizes(n)
    part = np.full(n, 2)
    part[:tr] = 0
    part[tr : tr + va] = 1
    return "".join(f"{image_name(i)} {part[i]}\n" for i in range(n))


def _metadata(n: int, seed: int, labels: np.ndarray, masks: bool) -> dict:
    ref = sample_labels(10_000, 0)
    return {
        "name": "SynthFaces",
        "generator": "mggnet_lite.data.synthfaces",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n": n,
        "image_size": [WIDTH, HEIGHT],
        "split_sizes": dict(zip(("train", "valid", "test"), split_sizes(n), strict=True)),
        "files": {
            "images": IMAGE_DIR,
            "attributes": ATTR_FILE,
            "partition": PARTITION_FILE,
            "group_masks": MASK_DIR if masks else None,
        },
        "group_masks": {
            "format": "uint8 PNG, 178x218, bit k set where group k is",
            "groups": {
                g: {"bit": k, "attributes": list(GROUPS[g])} for k, g in enumerate(GROUP_NAMES)
            },
        },
        "latent_attributes": list(LATENT_ATTRIBUTES),
        "whole_image_attributes": list(WHOLE_IMAGE_ATTRIBUTES),
        "attribute_model": label_model_summary(),
        "planted_edges": [list(e) for e in PLANTED_EDGES],
        "positive_rates_model_10000_draws": {
            a: round(float(ref[:, i].mean()), 4) for i, a in enumerate(CELEBA_ATTRIBUTES)
        },
        "positive_rates_this_set": {
            a: round(float(labels[:, i].mean()), 4) if n else None
            for i, a in enumerate(CELEBA_ATTRIBUTES)
        },
        "dependencies_model_10000_draws": measure_dependencies(ref),
        "dependencies_this_set": measure_dependencies(labels),
    }


def is_complete(root: str | os.PathLike, n: int, seed: int, masks: bool = True) -> bool:
    """True if ``root`` holds a finished SynthFaces set of this version, ``n`` and ``seed``."""
    try:
        meta = json.loads((Path(root) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        meta.get("generator_version") == GENERATOR_VERSION
        and meta.get("n") == n
        and meta.get("seed") == seed
        and (meta.get("files", {}).get("group_masks") is not None or not masks)
    )


_NAME_RE = re.compile(r"^(\d{6})\.(jpg|png)$")


def synthesize(
    out_dir: str | os.PathLike,
    n: int = 1000,
    seed: int = 0,
    *,
    workers: int | None = None,
    masks: bool = True,
    progress: bool = True,
    force: bool = False,
    chunk_size: int = 256,
) -> Path:
    """Render a SynthFaces set of ``n`` images into ``out_dir`` in CelebA's layout; returns it.

    A finished set with the same version, ``n`` and ``seed`` is reused unless ``force``.
    ``workers=None`` uses every core (``os.cpu_count()``); the bytes are the same for any
    worker count. The label files come after the images and ``synthfaces.json`` last, so an
    interrupted run never looks complete.
    """
    if n < 1:
        raise ValueError(f"synthesize: n must be at least 1, got {n}")
    root = Path(out_dir)
    if not force and is_complete(root, n, seed, masks):
        return root
    root.mkdir(parents=True, exist_ok=True)
    for stale in (META_FILE, ATTR_FILE, PARTITION_FILE):  # first: mark the folder unfinished
        (root / stale).unlink(missing_ok=True)
    for sub, wanted in ((IMAGE_DIR, True), (MASK_DIR, masks)):
        folder = root / sub
        if not wanted:
            shutil.rmtree(folder, ignore_errors=True)
            continue
        folder.mkdir(exist_ok=True)
        for entry in os.scandir(folder):  # files of an earlier, larger set
            mt = _NAME_RE.match(entry.name)
            if mt and int(mt.group(1)) > n:
                os.unlink(entry.path)

    labels = sample_labels(n, seed)
    workers = os.cpu_count() or 1 if workers is None else max(1, int(workers))
    workers = min(workers, math.ceil(n / chunk_size))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="SynthFaces", unit="img")
    try:
        jobs = _chunks(root, labels, seed, masks, chunk_size)
        if workers <= 1:
            for job in jobs:
                k = _write_chunk(job)
                if bar is not None:
                    bar.update(k)
        else:
            # fork on Linux: no re-import of torch in each worker; spawn elsewhere
            ctx = mp.get_context("fork" if sys.platform.startswith("linux") else None)
            with ctx.Pool(workers) as pool:
                for k in pool.imap_unordered(_write_chunk, jobs):
                    if bar is not None:
                        bar.update(k)
    finally:
        if bar is not None:
            bar.close()

    _atomic_write_text(root / PARTITION_FILE, _partition_text(n))
    _atomic_write_text(root / ATTR_FILE, _attr_text(labels))
    meta = _metadata(n, seed, labels, masks)
    _atomic_write_text(root / META_FILE, json.dumps(meta, indent=2) + "\n")
    return root


def load_group_masks(root: str | os.PathLike, index_or_filename: int | str) -> np.ndarray:
    """Ground-truth group masks of one image: bool (8, 218, 178), groups in ``GROUPS`` order.

    ``index_or_filename``: 0-based position in the label file (0 is ``000001.jpg``), or a
    file name such as ``"000001.jpg"`` / ``"000001"``.
    """
    if isinstance(index_or_filename, str):
        stem = Path(index_or_filename).stem
    else:
        stem = image_name(int(index_or_filename))[:-4]
    path = Path(root) / MASK_DIR / f"{stem}.png"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no group mask; SynthFaces writes them unless masks=False "
            "(regenerate with `python -m mggnet_lite synth --out DIR --n N`)"
        )
    return unpack_masks(np.asarray(Image.open(path)))


def tree_hash(root: str | os.PathLike) -> str:
    """SHA-256 over every file's relative path and bytes under ``root`` (for determinism)."""
    h = hashlib.sha256()
    base = Path(root)
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        h.update(path.relative_to(base).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# Command line: python -m mggnet_lite synth --out DIR --n N --seed S
# --------------------------------------------------------------------------------------


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m mggnet_lite synth``."""
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--n", type=int, default=1000, help="number of images (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all)")
    parser.add_argument("--no-masks", action="store_true", help="skip the group mask PNGs")
    parser.add_argument("--force", action="store_true", help="regenerate a finished set")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def cli_main(args: argparse.Namespace) -> int:
    """Run ``synth``; prints the root and the split sizes."""
    if args.n < 1:
        print(f"synth: --n must be at least 1, got {args.n}", file=sys.stderr)
        return 2
    root = synthesize(
        args.out,
        n=args.n,
        seed=args.seed,
        workers=args.workers,
        masks=not args.no_masks,
        progress=not args.quiet,
        force=args.force,
    )
    tr, va, te = split_sizes(args.n)
    print(f"SynthFaces: {args.n} images (train {tr}, valid {va}, test {te}) in {root}")
    return 0
