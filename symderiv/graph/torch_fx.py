"""PyTorch modules -> :class:`~symderiv.graph.ir.Graph`, through ``torch.fx.symbolic_trace``.

Any module whose ``forward`` is built from supported operations works (custom ``forward``
methods, not only ``nn.Sequential``).  Every traced node is mapped by a registry
(call_module by module class, call_function by function, call_method by method name); an
unsupported one raises :class:`~symderiv.errors.UnsupportedError` naming the op and the
module path, never a silent approximation.  Shapes are propagated by PyTorch itself at two
batch sizes: every node must keep the batch as its leading axis (or not depend on the
example at all, like ``W.t()``), and every mapped node must have PyTorch's shape.

Parameters keep their ``named_parameters()`` names and order; ``requires_grad=False``
makes one frozen (a constant of the graph); buffers are frozen constants too.
"""
from __future__ import annotations

import contextlib
import inspect
import io
import itertools
import operator
from typing import Any, Callable, Sequence

import numpy as np
import sympy as sp

from ..activations import activation
from ..errors import InternalError, NetworkError, UnsupportedError
from .ir import Graph
from .norms import batch_norm_scale

try:
    import torch
    import torch.fx
    import torch.nn.functional as F
    from torch import nn
except ImportError as exc:  # pragma: no cover
    raise UnsupportedError("symderiv.graph.torch_fx needs PyTorch: pip install 'symderiv[torch]'") from exc

__all__ = ["graph_from_module", "SUPPORTED"]

_BATCHES = (2, 3)


class _Ctx:
    """The state of one conversion: the graph, torch node -> graph node (or a plain value),
    which graph nodes depend on the example (carry a batch axis in PyTorch), shapes."""

    def __init__(self, module: "nn.Module", graph: Graph, metas: list[dict]):
        self.module = module
        self.graph = graph
        self.env: dict[str, Any] = {}
        self.batched: dict[int, bool] = {}
        self.metas = metas
        self.node: "torch.fx.Node | None" = None
        self.names = {id(p): n for n, p in module.named_parameters()}
        self.dtype: "torch.dtype" = torch.float64  # the module's parameter dtype (set by graph_from_module)

    # -------------------------------------------------------- helpers for the rules
    @property
    def current(self) -> "torch.fx.Node":
        """The torch node being converted."""
        if self.node is None:
            raise InternalError("no torch node is being converted")
        return self.node

    @property
    def where(self) -> str:
        n = self.current
        target = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", str(n.target))
        return f"{n.op} {target} (node {n.name})"

    def unsupported(self, what: str) -> UnsupportedError:
        return UnsupportedError(f"{what} at {self.where} is not supported by symderiv.graph")

    def value(self, arg: Any) -> Any:
        if isinstance(arg, torch.fx.Node):
            return self.env[arg.name]
        if isinstance(arg, (list, tuple)):
            return type(arg)(self.value(a) for a in arg)
        return arg

    def tensor(self, arg: Any) -> int:
        v = self.value(arg)
        if not isinstance(v, _T):
            raise self.unsupported(f"a non-tensor operand {v!r}")
        return v.id

    def is_batched(self, nid: int) -> bool:
        return self.batched[nid]

    def ndim(self, nid: int) -> int:
        return len(self.graph.nodes[nid].shape)

    def dim(self, nid: int, d: int) -> int:
        """A PyTorch dim of node ``nid`` as an axis of the unbatched tensor."""
        full = self.ndim(nid) + (1 if self.is_batched(nid) else 0)
        if not -full <= d < full:
            raise self.unsupported(f"dim {d}")
        d %= full
        if self.is_batched(nid):
            if d == 0:
                raise self.unsupported("an operation along the batch axis")
            d -= 1
        return d

    def emit(self, op: str, inputs: Sequence[int | None], **attrs: Any) -> "_T":
        where = f"{self.current.name}"
        nid = self.graph.op(op, list(inputs), where=where, **attrs)
        self.batched[nid] = any(i is not None and self.batched[i] for i in inputs)
        return _T(nid)

    def meta_shape(self) -> tuple[int, ...]:
        return _meta_shape(self)


class _T:
    """A graph node standing for a torch tensor during conversion."""

    def __init__(self, nid: int):
        self.id = nid


def _exact(c: Any) -> sp.Rational:
    if isinstance(c, bool) or not isinstance(c, (int, float)):
        raise UnsupportedError(f"constant {c!r}: only int and float constants are supported")
    return sp.Integer(c) if isinstance(c, int) else sp.Rational(c)


# ---------------------------------------------------------------- arithmetic with constants
def _binary(op: str):
    def rule(ctx: _Ctx, a: Any, b: Any, *rest, **kw) -> _T:
        if rest or kw.get("alpha", 1) != 1:
            raise ctx.unsupported("an alpha/extra argument")
        va, vb = ctx.value(a), ctx.value(b)
        ta, tb = isinstance(va, _T), isinstance(vb, _T)
        if ta and tb:
            return ctx.emit(op, [va.id, vb.id])
        if not (ta or tb):  # sizes and scales: plain Python numbers
            return _number_op(_PY_OPS[op])(ctx, va, vb)
        t, c = (va, vb) if ta else (vb, va)
        c = _exact(c)
        if op == "add":
            return ctx.emit("shift", [t.id], c=c)
        if op == "mul":
            return ctx.emit("scale", [t.id], c=c)
        if op == "sub":
            if ta:
                return ctx.emit("shift", [t.id], c=-c)
            neg = ctx.emit("scale", [t.id], c=sp.Integer(-1))
            return ctx.emit("shift", [neg.id], c=c)
        if op == "div" and ta:
            if c == 0:
                raise ctx.unsupported("division by the constant 0")
            return ctx.emit("scale", [t.id], c=1 / c)
        raise ctx.unsupported("a constant divided by a tensor")
    return rule


