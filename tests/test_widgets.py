"""Explorer widgets, headless: every control is driven and its effect checked (issue 6).

The frames are PNGs of composed NumPy panels, so each check decodes the frame and compares
the panel where the content should be with what the renderer must have drawn there.
Models are random ResNet-18 MGG-Nets at 64 px (a few images): fast on a 2-core CPU.
"""

from __future__ import annotations

import base64
import io

import anywidget  # noqa: F401  (test extra: a missing one is an error, not a skip)
import ipywidgets  # noqa: F401
import numpy as np
import pytest
import torch
from PIL import Image

from mggnet_lite import build_model
from mggnet_lite.attributes import CELEBA_ATTRIBUTES, GROUPS
from mggnet_lite.widgets import (
    ALL,
    AVERAGE,
    BOTH,
    ONE,
    AffinityExplorer,
    MaskScrubber,
    OutputCache,
    ground_truth_source,
    group_cooccurrence,
    mask_overlay,
    region_overlay,
    write_offline_assets,
)

SIZE = 64
H, W = 218, 178
TITLE = 16  # height of a panel's title strip
GAP = 4


class FakeFaces:
    """A tiny dataset as the explorers expect: (PIL image, (40,) long) + true part regions."""

    def __init__(self, n: int = 5, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.images = [
            Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).resize((W, H))
            for _ in range(n)
        ]
        self.attr = torch.from_numpy(rng.integers(0, 2, (n, 40)))
        self.filenames = [f"{i + 1:06d}.jpg" for i in range(n)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], self.attr[i]

    def group_masks(self, i: int) -> np.ndarray:
        m = np.zeros((8, H, W), bool)
        for k in range(8):
            m[k, 10 + 20 * k : 40 + 20 * k, 20 + i * 5 : 120 + i * 5] = True
        return m


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("mggnet")


@pytest.fixture(scope="module")
def ds():
    return FakeFaces()


@pytest.fixture(scope="module")
def cache(model, ds):
    """Model outputs shared by the tests (computing them is the slow part)."""
    return OutputCache(model, ds, image_size=SIZE)


@pytest.fixture()
def scrubber(model, ds, cache):
    return MaskScrubber(model, ds, image_size=SIZE, cache=cache)


def panel(frame: np.ndarray, k: int, w: int = W, h: int = H) -> np.ndarray:
    """The image part (below the title) of the k-th panel of a one-group frame."""
    x = k * (w + GAP)
    return frame[TITLE : TITLE + h, x : x + w]


def n_panels(frame: np.ndarray) -> int:
    return (frame.shape[1] + GAP) // (W + GAP)


def expected_overlay(sc: MaskScrubber, index: int, block: str, group: str) -> np.ndarray:
    item = sc.cache.get(index)
    g = sc.node_names.index(group)
    return mask_overlay(
        item.image, sc.upsampled(index, block, (H, W))[g], sc.controls["opacity"].value
    )


# --------------------------------------------------------------------------------------
# MaskScrubber
# --------------------------------------------------------------------------------------


def test_scrubber_exposes_every_control(scrubber):
    assert set(scrubber.controls) == {
        "index",
        "prev",
        "next",
        "goto",
        "group",
        "block",
        "opacity",
        "gt",
        "view",
    }
    assert scrubber.blocks == ("block3", "block4")
    assert list(scrubber.controls["block"].options) == ["block3", "block4", BOTH]
    assert scrubber.controls["group"].options == tuple(GROUPS)


def test_first_frame_shows_image_and_both_blocks(scrubber, ds):
    f = scrubber.frame_array()
    assert n_panels(f) == 3  # image, block3, block4
    np.testing.assert_array_equal(panel(f, 0), np.asarray(ds.images[0]))
    np.testing.assert_array_equal(
        panel(f, 1), expected_overlay(scrubber, 0, "block3", "whole_face")
    )
    np.testing.assert_array_equal(
        panel(f, 2), expected_overlay(scrubber, 0, "block4", "whole_face")
    )


