"""Deciding gradient identities on a pattern subspace: refute at certified points, else prove.

:class:`Decider` decides ``expr ≡ 0`` and ``expr_a ≡ expr_b`` with the data symbolic: first it tries
to refute, by rigorous ball enclosures at random rational points (:class:`Enclosures` climbs to
higher precision and fresh points lazily), then to prove, structurally or by the decider's ladder
under a counted work budget (:mod:`symderiv.decide`); otherwise the identity is undecided.
"""
from __future__ import annotations

import random
from typing import Generic, Iterator, Mapping, Sequence

import sympy as sp

from .certify import Ball, Uncertifiable, describe_interval, enclose
from .closed_forms import expand_definitions
from .decide import DEFAULT_PROOF_WORK, Decision, WorkBudget, check_work, decide_zero
from .engine import Abbreviations
from .errors import InternalError, SizeLimitError
from .network import Network
from .proof_records import K, Witness

__all__ = ["Decider", "Budget", "Enclosures", "identity_work", "random_point"]


class Decider:
    """Decides ``expr ≡ 0`` and ``expr_a ≡ expr_b`` on a subspace with symbolic data.

    Refutation comes first, by rigorous interval evaluation at random rational
    points (docs/theory.md §5: never simplify before trying to refute); proof is
    structural or by the decider's ladder under a work budget; otherwise undecided.

    ``seconds``: the work one identity may take, in reference seconds
    (:func:`symderiv.decide.work_of_seconds`: a fixed rate, not a clock); ``work``: the same
    in steps (overrides ``seconds``); ``budget``: the total shared with other deciders.
    """

    def __init__(self, symbols: Sequence[sp.Symbol], *, net: Network | None, seed: int = 0, points: int = 3,
                 seconds: float | None = None, abbreviations: Abbreviations | None = None,
                 scales: Mapping[sp.Symbol, int] | None = None, budget: WorkBudget | None = None,
                 work: int | None = None):
        self.symbols = list(symbols)
        self.abbreviations = abbreviations
        self.net = net
        self.rng = random.Random(seed)
        self.n_points = points
        self.per_proof = identity_work(seconds, work)
        self.scales = dict(scales or {})
        self.budget = budget if budget is not None else Budget(60.0)
        self.last: Decision | None = None
        self.points = [self._random_point() for _ in range(points)]

    def _random_point(self, positive: bool = False) -> dict[sp.Symbol, sp.Rational]:
        if self.net is None:  # a decider without a network (a graph's) draws its points itself
            raise InternalError("a Decider without a network must override _random_point")
        return random_point(self.rng, self.net, self.symbols, self.scales, positive=positive)

    def add_points(self, count: int, positive: bool) -> range:
        """Draw ``count`` more points; returns their indices."""
        start = len(self.points)
        self.points.extend(self._random_point(positive) for _ in range(count))
        return range(start, len(self.points))

    def evaluate(self, exprs: Sequence[sp.Expr], dps: int | None = None,
                 indices: Sequence[int] | None = None) -> list[list[Ball] | None]:
        """Per point: the enclosures of ``exprs``, or None where the point is uncertifiable."""
        out: list[list[Ball] | None] = []
        for k in (range(len(self.points)) if indices is None else indices):
            point = self.points[k]
            try:
                out.append(enclose(exprs, point, dps=dps or 60, definitions=self._definitions()))
            except Uncertifiable:
                out.append(None)
        return out

    def _definitions(self) -> dict:
        return {} if self.abbreviations is None else self.abbreviations.definitions

    def witness(self, point_index: int, labelled: Sequence[tuple[str, Ball]]) -> Witness:
        point = self.points[point_index]
        return Witness(
            tuple(sorted((str(s), str(v)) for s, v in point.items())),
            tuple((label, describe_interval(value)) for label, value in labelled),
        )

    def proves_zero(self, expr: sp.Expr) -> str | None:
        """``"structural"``/``"simplification"`` when ``expr ≡ 0`` is proved, else None
        (the caller must already know no point refutes it); :meth:`why_undecided` says why not."""
        self.last = None
        if expr == 0:
            return "structural"
        if self.abbreviations is not None:  # simplification must see through the named quantities
            try:  # on the DAG, refusing an expansion too large to simplify in the bound: undecided
                expr = expand_definitions([expr], self.abbreviations.definitions)[0]
            except SizeLimitError:
                self.last = Decision(None, 0, "too large to expand for a proof")
                return None
        # the one decider of the prover and the claim checker (symderiv.decide)
        self.last = decide_zero(expr, self.budget, per_proof=self.per_proof)
        return "simplification" if self.last.method is not None else None

    def why_undecided(self) -> str:
        """How the last :meth:`proves_zero` that returned None ended, for an "undecided" line."""
        if self.last is not None and self.last.safety_net:
            return self.last.reason
        return "neither proved nor refuted within the work budget"


