"""Batches: which claims about a batch of N examples can be proved for every N at once.

The checker evaluates a batch claim at a batch whose examples are all equal (to the
engine's generic example ``x, y``): a sum over the examples ``Σ_n f(x^{(n)}, y^{(n)})``
becomes ``N · f(x, y)`` and the batch-mean loss's gradient becomes the per-example one.
That is exactly the claim at such a batch, so a counterexample found there is a real one.

A *proof* from equal examples is valid when the claim is **additive**: each side is a sum of
terms, each a factor free of examples times at most one sum over examples of a per-example
expression (``c(N) · Σ_n g(e_n)``), or everything refers to one free example ``n``.  Then
``F(e_1 … e_N) = Σ_n G_N(e_n) + C_N`` vanishes for every batch iff ``N·G_N(e) + C_N``
vanishes for every single example ``e`` (set all examples equal for "only if"; sum the
per-example zeros for "if").  Products of two example sums, or a nonlinear function of
one, are not additive: such a claim can be refuted but never proved.
"""
from __future__ import annotations

from .tree import Add, Call, Deriv, Mul, Num, Pow, Q, Sum, children

__all__ = ["is_additive", "example_class"]

_CONST, _SUM, _BAD = "c", "s", "bad"


def example_class(node) -> str:
    """``"c"`` (no example), ``"e:<n>"`` (one example ``n``), ``"s"`` (additive over the batch)
    or ``"bad"`` (not additive)."""
    if isinstance(node, Q):
        if node.kind == "grad" and node.wrt is not None and node.wrt.example is not None:
            return f"e:{node.wrt.example}"
        if node.kind in ("grad", "loss"):
            return f"e:{node.example}" if node.example is not None else _SUM
        if node.example is not None:
            return f"e:{node.example}"
        return _CONST
    if isinstance(node, Sum):
        body = example_class(node.body)
        if isinstance(node.hi, Q) and node.hi.kind == "batch":
            if body == _BAD or body == _SUM or (body.startswith("e:") and body != f"e:{node.var}"):
                return _BAD if body != _SUM else _BAD
            return _SUM
        return body
    if isinstance(node, Add):
        return _combine([example_class(t) for t in node.terms], additive=True)
    if isinstance(node, Mul):
        return _combine([example_class(f) for f in node.factors], additive=False)
    if isinstance(node, Pow):
        base = example_class(node.base)
        if base == _SUM and not (isinstance(node.exp, Num) and node.exp.value == 1):
            return _BAD
        return base
    if isinstance(node, (Call, Deriv)):
        inner = [example_class(c) for c in children(node)]
        cls = _combine(inner, additive=False)
        return _BAD if cls == _SUM else cls
    return _CONST


def _combine(classes: list[str], additive: bool) -> str:
    if _BAD in classes:
        return _BAD
    varying = [c for c in classes if c != _CONST]
    if not varying:
        return _CONST
    examples = {c for c in varying if c.startswith("e:")}
    sums = [c for c in varying if c == _SUM]
    if len(examples) > 1:
        return _BAD
    if examples and sums:
        return _BAD
    if additive:
        return _SUM if sums else next(iter(examples))
    if len(sums) > 1:
        return _BAD  # a product of two sums over the batch
    return _SUM if sums else next(iter(examples))


def is_additive(sides: tuple) -> bool:
    """Can equal examples prove ``sides[0] = sides[1] = …`` for every batch (see the module docstring)?"""
    return _combine([example_class(s) for s in sides], additive=True) != _BAD
