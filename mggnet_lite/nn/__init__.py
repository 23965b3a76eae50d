"""Network pieces of MGG-Net: backbones with feature taps, GAL (Eq. 1), GCL (Eq. 2),
heads (Eq. 3) and the assembled multi-scale model with fusion (Eq. 4)."""

from .backbones import BACKBONES, BLOCKS, TAP_BLOCKS, Backbone, build_backbone
from .gal import GroupAttention
from .gcl import GraphCorrelation
from .mggnet import VARIANTS, GroupHeads, MGGNet, MGGOutput, build_model

__all__ = [
    "BACKBONES", "BLOCKS", "TAP_BLOCKS", "Backbone", "build_backbone", "GroupAttention", "GraphCorrelation",
    "GroupHeads", "MGGNet", "MGGOutput", "VARIANTS", "build_model",
]  # fmt: skip
