"""How the graph proof document (:mod:`symderiv.graph.latex`) writes names and formulas.

Parameters and their entries as LaTeX (``\\mathrm{lora\\_A.weight}_{1,1}``), the symbols of a closed form
(:class:`_Names`: init values, data, output deltas), and displayed formulas broken at their terms into lines,
or omitted with their size when no page could hold them.  Split from :mod:`.latex` (which re-exports these
names); deterministic.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable, Sequence

import numpy as np
import sympy as sp

from ..latex.document import latex_text
from ..latex.printer import SymderivLatexPrinter, latex
from .engine import data_symbols
from .losses import graph_loss

#: a displayed formula longer than this (symbols on the page, :func:`_visual`) is omitted (with its size)
MAX_FORMULA_CHARS = 700
#: a displayed sum is broken at its terms into lines of about this many symbols
_LINE_CHARS = 60
#: a term (or a formula that is not a sum) longer than this cannot be broken: the formula is omitted
_UNBREAKABLE_CHARS = 70


# ---------------------------------------------------------------- names
def _param_tex(name: str, init: bool = False) -> str:
    """``lora_A.weight`` -> ``W^{lora_A}``, ``f1.bias`` -> ``b^{f1}``, ``alpha`` -> ``alpha``; the init value
    with a ring over the letter."""
    path, _, last = name.rpartition(".")
    if path and last in ("weight", "bias"):
        letter = "W" if last == "weight" else "b"
        return (rf"\mathring{{{letter}}}" if init else letter) + rf"^{{\mathrm{{{latex_text(path)}}}}}"
    base = rf"\mathrm{{{latex_text(name)}}}"
    return rf"\mathring{{{base}}}" if init else base


def _entry_tex(name: str, idx: Sequence[int], init: bool = False) -> str:
    return _param_tex(name, init) + "_{" + ",".join(str(int(i)) for i in idx) + "}"


def _visual(tex: str) -> int:
    """Roughly how many characters ``tex`` takes on the page (command names and braces take none)."""
    import re

    text = re.sub(r"\\(?:mathrm|mathring|frac|left|right|operatorname|text|quad|Big)\b", "", tex)
    text = re.sub(r"\\[A-Za-z]+", "x", text)
    return len(re.sub(r"[{}^_\\ ]", "", text))


def _entry_text(name: str, idx: Sequence[int]) -> str:
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]"


def _index_of(graph: Any, coord: tuple[str, int]) -> tuple[int, ...]:
    name, flat = coord
    shape = graph.params[name].shape
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _sub(name: str, letter: str) -> str:
    """``x_1_2`` -> ``x_{1,2}`` (data and labels keep the 1-based names of the engine)."""
    return letter + "_{" + ",".join(name.split("_")[1:]) + "}"


class _Names:
    """How every symbol of the analysis prints: data ``x_{i}``, labels ``y_{k}``, output deltas
    ``\\delta_{k}``, init values ``P^{(0)}[i,j]`` of parameter ``P``, shared init values ``e_{k}``,
    class coordinates ``\\theta_{k}``, current entries ``P[i,j]``."""

    def __init__(self, analysis: Any) -> None:
        g = analysis.proof.graph
        self.map: dict[sp.Symbol, str] = {}
        for k, xs in enumerate(data_symbols(g)):  # further inputs of forward(self, x, c): x^{(2)}, x^{(3)}, …
            for s in xs.flat:
                self.map[s] = _sub(s.name, "x" if k == 0 else f"x^{{({k + 1})}}")
        for s in graph_loss(g.loss_name).label_symbols(g.nodes[g.output].shape):
            self.map[s] = _sub(s.name, "y")
        for name, p in g.params.items():
            for idx in np.ndindex(*p.shape):
                v = analysis.init_value(name, idx)
                if isinstance(v, sp.Symbol) and v not in self.map:
                    self.map[v] = (_sub(v.name, "e") if v.name.startswith("e_")
                                   else _entry_tex(name, idx, init=True))
        for k, s in enumerate(analysis.proof.symbols):
            self.map.setdefault(s, rf"\theta_{{{k}}}")
        self.fresh = 0  # u_1, u_2, ... named sub-expressions, numbered through the document

    def tex(self, expr: Any) -> str:
        return latex(expr, symbol_names=self.map)


# ---------------------------------------------------------------- displayed formulas
def _terms(names: _Names, expr: sp.Expr) -> list[str]:
    """The top-level terms of a sum in the printer's order, each with its sign."""
    p = SymderivLatexPrinter({"symbol_names": names.map})
    out = []
    for i, term in enumerate(p._as_ordered_terms(expr, order=None)):
        out.append(("- " + p.doprint(-term)) if term.could_extract_minus_sign() else (("+ " if i else "") + p.doprint(term)))
    return out


