"""Certified evaluation: rigorous interval enclosures of SymPy expressions at exact points.

A witness or counterexample is only a certificate when the value that differs
from zero is *proved* to differ from zero.  :func:`enclose` evaluates
expressions with mpmath's interval arithmetic (outward rounding at every step,
so the exact value always lies in the interval); a difference whose interval
excludes 0 is certified nonzero.  A float that merely looks nonzero is never
used as a certificate.

Evaluation is memoized over the expression DAG, so deep closed forms with
shared sub-expressions cost time linear in their number of distinct nodes.
Points may hold exact rationals or intervals (e.g. the parameters along a
certified training trajectory).
"""
from __future__ import annotations

from contextlib import contextmanager
from fractions import Fraction
from typing import Callable, Iterable, Mapping

import mpmath
import sympy as sp
from mpmath import iv

from .errors import SymderivError

__all__ = [
    "Uncertifiable", "enclose", "precision", "interval", "endpoints", "sign", "excludes_zero", "describe_interval", "to_interval",
]


class Uncertifiable(SymderivError):
    """The enclosure is too wide to decide (e.g. a Heaviside argument straddles 0) or the
    expression holds something without a rigorous interval rule."""


def to_interval(value: object):
    """An exact point as an mpmath interval (rationals are enclosed rigorously)."""
    if isinstance(value, iv.mpf):
        return value
    if isinstance(value, bool):
        raise Uncertifiable(f"not a number: {value!r}")
    if isinstance(value, int):
        return iv.mpf(value)
    if isinstance(value, Fraction):
        return iv.mpf(value.numerator) / value.denominator
    if isinstance(value, sp.Integer):
        return iv.mpf(int(value))
    if isinstance(value, sp.Rational):
        return iv.mpf(int(value.p)) / int(value.q)
    if isinstance(value, sp.Float):
        return iv.mpf(mpmath.mpf(value._mpf_))
    if isinstance(value, sp.Basic) and value.is_number:
        return enclose([value], {})[0]
    raise Uncertifiable(f"cannot enclose {value!r}")


def _pow(base, exponent: sp.Expr):
    if exponent.is_Integer:
        n = int(exponent)
        if n >= 0:
            return base ** n
        return 1 / (base ** (-n))
    if exponent == sp.Rational(1, 2):
        if base.a < 0:
            raise Uncertifiable("square root of an interval reaching below 0")
        return iv.sqrt(base)
    if base.a <= 0:
        raise Uncertifiable("non-integer power of an interval reaching 0 or below")
    return iv.exp(to_interval(exponent) * iv.log(base))


def _heaviside(arg, h0):
    if arg.a > 0:
        return iv.mpf(1)
    if arg.b < 0:
        return iv.mpf(0)
    if arg.a == 0 and arg.b == 0:
        return h0
    raise Uncertifiable("a Heaviside (kink) argument straddles 0")


def _tanh(x):
    # tanh x = 1 − 2/(e^{2x} + 1): each operation rounds outward, so the result encloses tanh x
    t = 1 - 2 / (iv.exp(2 * x) + 1)
    return iv.mpf([max(t.a, -1), min(t.b, 1)])


def _monotone(fn: Callable) -> Callable:
    """An enclosure of an increasing function without an interval implementation in mpmath.

    The endpoints are evaluated with 30 guard digits and widened by a margin far
    above mpmath's error at that precision (it is accurate to a few ulps)."""

    def enclosure(x):
        with mpmath.workdps(iv.dps + 30):
            lo, hi = fn(mpmath.mpf(x.a)), fn(mpmath.mpf(x.b))
            pad = mpmath.mpf(10) ** (-(iv.dps + 10))
            return iv.mpf([lo - pad * (1 + abs(lo)), hi + pad * (1 + abs(hi))])

    return enclosure


def _abs(x):
    if x.a >= 0:
        return x
    if x.b <= 0:
        return -x
    return iv.mpf([0, max(-x.a, x.b)])


def _sign(x):
    if x.a > 0:
        return iv.mpf(1)
    if x.b < 0:
        return iv.mpf(-1)
    if x.a == 0 and x.b == 0:
        return iv.mpf(0)
    raise Uncertifiable("the sign of an interval straddling 0")


def _log(x):
    if x.a <= 0:
        raise Uncertifiable("logarithm of an interval reaching 0 or below")
    return iv.log(x)


_FUNCTIONS: dict[type, Callable] = {
    sp.exp: iv.exp,
    sp.log: _log,
    sp.tanh: _tanh,
    sp.sinh: lambda x: (iv.exp(x) - iv.exp(-x)) / 2,
    sp.cosh: lambda x: (iv.exp(x) + iv.exp(-x)) / 2,
    sp.erf: _monotone(mpmath.erf),
    sp.sin: iv.sin,
    sp.cos: iv.cos,
    sp.Abs: _abs,
    sp.sign: _sign,
}


