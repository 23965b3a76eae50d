"""Every published number and setting the book and the reports quote, in one place.

Chen, Gu, Zhu, Xu and Zhao, *Improving Facial Attribute Recognition by Group and Graph
Learning*, ICME 2021. Each constant names the table or section it is copied from; the
modules that use one import it from here (``evaluate`` prints Tables 1 and 2, chapter 6
Tables 3 and 4, ``nn.params`` the parameter counts, ``training.config`` applies the schedule), so a
number is never typed twice (ARCHITECTURE.md, "Paper to code").

Plain data only: no imports from the package, so any module may import this one.
"""

from __future__ import annotations

# ----------------------------------------------------------------------------- Sec. 4.2

#: Table 1, a selection of its rows: mean prediction accuracy (%) over the 40 attributes,
#: (method, CelebA, LFWA); None where the paper prints "-".
TABLE1: tuple[tuple[str, float | None, float | None], ...] = (
    ("(Liu et al. 2015) ANet+LNet", 87.30, 84.00),
    ("(Rudd et al. 2016) MOON", 90.94, None),
    ("(Hand et al. 2017) MCNN-AUX", 91.26, 86.30),
    ("(Kalayeh et al. 2017) SSG + SSP", 91.80, 87.13),
    ("(Huang et al. 2018) GNAS (Wide)", 91.63, 86.37),
    ("(Zhao et al. 2019) CSN", 91.80, None),
    ("Ours: Baseline", 91.23, 85.63),
    ("Ours: MGG-Net", 92.00, 87.20),
)

#: Table 2: mean balanced accuracy (%) over the 40 attributes on CelebA, (method, value).
TABLE2: tuple[tuple[str, float], ...] = (
    ("(Huang et al. 2016) LMLE", 83.83),
    ("(Dong et al. 2017) CRL", 86.60),
    ("(Huang et al. 2018) CLMLE", 88.78),
    ("(Wang et al. 2019) DCL", 89.05),
    ("Ours: Baseline", 88.15),
    ("Ours: MGG-Net", 89.19),
)

#: Sec. 4.2, ResNet-18, in millions: "Our baseline and MGG-Net contain 11M and 12.8M
#: parameters ... it totally costs 1.8M parameters for GAL and GCL only."
PARAMS_M: dict[str, float] = {"baseline": 11.0, "mggnet": 12.8, "gal+gcl": 1.8}

# ----------------------------------------------------------------------------- Sec. 4.3

#: Table 3: mean accuracy (%) on LFWA per tapped block, for independent attentions, GAL
#: only ("w/o GCL") and MGG-Net.
TABLE3: dict[str, dict[str, float]] = {
    "block 3": {"independent": 81.04, "gal": 82.40, "mggnet": 86.40},
    "block 4": {"independent": 85.27, "gal": 86.42, "mggnet": 86.81},
    "block 3+4": {"independent": 86.17, "gal": 86.77, "mggnet": 87.20},
}

#: Table 4: mean accuracy (%) on LFWA per backbone. The VGG16 and AlexNet rows are garbled
#: in our text copy of the paper (six numbers, row and column unknown), so only the ResNet
#: rows are given; :data:`TABLE4_UNASSIGNED` lists the other six as printed.
TABLE4: dict[str, dict[str, float]] = {
    "resnet18": {"baseline": 85.63, "gal": 86.77, "mggnet": 87.20},
    "resnet34": {"baseline": 85.65, "gal": 86.42, "mggnet": 86.81},
}
TABLE4_UNASSIGNED: tuple[float, ...] = (84.06, 84.90, 85.22, 85.59, 84.57, 84.30)

#: Sec. 4.3, Fig. 2: the block on which each group's mask is best (block 3 outlines the
#: finer regions, block 4 the coarser ones).
BLOCK_OF_GROUP: dict[str, int] = {
    "eyes": 3, "mouth": 3, "nose": 3, "hairline": 3,
    "whole_face": 4, "around_head": 4, "neck": 4, "middle_face": 4,
}  # fmt: skip

# ----------------------------------------------------------------------------- Sec. 4.1

#: Implementation: "We adopt ResNet18 pre-trained on ImageNet as our backbone and apply GAL
#: and GCL on the last layers of block 3 and block 4" (block names as in ``nn.backbones``).
BACKBONE = "resnet18"
TAPS: tuple[str, ...] = ("block3", "block4")
WEIGHTS = "imagenet"

#: Implementation: "set the batch size as 144".
BATCH_SIZE = 144
#: Implementation: epochs at learning rate 0.01, then at 0.001.
LR = 0.01
LOW_LR = 0.001
#: (dataset, criterion) -> (epochs at LR, epochs at LOW_LR): CelebA prediction 9 + 5,
#: CelebA balanced 12 + 3, LFWA prediction 10 + 5 (the paper trains no balanced LFWA model).
SCHEDULES: dict[tuple[str, str], tuple[int, int]] = {
    ("celeba", "prediction"): (9, 5),
    ("celeba", "balanced"): (12, 3),
    ("lfwa", "prediction"): (10, 5),
}
#: "The input image is scaled as 224 x 224 x 3 and random flip is used as data argumentation."
IMAGE_SIZE = 224
FLIP = True

#: Datasets: "CeleBA contains 202,599 facial images"; the official partition file splits them
#: 162,770 / 19,867 / 19,962 (the paper rounds to 162K / 20K / 20K). The readers take the
#: sizes from the files, never from here; these are for text that quotes them.
CELEBA_IMAGES = 202_599
CELEBA_SPLIT_SIZES: dict[str, int] = {"train": 162_770, "valid": 19_867, "test": 19_962}
#: Datasets: "LFWA ... 13,233 images ... the training set with 6,263 images and the testing
#: set with 6,970 images".
LFWA_IMAGES = 13_233
LFWA_SPLIT_SIZES: dict[str, int] = {"train": 6_263, "test": 6_970}
