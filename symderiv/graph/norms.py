"""Channel normalizations of convolutional networks, at the entry level: ``group_norm``,
``batch_norm_eval`` and ``batch_norm_train``.

The channel axis is the attribute ``channel_axis`` (default 0: one example ``(C, *spatial)``);
a graph whose input keeps an explicit batch axis puts it at 1 (``(B, C, *spatial)``), and the
axes before it are then normalized separately (group norm) or carried along (batch norm eval).

* ``group_norm`` (``nn.GroupNorm``, ``F.group_norm``): the channels (axis 0 of one example,
  ``(C, *spatial)``) in ``groups`` groups; each group's entries (its ``C/groups`` channels × every
  spatial position) normalized together as :mod:`~symderiv.graph.ops`' ``layer_norm`` normalizes a
  row, then a per-channel affine map (optional ``gamma``, ``beta`` of shape ``(C,)``).  Diffusion
  UNets and ControlNet put it around their zero convolutions.
* ``batch_norm_eval`` (``nn.BatchNorm1d/2d`` after ``.eval()``): the per-channel affine map
  ``(x − m_c)·s_c·γ_c + β_c`` with the running statistics frozen as exact constants (``m_c`` the
  running mean, ``s_c = (v_c + eps)^{−1/2}`` from the running variance, both attributes, never
  trained); ``γ``, ``β`` are the module's trainable weight and bias (optional).  A theorem about a
  graph with this op covers training with frozen statistics (a BatchNorm in training mode mixes the
  examples of a batch, which a per-example graph cannot express: without ``batch_size`` it is refused).
* ``batch_norm_train`` (``nn.BatchNorm1d/2d/3d`` in training mode, Core ATen's
  ``_native_batch_norm_legit_functional(..., training=True)`` output 0): the statistics of channel
  ``c`` are those of the *batch*: ``μ_c`` and the biased variance ``σ²_c`` over every axis but the
  channel axis (the batch axis and the positions), ``(x − μ_c)·(σ²_c + eps)^{−1/2}·γ_c + β_c``.  The
  examples of a batch are coupled, so a graph with this op has an explicit batch axis: its input
  tensors are a whole batch of ``B`` examples, ``graph.batch_size = B`` (:func:`batch_size_of`), and
  its loss is the batch's loss (the mean over the batch's rows, as ``nn.MSELoss`` and
  ``nn.CrossEntropyLoss`` average).  A theorem about such a graph covers every dataset and sample
  order *at that batch size* (the faces say so).  The running statistics are updated by PyTorch
  outside the gradient (they only matter in eval mode) and are not part of the graph.  The forward
  and VJP are :mod:`~symderiv.graph.ops`' ``layer_norm`` rules on the rows ``(C, B·positions)``.

Both register their forward and VJP rules with :func:`~symderiv.graph.ops.defop` /
:func:`~symderiv.graph.ops.defvjp` (imported by :mod:`.ir`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from .ops import ZERO, _elementwise, _layer_norm_fwd, _layer_norm_vjp, defop, defvjp, obj, reduce_sum

__all__ = ["channel_shape", "batch_norm_scale", "batch_size_of"]

Array = np.ndarray


def batch_size_of(graph: Any) -> int | None:
    """The batch size ``B`` of a graph whose input tensors are a whole batch (train-mode BatchNorm couples
    the examples; the leading axis of every input is the batch); None for a per-example graph."""
    b = getattr(graph, "batch_size", None)
    return None if b is None else int(b)


def _axis(x: Array, at: dict[str, Any]) -> int:
    a = int(at.get("channel_axis", 0))
    if not 0 <= a < x.ndim:
        raise ValueError(f"channel axis {a} of a tensor of shape {x.shape}")
    return a


def channel_shape(x: Array, axis: int = 0) -> tuple[int, ...]:
    """The shape ``(1, …, C, 1, …, 1)`` that broadcasts a per-channel vector against ``x`` (channels at ``axis``)."""
    return (1,) * axis + (x.shape[axis],) + (1,) * (x.ndim - axis - 1)


def _per_channel(x: Array, v: Array, axis: int = 0) -> Array:
    return np.asarray(v, dtype=object).reshape(channel_shape(x, axis))


def _spatial_sum(g: Array, axis: int = 0) -> Array:
    """``Σ`` over every axis but the channel axis (the gradient of a per-channel vector)."""
    others = tuple(a for a in range(g.ndim) if a != axis)
    return reduce_sum(g, others) if others else g


def _channel_rows(x: Array, axis: int) -> Array:
    """``(C, everything else)``: the rows a batch statistic runs over."""
    return np.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)


def _from_rows(rows: Array, like: Array, axis: int) -> Array:
    moved = np.moveaxis(like, axis, 0).shape
    return np.moveaxis(np.asarray(rows, dtype=object).reshape(moved), 0, axis)


def _mul(a: Array, b: Array) -> Array:
    return _elementwise(lambda u, v: u * v if u != 0 and v != 0 else ZERO, a, b)


# ---------------------------------------------------------------- group norm
def _gn_at(at: dict[str, Any]) -> dict[str, Any]:
    return {"n_axes": 1, "eps": at["eps"], "rms": False}


def _gn_rows(x: Array, at: dict[str, Any]) -> Array:
    """``(*lead, groups, C/groups · positions)``: each example's groups as rows."""
    axis, groups = _axis(x, at), int(at["groups"])
    if x.shape[axis] % groups:
        raise ValueError(f"{x.shape[axis]} channels do not split into {groups} groups")
    return x.reshape(x.shape[:axis] + (groups, -1))


