"""The theorem's statements in general form, and the headline built from them.

Each statement is read from the analysis (never assumed) and written the way a paper
states it: per parameter and per layer with the layer index ``l`` as a letter
(``W^{(l)} = 0`` for ``l = 1, …, L``; ``W^{(l)}`` first moves at update ``L − l + 1``),
per class of identical units with its width as a letter, and, for softmax
cross-entropy with equal logits at the init, the gradient at the init with ``K`` as a
letter.  Every general form is checked against the analysis before it is printed: the
layer formula must reproduce every layer's proved step, and the softmax formula must
equal the engine's closed form entry by entry (a mismatch falls back to the explicit
list, never to a wrong formula).

:class:`Claim` carries one statement three ways: the theorem's item (LaTeX), a short
form for the headline (LaTeX) and the same short form in plain ASCII (for the
``% headline:`` comment a reader sees first in the source).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import sympy as sp

from ..law_records import law_tex
from ..passes import SoftmaxAtInit
from ..patterns import Block
from .context import Context, join

__all__ = ["Claim", "claims", "headline", "softmax_at_init", "SoftmaxAtInit", "HEADLINE_ORDER"]


@dataclass(frozen=True)
class Claim:
    """One statement of the theorem: ``key`` names its kind (``zeros``, ``units``, ``moves``, ...)."""

    key: str
    item: str  # the theorem's item, LaTeX
    short: str  # the headline's clause, LaTeX
    plain: str  # the headline's clause, plain ASCII


#: which statements the headline prefers, in order (the first three available are used)
HEADLINE_ORDER = ("zeros", "softmax_init", "units", "moves", "signed", "laws", "quadratic")


def _layers_text(layers: Sequence[int], L: int) -> tuple[str, str]:
    """``l = 1, \\dots, 3`` / ``l = 1, 2`` in LaTeX and plain text."""
    ls = sorted(layers)
    if len(ls) >= 3 and ls == list(range(ls[0], ls[-1] + 1)):
        last = "L" if ls[-1] == L else str(ls[-1])
        return rf"l = {ls[0]}, \dots, {last}", f"l = {ls[0]}..{last}"
    return "l = " + ", ".join(map(str, ls)), "l = " + ", ".join(map(str, ls))


# ---------------------------------------------------------------- zeros and what learns
def _zero_params(ctx: Context) -> list[str]:
    p = ctx.proof
    if p.zero_class is None:
        return []
    zero = set(p.classes[p.zero_class])
    return [n for n in ctx.net.parameter_names() if all(b in zero for b in ctx.param_blocks(n))]


def _zeros(ctx: Context) -> Claim | None:
    p = ctx.proof
    if p.zero_class is None:
        return None
    whole = _zero_params(ctx)
    zero = p.classes[p.zero_class]
    rest = [b for b in zero if b.param not in whole]
    L = ctx.net.depth
    parts, plain = [], []
    general = []
    for kind in ("W", "b"):
        layers = [ctx.net.parse_name(n)[1] for n in whole if ctx.net.parse_name(n)[0] == kind]
        if layers:
            tex, txt = _layers_text(layers, L)
            general.append((f"{kind}^{{(l)}} = 0", tex, f"{kind}(l) = 0", txt))
    if whole:
        explicit = " = ".join(ctx.param(n) for n in whole) + " = 0"
        parts.append(f"${explicit}$")
        plain.append(" = ".join(whole) + " = 0")
    if rest:
        shown = rest[:8]
        parts.append(", ".join(f"${ctx.block(b)} = 0$" for b in shown) + (
            f" and {len(rest) - len(shown)} more blocks" if len(rest) > len(shown) else ""))
        plain.append(f"{len(rest)} more blocks of zeros")
    # what learns: a parameter with a block that moves (certified) or can move (a lower bound only)
    moving, certain = [], True
    for n in ctx.net.parameter_names():
        facts = [p.first_moves[p.class_of[b]] for b in ctx.param_blocks(n) if p.class_of[b] != p.zero_class]
        if any(fm.step is not None for fm in facts):
            moving.append(n)
            certain &= all(fm.tight for fm in facts if fm.step is not None)
    still = [n for n in ctx.net.parameter_names() if n not in whole and n not in moving]
    verb = "" if certain else "can "
    if moving:
        one = len(moving) == 1
        learns = "only " + join([f"${ctx.param(n)}$" for n in moving]) + f" {verb}" + (
            "learn" if not one or verb else "learns")
        learns_plain = "only " + join(moving) + f" {verb}" + ("learn" if not one or verb else "learns")
    else:
        learns, learns_plain = "nothing learns", "nothing learns"
    if still:
        learns += " (" + join([f"${ctx.param(n)}$" for n in still]) + " never changes without weight decay)"
        learns_plain += " (" + join(still) + " never changes without weight decay)"
    if general and len(whole) >= 3:
        gen = " and ".join(f"${a}$ for ${b}$" for a, b, _, _ in general)
        item = rf"\textbf{{Zeros.}} Exactly $0$ at every step: {gen}, i.e.\ {'; '.join(parts)}; {learns}."
    else:
        item = rf"\textbf{{Zeros.}} Exactly $0$ at every step: {'; '.join(parts)}; {learns}."
    short = f"{'; '.join(parts)} forever; {learns}"
    return Claim("zeros", item, short, f"{'; '.join(plain)} forever; {learns_plain}")


# ---------------------------------------------------------------- identical units
def _units(ctx: Context) -> Claim | None:
    part, net = ctx.partition, ctx.net
    single, fewer = [], []
    for l in range(1, net.depth):
        width, n_cls = net.sizes[l], part.n_classes(l)
        if n_cls == 1 and width != 1:
            single.append(l)
        elif isinstance(width, int) and n_cls < width:
            fewer.append((l, width, n_cls))
    if not single and not fewer:
        return None
    texts, plain = [], []
    if single:
        every = single == list(range(1, net.depth)) and len(single) > 1
        widths = {str(net.sizes[l]) for l in single}
        if every and len(widths) == 1:
            w = ctx.tex(net.sizes[single[0]])
            ls = "1, 2" if net.depth == 3 else r"1, \dots, L - 1"
            texts.append(rf"for every hidden layer $l = {ls}$ the $n_l = {w}$ units of layer "
                         r"$l$ stay identical: the network computes as if every hidden layer had width $1$")
            plain.append(f"each hidden layer's {widths.pop()} units stay identical (width 1 in effect)")
        else:
            for l in single:
                texts.append(rf"the ${ctx.tex(net.sizes[l])}$ units of layer {l} stay identical (as if layer {l} "
                             r"had width $1$)")
                plain.append(f"layer {l}'s {net.sizes[l]} units stay identical")
    for l, width, n_cls in fewer:
        texts.append(f"the {width} units of layer {l} fall into {n_cls} classes of identical units")
        plain.append(f"layer {l}: {n_cls} classes of identical units")
    body = "; ".join(texts)
    item = rf"\textbf{{Identical units.}} {body[0].upper()}{body[1:]} (Lemma~\ref{{lem:units}})."
    if single and len(single) == net.depth - 1 and net.depth > 1:
        short = "every hidden layer acts as width $1$"
    else:
        short = body
    return Claim("units", item, short, "; ".join(plain))


# ---------------------------------------------------------------- first moves
def _move_text(fm: Any, generic: bool) -> str:
    if fm.step is None:
        return "never changes (proved)."
    s = fm.step
    unchanged = "unchanged by the first update" if s == 2 else f"unchanged by the first {s - 1} updates"
    qualifier = r" for generic values of the symbols (Section~\ref{sec:conditions})" if generic else ""
    if fm.tight:
        return (f"moves at update {s} (certified){qualifier}." if s == 1
                else f"{unchanged} (proved) and moves at update {s} (certified){qualifier}.")
    if s == 1:
        return "can move at update 1 (a move is not certified)."
    return f"{unchanged} (proved); a move at update {s} is not certified" + (
        ", and the zero gradient before it was undecided." if fm.undecided else ".")


def _param_steps(ctx: Context) -> dict[str, tuple[int | None, bool]] | None:
    """Per parameter outside the zero set: its one first-move step and whether it is certified;
    None when some parameter's blocks move at different steps (then the theorem lists blocks)."""
    p = ctx.proof
    out: dict[str, tuple[int | None, bool]] = {}
    for name in ctx.net.parameter_names():
        facts = {(p.first_moves[p.class_of[b]].step, p.first_moves[p.class_of[b]].tight)
                 for b in ctx.param_blocks(name) if p.class_of[b] != p.zero_class}
        if not facts:
            continue
        if len(facts) > 1:
            return None
        out[name] = facts.pop()
    return out


