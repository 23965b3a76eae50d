"""The statistics the chapters decide with (analysis.py): lift, affinity deviation, the paired
bootstrap on a subset of entries, the hidden-group rows of the occlusion experiment."""

from __future__ import annotations

import numpy as np
import torch

from mggnet_lite import analysis
from mggnet_lite.attributes import CELEBA_ATTRIBUTES, GROUPS


def test_lift_is_one_for_uniform_masks_and_inverse_share_for_perfect_ones() -> None:
    truth = torch.zeros(3, 2, 8, 8, dtype=torch.bool)
    truth[:, 0, :2, :] = True  # a quarter of the image
    truth[:, 1, :, :4] = True  # half of it
    uniform = torch.ones(3, 2, 4, 4)
    torch.testing.assert_close(analysis.lift(uniform, truth), torch.ones(2))
    perfect = torch.nn.functional.interpolate(truth.float(), size=(4, 4), mode="area")
    lift = analysis.lift(perfect, truth)
    assert 3.0 < lift[0] <= 4.0 and 1.8 < lift[1] <= 2.0  # about 1 / share (upsampling blurs)
    score, share = analysis.mean_localisation(uniform, truth, chunk=2)
    torch.testing.assert_close(share, torch.tensor([0.25, 0.5], dtype=torch.float64))


def test_affinity_deviation() -> None:
    k = 8
    uniform = (torch.ones(k, k) - torch.eye(k)) / (k - 1)
    assert analysis.affinity_deviation(uniform) < 1e-6  # float32 input
    one_sender = torch.roll(torch.eye(k), 1, dims=1)  # each row all on one sender
    expected = ((1 - 1 / 7) + 6 / 7) / 7
    assert abs(analysis.affinity_deviation(one_sender) - expected) < 1e-9


def test_paired_difference_on_a_subset_counts_only_those_entries() -> None:
    labels = torch.tensor([[1, 0], [1, 0], [0, 1], [0, 1]])
    a = torch.tensor([[0.9, 0.9], [0.9, 0.9], [0.1, 0.1], [0.1, 0.1]])  # column 0 right, 1 wrong
    b = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.1, 0.9]])  # both right
    d, lo, hi = analysis.paired_difference(a, b, labels)
    assert abs(d - 50.0) < 1e-9 and lo == hi == 50.0
    col0 = torch.tensor([[True, False]] * 4)
    assert analysis.paired_difference(a, b, labels, where=col0) == (0.0, 0.0, 0.0)
    rows = torch.tensor([[False, False], [False, False], [False, True], [False, True]])
    d, _, _ = analysis.paired_difference(a, b, labels, where=rows)  # rows 0, 1 left out
    assert abs(d - 100.0) < 1e-9
    assert analysis.verdict_word(0.1, 0.5) == "beats" and analysis.verdict_word(-1, 1) == \
        "is within noise of" and analysis.verdict_word(-2, -1) == "is beaten by"
    # an interval that touches 0 decides nothing; one that excludes it, its side
    signs = [analysis.interval_sign(lo, hi) for lo, hi in ((0.0, 1.0), (-1.0, 0.0), (1e-9, 1.0),
                                                          (-1.0, -1e-9), (-0.5, 0.5))]
    assert signs == [0, 0, 1, -1, 0]


def test_t_quantile_matches_the_tables() -> None:
    for df, t in ((1, 12.7062), (2, 4.3027), (4, 2.7764), (10, 2.2281), (30, 2.0423), (1000, 1.9623)):
        assert abs(analysis.t_quantile(df) - t) < 1e-3, df
    assert abs(analysis.t_quantile(4, 0.95) - 2.1318) < 1e-3


