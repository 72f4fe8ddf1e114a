"""The prover on a graph: smallest invariant zero/tie pattern, first moves, witness trajectories.

The same theorem and the same machinery as :mod:`symderiv.prover`, with the coordinates
being the entries of the trainable parameters (``(name, flat index)``) instead of MLP
blocks.  Relaxation from the init's own pattern ``P0``::

    repeat
        g := per-entry gradients on V(P), data symbolic (symderiv.graph.engine)
        keep the zeros whose g ≡ 0; split tie classes by equality of g
    until stable

Identities are decided by :class:`symderiv.prover.Decider` (refute first with Arb
enclosures at random exact points, then prove structurally or by bounded simplification;
otherwise undecided and dropped; every budget counts work, never seconds, so the proof is the
same on any machine and load), through a local adapter whose random points come from
the graph (input symbols, parameter symbols scaled by fan-in, labels from the graph loss)
instead of an MLP.  The loops are :func:`symderiv.relaxation.relax` and :func:`~symderiv.relaxation.first_move_steps`.

First moves: ``F_0`` = every class, ``F_{t+1}`` = the classes of ``F_t`` whose gradient is
≡ 0 on ``A_t`` (``F_t`` frozen at its init values, the rest free in ``V(P*)``).  A class
leaving at ``t`` is proved unchanged before step ``t + 1``; it is tight when a certified
exact single-example SGD trajectory moves it at that step.  Frozen parameters are
constants throughout (their init values, generic symbols or exact numbers).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from ..certify import precision
from ..prover import Budget, Decider, FirstMove, Identity, Split, TrajectoryWitness, identity_work, trajectory_work
from ..witness_trajectories import certified_trajectory, search_trajectories
from ..relaxation import OnPattern, first_move_steps, relax
from .engine import backprop, data_symbols
from .ir import Graph
from .losses import graph_loss
from .tokens import token_point, token_symbols

if TYPE_CHECKING:  # pragma: no cover
    from ..optimizer_classes import PatternLattice

__all__ = ["Coord", "GraphProof", "GraphDecider", "prove_graph", "coord_label"]

Coord = tuple[str, int]  # (parameter name, flat index of the entry)


# ---------------------------------------------------------------- the adapter
class GraphDecider(Decider):
    """:class:`symderiv.prover.Decider` with random points drawn for a graph: every symbol
    gets a nonzero rational ``n / (d·scale)`` and the labels come from ``sampler``."""

    def __init__(self, symbols: Sequence[sp.Symbol], *, sampler: Callable[[random.Random], dict], **kw):
        self._sampler = sampler
        super().__init__(symbols, net=None, **kw)

    def _random_point(self, positive: bool = False) -> dict[sp.Symbol, sp.Rational]:
        return graph_point(self.rng, self.symbols, self.scales, self._sampler, positive=positive)


def graph_point(rng: random.Random, symbols: Sequence[sp.Symbol], scales: Mapping[sp.Symbol, int],
                sampler: Callable[[random.Random], dict], *, positive: bool = False) -> dict:
    point: dict = {}
    for s in symbols:
        num = rng.choice([n for n in range(1 if positive else -12, 13) if n != 0])
        point[s] = sp.Rational(num, rng.randint(3, 9) * scales.get(s, 1))
    point.update(sampler(rng))
    return point


# ---------------------------------------------------------------- records
@dataclass
class GraphProof:
    """Everything the graph prover established (presented by :class:`~symderiv.graph.analysis.GraphAnalysis`)."""

    graph: Graph
    coords: list[Coord]
    init_values: dict[Coord, sp.Expr]
    frozen_values: dict[str, np.ndarray]
    classes: list[tuple[Coord, ...]]
    zero_class: int | None
    class_of: dict[Coord, int]
    symbols: list[sp.Symbol]
    identities: list[Identity]
    splits: list[Split]
    iterations: int
    first_moves: dict[int, FirstMove]
    first_move_identities: list[tuple[int, Identity]]
    trajectories: list[TrajectoryWitness]
    undecided: list[str]
    gradients_on_pattern: dict[Coord, sp.Expr]
    init_symbols: list[sp.Symbol] = field(default_factory=list)
    #: classes whose "unchanged before step t" rests on the loss's exact cancellation (e.g. Σ_k δ_k = 0):
    #: true in exact arithmetic, a rounding residue in floats that Adam/RMSProp can amplify
    loss_cancellation: set[int] = field(default_factory=set)

    def never_moving(self) -> list[int]:
        return [k for k, fm in sorted(self.first_moves.items()) if fm.step is None and k != self.zero_class]


def coord_label(graph: Graph, c: Coord) -> str:
    block = getattr(graph, "block_label", None)  # a lumped quotient names the block's entries
    if block is not None:
        return block(c)
    name, flat = c
    shape = graph.params[name].shape
    idx = np.unravel_index(flat, shape) if shape else ()
    return f"{name}[{', '.join(str(int(i)) for i in idx)}]"


def _fan_in(graph: Graph, name: str) -> int:
    full = getattr(graph, "fan_in", None)  # a lumped quotient keeps the full parameter's fan-in
    if full and name in full:
        return int(full[name])
    shape = graph.params[name].shape
    return int(np.prod(shape[1:])) if len(shape) >= 2 else 1


# ---------------------------------------------------------------- values of a pattern
def _param_arrays(graph: Graph, frozen_values: Mapping[str, np.ndarray], entry: Callable[[Coord], sp.Expr]):
    out = dict(frozen_values)
    for name in graph.trainable():
        shape = graph.params[name].shape
        a = np.empty(int(np.prod(shape)) if shape else 1, dtype=object)
        for i in range(a.size):
            a[i] = entry((name, i))
        out[name] = a.reshape(shape)
    return out


def _grads(state, coords: Sequence[Coord]) -> dict[Coord, sp.Expr]:
    return {(n, i): state.grads[n].reshape(-1)[i] for n, i in coords}


def _class_symbols(classes, graph: Graph) -> list[sp.Symbol]:
    """``t_k``, or the entry's own name for a single-entry class, or the parameter's for a whole one."""
    per_param = {n: graph.params[n].size for n in graph.trainable()}
    names, used = [], set()
    for k, members in enumerate(classes):
        params = {n for n, _ in members}
        name = f"t_{k}"  # unique: no other name starts with "t_"
        if len(params) == 1 and len(members) == per_param[next(iter(params))]:
            whole = "w_" + "".join(ch if ch.isalnum() else "_" for ch in next(iter(params)))
            if whole not in used:  # two classes never share a symbol (that would force a tie)
                name = whole
        used.add(name)
        names.append(name)
    return [sp.Symbol(n, real=True) for n in names]


# ---------------------------------------------------------------- the relaxation
def prove_graph(graph: Graph, values: Mapping[str, np.ndarray], init_symbols: Sequence[sp.Symbol], *,
                seed: int = 0, seconds: float = 5.0, simplify_budget: float = 30.0,
                witness_attempts: int = 4, lattice: "PatternLattice | None" = None,
                work: int | None = None) -> GraphProof:
    """Run the relaxation, the first-move iteration and the witness trajectories on ``graph``
    with init ``values`` (parameter name -> object array; see :func:`symderiv.graph.values.init_values`).

    ``lattice`` (default: every pattern, the coordinatewise class) restricts the patterns to those an
    optimizer class preserves (:mod:`symderiv.optimizer_classes`): the init's pattern and every relaxed one
    are projected onto the lattice (constraints dropped, never added), and the first-move iteration freezes
    only the lattice's closure of the classes whose gradient history is zero.

    Budgets count work (as in :func:`symderiv.prover.prove`): ``seconds`` per identity and
    ``simplify_budget`` in total are reference seconds, ``work`` the per-identity steps."""
    per_identity = identity_work(seconds, work)
    coords = [(n, i) for n in graph.trainable() for i in range(graph.params[n].size)]
    init_values = {(n, i): values[n].reshape(-1)[i] for n, i in coords}
    frozen_values = {n: values[n] for n in graph.frozen()}
    _, output, loss_name = graph.ends()
    loss = graph_loss(loss_name)
    out_shape = graph.nodes[output].shape
    tokens = token_symbols(graph)  # token ids: one-hot rows of real ids at every random point, never scaled
    sampler = lambda rng: {**loss.sample(rng, out_shape), **token_point(graph, rng)}  # noqa: E731
    data = [s for xs in data_symbols(graph) for s in xs.flat]  # every input's data symbols
    init_symbols = list(init_symbols)
    label = lambda c: coord_label(graph, c)  # noqa: E731
    budget = Budget(simplify_budget)
    undecided: list[str] = []

    by_value: dict[sp.Expr, list[Coord]] = {}
    for c in coords:
        by_value.setdefault(init_values[c], []).append(c)
    classes = [tuple(v) for v in by_value.values()]
    zero = next((i for i, v in enumerate(by_value) if v == 0), None)
    init_scales = _init_scales(graph, values, init_symbols)

    def on_pattern(iteration: int, classes: list[tuple[Coord, ...]], zero: int | None) -> OnPattern[Coord]:
        symbols = _class_symbols(classes, graph)
        cls_of = {c: k for k, m in enumerate(classes) for c in m}
        state = backprop(graph, _param_arrays(graph, frozen_values,
                                              lambda c: sp.Integer(0) if cls_of[c] == zero else symbols[cls_of[c]]))
        grads = _grads(state, coords)
        free = data + [s for k, s in enumerate(symbols) if k != zero] + init_symbols
        scales = {**init_scales, **{symbols[k]: max(_fan_in(graph, n) for n, _ in m)
                                    for k, m in enumerate(classes) if k != zero}}
        decider = GraphDecider(free, sampler=sampler, seed=seed + iteration, work=per_identity, scales=scales,
                               budget=budget)
        return OnPattern(grads, decider, (symbols, scales))

    relaxed = relax(classes, zero, order=coords, on_pattern=on_pattern, label=label, undecided=undecided,
                    project=None if lattice is None else lattice.project)
    classes, zero, identities, splits, iteration = (relaxed.classes, relaxed.zero, relaxed.identities,
                                                     relaxed.splits, relaxed.iterations)
    grads = dict(relaxed.last.grads)
    symbols, scales = relaxed.last.context

    class_of = {c: k for k, m in enumerate(classes) for c in m}
    fm, fm_ids, fragile = _first_moves(graph, coords, classes, zero, symbols, init_values, frozen_values,
                                       data + init_symbols, sampler, scales, seed, per_identity, undecided, budget, label,
                                       closure=None if lattice is None else lattice.closure)
    trajectories = _trajectories(graph, classes, zero, symbols, init_values, grads, fm,
                                 [x for x in data if x not in tokens], init_symbols, sampler,
                                 init_scales, seed, witness_attempts)
    tight = {c for t in trajectories for c, _, _ in t.moved}
    fm = {c: FirstMove(m.step, c in tight, m.undecided) for c, m in fm.items()}
    return GraphProof(graph, coords, init_values, frozen_values, classes, zero, class_of, symbols, identities,
                      splits, iteration, fm, fm_ids, trajectories, undecided, grads, init_symbols, fragile)


def _init_scales(graph: Graph, values, init_symbols) -> dict[sp.Symbol, int]:
    scales: dict[sp.Symbol, int] = {}
    wanted = set(init_symbols)
    for name, arr in values.items():
        for v in arr.flat:
            if v in wanted:  # a value shared by several parameters: scaled for the widest fan-in
                scales[v] = max(scales.get(v, 1), _fan_in(graph, name))
    return scales


# ---------------------------------------------------------------- first moves
def _first_moves(graph, coords, classes, zero, symbols, init_values, frozen_values, other_symbols, sampler, scales,
                 seed, work, undecided, budget, label, closure=None):
    """``H_t``: classes whose gradient was ≡ 0 at every step so far; ``F_t = closure(H_t)`` the classes proved
    unchanged (every class of ``H_t`` for an entrywise optimizer; whole zero rows/columns for a matrix one)."""
    cls_of = {c: k for k, m in enumerate(classes) for c in m}
    fragile: set[int] = set()
    out_shape = graph.nodes[graph.output].shape
    free_delta = np.empty(out_shape, dtype=object)
    for idx in np.ndindex(*out_shape):
        free_delta[idx] = sp.Symbol("dz_" + "_".join(str(i + 1) for i in idx), real=True)

    def entries(frozen: set[int]) -> Callable[[Coord], sp.Expr]:
        def entry(c: Coord) -> sp.Expr:
            k = cls_of[c]
            return sp.Integer(0) if k == zero else (init_values[c] if k in frozen else symbols[k])
        return entry

    def on_step(t: int, frozen: set[int], reps: list[Coord]) -> OnPattern[Coord]:
        state = backprop(graph, _param_arrays(graph, frozen_values, entries(frozen)))
        free = list(other_symbols) + [symbols[k] for k in range(len(classes)) if k != zero and k not in frozen]
        decider = GraphDecider(free, sampler=sampler, seed=seed + 7919 * (t + 1), work=work, scales=scales,
                               budget=budget)
        return OnPattern(_grads(state, reps), decider)

    def loss_cancellation(t: int, frozen: set[int], leaving: set[int], here: OnPattern[Coord]) -> None:
        """Which zeros of this step survive independent output δ's (no loss cancellation)?"""
        zeros_here = [k for k in sorted(frozen) if k not in leaving]
        if zeros_here:
            loose = _grads(backprop(graph, _param_arrays(graph, frozen_values, entries(frozen)), output_delta=free_delta),
                           [classes[k][0] for k in zeros_here])
            fragile.update(k for k in zeros_here if loose[classes[k][0]] != 0)

    moves, identities = first_move_steps(classes, zero, on_step=on_step, label=label, undecided=undecided,
                                         closure=closure, after_step=loss_cancellation)
    return moves, identities, fragile


