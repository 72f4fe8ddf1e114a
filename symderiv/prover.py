"""The prover: the smallest invariant zero/tie pattern containing the init, and first-move steps.

Theory (docs/theory.md §2-§3).  A pattern assigns every block (see :mod:`patterns`)
either to the zero class or to a tie class; its subspace ``V`` sets zero blocks
to 0 and gives each tie class one free symbol.  Relaxation from the init's own
pattern ``P0``::

    repeat
        g := the block gradients on V(P) (engine, data symbolic)
        split every class by equality of g on V(P)   (the zero class keeps only
                                                      the blocks whose g ≡ 0)
    until nothing changes

Every *kept* constraint is proved by a checked identity on ``V(P*)``: a
structural one (SymPy's canonical form is literally 0, or literally the same
expression) or one shown by bounded simplification.  Every *dropped*
constraint carries a witness: a rational point of ``V(P)`` and rational data at
which rigorous interval enclosures of the gradients are disjoint (or exclude 0).
An identity that is neither proved nor refuted within its work budget is dropped
without being claimed and reported as undecided, so the result stays sound.

Every budget here counts work, never seconds (:mod:`symderiv.decide`): the decider's
identities spend counted SymPy steps, the witness search tries a fixed plan of trajectories
with a patience; the same input gives the same proof on any machine and any load.  Only the
wall-clock *safety net* of a bounded child depends on the machine, and an identity it stops
says so in its "undecided" line.

First-move steps iterate over steps instead of to a fixed point:
``F_0`` = all classes, ``F_{t+1}`` = the classes of ``F_t`` whose gradient is
identically 0 on ``A_t`` (classes of ``F_t`` frozen at their initial values,
the rest free within ``V(P*)``).  A class leaving at ``t`` is proved unchanged
for steps ``1 … t`` (no weight decay); a certified single-example SGD trajectory
that moves it at step ``t + 1`` makes the step tight.

The two loops are :mod:`symderiv.relaxation`'s (shared with the graph prover, signed and shifted
ties); the records live in :mod:`symderiv.proof_records`, the deciding of identities in
:mod:`symderiv.identities`, the splitting of one class in :mod:`symderiv.class_splitting` and the
witness trajectories in :mod:`symderiv.witness_trajectories`; every name keeps its import path here.
"""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

import sympy as sp

from .class_splitting import split_class as _split_class  # noqa: F401 - import path of signed, shifted
from .engine import backprop, input_symbols
from .guard import public_entry
from .identities import (Budget, Decider, Enclosures, _NumpyLikeRng, _safety_suffix,  # noqa: F401
                         identity_work, random_point)
from .init import resolve_init
from .network import Network
from .patterns import Block, Partition, blocks, unit_partition
from .relaxation import OnPattern, first_move_steps, relax
from .proof_records import FirstMove, Identity, K, Proof, Split, TrajectoryWitness, Witness  # noqa: F401
from .witness_trajectories import (VISIBLE_RELATIVE, WITNESS_PATIENCE, WITNESS_VARIANTS, WITNESS_WORK,  # noqa: F401
                                   _magnitude, _one_trajectory, _trajectory_witnesses, trajectory_work)

_log = logging.getLogger("symderiv")

__all__ = [
    "Identity", "Witness", "Split", "TrajectoryWitness", "FirstMove", "Proof",
    "prove", "Decider",
]


#: from this depth on, the prover names each class's hidden z and δ (see engine.Abbreviations),
#: which keeps its cost linear in depth; shallower proofs keep fully expanded closed forms
ABBREVIATE_FROM_DEPTH = 6


# ---------------------------------------------------------------- the relaxation
def _init_pattern(init_values: Mapping[Block, sp.Expr], order: Sequence[Block]) -> tuple[list[tuple[Block, ...]], int | None]:
    by_value: dict[sp.Expr, list[Block]] = {}
    for b in order:
        by_value.setdefault(init_values[b], []).append(b)
    classes = [tuple(v) for v in by_value.values()]
    zero = next((i for i, (value, _) in enumerate(by_value.items()) if value == 0), None)
    return classes, zero


