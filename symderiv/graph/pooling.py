"""Pooling over spatial windows, at the entry level: ``max_pool``, ``avg_pool`` and ``adaptive_avg_pool``.

Each op reads the last ``n`` axes of its input as spatial (``n = len(kernel)``, or
``len(output_size)`` for the adaptive op); every axis before them (channels, an explicit batch
axis) is carried along.  Attributes follow PyTorch (``F.max_pool2d``, ``F.avg_pool2d``,
``F.adaptive_avg_pool2d`` and their 1-D/3-D versions; Core ATen's ``max_pool2d_with_indices``,
``avg_pool2d``, ``_adaptive_avg_pool2d``): ``kernel``, ``stride`` (default: the kernel),
``padding`` (default 0), ``dilation`` (max only, default 1), ``ceil_mode`` (default False); for
the average ``count_include_pad`` (default True) and ``divisor_override`` (default None).

* ``avg_pool`` / ``adaptive_avg_pool``: linear maps with exact rational coefficients (the
  window's divisor as PyTorch computes it; the adaptive window of output ``i`` along an axis of
  length ``L`` is ``floor(i·L/m) … ceil((i+1)·L/m) − 1``).  The VJP scatters ``g/divisor`` back.
* ``max_pool`` - **tie convention: the first maximal index**, as PyTorch's kernels (a row-major scan
  of the window, replaced only by a strictly larger value; padding never wins).  The forward is
  ``Max`` of the window (unevaluated; an all-zero window is exactly 0).  The VJP sends ``g`` to the
  window entry ``e_i`` with weight ``Π_{j<i} H(e_i − e_j, 0) · Π_{j>i} H(e_i − e_j, 1)``
  (``H(u, h)`` the Heaviside step with ``H(0) = h``): 1 exactly when ``e_i`` is the first maximal
  entry, the analogue of ReLU's ``f'(0) = 0``.  Where two window entries are equal the two
  conventions differ, so a claim resting on a tie is a claim about this convention (the kink
  arguments of a certified witness are kept away from 0).

Registered with :func:`~symderiv.graph.ops.defop`, ``defvjp`` and ``defshape`` on import (by :mod:`.ir`).
"""
from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np
import sympy as sp

from .ops import ZERO, add_terms, defop, defshape, defvjp, obj

__all__ = ["pool_windows", "pool_shape"]

Array = np.ndarray
Window = tuple[tuple[tuple[int, ...], ...], int]  # (input spatial positions read, divisor)


def _ints(v: Any, n: int, default: Sequence[int] | int) -> tuple[int, ...]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return (default,) * n if isinstance(default, int) else tuple(default)
    return tuple(int(a) for a in v) if isinstance(v, (list, tuple)) else (int(v),) * n


def _out_len(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length (``pooling_output_shape``): with ``ceil_mode`` the last window must
    start inside the input or its left padding."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _spatial(op: str, at: dict[str, Any]) -> int:
    return len(at["output_size"]) if op == "adaptive_avg_pool" else len(_ints(at["kernel"], 1, 1))


@functools.lru_cache(maxsize=256)
def _windows(op: str, spatial: tuple[int, ...], key: tuple) -> tuple[tuple[int, ...], tuple[Window, ...]]:
    at = dict(key)
    n = len(spatial)
    per_axis: list[list[tuple[tuple[int, ...], int, int]]] = []  # per axis: (positions, padded count, valid count)
    if op == "adaptive_avg_pool":
        for L, m in zip(spatial, _ints(at["output_size"], n, 1)):
            if m < 1:
                raise ValueError(f"adaptive pooling to an output size {m}")
            axis = []
            for i in range(m):
                lo, hi = (i * L) // m, -((-(i + 1) * L) // m)
                axis.append((tuple(range(lo, hi)), hi - lo, hi - lo))
            per_axis.append(axis)
    else:
        kernel = _ints(at["kernel"], n, 1)
        stride = _ints(at.get("stride"), n, kernel)
        padding = _ints(at.get("padding"), n, 0)
        dilation = _ints(at.get("dilation"), n, 1)
        ceil_mode = bool(at.get("ceil_mode", False))
        if any(2 * p > k for p, k in zip(padding, kernel)):
            raise ValueError(f"padding {padding} larger than half the kernel {kernel}")
        for L, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
            m = _out_len(L, k, s, p, d, ceil_mode)
            if m < 1 or s < 1 or d < 1:
                raise ValueError(f"pooling an axis of length {L} with kernel {k}, stride {s}, padding {p}: no output")
            axis = []
            for i in range(m):
                start = i * s - p
                taps = [start + j * d for j in range(k)]
                valid = tuple(t for t in taps if 0 <= t < L)
                # avg (dilation 1): PyTorch clips the window's end at L + p before counting the padded size
                padded = min(start + k, L + p) - start
                axis.append((valid, padded, len(valid)))
            per_axis.append(axis)
    out_shape = tuple(len(a) for a in per_axis)
    windows = []
    include_pad = bool(at.get("count_include_pad", True))
    override = at.get("divisor_override")
    for idx in np.ndindex(*out_shape):
        parts = [per_axis[a][i] for a, i in enumerate(idx)]
        positions = tuple(tuple(p) for p in np.ndindex(*[len(q[0]) for q in parts]))
        src = tuple(tuple(parts[a][0][j] for a, j in enumerate(pos)) for pos in positions)
        if override:
            divisor = int(override)
        elif include_pad and op == "avg_pool":
            divisor = math.prod(q[1] for q in parts)
        else:
            divisor = math.prod(q[2] for q in parts)
        if not src:
            raise ValueError("a pooling window that reads no input position")
        windows.append((src, divisor))
    return out_shape, tuple(windows)


def pool_windows(op: str, x_shape: Sequence[int], at: dict[str, Any]) -> tuple[tuple[int, ...], tuple[Window, ...]]:
    """``(output spatial shape, windows)``: per output position (row-major), the input spatial positions it
    reads (in PyTorch's scan order) and the divisor of an average."""
    n = _spatial(op, at)
    if len(x_shape) < n:
        raise ValueError(f"an input of shape {tuple(x_shape)} has no {n} spatial axes")
    key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in at.items()))
    return _windows(op, tuple(int(s) for s in x_shape[len(x_shape) - n:]), key)


