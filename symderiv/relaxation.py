"""The two loops of the prover, once, for every engine: the relaxation and the first moves.

Both loops see a *subject* only through how a pattern gets its gradients: the caller passes a
function that, for a pattern (classes, zero class) or a first-move step (the frozen classes),
computes the per-coordinate gradients on the pattern's subspace with symbolic data and the
:class:`~symderiv.identities.Decider` that decides identities there.  The chain prover
(:mod:`symderiv.prover`, coordinates = MLP blocks) and the graph prover
(:mod:`symderiv.graph.prover`, coordinates = parameter entries) are two instances.

The same relaxation also finds the relations among the classes of a pattern that are kept by a
smaller class of optimizers (:mod:`symderiv.signed`: classes that stay exact negatives,
:mod:`symderiv.shifted`: classes whose differences stay constant): there the value a class gets is
signed or shifted, and the groups of related classes are split by equality of the signed gradients.

Relaxation (docs/theory.md §2-§3), from the init's own pattern ``P0``::

    repeat
        g := gradients on V(P)
        split every class by equality of g on V(P)   (the zero class keeps only the
                                                      coordinates whose g ≡ 0)
        project the new pattern (optional: an optimizer class's lattice, constraints only dropped)
    until nothing changes

First moves: ``H_0`` = every non-zero class, ``H_{t+1}`` = the classes of ``H_t`` whose gradient is
≡ 0 on ``A_t`` (the classes of ``F_t = closure(H_t)`` frozen at their init values, the rest free);
a class of ``F_t`` that is not in ``F_{t+1}`` first moves at step ``t + 1``.  The closure is the
identity for an entrywise optimizer (``F_t = H_t``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Mapping, Sequence

import sympy as sp

from .certify import excludes_zero
from .class_splitting import split_class
from .identities import Decider, Enclosures, _safety_suffix
from .proof_records import K, FirstMove, Identity, Split

__all__ = ["OnPattern", "Relaxed", "relax", "first_move_steps"]

Classes = list[tuple[K, ...]]


@dataclass
class OnPattern(Generic[K]):
    """The gradients of the coordinates on one pattern's subspace (data symbolic), the decider of
    identities there, and whatever else the subject computed with them (``context``: its symbols,
    its engine state), handed back to the subject after the loop."""

    grads: Mapping[K, sp.Expr]
    decider: Decider
    context: Any = None


@dataclass
class Relaxed(Generic[K]):
    """The fixed point of the relaxation: the pattern, the identities proved on it (kept
    constraints), the certified splits (dropped ones), and the subject's last evaluation."""

    classes: list[tuple[K, ...]]
    zero: int | None
    identities: list[Identity[K]]
    splits: list[Split[K]]
    iterations: int
    last: OnPattern[K]


Projection = Callable[[list, "int | None"], "tuple[list, int | None]"]


