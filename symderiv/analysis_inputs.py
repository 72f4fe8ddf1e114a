"""The analysis of an input-reduced network, read on the full network (:mod:`symderiv.inputs`).

A mixin of :class:`symderiv.analysis.Analysis`: the tie ids of the full network's entries (untied
columns of a reduced input class get classes of their own), closed forms in the full network's data,
``W1`` written per (row class, input class) in JSON, and the witness trajectories run again on the
full network (:mod:`symderiv.witness_full`).  Every method here reads ``analysis.inputs``, the
:class:`~symderiv.inputs.InputMap`, and ``analysis.proof``, the reduced proof.
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import sympy as sp

from .errors import InternalError
from .facts import tie_ids
from .patterns import Block
from .prover import FirstMove
from .witness_full import FULL_RUN_MAX_ENTRIES, certify_full_network, full_run_entries

if TYPE_CHECKING:
    from .analysis import Analysis

__all__ = ["input_reduction_note", "certified_on_full_network"]


def input_reduction_note(analysis: "Analysis") -> str | None:
    """One sentence on the input reduction, or None when the proof is about the full network."""
    m = analysis.inputs
    if m is None:
        return None
    wide = [D for D in m.classes if D.reduced]
    listed = ", ".join(D.label() for D in wide[:4]) + (", …" if len(wide) > 4 else "")
    return (f"Input reduction (proved exact, symderiv.inputs): the {m.n_full} inputs form {len(m.classes)} "
            f"class{'es' if len(m.classes) != 1 else ''} of exchangeable coordinates (identical columns of W1 "
            f"at the init; of 5 or more: {listed}); the proof ran on the same "
            f"network with {m.n_reduced} inputs (4 per such class) and every fact is lifted entry by entry to "
            f"the {m.n_full} inputs; " + (
                "the witness trajectories are run again and certified on the full network, every input carrying "
                "a nonzero datum." if analysis.full_witnesses is not None else
                f"the full network has more than {FULL_RUN_MAX_ENTRIES:,} trainable entries, so the witness "
                "trajectories are the reduced network's; a W1 column not kept moves with the kept column "
                "representing it, by the input-reduction lemma (b)."))


def _tie_key(analysis: "Analysis", b: Block, column: int | None = None):
    """The key of an entry's tie class in :meth:`_tie_ids`: the proof's class of its block, or,
    for a ``W1`` entry of a reduced input class whose columns are not tied in this row (the
    columns of a class are all tied or pairwise untied, see :mod:`symderiv.inputs`),
    ``(class, full column)``: untied columns get tie classes of their own."""
    p = analysis.proof
    k = p.class_of[b]
    m = analysis.inputs
    if m is None or column is None or b.layer != 1 or b.kind != "W":
        return k
    D = m.classes[m.column_class[column]]
    if not D.reduced:
        return k
    if analysis._lifted_cache is None:
        analysis._lifted_cache = {}
    tied = analysis._lifted_cache.get(("tied", b.row, D.index))
    if tied is None:
        base = analysis._lifted_cache.get("tie_ids")
        if base is None:
            base = analysis._lifted_cache["tie_ids"] = tie_ids(p)
        tied = base[p.class_of[Block(1, "W", b.row, D.kept[0])]] == base[p.class_of[Block(1, "W", b.row, D.kept[1])]]
        analysis._lifted_cache[("tied", b.row, D.index)] = tied
    return k if tied else (k, column)


def _lifted_tie_ids(analysis: "Analysis") -> dict:
    """:meth:`Analysis._tie_ids` with an input reduction: keys are :meth:`_tie_key` s, ids those of the
    full network, numbered in its parameter order (computed once)."""
    m = analysis.inputs
    if m is None:
        raise InternalError("lifted tie ids without an input reduction")
    if analysis._tie_id_cache is None:
        p = analysis.proof
        base = tie_ids(p)
        numbers: dict = {}
        ids: dict = {}

        def number(key) -> None:
            group = base[key] if isinstance(key, int) else (base[key[0]], key[1])
            ids[key] = numbers.setdefault(group, len(numbers))

        for b in p.blocks:  # parameter order; W1 row by row over the full columns
            if b.layer == 1 and b.kind == "W":
                if b.col == 0:
                    for j in range(m.n_full):
                        number(_tie_key(analysis, Block(1, "W", b.row, m.rep(j)), j))
                continue
            number(p.class_of[b])
        for b in p.blocks:
            k = p.class_of[b]
            if k not in ids:  # a class split by column: its block's own (kept) column
                ids[k] = ids[(k, m.full_of_reduced[b.col])]
        analysis._tie_id_cache = ids
    return analysis._tie_id_cache


def _lifted_gradient(analysis: "Analysis", b: Block, column: int | None = None, column_value: object = None) -> sp.Expr:
    """The closed form at the init of the proof's block ``b``, in the full network's data: for a
    ``W1`` entry of full ``column``, that column's datum is ``x_column`` (or ``column_value``)
    and every class enters through its sum (the columns of a class are identical at the init)."""
    g = analysis._gradients()[b]
    if analysis.inputs is None:
        return g
    if analysis._lifted_cache is None:
        analysis._lifted_cache = {}
    if b.layer != 1 or b.kind != "W":
        column = None
    key = (b, column, column_value)
    if key not in analysis._lifted_cache:
        mkey = ("data", column, column_value)
        if mkey not in analysis._lifted_cache:
            analysis._lifted_cache[mkey] = analysis.inputs.data_at_init(column, column_value)
        analysis._lifted_cache[key] = g.xreplace(analysis._lifted_cache[mkey])
    return analysis._lifted_cache[key]


def certified_on_full_network(analysis: "Analysis") -> "Analysis":
    """An input-reduced analysis whose witnesses were run again and certified on the full network
    (:mod:`symderiv.witness_full`): a first move the reduced proof certified but no full run does is no
    longer called tight (its step stays a proved lower bound), nor visible in float64 unless a full run
    shows it so."""
    if full_run_entries(analysis) > FULL_RUN_MAX_ENTRIES:  # beyond the ball replay: the reduced witnesses stand
        analysis.full_witnesses = None
        return analysis
    witnesses, lost = certify_full_network(analysis)
    if lost:  # keep only the moves of classes still called tight
        witnesses = [dataclasses.replace(w, moves=tuple(m for m in w.moves if m.proof_class not in lost))
                     for w in witnesses]
        witnesses = [w for w in witnesses if w.moves]
    p = analysis.proof
    visible = {m.proof_class for w in witnesses for m in w.moves if m.visible}
    if lost or any(t.visible - visible for t in p.trajectories):
        moves = {k: (FirstMove(fm.step, False, fm.undecided) if k in lost else fm) for k, fm in p.first_moves.items()}
        runs = [dataclasses.replace(t, visible=t.visible & frozenset(visible)) for t in p.trajectories]
        analysis = type(analysis)(dataclasses.replace(p, first_moves=moves, trajectories=runs), analysis.optimizers,
                            analysis.init_description, inputs=analysis.inputs)
    analysis.full_witnesses = witnesses
    return analysis

