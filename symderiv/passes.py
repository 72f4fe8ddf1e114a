"""The forward and backward passes of an analysis: the facts its faces read, computed once.

An analysis looks at the network at two points: the init ``θ⁽⁰⁾`` and the invariant subspace
``V(P*)`` (every block its class's symbol, the zero set 0).  At each point :class:`Passes` keeps
the whole class-level pass of :func:`symderiv.engine.backprop` (pre-activations ``z``,
activations ``h``, deltas ``δ``, the gradient per block and the named ``z``/``δ`` of an
abbreviated pass), so the summary, the JSON and the LaTeX document all read the same pass and
none of them runs the engine again.

A pass is expanded when its closed forms are cheap to build, else abbreviated
(:func:`pass_at`, see :func:`symderiv.engine.expansion_refusal`).  The prover's own last pass
(``Proof.gradients_on_pattern``) abbreviates by depth instead, so it is not the one printed.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Mapping

import sympy as sp

from .closed_forms import tree_size
from .engine import Pass, backprop, expansion_refusal
from .network import Network
from .patterns import Block, Partition

if TYPE_CHECKING:
    from .proof_records import Proof

__all__ = ["Passes", "SoftmaxAtInit", "pass_at", "subspace_values"]


def pass_at(net: Network, partition: Partition, values: Mapping[Block, sp.Expr]) -> Pass:
    """The pass at block values ``values``: expanded when that is cheap to build, abbreviated
    (every hidden ``z`` and ``δ`` a named symbol) otherwise."""
    short = backprop(net, partition, values, abbreviate=True)  # linear in depth: sized before expanding
    return short if expansion_refusal(short) is not None else backprop(net, partition, values)


def subspace_values(proof: "Proof") -> dict[Block, sp.Expr]:
    """Every block's value on ``V(P*)``: 0 on the zero set, its class's symbol elsewhere."""
    return {b: (sp.Integer(0) if k == proof.zero_class else proof.symbols[k])
            for k, members in enumerate(proof.classes) for b in members}


@dataclass(frozen=True)
class SoftmaxAtInit:
    """At the init all ``K`` logits are equal for every input: ``δ^{(L)} = 1/K − y`` (checked)."""

    K: int
    hidden_zero: bool  # h^{(L-1)} = 0 at the init (then only the output bias gets a gradient)
    rows_equal: bool  # the output rows (and biases) are equal at the init


@dataclass(frozen=True, eq=False)
class Passes:
    """The passes of one proof at the init and on ``V(P*)``, each computed on first use and kept.

    The :class:`~symderiv.engine.Pass` records are shared by every face: read them, never
    change them."""

    proof: "Proof"

    @cached_property
    def at_init(self) -> Pass:
        """The pass at the init ``θ⁽⁰⁾`` (data and labels symbolic)."""
        p = self.proof
        return pass_at(p.net, p.partition, p.init_values)

    @cached_property
    def values_on_subspace(self) -> dict[Block, sp.Expr]:
        """The block values of ``V(P*)`` (:func:`subspace_values`)."""
        return subspace_values(self.proof)

    @cached_property
    def on_subspace(self) -> Pass:
        """The pass on ``V(P*)``: every block its class's symbol, the zero set 0 (the same
        record as :attr:`at_init` when the two points coincide, e.g. at the all-zero init)."""
        p = self.proof
        if self.values_on_subspace == p.init_values:
            return self.at_init
        return pass_at(p.net, p.partition, self.values_on_subspace)

    @cached_property
    def softmax_at_init(self) -> SoftmaxAtInit | None:
        """The softmax statement when it holds, checked on the pass at the init: the loss is softmax
        cross-entropy, the logits are equal as functions of the data, and each output delta equals
        ``1/K − y_k`` (the label ``y_K`` eliminated) after expansion; None otherwise."""
        p = self.proof
        net, part = p.net, p.partition
        if net.loss.name != "softmax_cross_entropy" or not isinstance(net.n_outputs, int):
            return None
        state = self.at_init
        if state.definitions:  # deep abbreviated forms: not checked here
            return None
        L, K = net.depth, net.n_outputs
        logits = state.z[L]
        # structural equality only: at the inits where this holds (equal output rows) the engine builds the
        # logits as literally the same expression, and expanding large generic forms would cost minutes
        if len(logits) != K or any(z != logits[0] for z in logits[1:]):
            return None
        labels = net.loss.labels(K)
        for d, y in zip(state.delta[L], labels):
            if tree_size(d, 200) > 200 or sp.expand(d - (sp.Rational(1, K) - y)) != 0:
                return None
        hidden_zero = L > 1 and all(h == 0 for h in state.h[L - 1])
        rows_equal = True
        for C in part.classes[L - 1]:
            col = {p.init_values[Block(L, "W", r.index, C.index)] for r in part.classes[L]}
            rows_equal &= len(col) == 1
        if net.bias:
            rows_equal &= len({p.init_values[Block(L, "b", r.index)] for r in part.classes[L]}) == 1
        return SoftmaxAtInit(K, hidden_zero, rows_equal)
