"""SynthFaces' label model: a Bayesian network of conditional Bernoulli draws.

Labels are drawn in a fixed topological order (:data:`LABEL_MODEL`, one conditional
probability table per attribute). The roots are ``Male`` and ``Young``; the latent
``Attractive`` depends on both, and most other attributes depend on one to three of
``Male``, ``Young``, ``Attractive``, ``Heavy_Makeup``, ``Smiling`` and ``Wearing_Lipstick``.
The marginals come out within about one point of CelebA's positive rates
(:data:`CELEBA_POSITIVE_RATES`). The planted directed edges (:data:`PLANTED_EDGES`) cross
the part-based groups on purpose: they are the non-spatial correlations the paper's GCL
(Sec. 3.2) is meant to pick up, e.g. ``Wearing_Lipstick -> Wearing_Necklace`` (Sec. 1).
Exclusive attributes stay exclusive through zero entries of the tables (``zero_if``,
:data:`EXCLUSIONS`). See ARCHITECTURE.md.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ...attributes import CELEBA_ATTRIBUTES, GROUPS

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
