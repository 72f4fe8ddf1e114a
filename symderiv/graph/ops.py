"""One forward rule and one VJP rule per tensor operation, at the entry level.

Tensors are NumPy object arrays of SymPy scalars (shapes exclude the batch axis).
``defop(name, forward)`` registers how an op computes its output from its inputs;
``defvjp(name, vjp)`` how a cotangent ``g`` of the output is pulled back to every
input (HIPS/autograd style).  ``vjp(g, inputs, output, attrs)`` returns one array per
input (``None`` for an input that is not differentiated, e.g. an absent bias).

Sums are formed once (``sp.Add(*terms)``) and products with an exact 0 vanish, so a
structural zero of a factor propagates: ``∂ℓ/∂A = Bᵀ(...)`` is literally 0 when
``B = 0``.  Contractions group the terms that share a weight before multiplying
(``w·(x_1 + x_2)``), as :mod:`symderiv.engine` does, so cancellations such as
``w·Σ_k δ_k = 0`` are structural.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import sympy as sp

from ..activations import Activation
from ..errors import InternalError, UnsupportedError

__all__ = ["OpRule", "defop", "defvjp", "defshape", "op_rule", "registered_ops", "ZERO", "zeros", "add_terms", "dot",
           "matmul", "sum_to", "reduce_sum", "obj"]

ZERO = sp.Integer(0)
Array = np.ndarray
Forward = Callable[[list, dict], Array]
Vjp = Callable[[Array, list, Array, dict], list]


@dataclass
class OpRule:
    """The forward and VJP rules of one op."""

    name: str
    forward: Forward
    vjp: Vjp | None = None
    description: str = ""
    #: the output shape from the input shapes (raising ValueError when they do not fit), for ops whose
    #: symbolic probe costs more than linear time (contractions); None: the graph probes the forward rule
    shape: Callable[[list, dict], tuple[int, ...]] | None = None


_OPS: dict[str, OpRule] = {}


def defop(name: str, forward: Forward, description: str = "") -> OpRule:
    """Register the forward rule of ``name``."""
    _OPS[name] = OpRule(name, forward, None, description)
    return _OPS[name]


def defvjp(name: str, vjp: Vjp) -> None:
    """Register the VJP rule of an op whose forward is registered."""
    _OPS[name].vjp = vjp


def defshape(name: str, shape: Callable[[list, dict], tuple[int, ...]]) -> None:
    """Register the shape rule of an op whose forward is registered (see :attr:`OpRule.shape`)."""
    _OPS[name].shape = shape


def op_rule(name: str) -> OpRule:
    rule = _OPS.get(name)
    if rule is None or rule.vjp is None:
        raise UnsupportedError(f"graph op {name!r} is not supported; supported ops: {', '.join(registered_ops())}")
    return rule


def registered_ops() -> tuple[str, ...]:
    return tuple(sorted(k for k, r in _OPS.items() if r.vjp is not None))


# ---------------------------------------------------------------- helpers
def zeros(shape: Sequence[int]) -> Array:
    out = np.empty(tuple(shape), dtype=object)
    out.fill(ZERO)
    return out


def obj(values: Any, shape: Sequence[int] | None = None) -> Array:
    a = np.empty(len(values), dtype=object)
    a[:] = list(values)
    return a if shape is None else a.reshape(tuple(shape))


def add_terms(terms) -> sp.Expr:
    """One ``Add`` of the nonzero terms (never a chain of binary additions)."""
    return sp.Add(*[t for t in terms if t != 0])


def dot(weights, terms) -> sp.Expr:
    """``Σ w_k·t_k`` with the terms of equal weights added first (``w·(t_1 + t_2)``)."""
    groups: dict[sp.Expr, list[sp.Expr]] = {}
    for w, t in zip(weights, terms):
        if w == 0 or t == 0:
            continue
        groups.setdefault(w, []).append(t)
    return sp.Add(*[w * sp.Add(*ts) for w, ts in groups.items()])


def _mat(a: Array, b: Array) -> Array:
    """2-D ``a @ b`` (grouping by the entries of ``a``)."""
    n, k = a.shape
    k2, m = b.shape
    if k != k2:
        raise InternalError(f"matmul shapes {a.shape} and {b.shape}")
    out = np.empty((n, m), dtype=object)
    for i in range(n):
        for j in range(m):
            out[i, j] = dot(a[i, :], b[:, j])
    return out


def matmul(a: Array, b: Array) -> Array:
    """``a @ b`` for object arrays: 1-D and 2-D operands, and batched operands whose leading
    axes broadcast (NumPy's matmul rules)."""
    if a.ndim == 1 and b.ndim == 1:
        return obj([dot(a, b)], ()).reshape(())
    if a.ndim == 1:
        return matmul(a[None, :], b)[..., 0, :]
    if b.ndim == 1:
        return matmul(a, b[:, None])[..., 0]
    if a.ndim == 2 and b.ndim == 2:
        return _mat(a, b)
    lead = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    A = np.broadcast_to(a, lead + a.shape[-2:])
    B = np.broadcast_to(b, lead + b.shape[-2:])
    out = np.empty(lead + (a.shape[-2], b.shape[-1]), dtype=object)
    for idx in np.ndindex(*lead):
        out[idx] = _mat(A[idx], B[idx])
    return out


def sum_to(g: Array, shape: tuple[int, ...]) -> Array:
    """Sum ``g`` over the axes broadcasting added or stretched to reach ``g.shape`` from ``shape``."""
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    axes = list(range(extra)) + [extra + i for i, n in enumerate(shape) if n == 1 and g.shape[extra + i] != 1]
    out = reduce_sum(g, tuple(axes))
    return out.reshape(shape)


def reduce_sum(x: Array, axes: tuple[int, ...]) -> Array:
    """Sum over ``axes`` (kept as size-1 axes dropped), each output one ``Add``."""
    axes = tuple(sorted(a % x.ndim for a in axes))
    keep = [i for i in range(x.ndim) if i not in axes]
    moved = np.transpose(x, keep + list(axes))
    lead = moved.shape[: len(keep)]
    flat = moved.reshape(lead + (-1,))
    out = np.empty(lead, dtype=object)
    for idx in np.ndindex(*lead):
        out[idx] = add_terms(flat[idx])
    return out


def _elementwise(fn, *arrays) -> Array:
    b = np.broadcast_arrays(*arrays)
    out = np.empty(b[0].shape, dtype=object)
    for idx in np.ndindex(*out.shape):
        out[idx] = fn(*(a[idx] for a in b))
    return out


def power(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    """``base**exponent``, unevaluated for a compound base: evaluating ``1/(a + b + …)`` asks SymPy's
    assumption system about the sign of the whole sum, which walks it (minutes on large closed forms)."""
    if base.is_Number or base.is_Symbol:
        return base**exponent
    return sp.Pow(base, exponent, evaluate=False)


def inv(x: sp.Expr) -> sp.Expr:
    """``1/x`` (see :func:`power`)."""
    return power(x, sp.Integer(-1))


def _exp(arg: sp.Expr) -> sp.Expr:
    # unevaluated for compound arguments: exp's evaluation walks the whole argument (see symderiv.losses)
    if arg.is_Number or arg.is_Symbol:
        return sp.exp(arg)
    return sp.exp(arg, evaluate=False)


# ---------------------------------------------------------------- linear, matmul
def _linear(ins, at):
    x, W = ins[0], ins[1]
    out = matmul(x, W.T) if x.ndim > 1 else matmul(W, x)
    if len(ins) > 2 and ins[2] is not None:
        out = out + ins[2]
    return out


def _linear_vjp(g, ins, out, at):
    x, W = ins[0], ins[1]
    gx = matmul(g, W) if g.ndim > 1 else matmul(W.T, g)
    g2 = g.reshape(-1, W.shape[0])
    x2 = x.reshape(-1, W.shape[1])
    gW = np.empty(W.shape, dtype=object)
    for o in range(W.shape[0]):
        for i in range(W.shape[1]):
            gW[o, i] = add_terms(g2[r, o] * x2[r, i] for r in range(g2.shape[0]))
    grads: list[np.ndarray | None] = [gx, gW]
    if len(ins) > 2:
        grads.append(None if ins[2] is None else reduce_sum(g2, (0,)))
    return grads


defop("linear", _linear, "x·Wᵀ + b over the last axis (nn.Linear, F.linear)")
defvjp("linear", _linear_vjp)


def _linear_shape(shapes, at):
    x, W = shapes[0], shapes[1]
    if len(W) != 2 or not x or x[-1] != W[1]:
        raise ValueError(f"x of shape {x} does not fit W of shape {W}")
    out = tuple(x[:-1]) + (W[0],)
    if len(shapes) > 2 and shapes[2] is not None:
        out = tuple(np.broadcast_shapes(out, shapes[2]))
    return out


defshape("linear", _linear_shape)


def _swap(a: Array) -> Array:
    return np.swapaxes(a, -1, -2)


def _matmul_vjp(g, ins, out, at):
    a, b = ins
    if a.ndim == 1 or b.ndim == 1:
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = g2[..., None, :]
        if b.ndim == 1:
            g2 = g2[..., None]
        ga, gb = _matmul_vjp(g2, [a2, b2], None, at)
        return [ga.reshape(a.shape), gb.reshape(b.shape)]
    ga = matmul(g, _swap(b))
    gb = matmul(_swap(a), g)
    return [sum_to(ga, a.shape), sum_to(gb, b.shape)]


defop("matmul", lambda ins, at: matmul(ins[0], ins[1]), "a @ b of two computed tensors (batched)")
defvjp("matmul", _matmul_vjp)


def _matmul_shape(shapes, at):
    a, b = tuple(shapes[0]), tuple(shapes[1])
    if not a or not b:
        raise ValueError("matmul of a 0-d tensor")
    a2, b2 = (a if len(a) > 1 else (1,) + a), (b if len(b) > 1 else b + (1,))
    if a2[-1] != b2[-2]:
        raise ValueError(f"matmul shapes {a} and {b}")
    out = tuple(np.broadcast_shapes(a2[:-2], b2[:-2])) + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


defshape("matmul", _matmul_shape)


# ---------------------------------------------------------------- elementwise
_U = sp.Dummy("u", real=True)


def _at(formula: Callable[[sp.Expr], sp.Expr], z: sp.Expr, smooth: bool) -> sp.Expr:
    """``formula(z)``.  For a compound ``z`` and a smooth activation, the formula is built at a symbol and
    ``z`` put in unevaluated: SymPy's automatic evaluation of ``erf``/``exp`` of a compound argument asks
    the assumption system about the whole argument (a GELU derivative of a LayerNorm output: 12 s per
    entry, against 2 ms).  The result is the same function, only not re-evaluated.  Numbers (structural
    zeros) and symbols evaluate as usual; kinked activations too (a known sign must still make a dead
    unit a structural 0)."""
    if not smooth or z.is_Number or z.is_Symbol:
        return formula(z)
    at_symbol = formula(_U)  # evaluated (and simplified by SymPy) once, at a plain symbol
    with sp.evaluate(False):
        return at_symbol.xreplace({_U: z})


def _activation_fwd(ins, at):
    act: Activation = at["activation"]
    smooth = act.entry.one_sided is None
    return _elementwise(lambda z: _at(act, z, smooth), ins[0])


def _activation_vjp(g, ins, out, at):
    act: Activation = at["activation"]
    smooth = act.entry.one_sided is None
    return [_elementwise(lambda gi, z: gi * _at(act.derivative, z, smooth) if gi != 0 else ZERO, g, ins[0])]


defop("activation", _activation_fwd, "elementwise f from symderiv.activations (kink convention f'(0))")
defvjp("activation", _activation_vjp)

defop("add", lambda ins, at: _elementwise(lambda a, b: a + b, ins[0], ins[1]), "a + b (broadcasting)")
defvjp("add", lambda g, ins, out, at: [sum_to(g, ins[0].shape), sum_to(g, ins[1].shape)])
defop("sub", lambda ins, at: _elementwise(lambda a, b: a - b, ins[0], ins[1]), "a - b (broadcasting)")
defvjp("sub", lambda g, ins, out, at: [sum_to(g, ins[0].shape), sum_to(_elementwise(lambda x: -x, g), ins[1].shape)])
defop("mul", lambda ins, at: _elementwise(lambda a, b: a * b, ins[0], ins[1]), "a * b (broadcasting)")
defvjp("mul", lambda g, ins, out, at: [sum_to(_elementwise(lambda gi, b: gi * b, g, ins[1]), ins[0].shape),
                                       sum_to(_elementwise(lambda gi, a: gi * a, g, ins[0]), ins[1].shape)])
defop("div", lambda ins, at: _elementwise(lambda a, b: a * inv(b), ins[0], ins[1]), "a / b (broadcasting)")
defvjp("div", lambda g, ins, out, at: [
    sum_to(_elementwise(lambda gi, b: gi * inv(b), g, ins[1]), ins[0].shape),
    sum_to(_elementwise(lambda gi, a, b: -gi * a * power(b, sp.Integer(-2)), g, ins[0], ins[1]), ins[1].shape)])
# constants (exact SymPy numbers) as attributes: x·c and x + c
defop("scale", lambda ins, at: _elementwise(lambda a: a * at["c"], ins[0]), "x·c for an exact constant c")
defvjp("scale", lambda g, ins, out, at: [_elementwise(lambda gi: gi * at["c"], g)])
defop("shift", lambda ins, at: _elementwise(lambda a: a + at["c"], ins[0]), "x + c for an exact constant c")
defvjp("shift", lambda g, ins, out, at: [g])


def _along_axis(x: Array, at) -> Array:
    # x·c_i along one axis (c exact; multiplicities of a lumped quotient, symderiv.graph.lumping)
    shape = [1] * x.ndim
    shape[at["axis"] % x.ndim] = len(at["c"])
    return _elementwise(lambda a, c: a * c if a != 0 else ZERO, x, obj(at["c"], shape))


defop("scale_axis", lambda ins, at: _along_axis(ins[0], at), "x·c_i along one axis for exact constants c_i")
defvjp("scale_axis", lambda g, ins, out, at: [_along_axis(g, at)])


# ---------------------------------------------------------------- softmax
def _softmax_rows(z: Array) -> Array:
    # p_i = 1 / Σ_j exp(z_j − z_i): equal logits cancel structurally (uniform softmax is exactly 1/n)
    return obj([inv(sp.Add(*[_exp(zj - zi) for zj in z])) for zi in z])


def _along(axis: int, fn, *arrays: Array) -> Array:
    """Apply ``fn`` (1-D arrays -> 1-D array) along ``axis`` of equally shaped arrays."""
    moved = [np.moveaxis(a, axis, -1) for a in arrays]
    out = np.empty(moved[0].shape, dtype=object)
    for idx in np.ndindex(*moved[0].shape[:-1]):
        out[idx] = fn(*(m[idx] for m in moved))
    return np.moveaxis(out, -1, axis)


def _masked_softmax_rows(z: Array, masked: Array) -> Array:
    # masked entries (an additive -inf mask, as attention masks are) are exactly 0, as exp(-inf) is in floats;
    # a fully masked row is 0 (PyTorch's safe softmax)
    kept = [zj for zj, m in zip(z, masked) if not m]
    return obj([ZERO if m else inv(sp.Add(*[_exp(zj - zi) for zj in kept])) for zi, m in zip(z, masked)])


def _softmax_fwd(ins, at):
    mask = at.get("mask")
    if mask is None:
        return _along(at["axis"], _softmax_rows, ins[0])
    return _along(at["axis"], _masked_softmax_rows, ins[0], np.broadcast_to(np.asarray(mask, dtype=object),
                                                                          ins[0].shape))


defop("softmax", _softmax_fwd, "softmax over one axis (optional constant mask: masked entries exactly 0)")


def _softmax_vjp(g, ins, out, at):
    def row(gr, pr):
        s = add_terms(gr[k] * pr[k] for k in range(len(pr)))
        return obj([pr[i] * (gr[i] - s) if gr[i] != 0 or s != 0 else ZERO for i in range(len(pr))])
    return [_along(at["axis"], row, g, out)]


defvjp("softmax", _softmax_vjp)


# ---------------------------------------------------------------- reductions
def _reduce_axes(x: Array, at) -> tuple[int, ...]:
    axis = at.get("axis")
    if axis is None:
        return tuple(range(x.ndim))
    return tuple(a % x.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))


def _sum_fwd(ins, at):
    x = ins[0]
    axes = _reduce_axes(x, at)
    out = reduce_sum(x, axes)
    return np.expand_dims(out, axes) if at.get("keepdim") else out


def _sum_vjp(g, ins, out, at):
    x = ins[0]
    axes = _reduce_axes(x, at)
    gk = g if at.get("keepdim") else np.expand_dims(g, axes)
    return [np.broadcast_to(gk, x.shape).copy()]


def _count(x: Array, at) -> int:
    return int(np.prod([x.shape[a] for a in _reduce_axes(x, at)]))


defop("sum", _sum_fwd, "sum over axes")
defvjp("sum", _sum_vjp)
defop("mean", lambda ins, at: _elementwise(lambda s: s / _count(ins[0], at), _sum_fwd(ins, at)), "mean over axes")
defvjp("mean", lambda g, ins, out, at: _sum_vjp(_elementwise(lambda gi: gi / _count(ins[0], at), g), ins, out, at))


# ---------------------------------------------------------------- rearrangements: one generic VJP
def _rearrange(x: Array, at) -> Array:
    kind = at["kind"]
    if kind == "reshape":
        return x.reshape(at["shape"])
    if kind == "permute":
        return np.transpose(x, at["perm"])
    if kind == "getitem":
        return x[at["index"]]
    if kind == "expand":  # broadcast to a larger shape (torch expand): every output entry is one input entry
        return np.broadcast_to(x, at["shape"])
    raise InternalError(f"unknown rearrangement {kind!r}")


def _rearrange_vjp(g, ins, out, at):
    x = ins[0]
    source = _rearrange(np.arange(x.size).reshape(x.shape), at)  # which input entry each output entry is
    terms: list[list] = [[] for _ in range(x.size)]
    for idx in np.ndindex(*source.shape):
        terms[int(source[idx])].append(g[idx])
    return [obj([add_terms(t) for t in terms], x.shape)]


defop("rearrange", lambda ins, at: np.array(_rearrange(ins[0], at), dtype=object),
      "reshape/permute/slice/index/expand: every output entry is one input entry")
defvjp("rearrange", _rearrange_vjp)


def _cat_vjp(g, ins, out, at):
    axis, grads, start = at["axis"], [], 0
    for x in ins:
        n = x.shape[axis]
        grads.append(np.take(g, range(start, start + n), axis=axis))
        start += n
    return grads


defop("cat", lambda ins, at: np.concatenate(ins, axis=at["axis"]), "concatenation along an axis")
defvjp("cat", _cat_vjp)


# convolutions: symderiv.graph.conv (registered on import by symderiv.graph.ir)


# ---------------------------------------------------------------- normalizations
def _norm_rows(x: Array, n_axes: int):
    lead = x.shape[: x.ndim - n_axes]
    return x.reshape(lead + (-1,)), lead


def _layer_norm_fwd(ins, at):
    x = ins[0]
    shape = x.shape
    rows, _ = _norm_rows(x, at["n_axes"])
    eps, rms = at["eps"], at.get("rms", False)
    xhat = np.empty(rows.shape, dtype=object)
    for idx in np.ndindex(*rows.shape[:-1]):
        r = rows[idx]
        n = len(r)
        mu = ZERO if rms else add_terms(r) / n
        c = [v - mu for v in r]
        var = add_terms(v**2 for v in c) / n
        inv = power(var + eps, sp.Rational(-1, 2))
        xhat[idx] = obj([v * inv for v in c])
    out = xhat.reshape(shape)
    gamma = ins[1] if len(ins) > 1 else None
    beta = ins[2] if len(ins) > 2 else None
    if gamma is not None:
        out = _elementwise(lambda a, b: a * b, out, gamma)
    if beta is not None:
        out = _elementwise(lambda a, b: a + b, out, beta)
    return out


def _layer_norm_vjp(g, ins, out, at):
    x = ins[0]
    gamma = ins[1] if len(ins) > 1 else None
    xhat = _layer_norm_fwd([x], at)
    grads: list = [None]
    gxhat = g if gamma is None else _elementwise(lambda a, b: a * b, g, gamma)
    if gamma is not None:
        grads.append(sum_to(_elementwise(lambda a, b: a * b, g, xhat), gamma.shape))
    if len(ins) > 2:
        grads.append(sum_to(g, ins[2].shape))
    rows_x, _ = _norm_rows(x, at["n_axes"])
    rows_g, _ = _norm_rows(gxhat, at["n_axes"])
    rows_h, _ = _norm_rows(xhat, at["n_axes"])
    eps, rms = at["eps"], at.get("rms", False)
    gx = np.empty(rows_x.shape, dtype=object)
    for idx in np.ndindex(*rows_x.shape[:-1]):
        r, gr, hr = rows_x[idx], rows_g[idx], rows_h[idx]
        n = len(r)
        if all(v == 0 for v in gr):  # a structural zero stays visibly zero
            gx[idx] = obj([ZERO] * n)
            continue
        mu = ZERO if rms else add_terms(r) / n
        var = add_terms((v - mu) ** 2 for v in r) / n
        inv = power(var + eps, sp.Rational(-1, 2))
        mg = ZERO if rms else add_terms(gr) / n
        mgh = add_terms(a * b for a, b in zip(gr, hr)) / n
        gx[idx] = obj([inv * (gr[i] - mg - hr[i] * mgh) for i in range(n)])
    grads[0] = gx.reshape(x.shape)
    return grads


defop("layer_norm", _layer_norm_fwd, "layer_norm / rms_norm over the last n axes, optional gamma, beta")
defvjp("layer_norm", _layer_norm_vjp)


# ---------------------------------------------------------------- constants and constant selections
def _const_value(at) -> Array:
    return np.array(at["value"], dtype=object)


defop("const", lambda ins, at: _const_value(at), "an exact constant tensor (a buffer or a folded constant subgraph)")
defvjp("const", lambda g, ins, out, at: [])


def _select(ins, at) -> Array:
    a, b = ins
    cond = np.asarray(at["cond"], dtype=bool)
    shape = np.broadcast_shapes(cond.shape, np.shape(a), np.shape(b))
    c, A, B = (np.broadcast_to(v, shape) for v in (cond, a, b))
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = A[idx] if c[idx] else B[idx]
    return out


def _select_vjp(g, ins, out, at):
    cond = np.broadcast_to(np.asarray(at["cond"], dtype=bool), g.shape)
    ga = np.where(cond, g, ZERO).astype(object)
    gb = np.where(cond, ZERO, g).astype(object)
    return [sum_to(ga, np.shape(ins[0])), sum_to(gb, np.shape(ins[1]))]


defop("select", _select, "where(cond, a, b) with an exact constant boolean cond (broadcasting)")
defvjp("select", _select_vjp)


# ---------------------------------------------------------------- gradient stop
defop("detach", lambda ins, at: ins[0], "x, with no gradient flowing back (an embedding's padding row)")
defvjp("detach", lambda g, ins, out, at: [None])


# ---------------------------------------------------------------- shape rules (no symbolic probe of large tensors)
def _same_as_first(shapes, at):
    return tuple(shapes[0])


def _broadcast_shape(shapes, at):
    return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes if s is not None]))


