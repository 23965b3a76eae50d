import math

import pytest
import torch

from mggnet_lite import build_model, mggnet_loss
from mggnet_lite.nn import BACKBONES, VARIANTS, GraphCorrelation, GroupAttention


@pytest.fixture(scope="module")
def mgg_out():
    torch.manual_seed(0)
    model = build_model("mggnet").eval()
    with torch.no_grad():
        return model(torch.randn(2, 3, 224, 224))


def test_default_masks_are_28_and_14_at_224(mgg_out):
    assert tuple(mgg_out.masks["block3"].shape) == (2, 8, 28, 28)
    assert tuple(mgg_out.masks["block4"].shape) == (2, 8, 14, 14)
    for m in mgg_out.masks.values():
        assert m.min() >= 0 and m.max() <= 1


def test_affinity_rows_sum_to_one_zero_diagonal_directed(mgg_out):
    for e in mgg_out.affinity.values():
        assert tuple(e.shape) == (2, 8, 8)
        torch.testing.assert_close(e.sum(-1), torch.ones(2, 8))
        assert torch.all(torch.diagonal(e, dim1=1, dim2=2) == 0)
        assert (e - e.transpose(1, 2)).abs().max() > 1e-4  # e_ij != e_ji


def test_gcl_alpha_zero_is_relu_of_f():
    torch.manual_seed(1)
    gcl = GraphCorrelation(dim=6, num_groups=4, alpha=0.0)
    f = torch.randn(3, 4, 6)
    out, e = gcl(f)
    torch.testing.assert_close(out, torch.relu(f))
    assert e.shape == (3, 4, 4)


def test_gcl_matches_eq2_on_numbers_worked_by_hand():
    # K = 3, D = 2, W_gi = I, w_ei = (1, 0): e'_ij = ReLU(f_j)[0].
    gcl = GraphCorrelation(dim=2, num_groups=3, alpha=0.5)
    with torch.no_grad():
        gcl.w_g.copy_(torch.eye(2).expand(3, 2, 2))
        gcl.w_e.copy_(torch.tensor([1.0, 0.0]).expand(3, 2))
    f = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]])
    out, e = gcl(f)
    # node 0 hears node 1 (score 2) and node 2 (score 0): softmax -> e^2/(e^2+1), 1/(e^2+1)
    e01, e02 = math.exp(2) / (math.exp(2) + 1), 1 / (math.exp(2) + 1)
    # node 1 hears node 0 (1) and node 2 (0); node 2 hears node 0 (1) and node 1 (2)
    e10, e12 = math.exp(1) / (math.exp(1) + 1), 1 / (math.exp(1) + 1)
    e20, e21 = 1 / (1 + math.exp(1)), math.exp(1) / (1 + math.exp(1))
    expected_e = torch.tensor([[[0, e01, e02], [e10, 0, e12], [e20, e21, 0]]])
    torch.testing.assert_close(e, expected_e)
    f0 = [0.5 * 1 + 0.5 * (e01 * 2 + e02 * 0), 0.5 * 0 + 0.5 * (e01 * 0 + e02 * 1)]
    f1 = [0.5 * 2 + 0.5 * (e10 * 1 + e12 * 0), 0.5 * 0 + 0.5 * (e10 * 0 + e12 * 1)]
    f2 = [0.5 * 0 + 0.5 * (e20 * 1 + e21 * 2), 0.5 * 1 + 0.5 * 0]
    torch.testing.assert_close(out, torch.tensor([[f0, f1, f2]]))


def test_gcl_matches_eq2_loop_with_random_weights():
    torch.manual_seed(2)
    k, d, alpha = 3, 4, 0.3
    gcl = GraphCorrelation(dim=d, num_groups=k, alpha=alpha)
    f = torch.randn(2, k, d)
    out, e = gcl(f)
    for b in range(2):
        for i in range(k):
            senders = [j for j in range(k) if j != i]
            wg, we = gcl.w_g[i], gcl.w_e[i]
            scores = torch.stack([we @ torch.relu(wg @ f[b, j]) for j in senders])
            eij = torch.softmax(scores, 0)
            msg = sum(eij[n] * (wg @ f[b, j]) for n, j in enumerate(senders))
            ref = torch.relu((1 - alpha) * f[b, i] + alpha * msg)
            torch.testing.assert_close(out[b, i], ref)
            torch.testing.assert_close(e[b, i, senders], eij)


