"""The proof document: a standalone LaTeX write-up of an :class:`~symderiv.analysis.Analysis`.

:func:`proof_document` turns what the prover established into a document a
mathematician can read and check: the setting (network, loss, label domain,
kink convention), the init, the theorem, the two lemmas it rests on, and the
proof itself: the invariant subspace ``V(P*)``, the identities checked on it,
the certified witnesses of every relaxation step, the first-move argument and
the certified witness trajectory.  Anything undecided is listed, never claimed.

The document uses only ``amsmath``, ``amssymb`` and ``amsthm`` (TeX Live's
``latex-base`` and ``latex-recommended``).  Closed forms are printed through
:class:`symderiv.closed_forms.ClosedForms`: small ones as they are, large ones with
named sub-expressions (``z^{(l)}_C`` and ``δ^{(l)}_C`` of the recursion, and
``u_k`` for other shared sub-expressions) listed under the formula, too large ones
as a size note; deep networks are derived abbreviated, never expanded.  Formulas
whose LaTeX is still longer than :data:`MAX_FORMULA_CHARS` are omitted with a note
giving their size, and the document prints at most :data:`MAX_DEFINITIONS`
definitions, so deep closed forms never break compilation.  The output is deterministic: the same
analysis gives a byte-identical document.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import sympy as sp
from sympy.core.function import _coeff_isneg

from ..closed_forms import ClosedForms, expand_definitions, size_text, tree_size
from ..engine import Pass, backprop, expansion_refusal
from ..errors import InvalidArgument, check_argument
from ..guard import public_entry
from ..patterns import Block, UnitClass
from .printer import SymderivLatexPrinter, TexSymbol

__all__ = ["proof_document", "analysis_latex", "latex_text", "MAX_FORMULA_CHARS", "MAX_LIST_ITEMS", "MAX_DEFINITIONS"]

#: a formula whose LaTeX is longer than this is omitted (with its size) instead of printed
MAX_FORMULA_CHARS = 1500
#: named sub-expressions printed in one document; later closed forms that need more are omitted
MAX_DEFINITIONS = 400
#: a closed form is appended to a row of the recursion only when its tree has at most this many nodes
_ROW_CLOSED_NODES = 40
#: lists of blocks longer than this are cut, with the number left out
MAX_LIST_ITEMS = 40
#: a displayed formula longer than this (LaTeX characters) is broken over lines at its top-level terms
_LINE_CHARS = 110
#: a formula that is not a sum (so cannot be broken at its terms) and is longer than this is omitted
_UNBREAKABLE_CHARS = 150
#: the same for one row of an aligned list of formulas
_ROW_CHARS = 80


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


def latex_text(text: object) -> str:
    """Plain text made safe for LaTeX: special characters escaped, the few non-ASCII
    symbols symderiv writes mapped to LaTeX, anything else non-ASCII replaced by ``?``."""
    out = []
    for ch in str(text):
        if ch in _TEXT_ESCAPES:
            out.append(_TEXT_ESCAPES[ch])
        elif ord(ch) < 128:
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _join(items: Sequence[str], last: str = "and") -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {last} " + items[-1]


# ---------------------------------------------------------------- the context: how to print the objects of a proof
@dataclass
class _Context:
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

    def derivation(self, values: dict[Block, sp.Expr]) -> Pass:
        """The pass at ``values``: expanded when that is cheap, abbreviated (named ``z``/``δ``) otherwise."""
        short = backprop(self.net, self.partition, values, abbreviate=True)
        return short if expansion_refusal(short) is not None else backprop(self.net, self.partition, values)

    # formulas
    def tex(self, expr: object) -> str:
        """A SymPy expression (or number) in LaTeX."""
        return self.printer.doprint(_as_expr(expr))

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
        from ..prover import block_label

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
        return _as_expr(size)

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
            items = items[:MAX_LIST_ITEMS] + [f"and {_plural(cut, 'more block')} (see the JSON of the analysis)"]
        return ", ".join(items)


# ---------------------------------------------------------------- displayed formulas
def _terms_tex(ctx: _Context, expr: sp.Expr) -> list[str]:
    """The top-level terms of a sum, each with its sign, as SymPy's printer orders them."""
    out = []
    for i, term in enumerate(ctx.printer._as_ordered_terms(expr, order=None)):
        if _coeff_isneg(term):
            t = "- " + ctx.printer._print(-term)
        else:
            t = ("+ " if i else "") + ctx.printer._print(term)
        out.append(t)
    return out


def _chunks(terms: Sequence[str], width: int) -> list[str]:
    """Signed terms joined into lines of at most about ``width`` characters."""
    lines, current = [], ""
    for term in terms:
        if current and len(current) + len(term) > width:
            lines.append(current.rstrip())
            current = ""
        current += term + " "
    return lines + [current.rstrip()]


def _omitted(expr: sp.Expr, chars: int) -> str:
    # short, so that the note itself fits on a line: the closed form is in the analysis object and JSON
    size = size_text(tree_size(expr))
    return rf"\text{{(closed form of {size} nodes omitted)}}"


def _too_large(note: str) -> str:
    return rf"\text{{({latex_text(note.strip('<>'))})}}"


def _as_expr(value: object) -> sp.Basic:
    """Internal numbers as SymPy objects (never text: nothing here is parsed)."""
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a SymPy expression or an int, got {type(value).__name__}")
    return sp.Integer(value)


def display(ctx: _Context, lhs: str, expr: object, relation: str = "=", forms: ClosedForms | None = None) -> str:
    """``lhs relation expr`` as a display: one line, broken at the terms of a long sum; a large
    closed form abbreviated (its new names defined below it, through ``forms``, by default the
    document's printer), a too large one replaced by a note."""
    expr = _as_expr(expr)
    forms = forms or ctx.forms
    form = forms.abbreviate(expr)
    if form.omitted:
        return rf"\[ {lhs} {relation} {_too_large(form.note)} \]"
    ctx.definitions_printed += len(form.definitions)
    out = _display_line(ctx, lhs, form.expr, relation)
    if form.definitions:
        rows = []
        for name, rhs in form.definitions:
            body = ctx.tex(rhs)
            chunks = _chunks(_terms_tex(ctx, rhs), _ROW_CHARS) if isinstance(rhs, sp.Add) else [body]
            if len(body) > MAX_FORMULA_CHARS or any(len(c) > _UNBREAKABLE_CHARS for c in chunks):
                rows.append(f"{ctx.tex(name)} &= {_omitted(rhs, len(body))}")
            elif len(body) > _ROW_CHARS and isinstance(rhs, sp.Add):
                rows.append(f"{ctx.tex(name)} &= " + " \\\\\n&\\quad ".join(chunks))
            else:
                rows.append(f"{ctx.tex(name)} &= {body}")
        out += "\nwhere\n\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"
    return out


