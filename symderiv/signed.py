"""Signed ties: tie classes that stay exact negatives of each other under every odd optimizer.

Setting: the prover's smallest invariant zero/tie pattern ``P*`` (:mod:`symderiv.prover`),
with tie classes ``k`` of value ``t_k`` and per-entry gradient ``g_k``.

Theorem (invariance with signs).  Let ``G`` be a partition of some non-zero classes into
*signed groups*, each member ``k`` with a sign ``σ_k = ±1``, and ``V_G ⊂ V(P*)`` the subspace
where ``t_k = σ_k s_G`` for one free value ``s_G`` per group.  If ``σ_a g_a ≡ σ_b g_b`` on
``V_G`` (data symbolic, every example) for all members ``a, b`` of every group, and
``θ_0 ∈ V_G``, then every trajectory of every optimizer that is *odd* in each coordinate's
history stays in ``V_G``: plain SGD, heavy-ball momentum, Nesterov, RMSProp, Adam, AdamW, with
any schedule and batches, with or without L2 or decoupled weight decay.

Proof.  By induction over the steps.  On ``V_G`` the batch gradient of an entry of class
``k`` is ``σ_k ḡ_G`` (a batch average of the per-example identity), and L2 decay adds
``λ t_k = σ_k λ s_G``; so the histories of the coordinates of a group are the common history
times ``σ_k``.  An odd update rule (``U(−h) = −U(h)``: SGD and momentum are linear; Adam and
RMSProp divide a first moment, odd, by the root of a second moment, even; decoupled decay
``−ηλθ`` is linear) then moves ``t_k`` by ``σ_k`` times a common step, and ``V(P*)``'s zeros
and ties are kept by the invariance lemma.  ∎

Search (a relaxation like the prover's).  Start from the groups of non-zero classes whose init
values are negatives of each other: all classes of value ``v`` (sign +) with all classes of
value ``−v`` (sign −) for ``v ≠ 0``, and pairs of classes of init value 0 whose gradients at the
init are not certified to differ from exact negatives (a necessary condition), joined greedily
while the signs stay consistent.  Then repeat: compute the gradients on ``V_G`` (data symbolic)
and split every group by *proved* equality of ``σ_k g_k`` (the prover's own splitting: refute
at certified points first, then prove structurally or by bounded simplification; a dropped
relation carries a certified witness, an undecided one is dropped and listed) until nothing
changes.  The result holds on an invariant subspace containing ``θ_0``.  Expected: softmax
cross-entropy with two outputs at zero init keeps the two output rows (and the two output
biases) exact negatives, under SGD and Adam alike.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from .certify import Uncertifiable, enclose, excludes_zero
from .engine import backprop, input_symbols
from .patterns import Block
from .prover import ABBREVIATE_FROM_DEPTH, Budget, Decider, Proof, Witness, _fan_in_scales, block_label, random_point
from .relaxation import OnPattern, relax
from .guard import public_entry

__all__ = ["SignedGroup", "SignedTies", "signed_ties", "ODD_OPTIMIZERS"]

#: optimizers whose update is an odd function of the coordinate's history (see the module docstring)
ODD_OPTIMIZERS = ("SGD", "SGD with momentum", "Nesterov", "RMSProp", "Adam", "AdamW")


@dataclass(frozen=True)
class SignedGroup:
    """Classes that stay ``t_k = sign_k · t_lead`` (``members[0]`` is the lead, sign +1)."""

    members: tuple[tuple[int, int], ...]  # (class, sign)
    method: str

    def to_dict(self, proof: Proof) -> dict[str, Any]:
        return {"classes": [block_label(proof.net, proof.partition, proof.classes[k][0]) for k, _ in self.members],
                "signs": [s for _, s in self.members], "proof": self.method,
                "optimizers": list(ODD_OPTIMIZERS), "weight_decay": "kept (L2 and decoupled decay are odd in θ)"}


@dataclass
class SignedTies:
    """The signed groups of a proof, with the relaxation's record."""

    groups: list[SignedGroup] = field(default_factory=list)
    splits: list[tuple[tuple[tuple[int, int], ...], Witness | None]] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    iterations: int = 0

    def sign_of(self, k: int) -> tuple[int | None, int]:
        """``(group index, sign)`` of class ``k``; ``(None, 1)`` when it is in no group."""
        for i, g in enumerate(self.groups):
            for c, s in g.members:
                if c == k:
                    return i, s
        return None, 1