_PY_OPS: dict[str, Callable[[Any, Any], Any]] = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
                                                  "div": operator.truediv}


#: per activation function: its PyTorch arguments after the input, in order, with the values symderiv
#: supports (None = any value, passed on as the activation's parameter of the given name)
_ACT_ARGS: dict[str, tuple[tuple[str, object, str | None], ...]] = {
    "relu": (("inplace", False, None),),
    "tanh": (),
    "sigmoid": (),
    "silu": (("inplace", False, None),),
    "gelu": (("approximate", "none", None),),
    "softplus": (("beta", 1, None), ("threshold", 20, None)),
    "leaky_relu": (("negative_slope", None, "slope"), ("inplace", False, None)),
    "elu": (("alpha", None, "alpha"), ("inplace", False, None)),
}
_ACT_DEFAULTS = {"leaky_relu": {"negative_slope": 0.01}, "elu": {"alpha": 1.0}}


def _act(name: str):
    def rule(ctx: _Ctx, x: Any, *rest, **kw) -> _T:
        spec = _ACT_ARGS[name]
        if len(rest) > len(spec) or set(kw) - {a for a, _, _ in spec}:
            raise ctx.unsupported(f"{name} with arguments {rest or ''}{kw or ''}")
        given = dict(_ACT_DEFAULTS.get(name, {}))
        given.update({a: v for (a, _, _), v in zip(spec, rest)})
        given.update(kw)
        params = {}
        for arg, allowed, param in spec:
            if arg not in given:
                continue
            if param is not None:
                params[param] = given[arg]
            elif given[arg] != allowed:
                raise ctx.unsupported(f"{name}({arg}={given[arg]!r}); only {arg}={allowed!r}")
        return ctx.emit("activation", [ctx.tensor(x)], activation=activation(name, **params))
    return rule


def _matmul(ctx: _Ctx, a: Any, b: Any) -> _T:
    return ctx.emit("matmul", [ctx.tensor(a), ctx.tensor(b)])


def _linear(ctx: _Ctx, x: Any, w: Any, b: Any = None) -> _T:
    return ctx.emit("linear", [ctx.tensor(x), ctx.tensor(w), None if b is None else ctx.tensor(b)])


def _softmax(ctx: _Ctx, x: Any, dim: Any = None, *rest, **kw) -> _T:
    dim = kw.get("dim", dim)
    if dim is None:
        raise ctx.unsupported("softmax without dim")
    t = ctx.tensor(x)
    return ctx.emit("softmax", [t], axis=ctx.dim(t, dim))


def _reshape(ctx: _Ctx, x: Any, *args, **kw) -> _T:
    # the target shape is PyTorch's own (propagated), checked to keep the batch axis
    t = ctx.tensor(x)
    return ctx.emit("rearrange", [t], kind="reshape", shape=ctx.meta_shape())


def _identity(ctx: _Ctx, x: Any, *args, **kw) -> _T:
    return ctx.value(x)


def _transpose(ctx: _Ctx, x: Any, d0: int | None = None, d1: int | None = None, **kw) -> _T:
    t = ctx.tensor(x)
    n = ctx.ndim(t)
    d0, d1 = kw.get("dim0", d0), kw.get("dim1", d1)  # transpose(dim0=1, dim1=2) is not .t()
    if d0 is None and d1 is None:  # .t()
        if ctx.is_batched(t) or n > 2:
            raise ctx.unsupported(".t() of a batched tensor")
        d0, d1 = 0, n - 1
    if d0 is None or d1 is None:
        raise ctx.unsupported("a transpose naming one dim")
    a, b = ctx.dim(t, d0), ctx.dim(t, d1)
    perm = list(range(n))
    perm[a], perm[b] = perm[b], perm[a]
    return ctx.emit("rearrange", [t], kind="permute", perm=tuple(perm))


def _permute(ctx: _Ctx, x: Any, *args: Any, **kw) -> _T:
    t = ctx.tensor(x)
    dims: Sequence[Any] = kw.get("dims", args)
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = dims[0]
    if ctx.is_batched(t):
        if dims[0] % (ctx.ndim(t) + 1) != 0:
            raise ctx.unsupported("a permutation moving the batch axis")
        dims = dims[1:]
    return ctx.emit("rearrange", [t], kind="permute", perm=tuple(ctx.dim(t, d) for d in dims))


def _getitem(ctx: _Ctx, x: Any, index: Any) -> Any:
    v = ctx.value(x)
    if not isinstance(v, _T):  # a shape, or the tuple of a split/chunk
        return v[ctx.value(index)]
    index = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, (torch.fx.Node, torch.Tensor, list)) for i in index):
        raise ctx.unsupported("indexing with a tensor or list")
    if ctx.is_batched(v.id):
        if not index or not (index[0] == slice(None) or index[0] is Ellipsis):
            raise ctx.unsupported("indexing the batch axis")
        index = index if index[0] is Ellipsis else index[1:]
    return ctx.emit("rearrange", [v.id], kind="getitem", index=tuple(index))


def _cat(ctx: _Ctx, tensors: Any, dim: int = 0, **kw) -> _T:
    ids = [ctx.tensor(t) for t in tensors]
    return ctx.emit("cat", ids, axis=ctx.dim(ids[0], kw.get("dim", dim)))


