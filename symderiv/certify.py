"""Certified evaluation: rigorous ball enclosures of SymPy expressions at exact points.

A witness or counterexample is only a certificate when the value that differs
from zero is *proved* to differ from zero.  :func:`enclose` evaluates
expressions with Arb ball arithmetic (``flint.arb`` from python-flint): every
operation and every elementary/special function returns a ball that provably
contains the exact result, so a difference whose ball excludes 0 is certified
nonzero.  A float that merely looks nonzero is never used as a certificate.

Arb replaces mpmath's ``iv`` intervals, whose ``exp`` misses the true value at a
few exact points in 10^5 (mpmath issue #1181) and which has no ``erf``.

Evaluation is an iterative, memoized walk of the expression DAG (no recursion,
so deep closed forms are fine; cost linear in the number of distinct nodes).
Points may hold exact rationals or balls (e.g. the parameters along a certified
training trajectory).  Two cancellation-prone shapes are rewritten on the fly:
``c + c·erf(u)`` (e.g. GELU's ``(1 + erf(u))/2``) is evaluated as ``c·erfc(−u)``
and ``c − c·erf(u)`` as ``c·erfc(u)``, and ``log(1 + X)`` as ``log1p(X)``, so
values far in a tail keep their relative accuracy.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from fractions import Fraction
from typing import Callable, Iterable, Iterator, Mapping

import sympy as sp
from flint import arb, ctx, fmpq, fmpz

from .activations import elu, leaky_relu, relu
from .activations import elu as _elu, leaky_relu as _leaky_relu, relu as _relu
from .enclosure import Enclosure
from .errors import SymderivError

__all__ = [
    "Uncertifiable", "enclose", "precision", "dps_to_bits", "interval", "endpoints", "exact_endpoints",
    "exact_fraction", "midpoint", "magnitude", "sign", "excludes_zero", "describe_interval", "enclosure", "to_interval",
]

Ball = arb


class Uncertifiable(SymderivError):
    """The enclosure is too wide to decide (e.g. a Heaviside argument straddles 0) or the
    expression holds something without a rigorous ball rule."""


# ---------------------------------------------------------------- precision
def dps_to_bits(dps: int) -> int:
    """Working precision in bits for ``dps`` decimal digits (mpmath's conversion, so
    ``dps`` keeps the meaning it had with mpmath)."""
    return max(1, int(round((int(dps) + 1) * 3.3219280948873626)))


@contextmanager
def precision(dps: int) -> Iterator[None]:
    """Ball arithmetic done outside :func:`enclose` (e.g. SGD updates) at ``dps`` digits;
    the previous precision is restored on exit, also when an exception escapes."""
    with ctx.workprec(dps_to_bits(dps)):
        yield


# ---------------------------------------------------------------- points
def _float_ball(mpf: tuple) -> Ball:
    sign, man, exp, _ = mpf
    if not man and exp:  # mpmath codes for ±inf / nan
        raise Uncertifiable("not a finite number")
    return arb((-int(man) if sign else int(man), int(exp)))  # exact: no rounding of the binary value


def to_interval(value: object) -> Ball:
    """An exact point as an Arb ball (rationals are enclosed rigorously at the current
    precision, integers and binary floats exactly); a ball is returned unchanged."""
    if isinstance(value, arb):
        return value
    if isinstance(value, bool):
        raise Uncertifiable(f"not a number: {value!r}")
    if isinstance(value, int):
        return arb(fmpz(value))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise Uncertifiable(f"not a finite number: {value!r}")
        return arb(value)  # a double is a dyadic rational: exact
    if isinstance(value, Fraction):
        return arb(fmpq(value.numerator, value.denominator))
    if isinstance(value, (fmpz, fmpq)):
        return arb(value)
    if isinstance(value, sp.Integer):
        return arb(fmpz(int(value.p)))
    if isinstance(value, sp.Rational):
        return arb(fmpq(int(value.p), int(value.q)))
    if isinstance(value, sp.Float):
        return _float_ball(value._mpf_)
    if isinstance(value, sp.Basic) and value.is_number:
        return _eval(value, {}, {}, {})
    raise Uncertifiable(f"cannot enclose {value!r}")


# ---------------------------------------------------------------- node rules
def _positive(x: Ball, what: str) -> Ball:
    if not x > 0:
        raise Uncertifiable(f"{what} of a ball reaching 0 or below")
    return x


def _pow(base: Ball, exponent: sp.Expr, exponent_ball: Ball) -> Ball:
    if exponent.is_Integer:
        return base ** int(exponent)  # exact repeated squaring with outward rounding
    if base.is_zero() and exponent.is_positive:
        return arb(0)
    _positive(base, "a non-integer power")
    if exponent.is_Rational:
        p, q = int(exponent.p), int(exponent.q)
        root = base.sqrt() if q == 2 else base.root(q)
        return root ** p
    return (exponent_ball * base.log()).exp()


def _heaviside(arg: Ball, h0: Ball | None = None) -> Ball:
    if arg > 0:
        return arb(1)
    if arg < 0:
        return arb(0)
    if arg.is_zero():
        return arb(fmpq(1, 2)) if h0 is None else h0
    raise Uncertifiable("a Heaviside (kink) argument straddles 0")


def _dirac(arg: Ball, *order: Ball) -> Ball:
    if arg > 0 or arg < 0:  # δ and its derivatives vanish away from 0
        return arb(0)
    raise Uncertifiable("a DiracDelta argument reaches 0")


def _sign(x: Ball) -> Ball:
    if x > 0:
        return arb(1)
    if x < 0:
        return arb(-1)
    if x.is_zero():
        return arb(0)
    raise Uncertifiable("the sign of a ball straddling 0")


def _max(*args: Ball) -> Ball:
    out = args[0]
    for a in args[1:]:
        out = out.max(a)  # arb_max: rigorous also for overlapping balls
    return out


def _min(*args: Ball) -> Ball:
    out = args[0]
    for a in args[1:]:
        out = out.min(a)
    return out


def _sum(args: list) -> Ball:
    total = args[0]
    for a in args[1:]:
        total = total + a
    return total


def _product(args: list) -> Ball:
    total = args[0]
    for a in args[1:]:
        total = total * a
    return total


# Function classes -> rule on the balls of the arguments.  Every entry is Arb's own
# rigorous implementation (or an exact case split); extend this registry, not an if-chain.
_FUNCTIONS: dict[type, Callable[..., Ball]] = {
    sp.exp: arb.exp,
    sp.log: lambda x: _positive(x, "logarithm").log(),
    sp.tanh: arb.tanh,
    sp.sinh: arb.sinh,
    sp.cosh: arb.cosh,
    sp.sech: arb.sech,
    sp.erf: arb.erf,
    sp.erfc: arb.erfc,
    sp.sin: arb.sin,
    sp.cos: arb.cos,
    sp.atan: arb.atan,
    sp.asinh: arb.asinh,
    sp.Abs: abs,
    sp.sign: _sign,
    sp.Heaviside: _heaviside,
    sp.DiracDelta: _dirac,
    sp.Max: _max,
    sp.Min: _min,
    # symderiv's kinked activations (symderiv.activations): arb's max/min, rigorous for any ball
    relu: lambda z: z.max(arb(0)),
    leaky_relu: lambda z, slope: z.max(arb(0)) + slope * z.min(arb(0)),
    elu: lambda z, alpha: z.max(arb(0)) + alpha * (z.min(arb(0)).exp() - 1),
}

def _piecewise(right: Callable[..., Ball], left: Callable[..., Ball]) -> Callable[..., Ball]:
    """A rule for a function with one kink at 0 (``right`` for z >= 0, ``left`` for z <= 0,
    equal at 0): the branch when the ball is on one side, else the union of both branch
    enclosures, which holds every value the function takes on the ball."""

    def rule(z: Ball, *params: Ball) -> Ball:
        if z >= 0:
            return right(z, *params)
        if z <= 0:
            return left(z, *params)
        return right(z, *params).union(left(z, *params))

    return rule


# the cheap piecewise activation classes of .activations (relu, leaky_relu, elu)
_FUNCTIONS.update({
    _relu: _piecewise(lambda z: z, lambda z: arb(0)),
    _leaky_relu: _piecewise(lambda z, slope: z, lambda z, slope: slope * z),
    _elu: _piecewise(lambda z, alpha: z, lambda z, alpha: alpha * z.expm1()),
})

_CONSTANTS: dict[sp.Basic, Callable[[], Ball]] = {
    sp.pi: arb.pi,
    sp.E: arb.const_e,
    sp.EulerGamma: arb.const_euler,
    sp.Catalan: arb.const_catalan,
}


def _function_rule(cls: type) -> Callable[..., Ball] | None:
    rule = _FUNCTIONS.get(cls)
    if rule is None:
        for base in cls.__mro__[1:]:
            if base in _FUNCTIONS:
                return _FUNCTIONS[base]
    return rule


# ---------------------------------------------------------------- tail rewrites (plans)
def _erf_term(term: sp.Basic) -> tuple[sp.Expr, sp.Expr] | None:
    """``(k, u)`` when ``term`` is ``k·erf(u)`` with a numeric ``k``."""
    if isinstance(term, sp.erf):
        return sp.Integer(1), term.args[0]
    if term.is_Mul and len(term.args) == 2 and term.args[0].is_Number and isinstance(term.args[1], sp.erf):
        return term.args[0], term.args[1].args[0]
    return None


def _add_plan(node: sp.Add) -> tuple | None:
    """For ``c + k·erf(u) + rest`` with ``k = ±c``: the terms ``(rest, k, ±1, u)`` so the
    pair is evaluated as ``k·erfc(−u)`` (k = c) or ``−k·erfc(u)`` (k = −c): adding 1 to
    erf(u) ≈ −1 would cancel every digit of the ball."""
    c = node.args[0]
    if not c.is_Number:
        return None
    for i, term in enumerate(node.args[1:], 1):
        found = _erf_term(term)
        if found is None:
            continue
        k, u = found
        if k == c:
            return (node.args[1:i] + node.args[i + 1:], k, 1, u)
        if k == -c:
            return (node.args[1:i] + node.args[i + 1:], k, -1, u)
    return None


def _log_plan(node: sp.log) -> tuple | None:
    """``log(1 + X)`` -> ``log1p(X)``: keeps relative accuracy when X is tiny (softplus, log-sum-exp)."""
    arg = node.args[0]
    if len(node.args) == 1 and arg.is_Add and arg.args[0] == 1:
        return (arg.args[1:],)
    return None


def _children(node: sp.Basic, plans: dict) -> tuple:
    kind = type(node)
    if kind is sp.Mul or kind is sp.Pow:
        return node.args
    if node.is_Add:
        plan = _add_plan(node)
        if plan is not None:
            plans[node] = plan
            return plan[0] + (plan[1], plan[3])
    elif isinstance(node, sp.log):
        plan = _log_plan(node)
        if plan is not None:
            plans[node] = plan
            return plan[0]
    return node.args


def _planned(node: sp.Basic, plan: tuple, cache: dict) -> Ball:
    if node.is_Add:
        rest, k, side, u = plan
        uu = cache[u]
        pair = cache[k] * (-uu).erfc() if side == 1 else -cache[k] * uu.erfc()
        return _sum([cache[t] for t in rest] + [pair])
    x = _sum([cache[t] for t in plan[0]])
    if not x > -1:
        raise Uncertifiable("logarithm of a ball reaching 0 or below")
    return x.log1p()


# ---------------------------------------------------------------- evaluation
def enclose(exprs: Iterable[sp.Expr], values: Mapping[sp.Symbol, object], dps: int = 40,
            definitions: Mapping[sp.Symbol, sp.Expr] | None = None) -> list[Ball]:
    """Rigorous Arb ball enclosures of ``exprs`` at the point ``values`` (symbol -> exact value or ball).

    ``dps`` is the working precision in decimal digits.  ``definitions``
    (abbreviation symbol -> expression, in dependency order) are evaluated first,
    so abbreviated expressions are enclosed as if expanded.  Raises
    :class:`Uncertifiable` when a kink cannot be decided at this precision or a
    node has no ball rule.
    """
    exprs = list(exprs)
    cache: dict[sp.Basic, Ball] = {}
    plans: dict[sp.Basic, tuple] = {}
    with ctx.workprec(dps_to_bits(dps)):
        points = {s: to_interval(v) for s, v in values.items()}
        for sym, expr in (definitions or {}).items():
            points[sym] = _eval(expr, points, cache, plans)
        return [_eval(e, points, cache, plans) for e in exprs]


def _eval(root: sp.Basic, points: Mapping, cache: dict, plans: dict) -> Ball:
    # iterative post-order walk with memoization: deep expressions, no recursion limit;
    # each distinct node is expanded once and evaluated once
    stack: list[tuple[sp.Basic, bool]] = [(root, False)]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        node, ready = pop()
        if node in cache:
            continue
        if not ready and node.args and not node.is_Number:
            push((node, True))
            extend([(a, False) for a in _children(node, plans) if a not in cache])
            continue
        cache[node] = _node(node, points, cache, plans)
    return cache[root]


def _node(node: sp.Basic, points: Mapping, cache: dict, plans: dict) -> Ball:
    kind = type(node)
    if kind is sp.Mul:  # the common kinds first, by exact type
        return _product([cache[a] for a in node.args])
    if kind is sp.Add:
        plan = plans.get(node)
        return _planned(node, plan, cache) if plan is not None else _sum([cache[a] for a in node.args])
    if kind is sp.Pow:
        base, exponent = node.args
        return _pow(cache[base], exponent, cache[exponent])
    if node.is_Symbol:
        if node not in points:
            raise Uncertifiable(f"no value for the symbol {node}")
        return points[node]
    if node.is_Number:
        if node.is_Rational or node.is_Float:
            return to_interval(node)
        raise Uncertifiable(f"no ball rule for the number {node}")
    if node.is_NumberSymbol:
        constant = _CONSTANTS.get(node)
        if constant is None:
            raise Uncertifiable(f"no ball rule for the constant {node}")
        return constant()
    plan = plans.get(node)
    if plan is not None:
        return _planned(node, plan, cache)
    if node.is_Add:
        return _sum([cache[a] for a in node.args])
    if node.is_Mul:
        return _product([cache[a] for a in node.args])
    if node.is_Pow:
        return _pow(cache[node.args[0]], node.args[1], cache[node.args[1]])
    rule = _function_rule(kind)
    if rule is None:
        raise Uncertifiable(f"no ball rule for {kind.__name__}")
    return rule(*[cache[a] for a in node.args])


# ---------------------------------------------------------------- reading balls
def excludes_zero(x: Ball) -> bool:
    """True when the ball is proved not to contain 0 (never for NaN / infinite balls)."""
    return bool(x > 0 or x < 0)


def sign(x: Ball) -> int | None:
    """+1 / −1 when certified, 0 for the exact point 0, None when undecided."""
    if x > 0:
        return 1
    if x < 0:
        return -1
    if x.is_zero():
        return 0
    return None


_MAX_EXPONENT = 1 << 20  # exact fractions beyond 2^±2^20 would be megabytes of digits


def _dyadic(x: Ball) -> Fraction | None:
    """The exact value of an exact, finite ball (a dyadic rational), else None."""
    if not (x.is_exact() and x.is_finite()):
        return None
    mantissa, exponent = x.man_exp()
    man, exp = int(mantissa), int(exponent)
    if abs(exp) > _MAX_EXPONENT:
        return None
    return Fraction(man << exp) if exp >= 0 else Fraction(man, 1 << -exp)


def exact_fraction(x: Ball) -> Fraction | None:
    """The exact value of a ball of radius 0 as a :class:`~fractions.Fraction` (Arb
    midpoints are dyadic rationals), or None when the ball has a radius or is not finite."""
    return _dyadic(x)


def exact_endpoints(x: Ball) -> tuple[Fraction, Fraction] | None:
    """The exact endpoints ``mid ∓ rad`` of a finite ball as Fractions, else None."""
    if not x.is_finite():
        return None
    mid, rad = _dyadic(x.mid()), _dyadic(x.rad())
    if mid is None or rad is None:
        return None
    return mid - rad, mid + rad


def endpoints(x: Ball):
    """The endpoints of a ball as plain (non-interval) mpmath floats holding their exact
    binary values (the type callers of the mpmath-based version used)."""
    import mpmath  # only for this legacy return type; nothing certified is computed with it

    lo, hi = x.lower(), x.upper()
    bits = 64
    for v in (lo, hi):
        if v.is_finite():
            bits = max(bits, int(v.man_exp()[0]).bit_length() + 8)
    with mpmath.workprec(bits):
        return +mpmath.mpf(lo._mpf_), +mpmath.mpf(hi._mpf_)


def midpoint(x: Ball) -> float:
    """The midpoint of a ball as the nearest float (NaN for a NaN ball)."""
    return float(x.mid())


def magnitude(x: Ball) -> float:
    """An upper bound of ``|x|`` as a float, ``inf`` for unbounded or NaN balls; never raises."""
    if not x.is_finite():
        return float("inf")
    bound = float(x.abs_upper())
    return bound if bound == bound else float("inf")


def _man_exp(x: Ball) -> tuple[int, int]:
    """``(man, exp)`` with ``x = man·2^exp`` for an exact, finite ball."""
    man, exp = x.man_exp()
    return int(man), int(exp)


_LOG10_2 = 0.30102999566398120


@lru_cache(maxsize=256)
def _pow10(k: int) -> int:
    return 10 ** k


def _floor_int(a: Ball) -> int:
    """``floor`` of an exact, finite ball."""
    man, exp = _man_exp(a)
    return man << exp if exp >= 0 else man >> -exp


def _scaled(m: int, exp: int, k: int, mode: str) -> int:
    """``m·2^exp·10^k`` (``m > 0``) rounded to an integer: to nearest, or down/up."""
    if abs(k) <= 400:  # exact integer arithmetic
        if k >= 0 and exp < 0:  # the common case (fractional values): a shift, no division
            num, den = m * _pow10(k), 1 << -exp
            q = num >> -exp
            r = num - (q << -exp)
        else:
            num = m * _pow10(max(k, 0)) << max(exp, 0)
            den = _pow10(max(-k, 0)) << max(-exp, 0)
            q, r = divmod(num, den)
        return q + (bool(r) and {"nearest": 2 * r >= den, "floor": False, "ceil": True}[mode])
    # far from 1 (e.g. 1e-22000 from saturated units): 10^k exactly would be a huge integer;
    # an Arb ball of the product bounds it rigorously, so the directed roundings stay outward
    with ctx.workprec(4 * _bitlen(k) + 160):
        scaled = arb((m, exp)) * arb(10) ** k
        if mode == "floor":
            return _floor_int(scaled.lower())
        if mode == "ceil":
            return -_floor_int(-scaled.upper())
        return _floor_int((scaled + arb(fmpq(1, 2))).mid())


def _bitlen(k: int) -> int:
    return max(64, abs(k).bit_length() + 64)


def _decimal(man: int, exp: int, digits: int, rounding: str = "nearest") -> str:
    """``man·2^exp`` as a decimal with ``digits`` significant digits, rounded to nearest or
    directed (``"floor"``/``"ceil"`` of the signed value), in ``%g`` style.

    Integer arithmetic on a truncated mantissa: the ball midpoints of a 10^4-bit
    trajectory would make Fraction/Decimal conversions quadratic.  Directed roundings
    are never inward (they may be one unit in the last digit wider than the tightest)."""
    if man == 0:
        return "0"
    negative, m = man < 0, abs(man)
    mode = {"floor": "ceil", "ceil": "floor"}.get(rounding, rounding) if negative else rounding  # on |v|
    extra = m.bit_length() - (4 * digits + 64)
    if extra > 0:  # drop excess mantissa bits, rounding |v| in the requested direction
        m = -((-m) >> extra) if mode == "ceil" else m >> extra
        exp += extra
    e10 = int((m.bit_length() + exp) * _LOG10_2)  # within 1 of floor(log10 |v|)
    for _ in range(4):  # find the scale from the value rounded down, then round once
        k = digits - 1 - e10  # scale so that |v|·10^k has `digits` digits before the point
        low = _scaled(m, exp, k, "floor")
        if low >= _pow10(digits):
            e10 += 1
        elif low < _pow10(digits - 1):
            e10 -= 1
        else:
            break
    q = low if mode == "floor" else _scaled(m, exp, k, mode)
    full = str(q)
    text = full.rstrip("0") or "0"
    point = len(full) - 1 - k  # decimal exponent of the leading digit
    if -5 <= point < digits:
        if point >= 0:
            whole = text.ljust(point + 1, "0")
            out = whole[:point + 1] + ("." + whole[point + 1:] if len(whole) > point + 1 else "")
        else:
            out = "0." + "0" * (-point - 1) + text
    else:
        out = text[0] + ("." + text[1:] if len(text) > 1 else "") + f"e{point:+03d}"
    return ("-" if negative else "") + out


def _not_finite(x: Ball) -> str:
    return "nan" if x.mid().is_nan() else "inf"  # plain tokens: the LaTeX layer parses these strings


def interval(x: Ball) -> tuple[str, str]:
    """The endpoints as decimal strings (for JSON), rounded outward to 20 digits."""
    if not x.is_finite():
        return ("nan", "nan") if x.mid().is_nan() else ("-inf", "inf")
    return _decimal(*_man_exp(x.lower()), 20, "floor"), _decimal(*_man_exp(x.upper()), 20, "ceil")


def enclosure(x: Ball, digits: int = 12) -> Enclosure:
    """The certified value of a ball as a typed record: the exact value ``p/q`` for a ball of
    radius 0 (``-3/8``, ``5``; radius None), else the midpoint rounded to ``digits`` digits and the
    radius rounded up (``0.123456789012``, ``1.2e-38``); ``nan`` / ``inf`` (radius None) when not
    finite.  ``str()`` of it is :func:`describe_interval`."""
    if not x.is_finite():
        return Enclosure(_not_finite(x))
    mid = _man_exp(x.mid())
    if x.is_exact():
        if abs(mid[1]) + mid[0].bit_length() <= 150:  # short enough to print as a fraction
            text = str(_dyadic(x))
            if len(text) <= 48:
                return Enclosure(text)
        return Enclosure(_decimal(*mid, digits), "0")  # exact, but too long as a fraction: midpoint rounded
    return Enclosure(_decimal(*mid, digits), _decimal(*_man_exp(x.rad()), 2, "ceil"))


def describe_interval(x: Ball, digits: int = 12) -> str:
    """A short deterministic form of an enclosure (the text of :func:`enclosure`): the exact value
    ``p/q`` for a ball of radius 0 (``-3/8``, ``5``), else ``0.123456789012 (±1.2e-38)``: the midpoint
    rounded to ``digits`` digits and the radius rounded up (``nan`` / ``inf`` when not finite)."""
    return str(enclosure(x, digits))
