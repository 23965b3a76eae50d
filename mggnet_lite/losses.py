"""The training objective of Eq. 5 and the weighted BCE of the balanced criterion (Sec. 3.3, 4.1).

L = BCE(Y, Y_hat) + BCE(Y^B, Y_hat) + sum_b [BCE(Y^{b,GAL}, Y_hat) + BCE(Y^{b,GCL}, Y_hat)]

Each term is a mean over the batch and the N attributes. For the balanced-accuracy
criterion each positive is weighted by ``pos_weight_a`` (see :func:`balanced_pos_weight`).

All terms are one BCE (:func:`mggnet_loss`): the terms have equal weights and each is a mean
over the same (B, N), so their sum is (number of terms) x the mean over their stack; the
fused Y of Eq. 4 enters it as its logit log Y - log(1 - Y), whose log-sigmoid is log Y.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .nn.mggnet import MGGOutput


def bce(logits: torch.Tensor, targets: torch.Tensor,
        pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean binary cross-entropy on logits; ``pos_weight`` (N,) multiplies the positive term."""
    t = targets if targets.dtype == logits.dtype else targets.to(logits.dtype)
    return F.binary_cross_entropy_with_logits(logits, t, pos_weight=pos_weight)


def bce_from_log_probs(log_p: torch.Tensor, log_1mp: torch.Tensor, targets: torch.Tensor,
                       pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean BCE given log Y and log(1 - Y) (for the fused Y of Eq. 4, which has no logit)."""
    t = targets.to(log_p.dtype)
    pos = t * log_p if pos_weight is None else pos_weight * t * log_p
    return -(pos + (1 - t) * log_1mp).mean()


def mggnet_loss(out: MGGOutput, targets: torch.Tensor,
                pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 5: BCE of the final Y (Eq. 4) + the base Y^B + every block's Y^{b,GAL} and Y^{b,GCL}.

    ``targets``: (B, N) of 0/1. ``pos_weight``: None for the prediction criterion, or
    (N,) positive-class weights for the balanced criterion (weighted BCE).
    """
    if targets.shape != out.base_logits.shape:
        raise ValueError(
            f"targets has shape {tuple(targets.shape)}, expected {tuple(out.base_logits.shape)} "
            "(batch, attributes) of 0/1"
        )
    # sum of equal-weight means over the same (B, N) = (number of terms) x mean over the stack
    z = torch.stack([fused_logit(out), out.base_logits, *out.gal_logits.values(),
                     *out.gcl_logits.values()])  # (terms, B, N)
    return len(z) * bce(z, targets.expand(z.shape), pos_weight)


def fused_logit(out: MGGOutput) -> torch.Tensor:
    """The logit of Eq. 4's Y, log Y - log(1 - Y) (B, N), from the fused logits, stably:
    log-sigmoid of it is log Y and of its negative log(1 - Y) (each log-sum-exp of
    :meth:`MGGOutput.log_probs` has the same - log(1 + B), which cancels)."""
    z = torch.stack(out.fused_logits)  # (1 + B, batch, N)
    return torch.logsumexp(F.logsigmoid(z), 0) - torch.logsumexp(F.logsigmoid(-z), 0)


def balanced_pos_weight(labels_or_rates: torch.Tensor, max_weight: float = 50.0) -> torch.Tensor:
    """Weights for the balanced criterion: w_a = N_neg / N_pos, growing with imbalance.

    With this weight the positives and negatives of attribute a carry equal total loss,
    which is what balanced accuracy ((TPR + TNR) / 2) rewards. Accepts a (M, N) 0/1 label
    matrix or (N,) positive rates; clamped to [1/max_weight, max_weight].
    """
    x = labels_or_rates.double()
    rate = x.mean(0) if x.dim() == 2 else x
    if ((rate < 0) | (rate > 1)).any():
        raise ValueError("positive rates must lie in [0, 1]")
    rate = rate.clamp(1e-6, 1 - 1e-6)
    return ((1 - rate) / rate).clamp(1 / max_weight, max_weight).float()
