"""Stage 1's pretext on SynthFaces: how each image was drawn, not what its labels are.

The paper's networks all start from ImageNet weights (Sec. 4.1): features learnt on another
task, no variant's optimum. Offline, SynthFaces stands in: a stage-1 backbone learns to
read the rendering parameters of each image (:class:`~.look.FaceParams`), which
:func:`~.look.params_for` draws independently of the 40 labels. Each parameter (a colour
channel counts as one) is cut at its median into a 0/1 "drawing attribute", so that the
baseline's own loss (Eq. 5) and metrics learn and score them.

Two kinds of parameter (:data:`SCENE`, :data:`PARTS`):

* the scene, visible on every image: pose, proportions and part positions, the colours of
  skin, shirt and background, the light, blur and noise;
* how the label-driven parts are drawn: the colour of lips, lipstick, irises, beard,
  frames / hat / tie and metal, the hair's tone, the bangs' length, the shapes of glasses
  and hat brims. They too are drawn independently of the labels, but show only where the
  part is present: a backbone that reads them has to find the part, as ImageNet's
  "lipstick", "sunglasses" and "Windsor tie" classes teach features that find such parts.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .look import FaceParams, params_for, sample_params
from .writer import META_FILE

SCENE: tuple[str, ...] = (
    "dx", "dy", "scale", "angle", "face_w", "head_top", "chin_y", "mouth_y", "hairline_y",
    "hair_volume", "hair_bottom", "neck_w", "skin", "shirt", "bg_a", "bg_b", "bg_angle",
    "bg_texture", "light_dir", "light_strength", "brightness", "tint", "blur_radius",
    "noise_sigma",
)  # fmt: skip
PARTS: tuple[str, ...] = (
    "bangs_len", "hair_tone", "facial_hair", "iris", "lipstick", "accessory", "metal",
    "glasses_round", "hat_brim",
)  # fmt: skip
#: the pretexts a stage 1 may learn (``TrainConfig.target``), each a tuple of parameters
PRETEXTS: dict[str, tuple[str, ...]] = {"drawing": SCENE + PARTS}
_REFERENCE_DRAWS = 4096  # the medians come from this many draws of sample_params (fixed seed)


def _values(p: FaceParams, names: Sequence[str]) -> list[float]:
    row: list[float] = []
    for name in names:
        v = getattr(p, name)
        row.extend(float(x) for x in v) if isinstance(v, tuple) else row.append(float(v))
    return row


@functools.cache
def _cuts(pretext: str) -> tuple[np.ndarray, np.ndarray]:
    """(medians, kept): each value's median over reference draws, and which values cut
    there into two classes of at least 5% (a two-valued colour such as gold / silver metal
    can leave one channel on one side only)."""
    rng = np.random.default_rng(0xD7A)
    draws = np.array([_values(sample_params(rng), PRETEXTS[pretext])
                      for _ in range(_REFERENCE_DRAWS)])
    med = np.median(draws, axis=0)
    rate = (draws > med).mean(0)
    return med, (rate >= 0.05) & (rate <= 0.95)


@functools.cache
def drawing_names(pretext: str = "drawing") -> tuple[str, ...]:
    """The 0/1 drawing attributes' names: ``dx``, ``skin.r``, ``skin.g``, ... in order."""
    p = sample_params(np.random.default_rng(0))
    names: list[str] = []
    for name in PRETEXTS[pretext]:
        v = getattr(p, name)
        names.extend(f"{name}.{c}" for c in "rgb") if isinstance(v, tuple) else names.append(name)
    return tuple(n for n, keep in zip(names, _cuts(pretext)[1], strict=True) if keep)


def drawing_labels(filenames: Sequence[str], seed: int, pretext: str = "drawing") -> torch.Tensor:
    """(N, K) long 0/1: each image's parameters above their median (the medians of
    4,096 reference draws, so every split and set is cut at the same values). ``filenames``:
    SynthFaces' ``000001.jpg`` ... (image ``index`` is ``params_for(seed, index)``)."""
    med, keep = _cuts(pretext)
    rows = np.asarray([_values(params_for(seed, int(Path(f).stem) - 1), PRETEXTS[pretext])
                       for f in filenames]).reshape(len(filenames), len(med))
    return torch.from_numpy((rows > med)[:, keep].astype(np.int64))


def set_seed(root: str | Path) -> int:
    """The seed a SynthFaces folder was rendered with (its ``synthfaces.json``)."""
    path = Path(root) / META_FILE
    if not path.is_file():
        raise ValueError(
            f"target 'drawing' learns SynthFaces' rendering parameters, and {root} is not a "
            f"SynthFaces folder (no {META_FILE}); use target='attributes' on other data")
    return int(json.loads(path.read_text(encoding="utf-8"))["seed"])


def relabel(ds: Any, pretext: str = "drawing") -> Any:
    """A shallow copy of the split ``ds`` (a CelebA reader of a SynthFaces folder) whose
    ``attr`` / ``attr_names`` are the drawing attributes; ``relabelled_from`` keeps ``ds``
    (its decoded-image cache holds the true labels and is opened through it)."""
    out = copy.copy(ds)
    out.attr = drawing_labels(ds.filenames, set_seed(ds.data_root), pretext)
    out.attr_names = list(drawing_names(pretext))
    out.relabelled_from = ds
    return out


def drawing_groups(pretext: str = "drawing") -> dict[str, tuple[str, ...]]:
    """The drawing attributes in two groups, ``scene`` and ``parts`` (the module docstring):
    the label split a stage-1 model is built with (a baseline reads no group, but every model
    is built with a partition of its outputs)."""
    of = {n: ("parts" if n.split(".")[0] in PARTS else "scene") for n in drawing_names(pretext)}
    return {g: tuple(n for n, h in of.items() if h == g) for g in ("scene", "parts")}