def identity_work(seconds: float | None, work: int | None) -> int:
    """The steps one identity may take: ``work`` steps, else ``seconds`` reference seconds, else the default."""
    if work is not None:
        return check_work(work, "work")
    if seconds is not None:
        return check_work(seconds, "seconds", seconds=True)
    return DEFAULT_PROOF_WORK


class Budget(WorkBudget):
    """The total work one proof may spend deciding identities, given in reference seconds
    (:func:`symderiv.decide.work_of_seconds`); beyond it, identities are undecided.  The same
    on every machine: it counts steps, never seconds."""

    def __init__(self, seconds: float):
        super().__init__(check_work(seconds, "simplify_budget", seconds=True),
                         per_proof=check_work(seconds, "simplify_budget", seconds=True))


class Enclosures(Generic[K]):
    """Enclosures of the block gradients at the decider's points, climbing lazily: iterating
    goes on only when the caller keeps looking, first to higher precision (tiny but nonzero
    values), then to fresh points (a gradient that vanishes where a rectifier is off), some of
    them all-positive."""

    #: (decimal digits, how many new points (0 = the base points again), all-positive?)
    STEPS = ((60, 0, False), (400, 0, False), (60, 4, True), (60, 4, False), (2500, 0, False), (60, 8, True))

    def __init__(self, decider: Decider, grads: Mapping[K, sp.Expr], order: Sequence[K]):
        self._decider = decider
        self._order = list(order)
        self._exprs = [grads[b] for b in self._order]
        self._items: list[dict[K, Ball] | None] = []
        self._points: list[int] = []
        self._levels_done = 0

    def _climb(self) -> bool:
        if self._levels_done >= len(self.STEPS):
            return False
        dps, fresh, positive = self.STEPS[self._levels_done]
        self._levels_done += 1
        if fresh:
            indices = list(self._decider.add_points(fresh, positive))
        else:
            indices = list(range(self._decider.n_points))
        for k, enc in zip(indices, self._decider.evaluate(self._exprs, dps, indices)):
            self._items.append(None if enc is None else dict(zip(self._order, enc)))
            self._points.append(k)
        return True

    def __iter__(self) -> Iterator[dict[K, Ball] | None]:
        k = 0
        while True:
            while k >= len(self._items):
                if not self._climb():
                    return
            yield self._items[k]
            k += 1

    def __getitem__(self, k: int) -> dict[K, Ball] | None:
        return self._items[k]

    def point_index(self, k: int) -> int:
        return self._points[k]


def random_point(rng: random.Random, net: Network, symbols: Sequence[sp.Symbol],
                 scales: Mapping[sp.Symbol, int] | None = None, *, positive: bool = False) -> dict[sp.Symbol, sp.Rational]:
    """Random exact values for ``symbols`` and the labels (from the loss's label domain).

    A symbol with scale ``m`` (a weight shared by a block of fan-in ``m``) is divided by
    ``m``, like a sensible init, so that pre-activations stay of order one at any width;
    symbolic widths get a small integer.  ``positive`` points keep every rectifier active
    (all weights and inputs positive)."""
    scales = scales or {}
    point: dict[sp.Symbol, sp.Rational] = {}
    for s in symbols:
        if s.is_integer and s.is_positive:  # a symbolic width
            point[s] = sp.Integer(rng.randint(2, 4))
        else:
            num = rng.choice([n for n in range(1 if positive else -12, 13) if n != 0])
            point[s] = sp.Rational(num, rng.randint(3, 9) * scales.get(s, 1))
    labels = net.loss.sample_labels(_NumpyLikeRng(rng), net.n_outputs)
    for k, sym in enumerate(s for s in net.loss.labels(net.n_outputs) if isinstance(s, sp.Symbol)):
        point[sym] = sp.Rational(labels[k].numerator, labels[k].denominator)
    return point


class _NumpyLikeRng:
    """The loss registry samples labels with ``rng.integers(lo, hi)`` (NumPy style)."""

    def __init__(self, rng: random.Random):
        self._rng = rng

    def integers(self, lo: int, hi: int) -> int:
        return self._rng.randrange(lo, hi)


def _safety_suffix(decider: Decider) -> str:
    """`` (<safety-net note>)`` when the last identity was stopped by the clock, else empty."""
    last = decider.last
    return f" ({last.reason})" if last is not None and last.safety_net else ""

