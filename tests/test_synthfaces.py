"""SynthFaces (issue 3, acceptance 1): labels, rendering, masks, layout, determinism."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mggnet_lite.attributes import CELEBA_ATTRIBUTES, GROUPS
from mggnet_lite.data import synthfaces as sf

# CelebA's positive rates in percent, as listed in issue 3 (kept here, not imported, so the
# test checks the module's table too).
CELEBA_RATES = {
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

IDX = {a: i for i, a in enumerate(CELEBA_ATTRIBUTES)}
GROUP_OF = {a: k for k, members in enumerate(GROUPS.values()) for a in members}


@pytest.fixture(scope="module")
def labels10k() -> np.ndarray:
    return sf.sample_labels(10_000, seed=0)


# ---------------------------------------------------------------- label model


def test_marginals_within_3_points_of_celeba(labels10k):
    assert sf.CELEBA_POSITIVE_RATES == CELEBA_RATES
    rates = labels10k.mean(0) * 100
    off = {a: round(rates[IDX[a]] - t, 2) for a, t in CELEBA_RATES.items()
           if abs(rates[IDX[a]] - t) > 3}  # fmt: skip
    assert not off, f"marginals more than 3 points from CelebA's: {off}"


def test_label_draw_is_fast_vectorised_and_prefix_stable():
    t = time.perf_counter()
    y = sf.sample_labels(10_000, seed=5)
    assert time.perf_counter() - t < 0.5
    assert y.shape == (10_000, 40) and y.dtype == np.uint8 and set(np.unique(y)) <= {0, 1}
    assert np.array_equal(sf.sample_labels(100, seed=5), y[:100])
    assert not np.array_equal(sf.sample_labels(100, seed=6), y[:100])


def test_exclusions_hold(labels10k):
    y = labels10k.astype(bool)
    col = {a: y[:, IDX[a]] for a in CELEBA_ATTRIBUTES}
    colours = sum(col[a].astype(int) for a in ("Black_Hair", "Blond_Hair", "Brown_Hair",
                                                "Gray_Hair"))  # fmt: skip
    assert colours.max() == 1
    assert not (col["Straight_Hair"] & col["Wavy_Hair"]).any()
    bald = col["Bald"]
    for a in ("Bangs", "Receding_Hairline", "Black_Hair", "Blond_Hair", "Brown_Hair",
              "Gray_Hair", "Straight_Hair", "Wavy_Hair"):  # fmt: skip
        assert not (bald & col[a]).any(), a
    assert not (col["Receding_Hairline"] & col["Bangs"]).any()
    beard = ~col["No_Beard"]
    assert not (beard & ~col["Male"]).any()
    assert not ((col["Goatee"] | col["Mustache"]) & col["No_Beard"]).any()
    for a in ("Sideburns", "5_o_Clock_Shadow"):
        assert not (col[a] & ~col["Male"]).any(), a


def test_planted_edges_have_documented_sign_and_clear_size(labels10k):
    planted = {(p, c) for p, c, _, _ in sf.PLANTED_EDGES}
    required = {("Wearing_Lipstick", "Wearing_Necklace"), ("Male", "Wearing_Necktie"),
                ("Male", "Goatee"), ("Male", "Mustache"), ("Male", "No_Beard"),
                ("Male", "Wearing_Lipstick"), ("Smiling", "Mouth_Slightly_Open"),
                ("Smiling", "High_Cheekbones"), ("Young", "Gray_Hair"),
                ("Heavy_Makeup", "Wearing_Lipstick")}  # fmt: skip
    assert required <= planted
    groups = {a: g for g, members in GROUPS.items() for a in members}
    assert sum(groups[p] != groups[c] for p, c in planted) >= 20  # mostly across groups
    for e in sf.measure_dependencies(labels10k):
        p1, p0, n1 = e["p_child_given_parent"], e["p_child_given_not_parent"], e["n_parent"]
        diff = p1 - p0
        # clear: at least 3 points and 5 standard errors in the planted direction
        se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / (10_000 - n1)) + 1e-9
        assert e["sign"] * diff >= 0.03 and e["sign"] * diff / se >= 5, e
    # the paper's example, spelled out
    lip, neck = labels10k[:, IDX["Wearing_Lipstick"]] == 1, labels10k[:, IDX["Wearing_Necklace"]]
    assert neck[lip].mean() > 3 * neck[~lip].mean()


# ---------------------------------------------------------------- rendering


def _excluded_with(attr: str) -> set[str]:
    """Attributes the label model never draws together with ``attr`` (zero_if, both ways)."""
    out = set()
    for node in sf.LABEL_MODEL:
        if node.name == attr:
            out |= set(node.zero_if)
        if attr in node.zero_if:
            out.add(node.name)
    return out


@pytest.fixture(scope="module")
def faces():
    """Four faces: drawn labels (Blurry off) and their own pose/colour parameters."""
    y = sf.sample_labels(4, seed=11)
    y[:, IDX["Blurry"]] = 0
    return [(y[i], sf.params_for(11, i)) for i in range(4)]


def test_every_rendered_attribute_changes_pixels_inside_its_group(faces):
    rendered = [a for a in CELEBA_ATTRIBUTES
                if a not in sf.LATENT_ATTRIBUTES and a not in sf.WHOLE_IMAGE_ATTRIBUTES]  # fmt: skip
    assert len(rendered) == 38
    failures = []
    for labels, params in faces:
        _, masks = sf.render(labels, params)
        for a in rendered:
            base = labels.copy()
            for b in _excluded_with(a):  # compare on a face the model could draw
                base[IDX[b]] = 0
            on, off = base.copy(), base.copy()
            on[IDX[a]], off[IDX[a]] = 1, 0
            img_on, m_on = sf.render(on, params)
            img_off, _ = sf.render(off, params, masks=False)
            changed = (img_on != img_off).any(-1)
            inside = (changed & masks[GROUP_OF[a]]).sum() / max(changed.sum(), 1)
            if changed.sum() < 20 or inside < 0.9:
                failures.append((a, int(changed.sum()), round(float(inside), 3)))
            assert np.array_equal(m_on, masks)  # masks never depend on the labels
    assert not failures, f"(attribute, changed pixels, fraction inside its group): {failures}"


def test_latent_attributes_change_no_pixel(faces):
    assert 1 <= len(sf.LATENT_ATTRIBUTES) <= 3
    for labels, params in faces:
        for a in sf.LATENT_ATTRIBUTES:
            on, off = labels.copy(), labels.copy()
            on[IDX[a]], off[IDX[a]] = 1, 0
            for noise in (False, True):
                assert np.array_equal(sf.render(on, params, noise=noise)[0],
                                      sf.render(off, params, noise=noise)[0])  # fmt: skip


def test_blurry_blurs_the_whole_image(faces):
    assert sf.WHOLE_IMAGE_ATTRIBUTES == ("Blurry",)
    for labels, params in faces:
        sharp, _ = sf.render(labels, params, masks=False)
        on = labels.copy()
        on[IDX["Blurry"]] = 1
        blurry, _ = sf.render(on, params, masks=False)

        def hf(img: np.ndarray) -> float:  # mean absolute Laplacian: high-frequency energy
            g = img.astype(float).mean(-1)
            lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
            return float(np.abs(lap).mean())

        assert hf(blurry) < 0.6 * hf(sharp)
        changed = (sharp != blurry).any(-1)
        assert changed.mean() > 0.3  # not confined to one region


def test_masks_follow_the_pose():
    p = sf.params_for(3, 0)
    labels = np.zeros(40, np.uint8)
    eyes = list(GROUPS).index("eyes")

    def centroid(params):
        _, m = sf.render(labels, params)
        ys, xs = np.nonzero(m[eyes])
        return xs.mean(), ys.mean()

    x0, y0 = centroid(replace(p, dx=0.0, dy=0.0, angle=0.0, scale=1.0))
    assert abs(x0 - 89) < 2 and abs(y0 - 110) < 3  # eyes as in CelebA's aligned crops
    x1, y1 = centroid(replace(p, dx=5.0, dy=-4.0, angle=0.0, scale=1.0))
    assert abs(x1 - x0 - 5) < 1 and abs(y1 - y0 + 4) < 1
    img_a, m_a = sf.render(labels, replace(p, angle=0.0))
    img_b, m_b = sf.render(labels, replace(p, angle=8.0))
    assert (m_a != m_b).any() and (img_a != img_b).any()


def test_mask_pack_roundtrip():
    rng = np.random.default_rng(0)
    m = rng.random((8, 218, 178)) < 0.3
    assert np.array_equal(sf.unpack_masks(sf.pack_masks(m)), m)


# ---------------------------------------------------------------- writing a set


def test_split_sizes_follow_celeba():
    assert sf.split_sizes(202_599) == (162_770, 19_867, 19_962)
    for n in (1, 10, 64, 1000, 12_345):
        tr, va, te = sf.split_sizes(n)
        assert tr + va + te == n and min(tr, va, te) >= 0
        assert abs(tr / n - 162_770 / 202_599) <= 1 / n + 1e-9


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    return sf.synthesize(tmp_path_factory.mktemp("sf") / "set", n=64, seed=3, workers=1,
                         progress=False)  # fmt: skip


def test_layout_matches_celeba(small_set):
    root = small_set
    names = sorted(p.name for p in (root / "img_align_celeba").iterdir())
    assert names == [f"{i:06d}.jpg" for i in range(1, 65)]
    with Image.open(root / "img_align_celeba" / "000001.jpg") as im:
        assert im.format == "JPEG" and im.mode == "RGB" and im.size == (178, 218)
    lines = (root / "list_attr_celeba.txt").read_text().split("\n")
    assert lines[0] == "64" and lines[1] == " ".join(CELEBA_ATTRIBUTES) and lines[-1] == ""
    y = sf.sample_labels(64, seed=3)
    for i in (0, 1, 63):
        expect = f"{i + 1:06d}.jpg " + " ".join(f"{1 if v else -1:2d}" for v in y[i])
        assert lines[2 + i] == expect
    assert len(lines) == 64 + 3
    part = (root / "list_eval_partition.txt").read_text().splitlines()
    assert len(part) == 64 and part[0] == "000001.jpg 0"
    splits = [int(line.split()[1]) for line in part]
    tr, va, te = sf.split_sizes(64)
    assert splits == [0] * tr + [1] * va + [2] * te  # contiguous blocks like CelebA

    meta = json.loads((root / "synthfaces.json").read_text())
    assert meta["seed"] == 3 and meta["n"] == 64
    assert meta["generator_version"] == sf.GENERATOR_VERSION
    assert meta["split_sizes"] == {"train": tr, "valid": va, "test": te}
    assert meta["latent_attributes"] == list(sf.LATENT_ATTRIBUTES)
    assert meta["whole_image_attributes"] == list(sf.WHOLE_IMAGE_ATTRIBUTES)
    assert [n["name"] for n in meta["attribute_model"]["nodes"]] == [
        n.name for n in sf.LABEL_MODEL]  # fmt: skip
    deps = meta["dependencies_model_10000_draws"]
    assert deps == sf.measure_dependencies(sf.sample_labels(10_000, 0))
    assert len(deps) == len(sf.PLANTED_EDGES)


def test_group_masks_on_disk_match_render(small_set):
    m = sf.load_group_masks(small_set, 5)
    assert m.shape == (8, 218, 178) and m.dtype == bool
    assert np.array_equal(m, sf.load_group_masks(small_set, "000006.jpg"))
    _, expect = sf.render(sf.sample_labels(64, seed=3)[5], sf.params_for(3, 5))
    assert np.array_equal(m, expect)
    with pytest.raises(FileNotFoundError, match="group mask"):
        sf.load_group_masks(small_set, 999)


def test_a_split_of_masks_stacks_in_the_order_asked(small_set):
    # stack_group_masks (chapters 2, 7, make targets) and book.true_masks on a split: row i is
    # the i-th name's masks, whatever the order; a name without a mask is a clear error
    from mggnet_lite import book
    from mggnet_lite.data import CelebA

    names = ["000009.jpg", 2, "000001.jpg"]
    stack = sf.stack_group_masks(small_set, names)
    assert stack.shape == (3, 8, 218, 178) and stack.dtype == bool
    for row, name in zip(stack, names, strict=True):
        assert np.array_equal(row, sf.load_group_masks(small_set, name))
    assert sf.stack_group_masks(small_set, []).shape == (0, 8, 218, 178)
    test = CelebA(small_set, split="test")
    truth = book.true_masks("test", small_set)
    assert truth.dtype == torch.bool and truth.shape == (len(test), 8, 218, 178)
    assert np.array_equal(truth[-1].numpy(), sf.load_group_masks(small_set, test.filenames[-1]))
    with pytest.raises(FileNotFoundError, match="group mask"):
        sf.stack_group_masks(small_set, [1, 999])


# Tree hash (sf.tree_hash: sorted relative paths + file bytes) of the set that the pre-split,
# single-module generator (mggnet_lite/data/synthfaces.py at commit c678154) rendered for
# seed 0, n = 300 with masks; the package must write the very same bytes.
PRE_SPLIT_TREE_HASH_SEED0_N300 = "cee9f647f9cc94c6e7bbe3e119957abb4856256d76ff53b1882456322a6160e4"


def test_seed0_n300_bytes_match_the_pre_split_generator(tmp_path):
    root = sf.synthesize(tmp_path / "set", n=300, seed=0, masks=True, progress=False, workers=2)
    assert sf.tree_hash(root) == PRE_SPLIT_TREE_HASH_SEED0_N300


def test_same_seed_same_bytes_for_any_worker_count(tmp_path, small_set):
    a = sf.synthesize(tmp_path / "a", n=64, seed=3, workers=2, progress=False, chunk_size=8)
    assert sf.tree_hash(a) == sf.tree_hash(small_set)
    b = sf.synthesize(tmp_path / "b", n=64, seed=4, workers=1, progress=False)
    assert sf.tree_hash(b) != sf.tree_hash(small_set)


def test_finished_set_is_reused_and_interrupted_run_never_looks_complete(
    tmp_path, small_set, monkeypatch
):
    root = tmp_path / "set"
    sf.synthesize(root, n=16, seed=3, workers=1, progress=False)
    stamp = (root / "synthfaces.json").stat().st_mtime_ns
    assert sf.is_complete(root, 16, 3)
    sf.synthesize(root, n=16, seed=3, workers=1, progress=False)  # reused, not rewritten
    assert (root / "synthfaces.json").stat().st_mtime_ns == stamp

    def boom(job):
        raise KeyboardInterrupt

    monkeypatch.setattr(sf.writer, "_write_chunk", boom)  # synthesize looks it up there
    with pytest.raises(KeyboardInterrupt):
        sf.synthesize(root, n=32, seed=3, workers=1, progress=False)
    for f in ("synthfaces.json", "list_attr_celeba.txt", "list_eval_partition.txt"):
        assert not (root / f).exists(), f
    assert not sf.is_complete(root, 16, 3) and not sf.is_complete(root, 32, 3)


def test_cli_synth(tmp_path, capsys):
    from mggnet_lite.cli import main

    out = tmp_path / "cli"
    assert main(["synth", "--out", str(out), "--n", "12", "--seed", "2", "--workers", "1",
                 "--quiet"]) == 0  # fmt: skip
    assert "12 images" in capsys.readouterr().out
    assert sf.is_complete(out, 12, 2)
    assert len(list((out / "img_align_celeba").glob("*.jpg"))) == 12
    assert len(list((out / "group_masks").glob("*.png"))) == 12


def test_gallery_figure(small_set):
    import matplotlib

    matplotlib.use("Agg")
    from mggnet_lite.viz import show_gallery

    fig = show_gallery(small_set, range(6), ncols=3)
    images = [ax for ax in fig.axes if ax.images]
    assert len(images) == 6
    assert any("Male" in ax.get_xlabel() or "Young" in ax.get_xlabel() for ax in images)
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 8
    import matplotlib.pyplot as plt

    plt.close(fig)