def _reduce(op: str):
    def rule(ctx: _Ctx, x: Any, dim: Any = None, keepdim: bool = False, **kw) -> _T:
        dim, keepdim = kw.get("dim", dim), kw.get("keepdim", keepdim)
        if "dtype" in kw:
            raise ctx.unsupported("a dtype argument")
        t = ctx.tensor(x)
        if dim is None:
            if ctx.is_batched(t):
                raise ctx.unsupported(f"{op} over the batch axis")
            return ctx.emit(op, [t], axis=None, keepdim=False)
        dims = tuple(ctx.dim(t, d) for d in (dim if isinstance(dim, (list, tuple)) else (dim,)))
        return ctx.emit(op, [t], axis=dims, keepdim=bool(keepdim))
    return rule


def _conv(ctx: _Ctx, x: Any, w: Any, b: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1,
          groups: int = 1, **kw) -> _T:
    stride, padding = kw.get("stride", stride), kw.get("padding", padding)
    dilation, groups = kw.get("dilation", dilation), kw.get("groups", groups)
    tw = ctx.tensor(w)
    n = ctx.ndim(tw) - 2
    if any(d != 1 for d in _tuple(dilation, n)):
        raise ctx.unsupported(f"a convolution with dilation={dilation}")
    if isinstance(padding, str):
        if padding != "valid":
            raise ctx.unsupported(f"padding={padding!r}")
        padding = 0
    tx = ctx.tensor(x)
    if not ctx.is_batched(tx):
        raise ctx.unsupported("a convolution of a tensor without batch axis")
    return _emit_conv(ctx, tx, tw, None if b is None else ctx.tensor(b), _tuple(stride, n), _tuple(padding, n),
                      int(groups))


def _emit_conv(ctx: _Ctx, tx: int, tw: int, tb: int | None, stride: tuple[int, ...], padding: tuple[int, ...],
               groups: int) -> _T:
    """A convolution; ``groups > 1`` (grouped, depthwise) as the ``groups`` convolutions it is: input channels
    ``g·C/G …`` with weight rows ``g·O/G …`` (slices of the same parameters), concatenated along the channels."""
    if groups == 1:
        return ctx.emit("conv", [tx, tw, tb], stride=stride, padding=padding)
    channels, out = ctx.graph.nodes[tx].shape[0], ctx.graph.nodes[tw].shape[0]
    if groups < 1 or channels % groups or out % groups:
        raise ctx.unsupported(f"groups={groups} for {channels} input and {out} output channels")
    ci, co = channels // groups, out // groups
    parts = []
    for k in range(groups):
        xk = _slice_along(ctx, tx, 0, k * ci, (k + 1) * ci).id
        wk = _slice_along(ctx, tw, 0, k * co, (k + 1) * co).id
        bk = None if tb is None else _slice_along(ctx, tb, 0, k * co, (k + 1) * co).id
        parts.append(ctx.emit("conv", [xk, wk, bk], stride=stride, padding=padding).id)
    return ctx.emit("cat", parts, axis=0)


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else (int(v),) * n


class _BatchSize:
    """The batch size (unknown while tracing): only ever read to build a view's shape; arithmetic
    with it stays a batch size."""

    def __repr__(self) -> str:
        return "batch"


_BATCH = _BatchSize()


class _Shape(tuple):
    """``x.shape`` / ``x.size()`` of a traced tensor: PyTorch's sizes, with the batch size unknown."""


def _shape_of(ctx: _Ctx, nid: int) -> _Shape:
    shape = ctx.graph.nodes[nid].shape
    return _Shape(((_BATCH,) if ctx.is_batched(nid) else ()) + tuple(shape))


def _size(ctx: _Ctx, x: Any, dim: Any = None, **kw) -> Any:
    dim = ctx.value(kw.get("dim", dim))
    shape = _shape_of(ctx, ctx.tensor(x))
    return shape if dim is None else shape[dim]


def _getattr(ctx: _Ctx, x: Any, name: str) -> Any:
    if name == "shape":
        return _shape_of(ctx, ctx.tensor(x))
    if name == "ndim":
        return len(_shape_of(ctx, ctx.tensor(x)))
    raise ctx.unsupported(f"the attribute .{name}")


def _number_op(fn: Callable[[Any, Any], Any]):
    """Arithmetic between plain numbers (sizes, scales) while tracing: computed right here."""
    def rule(ctx: _Ctx, a: Any, b: Any) -> Any:
        va, vb = ctx.value(a), ctx.value(b)
        if isinstance(va, _BatchSize) or isinstance(vb, _BatchSize):
            return _BATCH
        if isinstance(va, _T) or isinstance(vb, _T):
            raise ctx.unsupported("this arithmetic on a tensor")
        return fn(va, vb)
    return rule


def _neg(ctx: _Ctx, x: Any) -> _T:
    return ctx.emit("scale", [ctx.tensor(x)], c=sp.Integer(-1))


# ---------------------------------------------------------------- splits, attention, normalization, pointwise
def _slice_along(ctx: _Ctx, t: int, axis: int, start: int, stop: int | None, keep: bool = True) -> _T:
    index: tuple = (slice(None),) * axis + ((slice(start, stop),) if keep else (start,))
    return ctx.emit("rearrange", [t], kind="getitem", index=index)


def _split(ctx: _Ctx, x: Any, split_size: Any, dim: int = 0, **kw) -> tuple:
    split_size = ctx.value(kw.get("split_size_or_sections", kw.get("split_size", split_size)))
    dim = ctx.value(kw.get("dim", dim))
    t = ctx.tensor(x)
    axis = ctx.dim(t, dim)
    n = ctx.graph.nodes[t].shape[axis]
    sizes = [int(v) for v in split_size] if isinstance(split_size, (list, tuple)) else \
        [min(int(split_size), n - k) for k in range(0, n, int(split_size))]
    if sum(sizes) != n or any(v < 0 for v in sizes):
        raise ctx.unsupported(f"split sizes {sizes} of an axis of length {n}")
    out, start = [], 0
    for size in sizes:
        out.append(_slice_along(ctx, t, axis, start, start + size))
        start += size
    return tuple(out)


