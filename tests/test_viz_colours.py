"""Group colours as text (mggnet_lite.viz.text_colour): chapter 6's per-attribute figure
labels each attribute in its group's colour, and every label must be readable on the axes
(WCAG 2's 4.5:1 for text) while keeping its group's hue."""

from __future__ import annotations

import colorsys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402

from mggnet_lite import viz  # noqa: E402
from mggnet_lite.attributes import CELEBA_ATTRIBUTES, GROUPS  # noqa: E402


def test_contrast_is_wcag_2s_ratio():
    assert viz.contrast("black", "white") == pytest.approx(21.0)
    assert viz.contrast("#777777", "#777777") == pytest.approx(1.0)
    assert viz.contrast("#767676", "white") == pytest.approx(4.54, abs=0.01)  # WCAG's example grey
    assert viz.contrast(viz.GROUP_COLOURS["middle_face"], "white") < 1.5  # why text_colour exists


def test_text_colour_darkens_only_as_much_as_needed_and_keeps_the_hue():
    for group, colour in viz.GROUP_COLOURS.items():
        text = viz.text_colour(colour)
        assert viz.contrast(text, "white") >= 4.5, group
        h0, _, _ = colorsys.rgb_to_hsv(*to_rgb(colour))
        h1, _, _ = colorsys.rgb_to_hsv(*text)
        assert min(abs(h0 - h1), 1 - abs(h0 - h1)) < 0.01, group
        if viz.contrast(colour, "white") >= 4.5:
            assert text == pytest.approx(to_rgb(colour)), group  # already readable: unchanged
        else:  # the least darkening that reaches 4.5:1 (1% steps)
            slightly_lighter = tuple(min(1.0, c / 0.99) for c in text)
            assert viz.contrast(slightly_lighter, "white") < 4.5 + 0.1, group
    assert viz.text_colour("white", "black") == pytest.approx((1.0, 1.0, 1.0))


def test_per_attribute_figure_labels_are_readable_in_their_groups_hue():
    per = {a: {"accuracy": 90.0, "positive_rate": 30.0} for a in CELEBA_ATTRIBUTES}
    fig = viz.plot_per_attribute({"a run": {"per_attribute": per}})
    try:
        ax = fig.axes[0]
        group_of = {viz._short(a): g for g, members in GROUPS.items() for a in members}
        labels = ax.get_xticklabels()
        assert len(labels) == len(CELEBA_ATTRIBUTES)
        for t in labels:
            group = group_of[t.get_text()]
            colour = to_rgb(t.get_color())
            assert viz.contrast(colour, ax.get_facecolor()) >= 4.5, (t.get_text(), group)
            assert colour == pytest.approx(viz.text_colour(viz.GROUP_COLOURS[group])), t.get_text()
    finally:
        plt.close(fig)


def test_positive_rates_legend_gives_the_bars_no_single_groups_colour():
    """Chapter 1's bars take eight colours: their legend entry must not show one of them (it
    showed the first bar's, hairline green, beside "this data")."""
    rates = [0.1 + 0.02 * i for i in range(len(CELEBA_ATTRIBUTES))]
    fig = viz.plot_positive_rates(rates, list(CELEBA_ATTRIBUTES), reference=rates, label="this data")
    try:
        ax = fig.axes[0]
        legend = ax.get_legend()  # the second legend; the first (groups) is an added artist
        texts = [t.get_text() for t in legend.get_texts()]
        bars = next(h for h, t in zip(legend.legend_handles, texts, strict=True)
                    if t.startswith("this data"))
        assert bars.get_facecolor()[3] == 0  # unfilled
        groups = {to_rgb(c) for c in viz.GROUP_COLOURS.values()}
        assert to_rgb(bars.get_edgecolor()) not in groups
        colours = {to_rgb(p.get_facecolor()) for p in ax.patches}
        assert colours == groups  # the bars themselves keep their groups' colours
    finally:
        plt.close(fig)
