"""The proved facts of every tie class of a graph proof, in one record every face reads.

The graph counterpart of :mod:`symderiv.facts` (same semantics, same vocabulary):

* the invariant pattern (zeros and ties for the whole optimizer class, weight decay
  included) comes from :class:`~symderiv.graph.prover.GraphProof`;
* never-moving classes (the first-move iteration's fixed point) keep their init value
  forever without weight decay: one with init value 0 *stays zero*, equal init values
  *stay tied* (one tie id); these carry the condition
  :data:`~symderiv.genericity.NO_WEIGHT_DECAY`;
* floating point (:mod:`symderiv.floats` vocabulary): a proved zero, tie or "unchanged
  before step t" is ``bit_exact`` when it survives independent output deltas with every
  nonzero entry its own symbol (it rests on exact zeros only), ``identical_rounding`` when
  it survives independent output deltas with the tie classes kept (identical operations
  on identical inputs), ``exact_arithmetic_only`` otherwise (it rests on a cancellation of
  the loss, e.g. ``Σ_k δ_k = 0``: a rounding residue in floats that Adam/RMSProp amplify).

:func:`graph_facts` computes them once per analysis; nothing here is claimed that the
prover did not prove (the float passes only *classify* proved statements).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp

from ..floats import BIT_EXACT, EXACT_ONLY, IDENTICAL_ROUNDING
from ..genericity import GENERIC_INIT, NO_WEIGHT_DECAY
from .engine import backprop
from .prover import Coord, GraphProof

__all__ = ["ClassFacts", "graph_facts", "FLOAT_STATUSES"]

FLOAT_STATUSES = (BIT_EXACT, IDENTICAL_ROUNDING, EXACT_ONLY)


@dataclass(frozen=True)
class ClassFacts:
    """Everything proved about the entries of one tie class (see :class:`symderiv.facts.BlockFacts`)."""

    stays_zero: bool
    tie_id: int
    first_move_step: int | None
    first_move_tight: bool
    conditions: tuple[str, ...]
    #: how the zero or tie holds in IEEE arithmetic; None for a single untied nonzero entry
    float_status: str | None
    #: the same for "unchanged before the first-move step"; None when nothing is claimed before a move
    first_move_float: str | None


def _free_delta(shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = sp.Dummy("dL_" + "_".join(str(i + 1) for i in idx), real=True)
    return out


def _pass(proof: GraphProof, entry: Callable[[Coord], sp.Expr], delta: np.ndarray,
          untie_frozen: bool = False) -> dict[Coord, sp.Expr]:
    """Per-entry gradients with trainable entries ``entry(coord)`` and output deltas ``delta``; with
    ``untie_frozen`` every nonzero frozen entry is its own symbol too (equal frozen values, e.g. a frozen
    base and its trainable copy, may not be what makes a zero exact)."""
    g = proof.graph
    params = dict(proof.frozen_values)
    if untie_frozen:
        for name, values in proof.frozen_values.items():
            params[name] = np.array([v if v == 0 else sp.Dummy(f"f_{name}_{i}", real=True)
                                     for i, v in enumerate(np.asarray(values).flat)], dtype=object).reshape(values.shape)
    for name in g.trainable():
        shape = g.params[name].shape
        a = np.empty(g.params[name].size, dtype=object)
        for i in range(a.size):
            a[i] = entry((name, i))
        params[name] = a.reshape(shape)
    state = backprop(g, params, output_delta=delta)
    return {(n, i): state.grads[n].reshape(-1)[i] for n, i in proof.coords}


def _never_moving(proof: GraphProof) -> list[int]:
    return [k for k, fm in sorted(proof.first_moves.items()) if fm.step is None and k != proof.zero_class]


def _tie_groups(proof: GraphProof) -> dict[int, int]:
    """Class -> representative: never-moving classes with equal init values share one."""
    groups = {k: k for k in range(len(proof.classes))}
    by_value: dict[sp.Expr, int] = {}
    for k in _never_moving(proof):
        groups[k] = by_value.setdefault(proof.init_values[proof.classes[k][0]], k)
    return groups


def _pattern_floats(proof: GraphProof, delta: np.ndarray) -> dict[int, str]:
    """Float status of the pattern's zero class (per class: the worst entry) and of each tie class."""
    zero = proof.zero_class
    cls = proof.class_of
    tied = _pass(proof, lambda c: sp.Integer(0) if cls[c] == zero else proof.symbols[cls[c]], delta)
    out: dict[int, str] = {}
    if zero is not None:
        untied = _pass(proof, lambda c: sp.Integer(0) if cls[c] == zero else sp.Dummy(f"u_{c[0]}_{c[1]}", real=True),
                       delta, untie_frozen=True)
        members = proof.classes[zero]
        out[zero] = (BIT_EXACT if all(untied[c] == 0 for c in members)
                     else IDENTICAL_ROUNDING if all(tied[c] == 0 for c in members) else EXACT_ONLY)
    for k, members in enumerate(proof.classes):
        if k != zero and len(members) > 1:
            first = tied[members[0]]
            out[k] = IDENTICAL_ROUNDING if all(tied[c] == first for c in members[1:]) else EXACT_ONLY
    return out