# ---------------------------------------------------------------- certified witness trajectories
#: (data scale, learning-rate factor) of the attempts after the base ones
VARIANTS = ((1, 1), (4, 1), (1, 8), (16, 1))


def _trajectories(graph, classes, zero, symbols, init_values, grads, first_moves, data, init_symbols, sampler,
                  init_scales, seed, attempts) -> list[TrajectoryWitness]:
    """Single-example exact SGD trajectories on ``V(P*)`` certifying first moves at their steps.

    The base attempts always run; the variants after them run until every move is certified, the
    patience runs out or the work budget is spent (:func:`symderiv.witness_trajectories.search_trajectories`):
    no clock, the same witnesses on any machine."""
    targets = {k: fm.step for k, fm in first_moves.items() if fm.step is not None}
    if not targets:
        return []
    horizon = max(targets.values())
    rng = random.Random(seed + 104729)
    reps = {k: classes[k][0] for k in range(len(classes)) if k != zero}
    exprs = [grads[reps[k]] for k in sorted(reps)]
    widest = max([_fan_in(graph, n) for n in graph.params] + [1])
    plan = [((80, 600, 3000)[min(a, 2)], (1, 1)) for a in range(attempts)] + [(200, v) for v in VARIANTS]

    def candidate(dps: int, variant: tuple[int, int]) -> TrajectoryWitness | None:
        scale, lr_factor = variant
        point = graph_point(rng, data + list(init_symbols), init_scales, sampler)
        for x in data:
            point[x] = point[x] * scale
        lr = sp.Rational(rng.choice([1, 2, 3]) * lr_factor, rng.choice([2, 4, 5]) * widest)
        with precision(dps):
            return _one(point, lr, reps, exprs, symbols, init_values, targets, horizon, dps, scale)

    return search_trajectories(targets, plan, attempts, trajectory_work(exprs, None, horizon, 80), candidate,
                               until_visible=False)


def _one(point, lr, reps, exprs, symbols, init_values, targets, horizon, dps, scale):
    """One certified trajectory (:func:`symderiv.witness_trajectories.certified_trajectory`); the graph's
    expressions carry no abbreviations."""
    return certified_trajectory(point, lr, reps, exprs, symbols, init_values, targets, horizon, dps, scale)
