"""Shape rules for the ops that have none of their own: the output shape from the input shapes, in time
independent of the tensor sizes.

Without a rule, :meth:`symderiv.graph.ir.Graph.op` finds the output shape by running the forward rule on a
tensor of one SymPy symbol: a cost of about one SymPy operation per entry, seconds for one activation of a
ResNet-50 at 224×224 (800 000 entries) and hours for the whole model.  Each rule here computes what the
forward rule's output shape is (NumPy's broadcasting, reductions, reshapes, index views), raising
ValueError where the forward would fail; ``tests/test_vision_shapes.py`` checks every rule against the
probe.  Registered with :func:`~symderiv.graph.ops.defshape` on import (by :mod:`.ir`), only for ops
without a shape rule of their own.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .ops import _OPS, defshape

__all__ = ["SHAPES"]

Shape = tuple[int, ...]


def _broadcast(shapes: list, at: dict[str, Any]) -> Shape:
    return tuple(np.broadcast_shapes(*[s for s in shapes if s is not None]))


def _same(shapes: list, at: dict[str, Any]) -> Shape:
    return tuple(shapes[0])


def _channels(shapes: list, at: dict[str, Any]) -> Shape:
    """A channel normalization: the input's shape; per-channel vectors must match the channel axis."""
    x = tuple(shapes[0])
    axis = int(at.get("channel_axis", 0))
    if not 0 <= axis < len(x):
        raise ValueError(f"channel axis {axis} of a tensor of shape {x}")
    for s in shapes[1:]:
        if s is not None and int(np.prod(s)) != x[axis]:
            raise ValueError(f"a per-channel vector of shape {tuple(s)} for {x[axis]} channels")
    if "mean" in at and len(at["mean"]) != x[axis]:
        raise ValueError(f"an input with {x[axis]} channels for statistics of {len(at['mean'])}")
    if "groups" in at and x[axis] % int(at["groups"]):
        raise ValueError(f"{x[axis]} channels do not split into {at['groups']} groups")
    return x


def _layer_norm(shapes: list, at: dict[str, Any]) -> Shape:
    x = tuple(shapes[0])
    return tuple(np.broadcast_shapes(x, *[s for s in shapes[1:] if s is not None]))


def _softmax(shapes: list, at: dict[str, Any]) -> Shape:
    x = tuple(shapes[0])
    if not -len(x) <= int(at["axis"]) < len(x):
        raise ValueError(f"softmax over axis {at['axis']} of a tensor of shape {x}")
    return x


def _view(shape: Shape) -> np.ndarray:
    """A zero-size-in-memory array of ``shape`` (a broadcast view), for index arithmetic."""
    return np.broadcast_to(np.zeros((), dtype=np.int8), shape)


def _reduce(shapes: list, at: dict[str, Any]) -> Shape:
    x = tuple(shapes[0])
    axis = at.get("axis")
    axes = tuple(range(len(x))) if axis is None else \
        tuple(a % len(x) for a in (axis if isinstance(axis, tuple) else (axis,)))
    if at.get("keepdim"):
        return tuple(1 if a in axes else n for a, n in enumerate(x))
    return tuple(n for a, n in enumerate(x) if a not in axes)


def _rearrange(shapes: list, at: dict[str, Any]) -> Shape:
    x = tuple(shapes[0])
    kind = at["kind"]
    if kind == "reshape":
        return _reshaped(x, tuple(int(n) for n in at["shape"]))
    if kind == "permute":
        return tuple(np.transpose(_view(x), at["perm"]).shape)
    if kind == "getitem":
        return tuple(_view(x)[at["index"]].shape)
    if kind == "expand":
        return tuple(np.broadcast_to(_view(x), at["shape"]).shape)
    raise ValueError(f"unknown rearrangement {kind!r}")


def _reshaped(x: Shape, target: Shape) -> Shape:
    """NumPy's reshape of ``x`` to ``target`` (one ``-1`` inferred)."""
    size = int(np.prod(x))
    if target.count(-1) > 1 or any(n < -1 for n in target):
        raise ValueError(f"cannot reshape {x} to {target}")
    known = int(np.prod([n for n in target if n != -1]))
    if -1 in target:
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape {x} to {target}")
        target = tuple(size // known if n == -1 else n for n in target)
    if int(np.prod(target)) != size:
        raise ValueError(f"cannot reshape an array of size {size} into shape {target}")
    return target


def _cat(shapes: list, at: dict[str, Any]) -> Shape:
    first = tuple(shapes[0])
    if not first:
        raise ValueError("cat of scalars")
    axis = int(at["axis"]) % len(first)
    for s in shapes[1:]:
        if len(s) != len(first) or any(a != b for k, (a, b) in enumerate(zip(s, first)) if k != axis):
            raise ValueError(f"cat of shapes {[tuple(t) for t in shapes]} along axis {axis}")
    return first[:axis] + (sum(int(s[axis]) for s in shapes),) + first[axis + 1:]


def _matmul(shapes: list, at: dict[str, Any]) -> Shape:
    a, b = tuple(shapes[0]), tuple(shapes[1])
    if not a or not b:
        raise ValueError("matmul of a scalar")
    a2, b2 = (a if len(a) > 1 else (1,) + a), (b if len(b) > 1 else b + (1,))
    if a2[-1] != b2[-2]:
        raise ValueError(f"matmul shapes {a} and {b}")
    lead = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
    out = lead + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def _const(shapes: list, at: dict[str, Any]) -> Shape:
    return tuple(np.shape(at["value"]))


def _select(shapes: list, at: dict[str, Any]) -> Shape:
    return tuple(np.broadcast_shapes(np.shape(at["cond"]), *[s for s in shapes if s is not None]))


#: op -> shape rule (registered only where the op has no rule of its own)
SHAPES: dict[str, Callable[[list, dict], Shape]] = {
    "add": _broadcast, "sub": _broadcast, "mul": _broadcast, "div": _broadcast,
    "activation": _same, "scale": _same, "shift": _same, "pointwise": _same, "detach": _same, "scale_axis": _same,
    "softmax": _softmax, "layer_norm": _layer_norm, "group_norm": _channels, "batch_norm_eval": _channels,
    "batch_norm_train": _channels, "sum": _reduce, "mean": _reduce, "rearrange": _rearrange, "cat": _cat,
    "matmul": _matmul, "const": _const, "select": _select,
}

for _op, _rule in SHAPES.items():
    if _op in _OPS and _OPS[_op].shape is None:
        defshape(_op, _rule)
