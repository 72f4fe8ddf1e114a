"""What the prover establishes, as records: identities, witnesses, splits, trajectories, the proof.

Shared by the chain prover (:mod:`symderiv.prover`), the graph prover (:mod:`symderiv.graph.prover`)
and every reader of a proof (the analysis, the LaTeX, the checks).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Hashable, TypeVar

import sympy as sp

from .init import ParamInit
from .network import Network
from .patterns import Block, Partition

__all__ = ["K", "Identity", "Witness", "Split", "TrajectoryWitness", "FirstMove", "Proof"]

#: a gradient coordinate: a :class:`~symderiv.patterns.Block` of an MLP, a (parameter, entry) pair of a graph
K = TypeVar("K", bound=Hashable)


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

