"""Deciding what an engine computation on a window shows, soundly and in bounded time.

The window expressions are small (one block, a handful of symbols), so every decision here is cheap:

* :func:`structural_zero` - SymPy's canonical form is literally 0 (no simplification: a zero that needs
  one is not claimed);
* :func:`identity` - ``lhs − rhs`` expands to 0 (polynomial identities in the window's symbols; the
  activation's ``f``, ``f'`` are kept as the same sub-expressions on both sides);
* :func:`nonzero_number` - an exact closed number certified nonzero by interval arithmetic;
* :func:`nonzero_at` - an expression certified nonzero at an exact rational point (Arb enclosures).

Each returns an :class:`~symderiv.depth.statement.EngineCheck` carrying the computed closed form.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import sympy as sp

from ..certify import Uncertifiable, enclose, excludes_zero
from ..latex.printer import latex
from .statement import EngineCheck

__all__ = ["structural_zero", "identity", "nonzero_number", "nonzero_at", "analytic", "KINKED_FUNCTIONS", "math_tex",
           "MAX_LINE_CHARS"]

#: a computed closed form wider than this (symbols on the page) is not displayed in LaTeX (the JSON has it)
MAX_LINE_CHARS = 80

#: the notation of symderiv's plain-text formulas, in LaTeX math
_MATH = {"δ": r"\delta ", "α": r"\alpha ", "β": r"\beta ", "∂": r"\partial ", "ℓ": r"\ell ", "−": "-",
         "·": r"\cdot ", "≠": r"\neq ", "Σ": r"\Sigma ", "≤": r"\le ", "≥": r"\ge ", "ᵀ": r"^\top ",
         "₁": "_1", "≡": r"\equiv "}

#: sub-expressions that make an activation's derivative non-analytic (or discontinuous)
KINKED_FUNCTIONS = (sp.Heaviside, sp.Piecewise, sp.Abs, sp.Max, sp.Min, sp.sign, sp.DiracDelta)


def _text(exprs: Sequence[sp.Expr]) -> str:
    return "; ".join(sp.sstr(e) for e in exprs)


def math_tex(text: str) -> str:
    """One of symderiv's plain-text formulas (``δ^(l+1)``, ``∂ℓ/∂W^(L)_{1,j}``, ``f'(0)·n``) as LaTeX math."""
    import re

    text = re.sub(r"\^\(([^()]*)\)", r"^{(\1)}", text)
    return "".join(_MATH.get(ch, ch) for ch in text)


def _line(expr: sp.Expr) -> str:
    from ..graph.latex import _visual

    tex = latex(expr)
    if _visual(tex) > MAX_LINE_CHARS:
        return r"\text{(a closed form of %d symbols on the page; see the JSON)}" % _visual(tex)
    return tex


def _tex(exprs: Sequence[sp.Expr]) -> str:
    """The closed forms as the lines of a ``gather*``."""
    return r" \\ ".join(_line(e) for e in exprs)


def structural_zero(cid: str, claim: str, exprs: Sequence[sp.Expr], shown: Sequence[sp.Expr] | None = None) -> EngineCheck:
    """Every expression of ``exprs`` is literally 0 (``shown``: what to print, default ``exprs``)."""
    exprs = list(exprs)
    display = list(shown if shown is not None else exprs)
    tex = (r"\text{each of the %d computed closed forms is } 0" % len(display) if all(e == 0 for e in display)
           else _tex(display))
    return EngineCheck(cid, claim, _text(display), tex, all(e == 0 for e in exprs), "structural")


def identity(cid: str, claim: str, lhs: sp.Expr, rhs: sp.Expr, name: str) -> EngineCheck:
    """``lhs ≡ rhs`` by expansion; printed as ``name = lhs``."""
    holds = lhs == rhs or sp.expand(lhs - rhs) == 0
    return EngineCheck(cid, claim, f"{name} = {sp.sstr(lhs)}", f"{math_tex(name)} = {_line(lhs)}", bool(holds),
                       "structural" if lhs == rhs else "expansion")


def nonzero_number(cid: str, claim: str, value: sp.Expr, name: str) -> EngineCheck:
    """``value`` is a closed number, certified nonzero (interval arithmetic)."""
    holds = False
    if value.is_number and not value.free_symbols:
        try:
            holds = excludes_zero(enclose([value], {}, dps=40)[0])
        except Uncertifiable:
            holds = False
    return EngineCheck(cid, claim, f"{name} = {sp.sstr(value)}", f"{math_tex(name)} = {_line(value)}", holds, "exact")


def nonzero_at(cid: str, claim: str, expr: sp.Expr, point: Mapping[sp.Symbol, sp.Rational], name: str) -> EngineCheck:
    """``expr`` certified nonzero at the exact ``point`` (every free symbol of ``expr`` must be given)."""
    holds = False
    if expr.free_symbols <= set(point):
        try:
            holds = excludes_zero(enclose([expr], point, dps=60)[0])
        except Uncertifiable:
            holds = False
    at = ", ".join(f"{s} = {point[s]}" for s in sorted(expr.free_symbols, key=str))
    pairs = [f"{latex(s)} = {latex(point[s])}" for s in sorted(expr.free_symbols, key=str)]
    where = r" \\ ".join(r",\ ".join(pairs[i:i + 6]) for i in range(0, len(pairs), 6))
    return EngineCheck(cid, claim, f"{name} = {sp.sstr(expr)} ≠ 0 at {at}",
                       f"{math_tex(name)} = {_line(expr)} \\neq 0 \\\\ \\text{{at }} " + where, holds, "exact")


def analytic(derivative: sp.Expr) -> bool:
    """Whether an activation's derivative is built from analytic functions only (no kink, no piecewise)."""
    from ..activations import PIECEWISE_FUNCTIONS

    bad = KINKED_FUNCTIONS + tuple(PIECEWISE_FUNCTIONS)
    return not any(derivative.has(f) for f in bad)
