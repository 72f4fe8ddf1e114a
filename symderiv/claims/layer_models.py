r"""Standalone layers as SymPy computations: the forward pass at concrete sizes and the true gradients.

A :class:`LayerModel` holds the layer's inputs as matrices of symbols (``x[i,j]``, ``gamma[j]``,
the upstream gradient ``dy[i,j]``, ``eps > 0``) and its computation as a list of named nodes in
order (BatchNorm: ``mu, xmu, var, std, istd, xhat, y``).  The truth a claim is compared with comes
from this forward computation alone:

* the value of a node is its forward expression in the inputs;
* the gradient of the loss ``L`` (``∂L/∂y`` = the upstream symbols ``dy``) by a node is computed in
  reverse mode: the sum over the nodes ``c`` that read it of the vector-Jacobian products
  ``∂/∂v ⟨∂L/∂c, c(v)⟩`` (:func:`sympy.diff`), ``v`` a fresh matrix of symbols standing in for the
  node, then given its forward value.  That is the gradient of the computational graph by a node, as
  the backward passes of Ioffe & Szegedy and CS231n mean it (``∂L/∂σ²`` through ``x̂`` only,
  ``∂L/∂μ`` through ``x̂`` and ``σ²``).

Nothing here knows any claim.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp
from sympy import ImmutableMatrix as Matrix

__all__ = ["LayerModel", "build_model", "MODELS", "VARIANTS"]



def _symbols(name: str, rows: int, cols: int, *, vector: str = "") -> Matrix:
    """A matrix of real symbols ``name[i,j]`` (1-based; a vector's as ``name[k]``)."""
    def sym(i, j):
        label = f"{name}[{i + 1},{j + 1}]" if not vector else f"{name}[{(j if vector == 'row' else i) + 1}]"
        return sp.Symbol(label, real=True)
    return Matrix(rows, cols, lambda i, j: sym(i, j))


def _broadcast(m: Matrix, rows: int, cols: int) -> Matrix:
    return Matrix(rows, cols, lambda i, j: m[i if m.rows > 1 else 0, j if m.cols > 1 else 0])


def _mean(m: Matrix, axis: int) -> Matrix:
    if axis == 0:
        return Matrix(1, m.cols, lambda _, j: sum(m[i, j] for i in range(m.rows)) / m.rows)
    return Matrix(m.rows, 1, lambda i, _: sum(m[i, j] for j in range(m.cols)) / m.cols)


def _row_softmax(m: Matrix) -> Matrix:
    e = m.applyfunc(sp.exp)
    return Matrix(m.rows, m.cols, lambda i, j: e[i, j] / sum(e[i, k] for k in range(m.cols)))


def _col_softmax(m: Matrix) -> Matrix:
    e = m.applyfunc(sp.exp)
    return Matrix(m.rows, m.cols, lambda i, j: e[i, j] / sum(e[k, j] for k in range(m.rows)))


@dataclass
class LayerModel:
    """A layer at concrete sizes: inputs (symbols), nodes (name, function of the values so far), the
    output node, the upstream gradient's symbols, the sizes' names, and the axis a single subscript
    selects on a matrix (0: a row, ``x_i`` is example i; 1: a column)."""
    kind: str
    inputs: dict
    nodes: list
    output: str
    upstream: Matrix
    sizes: dict
    single_axis: int
    positive: tuple = ()
    data: tuple = ()
    vectors_dot: bool = False  #: a LaTeX product of two vectors of one shape is their dot product (else elementwise)
    numpy_rows: bool = False  #: a 1-D result (np.sum(A, axis=1) without keepdims) is NumPy's row, not a column

    def __post_init__(self):
        self._values = self._forward({})
        self._grads: dict = {}

    def _forward(self, overrides: dict) -> dict:
        env = dict(self.inputs)
        env.update({k: v for k, v in overrides.items() if k in self.inputs})
        for name, fn in self.nodes:
            env[name] = overrides[name] if name in overrides else fn(env)
        return env

    def names(self) -> list:
        return list(self.inputs) + [n for n, _ in self.nodes]

    def value(self, name: str) -> Matrix:
        """The forward value of an input or node."""
        return self._values[name]

    def grad(self, name: str) -> Matrix:
        """The gradient of ``L`` (with ``∂L/∂output`` = the upstream symbols) by an input or node: reverse
        mode, each consumer's vector-Jacobian product by :func:`sympy.diff` of ``⟨∂L/∂c, c(v)⟩`` with ``v``
        a fresh matrix of symbols standing in for the node, then given its forward value."""
        if name == self.output:
            return self.upstream
        if name not in self._grads:
            current = self._values[name]
            total = Matrix.zeros(current.rows, current.cols)
            for consumer, fn in self.nodes:
                stand_in = Matrix(current.rows, current.cols, lambda i, j: sp.Dummy(f"v{i}_{j}", real=True))
                env = dict(self._values)
                env[name] = stand_in
                out = fn(env)
                if not (set(stand_in) & out.free_symbols):
                    continue  # the node does not read it
                upstream = self.grad(consumer)
                inner = sum(upstream[k] * out[k] for k in range(len(out)))
                back = {stand_in[k]: current[k] for k in range(len(current))}
                total += stand_in.applyfunc(lambda s: sp.diff(inner, s)).xreplace(back)
            self._grads[name] = Matrix(total)
        return self._grads[name]

    def symbols(self) -> list:
        """Every symbol of the layer (inputs and the upstream gradient), sorted by name."""
        out = set(self.upstream)
        for m in self.inputs.values():
            out |= set(m)
        return sorted(out, key=lambda s: s.name)


def _norm(kind: str, axis: int) -> Callable[[tuple], LayerModel]:
    """BatchNorm (``axis`` 0: statistics over the examples) or LayerNorm (1: over the features)."""
    def build(sizes: tuple) -> LayerModel:
        n, d = sizes
        x = _symbols("x", n, d)
        gamma, beta = _symbols("gamma", 1, d, vector="row"), _symbols("beta", 1, d, vector="row")
        eps = sp.Symbol("eps", positive=True)
        dy = _symbols("dy", n, d)

        def full(m):
            return _broadcast(m, n, d)
        nodes = [
            ("mu", lambda e: _mean(e["x"], axis)),
            ("xmu", lambda e: e["x"] - full(e["mu"])),
            ("var", lambda e: _mean(e["xmu"].applyfunc(lambda v: v ** 2), axis)),
            ("std", lambda e: e["var"].applyfunc(lambda v: sp.sqrt(v + e["eps"][0]))),
            ("istd", lambda e: e["std"].applyfunc(lambda v: 1 / v)),
            ("xhat", lambda e: e["xmu"].multiply_elementwise(full(e["istd"]))),
            ("y", lambda e: full(e["gamma"]).multiply_elementwise(e["xhat"]) + full(e["beta"])),
        ]
        return LayerModel(kind, {"x": x, "gamma": gamma, "beta": beta, "eps": Matrix([[eps]])}, nodes, "y", dy,
                          {"N": n, "D": d}, axis, (eps,), tuple(x) + tuple(dy))
    return build


def _softmax(sizes: tuple) -> LayerModel:
    if len(sizes) == 2:
        return _softmax_rows(sizes)
    (k,) = sizes
    z = _symbols("z", k, 1, vector="col")
    dp = _symbols("dp", k, 1, vector="col")
    return LayerModel("softmax", {"z": z}, [("p", lambda e: _col_softmax(e["z"]))], "p", dp, {"K": k}, 0, (),
                      tuple(z) + tuple(dp), vectors_dot=True)


def _softmax_rows(sizes: tuple) -> LayerModel:
    """A batch of softmax rows: z is N×K (example i in row i), p = softmax of each row, dp free (N×K)."""
    n, k = sizes
    z, dp = _symbols("z", n, k), _symbols("dp", n, k)
    return LayerModel("softmax", {"z": z}, [("p", lambda e: _row_softmax(e["z"]))], "p", dp, {"N": n, "K": k}, 0, (),
                      tuple(z) + tuple(dp), vectors_dot=True, numpy_rows=True)


def _attention(sizes: tuple, scaled: bool = True) -> LayerModel:
    t, d = sizes
    q, k, v = _symbols("Q", t, d), _symbols("K", t, d), _symbols("V", t, d)
    do = _symbols("dO", t, d)
    tau = 1 / sp.sqrt(d) if scaled else sp.Integer(1)  # unscaled: S = QK^T (FlashAttention's appendix, τ = 1)
    nodes = [  # τ = 1/√d, FlashAttention's softmax scale, a node so that ∂L/∂τ is the gradient through S
        ("tau", lambda e: Matrix([[tau]])),
        ("S", lambda e: (e["Q"] * e["K"].T) * e["tau"][0]),
        ("P", lambda e: _row_softmax(e["S"])),
        ("O", lambda e: e["P"] * e["V"]),
    ]
    return LayerModel("attention", {"Q": q, "K": k, "V": v}, nodes, "O", do, {"T": t, "d": d}, 0, (),
                      tuple(q) + tuple(k) + tuple(v) + tuple(do), vectors_dot=True)


#: the layer kinds and how to build each at its sizes
MODELS = {"batchnorm": _norm("batchnorm", 0), "layernorm": _norm("layernorm", 1), "softmax": _softmax,
          "attention": _attention}


#: the layers with an option (:attr:`.layers.Layer.options`): (kind, option) -> how to build it at its sizes
VARIANTS = {("attention", "noscale"): lambda sizes: _attention(sizes, scaled=False)}


def build_model(kind: str, sizes: tuple, options: tuple = ()) -> LayerModel:
    """The :class:`LayerModel` of ``kind`` at ``sizes`` (softmax at two sizes N, K: a batch of N rows), with its
    option if any (``("noscale",)``: attention without the 1/√d scale)."""
    if options:
        return VARIANTS[(kind,) + tuple(options)](tuple(sizes))
    return MODELS[kind](tuple(sizes))