def test_index_slider_prev_next(scrubber, ds):
    c = scrubber.controls
    before = scrubber.frame.value
    c["index"].value = 2
    assert scrubber.frame.value != before
    np.testing.assert_array_equal(panel(scrubber.frame_array(), 0), np.asarray(ds.images[2]))
    assert "000003.jpg" in scrubber.header.value
    c["next"].click()
    assert c["index"].value == 3
    np.testing.assert_array_equal(panel(scrubber.frame_array(), 0), np.asarray(ds.images[3]))
    c["prev"].click()
    c["prev"].click()
    assert c["index"].value == 1
    np.testing.assert_array_equal(panel(scrubber.frame_array(), 0), np.asarray(ds.images[1]))
    c["index"].value = 0
    c["prev"].click()  # stays at the first image, no error
    assert c["index"].value == 0 and scrubber.message.value == ""


def test_group_changes_mask_and_table(scrubber, ds):
    c = scrubber.controls
    c["group"].value = "mouth"
    f = scrubber.frame_array()
    np.testing.assert_array_equal(panel(f, 1), expected_overlay(scrubber, 0, "block3", "mouth"))
    table = scrubber.table.value
    for a in GROUPS["mouth"]:
        assert a in table
    assert "Eyeglasses" not in table
    p = scrubber.cache.get(0).probs[CELEBA_ATTRIBUTES.index("Smiling")]
    assert f"{p:.2f}" in table
    label = int(ds.attr[0, CELEBA_ATTRIBUTES.index("Smiling")])
    assert f"<td>{label}</td>" in table
    assert "mouth" in scrubber.header.value


def test_block_switch(scrubber):
    c = scrubber.controls
    c["block"].value = "block4"
    f = scrubber.frame_array()
    assert n_panels(f) == 2
    np.testing.assert_array_equal(
        panel(f, 1), expected_overlay(scrubber, 0, "block4", "whole_face")
    )
    c["block"].value = "block3"
    np.testing.assert_array_equal(
        panel(scrubber.frame_array(), 1), expected_overlay(scrubber, 0, "block3", "whole_face")
    )
    c["block"].value = BOTH
    assert n_panels(scrubber.frame_array()) == 3


def test_opacity(scrubber, ds):
    c = scrubber.controls
    c["opacity"].value = 0.0
    np.testing.assert_array_equal(panel(scrubber.frame_array(), 1), np.asarray(ds.images[0]))
    c["opacity"].value = 1.0
    item = scrubber.cache.get(0)
    heat = mask_overlay(item.image, scrubber.upsampled(0, "block3", (H, W))[0], 1.0)
    np.testing.assert_array_equal(panel(scrubber.frame_array(), 1), heat)


def test_ground_truth_toggle(scrubber, ds):
    c = scrubber.controls
    assert not c["gt"].disabled
    c["group"].value = "eyes"
    c["gt"].value = True
    f = scrubber.frame_array()
    assert n_panels(f) == 4
    g = list(GROUPS).index("eyes")
    np.testing.assert_array_equal(
        panel(f, 3), region_overlay(np.asarray(ds.images[0]), ds.group_masks(0)[g])
    )
    c["gt"].value = False
    assert n_panels(scrubber.frame_array()) == 3


