"""Mean accuracy and mean balanced accuracy over the 40 attributes (Sec. 4.1).

Accuracy_a = (TP + TN) / M; balanced accuracy_a = (TPR + TNR) / 2 (as in [20], Table 2).
:class:`AttributeMetrics` keeps four count vectors (TP, FP, TN, FN) on the device, so
batches are accumulated without holding predictions and without a host sync per step;
``counts`` can be summed across DDP ranks with one ``all_reduce``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

#: the decision rule of Sec. 4.1: an attribute is predicted present when Y_a (Eq. 4) is at
#: least this; every count, table, explorer and ``predict`` of the package uses it
THRESHOLD = 0.5


class AttributeMetrics:
    """Accumulates per-attribute confusion counts over batches."""

    def __init__(self, num_attributes: int = 40, device: torch.device | str = "cpu",
                 threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self.counts = torch.zeros(4, num_attributes, dtype=torch.long, device=device)

    def update(self, probs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add a batch: probs (B, N) in [0, 1], targets (B, N) of 0/1."""
        if probs.shape != targets.shape:
            raise ValueError(f"probs {tuple(probs.shape)} and targets {tuple(targets.shape)} differ")
        pred = probs >= self.threshold
        t = targets.bool()
        self.counts += torch.stack([(pred & t).sum(0), (pred & ~t).sum(0),
                                    (~pred & ~t).sum(0), (~pred & t).sum(0)])

    def update_counts(self, counts: torch.Tensor) -> None:
        """Add counts (4, N) = TP, FP, TN, FN from elsewhere (another rank, a saved run)."""
        self.counts += counts.to(self.counts)

    @property
    def n(self) -> int:
        return int(self.counts[:, 0].sum())

    def accuracy(self) -> torch.Tensor:
        """Per-attribute accuracy (N,)."""
        tp, fp, tn, fn = self.counts.double()
        return (tp + tn) / (tp + fp + tn + fn).clamp_min(1)

    def balanced_accuracy(self) -> torch.Tensor:
        """Per-attribute (TPR + TNR) / 2 (N,); NaN where a class has no sample."""
        tp, fp, tn, fn = self.counts.double()
        return ((tp / (tp + fn)) + (tn / (tn + fp))) / 2

    def summary(self, names: Sequence[str] | None = None) -> dict:
        """Means (in %) and the per-attribute table; NaN balanced accuracies are left out of the mean."""
        acc, bal = self.accuracy().cpu(), self.balanced_accuracy().cpu()
        names = list(names) if names is not None else [str(i) for i in range(len(acc))]
        return {
            "n": self.n,
            "mean_accuracy": 100 * float(acc.mean()),
            "mean_balanced_accuracy": 100 * float(bal.nanmean()),
            "per_attribute": {
                a: {"accuracy": 100 * float(x), "balanced_accuracy": 100 * float(y)}
                for a, x, y in zip(names, acc, bal, strict=True)
            },
        }


def majority_accuracy(train_labels: torch.Tensor, test_labels: torch.Tensor) -> float:
    """Mean accuracy (%) of always predicting each attribute's majority class on the train split."""
    majority = (train_labels.double().mean(0) >= 0.5).to(test_labels.dtype)
    return 100 * float((test_labels == majority).double().mean())