def _first_move_floats(proof: GraphProof, delta: np.ndarray) -> dict[int, str]:
    """Per class unchanged for at least one step: how "unchanged before its first-move step" holds in floats.

    For each step ``t`` the gradient at ``A_t`` (classes not yet moved at their init values, the
    others free) is recomputed with independent output deltas, once with the classes tied and once
    with every nonzero entry its own symbol; as in :func:`symderiv.floats._first_move_statuses`."""
    zero = proof.zero_class
    steps = {k: fm.step for k, fm in proof.first_moves.items() if k != zero}
    horizon = max([s for s in steps.values() if s is not None] + [0])
    never = any(s is None for s in steps.values())
    out: dict[int, str] = {}
    cls = proof.class_of
    for t in range(horizon + (1 if never else 0)):
        at_init = {k for k, s in steps.items() if s is None or s > t}
        frozen = {k for k in at_init if (s := steps[k]) is None or s > t + 1}
        if not frozen:
            break

        def tied_entry(c: Coord, at_init: set[int] = at_init) -> sp.Expr:
            k = cls[c]
            return sp.Integer(0) if k == zero else proof.init_values[c] if k in at_init else proof.symbols[k]

        def untied_entry(c: Coord) -> sp.Expr:
            value = tied_entry(c)
            return value if value == 0 else sp.Dummy(f"v_{c[0]}_{c[1]}", real=True)

        tied = _pass(proof, tied_entry, delta)
        untied = _pass(proof, untied_entry, delta, untie_frozen=True)
        for k in frozen:
            members = proof.classes[k]
            if not all(tied[c] == 0 for c in members):
                status = EXACT_ONLY
            elif all(untied[c] == 0 for c in members):
                status = BIT_EXACT
            else:
                status = IDENTICAL_ROUNDING
            out[k] = _worse(out.get(k), status)
    return out


def _worse(a: str | None, b: str) -> str:
    return b if a is None else FLOAT_STATUSES[max(FLOAT_STATUSES.index(a), FLOAT_STATUSES.index(b))]


def graph_facts(proof: GraphProof, *, generic_init: bool) -> dict[int, ClassFacts]:
    """The :class:`ClassFacts` of every class of ``proof``; ``generic_init``: the init values are symbols
    (a certified move then holds for generic values of them, condition ``generic_init``)."""
    zero = proof.zero_class
    delta = _free_delta(proof.graph.nodes[proof.graph.ends()[1]].shape)
    pattern = _pattern_floats(proof, delta)
    moves = _first_move_floats(proof, delta)
    never = set(_never_moving(proof))
    frozen_zero = {k for k in never if proof.init_values[proof.classes[k][0]] == 0}
    groups = _tie_groups(proof)
    sizes: dict[int, int] = {}
    for g in groups.values():
        sizes[g] = sizes.get(g, 0) + 1
    ids: dict[object, int] = {}
    tie_of: dict[int, int] = {}
    for c in proof.coords:  # numbered in parameter order
        k = proof.class_of[c]
        key: object = "zero" if (k == zero or k in frozen_zero) else groups[k]
        tie_of[k] = ids.setdefault(key, len(ids))
    out: dict[int, ClassFacts] = {}
    for k in range(len(proof.classes)):
        in_zero = k == zero
        fm = proof.first_moves.get(k)
        step = None if fm is None else fm.step
        tight = bool(fm is not None and fm.tight)
        merged = not in_zero and step is None and (k in frozen_zero or sizes[groups[k]] > 1)
        conditions = ((NO_WEIGHT_DECAY,) if merged else ()) + (
            (GENERIC_INIT,) if tight and generic_init and proof.init_symbols else ())
        status = pattern.get(k)
        if status is None and merged:
            status = moves.get(k)
        out[k] = ClassFacts(
            stays_zero=in_zero or k in frozen_zero,
            tie_id=tie_of[k],
            first_move_step=step,
            first_move_tight=tight,
            conditions=conditions,
            float_status=status,
            first_move_float=None if in_zero or step == 1 else moves.get(k),
        )
    return out