def _class_symbols(classes: Sequence[tuple[Block, ...]], net: Network, partition: Partition) -> list[sp.Symbol]:
    """One readable symbol per class: ``W1_2_3`` for a single entry, ``w2`` for a whole parameter, else ``t_k``."""
    names: list[str] = []
    per_param: dict[str, int] = {}
    for b in blocks(net, partition):
        per_param[b.param] = per_param.get(b.param, 0) + 1
    used: set[str] = set()
    for k, members in enumerate(classes):
        params = {b.param for b in members}
        name = f"t_{k}"
        if len(members) == 1:
            b = members[0]
            C = partition.classes[b.layer][b.row]
            if b.kind == "W":
                D = partition.classes[b.layer - 1][b.col]
                if C.size == 1 and D.size == 1:
                    name = f"{b.param}_{C.first + 1}_{D.first + 1}"
            elif C.size == 1:
                name = f"{b.param}_{C.first + 1}"
        if name.startswith("t_") and len(params) == 1 and len(members) == per_param[next(iter(params))]:
            name = next(iter(params)).lower()
        if name in used:
            name = f"t_{k}"
        used.add(name)
        names.append(name)
    return [sp.Symbol(n, real=True) for n in names]


def block_label(net: Network, partition: Partition, b: Block) -> str:
    """``W2[1..n, 3]`` style label of a block (1-based units)."""
    C = partition.classes[b.layer][b.row].label()
    if b.kind == "W":
        return f"{b.param}[{C}, {partition.classes[b.layer - 1][b.col].label()}]"
    return f"{b.param}[{C}]"


@public_entry
def prove(
    net: Network,
    init: object,
    *,
    seed: int = 0,
    seconds: float = 5.0,
    simplify_budget: float = 30.0,
    witness_attempts: int = 6,
    work: int | None = None,
) -> Proof:
    """Run the relaxation and the first-move iteration; see the module docstring.

    Budgets count work, so the proof is the same on any machine: ``seconds`` is the work one
    identity may take in reference seconds (``work``: the same in steps, overriding it),
    ``simplify_budget`` the total for the whole proof in reference seconds
    (:mod:`symderiv.decide`)."""
    per_identity = identity_work(seconds, work)
    inits = resolve_init(net, init)
    partition = unit_partition(net, inits)
    order = list(blocks(net, partition))
    init_values: dict[Block, sp.Expr] = {}
    for b in order:
        C = partition.classes[b.layer][b.row]
        index = (C.first,) if b.kind == "b" else (C.first, partition.classes[b.layer - 1][b.col].first)
        init_values[b] = inits[b.param].entry(index)
    classes, zero = _init_pattern(init_values, order)
    abbreviate = net.depth >= ABBREVIATE_FROM_DEPTH
    budget = Budget(simplify_budget)
    label = lambda b: block_label(net, partition, b)  # noqa: E731
    undecided: list[str] = []

    init_symbols = sorted(set().union(*(v.free_symbols for v in init_values.values())), key=str)
    width_symbols = [n for n in net.sizes if isinstance(n, sp.Symbol)]
    data_symbols = input_symbols(net.sizes[0])

    def on_pattern(iteration: int, classes: list[tuple[Block, ...]], zero: int | None) -> OnPattern[Block]:
        _log.debug("prove: relaxation iteration %d, %d classes", iteration, len(classes))
        symbols = _class_symbols(classes, net, partition)
        values = {b: (sp.Integer(0) if k == zero else symbols[k]) for k, members in enumerate(classes) for b in members}
        state = backprop(net, partition, values, abbreviate=abbreviate)
        free = data_symbols + [s for k, s in enumerate(symbols) if k != zero] + init_symbols + width_symbols
        decider = Decider(free, net=net, seed=seed + iteration, work=per_identity, abbreviations=state.abbreviations,
                          scales=_fan_in_scales(net, classes, symbols, zero, init_symbols), budget=budget)
        return OnPattern(state.grad, decider, (symbols, state))

    relaxed = relax(classes, zero, order=order, on_pattern=on_pattern, label=label, undecided=undecided)
    classes, zero, identities, splits, iteration = (relaxed.classes, relaxed.zero, relaxed.identities,
                                                     relaxed.splits, relaxed.iterations)
    symbols, state = relaxed.last.context

    class_of = {b: k for k, members in enumerate(classes) for b in members}
    _log.info("prove: %s: %d classes after %d iterations; first moves", net.describe(), len(classes), iteration)
    first_moves, fm_identities = _first_moves(net, partition, order, classes, zero, symbols, init_values,
                                              data_symbols + init_symbols + width_symbols, init_symbols, seed,
                                              per_identity, undecided, abbreviate, budget)
    trajectories = _trajectory_witnesses(net, partition, order, classes, zero, symbols, init_values, state.grad,
                                         first_moves, seed, witness_attempts, state.definitions)
    tight = {c for t in trajectories for c, _, _ in t.moved}
    _log.info("prove: %d witness trajectories certify %d first moves", len(trajectories), len(tight))
    first_moves = {c: FirstMove(fm.step, c in tight, fm.undecided) for c, fm in first_moves.items()}
    return Proof(
        net=net, inits=inits, partition=partition, blocks=order, init_values=init_values,
        classes=classes, zero_class=zero, class_of=class_of, symbols=symbols, identities=identities,
        splits=splits, iterations=iteration, first_moves=first_moves, first_move_identities=fm_identities,
        trajectories=trajectories, undecided=undecided, gradients_on_pattern=dict(state.grad),
        definitions=dict(state.definitions), init_symbols=list(init_symbols),
    )


