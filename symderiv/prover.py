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
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Callable, Generic, Hashable, Iterator, Mapping, Sequence, TypeVar

import sympy as sp

from .closed_forms import dag_nodes, expand_definitions
from .decide import DEFAULT_PROOF_WORK, Decision, WorkBudget, check_work, decide_zero
from .certify import Ball, Uncertifiable, describe_interval, enclose, excludes_zero, precision, to_interval
from .engine import Abbreviations, backprop, input_symbols
from .init import ParamInit, resolve_init
from .network import Network
from .patterns import Block, Partition, blocks, unit_partition
from .errors import InternalError, SizeLimitError
from .guard import public_entry

_log = logging.getLogger("symderiv")

__all__ = [
    "Identity", "Witness", "Split", "TrajectoryWitness", "FirstMove", "Proof",
    "prove", "Decider",
]


#: from this depth on, the prover names each class's hidden z and δ (see engine.Abbreviations),
#: which keeps its cost linear in depth; shallower proofs keep fully expanded closed forms
ABBREVIATE_FROM_DEPTH = 6


#: a gradient coordinate: a :class:`~symderiv.patterns.Block` of an MLP, a (parameter, entry) pair of a graph
K = TypeVar("K", bound=Hashable)


# ---------------------------------------------------------------- records
@dataclass(frozen=True)
class Identity(Generic[K]):
    """A checked identity on the subspace: ``members`` all have the gradient ``expr``
    (``expr == 0`` for a zero constraint); ``method`` says how it was checked."""

    members: tuple[K, ...]
    expr: sp.Expr
    method: str  # "structural" or "simplification"


@dataclass(frozen=True)
class Witness:
    """A certified point: exact values of every symbol, and rigorous enclosures of the
    gradients compared there."""

    point: tuple[tuple[str, str], ...]  # (symbol, exact rational) pairs, sorted
    values: tuple[tuple[str, str], ...]  # (gradient label, enclosure as text)

    def to_dict(self) -> dict:
        return {"point": dict(self.point), "gradients": dict(self.values)}


@dataclass(frozen=True)
class Split(Generic[K]):
    """A dropped constraint: the class ``before`` (tied, or zero when ``was_zero``) split
    into ``parts`` at iteration ``iteration``; ``witness`` certifies that the parts'
    gradients differ (or that a released part's gradient is nonzero)."""

    iteration: int
    was_zero: bool
    before: tuple[K, ...]
    parts: tuple[tuple[K, ...], ...]
    witness: Witness | None
    undecided: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrajectoryWitness:
    """A certified single-example SGD trajectory: data, learning rate, initial values
    (and, for symbolic widths, the concrete widths it was run at), and for each class
    the step at which its change is certified nonzero."""

    point: tuple[tuple[str, str], ...]
    learning_rate: str
    steps: int
    moved: tuple[tuple[int, int, str], ...]  # (class id, step, certified change as text)
    #: classes whose certified change is visible in float64 (at least 1e-8 relative to the larger of
    #: the parameter's value and the learning rate, and far from underflow)
    visible: frozenset[int] = frozenset()
    data_scale: int = 1
    #: per entry of ``moved``: the midpoint of the certified change as a float (for float replays)
    magnitudes: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        return {"data_and_init": dict(self.point), "learning_rate": self.learning_rate, "steps": self.steps,
                "data_scale": self.data_scale,
                "moves": [{"class": c, "step": s, "change": v, "visible_in_float64": c in self.visible}
                          for c, s, v in self.moved]}


@dataclass(frozen=True)
class FirstMove:
    """First-move step of one tie class: ``step`` (None = proved never), whether it is
    tight (certified by a trajectory), and how the zero gradients before it were shown."""

    step: int | None
    tight: bool
    undecided: bool = False


