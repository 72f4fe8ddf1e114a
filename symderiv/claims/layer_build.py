r"""A claim about a standalone layer, built into SymPy matrices (from the claim tree, never from text).

Every value is a matrix (a number is 1×1).  The rules, stated in NOTATION.md:

* a quantity without subscript is the whole matrix/vector (BatchNorm's ``x`` is N×D, ``\gamma``,
  ``\mu`` and ``\sigma^2`` are 1×D; LayerNorm's ``\mu`` and ``\sigma^2`` are N×1); one subscript
  picks an entry of a vector, and of a matrix the slice along the layer's *normalized axis*
  (BatchNorm ``x_i``: example i's row; LayerNorm ``x_i``: feature i's column; attention ``Q_i``:
  token i's row); two subscripts pick an entry;
* ``+ − ⊙ *`` and powers are elementwise with NumPy's broadcasting (a 1×D row against N×D);
  juxtaposition and ``\cdot`` in LaTeX are the matrix product when the inner sizes agree; else, for
  softmax and attention, the dot product of two vectors of one shape (``p \cdot dp``,
  ``q_i \cdot k_j``), and for BatchNorm and LayerNorm the elementwise product (the per-feature
  scalars of Ioffe & Szegedy's notation); ``*`` in plain text is NumPy's elementwise product and
  ``@``/``np.dot`` the matrix product (of two vectors: their dot product); a power of a square
  matrix is refused in LaTeX;
* ``np.sum(A, axis=0)`` sums the rows (a 1×D row), ``axis=1`` the columns (an N×1 column, as with
  ``keepdims=True``), ``\mathrm{rowsum}(A)`` = ``np.sum(A, axis=1, keepdims=True)``;
  ``\sum_i`` without bounds runs over the range of ``i`` where it is used.
"""
from __future__ import annotations

import sympy as sp
from sympy import ImmutableMatrix as Matrix

from ..errors import ClaimNameError, ClaimSyntaxError, UnsupportedError
from .tree import Add, Call, Const, Deriv, Mul, Num, Op, Pow, Q, Sum, children, to_text

__all__ = ["LayerBuilder", "free_ranges"]

_ELEMENTWISE = {"sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log, "abs": sp.Abs, "tanh": sp.tanh,
                "sigmoid": lambda u: 1 / (1 + sp.exp(-u))}


def _scalar(v) -> Matrix:
    return Matrix([[v]])


def _is_scalar(m: Matrix) -> bool:
    return m.shape == (1, 1)


def _shape(m: Matrix) -> str:
    return f"{m.rows}×{m.cols}"


def broadcast(a: Matrix, b: Matrix, what: str):
    """``a`` and ``b`` broadcast to one shape (NumPy's rule: each size equal, or 1)."""
    rows = _common(a.rows, b.rows)
    cols = _common(a.cols, b.cols)
    if rows is None or cols is None:
        raise ClaimSyntaxError(f"{what} of a {_shape(a)} and a {_shape(b)} matrix: the shapes do not broadcast")
    return _expand(a, rows, cols), _expand(b, rows, cols)


def _common(m: int, n: int):
    return m if m == n or n == 1 else n if m == 1 else None


def _expand(m: Matrix, rows: int, cols: int) -> Matrix:
    if m.shape == (rows, cols):
        return m
    return Matrix(rows, cols, lambda i, j: m[i if m.rows > 1 else 0, j if m.cols > 1 else 0])


