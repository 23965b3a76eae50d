"""The quick profile's two stages (training/config.py): a pretrained narrow ResNet-18, then GAL / GCL /
heads trained on its frozen, cached features; plus the pieces they are made of."""

from __future__ import annotations

import math

import pytest
import torch
from _train_helpers import synth_root

from mggnet_lite.nn import GroupAttention, build_backbone, build_model
from mggnet_lite.training.checkpoint import load_checkpoint, load_model
from mggnet_lite.training.config import choose_profile, make_config, pretrain_config
from mggnet_lite.training.features import FeatureLoader, feature_dir
from mggnet_lite.training.train import train


def test_width_scales_every_resnet_stage() -> None:
    bb = build_backbone("resnet18", ("block3", "block4"), None, width=32)
    out = bb(torch.randn(1, 3, 64, 64))
    assert [out[b].shape[1] for b in ("block3", "block4", "final")] == [64, 128, 256]
    assert out["block3"].shape[-1] == 8 and out["block4"].shape[-1] == 4  # strides 8 and 16
    full = sum(p.numel() for p in build_backbone("resnet18", ()).parameters())
    narrow = sum(p.numel() for p in bb.parameters())
    assert 0.2 < narrow / full < 0.3  # conv weights scale with width^2
    with pytest.raises(ValueError, match="only the ResNets"):
        build_backbone("vgg16", (), None, width=32)
    with pytest.raises(ValueError, match="imagenet"):
        build_backbone("resnet18", (), "imagenet", width=32)


def test_mass_pooling_is_a_weighted_mean_and_gap_is_eq1() -> None:
    torch.manual_seed(0)
    feat = torch.randn(2, 16, 4, 4)
    gal = GroupAttention(16, 3, pool="mass").eval()
    f, m = gal(feat)
    ref = (m.unsqueeze(2) * feat.unsqueeze(1)).sum((-2, -1)) / m.sum((-2, -1)).unsqueeze(-1)
    torch.testing.assert_close(f, ref)
    gap = GroupAttention(16, 3, pool="gap").eval()
    gap.load_state_dict(gal.state_dict())
    f_gap, _ = gap(feat)
    torch.testing.assert_close(f_gap, (m.unsqueeze(2) * feat.unsqueeze(1)).mean((-2, -1)))
    with torch.no_grad():  # a constant mask: mass pooling gives the plain mean whatever its level
        gal.to_mask.weight.zero_()
        gal.to_mask.bias.fill_(-3.0)
    f_const, _ = gal(feat)
    torch.testing.assert_close(f_const, feat.mean((-2, -1)).unsqueeze(1).expand(-1, 3, -1))
    with pytest.raises(ValueError, match="pool"):
        GroupAttention(16, 3, pool="max")


def test_softmax_pooling_spends_one_budget_over_the_map() -> None:
    """pool="softmax": f_i is the softmax-weighted mean of F over the map; the drawn mask is
    that softmax over its maximum (1 at the peak)."""
    torch.manual_seed(0)
    feat = torch.randn(2, 16, 4, 4)
    gal = GroupAttention(16, 3, pool="softmax").eval()
    f, m = gal(feat)
    w = torch.softmax(gal.logits(feat).flatten(2), -1)  # (B, K, h*w), sums to 1
    torch.testing.assert_close(f, torch.einsum("bkp,bcp->bkc", w, feat.flatten(2)))
    torch.testing.assert_close(m.flatten(2), w / w.amax(-1, keepdim=True))
    assert bool((m.flatten(2).amax(-1) == 1).all())
    assert torch.equal(m.flatten(2).argmax(-1), w.argmax(-1))  # the peak is the softmax's
    sig = GroupAttention(16, 3, pool="mass").eval()
    sig.load_state_dict(gal.state_dict())
    torch.testing.assert_close(sig.masks(feat), torch.sigmoid(gal.logits(feat)))