def _chunk(ctx: _Ctx, x: Any, chunks: int, dim: int = 0, **kw) -> tuple:
    chunks, dim = ctx.value(kw.get("chunks", chunks)), ctx.value(kw.get("dim", dim))
    t = ctx.tensor(x)
    n = ctx.graph.nodes[t].shape[ctx.dim(t, dim)]
    return _split(ctx, x, -(-n // int(chunks)), dim)  # PyTorch: chunks of ceil(n / chunks)


def _unbind(ctx: _Ctx, x: Any, dim: int = 0, **kw) -> tuple:
    t = ctx.tensor(x)
    axis = ctx.dim(t, ctx.value(kw.get("dim", dim)))
    return tuple(_slice_along(ctx, t, axis, k, None, keep=False) for k in range(ctx.graph.nodes[t].shape[axis]))


def _swap_last(ctx: _Ctx, t: int) -> int:
    n = ctx.ndim(t)
    perm = list(range(n))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return ctx.emit("rearrange", [t], kind="permute", perm=tuple(perm)).id


def _attention(ctx: _Ctx, q: int, k: int, v: int, scale: sp.Expr) -> _T:
    """softmax(q kᵀ · scale) v over the last axis (no mask)."""
    scores = ctx.emit("matmul", [q, _swap_last(ctx, k)])
    scaled = ctx.emit("scale", [scores.id], c=scale)
    weights = ctx.emit("softmax", [scaled.id], axis=ctx.ndim(scaled.id) - 1)
    return ctx.emit("matmul", [weights.id, v])


def _sdpa(ctx: _Ctx, q: Any, k: Any, v: Any, attn_mask: Any = None, dropout_p: float = 0.0,
          is_causal: bool = False, scale: Any = None, **kw) -> _T:
    attn_mask, dropout_p = kw.pop("attn_mask", attn_mask), kw.pop("dropout_p", dropout_p)
    is_causal, scale = kw.pop("is_causal", is_causal), kw.pop("scale", scale)
    if attn_mask is not None or is_causal:
        raise ctx.unsupported("scaled_dot_product_attention with a mask (attn_mask/is_causal)")
    if dropout_p:
        raise ctx.unsupported(f"scaled_dot_product_attention with dropout_p={dropout_p}")
    if kw.get("enable_gqa"):
        raise ctx.unsupported("scaled_dot_product_attention with enable_gqa=True")
    tq = ctx.tensor(q)
    e = ctx.graph.nodes[tq].shape[-1]
    c = 1 / sp.sqrt(sp.Integer(e)) if scale is None else _exact(scale)  # PyTorch's default 1/√E, exactly
    return _attention(ctx, tq, ctx.tensor(k), ctx.tensor(v), c)


def _f_layer_norm(ctx: _Ctx, x: Any, normalized_shape: Any, weight: Any = None, bias: Any = None,
                  eps: float = 1e-5, **kw) -> _T:
    weight, bias, eps = kw.get("weight", weight), kw.get("bias", bias), kw.get("eps", eps)
    n_axes = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    return ctx.emit("layer_norm", [ctx.tensor(x), None if weight is None else ctx.tensor(weight),
                                   None if bias is None else ctx.tensor(bias)],
                    n_axes=n_axes, eps=_exact(float(eps)), rms=False)


def _f_rms_norm(ctx: _Ctx, x: Any, normalized_shape: Any, weight: Any = None, eps: Any = None, **kw) -> _T:
    weight, eps = kw.get("weight", weight), kw.get("eps", eps)
    n_axes = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    eps = torch.finfo(ctx.dtype).eps if eps is None else eps
    return ctx.emit("layer_norm", [ctx.tensor(x), None if weight is None else ctx.tensor(weight)],
                    n_axes=n_axes, eps=_exact(float(eps)), rms=True)


def _f_dropout(ctx: _Ctx, x: Any, p: float = 0.5, training: bool = True, inplace: bool = False, **kw) -> _T:
    p, training = kw.get("p", p), kw.get("training", training)
    if training and p > 0:
        raise ctx.unsupported(f"dropout(p={p}) in training mode (call .eval(), or use p=0)")
    return ctx.value(x)


def _channels_first(ctx: _Ctx, x: Any, what: str) -> int:
    tx = ctx.tensor(x)
    if not ctx.is_batched(tx) or ctx.ndim(tx) < 1:
        raise ctx.unsupported(f"{what} of a tensor without batch and channel axes")
    return tx


def _f_group_norm(ctx: _Ctx, x: Any, num_groups: int, weight: Any = None, bias: Any = None, eps: float = 1e-5,
                  **kw) -> _T:
    num_groups = ctx.value(kw.get("num_groups", num_groups))
    weight, bias, eps = kw.get("weight", weight), kw.get("bias", bias), kw.get("eps", eps)
    tx = _channels_first(ctx, x, "group_norm")
    return ctx.emit("group_norm", [tx, None if weight is None else ctx.tensor(weight),
                                   None if bias is None else ctx.tensor(bias)],
                    groups=int(num_groups), eps=_exact(float(eps)))


def _pointwise(fn: str):
    def rule(ctx: _Ctx, x: Any, *rest, **kw) -> _T:
        if rest or kw:
            raise ctx.unsupported(f"{fn} with extra arguments")
        return ctx.emit("pointwise", [ctx.tensor(x)], fn=fn)
    return rule


def _pow(ctx: _Ctx, x: Any, exponent: Any, **kw) -> Any:
    v, e = ctx.value(x), ctx.value(kw.get("exponent", exponent))
    if not isinstance(v, _T):
        return _number_op(operator.pow)(ctx, v, e)
    if isinstance(e, _T):
        raise ctx.unsupported("a tensor exponent")
    c = _exact(e)
    if c == 1:
        return v
    return ctx.emit("pointwise", [v.id], fn="pow", c=c)


def _square(ctx: _Ctx, x: Any) -> _T:
    return ctx.emit("pointwise", [ctx.tensor(x)], fn="pow", c=sp.Integer(2))


def _same_value(ctx: _Ctx, x: Any, *args, **kw) -> Any:
    """``.float()``, ``.to(...)``, ``.type_as(...)``, ``.clone()``: the same exact value."""
    return ctx.value(x)


def _guard_none(ctx: _Ctx, value: Any, message: str = "") -> None:
    """fx's guard of an argument specialized to None (a default left in place): holds by construction."""
    if ctx.value(value) is not None:
        raise ctx.unsupported("an argument specialized to None that is not None")
    return None


def _guard(ctx: _Ctx, condition: Any, message: str = "") -> None:
    """fx's ``torch._assert`` guard of a specialized constant argument: must hold while converting."""
    if ctx.value(condition) is not True:
        raise ctx.unsupported(f"a failed or tensor-valued assertion ({message})")
    return None


_ACTIVATION_FUNCTIONS: dict[Callable, Callable] = {
    torch.relu: _act("relu"), F.relu: _act("relu"), torch.tanh: _act("tanh"), F.tanh: _act("tanh"),
    torch.sigmoid: _act("sigmoid"), F.sigmoid: _act("sigmoid"), F.gelu: _act("gelu"), F.silu: _act("silu"),
    F.softplus: _act("softplus"), F.leaky_relu: _act("leaky_relu"), F.elu: _act("elu"),
}

#: call_function targets
FUNCTIONS: dict[Callable, Callable] = {
    operator.add: _binary("add"), torch.add: _binary("add"), operator.sub: _binary("sub"), torch.sub: _binary("sub"),
    operator.mul: _binary("mul"), torch.mul: _binary("mul"), operator.truediv: _binary("div"),
    torch.div: _binary("div"), operator.neg: _neg, torch.neg: _neg,
    operator.matmul: _matmul, torch.matmul: _matmul, torch.bmm: _matmul, F.linear: _linear,
    F.softmax: _softmax, torch.softmax: _softmax, torch.cat: _cat, torch.concat: _cat,
    torch.transpose: _transpose, torch.reshape: _reshape, torch.flatten: _reshape, torch.permute: _permute,
    torch.unsqueeze: _reshape, torch.squeeze: _reshape,
    operator.getitem: _getitem, getattr: _getattr,
    operator.floordiv: _number_op(operator.floordiv), operator.pow: _pow, torch.pow: _pow,
    torch.split: _split, torch.chunk: _chunk, torch.unbind: _unbind,
    F.scaled_dot_product_attention: _sdpa, F.layer_norm: _f_layer_norm, F.dropout: _f_dropout,
    F.group_norm: _f_group_norm, operator.eq: _number_op(operator.eq), torch._assert: _guard,
    torch.exp: _pointwise("exp"), torch.log: _pointwise("log"), torch.sqrt: _pointwise("sqrt"),
    torch.rsqrt: _pointwise("rsqrt"), torch.reciprocal: _pointwise("reciprocal"), torch.square: _square,
    torch.sum: _reduce("sum"), torch.mean: _reduce("mean"), F.conv1d: _conv, F.conv2d: _conv,
    **_ACTIVATION_FUNCTIONS,
}


#: call_method targets
METHODS: dict[str, Callable] = {
    "add": _binary("add"), "sub": _binary("sub"), "mul": _binary("mul"), "div": _binary("div"),
    "matmul": _matmul, "t": _transpose, "transpose": _transpose, "permute": _permute,
    "view": _reshape, "reshape": _reshape, "flatten": _reshape, "unsqueeze": _reshape, "squeeze": _reshape,
    "contiguous": _identity, "softmax": _softmax, "size": _size, "sum": _reduce("sum"), "mean": _reduce("mean"),
    "relu": _act("relu"), "tanh": _act("tanh"), "sigmoid": _act("sigmoid"), "neg": _neg,
    "split": _split, "chunk": _chunk, "unbind": _unbind, "pow": _pow, "square": _square,
    "exp": _pointwise("exp"), "log": _pointwise("log"), "sqrt": _pointwise("sqrt"), "rsqrt": _pointwise("rsqrt"),
    "reciprocal": _pointwise("reciprocal"),
    "float": _same_value, "double": _same_value, "to": _same_value, "type_as": _same_value, "clone": _same_value,
}
if hasattr(F, "rms_norm"):
    FUNCTIONS[F.rms_norm] = _f_rms_norm
if hasattr(torch.fx._symbolic_trace, "_assert_is_none"):  # fx's guard of a None default (concrete_args)
    FUNCTIONS[torch.fx._symbolic_trace._assert_is_none] = _guard_none


# ---------------------------------------------------------------- modules
def _param_id(ctx: _Ctx, p: "torch.Tensor | None") -> int | None:
    if p is None:
        return None
    return _param_node(ctx, p)


def _param_node(ctx: _Ctx, p: "torch.Tensor") -> int:
    return ctx.graph.param_node(ctx.names[id(p)])


def _m_linear(ctx: _Ctx, m: "nn.Linear", x: Any) -> _T:
    return ctx.emit("linear", [ctx.tensor(x), _param_id(ctx, m.weight), _param_id(ctx, m.bias)])


def _m_conv(ctx: _Ctx, m: "nn.Conv1d", x: Any) -> _T:
    if m.padding_mode != "zeros":
        raise ctx.unsupported(f"padding_mode={m.padding_mode!r}")
    tx = ctx.tensor(x)
    n = len(m.kernel_size)
    if any(d != 1 for d in m.dilation):
        raise ctx.unsupported(f"{type(m).__name__} with dilation={m.dilation}")
    padding: str | int | tuple[int, ...] = m.padding
    if isinstance(padding, str):
        if padding != "valid":
            raise ctx.unsupported(f"padding={padding!r}")
        padding = 0
    return _emit_conv(ctx, tx, _param_node(ctx, m.weight), _param_id(ctx, m.bias), _tuple(m.stride, n),
                      _tuple(padding, n), int(m.groups))


def _m_layer_norm(ctx: _Ctx, m: "nn.LayerNorm", x: Any) -> _T:
    return ctx.emit("layer_norm", [ctx.tensor(x), _param_id(ctx, m.weight), _param_id(ctx, m.bias)],
                    n_axes=len(m.normalized_shape), eps=_exact(float(m.eps)), rms=False)


def _m_rms_norm(ctx: _Ctx, m: Any, x: Any) -> _T:
    eps = m.eps if m.eps is not None else torch.finfo(ctx.dtype).eps
    return ctx.emit("layer_norm", [ctx.tensor(x), _param_id(ctx, m.weight)],
                    n_axes=len(m.normalized_shape), eps=_exact(float(eps)), rms=True)


def _m_group_norm(ctx: _Ctx, m: "nn.GroupNorm", x: Any) -> _T:
    tx = _channels_first(ctx, x, "GroupNorm")
    return ctx.emit("group_norm", [tx, _param_id(ctx, m.weight), _param_id(ctx, m.bias)],
                    groups=int(m.num_groups), eps=_exact(float(m.eps)))


def _m_batch_norm(ctx: _Ctx, m: "nn.BatchNorm1d", x: Any) -> _T:
    """BatchNorm in eval mode: a per-channel affine map with the running statistics as exact frozen
    constants (:mod:`.norms`); in training mode it mixes the examples of a batch and is refused."""
    name = type(m).__name__
    if m.training or m.running_mean is None or m.running_var is None:
        raise ctx.unsupported(f"{name} in training mode (or without running statistics): it mixes the examples "
                              "of a batch: call .eval() (the analysis then covers training with frozen statistics)")
    tx = _channels_first(ctx, x, name)
    mean = tuple(sp.Rational(float(v)) for v in m.running_mean.detach().double().tolist())
    scale = tuple(batch_norm_scale(float(v), float(m.eps)) for v in m.running_var.detach().double().tolist())
    return ctx.emit("batch_norm_eval", [tx, _param_id(ctx, m.weight), _param_id(ctx, m.bias)], mean=mean, scale=scale)


def _m_dropout(ctx: _Ctx, m: "nn.Dropout", x: Any) -> _T:
    if m.training and m.p > 0:
        raise ctx.unsupported(f"Dropout(p={m.p}) in training mode (call .eval(), or use p=0)")
    return ctx.value(x)


def _m_activation(ctx: _Ctx, m: "nn.Module", x: Any) -> _T:
    from ..torch import _MODULES

    act = _MODULES[type(m)](m)
    if act.name == "identity":
        return ctx.value(x)
    return ctx.emit("activation", [ctx.tensor(x)], activation=act)


def _m_softmax(ctx: _Ctx, m: "nn.Softmax", x: Any) -> _T:
    return _softmax(ctx, x, m.dim)


def _m_flatten(ctx: _Ctx, m: "nn.Flatten", x: Any) -> _T:
    return _reshape(ctx, x)


def _m_multihead_attention(ctx: _Ctx, m: "nn.MultiheadAttention", query: Any, key: Any, value: Any,
                           key_padding_mask: Any = None, need_weights: bool = True, attn_mask: Any = None,
                           average_attn_weights: bool = True, is_causal: bool = False) -> tuple:
    """``nn.MultiheadAttention`` (batch_first, no masks) as its operations: the in-projection rows
    of ``in_proj_weight`` (its q, k, v slices), heads, ``softmax(q kᵀ/√d) v``, ``out_proj``.
    Returns ``(output, None)``: the averaged attention weights are not a graph value."""
    if not m.batch_first:
        raise ctx.unsupported("nn.MultiheadAttention with batch_first=False (the batch axis must lead)")
    if key_padding_mask is not None or attn_mask is not None or is_causal:
        raise ctx.unsupported("nn.MultiheadAttention with a mask")
    if m.bias_k is not None or m.add_zero_attn:
        raise ctx.unsupported("nn.MultiheadAttention with add_bias_kv/add_zero_attn")
    if m.training and m.dropout > 0:
        raise ctx.unsupported(f"nn.MultiheadAttention(dropout={m.dropout}) in training mode (call .eval())")
    e, h = m.embed_dim, m.num_heads
    d = e // h

    def project(x: Any, k: int, weight: "torch.Tensor | None") -> int:
        tx = ctx.tensor(x)
        if ctx.ndim(tx) != 2:
            raise ctx.unsupported("nn.MultiheadAttention on examples that are not (tokens, width)")
        if weight is None:  # packed in_proj_weight: rows k·E … (k+1)·E
            w = _slice_along(ctx, _param_node(ctx, m.in_proj_weight), 0, k * e, (k + 1) * e).id
        else:
            w = _param_node(ctx, weight)
        b = None if m.in_proj_bias is None else _slice_along(ctx, _param_node(ctx, m.in_proj_bias), 0, k * e,
                                                               (k + 1) * e).id
        y = ctx.emit("linear", [tx, w, b])
        tokens = ctx.graph.nodes[y.id].shape[0]
        heads = ctx.emit("rearrange", [y.id], kind="reshape", shape=(tokens, h, d))
        return ctx.emit("rearrange", [heads.id], kind="permute", perm=(1, 0, 2)).id

    separate = not m._qkv_same_embed_dim
    q = project(query, 0, m.q_proj_weight if separate else None)
    k = project(key, 1, m.k_proj_weight if separate else None)
    v = project(value, 2, m.v_proj_weight if separate else None)
    att = _attention(ctx, q, k, v, 1 / sp.sqrt(sp.Integer(d)))
    tokens = ctx.graph.nodes[att.id].shape[1]
    merged = ctx.emit("rearrange", [att.id], kind="permute", perm=(1, 0, 2))
    flat = ctx.emit("rearrange", [merged.id], kind="reshape", shape=(tokens, e))
    out = ctx.emit("linear", [flat.id, _param_id(ctx, m.out_proj.weight), _param_id(ctx, m.out_proj.bias)])
    return (out, None)


def _module_rules() -> dict[type, Callable]:
    from ..torch import _MODULES

    rules: dict[type, Callable] = {nn.Linear: _m_linear, nn.Conv1d: _m_conv, nn.Conv2d: _m_conv,
                                   nn.LayerNorm: _m_layer_norm, nn.Dropout: _m_dropout, nn.Softmax: _m_softmax,
                                   nn.Flatten: _m_flatten, nn.MultiheadAttention: _m_multihead_attention,
                                   nn.GroupNorm: _m_group_norm, nn.BatchNorm1d: _m_batch_norm,
                                   nn.BatchNorm2d: _m_batch_norm}
    if hasattr(nn, "RMSNorm"):
        rules[nn.RMSNorm] = _m_rms_norm
    for cls in _MODULES:
        rules[cls] = _m_activation
    return rules


MODULES = _module_rules()

#: what is supported, for messages and the report
SUPPORTED = {
    "modules": sorted(c.__name__ for c in MODULES),
    "functions": sorted({getattr(f, "__name__", str(f)) for f in FUNCTIONS}),
    "methods": sorted(METHODS),
}


# ---------------------------------------------------------------- the conversion
def _propagate(gm: "torch.fx.GraphModule", input_shapes: Sequence[tuple[int, ...]], dtype,
               module: "nn.Module") -> list[tuple[int, dict]]:
    """PyTorch's own shape of every node, at two batch sizes."""
    from torch.fx.passes.shape_prop import ShapeProp

    metas = []
    for b in _BATCHES:
        examples = [torch.zeros((b,) + tuple(shape), dtype=dtype) for shape in input_shapes]
        with torch.no_grad():
            module(*examples)  # the module's own error first (fx's wrappers print tracebacks of their own)
        with contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(gm).propagate(*examples)
        shapes = {}
        for n in gm.graph.nodes:
            tm = n.meta.get("tensor_meta")
            shapes[n.name] = tuple(tm.shape) if hasattr(tm, "shape") else None
        metas.append((b, shapes))
    return metas


def _input_shapes(input_shape: Any) -> list[tuple[int, ...]]:
    """One shape (``(3, 4)``) -> ``[(3, 4)]``; a list/tuple of shapes (``[(3, 4), (4,)]``, one per
    argument of ``forward``) -> itself; anything else is refused."""
    def shape(s: Any) -> bool:
        return isinstance(s, (tuple, list)) and bool(s) and \
            all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in s)

    if shape(input_shape):
        return [tuple(input_shape)]
    if isinstance(input_shape, (tuple, list)) and input_shape and all(shape(s) for s in input_shape):
        return [tuple(s) for s in input_shape]
    raise NetworkError("input_shape must be a tuple of positive ints (one example, without the batch axis), or a "
                       f"list of such tuples (one per argument of forward), got {input_shape!r}")


def _defaults_beyond(module: "nn.Module", n: int) -> dict[str, Any]:
    """``forward``'s arguments after the first ``n`` when every one of them has a default (``mask=None``,
    ``scale=1.0``): traced as those constants (fx specializes them and guards the value); ``n = 0``: the
    trailing arguments that have a default (for messages)."""
    try:
        sig = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return {}
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in sig.parameters.values() if p.kind in kinds]
    rest = positional[n:]
    if n == 0:  # every trailing argument with a default
        rest = list(itertools.takewhile(lambda p: p.default is not inspect.Parameter.empty, positional[::-1]))[::-1]
    if rest and all(p.default is not inspect.Parameter.empty for p in rest):
        return {p.name: p.default for p in rest}
    return {}