def _display_line(ctx: _Context, lhs: str, expr: sp.Basic, relation: str) -> str:
    body = ctx.tex(expr)
    if len(body) > MAX_FORMULA_CHARS or (not isinstance(expr, sp.Add) and len(lhs) + len(body) > _UNBREAKABLE_CHARS):
        # a line LaTeX cannot break (a long product or quotient) would run off the page
        return rf"\[ {lhs} {relation} {_omitted(expr, len(body))} \]"
    if len(lhs) + len(body) <= _LINE_CHARS or not isinstance(expr, sp.Add):
        return rf"\[ {lhs} {relation} {body} \]"
    lines, current = [], f"{lhs} {relation} "
    for term in _terms_tex(ctx, expr):
        if len(current) > 20 and len(current) + len(term) > _LINE_CHARS:
            lines.append(current)
            current = ""
        current += term + " "
    lines.append(current)
    if any(len(line) > _UNBREAKABLE_CHARS for line in lines):  # one term alone is wider than the page
        return rf"\[ {lhs} {relation} {_omitted(expr, len(body))} \]"
    return "\\begin{multline*}\n" + " \\\\\n".join(line.rstrip() for line in lines) + "\n\\end{multline*}"


# ---------------------------------------------------------------- enclosures and exact points
_ENCLOSURE = re.compile(r"(\S+) \(±(\S+)\)")


def _number_tex(text: str) -> str:
    mantissa, _, exponent = text.partition("e")
    if not exponent:
        return mantissa
    return rf"{mantissa}\cdot 10^{{{int(exponent)}}}"


def enclosure_tex(text: str) -> str:
    """``-0.1042 (±2.9e-62)`` → ``-0.1042 \\pm 2.9\\cdot 10^{-62}``; a point value as is."""
    m = _ENCLOSURE.fullmatch(text.strip())
    if m is None:
        value = text.strip()
        return "0" if _is_zero(value) else rf"\approx {_number_tex(value)}"
    return rf"{_number_tex(m[1])} \pm {_number_tex(m[2])}"


def _is_zero(value: str) -> bool:
    try:
        return float(value) == 0.0
    except ValueError:
        return False


def point_tex(ctx: _Context, point: Sequence[tuple[str, str]]) -> str:
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


# ---------------------------------------------------------------- sections
Section = Callable[[_Context], list[str]]


def _preamble(ctx: _Context, title: str) -> list[str]:
    return [
        r"\documentclass[11pt]{article}",
        r"\usepackage{amsmath,amssymb,amsthm}",
        r"\allowdisplaybreaks",
        r"\sloppy",
        r"\newtheorem{theorem}{Theorem}",
        r"\newtheorem{lemma}{Lemma}",
        r"\theoremstyle{definition}",
        r"\newtheorem{definition}{Definition}",
        r"\theoremstyle{remark}",
        r"\newtheorem*{remark}{Remark}",
        rf"\title{{{latex_text(title)}}}",
        r"\author{Generated by symderiv}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
    ]


def _abstract(ctx: _Context) -> list[str]:
    lines = [r"\begin{abstract}", "In plain words (each sentence is proved below):", r"\begin{itemize}"]
    lines += [rf"\item {latex_text(line)}" for line in ctx.analysis.summary().splitlines()]
    return lines + [r"\end{itemize}", r"\end{abstract}"]


# ---- 1. setting
def _setting(ctx: _Context) -> list[str]:
    net = ctx.net
    L = net.depth
    widths = ", ".join(f"n_{{{l}}} = {ctx.tex(n)}" for l, n in enumerate(net.sizes))
    bias = net.bias
    lines = [
        r"\section{Setting}",
        rf"A multilayer perceptron with $L = {L}$ {'layer' if L == 1 else 'layers'} and widths ${widths}$"
        + (" (symbolic widths are arbitrary positive integers)" if net.is_symbolic else "") + ":",
        r"\begin{gather*}",
        rf"z^{{(l)}} = W^{{(l)}} h^{{(l-1)}}{' + b^{(l)}' if bias else ''} \quad (1 \le l \le L),\\",
        r"h^{(0)} = x, \qquad h^{(l)} = f_l\bigl(z^{(l)}\bigr) \quad (1 \le l < L),\\",
        r"\ell = \ell\bigl(z^{(L)}, y\bigr) \quad \text{(per example).}",
        r"\end{gather*}",
        rf"The parameters are $\theta = ({', '.join(ctx.param(n) for n in net.parameter_names())})$, "
        r"with $W^{(l)} \in \mathbb{R}^{n_l \times n_{l-1}}$" + (r" and $b^{(l)} \in \mathbb{R}^{n_l}$" if bias else "")
        + (". The network has no biases." if not bias else "."),
    ]
    lines += _activations(ctx)
    lines += _loss(ctx)
    lines += [
        r"\paragraph{Backward pass.} With $\delta^{(l)} = \partial\ell/\partial z^{(l)}$,",
        r"\[ \delta^{(l)} = \bigl(W^{(l+1)\top} \delta^{(l+1)}\bigr) \odot f_l'\bigl(z^{(l)}\bigr), \qquad "
        r"\frac{\partial \ell}{\partial W^{(l)}} = \delta^{(l)} h^{(l-1)\top}"
        + (r", \qquad \frac{\partial \ell}{\partial b^{(l)}} = \delta^{(l)}." if bias else ".") + r" \]",
        r"\paragraph{Data.} One example $(x, y)$ with symbolic entries $x = "
        rf"({ctx.tex(sp.Symbol('x_1'))}, \dots, {ctx.tex(sp.Symbol(f'x_{net.sizes[0]}'))})$"
        r" and labels as above. Every identity below holds for every example, hence for every minibatch, "
        r"whose gradient is an average of per-example gradients.",
    ]
    return lines


def _activations(ctx: _Context) -> list[str]:
    net = ctx.net
    if net.depth == 1:
        return [r"\paragraph{Activations.} There is no hidden layer."]
    z = sp.Symbol("z", real=True)
    groups: dict[Any, list[int]] = {}
    for l in range(1, net.depth):
        groups.setdefault(net.activation_of(l), []).append(l)
    lines = [r"\paragraph{Activations.}"]
    for act, layers in groups.items():
        which = _join([str(l) for l in layers])
        lines.append(rf"For $l = {which}$ ({latex_text(act.describe())}):")
        lines.append(rf"\[ f_l(z) = {ctx.tex(act(z))}, \qquad f_l'(z) = {ctx.tex(act.derivative(z))}. \]")
        if act.is_kinked:
            lines.append(
                rf"Here $f_l$ is not differentiable at $0$; symderiv uses the \emph{{convention}} "
                rf"$f_l'(0) = {ctx.tex(act.kink_grad)}$ (PyTorch's \texttt{{relu}} uses $0$, \texttt{{torch.maximum}} "
                r"$\tfrac12$, \texttt{clamp\_min} $1$). $\operatorname{H}_a$ is the unit step with "
                r"$\operatorname{H}_a(z) = 0$ for $z < 0$, $\operatorname{H}_a(0) = a$ and $\operatorname{H}_a(z) = 1$ "
                r"for $z > 0$. Every statement below is for this convention."
            )
    return lines


