"""The Core ATen table: one rule per ATen op that reaches a graph node (:mod:`symderiv.graph.export`).

A rule ``rule(cx, *args, **kwargs)`` gets the converted arguments (:class:`~.export.Sym` graph nodes,
constant tensors, :class:`~.export.Tokens`, Python values) and returns the converted result, built from
the ops of :mod:`symderiv.graph.ops` (each with its forward, VJP, and where they exist its
structural-zero and lumping rules).  Ops whose arguments are all constant never reach this table:
they are folded by torch.  Register a new op with ``@aten_rule("aten.name.overload")``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import sympy as sp

from ..activations import activation
from .export import ATEN, Convert, Sym, Tokens, aten_rule, exact

import torch

__all__ = ["ATEN"]


# ---------------------------------------------------------------- helpers
def _scalar(v: Any) -> bool:
    return isinstance(v, (int, float, bool)) or (isinstance(v, torch.Tensor) and v.dim() == 0)


def _finite_part(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A constant with its ``-inf`` entries set to 0, and the mask of those entries (None: none)."""
    if not c.is_floating_point():
        return c, None
    inf = torch.isneginf(c)
    if not bool(inf.any()):
        return c, None
    return torch.where(inf, torch.zeros_like(c), c), inf


def _mask_or(shape: Sequence[int], *masks: Any) -> torch.Tensor | None:
    present = [torch.broadcast_to(m, tuple(shape)) for m in masks if m is not None]
    if not present:
        return None
    out = present[0].clone()
    for m in present[1:]:
        out = out | m
    return out


def _raw(cx: Convert, v: Any) -> int:
    """The node of a Sym even when it carries a -inf mask (for ops that keep the mask)."""
    return v.id if isinstance(v, Sym) else cx.node_of(v)


# ---------------------------------------------------------------- elementwise arithmetic
def _binary(op: str):
    def rule(cx: Convert, a: Any, b: Any, *, alpha: Any = 1) -> Sym:
        if alpha != 1:
            b = _scale(cx, b, exact(alpha)) if isinstance(b, Sym) else b * alpha
        masks = []
        if op in ("add", "sub"):  # an additive -inf mask (attention): masked entries, the rest finite
            for v in (a, b):
                if isinstance(v, Sym):
                    masks.append(v.neg_inf)
            if isinstance(b, torch.Tensor):
                b, m = _finite_part(b)
                masks.append(m)
            if isinstance(a, torch.Tensor):
                a, m = _finite_part(a)
                masks.append(m)
        mask = _mask_or(cx.out_shape, *masks)
        if isinstance(a, Sym) and _scalar(b) and not isinstance(b, Sym):
            c = exact(b)
            if op == "add":
                out = cx.emit("shift", [_raw(cx, a)], c=c)
            elif op == "sub":
                out = cx.emit("shift", [_raw(cx, a)], c=-c)
            elif op == "mul":
                out = cx.emit("scale", [cx.node_of(a)], c=c)
            else:
                if c == 0:
                    raise cx.unsupported("a division by the constant 0")
                out = cx.emit("scale", [cx.node_of(a)], c=1 / c)
        elif isinstance(b, Sym) and _scalar(a) and not isinstance(a, Sym) and op in ("add", "mul"):
            return rule(cx, b, a)
        elif op in ("add", "sub"):
            out = cx.emit(op, [_raw(cx, a), _raw(cx, b)])
        else:
            out = cx.emit(op, [cx.node_of(a), cx.node_of(b)])
        out.neg_inf = mask
        return out
    return rule


def _scale(cx: Convert, x: Sym, c: sp.Expr) -> Sym:
    return cx.emit("scale", [cx.node_of(x)], c=c)


for _name, _op in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("div", "div")):
    aten_rule(f"aten.{_name}.Tensor", f"aten.{_name}.Scalar")(_binary(_op))


@aten_rule("aten.rsub.Scalar", "aten.rsub.Tensor")
def _rsub(cx: Convert, a: Any, b: Any, alpha: Any = 1) -> Sym:
    return _binary("add")(cx, _scale(cx, a, sp.Integer(-1) * exact(alpha)), b)


@aten_rule("aten.neg.default")
def _neg(cx: Convert, x: Any) -> Sym:
    return _scale(cx, x, sp.Integer(-1))


# ---------------------------------------------------------------- elementwise functions
_POINTWISE = {"aten.exp.default": "exp", "aten.log.default": "log", "aten.sqrt.default": "sqrt",
              "aten.rsqrt.default": "rsqrt", "aten.reciprocal.default": "reciprocal"}