def _moves(ctx: Context) -> Claim | None:
    p = ctx.proof
    generic = bool(p.init_symbols or ctx.net.is_symbolic)
    groups: dict[str, list[Block]] = {}
    for k, members in enumerate(p.classes):
        if k != p.zero_class:
            fm = p.first_moves[k]
            groups.setdefault(_move_text(fm, fm.tight and generic), []).extend(members)
    if not groups:
        return None
    items = [rf"\item[] {ctx.blocks_text(sorted(ms, key=p.blocks.index))}: {text}" for text, ms in groups.items()]
    steps = _param_steps(ctx)
    L = ctx.net.depth
    qual, qual_plain = (" for generic values of the symbols", " (generic values)") if generic else ("", "")
    short = plain = ""
    general = ""
    if steps:
        certified = {n: s for n, (s, tight) in steps.items() if tight and s is not None}
        layers = {ctx.net.parse_name(n)[1] for n in certified}
        if (len(certified) == len(steps) and len(layers) >= 3
                and all(s == L - ctx.net.parse_name(n)[1] + 1 for n, s in certified.items())):
            kinds = [k for k in ("W", "b") if any(ctx.net.parse_name(n)[0] == k for n in certified)]
            who = " and ".join(f"${k}^{{(l)}}$" for k in kinds)
            general = (rf"In general form: for $l = 1, \dots, L$ ($L = {L}$), {who} "
                       rf"{'is' if len(kinds) == 1 else 'are'} unchanged by the first $L - l$ updates and "
                       rf"{'moves' if len(kinds) == 1 else 'move'} at update $L - l + 1$.")
            short = f"{who} first move at update $L - l + 1$ ($L = {L}$){qual}"
            plain = f"{'/'.join(k + '(l)' for k in kinds)} first move at update L - l + 1 (L = {L}){qual_plain}"
        elif len(certified) == len(steps):
            rev: dict[int, list[str]] = {}
            for n, s in certified.items():
                rev.setdefault(s, []).append(n)
            order = sorted(rev)
            short = "; ".join(join([f"${ctx.param(n)}$" for n in rev[s]]) + f" first {'moves' if len(rev[s]) == 1 else 'move'} at update {s}"
                              for s in order) + qual
            plain = "; ".join(join(rev[s]) + f" first {'moves' if len(rev[s]) == 1 else 'move'} at update {s}"
                              for s in order) + qual_plain
    if not short:
        short = "first moves as in Theorem~\\ref{thm:main}"
        plain = "first moves per block (see the theorem)"
    item_lines = [r"\textbf{First moves} (assuming no weight decay). Every entry of:", r"\begin{itemize}"] + items + [
        r"\end{itemize}"]
    if general:
        item_lines.append(general)
    return Claim("moves", "\n".join(item_lines), short, plain)