def _softmax_ce(ctx: _Context, K: int) -> list[str]:
    return [
        rf"\paragraph{{Loss: softmax cross-entropy}} ($K = {K}$ outputs).",
        r"\[ p_k = \frac{e^{z^{(L)}_k}}{\sum_{j=1}^{K} e^{z^{(L)}_j}}, \qquad \ell = -\sum_{k=1}^{K} y_k \log p_k, "
        r"\qquad \delta^{(L)} = p - y. \]",
        r"The labels lie on the probability simplex ($y_k \ge 0$, $\sum_k y_k = 1$; one-hot labels are a special "
        rf"case). The constraint is built in by eliminating $y_{{{K}}} = 1 - \sum_{{k<{K}}} y_k$, so that "
        rf"$\delta^{{(L)}}_{{{K}}} = -\sum_{{k<{K}}} \delta^{{(L)}}_k$ and $\sum_k \delta^{{(L)}}_k = 0$ "
        r"identically. Without it the results would be wrong: when every output unit sees the same hidden vector, "
        r"the hidden layer's gradient is a multiple of $\sum_k (p_k - y_k)$, which vanishes on the simplex.",
    ]


def _sigmoid_bce(ctx: _Context, K: int) -> list[str]:
    return [
        rf"\paragraph{{Loss: sigmoid binary cross-entropy}} ($K = {K}$ independent binary outputs).",
        r"\begin{gather*} p_k = \sigma\bigl(z^{(L)}_k\bigr) = \frac{1}{1 + e^{-z^{(L)}_k}}, \qquad "
        r"\delta^{(L)} = p - y, \\ \ell = -\sum_{k=1}^{K} \bigl(y_k \log p_k + (1 - y_k) \log (1 - p_k)\bigr), "
        r"\end{gather*}",
        r"with labels $y_k \in [0, 1]$, unconstrained otherwise.",
    ]


def _mse(ctx: _Context, K: int) -> list[str]:
    return [
        rf"\paragraph{{Loss: mean squared error}} ($K = {K}$ outputs, as PyTorch's \texttt{{MSELoss}}).",
        r"\[ \ell = \frac{1}{K} \sum_{k=1}^{K} \bigl(z^{(L)}_k - y_k\bigr)^2, \qquad "
        r"\delta^{(L)} = \frac{2}{K}\bigl(z^{(L)} - y\bigr), \]",
        r"with real labels $y \in \mathbb{R}^K$.",
    ]


#: one entry per registered loss: how the setting section states it
LOSS_WRITERS: dict[str, Callable[[_Context, int], list[str]]] = {
    "softmax_cross_entropy": _softmax_ce,
    "sigmoid_binary_cross_entropy": _sigmoid_bce,
    "mean_squared_error": _mse,
}


def _generic_loss(ctx: _Context, K: int) -> list[str]:
    z = [TexSymbol(f"z^{{(L)}}_{{{k}}}", real=True) for k in range(1, K + 1)]
    y = ctx.net.loss.labels(K)
    lines = [rf"\paragraph{{Loss: \texttt{{{latex_text(ctx.net.loss.name)}}}}} ($K = {K}$ outputs). "
             rf"Labels: {latex_text(ctx.net.loss.label_domain)}."]
    for k, d in enumerate(ctx.net.loss.delta(z, y), start=1):
        lines.append(display(ctx, rf"\delta^{{(L)}}_{{{k}}}", d))
    return lines


def _loss(ctx: _Context) -> list[str]:
    writer = LOSS_WRITERS.get(ctx.net.loss.name, _generic_loss)
    return writer(ctx, ctx.net.n_outputs)


# ---- 2. init
def _init_section(ctx: _Context) -> list[str]:
    p = ctx.proof
    lines = [r"\section{Initialization}",
             rf"The init $\theta^{{(0)}}$ ({latex_text(ctx.analysis.init_description)}):", r"\begin{itemize}"]
    for name in ctx.net.parameter_names():
        lines.append(rf"\item ${ctx.param(name)}$: {_init_text(ctx, name, p.inits[name])}")
    lines.append(r"\end{itemize}")
    lines += _unit_classes_text(ctx)
    return lines


def _init_text(ctx: _Context, name: str, init: Any) -> str:
    if init.kind == "uniform":
        if init.value == 0:
            return "every entry is $0$."
        return f"every entry equals ${ctx.tex(init.value)}$."
    if init.kind == "generic":
        kind, l = ctx.net.parse_name(name)
        entry = f"W^{{({l})}}_{{i,j}}" if kind == "W" else f"b^{{({l})}}_{{i}}"
        return f"generic: every entry is its own free symbol ${entry}$ (no accidental symmetry)."
    arr = init.array
    if arr.size <= 36:
        matrix = sp.Matrix(arr.tolist()) if arr.ndim == 2 else sp.Matrix(list(arr))
        return f"the explicit array ${ctx.tex(matrix)}$."
    return f"an explicit array of {arr.size} exact entries (listed in the JSON of the analysis)."


def _unit_classes_text(ctx: _Context) -> list[str]:
    net, part = ctx.net, ctx.partition
    if net.depth == 1:
        return []
    lines = [
        r"\paragraph{Unit classes.} Hidden units with identical incoming rows, biases and outgoing columns at the "
        r"init form a \emph{class}; Lemma~\ref{lem:units} shows they stay identical. The classes are:",
        r"\begin{itemize}",
    ]
    for l in range(1, net.depth):
        classes = part.classes[l]
        desc = ", ".join(f"$\\{{{ctx.units(C)}\\}}$" if C.size != 1 else f"$\\{{{ctx.units(C)}\\}}$" for C in classes)
        lines.append(rf"\item layer {l} (width ${ctx.tex(net.sizes[l])}$): {_plural(len(classes), 'class', 'classes')}: {desc}.")
    lines += [r"\end{itemize}",
              r"We write $W^{(l)}_{I,J}$ for the \emph{block} of entries with row in the class $I$ and column in the "
              r"class $J$ (inputs and outputs are always single units), $b^{(l)}_I$ likewise, and $a..b$ for "
              r"$\{a, \dots, b\}$."]
    return lines


