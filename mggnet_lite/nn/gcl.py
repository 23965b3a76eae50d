"""Graph Correlation Learning (paper Sec. 3.2, Eq. 2).

The K group features f_i^b are the nodes of a directed graph. Node i owns a graph
transfer weight W_gi (D x D) and an edge weight w_ei (D). What node i receives from
node j:

    e'_ij = w_ei^T ReLU(W_gi f_j)
    {e_ij}_j = Softmax_j({e'_ij}) over the K-1 senders j != i
    f'_i = ReLU((1 - alpha) f_i + alpha * sum_{j != i} e_ij W_gi f_j)

Because W_gi and w_ei belong to the receiver, e_ij != e_ji in general: the graph is
directed ("two-way directed GNN", Sec. 2). Everything is one einsum over (i, j).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class GraphCorrelation(nn.Module):
    """GCL on one block (Eq. 2).

    Args:
        dim: D, the size of each group feature.
        num_groups: K, the number of nodes (at least 2).
        alpha: the constant alpha of Eq. 2 (the paper does not give its value; 0.5 here).
    """

    def __init__(self, dim: int, num_groups: int, alpha: float = 0.5) -> None:
        super().__init__()
        if num_groups < 2:
            raise ValueError(f"num_groups={num_groups}: GCL needs at least 2 groups")
        self.alpha = float(alpha)
        self.w_g = nn.Parameter(torch.randn(num_groups, dim, dim) / math.sqrt(dim))  # W_gi
        self.w_e = nn.Parameter(torch.randn(num_groups, dim) / math.sqrt(dim))  # w_ei
        self.register_buffer("self_loop", torch.eye(num_groups, dtype=torch.bool), persistent=False)

    def forward(self, f: torch.Tensor, senders: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """f: (B, K, D) -> (f' (B, K, D), e (B, K, K)); row i of e is what node i receives.

        ``senders`` (B or 1, K, D), if given, is what the nodes send instead of ``f`` (each
        receiver keeps its own f_i): the control that replaces the messages' content, e.g. by
        the senders' mean over a split (:func:`mggnet_lite.analysis.senders_to_mean`)."""
        # h[b, i, j] = W_gi f_j: node j's message expressed in receiver i's space.
        h = torch.einsum("ide,bje->bijd", self.w_g, f if senders is None else senders)
        logits = torch.einsum("bijd,id->bij", torch.relu(h), self.w_e)  # e'_ij
        logits = logits.masked_fill(self.self_loop, float("-inf"))  # only the K-1 senders
        e = torch.softmax(logits, dim=-1)
        message = torch.einsum("bij,bijd->bid", e, h)
        return torch.relu((1 - self.alpha) * f + self.alpha * message), e
