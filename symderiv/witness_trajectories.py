"""Certified witness trajectories: single-example SGD runs along which first moves are certified.

A class whose first-move step is ``t`` is proved unchanged before ``t``; a trajectory along which its
change at step ``t`` is certified nonzero (Arb balls, exact data and learning rate) makes the step
tight.  The search runs a fixed plan of trajectories with a patience and a counted work budget,
never a clock, so the same witnesses are found on any machine.
"""
from __future__ import annotations

import random
from typing import Any, Callable, Mapping, Sequence

import sympy as sp

from .certify import Uncertifiable, describe_interval, enclose, excludes_zero, precision, to_interval
from .closed_forms import dag_nodes
from .engine import input_symbols
from .identities import random_point
from .proof_records import TrajectoryWitness

__all__ = ["WITNESS_VARIANTS", "WITNESS_WORK", "WITNESS_PATIENCE", "VISIBLE_RELATIVE", "trajectory_work",
           "search_trajectories", "certified_trajectory"]


#: (data scale, sign of the inputs: 0 mixed / +1 / -1, learning-rate factor) of the trajectories tried after
#: the base ones: larger and one-signed data revive units a small witness leaves dead (a ReLU unit with
#: W1 = -1, b1 = -20 needs inputs beyond 20), a larger step makes tiny moves visible in float64
WITNESS_VARIANTS = ((1, 0, 1), (8, 0, 1), (8, -1, 1), (8, 1, 1), (64, -1, 1), (64, 1, 1), (64, 0, 1),
                    (1, 0, 8), (512, -1, 1), (512, 1, 1))
#: work budget of the extra trajectories (the base ones always run), in node evaluations at 80 digits
#: (:func:`trajectory_work`): a count, so the witnesses found are the same on any machine and load
WITNESS_WORK = 10_000_000
#: extra attempts in a row that certify nothing new before the search stops
WITNESS_PATIENCE = 6
#: a certified change is "visible in float64" when at least this fraction of max(|θ|, η)
VISIBLE_RELATIVE = 1e-8