@dataclass
class Proof:
    """Everything the prover established (presented by :class:`symderiv.analysis.Analysis`)."""

    net: Network
    inits: dict[str, ParamInit]
    partition: Partition
    blocks: list[Block]
    init_values: dict[Block, sp.Expr]
    classes: list[tuple[Block, ...]]  # final tie classes (class 0 may be the zero class)
    zero_class: int | None  # index into classes, or None
    class_of: dict[Block, int]
    symbols: list[sp.Symbol]  # one per class (the zero class's entry is unused)
    identities: list[Identity]
    splits: list[Split]
    iterations: int
    first_moves: dict[int, FirstMove]
    first_move_identities: list[tuple[int, Identity]]  # (step t, identity proved on A_t)
    trajectories: list[TrajectoryWitness]
    undecided: list[str]
    gradients_on_pattern: dict[Block, sp.Expr]
    definitions: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)  # abbreviations used by the expressions
    init_symbols: list[sp.Symbol] = field(default_factory=list)

    @property
    def trajectory(self) -> TrajectoryWitness | None:
        """The first witness trajectory (the one certifying most moves), or None."""
        return self.trajectories[0] if self.trajectories else None

    def never_moving(self) -> list[int]:
        """Classes outside the zero class proved never to change (first-move step None).

        Such a class keeps its init value along every trajectory of an optimizer without weight
        decay: the first-move iteration reached a fixed point where its gradient is identically 0
        on the affine set of the classes frozen at their init values, and that set is invariant."""
        return [k for k, fm in sorted(self.first_moves.items()) if fm.step is None and k != self.zero_class]

    def frozen_zero_classes(self) -> set[int]:
        """Never-moving classes whose init value is 0: exactly 0 forever (no weight decay)."""
        return {k for k in self.never_moving() if self.init_values[self.classes[k][0]] == 0}

    def tie_groups(self) -> dict[int, int]:
        """Class -> representative class: never-moving classes with equal init values share one
        (they stay equal forever, without weight decay); every other class is its own."""
        groups: dict[int, int] = {k: k for k in range(len(self.classes))}
        by_value: dict[sp.Expr, int] = {}
        for k in self.never_moving():
            value = self.init_values[self.classes[k][0]]
            groups[k] = by_value.setdefault(value, k)
        return groups

    def is_visible(self, k: int) -> bool:
        """Whether some witness trajectory certifies class ``k``'s first move visibly in float64."""
        return any(k in t.visible for t in self.trajectories)


# ---------------------------------------------------------------- deciding identities
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