def _pointwise(fn: str):
    def rule(cx: Convert, x: Any) -> Sym:
        return cx.emit("pointwise", [cx.node_of(x)], fn=fn)
    return rule


for _name, _fn in _POINTWISE.items():
    aten_rule(_name)(_pointwise(_fn))


@aten_rule("aten.pow.Tensor_Scalar")
def _pow(cx: Convert, x: Any, c: Any) -> Sym:
    e = exact(c)
    if e == 1:
        return x
    return cx.emit("pointwise", [cx.node_of(x)], fn="pow", c=e)


def _act(name: str, **params: Any):
    def rule(cx: Convert, x: Any, *rest: Any, **kw: Any) -> Sym:
        return cx.emit("activation", [cx.node_of(x)], activation=activation(name, **params))
    return rule


for _name in ("tanh", "sigmoid", "relu", "silu"):
    aten_rule(f"aten.{_name}.default")(_act(_name))


@aten_rule("aten.gelu.default")
def _gelu(cx: Convert, x: Any, approximate: str = "none") -> Sym:
    if approximate == "none":
        return cx.emit("activation", [cx.node_of(x)], activation=activation("gelu"))
    if approximate != "tanh":
        raise cx.unsupported(f"gelu(approximate={approximate!r})")
    # 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), PyTorch's tanh approximation, built from its operations
    n = cx.node_of(x)
    cube = cx.emit("pointwise", [n], fn="pow", c=sp.Integer(3))
    inner = cx.emit("add", [n, cx.emit("scale", [cube.id], c=sp.Rational(0.044715)).id])
    t = cx.emit("activation", [cx.emit("scale", [inner.id], c=sp.sqrt(2 / sp.pi)).id], activation=activation("tanh"))
    return cx.emit("mul", [cx.emit("scale", [n], c=sp.Rational(1, 2)).id, cx.emit("shift", [t.id], c=sp.Integer(1)).id])


@aten_rule("aten.softplus.default")
def _softplus(cx: Convert, x: Any, beta: Any = 1, threshold: Any = 20) -> Sym:
    """``log(1 + e^(β·x))/β``.  PyTorch returns ``x`` where ``β·x > threshold`` (20): there the two differ by less
    than ``e^(-20)/β`` in value and ``e^(-20)`` in slope, a float shortcut of the same function, as the earlier
    front end took it (kept whole: its decomposition is a ``where`` on the data)."""
    b = exact(beta)
    if b <= 0:
        raise cx.unsupported(f"softplus(beta={beta})")
    n = cx.node_of(x) if b == 1 else cx.emit("scale", [cx.node_of(x)], c=b).id
    out = cx.emit("activation", [n], activation=activation("softplus"))
    return out if b == 1 else cx.emit("scale", [out.id], c=1 / b)


@aten_rule("aten.leaky_relu.default")
def _leaky(cx: Convert, x: Any, slope: Any = 0.01) -> Sym:
    return cx.emit("activation", [cx.node_of(x)], activation=activation("leaky_relu", slope=slope))


@aten_rule("aten.elu.default")
def _elu(cx: Convert, x: Any, alpha: Any = 1, scale: Any = 1, input_scale: Any = 1) -> Sym:
    if scale != 1 or input_scale != 1:
        raise cx.unsupported("elu with scale/input_scale (selu)")
    return cx.emit("activation", [cx.node_of(x)], activation=activation("elu", alpha=alpha))


# ---------------------------------------------------------------- identities and values that ignore the data
@aten_rule("aten.clone.default", "aten.alias.default", "aten.contiguous.default", "aten.detach.default",
           "aten.lift_fresh_copy.default")
def _same(cx: Convert, x: Any, *rest: Any, **kw: Any) -> Any:
    return x


@aten_rule("aten._to_copy.default")
def _to_copy(cx: Convert, x: Any, *, dtype: Any = None, **kw: Any) -> Any:
    if isinstance(x, Sym) and dtype is not None and not dtype.is_floating_point:
        raise cx.unsupported(f"a conversion of a computed value to {dtype}")
    return x


@aten_rule("aten.full_like.default", "aten.zeros_like.default", "aten.ones_like.default", "aten.empty_like.default")
def _like(cx: Convert, x: Any, *args: Any, **kw: Any) -> torch.Tensor:
    fill = {"aten.zeros_like.default": 0, "aten.ones_like.default": 1, "aten.empty_like.default": 0}.get(
        str(cx.node.target), args[0] if args else 0)  # type: ignore[union-attr]
    dtype = kw.get("dtype") or torch.float64
    return torch.full(cx.shape(x), fill, dtype=dtype)


