"""Statistics the chapters report, in one place (ARCHITECTURE.md, "analysis").

Label statistics (chapter 1's P(b | a), chapter 3's and chapter 7's group co-occurrence),
the localisation score of GAL masks (chapter 2, Eq. 1), affinity-vs-labels comparisons
(chapter 3, Eq. 2) and the paired bootstrap that decides ablations (chapter 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch


def conditional_cooccurrence(labels):
    """P(b | a) for every pair: matrix (N, N), row a, column b (NaN where a never occurs).

    ``labels``: (M, N) of 0/1. Not symmetric: P(b | a) = P(a, b) / P(a).
    """

    y = np.asarray(labels.detach().cpu() if isinstance(labels, torch.Tensor) else labels,
                   np.float64)
    joint = y.T @ y  # counts of (a, b) both present
    count = np.diag(joint).copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return joint / count[:, None]


def group_cooccurrence(
    labels: np.ndarray | torch.Tensor,
    attributes: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    stat: str = "conditional",
    *,
    normalize_rows: bool = True,
) -> np.ndarray:
    """Label co-occurrence aggregated per group pair, laid out like the affinity e_ij.

    Entry (i, j) averages, over attributes a in G_i and b in G_j (a != b), either
    ``conditional``: P(a = 1 | b = 1), or ``dependence``: |P(a = 1 | b = 1) - P(a = 1)|
    (how much knowing b changes a). So row i reads "what the labels of group j tell about
    group i", the direction in which GCL sends messages (j -> i, Eq. 2). With
    ``normalize_rows`` each row is scaled to sum to 1 over j != i, like the softmax rows of
    e_ij, so the two matrices can be compared entry by entry. The diagonal is 0.
    """
    y = np.asarray(labels, np.float64)
    col = {a: t for t, a in enumerate(attributes)}
    cond = np.nan_to_num(conditional_cooccurrence(y).T)  # [a, b] = P(a | b); 0 if b never is 1
    if stat == "dependence":
        cond = np.abs(cond - y.mean(0)[:, None])
    elif stat != "conditional":
        raise ValueError(f"stat={stat!r}: choose 'conditional' or 'dependence'")
    names = list(groups)
    k = len(names)
    out = np.zeros((k, k))
    for i, gi in enumerate(names):
        for j, gj in enumerate(names):
            if i == j:
                continue
            vals = [cond[col[a], col[b]] for a in groups[gi] for b in groups[gj] if a != b]
            out[i, j] = float(np.mean(vals)) if vals else 0.0
    if normalize_rows:
        out = out / np.maximum(out.sum(1, keepdims=True), 1e-12)
    return out