class LayerBuilder:
    """Builds claim trees into matrices of a :class:`~.layer_models.LayerModel` (``syntax`` decides what a
    product of two matrices means: see the module's docstring)."""

    def __init__(self, model, syntax: str):
        self.model, self.syntax = model, syntax
        self.notes: list = []  #: readings the claim's notation needed (the verdict's notes say them)

    # -- quantities
    def quantity(self, name: str, src: str) -> Matrix:
        m = self.model
        if name in m.sizes:
            return _scalar(sp.Integer(m.sizes[name]))
        if name in m.inputs or any(n == name for n, _ in m.nodes):
            return m.value(name)
        raise ClaimNameError(f"{src or name} is not a quantity of the {m.kind} layer")

    def select(self, value: Matrix, indices: tuple, env: dict, src: str) -> Matrix:
        idx = [self.index(i, env, src) for i in indices]
        if not idx:
            return value
        if len(idx) == 2:
            dims: tuple = (value.rows, value.cols)
        elif 1 in value.shape:
            dims = (len(value),)
        else:
            dims = ((value.rows, value.cols)[self.model.single_axis],)
        for k, n in zip(idx, dims):
            if not 1 <= k <= n:
                raise ClaimSyntaxError(f"the index {k} of {src} is out of its range 1..{n}"
                                       + (f" ({_AXIS_WORDS[self.model.single_axis]})" if len(dims) == 1 and
                                          1 not in value.shape else ""))
        if len(idx) == 2:
            if _is_scalar(value) or 1 in value.shape:
                raise ClaimSyntaxError(f"{src} is a vector ({_shape(value)}): it takes one index")
            return _scalar(value[idx[0] - 1, idx[1] - 1])
        k = idx[0] - 1
        if value.rows == 1:
            return _scalar(value[0, k])
        if value.cols == 1:
            return _scalar(value[k, 0])
        return value[k, :] if self.model.single_axis == 0 else value[:, k]

    @staticmethod
    def index(i, env: dict, src: str) -> int:
        if isinstance(i, int):
            return i
        if i not in env:
            raise ClaimSyntaxError(f"the index {i} of {src} has no value")
        return env[i]

    # -- the tree
    def build(self, node, env: dict) -> Matrix:
        if isinstance(node, Num):
            return _scalar(sp.Rational(node.value.numerator, node.value.denominator))
        if isinstance(node, Const):
            return _scalar(sp.E)
        if isinstance(node, Q):
            return self.build_q(node, env)
        if isinstance(node, Add):
            out = self.build(node.terms[0], env)
            for t in node.terms[1:]:
                a, b = broadcast(out, self.build(t, env), "+")
                out = a + b
            return out
        if isinstance(node, Mul):
            values = self.factors(node.factors, env)
            if self.syntax == "latex" and self.model.vectors_dot:
                values = self.slice_dots(node.factors, values)
            out = values[0]
            for v in values[1:]:
                out = self.product(out, v)
            return out
        if isinstance(node, Pow):
            return self.power(self.build(node.base, env), node.exp, env)
        if isinstance(node, Sum):
            return self.sum(node, env)
        if isinstance(node, Op):
            return self.op(node, env)
        if isinstance(node, Call):
            return self.call(node, env)
        if isinstance(node, Deriv):
            return self.derivative(node, env)
        raise UnsupportedError(f"{type(node).__name__} is not supported in a {self.model.kind} claim")

    def build_q(self, q: Q, env: dict) -> Matrix:
        if q.kind == "layer":
            return self.select(self.quantity(q.name, q.src), q.indices, env, q.src)
        if q.kind == "grad":
            target = q.wrt
            if target is None or target.kind != "layer":
                raise ClaimNameError(f"{q.src or to_text(q)}: the gradient by something that is not a quantity of the "
                                     f"{self.model.kind} layer")
            if target.name in self.model.sizes:
                raise ClaimNameError(f"{q.src}: {target.src} is a size, not a quantity")
            if q.example is not None:
                raise UnsupportedError(f"{q.src}: the loss of one example; a layer's upstream gradient is the whole loss's")
            return self.select(self.model.grad(target.name), target.indices, env, target.src)
        if q.kind == "batch":
            first = next(iter(self.model.sizes.values()))
            return _scalar(sp.Integer(first))
        if q.kind == "kron":
            a, b = (self.index(i, env, "a Kronecker delta") for i in q.indices)
            return _scalar(sp.Integer(int(a == b)))
        if q.kind == "width" and q.layer is None and "K" in self.model.sizes:
            return _scalar(sp.Integer(self.model.sizes["K"]))
        if q.kind == "ones":
            return Matrix.ones(self.ones_length(q), 1)
        if q.kind == "var":
            raise ClaimNameError(f"the free letter {q.name} is not defined (define it on a line before: Let {q.name} = …)")
        if q.kind == "loss":
            raise UnsupportedError(f"{q.src or 'L'}: the loss itself is not given for a standalone layer (its "
                                   "gradient by the output, the upstream gradient, is a free quantity)")
        raise ClaimNameError(f"{q.src or q.kind} is not a quantity of the {self.model.kind} layer")

    def ones_length(self, q: Q) -> int:
        sizes = self.model.sizes
        if q.name.isdigit():
            return int(q.name)
        if q.name in ("N", "m") and q.name not in sizes:
            return next(iter(sizes.values()))
        if q.name in sizes:
            return sizes[q.name]
        raise ClaimSyntaxError(f"write the length of the vector of ones, e.g. \\mathbf{{1}}_{next(iter(sizes))}")

    def factors(self, nodes: tuple, env: dict) -> list:
        """The factors' values; a vector of ones without a length (``\\mathbf{1}^\\top dY``) takes the length
        its neighbour in the product needs (a row before a matrix: its rows; a column after one: its columns)."""
        values = [None if _unsized_ones(f) else self.build(f, env) for f in nodes]
        for k, f in enumerate(nodes):
            if values[k] is not None:
                continue
            row = isinstance(f, Op)
            neighbour = values[k + 1] if row and k + 1 < len(values) else values[k - 1] if not row and k > 0 else None
            if neighbour is None or _is_scalar(neighbour):
                raise ClaimSyntaxError("write the length of the vector of ones, e.g. \\mathbf{1}_N (no matrix next to "
                                       "it says it)")
            n = neighbour.rows if row else neighbour.cols
            values[k] = Matrix.ones(1, n) if row else Matrix.ones(n, 1)
        return values

    def slice_dots(self, nodes: tuple, values: list) -> list:
        """``dO_i^\top O_i``, ``q_i^\top k_j``: a one-subscript slice of a matrix is a vector whose orientation is
        notation (FlashAttention's ``dO_i`` is a column, our slice a row), so a transposed slice times a slice of
        the same length is their dot product, as ``Q_i K_j^\top`` is; never an outer product of two rows."""
        out, k = [], 0
        while k < len(values):
            if k + 1 < len(values) and _transposed_slice(nodes[k], self.model) and _slice(nodes[k + 1], self.model) \
                    and values[k].shape == values[k + 1].shape[::-1] and values[k].cols == 1:
                out.append(_scalar((values[k].T * values[k + 1].T)[0]))
                if _SLICE_DOT_NOTE not in self.notes:
                    self.notes.append(_SLICE_DOT_NOTE)
                k += 2
                continue
            out.append(values[k])
            k += 1
        return out

    def product(self, a: Matrix, b: Matrix) -> Matrix:
        if _is_scalar(a):
            return b * a[0]
        if _is_scalar(b):
            return a * b[0]
        if self.syntax == "latex" and a.cols == b.rows:
            return a * b
        if self.syntax == "latex" and self.model.vectors_dot and a.shape == b.shape and 1 in a.shape:
            return _scalar((a.T * b)[0] if a.cols == 1 else (a * b.T)[0])  # p \cdot dp, q_i \cdot k_j: a dot product
        x, y = broadcast(a, b, "a product")
        return x.multiply_elementwise(y)

    def power(self, base: Matrix, exp_node, env: dict) -> Matrix:
        exponent = self.build(exp_node, env)
        if not _is_scalar(exponent):
            raise ClaimSyntaxError("an exponent must be a number")
        e = exponent[0]
        if self.syntax == "latex" and base.rows == base.cols > 1 and e != 1:
            raise UnsupportedError("a power of a square matrix in LaTeX (a matrix power or an elementwise one?): "
                                   "write the product, or the entries")
        return base.applyfunc(lambda v: v ** e)

    def sum(self, node: Sum, env: dict) -> Matrix:
        lo = 1 if node.lo is None else self.bound(node.lo, env)
        if node.hi is None:
            ranges = free_ranges(node.body, self.model, bound=())
            if node.var not in ranges:
                raise ClaimSyntaxError(f"the index {node.var} of a sum is not used as an index in its body; write its bounds")
            hi = ranges[node.var]
        else:
            hi = self.bound(node.hi, env)
        if hi - lo > 4096:
            raise ClaimSyntaxError(f"the sum over {node.var} has more than 4096 terms")
        out = None
        for k in range(lo, hi + 1):
            term = self.build(node.body, {**env, node.var: k})
            if out is None:
                out = term
            else:
                a, b = broadcast(out, term, "a sum's terms")
                out = a + b
        return out if out is not None else _scalar(sp.Integer(0))

    def bound(self, node, env: dict) -> int:
        value = self.build(node, env)
        if not _is_scalar(value) or not value[0].is_Integer:
            raise ClaimSyntaxError(f"a summation bound must be a whole number, got {to_text(node)[:40]}")
        return int(value[0])

    def op(self, node: Op, env: dict) -> Matrix:
        kind = node.op
        if kind in ("T", "T'"):
            return self.build(node.args[0], env).T
        if kind == "had":
            out = self.build(node.args[0], env)
            for a in node.args[1:]:
                x, y = broadcast(out, self.build(a, env), "⊙")
                out = x.multiply_elementwise(y)
            return out
        if kind == "matmul":
            a, b = self.factors(node.args, env)
            if a.cols == 1 and b.cols == 1 and a.rows == b.rows and a.rows > 1:
                return a.T * b  # np.dot of two vectors: their inner product
            if a.cols == 1 and a.rows == b.rows > 1 and b.cols > 1:
                return a.T * b  # NumPy: a 1-D vector on the left of @ is a row (np.ones(N) @ dout)
            if a.cols != b.rows:
                raise ClaimSyntaxError(f"cannot multiply a {_shape(a)} and a {_shape(b)} matrix")
            return a * b
        if kind == "outer":
            a, b = (self.build(x, env) for x in node.args)
            return a.reshape(len(a), 1) * b.reshape(len(b), 1).T
        if kind.startswith(("sum_", "mean_")):
            m = self.build(node.args[0], env)
            what, axis = kind.split("_", 1)
            if axis == "all":
                total, count = sum(m), len(m)
                return _scalar(total if what == "sum" else total / count)
            if axis in ("axis:0", "keep:0") and m.rows == 1 and m.cols > 1:  # γ, BatchNorm's μ: 1-D in code?
                raise ClaimSyntaxError(f"{what} along axis 0 of a row of {m.cols} entries: in code it may be 1-D (the "
                                       f"total) or 1×{m.cols} (itself); write np.{what}(v) for the total")
            if axis in ("axis:0", "keep:0"):  # keepdims=True keeps NumPy's orientation: the same 1×D row
                out = Matrix(1, m.cols, lambda _, j: sum(m[i, j] for i in range(m.rows)))
                return out if what == "sum" else out / m.rows
            if axis not in ("axis:1", "keep:1"):
                raise UnsupportedError(f"the reduction {kind} is not supported in a {self.model.kind} claim")
            if m.cols == 1 and m.rows > 1:  # a column may be 1-D in code, whose only axis is 0 (-1 too)
                raise ClaimSyntaxError(f"{what} along axis 1 (or -1) of a column of {m.rows} entries: in code it may be "
                                       f"1-D, whose only axis is 0; write np.{what}(v) or axis=0")
            out = Matrix(m.rows, 1, lambda i, _: sum(m[i, j] for j in range(m.cols)))
            if axis == "axis:1" and self.model.numpy_rows:
                out = out.T  # 1-D: NumPy broadcasts it as a row against N×K (a missing keepdims=True is refused there)
            return out if what == "sum" else out / m.cols
        if kind == "ones_like":  # np.ones_like(A)
            return Matrix.ones(*self.build(node.args[0], env).shape)
        if kind == "ones":  # np.ones((N, D)); np.ones(N) is 1-D, a column
            sizes = [self.bound(a, env) for a in node.args]
            if not all(1 <= n <= 4096 for n in sizes):
                raise ClaimSyntaxError(f"np.ones of sizes {sizes}: each must be from 1 to 4096")
            return Matrix.ones(sizes[0], sizes[1] if len(sizes) == 2 else 1)
        if kind.startswith("dim:"):
            m = self.build(node.args[0], env)
            return _scalar(sp.Integer(m.shape[int(kind[4:])]))
        if kind.startswith("at:"):
            m = self.build(node.args[0], env)
            return self.select(m, (int(kind[3:]) if kind[3:].isdigit() else kind[3:],), env, "softmax(…)")
        raise UnsupportedError(f"the operation {kind} is not supported in a {self.model.kind} claim")

    def call(self, node: Call, env: dict) -> Matrix:
        if node.order:
            raise UnsupportedError(f"{node.src or node.func}: derivatives of functions are not supported in a "
                                   f"{self.model.kind} claim")
        args = [self.build(a, env) for a in node.args]
        if node.func in _ELEMENTWISE and len(args) == 1:
            return args[0].applyfunc(_ELEMENTWISE[node.func])
        if node.func == "softmax" and len(args) == 1:
            m = args[0]
            if m.cols == 1:  # a vector: over its entries; a matrix: row by row (attention's rows)
                e = m.applyfunc(sp.exp)
                return e / sum(e)
            e = m.applyfunc(sp.exp)
            return Matrix(m.rows, m.cols, lambda i, j: e[i, j] / sum(e[i, k] for k in range(m.cols)))
        if node.func == "rowsum" and len(args) == 1:
            m = args[0]
            return Matrix(m.rows, 1, lambda i, _: sum(m[i, j] for j in range(m.cols)))
        if node.func == "diag" and len(args) == 1 and 1 in args[0].shape:
            entries: list = list(args[0])
            return Matrix(len(entries), len(entries), lambda i, j: entries[i] if i == j else 0)
        if node.func == "diag" and len(args) == 1 and args[0].rows == args[0].cols:
            m = args[0]  # of a square matrix: its diagonal, a column (NumPy's np.diag)
            return Matrix(m.rows, 1, lambda i, _: m[i, i])
        raise UnsupportedError(f"the function {node.src or node.func} is not supported in a {self.model.kind} claim "
                               "(known: sqrt, exp, log, abs, tanh, sigmoid, softmax, rowsum, diag)")

    def derivative(self, node: Deriv, env: dict) -> Matrix:
        """``∂f/∂v`` by an input of the layer: elementwise by one entry, or the Jacobian of a vector by a vector."""
        target = node.wrt
        if target.kind != "layer" or target.name not in self.model.inputs:
            raise UnsupportedError(f"∂…/∂{target.src}: derivatives of expressions are taken by the layer's inputs "
                                   f"({', '.join(n for n in self.model.inputs if n != 'eps')}) only")
        body = self.build(node.body, env)
        by = self.select(self.model.value(target.name), target.indices, env, target.src)
        if _is_scalar(by):
            return body.applyfunc(lambda v: sp.diff(v, by[0]))
        if 1 in body.shape and 1 in by.shape:
            return Matrix(len(body), len(by), lambda i, j: sp.diff(body[i], by[j]))
        raise UnsupportedError(f"∂…/∂{target.src}: the derivative of a matrix by a matrix; write entries")