def test_gcl_messages_keep_each_feature_vector_contiguous(monkeypatch):
    """h = W_gi f_j, (B, K, K, D), comes out of its einsum with d innermost and b outermost,
    so ReLU, its backward and the two einsums that read h run over whole feature vectors.
    Written the other way round ("ide,bje->bijd"), torch returns a view whose d has a stride
    of K * D and whose b has a stride of K: the book's stage-2 MGG-Net step took 49 ms instead
    of 40 (benchmarks/layouts.py). The maths is the same either way, rounded in another order."""
    from mggnet_lite.nn import gcl as gcl_module

    seen, real = [], gcl_module.einsum

    def recording(eq, *ops):
        seen.append((eq, real(eq, *ops)))
        return seen[-1][1]

    monkeypatch.setattr(gcl_module, "einsum", recording)
    gcl = GraphCorrelation(dim=16, num_groups=8)
    f = torch.randn(4, 8, 16, requires_grad=True)
    gcl(f)[0].sum().backward()
    eq, h = seen[0]
    assert eq.endswith("->bijd") and h.shape == (4, 8, 8, 16)
    assert h.stride(-1) == 1 and h.stride(0) == max(h.stride()), (
        f"{eq!r} gave h with strides {h.stride()}")

def test_gal_feature_is_gap_of_masked_feature():
    torch.manual_seed(3)
    gal = GroupAttention(channels=16, num_groups=3).eval()
    x = torch.randn(2, 16, 5, 7)
    f, m = gal(x)
    for i in range(3):
        ref = (x * m[:, i : i + 1]).mean(dim=(2, 3))  # GAP(F_b * M_i), Eq. 1
        torch.testing.assert_close(f[:, i], ref)
    # each group's mask depends only on its own module's parameters
    with torch.no_grad():
        gal.to_mask.weight[1].mul_(0)  # group 1 only: weight is (K, hidden, 1, 1)
    _, m2 = gal(x)
    torch.testing.assert_close(m2[:, 0], m[:, 0])
    assert not torch.allclose(m2[:, 1], m[:, 1])


def _outputs(variant):
    torch.manual_seed(4)
    model = build_model(variant).eval()
    with torch.no_grad():
        return model(torch.randn(2, 3, 96, 96))


@pytest.mark.parametrize("variant", ["baseline", "independent", "gal", "mggnet"])
def test_eq4_fusion_is_the_mean_of_probabilities(variant):
    out = _outputs(variant)
    s = torch.sigmoid
    if variant == "baseline":
        expected = s(out.base_logits)
    elif variant == "mggnet":
        expected = (s(out.base_logits) + s(out.gcl_logits["block3"]) + s(out.gcl_logits["block4"])) / 3
    else:
        expected = (s(out.base_logits) + s(out.gal_logits["block3"]) + s(out.gal_logits["block4"])) / 3
    torch.testing.assert_close(out.probs, expected)
    assert (variant == "mggnet") == bool(out.gcl_logits) == bool(out.affinity)
    assert (variant == "baseline") == (not out.masks)
    if variant == "independent":
        assert out.masks["block3"].shape[1] == 40


def _bce(p, y, w=None):
    w = torch.ones_like(p) if w is None else w.expand_as(p)
    return -(w * y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


@pytest.mark.parametrize("weighted", [False, True])
def test_eq5_loss_is_the_sum_of_bce_terms(weighted):
    out = _outputs("mggnet")
    y = torch.randint(0, 2, out.probs.shape).float()
    pw = torch.linspace(0.5, 4, 40) if weighted else None
    s = torch.sigmoid
    expected = _bce(out.probs, y, pw) + _bce(s(out.base_logits), y, pw)
    for b in ("block3", "block4"):
        expected = expected + _bce(s(out.gal_logits[b]), y, pw) + _bce(s(out.gcl_logits[b]), y, pw)
    torch.testing.assert_close(mggnet_loss(out, y, pos_weight=pw), expected)


def test_heads_are_shared_between_gal_and_gcl_of_a_block():
    model = build_model("mggnet")
    assert set(model.heads) == {"block3", "block4"}
    n_head = sum(p.numel() for p in model.heads["block3"].parameters())
    assert n_head == 40 * 128 + 40  # one theta_a per attribute, D = 128 at block 3


def test_all_variants_and_backbones_run_forward_at_224():
    x = torch.randn(1, 3, 224, 224)
    for backbone in BACKBONES:
        for variant in VARIANTS:
            model = build_model(variant, backbone).eval()
            with torch.no_grad():
                out = model(x)
            assert out.probs.shape == (1, 40), (variant, backbone)
            assert torch.isfinite(out.probs).all() and out.probs.min() >= 0 and out.probs.max() <= 1
            if variant != "baseline":
                sizes = [tuple(m.shape[2:]) for m in out.masks.values()]
                assert sizes[0][0] in (27, 28) and sizes[1][0] in (13, 14), (backbone, sizes)


@pytest.mark.parametrize("variant", VARIANTS)
def test_resnet18_variants_run_backward(variant):
    torch.manual_seed(5)
    model = build_model(variant).train()
    out = model(torch.randn(2, 3, 224, 224))
    loss = mggnet_loss(out, torch.randint(0, 2, (2, 40)))
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    for part in ("gal", "gcl", "heads"):
        names = [n for n in grads if n.startswith(part + ".")]
        if names:
            assert any(grads[n].abs().sum() > 0 for n in names), part


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.randn(3, 224, 224), "4-D"),
        (torch.randn(1, 1, 224, 224), "3 \\(RGB\\) channels"),
        (torch.randn(1, 224, 224, 3), "permute"),
        (torch.randn(1, 3, 16, 16), "too small"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "float"),
    ],
    ids=["3d", "1ch", "nhwc", "small", "uint8"],
)
def test_wrong_input_raises_value_error(x, match):
    model = build_model("mggnet")
    with pytest.raises(ValueError, match=match):
        model(x)