def _fan_in_scales(net, classes, symbols, zero, init_symbols) -> dict[sp.Symbol, int]:
    """Per class symbol, the largest fan-in of its blocks (symbolic widths count as 4)."""
    width = lambda n: n if isinstance(n, int) else 4  # noqa: E731 - the Decider samples widths in 2..4
    scales: dict[sp.Symbol, int] = {}
    for k, members in enumerate(classes):
        if k == zero:
            continue
        scales[symbols[k]] = max(width(net.sizes[b.layer - 1]) if b.kind == "W" else 1 for b in members)
    widest = max(width(n) for n in net.sizes)
    for s in init_symbols:
        scales.setdefault(s, widest)
    return scales


# ---------------------------------------------------------------- first-move steps
def _first_moves(net, partition, order, classes, zero, symbols, init_values, other_symbols, init_symbols, seed,
                 work, undecided, abbreviate=False, budget=None):
    """``F_0`` = every class; ``F_{t+1}`` = classes of ``F_t`` with gradient ≡ 0 on ``A_t``
    (:func:`symderiv.relaxation.first_moves` on the chain engine)."""
    scales = _fan_in_scales(net, classes, symbols, zero, init_symbols)

    def on_step(t: int, frozen: set[int], reps: list[Block]) -> OnPattern[Block]:
        values = {}
        for k, members in enumerate(classes):
            for b in members:
                if k == zero:
                    values[b] = sp.Integer(0)
                elif k in frozen:
                    values[b] = init_values[b]
                else:
                    values[b] = symbols[k]
        state = backprop(net, partition, values, abbreviate=abbreviate)
        free = other_symbols + [symbols[k] for k in range(len(classes)) if k != zero and k not in frozen]
        decider = Decider(free, net=net, seed=seed + 7919 * (t + 1), work=work,
                          abbreviations=state.abbreviations, budget=budget, scales=scales)
        return OnPattern(state.grad, decider)

    return first_move_steps(classes, zero, on_step=on_step, label=lambda b: block_label(net, partition, b),
                       undecided=undecided)
