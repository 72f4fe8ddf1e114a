"""The proof by induction of a :class:`~symderiv.depth.analysis.DepthAnalysis` as a standalone LaTeX document.

Sections: the result (first lines), the setting (the family, the reachable sets ``A_t``), the theorem for
every depth, the transfer lemma (the engine's computations on one generic block, closed forms displayed),
the proof by induction (base case, inductive step, conclusion), the scope (optimizer class, conditions,
what is certified only at concrete depths), and an appendix listing every engine check.  An undecided
family gets a short document that claims nothing.  Deterministic: the same analysis gives the same bytes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import sympy as sp

from ..latex.context import latex_text
from ..latex.document import standalone_preamble
from .checks import math_tex
from .family import MLPFamily
from .statement import TIGHT_CONCRETE, TIGHT_EVERY_DEPTH, EngineCheck, LayerFact

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import DepthAnalysis

__all__ = ["depth_proof_document", "prose_tex", "DepthEntry", "depth_library"]

#: formulas inside symderiv's own prose: ``W^(l)``, ``δ^(L−t)``, ``∂ℓ/∂W^(L)_{1,j}``, ``A_{t+1}``, ``α_l``
_FORMULA = re.compile(r"(?:∂ℓ/∂)?[A-Za-zδα]+\^\([^()]*\)(?:_(?:\{[^}]*\}|[A-Za-z0-9]+))?|\b[A-Z]_\{[^}]*\}|\b[Aα]_[0-9tl]\b")


#: the plain-text headline comment is ASCII (the library's index reads it)
_ASCII = {"≥": ">=", "≤": "<=", "−": "-", "α": "alpha", "δ": "delta", "·": "*", "≠": "!=", "…": "...", "ℓ": "l",
          "∂": "d", "§": "S"}


def _ascii(text: str) -> str:
    return "".join(_ASCII.get(ch, ch if ord(ch) < 128 else "?") for ch in text.replace("\n", " "))


def _escaped(text: str) -> str:
    return r"\S{}".join(latex_text(part) for part in text.split("§"))


def prose_tex(text: str) -> str:
    """symderiv's own prose (never user text) as LaTeX: formulas in math, the rest escaped."""
    out, last = [], 0
    for m in _FORMULA.finditer(text):
        out.append(_escaped(text[last:m.start()]))
        out.append("$" + math_tex(m.group(0)) + "$")
        last = m.end()
    out.append(_escaped(text[last:]))
    return "".join(out)


def _layers(fact: LayerFact) -> str:
    if fact.lo == fact.hi:
        return ""
    return rf" for ${math_tex(str(fact.lo))} \le l \le {math_tex(str(fact.hi))}$"


def _who(fact: LayerFact) -> str:
    layer = str(fact.hi) if fact.lo == fact.hi else "l"
    names = {"W": f"W^{{({layer})}}", "b": f"b^{{({layer})}}", "alpha": rf"\alpha_{{{layer}}}"}
    return ", ".join("$" + names[p] + "$" if p in names else rf"\texttt{{{latex_text(p)}}} of block ${layer}$"
                     for p in fact.params)


def _fact_item(fact: LayerFact) -> str:
    who, where = _who(fact), _layers(fact)
    if fact.stays_zero:
        return rf"\item {who}{where} stay exactly $0$ at every step."
    if fact.first_move is None:
        return rf"\item {who}{where} never change."
    step = math_tex(str(fact.first_move))
    generic = " (for generic values of the init)" if fact.generic else ""
    if not fact.can_move:
        text = (rf"\item {who}{where} are unchanged before step ${step}$; whether an update changes them at that step "
                r"is not decided here")
    elif fact.first_move == 1:
        text = rf"\item {who}{where}: their gradient at the init is not identically $0${generic}, so step $1$ can move them"
    else:
        text = (rf"\item {who}{where} are unchanged before step ${step}$, and ${step}$ is the first step at which an "
                rf"update can change them{generic}")
    if fact.tight == TIGHT_EVERY_DEPTH:
        text += "; a move at that step is certified at every depth"
    elif fact.tight == TIGHT_CONCRETE:
        text += r"; a move at that step is certified at the concrete depths of \texttt{verify()} only (evidence)"
    if fact.exact_only:
        text += (r". In IEEE arithmetic ``unchanged before'' rests on an exact cancellation (the output deltas sum "
                 r"to $0$): a rounding residue, which Adam and RMSProp can amplify")
    return text + "."


def _check_block(c: EngineCheck) -> list[str]:
    claim = c.claim[0].upper() + c.claim[1:] if c.claim[1:2].isalpha() else c.claim  # "f'(0) ≠ 0" stays as written
    return [rf"\noindent\textbf{{{latex_text(c.id)}}} ({latex_text(c.method)}). {prose_tex(claim)}.",
            r"\begin{gather*}", c.tex, r"\end{gather*}"]