def test_onecycle_schedule_warms_up_then_decays() -> None:
    cfg = make_config("quick")
    assert (cfg.schedule, cfg.optimizer, cfg.freeze_backbone) == ("onecycle", "adam", True)
    spe = 100
    lrs = [cfg.lr_at(e, s, spe) for e in range(cfg.epochs) for s in range(spe)]
    peak = lrs.index(max(lrs))
    assert math.isclose(lrs[0], cfg.lr / 25) and math.isclose(max(lrs), cfg.lr, rel_tol=1e-3)
    assert abs(peak - 0.1 * len(lrs)) <= 1
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1:peak + 1], strict=True))
    assert all(a >= b for a, b in zip(lrs[peak:-1], lrs[peak + 1:], strict=True))
    assert lrs[-1] < cfg.lr / 100
    step = make_config("full")
    assert [step.lr_at(e) for e in range(step.epochs)] == [0.01] * 9 + [0.001] * 5


def test_pretrain_config_is_shared_by_variants_and_taps() -> None:
    a = pretrain_config(make_config("quick", sets={"variant": "mggnet"}))
    b = pretrain_config(make_config("quick", sets={"variant": "gal", "taps": ("block3",),
                                                   "criterion": "balanced"}))
    assert a.to_dict() == b.to_dict()
    assert (a.variant, a.freeze_backbone, a.optimizer, a.weights, a.pretrain) == (
        "baseline", False, "sgd", None, None)
    with pytest.raises(ValueError, match="unknown settings"):
        make_config("quick", sets={"pretrain": {"lr_typo": 1}})


def test_a_gpu_without_real_data_gets_the_synth_profile(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("MGGNET_PROFILE", raising=False)
    monkeypatch.setattr("mggnet_lite.training.config.has_gpu", lambda: True)
    assert choose_profile(None, None) == "synth"
    (tmp_path / "celeba").mkdir()
    assert choose_profile(None, tmp_path / "celeba") == "full"
    monkeypatch.setattr("mggnet_lite.training.config.has_gpu", lambda: False)
    assert choose_profile(None, tmp_path / "celeba") == "quick"
    cfg = make_config("synth")
    assert (cfg.image_size, cfg.width, cfg.epochs_at_lr, cfg.epochs_at_low_lr) == (224, 64, 9, 5)
    assert cfg.synth_n >= 100_000 and cfg.pretrain["variant"] == "baseline"


def test_frozen_stage_needs_weights() -> None:
    with pytest.raises(ValueError, match="freeze_backbone=True needs pretrained weights"):
        make_config("quick", sets={"pretrain": None})


def test_pretrained_start_loads_backbone_and_base_head_only(tmp_path) -> None:
    torch.manual_seed(0)
    base = build_model("baseline", width=32)
    torch.save(base.state_dict(), tmp_path / "base.pt")
    mg = build_model("mggnet", weights=tmp_path / "base.pt", width=32, pool="mass")
    for k, v in base.state_dict().items():
        torch.testing.assert_close(mg.state_dict()[k], v)
    with pytest.raises(ValueError, match="backbone and base head"):
        build_model("mggnet", weights=tmp_path / "base.pt", width=16)


@pytest.mark.slow
def test_quick_profile_two_stages_end_to_end(tmp_path) -> None:
    """The quick profile's MGG-Net, reduced (300 images, 3 steps an epoch): stage 1 pretrains
    and saves, stage 2 trains on frozen cached features, the saved model is the trained one."""
    root = synth_root(300)
    sets = {"max_steps_per_epoch": 3, "synth_n": 300, "batch_size": 32, "threads": 1}
    cfg = make_config("quick", root, sets=sets)
    result = train(cfg, tmp_path / "run", root, progress=False)
    pre_ckpt = load_checkpoint(tmp_path / "run" / "pretrain" / "last.pt")
    assert pre_ckpt["config"]["variant"] == "baseline"
    assert not pre_ckpt["config"]["freeze_backbone"]
    assert result.report["config"]["weights"] == str(tmp_path / "run" / "pretrain" / "last.pt")
    state = result.model.state_dict()
    for k, v in pre_ckpt["model"].items():
        if k.startswith("backbone."):  # frozen: bitwise the pretrained backbone
            assert torch.equal(state[k], v), k
    assert not torch.equal(state["base_head.weight"], pre_ckpt["model"]["base_head.weight"])
    assert result.model.gal["block3"].pool == "mass"
    assert result.model.backbone.channels["block3"] == 32  # width 16
    assert result.model.config["stem_pool"] is False  # block 3 at 16 x 16 for 64 px
    assert result.model.gcl["block3"].detach_senders
    assert [h["steps"] for h in result.history] == [3] * cfg.epochs
    feats = sorted(p.name for p in feature_dir(tmp_path / "run/pretrain/last.pt").glob("*.pt"))
    assert feats == ["train-64px-block3.pt", "train-64px-block4.pt", "train-64px-final.pt"]
    stamps = {p: p.stat().st_mtime_ns for p in feature_dir(tmp_path / "run/pretrain/last.pt")
              .glob("*.pt")}
    # a second variant on the same pretrained backbone reuses the features
    cfg2 = make_config("quick", root, sets={**sets, "variant": "gal",
                                            "weights": str(tmp_path / "run/pretrain/last.pt")})
    train(cfg2, tmp_path / "gal", root, progress=False)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # a damaged feature file is computed again (and replaced), never trusted
    damaged = feature_dir(tmp_path / "run/pretrain/last.pt") / "train-64px-block3.pt"
    good = torch.load(damaged, weights_only=True)
    damaged.write_bytes(damaged.read_bytes()[:1000])
    train(cfg2, tmp_path / "gal2", root, progress=False)
    again = torch.load(damaged, weights_only=True)
    assert again["stamp"] == good["stamp"]
    torch.testing.assert_close(again["features"], good["features"])
    loaded, _ = load_model(tmp_path / "run")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).probs, result.model.eval()(x).probs)
        out = loaded(x)
        torch.testing.assert_close(loaded.forward_features(loaded.backbone(x)).probs, out.probs)


