"""The most any graph could add on SynthFaces when one part-based group is hidden.

When a group's region is hidden, the best any predictor can do for its attributes is the
exact Bayes posterior P(a = 1 | the labels of every other attribute) under the label model
(:data:`~.labels.LABEL_MODEL`). :func:`hidden_group_bound` compares thresholding that
posterior with predicting each attribute's majority value: the gain is an upper bound on
what the GCL's cross-group edges (paper Sec. 3.2) can recover from the other groups.
The posterior is exact: every 2^|group| configuration of the hidden attributes is scored
with the terms of the nodes it touches (:func:`log_joint_terms`), no sampling.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...attributes import GROUPS
from ...metrics import THRESHOLD
from .labels import _IDX, LABEL_MODEL, Node, sample_labels

#: a posterior this close to THRESHOLD is a tie (float noise of the enumeration)
TIE_TOLERANCE = 1e-9
_CHUNK = 8192  # rows per block of the enumeration (keeps the 2^k x rows table small)


@dataclass
class GroupBound:
    """One hidden group: mean accuracies and gain in points (percent); ``ties``: attribute
    -> percent of rows whose posterior equals THRESHOLD (scored as present, as metrics)."""

    group: str
    prior: float
    bayes: float
    gain: float
    per_attribute: dict[str, dict[str, float]]
    ties: dict[str, float] = field(default_factory=dict)


def _variables(node: Node) -> tuple[str, ...]:
    return (node.name, *node.parents, *node.zero_if)


def _involved(attrs: Sequence[str]) -> tuple[Node, ...]:
    """The label-model nodes whose term mentions any of ``attrs``."""
    wanted = set(attrs)
    return tuple(n for n in LABEL_MODEL if wanted & set(_variables(n)))


def _node_log_prob(labels: np.ndarray, node: Node) -> np.ndarray:
    """log P(node's column | its parents) per row; -inf where impossible."""
    table = np.array([node.table[c] for c in itertools.product((0, 1), repeat=len(node.parents))])
    idx = np.zeros(len(labels), dtype=np.intp)
    for par in node.parents:  # first parent is the most significant bit, as sample_labels
        idx = idx * 2 + labels[:, _IDX[par]]
    p = table[idx]
    for z in node.zero_if:
        p = np.where(labels[:, _IDX[z]] == 1, 0.0, p)
    with np.errstate(divide="ignore"):
        return np.log(np.where(labels[:, _IDX[node.name]] == 1, p, 1.0 - p))


def log_joint_terms(labels: np.ndarray, attrs: Sequence[str]) -> np.ndarray:
    """Sum of log P(node | parents) over the nodes that involve any of ``attrs``: (N,)
    float64, -inf for impossible rows. The other nodes do not change with ``attrs``."""
    labels = np.asarray(labels)
    out = np.zeros(len(labels), dtype=np.float64)
    for node in _involved(attrs):
        out += _node_log_prob(labels, node)
    return out


def _log_table(labels: np.ndarray, attrs: Sequence[str]) -> np.ndarray:
    """:func:`log_joint_terms` for every configuration of ``attrs``: shape (2,)*k + (N,).

    Each node is scored only on the configurations of the hidden attributes it mentions,
    then broadcast over the others (the same sum as setting all k and calling
    :func:`log_joint_terms`, far fewer operations).
    """
    k = len(attrs)
    total = np.zeros((2,) * k + (len(labels),), dtype=np.float64)
    for node in _involved(attrs):
        axes = [j for j, a in enumerate(attrs) if a in _variables(node)]
        term = np.empty((2,) * len(axes) + (len(labels),), dtype=np.float64)
        for cfg in itertools.product((0, 1), repeat=len(axes)):
            x = labels.copy()
            for j, v in zip(axes, cfg, strict=True):
                x[:, _IDX[attrs[j]]] = v
            term[cfg] = _node_log_prob(x, node)
        shape = [2 if j in axes else 1 for j in range(k)] + [len(labels)]
        total += term.reshape(shape)
    return total


def _attrs_of(group: str | Sequence[str]) -> tuple[str, ...]:
    return tuple(GROUPS[group]) if isinstance(group, str) else tuple(group)


def posterior(labels: np.ndarray, group: str | Sequence[str]) -> np.ndarray:
    """(N, |group|) P(a = 1 | the labels of every other attribute), exact.

    ``group``: a key of ``GROUPS`` or a sequence of attribute names. Enumerates all
    2^|group| configurations, normalised with logsumexp; rows that no configuration makes
    possible give NaN. Rows are deduplicated on the Markov blanket first.
    """
    attrs = _attrs_of(group)
    labels = np.asarray(labels).astype(np.uint8)
    blanket = sorted(
        {_IDX[v] for n in _involved(attrs) for v in _variables(n)} - {_IDX[a] for a in attrs}
    )
    keys = labels[:, blanket].astype(np.uint64) @ (
        np.uint64(1) << np.arange(len(blanket), dtype=np.uint64)
    )
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    rows = labels[first]
    bits = np.array(list(itertools.product((0, 1), repeat=len(attrs))), dtype=np.float64)
    out = np.empty((len(rows), len(attrs)), dtype=np.float64)
    for s in range(0, len(rows), _CHUNK):
        lt = _log_table(rows[s : s + _CHUNK], attrs).reshape(len(bits), -1)
        m = lt.max(axis=0)
        w = np.exp(lt - np.where(np.isfinite(m), m, np.nan))  # (2^k, n); NaN if impossible
        out[s : s + _CHUNK] = (w.T @ bits) / w.sum(axis=0)[:, None]
    return out[inverse.reshape(-1)]


def decide(post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(present, tie) for posteriors: present when ``post >= THRESHOLD`` as in metrics; a
    posterior within :data:`TIE_TOLERANCE` of THRESHOLD is a tie and counts as present."""
    tie = np.abs(post - THRESHOLD) <= TIE_TOLERANCE
    return (post >= THRESHOLD) | tie, tie


def _score(labels: np.ndarray, group: str) -> GroupBound:
    """Majority-value and thresholded-posterior accuracies of one hidden group."""
    attrs = _attrs_of(group)
    truth = labels[:, [_IDX[a] for a in attrs]].astype(bool)
    pred, tie = decide(posterior(labels, attrs))
    majority = truth.mean(axis=0) >= 0.5  # as metrics.majority_accuracy
    prior_acc = 100 * (truth == majority).mean(axis=0)
    bayes_acc = 100 * (truth == pred).mean(axis=0)
    per_attribute = {
        a: {"prior": float(p), "bayes": float(b), "gain": float(b - p)}
        for a, p, b in zip(attrs, prior_acc, bayes_acc, strict=True)
    }
    ties = {a: float(100 * t) for a, t in zip(attrs, tie.mean(axis=0), strict=True) if t > 0}
    prior, bayes = float(prior_acc.mean()), float(bayes_acc.mean())
    return GroupBound(group, prior, bayes, bayes - prior, per_attribute, ties)


def hidden_group_bound(
    n: int = 200_000, seed: int = 0, groups: Sequence[str] | None = None
) -> dict[str, GroupBound]:
    """Per group (default: all of ``GROUPS``), hidden alone: the mean accuracy (%) of each
    attribute's majority value (``prior``) and of the Bayes posterior thresholded as
    :mod:`~mggnet_lite.metrics` does (``bayes``), on ``n`` rows of :func:`sample_labels`.

    Ties: a posterior equal to THRESHOLD (within :data:`TIE_TOLERANCE`; e.g.
    Arched_Eyebrows for Male = 0, Heavy_Makeup = 1, table entry 0.50) is predicted present,
    the ``p >= THRESHOLD`` rule of metrics; either choice is right half the time.
    """
    labels = sample_labels(n, seed)
    return {g: _score(labels, g) for g in (GROUPS if groups is None else groups)}


def format_bound(result: dict[str, GroupBound], min_gain: float = 0.1) -> str:
    """A text table: per group prior, Bayes and gain (points), then the attributes whose
    gain exceeds ``min_gain`` points, then the ties."""
    lines = [f"{'hidden group':<14}{'prior %':>9}{'Bayes %':>9}{'gain':>8}"]
    for g, r in result.items():
        lines.append(f"{g:<14}{r.prior:>9.2f}{r.bayes:>9.2f}{r.gain:>+8.2f}")
    lines.append(f"attributes with gain > {min_gain} points:")
    for g, r in result.items():
        for a, v in r.per_attribute.items():
            if v["gain"] > min_gain:
                lines.append(
                    f"  {a:<22}{'(' + g + ')':<14}{v['prior']:6.2f} -> {v['bayes']:6.2f}  {v['gain']:+6.2f}"
                )
    for g, r in result.items():
        for a, share in r.ties.items():
            lines.append(f"tie at {THRESHOLD}: {a} ({g}) on {share:.2f}% of rows, scored present")
    return "\n".join(lines)
