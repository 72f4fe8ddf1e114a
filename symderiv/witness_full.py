"""Witness trajectories of an input-reduced analysis, run again and certified on the full network.

With an input reduction (:mod:`symderiv.inputs`) the prover certifies first moves on the reduced
network.  Zero padding lifts its witnesses exactly (part (3) of the lemma), but then every column
not kept carries ``x = 0`` and visibly does not move: such a certificate would not show the moves it
certifies.  Here each reduced witness is *spread* onto the full input and the trajectory is run
again on the full network, entry by entry, in Arb ball arithmetic (:mod:`symderiv.certify`).  A
published tie class with a finite first-move step is certified by that run when, at its step, the
change of *every one of its entries* excludes 0: a computation on the full network, with no
appeal to the lemma.  A class the reduced proof called tight that no full run certifies loses its
tightness (:func:`certify_full_network`).

Spreading, and why it is exact.  Under plain SGD on one example, a class ``D`` of identical ``W1``
columns (value ``w`` at the init) keeps ``W1[i, j](t) = w_i − η Σ_{τ<t} δ_i(τ) x_j``, so it enters the
pre-activation of unit ``i`` as ``w_i Σ_{j∈D} x_j − η Σ_{τ<t} δ_i(τ) Σ_{j∈D} x_j²``: only the class's
first two power sums of the data matter.  Full data with the reduced class's ``Σ x`` and ``Σ x²`` (on
its four kept columns) therefore give, at every step and by induction, the reduced run's
pre-activations, activations and ``δ``, and every parameter outside ``W1`` the reduced value; a full
column ``j`` changes at step ``t`` by ``−η δ_i(t) x_j``.  :func:`spread_data` keeps the first three
kept columns' data and gives the ``n = m − 3`` others ``2s/n`` (``n − 1`` of them) and ``−(n − 2)s/n``,
``s`` the fourth's datum (sum ``s``, sum of squares ``s²``; all nonzero for ``n ≥ 3``); for ``n = 2``
(no two nonzero numbers have sum ``s`` and sum of squares ``s²``) the last three columns carry a
nonzero rational point of the circle ``a + b + c = x_2 + s``, ``a² + b² + c² = x_2² + s²``.  Every
column carries a nonzero datum; the run is nonetheless computed and certified on the full network,
entry by entry, not read off the reduced one (were no point found, the data would only keep the
class sum and the run would still be certified on its own).

Cost: one dense forward/backward pass per step (``flint.arb_mat`` products), O(parameters) ball
operations; the activations and the loss's ``δ`` are enclosed per unit from their SymPy forms.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import sympy as sp
from flint import arb_mat

from .certify import Ball, Uncertifiable, describe_interval, enclose, excludes_zero, midpoint, precision, to_interval
from .engine import input_symbols
from .network import Network

if TYPE_CHECKING:
    from .inputs import InputMap

__all__ = ["FullMove", "FullWitness", "spread_data", "ball_trajectory", "certify_full_network", "SPREAD_NOTE",
           "REDUCED_NOTE", "FULL_RUN_MAX_ENTRIES", "full_run_entries"]

#: digits of the full runs: the reduced witnesses' first rung, then its second (saturated units)
FULL_RUN_DIGITS = (80, 600)
#: a certified change is "visible in float64" when at least this fraction of max(|θ|, η) (as in the prover)
VISIBLE_RELATIVE = 1e-8
#: how the published data of an input-reduced analysis were made (the JSON's words)
#: the largest full network (trainable entries) whose witness runs are replayed entry by entry in balls: the
#: run costs a ball operation per entry and step, so beyond this the published witnesses stay the reduced
#: network's (certified there; the other columns by the input-reduction lemma), and the output says so.
#: A size, not a clock: the same input gives the same bytes on any machine.
FULL_RUN_MAX_ENTRIES = 300_000

#: what the published witness data are when the full network is beyond :data:`FULL_RUN_MAX_ENTRIES`
REDUCED_NOTE = ("run and certified on the reduced network (the kept input columns; the full network has more than "
                f"{FULL_RUN_MAX_ENTRIES:,} trainable entries, beyond the entry-by-entry ball replay): with every "
                "other column's datum 0 the full network follows this run exactly, and a W1 column not kept moves "
                "at the step of the kept column representing it by the input-reduction lemma (b): exchanging their "
                "data maps this trajectory onto one where it moves")


def full_run_entries(analysis) -> int:
    """The trainable entries of the full network the first witness would run on (symbolic widths at the
    values its point gives them)."""
    p = analysis.proof
    if not p.trajectories:
        return 0
    net = _concrete(analysis.net, spread_data(analysis.inputs, p.trajectories[0].point))
    return sum(int(np.prod([int(n) for n in net.shape(name)])) for name in net.parameter_names())


SPREAD_NOTE = ("run and certified on the full network, every input column carrying a nonzero datum; each class of "
               "identical W1 columns has the reduced witness's sum of data and sum of squared data, which is all "
               "that enters single-example SGD, so the run follows the reduced one exactly outside W1")


@dataclass(frozen=True)
class FullMove:
    """One published tie class certified to change at its first-move step on the full network:
    ``entry`` is its first entry (parameter, 0-based index), ``change`` that entry's certified
    change (every entry of the class was certified, each on its own ball)."""

    tie_class: int
    proof_class: int
    param: str
    index: tuple[int, ...]
    step: int
    change: str
    magnitude: float
    visible: bool

    def to_dict(self) -> dict[str, Any]:
        return {"class": self.tie_class, "step": self.step, "change": self.change,
                "visible_in_float64": self.visible, "parameter": self.param, "index": list(self.index)}


@dataclass(frozen=True)
class FullWitness:
    """A single-example plain-SGD trajectory of the full network: exact data, labels and init
    symbols (``point``), learning rate, steps, and the tie classes certified to move."""

    point: tuple[tuple[str, str], ...]
    learning_rate: str
    steps: int
    data_scale: int
    moves: tuple[FullMove, ...]

    def value(self, name: str) -> sp.Rational:
        return sp.Rational(dict(self.point)[name])


# ---------------------------------------------------------------- the data
def _class_data(kept: Sequence[sp.Rational], m: int) -> list[sp.Rational]:
    """Nonzero data for the ``m`` columns of a class whose kept columns carry ``kept`` in the reduced
    witness, with the same ``Σ x`` and ``Σ x²`` (module docstring), in the order of the columns."""
    x = list(kept)
    n = m - len(x) + 1  # the columns the last kept one stands for
    if n == 1:
        return x
    s = x[-1]
    if n >= 3:
        return x[:-1] + [2 * s / n] * (n - 1) + [-(n - 2) * s / n]
    # n = 2: from the circle's rational point (a, s, 0), along a direction d of the plane Σ = const
    a = x[-2]
    for d in ((1, 1, -2), (1, -2, 1), (-2, 1, 1), (1, 2, -3), (2, 1, -3), (1, -3, 2), (-3, 1, 2)):
        t = -2 * (a * d[0] + s * d[1]) / sum(c * c for c in d)
        point = [a + t * d[0], s + t * d[1], t * d[2]]
        if all(v != 0 for v in point):
            return x[:-2] + point
    return x[:-1] + [s / n] * n  # only the class sum kept: still certified by the full run itself


def spread_data(imap: "InputMap", point: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """A reduced witness point (symbol name, exact value) onto the full input (module docstring):
    every column a nonzero datum, each class's ``Σ x`` and ``Σ x²`` the reduced ones; labels and init
    symbols unchanged."""
    reduced_x = {str(s) for s in input_symbols(imap.n_reduced)}
    values = dict(point)
    xr = [sp.Rational(values[str(s)]) for s in input_symbols(imap.n_reduced)]
    out = {name: value for name, value in point if name not in reduced_x}
    full_x = input_symbols(imap.n_full)
    for D in imap.classes:
        for j, v in zip(D.members, _class_data([xr[r] for r in D.kept], D.size)):
            out[str(full_x[j])] = str(v)
    return tuple(sorted(out.items()))


# ---------------------------------------------------------------- the full network in balls
def _exact(value: sp.Expr, symbols: Mapping[str, sp.Rational]) -> Ball:
    if isinstance(value, sp.Basic) and value.free_symbols:
        value = value.xreplace({s: symbols[str(s)] for s in value.free_symbols})
    return to_interval(sp.sympify(value, strict=True))


def _initial_params(net: Network, inits: Mapping[str, Any], symbols: Mapping[str, sp.Rational]) -> dict[str, arb_mat]:
    """Every parameter as a ball matrix (biases as columns) at its exact init value."""
    out = {}
    for name in net.parameter_names():
        shape = tuple(int(n) for n in net.shape(name))
        p = inits[name]
        if p.kind == "uniform":  # one value: no loop over the entries
            flat = [_exact(p.uniform_value(), symbols)] * int(np.prod(shape))
        else:
            flat = [_exact(p.entry(index), symbols) for index in np.ndindex(*shape)]
        rows, cols = shape[0], (shape[1] if len(shape) == 2 else 1)
        out[name] = arb_mat(rows, cols, flat)
    return out


class _Units:
    """Per layer, ``f`` and ``f'`` of its activation, and the loss's ``δ^(L)``, enclosed at balls."""

    def __init__(self, net: Network, labels: Mapping[str, sp.Rational], dps: int):
        self.net, self.dps = net, dps
        u = sp.Symbol("u", real=True)
        self.u = u
        self.forms = {l: (net.activation_of(l)(u), net.activation_of(l).derivative(u)) for l in range(1, net.depth)}
        K = net.n_outputs
        self.z_out = [sp.Symbol(f"zL_{k}", real=True) for k in range(K)]
        y = net.loss.labels(K)
        self.delta_out = net.loss.delta(self.z_out, y)
        self.labels = {s: labels[str(s)] for s in net.loss.labels(K) if isinstance(s, sp.Symbol)}

    def activate(self, l: int, z: arb_mat) -> tuple[arb_mat, arb_mat]:
        f, df = self.forms[l]
        h, dh = [], []
        for i in range(z.nrows()):
            a, b = enclose([f, df], {self.u: z[i, 0]}, dps=self.dps)
            h.append(a)
            dh.append(b)
        return arb_mat(len(h), 1, h), arb_mat(len(dh), 1, dh)

    def output_delta(self, z: arb_mat) -> arb_mat:
        values: dict = dict(self.labels)
        values.update({s: z[k, 0] for k, s in enumerate(self.z_out)})
        d = enclose(self.delta_out, values, dps=self.dps)
        return arb_mat(len(d), 1, d)


def _gradients(net: Network, theta: Mapping[str, arb_mat], x: arb_mat, units: _Units) -> dict[str, arb_mat]:
    """The per-example gradient of every parameter (the engine's recursion, on entries, in balls)."""
    L = net.depth
    h: list[arb_mat] = [x]
    slopes: dict[int, arb_mat] = {}  # f'(z) of hidden layer l
    z = x
    for l in range(1, L + 1):
        z = theta[f"W{l}"] * h[-1]
        if net.bias:
            z = z + theta[f"b{l}"]
        if l < L:
            a, da = units.activate(l, z)
            h.append(a)
            slopes[l] = da
    delta = units.output_delta(z)
    grads = {}
    for l in range(L, 0, -1):
        grads[f"W{l}"] = delta * h[l - 1].transpose()
        if net.bias:
            grads[f"b{l}"] = delta
        if l > 1:
            back = theta[f"W{l}"].transpose() * delta
            delta = arb_mat(back.nrows(), 1, [back[i, 0] * slopes[l - 1][i, 0] for i in range(back.nrows())])
    return grads


def ball_trajectory(net: Network, inits: Mapping[str, Any], point: Sequence[tuple[str, str]], lr: sp.Rational,
                    steps: int, dps: int = 80) -> list[dict[str, arb_mat]]:
    """Plain SGD on the one example of ``point`` (data ``x_j``, labels, init symbols), in Arb balls:
    the parameters at steps ``0 … steps`` (biases as columns).  Raises :class:`Uncertifiable` when a
    kink cannot be decided."""
    values = {name: sp.Rational(v) for name, v in point}
    with precision(dps):
        x = arb_mat(int(net.sizes[0]), 1, [to_interval(values[str(s)]) for s in input_symbols(int(net.sizes[0]))])
        units = _Units(net, values, dps)
        eta = to_interval(lr)
        theta = _initial_params(net, inits, values)
        out = [theta]
        for _ in range(steps):
            g = _gradients(net, theta, x, units)
            theta = {name: theta[name] - eta * g[name] for name in theta}
            out.append(theta)
    return out


# ---------------------------------------------------------------- certifying the published moves
def _targets(analysis, net: Network) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per parameter of ``net`` (the analysis's network, at concrete widths): (published tie ids, the
    first-move step of each entry the reduced proof calls tight (-1 elsewhere: never, stays zero, or a
    lower bound only), proof classes)."""
    p = analysis.proof
    out = {}
    for name in net.parameter_names():
        if not analysis.net.is_symbolic:  # the per-entry arrays, spread from per-block tables
            f = analysis.entry_facts(name)
            steps = np.where(f["stays_zero"] | ~f["first_move_tight"], -1, f["first_move_step"])
            classes = np.vectorize(lambda b: p.class_of[b], otypes=[np.int64])(f["block"])
            out[name] = (f["tie_class"], steps, classes)
            continue
        shape = tuple(int(n) for n in net.shape(name))  # symbolic widths: the entries of this instance
        ids, steps, classes = (np.empty(shape, dtype=np.int64) for _ in range(3))
        for index in np.ndindex(*shape):
            b = analysis.block(name, index)
            fact = analysis.facts_of(b)
            ids[index] = analysis.tie_class(name, index)
            tight = fact.first_move_tight and not fact.stays_zero and fact.first_move_step is not None
            steps[index] = fact.first_move_step if tight else -1
            classes[index] = p.class_of[b]
        out[name] = (ids, steps, classes)
    return out


def _concrete(net: Network, point: Sequence[tuple[str, str]]) -> Network:
    """``net`` at the widths the witness point gives its symbolic widths (itself when concrete)."""
    if not net.is_symbolic:
        return net
    values = dict(point)
    sizes = tuple(n if isinstance(n, int) else int(values[str(n)]) for n in net.sizes)
    return Network(sizes, net.activations, net.loss, net.bias)


def _certified_moves(thetas: Sequence[Mapping[str, arb_mat]], targets, lr: float) -> tuple[FullMove, ...]:
    """The published tie classes whose every entry's change at its first-move step excludes 0."""
    first: dict[int, FullMove] = {}
    failed: set[int] = set()
    for name, (ids, steps, classes) in targets.items():
        for index in zip(*np.nonzero(steps > 0)):
            t, tid = int(steps[index]), int(ids[index])
            if tid in failed or t >= len(thetas):
                failed.add(tid)
                continue
            r, c = (index[0], index[1]) if len(index) == 2 else (index[0], 0)
            before, after = thetas[t - 1][name][r, c], thetas[t][name][r, c]
            change = after - before
            if not excludes_zero(change):
                failed.add(tid)
                continue
            if tid not in first:
                size = abs(midpoint(change))
                visible = size > 1e-250 and size >= VISIBLE_RELATIVE * max(abs(midpoint(before)), lr)
                first[tid] = FullMove(tid, int(classes[index]), name, tuple(int(i) for i in index), t,
                                      describe_interval(change), size, visible)
    return tuple(first[k] for k in sorted(first) if k not in failed)


def certify_full_network(analysis) -> tuple[list[FullWitness], set[int]]:
    """Spread every reduced witness trajectory onto the full input, run it on the full network in
    balls and keep the runs that certify a published move no earlier run did.  Returns the full
    witnesses (most moves first) and the proof classes called tight that no run certified."""
    p, imap = analysis.proof, analysis.inputs
    inits = analysis.inits
    kept: list[FullWitness] = []
    certified: set[int] = set()
    all_targets = []
    for t in p.trajectories:
        point = spread_data(imap, t.point)
        net = _concrete(analysis.net, point)
        targets = _targets(analysis, net)
        all_targets.append(targets)
        lr = sp.Rational(t.learning_rate)
        best: tuple[FullMove, ...] = ()
        for dps in FULL_RUN_DIGITS:
            try:
                thetas = ball_trajectory(net, inits, point, lr, t.steps, dps)
            except Uncertifiable:
                continue
            with precision(dps):  # the changes and their text at the run's precision
                moves = _certified_moves(thetas, targets, float(lr))
            if len(moves) > len(best):
                best = moves
            if len(best) >= len(t.moved):
                break
        if {m.tie_class for m in best} - certified:
            kept.append(FullWitness(point, t.learning_rate, t.steps, t.data_scale, best))
            certified |= {m.tie_class for m in best}
    kept.sort(key=lambda w: -len(w.moves))
    published_classes: dict[int, set[int]] = {}
    for ids, steps, classes in (v for targets in all_targets for v in targets.values()):
        for tid, step, k in zip(ids.flat, steps.flat, classes.flat):
            if step > 0:
                published_classes.setdefault(int(k), set()).add(int(tid))
    lost = {k for k, tids in published_classes.items()
            if p.first_moves[k].tight and not tids <= certified}
    return kept, lost