def _checks_of(analysis: "DepthAnalysis", ids: tuple[str, ...]) -> list[EngineCheck]:
    return [c for c in analysis.theorem.checks if c.id in ids]


def _setting(analysis: "DepthAnalysis") -> list[str]:
    fam = analysis.family
    L = math_tex(str(fam.depth))
    lines = [r"\section{Setting}", prose_tex(fam.describe() + "; init: " + analysis.init_description() + ".")]
    if isinstance(fam, MLPFamily):
        lines.append(
            rf"The member of depth ${L}$ has parameters $W^{{(1)}}, b^{{(1)}}, \dots, W^{{({L})}}, b^{{({L})}}$ and "
            r"computes $z^{(l)} = W^{(l)} h^{(l-1)} + b^{(l)}$, $h^{(0)} = x$, $h^{(l)} = f(z^{(l)})$ for $l < "
            rf"{L}$; reverse mode is $\delta^{{({L})}} = \partial\ell/\partial z^{{({L})}}$, "
            r"$\delta^{(l)} = f'(z^{(l)}) \odot W^{(l+1)\top}\delta^{(l+1)}$, $\partial\ell/\partial W^{(l)} = "
            r"\delta^{(l)} h^{(l-1)\top}$, $\partial\ell/\partial b^{(l)} = \delta^{(l)}$.")
    else:
        lines.append(rf"The member of depth ${L}$ computes $x_0 = x$, $x_l = x_{{l-1}} + \alpha_l F_l(x_{{l-1}})$ with "
                     r"$F_l(u) = W_{2,l}\, f(W_{1,l} u + b_{1,l}) + b_{2,l}$, and the loss of $x_{" + L + "}$.")
    lines.append(
        r"The first-move iteration (docs/theory.md \S3): $A_t$ is the set of parameters in which the blocks that "
        r"have not left the iteration by step $t$ keep their init values and the others are free (within the "
        r"proved tie pattern); a block whose gradient is identically $0$ on $A_t$ (every example) is unchanged at "
        r"step $t+1$, and one whose gradient is not identically $0$ on $A_t$ leaves at step $t+1$. A subspace that "
        r"contains every per-example gradient on it is invariant (the invariance lemma, \S2).")
    return lines


def _lemma(analysis: "DepthAnalysis") -> list[str]:
    lemmas = [s for s in analysis.theorem.steps if s.kind == "lemma"]
    lines = [r"\section{The layer transfer}"]
    for k, s in enumerate(lemmas):
        label = "lem:transfer" if k == 0 else f"lem:transfer{k + 1}"
        lines += [rf"\begin{{lemma}}[{prose_tex(s.title)}]\label{{{label}}}", prose_tex(s.text), r"\end{lemma}",
                  r"\begin{proof}The engine computed these closed forms on one generic block whose neighbours are "
                  r"symbols ($h$: the state below, $d$, $d_k$: the $\delta$ above, $u$, $v_k$: the entries above, $w$, "
                  r"$b$: its own), the same block at every position $l$ of every member:"]
        for c in _checks_of(analysis, s.checks):
            lines += _check_block(c)
        lines.append(r"\end{proof}")
    return lines


def _induction(analysis: "DepthAnalysis") -> list[str]:
    th = analysis.theorem
    var = th.induction_variable
    lines = [r"\section{Proof of Theorem~\ref{thm:depth} by induction on $" + math_tex(var) + "$}"]
    for s in th.steps:
        if s.kind == "lemma":
            continue
        lines.append(rf"\paragraph{{{prose_tex(s.title)}.}} {prose_tex(s.text)} "
                     rf"(Engine checks {latex_text(', '.join(s.checks))}; Lemma~\ref{{lem:transfer}}.)")
        extra = [c for c in _checks_of(analysis, s.checks) if not any(c.id in t.checks for t in th.steps
                                                                       if t.kind == "lemma")]
        for c in extra:
            lines += _check_block(c)
    lines.append(r"\paragraph{Non-vanishing.} On each $A_t$ every quantity is a real-analytic function of the free "
                 r"parameters and the data on a connected domain (the activation is analytic). Such functions form an "
                 r"integral domain: a product of functions none of which is identically $0$ is not identically $0$; "
                 r"and if $G$ is not identically $0$ on the subset $u = 0$, then $u \cdot G$ is not identically $0$ "
                 r"(by continuity of $G$). These are the only facts used beyond the engine checks. \qed")
    return lines


