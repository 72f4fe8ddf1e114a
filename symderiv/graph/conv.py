"""Convolutions (weight sharing over positions), at the entry level: the op ``conv``.

``conv`` is ``F.conv1d``/``F.conv2d``/``F.conv3d`` (and Core ATen's ``convolution`` with
``transposed=False``): inputs ``x`` of shape ``(*lead, C, *spatial)``, ``W`` of shape
``(O, C/groups, *kernel)``, optional bias ``b`` of shape ``(O,)``; attributes ``stride``,
``padding`` (zeros), ``dilation`` (default 1) and ``groups`` (default 1), one entry per spatial
axis.  The number of spatial axes is ``W.ndim − 2``; the axes before the channels (``lead``) are
carried along untouched, so the same rule serves a per-example graph (no lead axis) and a graph
whose input keeps an explicit batch axis (train-mode BatchNorm, :mod:`.norms`).

For output channel ``o`` in group ``q = o // (O/groups)`` and output position ``p``::

    out[..., o, p] = Σ_{c < C/groups} Σ_k W[o, c, k] · xpad[..., q·C/groups + c, p·stride + k·dilation] + b[o]

(``xpad`` the zero-padded input).  The forward groups the terms that share a weight entry
(:func:`~symderiv.graph.ops.dot`), so ``W[o, c, k]·(Σ …)`` keeps structural cancellations.  The
VJP is the transpose of that map (``∂ℓ/∂W[o, c, k] = Σ_p g[o, p]·xpad[c, p·s + k·d]``, summed over
the lead axes; ``∂ℓ/∂x`` scatters ``W·g`` back; ``∂ℓ/∂b = Σ g``).  A shape rule
(:func:`conv_shape`) spares the graph a symbolic probe (whose cost is the convolution's own).

Registered with :func:`~symderiv.graph.ops.defop` / ``defvjp`` / ``defshape`` on import (by :mod:`.ir`).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .ops import add_terms, defop, defshape, defvjp, dot, zeros

__all__ = ["conv_geometry", "conv_shape", "conv_cost"]

Array = np.ndarray


def _ints(v: Any, n: int, default: int) -> tuple[int, ...]:
    if v is None:
        return (default,) * n
    return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else (int(v),) * n


def conv_geometry(x_shape: Sequence[int], w_shape: Sequence[int], at: dict[str, Any]):
    """``(lead, stride, padding, dilation, groups, out_spatial)`` of a convolution; ValueError when the
    shapes do not fit (channels, groups, an empty output)."""
    n = len(w_shape) - 2
    if n < 1 or len(x_shape) < n + 1:
        raise ValueError(f"x of shape {tuple(x_shape)} does not fit a weight of shape {tuple(w_shape)}")
    stride, padding = _ints(at.get("stride"), n, 1), _ints(at.get("padding"), n, 0)
    dilation, groups = _ints(at.get("dilation"), n, 1), int(at.get("groups", 1))
    lead = tuple(x_shape[: len(x_shape) - n - 1])
    channels, spatial = x_shape[len(x_shape) - n - 1], tuple(x_shape[len(x_shape) - n:])
    out_ch, per_group = w_shape[0], w_shape[1]
    if groups < 1 or channels != per_group * groups or out_ch % groups:
        raise ValueError(f"{channels} input channels, weight {tuple(w_shape)} and groups={groups} do not fit")
    outs = tuple((s + 2 * p - d * (k - 1) - 1) // st + 1
                 for s, p, d, k, st in zip(spatial, padding, dilation, w_shape[2:], stride))
    if any(o < 1 for o in outs) or any(s < 1 for s in stride) or any(d < 1 for d in dilation) \
            or any(p < 0 for p in padding):
        raise ValueError(f"input {tuple(x_shape)}, kernel {tuple(w_shape[2:])}, stride {stride}, padding {padding}, "
                         f"dilation {dilation}: no output position")
    return lead, stride, padding, dilation, groups, outs


def conv_shape(shapes: list, at: dict[str, Any]) -> tuple[int, ...]:
    """The output shape ``(*lead, O, *out_spatial)`` from the input shapes."""
    x, w = shapes[0], shapes[1]
    lead, _, _, _, _, outs = conv_geometry(x, w, at)
    if len(shapes) > 2 and shapes[2] is not None and tuple(shapes[2]) != (w[0],):
        raise ValueError(f"a bias of shape {tuple(shapes[2])} for {w[0]} output channels")
    return lead + (int(w[0]),) + outs


def conv_cost(shapes: list, at: dict[str, Any]) -> int:
    """Multiply-adds of one forward pass (the entry path's cost grows with it)."""
    out = conv_shape(shapes, at)
    w = shapes[1]
    return int(np.prod(out)) * int(np.prod(w[1:]))


def _padded(x: Array, n: int, padding: tuple[int, ...]) -> Array:
    lead = x.ndim - n
    out = zeros(x.shape[:lead] + tuple(s + 2 * p for s, p in zip(x.shape[lead:], padding)))
    out[(Ellipsis,) + tuple(slice(p, p + s) for p, s in zip(padding, x.shape[lead:]))] = x
    return out


def _source(pos: tuple[int, ...], k: tuple[int, ...], stride, dilation) -> tuple[int, ...]:
    return tuple(p * s + kk * d for p, s, kk, d in zip(pos, stride, k, dilation))


def _conv_fwd(ins: list, at: dict[str, Any]) -> Array:
    x, W = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    n = W.ndim - 2
    lead, stride, padding, dilation, groups, outs = conv_geometry(x.shape, W.shape, at)
    xp = _padded(x, n, padding)
    per_in, per_out = W.shape[1], W.shape[0] // groups
    kernel = W.shape[2:]
    out = np.empty(lead + (W.shape[0],) + outs, dtype=object)
    for li in np.ndindex(*lead):
        for o in range(W.shape[0]):
            c0 = (o // per_out) * per_in
            for pos in np.ndindex(*outs):
                weights, terms = [], []
                for c in range(per_in):
                    for k in np.ndindex(*kernel):
                        weights.append(W[(o, c) + k])
                        terms.append(xp[li + (c0 + c,) + _source(pos, k, stride, dilation)])
                val = dot(weights, terms)
                out[li + (o,) + pos] = val + b[o] if b is not None else val
    return out


def _conv_vjp(g: Array, ins: list, out: Array, at: dict[str, Any]) -> list:
    x, W = ins[0], ins[1]
    n = W.ndim - 2
    lead, stride, padding, dilation, groups, outs = conv_geometry(x.shape, W.shape, at)
    xp = _padded(x, n, padding)
    per_in, per_out = W.shape[1], W.shape[0] // groups
    kernel = W.shape[2:]
    gx_pairs: dict[tuple, list] = {}
    gW = np.empty(W.shape, dtype=object)
    for o in range(W.shape[0]):
        c0 = (o // per_out) * per_in
        for c in range(per_in):
            for k in np.ndindex(*kernel):
                terms = []
                w = W[(o, c) + k]
                for li in np.ndindex(*lead):
                    for pos in np.ndindex(*outs):
                        gv = g[li + (o,) + pos]
                        if gv == 0:
                            continue
                        src = li + (c0 + c,) + _source(pos, k, stride, dilation)
                        terms.append(gv * xp[src])
                        gx_pairs.setdefault(src, []).append((w, gv))
                gW[(o, c) + k] = add_terms(terms)
    gxp = zeros(xp.shape)
    for src, pairs in gx_pairs.items():
        gxp[src] = dot([w for w, _ in pairs], [t for _, t in pairs])
    inner = (Ellipsis,) + tuple(slice(p, p + s) for p, s in zip(padding, x.shape[x.ndim - n:]))
    grads: list[Array | None] = [gxp[inner].copy(), gW]
    if len(ins) > 2:  # the bias: Σ g over the lead and spatial axes, per output channel
        per_channel = np.moveaxis(g, len(lead), 0).reshape(W.shape[0], -1)
        grads.append(None if ins[2] is None else np.array([add_terms(r) for r in per_channel], dtype=object))
    return grads


defop("conv", _conv_fwd, "convolution (channels first after any lead axes; stride, zero padding, dilation, groups)")
defvjp("conv", _conv_vjp)
defshape("conv", conv_shape)
