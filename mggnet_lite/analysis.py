"""Statistics the chapters report, in one place (ARCHITECTURE.md, "Map").

Label statistics (chapter 1's P(b | a), chapter 3's and chapter 7's group co-occurrence and
group dependence), the localisation score of GAL masks (chapter 2, Eq. 1), rank correlations
of affinities against labels (chapter 3, Eq. 2), the paired bootstrap that decides
ablations (chapter 6), and its pooling over several trainings of each network.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .attributes import CELEBA_ATTRIBUTES, validate_groups
from .metrics import THRESHOLD


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
    return _share(_upsampled(masks, tuple(truth.shape[-2:])), truth)


def _upsampled(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Masks upsampled bilinearly to the image, as chapter 2 draws them."""
    return F.interpolate(masks.float(), size=size, mode="bilinear", align_corners=False)


def _count(flags: torch.Tensor) -> torch.Tensor:
    """True entries of bool (..., P) along the last axis (a byte sum: twice as fast as bool's)."""
    return flags.view(torch.uint8).sum(-1, dtype=torch.int32)


def _share(up: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(b, K): the upsampled masks' mass inside the regions over their whole mass."""
    inside = torch.where(truth, up, 0.0).sum((-2, -1))
    return inside / up.sum((-2, -1)).clamp_min(1e-12)


def _peak_hits(up: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """(b, K): the share of each upsampled mask's peak plateau inside its region."""
    m, t = up.flatten(2), truth.flatten(2)
    top = m == m.amax(-1, keepdim=True)  # (b, K, H*W): the peak, or the plateau of peaks
    return _count(top & t) / _count(top)


def mask_scores(masks: torch.Tensor, truth: torch.Tensor, chunk: int = 128,
                pointing: bool = True) -> dict[str, torch.Tensor]:
    """Per group, (K,) each, means over the images: ``share`` (:func:`localisation`),
    ``pointing`` (:func:`pointing_game`; left out with ``pointing=False``) and ``area`` (the
    regions' area share: what a uniform mask's share and a random peak score). One pass,
    ``chunk`` images upsampled at a time (a whole test split at the image size would not fit)."""
    keys = ("share", "pointing", "area") if pointing else ("share", "area")
    sums = {k: torch.zeros(masks.shape[1], dtype=torch.float64) for k in keys}
    for i in range(0, len(masks), chunk):
        t = truth[i:i + chunk]
        up = _upsampled(masks[i:i + chunk], tuple(truth.shape[-2:]))
        sums["share"] += _share(up, t).double().sum(0)
        if pointing:
            sums["pointing"] += _peak_hits(up, t).double().sum(0)
        sums["area"] += t.float().mean((-2, -1)).double().sum(0)
    return {k: v / len(masks) for k, v in sums.items()}


def mean_localisation(masks: torch.Tensor, truth: torch.Tensor, chunk: int = 128
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(score, uniform)``, both (K,): the mean over images of :func:`localisation` and of the
    regions' area shares (what a uniform mask scores), computed ``chunk`` images at a time
    (:func:`mask_scores`)."""
    s = mask_scores(masks, truth, chunk, pointing=False)
    return s["share"], s["area"]


def lift(masks: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Per group: the mean share of mask mass inside the true region (:func:`localisation`)
    divided by the region's mean area share, what a uniform mask scores. 1 = no better than
    uniform; (K,)."""
    score, uniform = mean_localisation(masks, truth)
    return (score / uniform).float()


def pointing_game(masks: torch.Tensor, truth: torch.Tensor, chunk: int = 128
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hits, chance)``, both (K,): the share of images whose mask peak lies inside the group's
    true region (the "pointing game", Zhang et al., ECCV 2016), and what a peak dropped at a
    random pixel scores (the region's mean area share).

    The mask is upsampled bilinearly to the image, as chapter 2 draws it, and its maximum taken
    there. A saturated mask (several cells at exactly the top value) has a plateau of peaks:
    it scores the share of the plateau inside the region, what a peak drawn at random from it
    would, so a tie never favours one corner. Unlike :func:`lift`, a mask whose mass spreads
    partly over the region while its peak sits on the background scores nothing here.
    ``masks``: (B, K, h, w); ``truth``: bool (B, K, H, W); ``chunk`` images are upsampled at a
    time (:func:`mask_scores`).
    """
    s = mask_scores(masks, truth, chunk)
    return s["pointing"], s["area"]


def pointing_ceiling(truth: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(K,): the best pointing game (:func:`pointing_game`) any mask of ``grid`` = (h, w) cells
    can score on these regions: the share of images where some cell's peak, upsampled as the
    pointing game upsamples, falls inside the region. Bilinear upsampling puts a mask's maximum
    on a cell's peak, so a region that no cell peak reaches cannot be pointed at, however good
    the mask: a limit of the feature map's resolution, not of the learning."""
    h, w = grid
    one_hot = _upsampled(torch.eye(h * w).view(h * w, 1, h, w), tuple(truth.shape[-2:]))
    top = (one_hot == one_hot.amax((-2, -1), keepdim=True)).flatten(1)  # (h*w, H*W)
    # per image and group, the best cell's score: the share of its peak plateau in the region
    # (a plateau is a few pixels: read them, rather than multiply the whole image by it)
    flat = truth.flatten(2)
    inside = torch.stack([flat[..., cell.nonzero().flatten()].float().sum(-1) / cell.sum()
                          for cell in top], -1)  # (B, K, h*w)
    return inside.amax(-1).double().mean(0)


def affinity_deviation(e: torch.Tensor | np.ndarray) -> float:
    """Mean |e_ij - 1/(K-1)| over the off-diagonal entries of a (K, K) affinity matrix (Eq. 2):
    0 when every receiver listens to all senders equally."""
    e = torch.as_tensor(np.asarray(e), dtype=torch.float64)
    k = e.shape[-1]
    off = ~torch.eye(k, dtype=torch.bool)
    return float((e - 1 / (k - 1)).abs()[off].mean())


def paired_difference(a: torch.Tensor, b: torch.Tensor, labels: torch.Tensor, *,
                      where: torch.Tensor | None = None, n_boot: int = 2000, seed: int = 0
                      ) -> tuple[float, float, float]:
    """Mean accuracy of ``b`` minus ``a`` in points, and its 95% paired bootstrap interval
    over the images (rows): ``(diff, lo, hi)``. ``a``, ``b``: (M, N) probabilities, thresholded
    at :data:`~mggnet_lite.metrics.THRESHOLD` (Sec. 4.1); ``labels``: (M, N) 0/1. ``where``: (M, N) bool, the entries that count
    (e.g. each image's hidden group's attributes); rows with none are left out."""
    if where is None:
        where = torch.ones(labels.shape, dtype=torch.bool)
    keep = where.any(1)
    w = where[keep].double()
    labels, a, b = labels[keep], a[keep], b[keep]

    def correct(p: torch.Tensor) -> torch.Tensor:  # per image, over the counted columns
        return (((p >= THRESHOLD) == labels.bool()).double() * w).sum(1) / w.sum(1)

    correct_a, correct_b = correct(a), correct(b)
    diff = 100 * float((correct_b - correct_a).mean())
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(labels), (n_boot, len(labels)), generator=g)
    boot = 100 * (correct_b - correct_a)[idx].mean(1)
    lo, hi = (float(v) for v in boot.quantile(torch.tensor([0.025, 0.975], dtype=boot.dtype)))
    return diff, lo, hi


def interval_sign(lo: float, hi: float) -> int:
    """What a 95% interval ``[lo, hi]`` of a difference decides: 1 when it lies above 0, -1
    below, 0 when it holds 0 (no verdict)."""
    return 1 if lo > 0 else (-1 if hi < 0 else 0)


def verdict_word(lo: float, hi: float) -> str:
    """"beats" when the interval is above 0, "is beaten by" below, else "is within noise of"
    (:func:`interval_sign`)."""
    return {1: "beats", -1: "is beaten by", 0: "is within noise of"}[interval_sign(lo, hi)]


def format_difference(diff: float, lo: float, hi: float, digits: int = 2) -> str:
    """``"+0.12 [+0.02, +0.21]"``: a difference and its 95% interval, in points, to ``digits``
    decimals; more where the interval excludes 0 but its end nearer 0 would print as 0.00, so
    that the printed interval shows the verdict it gives (``[-0.240, -0.002]``, not
    ``[-0.24, -0.00]``)."""
    sign = interval_sign(lo, hi)
    near = lo if sign > 0 else hi
    while sign and digits < 6 and round(abs(near), digits) == 0:
        digits += 1
    return f"{diff:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"


def t_quantile(df: float, p: float = 0.975) -> float:
    """Student's t quantile at ``p`` for ``df`` degrees of freedom (``df`` >= 1, not necessarily
    whole): bisection on the cdf, integrated with Simpson's rule from the density (accurate to
    about 1e-6)."""
    if df < 1:
        raise ValueError(f"df={df}: Student's t needs at least 1 degree of freedom (two runs)")
    c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def cdf(x: float) -> float:  # 0.5 + integral of the density over [0, x]
        t = np.linspace(0.0, x, 4001)
        f = np.exp(c - (df + 1) / 2 * np.log1p(t * t / df))
        return 0.5 + x / 12000 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())

    lo, hi = 0.0, 1.0
    while cdf(hi) < p:
        lo, hi = hi, 2 * hi
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < p else (lo, mid)
    return (lo + hi) / 2


def run_variances(runs: Sequence[tuple[float, float, float]]) -> tuple[float, float]:
    """The two sources of error of several trainings' paired differences ``(diff, lo, hi)``:
    the sample variance between the runs' differences, and the test images' variance, the mean
    of the runs' 95% bootstrap variances ((hi - lo) / 3.92)^2."""
    if len(runs) < 2:
        raise ValueError(f"{len(runs)} run(s): the spread between trainings needs two or more")
    between = float(np.var([r[0] for r in runs], ddof=1))
    return between, float(np.mean([((hi - lo) / (2 * 1.959964)) ** 2 for _, lo, hi in runs]))


def pooled_half_width(between: float, images: float, runs: int) -> float:
    """The 95% half-width of the mean of ``runs`` trainings' differences, t * sqrt(V) with
    V = between / runs + images (:func:`run_variances`). Only the first term is estimated from
    the runs (runs - 1 degrees of freedom); the second, a bootstrap over thousands of test images,
    counts as known. So t has Welch-Satterthwaite's degrees of freedom, (runs - 1) * (V /
    (between / runs))^2 (at most 10^4): Student's t at runs - 1 where the trainings' spread is
    all of V, the normal's 1.96 where the images' error is. (Student's t at runs - 1 whatever
    the images' share covered 98-99.9% in simulation, not 95%: study 2026-12-05-stage2-seeds.)"""
    v = between / runs + images
    df = 1e4 if between <= 0 else min((runs - 1) * (v / (between / runs)) ** 2, 1e4)
    return t_quantile(df) * math.sqrt(v)


def across_runs(runs: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    """Several trainings' paired differences ``(diff, lo, hi)`` (each from
    :func:`paired_difference` on the same test images; the runs differ in their training seed)
    pooled: their mean and a 95% interval that counts both sources of error
    (:func:`run_variances`), the spread between trainings over S runs and the test images' (not
    divided by S: every run is scored on the same images), with :func:`pooled_half_width`'s
    degrees of freedom. Returns ``(mean, lo, hi)``."""
    between, images = run_variances(runs)
    mean = float(np.mean([r[0] for r in runs]))
    half = pooled_half_width(between, images, len(runs))
    return mean, mean - half, mean + half


def two_way_parts(a: np.ndarray | Sequence[Sequence[float]],
                  b: np.ndarray | Sequence[Sequence[float]]) -> tuple[float, float, float, float]:
    """The two-way (runs x images) table of ``b`` minus ``a`` (each (S runs, M images): every
    run's score per test image, the same images in the same order, run s of ``a`` paired with
    run s of ``b``) taken apart: its mean and the variances of a training's shift, an image's
    shift and a cell's own noise, ``(mean, runs, images, cells)``. The cells' is the mean
    square left after both shifts; the runs' is the spread of the runs' means less the cells'
    share of it (cells / M), the images' the spread of the images' means over the runs less
    theirs (cells / S), each at least 0."""
    d = np.asarray(b, np.float64) - np.asarray(a, np.float64)
    if d.ndim != 2 or d.shape[0] < 2 or d.shape[1] < 2:
        raise ValueError(f"scores of shape {d.shape}: need (runs >= 2, images >= 2), "
                         "each run's score per test image, the same images in the same order")
    s, m = d.shape
    run_means, image_means = d.mean(1), d.mean(0)
    rest = d - run_means[:, None] - image_means[None, :] + d.mean()
    cells = float((rest ** 2).sum()) / ((s - 1) * (m - 1))
    runs = max(float(np.var(run_means, ddof=1)) - cells / m, 0.0)
    images = max(float(np.var(image_means, ddof=1)) - cells / s, 0.0)
    return float(d.mean()), runs, images, cells


def two_way_half_width(runs: float, images: float, cells: float, n_runs: int,
                       n_images: int) -> float:
    """The 95% half-width of the mean of an ``n_runs`` x ``n_images`` table with
    :func:`two_way_parts`' variances: V = runs / S + images / M + cells / (S M), with
    :func:`pooled_half_width`'s Welch-Satterthwaite degrees of freedom. The part estimated from
    few (S - 1) is the runs' means' spread, runs + cells / M, over S: the whole of it, not less
    the cells' share (that made the intervals hold the truth 92% of the time, not 95%, where
    the trainings' spread dominates)."""
    return pooled_half_width(runs + cells / n_images, images / n_images, n_runs)


def two_way_difference(a: np.ndarray | Sequence[Sequence[float]],
                       b: np.ndarray | Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """Several trainings of two networks scored image by image on the same test images
    (:func:`two_way_parts`' ``a``, ``b``), pooled: the mean of ``b`` minus ``a`` and its 95%
    interval for a new training on new images, ``(mean, lo, hi)``
    (:func:`two_way_half_width`). A cell's noise (the two networks disagreeing on different
    images in each training) shrinks with runs x images. :func:`across_runs`, which sees only
    each run's interval, counts it in full once per run: it is never narrower than this, and
    more runs do not narrow its images' part."""
    mean, runs, images, cells = two_way_parts(a, b)
    half = two_way_half_width(runs, images, cells, *np.shape(a))
    return mean, mean - half, mean + half


def compare_runs(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor,
                 labels: torch.Tensor, *, n_boot: int = 2000, seed: int = 0) -> str:
    """A verdict computed from numbers: mean accuracy (Sec. 4.1) of ``b`` minus ``a``
    (points), with a 95% paired bootstrap interval over the test images (``a`` / ``b``: (M, 40)
    probabilities, e.g. from ``book.eval_predictions``). Says "beats", "is beaten by" or "is
    within noise of"."""
    diff, lo, hi = paired_difference(a, b, labels, n_boot=n_boot, seed=seed)
    return (f"{name_b} {verdict_word(lo, hi)} {name_a}: {diff:+.2f} points of mean accuracy "
            f"(95% paired bootstrap over the {len(labels)} test images: [{lo:+.2f}, {hi:+.2f}])")


def hidden_group_rows(hidden: Sequence[str | None], groups: Mapping[str, Sequence[str]],
                      attributes: Sequence[str]) -> torch.Tensor:
    """(M, N) bool: for image m whose group g was hidden (SynthFaces occlusion), True on g's
    attributes; all False on images with nothing hidden. For :func:`paired_difference`'s
    ``where``."""
    col = {a: n for n, a in enumerate(attributes)}
    out = torch.zeros(len(hidden), len(attributes), dtype=torch.bool)
    for m, g in enumerate(hidden):
        if g is not None:
            out[m, [col[a] for a in groups[g]]] = True
    return out


def affinity_collapse(e: torch.Tensor) -> dict[str, torch.Tensor]:
    """How far Eq. 2's rows are from spreading over their K-1 senders, per receiver (K,):
    ``top`` (mean largest weight of a row; uniform 1/(K-1), one-hot 1) and ``entropy`` (mean
    row entropy over log(K-1); uniform 1, one-hot 0), both per image then averaged (what one
    portrait shows), and ``mean_top`` / ``mean_entropy`` of the split's mean matrix (what an
    average hides: rows that are one-hot on different senders average to a spread row).
    ``e``: (M, K, K) with zero diagonal."""
    k = e.shape[-1]
    off = ~torch.eye(k, dtype=torch.bool)

    def stats(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = rows.double()[..., off].view(*rows.shape[:-2], k, k - 1)
        ent = -(p * p.clamp_min(1e-12).log()).sum(-1) / math.log(k - 1)
        return p.amax(-1), ent

    top, ent = stats(e)
    mean_top, mean_ent = stats(e.mean(0))
    return {"top": top.mean(0), "entropy": ent.mean(0), "mean_top": mean_top,
            "mean_entropy": mean_ent, "uniform_top": torch.full((k,), 1 / (k - 1))}


def mean_group_features(model: torch.nn.Module,
                        batches: Iterable[torch.Tensor | tuple[torch.Tensor, ...]]
                        ) -> dict[str, torch.Tensor]:
    """Per GCL block: the group features f_i^b (Eq. 1, what Eq. 2's nodes send: GCL's input)
    averaged over the images of ``batches``, (K, D), on the model's device. A batch is an
    image tensor, or the arguments of ``model`` (images and a blind model's regions)."""
    sums: dict[str, torch.Tensor] = {}
    count = 0

    def keep(b: str):
        def hook(module, args, output):  # noqa: ANN001, ANN202
            sums[b] = sums.get(b, 0) + args[0].double().sum(0)
        return hook

    handles = [model.gcl[b].register_forward_hook(keep(b)) for b in model.gcl]
    try:
        with torch.inference_mode():
            for x in batches:
                x = x if isinstance(x, tuple) else (x,)
                model(*x)
                count += len(x[0])
    finally:
        for h in handles:
            h.remove()
    return {b: (s / count).float() for b, s in sums.items()}


@contextlib.contextmanager
def senders_to_mean(model: torch.nn.Module, means: Mapping[str, torch.Tensor]
                    ) -> Iterator[None]:
    """While active, every GCL block b of ``model`` sends ``means[b]`` (K, D) instead of the
    image's own group features; each receiver keeps its own f_i (Eq. 2 with f_j -> mean f_j).
    The control that attributes an effect to the messages' content: what the GCL head loses
    under it, it took from the other groups of this image."""

    def hook(module, args, output):  # noqa: ANN001, ANN202
        f = args[0]
        return module.forward(f, senders=means_of[module].to(f).unsqueeze(0))

    means_of = {model.gcl[b]: m for b, m in means.items()}
    handles = [model.gcl[b].register_forward_hook(hook) for b in means]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def hidden_group_measures(outs: Mapping[str, torch.Tensor], control: Mapping[str, torch.Tensor],
                          prior: torch.Tensor, hidden: Sequence[str | None],
                          groups: Mapping[str, Sequence[str]], attributes: Sequence[str],
                          taps: Sequence[str]) -> dict[str, dict]:
    """Chapter 3's graph experiment in numbers, per hidden group ``g`` and block ``b``, each a
    ``(diff, lo, hi)`` paired difference in points on ``g``'s attributes over the images where
    ``g`` is hidden (``hidden``: per image, the hidden group or None):

    * ``gal_minus_prior``: the GAL head over each attribute's majority value (``prior``): 0 for
      a blind branch;
    * ``gcl_minus_gal``: the GCL head over the GAL head (Eq. 3 on f' against f);
    * ``messages``: the GCL head over itself with every sender at its mean (``control``,
      :func:`senders_to_mean`), and ``messages_visible``: the same on images with nothing hidden.

    ``outs`` / ``control``: :func:`mggnet_lite.book.test_outputs` without / with the control.
    """
    labels = outs["labels"]
    visible = torch.tensor([h is None for h in hidden])[:, None]
    res: dict[str, dict] = {}
    for g in sorted({h for h in hidden if h is not None}):
        cols = hidden_group_rows([g], groups, attributes)[0]
        shown = torch.tensor([h == g for h in hidden])[:, None] & cols
        res[g] = {"n": int(shown.any(1).sum())}
        for b in taps:
            pairs = {"gal_minus_prior": (prior, outs[f"gal:{b}"], shown),
                     "gcl_minus_gal": (outs[f"gal:{b}"], outs[f"gcl:{b}"], shown),
                     "messages": (control[f"gcl:{b}"], outs[f"gcl:{b}"], shown),
                     "messages_visible": (control[f"gcl:{b}"], outs[f"gcl:{b}"], visible & cols)}
            res[g][b] = {k: paired_difference(a, c, labels, where=w)
                         for k, (a, c, w) in pairs.items()}
    return res
