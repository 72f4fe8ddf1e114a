"""Shifted ties: coordinates whose difference never changes (docs/theory.md §7).

A zero/tie pattern only sees coordinates that are *equal*.  Under softmax
cross-entropy two hidden units with equal incoming rows and biases whose outgoing
columns differ by a constant vector ``c·1`` stay identical forever: softmax ignores
a common shift of the logits, so ``Σ_k (W_kj − W_ki) δ_k = c Σ_k δ_k = 0`` and the
two units receive the same δ, hence equal incoming updates and equal outgoing
gradients ``δ_k h``.  The invariant set is *affine*: the incoming entries stay tied
and the outgoing columns keep their difference ``c·1``.

Theorem.  Let ``A`` be an affine subset of the invariant subspace ``V(P*)`` of the
form ``{θ ∈ V(P*) : t_a − t_b = v_a − v_b for a, b in one group}`` (``t`` the values of
the tie classes of ``P*``, ``v`` their init values, groups inside one parameter).  If,
for every ``θ ∈ A`` and every example, the per-entry gradients of the classes of each
group are identical, then every trajectory from the init stays in ``A`` for every
optimizer that applies one coordinate-wise function to each coordinate's gradient
history (SGD, momentum, Nesterov, RMSProp, Adam; global-norm clipping), *without
weight decay*.  Proof: ``θ0 ∈ A``; on ``A`` the coordinates of a group have identical
gradient histories, hence identical updates, so their differences are unchanged; the
other coordinates move within ``V(P*)`` by the invariance lemma.  (Weight decay adds
``λθ``, which differs between coordinates of different values.)

The groups are found by relaxation, as the pattern itself: start with every
non-zero class of a parameter in one group, compute the gradients on ``A`` with
symbolic data, split every group by equality of the gradient functions (refute with
a certified witness, prove structurally or by bounded simplification; undecided
means split), until nothing changes.  Each split is certified on a set containing
the smallest invariant ``A*`` of this form, so the fixed point is ``A*``.  Classes of a
group with equal init values are *tied* (their difference is 0); the others are
*shifted ties*.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from .engine import backprop, input_symbols
from .patterns import Block
from .prover import ABBREVIATE_FROM_DEPTH, Budget, Decider, Proof, _fan_in_scales, block_label
from .relaxation import OnPattern, relax
from .guard import public_entry

__all__ = ["ShiftedGroup", "ShiftedTies", "shifted_ties", "MAX_GROUP"]

#: parameters with more non-zero classes than this are not searched (the relaxation compares classes
#: pairwise); the result then simply has no shifted ties for them, which is never a false claim
MAX_GROUP = 64


@dataclass(frozen=True)
class ShiftedGroup:
    """Classes of one parameter whose pairwise differences stay at their init values forever."""

    classes: tuple[int, ...]
    offsets: tuple[sp.Expr, ...]  # init value of each class minus the first one's
    method: str

    @property
    def tied_subsets(self) -> list[tuple[int, ...]]:
        """Classes of the group with equal init values: they stay equal (a tie)."""
        by_offset: dict[sp.Expr, list[int]] = {}
        for k, o in zip(self.classes, self.offsets):
            by_offset.setdefault(o, []).append(k)
        return [tuple(v) for v in by_offset.values() if len(v) > 1]

    @property
    def shifted(self) -> bool:
        """Whether some pair of the group differs by a nonzero constant."""
        return len(set(self.offsets)) > 1


@dataclass
class ShiftedTies:
    """The proved groups, the certified splits and what was undecided."""

    groups: list[ShiftedGroup] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    iterations: int = 0
    skipped: list[str] = field(default_factory=list)

    def tie_groups(self) -> list[tuple[int, ...]]:
        """Sets of classes proved to stay equal through a shifted-tie argument."""
        return [s for g in self.groups for s in g.tied_subsets]


@public_entry
def shifted_ties(proof: Proof, *, seed: int = 0, seconds: float = 5.0, budget: float = 15.0) -> ShiftedTies:
    """Relax the per-parameter groups of ``proof`` to the proved ones (see the module docstring)."""
    out = ShiftedTies()
    net, part = proof.net, proof.partition
    by_param: dict[str, list[int]] = {}
    for k, members in enumerate(proof.classes):
        if k == proof.zero_class:
            continue
        params = {b.param for b in members}
        if len(params) == 1:
            by_param.setdefault(next(iter(params)), []).append(k)
    groups: list[list[int]] = []
    for name, ks in by_param.items():
        if len(ks) > MAX_GROUP:
            out.skipped.append(f"{name}: {len(ks)} classes (more than {MAX_GROUP}) not searched")
        elif len(ks) > 1:
            groups.append(ks)
    if not groups:
        return out
    init = {k: proof.init_values[proof.classes[k][0]] for k in range(len(proof.classes))}
    abbreviate = net.depth >= ABBREVIATE_FROM_DEPTH
    widths = [n for n in net.sizes if isinstance(n, sp.Symbol)]
    spend = Budget(budget)
    label = lambda b: block_label(net, part, b)  # noqa: E731
    klass = {proof.classes[k][0]: k for g in groups for k in g}

    def on_pattern(iteration: int, groups: list[tuple[Block, ...]], _zero: int | None) -> OnPattern[Block]:
        value_of: dict[int, sp.Expr] = {k: proof.symbols[k] for k in range(len(proof.classes))}
        for g in groups:
            lead = klass[g[0]]
            for b in g:
                value_of[klass[b]] = proof.symbols[lead] + (init[klass[b]] - init[lead])
        if proof.zero_class is not None:
            value_of[proof.zero_class] = sp.Integer(0)
        values = {b: value_of[proof.class_of[b]] for b in proof.blocks}
        state = backprop(net, part, values, abbreviate=abbreviate)
        followers = {klass[b] for g in groups for b in g[1:]}
        free = (input_symbols(net.sizes[0])
                + [proof.symbols[k] for k in range(len(proof.classes)) if k != proof.zero_class and k not in followers]
                + list(proof.init_symbols) + widths)
        decider = Decider(free, net=net, seed=seed + 211 * iteration, seconds=seconds,
                          abbreviations=state.abbreviations, budget=spend,
                          scales=_fan_in_scales(net, proof.classes, proof.symbols, proof.zero_class,
                                                proof.init_symbols))
        return OnPattern(state.grad, decider)

    relaxed = relax([tuple(proof.classes[k][0] for k in g) for g in groups], None, order=None,
                    on_pattern=on_pattern, label=label, undecided=out.undecided)
    out.iterations = relaxed.iterations
    methods = {frozenset(klass[b] for b in i.members): i.method for i in relaxed.identities}
    groups = [[klass[b] for b in g] for g in relaxed.classes]
    for g in groups:
        offsets = tuple(sp.simplify(init[k] - init[g[0]]) if (init[k] - init[g[0]]).free_symbols
                        else init[k] - init[g[0]] for k in g)
        out.groups.append(ShiftedGroup(tuple(g), offsets, methods.get(frozenset(g), "structural")))
    return out
