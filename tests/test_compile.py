"""A compiled training step (issue [4/4], item 2; mggnet_lite.training.step).

The forward and Eq. 5 compiled as one graph give the eager step's losses within 1e-4 over 3
steps, with one graph and no recompile; the compiled CLI run's kill-and-resume is tested
beside the eager one in test_train.py.

Both use batch 8 (:data:`SETS`): at batch 4 and 32 px, block 5's map is 1 x 1, so its
BatchNorm normalises over 4 numbers and the stem's fp32 gradients are ill-conditioned. There
eager and compiled gradients differed by up to 1.5% (relative, after one step; in float64 by
1.5e-8, so both are right to fp32's precision) and the third loss by 0.016; at batch 8 the
gradients agree within 1e-5. CUDA graphs (``compile="reduce-overhead"``) cannot run
here (no GPU): only their refusal on a CPU, before anything is written, is tested.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
from _train_helpers import COMPILE_SETS, TINY_SETS, run, synth_root, train_cmd

from mggnet_lite.losses import mggnet_loss
from mggnet_lite.training.config import COMPILE_MODES, make_config
from mggnet_lite.training.run import DistInfo, _build_model, _optimizer
from mggnet_lite.training.step import CompiledStep, compile_options, train_step

ROOT = Path(__file__).resolve().parents[1]

SETS = COMPILE_SETS  # batch 8 (module docstring), shared with test_train.py


def _three_steps(compiled: bool) -> tuple[list[float], torch.Tensor]:
    """Three SGD steps of the CLI tests' MGG-Net (TINY_SETS + SETS) on fixed batches:
    (losses, last probabilities)."""
    cfg = make_config("quick", sets=[*TINY_SETS, *SETS])
    device = torch.device("cpu")
    model, forward = _build_model(cfg, device, DistInfo())
    optimizer = _optimizer(cfg, model)
    loss_fn = functools.partial(mggnet_loss, pos_weight=None)
    step = CompiledStep(forward, loss_fn, device=device, mode=True) if compiled else None
    g = torch.Generator().manual_seed(1)
    model.train()
    losses, probs = [], torch.empty(0)
    for _ in range(3):
        x = torch.randn(cfg.batch_size, 3, cfg.image_size, cfg.image_size, generator=g)
        y = (torch.rand(cfg.batch_size, 40, generator=g) < 0.5).float()
        probs, loss = train_step(forward, optimizer, loss_fn, x, y, device=device,
                                 compiled=step)
        losses.append(float(loss.detach()))
    return losses, probs.detach()


def test_compiled_step_matches_eager_over_three_steps():
    from torch._dynamo.utils import counters

    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)  # as TINY_SETS (threads=1, deterministic=true)
    torch.use_deterministic_algorithms(True)
    try:
        eager, p_eager = _three_steps(compiled=False)
        counters.clear()
        comp, p_comp = _three_steps(compiled=True)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)
    assert counters["stats"]["unique_graphs"] == 1, dict(counters["stats"])  # compiled, once
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert eager[0] != eager[2]  # the weights moved: three different steps
    assert comp == pytest.approx(eager, abs=1e-4), (comp, eager)
    torch.testing.assert_close(p_comp, p_eager, atol=1e-4, rtol=0)


def test_compile_modes_and_their_devices():
    assert compile_options(True, torch.device("cpu")) == {
        "options": {"layout_optimization": False}}
    assert compile_options("max-autotune-no-cudagraphs", torch.device("cpu")) == {
        "mode": "max-autotune-no-cudagraphs"}
    assert compile_options("reduce-overhead", torch.device("cuda")) == {"mode": "reduce-overhead"}
    with pytest.raises(ValueError, match="needs a CUDA device"):
        compile_options("reduce-overhead", torch.device("cpu"))
    with pytest.raises(ValueError, match="compile='fast'"):
        make_config("quick", sets=["freeze_backbone=false", "compile=fast"])
    for mode in COMPILE_MODES:
        assert make_config("quick", sets=["freeze_backbone=false", f"compile={mode}"]).compile \
            == mode


def test_cuda_graphs_on_a_cpu_fail_before_anything_is_written(tmp_path):
    out = tmp_path / "run"
    proc = run(train_cmd(synth_root(), out, "--compile", "reduce-overhead", "--device", "cpu"))
    assert proc.returncode != 0
    assert "needs a CUDA device" in proc.stderr and "--compile" in proc.stderr, proc.stderr
    assert not (out / "last.pt").exists() and not (out / "config.json").exists()


def test_committed_speed_comparison_is_what_was_measured():
    """The committed run of benchmarks/compile_step.py (issue [4/4], target 2): its figures
    follow from its own numbers, and MGG-Net's compiled step is faster than the eager one."""
    files = sorted((ROOT / "benchmarks" / "results").glob("compile_step_*.json"))
    assert files, "run python benchmarks/compile_step.py and commit its JSON"
    result = json.loads(files[-1].read_text())
    assert result["setting"] == {"width": 32, "image_size": 64, "batch_size": 32, "steps": 20}
    for variant in ("baseline", "mggnet"):
        r = result["variants"][variant]
        eager, comp = r["losses"]["eager"], r["losses"]["compiled"]
        assert len(eager) == len(comp) == 3
        assert r["max_loss_difference"] == max(abs(a - b) for a, b in zip(eager, comp, strict=True))
        assert r["max_loss_difference"] <= 1e-4, variant
        sec = r["seconds_per_step"]
        assert r["speed_ratio_eager_over_compiled"] == pytest.approx(
            sec["eager"] / sec["compiled"], abs=2e-3)
    assert result["variants"]["mggnet"]["speed_ratio_eager_over_compiled"] > 1