_SLICE_DOT_NOTE = ("a transposed one-subscript slice times a slice (dO_i^T O_i) is read as their dot product: a slice is a "
                   "vector whose orientation is notation, as in FlashAttention's column vectors")
#: what one subscript on a matrix picks, per single-index axis
_AXIS_WORDS = {0: "one subscript on a matrix picks a row", 1: "one subscript on a matrix picks a column"}


def _slice(node, model) -> bool:
    """Is ``node`` one subscript on a matrix of the layer (``O_i``, ``dO_i``)?"""
    q = node.wrt if isinstance(node, Q) and node.kind == "grad" and node.wrt is not None else node
    if not (isinstance(q, Q) and q.kind == "layer" and len(q.indices) == 1 and q.name not in model.sizes):
        return False
    return 1 not in model.value(q.name).shape


def _transposed_slice(node, model) -> bool:
    return isinstance(node, Op) and node.op in ("T", "T'") and len(node.args) == 1 and _slice(node.args[0], model)


def _unsized_ones(node) -> bool:
    """``\\mathbf{1}`` or ``\\mathbf{1}^\\top`` without a length."""
    if isinstance(node, Op) and node.op in ("T", "T'"):
        node = node.args[0]
    return isinstance(node, Q) and node.kind == "ones" and not node.name