@aten_rule("aten.eq.Scalar")
def _eq_scalar(cx: Convert, x: Any, c: Any) -> torch.Tensor:
    """``x == -inf`` of a masked value: the mask itself (every other entry is a finite real)."""
    if isinstance(x, Sym) and isinstance(c, float) and c == float("-inf"):
        shape = cx.shape(x)
        return torch.zeros(shape, dtype=torch.bool) if x.neg_inf is None else torch.broadcast_to(x.neg_inf, shape).clone()
    raise cx.unsupported("a comparison of a computed value (the graph has no data-dependent branches)")


# ---------------------------------------------------------------- rearrangements: the op applied to positions
def _positions(cx: Convert, x: Any) -> torch.Tensor:
    shape = cx.shape(x)
    return torch.arange(int(np.prod(shape)) if shape else 1).reshape(shape)


def _rearranged(cx: Convert, x: Sym, pos: torch.Tensor, mask: torch.Tensor | None) -> Sym:
    """``x`` rearranged so that output entry ``i`` is input entry ``pos[i]`` (flat positions)."""
    shape = tuple(pos.shape)
    n = int(np.prod(cx.shape(x))) if cx.shape(x) else 1
    flat = pos.reshape(-1)
    if flat.numel() == n and bool(torch.equal(flat, torch.arange(n))):
        out = Sym(_raw(cx, x)) if cx.shape(x) == shape else cx.emit("rearrange", [_raw(cx, x)], kind="reshape",
                                                                     shape=shape)
    else:
        flat_x = cx.emit("rearrange", [_raw(cx, x)], kind="reshape", shape=(n,))
        out = cx.emit("rearrange", [flat_x.id], kind="getitem", index=(pos.numpy(),))
    out.neg_inf = mask
    return out


def _shape_op(cx: Convert, x: Any, *args: Any, **kw: Any) -> Any:
    """view, reshape, unsqueeze, squeeze, slice, select, index with constant indices, split ...: PyTorch's own
    op applied to the positions of ``x`` says where every output entry comes from."""
    target: Any = cx.node.target  # type: ignore[union-attr]
    if any(isinstance(a, (Sym, Tokens)) for a in list(args) + list(kw.values()) if not isinstance(a, (list, tuple))) or \
            any(isinstance(e, (Sym, Tokens)) for a in args if isinstance(a, (list, tuple)) for e in a):
        raise cx.unsupported("indexing with computed indices")
    if isinstance(x, Tokens):
        res = target(x.pos, *args, **kw)
        return [Tokens(x.index, r) for r in res] if isinstance(res, (list, tuple)) else Tokens(x.index, res)
    if not isinstance(x, Sym):
        raise cx.unsupported(f"a non-tensor operand {x!r}")
    pos = target(_positions(cx, x), *args, **kw)
    masks = None if x.neg_inf is None else target(torch.broadcast_to(x.neg_inf, cx.shape(x)).clone(), *args, **kw)
    if isinstance(pos, (list, tuple)):
        return [_rearranged(cx, x, p, None if masks is None else m) for p, m in zip(pos, masks or [None] * len(pos))]
    return _rearranged(cx, x, pos, masks)


for _name in ("view.default", "_unsafe_view.default", "reshape.default", "unsqueeze.default", "squeeze.dim",
              "squeeze.dims", "squeeze.default", "slice.Tensor", "select.int", "index.Tensor", "split_with_sizes.default",
              "split.Tensor", "unbind.int", "flatten.using_ints", "narrow.default", "as_strided.default",
              "transpose.int", "t.default"):
    aten_rule(f"aten.{_name}")(_shape_op)


@aten_rule("aten.permute.default")
def _permute(cx: Convert, x: Any, dims: Sequence[int]) -> Any:
    if not isinstance(x, Sym):
        return _shape_op(cx, x, dims)
    n = len(cx.shape(x))
    perm = tuple(int(d) % n for d in dims)
    if perm == tuple(range(n)):
        return x
    out = cx.emit("rearrange", [_raw(cx, x)], kind="permute", perm=perm)
    out.neg_inf = None if x.neg_inf is None else torch.broadcast_to(x.neg_inf, cx.shape(x)).permute(perm).clone()
    return out


@aten_rule("aten.expand.default")
def _expand(cx: Convert, x: Any, size: Sequence[int], *, implicit: bool = False) -> Any:
    if not isinstance(x, Sym):
        return _shape_op(cx, x, size)
    shape = cx.out_shape
    if shape == cx.shape(x):
        return x
    out = cx.emit("rearrange", [_raw(cx, x)], kind="expand", shape=shape)
    out.neg_inf = None if x.neg_inf is None else torch.broadcast_to(x.neg_inf, shape).clone()
    return out


