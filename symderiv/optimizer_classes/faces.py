"""Summary lines, JSON and LaTeX of an analysis proved on an optimizer's lattice."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from ..floats import EXACT_ONLY, IDENTICAL_ROUNDING
from ..graph.facts import FLOAT_STATUSES
from ..latex.context import latex_text
from ..optimizers import optimizer_class
from .assignment import STRUCTURES
from .run import rows_moving_first

__all__ = ["lattice_notes", "lattice_json", "lattice_latex", "optimizer_floats", "float_notes", "FLOAT_FLOOR"]


_LATTICE_TEXT = {
    "coordinatewise": "every zero and tie",
    "sign": "every zero and tie",
    "tensorwise": "zeros and ties inside the tensor",
    "factored": "zeros; ties whose rows and columns have equal statistics",
    "rowcol": "whole zero and tied rows and columns",
}


def lattice_notes(analysis) -> list[str]:
    """Summary lines of an analysis restricted to an optimizer's lattice: what each tensor's optimizer
    preserves, the init zeros not claimed, the rows certified to move at update 1, and how moves are read."""
    proof, assignment, lattice = analysis.proof, analysis.optimizers, analysis.lattice
    g = proof.graph
    groups: dict[str, list[str]] = {}
    for p, shown, cls in assignment.per_parameter:
        kind = STRUCTURES[optimizer_class(cls).preserves].name
        text = _LATTICE_TEXT[kind]
        if kind == "rowcol" and len(g.params[p].shape) == 1:
            text = "zeros and ties of entries (a vector is an n x 1 matrix)"
        elif kind == "rowcol" and len(g.params[p].shape) > 2:
            text = "whole zero and tied slices along the first axis"
        groups.setdefault(f"{text} ({shown})", []).append(p)
    lines = [f"Optimizer '{assignment.name}': every statement is proved on the patterns it preserves: "
             + "; ".join(f"{', '.join(ps)}: {text}" for text, ps in groups.items()) + "."]
    released = sorted(c for c in lattice.dropped_zeros if not analysis.facts[proof.class_of[c]].stays_zero)
    if released:
        from ..graph.prover import coord_label

        lines.append(f"Not claimed under this optimizer: {len(released)} zero entr{'y' if len(released) == 1 else 'ies'} "
                     f"of the init that it does not keep (e.g. {coord_label(g, released[0])}).")
    rows = rows_moving_first(analysis)
    if rows:
        lines.append("Rows certified to change at update 1 (a nonzero gradient row, certified on the witness example, "
                     "gives a nonzero update row under Muon and Shampoo; which entries change is not claimed): "
                     + "; ".join(f"{n} rows {', '.join(str(r) for r in rs)}" for n, rs in rows.items()) + ".")
    lines.append("First-move steps are proved lower bounds; a move is certified only at update 1 and only where "
                 "the optimizer updates entry by entry.")
    return lines + float_notes(analysis)


def lattice_json(analysis) -> dict:
    """The JSON of an analysis restricted to an optimizer's lattice (the same facts as :func:`lattice_notes`)."""
    from ..graph.prover import coord_label

    proof, lattice = analysis.proof, analysis.lattice
    released = sorted(c for c in lattice.dropped_zeros if not analysis.facts[proof.class_of[c]].stays_zero)
    return {
        "preserves": {p: optimizer_class(cls).preserves for p, _, cls in analysis.optimizers.per_parameter},
        "init_zeros_not_claimed": [coord_label(proof.graph, c) for c in released],
        "rows_certified_to_move_at_update_1": rows_moving_first(analysis),
        "first_moves": "proved lower bounds; a move is certified only at update 1 and only for optimizers that "
                       "update entry by entry (certified on SGD witness trajectories)",
    }