def trajectory_work(exprs: Sequence[sp.Expr], definitions: Mapping | None, horizon: int, dps: int) -> int:
    """The work of one witness trajectory: ``horizon`` enclosures of ``exprs`` (and the abbreviations
    they use), counted as distinct nodes evaluated, weighted by the precision (80 digits = 1)."""
    nodes = len(dag_nodes(list(exprs) + list((definitions or {}).values())))
    return max(1, horizon * nodes * max(1, dps // 80))


def _trajectory_witnesses(net, partition, order, classes, zero, symbols, init_values, grads_on_pattern,
                          first_moves, seed, attempts, definitions=None) -> list[TrajectoryWitness]:
    """Single-example SGD trajectories (exact data, rational learning rate) along which classes with a
    finite first-move step are certified to change at that step.

    The base attempts climb a precision ladder; then variants with larger, one-signed data and larger
    steps run until every class is certified and visibly so, the patience runs out, or the work
    budget (:data:`WITNESS_WORK`, :func:`trajectory_work`) is spent: no clock, so the same witnesses
    on any machine.  Each kept trajectory certifies at least one move that no earlier one did (or
    makes one visible)."""
    targets = {k: fm.step for k, fm in first_moves.items() if fm.step is not None}
    if not targets:
        return []
    horizon = max(targets.values())
    rng = random.Random(seed + 104729)
    data_symbols = input_symbols(net.sizes[0])
    init_symbols = sorted(set().union(*(v.free_symbols for v in init_values.values())), key=str)
    reps = {k: classes[k][0] for k in range(len(classes)) if k != zero}
    rep_exprs = [grads_on_pattern[reps[k]] for k in sorted(reps)]
    ladder = (80, 80, 600, 600, 3000, 3000)  # saturated units need more digits (see Enclosures.STEPS)
    plan = [(ladder[min(a, len(ladder) - 1)], (1, 0, 1)) for a in range(attempts)]
    plan += [(dps, variant) for variant in WITNESS_VARIANTS for dps in (80, 600)]

    def candidate(dps: int, variant: tuple[int, int, int]) -> TrajectoryWitness | None:
        with precision(dps):
            return _one_trajectory(net, rng, data_symbols, init_symbols, init_values, reps, rep_exprs,
                                   symbols, targets, horizon, definitions, dps, variant)

    return search_trajectories(targets, plan, attempts, trajectory_work(rep_exprs, definitions, horizon, 80),
                               candidate, until_visible=True)


def search_trajectories(targets: Mapping[int, int], plan: Sequence[tuple[int, Any]], attempts: int, unit: int,
                        candidate: Callable[[int, Any], "TrajectoryWitness | None"], *,
                        until_visible: bool) -> list[TrajectoryWitness]:
    """The witness search shared by the engines: run ``candidate(dps, variant)`` along ``plan``.

    The first ``attempts`` entries (the base ones) always run; the later ones run until every target is
    certified (and visibly so, with ``until_visible``), the patience (:data:`WITNESS_PATIENCE`) runs out
    or the work budget (:data:`WITNESS_WORK`, ``unit`` per trajectory at 80 digits) is spent: no clock,
    so the same witnesses on any machine.  Each kept trajectory certifies at least one move that no
    earlier one did (or, with ``until_visible``, makes one visible); the most complete comes first."""
    kept: list[TrajectoryWitness] = []
    certified: set[int] = set()
    visible: set[int] = set()
    wanted = set(targets)
    spent = 0  # work of the extra attempts so far
    idle = 0  # consecutive extra attempts that certified nothing new: deep, vanishing moves stay invisible
    for n, (dps, variant) in enumerate(plan):
        if certified == wanted and (not until_visible or visible == wanted):
            break
        if n >= attempts:
            spent += unit * max(1, dps // 80)
            if spent > WITNESS_WORK or idle >= WITNESS_PATIENCE:
                break
        found = candidate(dps, variant)
        if found is None:
            idle += n >= attempts
            continue
        new = {c for c, _, _ in found.moved} - certified
        newly_visible = set(found.visible) - visible if until_visible else set()
        idle = 0 if (new or newly_visible or n < attempts) else idle + 1
        if new or newly_visible:
            kept.append(found)
            certified |= {c for c, _, _ in found.moved}
            visible |= set(found.visible)
    kept.sort(key=lambda t: -len(t.moved))  # the most complete witness first
    return kept


def _magnitude(x) -> float:
    from . import certify

    mid = getattr(certify, "midpoint", None)
    if mid is not None:
        return abs(float(mid(x)))
    lo, hi = certify.endpoints(x)
    return abs(float((lo + hi) / 2))


def _one_trajectory(net, rng, data_symbols, init_symbols, init_values, reps, rep_exprs, symbols, targets, horizon,
                    definitions=None, dps=80, variant=(1, 0, 1)):
    """One random single-example SGD trajectory; None when some step is uncertifiable.

    Symbols of the init and the learning rate are scaled by ``1/widest layer`` so the
    run stays out of saturation at any width; ``variant`` = (data scale, input sign, learning-rate
    factor)."""
    scale, sign, lr_factor = variant
    widest = max(n if isinstance(n, int) else 4 for n in net.sizes)
    # symbolic widths: the trajectory is certified at one concrete width
    widths = [n for n in net.sizes if isinstance(n, sp.Symbol)]
    point = random_point(rng, net, list(data_symbols) + list(init_symbols) + widths,
                         {s: widest for s in init_symbols})
    for x in data_symbols:
        v = point[x] * scale
        point[x] = abs(v) * sign if sign else v
    lr = sp.Rational(rng.choice([1, 2, 3]) * lr_factor, rng.choice([2, 4, 5]) * widest)
    return certified_trajectory(point, lr, reps, rep_exprs, symbols, init_values, targets, horizon, dps, scale,
                                definitions)


def certified_trajectory(point: Mapping[sp.Symbol, sp.Rational], lr: sp.Rational, reps: Mapping[int, Any],
                         rep_exprs: Sequence[sp.Expr], symbols: Sequence[sp.Symbol], init_values: Mapping,
                         targets: Mapping[int, int], horizon: int, dps: int, scale: int,
                         definitions: Mapping | None = None) -> TrajectoryWitness | None:
    """Exact single-example SGD from the init at data ``point`` with learning rate ``lr``, in Arb balls:
    the classes of ``targets`` whose change at their target step is certified nonzero (and which of
    those changes are visible in float64); None when some step is uncertifiable.  ``reps`` maps each
    moving class to a representative coordinate, ``rep_exprs`` its gradient on the pattern (in the
    order of ``sorted(reps)``)."""
    try:
        start = enclose([init_values[reps[k]] for k in sorted(reps)], point, dps=dps)
    except Uncertifiable:
        return None
    theta = dict(zip(sorted(reps), start))
    lr_iv = to_interval(lr)
    moved: list[tuple[int, int, str]] = []
    sizes: dict[int, float] = {}
    visible: set[int] = set()
    for step in range(1, horizon + 1):
        values = dict(point)
        for k, v in theta.items():
            values[symbols[k]] = v
        try:
            g = dict(zip(sorted(reps), enclose(rep_exprs, values, dps=dps, definitions=definitions)))
        except Uncertifiable:
            return None
        for k, target in targets.items():
            if target == step and excludes_zero(g[k]):
                change = -lr_iv * g[k]
                moved.append((k, step, describe_interval(change)))
                size = _magnitude(change)
                sizes[k] = size
                if size > 1e-250 and size >= VISIBLE_RELATIVE * max(_magnitude(theta[k]), float(lr)):
                    visible.add(k)
        theta = {k: theta[k] - lr_iv * g[k] for k in theta}
    return TrajectoryWitness(
        tuple(sorted((str(s), str(v)) for s, v in point.items())), str(lr), horizon, tuple(sorted(moved)),
        frozenset(visible), scale, tuple(sizes[k] for k, _, _ in sorted(moved)),
    )
