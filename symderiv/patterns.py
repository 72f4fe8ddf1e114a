"""Unit classes and blocks: the coordinates the engine and the prover work in.

Units of a hidden layer that have identical incoming rows, identical biases and
identical outgoing columns compute the same function and receive the same δ
(docs/theory.md §4).  :func:`unit_partition` finds the coarsest such partition of an
init; it is computed once, because training never splits it (every entry of a
block ``(C, D)`` of ``W^(l)`` receives the same gradient ``δ_C h_D``).

A *block* is the set of parameter entries of one (row class, column class)
pair of a weight matrix, or one class of a bias vector.  All entries of a block
are equal at every step, so the prover reasons about blocks, and a pattern
(zeros and ties, docs/theory.md §2) is an assignment ``block -> value`` where equal
values mean tied blocks and ``0`` means a zero block.  The cost of everything
therefore depends on the number of classes, not on the widths.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import sympy as sp

from .errors import InitError
from .init import ParamInit
from .network import Network, Width

__all__ = ["UnitClass", "Partition", "Block", "unit_partition", "blocks", "block_of"]


@dataclass(frozen=True)
class UnitClass:
    """A class of identical units of one layer.

    ``members`` are 0-based unit indices (a ``range`` for large classes), or
    ``None`` for a whole layer of symbolic width.
    """

    layer: int
    index: int
    size: Width
    members: Sequence[int] | None

    @property
    def first(self) -> int:
        return 0 if self.members is None else self.members[0]

    def label(self) -> str:
        """``3`` for a single unit (1-based), ``1..n`` or ``{1,3}`` for a class."""
        if self.members is None:
            return f"1..{self.size}"
        if len(self.members) == 1:
            return str(self.members[0] + 1)
        if isinstance(self.members, range) and self.members.step == 1:
            return f"{self.members.start + 1}..{self.members.stop}"
        return "{" + ",".join(str(m + 1) for m in self.members) + "}"


@dataclass(frozen=True)
class Partition:
    """The unit classes of every layer ``0 … L``."""

    classes: tuple[tuple[UnitClass, ...], ...]
    lookup: tuple[np.ndarray | None, ...]  # unit -> class index, None when the layer is one class

    def of(self, layer: int, unit: int) -> UnitClass:
        """The class of a (0-based) unit."""
        table = self.lookup[layer]
        cls = self.classes[layer]
        if table is None:
            return cls[0]
        return cls[int(table[unit])]

    def n_classes(self, layer: int) -> int:
        return len(self.classes[layer])


@dataclass(frozen=True, order=True)
class Block:
    """A block of a parameter: ``Wl`` entries with rows in class ``row`` and
    columns in class ``col``, or ``bl`` entries in class ``row`` (``col`` None)."""

    layer: int
    kind: str  # "W" or "b"
    row: int
    col: int = -1

    @property
    def param(self) -> str:
        return f"{self.kind}{self.layer}"


def blocks(net: Network, partition: Partition) -> Iterator[Block]:
    """Every block of every parameter, in parameter order (W1, b1, W2, …)."""
    for l in range(1, net.depth + 1):
        for C in partition.classes[l]:
            for D in partition.classes[l - 1]:
                yield Block(l, "W", C.index, D.index)
        if net.bias:
            for C in partition.classes[l]:
                yield Block(l, "b", C.index)


def block_of(net: Network, partition: Partition, name: str, index: tuple[int, ...]) -> Block:
    """The block holding entry ``index`` (0-based) of parameter ``name``."""
    kind, l = net.parse_name(name)
    shape = net.shape(name)
    if len(index) != len(shape):
        raise InitError(f"{name} has {len(shape)} index(es), got {index!r}")
    for i, n in zip(index, shape):
        if not isinstance(i, (int, np.integer)) or i < 0 or (isinstance(n, int) and i >= n):
            raise InitError(f"index {index!r} is out of range for {name} of shape {shape}")
    row = partition.of(l, int(index[0])).index
    if kind == "W":
        return Block(l, "W", row, partition.of(l - 1, int(index[1])).index)
    return Block(l, "b", row)


# ---------------------------------------------------------------- the coarsest partition of an init
def _row_keys(p: ParamInit | None, n: int) -> list:
    """A hashable key per row (unit) of a parameter: equal keys iff equal rows."""
    if p is None or p.kind == "uniform":
        return [None] * n
    if p.kind == "generic":
        return list(range(n))
    arr = p.exact_array()
    return [tuple(arr[i].reshape(-1)) if arr.ndim > 1 else arr[i] for i in range(n)]


def _col_keys(p: ParamInit, n: int) -> list:
    if p.kind == "uniform":
        return [None] * n
    if p.kind == "generic":
        return list(range(n))
    arr = p.exact_array()
    return [tuple(arr[:, j]) for j in range(n)]


def unit_partition(net: Network, inits: dict[str, ParamInit]) -> Partition:
    """The coarsest partition of the units into classes of identical units.

    Inputs and outputs are always single units (distinct data, distinct labels).
    A hidden unit's class is determined by its incoming row, its bias and its
    outgoing column; when all three parameters are uniform the whole layer is
    one class, whatever its width (symbolic widths included).
    """
    classes: list[tuple[UnitClass, ...]] = []
    lookup: list[np.ndarray | None] = []
    L = net.depth
    for l, n in enumerate(net.sizes):
        if l in (0, L):
            classes.append(tuple(UnitClass(l, i, 1, (i,)) for i in range(n)))
            lookup.append(np.arange(n))
            continue
        touching = [inits[f"W{l}"], inits[f"W{l + 1}"]] + ([inits[f"b{l}"]] if net.bias else [])
        if all(p.kind == "uniform" for p in touching):
            members = None if not isinstance(n, int) else range(n)
            classes.append((UnitClass(l, 0, n, members),))
            lookup.append(None)
            continue
        if not isinstance(n, int):  # resolve_init already refuses this; keep the message clear
            raise InitError(f"layer {l} has symbolic width {n}; its parameters must be zeros() or constant()")
        keys = list(zip(
            _row_keys(inits[f"W{l}"], n),
            _row_keys(inits.get(f"b{l}"), n),
            _col_keys(inits[f"W{l + 1}"], n),
        ))
        first_seen: dict = {}
        table = np.empty(n, dtype=np.int64)
        for i, key in enumerate(keys):
            table[i] = first_seen.setdefault(key, len(first_seen))
        groups: list[list[int]] = [[] for _ in first_seen]
        for i, c in enumerate(table):
            groups[c].append(i)
        classes.append(tuple(
            UnitClass(l, c, len(g), range(g[0], g[-1] + 1) if g == list(range(g[0], g[-1] + 1)) else tuple(g))
            for c, g in enumerate(groups)
        ))
        lookup.append(table)
    return Partition(tuple(classes), tuple(lookup))
