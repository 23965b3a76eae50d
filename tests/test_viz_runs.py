"""``viz.plot_run_intervals`` (chapter 6): each training's interval coloured by what it decides,
the pooled one drawn thick and black, one row per pair, one panel per protocol."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
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


def test_a_dotted_line_marks_a_step_schedules_lr_drop_and_nothing_else() -> None:
    """Chapter 5 draws stage 1 (5 epochs at lr 0.1, then 0.01) beside stage 2 (one-cycle: the
    lr moves at every epoch): one drop, at 5.5, in stage 1's colour and named in the legend; a
    line at every boundary of one-cycle said nothing (it drew six, unexplained)."""
    import matplotlib.pyplot as plt

    def rows(lrs):
        return [{"epoch": e + 1, "lr": lr, "train_loss": 1.0, "train_mean_accuracy": 90.0,
                 "train_mean_balanced_accuracy": 80.0} for e, lr in enumerate(lrs)]

    step = rows([0.1] * 5 + [0.01])
    onecycle = rows([3.2e-4, 8e-3, 7.5e-3, 6.3e-3, 4.7e-3, 3.0e-3, 1.4e-3, 3.8e-4])
    assert viz.lr_drops(step) == [5.5]
    assert viz.lr_drops(onecycle) == []
    assert viz.lr_drops(rows([0.01] * 9 + [0.001] * 5)) == [9.5]  # Sec. 4.1's 9 + 5 epochs
    assert viz.lr_drops(rows([0.1, 0.01])) == [1.5]
    fig = viz.plot_training_curves({"stage 1": step, "MGG-Net": onecycle})
    try:
        for ax in fig.axes:
            vertical = [ln for ln in ax.get_lines() if len(set(ln.get_xdata())) == 1]
            assert [ln.get_xdata()[0] for ln in vertical] == [5.5]
            assert vertical[0].get_color() == ax.get_lines()[0].get_color()  # stage 1's colour
        assert "stage 1: lr drop" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    finally:
        plt.close(fig)


def test_ten_trainings_per_pair_stay_apart() -> None:
    """Each training's line lies at least 3 points (of the page) from the next one's, also
    with ten per pair (chapter 6's fine-tuned protocol): at a fixed height they overlapped."""
    import matplotlib.pyplot as plt

    runs = [(0.1 * k - 0.5, 0.1 * k - 0.65, 0.1 * k - 0.35) for k in range(10)]
    pooled = analysis.across_runs(runs)
    pairs = {f"p{j}": (runs, pooled) for j in range(6)}
    fig = viz.plot_run_intervals({"five": {k: (r[:5], p) for k, (r, p) in pairs.items()},
                                  "ten": pairs})
    try:
        fig.canvas.draw()
        ax = fig.axes[1]
        segments = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2
                    and ln.get_linewidth() < 3][:10]  # the first pair's ten trainings
        ys = [ax.transData.transform((0, ln.get_ydata()[0]))[1] for ln in segments]
        gaps_pt = np.abs(np.diff(ys)) * 72 / fig.dpi
        assert len(ys) == 10 and gaps_pt.min() >= 3, gaps_pt
    finally:
        plt.close(fig)