def pool_shape(op: str):
    def shape(shapes: list, at: dict[str, Any]) -> tuple[int, ...]:
        x = tuple(shapes[0])
        out, _ = pool_windows(op, x, at)
        return x[: len(x) - len(out)] + out
    return shape


def _lead_positions(x: Array, n: int):
    return np.ndindex(*x.shape[: x.ndim - n])


def _avg_fwd(op: str):
    def forward(ins: list, at: dict[str, Any]) -> Array:
        x = ins[0]
        out_sp, windows = pool_windows(op, x.shape, at)
        n = len(out_sp)
        out = np.empty(x.shape[: x.ndim - n] + out_sp, dtype=object)
        for lead in _lead_positions(x, n):
            flat = out[lead].reshape(-1)
            for k, (src, divisor) in enumerate(windows):
                s = add_terms(x[lead + p] for p in src)
                flat[k] = s * sp.Rational(1, divisor) if s != 0 else ZERO
            out[lead] = flat.reshape(out_sp)
        return out
    return forward


def _avg_vjp(op: str):
    def vjp(g: Array, ins: list, out: Array, at: dict[str, Any]) -> list:
        x = ins[0]
        out_sp, windows = pool_windows(op, x.shape, at)
        n = len(out_sp)
        terms: dict[tuple, list] = {}
        for lead in _lead_positions(x, n):
            gflat = g[lead].reshape(-1)
            for k, (src, divisor) in enumerate(windows):
                if gflat[k] == 0:
                    continue
                share = gflat[k] * sp.Rational(1, divisor)
                for p in src:
                    terms.setdefault(lead + p, []).append(share)
        gx = np.empty(x.shape, dtype=object)
        for idx in np.ndindex(*x.shape):
            gx[idx] = add_terms(terms.get(idx, ()))
        return [gx]
    return vjp


def _max_of(entries: list) -> sp.Expr:
    distinct = list(dict.fromkeys(entries))
    if len(distinct) == 1:
        return distinct[0]
    return sp.Max(*distinct, evaluate=False)


def _first_max_weight(entries: list, i: int) -> sp.Expr:
    """1 when ``entries[i]`` is the first maximal entry, else 0, as a product of Heaviside steps."""
    factors = []
    for j, e in enumerate(entries):
        if j == i:
            continue
        d = entries[i] - e
        h0 = sp.Integer(0 if j < i else 1)
        # unevaluated for a compound difference: Heaviside's evaluation asks the sign of the whole expression
        h = (h0 if d == 0 else sp.Heaviside(d, h0)) if d.is_Number or d.is_Symbol else sp.Heaviside(d, h0, evaluate=False)
        if h == 0:
            return ZERO
        if h != 1:
            factors.append(h)
    return sp.Mul(*factors)


def _max_fwd(ins: list, at: dict[str, Any]) -> Array:
    x = ins[0]
    out_sp, windows = pool_windows("max_pool", x.shape, at)
    n = len(out_sp)
    out = np.empty(x.shape[: x.ndim - n] + out_sp, dtype=object)
    for lead in _lead_positions(x, n):
        out[lead] = obj([_max_of([x[lead + p] for p in src]) for src, _ in windows], out_sp)
    return out


def _max_vjp(g: Array, ins: list, out: Array, at: dict[str, Any]) -> list:
    x = ins[0]
    out_sp, windows = pool_windows("max_pool", x.shape, at)
    n = len(out_sp)
    terms: dict[tuple, list] = {}
    for lead in _lead_positions(x, n):
        gflat = g[lead].reshape(-1)
        for k, (src, _) in enumerate(windows):
            if gflat[k] == 0:
                continue
            entries = [x[lead + p] for p in src]
            for i, p in enumerate(src):
                w = _first_max_weight(entries, i)
                if w != 0:
                    terms.setdefault(lead + p, []).append(gflat[k] * w)
    gx = np.empty(x.shape, dtype=object)
    for idx in np.ndindex(*x.shape):
        gx[idx] = add_terms(terms.get(idx, ()))
    return [gx]


defop("max_pool", _max_fwd, "max pooling over the last len(kernel) axes (ties: the first maximal index, as PyTorch)")
defvjp("max_pool", _max_vjp)
defshape("max_pool", pool_shape("max_pool"))
for _op, _what in (("avg_pool", "average pooling over the last len(kernel) axes (PyTorch's divisors)"),
                   ("adaptive_avg_pool", "adaptive average pooling to output_size (PyTorch's windows)")):
    defop(_op, _avg_fwd(_op), _what)
    defvjp(_op, _avg_vjp(_op))
    defshape(_op, pool_shape(_op))
