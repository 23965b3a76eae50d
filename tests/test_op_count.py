"""Issue 21, item 1 and target 1: the ATen ops of one training step (``benchmarks/op_count.py``)
and the refactors that cut MGG-Net's count, checked against the straightforward computation.

Target 1 (MGG-Net's top-level ATen ops per step at most 1.3x the baseline's) is NOT met: the
count went from 619 against 279 (2.22x) to 399 against 271 (1.47x; ResNet-18, blocks 3+4,
batch 8, 64 px; benchmarks/results/op_count_2026-12-03.json). What is left above the baseline
is the work of Eqs. 1-3 themselves, each op with its backward (benchmarks/README.md,
"Op count"). ``test_mggnet_ops_per_step_ratio`` holds the 1.47x reached.
"""

from __future__ import annotations

import json
import math
import sys

import pytest
import torch
import torch.nn.functional as F
from _train_helpers import REPO, run

from mggnet_lite import build_model, mggnet_loss
from mggnet_lite.losses import bce_from_log_probs
from mggnet_lite.nn.einsum import einsum

#: the ratio reached (target 1.3 not met; module docstring)
REACHED_RATIO = 1.48
PHASES = ["forward", "loss", "backward", "optimizer"]


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    """benchmarks/op_count.py run once, as a user runs it, writing to a temporary file."""
    out = tmp_path_factory.mktemp("op_count") / "counts.json"
    proc = run([sys.executable, str(REPO / "benchmarks" / "op_count.py"), "--out", str(out)])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads(out.read_text())


def test_script_prints_and_writes_its_schema(counted):
    stdout, res = counted
    for key in ("kind", "what", "definition", "date", "machine", "versions", "settings", "counts",
                "ratio", "target_ratio", "target_met"):
        assert key in res, key
    assert res["settings"] | {"backbone": "resnet18", "taps": ["block3", "block4"],
                              "batch_size": 8, "image_size": 64} == res["settings"]
    assert res["settings"]["optimizer"]["foreach"] is True
    assert res["machine"]["cpu_cores"] >= 1 and res["versions"]["torch"]
    for v in ("baseline", "mggnet"):
        c = res["counts"][v]
        assert list(c["per_phase"]) == PHASES  # nothing outside the four phases
        assert c["total"] == sum(c["per_phase"].values())
        assert all(sum(c["ops"][p].values()) == c["per_phase"][p] for p in PHASES)
        assert all(name.startswith("aten::") for p in PHASES for name in c["ops"][p])
        assert c["all_aten"]["total"] >= c["total"]
    assert math.isclose(res["ratio"], res["counts"]["mggnet"]["total"]
                        / res["counts"]["baseline"]["total"])
    assert res["target_met"] == (res["ratio"] <= res["target_ratio"] == 1.3)
    assert f"ratio mggnet / baseline {res['ratio']:.2f}" in stdout
    assert f"total{res['counts']['baseline']['total']:>15}" in stdout


def test_mggnet_ops_per_step_ratio(counted):
    """MGG-Net / baseline top-level ATen ops per step <= 1.48, the figure reached; the issue's
    target 1.3 is not met (module docstring). The step never waits for the device."""
    _, res = counted
    assert res["ratio"] <= REACHED_RATIO, res["ratio"]
    for v in ("baseline", "mggnet"):
        assert res["counts"][v]["host_syncs"] == 0
        assert res["counts"][v]["per_phase"]["optimizer"] <= 4  # the multi-tensor SGD step


# ----------------------------------------------------------------------------- the refactors


def reference_forward(model, x):
    """Eqs. 1-4 written out the straightforward way (a gather for Eq. 3, masked_fill and
    (1 - alpha) f + alpha m for Eq. 2, flattened maps for Eq. 1, a stack of sigmoids for
    Eq. 4), with torch.einsum, from ``model``'s own modules and parameters."""
    feats = model.backbone(x)
    base = model.base_head(feats["final"].mean((2, 3)))
    out = {"base": base, "gal": {}, "gcl": {}, "masks": {}, "affinity": {}, "fused": [base]}
    for b in model.backbone.taps:
        gal, fb = model.gal[b], feats[b]
        m = torch.sigmoid(gal.to_mask(torch.relu(gal.bn(gal.conv(fb)))))
        f = torch.einsum("bkp,bcp->bkc", m.flatten(2), fb.flatten(2)) / (fb.shape[2] * fb.shape[3])
        head = model.heads[b]

        def eq3(f, head=head):
            return torch.einsum("bnd,nd->bn", f[:, head.group_of_attr], head.weight) + head.bias

        out["masks"][b], out["gal"][b] = m, eq3(f)
        if b in model.gcl:
            gcl, k = model.gcl[b], f.shape[1]
            h = torch.einsum("ide,bje->bijd", gcl.w_g, f)
            logits = torch.einsum("bijd,id->bij", torch.relu(h), gcl.w_e)
            e = torch.softmax(logits.masked_fill(torch.eye(k, dtype=torch.bool), float("-inf")), -1)
            g = torch.relu((1 - gcl.alpha) * f + gcl.alpha * torch.einsum("bij,bijd->bid", e, h))
            out["affinity"][b], out["gcl"][b] = e, eq3(g)
        out["fused"].append(out["gcl"].get(b, out["gal"][b]))
    out["probs"] = torch.stack([torch.sigmoid(z) for z in out["fused"]]).mean(0)
    return out