# ---------------------------------------------------------------- splitting one class
def _split_class(
    members: Sequence[K],
    grads: Mapping[K, sp.Expr],
    enclosures: Enclosures[K],
    decider: Decider,
    *,
    zero: bool,
    undecided: list[str],
    label: Callable[[K], str],
) -> tuple[list[tuple[K, ...]], tuple[K, ...] | None, Identity[K] | None, list[Identity[K]], Witness | None]:
    """Split ``members`` by equality of their gradient functions.

    Returns ``(parts, zero_part, zero_identity, tie_identities, witness)``; for
    the zero class ``zero_part`` holds the blocks proved to keep gradient 0.
    """
    # 1. group by structural equality (SymPy's canonical form): equal expressions are equal functions
    groups: dict[sp.Expr, list[K]] = {}
    for b in members:
        groups.setdefault(grads[b], []).append(b)
    exprs = list(groups)
    witness: Witness | None = None
    witness_point: int | None = None
    witness_values: list[tuple[str, Ball]] = []

    def certified_different(a: int, b: int) -> int | None:
        for k, enc in enumerate(enclosures):
            if enc is None:
                continue
            ia, ib = enc[groups[exprs[a]][0]], enc[groups[exprs[b]][0]]
            if excludes_zero(ia - ib):
                return k
        return None

    # 2. the zero class: which groups have gradient ≡ 0?
    zero_part: tuple[K, ...] | None = None
    zero_identity: Identity[K] | None = None
    remaining = list(range(len(exprs)))
    if zero:
        kept = []
        for gi in list(remaining):
            e = exprs[gi]
            if e == 0:  # structurally zero: proved without looking at any point
                kept.append((gi, "structural"))
                continue
            refuted = next(((k, enc[groups[e][0]]) for k, enc in enumerate(enclosures)
                            if enc is not None and excludes_zero(enc[groups[e][0]])), None)
            if refuted is not None:
                refuted_at, value = refuted
                if witness_point is None:
                    witness_point = refuted_at
                if refuted_at == witness_point:
                    witness_values.append((label(groups[e][0]), value))
                continue
            method = decider.proves_zero(e)
            if method is not None:
                kept.append((gi, method))
            else:
                undecided.append(f"gradient of {label(groups[e][0])} ≡ 0: {decider.why_undecided()}")
        if kept:
            zero_blocks = tuple(b for gi, _ in kept for b in groups[exprs[gi]])
            methods = {m for _, m in kept}
            zero_identity = Identity(zero_blocks, sp.Integer(0), "structural" if methods == {"structural"} else "simplification")
            zero_part = zero_blocks
            remaining = [gi for gi in remaining if gi not in {k for k, _ in kept}]

    # 3. merge structurally different groups that are provably equal; keep apart the rest
    parts: list[list[int]] = []
    for gi in remaining:
        placed = False
        for part in parts:
            rep = part[0]
            if certified_different(gi, rep) is not None:
                continue
            method = decider.proves_zero(exprs[gi] - exprs[rep])
            if method is not None:
                part.append(gi)
                placed = True
                break
            undecided.append(
                f"gradients of {label(groups[exprs[gi]][0])} and {label(groups[exprs[rep]][0])} equal: "
                f"{decider.why_undecided()}"
            )
        if not placed:
            parts.append([gi])

    tie_identities: list[Identity[K]] = []
    out_parts: list[tuple[K, ...]] = []
    for part in parts:
        blocks_ = tuple(b for gi in part for b in groups[exprs[gi]])
        out_parts.append(blocks_)
        if len(blocks_) > 1:
            tie_identities.append(Identity(blocks_, exprs[part[0]], "structural" if len(part) == 1 else "simplification"))

    # 4. a witness for the split: one point where the parts' representatives are pairwise certified apart
    n_parts = len(out_parts) + (1 if zero_part else 0)
    if n_parts > 1 or (zero and zero_part is None and out_parts):
        reps = [p[0] for p in out_parts]
        for k, enc in enumerate(enclosures):
            if enc is None:
                continue
            ok = all(excludes_zero(enc[a] - enc[b]) for i, a in enumerate(reps) for b in reps[i + 1:])
            if zero:
                ok = ok and all(excludes_zero(enc[a]) for a in reps)
            if ok:
                entries = [(label(b), enc[b]) for b in reps]
                if zero_part:
                    entries.append((label(zero_part[0]), enc[zero_part[0]]))
                witness = decider.witness(enclosures.point_index(k), entries)
                break
    return out_parts, zero_part, zero_identity, tie_identities, witness


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
    splits: list[Split] = []

    init_symbols = sorted(set().union(*(v.free_symbols for v in init_values.values())), key=str)
    width_symbols = [n for n in net.sizes if isinstance(n, sp.Symbol)]
    data_symbols = input_symbols(net.sizes[0])

    iteration = 0
    while True:
        iteration += 1
        _log.debug("prove: relaxation iteration %d, %d classes", iteration, len(classes))
        symbols = _class_symbols(classes, net, partition)
        values = {b: (sp.Integer(0) if k == zero else symbols[k]) for k, members in enumerate(classes) for b in members}
        state = backprop(net, partition, values, abbreviate=abbreviate)
        free = data_symbols + [s for k, s in enumerate(symbols) if k != zero] + init_symbols + width_symbols
        decider = Decider(free, net=net, seed=seed + iteration, work=per_identity, abbreviations=state.abbreviations,
                          scales=_fan_in_scales(net, classes, symbols, zero, init_symbols), budget=budget)
        enclosures = Enclosures(decider, state.grad, order)
        new_classes: list[tuple[Block, ...]] = []
        new_zero: int | None = None
        identities: list[Identity] = []
        changed = False
        for k, members in enumerate(classes):
            if len(members) == 1 and k != zero:
                new_classes.append(members)
                continue
            parts, zero_part, zero_identity, ties, witness = _split_class(
                members, state.grad, enclosures, decider, zero=(k == zero), undecided=undecided, label=label
            )
            if zero_part is not None:
                if zero_identity is None:  # _split_class returns both or neither
                    raise InternalError("a zero part without its identity")
                new_zero = len(new_classes)
                new_classes.append(zero_part)
                identities.append(zero_identity)
            new_classes.extend(parts)
            identities.extend(ties)
            n_parts = len(parts) + (1 if zero_part is not None else 0)
            if n_parts > 1 or (k == zero and zero_part is None):
                changed = True
                undec = tuple(u for u in undecided if label(members[0]) in u)
                splits.append(Split(iteration, k == zero, tuple(members),
                                    ((zero_part,) if zero_part else ()) + tuple(parts), witness, undec))
        if not changed:  # terminates: every change adds a class (or shrinks the zero class)
            break
        # keep a deterministic order: by the first block of each class in parameter order
        position = {b: i for i, b in enumerate(order)}
        zero_members = new_classes[new_zero] if new_zero is not None else None
        new_classes.sort(key=lambda c: min(position[b] for b in c))
        zero = new_classes.index(zero_members) if zero_members is not None else None
        classes = new_classes

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
    """``F_0`` = every class; ``F_{t+1}`` = classes of ``F_t`` with gradient ≡ 0 on ``A_t``."""
    frozen = {k for k in range(len(classes)) if k != zero}
    moves: dict[int, FirstMove] = {}
    identities: list[tuple[int, Identity]] = []
    label = lambda b: block_label(net, partition, b)  # noqa: E731
    t = 0
    while frozen:
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
                          abbreviations=state.abbreviations, budget=budget,
                          scales=_fan_in_scales(net, classes, symbols, zero, init_symbols))
        reps = {k: classes[k][0] for k in frozen}
        rep_list = [reps[k] for k in sorted(frozen)]
        enclosures = Enclosures(decider, state.grad, rep_list)
        leaving = []
        for k in sorted(frozen):
            g = state.grad[reps[k]]
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
        if not leaving:
            break
        for k, undec in leaving:
            moves[k] = FirstMove(t + 1, False, undec)
            frozen.discard(k)
        t += 1
    for k in frozen:
        moves[k] = FirstMove(None, False)
    return moves, identities


