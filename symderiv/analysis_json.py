"""The machine-readable face of an analysis: :meth:`~symderiv.analysis.Analysis.to_dict` (issue #3).

Per entry for concrete parameters of at most :data:`MAX_JSON_ENTRIES` entries, per block otherwise;
closed forms printed bounded (:mod:`symderiv.closed_forms`), sharing one set of definitions per
document; the witness trajectories with their moves named by the published tie ids.
"""
from __future__ import annotations

import functools
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from .closed_forms import MAX_INLINE_NODES, ClosedForms, dag_size as _dag_size
from .errors import InternalError
from .inputs import columns_label
from .patterns import Block
from .witness_full import REDUCED_NOTE, SPREAD_NOTE

if TYPE_CHECKING:
    from .analysis import Analysis
    from .witness_full import FullWitness

__all__ = ["MAX_JSON_ENTRIES", "MAX_PRINTED_NODES", "dag_size", "printed", "to_dict", "assumptions"]

#: parameters with more entries than this are written per block in JSON, not per entry
MAX_JSON_ENTRIES = 4_096
#: closed forms whose printed TREE has at most this many nodes are printed as SymPy prints them;
#: larger ones are abbreviated (see :mod:`symderiv.closed_forms` and :meth:`Analysis.to_dict`)
MAX_PRINTED_NODES = MAX_INLINE_NODES
#: where the note of an omitted closed form points the reader
_SEE = "Analysis.gradient_at_init(name, index, abbreviated=True) and Analysis.gradient_definitions()"
#: the printer shared by the closed forms of the JSON document being written (see _shared_closed_forms)
_ACTIVE_FORMS: ContextVar["ClosedForms | None"] = ContextVar("symderiv_closed_forms", default=None)


def dag_size(expr: sp.Basic, limit: int) -> int:
    """The number of distinct sub-expressions of ``expr`` (counted up to ``limit``).

    Deep closed forms share sub-expressions; walking the DAG, not the tree, keeps this linear."""
    return _dag_size(expr, limit)


def printed(expr: sp.Expr) -> str:
    """A closed form as text, bounded (see :mod:`symderiv.closed_forms`).

    Inside :meth:`Analysis.to_dict` the names of an abbreviated form refer to the JSON's
    ``"definitions"``; elsewhere the text is analysis-contained (``... where u1 = ...; u2 = ...``)."""
    forms = _ACTIVE_FORMS.get()
    if forms is not None:
        return forms.text(expr)
    form = ClosedForms(see=_SEE).abbreviate(expr)
    if form.omitted and form.note is not None:  # an omitted form always carries its note
        return form.note
    if not form.definitions:
        return str(form.expr)
    return f"{form.expr} where " + "; ".join(f"{name} = {rhs}" for name, rhs in form.definitions)


def _shared_closed_forms(to_dict):
    """Wraps :func:`to_dict`: its closed forms share one printer, whose definitions
    become the document's ``"definitions"`` object (``{}`` when nothing was abbreviated)."""

    @functools.wraps(to_dict)
    def wrapper(analysis: "Analysis", *args: Any, **kwargs: Any) -> dict[str, Any]:
        forms = _closed_form_printer(analysis)
        token = _ACTIVE_FORMS.set(forms)
        try:
            data = to_dict(analysis, *args, **kwargs)
        finally:
            _ACTIVE_FORMS.reset(token)
        data["definitions"] = forms.definitions_text()
        return data

    return wrapper


def _closed_form_printer(analysis: "Analysis") -> ClosedForms:
    """A fresh printer for one document of this analysis's closed forms."""
    definitions = analysis.gradient_definitions()  # the named z/δ of the analysis's pass at the init
    widths = [str(n) for n in analysis.net.sizes if isinstance(n, sp.Symbol)]
    if definitions and analysis.inputs is not None:
        # the abbreviations are in the reduced network's data; lifting is only defined for
        # expanded forms, so every abbreviated form is omitted rather than printed wrongly
        return ClosedForms(definitions, reserved=widths, see=_SEE, inline_nodes=0, max_nodes=0)
    return ClosedForms(definitions, reserved=widths, see=_SEE)