@contextmanager
def precision(dps: int):
    """Interval arithmetic done outside :func:`enclose` (e.g. SGD updates) at ``dps`` digits."""
    saved = iv.prec
    iv.dps = dps
    try:
        yield
    finally:
        iv.prec = saved


def enclose(exprs: Iterable[sp.Expr], values: Mapping[sp.Symbol, object], dps: int = 40,
            definitions: Mapping[sp.Symbol, sp.Expr] | None = None) -> list:
    """Rigorous interval enclosures of ``exprs`` at the point ``values`` (symbol -> exact value or interval).

    ``definitions`` (abbreviation symbol -> expression, in dependency order) are
    evaluated first, so abbreviated expressions are enclosed as if expanded.
    Raises :class:`Uncertifiable` when a kink cannot be decided at this
    precision or a node has no interval rule.
    """
    exprs = list(exprs)
    cache: dict[sp.Basic, object] = {}
    saved = iv.prec
    iv.dps = dps
    try:
        points = {s: to_interval(v) for s, v in values.items()}
        for sym, expr in (definitions or {}).items():
            points[sym] = _eval(expr, points, cache)
        return [_eval(e, points, cache) for e in exprs]
    finally:
        iv.prec = saved


def _eval(root: sp.Basic, points: Mapping, cache: dict) -> object:
    # iterative post-order walk with memoization: deep expressions, no recursion limit
    stack: list[tuple[sp.Basic, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        if node in cache:
            continue
        if not ready and node.args and not node.is_Number:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in cache)
            continue
        cache[node] = _node(node, points, cache)
    return cache[root]


def _node(node: sp.Basic, points: Mapping, cache: dict) -> object:
    if node.is_Symbol:
        if node not in points:
            raise Uncertifiable(f"no value for the symbol {node}")
        return points[node]
    if node.is_Number:
        if node.is_Rational or node.is_Float:
            return to_interval(node)
        raise Uncertifiable(f"no interval rule for the number {node}")
    if node is sp.pi:
        return iv.pi
    if node is sp.E:
        return iv.e
    args = [cache[a] for a in node.args] if not isinstance(node, sp.Heaviside) else None
    if node.is_Add:
        total = args[0]
        for a in args[1:]:
            total = total + a
        return total
    if node.is_Mul:
        total = args[0]
        for a in args[1:]:
            total = total * a
        return total
    if node.is_Pow:
        return _pow(cache[node.args[0]], node.args[1])
    if isinstance(node, sp.Heaviside):
        h0 = node.args[1] if len(node.args) > 1 else sp.Rational(1, 2)
        return _heaviside(cache[node.args[0]], cache[h0] if h0 in cache else to_interval(h0))
    if isinstance(node, sp.Max):
        return iv.mpf([max(a.a for a in args), max(a.b for a in args)])
    if isinstance(node, sp.Min):
        return iv.mpf([min(a.a for a in args), min(a.b for a in args)])
    for cls, fn in _FUNCTIONS.items():
        if isinstance(node, cls):
            return fn(*args)
    raise Uncertifiable(f"no interval rule for {type(node).__name__}")


def endpoints(x) -> tuple[mpmath.mpf, mpmath.mpf]:
    """The endpoints of an interval as plain mpmath floats."""
    lo, hi = x._mpi_
    with mpmath.workprec(max(iv.prec, 53) * 4):  # exact: no rounding of the endpoints
        return +mpmath.mpf(lo), +mpmath.mpf(hi)


def excludes_zero(x) -> bool:
    """True when the interval is proved not to contain 0."""
    return bool(x.a > 0 or x.b < 0)


def sign(x) -> int | None:
    """+1 / −1 when certified, 0 for the exact point 0, None when undecided."""
    if x.a > 0:
        return 1
    if x.b < 0:
        return -1
    if x.a == 0 and x.b == 0:
        return 0
    return None


def interval(x) -> tuple[str, str]:
    """The endpoints as decimal strings (for JSON)."""
    lo, hi = endpoints(x)
    return (mpmath.nstr(lo, 20), mpmath.nstr(hi, 20))


def describe_interval(x, digits: int = 12) -> str:
    """A short decimal form of an enclosure: ``0.1234567 (±1e-38)`` or ``0`` for a point."""
    lo, hi = endpoints(x)
    if lo == hi:
        return mpmath.nstr(lo, digits)
    mid, rad = (lo + hi) / 2, (hi - lo) / 2
    return f"{mpmath.nstr(mid, digits)} (±{mpmath.nstr(rad, 2)})"
