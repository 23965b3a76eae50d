"""Group Attention Learning (paper Sec. 3.2, Eq. 1).

For each group G_i a Group Attention Module phi(F_b; theta_i^b) -- conv, BN, ReLU --
produces a one-channel mask M_i^b in [0, 1]; the part-based group feature is
f_i^b = GAP(F_b * M_i^b).

``pool="mass"`` (not the paper's; the quick profile's choice, ARCHITECTURE.md "The book")
divides by the mask's mass instead of the map's area: f_i^b = sum_p M_i(p) F_b(p) /
sum_p M_i(p), a weighted *mean* of the features under the mask. With GAP a mask that shrinks
onto its region also shrinks the feature it pools, so nothing rewards it for choosing a
region; with the mass normalisation the feature's scale does not depend on the mask's size.
Measured on one frozen SynthFaces backbone: block-3 lift 1.17 with GAP, 2.11 with mass
pooling (benchmarks/studies/2026-12-01-quick-profile, runs E1 and E6).

``pool="softmax"`` (not the paper's either; issue [2/4]'s lever "a mask normalisation that
leaves no background sink") makes M_i a softmax over the map's positions of the same module's
output, so M_i sums to 1 and f_i = sum_p M_i(p) F_b(p). A sigmoid mask can saturate at 1 on
a whole area, background included, at no cost; a softmax mask has one budget to spend, and
the places it favours must beat every other place. ``masks`` then returns it divided by its
maximum, so that every pooling draws on the same [0, 1] scale.

The K modules are run as one: a 3x3 conv to K*h channels is exactly K separate 3x3
convs to h channels side by side, BN is per channel, and a grouped 1x1 conv
(groups=K) maps each module's h channels to its own mask. So each group keeps its
own parameters theta_i^b, with no Python loop over groups. The pooling is one einsum over
the K masks (:func:`~mggnet_lite.nn.einsum.einsum`: its backward is one einsum per operand).
"""

from __future__ import annotations

import torch
from torch import nn

from .einsum import einsum

POOLS: tuple[str, ...] = ("gap", "mass", "softmax")  # Eq. 1's GAP(F * M); sum(M F) / sum(M);
# the same with M a softmax over the map's positions


class GroupAttention(nn.Module):
    """K group attention modules on one block (Eq. 1).

    Args:
        channels: C, the channels of F_b.
        num_groups: K (8 for MGG-Net; 40 for the "independent" ablation of Table 3).
        reduction: each module's hidden width is ``max(channels // reduction, 4)``.
        pool: ``"gap"`` (Eq. 1) or ``"mass"`` (the module docstring).
    """

    def __init__(self, channels: int, num_groups: int, reduction: int = 8,
                 pool: str = "gap") -> None:
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool={pool!r}: choose one of {list(POOLS)}")
        self.pool = pool
        self.num_groups = num_groups
        hidden = max(channels // reduction, 4)
        self.hidden = hidden
        self.conv = nn.Conv2d(channels, num_groups * hidden, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(num_groups * hidden)
        self.to_mask = nn.Conv2d(num_groups * hidden, num_groups, 1, groups=num_groups)

    def logits(self, feat: torch.Tensor) -> torch.Tensor:
        """phi(F_b, theta_i^b) before its squashing: (B, K, h, w)."""
        return self.to_mask(torch.relu(self.bn(self.conv(feat))))

    def masks(self, feat: torch.Tensor) -> torch.Tensor:
        """M^b: (B, K, h, w) in [0, 1], M_i^b = sigmoid(phi(F_b, theta_i^b)); with
        ``pool="softmax"`` the spatial softmax over its maximum (module docstring)."""
        z = self.logits(feat)
        if self.pool == "softmax":
            return torch.exp(z - z.flatten(2).amax(-1)[..., None, None])
        return torch.sigmoid(z)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (f, M): f (B, K, C) with f_i = GAP(F_b * M_i) (``pool="mass"`` and
        ``"softmax"``: divided by sum M_i instead of h*w), and the masks (B, K, h, w)."""
        m = self.masks(feat)
        h, w = feat.shape[2:]
        # sum over pixels of M_i(p) F_b(p), for all i at once
        f = einsum("bkhw,bchw->bkc", m, feat)
        if self.pool != "gap":  # sum M F / sum M (clamped: an all-zero mask gives ~0, not NaN)
            return f / m.flatten(2).sum(-1, keepdim=True).clamp_min(1e-3), m
        return f / (h * w), m  # Eq. 1: GAP(F_b * M_i)
