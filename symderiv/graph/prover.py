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
instead of an MLP.  Classes are split by :func:`symderiv.prover._split_class` unchanged.

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

from ..certify import Uncertifiable, describe_interval, enclose, excludes_zero, precision, to_interval
from ..errors import InternalError
from ..prover import (WITNESS_PATIENCE, WITNESS_WORK, Budget, Decider, Enclosures, FirstMove, Identity, Split,
                      TrajectoryWitness, _magnitude, _safety_suffix, _split_class, identity_work, trajectory_work)
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
    splits: list[Split] = []

    by_value: dict[sp.Expr, list[Coord]] = {}
    for c in coords:
        by_value.setdefault(init_values[c], []).append(c)
    classes = [tuple(v) for v in by_value.values()]
    zero = next((i for i, v in enumerate(by_value) if v == 0), None)
    if lattice is not None:
        classes, zero = lattice.project(classes, zero)
    init_scales = _init_scales(graph, values, init_symbols)

    iteration = 0
    while True:
        iteration += 1
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
        enclosures = Enclosures(decider, grads, coords)
        new_classes: list[tuple[Coord, ...]] = []
        new_zero: int | None = None
        identities: list[Identity] = []
        changed = False
        for k, members in enumerate(classes):
            if len(members) == 1 and k != zero:
                new_classes.append(members)
                continue
            parts, zero_part, zero_identity, ties, witness = _split_class(
                members, grads, enclosures, decider, zero=(k == zero), undecided=undecided, label=label)
            if zero_part is not None:
                if zero_identity is None:  # _split_class returns both or neither
                    raise InternalError("a zero part without its identity")
                new_zero = len(new_classes)
                new_classes.append(zero_part)
                identities.append(zero_identity)
            new_classes.extend(parts)
            identities.extend(ties)
            if len(parts) + (zero_part is not None) > 1 or (k == zero and zero_part is None):
                changed = True
                splits.append(Split(iteration, k == zero, tuple(members),
                                    ((zero_part,) if zero_part else ()) + tuple(parts), witness))
        if not changed:
            break
        position = {c: i for i, c in enumerate(coords)}
        zero_members = new_classes[new_zero] if new_zero is not None else None
        new_classes.sort(key=lambda m: min(position[c] for c in m))
        zero = new_classes.index(zero_members) if zero_members is not None else None
        classes = new_classes
        if lattice is not None:  # back onto the lattice; the next iteration re-checks the gradients there
            classes, zero = lattice.project(classes, zero)

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
    close = (lambda h: set(h)) if closure is None else (lambda h: closure(h, classes, zero))
    history_zero = {k for k in range(len(classes)) if k != zero}
    frozen = close(history_zero)
    cls_of = {c: k for k, m in enumerate(classes) for c in m}
    moves: dict[int, FirstMove] = {}
    identities: list[tuple[int, Identity]] = []
    fragile: set[int] = set()
    out_shape = graph.nodes[graph.output].shape
    free_delta = np.empty(out_shape, dtype=object)
    for idx in np.ndindex(*out_shape):
        free_delta[idx] = sp.Symbol("dz_" + "_".join(str(i + 1) for i in idx), real=True)
    t = 0
    while history_zero:
        def entry(c, frozen=frozen):
            k = cls_of[c]
            return sp.Integer(0) if k == zero else (init_values[c] if k in frozen else symbols[k])
        state = backprop(graph, _param_arrays(graph, frozen_values, entry))
        reps = {k: classes[k][0] for k in history_zero}
        rep_list = [reps[k] for k in sorted(history_zero)]
        grads = _grads(state, rep_list)
        free = list(other_symbols) + [symbols[k] for k in range(len(classes)) if k != zero and k not in frozen]
        decider = GraphDecider(free, sampler=sampler, seed=seed + 7919 * (t + 1), work=work, scales=scales,
                               budget=budget)
        enclosures = Enclosures(decider, grads, rep_list)
        leaving = []
        for k in sorted(history_zero):
            g = grads[reps[k]]
            if g == 0:
                identities.append((t, Identity(classes[k], sp.Integer(0), "structural")))
                continue
            if any(enc is not None and excludes_zero(enc[reps[k]]) for enc in enclosures):
                leaving.append((k, False))
                continue
            method = decider.proves_zero(g)
            if method is None:
                undecided.append(f"step {t + 1}: gradient of {label(reps[k])} ≡ 0 on A_{t}: undecided"
                                 f"{_safety_suffix(decider)}; its first-move step is only a lower bound")
                leaving.append((k, True))
            else:
                identities.append((t, Identity(classes[k], sp.Integer(0), method)))
        zeros_here = [k for k in sorted(frozen) if k not in {j for j, _ in leaving}]
        if zeros_here:  # which of these zeros survive independent output δ's (no loss cancellation)?
            loose = _grads(backprop(graph, _param_arrays(graph, frozen_values, entry), output_delta=free_delta),
                           [reps[k] for k in zeros_here])
            fragile |= {k for k in zeros_here if loose[reps[k]] != 0}
        if not leaving:
            break
        history_zero -= {k for k, _ in leaving}
        still = close(history_zero)
        undecided_here = any(u for _, u in leaving)
        for k in sorted(frozen - still):
            moves[k] = FirstMove(t + 1, False, dict(leaving).get(k, undecided_here))
        frozen = still
        t += 1
    for k in range(len(classes)):
        if k != zero and k not in moves:
            moves[k] = FirstMove(None if k in frozen else 1, False)
    return moves, identities, fragile