def assumptions(analysis: "Analysis") -> dict[str, Any]:
    return {
        "optimizer_class": analysis.optimizers.to_dict(),
        "kink_convention": {a.name: str(a.kink_grad) for a in analysis.net.activations if a.is_kinked},
        "labels": analysis.net.loss.label_domain,
        "first_move_assumes": "no weight decay",
        "data": "every statement holds for every example (data are symbols)",
    }


@_shared_closed_forms
def to_dict(analysis: "Analysis") -> dict[str, Any]:
    """The result as a plain JSON-ready dict (deterministic; :meth:`to_json` is its text)."""
    p = analysis.proof
    ids = analysis._tie_ids()
    grads = analysis._gradients()
    params: dict[str, Any] = {}
    trajectories = _published_trajectories(analysis)
    for name in analysis.net.parameter_names():
        shape = analysis.net.shape(name)
        concrete = all(isinstance(n, int) for n in shape)
        if concrete and int(np.prod(shape)) <= MAX_JSON_ENTRIES:
            params[name] = _entry_json(analysis, name, shape, ids, grads)
        else:
            params[name] = _block_json(analysis, name, shape, ids, grads)
    return {
        "network": analysis.net.to_dict(),
        "init": {name: p.inits[name].spec for name in analysis.net.parameter_names()},
        "assumptions": assumptions(analysis),
        "parameters": params,
        "summary": analysis.summary(),
        "undecided": list(p.undecided),
        "relaxation_iterations": p.iterations,
        "witness_trajectory": trajectories[0] if trajectories else None,
        "witness_trajectories": trajectories,
        **({} if analysis.inputs is None else {"inputs": _inputs_json(analysis)}),
        "conditions": [c.to_dict() for c in analysis.conditions],
        "shifted_ties": _shifted_json(analysis),
        "floats": _floats_json(analysis),
        "conserved": [law.to_dict() for law in analysis.conserved],
        "conservation": analysis.conservation.to_dict(),
        "signed_ties": [g.to_dict(p) for g in analysis.signed_ties.groups],
    }


def _floats_json(analysis: "Analysis") -> dict[str, Any]:
    f = analysis.floats
    return {
        "arithmetic": "every statement is proved in exact arithmetic; per entry, 'float' says how its zero or "
                      "tie holds in IEEE arithmetic and 'first_move_float' the same for 'unchanged before step t'",
        "statuses": {
            "bit_exact": "rests only on multiplications by exact zeros: holds bit for bit",
            "identical_rounding": "identical operations on identical inputs: holds when identical computations "
                                  "round identically (elementwise code does; blocked matrix products may not)",
            "exact_arithmetic_only": "rests on an exact cancellation (e.g. the output deltas summing to 0): a "
                                     "rounding residue in floats, which Adam/RMSProp can amplify",
        },
        "counts": f.statuses(),
        "hidden_layers_with_identical_units": {str(l): fact.to_dict() for l, fact in sorted(f.layers.items())},
    }


def _facts(analysis: "Analysis", b: Block, ids, grads) -> tuple:
    """(stays_zero, tie id, first-move step, tight, printed gradient, conditions, float, first-move float)."""
    f = analysis.facts_of(b)
    return (f.stays_zero, ids[analysis.proof.class_of[b]], f.first_move_step, f.first_move_tight,
            printed(grads[b]), list(f.conditions), f.float_status, f.first_move_float)


