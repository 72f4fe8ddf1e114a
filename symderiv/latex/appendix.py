"""The appendix of a proof document: closed forms and certificates, grouped by block.

* **A. Closed forms.** The forward and backward recursion on the invariant subspace, class by
  class (the quantities of the neighbouring layer kept as names, the closed form when short),
  the closed forms behind the kept identities, and the gradient at the init written as the paper
  writes it: every entry of ``W^{(l)}_{C,D}`` has ``δ̄^{(l)}_C h̄^{(l-1)}_D``, so only the vectors
  ``δ̄`` and ``h̄`` at the init are listed.
* **B. Certificates.** The witness of each relaxation round and the witness trajectory, one
  matrix per parameter, exact fractions where the value is rational (:mod:`.certificates`).
* **C. Undecided.** What was neither proved nor refuted (never claimed).
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

import sympy as sp

from ..closed_forms import expand_definitions, tree_size
from ..engine import Pass
from ..patterns import Block
from .certificates import Certified, certified_texts, exact_value, parameter_tables
from .context import (
    MAX_FORMULA_CHARS, MAX_LIST_ITEMS, ROW_CHARS, ROW_CLOSED_NODES, LINE_CHARS, Context, chunks, display, latex_text,
    omitted, plural, point_tex, terms_tex,
)
from .full_witness import full_witness_latex
from .printer import TexSymbol

__all__ = ["appendix_sections", "final_values"]


def final_values(ctx: Context) -> dict[Block, sp.Expr]:
    """Every block's value on ``V(P*)``: 0 on the zero set, its class's symbol elsewhere (the
    analysis's :attr:`symderiv.passes.Passes.values_on_subspace`)."""
    return ctx.analysis.passes.values_on_subspace


def _placeholder(q: str, l: int | str, C: str) -> TexSymbol:
    return TexSymbol(f"{q}^{{({l})}}_{{{C}}}", real=True)


def _recursion(ctx: Context, values: dict[Block, sp.Expr], state: Pass, where: str) -> list[str]:
    """The forward and backward pass on a subspace, class by class: the recursion with the
    quantities of the neighbouring layer kept as names, and the closed form when it is short."""
    net, part = ctx.net, ctx.partition
    L = net.depth
    why = r", by Lemma~\ref{lem:units}" if net.depth > 1 else ""
    lines = [rf"On {where}{why} (the closed form follows when it is short):", r"\begin{align*}"]
    rows: list[str] = []

    def row(lhs: str, recursion: sp.Expr, closed: sp.Expr) -> None:
        rec, cl = ctx.tex(recursion), None
        if tree_size(closed, ROW_CLOSED_NODES, state.definitions) <= ROW_CLOSED_NODES:  # never print a large tree
            cl = ctx.tex(expand_definitions([closed], state.definitions)[0])
        if len(rec) > MAX_FORMULA_CHARS:
            text = f"{lhs} &= {omitted(recursion, len(rec))}"
        elif len(rec) > ROW_CHARS and isinstance(recursion, sp.Add):
            text = f"{lhs} &= " + " \\\\\n&\\quad ".join(chunks(terms_tex(ctx, recursion), ROW_CHARS))
        else:
            text = f"{lhs} &= {rec}"
        if cl is None or cl == rec:
            pass
        elif len(cl) <= 90 and len(text) + len(cl) <= 2 * LINE_CHARS:
            text += f" = {cl}"
        elif len(cl) <= 90:
            text += rf" \\ &= {cl}"
        rows.append(text)

    free = {sym for sym in ctx.proof.symbols}
    for l in range(1, L + 1):
        layer_blocks = [b for b in values if b.layer == l]
        if (all(C.size == 1 for C in part.classes[l]) and all(D.size == 1 for D in part.classes[l - 1])
                and len({values[b] for b in layer_blocks}) == len(layer_blocks)
                and all(values[b] in free for b in layer_blocks)):
            # every entry its own free coordinate: the matrix form says it all
            h = "x" if l == 1 else f"h^{{({l - 1})}}"
            rows.append(rf"z^{{({l})}} &= W^{{({l})}} {h}" + (f" + b^{{({l})}}" if net.bias else "")
                        + r" \quad \text{(every entry its own coordinate)}")
            if l < L:
                rows.append(rf"h^{{({l})}} &= f_{{{l}}}\bigl(z^{{({l})}}\bigr)")
            continue
        for C in part.classes[l]:
            terms = []
            for D in part.classes[l - 1]:
                w = values[Block(l, "W", C.index, D.index)]
                h = sp.Symbol(f"x_{D.first + 1}", real=True) if l == 1 else _placeholder("h", l - 1, ctx.units(D))
                terms.append(D.size * w * h)
            rec = sp.Add(*terms) + (values[Block(l, "b", C.index)] if net.bias else 0)
            row(f"z^{{({l})}}_{{{ctx.units(C)}}}", rec, state.z[l][C.index])
            if l < L:
                act = net.activation_of(l)
                row(f"h^{{({l})}}_{{{ctx.units(C)}}}", act(_placeholder("z", l, ctx.units(C))), state.h[l][C.index])
    logits = [_placeholder("z", L, ctx.units(C)) for C in part.classes[L]]
    if net.loss.name == "softmax_cross_entropy":  # p - y with p = softmax(z), as the setting states it
        K = net.n_outputs
        rows.append(rf"\delta^{{({L})}}_k &= p_k - y_k, \quad p = \operatorname{{softmax}}\bigl(z^{{({L})}}\bigr) "
                    rf"\quad (k = 1, \dots, {K};\ y_{{{K}}} = 1 - \textstyle\sum_{{k<{K}}} y_k)")
    else:
        for C, d in zip(part.classes[L], net.loss.delta(logits, net.loss.labels(net.n_outputs))):
            row(f"\\delta^{{({L})}}_{{{ctx.units(C)}}}", d, state.delta[L][C.index])
    for l in range(L - 1, 0, -1):
        act = net.activation_of(l)
        for D in part.classes[l]:
            terms = [C.size * values[Block(l + 1, "W", C.index, D.index)] * _placeholder(r"\delta", l + 1, ctx.units(C))
                     for C in part.classes[l + 1]]
            rec = act.derivative(_placeholder("z", l, ctx.units(D))) * sp.Add(*terms)
            row(f"\\delta^{{({l})}}_{{{ctx.units(D)}}}", rec, state.delta[l][D.index])
    lines.append(" \\\\\n".join(rows))
    lines.append(r"\end{align*}")
    return lines



# ---------------------------------------------------------------- A. closed forms
_METHODS = {
    "structural": "structural: SymPy's canonical form is literally the claimed one",
    "simplification": "shown by simplification within a work budget, after no random point refuted it",
}


def method_text(method: str) -> str:
    """How an identity was shown, in words."""
    return latex_text(_METHODS.get(method, method))


def _closed_forms(ctx: Context) -> list[str]:
    p = ctx.proof
    values = final_values(ctx)
    state = ctx.on_subspace
    names = {sym: ctx.placeholder(sym) for sym in state.definitions}
    lines = [r"\section{Closed forms}\label{app:closed}",
             r"\paragraph{The recursion on $V(P^*)$.}"]
    lines += _recursion(ctx, values, state, r"$V(P^*)$")
    equal = [i for i in p.identities if i.expr != 0]
    if equal:
        lines.append(r"\paragraph{Blocks with equal gradients.} On $V(P^*)$, for symbolic data:")
        for ident in equal:
            g = state.grad[ident.members[0]]
            lines.append(rf"{ctx.blocks_text(ident.members)} ({method_text(ident.method)}):")
            lines.append(display(ctx, r"\frac{\partial \ell}{\partial \theta_B}", g.xreplace(names) if names else g,
                                 r"\equiv"))
    lines += _at_init(ctx)
    return lines


def _at_init(ctx: Context) -> list[str]:
    """The gradient at the init through the vectors ``δ̄`` and ``h̄`` (Lemma ``units``)."""
    net, part = ctx.net, ctx.partition
    state = ctx.at_init
    bars = {sym: ctx.placeholder(sym, r"\bar") for sym in state.definitions}

    def bar(expr: sp.Expr) -> sp.Expr:
        return expr.xreplace(bars) if bars else expr

    lines = [r"\paragraph{The gradient at the init.} Every entry of $W^{(l)}_{C,D}$ has the gradient "
             r"$\bar\delta^{(l)}_C\, \bar h^{(l-1)}_D$" + (r" and every entry of $b^{(l)}_C$ has $\bar\delta^{(l)}_C$"
                                                           if net.bias else "")
             + r", where bars denote values at $\theta^{(0)}$ ($\bar h^{(0)} = x$):"]
    zero_h, zero_d = [], []
    rows: list[str] = []
    if state.definitions:  # deep: the recursion's named quantities at the init, in order
        for sym, rhs in state.definitions.items():
            rows.append(display(ctx, ctx.tex(bars[sym]), bar(rhs)))
    for l in range(1, net.depth):
        if state.definitions:
            break
        for C in part.classes[l]:
            h = state.h[l][C.index]
            if h == 0:
                zero_h.append(l)
            else:
                rows.append(_short_or_display(ctx, rf"\bar h^{{({l})}}_{{{ctx.units(C)}}}", h))
    for l in range(net.depth, 0, -1):
        for C in part.classes[l]:
            d = state.delta[l][C.index]
            if d == 0:
                zero_d.append(l)
            elif not (isinstance(d, sp.Symbol) and d in bars):
                rows.append(_short_or_display(ctx, rf"\bar{{\delta}}^{{({l})}}_{{{ctx.units(C)}}}", bar(d)))
    notes = []
    if zero_h:
        notes.append(r"$\bar h^{(l)} = 0$ for $l \in \{" + ", ".join(map(str, sorted(set(zero_h)))) + r"\}$")
    if zero_d:
        notes.append(r"$\bar\delta^{(l)} = 0$ for $l \in \{" + ", ".join(map(str, sorted(set(zero_d)))) + r"\}$")
    if notes:
        rows.append(" and ".join(notes) + ".")
    nonzero = [b for b, g in state.grad.items() if g != 0]
    if not nonzero:
        rows.append(r"So the gradient vanishes on every block at $\theta^{(0)}$.")
    else:
        rows.append(r"So at $\theta^{(0)}$ the gradient is nonzero (as a function of the data) only on "
                    + ctx.blocks_text(nonzero) + r"; plain SGD's first update is $-\eta$ times it.")
    return lines + _join_short(rows)


_SHORT = "\x00"  # marks a formula short enough to share a display line with its neighbours


def _short_or_display(ctx: Context, lhs: str, expr: sp.Expr) -> str:
    if tree_size(expr, 60) <= 40:  # size first: printing a large closed form is what takes long
        body = ctx.tex(expr)
        if len(lhs) + len(body) <= 45:
            return _SHORT + f"{lhs} = {body}"
    return display(ctx, lhs, expr)


def _join_short(rows: list[str]) -> list[str]:
    """Consecutive short formulas as one display, a few per line."""
    out: list[str] = []
    group: list[str] = []

    def flush() -> None:
        if group:
            lines, current = [], ""
            for f in group:
                if current and len(current) + len(f) > 100:
                    lines.append(current)
                    current = ""
                current += (r", \qquad " if current else "") + f
            lines.append(current)
            out.append(r"\begin{gather*} " + r" \\ ".join(lines) + r" \end{gather*}")
            group.clear()

    for row in rows:
        if row.startswith(_SHORT):
            group.append(row[1:])
        else:
            flush()
            out.append(row)
    flush()
    return out


# ---------------------------------------------------------------- B. certificates
def _data_only(point: Sequence[tuple[str, str]]) -> bool:
    return all(name.split("_")[0] in ("x", "y") for name, _ in point)


def _exact_if_inside(expr: sp.Expr | None, point: dict[str, str], text: str, scale: Fraction = Fraction(1)) -> Fraction | None:
    """The exact value of ``scale·expr`` at ``point`` when it is rational and inside the recorded
    enclosure ``text`` (the independent cross-check); None otherwise."""
    if expr is None:
        return None
    v = exact_value(expr, point)
    if v is None:
        return None
    v *= scale
    box = Certified(text).interval
    if box is None or not box[0] <= v <= box[1]:
        return None
    return v


def _certificates(ctx: Context) -> list[str]:
    p = ctx.proof
    lines = [r"\section{Certificates}\label{app:certificates}",
             r"Exact fractions where the value is rational (recomputed from the closed form at the exact point and "
             r"checked to lie in the certified enclosure); otherwise certified intervals, rounded outward."]
    init_state = ctx.at_init
    exact_ok = not init_state.definitions
    for s in p.splits:
        lines += _split_certificate(ctx, s, init_state.grad if exact_ok else None)
    lines += _trajectory_certificate(ctx, init_state.grad if exact_ok else None)
    return lines


def _split_certificate(ctx: Context, s: Any, at_init: dict[Block, sp.Expr] | None) -> list[str]:
    head = rf"\paragraph{{B.{s.iteration} Round {s.iteration}.}}"
    if s.witness is None:
        return [head + r" No single certified witness separates all parts at once; each separation was certified "
                r"at some random point (or is listed as undecided)."]
    point = dict(s.witness.point)
    exact_here = at_init is not None and _data_only(s.witness.point)
    blocks, values, nonzero = [], [], []
    kept_zero: list[Block] = []
    for label, text in s.witness.values:
        b = ctx.block_of_label(label)
        exact = _exact_if_inside(at_init.get(b) if (exact_here and at_init is not None and b is not None) else None,
                                 point, text)
        blocks.append(b)
        values.append(Certified(text, exact))
        kept = s.was_zero and Certified(text).interval == (0, 0)
        nonzero.append(not kept)
        if kept and b is not None:
            kept_zero.append(b)
    texts = certified_texts(values, nonzero=nonzero, distinct=True)
    where = (r" (data only: $V(P_{" + str(s.iteration - 1) + r"}) = \{\theta^{(0)}\}$)" if _data_only(s.witness.point)
             else "")
    lines = [head + rf" At ${point_tex(ctx, s.witness.point)}${where}, one block per part:"]
    entries = {b: t for b, t in zip(blocks, texts) if b is not None and b not in kept_zero}
    lines += parameter_tables(ctx, entries, r"\frac{\partial\ell}{\partial {}}")
    if kept_zero:
        lines.append("The part kept in $Z$ (represented by " + ", ".join(f"${ctx.block(b)}$" for b in kept_zero)
                     + ") has gradient $0$ there.")
    rest = [f"{latex_text(label)}: ${t}$" for (label, _), b, t in zip(s.witness.values, blocks, texts) if b is None]
    if rest:
        lines.append("; ".join(rest) + ".")
    for u in s.undecided:
        lines.append(rf"Undecided here: {latex_text(u)}.")
    return lines


def _trajectory_certificate(ctx: Context, at_init: dict[Block, sp.Expr] | None) -> list[str]:
    p = ctx.proof
    tr = p.trajectory
    if tr is None:
        return []
    point = dict(tr.point)
    eta = Fraction(tr.learning_rate)
    widths = {str(n) for n in ctx.net.sizes if isinstance(n, sp.Symbol)}
    lines = [rf"\paragraph{{B.{len(p.splits) + 1} Witness trajectory.}} Plain SGD on one example, "
             rf"$\eta = {ctx.tex(sp.Rational(tr.learning_rate))}$, {plural(tr.steps, 'step')}, at "
             rf"${point_tex(ctx, tr.point)}$" + (" (the symbolic widths at these values)" if widths else "")
             + r". The change $\Delta_t$ of each class at its first-move step $t$ excludes $0$:"]
    by_step: dict[int, list[tuple[int, str]]] = {}
    for k, step, change in tr.moved:
        by_step.setdefault(step, []).append((k, change))
    for step in sorted(by_step):
        items = by_step[step]
        values = []
        for k, change in items:
            b = p.classes[k][0]
            g = at_init.get(b) if (at_init is not None and step == 1) else None
            values.append(Certified(change, _exact_if_inside(g, point, change, -eta)))
        texts = certified_texts(values, nonzero=[True] * len(values))
        entries: dict[Block, str] = {}
        for (k, _), t in zip(items, texts):
            for b in p.classes[k]:
                entries[b] = t
        tables = parameter_tables(ctx, entries, rf"\Delta_{{{step}}} {{}}")
        lines += tables
    moved = {k for k, _, _ in tr.moved}
    finite = [k for k, fm in p.first_moves.items() if fm.step is not None]
    missing = [k for k in sorted(finite) if k not in moved]
    if missing:
        lines.append(r"Not certified along this trajectory (their first-move steps are lower bounds only): "
                     + ", ".join(f"${ctx.class_symbol(k)}$" for k in missing) + ".")
    full = getattr(ctx.analysis, "full_witnesses", None)
    if full:  # input reduction: the run on the full network (symderiv.witness_full)
        lines += full_witness_latex(ctx, full[0], f"B.{len(p.splits) + 2}")
    return lines


# ---------------------------------------------------------------- C. undecided
def _undecided(ctx: Context) -> list[str]:
    p = ctx.proof
    if not p.undecided:
        return []
    lines = [r"\section{Undecided}\label{sec:undecided}"]
    lines.append(r"The following were neither proved nor refuted within the work budget. They are \emph{not} "
                 r"claimed; the corresponding constraints were dropped (so the theorem stays true) and sharpness "
                 r"is not claimed for them:")
    lines.append(r"\begin{enumerate}")
    lines += [rf"\item {latex_text(u)}" for u in p.undecided[:MAX_LIST_ITEMS]]
    if len(p.undecided) > MAX_LIST_ITEMS:
        lines.append(rf"\item and {len(p.undecided) - MAX_LIST_ITEMS} more (see the analysis object)")
    return lines + [r"\end{enumerate}"]


def appendix_sections(ctx: Context) -> list[str]:
    """The appendix, from ``\\appendix`` on."""
    return [r"\appendix"] + _closed_forms(ctx) + _certificates(ctx) + _undecided(ctx)