def _gn_hat(x: Array, at: dict[str, Any]) -> Array:
    return np.asarray(_layer_norm_fwd([_gn_rows(x, at)], _gn_at(at)), dtype=object).reshape(x.shape)


def _channel_affine(out: Array, ins: list, axis: int) -> Array:
    """``out · γ + β`` per channel, for the optional ``ins[1] = γ`` and ``ins[2] = β`` of a norm."""
    x = ins[0]
    gamma = ins[1] if len(ins) > 1 else None
    beta = ins[2] if len(ins) > 2 else None
    if gamma is not None:
        out = _elementwise(lambda a, b: a * b, out, _per_channel(x, gamma, axis))
    if beta is not None:
        out = _elementwise(lambda a, b: a + b, out, _per_channel(x, beta, axis))
    return out


def _affine_grads(g: Array, ins: list, hat: Any, axis: int) -> list:
    """``[None, ∂ℓ/∂γ, ∂ℓ/∂β]`` (one entry per present input; None for an absent one, so positions line up);
    ``hat()`` gives the normalized input (computed only when γ is present)."""
    grads: list[Array | None] = [None]
    if len(ins) > 1:
        gamma = ins[1]
        grads.append(None if gamma is None else _spatial_sum(_mul(g, hat()), axis).reshape(np.shape(gamma)))
    if len(ins) > 2:
        grads.append(None if ins[2] is None else _spatial_sum(g, axis).reshape(np.shape(ins[2])))
    return grads


def _gn_fwd(ins: list, at: dict[str, Any]) -> Array:
    return _channel_affine(_gn_hat(ins[0], at), ins, _axis(ins[0], at))


def _gn_vjp(g: Array, ins: list, out: Array, at: dict[str, Any]) -> list:
    x, axis = ins[0], _axis(ins[0], at)
    gamma = ins[1] if len(ins) > 1 else None
    grads = _affine_grads(g, ins, lambda: _gn_hat(x, at), axis)
    ghat = g if gamma is None else _mul(g, _per_channel(x, gamma, axis))
    rows = _gn_rows(x, at)
    grads[0] = _layer_norm_vjp(ghat.reshape(rows.shape), [rows], None, _gn_at(at))[0].reshape(x.shape)
    return grads


defop("group_norm", _gn_fwd, "group_norm over channel groups (channels at channel_axis), optional per-channel gamma, beta")
defvjp("group_norm", _gn_vjp)


# ---------------------------------------------------------------- batch norm with frozen statistics
def batch_norm_scale(running_var: float, eps: float) -> sp.Expr:
    """``(v + eps)^{−1/2}`` exactly (the floats taken as the rationals they are)."""
    return sp.Pow(sp.Rational(running_var) + sp.Rational(eps), sp.Rational(-1, 2))


def _bn_hat(x: Array, at: dict[str, Any]) -> Array:
    mean, scale = at["mean"], at["scale"]
    axis = _axis(x, at)
    if x.shape[axis] != len(mean):
        raise ValueError(f"an input with {x.shape[axis]} channels for statistics of {len(mean)}")
    return _elementwise(lambda u, m, s: (u - m) * s if u != m else ZERO, x,
                        obj(mean, channel_shape(x, axis)), obj(scale, channel_shape(x, axis)))


def _bn_fwd(ins: list, at: dict[str, Any]) -> Array:
    return _channel_affine(_bn_hat(ins[0], at), ins, _axis(ins[0], at))


def _bn_vjp(g: Array, ins: list, out: Array, at: dict[str, Any]) -> list:
    x, axis = ins[0], _axis(ins[0], at)
    weight = ins[1] if len(ins) > 1 else None
    grads = _affine_grads(g, ins, lambda: _bn_hat(x, at), axis)
    gx = _mul(g, obj(at["scale"], channel_shape(x, axis)))
    grads[0] = gx if weight is None else _mul(gx, _per_channel(x, weight, axis))
    return grads


defop("batch_norm_eval", _bn_fwd, "batch_norm with frozen running statistics (eval mode), optional weight, bias")
defvjp("batch_norm_eval", _bn_vjp)


# ---------------------------------------------------------------- batch norm with batch statistics
def _bn_train_hat(x: Array, at: dict[str, Any]) -> Array:
    axis = _axis(x, at)
    rows = _layer_norm_fwd([_channel_rows(x, axis)], _gn_at(at))
    return _from_rows(rows, x, axis)


def _bn_train_fwd(ins: list, at: dict[str, Any]) -> Array:
    return _channel_affine(_bn_train_hat(ins[0], at), ins, _axis(ins[0], at))


def _bn_train_vjp(g: Array, ins: list, out: Array, at: dict[str, Any]) -> list:
    x, axis = ins[0], _axis(ins[0], at)
    gamma = ins[1] if len(ins) > 1 else None
    grads = _affine_grads(g, ins, lambda: _bn_train_hat(x, at), axis)
    ghat = g if gamma is None else _mul(g, _per_channel(x, gamma, axis))
    gx_rows = _layer_norm_vjp(_channel_rows(ghat, axis), [_channel_rows(x, axis)], None, _gn_at(at))[0]
    grads[0] = _from_rows(gx_rows, x, axis)
    return grads


defop("batch_norm_train", _bn_train_fwd, "batch_norm with the batch's statistics (training mode; the input is a "
      "whole batch, channels at channel_axis), optional weight, bias")
defvjp("batch_norm_train", _bn_train_vjp)
