import torch

from mggnet_lite.losses import balanced_pos_weight, bce
from mggnet_lite.metrics import AttributeMetrics, majority_accuracy


def test_balanced_accuracy_on_a_crafted_confusion_matrix():
    # attribute 0: 6 positives, 4 negatives; TP 3, FN 3, TN 4, FP 0
    # attribute 1: all predictions positive: TP 5, FP 5 -> TPR 1, TNR 0
    t = torch.tensor([[1, 1]] * 6 + [[0, 0]] * 4)
    t[:, 1] = torch.tensor([1, 0] * 5)
    p = torch.zeros(10, 2)
    p[:3, 0] = 0.9
    p[3:6, 0] = 0.1
    p[6:, 0] = 0.2
    p[:, 1] = 0.7
    m = AttributeMetrics(2)
    m.update(p[:4], t[:4])  # accumulate over two batches
    m.update(p[4:], t[4:])
    torch.testing.assert_close(m.counts, torch.tensor([[3, 5], [0, 5], [4, 0], [3, 0]]))
    torch.testing.assert_close(m.accuracy(), torch.tensor([0.7, 0.5], dtype=torch.float64))
    torch.testing.assert_close(m.balanced_accuracy(),
                               torch.tensor([0.75, 0.5], dtype=torch.float64))
    s = m.summary(["a", "b"])
    assert s["n"] == 10
    assert abs(s["mean_accuracy"] - 60.0) < 1e-9
    assert abs(s["mean_balanced_accuracy"] - 62.5) < 1e-9
    assert s["per_attribute"]["a"]["balanced_accuracy"] == 75.0


def test_balanced_accuracy_nan_when_a_class_is_absent_and_left_out_of_mean():
    m = AttributeMetrics(2)
    m.update(torch.tensor([[0.9, 0.9], [0.1, 0.9]]), torch.tensor([[1, 1], [0, 1]]))
    bal = m.balanced_accuracy()
    assert bal[0] == 1.0 and torch.isnan(bal[1])
    assert m.summary()["mean_balanced_accuracy"] == 100.0


def test_counts_merge_like_an_all_reduce():
    torch.manual_seed(0)
    p, t = torch.rand(50, 40), torch.randint(0, 2, (50, 40))
    whole, a, b = AttributeMetrics(), AttributeMetrics(), AttributeMetrics()
    whole.update(p, t)
    a.update(p[:20], t[:20])
    b.update(p[20:], t[20:])
    a.update_counts(b.counts)
    assert torch.equal(a.counts, whole.counts)


def test_balanced_pos_weight_grows_with_imbalance():
    labels = torch.zeros(100, 3)
    labels[:50, 0] = 1
    labels[:10, 1] = 1
    labels[:2, 2] = 1
    w = balanced_pos_weight(labels)
    torch.testing.assert_close(w, torch.tensor([1.0, 9.0, 49.0]))
    # weighted positives and negatives then carry equal total loss at p = 0.5
    z = torch.zeros(100, 3)
    pos = bce(z[:10, 1:2], labels[:10, 1:2], w[1:2]) * 10
    neg = bce(z[10:, 1:2], labels[10:, 1:2]) * 90
    torch.testing.assert_close(pos, neg)


def test_majority_accuracy():
    train = torch.tensor([[1, 0], [1, 0], [0, 0]])
    test = torch.tensor([[1, 1], [0, 0]])
    assert majority_accuracy(train, test) == 50.0
