r"""Notational conventions: named presets of what the letters of a derivation mean (issue 18).

Textbooks disagree on what the same letters mean, and a checker that silently picks one
refutes true lines.  A :class:`Convention` fixes the readings that differ:

* ``a``: the activation ``a^{(l)} = f(z^{(l)})`` (Nielsen, Ng, CS231n) or the
  **pre-activation** ``a^{(k)} = W^{(k)} h^{(k-1)} + b^{(k)}`` (Goodfellow et al., who write
  ``h^{(k)}`` for the activation);
* weights: ``W^{(l)}`` of shape ``n_l × n_{l-1}`` (``z = W h + b``: Nielsen, Ng, Goodfellow) or
  ``n_{l-1} × n_l`` (``scores = X W + b``: CS231n), which transposes every ``W`` and ``∂L/∂W``;
* batches: one example per **row** (``X`` is ``N × n_0``: CS231n, NumPy code) or per
  **column** (``X`` is ``n_0 × m``: Ng's course);
* the batch loss: the **mean** over the examples (all four) or the sum.

The user picks one (``check(…, convention="cs231n")``, ``symderiv check --convention ng``); with
``"auto"`` the claim's own notation decides where it can (a claim that writes both ``a^{(k)}``
and ``h^{(k)}`` uses Goodfellow's ``a``) and symderiv's declared defaults (activation ``a``,
``n_l × n_{l-1}`` weights, rows, mean) hold elsewhere.  The verdict's notes state the
convention used.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import InvalidArgument
from .tree import Add, Call, Claim, Mul, Node, Op, Q, children, map_quantities

__all__ = ["Convention", "CONVENTIONS", "DEFAULT", "IN_OUT", "choose", "apply_convention", "writes_rows",
           "writes_batch_code"]


@dataclass(frozen=True)
class Convention:
    """What the letters of a derivation mean (see the module docstring)."""
    name: str
    a_is: str = "activation"      # or "pre-activation"
    weights: str = "out×in"       # W^{(l)} is n_l × n_{l-1}; or "in×out" (n_{l-1} × n_l)
    batch: str = "rows"           # one example per row of X; or "columns"
    loss: str = "mean"            # the batch loss: mean or sum over the examples
    #: "batch": dZ is ∂L/∂Z of the batch loss (CS231n's dscores, with its 1/N); "per-example": column n
    #: of dZ is ∂ℓ_n/∂z^{(n)}, example n's own loss (Ng: dZ^{[2]} = A^{[2]} - Y, dW = (1/m) dZ A^T)
    d_names: str = "batch"
    #: single vectors: columns (z = W h + b) or rows (z = h W + b, x a row of X: CS231n's and CS224n's code)
    vectors: str = "columns"

    def describe(self) -> str:
        w = "W^(l) is n_l × n_(l-1) (z = W h + b)" if self.weights == "out×in" else \
            "W^(l) is n_(l-1) × n_l (z = h W + b, scores = X W + b)"
        w += "; vectors are rows" if self.vectors == "rows" else "; vectors are columns"
        a = "a^(l) is the activation f(z^(l))" if self.a_is == "activation" else \
            "a^(k) is the pre-activation W^(k) h^(k-1) + b^(k) (h^(k) the activation)"
        b = "one example per row of X" if self.batch == "rows" else "one example per column of X (X is n_0 × m)"
        d = "dZ is the batch loss's gradient" if self.d_names == "batch" else "column n of dZ is example n's own gradient"
        return f"convention {self.name}: {a}; {w}; {b}; {d}; the batch loss is the {self.loss} over the examples"


DEFAULT = Convention("symderiv")
#: the named presets
CONVENTIONS = {
    "symderiv": DEFAULT,
    "nielsen": Convention("nielsen"),
    "ng": Convention("ng", batch="columns", d_names="per-example"),
    "cs231n": Convention("cs231n", weights="in×out", vectors="rows"),
    "cs224n": Convention("cs224n", weights="in×out", vectors="rows"),
    "goodfellow": Convention("goodfellow", a_is="pre-activation"),
}
#: the other weight orientation with column vectors (``W^{(l)}`` of shape ``n_{l-1} × n_l``: CS231n's ``dW = X^T
#: dscores``, Ng's column ``w``), which "auto" reads only when symderiv's orientation makes the sides' shapes differ
IN_OUT = Convention("in×out", weights="in×out")


def _quantities(node: Node):
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Q):
            yield n
        stack.extend(children(n))


def _written_a(q: Q) -> bool:
    """Was this activation quantity written with the letter ``a`` (``a^{(k)}``, ``a1[i]``, ``\\nabla_a``)?"""
    src = q.src.lstrip("\\")
    return q.kind == "h" and (src.startswith("a") or src.startswith("da"))


def choose(name: str, claim: Claim) -> tuple[Convention, str]:
    """The convention ``name`` (``"auto"``: detected from the claim) and, for the verdict, why it was chosen."""
    if not isinstance(name, str) or (name != "auto" and name not in CONVENTIONS):
        raise InvalidArgument(f"convention must be 'auto' or one of {', '.join(sorted(CONVENTIONS))}, got {name!r}")
    if name != "auto":
        return CONVENTIONS[name], "chosen"
    qs = [q for s in claim.sides for q in _quantities(s)]
    wrote_a = any(_written_a(q) for q in qs)
    wrote_h = any(q.kind == "h" and not _written_a(q) for q in qs)
    wrote_z = any(q.kind == "z" for q in qs)
    if wrote_a and wrote_h and not wrote_z:
        return CONVENTIONS["goodfellow"], "detected: the claim writes both a and h, so a is the pre-activation"
    if any("^{[" in q.src or "^[" in q.src for q in qs) and any(q.kind in ("X", "Y", "P", "Z", "H") for q in qs):
        return CONVENTIONS["ng"], "detected: layers in square brackets with batch matrices, Ng's notation"
    return DEFAULT, ""


def apply_convention(claim: Claim, conv: Convention) -> Claim:
    """The claim in symderiv's own readings: Goodfellow's ``a`` as ``z``, CS231n's ``W_{ij}`` as
    ``W_{ji}``, Ng's ``X_{jn}`` as example ``n``.  (Whole matrices are transposed when lowered:
    :mod:`.matrices` reads the convention.)"""
    if conv == DEFAULT:
        return claim
    return replace(claim, sides=tuple(_apply(s, conv) for s in claim.sides))


def _apply(node: Node, conv: Convention) -> Node:
    def one(q: Q) -> Q:
        if conv.a_is == "pre-activation" and _written_a(q):
            q = replace(q, kind="z")
        if conv.weights == "in×out" and q.kind == "W" and len(q.indices) == 2:
            q = replace(q, indices=(q.indices[1], q.indices[0]))
        if conv.batch == "columns" and q.kind in ("X", "Y", "P", "Z", "H") and len(q.indices) == 2:
            q = replace(q, indices=(q.indices[1], q.indices[0]))
        return q

    return map_quantities(node, one)


#: quantities that are vectors, or batch matrices with one example per row
_ROW_OPERANDS = ("x", "y", "p", "z", "h", "delta", "X", "Y", "P", "Z", "H")


def _weight(node) -> bool:
    """``W`` or ``W^T`` (a weight matrix, transposed or not)."""
    if isinstance(node, Op) and node.op in ("T", "T'") and len(node.args) == 1:
        node = node.args[0]
    return isinstance(node, Q) and node.kind == "W" and not node.indices


def _vector_operand(node) -> bool:
    """A vector or batch quantity, the gradient by one (CS231n's ``dscores``, ``dhidden``), or a bracketed
    expression of them, *not* transposed."""
    if isinstance(node, Q):
        if node.kind == "grad" and node.wrt is not None and not node.indices:
            node = node.wrt
        return node.kind in _ROW_OPERANDS and not node.indices
    if isinstance(node, (Add, Call)):
        return any(_vector_operand(c) for c in children(node))
    return False


def writes_rows(claim: Claim) -> bool:
    """Positive evidence of the row-vector convention (``x W_1``, ``\\delta W^\\top``, ``X @ W``,
    ``np.dot(dscores, W2.T)``): a vector or batch matrix, or the gradient by one, multiplied on the right by a
    weight matrix, which no column-vector reading allows."""
    stack = list(claim.sides)
    while stack:
        n = stack.pop()
        pairs = []
        if isinstance(n, Mul):
            pairs = list(zip(n.factors, n.factors[1:]))
        elif isinstance(n, Op) and n.op == "matmul":
            pairs = list(zip(n.args, n.args[1:]))
        if any(_vector_operand(a) and _weight(b) for a, b in pairs):
            return True
        stack.extend(children(n))
    return False


#: batch matrices with one example per row (X, H, P, Z, Y)
_BATCH = ("X", "Y", "P", "Z", "H")


def _transposed_batch(node) -> bool:
    """``X.T``, ``hidden_layer.T``, ``dscores.T``: a batch matrix, or the gradient by one, transposed."""
    if not (isinstance(node, Op) and node.op in ("T", "T'") and len(node.args) == 1 and isinstance(node.args[0], Q)):
        return False
    q = node.args[0]
    if q.kind == "grad" and q.wrt is not None:
        q = q.wrt
    return q.kind in _BATCH and not q.indices


def writes_batch_code(claim: Claim) -> bool:
    """A plain-text (NumPy) claim whose product of batch matrices fixes an orientation of ``W``: a weight
    multiplied on the right of a batch matrix (:func:`writes_rows`: ``np.dot(dscores, W2.T)``) or a transposed
    batch matrix on the left of a product (``np.dot(X.T, dhidden)``, ``dscores.T @ hidden_layer``).  Such
    code may be CS231n's (W of shape n_in × n_out) or symderiv's (n_out × n_in); when both fit (square
    layers), "auto" checks both and says so rather than guess."""
    if claim.syntax != "plain":
        return False
    if writes_rows(claim):
        return True
    stack = list(claim.sides)
    while stack:
        n = stack.pop()
        first = n.factors[0] if isinstance(n, Mul) and n.factors else \
            n.args[0] if isinstance(n, Op) and n.op == "matmul" and n.args else None
        if first is not None and _transposed_batch(first):
            return True
        stack.extend(children(n))
    return False
