"""One training step: Sec. 4.1's SGD on Eq. 5's loss, eager or compiled.

:func:`train_step` is what :func:`~mggnet_lite.training.train.train_one_epoch` calls: forward,
Eq. 5, backward, optimiser, with nothing that waits for the device.

With ``TrainConfig.compile`` (``--compile [MODE]``), :class:`CompiledStep` runs the forward and
Eq. 5 as one graph compiled by ``torch.compile``; AOTAutograd compiles its backward too. The
optimiser stays eager: foreach SGD is a handful of multi-tensor ops per step
(``benchmarks/op_count.py``), and a compiled optimiser recompiles whenever a float learning
rate changes (one-cycle changes it every step). The modes (:data:`~.config.COMPILE_MODES`):

* ``default`` (``--compile``): inductor's kernels. On a CPU its layout optimisation is
  switched off: it turns every convolution to channels_last, which at the book's sizes made
  the compiled step no faster than eager (``benchmarks/compile_step.py`` measures both).
* ``reduce-overhead``: CUDA graphs, CUDA only. A graph replays fixed shapes: the training
  loaders give them (they drop the ragged last batch), and each step first marks a new graph
  step (``torch.compiler.cudagraph_mark_step_begin``), after the previous step's loss and
  probabilities were added to the epoch's sums. Not tested here: the CI machine has no GPU.
* ``max-autotune-no-cudagraphs``: autotuned kernels, no graphs.

A compiled run's losses agree with eager ones within 1e-4 and it resumes bitwise
(``tests/test_compile.py``). Evaluation runs the bare model, eagerly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import torch

from ..nn.mggnet import MGGOutput
from .config import compile_mode
from .evaluate import autocast_for

#: what a step's forward and Eq. 5 return: (probabilities, loss), both on the device
StepOut = tuple[torch.Tensor, torch.Tensor]


def float_output(out: MGGOutput) -> MGGOutput:
    """fp32 logits for the loss: under bf16 autocast Eq. 5's log-sum-exp is better in fp32."""
    if out.base_logits.dtype == torch.float32:
        return out
    return dataclasses.replace(
        out,
        base_logits=out.base_logits.float(),
        gal_logits={k: v.float() for k, v in out.gal_logits.items()},
        gcl_logits={k: v.float() for k, v in out.gcl_logits.items()},
        fused_logits=[z.float() for z in out.fused_logits],
        probs=out.probs.float(),
    )


def _no_phase(name: str) -> contextlib.AbstractContextManager[None]:
    return contextlib.nullcontext()


def forward_loss(model: torch.nn.Module, loss_fn: Callable[[MGGOutput, torch.Tensor], torch.Tensor],
                 x: Any, y: torch.Tensor, *, device: torch.device, amp: str = "none") -> StepOut:
    """The forward pass and Eq. 5's loss (in fp32): (probabilities, loss)."""
    with autocast_for(device, amp, training=True):
        out = float_output(model(x))
    return out.probs, loss_fn(out, y)


def compile_options(mode: bool | str, device: torch.device) -> dict[str, Any]:
    """``torch.compile``'s keyword arguments for ``TrainConfig.compile`` on ``device`` (module
    docstring); a clear error for a mode the device cannot run."""
    mode = compile_mode(mode)
    if mode is None:
        raise ValueError("compile=False is the eager step: there is nothing to compile")
    if mode == "reduce-overhead" and device.type != "cuda":
        raise ValueError(
            f"compile='reduce-overhead' records CUDA graphs and needs a CUDA device, not "
            f"{device}: use --compile (the default mode) on a CPU")
    if device.type == "cpu" and mode == "default":
        return {"options": {"layout_optimization": False}}
    return {"mode": mode}


class CompiledStep:
    """:func:`forward_loss` of one model and loss as one ``torch.compile`` graph (module
    docstring); called with (x, y) like the eager step's forward and loss."""

    def __init__(self, model: torch.nn.Module,
                 loss_fn: Callable[[MGGOutput, torch.Tensor], torch.Tensor], *,
                 device: torch.device, amp: str = "none", mode: bool | str = True) -> None:
        opts = compile_options(mode, device)
        fn = functools.partial(forward_loss, model, loss_fn, device=device, amp=amp)
        self.mode = opts.get("mode", "default")
        self.graphs = self.mode == "reduce-overhead"
        self.fn = torch.compile(fn, dynamic=False, **opts)

    def __call__(self, x: Any, y: torch.Tensor) -> StepOut:
        if self.graphs:  # the previous step's outputs were read; its graph memory is reused
            torch.compiler.cudagraph_mark_step_begin()
        return self.fn(x, y)


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[MGGOutput, torch.Tensor], torch.Tensor],
    x: Any,
    y: torch.Tensor,
    *,
    device: torch.device,
    amp: str = "none",
    phase: Callable[[str], contextlib.AbstractContextManager[Any]] = _no_phase,
    compiled: CompiledStep | None = None,
) -> StepOut:
    """One SGD step (Sec. 4.1) on Eq. 5's loss: forward, loss, backward, optimiser; returns
    (probabilities, loss), both left on the device (nothing here waits for it).

    ``compiled``: the forward and loss of ``model`` and ``loss_fn`` as one compiled graph
    (:class:`CompiledStep`), used instead of the eager ones. ``phase(name)`` wraps each of the
    four parts (``"forward"``, ``"loss"``, ``"backward"``, ``"optimizer"``; a compiled step's
    forward and loss are one ``"forward"``); ``benchmarks/op_count.py`` passes
    ``torch.profiler.record_function`` to count the operations of each."""
    if compiled is not None:
        with phase("forward"):
            probs, loss = compiled(x, y)
    else:
        with phase("forward"), autocast_for(device, amp, training=True):
            out = float_output(model(x))  # the loss in fp32
        with phase("loss"):
            probs, loss = out.probs, loss_fn(out, y)  # Eq. 5
    with phase("backward"):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    with phase("optimizer"):
        optimizer.step()
    return probs, loss
