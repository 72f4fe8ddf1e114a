"""Certificates as a reader checks them: exact fractions where the value is rational, short
rigorous intervals elsewhere, one matrix per parameter instead of one line per entry.

The prover records each certified value as text (``describe_interval``: the midpoint rounded
to 12 digits and the radius rounded up), read here as a :class:`symderiv.enclosure.Enclosure`
(the one reader of that text).  Two things are done here:

* **Exact values.** When a certified value is a gradient at the init, or an SGD change at update
  1 from the init, and the exact point is known, the value is recomputed exactly from the closed
  form (rational data in, a SymPy number out).  It is printed as a fraction only when it is a
  rational number *and* lies in the recorded enclosure (an independent cross-check); otherwise
  the enclosure is printed.
* **Short enclosures.** ``m (±r)`` becomes the interval ``[a, b]`` rounded *outward* to as few
  significant digits as keep the printed intervals of one certificate apart from 0 and from each
  other (what the certificate needs), so every printed interval still contains the exact value.
"""
from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Context as DecimalContext, Decimal
from fractions import Fraction
from typing import Mapping, Sequence

import sympy as sp

from ..closed_forms import tree_size
from ..enclosure import Enclosure
from ..patterns import Block
from .context import Context

__all__ = ["Certified", "enclosure_of", "exact_value", "interval_tex", "certified_texts", "parameter_tables"]

#: exact values are recomputed only from closed forms of at most this many printed nodes
_EXACT_NODES = 5000


class Certified:
    """One certified value: its recorded enclosure and, when known, its exact rational value."""

    def __init__(self, text: str | Enclosure, exact: Fraction | None = None):
        self.enclosure = text if isinstance(text, Enclosure) else Enclosure.parse(text)
        self.text = str(self.enclosure)
        self.exact = exact

    @property
    def interval(self) -> tuple[Fraction, Fraction] | None:
        return self.enclosure.interval()


def enclosure_of(text: str) -> tuple[Fraction, Fraction] | None:
    """A rigorous interval from the recorded text (:meth:`symderiv.enclosure.Enclosure.interval`):
    ``m (±r)`` widened by one unit of the midpoint's last printed digit (the midpoint was rounded);
    an exact ``p/q`` as a point; None when the text is not a finite value."""
    return Enclosure.parse(text).interval()


def exact_value(expr: sp.Expr, point: Mapping[str, str]) -> Fraction | None:
    """``expr`` at the exact point (symbols by name), when every symbol has a value and the
    result is a rational number; None otherwise (irrational, or something unassigned)."""
    if tree_size(expr, _EXACT_NODES) > _EXACT_NODES:  # substitution walks the tree, not the DAG
        return None
    subs = {}
    for sym in expr.free_symbols:
        if not isinstance(sym, sp.Symbol) or sym.name not in point:
            return None
        subs[sym] = sp.Rational(point[sym.name])
    value = expr.xreplace(subs)
    if isinstance(value, sp.Rational):
        return Fraction(int(value.p), int(value.q))
    return None


def _round(v: Fraction, digits: int, rounding: str) -> Decimal:
    ctx = DecimalContext(prec=digits, rounding=rounding)
    return ctx.divide(Decimal(v.numerator), Decimal(v.denominator))


def _decimal_tex(d: Decimal) -> str:
    if d == 0:
        return "0"
    exp = d.adjusted()
    if -3 <= exp < 4:
        text = format(d, "f")
        return text
    mant = d.scaleb(-exp)
    return rf"{format(mant.normalize(), 'f')}\cdot 10^{{{exp}}}"


def interval_tex(lo: Fraction, hi: Fraction, digits: int) -> str:
    """``[a, b]`` with ``a ≤ lo`` and ``b ≥ hi`` at ``digits`` significant digits; a power of ten
    the two ends share is written once: ``[3.041, 3.042]\\cdot 10^{-6}``."""
    a, b = _round(lo, digits, ROUND_FLOOR), _round(hi, digits, ROUND_CEILING)
    if a != 0 and b != 0 and a.adjusted() == b.adjusted() and not -3 <= a.adjusted() < 4:
        exp = a.adjusted()
        ma, mb = a.scaleb(-exp).normalize(), b.scaleb(-exp).normalize()
        return rf"[{format(ma, 'f')}, {format(mb, 'f')}]\cdot 10^{{{exp}}}"
    return rf"[{_decimal_tex(a)}, {_decimal_tex(b)}]"


def _fraction_tex(v: Fraction) -> str:
    if v.denominator == 1:
        return str(v.numerator)
    sign = "-" if v < 0 else ""
    return rf"{sign}\tfrac{{{abs(v.numerator)}}}{{{v.denominator}}}"