# ---- 3. theorem
def _theorem(ctx: _Context) -> list[str]:
    opt = ctx.analysis.optimizers
    lines = [
        r"\section{Result}",
        r"\begin{theorem}\label{thm:main}",
        rf"Let $\theta^{{(t)}}$ be the parameters after $t$ updates of any optimizer of the class "
        rf"\emph{{{latex_text(opt.name)}}} ({latex_text(_join(list(opt.members)))}), on any dataset, with any batch "
        r"size, sample order and learning-rate schedule, started at the init $\theta^{(0)}$ above. Then for every "
        r"$t \ge 0$:",
        r"\begin{enumerate}",
    ]
    lines += _zero_statement(ctx)
    lines += _tie_statement(ctx)
    lines += _unit_statement(ctx)
    lines += _move_statement(ctx)
    lines += [r"\end{enumerate}"]
    if ctx.proof.undecided:
        lines.append(rf"The {_plural(len(ctx.proof.undecided), 'identity', 'identities')} listed in "
                     r"Section~\ref{sec:undecided} were neither proved nor refuted; nothing above depends on them.")
    lines += [r"\end{theorem}"]
    lines.append(
        r"Moreover the statement is \emph{sharp} among zero/tie statements: no invariant pattern of zeros and "
        r"ties containing $\theta^{(0)}$ is stronger (Section~\ref{sec:relaxation})"
        + (r" for generic values of the init symbols (Section~\ref{sec:conditions})" if ctx.proof.init_symbols else "")
        + (", except possibly at the undecided identities." if ctx.proof.undecided else ".")
    )
    return lines


def _conditions_and_floats(ctx: _Context) -> list[str]:
    """Which statements need a condition (generic values, no weight decay), and which hold in IEEE
    arithmetic: read from the analysis, computed nothing."""
    a = ctx.analysis
    lines = [r"\section{Conditions and floating point}\label{sec:conditions}"]
    note = a.input_reduction_note() if hasattr(a, "input_reduction_note") else None
    if note:
        lines.append(r"\paragraph{Input reduction.} " + latex_text(note) + r" The sections below are written "
                     r"for the reduced network; the lemma of \texttt{symderiv.inputs} lifts every statement to "
                     r"every input coordinate.")
    conditions = list(getattr(a, "conditions", []))
    if not conditions:
        lines.append(r"Every statement of Theorem~\ref{thm:main} holds unconditionally: at every value of every "
                     r"symbol, for the whole optimizer class (first-move steps without weight decay).")
    else:
        lines.append(r"Every statement of Theorem~\ref{thm:main} holds unconditionally except the following, "
                     r"whose condition is named in the JSON of the analysis entry by entry.")
        lines.append(r"\begin{itemize}")
        for c in conditions:
            lines.append(rf"\item \textbf{{{latex_text(c.id)}}}: {latex_text(c.sentence())}")
        lines.append(r"\end{itemize}")
    lines.append(r"\paragraph{Floating point.} Every statement above is a theorem of exact arithmetic. A zero "
                 r"that rests only on multiplications by exact zeros holds bit for bit in IEEE arithmetic; a tie "
                 r"between quantities computed by identical operations holds when identical computations round "
                 r"identically (elementwise code does; a blocked matrix product need not); a zero or tie that rests "
                 r"on an exact cancellation is a rounding residue in floats, which normalizing optimizers (Adam, "
                 r"RMSProp) can amplify into visible moves.")
    summary = a._float_summary() if hasattr(a, "_float_summary") else ""
    if summary:
        lines.append(latex_text(summary))
    else:
        lines.append(r"Here no statement rests on a cancellation.")
    return lines


def _zero_statement(ctx: _Context) -> list[str]:
    p = ctx.proof
    if p.zero_class is None:
        return [r"\item \textbf{Zeros.} No coordinate is forced to stay $0$: every zero of the init is released."]
    zero = p.classes[p.zero_class]
    whole = [n for n in ctx.net.parameter_names() if all(b in zero for b in ctx.param_blocks(n))]
    parts = []
    if whole:
        parts.append("$" + " = ".join(ctx.param(n) for n in whole) + " = 0$")
    rest = [b for b in zero if b.param not in whole]
    if rest:
        parts.append(", ".join(f"${ctx.block(b)} = 0$" for b in rest[:MAX_LIST_ITEMS])
                     + (f" and {len(rest) - MAX_LIST_ITEMS} more blocks" if len(rest) > MAX_LIST_ITEMS else ""))
    return [rf"\item \textbf{{Zeros.}} Exactly $0$ at every step: {'; '.join(parts)}."]


def _tie_statement(ctx: _Context) -> list[str]:
    p = ctx.proof
    items = []
    for k, members in enumerate(p.classes):
        if k == p.zero_class:
            continue
        size = sp.Add(*[ctx.block_size(b) for b in members])
        if size == 1:
            continue
        items.append(rf"\item[] ${ctx.class_symbol(k)}$: the {_entries(ctx, size)} of {ctx.blocks_text(members)}")
    if not items:
        return [r"\item \textbf{Ties.} No two nonzero coordinates are forced to stay equal."]
    return ([r"\item \textbf{Ties.} Within each of the following tie classes, all entries stay equal "
             r"(to each other; their common value is the class's coordinate on $V(P^*)$):",
             r"\begin{itemize}"] + items + [r"\end{itemize}"])


def _entries(ctx: _Context, size: sp.Expr) -> str:
    return f"${ctx.tex(size)}$ entries" if not (size.is_Integer and int(size) == 1) else "entry"


def _unit_statement(ctx: _Context) -> list[str]:
    part = ctx.partition
    items = []
    for l in range(1, ctx.net.depth):
        width = ctx.net.sizes[l]
        n_cls = part.n_classes(l)
        if n_cls == 1 and width != 1:
            items.append(rf"the ${ctx.tex(width)}$ units of layer {l} stay identical: the network computes as if "
                         rf"layer {l} had width $1$")
        elif isinstance(width, int) and n_cls < width:
            items.append(rf"the {width} units of layer {l} fall into {n_cls} classes of identical units")
    if not items:
        return []
    return [rf"\item \textbf{{Identical units.}} {'; '.join(items).capitalize()[0]}{'; '.join(items)[1:]} "
            r"(Lemma~\ref{lem:units})."]


def _move_statement(ctx: _Context) -> list[str]:
    p = ctx.proof
    groups: dict[str, list[Block]] = {}  # classes with the same statement, stated once
    for k, members in enumerate(p.classes):
        if k != p.zero_class:
            text = _move_text(p.first_moves[k])
            if p.first_moves[k].tight and (p.init_symbols or ctx.net.is_symbolic):
                text = text[:-1] + r" for generic values of the symbols (Section~\ref{sec:conditions})."
            groups.setdefault(text, []).extend(members)
    items = [rf"\item[] {ctx.blocks_text(sorted(members, key=p.blocks.index))}: {text}" for text, members in groups.items()]
    if not items:
        return [r"\item \textbf{First moves.} Every coordinate stays at its initial value: nothing learns."]
    return ([r"\item \textbf{First moves} (assuming no weight decay). Every entry of:", r"\begin{itemize}"] + items + [r"\end{itemize}"])


