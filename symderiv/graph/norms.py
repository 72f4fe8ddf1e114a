"""Channel normalizations of convolutional networks, at the entry level: ``group_norm`` and
``batch_norm_eval``.

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
  examples of a batch, which a per-example graph cannot express: :mod:`.torch_fx` refuses it).

Both register their forward and VJP rules with :func:`~symderiv.graph.ops.defop` /
:func:`~symderiv.graph.ops.defvjp` (imported by :mod:`.ir`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from .ops import ZERO, _elementwise, _layer_norm_fwd, _layer_norm_vjp, defop, defvjp, obj, reduce_sum

__all__ = ["channel_shape", "batch_norm_scale"]

Array = np.ndarray


def channel_shape(x: Array) -> tuple[int, ...]:
    """The shape ``(C, 1, …, 1)`` that broadcasts a per-channel vector against ``x`` (channels first)."""
    return (x.shape[0],) + (1,) * (x.ndim - 1)


def _per_channel(x: Array, v: Array) -> Array:
    return np.asarray(v, dtype=object).reshape(channel_shape(x))


def _spatial_sum(g: Array) -> Array:
    """``Σ`` over every axis but the channel axis (the gradient of a per-channel vector)."""
    return reduce_sum(g, tuple(range(1, g.ndim))) if g.ndim > 1 else g


def _mul(a: Array, b: Array) -> Array:
    return _elementwise(lambda u, v: u * v if u != 0 and v != 0 else ZERO, a, b)


# ---------------------------------------------------------------- group norm
def _gn_at(at: dict[str, Any]) -> dict[str, Any]:
    return {"n_axes": 1, "eps": at["eps"], "rms": False}


def _gn_hat(x: Array, at: dict[str, Any]) -> Array:
    groups = int(at["groups"])
    if x.ndim < 1 or x.shape[0] % groups:
        raise ValueError(f"{x.shape[0] if x.ndim else 0} channels do not split into {groups} groups")
    return np.asarray(_layer_norm_fwd([x.reshape(groups, -1)], _gn_at(at)), dtype=object).reshape(x.shape)


def _channel_affine(out: Array, ins: list) -> Array:
    """``out · γ + β`` per channel, for the optional ``ins[1] = γ`` and ``ins[2] = β`` of a norm."""
    x = ins[0]
    gamma = ins[1] if len(ins) > 1 else None
    beta = ins[2] if len(ins) > 2 else None
    if gamma is not None:
        out = _elementwise(lambda a, b: a * b, out, _per_channel(x, gamma))
    if beta is not None:
        out = _elementwise(lambda a, b: a + b, out, _per_channel(x, beta))
    return out


def _gn_fwd(ins: list, at: dict[str, Any]) -> Array:
    return _channel_affine(_gn_hat(ins[0], at), ins)


def _gn_vjp(g: Array, ins: list, out: Array, at: dict[str, Any]) -> list:
    x = ins[0]
    gamma = ins[1] if len(ins) > 1 else None
    grads: list[Array | None] = [None]
    if len(ins) > 1:  # one entry per present input, None for an absent gamma (the positions must line up)
        grads.append(None if gamma is None else _spatial_sum(_mul(g, _gn_hat(x, at))).reshape(np.shape(gamma)))
    if len(ins) > 2:
        grads.append(None if ins[2] is None else _spatial_sum(g).reshape(np.shape(ins[2])))
    ghat = g if gamma is None else _mul(g, _per_channel(x, gamma))
    groups = int(at["groups"])
    rows = x.reshape(groups, -1)
    grads[0] = _layer_norm_vjp(ghat.reshape(groups, -1), [rows], None, _gn_at(at))[0].reshape(x.shape)
    return grads


defop("group_norm", _gn_fwd, "group_norm over channel groups (channels first), optional per-channel gamma, beta")
defvjp("group_norm", _gn_vjp)


# ---------------------------------------------------------------- batch norm with frozen statistics
def batch_norm_scale(running_var: float, eps: float) -> sp.Expr:
    """``(v + eps)^{−1/2}`` exactly (the floats taken as the rationals they are)."""
    return sp.Pow(sp.Rational(running_var) + sp.Rational(eps), sp.Rational(-1, 2))


def _bn_hat(x: Array, at: dict[str, Any]) -> Array:
    mean, scale = at["mean"], at["scale"]
    if x.ndim < 1 or x.shape[0] != len(mean):
        raise ValueError(f"an input with {x.shape[0] if x.ndim else 0} channels for statistics of {len(mean)}")
    return _elementwise(lambda u, m, s: (u - m) * s if u != m else ZERO, x,
                        obj(mean, channel_shape(x)), obj(scale, channel_shape(x)))


def _bn_fwd(ins: list, at: dict[str, Any]) -> Array:
    return _channel_affine(_bn_hat(ins[0], at), ins)


def _bn_vjp(g: Array, ins: list, out: Array, at: dict[str, Any]) -> list:
    x = ins[0]
    weight = ins[1] if len(ins) > 1 else None
    gx = _mul(g, obj(at["scale"], channel_shape(x)))
    grads: list[Array | None] = [gx if weight is None else _mul(gx, _per_channel(x, weight))]
    if len(ins) > 1:
        grads.append(None if weight is None else _spatial_sum(_mul(g, _bn_hat(x, at))).reshape(np.shape(weight)))
    if len(ins) > 2:
        grads.append(None if ins[2] is None else _spatial_sum(g).reshape(np.shape(ins[2])))
    return grads


defop("batch_norm_eval", _bn_fwd, "batch_norm with frozen running statistics (eval mode), optional weight, bias")
defvjp("batch_norm_eval", _bn_vjp)
