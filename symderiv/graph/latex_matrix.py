"""A linear layer's weight gradient in matrix form, for the graph proof documents (:mod:`.latex`).

For ``z = h Wᵀ (+ b)`` on one row, ``∂ℓ/∂W = g hᵀ``: the outer product of ``g = ∂ℓ/∂z`` (the cotangent of
the layer's output) and the layer's input ``h``.  Written that way, ``∂ℓ/∂B = δ (A x)ᵀ`` of a LoRA adapter
*is* the proof that B moves, where its entries expanded are a polynomial of a dozen terms.

:func:`outer_form` finds ``g`` and ``h`` in a pass of the graph (:class:`~symderiv.graph.engine.GraphPass`)
when the weight feeds exactly one live ``linear`` node whose input is one row, and returns them only after
checking the identity: every entry of ``g hᵀ`` minus the closed form it replaces expands to ``0``.  Anything
else (a shared weight, several rows, a lumped quotient, a failed or too large check) gives None, and the
document prints entries as before.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import sympy as sp

__all__ = ["OuterForm", "outer_form", "outer_form_lines", "MAX_ENTRIES", "MAX_VECTOR"]

#: a weight with more entries than this is not checked in matrix form (each entry is one expansion)
MAX_ENTRIES = 144
#: a vector longer than this is not displayed (the column would not fit a page)
MAX_VECTOR = 12
#: a vector entry longer than this (symbols on the page) is not displayed
MAX_ENTRY_CHARS = 70
#: an expansion with more operations than this is not attempted (the check is bounded; no form is printed)
MAX_CHECK_OPS = 400


@dataclass(frozen=True)
class OuterForm:
    """``∂ℓ/∂W = g hᵀ``: ``cotangent`` (``g``, length ``W.shape[0]``) and ``layer_input`` (``h``, length
    ``W.shape[1]``) as 1-D object arrays, checked against the closed forms."""

    cotangent: np.ndarray
    layer_input: np.ndarray

    def same_as(self, other: "OuterForm") -> bool:
        """The same vectors, entry by entry (as expressions)."""
        return (self.cotangent.shape == other.cotangent.shape and self.layer_input.shape == other.layer_input.shape
                and all(a == b for a, b in zip(self.cotangent, other.cotangent))
                and all(a == b for a, b in zip(self.layer_input, other.layer_input)))


def _live_consumers(graph: Any, gpass: Any, node_id: int) -> list[Any]:
    """The nodes reading ``node_id`` through which a nonzero cotangent flows back (dead traced nodes,
    e.g. an unused transpose of the weight, receive none)."""
    out = []
    for node in graph.nodes:
        if node_id in node.inputs:
            g = gpass.cotangents.get(node.id)
            if g is not None and any(v != 0 for v in g.flat):
                out.append(node)
    return out


def _one_row(values: np.ndarray, width: int) -> np.ndarray | None:
    """The entries of a ``(..., width)`` array with one row in all, as a vector; else None."""
    if values.ndim == 0 or values.shape[-1] != width or values.size != width:
        return None
    return values.reshape(width)


def _vanishes(difference: sp.Expr) -> bool:
    """``difference`` expands to 0 (bounded: a large expression is not decided, hence not accepted)."""
    if difference == 0:
        return True
    if sp.count_ops(difference) > MAX_CHECK_OPS:
        return False
    return sp.expand(difference) == 0


def outer_form(graph: Any, gpass: Any, name: str, closed_form: Callable[[tuple[int, ...]], "sp.Expr | None"],
               substitute: "Mapping[sp.Symbol, Any] | None" = None) -> OuterForm | None:
    """``g hᵀ`` of parameter ``name``'s gradient in ``gpass``, when ``name`` is the weight of one live linear
    node on one row and every entry ``(o, i)`` satisfies ``(g_o h_i)[substitute] − closed_form((o, i)) = 0``
    (expanded); else None.  ``closed_form`` returns the entry the matrix form stands for (None: unknown, no
    form); ``substitute`` gives the values of symbols left free in ``gpass`` (e.g. the loss's output deltas)."""
    if getattr(graph, "entry_sizes", None):  # a lumped quotient: entries are block sums, not a layer's
        return None
    shape = tuple(graph.params[name].shape)
    if len(shape) != 2 or shape[0] * shape[1] > MAX_ENTRIES:
        return None
    consumers = _live_consumers(graph, gpass, graph.param_node(name))
    if len(consumers) != 1:
        return None
    node = consumers[0]
    if node.op != "linear" or len(node.inputs) < 2 or node.inputs[1] != graph.param_node(name):
        return None
    if node.inputs[0] is None or node.inputs[0] == node.inputs[1]:
        return None
    g = _one_row(np.asarray(gpass.cotangents[node.id], dtype=object), shape[0])
    h = _one_row(np.asarray(gpass.values[node.inputs[0]], dtype=object), shape[1])
    if g is None or h is None:
        return None
    # common factors pulled out of each entry (an identity; the check below is on what is displayed)
    g = np.array([sp.factor_terms(v) for v in g], dtype=object)
    h = np.array([sp.factor_terms(v) for v in h], dtype=object)
    for o in range(shape[0]):
        for i in range(shape[1]):
            expected = closed_form((o, i))
            product = sp.sympify(g[o] * h[i], strict=True)  # strict: never parses text
            if substitute:
                product = product.xreplace(dict(substitute))
            if expected is None or not _vanishes(product - expected):
                return None
    return OuterForm(g, h)


def outer_form_lines(form: OuterForm | None, lhs: str, label: str, tex: Callable[[Any], str],
                     visual: Callable[[str], int], extra: Sequence[tuple[str, np.ndarray]] = ()) -> list[str] | None:
    """``lhs = g^{label} (h^{label})^⊤`` and the two vectors (none when ``form`` is None: shown before), then
    ``extra`` named vectors (e.g. the deltas), as LaTeX lines; None when a vector is too long or an entry too wide to display (the caller
    prints entries instead)."""
    rows = []
    vectors = [] if form is None else [(rf"g^{{{label}}}", form.cotangent), (rf"h^{{{label}}}", form.layer_input)]
    for symbol, vector in (*vectors, *extra):
        if len(vector) > MAX_VECTOR:
            return None
        entries = [tex(v) for v in vector]
        if any(visual(e) > MAX_ENTRY_CHARS for e in entries):
            return None
        rows.append(rf"{symbol} &= \begin{{pmatrix}} " + r" \\ ".join(entries) + r" \end{pmatrix}")
    return [r"\begin{align*}", rf"{lhs} &= g^{{{label}}} \, \bigl(h^{{{label}}}\bigr)^{{\top}}, \\",
            " \\\\\n".join(rows), r"\end{align*}"]
