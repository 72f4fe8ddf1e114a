"""What every part of a proof document shares: the analysis being written up and how its objects print.

* :func:`latex_text` - plain text made safe for LaTeX;
* :class:`Context` - the analysis, its printer, its blocks and unit classes in LaTeX;
* :func:`display` - a displayed formula with a bound: broken at the terms of a long sum,
  large closed forms abbreviated with named sub-expressions (:mod:`symderiv.closed_forms`),
  too large ones replaced by a size note;
* :func:`enclosure_tex`, :func:`point_tex` - certified enclosures and exact points.

Formulas whose LaTeX is still longer than :data:`MAX_FORMULA_CHARS` are omitted with a note
giving their size, and one document prints at most :data:`MAX_DEFINITIONS` definitions, so deep
closed forms never break compilation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import sympy as sp
from sympy.core.function import _coeff_isneg

from ..closed_forms import ClosedForms, size_text, tree_size
from ..enclosure import Enclosure
from ..engine import Pass
from ..patterns import Block, UnitClass
from ..prover import block_label
from .printer import SymderivLatexPrinter, TexSymbol

__all__ = [
    "Context", "latex_text", "display", "enclosure_tex", "point_tex", "plural", "join", "as_expr", "omitted",
    "terms_tex", "chunks", "MAX_FORMULA_CHARS", "MAX_LIST_ITEMS", "MAX_DEFINITIONS", "ROW_CHARS", "LINE_CHARS",
    "UNBREAKABLE_CHARS", "ROW_CLOSED_NODES", "is_zero_text", "Section",
]

#: a formula whose LaTeX is longer than this is omitted (with its size) instead of printed
MAX_FORMULA_CHARS = 1500
#: named sub-expressions printed in one document; later closed forms that need more are omitted
MAX_DEFINITIONS = 400
#: a closed form is appended to a row of the recursion only when its tree has at most this many nodes
ROW_CLOSED_NODES = 40
#: lists of blocks longer than this are cut, with the number left out
MAX_LIST_ITEMS = 40
#: a displayed formula longer than this (LaTeX characters) is broken over lines at its top-level terms
LINE_CHARS = 110
#: a formula that is not a sum (so cannot be broken at its terms) and is longer than this is omitted
UNBREAKABLE_CHARS = 150
#: the same for one row of an aligned list of formulas
ROW_CHARS = 80


# ---------------------------------------------------------------- text
_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "^": r"\^{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}", "<": r"$<$", ">": r"$>$",
    "|": r"$|$",
    "≡": r"$\equiv$", "…": r"\dots{}", "−": "-", "–": "--", "—": "---", "·": r"$\cdot$", "±": r"$\pm$",
    "ℓ": r"$\ell$", "∂": r"$\partial$", "δ": r"$\delta$", "θ": r"$\theta$", "σ": r"$\sigma$",
    "Σ": r"$\Sigma$", "≤": r"$\le$", "≥": r"$\ge$", "≠": r"$\ne$", "ᵀ": r"$^\top$", "’": "'", "‘": "`",
    "“": "``", "”": "''", "×": r"$\times$", "→": r"$\to$", "∈": r"$\in$",
    "η": r"$\eta$", "λ": r"$\lambda$", "ε": r"$\varepsilon$", "α": r"$\alpha$", "β": r"$\beta$",
    "γ": r"$\gamma$", "∇": r"$\nabla$", "²": r"$^2$", "‖": r"$\|$", "∑": r"$\sum$", "≈": r"$\approx$",
}


#: a power in plain text, ``(z - y)^2`` or ``(1 − ηλ)^t``: its exponent (letters and digits) is typeset
#: as a superscript, not printed as a raw caret
_POWER = re.compile(r"\^([0-9A-Za-z]+)")


def latex_text(text: object) -> str:
    """Plain text made safe for LaTeX: special characters escaped, the few non-ASCII
    symbols symderiv writes mapped to LaTeX, anything else non-ASCII replaced by ``?``;
    a power ``x^2`` is typeset with a superscript exponent."""
    pieces = _POWER.split(str(text))
    if len(pieces) > 1:  # odd positions are exponents: letters and digits only, safe as they are
        return "".join(rf"\textsuperscript{{{p}}}" if k % 2 else latex_text(p) for k, p in enumerate(pieces))
    out = []
    for ch in str(text):
        if ch in _TEXT_ESCAPES:
            out.append(_TEXT_ESCAPES[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def join(items: Sequence[str], last: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


# ---------------------------------------------------------------- the context: how to print the objects of a proof
@dataclass
class Context:
    """The analysis being written up, and how its objects print."""

    analysis: Any
    printer: SymderivLatexPrinter = field(default_factory=SymderivLatexPrinter)

    def __post_init__(self) -> None:
        self.proof = self.analysis.proof
        self.net = self.proof.net
        self.partition = self.proof.partition
        self._labels = {self._plain_label(b): b for b in self.proof.blocks}
        self._fresh = 0  # generic names u_1, u_2, ... are numbered through the whole document
        self._by_param: dict[str, list[Block]] | None = None
        self.definitions_printed = 0
        self.forms = self.closed_forms(None)

    # closed forms
    def closed_forms(self, state: Pass | None, accent: str = "") -> ClosedForms:
        """A printer for the closed forms of ``state`` (an abbreviated pass names its ``z``/``δ`` as
        the recursion does, with ``accent``, e.g. ``\\bar``, for quantities at another point)."""

        def name_of(sym: sp.Symbol) -> sp.Symbol:
            return self.placeholder(sym, accent)

        def fresh(_: int) -> sp.Symbol:
            self._fresh += 1
            return TexSymbol(f"u_{{{self._fresh}}}", real=True)

        widths = [self.tex(n) for n in self.net.sizes if isinstance(n, sp.Symbol)]
        return ClosedForms(None if state is None else state.definitions, name_of=name_of, fresh=fresh,
                           reserved=widths, see="the analysis object",
                           max_definitions=max(0, MAX_DEFINITIONS - self.definitions_printed))

    def placeholder(self, sym: sp.Symbol, accent: str = "") -> TexSymbol:
        """The recursion's name of an engine abbreviation: ``z3_2`` -> ``z^{(3)}_{C}`` for the
        second class ``C`` of layer 3, ``delta3_2`` -> ``\\delta^{(3)}_{C}``."""
        m = re.fullmatch(r"(z|delta)(\d+)_(\d+)", sym.name)
        if m is None:
            return TexSymbol(sym.name, real=True)
        q, l, k = (r"\delta" if m[1] == "delta" else "z"), int(m[2]), int(m[3])
        q = rf"{accent}{{{q}}}" if accent else q
        return TexSymbol(f"{q}^{{({l})}}_{{{self.units(self.partition.classes[l][k - 1])}}}", real=True)

    @property
    def at_init(self) -> Pass:
        """The analysis's pass at the init (:attr:`symderiv.passes.Passes.at_init`): read, never re-derived."""
        return self.analysis.passes.at_init

    @property
    def on_subspace(self) -> Pass:
        """The analysis's pass on ``V(P*)`` (:attr:`symderiv.passes.Passes.on_subspace`)."""
        return self.analysis.passes.on_subspace

    # formulas
    def tex(self, expr: object) -> str:
        """A SymPy expression (or number) in LaTeX."""
        return self.printer.doprint(as_expr(expr))

    def units(self, C: UnitClass) -> str:
        """The units of a class: ``2``, ``1..3``, ``1..n`` or ``\\{1,3\\}`` (index_base respected)."""
        base = self.printer._settings["index_base"]
        if C.members is None:
            return f"{base}..{self.tex(C.size - 1 + base)}"
        if len(C.members) == 1:
            return str(C.members[0] + base)
        if isinstance(C.members, range) and C.members.step == 1:
            return f"{C.members.start + base}..{C.members.stop - 1 + base}"
        return r"\{" + ",".join(str(m + base) for m in C.members) + r"\}"

    def block(self, b: Block) -> str:
        """``W^{(l)}_{I,J}`` or ``b^{(l)}_{I}``: the entries of a block."""
        C = self.partition.classes[b.layer][b.row]
        if b.kind == "W":
            D = self.partition.classes[b.layer - 1][b.col]
            return f"W^{{({b.layer})}}_{{{self.units(C)},\\,{self.units(D)}}}"
        return f"b^{{({b.layer})}}_{{{self.units(C)}}}"

    def param(self, name: str) -> str:
        kind, l = self.net.parse_name(name)
        return f"{kind}^{{({l})}}"

    def class_symbol(self, k: int) -> str:
        return "0" if k == self.proof.zero_class else self.tex(self.proof.symbols[k])

    def _plain_label(self, b: Block) -> str:
        return block_label(self.net, self.partition, b)

    def block_of_label(self, label: str) -> Block | None:
        return self._labels.get(label)

    # blocks of parameters
    def param_blocks(self, name: str) -> list[Block]:
        if self._by_param is None:  # once: this is asked per block of every list
            self._by_param = {}
            for b in self.proof.blocks:
                self._by_param.setdefault(b.param, []).append(b)
        return list(self._by_param.get(name, []))

    def block_size(self, b: Block) -> sp.Expr:
        size = self.partition.classes[b.layer][b.row].size
        if b.kind == "W":
            size = size * self.partition.classes[b.layer - 1][b.col].size
        return as_expr(size)

    def blocks_text(self, members: Iterable[Block]) -> str:
        """Blocks as math, whole parameters by name (``W^{(1)}``), cut after MAX_LIST_ITEMS."""
        members = list(members)
        chosen = set(members)
        params = {b.param for b in members}
        items: list[str] = []
        for name in self.net.parameter_names():  # parameter order, whole parameters by name
            if name not in params:  # (only these: a deep network has many parameters)
                continue
            bl = self.param_blocks(name)
            if len(bl) > 1 and all(b in chosen for b in bl):
                items.append(f"${self.param(name)}$ (all entries)")
            else:
                items.extend(f"${self.block(b)}$" for b in bl if b in chosen)
        if len(items) > MAX_LIST_ITEMS:
            cut = len(items) - MAX_LIST_ITEMS
            items = items[:MAX_LIST_ITEMS] + [f"and {plural(cut, 'more block')} (see the JSON of the analysis)"]
        return ", ".join(items)