def test_across_runs_counts_the_spread_between_trainings_and_the_images() -> None:
    # point intervals: the classic t interval over runs, 2 +- 4.303 / sqrt(3)
    mean, lo, hi = analysis.across_runs([(1.0, 1.0, 1.0), (2.0, 2.0, 2.0), (3.0, 3.0, 3.0)])
    assert mean == 2.0 and abs(hi - 2.0 - 4.3027 / 3 ** 0.5) < 1e-3 and abs(lo + hi - 4.0) < 1e-9
    # identical runs: the test images' error alone, not shrunk by the number of runs, and known
    # (a normal quantile, not Student's t at S - 1)
    one = (0.2, 0.2 - 0.15, 0.2 + 0.15)
    mean, lo, hi = analysis.across_runs([one] * 5)
    assert abs(mean - 0.2) < 1e-12 and abs((hi - lo) / 2 - 0.15) < 1e-3
    # both: Welch-Satterthwaite's degrees of freedom, between S - 1 and the normal's
    runs = [(0.1, 0.0, 0.2), (0.3, 0.2, 0.4), (0.2, 0.1, 0.3)]
    between, images = analysis.run_variances(runs)
    v = between / 3 + images
    df = 2 * (v / (between / 3)) ** 2
    assert 2 < df < 1e4
    assert abs(analysis.across_runs(runs)[2] - 0.2 - analysis.t_quantile(df) * v ** 0.5) < 1e-9
    # tight intervals that disagree across runs give a wide one
    _, lo, hi = analysis.across_runs([(0.17, 0.03, 0.30), (-0.23, -0.36, -0.11)])
    assert lo < -0.23 and hi > 0.17
    try:
        analysis.across_runs([one])
    except ValueError as e:
        assert "two or more" in str(e)
    else:
        raise AssertionError("one run passed")


def test_across_runs_covers_95_percent_of_the_time() -> None:
    """Simulated: S = 5 trainings scored on the same 2,000 images, each run's per-image
    difference the images' shared part, its own noise and a shift of its training; true mean 0.
    Where the images' error dominates and where the trainings' spread does, about 95% of the
    pooled intervals hold 0 (Student's t at S - 1 held it 98-99.9% of the time)."""
    rng = np.random.default_rng(0)
    n, s_runs, reps = 2000, 5, 600
    for sd_training in (0.02, 0.3):
        hits = 0
        for _ in range(reps):
            per = (rng.normal(0, 3.0, n) + rng.normal(0, 1.0, (s_runs, n))
                   + rng.normal(0, sd_training, (s_runs, 1)))
            mean, se = per.mean(1), per.std(1, ddof=1) / n ** 0.5
            _, lo, hi = analysis.across_runs(list(zip(mean, mean - 1.96 * se, mean + 1.96 * se,
                                                      strict=True)))
            hits += lo <= 0 <= hi
        assert 0.92 <= hits / reps <= 0.975, (sd_training, hits / reps)


def test_two_way_difference_is_the_classic_interval_at_its_limits() -> None:
    # the runs differ by a constant shift only: Student's t over the runs' means
    d = np.array([[1.0] * 4, [2.0] * 4, [3.0] * 4])
    mean, lo, hi = analysis.two_way_difference(np.zeros_like(d), d)
    assert mean == 2.0 and abs(hi - 2.0 - 4.3027 / 3 ** 0.5) < 1e-3
    # every run the same per image: the images' standard error with the normal's quantile
    img = np.random.default_rng(1).normal(0.0, 2.0, 500)
    mean, lo, hi = analysis.two_way_difference(np.zeros((4, 500)), np.tile(img, (4, 1)))
    se = img.std(ddof=1) / 500 ** 0.5
    assert abs(mean - img.mean()) < 1e-12 and abs((hi - lo) / 2 - 1.95996 * se) < 1e-4
    for bad in (np.zeros((1, 10)), np.zeros(10)):
        try:
            analysis.two_way_difference(bad, bad)
        except ValueError as e:
            assert "runs >= 2" in str(e)
        else:
            raise AssertionError(f"scores of shape {bad.shape} passed")