# ---------------------------------------------------------------- certified witness trajectories
#: (data scale, learning-rate factor) of the attempts after the base ones
VARIANTS = ((1, 1), (4, 1), (1, 8), (16, 1))


def _trajectories(graph, classes, zero, symbols, init_values, grads, first_moves, data, init_symbols, sampler,
                  init_scales, seed, attempts) -> list[TrajectoryWitness]:
    """Single-example exact SGD trajectories on ``V(P*)`` certifying first moves at their steps.

    The base attempts always run; the variants after them run until every move is certified, the
    patience (:data:`~symderiv.prover.WITNESS_PATIENCE`) runs out or the work budget
    (:data:`~symderiv.prover.WITNESS_WORK`) is spent: no clock, the same witnesses on any machine."""
    targets = {k: fm.step for k, fm in first_moves.items() if fm.step is not None}
    if not targets:
        return []
    horizon = max(targets.values())
    rng = random.Random(seed + 104729)
    reps = {k: classes[k][0] for k in range(len(classes)) if k != zero}
    exprs = [grads[reps[k]] for k in sorted(reps)]
    widest = max([_fan_in(graph, n) for n in graph.params] + [1])
    plan = [((80, 600, 3000)[min(a, 2)], (1, 1)) for a in range(attempts)] + [(200, v) for v in VARIANTS]
    kept: list[TrajectoryWitness] = []
    certified: set[int] = set()
    unit = trajectory_work(exprs, None, horizon, 80)
    spent = idle = 0  # work of the extra attempts; extra attempts in a row that certified nothing new
    for n, (dps, (scale, lr_factor)) in enumerate(plan):
        if certified == set(targets):
            break
        if n >= attempts:
            spent += unit * max(1, dps // 80)
            if spent > WITNESS_WORK or idle >= WITNESS_PATIENCE:
                break
        point = graph_point(rng, data + list(init_symbols), init_scales, sampler)
        for x in data:
            point[x] = point[x] * scale
        lr = sp.Rational(rng.choice([1, 2, 3]) * lr_factor, rng.choice([2, 4, 5]) * widest)
        with precision(dps):
            candidate = _one(point, lr, reps, exprs, symbols, init_values, targets, horizon, dps, scale)
        if candidate is None:
            idle += n >= attempts
            continue
        new = {c for c, _, _ in candidate.moved} - certified
        idle = 0 if (new or n < attempts) else idle + 1
        if new:
            kept.append(candidate)
            certified |= new
    kept.sort(key=lambda t: -len(t.moved))
    return kept


def _one(point, lr, reps, exprs, symbols, init_values, targets, horizon, dps, scale):
    try:
        start = enclose([init_values[reps[k]] for k in sorted(reps)], point, dps=dps)
    except Uncertifiable:
        return None
    theta = dict(zip(sorted(reps), start))
    lr_iv = to_interval(lr)
    moved, sizes, visible = [], {}, set()
    for step in range(1, horizon + 1):
        values = dict(point)
        for k, v in theta.items():
            values[symbols[k]] = v
        try:
            g = dict(zip(sorted(reps), enclose(exprs, values, dps=dps)))
        except Uncertifiable:
            return None
        for k, target in targets.items():
            if target == step and excludes_zero(g[k]):
                change = -lr_iv * g[k]
                moved.append((k, step, describe_interval(change)))
                sizes[k] = _magnitude(change)
                if sizes[k] > 1e-250 and sizes[k] >= 1e-8 * max(_magnitude(theta[k]), float(lr)):
                    visible.add(k)
        theta = {k: theta[k] - lr_iv * g[k] for k in theta}
    return TrajectoryWitness(tuple(sorted((str(s), str(v)) for s, v in point.items())), str(lr), horizon,
                             tuple(sorted(moved)), frozenset(visible), scale,
                             tuple(sizes[k] for k, _, _ in sorted(moved)))