# ---------------------------------------------------------------- displayed formulas
def terms_tex(ctx: Context, expr: sp.Expr) -> list[str]:
    """The top-level terms of a sum, each with its sign, as SymPy's printer orders them."""
    out = []
    for i, term in enumerate(ctx.printer._as_ordered_terms(expr, order=None)):
        if _coeff_isneg(term):
            t = "- " + ctx.printer._print(-term)
        else:
            t = ("+ " if i else "") + ctx.printer._print(term)
        out.append(t)
    return out


def chunks(terms: Sequence[str], width: int) -> list[str]:
    """Signed terms joined into lines of at most about ``width`` characters."""
    lines, current = [], ""
    for term in terms:
        if current and len(current) + len(term) > width:
            lines.append(current.rstrip())
            current = ""
        current += term + " "
    return lines + [current.rstrip()]


def omitted(expr: sp.Expr, chars: int) -> str:
    # short, so that the note itself fits on a line: the closed form is in the analysis object and JSON
    size = size_text(tree_size(expr))
    return rf"\text{{(closed form of {size} nodes omitted)}}"


def _too_large(note: str) -> str:
    return rf"\text{{({latex_text(note.strip('<>'))})}}"


def as_expr(value: object) -> sp.Basic:
    """Internal numbers as SymPy objects (never text: nothing here is parsed)."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a SymPy expression or an int, got {type(value).__name__}")
    return sp.Integer(value)


def display(ctx: Context, lhs: str, expr: object, relation: str = "=", forms: ClosedForms | None = None) -> str:
    """``lhs relation expr`` as a display: one line, broken at the terms of a long sum; a large
    closed form abbreviated (its new names defined below it, through ``forms``, by default the
    document's printer), a too large one replaced by a note."""
    expr = as_expr(expr)
    forms = forms or ctx.forms
    form = forms.abbreviate(expr)
    if form.omitted:
        return rf"\[ {lhs} {relation} {_too_large(form.note or '')} \]"
    ctx.definitions_printed += len(form.definitions)
    out = _display_line(ctx, lhs, form.expr, relation)
    if form.definitions:
        rows = []
        for name, rhs in form.definitions:
            body = ctx.tex(rhs)
            pieces = chunks(terms_tex(ctx, rhs), ROW_CHARS) if isinstance(rhs, sp.Add) else [body]
            if len(body) > MAX_FORMULA_CHARS or any(len(c) > UNBREAKABLE_CHARS for c in pieces):
                rows.append(f"{ctx.tex(name)} &= {omitted(rhs, len(body))}")
            elif len(body) > ROW_CHARS and isinstance(rhs, sp.Add):
                rows.append(f"{ctx.tex(name)} &= " + " \\\\\n&\\quad ".join(pieces))
            else:
                rows.append(f"{ctx.tex(name)} &= {body}")
        out += "\nwhere\n\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"
    return out


def _display_line(ctx: Context, lhs: str, expr: sp.Basic, relation: str) -> str:
    body = ctx.tex(expr)
    if len(body) > MAX_FORMULA_CHARS or (not isinstance(expr, sp.Add) and len(lhs) + len(body) > UNBREAKABLE_CHARS):
        # a line LaTeX cannot break (a long product or quotient) would run off the page
        return rf"\[ {lhs} {relation} {omitted(expr, len(body))} \]"
    if len(lhs) + len(body) <= LINE_CHARS or not isinstance(expr, sp.Add):
        return rf"\[ {lhs} {relation} {body} \]"
    lines, current = [], f"{lhs} {relation} "
    for term in terms_tex(ctx, expr):
        if len(current) > 20 and len(current) + len(term) > LINE_CHARS:
            lines.append(current)
            current = ""
        current += term + " "
    lines.append(current)
    if any(len(line) > UNBREAKABLE_CHARS for line in lines):  # one term alone is wider than the page
        return rf"\[ {lhs} {relation} {omitted(expr, len(body))} \]"
    return "\\begin{multline*}\n" + " \\\\\n".join(line.rstrip() for line in lines) + "\n\\end{multline*}"


# ---------------------------------------------------------------- enclosures and exact points
def _number_tex(text: str) -> str:
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return mantissa
    return rf"{mantissa}\cdot 10^{{{int(exponent)}}}"


def enclosure_tex(value: str | Enclosure) -> str:
    """``-0.1042 (±2.9e-62)`` → ``-0.1042 \\pm 2.9\\cdot 10^{-62}``; a point value as is.  ``value``:
    an :class:`~symderiv.enclosure.Enclosure` or its recorded text."""
    enclosure = value if isinstance(value, Enclosure) else Enclosure.parse(value)
    if enclosure.radius is None:
        return "0" if is_zero_text(enclosure.midpoint) else rf"\approx {_number_tex(enclosure.midpoint)}"
    return rf"{_number_tex(enclosure.midpoint)} \pm {_number_tex(enclosure.radius)}"


def is_zero_text(value: str) -> bool:
    try:
        return float(value) == 0.0
    except ValueError:
        return False


def point_tex(ctx: Context, point: Sequence[tuple[str, str]]) -> str:
    """Exact values ``x_{1} = -\\frac{8}{7}, …`` of a witness point, data first."""
    def key(item: tuple[str, str]) -> tuple[int, str]:
        name = item[0]
        order = 0 if re.fullmatch(r"x_\d+", name) else 1 if re.fullmatch(r"y_\d+", name) else 2
        return (order, _natural(name))

    parts = [f"{ctx.tex(sp.Symbol(name))} = {ctx.tex(sp.Rational(value))}" for name, value in sorted(point, key=key)]
    return ",\\ ".join(parts)


def _natural(name: str) -> str:
    """Sort key that puts ``x_2`` before ``x_10``."""
    return re.sub(r"\d+", lambda m: m[0].zfill(6), name)



#: a part of the document: the analysis in, LaTeX lines out
Section = Callable[[Context], list[str]]