def test_all_groups_view(scrubber):
    c = scrubber.controls
    one = scrubber.frame_array()
    c["view"].value = ALL
    f = scrubber.frame_array()
    # two rows (block3, block4) of eight half-size panels, each row with a title strip
    assert f.shape[1] == 8 * (W // 2) + 7 * 2
    assert f.shape[0] == 2 * (TITLE + TITLE + H // 2) + 8
    c["gt"].value = True
    assert scrubber.frame_array().shape[0] == 3 * (TITLE + TITLE + H // 2) + 16
    c["view"].value = ONE
    c["gt"].value = False
    assert scrubber.frame_array().shape == one.shape


def test_goto_and_out_of_range_message(scrubber, ds):
    c = scrubber.controls
    c["goto"].value = 4
    np.testing.assert_array_equal(panel(scrubber.frame_array(), 0), np.asarray(ds.images[4]))
    before = scrubber.frame.value
    c["goto"].value = 99
    assert "out of range" in scrubber.message.value and "5 images" in scrubber.message.value
    assert scrubber.frame.value == before  # the last good frame stays
    scrubber.show(-1)
    assert "out of range" in scrubber.message.value
    c["index"].value = 1
    assert scrubber.message.value == ""


def test_indices_out_of_range_give_a_message(model, ds, cache):
    sc = MaskScrubber(model, ds, image_size=SIZE, indices=[0, 1, 50], cache=cache)
    sc.controls["index"].value = 2
    assert "image index 50 is out of range" in sc.message.value


def test_baseline_model_gets_a_message_not_a_traceback(ds):
    base = build_model("baseline")
    sc = MaskScrubber(base, ds, image_size=SIZE)
    assert "no group attention masks" in sc.message.value
    assert sc.controls["block"].disabled and sc.controls["view"].disabled
    assert n_panels(sc.frame_array()) == 1  # the image, with predictions below
    assert "Attractive" in sc.table.value
    sc.controls["index"].value = 1  # still scrubs
    np.testing.assert_array_equal(panel(sc.frame_array(), 0), np.asarray(ds.images[1]))
    ex = AffinityExplorer(base, ds, image_size=SIZE)
    assert "no graph affinities" in ex.message.value
    assert ex.frame.value  # the label co-occurrence is still drawn


def test_gal_variant_has_masks_but_no_affinity(ds):
    gal = build_model("gal")
    assert MaskScrubber(gal, ds, image_size=SIZE).message.value == ""
    assert "GCL (Eq. 2)" in AffinityExplorer(gal, ds, image_size=SIZE).message.value


def test_outputs_are_computed_once_per_image(model, ds):
    calls = []
    handle = model.register_forward_hook(lambda *a: calls.append(1))
    try:
        sc = MaskScrubber(model, ds, image_size=SIZE)
        n = len(calls)
        assert n == 1  # one batch for the 5 images
        for name, values in [
            ("index", [1, 2, 0]),
            ("group", ["eyes", "neck"]),
            ("block", ["block3", BOTH]),
            ("opacity", [0.3]),
            ("view", [ALL, ONE]),
        ]:
            for v in values:
                sc.controls[name].value = v
        assert len(calls) == n
    finally:
        handle.remove()


def _record_calls(monkeypatch, module, name: str, calls: list) -> None:
    """Replace ``module.name`` by a wrapper that appends each call's arguments to ``calls``."""
    real = getattr(module, name)

    def recorded(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(module, name, recorded)


def _count_changes(explorer) -> list[str]:
    """Names of the controls whose value changes from now on, one entry per change."""
    changes: list[str] = []
    for name, ctl in explorer.controls.items():
        if hasattr(ctl, "value"):
            ctl.observe(lambda _ch, n=name: changes.append(n), names="value")
    return changes


def test_a_step_only_redraws(scrubber, model, ds, cache, monkeypatch):
    """Acceptance 2 (<= 100 ms per step) rests on a step doing no repeated work: no forward
    pass, each image's masks upsampled once per block and size, its true regions read once,
    each label co-occurrence statistic computed once, one render per control change. These are
    counted, not timed, so a busy machine cannot fail the test and a lost cache cannot pass it."""
    import mggnet_lite.widgets.affinity as affinity_mod
    import mggnet_lite.widgets.masks as masks_mod

    forwards, ups, gts, coocs = [], [], [], []
    handle = model.register_forward_hook(lambda *a: forwards.append(1))
    _record_calls(monkeypatch, masks_mod, "resize_mask", ups)
    _record_calls(monkeypatch, masks_mod, "display_ground_truth", gts)
    _record_calls(monkeypatch, affinity_mod, "group_cooccurrence", coocs)
    try:
        changes, renders = _count_changes(scrubber), len(scrubber.render_seconds)
        times = scrubber.benchmark()  # each control stepped three times over
        assert set(times) >= {"index", "group", "block", "opacity", "gt", "view"}
        assert all(np.isfinite(v) for v in times.values()), times  # every step rendered
        print("scrubber step ms:", {k: round(v, 1) for k, v in times.items()})
        assert forwards == []  # the outputs of the 5 images were computed up front
        assert len(scrubber.render_seconds) - renders == len(changes) > 0
        keys = [(id(mask), tuple(size)) for mask, size in ups]  # a block's masks of one image
        assert keys and len(keys) == len(set(keys)), f"{len(keys)} upsamplings of {len(set(keys))}"
        shown = [index for _source, index, _size in gts]
        assert shown and len(shown) == len(set(shown)), shown

        ex = AffinityExplorer(model, ds, image_size=SIZE, cache=cache)
        changes, renders = _count_changes(ex), len(ex.render_seconds)
        times = ex.benchmark()
        assert set(times) >= {"index", "threshold", "cooc", "block", "scope"}
        assert all(np.isfinite(v) for v in times.values()), times
        print("affinity step ms:", {k: round(v, 1) for k, v in times.items()})
        assert forwards == []
        assert len(ex.render_seconds) - renders == len(changes) > 0
        stats = [args[3] for args in coocs]
        assert sorted(stats) == ["conditional", "dependence"], stats  # each once, both shown
    finally:
        handle.remove()


# --------------------------------------------------------------------------------------
# AffinityExplorer
# --------------------------------------------------------------------------------------


@pytest.fixture()
def explorer(model, ds, cache):
    return AffinityExplorer(model, ds, image_size=SIZE, cache=cache)


def test_affinity_controls_change_the_right_matrix(explorer):
    c = explorer.controls
    assert set(c) == {"index", "prev", "next", "goto", "block", "scope", "threshold", "cooc"}
    item0 = explorer.cache.get(0)
    np.testing.assert_array_equal(explorer.matrix(item0), item0.affinity["block3"])
    frames = {explorer.frame.value}
    c["index"].value = 1
    frames.add(explorer.frame.value)
    item1 = explorer.cache.get(1)
    assert "dataset #1" in explorer.header.value
    c["block"].value = "block4"
    np.testing.assert_array_equal(explorer.matrix(item1), item1.affinity["block4"])
    frames.add(explorer.frame.value)
    c["scope"].value = AVERAGE
    mean = np.mean([explorer.cache.get(i).affinity["block4"] for i in range(5)], axis=0)
    np.testing.assert_allclose(explorer.matrix(item1), mean, rtol=1e-6)
    assert "mean of 5 images" in explorer.header.value
    frames.add(explorer.frame.value)
    c["cooc"].value = "P(a | b)"
    frames.add(explorer.frame.value)
    assert len(frames) == 5
    c["next"].click()
    assert c["index"].value == 2
    c["prev"].click()
    assert c["index"].value == 1


def test_affinity_threshold_controls_the_graph(explorer):
    c = explorer.controls
    c["threshold"].value = 0.0
    dense = explorer.frame_array()
    c["threshold"].value = 1.0
    sparse = explorer.frame_array()
    # only the graph panel differs; an empty graph has fewer coloured pixels
    diff = np.any(dense != sparse, axis=2)
    cols = np.flatnonzero(diff.any(0))
    heat_w = 86 + 8 * 30 + 4
    assert cols.min() >= heat_w and cols.max() < heat_w + 10 + 300 + 10

    def ink(f):
        return int((np.abs(f.astype(int) - 255).sum(2) > 60).sum())

    assert ink(dense) > ink(sparse)


def test_affinity_summary_names_edges_and_correlation(explorer):
    text = explorer.text.value
    assert "→" in text and "Pearson r" in text
    m = explorer.matrix(explorer.cache.get(0))
    k = len(m)
    i, j = np.unravel_index(np.argmax(np.where(np.eye(k, dtype=bool), -1, m)), m.shape)
    names = explorer.node_names
    assert f"{names[j]} → {names[i]} {m[i, j]:.2f}" in text


def test_group_cooccurrence_by_hand():
    attrs = ("a", "b", "c")
    groups = {"g0": ("a",), "g1": ("b", "c")}
    y = np.array([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]])
    # P(a | b) = 2/3, P(a | c) = 2/3 -> (g0, g1) = 2/3; P(b | a) = 2/3, P(c | a) = 2/3
    m = group_cooccurrence(y, attrs, groups, "conditional", normalize_rows=False)
    np.testing.assert_allclose(m, [[0, 2 / 3], [2 / 3, 0]])
    d = group_cooccurrence(y, attrs, groups, "dependence", normalize_rows=False)
    np.testing.assert_allclose(d[0, 1], abs(2 / 3 - 3 / 4))  # P(a) = 3/4
    rows = group_cooccurrence(y, attrs, groups)
    np.testing.assert_allclose(rows.sum(1), [1, 1])


# --------------------------------------------------------------------------------------
# Static scrubber, kernel note, offline assets, SynthFaces ground truth
# --------------------------------------------------------------------------------------


def _decode(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def test_frame_scrubber_holds_the_right_frames(model, ds, cache):
    from mggnet_lite.widgets import frame_scrubber

    fs = frame_scrubber(model, ds, indices=[0, 1, 2], image_size=SIZE)
    k, nb = 8, 2
    assert len(fs.image_frames) == 3 and len(fs.mask_frames) == 3 * k * nb
    assert len(fs.gt_frames) == 3 * k and len(fs.tables) == 3 * k
    assert fs.block == BOTH and fs.groups == list(GROUPS)
    sc = MaskScrubber(model, ds, image_size=SIZE, indices=[0, 1, 2], cache=cache)
    # frame (image 2, group mouth, block4) is that overlay (JPEG: close, not equal)
    g = list(GROUPS).index("mouth")
    got = _decode(fs.mask_frames[(2 * k + g) * nb + 1]).astype(int)
    want = expected_overlay(sc, 2, "block4", "mouth").astype(int)
    assert np.abs(got - want).mean() < 4
    shown = fs.shown_sources()
    fs.index = 1
    assert fs.shown_sources()[0] != shown[0]
    fs.group = g
    fs.block = "block3"
    assert fs.shown_sources() == [fs.image_frames[1], fs.mask_frames[(1 * k + g) * nb + 0]]
    assert len(fs.shown_sources(gt=True)) == 3
    assert "Smiling" in fs.tables[1 * k + g]


def test_frame_scrubber_refuses_a_model_without_masks(ds):
    from mggnet_lite.widgets import frame_scrubber

    with pytest.raises(ValueError, match="no group attention masks"):
        frame_scrubber(build_model("baseline"), ds, indices=[0], image_size=SIZE)


def test_kernel_note_answers_a_ping():
    from mggnet_lite.widgets import KernelNote

    note = KernelNote("needs a kernel", "live")
    sent = []
    note.send = lambda content, buffers=None: sent.append(content)
    note._answer(note, {"ping": 1}, [])
    assert sent == [{"alive": True}]


def test_offline_assets(tmp_path):
    paths = write_offline_assets(tmp_path / "anywidget")
    js = (tmp_path / "anywidget" / "index.js").read_text()
    assert 'define(["@jupyter-widgets/base"]' in js  # the AMD bundle the HTML manager loads
    assert "requirejs.config" in (tmp_path / "anywidget" / "config.js").read_text()
    assert len(paths) == 2


def test_synthfaces_ground_truth_is_found(tmp_path):
    from mggnet_lite.data import CelebA
    from mggnet_lite.data import synthfaces as synth

    root = synth.synthesize(tmp_path / "sf", n=6, seed=0, workers=1, progress=False)
    ds = CelebA(root, split="all")
    src = ground_truth_source(ds)
    assert src is not None
    np.testing.assert_array_equal(src(2), synth.load_group_masks(root, ds.filenames[2]))
    sc = MaskScrubber(build_model("mggnet"), ds, image_size=SIZE)
    assert not sc.controls["gt"].disabled
    assert sc.ground_truth(0).shape == (8, 218, 178)
    assert ground_truth_source(FakeFaces().images) is None


def test_cache_must_match(model, ds, cache):
    with pytest.raises(ValueError, match="another model or dataset"):
        MaskScrubber(build_model("gal"), ds, image_size=SIZE, cache=cache)