# ---------------------------------------------------------------- softmax cross-entropy at equal logits
def softmax_at_init(ctx: Context) -> SoftmaxAtInit | None:
    """The softmax statement when it holds (the analysis's fact
    :attr:`symderiv.passes.Passes.softmax_at_init`, checked on its pass at the init)."""
    return ctx.analysis.passes.softmax_at_init


def _softmax_claim(ctx: Context) -> Claim | None:
    s = softmax_at_init(ctx)
    if s is None:
        return None
    L = ctx.net.depth
    h = "x" if L == 1 else rf"h^{{({L - 1})}}(x)"
    hp = "x" if L == 1 else f"h{L - 1}(x)"
    W, b = ctx.param(f"W{L}"), (ctx.param(f"b{L}") if ctx.net.bias else None)
    grad_b = rf", \quad \frac{{\partial\ell}}{{\partial {b}_k}} = \frac1K - y_k" if b else ""
    item = (rf"\textbf{{Gradient at the init}} (softmax with $K = {s.K}$ equal logits; Lemma~\ref{{lem:simplex}}). "
            rf"For every example $(x, y)$ and every class $k$,"
            rf"\[ \frac{{\partial\ell}}{{\partial {W}_{{k,:}}}}\Big|_{{\theta^{{(0)}}}} = \Bigl(\frac1K - y_k\Bigr) {h}^\top"
            rf"{grad_b}. \]")
    if s.hidden_zero:
        item += rf" Here $h^{{({L - 1})}} = 0$ at the init, so only the output bias gets a gradient."
        short = rf"at the init $\partial\ell/\partial {b}_k = 1/K - y_k$" if b else ""
        plain = f"at the init dl/db{L}_k = 1/K - y_k" if b else ""
        if not short:
            return Claim("softmax_init", item, "", "")
        return Claim("softmax_init", item, short, plain)
    L_zero = all(v == 0 for b, v in ctx.proof.init_values.items() if b.layer == L)
    item += (" The formula uses only that the logits are equal at the init, which the analysis checked here "
             rf"($K = {s.K}$, $n_{{{L - 1}}} = {ctx.tex(ctx.net.sizes[L - 1])}$)"
             + (rf"; since ${W} = 0$" + (f" and ${b} = 0$" if b else "") + " there, it holds for every $K$ and every "
                + ("input dimension $n$." if L == 1 else "width.") if L_zero else "."))
    item += (rf" For a one-hot label $y = e_c$ (true class $c$) the true-class row gets $(\frac1K - 1)\,{h}$ and every "
             rf"other row ${h}/K$: opposite directions, equal lengths only when $K = 2$.")
    if s.rows_equal:
        item += (r" Since the rows of " + f"${W}$" + (f" and the entries of ${b}$" if b else "") +
                 r" are equal at the init, after the first update on one example (any optimizer of the class: "
                 r"equal gradients give equal updates) the $K - 1$ wrong-class rows are still equal to each other.")
    short = (rf"at the init, one example $(x, c)$ gives the true-class row of ${W}$ the gradient "
             rf"$(\frac1K - 1)\,{h}$ and every other row ${h}/K$")
    plain = f"at the init, one example (x, c) gives the true-class row of W{L} the gradient (1/K - 1){hp} and every other row {hp}/K"
    if L == 1:
        short = r"with $K$ classes and inputs $x \in \mathbb{R}^n$, " + short
        plain = "with K classes and inputs x in R^n, " + plain
    if s.rows_equal:
        short += r", so after one update the $K - 1$ wrong-class rows are equal"
        plain += ", so after one update the K - 1 wrong-class rows are equal"
    return Claim("softmax_init", item, short, plain)


