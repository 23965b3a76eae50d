"""``viz.plot_run_intervals`` (chapter 6): each training's interval coloured by what it decides,
the pooled one drawn thick and black, one row per pair, one panel per protocol."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from matplotlib.colors import to_hex  # noqa: E402

from mggnet_lite import analysis, viz  # noqa: E402


def test_each_training_is_coloured_by_its_verdict_and_the_pooled_interval_is_black() -> None:
    runs = [(0.3, 0.1, 0.5), (-0.2, -0.4, -0.05), (0.0, -0.1, 0.1)]  # above, below, holds 0
    pooled = analysis.across_runs(runs)
    panels = {"frozen": {"b - a": (runs, pooled), "c - a": (runs[:2], pooled)},
              "fine-tuned": {"b - a": (runs, pooled)}}
    fig = viz.plot_run_intervals(panels)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b - a", "c - a"]
    segments = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2]  # intervals, not dots
    first_row = segments[:len(runs) + 1]  # the runs of the first pair, then its pooled line
    want = ["#1b9e77", "#d95f02", "#999999"]
    assert [to_hex(ln.get_color()) for ln in first_row[:3]] == want
    assert [tuple(ln.get_xdata()) for ln in first_row[:3]] == [(lo, hi) for _, lo, hi in runs]
    bar = first_row[3]
    assert to_hex(bar.get_color()) == "#000000" and bar.get_linewidth() == 3
    assert tuple(bar.get_xdata()) == (pooled[1], pooled[2])
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "fine-tuned"
    matplotlib.pyplot.close(fig)
