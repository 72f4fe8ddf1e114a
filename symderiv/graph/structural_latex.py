"""The LaTeX proof document of a tensor-level proof (:mod:`symderiv.graph.structural`).

The statements are per parameter tensor: which stay zero, and when each first moves.  The proof is
the structural-zero argument (products with a zero tensor vanish, whatever the other factor is) on
the sets ``A_t`` of the first-move iteration, and the moves are certified by exact trajectories at a
structured point (every entry of a tensor equal, the example constant), printed in the appendix.
Deterministic: the same analysis gives byte-identical output.
"""
from __future__ import annotations

from typing import Any

from ..latex.document import latex_text, standalone_preamble

__all__ = ["structural_proof_document"]


def _tt(name: str) -> str:
    return r"\texttt{" + latex_text(name) + "}"


def _names(names: list[str]) -> str:
    items = [_tt(n) for n in names]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else "none"


def _preamble(title: str, headline: str) -> list[str]:
    return standalone_preamble(title, headline, "symderiv.graph.analyze_module (tensor-level proof)") + [
        r"\noindent\textbf{Result.} " + latex_text(headline) + ".",
        r"\medskip",
    ]


def structural_proof_document(analysis: Any, *, title: str | None = None) -> str:
    """A standalone LaTeX document for a :class:`~symderiv.graph.structural.StructuralGraphAnalysis`."""
    view = analysis.proof
    s = view.structural
    g = view.graph
    trainable = g.trainable()
    headline = analysis.headline()
    lines = _preamble(title or f"{analysis.module_name}: what stays zero, and when each tensor first moves", headline)

    lines.append(r"\section{Setting}")
    kinds = []
    for name in trainable:
        shape = "\\times".join(str(n) for n in g.params[name].shape) or "1"
        what = {"zero": "every entry $0$", "mixed": "some entries $0$ (any values: its zeros are not used)"}.get(
            s.kinds[name], "no entry $0$ (generic values)")
        kinds.append(rf"\item {_tt(name)} (${shape}$): {what};")
    frozen = g.frozen()
    lines += [latex_text(f"{analysis.module_name}: {g.describe()}."),
              r"Trainable parameters at the init:", r"\begin{itemize}", *kinds, r"\end{itemize}",
              "Frozen (constants of the graph, never updated): " + _names(frozen) + "." if frozen else
              "No parameter is frozen.",
              r"Every entry that is not $0$ is a generic value: the statements below hold for every model with "
              r"this pattern of zero tensors."]

    lines += [r"\section{Theorem}", r"\begin{theorem}\label{thm:main}",
              latex_text(analysis.scope()), r"\begin{enumerate}"]
    for name in trainable:
        if name in s.zero_params:
            lines.append(rf"\item {_tt(name)} stays exactly $0$ at every step.")
            continue
        fm = s.first_moves[name]
        if fm.step is None:
            lines.append(rf"\item {_tt(name)} never changes (without weight decay).")
        else:
            how = "certified: it moves at that step for generic values" if fm.tight else \
                "a lower bound (no witness certified the move)"
            lines.append(rf"\item {_tt(name)} is unchanged before update ${fm.step}$ ({how}).")
    lines += [r"\end{enumerate}", r"\end{theorem}"]

    lines += [r"\section{Proof}",
              r"\begin{lemma}[Structural zeros]\label{lem:zeros}",
              r"Call a tensor of the graph \emph{structurally zero} on a set of parameter values when it is "
              r"$0$ there whatever the other tensors are. Products (linear maps, matrix products, elementwise "
              r"products, scalings) with a structurally zero factor are structurally zero; sums of structurally "
              r"zero tensors are; reshapes and slices of one are. Backward, the cotangent of an operand of a "
              r"product is structurally zero when the cotangent of the product or the other factor is, so the "
              r"gradient of a parameter is structurally zero when every path from it to the loss passes through "
              r"such a factor.",
              r"\end{lemma}",
              r"\begin{proof}Each rule is an identity of the operation's forward or vector-Jacobian product "
              r"(e.g.\ $\partial\ell/\partial A = B^\top \delta\, x^\top$ vanishes when $B = 0$).\end{proof}"]
    if s.zero_params:
        lines.append(r"\emph{Zeros.} With " + _names(sorted(s.zero_params)) + r" at $0$, their gradients are "
                     r"structurally zero (Lemma~\ref{lem:zeros}), so the set where they vanish is invariant under "
                     r"every optimizer of the class: a zero gradient history gives a zero update.")
    if s.first_moves:
        lines += _first_moves(s)
    if analysis.proof.undecided:
        lines.append(r"\paragraph{Not claimed.}")
        lines.append(r"\begin{itemize}")
        lines += [rf"\item {latex_text(u)}" for u in analysis.proof.undecided]
        lines.append(r"\end{itemize}")

    lines += [r"\appendix", r"\section{Witness trajectories}\label{app:witness}"]
    if not s.trajectories:
        lines.append("No parameter moves, so no witness is needed.")
    lines += [latex_text(n) for n in s.witness_notes]
    for k, w in enumerate(s.trajectories, 1):
        lines.append(rf"\paragraph{{Trajectory {k}.}} Plain SGD with learning rate ${latex_text(w.learning_rate)}$ "
                     rf"for ${w.steps}$ steps, from:")
        lines.append(r"\begin{itemize}")
        lines += [rf"\item {latex_text(name)} $= {latex_text(value)}$" for name, value in w.point]
        lines.append(r"\end{itemize}")
        lines.append(r"Certified changes (intervals containing the exact value):")
        lines.append(r"\begin{itemize}")
        for index, step, change in w.moved:
            name = trainable[index] if isinstance(index, int) and 0 <= index < len(trainable) else str(index)
            lines.append(rf"\item {_tt(name)} at update ${step}$: {latex_text(change)}")
        lines.append(r"\end{itemize}")
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"


def _first_moves(s: Any) -> list[str]:
    lines: list[str] = []
    lines.append(r"\emph{First moves.} Let $A_t$ be the set where the parameters not yet released keep their "
                 r"init values. A parameter whose gradient is structurally zero on $A_t$ is unchanged by update "
                 r"$t + 1$; the others are released.")
    lines.append(r"\begin{itemize}")
    for t in sorted(s.unchanged):
        kept = s.unchanged[t]
        released = sorted(n for n, fm in s.first_moves.items() if fm.step == t + 1)
        text = rf"\item $t = {t}$: "
        text += ("gradient structurally zero on $A_{" + str(t) + "}$: " + _names(kept) + "; ") if kept else ""
        text += ("released (first move at update $" + str(t + 1) + "$): " + _names(released) + ".") if released \
            else "nothing released: the iteration stops."
        lines.append(text)
    lines.append(r"\end{itemize}")
    lines.append(r"\emph{Tightness.} A released gradient is not structurally zero, which alone does not show that "
                 r"it is nonzero: each certified move is witnessed by an exact SGD trajectory (Appendix~\ref{app:witness}) at a structured point: "
                 r"every entry of a tensor takes one value and the example is constant, so the network collapses "
                 r"to a small quotient evaluated with rigorous enclosures. The gradient at update $t$ is an "
                 r"analytic function of the init near that point (the enclosures keep every kink argument away "
                 r"from $0$); it is nonzero there, hence nonzero on an open set of inits, hence for generic values.")
    return lines
