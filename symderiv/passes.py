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

from .engine import Pass, backprop, expansion_refusal
from .network import Network
from .patterns import Block, Partition

if TYPE_CHECKING:
    from .proof_records import Proof

__all__ = ["Passes", "pass_at", "subspace_values"]


def pass_at(net: Network, partition: Partition, values: Mapping[Block, sp.Expr]) -> Pass:
    """The pass at block values ``values``: expanded when that is cheap to build, abbreviated
    (every hidden ``z`` and ``δ`` a named symbol) otherwise."""
    short = backprop(net, partition, values, abbreviate=True)  # linear in depth: sized before expanding
    return short if expansion_refusal(short) is not None else backprop(net, partition, values)


def subspace_values(proof: "Proof") -> dict[Block, sp.Expr]:
    """Every block's value on ``V(P*)``: 0 on the zero set, its class's symbol elsewhere."""
    return {b: (sp.Integer(0) if k == proof.zero_class else proof.symbols[k])
            for k, members in enumerate(proof.classes) for b in members}


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
