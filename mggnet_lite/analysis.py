"""Statistics the chapters report, in one place (ARCHITECTURE.md, "Map").

Label statistics (chapter 1's P(b | a), chapter 3's and chapter 7's group co-occurrence and
group dependence), the localisation score of GAL masks (chapter 2, Eq. 1), rank correlations
of affinities against labels (chapter 3, Eq. 2) and the paired bootstrap that decides
ablations (chapter 6).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .attributes import CELEBA_ATTRIBUTES, validate_groups


def conditional_cooccurrence(labels: np.ndarray | torch.Tensor) -> np.ndarray:
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


def group_dependence(
    labels: np.ndarray | torch.Tensor,
    groups: Mapping[str, Sequence[str]] | None = None,
    attributes: Sequence[str] | None = None,
) -> np.ndarray:
    """How much the attributes of group j tell about those of group i, from labels alone.

    ``D[i, j]`` = mean over a in G_i, b in G_j of |P(a | b) - P(a | not b)| (0 where b never
    or always occurs); directed: row i = receiver, column j = sender, as GCL's ``e_ij``
    (Eq. 2). Diagonal set to 0. ``labels``: (M, N) of 0/1.
    """
    attributes = list(attributes or CELEBA_ATTRIBUTES)
    groups = validate_groups(groups, attributes)
    y = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels, dtype=np.float64)
    pos = y.sum(0)
    neg = len(y) - pos
    both = y.T @ y  # both[a, b] = #(a and b)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_given = both / pos[None, :]  # P(a | b)
        p_given_not = (pos[:, None] - both) / neg[None, :]  # P(a | not b)
    delta = np.nan_to_num(np.abs(p_given - p_given_not))
    idx = {a: k for k, a in enumerate(attributes)}
    members = [[idx[a] for a in m] for m in groups.values()]
    k = len(members)
    out = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            if i != j:
                out[i, j] = delta[np.ix_(members[i], members[j])].mean()
    return out


def row_normalise(m: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 1 over the off-diagonal entries (like GCL's softmax over j != i,
    Eq. 2); an all-zero row becomes uniform, 1 / (K - 1)."""
    m = np.array(m, dtype=np.float64)
    np.fill_diagonal(m, 0.0)
    s = m.sum(1, keepdims=True)
    out = np.divide(m, s, out=np.full_like(m, 1.0 / (len(m) - 1)), where=s > 0)
    np.fill_diagonal(out, 0.0)  # a row with no entry becomes uniform over the K - 1 others
    return out


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0 .. n-1 of ``x``, ties sharing their mean rank (as Spearman's rho needs)."""
    order = x.argsort(kind="mergesort")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):
        r[x == v] = r[x == v].mean()
    return r


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation between the off-diagonal entries of two (K, K) matrices
    (NaN when either has no spread)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    off = ~np.eye(len(a), dtype=bool)
    ra, rb = _average_ranks(a[off]), _average_ranks(b[off])
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def localisation(masks: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Share of each attention mask's mass (Eq. 1's M_i^b) that falls inside its group's true
    region.

    ``masks``: (B, K, h, w) in [0, 1], covering the whole (resized) image; ``truth``: bool
    (B, K, H, W) in the original image frame. Masks are upsampled bilinearly to (H, W).
    Returns (B, K). A uniform mask scores the region's area share, ``truth.mean((-2, -1))``.
    """
    m = F.interpolate(masks.float(), size=tuple(truth.shape[-2:]), mode="bilinear",
                      align_corners=False)
    return (m * truth).sum((-2, -1)) / m.sum((-2, -1)).clamp_min(1e-12)


def compare_runs(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor,
                 labels: torch.Tensor, *, n_boot: int = 2000, seed: int = 0) -> str:
    """A verdict computed from numbers: mean accuracy (Sec. 4.1) of ``b`` minus ``a``
    (points), with a 95% paired bootstrap interval over the test images (``a`` / ``b``: (M, 40)
    probabilities, e.g. from ``book.eval_predictions``). Says "beats", "is beaten by" or "is
    within noise of"."""
    correct_a = ((a >= 0.5) == labels.bool()).double().mean(1)  # per image, over 40 attributes
    correct_b = ((b >= 0.5) == labels.bool()).double().mean(1)
    diff = 100 * float((correct_b - correct_a).mean())
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(labels), (n_boot, len(labels)), generator=g)
    boot = 100 * (correct_b - correct_a)[idx].mean(1)
    lo, hi = (float(v) for v in boot.quantile(torch.tensor([0.025, 0.975], dtype=boot.dtype)))
    if lo > 0:
        word = "beats"
    elif hi < 0:
        word = "is beaten by"
    else:
        word = "is within noise of"
    return (f"{name_b} {word} {name_a}: {diff:+.2f} points of mean accuracy "
            f"(95% paired bootstrap over the {len(labels)} test images: [{lo:+.2f}, {hi:+.2f}])")
