"""The pattern lattice of an optimizer assignment: projection onto it, and the first-move closure."""
from __future__ import annotations

from typing import Callable, Hashable, Mapping, Sequence

import numpy as np

from .assignment import OptimizerAssignment

__all__ = ["PatternLattice", "Coord"]

Coord = tuple[str, int]  # (parameter name, flat index), as the graph prover's coordinates


# ---------------------------------------------------------------- the lattice of one assignment
class PatternLattice:
    """The patterns an :class:`OptimizerAssignment` preserves, on graph coordinates ``(name, flat index)``.

    :meth:`project` maps a pattern (tie classes and a zero class) to the smallest pattern of the
    lattice whose subspace contains the given one: it only drops constraints, so every class of the
    result lies inside a class of the argument.  :meth:`closure` is the set of classes the first-move
    iteration may freeze, given the classes whose gradient history is zero."""

    def __init__(self, assignment: OptimizerAssignment, shapes: Mapping[str, tuple[int, ...]]):
        self.assignment = assignment
        self.shapes = {n: tuple(int(d) for d in s) for n, s in shapes.items()}
        self.structure = {n: assignment.structure_of(n) for n in self.shapes}
        shown = {p: opt for p, opt, _ in assignment.per_parameter}
        # ties across tensors survive only between tensors trained by one coordinatewise optimizer
        self.group = {n: (("x", shown[n], assignment.class_of(n).name) if self.structure[n].cross_tensor_ties
                          else ("t", n)) for n in self.shapes}
        #: entries a projection released from the zero class (zeros the class does not preserve), for the faces
        self.dropped_zeros: set[Coord] = set()

    # ------------------------------------------------------------ projection
    def project(self, classes: Sequence[tuple[Coord, ...]], zero: int | None) -> tuple[list[tuple[Coord, ...]], int | None]:
        keys: dict[Coord, Hashable] = {}
        for k, members in enumerate(classes):
            for c in members:
                keys[c] = "Z" if k == zero else (k, self.group[c[0]])
        for name, shape in self.shapes.items():
            kind = self.structure[name].name
            flat = [keys[(name, i)] for i in range(int(np.prod(shape)) if shape else 1)]
            if kind == "rowcol" and len(shape) >= 2:
                new = _rows_and_columns(flat, shape, columns=len(shape) == 2)
            elif kind == "factored" and len(shape) >= 2:
                new = _factored(flat, shape)
            else:
                new = flat
            for i, key in enumerate(new):
                if key != "Z" and keys[(name, i)] == "Z":
                    self.dropped_zeros.add((name, i))
                keys[(name, i)] = key if key == "Z" else (name, key) if kind in ("rowcol", "factored") else key
        order: dict[Hashable, list[Coord]] = {}
        for c in (c for members in classes for c in members):
            order.setdefault(keys[c], []).append(c)
        position = {c: i for i, c in enumerate(sorted(keys, key=_coord_position(self.shapes)))}
        out = sorted((tuple(sorted(m, key=position.__getitem__)) for m in order.values()),
                     key=lambda m: position[m[0]])
        new_zero = next((i for i, m in enumerate(out) if keys[m[0]] == "Z"), None)
        return out, new_zero

    # ------------------------------------------------------------ first moves
    def closure(self, history_zero: set[int], classes: Sequence[tuple[Coord, ...]], zero: int | None) -> set[int]:
        """The classes of ``history_zero`` proved not updated: for entrywise classes all of them; for a
        ``rowcol`` tensor the entries whose whole row (or, for a matrix, whole column) has had zero gradient
        at every step (zero-class entries always have)."""
        quiet = {c for k, m in enumerate(classes) if k in history_zero or k == zero for c in m}
        out = set()
        for k in history_zero:
            if all(self._unchanged(c, quiet) for c in classes[k]):
                out.add(k)
        return out

    def _unchanged(self, c: Coord, quiet: set[Coord]) -> bool:
        name, flat = c
        shape = self.shapes[name]
        if self.structure[name].entrywise_moves or len(shape) < 2:
            return c in quiet
        rows, cols = shape[0], int(np.prod(shape[1:]))
        i, j = divmod(flat, cols)
        if all((name, i * cols + jj) in quiet for jj in range(cols)):
            return True
        return len(shape) == 2 and all((name, ii * cols + j) in quiet for ii in range(rows))


def _coord_position(shapes: Mapping[str, tuple[int, ...]]) -> Callable[[Coord], tuple[int, int]]:
    names = {n: i for i, n in enumerate(shapes)}
    return lambda c: (names[c[0]], c[1])


def _canonical(values: Sequence[Hashable]) -> list[int]:
    """Values -> small ints by first occurrence (equal values, equal ints)."""
    seen: dict[Hashable, int] = {}
    return [seen.setdefault(v, len(seen)) for v in values]


def _rows_and_columns(flat: list[Hashable], shape: tuple[int, ...], *, columns: bool) -> list[Hashable]:
    """The product pattern implied by ``flat``: zero rows (and columns), tied rows (and columns)."""
    rows, cols = shape[0], int(np.prod(shape[1:]))
    grid = [flat[i * cols:(i + 1) * cols] for i in range(rows)]
    zero_row = [all(v == "Z" for v in r) for r in grid]
    row_id = _canonical([tuple(r) for r in grid])
    if columns:
        zero_col = [all(grid[i][j] == "Z" for i in range(rows)) for j in range(cols)]
        col_id = _canonical([tuple(grid[i][j] for i in range(rows)) for j in range(cols)])
    else:
        zero_col, col_id = [False] * cols, list(range(cols))
    return ["Z" if zero_row[i] or zero_col[j] else ("rc", row_id[i], col_id[j])
            for i in range(rows) for j in range(cols)]


def _factored(flat: list[Hashable], shape: tuple[int, ...]) -> list[Hashable]:
    """Split ties until every tie reads rows and columns (along the last two axes) with equal multisets of
    classes, and, for a stack of matrices, slices with equal multisets (each slice is normalized by its own
    mean row statistic); zeros stay."""
    rows, cols = shape[-2], shape[-1]
    lead = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    ids = _canonical(flat)
    zero_ids = {ids[i] for i, v in enumerate(flat) if v == "Z"}
    while True:
        def sig(cells: list[int]) -> tuple[int, ...]:
            return tuple(sorted(ids[c] for c in cells if ids[c] not in zero_ids))

        keys: list[tuple] = []
        for a in range(lead):
            whole = sig(list(range(a * rows * cols, (a + 1) * rows * cols)))
            for i in range(rows):
                for j in range(cols):
                    at = (a * rows + i) * cols + j
                    if ids[at] in zero_ids:
                        keys.append(("Z",))
                        continue
                    row = [(a * rows + i) * cols + jj for jj in range(cols)]
                    col = [(a * rows + ii) * cols + j for ii in range(rows)]
                    keys.append((ids[at], sig(row), sig(col), whole))
        new = _canonical(keys)
        if len(set(new)) == len(set(ids)):
            return ["Z" if ids[i] in zero_ids else ("f", ids[i]) for i in range(len(ids))]
        zero_ids = {new[i] for i in range(len(ids)) if ids[i] in zero_ids}
        ids = new