def certified_texts(values: Sequence[Certified], *, nonzero: Sequence[bool] | None = None,
                    distinct: bool = False) -> list[str]:
    """Each value as LaTeX: a fraction when exact, else a short outward-rounded interval.  The
    digits grow (4 to 12) until every interval flagged ``nonzero`` excludes 0 and, with
    ``distinct``, the intervals are pairwise disjoint; past 12 digits the recorded text is used."""
    flags = list(nonzero) if nonzero is not None else [False] * len(values)
    boxes = [v.interval for v in values]
    out: list[str | None] = [None] * len(values)
    for i, v in enumerate(values):
        if v.exact is not None:
            out[i] = _fraction_tex(v.exact)
        elif boxes[i] is None:
            out[i] = rf"\text{{{v.text}}}"
    open_ = [i for i in range(len(values)) if out[i] is None]
    for digits in (4, 6, 8, 10, 12):
        rounded = {}
        for i in open_:
            box = boxes[i]
            assert box is not None
            rounded[i] = (Fraction(_round(box[0], digits, ROUND_FLOOR)), Fraction(_round(box[1], digits, ROUND_CEILING)))
        ok = all(not (flags[i] and rounded[i][0] <= 0 <= rounded[i][1]) for i in open_)
        if ok and distinct:
            spans = list(rounded.values())
            for v in values:
                if v.exact is not None:
                    spans.append((v.exact, v.exact))
            spans.sort()
            ok = all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
        if ok or digits == 12:
            for i in open_:
                box = boxes[i]
                assert box is not None
                lo, hi = box
                out[i] = "0" if lo == hi == 0 else (_fraction_tex(lo) if lo == hi else interval_tex(lo, hi, digits))
            break
    return [o or "" for o in out]


def _visual_width(tex: str) -> int:
    """About how many characters wide ``tex`` prints (``\\tfrac{5}{21}`` is 2 wide, not 12)."""
    tex = re.sub(r"\\tfrac\{(\d+)\}\{(\d+)\}", lambda m: "x" * max(len(m[1]), len(m[2])), tex)
    tex = re.sub(r"\\cdot 10\^\{(-?\d+)\}", lambda m: "x10" + m[1], tex)
    tex = re.sub(r"\\[a-z]+", "", tex).replace("{", "").replace("}", "")
    return len(tex)


def parameter_tables(ctx: Context, entries: Mapping[Block, str], symbol: str) -> list[str]:
    """Values per block, one parameter at a time: a matrix (rows: the classes of its layer,
    columns: the classes of the layer below) when every block of the parameter has a value and
    the matrix is small, else an inline list.  ``symbol`` is the LaTeX applied to a parameter name
    (``{}`` is replaced), e.g. ``\\partial\\ell/\\partial {}``."""
    shown: list[tuple[str, int]] = []  # (matrix formula, about how wide it prints)
    loose: list[str] = []
    for name in ctx.net.parameter_names():
        blocks = ctx.param_blocks(name)
        have = [b for b in blocks if b in entries]
        if not have:
            continue
        kind, l = ctx.net.parse_name(name)
        rows = ctx.partition.classes[l]
        cols = ctx.partition.classes[l - 1] if kind == "W" else []
        width = max((_visual_width(entries[b]) for b in have), default=0)
        n_cols = max(1, len(cols))
        n_cols = n_cols if kind == "W" else len(rows)
        units = all(C.size == 1 for C in rows) and all(D.size == 1 for D in cols)
        small = (len(have) == len(blocks) and len(have) > 1 and len(rows) <= 10
                 and n_cols * (width + 2) + (0 if units else 20) <= 75)
        if small:
            if kind == "W":
                body = r" \\ ".join(" & ".join(entries[Block(l, "W", C.index, D.index)] for D in cols) for C in rows)
            else:
                body = " & ".join(entries[Block(l, "b", C.index)] for C in rows)
            note = "" if units else r"\quad\text{(one entry per block)}"
            lhs = symbol.replace("{}", ctx.param(name))
            top = "" if kind == "W" else r"^{\top}"
            shown.append((rf"{lhs} = \begin{{pmatrix}} {body} \end{{pmatrix}}{top}{note}",
                          10 + n_cols * (width + 2) + (0 if units else 20)))
        else:
            for b in have:
                loose.append(f"${symbol.replace('{}', ctx.block(b))} \\in {entries[b]}$"
                             if entries[b].startswith("[") else f"${symbol.replace('{}', ctx.block(b))} = {entries[b]}$")
    lines: list[str] = []
    line: list[str] = []
    used = 0
    for formula, wide in shown:  # neighbours share a display line while it stays narrow
        if line and used + wide > 85:
            lines.append(r"\[ " + r", \qquad ".join(line) + r" \]")
            line, used = [], 0
        line.append(formula)
        used += wide
    if line:
        lines.append(r"\[ " + r", \qquad ".join(line) + r" \]")
    if loose:
        lines.append("; ".join(loose) + ".")
    return lines