# ---------------------------------------------------------------- conservation laws and signed ties
def _column_sum(law: Any, ctx: Context) -> tuple[int, str, int | None] | None:
    """``(layer, kind, column)`` when a linear law is a plain sum of one output column (or of the
    output bias) over every row, coefficient 1: the softmax translation law."""
    if law.kind != "linear" or law.for_each:
        return None
    expr = law.expression
    if not isinstance(expr, sp.Add) or any(c != 1 for c in expr.as_coefficients_dict().values()):
        return None
    keys: set[tuple[int, str, int | None]] = set()
    rows = []
    for sym in expr.free_symbols:
        parts = sym.name.split("_")
        if len(parts) == 3 and parts[0][:1] == "W":
            keys.add((int(parts[0][1:]), "W", int(parts[2])))
        elif len(parts) == 2 and parts[0][:1] == "b":
            keys.add((int(parts[0][1:]), "b", None))
        else:
            return None
        rows.append(int(parts[1]))
    if len(keys) != 1:
        return None
    layer, kind, col = keys.pop()
    width = ctx.net.sizes[layer]
    if not isinstance(width, int) or sorted(rows) != list(range(1, width + 1)):
        return None
    return layer, kind, col


def law_items(ctx: Context, laws: Sequence[Any]) -> list[str]:
    """The linear laws as math, column sums grouped: ``\\sum_k W^{(2)}_{k,j}`` for every ``j``."""
    sums: dict[tuple[int, str], list[int | None]] = {}
    other = []
    for law in laws:
        c = _column_sum(law, ctx)
        if c is None:
            other.append(law)
        else:
            sums.setdefault((c[0], c[1]), []).append(c[2])
    items = []
    for (layer, kind), cols in sums.items():
        n = ctx.tex(ctx.net.sizes[layer])
        if kind == "b":
            items.append(rf"$\sum_{{k=1}}^{{{n}}} b^{{({layer})}}_k$")
            continue
        width = ctx.net.sizes[layer - 1]
        js = sorted(c for c in cols if c is not None)
        if isinstance(width, int) and js == list(range(1, width + 1)):
            items.append(rf"$\sum_{{k=1}}^{{{n}}} W^{{({layer})}}_{{k,j}}$ for every column $j = 1, \dots, {width}$")
        else:
            items.append(rf"$\sum_{{k=1}}^{{{n}}} W^{{({layer})}}_{{k,j}}$ for $j \in \{{{', '.join(map(str, js))}\}}$")
    for law in other:
        ranges = ""
        if law.for_each:
            ranges = " (for each " + ", ".join("$" + k + r" \in \{" + v.replace("..", r", \dots, ") + r"\}$"
                                               for k, v in law.for_each) + ")"
        items.append(f"${law_tex(law)}${ranges}")
    return items