def test_two_way_difference_covers_95_percent_and_narrows_with_runs() -> None:
    """Simulated: S = 5 trainings scored on the same 2,000 images; each cell of the runs x
    images table is the image's shared part, the training's shift and noise of its own (true
    mean 0). At least 93-93.5% of the intervals hold 0 whichever part dominates, and at most 97.5%
    unless the trainings barely differ (then Welch-Satterthwaite's few degrees of freedom make
    it conservative, 99%). Where the cells' own noise dominates (two networks that disagree on
    different images in every training), the interval is narrower than :func:`across_runs`'
    from the same runs, which counts that noise once per run instead of once per run and
    image. The last row has about the variances the fine-tuned protocol's trainings measured
    (``benchmarks/studies/2026-12-05-partial-finetune``, seeds 0-9: images 0.1-1.8, cells
    7.1-8.3, trainings 0.004-0.024), and the row after it 2,000 times: there, taking the runs' part less
    the cells' share as the part with S - 1 degrees of freedom held 0 92-93% of the time."""
    rng = np.random.default_rng(0)
    n, s_runs = 2000, 5
    for sd_image, sd_cell, sd_training, reps, floor in (
            (3.0, 1.0, 0.02, 500, 0.93), (0.5, 3.0, 0.02, 500, 0.93), (0.5, 3.0, 0.2, 500, 0.93),
            (1.2, 2.8, 0.1, 500, 0.93), (0.3, 2.7, 0.1, 2000, 0.935)):
        hits, ratio = 0, []
        for _ in range(reps):
            d = (rng.normal(0, sd_image, n) + rng.normal(0, sd_cell, (s_runs, n))
                 + rng.normal(0, sd_training, (s_runs, 1)))
            _, lo, hi = analysis.two_way_difference(np.zeros_like(d), d)
            hits += lo <= 0 <= hi
            mean, se = d.mean(1), d.std(1, ddof=1) / n ** 0.5
            _, lo1, hi1 = analysis.across_runs(list(zip(mean, mean - 1.96 * se, mean + 1.96 * se,
                                                        strict=True)))
            ratio.append((hi - lo) / (hi1 - lo1))
        top = 0.996 if (sd_cell, sd_training) == (3.0, 0.02) else 0.975
        assert floor <= hits / reps <= top, (sd_image, sd_cell, sd_training, hits / reps)
        assert np.mean(ratio) <= 1.0 + 1e-9, (sd_image, sd_cell, sd_training, np.mean(ratio))
        if sd_cell > sd_image and sd_training <= 0.1:  # not where the trainings dominate
            assert np.mean(ratio) < 0.85, (sd_image, sd_cell, sd_training, np.mean(ratio))


def test_two_way_parts_recover_the_simulated_variances() -> None:
    rng = np.random.default_rng(2)
    s_runs, n = 10, 4000
    d = (rng.normal(0, 2.0, n) + rng.normal(0, 3.0, (s_runs, n))
         + rng.normal(0, 0.3, (s_runs, 1)) + 0.5)
    mean, runs, images, cells = analysis.two_way_parts(np.zeros_like(d), d)
    assert abs(mean - 0.5) < 0.25 and abs(cells / 9.0 - 1) < 0.03 and abs(images / 4.0 - 1) < 0.1
    assert 0.02 < runs < 0.3  # 0.09, estimated from ten runs
    # the half-width of an S x M table: t at Welch-Satterthwaite's df times sqrt(V)
    v = runs / 10 + images / n + cells / (10 * n)
    half = analysis.two_way_half_width(runs, images, cells, 10, n)
    assert analysis.t_quantile(9) * v ** 0.5 >= half >= 1.959 * v ** 0.5


def test_format_difference_shows_the_verdict_its_interval_gives() -> None:
    f = analysis.format_difference
    assert f(0.12, 0.02, 0.21) == "+0.12 [+0.02, +0.21]"
    # decided, but the upper end would print as -0.00: one more decimal for the whole interval
    assert f(-0.12, -0.2404, -0.0021) == "-0.120 [-0.240, -0.002]"
    assert f(0.05, 0.00004, 0.1) == "+0.05000 [+0.00004, +0.10000]"
    assert f(0.0, -0.004, 0.10) == "+0.00 [-0.00, +0.10]"  # not decided: as it is