def relax(classes: Classes, zero: int | None, *, order: Sequence[K] | None,
          on_pattern: Callable[[int, Classes, int | None], OnPattern[K]], label: Callable[[K], str],
          undecided: list[str], project: Projection | None = None) -> Relaxed[K]:
    """The smallest invariant pattern containing ``classes`` (the init's pattern) and, when ``project``
    is given, on its lattice: see the module docstring.

    ``order`` lists every coordinate in the fixed output order (classes are kept sorted by their first
    coordinate in it); ``on_pattern(iteration, classes, zero)`` evaluates a pattern (``grads``: the value
    whose equality ties two coordinates, e.g. a signed gradient); ``undecided`` collects the identities
    neither proved nor refuted (their constraints are dropped, never claimed).

    ``order=None`` relaxes *groups* of some coordinates instead of a partition of all of them (a relation
    among classes of a pattern, such as signed or shifted ties; no zero class): a group of one states
    nothing and is dropped, the groups keep the order the splits give, and the loop also stops when no
    group is left; the result is the last split's groups."""
    if project is not None:
        classes, zero = project(classes, zero)
    groups_only = order is None
    splits: list[Split[K]] = []
    position = {c: i for i, c in enumerate(order or ())}
    iteration = 0
    while True:
        iteration += 1
        here = on_pattern(iteration, classes, zero)
        keys = [c for members in classes for c in members] if order is None else order
        enclosures = Enclosures(here.decider, here.grads, keys)
        new_classes: Classes = []
        new_zero: int | None = None
        identities: list[Identity[K]] = []
        changed = False
        for k, members in enumerate(classes):
            if len(members) == 1 and k != zero:
                new_classes.append(members)
                continue
            split = split_class(members, here.grads, enclosures, here.decider, zero=(k == zero),
                                undecided=undecided, label=label)
            if split.zero_part is not None and split.zero_identity is not None:
                new_zero = len(new_classes)
                new_classes.append(split.zero_part)
                identities.append(split.zero_identity)
            new_classes.extend(split.parts)
            identities.extend(split.ties)
            if split.count > 1 or (k == zero and split.zero_part is None):
                changed = True
                undec = tuple(u for u in undecided if label(members[0]) in u)
                zero_part = (split.zero_part,) if split.zero_part else ()
                splits.append(Split(iteration, k == zero, tuple(members), zero_part + tuple(split.parts),
                                    split.witness, undec))
        if groups_only:
            new_classes = [members for members in new_classes if len(members) > 1]
            if not changed or not new_classes:
                return Relaxed(new_classes, None, identities, splits, iteration, here)
            classes = new_classes
            continue
        if not changed:  # terminates: every change adds a class (or shrinks the zero class)
            return Relaxed(classes, zero, identities, splits, iteration, here)
        # a deterministic order: by the first coordinate of each class
        zero_members = new_classes[new_zero] if new_zero is not None else None
        new_classes.sort(key=lambda m: min(position[c] for c in m))
        zero = new_classes.index(zero_members) if zero_members is not None else None
        classes = new_classes
        if project is not None:  # back onto the lattice; the next iteration re-checks the gradients there
            classes, zero = project(classes, zero)


Closure = Callable[[set[int], list, "int | None"], set[int]]


def first_move_steps(classes: Classes, zero: int | None, *,
                on_step: Callable[[int, set[int], list[K]], OnPattern[K]], label: Callable[[K], str],
                undecided: list[str], closure: Closure | None = None,
                after_step: Callable[[int, set[int], set[int], OnPattern[K]], None] | None = None,
                ) -> tuple[dict[int, FirstMove], list[tuple[int, Identity[K]]]]:
    """The first-move step of every non-zero class of the pattern (see the module docstring).

    ``on_step(t, frozen, representatives)`` evaluates ``A_t`` (the classes in ``frozen`` at their init
    values) at the representatives of the classes still in ``H_t``; ``closure(H, classes, zero)`` is the
    set of classes an optimizer class keeps unchanged when the classes ``H`` have zero gradient history
    (default: ``H`` itself); ``after_step(t, frozen, leaving, evaluation)`` lets the subject look at each
    step (e.g. which of its zeros rest on the loss's cancellation).  Returns the first moves (not yet
    tight: that takes a witness trajectory) and the identities ``(t, gradient ≡ 0 on A_t)``."""
    close = (lambda h: set(h)) if closure is None else (lambda h: closure(h, classes, zero))
    history_zero = {k for k in range(len(classes)) if k != zero}
    frozen = close(history_zero)
    moves: dict[int, FirstMove] = {}
    identities: list[tuple[int, Identity[K]]] = []
    t = 0
    while history_zero:
        reps = {k: classes[k][0] for k in history_zero}
        rep_list = [reps[k] for k in sorted(history_zero)]
        here = on_step(t, frozen, rep_list)
        decider = here.decider
        enclosures = Enclosures(decider, here.grads, rep_list)
        leaving: list[tuple[int, bool]] = []
        for k in sorted(history_zero):
            g = here.grads[reps[k]]
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
        if after_step is not None:
            after_step(t, frozen, {k for k, _ in leaving}, here)
        if not leaving:
            break
        history_zero -= {k for k, _ in leaving}
        still = close(history_zero)
        undecided_here = any(u for _, u in leaving)
        for k in sorted(frozen - still):
            moves[k] = FirstMove(t + 1, False, dict(leaving).get(k, undecided_here))
        frozen = still
        t += 1
    for k in range(len(classes)):
        if k != zero and k not in moves:
            moves[k] = FirstMove(None if k in frozen else 1, False)
    return moves, identities