def _laws(ctx: Context) -> Claim | None:
    linear = [law for law in ctx.analysis.conserved if law.kind == "linear"]
    if not linear:
        return None
    items = law_items(ctx, linear)
    complete = ctx.analysis.conservation.linear.complete
    item = (r"\textbf{Conservation} (SGD, momentum, Nesterov; not claimed for Adam or RMSProp). Constant along every "
            r"trajectory: " + "; ".join(items) + "." + (" No other linear law holds (certified rank)." if complete else ""))
    sums = [s for law in linear if (s := _column_sum(law, ctx)) is not None]
    if sums and len(sums) == len(linear):
        layer = sums[0][0]
        what = rf"every column sum $\sum_k W^{{({layer})}}_{{k,j}}$" + (
            rf" and $\sum_k b^{{({layer})}}_k$" if ctx.net.bias else "")
        short = what + " are conserved by SGD, momentum and Nesterov (the true-class row balances the others)"
        plain = (f"every column sum of W{layer}" + (f" and the sum of b{layer}" if ctx.net.bias else "")
                 + " are conserved by SGD, momentum and Nesterov")
    else:
        short = "; ".join(items[:2]) + (" are" if len(items) > 1 else " is") + " conserved by SGD, momentum and Nesterov"
        plain = "linear conservation laws under SGD, momentum and Nesterov (see the theorem)"
    return Claim("laws", item, short, plain)