def test_hidden_group_rows_mark_the_hidden_groups_attributes() -> None:
    rows = analysis.hidden_group_rows(["mouth", None, "eyes"], GROUPS, CELEBA_ATTRIBUTES)
    assert rows.shape == (3, 40) and not rows[1].any()
    got = {CELEBA_ATTRIBUTES[j] for j in rows[0].nonzero().flatten().tolist()}
    assert got == set(GROUPS["mouth"])
    assert rows[2].sum() == len(GROUPS["eyes"])


def test_pointing_game_scores_the_peak_not_the_mass() -> None:
    """Two groups on 2 images of 8 x 8: group 0's mask peaks inside its region on image 0 and
    on the background on image 1 (though most of its mass is inside); group 1's region is the
    whole image (chance 1)."""
    truth = torch.zeros(2, 2, 8, 8, dtype=torch.bool)
    truth[:, 0, :4, :4] = True  # a quarter of the image
    truth[:, 1] = True
    masks = torch.zeros(2, 2, 4, 4)
    masks[0, 0, 0, 0] = 1.0  # peak in the region
    masks[1, 0, :2, :2] = 0.6  # mass inside ...
    masks[1, 0, 3, 3] = 1.0  # ... but the peak in the far corner
    masks[:, 1] = torch.rand(2, 4, 4)
    hits, chance = analysis.pointing_game(masks, truth, chunk=1)
    assert hits.tolist() == [0.5, 1.0] and chance.tolist() == [0.25, 1.0]
    assert float(analysis.lift(masks[1:], truth[1:])[0]) > 1  # the lift still passes
    # the peak is taken where chapter 2 draws the mask: bilinearly upsampled to the image
    up = torch.nn.functional.interpolate(masks, size=(8, 8), mode="bilinear", align_corners=False)
    peak = up[1, 0].flatten().argmax()
    assert not truth[1, 0].flatten()[peak]


def test_book_localisation_table_counts_what_it_prints() -> None:
    from mggnet_lite import book

    truth = torch.zeros(4, 2, 8, 8, dtype=torch.bool)
    truth[:, 0, :4, :4] = True
    truth[:, 1, 4:, :] = True
    masks = torch.zeros(4, 2, 4, 4)
    masks[:, 0, 0, 0] = 1.0  # group 0 always peaks in its region
    masks[:, 1, 0, 3] = 1.0  # group 1 never does
    stats = book.localisation({"block3": masks}, truth)
    assert stats["block3"]["pointing"].tolist() == [1.0, 0.0]
    text = book.format_localisation(stats, ["a", "b"], "title")
    assert "at least half the images for 1 of 2 groups, at twice chance or more for 1" in text


def test_pointing_game_splits_a_plateau_of_peaks() -> None:
    """A saturated mask (two cells at exactly 1.0) has a plateau of peaks: it scores the
    plateau's share inside the region, not whichever tied pixel comes first."""
    truth = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    truth[0, 0, :, 4:] = True  # the right half
    masks = torch.zeros(1, 1, 2, 2)
    masks[0, 0, 0, :] = 1.0  # the whole top row saturated: left (outside) and right (inside)
    hits, _ = analysis.pointing_game(masks, truth)
    assert float(hits[0]) == 0.5  # first-pixel argmax would say 0 (the top-left is outside)


def test_pointing_ceiling_is_what_the_best_mask_scores() -> None:
    """A region between the cells' peaks cannot be pointed at by any mask of that grid; a
    one-hot mask on the best cell reaches the ceiling wherever one exists."""
    truth = torch.zeros(2, 2, 16, 16, dtype=torch.bool)
    truth[:, 0, 6:10, 6:10] = True  # the centre: between the four cells of a 2 x 2 grid
    truth[0, 1, :4, :4] = True  # image 0: a corner; image 1: nothing
    ceiling = analysis.pointing_ceiling(truth, (2, 2))
    assert ceiling.tolist() == [0.0, 0.5]
    assert analysis.pointing_ceiling(truth, (8, 8))[0] == 1.0  # a finer grid reaches it
    for grid in ((2, 2), (4, 4), (8, 8)):
        ceil = analysis.pointing_ceiling(truth, grid)
        best = torch.zeros(2, 2)
        for cell in range(grid[0] * grid[1]):
            m = torch.zeros(2, 2, *grid)
            m.view(2, 2, -1)[..., cell] = 1.0
            per_image = torch.stack([analysis.pointing_game(m[i:i + 1], truth[i:i + 1])[0]
                                     for i in range(2)])
            best = torch.maximum(best, per_image.float())
        assert torch.allclose(best.mean(0).double(), ceil)