def _entry_json(analysis: "Analysis", name, shape, ids, grads) -> dict[str, Any]:
    part = analysis.proof.partition
    kind, l = analysis.net.parse_name(name)
    facts: dict[tuple, tuple] = {}  # once per block: entries of a block share every fact
    m = analysis.inputs

    def fact(b: Block, column: int | None = None) -> tuple:
        if (b, column) not in facts:
            f = _facts(analysis, b, ids, grads)
            if m is not None:  # the full network's tie id and data (symderiv.inputs)
                f = (f[0], ids[analysis._tie_key(b, column)], f[2], f[3],
                     printed(analysis._lifted_gradient(b, column))) + tuple(f[5:])
            facts[(b, column)] = f + analysis.signed_ties.sign_of(analysis.proof.class_of[b])
        return facts[(b, column)]

    rows = [part.of(l, i).index for i in range(shape[0])]
    grid: list  # the facts per entry: a list (b), a list of rows (W)
    if len(shape) == 1:
        grid = [fact(Block(l, "b", r)) for r in rows]
        cols = lambda f: [g[f] for g in grid]  # noqa: E731
    elif m is not None and l == 1:  # a full column has the facts of its representative
        grid = [[fact(Block(1, "W", r, m.rep(j)), j) for j in range(shape[1])] for r in rows]
        cols = lambda f: [[g[f] for g in row] for row in grid]  # noqa: E731
    else:
        cls = [part.of(l - 1, j).index for j in range(shape[1])]
        grid = [[fact(Block(l, "W", r, c)) for c in cls] for r in rows]
        cols = lambda f: [[g[f] for g in row] for row in grid]  # noqa: E731
    return {
        "shape": list(shape),
        "stays_zero": cols(0),
        "tie_class": cols(1),
        "tie_sign": cols(9),
        "signed_tie": cols(8),
        "first_move_step": cols(2),
        "first_move_tight": cols(3),
        "gradient_at_init": cols(4),
        "conditions": cols(5),
        "float": cols(6),
        "first_move_float": cols(7),
    }


def _block_json(analysis: "Analysis", name, shape, ids, grads) -> dict[str, Any]:
    part = analysis.proof.partition
    out = []
    if analysis.inputs is not None and name == "W1":
        return _input_class_blocks(analysis, shape, ids, grads)
    for b in analysis._param_blocks(name):
        zero, tid, step, tight, g, conds, fl, fmf = _facts(analysis, b, ids, grads)
        if analysis.inputs is not None:  # in the full network's data
            g = printed(analysis._lifted_gradient(b))
        entry = {"rows": part.classes[b.layer][b.row].label()}
        if b.kind == "W":
            entry["columns"] = part.classes[b.layer - 1][b.col].label()
        group, sign = analysis.signed_ties.sign_of(analysis.proof.class_of[b])
        entry.update({"entries": str(analysis._block_size(b)), "stays_zero": zero, "tie_class": tid,
                      "tie_sign": sign, "signed_tie": group,
                      "first_move_step": step, "first_move_tight": tight, "gradient_at_init": g,
                      "conditions": conds, "float": fl, "first_move_float": fmf})
        out.append(entry)
    return {"shape": [n if isinstance(n, int) else str(n) for n in shape], "layout": "blocks", "blocks": out}


def _shifted_json(analysis: "Analysis") -> dict[str, Any]:
    p = analysis.proof
    groups = []
    for g in analysis.shifted.groups:
        groups.append({
            "blocks": [analysis.block_label(p.classes[k][0]) for k in g.classes],
            "offsets": [str(o) for o in g.offsets],
            "tied": [[analysis.block_label(p.classes[k][0]) for k in sub] for sub in g.tied_subsets],
            "proof": g.method,
        })
    return {"optimizers": "every coordinatewise optimizer without weight decay (identical gradient histories "
                          "give identical updates, so differences never change)",
            "groups": groups, "undecided": list(analysis.shifted.undecided), "not_searched": list(analysis.shifted.skipped)}