def _quadratic(ctx: Context) -> Claim | None:
    quad = [law for law in ctx.analysis.conserved if law.kind == "quadratic"]
    if not quad:
        return None
    items = [f"${law_tex(law)}$" for law in quad[:6]]
    item = (r"\textbf{Balancedness} (gradient flow). Constant under gradient flow, changed by exactly "
            r"$\eta^2 g^\top Q g$ per SGD step: " + "; ".join(items) + ".")
    short = ("for every hidden unit, $\\|$incoming weights and bias$\\|^2 - \\|$outgoing weights$\\|^2$ is constant "
             "under gradient flow (one SGD step changes it by exactly $\\eta^2 g^\\top Q g$)")
    plain = ("for every hidden unit, |incoming weights, bias|^2 - |outgoing weights|^2 is constant under gradient flow "
             "(one SGD step changes it by exactly eta^2 g'Qg)")
    return Claim("quadratic", item, short, plain)


def _signed(ctx: Context) -> Claim | None:
    groups = ctx.analysis.signed_ties.groups
    if not groups:
        return None
    rows = []
    for g in groups:
        blocks_ = [ctx.proof.classes[k][0] for k, _ in g.members]
        rows.append("$" + " = ".join(("-" if s < 0 else "") + ctx.block(b) for b, (_, s) in zip(blocks_, g.members)) + "$")
    item = (r"\textbf{Signed ties} (every optimizer odd in the gradient: SGD, momentum, Nesterov, RMSProp, Adam, AdamW, "
            r"with or without weight decay). Exact negatives forever: " + "; ".join(rows) + ".")
    L = ctx.net.depth
    if _output_rows_negated(ctx, groups):
        short = rf"the two rows of ${ctx.param(f'W{L}')}$ stay exact negatives of each other, also under Adam"
        plain = f"the two rows of W{L} stay exact negatives of each other, also under Adam"
    else:
        short = "the blocks of the theorem stay exact negatives, also under Adam"
        plain = "some blocks stay exact negatives, also under Adam"
    return Claim("signed", item, short, plain)


def _output_rows_negated(ctx: Context, groups: Sequence[Any]) -> bool:
    """Whether the signed groups pair every entry of the output layer's row 1 with the same column's
    entry of row 2, with opposite signs (two outputs)."""
    p, L = ctx.proof, ctx.net.depth
    rows = ctx.partition.classes[L]
    if len(rows) != 2:
        return False
    sign_of = [{k: s for k, s in g.members} for g in groups]
    for D in ctx.partition.classes[L - 1]:
        a, b = p.class_of[Block(L, "W", 0, D.index)], p.class_of[Block(L, "W", 1, D.index)]
        if not any(a in m and b in m and m[a] == -m[b] for m in sign_of):
            return False
    return True


def _floats(ctx: Context) -> Claim | None:
    text = ctx.analysis._float_summary() if hasattr(ctx.analysis, "_float_summary") else ""
    if not text:
        return None
    short = ("in floats some of these zeros are rounding residues of an exact cancellation, which Adam "
             "can amplify (Section~\\ref{sec:conditions})")
    return Claim("floats", "", short, "in floats some zeros are cancellation residues that Adam can amplify")


_CLAIMS = (_zeros, _units, _softmax_claim, _moves, _laws, _quadratic, _signed, _floats)


def claims(ctx: Context) -> dict[str, Claim]:
    """Every statement the analysis supports, by key, in the theorem's order."""
    out = {}
    for make in _CLAIMS:
        c = make(ctx)
        if c is not None:
            out[c.key] = c
    return out


def headline(found: dict[str, Claim], focus: Sequence[str] | None = None) -> tuple[str, str]:
    """The result in one sentence: (LaTeX, plain ASCII).  ``focus`` picks the statements (in that
    order; unknown or absent ones are skipped); by default the first three of :data:`HEADLINE_ORDER`."""
    keys = [k for k in (focus or HEADLINE_ORDER) if k in found and found[k].short]
    if focus is None:
        keys = keys[:3]
    if not keys:
        return (r"the zero/tie pattern and first moves of Theorem~\ref{thm:main}",
                "the zero/tie pattern and first moves of the theorem")
    tex = "; ".join(found[k].short for k in keys)
    plain = "; ".join(found[k].plain for k in keys)
    plain = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in plain[0].upper() + plain[1:] + ".")
    return tex[0].upper() + tex[1:] + ".", plain