def _move_text(fm: Any) -> str:
    if fm.step is None:
        return "never changes (proved)."
    s = fm.step
    unchanged = "unchanged by the first update" if s == 2 else f"unchanged by the first {s - 1} updates"
    if fm.tight:
        return (f"moves at update {s} (certified)." if s == 1
                else f"{unchanged} (proved) and moves at update {s} (certified).")
    if s == 1:
        return "can move at update 1 (a move is not certified)."
    return f"{unchanged} (proved); a move at update {s} is not certified" + (
        ", and the zero gradient before it was undecided." if fm.undecided else ".")


# ---- 4. lemmas
def _lemmas(ctx: _Context) -> list[str]:
    opt = ctx.analysis.optimizers
    return [
        r"\section{Two lemmas}",
        r"\begin{definition}",
        r"A \emph{pattern} $P$ on the parameter coordinates is a zero set $Z$ and an equivalence relation $\sim$ "
        r"(tie classes) on the other coordinates. Its subspace is the linear space "
        r"\[ V(P) = \{\theta : \theta_a = 0 \text{ for } a \in Z,\ \theta_a = \theta_b \text{ for } a \sim b\}, \]"
        r"parametrized by one free symbol per tie class.",
        r"\end{definition}",
        r"\begin{lemma}[Invariance]\label{lem:invariance}",
        r"If for every $\theta \in V(P)$ and every single example $(x, y)$ the per-example gradient "
        r"$\nabla_\theta \ell(\theta; x, y)$ lies in $V(P)$, then every trajectory started in $V(P)$ stays in $V(P)$, "
        rf"for any dataset, batch size, sample order and learning-rate schedule, and every optimizer of the class "
        rf"\emph{{{latex_text(opt.name)}}}: {latex_text(opt.description)}.",
        r"\end{lemma}",
        r"\begin{proof}[Proof sketch]",
        r"A minibatch gradient is an average of per-example gradients, hence in $V(P)$, because $V(P)$ is linear. "
        r"These optimizers apply the same coordinate-wise function to each coordinate's history (of gradients and "
        r"values), and map an all-zero history to a zero update. By induction over the steps, tied coordinates "
        r"have identical histories, hence identical updates, and zero coordinates have all-zero histories, hence "
        r"zero updates; L2 weight decay adds $\lambda\theta_a$, which is $0$ on zero coordinates and equal on tied "
        r"ones. Global-norm clipping multiplies every coordinate by the same factor. Preconditioners that mix "
        r"coordinates (K-FAC, Shampoo) are not covered.",
        r"\end{proof}",
        r"\begin{lemma}[Identical units]\label{lem:units}",
        r"On any pattern subspace whose blocks (Section~2) are constant, units of one class have equal "
        r"$z^{(l)}$, $h^{(l)}$ and $\delta^{(l)}$, and every entry of the block $W^{(l)}_{C,D}$ has the gradient "
        r"$\delta^{(l)}_C h^{(l-1)}_D$" + (r" (every entry of $b^{(l)}_C$ has $\delta^{(l)}_C$)" if ctx.net.bias else "")
        + r". The network reduces to its quotient: with $w_{CD}$ the common value of the block,",
        r"\[ z_C = \sum_D |D|\, w_{CD}\, h_D" + (" + b_C" if ctx.net.bias else "")
        + r", \qquad \delta_D = f'(z_D) \sum_C |C|\, w_{CD}\, \delta_C, \]",
        r"so one derivation covers every width, the class sizes $|C|$ being symbols when the widths are.",
        r"\end{lemma}",
        r"\begin{proof}[Proof sketch]",
        r"Forward, by induction over $l$: units of a class have equal incoming rows and biases, and their inputs "
        r"are equal by the induction hypothesis, so their $z$ and $h$ agree. Backward, by induction down from $L$: "
        r"units of a class have equal outgoing columns and equal $f'(z)$, so their $\delta$ agree. The gradient "
        r"formulas of Section~1 then give $\delta_C h_D$ for every entry of a block. Since the gradient is "
        r"constant on blocks, the blocks stay constant under every update (Lemma~\ref{lem:invariance}).",
        r"\end{proof}",
    ]


# ---- 5. the proof
def _final_values(ctx: _Context) -> dict[Block, sp.Expr]:
    p = ctx.proof
    return {b: (sp.Integer(0) if k == p.zero_class else p.symbols[k]) for k, ms in enumerate(p.classes) for b in ms}


def _subspace(ctx: _Context) -> list[str]:
    p = ctx.proof
    lines = [
        r"\section{Proof of Theorem~\ref{thm:main}}",
        r"\subsection{The invariant pattern $P^*$}",
        r"$V(P^*)$ has one free coordinate per tie class; the zero set and the classes are:",
        r"\begin{itemize}",
    ]
    for k, members in enumerate(p.classes):
        init = sorted({ctx.tex(p.init_values[b]) for b in members})
        start = f"initially ${init[0]}$" if len(init) == 1 else "initially " + ", ".join(f"${v}$" for v in init)
        if k == p.zero_class:
            lines.append(rf"\item $Z$ (zero): {ctx.blocks_text(members)}.")
        else:
            lines.append(rf"\item ${ctx.class_symbol(k)}$: {ctx.blocks_text(members)}; {start}.")
    lines += [r"\end{itemize}",
              r"The init lies in $V(P^*)$: every block of the init is constant (Lemma~\ref{lem:units}), the zero "
              r"blocks are $0$ and the blocks of one class share their initial value."]
    return lines


def _placeholder(q: str, l: int | str, C: str) -> TexSymbol:
    return TexSymbol(f"{q}^{{({l})}}_{{{C}}}", real=True)


def _recursion(ctx: _Context, values: dict[Block, sp.Expr], state: Pass, where: str) -> list[str]:
    """The forward and backward pass on a subspace, class by class: the recursion with the
    quantities of the neighbouring layer kept as names, and the closed form when it is short."""
    net, part = ctx.net, ctx.partition
    L = net.depth
    lines = [rf"On {where}, by Lemma~\ref{{lem:units}} (the closed form follows when it is short):", r"\begin{align*}"]
    rows: list[str] = []

    def row(lhs: str, recursion: sp.Expr, closed: sp.Expr) -> None:
        rec, cl = ctx.tex(recursion), None
        if tree_size(closed, _ROW_CLOSED_NODES, state.definitions) <= _ROW_CLOSED_NODES:  # never print a large tree
            cl = ctx.tex(expand_definitions([closed], state.definitions)[0])
        if len(rec) > MAX_FORMULA_CHARS:
            text = f"{lhs} &= {_omitted(recursion, len(rec))}"
        elif len(rec) > _ROW_CHARS and isinstance(recursion, sp.Add):
            text = f"{lhs} &= " + " \\\\\n&\\quad ".join(_chunks(_terms_tex(ctx, recursion), _ROW_CHARS))
        else:
            text = f"{lhs} &= {rec}"
        if cl is None or cl == rec:
            pass
        elif len(cl) <= 90 and len(text) + len(cl) <= 2 * _LINE_CHARS:
            text += f" = {cl}"
        elif len(cl) <= 90:
            text += rf" \\ &= {cl}"
        rows.append(text)

    for l in range(1, L + 1):
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


