"""Figures for the book: one function per figure, matplotlib only (safe with the Agg backend).

Each function returns the :class:`matplotlib.figure.Figure` it drew, so a notebook shows it
and a script can ``fig.savefig(...)`` it.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .attributes import GROUPS
from .viz_runs import (  # noqa: F401  (figures of runs, chapters 5 and 6: viz.<name>)
    lr_drops,
    plot_ablation,
    plot_run_intervals,
    plot_training_curves,
    read_history,
)

#: One colour per group (GROUPS order), shared by every figure that shows groups.
#: a colour as matplotlib takes it: a name or hex string, or an RGB(A) tuple of floats in [0, 1]
Colour = str | tuple[float, ...]

GROUP_COLOURS: dict[str, str] = {
    "whole_face": "#e41a1c",
    "around_head": "#377eb8",
    "hairline": "#4daf4a",
    "eyes": "#984ea3",
    "nose": "#ff7f00",
    "middle_face": "#f0e130",
    "mouth": "#a65628",
    "neck": "#f781bf",
}


def _short(name: str) -> str:
    """Compact caption form of an attribute name: 'Wearing_Lipstick' -> 'Lipstick'."""
    return name.removeprefix("Wearing_").replace("_", " ")


def show_gallery(
    root: str | os.PathLike,
    indices: Iterable[int] = range(8),
    *,
    masks: bool = True,
    groups: Sequence[str] | None = None,
    ncols: int = 4,
    figsize: tuple[float, float] | None = None,
    axes: Sequence | None = None,
    caption_width: int = 34,
):
    """A gallery of SynthFaces images with their positive attributes and the ground-truth
    group masks (ARCHITECTURE.md, "Data"; the groups of the paper's Fig. 2).

    ``root``: a SynthFaces folder (``synthesize``'s output; CelebA's layout plus
    ``group_masks/``). ``indices``: 0-based positions in the label file. ``masks``: outline
    each group's region in its colour (:data:`GROUP_COLOURS`); ``groups`` limits which.
    ``axes``: draw into these axes (one per index) instead of a new figure.
    Returns the figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from PIL import Image

    from .data.celeba import read_attr_file
    from .data.synthfaces import IMAGE_DIR, load_group_masks

    root = Path(root)
    indices = list(indices)
    if not indices:
        raise ValueError("show_gallery: indices is empty")
    table = read_attr_file(root / "list_attr_celeba.txt")  # the CelebA reader's checks apply
    files, names, labels = table.names, table.attr_names, table.labels
    for i in indices:
        if not 0 <= i < len(files):
            raise IndexError(f"show_gallery: index {i} out of range 0..{len(files) - 1} of {root}")
    group_names = list(GROUPS) if groups is None else list(groups)
    unknown = [g for g in group_names if g not in GROUPS]
    if unknown:
        raise ValueError(f"show_gallery: unknown group(s) {unknown}; choose from {list(GROUPS)}")

    if axes is None:
        ncols = max(1, min(ncols, len(indices)))
        nrows = -(-len(indices) // ncols)
        figsize = figsize or (2.3 * ncols, 3.3 * nrows + 0.5 * masks)
        fig, grid = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False,
                                 layout="constrained")  # fmt: skip
        axes_list = list(grid.ravel())
    else:
        axes_list = list(np.ravel(axes))
        if len(axes_list) < len(indices):
            raise ValueError(f"show_gallery: {len(indices)} indices but {len(axes_list)} axes")
        fig = axes_list[0].figure

    group_pos = {g: k for k, g in enumerate(GROUPS)}
    for ax, i in zip(axes_list, indices, strict=False):
        img = np.asarray(Image.open(root / IMAGE_DIR / files[i]).convert("RGB"))
        ax.imshow(img)
        if masks:
            m = load_group_masks(root, files[i])
            for g in group_names:
                # contour at 0.5 of the boolean mask: the region's outline, one colour each
                ax.contour(m[group_pos[g]].astype(float), levels=[0.5], colors=[GROUP_COLOURS[g]],
                           linewidths=1.0)  # fmt: skip
        positives = [_short(a) for a, v in zip(names, labels[i], strict=False) if v]
        caption = ", ".join(positives) or "(no positive attribute)"
        ax.set_title(f"{files[i]}", fontsize=8)
        ax.set_xlabel(textwrap.fill(caption, caption_width), fontsize=6)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes_list[len(indices) :]:
        ax.axis("off")
    if masks:
        handles = [Line2D([0], [0], color=GROUP_COLOURS[g], lw=2, label=g) for g in group_names]
        # "outside" places the legend below the axes under the constrained layout
        loc = "outside lower center" if fig.get_layout_engine() is not None else "lower center"
        fig.legend(handles=handles, loc=loc, ncol=min(len(handles), 4), fontsize=8,
                   frameon=False)  # fmt: skip
    return fig


# --------------------------------------------------------------------------------------
# Figures of book chapters 1-4 (each returns its matplotlib Figure; call them yourself).
# --------------------------------------------------------------------------------------


def _np(x):
    """A tensor, PIL image or array as a numpy array (on the CPU, detached)."""

    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def contrast(a: Colour, b: Colour) -> float:
    """WCAG 2's contrast ratio of two colours, from 1 (the same) to 21 (black on white)."""
    from matplotlib.colors import to_rgb

    def luminance(colour: Colour) -> float:  # relative luminance of an sRGB colour
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def text_colour(colour: Colour, background: Colour = "white", ratio: float = 4.5
                ) -> tuple[float, float, float]:
    """``colour`` mixed with just enough black to be read as small text on ``background``
    (WCAG 2's 4.5:1 for text): the hue stays, so a group's labels keep its colour. The
    middle_face yellow has 1.3:1 on white as it is."""
    from matplotlib.colors import to_rgb

    rgb = np.asarray(to_rgb(colour))
    for k in range(101):
        darker = tuple(float(c) for c in rgb * (1 - k / 100))
        if contrast(darker, background) >= ratio:
            return darker
    return (0.0, 0.0, 0.0)


def _group_colours(names):
    """One colour per group name (:data:`GROUP_COLOURS`; tab10 for other names)."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10")
    return [GROUP_COLOURS.get(n, cmap(i % 10)) for i, n in enumerate(names)]


def plot_positive_rates(
    rates,
    names,
    reference=None,
    *,
    label: str = "this set",
    reference_label: str = "reference",
    title: str | None = None,
):
    """Bar plot of each attribute's positive rate (chapter 1), sorted, with an optional
    reference rate per attribute drawn as a black tick (e.g. CelebA's published rates).

    ``rates``: (N,) in [0, 1]; ``reference``: None or (N,) in [0, 1] (NaN = none).
    """
    import matplotlib.pyplot as plt

    rates = _np(rates).astype(float)
    order = np.argsort(rates)
    group_of = {a: g for g, members in GROUPS.items() for a in members}
    colours = dict(GROUP_COLOURS)
    fig, ax = plt.subplots(figsize=(12, 4))
    x = np.arange(len(rates))
    ax.bar(x, 100 * rates[order], color=[colours.get(group_of.get(names[i]), "grey") for i in order])
    if reference is not None:
        ref = _np(reference).astype(float)[order]
        ticks = ax.scatter(x, 100 * ref, marker="_", s=120, color="black", zorder=3)
    ax.set_xticks(x, [names[i] for i in order], rotation=90, fontsize=8)
    ax.set_ylabel("positive rate (%)")
    ax.axhline(50, color="grey", lw=0.5, ls=":")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours.values()]
    leg1 = ax.legend(
        handles,
        list(colours),
        fontsize=7,
        ncol=4,
        loc="upper left",
        title="group",
        title_fontsize=7,
    )
    ax.add_artist(leg1)
    if reference is not None:  # the bars' entry in no group's colour: they have eight
        bars = plt.Rectangle((0, 0), 1, 1, facecolor="none", edgecolor="0.3")
        ax.legend([ticks, bars], [reference_label, f"{label} (bars, in their group's colour)"],
                  loc="center left", fontsize=8)
    ax.set_title(title or "Positive rate of each attribute")
    ax.set_xlim(-0.6, len(rates) - 0.4)
    fig.tight_layout()
    return fig


def plot_cooccurrence(
    cond, names, groups=None, *, title: str | None = None, show_asymmetry: bool = True
):
    """Heatmap of P(b | a) (row a, column b), attributes ordered by group, and beside it the
    asymmetry P(b | a) - P(a | b) that makes the attribute graph directed (chapter 1)."""
    import matplotlib.pyplot as plt

    groups = GROUPS if groups is None else groups
    cond = _np(cond).astype(float)
    pos = {a: i for i, a in enumerate(names)}
    order = [pos[a] for members in groups.values() for a in members if a in pos]
    c = cond[np.ix_(order, order)]
    labels = [names[i] for i in order]
    panels = [(c, "P(b | a)", "viridis", 0, 1)]
    if show_asymmetry:
        d = c - c.T
        lim = float(np.nanmax(np.abs(d))) or 1.0
        panels.append((d, "P(b | a) - P(a | b)", "RdBu_r", -lim, lim))
    fig, axes = plt.subplots(1, len(panels), figsize=(8.5 * len(panels), 8.2))
    axes = np.atleast_1d(axes)
    bounds = np.cumsum([sum(a in pos for a in m) for m in groups.values()])[:-1] - 0.5
    for ax, (m, name, cmap, lo, hi) in zip(axes, panels, strict=True):
        im = ax.imshow(m, cmap=cmap, vmin=lo, vmax=hi)
        for b in bounds:
            ax.axhline(b, color="white", lw=0.8)
            ax.axvline(b, color="white", lw=0.8)
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
        ax.set_xlabel("b")
        ax.set_ylabel("a (given)")
        ax.set_title(name)
        fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def show_group_masks(image, masks, group_names, *, title: str | None = None):
    """A face with the outline of each part-based group's region (chapter 1), and one small
    panel per group. ``masks``: bool (K, H, W) in the image's frame (SynthFaces' ground truth)."""
    import matplotlib.pyplot as plt

    img = _np(image)
    masks = _np(masks).astype(bool)
    k = len(group_names)
    colours = _group_colours(group_names)
    fig = plt.figure(figsize=(13, 4.6))
    grid = fig.add_gridspec(2, 2 + (k + 1) // 2)
    ax = fig.add_subplot(grid[:, :2])
    ax.imshow(img)
    for i in range(k):
        if masks[i].any():
            ax.contour(masks[i].astype(float), levels=[0.5], colors=[colours[i]], linewidths=1.8)
    ax.legend(
        [plt.Line2D([], [], color=c, lw=2) for c in colours],
        group_names,
        fontsize=7,
        loc="lower left",
        bbox_to_anchor=(1.0, 0.0),
    )
    ax.set_axis_off()
    ax.set_title(title or "Part-based groups (ground-truth regions)")
    dim = (img.astype(float) * 0.25).astype(img.dtype)
    for i in range(k):
        a = fig.add_subplot(grid[i // ((k + 1) // 2), 2 + i % ((k + 1) // 2)])
        a.imshow(np.where(masks[i][..., None], img, dim))
        a.set_title(group_names[i], fontsize=8, color=colours[i])
        a.set_axis_off()
    fig.tight_layout()
    return fig


def plot_group_graph(
    weights,
    group_names,
    *,
    title: str | None = None,
    threshold: float = 0.0,
    ax=None,
    value_format: str = "{:.2f}",
    annotate: bool = False,
):
    """A directed graph between groups drawn on a circle (chapters 1 and 3).

    ``weights[i, j]``: strength of the edge j -> i (row = receiver, as ``out.affinity``);
    edges with weight <= ``threshold`` are not drawn; width grows with the weight.
    """
    import matplotlib.pyplot as plt

    w = _np(weights).astype(float)
    k = len(group_names)
    ang = np.pi / 2 - 2 * np.pi * np.arange(k) / k
    xy = np.stack([np.cos(ang), np.sin(ang)], 1)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(5.2, 5.2))
    else:
        fig = ax.figure
    top = np.nanmax(np.where(np.eye(k, dtype=bool), np.nan, w)) if k > 1 else 1.0
    top = top if np.isfinite(top) and top > 0 else 1.0
    colours = _group_colours(group_names)
    for i in range(k):
        for j in range(k):
            if i == j or not np.isfinite(w[i, j]) or w[i, j] <= threshold:
                continue
            ax.annotate(
                "",
                xy=xy[i] * 0.86,
                xytext=xy[j] * 0.86,
                arrowprops=dict(
                    arrowstyle="-|>",
                    color=colours[j],
                    alpha=0.8,
                    lw=0.5 + 4.0 * w[i, j] / top,
                    shrinkA=8,
                    shrinkB=8,
                    connectionstyle="arc3,rad=0.18",
                ),
            )
            if annotate:
                mid = (xy[i] + xy[j]) * 0.43
                ax.text(*mid, value_format.format(w[i, j]), fontsize=6, ha="center")
    for i, name in enumerate(group_names):
        ax.scatter(*xy[i] * 0.86, s=260, color=colours[i], zorder=3)
        ax.text(*xy[i] * 1.08, name, ha="center", va="center", fontsize=8)
    ax.set_xlim(-1.35, 1.35)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    if own:
        fig.tight_layout()
    return fig


def plot_affinity(
    affinity,
    group_names,
    *,
    title: str | None = None,
    fmt: str = "{:.2f}",
    vmax: float | None = None,
):
    """Heatmaps of affinity matrices e (row i = receiver, column j = sender; chapter 3).

    ``affinity``: one (K, K) matrix, or a dict name -> (K, K) (e.g. one per block, or a
    batch mean of ``out.affinity[b]``).
    """
    import matplotlib.pyplot as plt

    mats = affinity if isinstance(affinity, dict) else {"e": affinity}
    k = len(group_names)
    fig, axes = plt.subplots(1, len(mats), figsize=(5.4 * len(mats), 5.0))
    axes = np.atleast_1d(axes)
    for ax, (name, m) in zip(axes, mats.items(), strict=True):
        m = _np(m).astype(float)
        im = ax.imshow(m, cmap="magma", vmin=0, vmax=vmax if vmax is not None else np.nanmax(m))
        for i in range(k):
            for j in range(k):
                if np.isfinite(m[i, j]):
                    ax.text(
                        j,
                        i,
                        fmt.format(m[i, j]),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if m[i, j] < 0.6 * np.nanmax(m) else "black",
                    )
        ax.set_xticks(range(k), group_names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(k), group_names, fontsize=7)
        ax.set_xlabel("sender j")
        ax.set_ylabel("receiver i")
        ax.set_title(name, fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.045, pad=0.03)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_directedness(affinity, group_names, *, title: str | None = None):
    """Scatter of e_ij against e_ji over all pairs i < j: on the diagonal for an undirected
    graph, off it for a directed one (chapter 3). ``affinity``: (K, K) or dict of them."""
    import matplotlib.pyplot as plt

    mats = affinity if isinstance(affinity, dict) else {"e": affinity}
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    iu = np.triu_indices(len(group_names), 1)
    top = 0.0
    for name, m in mats.items():
        m = _np(m).astype(float)
        ax.scatter(m[iu], m.T[iu], s=14, label=name, alpha=0.8)
        top = max(top, float(np.nanmax(m)))
    ax.plot([0, top], [0, top], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("$e_{ij}$ (what i receives from j)")
    ax.set_ylabel("$e_{ji}$ (what j receives from i)")
    ax.legend(fontsize=8)
    ax.set_title(title or "Directed: $e_{ij} \\neq e_{ji}$", fontsize=10)
    fig.tight_layout()
    return fig


def show_attention_masks(
    image, masks, group_names, *, truth=None, title: str | None = None, stretch: bool = True
):
    """Group attention masks over a face (chapter 2): one row per block, one column per group.

    ``image``: (H, W, 3) as shown; ``masks``: dict block -> (K, h, w) in [0, 1], stretched over
    the whole image (the network saw the image resized); ``truth``: optional bool (K, H, W)
    ground-truth regions drawn as outlines. ``stretch``: colour each mask from its own minimum
    (blue) to its maximum (red), to show where it looks; else on the absolute [0, 1] scale.
    """
    import matplotlib.pyplot as plt

    img = _np(image)
    h, w = img.shape[:2]
    k = len(group_names)
    rows = list(masks.items())
    fig, axes = plt.subplots(len(rows), k, figsize=(1.55 * k, 1.9 * len(rows)), squeeze=False)
    for r, (block, m) in enumerate(rows):
        m = _np(m).astype(float)
        for i in range(k):
            ax = axes[r, i]
            ax.imshow(img)
            lo, hi = (float(m[i].min()), float(m[i].max())) if stretch else (0.0, 1.0)
            ax.imshow(
                m[i],
                cmap="jet",
                alpha=0.5,
                vmin=lo,
                vmax=max(hi, lo + 1e-6),
                extent=(0, w, h, 0),
                interpolation="bilinear",
            )
            if truth is not None:
                ax.contour(
                    _np(truth)[i].astype(float), levels=[0.5], colors="white", linewidths=1.0
                )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(group_names[i], fontsize=8)
            if i == 0:
                ax.set_ylabel(f"{block} ({m.shape[-2]}x{m.shape[-1]})", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_param_breakdown(rows, *, title: str | None = None):
    """Stacked bars of where each variant's parameters are (backbone, heads, GAL, GCL), in
    millions, with the paper's totals where it gives them (chapter 4; rows from
    :func:`mggnet_lite.nn.params.param_table`)."""
    import matplotlib.pyplot as plt

    names = [r["variant"] for r in rows]
    parts = {
        "backbone": [r["backbone"] for r in rows],
        "heads (base + Eq. 3)": [r["base_head"] + r["group_heads"] for r in rows],
        "GAL (Eq. 1)": [r["gal"] for r in rows],
        "GCL (Eq. 2)": [r["gcl"] for r in rows],
    }
    fig, ax = plt.subplots(figsize=(7, 3.2))
    left = np.zeros(len(rows))
    for (name, vals), c in zip(
        parts.items(), ("#bbbbbb", "#4daf4a", "#377eb8", "#e41a1c"), strict=True
    ):
        v = np.asarray(vals, float) / 1e6
        ax.barh(names, v, left=left, color=c, label=name)
        left += v
    for y, r in enumerate(rows):
        if r.get("paper_total_M") is not None:
            ax.plot([r["paper_total_M"]] * 2, [y - 0.4, y + 0.4], color="black", lw=2)
        ax.text(left[y] + 0.1, y, f"{left[y]:.2f}M", va="center", fontsize=8)
    ax.plot([], [], color="black", lw=2, label="paper's total (ResNet-18)")
    ax.set_xlabel("parameters (millions)")
    ax.set_xlim(0, left.max() * 1.15)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title or "Where the parameters are", fontsize=10)
    fig.tight_layout()
    return fig


def plot_per_attribute(reports, *, metric: str = "accuracy", title: str | None = None):
    """One bar per attribute and per report (chapter 6), attributes ordered by group and
    labelled in the group's colour: ``reports`` maps a name to a results dict (results.json);
    ``metric``: ``accuracy`` or ``balanced_accuracy``. Each report's ``positive_rate`` gives
    the always-majority accuracy, drawn as a black tick when ``metric`` is ``accuracy``."""
    import matplotlib.pyplot as plt

    order = [a for members in GROUPS.values() for a in members]
    colour = {a: GROUP_COLOURS[g] for g, members in GROUPS.items() for a in members}
    names = list(reports)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(11, 3.6))
    x = np.arange(len(order))
    for k, name in enumerate(names):
        per = reports[name]["per_attribute"]
        ax.bar(x - 0.4 + width * (k + 0.5), [per[a][metric] for a in order], width, label=name)
    if metric == "accuracy":
        per = reports[names[0]]["per_attribute"]
        maj = [max(per[a]["positive_rate"], 100 - per[a]["positive_rate"]) for a in order]
        ax.scatter(x, maj, marker="_", color="black", s=60, zorder=3,
                   label="always-majority")
    else:
        ax.axhline(50, color="black", lw=1, ls=":", label="chance (50)")
    ax.set_xticks(x, [_short(a) for a in order], rotation=90, fontsize=7)
    for t, a in zip(ax.get_xticklabels(), order, strict=True):
        t.set_color(text_colour(colour[a], ax.get_facecolor()))
    lo = min(min(r["per_attribute"][a][metric] for a in order) for r in reports.values())
    ax.set_ylim(max(0, lo - 5), 109)  # room above 100 for the legend
    ax.set_yticks([t for t in ax.get_yticks() if t <= 100])
    ax.set_ylabel(f"{metric.replace('_', ' ')} (%)")
    ax.legend(fontsize=7, ncol=len(names) + 1, loc="upper right")
    ax.set_title(title or f"Per-attribute {metric.replace('_', ' ')} (labels coloured by group)",
                 fontsize=10)
    fig.tight_layout()
    return fig
