"""Group Attention Learning (paper Sec. 3.2, Eq. 1).

For each group G_i a Group Attention Module phi(F_b; theta_i^b) -- conv, BN, ReLU --
produces a one-channel mask M_i^b in [0, 1]; the part-based group feature is
f_i^b = GAP(F_b * M_i^b).

The K modules are run as one: a 3x3 conv to K*h channels is exactly K separate 3x3
convs to h channels side by side, BN is per channel, and a grouped 1x1 conv
(groups=K) maps each module's h channels to its own mask. So each group keeps its
own parameters theta_i^b, with no Python loop over groups.
"""

from __future__ import annotations

import torch
from torch import nn


class GroupAttention(nn.Module):
    """K group attention modules on one block (Eq. 1).

    Args:
        channels: C, the channels of F_b.
        num_groups: K (8 for MGG-Net; 40 for the "independent" ablation of Table 3).
        reduction: each module's hidden width is ``max(channels // reduction, 4)``.
    """

    def __init__(self, channels: int, num_groups: int, reduction: int = 8) -> None:
        super().__init__()
        self.num_groups = num_groups
        hidden = max(channels // reduction, 4)
        self.hidden = hidden
        self.conv = nn.Conv2d(channels, num_groups * hidden, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(num_groups * hidden)
        self.to_mask = nn.Conv2d(num_groups * hidden, num_groups, 1, groups=num_groups)

    def masks(self, feat: torch.Tensor) -> torch.Tensor:
        """M^b: (B, K, h, w) in [0, 1], M_i^b = phi(F_b, theta_i^b)."""
        return torch.sigmoid(self.to_mask(torch.relu(self.bn(self.conv(feat)))))

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (f, M): f (B, K, C) with f_i = GAP(F_b * M_i), and the masks (B, K, h, w)."""
        m = self.masks(feat)
        b, c, h, w = feat.shape
        # GAP(F_b * M_i) for all i at once: sum over pixels of M_i(p) F_b(p), divided by h*w.
        f = torch.bmm(m.flatten(2), feat.flatten(2).transpose(1, 2)) / (h * w)
        return f, m