def test_feature_loader_shuffles_per_epoch_and_resumes() -> None:
    feats = {"block3": torch.arange(10.0).view(10, 1), "final": torch.arange(10.0).view(10, 1)}
    labels = torch.arange(10.0).view(10, 1)
    ld = FeatureLoader(feats, labels, 3, seed=0, device=torch.device("cpu"))
    assert len(ld) == 3 and ld.num_samples == 9
    e0 = [y.flatten().tolist() for _, y in ld]
    ld.set_epoch(1)
    e1 = [y.flatten().tolist() for _, y in ld]
    assert e0 != e1
    ld.set_epoch(0)
    ld.start_at(1)
    assert [y.flatten().tolist() for _, y in ld] == e0[1:]
    for f, y in FeatureLoader(feats, labels, 3, seed=0, device=torch.device("cpu")):
        assert torch.equal(f["block3"], y) and torch.equal(f["final"], y)


@pytest.mark.slow
def test_synth_profile_runs_on_a_cpu_with_a_size_override(tmp_path) -> None:
    """The GPU-without-CelebA profile, shrunk to seconds: its pretraining stage, then the
    paper-schedule fine-tune from it (not frozen), on the CPU."""
    root = synth_root()
    cfg = make_config("synth", root, sets={
        "device": "cpu", "amp": "none", "channels_last": False, "image_size": 64,
        "batch_size": 8, "max_steps_per_epoch": 2, "threads": 1,
        "pretrain": {**make_config("synth").pretrain, "epochs_at_lr": 1, "epochs_at_low_lr": 0,
                     "batch_size": 8}})
    assert (cfg.profile, cfg.freeze_backbone, cfg.epochs) == ("synth", False, 14)
    result = train(cfg, tmp_path / "run", root, progress=False)
    assert (tmp_path / "run" / "pretrain" / "results.json").is_file()
    assert len(result.history) == 14 and result.report["n"] > 0
    pre = load_checkpoint(tmp_path / "run" / "pretrain" / "last.pt")["model"]
    moved = [k for k, v in result.model.state_dict().items()
             if k.startswith("backbone.") and v.is_floating_point() and not torch.equal(v, pre[k])]
    assert moved  # fine-tuned end to end, starting from the pretrained backbone