@aten_rule("aten.cat.default")
def _cat(cx: Convert, tensors: Sequence[Any], dim: int = 0) -> Sym:
    if any(isinstance(t, Sym) and t.neg_inf is not None for t in tensors):
        raise cx.unsupported("a concatenation of masked values")
    parts = [t for t in tensors if not (isinstance(t, torch.Tensor) and t.numel() == 0)]  # cat skips empty tensors
    return cx.emit("cat", [cx.node_of(t) for t in parts], axis=int(dim) % len(cx.out_shape))


@aten_rule("aten.where.self")
def _where(cx: Convert, cond: Any, a: Any, b: Any) -> Sym:
    if not isinstance(cond, torch.Tensor):
        raise cx.unsupported("where with a computed condition (a data-dependent branch)")
    masks = []
    for v in (a, b):
        masks.append(v.neg_inf if isinstance(v, Sym) else None)
    if isinstance(a, torch.Tensor):
        a, ma = _finite_part(a)
        masks.append(None if ma is None else (cond & ma))
    if isinstance(b, torch.Tensor):
        b, mb = _finite_part(b)
        masks.append(None if mb is None else (~cond & mb))
    shape = cx.out_shape
    cond_np = torch.broadcast_to(cond, shape).numpy() if cond.dim() else np.full(shape, bool(cond))
    keep = [m for m in masks[:2]]
    if any(m is not None for m in keep):  # a mask carried by a selected operand survives where it is selected
        ma = None if keep[0] is None else (torch.from_numpy(cond_np) & torch.broadcast_to(keep[0], shape))
        mb = None if keep[1] is None else (~torch.from_numpy(cond_np) & torch.broadcast_to(keep[1], shape))
        masks = [ma, mb] + masks[2:]
    out = cx.emit("select", [_raw(cx, a), _raw(cx, b)], cond=cond_np)
    out.neg_inf = _mask_or(shape, *masks)
    return out


# ---------------------------------------------------------------- contractions
def _transposed_param(cx: Convert, b: Any) -> int | None:
    """The parameter ``W`` when ``b`` is ``W`` permuted (1, 0) (``nn.Linear``'s ``x @ Wᵀ``), else None."""
    if not isinstance(b, Sym):
        return None
    node = cx.graph.nodes[b.id]
    if node.op == "rearrange" and node.attrs.get("kind") == "permute" and node.attrs.get("perm") == (1, 0):
        src = node.inputs[0]
        if src is not None and cx.graph.nodes[src].op == "param":
            return src
    return None


def _mm(cx: Convert, a: Any, b: Any, bias: Any = None) -> Sym:
    w = _transposed_param(cx, b)
    if w is not None and len(cx.shape(a)) == 2:  # x @ Wᵀ (+ b): the linear op (lumping and LaTeX know it)
        bias_id = None
        if bias is not None:
            if len(cx.shape(bias)) != 1:
                return cx.emit("add", [cx.node_of(bias), _mm(cx, a, b).id])
            bias_id = cx.node_of(bias)
        return cx.emit("linear", [cx.node_of(a), w, bias_id])
    out = cx.emit("matmul", [cx.node_of(a), cx.node_of(b)])
    return out if bias is None else cx.emit("add", [out.id, cx.node_of(bias)])


@aten_rule("aten.mm.default", "aten.bmm.default", "aten.matmul.default", "aten.mv.default")
def _matmul(cx: Convert, a: Any, b: Any) -> Sym:
    return _mm(cx, a, b)


