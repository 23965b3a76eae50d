"""Stage 1's pretext (issue [2/4], item 2): SynthFaces' rendering parameters as 0/1 targets,
independent of the 40 labels, and a stage 1 that learns them feeding stage 2 its backbone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _train_helpers import synth_root

from mggnet_lite.data import CelebA
from mggnet_lite.data.synthfaces.drawing import (
    drawing_groups,
    drawing_labels,
    drawing_names,
    relabel,
)
from mggnet_lite.data.synthfaces.look import params_for
from mggnet_lite.nn import build_model
from mggnet_lite.training.config import make_config, pretrain_config


def test_drawing_labels_are_the_parameters_cut_at_fixed_medians() -> None:
    names = drawing_names()
    files = [f"{i + 1:06d}.jpg" for i in range(400)]
    y = drawing_labels(files, seed=7)
    assert y.shape == (400, len(names)) and set(y.unique().tolist()) <= {0, 1}
    rate = y.float().mean(0)
    assert float(rate.min()) > 0.3 and float(rate.max()) < 0.7  # each cut near its median
    # the label of image i is its own parameters: dx of image 5 above the median or not
    dx = np.array([params_for(7, i).dx for i in range(400)])
    col = names.index("dx")
    assert (y[:, col].numpy() == (dx > np.median(dx)).astype(int)).mean() > 0.95
    # the same image gives the same labels in any list (no per-split median)
    assert torch.equal(drawing_labels(files[5:6], seed=7), y[5:6])
    assert sum(len(v) for v in drawing_groups().values()) == len(names)


def test_drawing_labels_know_nothing_of_the_attributes() -> None:
    """The parameters are drawn independently of the labels: no drawing attribute predicts
    an attribute beyond noise on a rendered set's labels."""
    root = synth_root()
    ds = CelebA(root, "train")
    view = relabel(ds)
    assert view.relabelled_from is ds and torch.equal(ds.attr, CelebA(root, "train").attr)
    a, d = ds.attr.double(), view.attr.double()
    a, d = a - a.mean(0), d - d.mean(0)
    corr = (a.T @ d) / (a.norm(dim=0)[:, None] * d.norm(dim=0)[None] + 1e-12)
    assert float(corr.abs().max()) < 5 / np.sqrt(len(ds))


def test_a_pretext_stage_1_gives_stage_2_its_backbone_only(tmp_path) -> None:
    names, groups = drawing_names(), drawing_groups()
    stage1 = build_model("baseline", "resnet18", None, width=8, attributes=names, groups=groups)
    path = tmp_path / "last.pt"
    torch.save(stage1.state_dict(), path)
    model = build_model("mggnet", "resnet18", path, width=8)
    for k, v in stage1.backbone.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[k], v)
    assert model.base_head.weight.shape[0] == 40  # its own head, not the pretext's


def test_a_config_may_pretrain_on_the_drawing_but_only_as_a_baseline_without_flips() -> None:
    cfg = make_config("quick", None, sets={"variant": "mggnet"})
    pre = pretrain_config(cfg)
    assert pre.target == "attributes" and cfg.target == "attributes"  # the profile's, for now
    drawing = {**cfg.pretrain, "target": "drawing", "flip": False}
    pre = pretrain_config(make_config("quick", None, sets={"variant": "gal", "pretrain": drawing}))
    assert (pre.target, pre.variant, pre.flip) == ("drawing", "baseline", False)
    with pytest.raises(ValueError, match="variant='baseline' and flip=false"):
        make_config("quick", None, sets={"variant": "gal", "target": "drawing"})
    with pytest.raises(ValueError, match="flip=false"):
        make_config("quick", None, sets={"variant": "baseline", "target": "drawing", "flip": True,
                                          "freeze_backbone": False})


def test_a_drawing_stage_1_trains_scores_its_bits_and_feeds_stage_2(tmp_path) -> None:
    """Through the trainer: stage 1 learns the drawing bits (its report says so and scores
    them), ``evaluate`` refuses it as an attribute model, and a stage 2 starts from it."""
    from _train_helpers import TINY_SETS

    from mggnet_lite.training.evaluate import evaluate_checkpoint
    from mggnet_lite.training.train import train

    data = synth_root()
    tiny = [s for s in TINY_SETS if not s.startswith("flip")]
    cfg = make_config("quick", sets=[*tiny, "variant=baseline", "target=drawing", "flip=false",
                                     "epochs_at_lr=1", "epochs_at_low_lr=0",
                                     "max_steps_per_epoch=2"])
    res = train(cfg, tmp_path / "stage1", data, progress=False)
    rep = res.report
    assert "pretext 'drawing'" in rep["label"] and len(rep["per_attribute"]) == len(drawing_names())
    assert set(rep["per_attribute"]) == set(drawing_names())
    with pytest.raises(ValueError, match="stage 1 trained on the pretext 'drawing'"):
        evaluate_checkpoint(tmp_path / "stage1", data)
    stage2 = make_config("quick", sets=[*TINY_SETS, "variant=mggnet", "epochs_at_lr=1",
                                        "epochs_at_low_lr=0", "max_steps_per_epoch=2",
                                        f"weights={tmp_path / 'stage1' / 'last.pt'}"])
    out = train(stage2, tmp_path / "stage2", data, progress=False)
    assert len(out.report["per_attribute"]) == 40
    assert evaluate_checkpoint(tmp_path / "stage2", data)["n"] == out.report["n"]
