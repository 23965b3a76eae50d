"""bf16 autocast as ``TrainConfig.amp`` asks (ARCHITECTURE.md, "Speed"): ``"bf16"`` on CUDA
only; ``"bf16-native"`` (the quick profile) also trains in bf16 on a CPU that computes it
natively and in fp32 on one that does not; evaluation on a CPU is fp32 either way."""

from __future__ import annotations

import functools
import warnings

import pytest
import torch

from mggnet_lite.losses import mggnet_loss
from mggnet_lite.nn.mggnet import MGGNet
from mggnet_lite.training import evaluate, runtime
from mggnet_lite.training.config import AMP_MODES, make_config, pretrain_config
from mggnet_lite.training.evaluate import autocast_for
from mggnet_lite.training.step import train_step

CPU = torch.device("cpu")


def _matmul_dtype(ctx) -> torch.dtype:
    with ctx:
        return (torch.ones(2, 2) @ torch.ones(2, 2)).dtype


@pytest.mark.parametrize("flags, native", [
    ("fpu sse avx2 avx512f avx512bw", False),
    ("fpu avx512f avx512_bf16 avx512_vnni", True),
    ("fpu avx512f amx_bf16 amx_tile", True),
])
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags: str, native: bool) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: x\nflags\t\t: {flags}\n\n"
                    f"processor\t: 1\nflags\t\t: {flags}\n")
    assert runtime.cpu_has_native_bf16(str(info)) is native
    assert runtime.cpu_has_native_bf16(str(tmp_path / "missing")) is False
    assert isinstance(runtime.machine_info("cpu")["cpu_native_bf16"], bool)  # recorded per run


@pytest.mark.parametrize("native", [True, False])
def test_cpu_autocast_only_for_bf16_native_in_training_on_a_native_cpu(monkeypatch, native):
    monkeypatch.setattr(evaluate, "cpu_has_native_bf16", lambda: native)
    assert set(AMP_MODES) == {"bf16", "bf16-native", "none"}
    assert _matmul_dtype(autocast_for(CPU, "bf16-native", training=True)) == (
        torch.bfloat16 if native else torch.float32)
    assert _matmul_dtype(autocast_for(CPU, "bf16-native")) == torch.float32  # evaluation
    assert _matmul_dtype(autocast_for(CPU, "bf16", training=True)) == torch.float32
    assert _matmul_dtype(autocast_for(CPU, "none", training=True)) == torch.float32
    with warnings.catch_warnings():  # no CUDA here: torch warns that it disables the context
        warnings.simplefilter("ignore")
        for amp in ("bf16", "bf16-native"):
            ctx = autocast_for(torch.device("cuda"), amp)
            assert isinstance(ctx, torch.autocast) and ctx.device == "cuda"
        assert not isinstance(autocast_for(torch.device("cuda"), "none"), torch.autocast)


def test_set_amp_none_means_fp32() -> None:
    assert make_config("quick", sets=["amp=none"]).amp == "none"  # not Python's None
    assert make_config("quick", sets={"amp": "bf16"}).amp == "bf16"


@pytest.mark.parametrize("native", [True, False])
def test_the_quick_profiles_step_trains_in_bf16_where_native(monkeypatch, native) -> None:
    cfg = make_config("quick")
    assert cfg.amp == "bf16-native" and pretrain_config(cfg).amp == "bf16-native"
    monkeypatch.setattr(evaluate, "cpu_has_native_bf16", lambda: native)
    torch.manual_seed(0)
    model = MGGNet("mggnet", "resnet18", None, width=8, pool="mass")
    seen: list[torch.dtype] = []
    model.gal["block3"].conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(2, 3, 64, 64), (torch.rand(2, 40) < 0.5).float()
    probs, loss = train_step(model, opt, functools.partial(mggnet_loss, pos_weight=None), x, y,
                             device=CPU, amp=cfg.amp)
    assert seen == [torch.bfloat16 if native else torch.float32]
    assert loss.dtype == probs.dtype == torch.float32 and torch.isfinite(loss)  # Eq. 5 in fp32
    model.eval()
    with torch.inference_mode(), autocast_for(CPU, cfg.amp):  # what run_eval wraps
        model(x)
    assert seen[-1] == torch.float32
