"""Core ATen rules of the vision ops (:mod:`symderiv.graph.export`): convolution, pooling, BatchNorm and group norm.

Each rule keeps PyTorch's layout, the batch axis first and the channels at axis 1, so the graph ops
(:mod:`.conv`, :mod:`.pooling`, :mod:`.norms`) run on ``(B, C, *spatial)`` with ``channel_axis=1``
and channels lump (:mod:`.lumping`) without a reshape in between.

* ``aten.convolution``: ``conv`` with stride, padding, dilation and groups; transposed (``ConvTranspose``):
  ``conv`` of the input with zeros inserted, by the flipped kernel (exact gathers, :func:`_transposed_convolution`);
* ``aten.max_pool{1,2,3}d_with_indices``: ``max_pool`` (ties: the first maximal index, as PyTorch);
  the indices output is not a graph value (using it is refused where it is read);
* ``aten.avg_pool{1,2,3}d``, ``aten._adaptive_avg_pool{1,2,3}d``: ``avg_pool``, ``adaptive_avg_pool``;
* ``aten._native_batch_norm_legit_no_training`` (eval): ``batch_norm_eval`` with the running statistics as
  exact constants; ``aten._native_batch_norm_legit_functional`` with ``training=True``: ``batch_norm_train``
  (the batch's statistics; a graph traced at a stated batch size: :func:`symderiv.graph.norms.batch_size_of`);
  the updated running statistics it returns are buffers, not graph values;
* ``aten.native_group_norm``: ``group_norm``.

Importing this module registers the rules (the export front end imports it).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import sympy as sp
import torch

from . import aten  # noqa: F401  (the general rules first: the rules below replace its convolution)
from .export import Convert, Sym, aten_rule, exact
from .norms import batch_norm_scale

__all__: list[str] = []


def _ints(v: Any) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else (int(v),)


def _optional(cx: Convert, v: Any) -> int | None:
    return None if v is None else cx.node_of(v)


def _channels_first(cx: Convert, x: Any, what: str) -> int:
    if len(cx.shape(x)) < 2:
        raise cx.unsupported(f"{what} of a tensor without batch and channel axes")
    return cx.node_of(x)


@aten_rule("aten.convolution.default")
def _convolution(cx: Convert, x: Any, w: Any, b: Any, stride: Sequence[int], padding: Sequence[int],
                 dilation: Sequence[int], transposed: bool, output_padding: Any, groups: int) -> Sym:
    if transposed:
        return _transposed_convolution(cx, x, w, b, _ints(stride), _ints(padding), _ints(dilation),
                                       _ints(output_padding), int(groups))
    return cx.emit("conv", [_channels_first(cx, x, "a convolution"), cx.node_of(w), _optional(cx, b)],
                   stride=_ints(stride), padding=_ints(padding), dilation=_ints(dilation), groups=int(groups))


def _gather(cx: Convert, v: Any, pos: np.ndarray, with_zero: bool) -> int:
    """``out[i] = v.flat[pos[i]]`` (``pos`` of the output's shape); with ``with_zero``, ``pos == v.size`` reads an
    exact 0 (a zero appended to the flattened tensor)."""
    n = int(np.prod(cx.shape(v)))
    flat = cx.emit("rearrange", [cx.node_of(v)], kind="reshape", shape=(n,)).id
    if with_zero:
        flat = cx.emit("cat", [flat, cx.node_of(torch.zeros(1, dtype=torch.float64))], axis=0).id
    return cx.emit("rearrange", [flat], kind="getitem", index=(pos,)).id


def _transposed_convolution(cx: Convert, x: Any, w: Any, b: Any, stride: tuple[int, ...], padding: tuple[int, ...],
                            dilation: tuple[int, ...], output_padding: tuple[int, ...], groups: int) -> Sym:
    """``ConvTranspose``: a convolution (stride 1, the given dilation) of the input with zeros inserted between its
    positions (``stride − 1`` per gap) and ``d·(K − 1) − padding`` zeros on each side (plus ``output_padding`` at the
    end; a negative count crops), by the kernel flipped along its spatial axes with its two channel axes swapped
    within each group.  The zeros and the weight's rearrangement are exact gathers (the graph's ``rearrange``), so
    the rule adds no arithmetic of its own."""
    xshape, wshape = cx.shape(x), cx.shape(w)
    m = len(wshape) - 2
    if len(xshape) < m + 2:
        raise cx.unsupported("a transposed convolution of a tensor without batch and channel axes")
    st, pad, dil, opad = (_spatial(v, m, 0 if v is output_padding else 1) for v in (stride, padding, dilation,
                                                                                   output_padding))
    n = int(np.prod(xshape))
    pos = np.arange(n).reshape(xshape)
    for i in range(m):  # along spatial axis i: upsampled, padded (or cropped) positions -> input positions
        axis = len(xshape) - m + i
        length, k = xshape[axis], wshape[2 + i]
        e = dil[i] * (k - 1) - pad[i]
        j = np.arange((length - 1) * st[i] + 1 + 2 * e + opad[i]) - e
        src = np.where((j >= 0) & (j <= (length - 1) * st[i]) & (j % st[i] == 0), j // st[i], length)
        widened = np.concatenate([pos, np.full(pos.shape[:axis] + (1,) + pos.shape[axis + 1:], n)], axis=axis)
        pos = np.take(widened, src, axis=axis)
    upsampled = _gather(cx, x, pos, with_zero=True)
    c_in, o_per_group = wshape[0], wshape[1]
    ids = np.arange(int(np.prod(wshape))).reshape((groups, c_in // groups, o_per_group) + tuple(wshape[2:]))
    ids = np.flip(ids, axis=tuple(range(3, 3 + m)))  # the kernel flipped
    ids = np.swapaxes(ids, 1, 2).reshape((groups * o_per_group, c_in // groups) + tuple(wshape[2:]))
    kernel = _gather(cx, w, np.ascontiguousarray(ids), with_zero=False)
    return cx.emit("conv", [upsampled, kernel, _optional(cx, b)], stride=(1,) * m, padding=(0,) * m,
                   dilation=dil, groups=groups)


def _spatial(v: Any, n: int, default: Any) -> tuple[int, ...]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    t = _ints(v)
    return t * n if len(t) == 1 and n > 1 else t


def _max_pool(cx: Convert, x: Any, kernel: Sequence[int], stride: Sequence[int] = (), padding: Any = 0,
              dilation: Any = 1, ceil_mode: bool = False) -> tuple:
    k = _ints(kernel)
    n = len(k)
    out = cx.emit("max_pool", [_channels_first(cx, x, "max pooling")], kernel=k, stride=_spatial(stride, n, k),
                  padding=_spatial(padding, n, 0), dilation=_spatial(dilation, n, 1), ceil_mode=bool(ceil_mode))
    return (out, None)


def _avg_pool(cx: Convert, x: Any, kernel: Sequence[int], stride: Sequence[int] = (), padding: Any = 0,
              ceil_mode: bool = False, count_include_pad: bool = True, divisor_override: Any = None) -> Sym:
    k = _ints(kernel)
    n = len(k)
    return cx.emit("avg_pool", [_channels_first(cx, x, "average pooling")], kernel=k, stride=_spatial(stride, n, k),
                   padding=_spatial(padding, n, 0), ceil_mode=bool(ceil_mode),
                   count_include_pad=bool(count_include_pad),
                   divisor_override=None if divisor_override is None else int(divisor_override))


def _adaptive_avg_pool(cx: Convert, x: Any, output_size: Sequence[int]) -> Sym:
    return cx.emit("adaptive_avg_pool", [_channels_first(cx, x, "adaptive pooling")], output_size=_ints(output_size))


for _n in ("1d", "2d", "3d"):
    aten_rule(f"aten.max_pool{_n}_with_indices.default")(_max_pool)
    aten_rule(f"aten.avg_pool{_n}.default")(_avg_pool)
    aten_rule(f"aten._adaptive_avg_pool{_n}.default", f"aten.adaptive_avg_pool{_n}.default")(_adaptive_avg_pool)


def _constant_vector(cx: Convert, v: Any, what: str) -> list[float]:
    if isinstance(v, Sym) or v is None:
        raise cx.unsupported(f"{what} that is not a constant buffer")
    return [float(a) for a in v.detach().double().reshape(-1).tolist()]


@aten_rule("aten._native_batch_norm_legit_no_training.default")
def _batch_norm_eval(cx: Convert, x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                     momentum: float, eps: float) -> tuple:
    mean = tuple(sp.Rational(v) for v in _constant_vector(cx, running_mean, "a running mean"))
    scale = tuple(batch_norm_scale(v, float(eps)) for v in _constant_vector(cx, running_var, "a running variance"))
    out = cx.emit("batch_norm_eval", [_channels_first(cx, x, "BatchNorm"), _optional(cx, weight), _optional(cx, bias)],
                  mean=mean, scale=scale, channel_axis=1)
    return (out, None, None)


@aten_rule("aten._native_batch_norm_legit_functional.default")
def _batch_norm_functional(cx: Convert, x: Any, weight: Any, bias: Any, running_mean: Any, running_var: Any,
                           training: bool, momentum: float, eps: float) -> tuple:
    if not training:
        return _batch_norm_eval(cx, x, weight, bias, running_mean, running_var, momentum, eps) + (None, None)
    if not getattr(cx.graph, "batch_size", None):  # never per example: the statistics are the batch's
        raise cx.unsupported("BatchNorm in training mode (its statistics couple the examples of a batch): give "
                             "batch_size=B to analyse it at that batch size, or call .eval()")
    out = cx.emit("batch_norm_train", [_channels_first(cx, x, "BatchNorm"), _optional(cx, weight), _optional(cx, bias)],
                  eps=exact(float(eps)), channel_axis=1)
    # (output, saved mean, saved inverse std, new running mean, new running var): only the output is a graph value
    return (out, None, None, None, None)


@aten_rule("aten.native_group_norm.default")
def _group_norm(cx: Convert, x: Any, weight: Any, bias: Any, n: int, c: int, hw: int, groups: int,
                eps: float) -> tuple:
    out = cx.emit("group_norm", [_channels_first(cx, x, "group norm"), _optional(cx, weight), _optional(cx, bias)],
                  groups=int(groups), eps=exact(float(eps)), channel_axis=1)
    return (out, None, None)