def _rearrange_shape(shapes, at):
    # PyTorch's index arithmetic on a one-byte array (views for reshape/permute/expand): no symbolic entries
    return tuple(np.shape(_rearrange(np.zeros(tuple(shapes[0]), dtype=np.int8), at)))


def _reduce_shape(shapes, at):
    shape = tuple(shapes[0])
    axes = _reduce_axes(np.empty(shape, dtype=np.int8), at)
    if at.get("keepdim"):
        return tuple(1 if a in axes else n for a, n in enumerate(shape))
    return tuple(n for a, n in enumerate(shape) if a not in axes)


for _name in ("scale", "shift", "scale_axis", "activation", "softmax", "layer_norm", "detach"):
    defshape(_name, _same_as_first)
for _name in ("add", "sub", "mul", "div"):
    defshape(_name, _broadcast_shape)
defshape("select", lambda shapes, at: _broadcast_shape(list(shapes) + [np.shape(at["cond"])], at))
defshape("rearrange", _rearrange_shape)
defshape("sum", _reduce_shape)
defshape("mean", _reduce_shape)
defshape("const", lambda shapes, at: tuple(np.shape(at["value"])))
defshape("cat", lambda shapes, at: tuple(np.concatenate([np.zeros(tuple(s), dtype=np.int8) for s in shapes],
                                                        axis=at["axis"]).shape))