def reference_loss(ref, targets, pos_weight=None):
    """Eq. 5 as a sum of per-head BCEs: the fused Y (from log Y, log(1 - Y)), Y^B, each block's
    Y^{b,GAL} and Y^{b,GCL}."""
    z = torch.stack(ref["fused"])
    log_n = math.log(len(z))
    log_p = torch.logsumexp(F.logsigmoid(z), 0) - log_n
    log_1mp = torch.logsumexp(F.logsigmoid(-z), 0) - log_n
    loss = bce_from_log_probs(log_p, log_1mp, targets, pos_weight)
    for logits in (ref["base"], *ref["gal"].values(), *ref["gcl"].values()):
        loss = loss + F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)
    return loss


def _grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("variant", ["mggnet", "gal", "baseline", "independent"])
@pytest.mark.parametrize("weighted", [False, True])
def test_refactored_step_equals_the_reference(variant, weighted):
    """Outputs, Eq. 5 and every parameter's gradient: package == reference within 1e-5."""
    torch.manual_seed(0)
    model = build_model(variant, "resnet18", width=16).train()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 3, 64, 64, generator=g)
    y = (torch.rand(4, 40, generator=g) < 0.3).float()
    w = torch.linspace(0.2, 5.0, 40) if weighted else None
    close = {"rtol": 1e-5, "atol": 1e-5}

    ref = reference_forward(model, x)
    ref_loss = reference_loss(ref, y, w)
    ref_grads = _grads(model, ref_loss)
    out = model(x)
    loss = mggnet_loss(out, y, w)
    grads = _grads(model, loss)

    torch.testing.assert_close(loss, ref_loss, **close)
    torch.testing.assert_close(out.probs, ref["probs"], **close)
    torch.testing.assert_close(out.base_logits, ref["base"], **close)
    for mine, theirs in ((out.gal_logits, ref["gal"]), (out.gcl_logits, ref["gcl"]),
                         (out.masks, ref["masks"]), (out.affinity, ref["affinity"])):
        assert mine.keys() == theirs.keys()
        for b in mine:
            torch.testing.assert_close(mine[b], theirs[b], **close)
    assert grads.keys() == ref_grads.keys() == {n for n, _ in model.named_parameters()}
    for n in grads:
        torch.testing.assert_close(grads[n], ref_grads[n], **close, msg=lambda m, n=n: f"{n}: {m}")


def test_state_dict_is_unchanged():
    """Saved runs still load: the refactors only added non-persistent buffers."""
    model = build_model("mggnet", "resnet18", width=16)
    keys = set(model.state_dict())
    for b in ("block3", "block4"):
        assert {k for k in keys if k.startswith(f"gcl.{b}.")} == {f"gcl.{b}.w_g", f"gcl.{b}.w_e"}
        assert {k for k in keys if k.startswith(f"heads.{b}.")} == {f"heads.{b}.weight",
                                                                   f"heads.{b}.bias"}
        assert tuple(model.heads[b].weight.shape) == (40, model.backbone.channels[b])


@pytest.mark.parametrize("equation, shapes", [
    ("bkhw,bchw->bkc", [(2, 3, 4, 5), (2, 6, 4, 5)]),  # Eq. 1's pooling
    ("bje,ide->bijd", [(2, 3, 4), (3, 4, 4)]),  # Eq. 2
    ("bje,ide->bijd", [(1, 3, 4), (3, 4, 4)]),  # the senders-to-mean control's (1, K, D)
    ("bijd,id->bij", [(2, 3, 3, 4), (3, 4)]),
    ("bij,bijd->bid", [(2, 3, 3), (2, 3, 3, 4)]),
    ("sbkd,nk,nd->sbn", [(2, 2, 3, 4), (5, 3), (5, 4)]),  # Eq. 3
    ("bje,bje->bj", [(1, 3, 4), (2, 3, 4)]),  # a size-1 dimension broadcast
])
def test_einsum_gradients(equation, shapes):
    """einsum's one-einsum-per-operand backward == the derivative (gradcheck, float64)."""
    g = torch.Generator().manual_seed(0)
    ops = [torch.randn(s, dtype=torch.float64, generator=g, requires_grad=True) for s in shapes]
    assert torch.autograd.gradcheck(lambda *a: einsum(equation, *a), ops, atol=1e-8, rtol=1e-6)
    torch.testing.assert_close(einsum(equation, *ops), torch.einsum(equation, *ops))


def test_einsum_refuses_what_it_cannot_differentiate():
    a = torch.randn(3, 3, requires_grad=True)
    for eq in ("ii->i", "ij,jk->i", "...j,jk->...k", "ij,jk"):
        with pytest.raises(ValueError, match="einsum"):
            einsum(eq, a, a) if "," in eq else einsum(eq, a)
