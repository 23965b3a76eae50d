"""Issue [2/4], items 2 and 3: what stage 1 is trained on, and what that does to the ablation
and to where the masks point (README.md beside this file has the results).

    python study.py pretext OUT.pt [--targets scene|drawing|pixels] [--epochs 5 1]
    python study.py measure RUNS WEIGHTS.pt|profile OUT.json [--stage1 attributes|drawing]
                            [--finetune 2 1] [--pool gap|mass|softmax] [--variants ...]
    python study.py probe STAGE1/features/train-64px-final.pt OUT.json

``pretext``: stage 1 on a task that is not the 40 attributes, with the quick profile's trunk
(ResNet-18, width 32, 64 px), optimiser and budget (SGD lr 0.1 / 0.01, 5 + 1 epochs, batch 32,
weight decay 5e-4) but no flips (a flip would change dx, angle and the light's direction):
``scene`` / ``drawing`` regress SynthFaces' rendering parameters (``look.FaceParams``, drawn
by ``params_for(seed, index)`` independently of the labels), z-scored, with MSE (the two
angles enter as cosine and sine of the value read as degrees, though it is in radians: two
nearly constant targets); ``pixels`` is a masked autoencoder. Writes a torchvision state dict
of the trunk. (The package's ``target="drawing"`` is the BCE form, trained as stage 1 by
``measure RUNS profile --stage1 drawing``.)

``measure``: trains (or reuses) the four variants of Table 3 on that trunk, through the
book's own runs (``MGGNET_BOOK_RUNS=RUNS``; stage 2 exactly as the quick profile unless
``--finetune``), then records mean / balanced accuracy, the paired differences and the
pointing game per block. ``probe``: a linear probe of the attributes on a stage 1's features.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

#: the pretext's targets, ``--targets``: ``scene`` is what every image shows whatever its
#: labels (pose, proportions, colours of skin, shirt and background, light, blur, noise);
#: ``drawing`` adds how the label-driven parts are drawn (lip, lipstick, iris, beard,
#: accessory and metal colours, hair tone, bangs length, glasses and hat shapes). Those are
#: drawn independently of the labels too, but are only visible when the part is present, as
#: ImageNet's "lipstick", "sunglasses" and "Windsor tie" classes see such parts.
SCENE = ("dx", "dy", "scale", "angle", "face_w", "head_top", "chin_y", "mouth_y",
         "hairline_y", "hair_volume", "hair_bottom", "neck_w", "skin", "shirt", "bg_a", "bg_b",
         "bg_texture", "light_strength", "brightness", "tint", "blur_radius", "noise_sigma")
DRAWING = SCENE + ("bangs_len", "hair_tone", "facial_hair", "iris", "lip", "lipstick",
                   "accessory", "metal", "glasses_round", "hat_brim", "bg_shapes")
TARGETS = {"scene": SCENE, "drawing": DRAWING}


def targets_of(filenames: list[str], seed: int, names: tuple[str, ...] = SCENE) -> np.ndarray:
    """(N, K) float32 rendering parameters of the images, angles as (cos, sin)."""
    from mggnet_lite.data.synthfaces.look import params_for

    rows = []
    for f in filenames:
        p = params_for(seed, int(Path(f).stem) - 1)
        row: list[float] = []
        for name in names:
            v = getattr(p, name)
            row.extend(v if isinstance(v, tuple) else [float(v)])
        for ang in (p.bg_angle, p.light_dir):
            row.extend([math.cos(math.radians(ang)), math.sin(math.radians(ang))])
        rows.append(row)
    return np.asarray(rows, dtype=np.float32)


def pretext(out: str, epochs: tuple[int, int], seed: int = 0, targets: str = "scene") -> None:
    from mggnet_lite import book
    from mggnet_lite.data import make_loader
    from mggnet_lite.data.cache import open_cache
    from mggnet_lite.nn.backbones import _torchvision_model

    torch.manual_seed(seed)
    cache = open_cache(book.book_data(), "train")
    y = targets_of(cache.filenames, book.BOOK_SEED, TARGETS[targets])
    y = (y - y.mean(0)) / (y.std(0) + 1e-6)
    ds = dataclasses.replace(cache, labels=y)
    loader = make_loader(ds, batch_size=32, image_size=64, train=True, flip=False, seed=seed,
                         path="cache")
    net = _torchvision_model("resnet18", 32)
    net.fc = torch.nn.Linear(256, y.shape[1])
    log = _fit([net], loader, epochs, lambda x, t: torch.nn.functional.mse_loss(net(x), t))
    _save_trunk(net, out, {"targets": TARGETS[targets], "k": int(y.shape[1]), "log": log})


def _fit(modules: list[torch.nn.Module], loader, epochs: tuple[int, int], loss_of) -> list[dict]:
    """The profile's stage-1 optimiser on ``modules``: SGD, lr 0.1 for ``epochs[0]`` epochs
    then 0.01, momentum 0.9, weight decay 5e-4; ``loss_of(x, t)`` per batch. The log."""
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)
    t0, log = time.time(), []
    for epoch in range(sum(epochs)):
        for grp in opt.param_groups:
            grp["lr"] = 0.1 if epoch < epochs[0] else 0.01
        for m in modules:
            m.train()
        total, n = 0.0, 0
        for x, t in loader:
            loss = loss_of(x, t)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, n = total + float(loss.detach()) * len(x), n + len(x)
        log.append({"epoch": epoch, "mse": total / n, "s": time.time() - t0})
        print(log[-1], flush=True)
    return log


def _save_trunk(net: torch.nn.Module, out: str, record: dict) -> None:
    """The trunk as a torchvision state dict (no ``fc``), and ``record`` beside it (.json)."""
    torch.save({k: v for k, v in net.state_dict().items() if not k.startswith("fc.")}, out)
    Path(out).with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")


#: stage 2 end to end: every variant fine-tunes the whole network from the same trunk, as the
#: paper's variants fine-tune from ImageNet (SGD, step schedule, flips, batch 32)
FINETUNE = {"freeze_backbone": False, "optimizer": "sgd", "schedule": "step", "batch_size": 32,
            "lr": 0.02, "low_lr": 0.002, "weight_decay": 5e-4, "flip": True}


class _Decoder(torch.nn.Module):
    """The pixels pretext's decoder: block 5's (B, 8w, 2, 2) map back to a (B, 3, 64, 64)
    image, five x2 upsamplings of a 3x3 conv + BN + ReLU (the last one without)."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        chans = [8 * width, 4 * width, 2 * width, width, width, width // 2]
        layers: list[torch.nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:], strict=True):
            layers += [torch.nn.Upsample(scale_factor=2, mode="nearest"),
                       torch.nn.Conv2d(a, b, 3, padding=1, bias=False), torch.nn.BatchNorm2d(b),
                       torch.nn.ReLU(inplace=True)]
        layers.append(torch.nn.Conv2d(chans[-1], 3, 3, padding=1))
        self.net = torch.nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def pixels(out: str, epochs: tuple[int, int], seed: int = 0, patch: int = 16, share: float = 0.5
           ) -> None:
    """Stage 1 as a masked autoencoder: the trunk sees the image with ``share`` of its
    ``patch`` x ``patch`` squares greyed out and a decoder redraws the whole image from block
    5's 2 x 2 map (MSE on the pixels, which the loader has normalised). Same trunk, optimiser,
    batch and budget as the profile's stage 1, no flips."""
    from mggnet_lite import book
    from mggnet_lite.data import make_loader
    from mggnet_lite.data.cache import open_cache
    from mggnet_lite.nn.backbones import _torchvision_model

    torch.manual_seed(seed)
    cache = open_cache(book.book_data(), "train")
    loader = make_loader(cache, batch_size=32, image_size=64, train=True, flip=False, seed=seed,
                         path="cache")
    net = _torchvision_model("resnet18", 32)
    trunk = torch.nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1,
                                net.layer2, net.layer3, net.layer4)
    dec = _Decoder(32)
    g = torch.Generator().manual_seed(seed)

    def loss_of(x: torch.Tensor, _: torch.Tensor) -> torch.Tensor:
        keep = (torch.rand(len(x), 1, 64 // patch, 64 // patch, generator=g) >= share).float()
        keep = torch.nn.functional.interpolate(keep, scale_factor=patch, mode="nearest")
        return torch.nn.functional.mse_loss(dec(trunk(x * keep)), x)

    log = _fit([trunk, dec], loader, epochs, loss_of)
    _save_trunk(net, out, {"pretext": "pixels", "patch": patch, "share": share, "log": log})


def measure(runs: str, weights: str | None, out: str, finetune: tuple[int, int] | None = None,
            stage1: str | None = None, pool: str | None = None,
            variants: list[str] | None = None) -> None:
    os.environ["MGGNET_BOOK_RUNS"] = runs
    from mggnet_lite import analysis, book
    from mggnet_lite.data import CelebA
    from mggnet_lite.data import synthfaces as sf

    extra = {} if weights is None else {"weights": str(Path(weights).resolve()), "pretrain": None}
    if finetune:
        extra.update(FINETUNE, epochs_at_lr=finetune[0], epochs_at_low_lr=finetune[1])
    if stage1 is not None:  # the profile's stage 1 (the baseline itself), or the drawing's
        from mggnet_lite.training.config import PROFILE_SETTINGS

        extra["pretrain"] = {**PROFILE_SETTINGS["quick"]["pretrain"], "target": stage1,
                             "flip": stage1 == "attributes"}
    if pool:
        extra["pool"] = pool
    res: dict = {"weights": weights, "finetune": extra if finetune else None, "stage1": stage1,
                 "pool": pool, "variants": {}, "pairs": {}}
    probs = {}
    for v in variants or ("baseline", "independent", "gal", "mggnet"):
        t0 = time.time()
        model, report = book.trained_model(v, **extra)
        res["variants"][v] = {"mean_accuracy": report["mean_accuracy"],
                              "mean_balanced_accuracy": report["mean_balanced_accuracy"],
                              "s": time.time() - t0}
        outs = book.test_outputs(model, report)
        probs[v], labels = outs["probs"], outs["labels"]
        print(v, res["variants"][v], flush=True)
        if v in ("gal", "mggnet"):
            root = book.book_data()
            test = CelebA(root, split=report["split"])
            truth = torch.from_numpy(np.stack([sf.load_group_masks(root, f)
                                               for f in test.filenames]))
            loc = book.localisation({b: outs[f"masks:{b}"] for b in model.backbone.taps}, truth)
            print(book.format_localisation(loc, model.group_names, f"{v}:"), flush=True)
            res["variants"][v]["pointing"] = {b: loc[b]["pointing"].tolist() for b in loc}
            res["variants"][v]["lift"] = {b: loc[b]["lift"].tolist() for b in loc}
            res["chance"] = loc["block3"]["chance"].tolist()
            res["groups"] = list(model.group_names)
    names = list(probs)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            res["pairs"][f"{b}-{a}"] = analysis.paired_difference(probs[a], probs[b], labels)
            print(b, "-", a, res["pairs"][f"{b}-{a}"], flush=True)
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def probe(features: str, out: str, n_fit: int = 12_000) -> None:
    """A linear probe of the 40 attributes on a stage 1's cached GAP(block 5) training
    features (``FOLDER/features/train-64px-final.pt``): standardised features, logistic
    regression (Adam 1e-2, 300 full-batch steps) on the first ``n_fit`` images, scored on the
    rest against the majority rule."""
    from mggnet_lite import book
    from mggnet_lite.data import CelebA

    x = torch.load(features, weights_only=True)["features"].float()
    y = CelebA(book.book_data(), "train").attr.float()
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    torch.manual_seed(0)
    lin = torch.nn.Linear(x.shape[1], y.shape[1])
    opt = torch.optim.Adam(lin.parameters(), 1e-2)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(lin(x[:n_fit]), y[:n_fit]).backward()
        opt.step()
    with torch.no_grad():
        acc = ((lin(x[n_fit:]) > 0).float() == y[n_fit:]).float().mean()
    maj = ((y[:n_fit].mean(0) >= 0.5).float() == y[n_fit:]).float().mean()
    res = {"features": features, "probe": 100 * float(acc), "majority": 100 * float(maj),
           "n_fit": n_fit, "n_score": len(y) - n_fit}
    print(res)
    Path(out).write_text(json.dumps(res, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pretext")
    p.add_argument("out")
    p.add_argument("--epochs", type=int, nargs=2, default=(5, 1))
    p.add_argument("--targets", choices=[*TARGETS, "pixels"], default="scene")
    m = sub.add_parser("measure")
    m.add_argument("runs")
    m.add_argument("weights", help="a trunk state dict, or 'profile' for the profile's stage 1")
    m.add_argument("out")
    m.add_argument("--finetune", type=int, nargs=2, default=None,
                   help="epochs at lr and at low_lr of end-to-end fine-tuning (default: frozen)")
    m.add_argument("--stage1", choices=("attributes", "drawing"), default=None,
                   help="stage 1 on the 40 attributes (the profile's) or on the drawing")
    m.add_argument("--pool", choices=("gap", "mass", "softmax"), default=None)
    m.add_argument("--variants", nargs="+", default=None)
    q = sub.add_parser("probe")
    q.add_argument("features")
    q.add_argument("out")
    a = ap.parse_args(argv)
    if a.cmd == "probe":
        probe(a.features, a.out)
    elif a.cmd == "pretext":
        if a.targets == "pixels":
            pixels(a.out, tuple(a.epochs))
        else:
            pretext(a.out, tuple(a.epochs), targets=a.targets)
    else:
        measure(a.runs, None if a.weights == "profile" else a.weights, a.out, a.finetune,
                a.stage1, a.pool, a.variants)


if __name__ == "__main__":
    main(sys.argv[1:])
