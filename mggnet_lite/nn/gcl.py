"""Graph Correlation Learning (paper Sec. 3.2, Eq. 2).

The K group features f_i^b are the nodes of a directed graph. Node i owns a graph
transfer weight W_gi (D x D) and an edge weight w_ei (D). What node i receives from
node j:

    e'_ij = w_ei^T ReLU(W_gi f_j)
    {e_ij}_j = Softmax_j({e'_ij}) over the K-1 senders j != i
    f'_i = ReLU((1 - alpha) f_i + alpha * sum_{j != i} e_ij W_gi f_j)

Because W_gi and w_ei belong to the receiver, e_ij != e_ji in general: the graph is
directed ("two-way directed GNN", Sec. 2). Everything is one einsum over (i, j)
(:func:`~mggnet_lite.nn.einsum.einsum`: its backward is one einsum per operand); the
softmax leaves out j = i by adding -inf to e'_ii, and (1 - alpha) f_i + alpha m_i is one
``lerp``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .einsum import einsum


class GraphCorrelation(nn.Module):
    """GCL on one block (Eq. 2).

    Args:
        dim: D, the size of each group feature.
        num_groups: K, the number of nodes (at least 2).
        alpha: the constant alpha of Eq. 2 (the paper does not give its value; 0.5 here).
        detach_senders: node j sends W_gi stopgrad(f_j). The forward is Eq. 2's; in training,
            group i's loss then reaches W_gi and w_ei but no other group's attention module
            through the messages, while f_i keeps its own path ((1 - alpha) f_i and its heads).
            Not the paper's joint training (Eq. 5): the quick profile uses it because, trained
            jointly, the nose's mask learnt to leave the nose (chapter 4 states it beside
            Eq. 5, chapter 7 measures it; benchmarks/studies/2026-12-04-narrow-stem).
    """

    def __init__(self, dim: int, num_groups: int, alpha: float = 0.5,
                 detach_senders: bool = False) -> None:
        super().__init__()
        if num_groups < 2:
            raise ValueError(f"num_groups={num_groups}: GCL needs at least 2 groups")
        self.alpha = float(alpha)
        self.detach_senders = bool(detach_senders)
        self.w_g = nn.Parameter(torch.randn(num_groups, dim, dim) / math.sqrt(dim))  # W_gi
        self.w_e = nn.Parameter(torch.randn(num_groups, dim) / math.sqrt(dim))  # w_ei
        # -inf on the diagonal, 0 elsewhere: added to e'_ij, it leaves j = i out of the softmax
        self.register_buffer("self_loop_logit", torch.zeros(num_groups, num_groups).fill_diagonal_(
            float("-inf")), persistent=False)

    def forward(self, f: torch.Tensor, senders: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """f: (B, K, D) -> (f' (B, K, D), e (B, K, K)); row i of e is what node i receives.

        ``senders`` (B or 1, K, D), if given, is what the nodes send instead of ``f`` (each
        receiver keeps its own f_i): the control that replaces the messages' content, e.g. by
        the senders' mean over a split (:func:`mggnet_lite.analysis.senders_to_mean`)."""
        # h[b, i, j] = W_gi f_j: node j's message expressed in receiver i's space. Written with
        # f first, torch lays h out with d innermost, so the ReLU, its backward and the two
        # einsums below read whole feature vectors; with W_g first, d's stride is K * D, and the
        # book's stage-2 MGG-Net step took 49 ms instead of 40 (benchmarks/layouts.py; the same
        # maths, rounded in another order; tests/test_nn.py checks the layout).
        if senders is None:
            senders = f.detach() if self.detach_senders else f
        h = einsum("bje,ide->bijd", senders, self.w_g)
        logits = einsum("bijd,id->bij", torch.relu(h), self.w_e)  # e'_ij
        e = torch.softmax(logits + self.self_loop_logit, dim=-1)  # only the K-1 senders
        message = einsum("bij,bijd->bid", e, h)  # sum_j e_ij W_gi f_j
        if message.dtype != f.dtype:  # autocast: the product ran in lower precision
            message = message.to(f.dtype)
        # (1 - alpha) f_i + alpha * message_i
        return torch.relu(torch.lerp(f, message, self.alpha)), e
