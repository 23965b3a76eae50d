"""Issue 19, item 2 / target 2: a stage 1 that finds the parts without ever reading a label.

    python study.py render ROOT [--n 20400] [--seed 1]
    python study.py pretext ROOT OUT.pt [--epochs 5 1] [--width 32] [--no-stem-pool]
    python study.py measure RUNS OUT.pt RESULT.json [--variants ...] [--finetune E1 E2]

``render``: a disjoint synthetic domain, "SynthFaces with everything on". Faces of another
seed (other people, poses and colours than the book's set), each drawn with every part that has
a look of its own (:data:`ALWAYS_ON`: glasses, hat, lipstick, necktie, earrings, necklace,
bangs, beard, goatee, mustache, sideburns); the other attributes as the label model draws
them. No image of the book's set is in it, and no image of it is without those parts.

``pretext``: the profile's stage-1 trunk, optimiser and budget (ResNet-18 width 32 at 64 px,
SGD lr 0.1 for 5 epochs then 0.01 for 1, batch 32, weight decay 5e-4, bf16 autocast where the
CPU has it, as ``amp="bf16-native"``), no flips, regressing each image's rendering parameters
(``look.FaceParams``: the scene and how every part is drawn, z-scored, MSE). Every part is
present on every image, so every target is visible: to read the lipstick's, the frames' or
the beard's colour the trunk has to find the lips, the frames and the beard. Nothing it
learns names an attribute, and presence never varies in the targets.

``measure``: the four variants of Table 3 on that trunk, frozen, stage 2 exactly the quick
profile's: the stage-1 study's ``measure`` (``../2026-12-02-stage1/study.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "2026-12-02-stage1"))
import study as stage1_study  # noqa: E402  (the stage-1 study's targets, trunk I/O, measure)

#: the parts forced on in the pretext domain (and ``No_Beard`` / ``Bald`` off)
ALWAYS_ON = ("Eyeglasses", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necktie",
             "Wearing_Earrings", "Wearing_Necklace", "Bangs", "Goatee", "Mustache", "Sideburns")
ALWAYS_OFF = ("No_Beard", "Bald")


def render(root: str, n: int, seed: int) -> None:
    from mggnet_lite.attributes import CELEBA_ATTRIBUTES
    from mggnet_lite.data.synthfaces import writer

    model_labels = writer.sample_labels

    def everything_on(k: int, s: int | np.random.Generator = 0) -> np.ndarray:
        out = model_labels(k, s).copy()
        for a in ALWAYS_ON:
            out[:, CELEBA_ATTRIBUTES.index(a)] = 1
        for a in ALWAYS_OFF:
            out[:, CELEBA_ATTRIBUTES.index(a)] = 0
        return out

    writer.sample_labels = everything_on
    t0 = time.time()
    writer.synthesize(root, n=n, seed=seed, masks=False, progress=True)
    print(f"rendered {n} images in {time.time() - t0:.1f} s", flush=True)


def pretext(root: str, out: str, epochs: tuple[int, int], seed: int = 0, width: int = 32,
            stem_pool: bool = True) -> None:
    from mggnet_lite.data import make_loader
    from mggnet_lite.data.cache import open_cache
    from mggnet_lite.data.synthfaces.drawing import set_seed
    from mggnet_lite.nn.backbones import _torchvision_model

    torch.manual_seed(seed)
    cache = open_cache(root, "train")
    y = stage1_study.targets_of(cache.filenames, set_seed(root), stage1_study.DRAWING)
    y = (y - y.mean(0)) / (y.std(0) + 1e-6)
    ds = dataclasses.replace(cache, labels=y)
    loader = make_loader(ds, batch_size=32, image_size=64, train=True, flip=False, seed=seed,
                         path="cache")
    net = _torchvision_model("resnet18", width)
    if not stem_pool:  # the quick profile's trunk since 2026-12-04 (TrainConfig.stem_pool)
        net.maxpool = torch.nn.Identity()
    net.fc = torch.nn.Linear(8 * width, y.shape[1])
    from mggnet_lite.training.runtime import cpu_has_native_bf16

    bf16 = cpu_has_native_bf16()  # the profile's amp="bf16-native": autocast where native

    def loss_of(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return torch.nn.functional.mse_loss(net(x).float(), t)

    log = stage1_study._fit([net], loader, epochs, loss_of)  # the stage-1 study's optimiser
    stage1_study._save_trunk(net, out, {"domain": root, "bf16": bf16, "always_on": ALWAYS_ON,
                                        "always_off": ALWAYS_OFF,
                                        "width": width, "stem_pool": stem_pool,
                                        "targets": stage1_study.DRAWING, "k": int(y.shape[1]),
                                        "log": log})


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("render")
    r.add_argument("root")
    r.add_argument("--n", type=int, default=20_400)
    r.add_argument("--seed", type=int, default=1)
    p = sub.add_parser("pretext")
    p.add_argument("root")
    p.add_argument("out")
    p.add_argument("--epochs", type=int, nargs=2, default=(5, 1))
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--no-stem-pool", dest="stem_pool", action="store_false")
    m = sub.add_parser("measure")
    m.add_argument("runs")
    m.add_argument("weights")
    m.add_argument("out")
    m.add_argument("--variants", nargs="+", default=None)
    m.add_argument("--finetune", type=int, nargs=2, default=None,
                   help="epochs at lr and at low_lr of end-to-end fine-tuning (default: frozen)")
    a = ap.parse_args(argv)
    if a.cmd == "render":
        render(a.root, a.n, a.seed)
    elif a.cmd == "pretext":
        pretext(a.root, a.out, tuple(a.epochs), width=a.width, stem_pool=a.stem_pool)
    else:
        stage1_study.measure(a.runs, a.weights, a.out, a.finetune, variants=a.variants)


if __name__ == "__main__":
    main(sys.argv[1:])
