"""The LaTeX paragraph on the witness trajectory run again on the full network
(:mod:`symderiv.witness_full`, after an input reduction): it prints the recorded run, and
computes nothing."""
from __future__ import annotations

from typing import Sequence

import sympy as sp

from ..witness_full import FullMove, FullWitness
from .certificates import Certified, certified_texts
from .context import Context

__all__ = ["full_witness_latex"]


def _data_runs(point: Sequence[tuple[str, str]], n0: int) -> list[tuple[int, int, str]]:
    """``(first, last, value)`` (1-based) per run of consecutive inputs with one datum."""
    values = dict(point)
    runs: list[list] = []
    for j in range(1, n0 + 1):
        v = values[f"x_{j}"]
        if runs and runs[-1][2] == v:
            runs[-1][1] = j
        else:
            runs.append([j, j, v])
    return [(a, b, v) for a, b, v in runs]


def full_witness_latex(ctx: Context, w: FullWitness, number: str) -> list[str]:
    """The paragraph of the LaTeX certificates on the full-network run ``w``: its data (runs of equal
    inputs written once), and per parameter and step the certified change of its first moving entry."""
    net = ctx.analysis.net
    n0 = int(net.sizes[0])
    data = []
    for first, last, value in _data_runs(w.point, n0):
        v = ctx.tex(sp.Rational(value))
        data.append(f"x_{{{first}}} = {v}" if first == last else f"x_{{j}} = {v}\\ ({first} \\le j \\le {last})")
    others = [f"{ctx.tex(sp.Symbol(name))} = {ctx.tex(sp.Rational(value))}" for name, value in w.point
              if not name.startswith("x_")]
    shown: dict[tuple[str, int], FullMove] = {}
    for m in w.moves:
        shown.setdefault((m.param, m.step), m)
    picked = [shown[key] for key in sorted(shown, key=lambda k: (k[1], net.parameter_names().index(k[0])))]
    texts = certified_texts([Certified(m.change) for m in picked], nonzero=[True] * len(picked))
    entries = []
    for m, text in zip(picked, texts):
        kind, layer = net.parse_name(m.param)
        where = ",".join(str(i + 1) for i in m.index)
        entries.append(f"$\\Delta_{{{m.step}}} {kind}^{{({layer})}}_{{{where}}} = {text}$")
    point = ",\\ ".join(data + others)
    return [rf"\paragraph{{{number} Witness trajectory on the full network.}} The same kind of run on the full "
            rf"network ({n0} inputs, every one carrying a nonzero datum), entry by entry in ball arithmetic: plain "
            rf"SGD on one example, $\eta = {ctx.tex(sp.Rational(w.learning_rate))}$, {w.steps} "
            rf"step{'' if w.steps == 1 else 's'}, at ${point}$. At its first-move step the "
            rf"change of every entry of {len({m.tie_class for m in w.moves})} tie classes excludes $0$; the first "
            rf"entry of each parameter: " + ", ".join(entries) + r". Every class and its change: the JSON's "
            r"\texttt{witness\_trajectory}."]