def _identities(ctx: _Context) -> list[str]:
    p = ctx.proof
    values = _final_values(ctx)
    state = ctx.derivation(values)
    # deep: the gradients are written with the z and delta of the recursion below (never expanded)
    names = {sym: ctx.placeholder(sym) for sym in state.definitions}
    lines = [r"\subsection{The gradient on $V(P^*)$}\label{sec:gradient}"]
    lines += _recursion(ctx, values, state, r"$V(P^*)$")
    lines.append(r"The following identities hold on all of $V(P^*)$, for symbolic data:")
    lines.append(r"\begin{itemize}")
    any_identity = False
    for ident in p.identities:
        any_identity = True
        method = _method_text(ident.method)
        if ident.expr == 0:
            lines.append(rf"\item $\partial\ell/\partial\theta_B \equiv 0$ for every block $B$ of $Z$ ({method}):")
            lines += _zero_reasons(ctx, ident.members, state)
        else:
            lines.append(rf"\item the blocks {ctx.blocks_text(ident.members)} have the same gradient ({method}):")
            # the closed form (deep proofs check identities on abbreviated quantities)
            g = state.grad[ident.members[0]]
            lines.append(display(ctx, r"\frac{\partial \ell}{\partial \theta_B}", g.xreplace(names) if names else g,
                                 r"\equiv"))
    if not any_identity:
        lines.append(r"\item none is needed beyond Lemma~\ref{lem:units}: every class of $P^*$ is a single block.")
    lines.append(r"\end{itemize}")
    lines.append(
        r"Within a block the gradient is constant by Lemma~\ref{lem:units}; across the blocks of one class it is "
        r"equal by the identities above; on $Z$ it vanishes. So $\nabla\ell \in V(P^*)$ on $V(P^*)$ for every "
        r"example, and Lemma~\ref{lem:invariance} shows that every trajectory from $\theta^{(0)} \in V(P^*)$ stays in "
        r"$V(P^*)$: this proves the zeros, the ties and the identical units of Theorem~\ref{thm:main}."
    )
    return lines


_METHODS = {
    "structural": "structural: SymPy's canonical form of the expression is literally the claimed one",
    "simplification": "shown by simplification within a time bound, after no random point refuted it",
}


def _method_text(method: str) -> str:
    return latex_text(_METHODS.get(method, method))


def _zero_reasons(ctx: _Context, members: Sequence[Block], state: Pass) -> list[str]:
    """Why each zero block's gradient vanishes: which factor of ``δ_C h_D`` is 0."""
    reasons: dict[str, list[Block]] = {}
    for b in members:
        C = ctx.partition.classes[b.layer][b.row]
        if state.delta[b.layer][b.row] == 0:
            why = f"$\\delta^{{({b.layer})}}_{{{ctx.units(C)}}} = 0$"
        elif b.kind == "W" and state.h[b.layer - 1][b.col] == 0:
            D = ctx.partition.classes[b.layer - 1][b.col]
            why = f"$h^{{({b.layer - 1})}}_{{{ctx.units(D)}}} = 0$"
        else:
            why = "the product simplifies to $0$"
        reasons.setdefault(why, []).append(b)
    lines = [r"\begin{itemize}"]
    for why, blocks in reasons.items():
        lines.append(rf"\item {ctx.blocks_text(blocks)}: {why} on $V(P^*)$;")
    return lines + [r"\end{itemize}"]


def _relaxation(ctx: _Context) -> list[str]:
    p = ctx.proof
    lines = [
        r"\subsection{Relaxation history: why nothing stronger holds}\label{sec:relaxation}",
        r"Let $P_0$ be the pattern of $\theta^{(0)}$ itself (its zeros and its classes of equal values). "
        r"Starting from $P_0$, each round computes the gradient on $V(P_i)$ with symbolic data, keeps in the zero "
        r"set only the blocks whose gradient is identically $0$, and splits every class by equality of its "
        r"gradient functions (released zeros with identical gradient functions form new classes). "
        rf"After {_plural(p.iterations, 'round')} nothing changed: $P^* = P_{{{p.iterations - 1}}}$.",
        r"",
        r"\emph{Sharpness.} If $Q$ is any invariant pattern with $\theta^{(0)} \in V(Q)$, then "
        r"$V(P_0) \subseteq V(Q)$, and inductively $V(P_i) \subseteq V(Q)$: the gradient at every point of "
        r"$V(P_i)$ lies in $V(Q)$, so a constraint of $Q$ cannot be one that some gradient on $V(P_i)$ violates. "
        r"Every constraint dropped below is violated at a certified witness: an exact rational point of $V(P_i)$ "
        r"with exact data, at which rigorous interval enclosures of the gradients (written as midpoint $\pm$ "
        r"radius, midpoint rounded) exclude $0$ or are pairwise disjoint.",
    ]
    if not p.splits:
        lines.append(r"\par No constraint of $P_0$ was dropped: $P^* = P_0$.")
    for s in p.splits:
        lines += _split_text(ctx, s)
    return lines


def _split_text(ctx: _Context, s: Any) -> list[str]:
    what = "the zero set" if s.was_zero else "the tie class"
    kept = [part for part in s.parts]
    lines = [rf"\paragraph{{Round {s.iteration}.}} {what.capitalize()} ({ctx.blocks_text(s.before)}) splits into "
             rf"{_plural(len(kept), 'part')}:",
             r"\begin{itemize}"]
    for i, part in enumerate(kept):
        tag = " (stays zero)" if s.was_zero and i == 0 and _is_zero_part(ctx, s, part) else ""
        lines.append(rf"\item {ctx.blocks_text(part)}{tag}")
    lines.append(r"\end{itemize}")
    if s.witness is not None:
        lines.append(rf"Witness: at ${point_tex(ctx, s.witness.point)}$ the gradients are")
        lines.append(r"\begin{itemize}")
        for label, value in s.witness.values:
            b = ctx.block_of_label(label)
            name = ctx.block(b) if b is not None else rf"\text{{{latex_text(label)}}}"
            lines.append(rf"\item $\partial\ell/\partial {name} \in {enclosure_tex(value)}$" if "±" in value
                         else rf"\item $\partial\ell/\partial {name} {_point_relation(value)}$")
        lines.append(r"\end{itemize}")
    else:
        lines.append(r"No single certified witness separates all parts at once; each separation was certified "
                     r"at some random point (or is listed as undecided).")
    for u in s.undecided:
        lines.append(rf"Undecided here: {latex_text(u)}.")
    return lines


def _point_relation(value: str) -> str:
    return "= 0" if _is_zero(value) else enclosure_tex(value)