def test_unknown_variant_backbone_or_tap():
    with pytest.raises(ValueError, match="variant"):
        build_model("gnn")
    with pytest.raises(ValueError, match="backbone"):
        build_model("mggnet", "resnet50")
    with pytest.raises(ValueError, match="block5"):
        build_model("mggnet", taps=("block5",))


@pytest.mark.parametrize("taps, shapes", [(("block3",), [28]), (("block4",), [14])])
def test_single_block_taps(taps, shapes):
    model = build_model("mggnet", taps=taps).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert [m.shape[-1] for m in out.masks.values()] == shapes
    assert len(out.fused_logits) == 2  # Y^B and one block: Eq. 4 divides by 1 + B = 2


def test_from_config_rebuilds_the_same_architecture():
    four = {"top": [], "bottom": []}
    for i, (_, members) in enumerate(__import__("mggnet_lite").attributes.GROUPS.items()):
        four["top" if i < 4 else "bottom"] += members
    a = build_model("mggnet", "resnet18", taps=("block4",), alpha=0.25, groups=four)
    b = type(a).from_config(a.config)
    assert b.config == a.config and b.backbone.taps == ("block4",)
    b.load_state_dict(a.state_dict())  # same parameter names and shapes


def test_gcl_detached_senders_keep_eq2_forward_and_cut_the_message_gradient():
    """``detach_senders``: f' is Eq. 2's to the bit; d f'_i / d f_j (j != i) flows only
    through the messages, so it is zero detached and nonzero joint (Eq. 5's training)."""
    torch.manual_seed(0)
    joint = GraphCorrelation(6, 4)
    cut = GraphCorrelation(6, 4, detach_senders=True)
    cut.load_state_dict(joint.state_dict())
    f = torch.randn(2, 4, 6)
    grads, outs = {}, {}
    for name, gcl in (("joint", joint), ("cut", cut)):
        x = f.clone().requires_grad_(True)
        out, e = gcl(x)
        out[:, 0].sum().backward()  # node 0's output only
        grads[name], outs[name] = x.grad, (out.detach(), e.detach())
    assert all(torch.equal(a, b) for a, b in zip(outs["joint"], outs["cut"], strict=True))
    assert grads["joint"][:, 1:].abs().sum() > 0  # the senders get node 0's gradient ...
    assert torch.count_nonzero(grads["cut"][:, 1:]) == 0  # ... unless detached
    assert grads["cut"][:, 0].abs().sum() > 0  # f_0's own path, (1 - alpha) f_0, remains


def test_stem_without_max_pool_doubles_every_grid_with_the_same_weights():
    with_pool = build_model("mggnet", width=8).eval()
    without = build_model("mggnet", width=8, stem_pool=False).eval()
    assert with_pool.state_dict().keys() == without.state_dict().keys()
    without.load_state_dict(with_pool.state_dict())
    x = torch.randn(1, 3, 64, 64)
    a, b = with_pool(x), without(x)
    assert a.masks["block3"].shape[-2:] == (8, 8)
    assert b.masks["block3"].shape[-2:] == (16, 16)
    assert b.masks["block4"].shape[-2:] == (8, 8)
    assert type(without).from_config(without.config).backbone.stages["block1"][-1].__class__ \
        is torch.nn.ReLU
    with pytest.raises(ValueError, match="stem_pool=False"):
        build_model("mggnet", "vgg16", stem_pool=False)
