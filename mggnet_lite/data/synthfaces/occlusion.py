"""Occluders: one group's region hidden while its labels stay (the graph experiment).

On a known share of images one part-based group is covered by a plausible accessory:
sunglasses over the ``eyes`` group, a cloth face mask over the ``mouth``, a scarf over the
``neck``. The labels are unchanged, so on those images the hidden group's attributes can
only be inferred from the other groups, through the dependencies the label model plants
across groups (:data:`~.labels.PLANTED_EDGES`, e.g. lipstick from heavy makeup and sex, a
smile from high cheekbones and narrow eyes). That is the situation in which the paper's
Graph Correlation Learning (Sec. 3.2, Eq. 2) should help: chapter 3 compares the hidden
group's GAL head with its GCL head (Eq. 3) on those images. The group masks stay what they
are (where the group *is*, not what is visible); ``list_occlusion.txt`` says which image has
which region hidden. With no occlusion asked for, nothing here runs and a set's bytes are
those of a set without the option.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .labels import GROUP_NAMES

#: the accessory that hides each group that can be hidden
OCCLUDERS: dict[str, str] = {"eyes": "sunglasses", "mouth": "face mask", "neck": "scarf"}
OCCLUSION_FILE = "list_occlusion.txt"
_PLAN_STREAM = 0x0CC1  # a stream of its own: occlusion never moves the other random draws


def check_occlusion(shares: Mapping[str, float] | None) -> dict[str, float]:
    """Validate ``{group: share of images}``; returns it as a plain dict (empty for None)."""
    out = {}
    for g, share in dict(shares or {}).items():
        if g not in OCCLUDERS:
            raise ValueError(f"occlusion: cannot hide group {g!r}; choose from {list(OCCLUDERS)}")
        if not 0 <= float(share) <= 1:
            raise ValueError(f"occlusion: the share for {g!r} must be in [0, 1], got {share}")
        out[g] = float(share)
    if sum(out.values()) > 1 + 1e-9:
        raise ValueError(f"occlusion: the shares add up to {sum(out.values()):.3f} > 1")
    return out


def occlusion_plan(n: int, seed: int, shares: Mapping[str, float]) -> list[str | None]:
    """Which group each of ``n`` images hides (None: nothing), for this seed: round(share * n)
    images per group, at random positions, the same for any worker count."""
    plan: list[str | None] = [None] * n
    order = np.random.default_rng([seed, _PLAN_STREAM]).permutation(n)
    start = 0
    for g in sorted(shares, key=GROUP_NAMES.index):
        k = round(shares[g] * n)
        for i in order[start : start + k].tolist():
            plan[i] = g
        start += k
    return plan


def paint_occluder(f: np.ndarray, region: np.ndarray, group: str, seed: int) -> None:
    """Paint ``group``'s accessory over ``region`` (bool (H, W)) of the float image ``f``.

    Drawn before the lighting, so the accessory is lit like the face; a two-pixel soft edge.
    """
    rng = np.random.default_rng([seed, _PLAN_STREAM, GROUP_NAMES.index(group)])
    h, w = region.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if group == "eyes":  # dark lenses with a soft highlight
        base = np.array([22, 24, 30], np.float32) + rng.uniform(0, 12)
        colour = base + 40 * np.exp(-(((yy - yy[region].min()) / 6.0) ** 2))[..., None]
    elif group == "mouth":  # pleated cloth mask
        base = np.array(rng.choice([[176, 204, 232], [236, 236, 240], [60, 64, 72]]), np.float32)
        colour = base * (1 - 0.12 * (np.sin(yy / 2.2) > 0.6))[..., None]
    else:  # striped scarf
        palette = np.array([[150, 40, 50], [40, 90, 150], [200, 160, 60], [70, 120, 70]],
                           np.float32)
        a, b = rng.choice(len(palette), 2, replace=False)
        stripe = ((xx + yy) // 6 % 2).astype(bool)
        colour = np.where(stripe[..., None], palette[a], palette[b])
    alpha = _soft(region)
    f *= 1 - alpha[..., None]
    f += alpha[..., None] * np.broadcast_to(colour, f.shape)


def _soft(region: np.ndarray) -> np.ndarray:
    """The region grown by one pixel, with a one-pixel half-transparent rim."""
    r = region.astype(np.float32)
    grown = r.copy()
    grown[1:] = np.maximum(grown[1:], r[:-1])
    grown[:-1] = np.maximum(grown[:-1], r[1:])
    grown[:, 1:] = np.maximum(grown[:, 1:], r[:, :-1])
    grown[:, :-1] = np.maximum(grown[:, :-1], r[:, 1:])
    return np.maximum(r, 0.5 * grown)


def read_occlusion(root: str) -> dict[str, str | None]:
    """``{file name: hidden group or None}`` from a set's ``list_occlusion.txt`` (empty when
    the set was rendered without occlusion)."""
    from pathlib import Path

    path = Path(root) / OCCLUSION_FILE
    if not path.is_file():
        return {}
    out: dict[str, str | None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, group = line.split()
        out[name] = None if group == "-" else group
    return out
