"""``einsum`` with a short backward: one einsum per operand (ARCHITECTURE.md, "Speed").

``torch.einsum`` is a composite: autograd records the permutes, reshapes and ``bmm`` it is
made of, and its backward replays each of them, about 14 dispatched operations per einsum
(``benchmarks/op_count.py`` counts them). The gradient of a product is itself one einsum per
operand: for ``out = einsum("A,B,C->O", a, b, c)``,

    dL/da = einsum("O,B,C->A", dL/dout, b, c)

(and likewise for b and c), provided every index of an operand also appears in the output
or in another operand, and no index repeats within one operand (a diagonal). :func:`einsum`
computes exactly ``torch.einsum`` forward and, when autograd records, those einsums
backward. Where nothing is recorded (``torch.no_grad``, evaluation, export, tracing,
``torch.compile``) it is ``torch.einsum`` itself. Size-1 dimensions broadcast as in
``torch.einsum``; autograd sums their gradients back to the operand's shape.
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=64)
def _parse(equation: str) -> tuple[tuple[str, ...], str]:
    """(operand subscripts, output subscripts) of an explicit equation; ValueError when its
    gradients are not einsums of the same operands (see the module docstring)."""
    eq = equation.replace(" ", "")
    if "->" not in eq or "." in eq:
        raise ValueError(f"einsum {equation!r}: give the output explicitly (\"...->...\"), "
                         "without ellipses")
    lhs, out = eq.split("->")
    ins = tuple(lhs.split(","))
    for i, s in enumerate(ins):
        others = set(out).union(*(ins[:i] + ins[i + 1:]))
        if len(set(s)) != len(s) or not set(s) <= others:
            raise ValueError(
                f"einsum {equation!r}: operand {i} ({s!r}) repeats an index or sums one that no "
                "other operand or the output has; use torch.einsum for it")
    return ins, out


class _Einsum(torch.autograd.Function):
    """torch.einsum forward; backward: one einsum per operand that needs a gradient."""

    @staticmethod
    def forward(ctx, equation: str, *operands: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = torch.einsum(equation, *operands)
        ctx.equation = equation
        # under autocast the product ran in the output's dtype: differentiate in it too
        ctx.save_for_backward(*(o if o.dtype == out.dtype else o.to(out.dtype) for o in operands))
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        ins, out = _parse(ctx.equation)
        ops = ctx.saved_tensors
        grads: list[torch.Tensor | None] = [None]  # the equation
        for i, need in enumerate(ctx.needs_input_grad[1:]):
            if not need:
                grads.append(None)
                continue
            rest = ins[:i] + ins[i + 1:]
            grads.append(einsum(f"{','.join((out, *rest))}->{ins[i]}", grad, *ops[:i], *ops[i + 1:]))
        return tuple(grads)


def einsum(equation: str, *operands: torch.Tensor) -> torch.Tensor:
    """``torch.einsum(equation, *operands)``, differentiated by one einsum per operand (module
    docstring). ``equation`` is explicit (``"...->..."``)."""
    if (torch.is_grad_enabled() and any(o.requires_grad for o in operands)
            and not torch.jit.is_tracing() and not torch.compiler.is_compiling()):
        _parse(equation)
        return _Einsum.apply(equation, *operands)
    return torch.einsum(equation, *operands)
