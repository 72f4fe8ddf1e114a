"""Vectors, matrices, symbolic layers and batches in claims, lowered to entries.

A claim about whole vectors and matrices (``\\delta^{(1)} = (W^{(2)})^\\top \\delta^{(2)} \\odot
\\sigma'(z^{(1)})``, ``dW1 = outer(delta1, x)``, ``\\frac{\\partial L}{\\partial W} = \\frac{1}{N}
(P - Y)^\\top X``) is checked entry by entry: this module infers the shape of every
subexpression from the network's widths and rewrites the claim as a claim about entry
``(i, j)`` with fresh free indices, and sums for the contractions of matrix products.
A refutation then names the first wrong entry by its indices.

Conventions (those of :mod:`symderiv.network`):

* vectors are columns: ``x`` is ``n_0 × 1``, ``\\delta^{(l)}`` is ``n_l × 1``;
* ``W^{(l)}`` is ``n_l × n_{l-1}`` (``z^{(l)} = W^{(l)} h^{(l-1)} + b^{(l)}``), and the
  gradient ``∂L/∂W^{(l)}`` has the shape of ``W^{(l)}``;
* a batch ``X`` is ``N × n_0`` (one row per example), ``Y`` and ``P`` are ``N × K``;
  so ``X^\\top (P - Y)`` is ``n_0 × K``: the *transpose* of ``∂L/∂W`` here (it is the
  gradient in the ``z = x W`` convention, where ``W`` is ``n_0 × K``).  A claim whose sides
  have transposed shapes is refuted with a message saying so;
* in LaTeX, juxtaposition is the matrix product (``W^\\top \\delta``, ``\\delta x^\\top`` is an
  outer product), and ``\\odot``, ``\\circ`` and ``*`` are elementwise; in plain text ``@`` is the
  matrix product and ``*`` elementwise (NumPy's meaning); functions apply elementwise;
  a scalar multiplies every entry.

Symbolic layers (``W^{(l)}``, ``\\delta^{(l+1)}``, ``a^{(L)}``) are checked for every value
of ``l`` at which every quantity of the claim exists.  ``h^{(L)}``/``a^{(L)}`` is the
prediction ``p``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from ..errors import ClaimNameError, ClaimSyntaxError, InternalError, SizeLimitError, UnsupportedError
from .tree import TRUE_CLASS, Add, Call, Claim, Const, Deriv, Mul, Node, Num, Op, Pow, Q, Sum, children, grad_target, transform

__all__ = ["layer_variants", "lower_sides", "Lowered", "uses_batch", "BATCH", "MAX_LAYER_VALUES"]

#: the symbolic batch size
BATCH = "N"
#: the length of a vector of ones \mathbf{1} left to the product it is in
WILD = "?"


def _fits(a, b) -> bool:
    """Do two dimensions agree (a vector of ones fits any length)?"""
    return a == b or a == WILD or b == WILD


def _known(a, b):
    """The dimension of two that agree, the known one if either is."""
    return b if a == WILD else a
#: most values a symbolic layer is checked at (the network's depth + 1 at most)
MAX_LAYER_VALUES = 65
_VECTOR = {"x": 0, "y": -1, "p": -1}  # kind -> layer whose width is the length (-1: outputs)
_LAYER_VECTOR = {"z", "h", "delta", "b"}
#: batch matrices (one example per row, or per column in Ng's convention) and the per-example quantity of each
_BATCH_KINDS = {"X": "x", "Y": "y", "P": "p", "Z": "z", "H": "h"}


# ---------------------------------------------------------------- symbolic layers
def _layer_letters(node) -> set[str]:
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (Q, Call)) and isinstance(n.layer, str):  # W^{[l]}, and Ng's g^{[l]'}
            out.add(n.layer[0])
        stack.extend(children(n))
    return out


def _layer_value(layer: str, value: int | None, depth: int, what: str) -> int:
    """The number a symbolic layer (``l``, ``l+1``, ``L-1``) stands for at ``l = value``."""
    base = depth if layer[0] == "L" else value
    if base is None:  # layer_variants gives l a value whenever a tree uses it
        raise InternalError(f"{what}: the symbolic layer {layer} has no value")
    return base + (int(layer[1:]) if len(layer) > 1 else 0)


def _sub_layers(node, value: int | None, depth: int):
    """The tree with every symbolic layer (``l``, ``l+1``, ``L-1``) replaced by its number."""
    if isinstance(node, Q):
        layer = node.layer
        if isinstance(layer, str):
            layer = _layer_value(layer, value, depth, node.src or node.kind)
        was = node.wrt
        wrt = _sub_layers(was, value, depth) if was is not None else None
        if wrt is not None and was is not None and wrt.kind == "p" and was.kind == "h" and isinstance(was.layer, str) \
                and was.layer[0] != "L":
            # ∂L/∂h^{(l)} at l = L: skip that value of l (∂L/∂a^{(L)}, written so, is ∂L/∂p)
            wrt = replace(wrt, kind="h", layer=depth)
        if node.kind == "h" and layer is None and depth == 1:  # a in a one-layer net: its output (Ng's a = ŷ)
            return replace(node, kind="p", layer=None, wrt=wrt)
        if node.kind == "h" and layer == depth:  # a^{(L)}: the network's output, the prediction
            return replace(node, kind="p", layer=None, wrt=wrt)
        if node.kind == "H" and layer is None and depth == 1:  # A in a one-layer net: its output (Ng's A = Ŷ)
            return replace(node, kind="P", layer=None, wrt=wrt)
        if node.kind == "H" and layer in (depth, 0):  # A^{[L]} is the batch's predictions P, A^{[0]} = X
            return replace(node, kind="P" if layer else "X", layer=None, wrt=wrt)
        return replace(node, layer=layer, wrt=wrt)
    if isinstance(node, Call):
        layer = _layer_value(node.layer, value, depth, node.src or node.func) if isinstance(node.layer, str) else node.layer
        return replace(node, layer=layer, args=tuple(_sub_layers(a, value, depth) for a in node.args))
    if isinstance(node, Add):
        return Add(tuple(_sub_layers(t, value, depth) for t in node.terms))
    if isinstance(node, Mul):
        return Mul(tuple(_sub_layers(f, value, depth) for f in node.factors))
    if isinstance(node, Pow):
        return Pow(_sub_layers(node.base, value, depth), _sub_layers(node.exp, value, depth))
    if isinstance(node, Sum):
        return Sum(node.var, node.lo, node.hi, _sub_layers(node.body, value, depth))
    if isinstance(node, Op):
        return Op(node.op, tuple(_sub_layers(a, value, depth) for a in node.args))
    if isinstance(node, Deriv):
        return Deriv(_sub_layers(node.body, value, depth), _sub_layers(node.wrt, value, depth))
    return node


def layer_variants(claim: Claim, depth: int) -> list[tuple[dict, Claim]]:
    """``[(layer values, claim with numeric layers)]``: one claim per value of the symbolic
    layer ``l`` in ``0..L`` (the caller drops the values at which some quantity does not exist);
    a single entry when the claim has no symbolic layer (``L`` alone is the depth)."""
    letters = set()
    for s in claim.sides:
        letters |= _layer_letters(s)
    small = sorted(c for c in letters if c != "L")
    if len(small) > 1:
        raise UnsupportedError(f"the claim uses several symbolic layers ({', '.join(small)}); use one, e.g. l")
    if small and depth + 1 > MAX_LAYER_VALUES:
        raise SizeLimitError(
            f"a symbolic layer {small[0]} would be checked at {depth + 1} layers (limit {MAX_LAYER_VALUES}); write a concrete layer"
        )
    values = list(range(0, depth + 1)) if small else [None]
    out = []
    for v in values:
        sides = tuple(_sub_layers(s, v, depth) for s in claim.sides)
        out.append(({small[0]: v} if small else {}, replace(claim, sides=sides)))
    return out


# ---------------------------------------------------------------- shapes and entries
def uses_batch(node) -> bool:
    """Does the tree use batch notation (X, Y, P, N, or an example of a per-example quantity)?"""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Q) and (n.kind in _BATCH_KINDS or n.kind == "batch" or n.example is not None):
            return True
        stack.extend(children(n))
    return False


@dataclass(frozen=True)
class Lowered:
    """Scalar sides, and for a matrix claim the entry indices and the shape (for messages)."""
    sides: tuple
    entry: tuple = ()          # the free indices naming an entry, e.g. ("i", "j")
    shape: tuple | None = None  # the common shape of the sides
    mismatch: str = ""          # non-empty: the sides have different shapes (the claim is false)
    note: str = ""              # how the claim was read, when the shapes decided a grouping


def _show(shape) -> str:
    return "scalar" if shape is None else f"{shape[0]}×{shape[1]}"


class _Lowerer:
    def __init__(self, resolver, syntax: str, used: set[str]):
        self.r = resolver
        self.plain = syntax == "plain"
        self.used = set(used)
        self._shapes: dict = {}

    def fresh(self, prefer: str) -> str:
        for c in prefer + "abcdgkmnoqr":
            if c not in self.used and c not in (TRUE_CLASS, "e", "y"):
                self.used.add(c)
                return c
        k = 1
        while f"k{k}" in self.used:  # long products: numbered contraction indices
            k += 1
        self.used.add(f"k{k}")
        return f"k{k}"

    # -- shapes
    def qshape(self, q: Q):
        n = self.r.sizes
        if q.kind == "grad":
            if q.wrt is None or q.wrt.kind == "var":
                return None
            return self.qshape(q.wrt)
        if q.kind == "ones":
            return (self.ones_length(q), 1)
        if q.indices or q.kind in ("loss", "width", "batch", "var", "kron"):
            return None
        conv = self.r.convention
        if q.kind in _BATCH_KINDS:
            width = n[0] if q.kind == "X" else n[-1] if q.kind in ("Y", "P") else n[self.r._layer(q)]
            return (width, BATCH) if conv.batch == "columns" else (BATCH, width)
        layer = self.r._layer(q)
        if q.kind in _VECTOR:
            return self.vector(n[_VECTOR[q.kind]])
        if q.kind in _LAYER_VECTOR:
            return self.vector(n[layer])
        if q.kind == "W":
            return (n[layer - 1], n[layer]) if conv.weights == "in×out" else (n[layer], n[layer - 1])
        return None

    def vector(self, n):
        """The shape of a vector of length ``n``: a column, or a row in a row-vector convention (CS231n code)."""
        return (1, n) if self.r.convention.vectors == "rows" else (n, 1)

    @staticmethod
    def _length(shape):
        """The length of a vector shape (a column or a row), None for anything else."""
        if shape is None:
            return 1
        return shape[0] if shape[1] == 1 else shape[1] if shape[0] == 1 else None

    def vec(self, node, k):
        """Entry ``k`` of a vector ``node``, a column or a row."""
        shape = self.shape(node)
        return self.entry(node, 1, k) if shape is not None and shape[0] == 1 and shape[1] != 1 else self.entry(node, k, 1)

    def ones_length(self, q: Q):
        """The length of ``\\mathbf{1}_…`` (``WILD`` without a subscript: the product it is in says)."""
        n, spec = self.r.sizes, q.name
        if not spec:
            return WILD
        if spec in ("N", "m"):
            return BATCH
        if spec == "K":
            return n[-1]
        if spec.isdigit():
            return int(spec)
        layer = int(spec.strip("n_{}"))
        if not 0 <= layer < len(n):
            raise ClaimNameError(f"{q.src}: no width n_{layer}; this network has n_0..n_{len(n) - 1}")
        return n[layer]

    def shape(self, node):
        s = self._shape(node)
        return None if s == (1, 1) else s

    def _shape(self, node):
        key = id(node)  # the tree lives as long as this lowerer: ids are stable, and shapes are asked often
        if key not in self._shapes:
            self._shapes[key] = (node, self._compute_shape(node))
        return self._shapes[key][1]

    def _compute_shape(self, node):
        if isinstance(node, (Num, Const)):
            return None
        if isinstance(node, Q):
            return self.qshape(node)
        if isinstance(node, Op):
            shapes = [self.shape(a) for a in node.args]
            if node.op.startswith(("dim:", "sum_", "mean_")):
                return self.reduction_shape(node.op, shapes[0])
            if node.op.startswith("at:"):
                if shapes[0] is None or self._length(shapes[0]) is None:
                    raise ClaimSyntaxError(f"only a vector can be indexed, as in softmax(z)_k (got a {_show(shapes[0])})")
                return None
            if node.op == "T'" and shapes[0] is None:
                raise ClaimSyntaxError("a prime after a bracket or a name is read as a transpose, but its operand is a "
                                       "scalar; write derivatives as \\sigma'(z), f'(z) or \\frac{d}{du}(…)")
            if node.op in ("T", "T'") and shapes[0] is None and isinstance(node.args[0], Q) and node.args[0].kind == "loss":
                raise ClaimSyntaxError(f"{node.args[0].src or 'the loss'}^T: the loss is a number, so a transpose of it "
                                       "says nothing; if it names a Jacobian, write it as \\frac{\\partial p}{\\partial z}")
            if node.op in ("T", "T'"):
                return None if shapes[0] is None else (shapes[0][1], shapes[0][0])
            if node.op == "outer":
                a, b = shapes
                if a is None or b is None or self._length(a) is None or self._length(b) is None:
                    raise ClaimSyntaxError(f"outer(a, b) takes two vectors, got {_show(a)} and {_show(b)}")
                return (self._length(a), self._length(b))
            if node.op == "matmul":
                return self.chain(node.args, shapes)
            return self.elementwise(node.args, shapes, "⊙")
        if isinstance(node, Mul):
            shapes = [self.shape(f) for f in node.factors]
            if self.plain:
                return self.elementwise(node.factors, shapes, "*")
            return self.chain(node.factors, shapes)
        if isinstance(node, Add):
            return self.elementwise(node.terms, [self.shape(t) for t in node.terms], "+")
        if isinstance(node, Pow):
            if self.shape(node.exp) is not None:
                raise ClaimSyntaxError("an exponent must be a number")
            base = self.shape(node.base)
            if base is not None and 1 not in base and not self.plain:
                raise UnsupportedError(
                    f"a power of a {_show(base)} matrix is ambiguous (matrix power or elementwise?): "
                    "write W W, W \\odot W, or one entry"
                )
            return base
        if isinstance(node, Call) and node.func == "diag":
            v = self.shape(node.args[0]) if len(node.args) == 1 else None
            length = self._length(v) if v is not None else None
            if v is None or length is None or length in (BATCH, WILD):
                raise ClaimSyntaxError(f"diag(v) takes one vector of the network, got {_show(v) if len(node.args) == 1 else 'several arguments'}")
            return (length, length)
        if isinstance(node, Call):
            return self.elementwise(node.args, [self.shape(a) for a in node.args], node.func)
        if isinstance(node, Sum):
            return self.shape(node.body)
        if isinstance(node, Deriv):
            a, b = self.shape(node.body), self.shape(node.wrt)
            if a is None and b is None:
                return None
            if self._length(a) is None or self._length(b) is None:
                raise UnsupportedError("a derivative of or by a matrix: write one entry, e.g. \\frac{\\partial p_i}{\\partial z_j}")
            return (self._length(a), self._length(b))
        raise ClaimSyntaxError(f"unsupported claim element {type(node).__name__}")

    def reduction_shape(self, op: str, a):
        """The shape of ``X.shape[k]`` (a number) and of NumPy's sum / mean over an axis (a column vector)."""
        if a is None or WILD in a:
            raise ClaimSyntaxError(f"{op.split(':')[0].replace('_', ' ')} of a scalar: it needs a vector or matrix")
        if op.startswith("dim:") or op.endswith("_all"):
            return None
        length = a[1] if op.endswith(":0") else a[0]
        if length == 1:
            return None
        return (1, length) if "_keep:0" in op else (length, 1)  # keepdims=True over the rows: NumPy's row

    def dimension(self, a, k: int):
        """A dimension of a shape as a claim node (N, or a number)."""
        d = a[k]
        return Q("batch", src="N") if d == BATCH else Num(Fraction(d))

    def reduction_entry(self, node, i):
        """Entry ``i`` of a reduction (:meth:`reduction_shape`), as sums over fresh indices."""
        op, arg = node.op, node.args[0]
        a = self.shape(arg) or (1, 1)
        if op.startswith("dim:"):
            return self.dimension(a, int(op[4:]))

        def over(k: int, body):
            if a[k] == 1:
                return body(1)
            m = self.fresh("mnq")
            hi = Q("batch", src="N") if a[k] == BATCH else Num(Fraction(a[k]))
            return Sum(m, Num(Fraction(1)), hi, body(m))

        if op.endswith(":0"):
            out, count = over(0, lambda m: self.entry(arg, m, i)), [0]
        elif op.endswith(":1"):
            out, count = over(1, lambda m: self.entry(arg, i, m)), [1]
        else:
            out, count = over(0, lambda m: over(1, lambda q: self.entry(arg, m, q))), [0, 1]
        if op.startswith("mean_"):
            for k in count:
                out = Mul((Pow(self.dimension(a, k), Num(Fraction(-1))), out))
        return out

    def segments(self, mats: list, shapes: list) -> list[list]:
        r"""The matrices of a product, split where a matrix product is impossible but the two
        operands are column vectors of one shape: ``\sigma(z)(1 - \sigma(z))`` is read
        elementwise, as people write it (each segment is a matrix product)."""
        out, cur, shape = [], [], None
        for m, s in zip(mats, shapes):
            if shape is not None and shape[1] != s[0] and shape == s and 1 in s and not self.plain \
                    and not _transposed(m) and not _transposed(cur[-1]):
                out.append(cur)
                cur, shape = [], None
            cur.append(m)
            shape = s if shape is None else (shape[0], s[1])
        out.append(cur)
        return out

    def chain(self, items, shapes):
        """Juxtaposition / ``@``: scalars scale, matrices multiply in order (equal column vectors
        side by side multiply elementwise, see :meth:`segments`)."""
        out = prev = None
        for item, s in zip(items, shapes):
            if s is None:
                continue
            if out is None:
                out, prev = s, item
                continue
            if out[1] != s[0] and out == s and 1 in s and not self.plain and not _transposed(item) and not _transposed(prev):
                prev = item
                continue  # elementwise: the shape stays
            if not _fits(out[1], s[0]):
                hint = ""
                if out == s and s[1] == 1:
                    hint = "; for an elementwise product write \\odot (plain text: *)"
                elif out[1] == s[1] or out[0] == s[0]:
                    hint = "; is a transpose missing?"
                raise ClaimSyntaxError(f"cannot multiply a {_show(out)} matrix by a {_show(s)} matrix{hint}")
            if out[1] == WILD and s[0] == WILD:
                raise ClaimSyntaxError("the length of a vector of ones cannot be read from this product; "
                                       "write it, e.g. \\mathbf{1}_N or \\mathbf{1}_K")
            out, prev = (out[0], s[1]), item
        return None if out == (1, 1) else out

    def elementwise(self, items, shapes, what: str):
        real = [s for s in shapes if s is not None]
        if not real:
            return None
        if all(_fits(s[0], real[0][0]) and _fits(s[1], real[0][1]) for s in real):
            rows = next((s[0] for s in real if s[0] != WILD), WILD)
            cols = next((s[1] for s in real if s[1] != WILD), WILD)
            return (rows, cols)
        batch = self._broadcast(real)
        if batch is not None:
            return batch
        if self.plain and (numpy := _numpy_broadcast(real)) is not None:
            return numpy
        if any(s != real[0] for s in real):
            hint = "; is a transpose missing?" if any(s == (real[0][1], real[0][0]) for s in real) else ""
            raise ClaimSyntaxError(f"{what} of a {_show(real[0])} and a {_show(next(s for s in real if s != real[0]))} "
                                   f"matrix: the shapes must agree{hint}")
        return real[0]

    def _broadcast(self, shapes):
        """NumPy's broadcast of a vector over the examples of one batch matrix (``X @ W.T + b``: the bias
        added to every row; Ng's ``W X + b``: to every column): the batch matrix's shape, or None."""
        mats = {s for s in shapes if self._length(s) is None}
        if len(mats) != 1:
            return None
        (m,) = mats
        if BATCH not in m:
            return None
        width = m[1] if m[0] == BATCH else m[0]
        return m if all(s == m or self._length(s) == width for s in shapes) else None

    def bentry(self, node, i, j, into):
        """Entry ``(i, j)`` of ``node`` as an operand of an elementwise operation of shape ``into`` (a vector
        broadcast over a batch matrix takes the entry of the example's unit)."""
        s = self.shape(node)
        if self.plain and into is not None and s is not None and s != into and 1 in s and (
                s == (into[0], 1) or s == (1, into[1])):  # NumPy: a column (row) repeated along the rows (columns)
            return self.entry(node, i, 1) if s[1] == 1 else self.entry(node, 1, j)
        if into is not None and s is not None and s != into and BATCH in into and self._length(s) is not None:
            return self.vec(node, j if into[0] == BATCH else i)
        return self.entry(node, i, j)

    # -- entries
    def entry(self, node, i, j):
        """The scalar claim tree of entry ``(i, j)`` of ``node`` (``i``/``j`` are index names or 1)."""
        if isinstance(node, (Num, Const)):
            return node
        if isinstance(node, Q) and node.kind == "ones":
            return Num(Fraction(1))
        if isinstance(node, Q):
            return self.qentry(node, i, j)
        if isinstance(node, Op):
            if node.op.startswith(("dim:", "sum_", "mean_")):
                return self.reduction_entry(node, j if "_keep:0" in node.op else i)
            if node.op.startswith("at:"):
                index = node.op[3:]
                return self.vec(node.args[0], int(index) if index.isdigit() else index)
            if node.op in ("T", "T'"):
                return self.entry(node.args[0], j, i)
            if node.op == "outer":
                return Mul((self.vec(node.args[0], i), self.vec(node.args[1], j)))
            if node.op == "matmul":
                return self.product(node.args, i, j)
            into = self.shape(node)
            return Mul(tuple(self.bentry(a, i, j, into) for a in node.args))
        if isinstance(node, Mul):
            if self.plain:
                into = self.shape(node)
                return Mul(tuple(self.bentry(f, i, j, into) for f in node.factors))
            return self.product(node.factors, i, j)
        if isinstance(node, Add):
            into = self.shape(node)
            return Add(tuple(self.bentry(t, i, j, into) for t in node.terms))
        if isinstance(node, Pow):
            return Pow(self.entry(node.base, i, j), node.exp)
        if isinstance(node, Call) and node.func == "diag":  # diag(v)_{ij} = v_i δ_ij
            return Mul((self.vec(node.args[0], i), Q("kron", None, (i, j), None, node.src or "diag")))
        if isinstance(node, Call) and node.func == "softmax":  # exp(v_i) / Σ_m exp(v_m)
            return self.softmax_entry(node.args[0], i, j)
        if isinstance(node, Call):
            return replace(node, args=tuple(self.entry(a, i, j) for a in node.args))
        if isinstance(node, Sum):
            return Sum(node.var, node.lo, node.hi, self.entry(node.body, i, j))
        if isinstance(node, Deriv):
            return Deriv(self.vec(node.body, i), self.vec(node.wrt, j))
        raise ClaimSyntaxError(f"unsupported claim element {type(node).__name__}")

    def qentry(self, q: Q, i, j):
        conv = self.r.convention
        s = self._shape(q)
        if s is None:
            return q
        if s == (1, 1):  # a vector of length 1 (one output): its only entry
            i, j = 1, 1
        if q.kind == "grad":
            wrt = self.qentry(grad_target(q), i, j)
            if conv.d_names == "per-example" and q.src.startswith("d") and wrt.example is not None \
                    and grad_target(q).kind in _BATCH_KINDS:
                return replace(q, wrt=wrt, example=wrt.example)  # Ng's dZ: column n is ∂ℓ_n/∂z^{(n)}
            return replace(q, wrt=wrt)
        if q.kind in _BATCH_KINDS:
            example, unit = (j, i) if conv.batch == "columns" else (i, j)
            if isinstance(example, int):
                raise ClaimSyntaxError(f"{q.src or q.kind}: a batch {'column' if conv.batch == 'columns' else 'row'} "
                                       "must be an example index")
            return Q(_BATCH_KINDS[q.kind], q.layer, (unit,), None, q.src, example=example)
        if q.kind == "W":
            return replace(q, indices=(j, i) if conv.weights == "in×out" else (i, j))
        return replace(q, indices=(j,) if s[0] == 1 and s[1] != 1 else (i,))

    def softmax_entry(self, v, i, j):
        """Entry ``(i, j)`` of softmax(v): of a vector (column or row); of a batch matrix, along each example
        (a row of N × K, a column of Ng's K × m)."""
        shape = self.shape(v) or (1, 1)
        if shape[0] == BATCH or (shape[1] != BATCH and shape[1] != 1):  # along the row
            n, at = shape[1], lambda k: self.entry(v, i, k)
            out = j
        else:  # along the column
            n, at = shape[0], lambda k: self.entry(v, k, j)
            out = i
        if n in (BATCH, WILD) or (shape[0] not in (1, BATCH) and shape[1] not in (1, BATCH)):
            raise ClaimSyntaxError(f"softmax takes a vector or a batch of them, got a {_show(shape)} matrix")
        m = self.fresh("m")
        den = Sum(m, Num(Fraction(1)), Num(Fraction(n)), Call("exp", (at(m),), 0, None, "exp"))
        return Mul((Call("exp", (at(out),), 0, None, "exp"), Pow(den, Num(Fraction(-1)))))

    def product(self, items, i, j):
        """Entry ``(i, j)`` of a product: scalars as they are, the matrices contracted in order
        (segments of equal column vectors multiplied elementwise)."""
        scalars: list = []
        mats: list = []
        for f in items:
            (scalars if self.shape(f) is None else mats).append(f)
        if not mats:
            return Mul(tuple(self.entry(f, 1, 1) for f in items))
        parts = self.segments(mats, [self.shape(m) for m in mats])
        if len(parts) > 1:
            return Mul(tuple(self.entry(f, 1, 1) for f in scalars) + tuple(self.matprod(p, i, j) for p in parts))
        return Mul(tuple(self.entry(f, 1, 1) for f in scalars) + (self.matprod(mats, i, j),))

    def matprod(self, mats, i, j):
        """Entry ``(i, j)`` of the matrix product of ``mats`` (fresh indices for the contractions)."""
        scalars: list = []
        row = i
        factors = []
        sums = []
        for k, m in enumerate(mats):
            last = k == len(mats) - 1
            s = self.shape(m) or (1, 1)
            if not last and s[1] == WILD:  # a row of ones: as long as the next factor is tall
                s = (s[0], (self.shape(mats[k + 1]) or (1, 1))[0])
            if last:
                col = j
            elif s[1] == 1:
                col = 1  # an outer product: nothing to contract
            else:
                col = self.fresh("kmqnop" if s[1] != BATCH else "nmq")
                sums.append((col, s[1]))
            factors.append(self.entry(m, row, col))
            row = col
        body: Node = Mul(tuple(self.entry(f, 1, 1) for f in scalars) + tuple(factors))
        for var, size in reversed(sums):
            hi = Q("batch", src="N") if size == BATCH else Num(Fraction(size))
            body = Sum(var, Num(Fraction(1)), hi, body)
        return body


