"""A LaTeX printer that writes symderiv's symbols the way a mathematician would.

symderiv names its symbols in plain ASCII so that they survive ``str`` and
JSON: data ``x_1``, labels ``y_2``, generic entries ``W1_2_3`` and ``b2_1``,
the prover's class symbols ``w2`` / ``b3`` (one symbol for a whole parameter)
and ``t_4`` (any other tie class), widths ``n``.  :class:`SymderivLatexPrinter`
prints them as ``x_{1}``, ``y_{2}``, ``W^{(1)}_{2,3}``, ``b^{(2)}_{1}``,
``w^{(2)}``, ``b^{(3)}``, ``\\theta_{4}`` and ``n``.  The names are recognized by
a small registry of patterns (:data:`SYMBOL_RULES`), one line per kind of
symbol; anything else falls back to SymPy's own printing.

The kink convention is visible in the output: ``Heaviside(z, a)`` prints as
``\\operatorname{H}_{a}(z)``, the unit step whose value at 0 is ``a``.
"""
from __future__ import annotations

import re
from typing import Any, Callable

import sympy as sp
from sympy.printing.latex import LatexPrinter

from ..errors import InvalidArgument, check_argument

__all__ = ["SymderivLatexPrinter", "latex", "SYMBOL_RULES", "TexSymbol"]


class TexSymbol(sp.Symbol):
    """A placeholder symbol whose name *is* its LaTeX form (``h^{(1)}_{1..3}``).

    The proof document uses these for the quantities of the recursion
    (``z``, ``h``, ``δ`` of a unit class) so that formulas can refer to them.
    """

    def _latex(self, printer: LatexPrinter) -> str:
        return self.name


# ---------------------------------------------------------------- the symbol registry
SymbolRule = Callable[["SymderivLatexPrinter", re.Match], str]

#: ``(pattern, rule)`` pairs tried in order on a symbol's name; the first full match prints it.
SYMBOL_RULES: list[tuple[re.Pattern, SymbolRule]] = []


def symbol_rule(pattern: str) -> Callable[[SymbolRule], SymbolRule]:
    """Register ``rule`` for symbol names that fully match ``pattern``."""

    def register(rule: SymbolRule) -> SymbolRule:
        SYMBOL_RULES.append((re.compile(pattern), rule))
        return rule

    return register


@symbol_rule(r"x_(\d+)")
def _data(p: "SymderivLatexPrinter", m: re.Match) -> str:
    return f"x_{{{p.index(m[1])}}}"


@symbol_rule(r"y_(\d+)")
def _label(p: "SymderivLatexPrinter", m: re.Match) -> str:
    return f"y_{{{p.index(m[1])}}}"


@symbol_rule(r"W(\d+)_(\d+)_(\d+)")
def _weight_entry(p: "SymderivLatexPrinter", m: re.Match) -> str:
    return f"W^{{({m[1]})}}_{{{p.index(m[2])},{p.index(m[3])}}}"


@symbol_rule(r"b(\d+)_(\d+)")
def _bias_entry(p: "SymderivLatexPrinter", m: re.Match) -> str:
    return f"b^{{({m[1]})}}_{{{p.index(m[2])}}}"


@symbol_rule(r"w(\d+)")
def _weight_class(p: "SymderivLatexPrinter", m: re.Match) -> str:
    return f"w^{{({m[1]})}}"


@symbol_rule(r"b(\d+)")
def _bias_class(p: "SymderivLatexPrinter", m: re.Match) -> str:
    return f"b^{{({m[1]})}}"


@symbol_rule(r"t_(\d+)")
def _tie_class(p: "SymderivLatexPrinter", m: re.Match) -> str:
    return f"{p._settings['class_symbol']}_{{{m[1]}}}"


# ---------------------------------------------------------------- the printer
class SymderivLatexPrinter(LatexPrinter):
    """SymPy's :class:`~sympy.printing.latex.LatexPrinter` with symderiv's notation.

    Extra settings (besides every setting of SymPy's printer):

    * ``index_base``: the first index of data, labels and entries (default 1,
      as the symbols are named; 0 prints ``x_1`` as ``x_{0}``).
    * ``class_symbol``: the letter of the prover's generic class symbols
      ``t_k`` (default ``\\theta``).
    """

    printmethod = "_latex"
    _default_settings: dict[str, Any] = {
        **LatexPrinter._default_settings,
        "index_base": 1,
        "class_symbol": r"\theta",
    }

    def __init__(self, settings: dict[str, Any] | None = None):
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(self._default_settings))
        check_argument(not unknown, "unknown LaTeX printer setting(s) {}; known settings: {}",
                       ", ".join(map(repr, unknown)), ", ".join(sorted(self._default_settings)),
                       error=InvalidArgument)
        base = settings.get("index_base", 1)
        check_argument(isinstance(base, int) and not isinstance(base, bool),
                       "index_base must be an integer such as 0 or 1, got {!r}", base, error=InvalidArgument)
        super().__init__(settings)

    def index(self, one_based: str) -> int:
        """A 1-based index from a symbol name, shifted to ``index_base``."""
        return int(one_based) - 1 + self._settings["index_base"]

    def _print_Symbol(self, expr: sp.Symbol, style: str = "plain") -> str:
        name = self._settings["symbol_names"].get(expr)
        if name is not None:
            return name
        for pattern, rule in SYMBOL_RULES:
            m = pattern.fullmatch(expr.name)
            if m is not None:
                return rule(self, m)
        return super()._print_Symbol(expr, style=style)

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:
        arg = self._print(expr.args[0])
        h0 = expr.args[1] if len(expr.args) > 1 else sp.Rational(1, 2)
        tex = rf"\operatorname{{H}}_{{{self._print(h0)}}}\left({arg}\right)"
        if exp:
            tex = rf"\left({tex}\right)^{{{exp}}}"
        return tex


def latex(expr: Any, **settings: Any) -> str:
    """``expr`` in LaTeX with symderiv's notation; ``settings`` as for SymPy's ``latex``
    plus ``index_base`` and ``class_symbol`` (see :class:`SymderivLatexPrinter`)."""
    return SymderivLatexPrinter(settings).doprint(expr)