def _is_zero_part(ctx: _Context, s: Any, part: tuple[Block, ...]) -> bool:
    """Whether ``part`` is the zero set kept by the split ``s``: the zero set of the next
    round that splits it again, or the final one."""
    p = ctx.proof
    later = [t for t in p.splits if t.was_zero and t.iteration > s.iteration]
    if later:
        return set(part) == set(later[0].before)
    return p.zero_class is not None and set(part) == set(p.classes[p.zero_class])


def _first_moves(ctx: _Context) -> list[str]:
    p = ctx.proof
    nonzero = [k for k in range(len(p.classes)) if k != p.zero_class]
    lines = [
        r"\subsection{First moves}",
        r"Let $F_0$ be the set of all tie classes, $A_t$ the set of $\theta \in V(P^*)$ whose classes in $F_t$ "
        r"keep their initial values (the other classes free), and $F_{t+1}$ the classes of $F_t$ whose gradient "
        r"is identically $0$ on $A_t$.",
        r"\begin{lemma}\label{lem:moves}",
        r"Without weight decay, $\theta^{(t)} \in A_t$ for every $t \ge 0$; a class in $F_t \setminus F_{t+1}$ is "
        r"unchanged by updates $1, \dots, t$.",
        r"\end{lemma}",
        r"\begin{proof}",
        r"$A_0 = \{\theta^{(0)}\}$. The sets $F_t$ shrink, so the $A_t$ grow. If $\theta^{(s)} \in A_s \subseteq A_t$ "
        r"for all $s \le t$, the classes of $F_{t+1}$ have zero gradient at $\theta^{(0)}, \dots, \theta^{(t)}$ for "
        r"every example, hence an all-zero history, hence a zero update $t+1$ (no weight decay, which would move "
        r"a nonzero initial value); so $\theta^{(t+1)} \in A_{t+1}$.",
        r"\end{proof}",
    ]
    if not nonzero:
        return lines + [r"Every coordinate lies in $Z$: there is nothing to move."]
    by_step: dict[int, list[tuple[Block, ...]]] = {}
    for t, ident in p.first_move_identities:
        by_step.setdefault(t, []).append(ident.members)
    methods = {t: sorted({i.method for tt, i in p.first_move_identities if tt == t}) for t in by_step}
    last = max([fm.step for fm in p.first_moves.values() if fm.step is not None] or [0])
    lines.append(r"\begin{itemize}")
    for t in range(0, last):
        leaving = [k for k in nonzero if p.first_moves[k].step == t + 1]
        proved = by_step.get(t, [])
        text = rf"\item $t = {t}$: "
        if proved:
            blocks = [b for ms in proved for b in ms]
            how = latex_text(", ".join(methods[t]))
            text += rf"on $A_{{{t}}}$, $\partial\ell/\partial\theta \equiv 0$ for {ctx.blocks_text(blocks)} ({how}); "
        text += ("leaving $F_{" + str(t) + "}$ (first update that can change them: " + str(t + 1) + "): "
                 + ", ".join(f"${ctx.class_symbol(k)}$" for k in leaving) + ".")
        lines.append(text)
    never = [k for k in nonzero if p.first_moves[k].step is None]
    if never:
        lines.append(r"\item never leaving (unchanged forever): " + ", ".join(f"${ctx.class_symbol(k)}$" for k in never) + ".")
    lines.append(r"\end{itemize}")
    lines.append(r"Leaving $F_t$ means that the gradient was certified nonzero at some exact point of $A_t$, or that "
                 r"$\equiv 0$ was undecided (then the step is only a lower bound). Whether the class really moves is "
                 r"shown by the witness trajectory below.")
    return lines


def _trajectory(ctx: _Context) -> list[str]:
    p = ctx.proof
    lines = [r"\subsection{Certified witness trajectory}"]
    tr = p.trajectory
    finite = [k for k, fm in p.first_moves.items() if fm.step is not None]
    if tr is None:
        if finite:
            lines.append(r"No certified trajectory was found: the first-move steps are lower bounds only.")
        else:
            lines.append(r"None is needed: no class ever moves.")
        return lines
    widths = {str(n) for n in ctx.net.sizes if isinstance(n, sp.Symbol)}
    lines.append(
        rf"Plain SGD on the single example below, learning rate $\eta = {ctx.tex(sp.Rational(tr.learning_rate))}$, "
        rf"for {_plural(tr.steps, 'step')}, starting at ${point_tex(ctx, tr.point)}$"
        + (" (the symbolic widths at the values given)" if widths else "")
        + r". Along it, every gradient is enclosed in certified interval arithmetic; the change of each class at "
        r"its first-move step excludes $0$:"
    )
    lines.append(r"\begin{itemize}")
    for k, step, change in tr.moved:
        lines.append(rf"\item ${ctx.class_symbol(k)}$ changes at update {step} by ${enclosure_tex(change)}$;")
    lines.append(r"\end{itemize}")
    moved = {k for k, _, _ in tr.moved}
    missing = [k for k in sorted(finite) if k not in moved]
    if missing:
        lines.append(r"Not certified along this trajectory (their first-move steps are lower bounds only): "
                     + ", ".join(f"${ctx.class_symbol(k)}$" for k in missing) + ".")
    lines.append(r"So the certified first-move steps are tight: no statement ``unchanged for $s$ updates'' with a "
                 r"larger $s$ holds for every dataset.")
    return lines


def _first_update(ctx: _Context) -> list[str]:
    p = ctx.proof
    state = ctx.derivation(p.init_values)
    # deep: written with the recursion's z and delta at theta^(0) (in V(P*), where the recursion holds)
    bars = {sym: ctx.placeholder(sym, r"\bar") for sym in state.definitions}
    nonzero = [(b, g) for b, g in state.grad.items() if g != 0]
    lines = [r"\subsection{The first update}",
             r"At $\theta^{(0)}$ the per-example gradient is $0$ on every block not listed; on the others "
             r"(plain SGD's first update is $-\eta$ times this"
             + (r"; $\bar z$ and $\bar\delta$ are the $z$ and $\delta$ of the recursion on $V(P^*)$ "
                r"(Section~\ref{sec:gradient}) at the point $\theta^{(0)} \in V(P^*)$" if bars else "") + "):"]
    if not nonzero:
        return lines[:1] + [r"At $\theta^{(0)}$ the per-example gradient vanishes on every block."]
    for b, g in nonzero[:MAX_LIST_ITEMS]:
        lines.append(display(ctx, rf"\frac{{\partial \ell}}{{\partial {ctx.block(b)}}}", g.xreplace(bars) if bars else g))
    if len(nonzero) > MAX_LIST_ITEMS:
        lines.append(rf"and {len(nonzero) - MAX_LIST_ITEMS} more blocks (see the JSON of the analysis).")
    return lines