def free_ranges(node, model, bound: tuple = ()) -> dict:
    """The free indices of a tree and their ranges ``1..n``, from the quantities they index."""
    ranges: dict = {}

    def note(var, n, src):
        if not isinstance(var, str) or var in bound:
            return
        if ranges.get(var, n) != n:
            raise ClaimSyntaxError(f"the index {var} ranges over 1..{ranges[var]} and 1..{n} (at {src})")
        ranges[var] = n

    def shape_of(name):
        if name in model.sizes:
            return (1, 1)
        return model.value(name).shape

    def visit(n, bound_here):
        if isinstance(n, Sum):
            visit_sum(n, bound_here)
            return
        if isinstance(n, Q) and n.kind == "grad" and n.wrt is not None and n.wrt.kind == "layer":
            quantity(n.wrt, bound_here)
            return
        if isinstance(n, Q) and n.kind == "layer":
            quantity(n, bound_here)
            return
        if isinstance(n, Deriv):
            if n.wrt.kind == "layer":
                quantity(n.wrt, bound_here)
            visit(n.body, bound_here)
            return
        for c in children(n):
            visit(c, bound_here)

    def visit_sum(n: Sum, bound_here):
        for b in (n.lo, n.hi):
            if b is not None:
                visit(b, bound_here)
        visit(n.body, bound_here | {n.var})

    def quantity(q: Q, bound_here):
        if not q.indices or q.name in model.sizes:
            return
        rows, cols = shape_of(q.name)
        dims: tuple
        if len(q.indices) == 2:
            dims = (rows, cols)
        elif rows == 1 or cols == 1:
            dims = (max(rows, cols),)
        else:
            dims = ((rows, cols)[model.single_axis],)
        for var, n in zip(q.indices, dims):
            if var not in bound_here:
                note(var, n, q.src)

    visit(node, set(bound))
    return ranges