def _input_class_blocks(analysis: "Analysis", shape, ids, grads) -> dict[str, Any]:
    """``W1`` per block with an input reduction: one entry per (row class, input class) when its
    columns share every fact (else one per representative), ``"columns"`` the full columns
    (``"1..784"``).  Untied columns (``"columns_tied": false``) list one tie id per column, and
    the gradient is written for column ``j`` (``x_j``), the class entering through its sum."""
    p, m, part = analysis.proof, analysis.inputs, analysis.proof.partition
    if m is None:
        raise InternalError("input-class blocks of W1 without an input reduction")
    x_j = sp.Symbol("x_j", real=True)
    out = []
    for C in part.classes[1]:
        for D in m.classes:
            groups = []  # (kept column, the full columns it represents, facts)
            for position, r in enumerate(D.kept):
                b = Block(1, "W", C.index, r)
                f = _facts(analysis, b, ids, grads)
                members = D.represented(position)
                tied = not isinstance(analysis._tie_key(b, members[0]), tuple)
                groups.append((b, members, (f[0], f[2], f[3], tuple(f[5]), f[6], f[7], tied)))
            if D.reduced and all(g[2] == groups[0][2] for g in groups):
                groups = [(groups[0][0], D.members, groups[0][2])]
            for b, members, (zero, step, tight, conds, fl, fmf, tied) in groups:
                single = len(members) == 1
                tid = (ids[analysis._tie_key(b, members[0])] if tied else
                       [ids[analysis._tie_key(Block(1, "W", C.index, m.rep(j)), j)] for j in members])
                g = analysis._lifted_gradient(b, members[0], None if single else x_j)
                entry = {"rows": C.label(), "columns": columns_label(members),
                         "entries": str(C.size * len(members)), "stays_zero": zero, "tie_class": tid}
                if not single:
                    entry["columns_tied"] = tied
                group, sign = analysis.signed_ties.sign_of(p.class_of[b])
                entry.update({"tie_sign": sign, "signed_tie": group, "first_move_step": step, "first_move_tight": tight, "gradient_at_init": printed(g),
                              "conditions": list(conds), "float": fl, "first_move_float": fmf})
                out.append(entry)
    return {"shape": [n if isinstance(n, int) else str(n) for n in shape], "layout": "blocks", "blocks": out}


def _inputs_json(analysis: "Analysis") -> dict[str, Any]:
    """The input reduction's JSON, its witness-data sentence saying which network the witnesses ran on."""
    assert analysis.inputs is not None  # called only for an input-reduced analysis
    data = analysis.inputs.to_dict()
    if analysis.full_witnesses is None:
        data["witness_data"] = REDUCED_NOTE
    return data


def _trajectory_json(analysis: "Analysis", t) -> dict[str, Any]:
    """A witness trajectory's JSON, its moves named by the published tie ids (never-moving classes
    merged), not the proof's class numbers."""
    data = t.to_dict()
    ids = analysis._tie_ids()
    for move in data["moves"]:
        move["class"] = ids[move["class"]]
    return data


def _full_trajectory_json(analysis: "Analysis", w: "FullWitness") -> dict[str, Any]:
    """A witness run on the full network (input reduction, :mod:`symderiv.witness_full`): its full data,
    one move per published tie class; for a parameter written per block, the moves of consecutive tie
    classes with the same step and certified change are one entry listing their ids (as the block's
    ``"tie_class"`` does)."""
    per_block = {name for name in analysis.net.parameter_names()  # as the parameter is written
                 if any(not isinstance(n, int) for n in analysis.net.shape(name))
                 or int(np.prod([int(n) for n in analysis.net.shape(name)])) > MAX_JSON_ENTRIES}
    moves: list[dict[str, Any]] = []
    for move in w.moves:
        entry = move.to_dict()
        last = moves[-1] if moves else None
        if (move.param in per_block and last is not None and last["parameter"] == move.param
                and (last["step"], last["change"], last["visible_in_float64"]) == (move.step, move.change, move.visible)):
            last["class"] = (last["class"] if isinstance(last["class"], list) else [last["class"]]) + [move.tie_class]
            continue
        moves.append(entry)
    return {"data_and_init": dict(w.point), "learning_rate": w.learning_rate, "steps": w.steps,
            "data_scale": w.data_scale, "moves": moves, "network": "full", "inputs": SPREAD_NOTE}


def _published_trajectories(analysis: "Analysis") -> list[dict[str, Any]]:
    """The witness trajectories as published: the proof's, or with an input reduction the full runs."""
    if analysis.inputs is None:
        return [_trajectory_json(analysis, t) for t in analysis.proof.trajectories]
    if analysis.full_witnesses is None:  # the full network is beyond the ball replay (witness_full)
        return [{**_trajectory_json(analysis, t), "network": "reduced", "inputs": REDUCED_NOTE}
                for t in analysis.proof.trajectories]
    return [_full_trajectory_json(analysis, w) for w in analysis.full_witnesses]
