"""A blind branch (nn.mggnet ``blind``; data.synthfaces.blind): the listed groups' features come
from the image with everything outside their region replaced by the mean colour, so on an image
whose region is hidden the branch sees the accessory and nothing else (chapter 3)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mggnet_lite.attributes import GROUPS
from mggnet_lite.data import CelebA
from mggnet_lite.data.synthfaces import (
    blind,
    load_group_masks,
    load_packed_masks,
    pack_masks,
    synthesize,
    unpack_masks,
)
from mggnet_lite.data.synthfaces.blind import (
    RegionSource,
    group_regions,
    packed_regions,
    with_regions,
)
from mggnet_lite.nn import build_model
from mggnet_lite.nn.mggnet import MGGNet
from mggnet_lite.training.config import make_config
from mggnet_lite.training.train import train

NAMES = list(GROUPS)


def _columns(model: MGGNet, group: str) -> list[int]:
    return [i for i, a in enumerate(model.attributes) if a in model.groups[group]]


def _regions(b: int = 2) -> torch.Tensor:
    r = torch.zeros(b, 2, 64, 64)
    r[:, 0, 40:50, 20:44] = 1  # "mouth"
    r[:, 1, 50:, 10:54] = 1  # "neck"
    return r


def test_a_blind_group_sees_only_its_region() -> None:
    torch.manual_seed(0)
    model = MGGNet("mggnet", width=16, blind=("mouth", "neck")).eval()
    x, r = torch.randn(2, 3, 64, 64), _regions()
    outside = x.clone()
    outside[:, :, :30] += 3.0  # rows 0-29: outside both regions
    with torch.no_grad():
        a, b = model(x, r), model(outside, r)
    for blk in model.backbone.taps:  # the blind groups' GAL heads do not move; the others do
        for g in ("mouth", "neck"):
            cols = _columns(model, g)
            torch.testing.assert_close(a.gal_logits[blk][:, cols], b.gal_logits[blk][:, cols])
        eyes = _columns(model, "eyes")
        assert not torch.allclose(a.gal_logits[blk][:, eyes], b.gal_logits[blk][:, eyes])
        # the GCL head of a blind group hears the others: its messages move
        assert not torch.allclose(a.gcl_logits[blk][:, _columns(model, "mouth")],
                                  b.gcl_logits[blk][:, _columns(model, "mouth")])
    inside = x.clone()
    inside[:, :, 42:48, 25:40] += 3.0  # inside the mouth region: the mouth head moves
    with torch.no_grad():
        c = model(inside, r)
    cols = _columns(model, "mouth")
    assert not torch.allclose(a.gal_logits["block3"][:, cols], c.gal_logits["block3"][:, cols])


def test_blind_maps_are_the_taps_of_the_blinded_image_without_block5() -> None:
    torch.manual_seed(0)
    model = MGGNet("gal", width=16, blind=("mouth", "neck")).eval()
    x, r = torch.randn(2, 3, 64, 64), _regions()
    ran: list[str] = []
    hook = model.backbone.stages["block5"].register_forward_hook(lambda *a: ran.append("5"))
    with torch.no_grad():
        seen = model.blind_maps(x, r)
        assert not ran  # block 5 feeds only F_B, which no blind group reads
        for k, g in enumerate(("mouth", "neck")):
            full = model.backbone(x * r[:, k : k + 1])
            for t in model.backbone.taps:
                torch.testing.assert_close(seen[f"{t}@{g}"], full[t], rtol=0, atol=0)
    hook.remove()
    assert set(seen) == {f"{t}@{g}" for t in model.backbone.taps for g in ("mouth", "neck")}


def test_blind_needs_its_regions_and_round_trips() -> None:
    model = MGGNet("gal", width=16, blind=("mouth",)).eval()
    x = torch.randn(2, 3, 64, 64)
    with pytest.raises(ValueError, match=r"reads groups \['mouth'\] from blinded inputs"):
        model(x)
    with pytest.raises(ValueError, match="regions of shape"):
        model(x, torch.ones(2, 2, 64, 64))
    with pytest.raises(ValueError, match="no blind groups"):
        MGGNet("gal", width=16)(x, torch.ones(2, 1, 64, 64))
    with pytest.raises(ValueError, match="name each group once"):
        MGGNet("gal", width=16, blind=("lips",))
    with pytest.raises(ValueError, match="needs group attention"):
        MGGNet("baseline", width=16, blind=("mouth",))
    again = MGGNet.from_config(model.config)
    again.load_state_dict(model.state_dict())
    r = torch.ones(2, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(x, r).probs, model(x, r).probs)
    with pytest.raises(ValueError, match="needs freeze_backbone=True"):
        make_config("quick", sets={"blind": ("mouth",), "freeze_backbone": False})


def test_group_regions_resize_like_the_images_and_dilate() -> None:
    masks = np.zeros((1, 8, 218, 178), bool)
    masks[0, NAMES.index("mouth"), 109:218, 89:178] = True  # the bottom-right quarter
    r = group_regions(masks, ["mouth"], 64)
    assert r.shape == (1, 1, 64, 64)
    assert r[0, 0, 32:, 32:].all() and r[0, 0, 31].sum() == 0 and r[0, 0, :, 31].sum() == 0
    assert r.sum() == 32 * 32
    grown = group_regions(masks, ["mouth"], 64, dilate=1)
    assert grown[0, 0, 31:, 31:].all() and grown.sum() > r.sum()
    with pytest.raises(ValueError, match="expected"):
        group_regions(masks[:, :3], ["mouth"], 64)


def test_regions_unpacked_from_the_pngs_are_those_of_the_bool_masks(tmp_path) -> None:
    # RegionSource unpacks only its groups' bits of each mask PNG (packed_regions): the same
    # floats as group_regions on the eight unpacked masks, every group subset, with dilation
    root = synthesize(tmp_path / "data", n=24, seed=3, progress=False)
    names = sorted(p.name for p in (root / "group_masks").iterdir())
    packed = np.stack([load_packed_masks(root, n) for n in names])
    masks = np.stack([load_group_masks(root, n) for n in names])
    assert np.array_equal(masks, np.stack([unpack_masks(p) for p in packed]))
    for groups, dilate in ((NAMES, 0), (("eyes", "mouth", "neck"), 0), (("nose",), 1)):
        a = packed_regions(packed, groups, 64, dilate)
        b = group_regions(masks, groups, 64, dilate)
        assert a.shape == (24, len(groups), 64, 64) and torch.equal(a, b)
        assert 0 < a.mean() < 1
    with pytest.raises(ValueError, match="expected uint8"):
        packed_regions(masks[:, 0], ("nose",), 64)


def test_region_source_needs_masks(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="ground-truth masks"):
        RegionSource(tmp_path, ["000001.jpg"], ("mouth",), 64)


def test_regions_follow_the_loader_and_are_read_once(tmp_path, monkeypatch) -> None:
    (tmp_path / "group_masks").mkdir()
    names = [f"{i:06d}.jpg" for i in range(5)]
    reads: list[str] = []

    def fake_masks(root, name):  # image i: the mouth region is row i of the 218 x 178 image
        reads.append(name)
        m = np.zeros((8, 218, 178), bool)
        m[NAMES.index("mouth"), : 40 * (1 + names.index(name))] = True
        return pack_masks(m)

    monkeypatch.setattr(blind, "load_packed_masks", fake_masks)
    source = RegionSource(tmp_path, names, ("mouth",), 64)
    loader = [(torch.zeros(3, 3, 64, 64), torch.zeros(3)), (torch.zeros(2, 3, 64, 64), torch.zeros(2))]
    first = [r for _x, r, _y in with_regions(loader, source)]
    assert [len(r) for r in first] == [3, 2]
    torch.testing.assert_close(torch.cat(first), source(0, 5))  # in the split's order
    assert first[1][1].sum() > first[1][0].sum() > first[0][2].sum()  # image 4 > 3 > 2
    assert len(reads) == 5 + 5  # the two batches, then the (0, 5) call
    again = [r for _x, r, _y in with_regions(loader, source)]  # a second pass: no PNG read
    assert len(reads) == 10
    torch.testing.assert_close(torch.cat(again), torch.cat(first))
    assert [r for _x, r, _y in with_regions(loader, None)] == [None, None]
    with pytest.raises(ValueError, match="the loader gave 3 images, the regions are of 5"):
        list(with_regions(loader[:1], source))


@pytest.mark.slow
def test_a_blind_run_trains_scores_and_hides(tmp_path) -> None:
    """Two stages with ``blind=("mouth",)`` on a small occluded set with masks: the run trains
    and scores through the regions, the blinded maps are computed once and kept beside the
    plain ones, and the saved model rebuilds with its blind branch."""
    root = synthesize(tmp_path / "data", n=240, seed=0, occlusion={"mouth": 0.5},
                      progress=False)
    sets = {"max_steps_per_epoch": 3, "synth_n": 240, "batch_size": 32, "threads": 1,
            "blind": ("mouth",)}
    cfg = make_config("quick", root, sets=sets)
    result = train(cfg, tmp_path / "run", root, progress=False)
    assert result.model.blind == ("mouth",)
    assert 0 <= result.report["mean_accuracy"] <= 100
    feats = sorted(p.name for p in (tmp_path / "run/pretrain/features").glob("*@*.pt"))
    assert feats == ["train-64px-block3@mouth.pt", "train-64px-block4@mouth.pt"]
    train_split = CelebA(root, split="train")
    r = RegionSource(root, train_split.filenames, ("mouth",), 64)(0, len(train_split))
    assert r.sum((2, 3)).min() > 0  # every face has a mouth region
    blinded = torch.load(tmp_path / "run/pretrain/features/train-64px-block3@mouth.pt",
                         weights_only=True)["features"]
    plain = torch.load(tmp_path / "run/pretrain/features/train-64px-block3.pt",
                       weights_only=True)["features"]
    assert blinded.shape == plain.shape and not torch.equal(blinded, plain)
    model = build_model("mggnet", weights=tmp_path / "run" / "last.pt", width=cfg.width,
                        stem_pool=cfg.stem_pool, pool="mass", blind=("mouth",))
    assert set(model.state_dict()) == set(result.model.state_dict())