def _lines(names: _Names, lhs: str, expr: sp.Expr) -> list[str] | None:
    """``lhs = expr`` as lines of at most about :data:`_LINE_CHARS` symbols (a sum broken at its terms, a
    cheap product expanded first), or None when it cannot be broken to fit."""
    body = names.tex(expr)
    if _visual(lhs) + _visual(body) <= _LINE_CHARS:
        return [f"{lhs} = {body}"]
    if not isinstance(expr, sp.Add):
        expanded = sp.expand(expr) if sp.count_ops(expr) <= 200 else expr
        if not isinstance(expanded, sp.Add):
            return None
        expr = expanded
    terms = _terms(names, expr)
    if any(_visual(t) > _UNBREAKABLE_CHARS for t in terms) or sum(map(_visual, terms)) > MAX_FORMULA_CHARS:
        return None
    lines, current = [], f"{lhs} = "
    for t in terms:
        if _visual(current) > 12 and _visual(current) + _visual(t) > _LINE_CHARS:
            lines.append(current.rstrip())
            current = r"\quad "
        current += t + " "
    return lines + [current.rstrip()]


def _display(names: _Names, lhs: str, expr: sp.Expr, what: str = "closed form") -> str:
    """``lhs = expr`` displayed: on one line, broken at the terms of a sum, or with its repeated
    sub-expressions named ``u_k`` and defined below it; too long a formula is replaced by a note of its size."""
    lines = _lines(names, lhs, expr)
    if lines is not None:
        return rf"\[ {lines[0]} \]" if len(lines) == 1 else (
            "\\begin{multline*}\n" + " \\\\\n".join(lines) + "\n\\end{multline*}")
    omitted = rf"\[ {lhs} = \text{{({what} of {_visual(names.tex(expr))} symbols omitted; see the JSON)}} \]"
    if sp.count_ops(expr) > 2000:
        return omitted
    start = names.fresh
    symbols = (sp.Symbol(f"ufree_{k}", real=True) for k in itertools.count(start + 1))
    replacements, reduced = sp.cse(expr, symbols=symbols, order="none")
    rows = []
    for sym, rhs in replacements:
        names.fresh += 1
        names.map[sym] = f"u_{{{sym.name.split('_')[1]}}}"
    main = _lines(names, lhs, reduced[0])
    for sym, rhs in replacements:
        part = _lines(names, names.map[sym], rhs)
        if part is None:
            main = None
            break
        first, *rest = part
        rows.append(" \\\\\n".join([first.replace(" = ", " &= ", 1)] + ["&" + r for r in rest]))
    if main is None or len(replacements) > 40:
        names.fresh = start
        return omitted
    head = rf"\[ {main[0]} \]" if len(main) == 1 else (
        "\\begin{multline*}\n" + " \\\\\n".join(main) + "\n\\end{multline*}")
    return head + "\nwhere\n\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _join(items: Sequence[str]) -> str:
    items = list(items)
    return "".join(items) if len(items) <= 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _params_text(names: Iterable[str]) -> str:
    return _join([f"${_param_tex(n)}$" for n in names])