def lattice_latex(analysis) -> list[str]:
    """The proof's invariance lemma and first-move argument for an optimizer assignment (LaTeX lines)."""

    assignment = analysis.optimizers
    kinds = sorted({optimizer_class(cls).preserves for _, _, cls in assignment.per_parameter})
    items = []
    for p, shown, cls in assignment.per_parameter:
        items.append(rf"\texttt{{{latex_text(p)}}}: {latex_text(shown)} (class \emph{{{latex_text(cls)}}})")
    reasons = {
        "coordinatewise": r"a coordinatewise optimizer applies one function to each coordinate's own history: entries "
                          r"with equal histories get equal updates, a zero history a zero update",
        "sign": r"Lion's update is the sign of a coordinatewise linear combination of the history, and $\mathrm{sign}"
                r"(0) = 0$",
        "tensorwise": r"LAMB and LARS multiply a coordinatewise update by one positive scalar per tensor, so equal "
                      r"entries of one tensor stay equal and zeros stay $0$; entries of different tensors meet "
                      r"different scalars, so $V(P)$ ties no entries of different tensors",
        "factored": r"Adafactor divides $G_{ij}$ by $\sqrt{R_i C_j / \bar R}$ ($R$, $C$ running row and column means "
                    r"of $G^2$) and multiplies by per-tensor scalars; in $V(P)$ tied entries read rows (columns) "
                    r"holding the same multiset of classes, so their statistics agree, and $G_{ij} = 0$ gives $0$",
        "rowcol": r"Muon's Newton--Schulz map $G \mapsto p(GG^\top)G$, Shampoo's $L^{-1/4} G R^{-1/4}$ and SOAP's "
                  r"Adam in the eigenbases of $L, R$ commute with permutations of rows and of columns and send a "
                  r"zero row (column) to a zero row (column); $V(P)$ restricted to such a matrix is the space fixed "
                  r"by a group of row and column permutations with some rows and columns zero (a vector is an "
                  r"$n \times 1$ matrix; a tensor of three or more axes keeps slices along its first axis), and "
                  r"momentum is linear, so the update stays in $V(P)$",
    }
    return [
        r"\section{Proof}",
        r"A \emph{pattern} $P$ is a set $Z$ of trainable entries and an equivalence relation (tie classes) on the "
        r"others; $V(P)$ is the linear space of parameters that vanish on $Z$ and are constant on each class, one "
        r"coordinate $\theta_{k}$ per class. The optimizer is assigned per tensor: " + "; ".join(items) + ".",
        r"\begin{lemma}[Invariance]\label{lem:inv}",
        r"Let $P$ be a pattern of the assignment's lattice (below). If for every $\theta \in V(P)$ and every single "
        r"example the per-example gradient lies in $V(P)$, then every trajectory of the assigned optimizers started "
        r"in $V(P)$ stays in $V(P)$, for every dataset and batch size.",
        r"\end{lemma}",
        r"\begin{proof}A minibatch gradient is an average of per-example gradients, so it lies in $V(P)$, and so do "
        r"the optimizers' linear states (momentum). The lattice is chosen so that each update maps such histories "
        r"into $V(P)$: " + "; ".join(reasons[k] for k in kinds) + r". Weight decay multiplies a tensor by a "
        r"scalar. By induction on $t$ the trajectory stays in $V(P)$.\end{proof}",
        r"The relaxation alternates the gradient split with a projection onto the lattice (the smallest pattern of "
        r"the lattice whose space contains the current one: only constraints are dropped), until both leave the "
        r"pattern unchanged. For the first moves, $H_t$ is the set of classes whose gradient vanished identically at "
        r"every earlier step and $F_t \subseteq H_t$ the classes the assigned optimizer provably leaves unchanged: "
        r"all of $H_t$ for entrywise optimizers, and for a matrix under a row/column map only the entries whose whole "
        r"row or whole column lies in $H_t$ (a zero row of the momentum gives a zero row of the update). $A_t$ holds "
        r"$F_t$ at its init values. A move is certified only at update 1 (the gradient at the init does not depend "
        r"on the optimizer) and only for optimizers that update entry by entry.",
    ] + _rows_latex(analysis)


def _rows_latex(analysis) -> list[str]:
    rows = rows_moving_first(analysis)
    if not rows:
        return []
    listed = "; ".join(rf"\texttt{{{latex_text(n)}}}: rows {', '.join(str(r) for r in rs)}" for n, rs in rows.items())
    return [r"\paragraph{Rows that move at update 1.} At the init the gradient of some entry of each of these rows "
            r"(0-based) is certified nonzero on the witness example of the Appendix, so the row of the momentum is "
            r"nonzero there, and Muon's and Shampoo's updates map a nonzero row to a nonzero row (Muon's quintic "
            r"$a + bx + cx^2$ has no real root: every Newton--Schulz step keeps nonzero singular values nonzero; "
            r"Shampoo's preconditioners are positive definite). Which entries of a row change is not claimed. "
            + listed + "."]


#: optimizers whose float implementation keeps a proved zero, tie or "unchanged" only to rounding (Shampoo's
#: inverse roots by SVD mix rows by ~1e-16) or not at all (SOAP: Adam in a numerically computed eigenbasis
#: divides the rounding residue on a kernel direction by its own tiny second moment: a full-size step within
#: a few updates, measured on a tied-units MLP); Muon's Newton-Schulz multiplies by exact zeros and repeats
#: identical operations on identical rows
FLOAT_FLOOR = {"Shampoo": IDENTICAL_ROUNDING, "SOAP": EXACT_ONLY}


def optimizer_floats(analysis, facts: Mapping[int, Any]) -> dict[int, Any]:
    """``facts`` with each float status raised to the floor of the optimizers training its entries
    (:data:`FLOAT_FLOOR`); statuses of the gradient computation alone come from :mod:`symderiv.graph.facts`."""
    shown = {p: opt for p, opt, _ in analysis.optimizers.per_parameter}
    proof = analysis.proof
    out = {}
    for k, f in facts.items():
        floors = [FLOAT_FLOOR[o] for n in {n for n, _ in proof.classes[k]}
                  for o in shown[n].split(", ") if o in FLOAT_FLOOR]
        if not floors:
            out[k] = f
            continue
        floor = max(floors, key=FLOAT_STATUSES.index)
        out[k] = dataclasses.replace(
            f, float_status=None if f.float_status is None else _worse(f.float_status, floor),
            first_move_float=None if f.first_move_float is None else _worse(f.first_move_float, floor))
    return out


def _worse(a: str, b: str) -> str:
    return max(a, b, key=FLOAT_STATUSES.index)


def float_notes(analysis) -> list[str]:
    """A summary line when an assigned optimizer keeps the statements only to rounding, or in exact arithmetic
    only (:data:`FLOAT_FLOOR`)."""
    used = sorted({o for _, shown, _ in analysis.optimizers.per_parameter for o in shown.split(", ")
                   if o in FLOAT_FLOOR})
    if not used:
        return []
    text = {"Shampoo": "Shampoo keeps them to rounding (its inverse roots mix rows by ~1e-16)",
            "SOAP": "SOAP keeps them in exact arithmetic only (Adam in a computed eigenbasis turns rounding "
                    "residues into full-size steps within a few updates)"}
    return ["Floating point: " + "; ".join(text[o] for o in used) + "."]