def _letters(node) -> set[str]:
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Q):
            out |= {i for i in n.indices if isinstance(i, str)}
            if n.example:
                out.add(n.example)
        if isinstance(n, Sum):
            out.add(n.var)
        stack.extend(children(n))
    return out


def _transposed(node) -> bool:
    """Is ``node`` written transposed (``w^T``)?  A transposed vector beside a vector is an inner or outer
    product as written, never the elementwise reading of equal vectors side by side."""
    return isinstance(node, Op) and node.op in ("T", "T'")


def _numpy_broadcast(shapes):
    """NumPy's broadcast of ``(r, 1)`` columns and ``(1, c)`` rows against one ``r × c`` matrix (plain text
    only, where NumPy's meaning holds: ``exp(Z) / np.sum(exp(Z), axis=1, keepdims=True)``): its shape, or None.
    Two vectors never broadcast against each other (a row and a column would make an outer product)."""
    full = {s for s in shapes if 1 not in s}
    if len(full) != 1:
        return None
    (m,) = full
    return m if all(s == m or s == (m[0], 1) or s == (1, m[1]) for s in shapes) else None


def _had_first(node):
    """``Op(had, (…, A, Mul(B, C…)))`` regrouped as ``Mul(Op(had, (…, A, B)), C…)``: ⊙ before the product."""
    if isinstance(node, Op) and node.op == "had" and isinstance(node.args[-1], Mul) and len(node.args[-1].factors) > 1:
        first, *rest = node.args[-1].factors
        return Mul((Op("had", node.args[:-1] + (first,)), *rest))
    return node