def _shown_shapes(shapes: Sequence[tuple[int, ...]]) -> str:
    return " and ".join("(batch, " + ", ".join(map(str, s)) + ")" for s in shapes)


def graph_from_module(module: "nn.Module", input_shape: Any, loss: str) -> Graph:
    """The :class:`Graph` of ``module`` on one example (no batch axis), with ``loss`` at its output;
    parameters carry their float64 init values.

    ``input_shape``: one shape (``(4,)``, ``(3, 8)``) for ``forward(self, x)``, or a list of shapes,
    one per argument of ``forward`` in order (``[(3, 4), (4,)]`` for ``forward(self, x, c)``); every
    argument is a batched example tensor."""
    if not isinstance(module, nn.Module):
        raise NetworkError(f"expected a torch.nn.Module, got {type(module).__name__}")
    shapes = _input_shapes(input_shape)
    fixed = _defaults_beyond(module, len(shapes))
    try:
        gm = torch.fx.symbolic_trace(module, concrete_args=fixed or None)
    except Exception as exc:  # data-dependent control flow and the like
        first = " ".join(str(exc).split())[:160]
        raise UnsupportedError(f"torch.fx could not trace {type(module).__name__}: {type(exc).__name__}: {first}") from exc
    names = [str(n.target) for n in gm.graph.nodes if n.op == "placeholder"]
    if len(names) - len(fixed) != len(shapes):
        optional = _defaults_beyond(module, 0) if not fixed else fixed
        required = names[: len(names) - len(optional)] if len(optional) < len(names) else names
        extra = f" and {len(optional)} with a default" if optional and required is not names else ""
        raise NetworkError(f"{type(module).__name__}.forward takes {len(required)} input(s) ({', '.join(required)})"
                           f"{extra} but input_shape gives {len(shapes)} shape(s): give one shape per input, in "
                           "order, e.g. input_shape=[(3, 4), (4,)]")
    params = list(module.parameters())
    dtype = params[0].dtype if params else torch.float64
    try:
        metas_b = _propagate(gm, shapes, dtype, module)
    except Exception as exc:
        first = " ".join(str(exc).split())[:160]
        raise NetworkError(f"{type(module).__name__} fails on an input of shape {_shown_shapes(shapes)}: "
                           f"{type(exc).__name__}: {first}") from exc
    graph = Graph()
    for name, p in module.named_parameters():
        graph.param(name, tuple(p.shape), trainable=bool(p.requires_grad), init=p.detach().double().numpy())
    ctx = _Ctx(module, graph, [m for _, m in metas_b])
    ctx.dtype = dtype
    (b0, s0), (b1, s1) = metas_b
    ctx.metas = [{k: _unbatched(v, s1.get(k), b0, b1) for k, v in s0.items()}]
    for name in graph.params:
        ctx.batched[graph.param_node(name)] = False
    placeholders = 0
    for node in gm.graph.nodes:
        ctx.node = node
        if node.op == "placeholder":
            if placeholders >= len(shapes):  # an argument left at its default (mask=None): a constant
                ctx.env[node.name] = node.args[0] if node.args else None
                continue
            nid = graph.input(shapes[placeholders])
            placeholders += 1
            ctx.batched[nid] = True
            ctx.env[node.name] = _T(nid)
            continue
        if node.op == "output":
            out = ctx.value(node.args[0])
            if not isinstance(out, _T) or not ctx.is_batched(out.id):
                raise ctx.unsupported("an output that is not one tensor depending on the input")
            graph.set_loss(out.id, loss)
            return graph
        if node.op == "get_attr":
            ctx.env[node.name] = _get_attr(ctx, node.target)
            continue
        if node.op == "call_module":
            sub = gm.get_submodule(node.target)
            rule = MODULES.get(type(sub))
            if rule is None:
                raise UnsupportedError(f"module {type(sub).__name__} at '{node.target}' is not supported by "
                                       f"symderiv.graph; supported modules: {', '.join(SUPPORTED['modules'])}")
            result = rule(ctx, sub, *node.args, **node.kwargs)
        elif node.op == "call_function":
            rule = FUNCTIONS.get(node.target)
            if rule is None:
                raise ctx.unsupported(f"the function {getattr(node.target, '__name__', node.target)}")
            result = rule(ctx, *node.args, **node.kwargs)
        elif node.op == "call_method":
            rule = METHODS.get(node.target)
            if rule is None:
                raise ctx.unsupported(f"the method .{node.target}()")
            result = rule(ctx, *node.args, **node.kwargs)
        else:  # pragma: no cover - fx has no other node kinds
            raise ctx.unsupported(f"the node kind {node.op}")
        if isinstance(result, _T):
            _check_shape(ctx, result.id)
        ctx.env[node.name] = result
    raise UnsupportedError(f"{type(module).__name__}: the traced graph has no output")


