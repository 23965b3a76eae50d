"""Figures of runs and their comparison (chapters 5 and 6): training curves, the ablations'
accuracies, and paired differences over several trainings. matplotlib only; each function
returns its :class:`matplotlib.figure.Figure`. :mod:`mggnet_lite.viz` re-exports them, so the
chapters call every figure as ``viz.<name>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def read_history(run) -> list[dict]:
    """The per-epoch rows of a run: its folder's ``metrics.jsonl`` (one JSON object a line,
    written by :func:`mggnet_lite.training.train.train`), a results dict with ``history``, or the rows."""
    import json

    if isinstance(run, str | os.PathLike):
        path = Path(run)
        path = path / "metrics.jsonl" if path.is_dir() else path
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if isinstance(run, dict):
        return list(run.get("history", []))
    return list(run)


def lr_drops(history: list[dict]) -> list[float]:
    """The epoch boundaries (epoch - 0.5) where a step schedule lowers the lr (Sec. 4.1: lr,
    then low_lr): the lr falls there and holds on both sides. A schedule that moves the lr
    at every epoch (one-cycle's cosine) has none."""
    lrs = [r["lr"] for r in history]
    return [history[i]["epoch"] - 0.5 for i in range(1, len(lrs))
            if lrs[i] < lrs[i - 1] and (i < 2 or lrs[i - 1] == lrs[i - 2])
            and (i + 1 == len(lrs) or lrs[i + 1] == lrs[i])]


def plot_training_curves(runs, *, title: str | None = None):
    """Loss and mean accuracy per epoch (chapter 5): ``runs`` maps a name to a run folder,
    a results dict or a list of history rows (:func:`read_history`). Training-split numbers,
    accumulated over each epoch while the weights moved; a dotted line in the run's colour
    marks a step schedule's lr drop (:func:`lr_drops`), named in the legend."""
    import matplotlib.pyplot as plt

    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(9, 3.2))
    for (name, run), c in zip(runs.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"],
                              strict=False):
        h = read_history(run)
        ep = [r["epoch"] for r in h]
        ax_l.plot(ep, [r["train_loss"] for r in h], "o-", color=c, label=name)
        ax_a.plot(ep, [r["train_mean_accuracy"] for r in h], "o-", color=c,
                  label=f"{name}: accuracy")
        ax_a.plot(ep, [r["train_mean_balanced_accuracy"] for r in h], "s--", color=c, alpha=0.6,
                  label=f"{name}: balanced")
        for k, x in enumerate(lr_drops(h)):
            ax_l.axvline(x, color=c, ls=":", lw=1.2, label=f"{name}: lr drop" if k == 0 else None)
            ax_a.axvline(x, color=c, ls=":", lw=1.2)
    for ax in (ax_l, ax_a):
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_l.set_ylabel("training loss (Eq. 5)")
    ax_a.set_ylabel("mean over 40 attributes (%)")
    ax_l.legend(fontsize=7)
    ax_a.legend(fontsize=6, ncol=1 if len(runs) < 3 else 2)
    fig.suptitle(title or "Training curves (training split)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_ablation(panels, *, reference: float | None = None, xlabel: str = "mean accuracy (%)",
                  title: str | None = None):
    """Horizontal bars of one number per network, one panel per ablation (chapter 6):
    ``panels`` maps a panel title to ``{network: value}``; ``reference`` (e.g. the
    always-majority accuracy) is drawn as a dashed line in every panel."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 2.8), squeeze=False)
    lo = min(min(v.values()) for v in panels.values())
    hi = max(max(v.values()) for v in panels.values())
    if reference is not None:
        lo = min(lo, reference)
    for ax, (name, values) in zip(axes[0], panels.items(), strict=True):
        labels, vals = list(values), list(values.values())
        best = int(np.argmax(vals))
        ax.barh(labels, vals, color=["#e41a1c" if i == best else "#888888"
                                     for i in range(len(vals))])
        for y, v in enumerate(vals):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=7)
        if reference is not None:
            ax.axvline(reference, color="black", ls="--", lw=1)
        ax.set_xlim(lo - 1, hi + 1.5)
        ax.invert_yaxis()
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_run_intervals(panels, *, title: str | None = None):
    """Paired differences over several trainings, one panel per protocol (chapter 6): ``panels``
    maps a panel title to ``{pair: (runs, pooled)}``, ``runs`` one ``(diff, lo, hi)`` per
    training (its own 95% interval over the test images: thin, coloured where it excludes 0),
    ``pooled`` their pooled interval (thick, black: :func:`~mggnet_lite.analysis.across_runs`
    or :func:`~mggnet_lite.analysis.two_way_difference`). The dotted line is no difference."""
    import matplotlib.pyplot as plt

    from .analysis import interval_sign

    rows = max(len(pairs) for pairs in panels.values())
    runs_per_row = max(len(runs) for pairs in panels.values() for runs, _ in pairs.values())
    row_inches = max(0.6, 0.1 * (runs_per_row + 2))  # adjacent trainings at least 3 pt apart
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 0.9 + row_inches * rows),
                             squeeze=False, sharex=True)  # one scale: widths compare
    colour = {1: "#1b9e77", -1: "#d95f02", 0: "#999999"}
    for ax, (name, pairs) in zip(axes[0], panels.items(), strict=True):
        for y, (runs, pooled) in enumerate(pairs.values()):
            for dy, (d, lo, hi) in zip(np.linspace(-0.35, 0.05, len(runs)), runs, strict=True):
                c = colour[interval_sign(lo, hi)]
                ax.plot([lo, hi], [y + dy] * 2, color=c, lw=1.2)
                ax.plot([d], [y + dy], "o", color=c, ms=2.5)
            d, lo, hi = pooled
            ax.plot([lo, hi], [y + 0.25] * 2, color="black", lw=3, solid_capstyle="butt")
            ax.plot([d], [y + 0.25], "s", color="black", ms=4)
        ax.axvline(0, color="black", ls=":", lw=1)
        ax.set_yticks(range(len(pairs)), list(pairs), fontsize=7)
        ax.set_ylim(len(pairs) - 0.5, -0.6)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("difference in mean accuracy (points)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    fig.legend(handles=[plt.Line2D([], [], color=colour[1], label="one training: above 0"),
                        plt.Line2D([], [], color=colour[-1], label="one training: below 0"),
                        plt.Line2D([], [], color=colour[0], label="one training: holds 0"),
                        plt.Line2D([], [], color="black", lw=3, label="pooled over the trainings")],
               loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.suptitle(title or "95% intervals, each training's own and pooled", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig
