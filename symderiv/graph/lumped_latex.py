"""The LaTeX proof document of a large lumped proof (:mod:`symderiv.graph.lumping`), class by class.

A lumped analysis above ``COMPACT_JSON_ENTRIES`` trainable entries (a residual MLP of width 1024) is stated per
parameter and per class of identical units (:mod:`symderiv.graph.tensor_facts`), never entry by entry: the
theorem lists, per parameter, each group of entries with the same facts (how many, in how many blocks); the
proof is the lumpability lemma (entries of one block are tied at every step) and the entry-level prover run
on the quotient graph (one entry per block), whose certified witness trajectories are printed in the appendix.
Smaller lumped analyses keep the entry-level document (:mod:`symderiv.graph.latex`).  Deterministic: the same
analysis gives byte-identical output.
"""
from __future__ import annotations

from typing import Any

from ..latex.document import latex_text, standalone_preamble
from .tensor_facts import EntryGroup

__all__ = ["lumped_proof_document"]


def _tt(name: str) -> str:
    return r"\texttt{" + latex_text(name) + "}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _group_text(name: str, grp: EntryGroup, size: int) -> str:
    f = grp.facts
    who = (f"every entry of {_tt(name)}" if grp.count == size else
           f"{_plural(grp.count, 'entry', 'entries')} of {_tt(name)} ({_plural(len(grp.blocks or ()), 'block')})")
    parts = []
    if f.stays_zero:
        parts.append("stay exactly $0$ at every step" + (" (without weight decay)" if "no_weight_decay" in
                                                           f.conditions else ""))
    else:
        if f.tie_id is not None and grp.count > 1:
            parts.append(f"stay equal to each other at every step (tie class {f.tie_id})")
        if f.first_move_step is None:
            parts.append("never change (without weight decay)")
        else:
            how = ("certified: they move at that update" if f.first_move_tight else
                   "a lower bound (no witness certified the move)")
            parts.append(f"are unchanged before update ${f.first_move_step}$ ({how})")
    floats = [f"zero or tie in floats: {latex_text(f.float_status)}"] if f.float_status else []
    if f.first_move_float:
        floats.append(f"unchanged-before in floats: {latex_text(f.first_move_float)}")
    return rf"\item {who}: " + "; ".join(parts) + (f" [{'; '.join(floats)}]" if floats else "") + "."


def lumped_proof_document(analysis: Any, *, title: str | None = None) -> str:
    """A standalone LaTeX document for a large :class:`~symderiv.graph.lumping.LumpedGraphAnalysis`."""
    proof = analysis.proof
    lump, q = proof.lumping, proof.quotient
    g = proof.graph
    headline = analysis.headline()
    lines = standalone_preamble(title or f"{analysis.module_name}: what stays zero or tied, and when each class "
                                "first moves", headline, "symderiv.graph.analyze_module (lumped proof)")
    lines += [r"\noindent\textbf{Result.} " + latex_text(headline) + ".", r"\medskip"]

    full, small = lump.entries()
    lines += [r"\section{Setting}", latex_text(f"{analysis.module_name}: {g.describe()}."),
              f"Trainable parameters and their classes of identical units (the quotient has "
              f"{small} trainable entries for the {full} of the module):", r"\begin{itemize}"]
    for name in g.trainable():
        shape = "\\times".join(str(n) for n in g.params[name].shape) or "1"
        blocks = "\\times".join(str(n) for n in q.graph.params[name].shape) or "1"
        lines.append(rf"\item {_tt(name)} (${shape}$): blocks per axis ${blocks}$;")
    lines.append(r"\end{itemize}")
    frozen = g.frozen()
    lines.append("Frozen (constants of the graph, never updated): " + ", ".join(_tt(n) for n in frozen) + "."
                 if frozen else "No parameter is frozen.")

    lines += [r"\section{Theorem}", r"\begin{theorem}\label{thm:main}", latex_text(analysis.scope()),
              r"\begin{enumerate}"]
    for name, groups in analysis.entry_groups().items():
        lines += [_group_text(name, grp, g.params[name].size) for grp in groups]
    lines += [r"\end{enumerate}", r"\end{theorem}"]

    lines += [r"\section{Proof}", r"\begin{lemma}[Lumpability]\label{lem:lump}",
              r"Let $G$ be the group of permutations that permute, within its classes, each index space of the "
              r"graph (simultaneously on every axis of that space). Every op of the graph commutes with $G$, the "
              r"init is fixed by $G$ (it is constant on the blocks), and $G$ fixes the example, the labels and the "
              r"output. Hence the subspace of parameters constant on their blocks is invariant under every "
              r"optimizer of the class, and contains the init: the entries of one block are equal at every step.",
              r"\end{lemma}",
              r"\begin{proof}The loss satisfies $\ell(g\theta) = \ell(\theta)$ for every $g \in G$, so "
              r"$\nabla\ell(g\theta) = g\,\nabla\ell(\theta)$; at a $G$-fixed $\theta$ the gradient is constant on "
              r"the blocks, and a coordinatewise update of block-constant values and gradient histories is "
              r"block-constant.\end{proof}",
              r"\emph{The quotient.} On block-constant parameters the graph computes exactly what its quotient "
              r"computes (one entry per block, contractions weighted by the class sizes), and each block's "
              r"gradient is its entries' common gradient. The entry-level prover (symderiv.graph.prover: the "
              r"smallest invariant pattern of zeros and ties, the first-move iteration, certified witness "
              rf"trajectories) ran on the quotient ({_plural(len(q.classes), 'class', 'classes')}, "
              rf"{_plural(proof.iterations, 'relaxation iteration')}); each of its facts holds for every entry of "
              r"the blocks of its class (Lemma~\ref{lem:lump}), which is the theorem."]
    if proof.undecided:
        lines += [r"\paragraph{Not claimed.} Neither proved nor refuted within the work budget:", r"\begin{itemize}"]
        lines += [rf"\item {latex_text(u)}" for u in proof.undecided]
        lines.append(r"\end{itemize}")

    lines += [r"\appendix", r"\section{Certified witness trajectories}\label{app:witness}"]
    if not proof.trajectories:
        lines.append("No certified trajectory: every first-move step is a lower bound, or nothing moves.")
    for k, w in enumerate(proof.trajectories, 1):
        lines.append(rf"\paragraph{{Trajectory {k}.}} Plain SGD on the quotient, one example, learning rate "
                     rf"${latex_text(w.learning_rate)}$, ${w.steps}$ steps, in exact rational arithmetic from:")
        lines.append(r"\begin{itemize}")
        lines += [rf"\item {latex_text(name)} $= {latex_text(value)}$" for name, value in w.point]
        lines += [r"\end{itemize}", r"Certified changes (intervals containing the exact value):", r"\begin{itemize}"]
        for c, step, change in w.moved:
            members = q.classes[c]
            name, _ = members[0]
            lines.append(rf"\item the class of {_tt(name)} with {_plural(len(proof.classes[c]), 'entry', 'entries')} "
                         rf"at update ${step}$: {latex_text(change)}")
        lines.append(r"\end{itemize}")
    lines.append(r"\end{document}")
    return "\n".join(lines) + "\n"