def _candidates(proof: Proof, seed: int) -> list[list[tuple[int, int]]]:
    """The starting groups (see the module docstring)."""
    ks = [k for k in range(len(proof.classes)) if k != proof.zero_class]
    value = {k: proof.init_values[proof.classes[k][0]] for k in ks}
    groups: list[list[tuple[int, int]]] = []
    done: set[int] = set()
    by_value: dict[sp.Expr, list[int]] = {}
    for k in ks:
        by_value.setdefault(sp.expand(value[k]), []).append(k)
    for k in ks:
        v = value[k]
        if k in done or v == 0:
            continue
        plus = by_value.get(sp.expand(v), [])
        minus = by_value.get(sp.expand(-v), [])
        done |= set(plus) | set(minus)
        if minus:
            groups.append([(j, 1) for j in plus] + [(j, -1) for j in minus])
    zeros = [k for k in ks if value[k] == 0]
    if len(zeros) < 2:
        return groups
    # at the init (data random), a pair can only stay negated if its gradients are negatives there
    grads = backprop(proof.net, proof.partition, proof.init_values).grad
    exprs = [grads[proof.classes[k][0]] for k in zeros]
    rng = random.Random(seed)
    free = input_symbols(proof.net.sizes[0]) + list(proof.init_symbols) + [
        n for n in proof.net.sizes if isinstance(n, sp.Symbol)]
    samples = []
    for attempt in range(6):
        try:
            samples.append(enclose(exprs, random_point(rng, proof.net, free, positive=attempt % 2 == 1), dps=60))
        except Uncertifiable:
            continue
    sign: dict[int, tuple[int, int]] = {}  # class -> (group, sign)
    members: list[list[tuple[int, int]]] = []
    for i, a in enumerate(zeros):
        for j in range(i + 1, len(zeros)):
            b = zeros[j]
            if any(excludes_zero(s[i] + s[j]) for s in samples):
                continue
            if all(not excludes_zero(s[i]) for s in samples):
                continue  # both gradients vanish at the init: no evidence, leave to the prover's zeros
            if a in sign and b in sign:
                continue
            if a in sign:
                g, sa = sign[a]
                sign[b] = (g, -sa)
                members[g].append((b, -sa))
            elif b in sign:
                g, sb = sign[b]
                sign[a] = (g, -sb)
                members[g].append((a, -sb))
            else:
                sign[a], sign[b] = (len(members), 1), (len(members), -1)
                members.append([(a, 1), (b, -1)])
    return groups + members


@public_entry
def signed_ties(proof: Proof, *, seed: int = 0, seconds: float = 5.0, budget: float = 20.0) -> SignedTies:
    """Relax the candidate signed groups of ``proof`` to the proved ones (see the module docstring)."""
    out = SignedTies()
    groups = [g for g in _candidates(proof, seed) if len(g) > 1]
    if not groups:
        return out
    net, part = proof.net, proof.partition
    abbreviate = net.depth >= ABBREVIATE_FROM_DEPTH
    widths = [n for n in net.sizes if isinstance(n, sp.Symbol)]
    spend = Budget(budget)
    label = lambda b: block_label(net, part, b)  # noqa: E731
    rep = {k: proof.classes[k][0] for g in groups for k, _ in g}
    klass = {b: k for k, b in rep.items()}
    start_sign = {rep[k]: s for g in groups for k, s in g}  # relative to the first group's lead

    def sign_in(group: tuple[Block, ...], b: Block) -> int:
        return start_sign[b] * start_sign[group[0]]  # relative to the group's lead, which gets +1

    def on_pattern(iteration: int, groups: list[tuple[Block, ...]], _zero: int | None) -> OnPattern[Block]:
        value_of: dict[int, sp.Expr] = {k: proof.symbols[k] for k in range(len(proof.classes))}
        for g in groups:
            lead = proof.symbols[klass[g[0]]]
            for b in g:
                value_of[klass[b]] = sign_in(g, b) * lead
        if proof.zero_class is not None:
            value_of[proof.zero_class] = sp.Integer(0)
        values = {b: value_of[proof.class_of[b]] for b in proof.blocks}
        state = backprop(net, part, values, abbreviate=abbreviate)
        followers = {klass[b] for g in groups for b in g[1:]}  # their value is ±(the lead's symbol)
        free_classes = [k for k in range(len(proof.classes)) if k != proof.zero_class and k not in followers]
        free = input_symbols(net.sizes[0]) + [proof.symbols[k] for k in free_classes] + widths
        decider = Decider(free, net=net, seed=seed + 101 * iteration, seconds=seconds,
                          abbreviations=state.abbreviations, budget=spend,
                          scales=_fan_in_scales(net, proof.classes, proof.symbols, proof.zero_class,
                                                proof.init_symbols))
        return OnPattern({b: sign_in(g, b) * state.grad[b] for g in groups for b in g}, decider)

    def signed_group(g: tuple[Block, ...]) -> tuple[tuple[int, int], ...]:
        return tuple((klass[b], sign_in(g, b)) for b in g)

    relaxed = relax([tuple(rep[k] for k, _ in g) for g in groups], None, order=None, on_pattern=on_pattern,
                    label=label, undecided=out.undecided)
    out.iterations = relaxed.iterations
    out.splits = [(signed_group(split.before), split.witness) for split in relaxed.splits]
    methods = {frozenset(i.members): i.method for i in relaxed.identities}
    for g in relaxed.classes:
        out.groups.append(SignedGroup(signed_group(g), methods.get(frozenset(g), "structural")))
    return out