def _safety_suffix(decider: Decider) -> str:
    """`` (<safety-net note>)`` when the last identity was stopped by the clock, else empty."""
    last = decider.last
    return f" ({last.reason})" if last is not None and last.safety_net else ""


# ---------------------------------------------------------------- certified witness trajectories
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
    kept: list[TrajectoryWitness] = []
    certified: set[int] = set()
    visible: set[int] = set()
    ladder = (80, 80, 600, 600, 3000, 3000)  # saturated units need more digits (see Enclosures.STEPS)
    plan = [(ladder[min(a, len(ladder) - 1)], (1, 0, 1)) for a in range(attempts)]
    plan += [(dps, variant) for variant in WITNESS_VARIANTS for dps in (80, 600)]
    unit = trajectory_work(rep_exprs, definitions, horizon, 80)
    spent = 0  # work of the extra attempts so far
    idle = 0  # consecutive extra attempts that certified nothing new: deep, vanishing moves stay invisible
    for n, (dps, variant) in enumerate(plan):
        if certified == set(targets) and visible == set(targets):
            break
        if n >= attempts:
            spent += unit * max(1, dps // 80)
            if spent > WITNESS_WORK or idle >= WITNESS_PATIENCE:
                break
        with precision(dps):
            candidate = _one_trajectory(net, rng, data_symbols, init_symbols, init_values, reps, rep_exprs,
                                        symbols, targets, horizon, definitions, dps, variant)
        if candidate is None:
            idle += n >= attempts
            continue
        new = {c for c, _, _ in candidate.moved} - certified
        newly_visible = set(candidate.visible) - visible
        idle = 0 if (new or newly_visible or n < attempts) else idle + 1
        if new or newly_visible:
            kept.append(candidate)
            certified |= {c for c, _, _ in candidate.moved}
            visible |= set(candidate.visible)
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