def test_affinity_collapse_tells_one_hot_rows_from_spread_ones() -> None:
    k = 4
    one_hot = torch.zeros(2, k, k)
    for i in range(k):  # image 0: every row on its next node; image 1: on the one after
        one_hot[0, i, (i + 1) % k] = 1.0
        one_hot[1, i, (i + 2) % k] = 1.0
    spread = (1 - torch.eye(k)).expand(2, k, k) / (k - 1)
    c = analysis.affinity_collapse(one_hot)
    assert torch.allclose(c["top"], torch.ones(k, dtype=torch.float64))
    assert torch.allclose(c["entropy"], torch.zeros(k, dtype=torch.float64), atol=1e-9)
    # averaged over the images the rows look half spread: the per-image figure is the one
    # that shows the collapse
    assert torch.allclose(c["mean_top"], torch.full((k,), 0.5, dtype=torch.float64))
    u = analysis.affinity_collapse(spread)
    assert torch.allclose(u["top"], u["uniform_top"].double())
    assert torch.allclose(u["entropy"], torch.ones(k, dtype=torch.float64))


def test_senders_to_mean_replaces_only_the_messages() -> None:
    from mggnet_lite.nn import build_model

    torch.manual_seed(0)
    model = build_model("mggnet", "resnet18", None, width=8).eval()
    x = torch.rand(3, 3, 64, 64)
    means = analysis.mean_group_features(model, [x])
    with torch.inference_mode():
        plain = model(x)
        feats = model.backbone(x)
        with analysis.senders_to_mean(model, means):
            ctrl = model(x)
        for b in model.gcl:  # by hand: Eq. 2 with each sender's feature set to its mean
            f, _ = model.gal[b](feats[b])
            assert torch.allclose(means[b], f.mean(0), atol=1e-5)
            g, e = model.gcl[b](f, senders=means[b].expand_as(f))
            assert torch.allclose(ctrl.gcl_logits[b], model.heads[b](g), atol=1e-5)
            assert torch.allclose(ctrl.affinity[b], e, atol=1e-6)
            assert not torch.allclose(ctrl.gcl_logits[b], plain.gcl_logits[b], atol=1e-4)
            assert torch.equal(ctrl.gal_logits[b], plain.gal_logits[b])  # GAL is untouched
        # one image is its own mean: the control changes nothing; and the hooks are gone after
        one = analysis.mean_group_features(model, [x[:1]])
        with analysis.senders_to_mean(model, one):
            same = model(x[:1])
        assert torch.allclose(same.probs, model(x[:1]).probs, atol=1e-5)
        assert torch.equal(model(x).probs, plain.probs)


def test_book_localisation_reports_the_grid_ceiling() -> None:
    """A region between a 2 x 2 grid's cell peaks: the table says no mask of that grid can
    point at it."""
    from mggnet_lite import book

    truth = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    truth[:, 0, 6:10, 6:10] = True
    stats = book.localisation({"block4": torch.rand(2, 1, 2, 2), "block3": torch.rand(2, 1, 8, 8)},
                              truth)
    assert stats["block4"]["ceiling"].tolist() == [0.0]
    assert stats["block3"]["ceiling"].tolist() == [1.0]
    text = book.format_localisation(stats, ["centre"], "t")
    assert "block4: " in text and "could reach half for 0" in text
    assert "block3: " in text and "could reach half for 1" in text