def _scope(analysis: "DepthAnalysis") -> list[str]:
    th = analysis.theorem
    lines = [r"\section{Scope and evidence}", prose_tex(analysis.scope())]
    if th.conditions:
        lines.append("Conditions: " + prose_tex("; ".join(th.conditions)) + ".")
    if th.open_questions:
        lines.append("Not decided (not claimed): " + prose_tex("; ".join(th.open_questions)) + ".")
    if any(f.tight == TIGHT_CONCRETE for f in th.facts):
        lines.append(r"A move \emph{at} the first-move step along a real trajectory is certified only at the concrete "
                     r"depths that \texttt{verify()} checks (exact analyses with certified witness trajectories, and "
                     r"PyTorch runs); for other depths the theorem states the step as the first at which an update "
                     r"can change the parameters, not that a given run changes them there.")
    return lines


def depth_proof_document(analysis: "DepthAnalysis", *, title: str | None = None) -> str:
    """The standalone LaTeX proof of ``analysis`` (see the module docstring)."""
    th = analysis.theorem
    fam = analysis.family
    L = math_tex(str(fam.depth))
    title = title or ("Every depth: " + fam.describe().split(" (")[0])
    plain = th.headline if th.proved else "Undecided for symbolic depth: nothing is claimed"
    lines = standalone_preamble(title, _ascii(plain), source="symderiv.depth.analyze_depth")
    if not th.proved:
        lines += [r"\noindent\textbf{Result.} Undecided for symbolic depth: nothing is claimed.",
                  r"\section{Why}", prose_tex("; ".join(th.undecided)), r"\end{document}", ""]
        return "\n".join(lines)
    lines += [rf"\noindent\textbf{{Result.}} {prose_tex(th.headline[0].upper() + th.headline[1:])}.",
              r"\par\smallskip\noindent{\small For every dataset, batch size, sample order and learning-rate "
              rf"schedule, under every optimizer of the class \emph{{{latex_text(analysis.optimizers.name)}}}; exact "
              r"arithmetic; Theorem~\ref{thm:depth}.}"]
    lines += _setting(analysis)
    items = [_fact_item(f) for f in th.facts]
    if th.identical_units and isinstance(fam, MLPFamily):
        items.append(rf"\item the ${math_tex(str(fam.width))}$ units of every hidden layer stay identical at every step "
                     r"(each hidden layer is one class of identical units, docs/theory.md \S4).")
    lines += [r"\section{Theorem}", r"\begin{theorem}\label{thm:depth}",
              rf"For every depth ${L} \ge {fam.min_depth}$ ({latex_text(th.shape)}; induction over ${math_tex(th.induction_variable)}$):",
              r"\begin{itemize}"] + items + [r"\end{itemize}", r"\end{theorem}"]
    lines += _lemma(analysis) + _induction(analysis) + _scope(analysis)
    lines += [r"\appendix", r"\section{Every engine check}",
              latex_text(f"{len(th.checks)} checks, every one computed by the engine and decided as stated; none "
                         "depends on the depth.")]
    for c in th.checks:
        lines += _check_block(c)
    lines += [r"\end{document}", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- the proofs/ entries
@dataclass(frozen=True)
class DepthEntry:
    """One family of ``proofs/``: file name (``depth_*``), title, and how to analyze it."""

    name: str
    title: str
    analysis: Callable[[], "DepthAnalysis"]


def depth_library() -> tuple[DepthEntry, ...]:
    """The five statements for every depth that ``proofs/build.py`` renders (issue 20)."""
    from ..init import constant, generic, zeros
    from .analysis import analyze_depth
    from .family import mlp_family, rezero_family

    return (
        DepthEntry("depth_zero_init_tanh", "Every depth, zero init, tanh: every weight stays 0, only the output bias learns",
                   lambda: analyze_depth(mlp_family(4, "n", "L", 3, "tanh"), zeros())),
        DepthEntry("depth_zero_init_sigmoid_front",
                   "Every depth, zero init, sigmoid: W(l) first moves at step L - l + 1, hidden units tied",
                   lambda: analyze_depth(mlp_family(3, "n", "L", 2, "sigmoid"), zeros())),
        DepthEntry("depth_constant_init", "Every depth, constant init c: identical units, and the first moves",
                   lambda: analyze_depth(mlp_family(4, "n", "L", 3, "tanh"), constant(sp.Symbol("c")))),
        DepthEntry("depth_zero_last_layer", "Every depth, generic hidden layers and a zero last layer",
                   lambda: analyze_depth(mlp_family(3, 3, "L", 2, "tanh"), {"last": zeros(), "*": generic()})),
        DepthEntry("depth_rezero_stack", "Every depth, a stack of L ReZero blocks with alpha = 0",
                   lambda: analyze_depth(rezero_family(2, "L"))),
    )
