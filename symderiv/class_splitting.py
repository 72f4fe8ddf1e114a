"""Splitting one class of a pattern by equality of its members' gradient functions.

One step of the relaxation (:mod:`symderiv.prover`): group the members by structural equality,
keep in the zero class only the groups whose gradient is proved ≡ 0, merge groups proved equal,
keep apart the rest, and certify the split by one point where the parts' gradients are pairwise
certified apart (:class:`~symderiv.identities.Enclosures`).  Used by the chain and graph provers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Mapping, Sequence

import sympy as sp

from .certify import Ball, excludes_zero
from .errors import InternalError
from .identities import Decider, Enclosures
from .proof_records import K, Identity, Witness

__all__ = ["ClassSplit", "split_class"]


@dataclass(frozen=True)
class ClassSplit(Generic[K]):
    """How one class splits on a pattern: ``parts`` whose gradients are proved equal within each part
    (``ties``: one identity per part of two or more members), for the zero class the ``zero_part``
    proved to keep gradient 0 (``zero_identity``), and a ``witness`` point certifying that the parts
    differ (None when nothing split, or no single point separates them all)."""

    parts: list[tuple[K, ...]]
    zero_part: tuple[K, ...] | None
    zero_identity: Identity[K] | None
    ties: list[Identity[K]]
    witness: Witness | None

    def __post_init__(self) -> None:
        if (self.zero_part is None) != (self.zero_identity is None):
            raise InternalError("a zero part without its identity (or an identity without its part)")

    @property
    def count(self) -> int:
        """The number of classes the class became (the zero part included)."""
        return len(self.parts) + (self.zero_part is not None)


def split_class(
    members: Sequence[K],
    grads: Mapping[K, sp.Expr],
    enclosures: Enclosures[K],
    decider: Decider,
    *,
    zero: bool,
    undecided: list[str],
    label: Callable[[K], str],
) -> ClassSplit[K]:
    """Split ``members`` by equality of their gradient functions; for the zero class the
    :class:`ClassSplit`'s ``zero_part`` holds the members proved to keep gradient 0."""
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
    return ClassSplit(out_parts, zero_part, zero_identity, tie_identities, witness)

