r"""Readings of symbols the notation leaves open: never guess (issue 18).

A bare ``a`` (no layer) is Nielsen's output activation in ``\delta^L = \nabla_a C \odot
\sigma'(z^L)``, a hidden activation elsewhere.  Instead of picking one, :func:`readings` lists
every layer it can name (``a^{(L)}`` is the output ``p``); the checker keeps the readings under
which the claim is well formed (every index range and shape fits), checks each, and reports
which hold.  A claim is refuted only when it is refuted under *every* reading; when readings
disagree the verdict is "undecided" and names them, with how to pick one (write the layer).
"""
from __future__ import annotations

from dataclasses import replace

from .conventions import _written_a
from .tree import Claim, Op, Q, Sum, children, map_quantities, transform

__all__ = ["readings", "layer_subscripts", "example_subscripts", "lowercase_batch"]

#: quantities one example has as a vector (``x_i`` in a sum over the examples is example i's input)
_PER_EXAMPLE = ("x", "y", "p", "z", "h", "delta")


def example_subscripts(claim: Claim) -> tuple[Claim, bool]:
    """CS231n's ``x_i``: inside a sum over the examples (``\\sum_{i=1}^{N}``), a per-example quantity whose
    only subscript is the summation index is example ``i``'s whole vector (``x^{(i)}``), not entry ``i``.
    Returns the claim so read, and whether anything was."""
    changed = []

    def at_sum(node):
        if not (isinstance(node, Sum) and isinstance(node.hi, Q) and node.hi.kind == "batch"):
            return node

        def fix(q: Q) -> Q:
            if q.kind in _PER_EXAMPLE and q.indices == (node.var,) and q.example is None:
                changed.append(q.src)
                return replace(q, indices=(), example=node.var)
            return q

        return Sum(node.var, node.lo, node.hi, map_quantities(node.body, fix))

    sides = tuple(transform(s, at_sum) for s in claim.sides)
    return (replace(claim, sides=sides), True) if changed else (claim, False)


def layer_subscripts(claim: Claim, depth: int) -> tuple[Claim, bool]:
    """CS224n's ``W_1``, ``b_2``: a single number under a weight matrix (which takes two indices) is its
    layer, and so is a single number under ``b`` in a network of several layers (where ``b`` needs a
    layer).  Returns the claim with those read as layers, and whether any was."""
    changed = []

    def fill(q: Q) -> Q:
        if q.layer is None and len(q.indices) == 1 and isinstance(q.indices[0], int) and q.example is None and (
                q.kind == "W" or (q.kind == "b" and depth > 1)) and 1 <= q.indices[0] <= depth:
            changed.append(q.src)
            return replace(q, layer=q.indices[0], indices=())
        return q

    sides = tuple(map_quantities(s, fill) for s in claim.sides)
    return (replace(claim, sides=sides), True) if changed else (claim, False)


def _bare_a(claim: Claim) -> bool:
    stack = list(claim.sides)
    while stack:
        n = stack.pop()
        if isinstance(n, Q) and n.layer is None and _written_a(n):
            return True
        stack.extend(children(n))
    return False


def readings(claim: Claim, depth: int, numbered_layers: str = "") -> list[tuple[str, Claim]]:
    """``[(description, claim)]``: one claim per reading of the symbols the notation leaves open (a bare
    ``a``: every layer it can name; a bare ``w`` in a one-layer network: ``W`` or Ng's column ``w = W^T``;
    with ``numbered_layers="both"`` (the claim writes layers as subscripts, ``W_1``) ``z_1``/``h_2`` as entry and
    as layer, with ``"layer"`` (a convention that writes layers so, CS224n's) as layer only); a single
    entry, with an empty description, when nothing is open."""
    out = [("", claim)]
    expansions = (_a_readings, _w_readings) + ((_numbered_readings,) if numbered_layers else ())
    for expand in expansions:
        if expand is _numbered_readings:
            out = [(", ".join(d for d in (what, more) if d), c2) for what, c in out
                   for more, c2 in _numbered_readings(c, depth, numbered_layers == "both")]
            continue
        out = [(", ".join(d for d in (what, more) if d), c2) for what, c in out for more, c2 in expand(c, depth)]
    return out


def _numbered(q: Q, depth: int) -> bool:
    r"""``z_1``, ``h_2``, ``a_1``, ``\delta_2``: a layered vector with one number under it and no layer."""
    return q.kind in ("z", "h", "delta") and q.layer is None and q.example is None and len(q.indices) == 1 \
        and isinstance(q.indices[0], int) and 1 <= q.indices[0] <= depth