@aten_rule("aten.addmm.default")
def _addmm(cx: Convert, bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Sym:
    if beta != 1 or alpha != 1:
        raise cx.unsupported(f"addmm with beta={beta}, alpha={alpha}")
    return _mm(cx, a, b, bias)


@aten_rule("aten.embedding.default")
def _embedding(cx: Convert, weight: Any, ids: Any, padding_idx: int = -1, scale_grad_by_freq: bool = False,
               sparse: bool = False) -> Sym:
    """Rows of ``weight``: at constant ids (positions) a selection; at token ids ``onehot(ids) @ W``
    (:mod:`symderiv.graph.tokens`).  ``padding_idx``: PyTorch gives that row no gradient, so it is used
    through a gradient stop."""
    if scale_grad_by_freq:
        raise cx.unsupported("embedding with scale_grad_by_freq=True")
    w = cx.node_of(weight)
    rows, _ = cx.graph.nodes[w].shape
    if padding_idx is not None and padding_idx >= 0:
        cond = np.zeros((rows, 1), dtype=bool)
        cond[padding_idx % rows] = True
        w = cx.emit("select", [cx.emit("detach", [w]).id, w], cond=cond).id
    if isinstance(ids, torch.Tensor):
        return cx.emit("rearrange", [w], kind="getitem", index=(ids.numpy(),))
    if not isinstance(ids, Tokens):
        raise cx.unsupported("embedding with computed indices")
    one_hot = cx.graph.input_nodes[ids.index]
    flat = cx.emit("rearrange", [one_hot], kind="reshape", shape=(-1, rows))
    picked = cx.emit("rearrange", [flat.id], kind="getitem", index=(ids.pos.numpy(),))
    return cx.emit("matmul", [picked.id, w])


# ---------------------------------------------------------------- softmax, reductions, normalization
@aten_rule("aten._softmax.default", "aten.softmax.int")
def _softmax(cx: Convert, x: Any, dim: int, half_to_float: Any = False) -> Sym:
    n = len(cx.shape(x))
    mask = None
    if isinstance(x, Sym) and x.neg_inf is not None:
        mask = torch.broadcast_to(x.neg_inf, cx.shape(x)).numpy().copy()
    return cx.emit("softmax", [_raw(cx, x)], axis=int(dim) % n, **({"mask": mask} if mask is not None else {}))


@aten_rule("aten._log_softmax.default")
def _log_softmax(cx: Convert, x: Any, dim: int, half_to_float: Any = False) -> Sym:
    p = cx.emit("softmax", [cx.node_of(x)], axis=int(dim) % len(cx.shape(x)))
    return cx.emit("pointwise", [p.id], fn="log")


def _reduce(op: str):
    def rule(cx: Convert, x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Sym:
        n = len(cx.shape(x))
        axis = None if dim is None or (isinstance(dim, (list, tuple)) and not dim) else \
            tuple(int(d) % n for d in (dim if isinstance(dim, (list, tuple)) else (dim,)))
        return cx.emit(op, [cx.node_of(x)], axis=axis, keepdim=bool(keepdim) if axis is not None else False)
    return rule


aten_rule("aten.mean.dim", "aten.mean.default")(_reduce("mean"))
aten_rule("aten.sum.dim_IntList", "aten.sum.default")(_reduce("sum"))


@aten_rule("aten.native_layer_norm.default")
def _layer_norm(cx: Convert, x: Any, shape: Sequence[int], weight: Any, bias: Any, eps: float) -> tuple:
    out = cx.emit("layer_norm", [cx.node_of(x), None if weight is None else cx.node_of(weight),
                                 None if bias is None else cx.node_of(bias)],
                  n_axes=len(shape), eps=exact(float(eps)), rms=False)
    return (out, None, None)  # mean and rstd: not graph values (used only by the decomposed backward)


@aten_rule("aten.convolution.default")
def _convolution(cx: Convert, x: Any, w: Any, b: Any, stride: Sequence[int], padding: Sequence[int],
                 dilation: Sequence[int], transposed: bool, output_padding: Any, groups: int) -> Sym:
    if transposed or any(d != 1 for d in dilation):
        raise cx.unsupported("a transposed or dilated convolution")
    shape = cx.shape(x)
    if shape[0] != 1:
        raise cx.unsupported("a convolution of a tensor whose batch axis is not first")
    tx = cx.reshape(x, shape[1:]).id
    tw, tb = cx.node_of(w), None if b is None else cx.node_of(b)
    stride, padding = tuple(int(s) for s in stride), tuple(int(p) for p in padding)
    if groups == 1:
        out = cx.emit("conv", [tx, tw, tb], stride=stride, padding=padding)
    else:  # groups > 1: the groups' convolutions on slices of the same tensors, concatenated
        channels, filters = cx.graph.nodes[tx].shape[0], cx.graph.nodes[tw].shape[0]
        ci, co = channels // groups, filters // groups
        parts = []
        for k in range(groups):
            def part(t: int, size: int) -> int:
                return cx.emit("rearrange", [t], kind="getitem", index=(slice(k * size, (k + 1) * size),)).id
            parts.append(cx.emit("conv", [part(tx, ci), part(tw, co), None if tb is None else part(tb, co)],
                                 stride=stride, padding=padding).id)
        out = cx.emit("cat", parts, axis=0)
    return cx.reshape(out, cx.out_shape)


__all__ += []
_ = ATEN  # the table this module fills
