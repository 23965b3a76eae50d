"""The Bayes bound of a hidden group on SynthFaces (data/synthfaces/bayes.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from mggnet_lite.attributes import CELEBA_ATTRIBUTES, GROUPS
from mggnet_lite.data.synthfaces import LABEL_MODEL, bayes, sample_labels
from mggnet_lite.metrics import THRESHOLD, AttributeMetrics

IDX = {a: i for i, a in enumerate(CELEBA_ATTRIBUTES)}


@pytest.fixture(scope="module")
def labels400k() -> np.ndarray:
    return sample_labels(400_000, seed=1)


def _full_log_joint(x: np.ndarray) -> np.ndarray:
    return bayes.log_joint_terms(x, CELEBA_ATTRIBUTES)  # every node involves some attribute


def test_log_joint_terms_carry_every_change():
    """Changing the group's attributes changes the full joint by exactly the change of
    log_joint_terms; impossible rows give -inf."""
    x = sample_labels(300, seed=3)
    attrs = GROUPS["neck"]
    y = x.copy()
    y[:, [IDX[a] for a in attrs]] = sample_labels(300, seed=4)[:, [IDX[a] for a in attrs]]
    full = _full_log_joint(y) - _full_log_joint(x)
    part = bayes.log_joint_terms(y, attrs) - bayes.log_joint_terms(x, attrs)
    ok = np.isfinite(full)
    assert ok.sum() > 100 and (~ok).sum() > 0  # some swaps break an exclusion
    np.testing.assert_allclose(part[ok], full[ok], atol=1e-9)
    assert np.all(np.isneginf(bayes.log_joint_terms(y, attrs)[~ok]))


@pytest.mark.parametrize("group", ["mouth", "neck", "eyes"])
def test_posterior_matches_naive_enumeration(group):
    """The posterior equals normalising the full joint over all 2^k configurations."""
    x = sample_labels(200, seed=5)
    cols = [IDX[a] for a in GROUPS[group]]
    configs = list(itertools.product((0, 1), repeat=len(cols)))
    logp = []
    for cfg in configs:
        y = x.copy()
        y[:, cols] = cfg
        logp.append(_full_log_joint(y))
    w = np.exp(np.array(logp))  # (2^k, N); the full joint, no logsumexp needed here
    expected = (w.T @ np.array(configs, dtype=float)) / w.sum(0)[:, None]
    np.testing.assert_allclose(bayes.posterior(x, group), expected, atol=1e-12)


@pytest.mark.parametrize("group", ["mouth", "neck"])
def test_posterior_matches_empirical_conditionals(labels400k, group):
    """Brute force: on the most frequent configurations of ALL other 35 attributes, and in
    bins of equal posterior, the hidden attributes' frequencies match the posterior."""
    x, cols = labels400k, [IDX[a] for a in GROUPS[group]]
    post, truth = bayes.posterior(x, group), x[:, cols].astype(float)
    assert np.all((post >= 0) & (post <= 1))
    others = [i for i in range(40) if i not in cols]
    keys = x[:, others].astype(np.uint64) @ (np.uint64(1) << np.arange(35, dtype=np.uint64))
    _, inv, counts = np.unique(keys, return_inverse=True, return_counts=True)
    for j in np.argsort(-counts)[:6]:
        rows = np.flatnonzero(inv.reshape(-1) == j)
        assert len(rows) >= 150 and np.ptp(post[rows], axis=0).max() == 0
        q = post[rows[0]]
        se = np.sqrt(np.maximum(q * (1 - q), 1e-4) / len(rows))
        assert np.all(np.abs(truth[rows].mean(0) - q) < 4.5 * se + 1e-3), (group, q)
    for a in range(len(cols)):  # calibration: E[y | posterior = q] = q, on big bins
        values, binned = np.unique(post[:, a], return_inverse=True)
        for v in range(len(values)):
            rows = binned.reshape(-1) == v
            if rows.sum() >= 2000:
                q = values[v]
                se = np.sqrt(max(q * (1 - q), 1e-4) / rows.sum())
                assert abs(truth[rows, a].mean() - q) < 4.5 * se + 1e-3, (group, a, q)


def test_independent_attribute_keeps_its_marginal():
    """Wearing_Hat and Pale_Skin have no parents and no children: their posterior is the
    table value, whatever the rest, and the bound gains nothing on them."""
    free = {n.name: n.table[()] for n in LABEL_MODEL if not n.parents and not n.zero_if}
    mentioned = {p for n in LABEL_MODEL for p in n.parents + n.zero_if}
    assert {"Wearing_Hat", "Pale_Skin"} <= set(free) - mentioned
    x = sample_labels(5000, seed=6)
    for group, attr in (("around_head", "Wearing_Hat"), ("whole_face", "Pale_Skin")):
        post = bayes.posterior(x, group)[:, GROUPS[group].index(attr)]
        np.testing.assert_allclose(post, free[attr], atol=1e-12)
        np.testing.assert_allclose(bayes.posterior(x, [attr])[:, 0], free[attr], atol=1e-12)
    r = bayes.hidden_group_bound(n=20_000, seed=0, groups=["around_head", "whole_face"])
    assert r["around_head"].per_attribute["Wearing_Hat"]["gain"] == 0
    assert r["whole_face"].per_attribute["Pale_Skin"]["gain"] == 0


def test_bound_mouth_large_eyes_small_and_ties_scored_as_metrics():
    n = 50_000
    r = bayes.hidden_group_bound(n=n, seed=0, groups=["mouth", "eyes"])
    mouth, eyes = r["mouth"], r["eyes"]
    assert mouth.gain > 10 and mouth.per_attribute["Wearing_Lipstick"]["gain"] > 25
    assert 0 < eyes.gain < 1
    assert mouth.gain == pytest.approx(mouth.bayes - mouth.prior)
    assert mouth.ties == {} and set(eyes.ties) == {"Arched_Eyebrows"}
    x = sample_labels(n, seed=0)
    female_makeup = (x[:, IDX["Male"]] == 0) & (x[:, IDX["Heavy_Makeup"]] == 1)
    assert eyes.ties["Arched_Eyebrows"] == pytest.approx(100 * female_makeup.mean())
    # the same decision as metrics.AttributeMetrics on the posterior, ties set to 0.5 exactly
    post = bayes.posterior(x, "eyes")
    post[np.abs(post - THRESHOLD) <= bayes.TIE_TOLERANCE] = THRESHOLD
    m = AttributeMetrics(num_attributes=5)
    m.update(torch.from_numpy(post), torch.from_numpy(x[:, [IDX[a] for a in GROUPS["eyes"]]]))
    assert eyes.bayes == pytest.approx(100 * float(m.accuracy().mean()), abs=1e-9)
    text = bayes.format_bound(r)
    assert "Wearing_Lipstick" in text and "Big_Lips" not in text and "tie at 0.5" in text


def test_decide_is_metrics_rule_with_float_ties():
    """p >= THRESHOLD is present (metrics' rule); float noise around THRESHOLD is a tie."""
    eps = np.finfo(float).eps
    post = np.array([0.0, THRESHOLD - 1e-6, THRESHOLD - eps, THRESHOLD, THRESHOLD + eps, 1.0])
    present, tie = bayes.decide(post)
    assert present.tolist() == [False, False, True, True, True, True]
    assert tie.tolist() == [False, False, True, True, True, False]
    m = AttributeMetrics(num_attributes=1)
    m.update(torch.tensor([[THRESHOLD]]), torch.tensor([[1]]))
    assert int(m.counts[0, 0]) == 1  # metrics, too, counts exactly THRESHOLD as present
