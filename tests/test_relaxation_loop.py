"""The one relaxation loop and the one first-move loop (symderiv/relaxation.py) on a hand-made subject.

The gradients are written down by hand as functions of the pattern, so the fixed point, the splits and
the first-move steps are known independently of the engines; the loops must find exactly them, with a
certified witness for every split.
"""
from __future__ import annotations

import pytest
import sympy as sp

from symderiv.class_splitting import ClassSplit
from symderiv.errors import InternalError
from symderiv.graph.prover import GraphDecider
from symderiv.identities import Budget
from symderiv.proof_records import Identity
from symderiv.relaxation import OnPattern, first_move_steps, relax

x = sp.Symbol("x", real=True)
ORDER = ["a", "b", "c", "d", "e"]


def decider(free, seed):
    return GraphDecider(free, sampler=lambda rng: {}, seed=seed, budget=Budget(5.0))


def gradients(v):
    """Per coordinate, its gradient given the value ``v[c]`` of every coordinate on the pattern."""
    return {"a": sp.Integer(0), "b": x * v["c"], "e": x * v["a"], "c": x, "d": x + v["b"]}


def on_pattern(iteration, classes, zero):
    symbols = [sp.Symbol(f"t_{k}", real=True) for k in range(len(classes))]
    v = {c: (sp.Integer(0) if k == zero else symbols[k]) for k, m in enumerate(classes) for c in m}
    free = [x] + [s for k, s in enumerate(symbols) if k != zero]
    return OnPattern(gradients(v), decider(free, iteration), symbols)


def test_relaxation_reaches_the_hand_computed_fixed_point():
    # init pattern: zero class {a, b, e}, one tie class {c, d}.
    # iteration 1: b's gradient x·t ≢ 0 releases b; c and d have gradient x: kept tied
    # iteration 2: b is free, so d's gradient x + t_b differs from c's x: the tie splits
    # iteration 3: nothing changes
    undecided: list[str] = []
    out = relax([("a", "b", "e"), ("c", "d")], 0, order=ORDER, on_pattern=on_pattern, label=str,
                undecided=undecided)
    assert out.classes == [("a", "e"), ("b",), ("c",), ("d",)]
    assert out.zero == 0 and out.iterations == 3 and not undecided
    assert [(s.iteration, s.was_zero, s.before, s.parts) for s in out.splits] == [
        (1, True, ("a", "b", "e"), (("a", "e"), ("b",))),
        (2, False, ("c", "d"), (("c",), ("d",))),
    ]
    assert all(s.witness is not None for s in out.splits)  # every dropped constraint is certified
    assert [(i.members, i.expr, i.method) for i in out.identities] == [(("a", "e"), 0, "structural")]


def test_projection_drops_constraints_before_the_gradients_are_checked():
    # a lattice that never ties c with d: the tie is dropped up front, so no split of it is recorded
    def project(classes, zero):
        out = []
        for m in classes:
            out.extend([(c,) for c in m] if "c" in m else [m])
        zero_members = classes[zero] if zero is not None else None
        return out, (out.index(zero_members) if zero_members in out else None)

    out = relax([("a", "b", "e"), ("c", "d")], 0, order=ORDER, on_pattern=on_pattern, label=str,
                undecided=[], project=project)
    assert out.classes == [("a", "e"), ("b",), ("c",), ("d",)]
    assert [s.before for s in out.splits] == [("a", "b", "e")]


def test_groups_mode_drops_groups_of_one_and_keeps_proved_groups():
    # groups of some coordinates (signed/shifted ties): {c, d} splits at once (x vs x + t_b), {a, e} stays
    def groups_pattern(iteration, groups, zero):
        assert zero is None
        t = sp.Symbol("t_b", real=True)
        v = {"a": sp.Integer(0), "e": sp.Integer(0), "b": t, "c": sp.Integer(1), "d": sp.Integer(1)}
        return OnPattern(gradients(v), decider([x, t], iteration))

    out = relax([("c", "d"), ("a", "e")], None, order=None, on_pattern=groups_pattern, label=str, undecided=[])
    assert out.classes == [("a", "e")] and out.iterations == 2  # the second iteration confirms {a, e}
    assert [s.before for s in out.splits] == [("c", "d")] and out.splits[0].witness is not None
    gone = relax([("c", "d")], None, order=None, on_pattern=groups_pattern, label=str, undecided=[])
    assert gone.classes == [] and gone.iterations == 1  # no group left: stop


def test_first_moves_follow_the_frozen_history():
    # a moves at step 1 (gradient x); b's gradient x·(t_a − a0) vanishes while a is frozen at a0, so b
    # moves at step 2; c's gradient is 0 throughout: it never moves
    classes = [("a",), ("b",), ("c",)]
    a0 = sp.Rational(1, 3)
    t_a = sp.Symbol("t_a", real=True)

    def on_step(t, frozen, reps):
        value_a = a0 if 0 in frozen else t_a
        g = {"a": x, "b": x * (value_a - a0), "c": sp.Integer(0)}
        free = [x] + ([] if 0 in frozen else [t_a])
        return OnPattern({r: g[r] for r in reps}, decider(free, 7919 * (t + 1)))

    moves, identities = first_move_steps(classes, None, on_step=on_step, label=str, undecided=[])
    assert {k: (m.step, m.tight, m.undecided) for k, m in moves.items()} == {
        0: (1, False, False), 1: (2, False, False), 2: (None, False, False)}
    # (t, gradient ≡ 0 on A_t): b on A_0; c on A_0, A_1 and A_2 (where nothing leaves: the loop stops)
    assert [(t, i.members) for t, i in identities] == [(0, ("b",)), (0, ("c",)), (1, ("c",)), (2, ("c",))]


def test_a_class_split_keeps_the_zero_part_with_its_identity():
    with pytest.raises(InternalError):
        ClassSplit([("a",)], ("b",), None, [], None)
    split = ClassSplit([("a",)], ("b",), Identity(("b",), sp.Integer(0), "structural"), [], None)
    assert split.count == 2
