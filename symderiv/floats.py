"""Which proved invariants survive IEEE floating point, and which hold in exact arithmetic only.

Every theorem of the prover is about exact arithmetic.  A float implementation
keeps a zero or a tie bit for bit only when the quantities involved are produced
the same way (docs/theory.md §9):

* a zero that arises from multiplying by exact zeros (a zero weight, ``tanh(0)``)
  is exact in floats too: ``0 · a = 0`` whatever ``a`` is;
* a tie between units computed by identical operations on identical inputs holds
  when the implementation rounds identical computations identically, which
  elementwise code does and a blocked matrix product need not (identical rows
  can round differently in the last bit; at a kink that difference decides the
  side and the units separate);
* a zero or tie that rests on a cancellation, such as softmax cross-entropy's
  ``Σ_k δ_k = 0``, is a rounding residue in floats (``~1e-17``, not 0), and
  optimizers that normalize the gradient (Adam, RMSProp) can amplify it into a
  full-size step.

The classification is itself proved structurally: the gradient on the invariant
subspace is recomputed with the output-layer ``δ_k`` replaced by independent
symbols (so no identity of the loss can be used), once with the tie classes and
once with every block its own symbol.  A constraint that still holds
*structurally* (SymPy's canonical form) in the untied pass rests only on exact
zeros; one that holds in the tied pass rests on identical computations; the rest
rest on a cancellation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

import sympy as sp

from .engine import backprop
from .guard import public_entry
from .prover import ABBREVIATE_FROM_DEPTH

if TYPE_CHECKING:  # pragma: no cover
    from .prover import Proof

__all__ = ["FloatFact", "FloatReport", "BIT_EXACT", "IDENTICAL_ROUNDING", "EXACT_ONLY", "float_facts"]

#: holds bit for bit in IEEE arithmetic: the constraint rests on exact zeros only
BIT_EXACT = "bit_exact"
#: holds when identical computations round identically (elementwise code does; blocked BLAS may not)
IDENTICAL_ROUNDING = "identical_rounding"
#: exact arithmetic only: rests on a cancellation that floats leave as a rounding residue
EXACT_ONLY = "exact_arithmetic_only"

_REASONS = {
    BIT_EXACT: "rests only on multiplications by exact zeros, which IEEE arithmetic reproduces bit for bit",
    IDENTICAL_ROUNDING: ("the tied quantities are computed by identical operations on identical inputs: exact in "
                         "floats when identical computations round identically (elementwise code does; a blocked "
                         "matrix product may round identical rows differently in the last bit)"),
    EXACT_ONLY: ("rests on an exact cancellation (such as softmax cross-entropy's sum of output deltas being 0): "
                 "in floats it is a rounding residue of order 1e-17, which normalizing optimizers (Adam, RMSProp) "
                 "can amplify into visible moves"),
}


@dataclass(frozen=True)
class FloatFact:
    """How a proved zero or tie class behaves in IEEE arithmetic.

    ``status`` is one of :data:`BIT_EXACT`, :data:`IDENTICAL_ROUNDING`, :data:`EXACT_ONLY`;
    ``kink`` says whether a unit sitting exactly on a kink could make rounding decide the side."""

    status: str
    kink: bool

    @property
    def reason(self) -> str:
        text = _REASONS[self.status]
        if self.kink and self.status != BIT_EXACT:
            text += ("; with a kinked activation a last-bit difference at the kink decides the side, and tied "
                     "units can separate visibly")
        return text

    def to_dict(self) -> dict:
        return {"status": self.status, "kink_sensitive": self.kink and self.status != BIT_EXACT,
                "reason": self.reason}


def _output_delta_symbols(n: int) -> list[sp.Symbol]:
    return [sp.Dummy(f"dL{k}", real=True) for k in range(1, n + 1)]


@dataclass(frozen=True)
class FloatReport:
    """Per constrained block (zero blocks, blocks of tie classes with several blocks) and per hidden
    layer whose units fall into classes of identical units: the :class:`FloatFact`."""

    blocks: dict
    layers: dict[int, FloatFact]
    #: tie class -> status of its "unchanged before its first-move step" statement (classes that
    #: are unchanged for at least one step only)
    first_moves: dict[int, str]

    def status_of(self, block) -> str | None:
        fact = self.blocks.get(block)
        return None if fact is None else fact.status

    def statuses(self) -> dict[str, int]:
        """How many constrained blocks have each status."""
        out: dict[str, int] = {}
        for fact in self.blocks.values():
            out[fact.status] = out.get(fact.status, 0) + 1
        return out


@public_entry
def float_facts(proof: "Proof") -> FloatReport:
    """Classify every proved zero and tie of ``proof`` (see the module docstring)."""
    net, part = proof.net, proof.partition
    abbreviate = net.depth >= ABBREVIATE_FROM_DEPTH
    free_delta = _output_delta_symbols(net.n_outputs)
    tied: dict = {}
    untied: dict = {}
    for k, members in enumerate(proof.classes):
        for j, b in enumerate(members):
            if k == proof.zero_class:
                tied[b] = untied[b] = sp.Integer(0)
            else:
                tied[b] = proof.symbols[k]
                untied[b] = sp.Dummy(f"u{k}_{j}", real=True)
    g_tied = backprop(net, part, tied, abbreviate=abbreviate, output_delta=free_delta).grad
    g_untied = _untied_gradients(proof, untied, free_delta, abbreviate)
    kinked = any(a.is_kinked for a in net.activations)
    facts: dict = {}
    for k, members in enumerate(proof.classes):
        if k == proof.zero_class:
            for b in members:
                if g_untied(b) == 0:
                    status = BIT_EXACT
                elif g_tied[b] == 0:
                    status = IDENTICAL_ROUNDING
                else:
                    status = EXACT_ONLY
                facts[b] = FloatFact(status, kinked)
        elif len(members) > 1:
            first = g_tied[members[0]]
            status = IDENTICAL_ROUNDING if all(g_tied[b] == first for b in members) else EXACT_ONLY
            for b in members:
                facts[b] = FloatFact(status, kinked)
    layers = {}
    for l in range(1, net.depth):
        if all(C.size == 1 for C in part.classes[l]):
            continue
        # a layer whose incoming weights and biases stay exactly 0 computes z = 0 from exact zeros:
        # its identical units agree bit for bit (no rounding is involved at all)
        incoming = [b for b in proof.blocks if b.layer == l]
        silent = proof.zero_class is not None and all(proof.class_of[b] == proof.zero_class for b in incoming)
        layers[l] = FloatFact(BIT_EXACT if silent else IDENTICAL_ROUNDING, net.activation_of(l).is_kinked)
    return FloatReport(facts, layers, _first_move_statuses(proof, free_delta, abbreviate))


def _first_move_statuses(proof: "Proof", free_delta, abbreviate: bool) -> dict[int, str]:
    """Recompute each step's set ``A_t`` (classes not yet moved frozen at their init values) with
    independent output deltas: a class whose gradient stays structurally 0 there is unchanged by
    identical computations; otherwise its zero gradient rests on a cancellation."""
    steps = {k: fm.step for k, fm in proof.first_moves.items() if k != proof.zero_class}
    out: dict[int, str] = {}
    horizon = max([s for s in steps.values() if s is not None] + [0])
    never = [k for k, s in steps.items() if s is None]
    for t in range(horizon + (1 if never else 0)):
        # the update of step t + 1 uses the gradient at θ_t: classes moving first at step t + 1 are still
        # at their init values there; the statement checked is about the classes that move later still
        at_init = {k for k, s in steps.items() if s is None or s > t}
        frozen = {k for k in at_init if (s := steps[k]) is None or s > t + 1}
        if not frozen:
            break
        values = {}
        for k, members in enumerate(proof.classes):
            for b in members:
                if k == proof.zero_class:
                    values[b] = sp.Integer(0)
                elif k in at_init:
                    values[b] = proof.init_values[b]
                else:
                    values[b] = proof.symbols[k]
        grad = backprop(proof.net, proof.partition, values, abbreviate=abbreviate, output_delta=free_delta).grad
        for k in frozen:
            ok = all(grad[b] == 0 for b in proof.classes[k])
            if not ok or out.get(k) == EXACT_ONLY:
                out[k] = EXACT_ONLY
            else:
                out.setdefault(k, IDENTICAL_ROUNDING)
    return out


def _untied_gradients(proof: "Proof", values: Mapping, free_delta, abbreviate: bool):
    """The gradient on the subspace with every nonzero block its own symbol, computed lazily
    (only the zero class needs it)."""
    cache: dict = {}

    def grad(b):
        if "g" not in cache:
            cache["g"] = backprop(proof.net, proof.partition, values, abbreviate=abbreviate,
                                  output_delta=free_delta).grad
        return cache["g"][b]

    return grad
