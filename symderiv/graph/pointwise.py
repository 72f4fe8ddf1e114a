"""Elementwise functions of a tensor that are not activations: ``exp``, ``log``, ``sqrt``,
``rsqrt``, ``reciprocal`` and constant powers (``x ** c``, ``x.pow(c)``, ``torch.square``), as
hand-written normalizations use them (``x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)``).

One graph op, ``pointwise``, with the function named by its ``fn`` attribute (a registry:
:data:`POINTWISE`, each entry a value and a derivative as SymPy expressions).  Functions with a
restricted domain (``log``, ``sqrt``, ``rsqrt``, non-integer powers) are only ever *evaluated*
where the argument is positive: a random point where the argument is not positive cannot be
enclosed by the certifier and is skipped, never read as a refutation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp

from ..errors import UnsupportedError
from .ops import ZERO, _elementwise, _exp, _same_as_first, defop, defshape, defvjp, power

__all__ = ["PointwiseFn", "POINTWISE", "pointwise_fn"]


@dataclass(frozen=True)
class PointwiseFn:
    """``value(u, c)`` and ``derivative(u, c)`` (``c``: the exponent of ``pow``, else unused)."""

    name: str
    value: Callable[[sp.Expr, sp.Expr], sp.Expr]
    derivative: Callable[[sp.Expr, sp.Expr], sp.Expr]


def _log(u: sp.Expr) -> sp.Expr:
    return sp.log(u) if u.is_Number or u.is_Symbol else sp.log(u, evaluate=False)


POINTWISE: dict[str, PointwiseFn] = {f.name: f for f in (
    PointwiseFn("exp", lambda u, c: _exp(u), lambda u, c: _exp(u)),
    PointwiseFn("log", lambda u, c: _log(u), lambda u, c: power(u, sp.Integer(-1))),
    PointwiseFn("sqrt", lambda u, c: power(u, sp.Rational(1, 2)), lambda u, c: power(u, sp.Rational(-1, 2)) / 2),
    PointwiseFn("rsqrt", lambda u, c: power(u, sp.Rational(-1, 2)), lambda u, c: -power(u, sp.Rational(-3, 2)) / 2),
    PointwiseFn("reciprocal", lambda u, c: power(u, sp.Integer(-1)), lambda u, c: -power(u, sp.Integer(-2))),
    PointwiseFn("pow", lambda u, c: power(u, c), lambda u, c: c * power(u, c - 1) if c != 1 else sp.Integer(1)),
)}


def pointwise_fn(name: str) -> PointwiseFn:
    fn = POINTWISE.get(name)
    if fn is None:
        raise UnsupportedError(f"pointwise function {name!r} is not supported; supported: {', '.join(sorted(POINTWISE))}")
    return fn


def _forward(ins, at) -> np.ndarray:
    fn, c = pointwise_fn(at["fn"]), at.get("c", sp.Integer(1))
    return _elementwise(lambda u: fn.value(u, c), ins[0])


def _vjp(g, ins, out, at) -> list:
    fn, c = pointwise_fn(at["fn"]), at.get("c", sp.Integer(1))
    return [_elementwise(lambda gi, u: gi * fn.derivative(u, c) if gi != 0 else ZERO, g, ins[0])]


defop("pointwise", _forward, "exp, log, sqrt, rsqrt, reciprocal, x**c (exact constant c), elementwise")
defshape("pointwise", _same_as_first)
defvjp("pointwise", _vjp)
