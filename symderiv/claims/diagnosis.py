"""What a certified counterexample shows, in words a student can act on (issue 18).

After a link is refuted at an exact point, the checker asks the counterexample a few questions,
each an exact identity *at that point* checked with rigorous enclosures:

* ``left = −right``: a sign error;
* ``left = N · right`` or ``right = N · left`` (batch claims): a missing or extra ``1/N``;
* ``left = c · right`` for a small rational ``c`` (2, 1/2, …): a constant factor;
* the other side's entry ``(j, i)`` equals this side's ``(i, j)``: a missing transpose;
* the other side with every activation ``f`` and ``f'`` exchanged agrees: ``σ`` written for ``σ'``
  (or the reverse), a wrong activation derivative.

These are hints ("consistent with a sign error"), never part of the verdict: the verdict is the
certified counterexample itself.
"""
from __future__ import annotations

from dataclasses import replace

import sympy as sp

from .tree import Add, Call, Deriv, Mul, Node, Op, Pow, Sum, children

__all__ = ["diagnose"]

#: functions whose derivative a student may have written as the function itself (or the reverse)
_ACTIVATIONS = {"sigmoid", "tanh", "relu", "f"}
_FACTORS = (2, 3, 4, sp.Rational(1, 2), sp.Rational(1, 3), sp.Rational(1, 4))


def _toggle(node: Node) -> Node:
    """The tree with ``f(u)`` and ``f'(u)`` exchanged for every activation ``f``."""
    if isinstance(node, Call):
        order = 1 - node.order if node.func in _ACTIVATIONS and node.order in (0, 1) else node.order
        return replace(node, order=order, args=tuple(_toggle(a) for a in node.args))
    if isinstance(node, (Add, Mul, Op)):
        items = tuple(_toggle(c) for c in children(node))
        return Add(items) if isinstance(node, Add) else Mul(items) if isinstance(node, Mul) else Op(node.op, items)
    if isinstance(node, Pow):
        return Pow(_toggle(node.base), node.exp)
    if isinstance(node, Sum):
        return Sum(node.var, node.lo, node.hi, _toggle(node.body))
    if isinstance(node, Deriv):
        return Deriv(_toggle(node.body), node.wrt)
    return node


def _has_activation(node: Node) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Call) and n.func in _ACTIVATIONS and n.order in (0, 1):
            return True
        stack.extend(children(n))
    return False


def diagnose(session, a, b, env: dict, entry: tuple, values: dict, left: sp.Expr, right: sp.Expr,
             batch_size: sp.Symbol) -> str:
    """A hint of what went wrong at the counterexample ``values`` (empty when nothing simple fits).

    A hypothesis must hold at the counterexample *and* at a second, generic point of the session
    (so a zero entry of a small-integer counterexample suggests nothing)."""
    from ..certify import Uncertifiable, enclose, excludes_zero

    second = session.point(session.universe())
    if batch_size in values:  # another batch size: a factor N and a constant factor that equals N here differ there
        second[batch_size] = values[batch_size] + 1
    points = [values, second]

    def agrees(expr) -> bool:
        for point in points:
            try:
                (v,) = enclose([expr], point)
            except (Uncertifiable, ZeroDivisionError, ValueError, TypeError):
                return False
            if excludes_zero(v):
                return False
        return True

    if agrees(left + right):
        return "consistent with a sign error (the two sides are opposite at the counterexample)"
    if batch_size in values:
        if agrees(left - batch_size * right):
            return "consistent with a missing factor N on the right, or an extra 1/N (left = N × right at the counterexample)"
        if agrees(right - batch_size * left):
            return "consistent with a missing 1/N on the right (right = N × left at the counterexample; the batch loss is the mean)"
    if len(entry) == 2 and all(isinstance(v, str) for v in entry):
        i, j = entry
        if i in env and j in env and env[i] != env[j]:
            swapped = {**env, i: env[j], j: env[i]}
            try:
                other = session.build(b, swapped)
            except Exception:  # noqa: BLE001 - a hint only: an entry that does not exist suggests nothing
                other = None
            if other is not None and agrees(left - other):
                return f"consistent with a missing transpose (the right side's entry ({j}, {i}) is the left side's ({i}, {j}))"
    for side, node, fixed in (("right", b, left), ("left", a, right)):
        if _has_activation(node):
            try:
                toggled = session.build(_toggle(node), env)
            except Exception:  # noqa: BLE001 - a hint only
                continue
            if agrees(fixed - toggled):
                return (f"consistent with a wrong activation derivative on the {side} side (f written for f', or f' for f: "
                        "with them exchanged the sides agree at the counterexample)")
    for c in _FACTORS:
        if agrees(left - c * right):
            return f"consistent with a constant factor (left = {c} × right at the counterexample)"
    return ""