def _unbatched(shape0, shape1, b0: int, b1: int):
    """``("batched", shape)`` when both propagations agree up to the leading batch axis,
    ``("plain", shape)`` for a node independent of the example, else ``("mixed", shape)``."""
    if shape0 is None:
        return None
    if shape0 == shape1:
        return ("plain", shape0)
    if shape1 is not None and len(shape0) == len(shape1) and shape0[:1] == (b0,) and shape1[:1] == (b1,) \
            and shape0[1:] == shape1[1:]:
        return ("batched", shape0[1:])
    return ("mixed", shape0)


def _check_shape(ctx: _Ctx, nid: int) -> None:
    meta = ctx.metas[0].get(ctx.current.name)
    shape = ctx.graph.nodes[nid].shape
    if meta is None:
        return
    kind, expected = meta
    if kind == "mixed":
        raise ctx.unsupported("an operation mixing the batch axis with the others")
    if (kind == "batched") != ctx.is_batched(nid) or tuple(expected) != tuple(shape):
        raise ctx.unsupported(f"a shape mismatch (symderiv {shape}, PyTorch {meta}): broadcasting against the "
                              "batch axis")


def _get_attr(ctx: _Ctx, target: str) -> _T:
    try:
        p = ctx.module.get_parameter(target)
    except AttributeError:
        p = None
    if p is not None:
        return _T(ctx.graph.param_node(ctx.names[id(p)]))
    try:
        buf = ctx.module.get_buffer(target)
    except AttributeError:
        raise ctx.unsupported(f"the attribute '{target}'") from None
    name = f"buffer:{target}"
    nid = ctx.graph.param(name, tuple(buf.shape), trainable=False, init=buf.detach().double().numpy())
    ctx.batched[nid] = False
    return _T(nid)


def _meta_shape(self: _Ctx) -> tuple[int, ...]:
    meta = self.metas[0].get(self.current.name)
    if meta is None or meta[0] == "mixed":
        raise self.unsupported("a reshape mixing the batch axis with the others")
    return tuple(meta[1])