def _numbered_readings(claim: Claim, depth: int, entry_too: bool = True) -> list[tuple[str, Claim]]:
    r"""CS224n writes layers as subscripts (``z_1 = x W_1 + b_1``, ``h = \sigma(z_1)``), where symderiv reads an
    entry (``z_1``: the first logit).  In a claim that writes its weights so, ``z_k``/``h_k`` has both
    readings; ``\delta_k`` is refused, because CS224n numbers its error vectors along the derivation
    (``\delta_1 = \hat{y} - y``), not by layer."""
    qs = [n for s in claim.sides for n in _walk(s) if isinstance(n, Q)]
    qs += [q.wrt for q in qs if q.wrt is not None]
    numbered = [q for q in qs if _numbered(q, depth)]
    if not numbered:
        return [("", claim)]
    delta = next((q for q in numbered if q.kind == "delta"), None)
    if delta is not None:
        from ..errors import ClaimNameError

        raise ClaimNameError(
            f"{delta.src or 'delta'}: with layers written as subscripts (W_1, b_2), a numbered delta may be entry "
            f"{delta.indices[0]} of the output error or a numbered error vector (CS224n's delta_1 = y_hat - y); write "
            "\\delta^{(l)} for layer l's error, \\frac{\\partial J}{\\partial z_1}, or one entry with a layer")

    def as_layer(q: Q) -> Q:
        return replace(q, layer=q.indices[0], indices=()) if _numbered(q, depth) else q

    names = ", ".join(sorted({q.src or q.kind for q in numbered}))
    layered = (f"{names} as a layer (as W_1 is)", replace(claim, sides=tuple(map_quantities(s, as_layer) for s in claim.sides)))
    return [(f"{names} as an entry", claim), layered] if entry_too else [layered]


def _a_readings(claim: Claim, depth: int) -> list[tuple[str, Claim]]:
    if depth < 2 or not _bare_a(claim):
        return [("", claim)]
    out = []
    letters = sorted(_symbolic_letters(claim) - {"L"})
    candidates: list = [f"{c}{d}" for c in letters for d in ("-1", "", "+1")] + list(range(1, depth + 1))
    for layer in candidates:
        def fill(q: Q, layer=layer) -> Q:
            return replace(q, layer=layer) if q.layer is None and _written_a(q) else q

        if isinstance(layer, str):
            what = f"a = a^({layer})"
        else:
            what = f"a = a^({layer})" + (" = p, the output" if layer == depth else f", the activation of hidden layer {layer}")
        out.append((what, replace(claim, sides=tuple(map_quantities(s, fill) for s in claim.sides))))
    return out


def _written_w(q: Q) -> bool:
    """A weight matrix written as a bare lowercase ``w`` (no layer, no index), or the gradient by one."""
    if q.kind == "grad" and q.wrt is not None:
        q = q.wrt
    return q.kind == "W" and q.layer is None and not q.indices and q.src.lstrip("\\").startswith("w")


def _w_readings(claim: Claim, depth: int) -> list[tuple[str, Claim]]:
    qs = [n for s in claim.sides for n in _walk(s) if isinstance(n, Q)]
    if depth != 1 or not any(_written_w(q) for q in qs):
        return [("", claim)]

    def column(node):
        return Op("T", (node,)) if isinstance(node, Q) and _written_w(node) else node

    return [("w = W (K × n_0)", claim),
            ("w = W^T (a column of weights, z = w^T x + b as in Ng's logistic regression)",
             replace(claim, sides=tuple(transform(s, column) for s in claim.sides)))]


def _walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(children(n))


def _symbolic_letters(claim: Claim) -> set:
    """The letters of the claim's symbolic layers (``l`` of ``w^{l+1}``)."""
    out, stack = set(), list(claim.sides)
    while stack:
        n = stack.pop()
        if isinstance(n, Q) and isinstance(n.layer, str):
            out.add(n.layer[0])
        stack.extend(children(n))
    return out


#: per-example vectors and the batch matrix NumPy code names by the same lowercase letter (h1 for H1)
_BATCH_OF = {"x": "X", "y": "Y", "p": "P", "z": "Z", "h": "H"}


def lowercase_batch(claim: Claim) -> tuple[Claim, list[str]]:
    """NumPy code names its arrays in lowercase (CS231n's ``h1 = np.maximum(0, X.dot(W1) + b1)`` is the
    batch's hidden layer): in a plain-text claim that also writes a batch matrix (``X``, ``dscores``,
    ``probs``), each whole lowercase vector (``h1``, ``z2``, and ``dz1``'s target) as its batch matrix.
    Returns the claim so read and the names read so (empty when nothing applies); the caller uses it
    only when the shapes fit this way and not the other."""
    qs = [n for s in claim.sides for n in _walk(s) if isinstance(n, Q)]
    qs += [q.wrt for q in qs if q.wrt is not None]
    if claim.syntax != "plain" or not any(q.kind in _BATCH_OF.values() for q in qs):
        return claim, []
    names: list[str] = []

    def lift(q: Q) -> Q:
        if q.kind in _BATCH_OF and not q.indices and q.example is None:
            names.append(q.src or q.kind)
            return replace(q, kind=_BATCH_OF[q.kind])
        return q

    sides = tuple(map_quantities(s, lift) for s in claim.sides)
    return (replace(claim, sides=sides), sorted(set(names))) if names else (claim, [])