def _undecided(ctx: _Context) -> list[str]:
    p = ctx.proof
    lines = [r"\section{Undecided}\label{sec:undecided}"]
    if not p.undecided:
        return lines + [r"Nothing: every constraint was either proved by an identity or dropped with a certified "
                        r"witness."]
    lines.append(r"The following were neither proved nor refuted within the time bound. They are \emph{not} "
                 r"claimed; the corresponding constraints were dropped (so the theorem stays true) and sharpness "
                 r"is not claimed for them:")
    lines.append(r"\begin{enumerate}")
    lines += [rf"\item {latex_text(u)}" for u in p.undecided]
    return lines + [r"\end{enumerate}"]


#: the document, section by section
def _conservation_section(ctx: _Context) -> list[str]:
    """The proved conservation laws and signed ties (:mod:`symderiv.laws`, :mod:`symderiv.signed`), with the
    optimizer classes they hold for; empty when there are none."""
    from ..laws import law_tex

    a = ctx.analysis
    laws, signed = a.conserved, a.signed_ties.groups
    if not laws and not signed:
        return []
    lines = [r"\section{Conservation laws and signed ties}\label{sec:conservation}"]

    def ranges(law: Any) -> str:
        if not law.for_each:
            return ""
        dots = r", \dots, "
        return " (for each " + ", ".join("$" + k + r" \in \{" + v.replace("..", dots) + r"\}$"
                                         for k, v in law.for_each) + ")"

    linear = [law for law in laws if law.kind == "linear"]
    if linear:
        complete = a.conservation.linear.complete
        lines.append(
            r"\paragraph{Linear laws.} Each quantity below is constant along every trajectory of SGD, heavy-ball "
            r"momentum and Nesterov (optimizers linear in the gradient history; any schedule and batches): its "
            r"gradient combination vanishes identically on $V(P^*)$ (proved). They are not claimed for Adam or RMSProp, which are not linear in the gradient and can break them; with L2 "
            r"weight decay $\lambda$ under SGD at step $\eta$ each is multiplied by $1 - \eta\lambda$ per step."
            + (" The list is complete: a certified minor bounds the rank of the gradients from below." if complete
               else ""))
        lines += [r"\begin{itemize}"] + [rf"\item ${law_tex(law)}${ranges(law)}" for law in linear] + [
            r"\end{itemize}"]
    quadratic = [law for law in laws if law.kind == "quadratic"]
    if quadratic:
        lines.append(
            r"\paragraph{Quadratic laws (balancedness).} For units with $f'(z)\,z = f(z)$ (proved by sign cases), "
            r"each quantity below is constant under gradient flow; one SGD step at rate $\eta$ changes it by exactly "
            r"$\eta^2 g^\top Q g$.")
        lines += [r"\begin{itemize}"] + [rf"\item ${law_tex(law)}${ranges(law)}" for law in quadratic] + [
            r"\end{itemize}"]
    if signed:
        lines.append(
            r"\paragraph{Signed ties.} Under every optimizer odd in the gradient history (SGD, momentum, Nesterov, "
            r"RMSProp, Adam, AdamW, with or without weight decay) these blocks stay exact negatives:")
        items = []
        for g in signed:
            blocks_ = [ctx.proof.classes[k][0] for k, _ in g.members]
            items.append(r"\item $" + " = ".join(("-" if s < 0 else "") + ctx.block(b)
                                                 for b, (_, s) in zip(blocks_, g.members)) + "$")
        lines += [r"\begin{itemize}"] + items + [r"\end{itemize}"]
    return lines


SECTIONS: tuple[Section, ...] = (
    _abstract, _setting, _init_section, _theorem, _conditions_and_floats, _conservation_section, _lemmas, _subspace, _identities, _relaxation,
    _first_moves, _trajectory, _first_update, _undecided,
)


@public_entry
def proof_document(analysis: Any, *, title: str | None = None) -> str:
    """A complete, standalone LaTeX document proving what ``analysis`` established.

    * ``analysis``: the result of :func:`symderiv.analyze`.
    * ``title``: plain text (escaped); default: the network and the init.

    Compiles with ``pdflatex`` using only amsmath, amssymb and amsthm; the output
    is byte-identical for the same analysis.
    """
    check_argument(hasattr(analysis, "proof") and hasattr(analysis, "summary"),
                   "proof_document needs the result of symderiv.analyze(...), got {!r}", analysis,
                   error=InvalidArgument)
    check_argument(title is None or isinstance(title, str), "title must be a string, got {!r}", title,
                   error=InvalidArgument)
    ctx = _Context(analysis)
    if title is None:
        title = f"{analysis.net.describe()}, init {analysis.init_description}: what stays zero or tied, and when it moves"
    lines = _preamble(ctx, title)
    for section in SECTIONS:
        lines += section(ctx)
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the short form, for notebooks
@public_entry
def analysis_latex(analysis: Any) -> str:
    """A short LaTeX summary (MathJax-friendly ``$$…$$``), for ``Analysis._repr_latex_``."""
    check_argument(hasattr(analysis, "proof"), "analysis_latex needs the result of symderiv.analyze(...), got {!r}",
                   analysis, error=InvalidArgument)
    ctx = _Context(analysis)
    p = ctx.proof
    rows = [rf"\text{{{_mathjax_text(analysis.net.describe())}; init: {_mathjax_text(analysis.init_description)}}}"]
    if p.zero_class is not None:
        zero = p.classes[p.zero_class]
        whole = [n for n in ctx.net.parameter_names() if all(b in zero for b in ctx.param_blocks(n))]
        rest = [ctx.block(b) for b in zero if b.param not in whole][:8]
        rows.append(" = ".join([ctx.param(n) for n in whole] + rest) + r" = 0 \text{ forever (proved)}")
    for l in range(1, ctx.net.depth):
        n_cls, width = ctx.partition.n_classes(l), ctx.net.sizes[l]
        if n_cls == 1 and width != 1:
            rows.append(rf"\text{{layer {l}: }} {ctx.tex(width)} \text{{ identical units (as if width 1)}}")
    steps: dict[str, set] = {}
    for k, fm in p.first_moves.items():
        for b in p.classes[k]:
            steps.setdefault(b.param, set()).add(fm.step)
    moves = []
    for name in ctx.net.parameter_names():
        if name in steps:
            s = sorted(x for x in steps[name] if x is not None)
            if s:
                moves.append(f"{ctx.param(name)}: t = {s[0]}" + (f"..{s[-1]}" if len(s) > 1 else ""))
    if moves:
        rows.append(r"\text{first moves: } " + r",\ ".join(moves))
    if p.undecided:
        rows.append(rf"\text{{undecided (not claimed): {len(p.undecided)}}}")
    return "$$\\begin{array}{l}\n" + " \\\\\n".join(rows) + "\n\\end{array}$$"


def _mathjax_text(text: str) -> str:
    """Text inside ``\\text{}`` for MathJax: braces and backslashes escaped, ASCII only."""
    return "".join(ch if ch not in "{}\\$_^&%#" else {"_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#",
                                                      "$": r"\$"}.get(ch, " ") for ch in text if ord(ch) < 128)
