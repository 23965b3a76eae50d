"""SynthFaces' person: the parts of the face in drawing order, and the group regions.

:data:`PARTS` fixes the order, back to front; :func:`_draw_groups` draws them and
:func:`_mask_regions` gathers each part's region polygons by group (paper Sec. 3.1, Fig. 2;
ARCHITECTURE.md). The regions depend on the image's proportions only, never on the labels:
they mark where a group's attributes *can* appear (the hat region even without a hat).
"""

from __future__ import annotations

import numpy as np

from .face import CHEEKS, EARS, EYES, FACE, MOUTH, NOSE
from .geometry import Part, _Bounds, _Brush, _Recorder
from .hair import BACK_HAIR, FRONT_HAIR, HAT
from .labels import GROUP_NAMES
from .look import FaceParams
from .neck import CHIN, NECK

#: The parts of the face, back to front. The order is part of the output: the parts
#: overlap and are alpha-blended, and the chin and cheeks draw from one texture stream.
PARTS: tuple[Part, ...] = (
    BACK_HAIR,  # around_head; its crown is in hairline too
    NECK,  # shirt, neck, necktie, necklace
    EARS,  # around_head, in whole_face for their tone; earrings
    FACE,  # whole_face: outline, shading, eye shadow, wrinkles
    CHEEKS,  # middle_face: cheekbones, blush, stubble, sideburns
    NOSE,
    EYES,  # with brows and glasses
    MOUTH,  # with mustache
    CHIN,  # the neck group on the face: beard, goatee, double chin
    FRONT_HAIR,  # crown and hairline, bangs
    HAT,
)


def _draw_groups(
    d: _Recorder, on: dict[str, bool], p: FaceParams, rng: np.random.Generator
) -> None:
    """Draw the person, back to front, in template coordinates (replayed with the pose)."""
    brush = _Brush.of(d, on, p, rng)
    for part in PARTS:
        part.draw(brush)


def _mask_regions(p: FaceParams) -> dict[str, list[np.ndarray]]:
    """Polygons (template coordinates) of each group's region: the union of everywhere its
    attributes can draw for this image's proportions, whatever the labels."""
    bounds = _Bounds.of(p)
    out: dict[str, list[np.ndarray]] = {g: [] for g in GROUP_NAMES}
    for part in PARTS:
        for group, poly in part.regions(bounds):
            out[group].append(poly)
    return out