def lower_sides(claim: Claim, resolver) -> Lowered:
    """Lower a claim's sides (numeric layers) to scalar entries; see the module docstring."""
    used = set()
    for s in claim.sides:
        used |= _letters(s)
    for a, _, b in claim.conditions:
        used |= {v for v in (a, b) if isinstance(v, str)}
    used |= set(claim.same_for)
    low = _Lowerer(resolver, claim.syntax, used)
    note = ""
    try:
        shapes = [low.shape(s) for s in claim.sides]
    except ClaimSyntaxError as exc:
        # ``A ⊙ B C`` is read A ⊙ (B C); when only (A ⊙ B) C has shapes that fit, that is the reading
        regrouped = tuple(transform(s, _had_first) for s in claim.sides)
        if regrouped == claim.sides or not str(exc).startswith(("⊙ of", "cannot multiply")):
            raise
        low = _Lowerer(resolver, claim.syntax, used)
        try:
            shapes = [low.shape(s) for s in regrouped]
        except ClaimSyntaxError:
            raise exc from None
        claim = replace(claim, sides=regrouped)
        note = "A ⊙ B C is read (A ⊙ B) C: with A ⊙ (B C) the shapes do not fit (" + str(exc)[:80] + ")"
    real = [s for s in shapes if s is not None]
    if not real:
        return Lowered(tuple(low.entry(s, 1, 1) for s in claim.sides), note=note)
    shape = min(real, key=lambda s: (s[0] == WILD) + (s[1] == WILD))  # the most concrete side
    if WILD in shape:
        raise ClaimSyntaxError("the length of a vector of ones cannot be read from the claim; "
                               "write it, e.g. \\mathbf{1}_N or \\mathbf{1}_K")
    length = low._length(shape)
    if length not in (None, 1) and len(set(real)) > 1 and all(s is None or low._length(s) == length for s in shapes):
        # a row and a column of one length: the same vector (its orientation is a layout, not a value: CS231n's
        # db is a row, Ng's a column, NumPy's 1-D sum neither), compared entry by entry
        scalar = next((k for k, s in enumerate(shapes) if s is None), None)
        if scalar is not None and not (isinstance(claim.sides[scalar], Num) and claim.sides[scalar].value == 0):
            raise ClaimSyntaxError(f"side {scalar + 1} is a scalar but the other sides are vectors of length {length}; "
                                   "only 0 may stand for a whole vector")
        index = low.fresh("n" if length == BATCH else "i")  # the index of the entries compared
        sides = tuple(low.vec(side, index) for side in claim.sides)
        note = "; ".join(x for x in (note, "a row and a column vector of one length: compared entry by entry") if x)
        return Lowered(sides, (index,), shape, note=note)
    for k, s in enumerate(shapes):
        if s is None:
            side = claim.sides[k]
            if not (isinstance(side, Num) and side.value == 0):
                raise ClaimSyntaxError(
                    f"side {k + 1} is a scalar but side {shapes.index(shape) + 1} is a {_show(shape)} matrix; "
                    "only 0 may stand for a whole matrix"
                )
        elif not (_fits(s[0], shape[0]) and _fits(s[1], shape[1])):
            a, b = shapes.index(shape) + 1, k + 1
            if s == (shape[1], shape[0]):
                msg = (f"side {a} is {_show(shape)} but side {b} is {_show(s)}: one is the transpose of the other. "
                       "symderiv's W^{(l)} is n_l × n_{l-1} (z = W h + b), so ∂L/∂W^{(l)} is n_l × n_{l-1}; "
                       "X^T (P - Y) is its transpose (the z = x W convention); write (P - Y)^T X, transpose a side, "
                       "or check with convention='cs231n' (command line: --convention cs231n) where W^{(l)} is n_{l-1} × n_l")
            else:
                msg = f"side {a} is {_show(shape)} but side {b} is {_show(s)}: the shapes differ"
            return Lowered(claim.sides, (), shape, msg, note)
    if BATCH in shape and shape != (BATCH, 1) and False:  # pragma: no cover - documented limit
        pass
    i: str | int
    j: str | int
    if shape[0] == BATCH or shape[1] == BATCH:
        i = low.fresh("n") if shape[0] == BATCH else low.fresh("i")
        j = low.fresh("n") if shape[1] == BATCH else low.fresh("j")
    else:
        i = low.fresh("i") if shape[0] != 1 else 1
        j = low.fresh("j") if shape[1] != 1 else 1
    sides = tuple(low.entry(s, i, j) for s in claim.sides)
    entry = tuple(v for v in (i, j) if isinstance(v, str))
    return Lowered(sides, entry, shape, note=note)
