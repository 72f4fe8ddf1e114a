"""Optimizer classes by what they preserve: the pattern lattice of each class, per parameter.

The invariance lemma (docs/theory.md §2) has two halves: the per-example gradient maps the
pattern's subspace ``V`` into itself, and the optimizer's update maps gradient histories in ``V``
into ``V``.  The second half depends on the optimizer.  For each class the patterns it preserves
form a lattice (closed under intersection), and the prover computes the smallest invariant pattern
*of that lattice* containing the init: the relaxation alternates the gradient split with a
projection onto the lattice (:class:`PatternLattice`), which only drops constraints, until both
leave the pattern unchanged.  Every kept constraint is then a real invariant for the class:

* ``coordinatewise`` (SGD, momentum, Adam, …) and ``sign`` (Lion): one coordinatewise function of
  each coordinate's history, zero history -> zero update.  Every pattern (ties across tensors too,
  when those tensors are trained by the same optimizer).
* ``tensorwise`` (LAMB, LARS): a positive scalar per tensor times a coordinatewise update.  Zeros,
  and ties inside one tensor; a tie across tensors meets two different scalars and is dropped.
* ``factored`` (Adafactor): ``G_ij / sqrt(R_i C_j / mean R)`` times per-tensor scalars.  Zeros;
  a tie ``(i,j) ~ (i',j')`` inside one tensor when rows ``i, i'`` hold the same multiset of classes
  (then ``R_i = R_i'`` for every gradient in ``V``) and so do columns ``j, j'``; iterated to a fixed
  point (splitting a tie changes the multisets).
* ``rowcol`` (Muon, Shampoo, SOAP): ``G -> p(GGᵀ)G`` and ``L^{-1/4} G R^{-1/4}`` commute with
  permutations of rows and of columns and send a zero row (column) to a zero row (column).  A
  matrix keeps its whole zero rows and columns and its tied rows and columns (``(i,j) ~ (i',j')``
  iff rows ``i ~ i'`` and columns ``j ~ j'``: the fixed space of a group of row and column
  permutations); a vector is an ``n × 1`` matrix (its entries are rows); a tensor with three or more
  axes keeps its slices along the first axis (per-mode preconditioners mix the other axes jointly).

First moves: for entrywise classes a coordinate whose gradient history is zero is not updated.
For ``rowcol`` only whole zero rows (columns) of the momentum give zero rows (columns) of the
update, so the first-move iteration freezes the closure :meth:`PatternLattice.closure`: the
entries whose row or column has had zero gradient throughout.  A *move* at step 1 transfers from
the gradient to the update entrywise for every entrywise class (``sign(g) ≠ 0``, Adam's and
Adafactor's ``g/√v ≠ 0``, a positive trust ratio); for ``rowcol`` a nonzero gradient row gives a
nonzero update row (Muon's quintic ``a + b s² + c s⁴`` with torch's coefficients has no real root,
so every Newton–Schulz step keeps every nonzero singular value nonzero) but a single entry may be 0,
so no entry's move is claimed.  Later moves are certified on an SGD trajectory; they transfer only
to the coordinatewise class.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable, Mapping, Sequence

import numpy as np

from .errors import InvalidArgument, RegistryError
from .jsontext import JsonFace
from .optimizers import OptimizerClass, optimizer_class, registered_optimizer_classes

__all__ = ["Structure", "STRUCTURES", "OptimizerAssignment", "optimizer_assignment", "PatternLattice",
           "OPTIMIZER_RULES", "registered_optimizers"]

Coord = tuple[str, int]  # (parameter name, flat index), as the graph prover's coordinates


@dataclass(frozen=True)
class Structure:
    """What an optimizer class's update preserves (see the module docstring)."""

    name: str
    #: ties between entries of different tensors survive (the tensors are trained by one such optimizer)
    cross_tensor_ties: bool
    #: a coordinate with zero gradient history gets a zero update (else: whole rows/columns only)
    entrywise_moves: bool
    #: a certified first move of the gradient at step t > 1 (SGD witness) is a move of this class too
    later_moves_transfer: bool


STRUCTURES: dict[str, Structure] = {s.name: s for s in (
    Structure("coordinatewise", True, True, True),
    Structure("sign", True, True, False),
    Structure("tensorwise", False, True, False),
    Structure("factored", False, True, False),
    Structure("rowcol", False, False, False),
)}


# ---------------------------------------------------------------- optimizers -> a class per tensor
@dataclass(frozen=True)
class _Rule:
    """An optimizer as people run it: its display name, and the class of a tensor of each rank."""

    display: str
    by_rank: Callable[[int], tuple[str, str]]  # rank -> (optimizer name shown, class name)
    replay: tuple[str, ...]  # names in symderiv.graph.replay.OPTIMIZERS


def _one(display: str, cls: str, replay: tuple[str, ...]) -> _Rule:
    return _Rule(display, lambda rank: (display, cls), replay)


#: optimizer name -> how it treats each tensor.  ``muon``: torch.optim.Muon takes 2-D parameters only,
#: the others go to AdamW (as its documentation shows); ``adafactor`` factors tensors of rank >= 2 and
#: keeps a per-entry second moment for vectors (still times per-tensor scalars: tensorwise)
OPTIMIZER_RULES: dict[str, _Rule] = {
    "sgd": _one("SGD", "coordinatewise", ("sgd",)),
    "momentum": _one("SGD with momentum", "coordinatewise", ("momentum",)),
    "nesterov": _one("Nesterov", "coordinatewise", ("nesterov",)),
    "rmsprop": _one("RMSProp", "coordinatewise", ("rmsprop",)),
    "adam": _one("Adam", "coordinatewise", ("adam",)),
    "adamw": _one("AdamW", "coordinatewise", ("adam",)),
    "lion": _one("Lion", "sign", ("lion",)),
    "lamb": _one("LAMB", "tensorwise", ("lamb",)),
    "lars": _one("LARS", "tensorwise", ("lars",)),
    "adafactor": _Rule("Adafactor", lambda rank: ("Adafactor", "factored" if rank >= 2 else "tensorwise"),
                       ("adafactor",)),
    "muon": _Rule("Muon", lambda rank: ("Muon", "rowcol") if rank == 2 else ("AdamW", "coordinatewise"), ("muon",)),
    "shampoo": _one("Shampoo", "rowcol", ("shampoo",)),
    "soap": _one("SOAP", "rowcol", ("soap",)),
}


def registered_optimizers() -> tuple[str, ...]:
    return tuple(sorted(OPTIMIZER_RULES))


@dataclass(frozen=True)
class OptimizerAssignment(JsonFace):
    """The class each trainable parameter is trained under; the scope of every statement.

    ``per_parameter``: ``(parameter, optimizer shown, class name)`` in parameter order; ``name``: what
    the user asked for (``"muon"``, a class name, or ``"per-parameter"``)."""

    name: str
    per_parameter: tuple[tuple[str, str, str], ...]
    replay: tuple[str, ...] = ()

    @property
    def members(self) -> tuple[str, ...]:
        """``Muon on W1, W2`` style groups (the optimizers the statements cover, per tensor)."""
        groups: dict[tuple[str, str], list[str]] = {}
        for param, shown, cls in self.per_parameter:
            groups.setdefault((shown, cls), []).append(param)
        return tuple(f"{shown} on {', '.join(ps)} (class '{cls}')" for (shown, cls), ps in groups.items())

    def class_of(self, param: str) -> OptimizerClass:
        for p, _, cls in self.per_parameter:
            if p == param:
                return optimizer_class(cls)
        raise KeyError(f"{param!r} is not a trainable parameter of this analysis")

    def structure_of(self, param: str) -> Structure:
        return STRUCTURES[self.class_of(param).preserves]

    def scope_phrase(self) -> str:
        parts = list(self.members)
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"{text} (optimizer '{self.name}'; tensors trained by one optimizer share its hyperparameters)"

    @property
    def is_coordinatewise(self) -> bool:
        """One coordinatewise optimizer for every tensor: the coordinatewise proof applies unchanged."""
        return (all(cls == "coordinatewise" for _, _, cls in self.per_parameter)
                and len({shown for _, shown, _ in self.per_parameter}) <= 1)

    def to_dict(self) -> dict:
        return {"name": self.name,
                "per_parameter": {p: {"optimizer": shown, "class": cls,
                                      "preserves": optimizer_class(cls).preserves}
                                  for p, shown, cls in self.per_parameter},
                "classes": {cls: optimizer_class(cls).to_dict()
                            for cls in sorted({c for _, _, c in self.per_parameter})}}


def _resolve_one(spec: object, rank: int) -> tuple[str, str, tuple[str, ...]]:
    """``(optimizer shown, class name, replay names)`` of one spec for a tensor of ``rank``."""
    if isinstance(spec, OptimizerClass):
        return ", ".join(spec.members), spec.name, ()
    if not isinstance(spec, str):
        raise InvalidArgument(f"an optimizer is a name (one of {', '.join(registered_optimizers())}) or a class "
                              f"(one of {', '.join(registered_optimizer_classes())}), got {type(spec).__name__}")
    key = spec.lower()
    if key in OPTIMIZER_RULES:
        rule = OPTIMIZER_RULES[key]
        shown, cls = rule.by_rank(rank)
        return shown, cls, rule.replay
    try:
        cls_ = optimizer_class(key)
    except RegistryError:
        raise InvalidArgument(f"unknown optimizer {spec!r}; optimizers: {', '.join(registered_optimizers())}; "
                              f"classes: {', '.join(registered_optimizer_classes())}") from None
    return ", ".join(cls_.members), cls_.name, ()


def optimizer_assignment(optimizer: object, shapes: Mapping[str, tuple[int, ...]]) -> OptimizerAssignment:
    """The :class:`OptimizerAssignment` of ``optimizer`` for trainable parameters of ``shapes`` (in order).

    ``optimizer``: an optimizer name (``"muon"``, ``"adafactor"``, ``"lion"``, ``"lamb"``, ``"shampoo"``, …),
    a class name or :class:`~symderiv.optimizers.OptimizerClass`, or a mapping parameter -> either (every
    trainable parameter named; e.g. ``{"W1": "muon", "b1": "adamw", …}``)."""
    if isinstance(optimizer, Mapping):
        unknown = sorted(set(map(str, optimizer)) - set(shapes))
        missing = [p for p in shapes if p not in optimizer]
        if unknown or missing:
            raise InvalidArgument(
                f"a per-parameter optimizer mapping must name every trainable parameter exactly: "
                + (f"unknown {', '.join(unknown)}; " if unknown else "")
                + (f"missing {', '.join(missing)}; " if missing else "")
                + f"parameters: {', '.join(shapes)}")
        rows, replay = [], []
        for p, shape in shapes.items():
            shown, cls, names = _resolve_one(optimizer[p], len(shape))
            rows.append((p, shown, cls))
            replay += [n for n in names if n not in replay]
        return OptimizerAssignment("per-parameter", tuple(rows), tuple(replay))
    name = optimizer.name if isinstance(optimizer, OptimizerClass) else str(optimizer)
    rows, replay = [], []
    for p, shape in shapes.items():
        shown, cls, names = _resolve_one(optimizer, len(shape))
        rows.append((p, shown, cls))
        replay += [n for n in names if n not in replay]
    return OptimizerAssignment(name.lower() if isinstance(optimizer, str) else name, tuple(rows), tuple(replay))


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

        keys = []
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


# ---------------------------------------------------------------- running the prover for an assignment
def prove_for_optimizer(graph, values_mode: str, assignment: OptimizerAssignment, *, seed: int = 0,
                        seconds: float = 5.0):
    """``(proof, lattice)``: the graph prover on the assignment's lattice (entry by entry: lumping and the
    tensor-level path assume the coordinatewise lattice), with first-move tightness kept only where it
    transfers to the assignment's optimizers (see the module docstring)."""
    from .graph.prover import prove_graph
    from .graph.values import init_values
    from .prover import FirstMove

    shapes = {n: tuple(graph.params[n].shape) for n in graph.trainable()}
    lattice = PatternLattice(assignment, shapes)
    vals, symbols = init_values(graph, values_mode)
    proof = prove_graph(graph, vals, symbols, seed=seed, seconds=seconds, lattice=lattice)
    for k, fm in proof.first_moves.items():
        if fm.tight and not _move_transfers(assignment, proof.classes[k], fm.step):
            proof.first_moves[k] = FirstMove(fm.step, False, fm.undecided)
    return proof, lattice


def structural_for_optimizer(graph, assignment: OptimizerAssignment, *, name: str, seed: int = 0):
    """The tensor-level analysis (:mod:`symderiv.graph.structural`) of a large graph of zero and generic
    tensors, for ``assignment``; None where that path does not apply.  Its pattern (whole zero tensors, no
    ties) lies in every lattice and its first moves are per whole tensor (a tensor with zero gradient history
    is not updated by any class), so only the tightness of moves is restricted (:func:`_move_transfers`)."""
    from .graph.structural import structural_analysis
    from .prover import FirstMove

    fast = structural_analysis(graph, optimizer_class=assignment, name=name, seed=seed)
    if fast is None:
        return None
    s = fast.proof.structural
    for param, fm in list(s.first_moves.items()):
        if fm.tight and not _move_transfers(assignment, [(param, 0)], fm.step):
            s.first_moves[param] = FirstMove(fm.step, False, fm.undecided)
    view = fast.proof
    for k, fm in list(view.first_moves.items()):
        if fm.tight and not _move_transfers(assignment, [(view.class_of.param_of(k), 0)], fm.step):
            view.first_moves[k] = FirstMove(fm.step, False, fm.undecided)
    return fast


def _move_transfers(assignment: OptimizerAssignment, members: Sequence[Coord], step: int | None) -> bool:
    """A move certified on an SGD trajectory is a move of the assignment's optimizers: at step 1 (the gradient
    at the init does not depend on the optimizer) for entrywise classes; later only when every tensor is
    trained by one coordinatewise optimizer."""
    if assignment.is_coordinatewise:
        return True
    params = {n for n, _ in members}
    return step == 1 and all(assignment.structure_of(n).entrywise_moves for n in params)


#: rowcol optimizers whose first update maps a nonzero gradient row to a nonzero row: Muon (the quintic has no
#: real root), Shampoo ((L + εI)^(-1/4) G (R + εI)^(-1/4) with L = GGᵀ: row i is U_i·(positive diagonal)·Vᵀ).
#: Not SOAP: its first step only initializes its eigenbases and leaves the parameters unchanged
ROW_MOVES_AT_FIRST_UPDATE = frozenset({"Muon", "Shampoo"})


def rows_moving_first(analysis) -> dict[str, list[int]]:
    """Per matrix trained by Muon or Shampoo: the rows (0-based) with a certified nonzero gradient at the init.  Under Muon
    (Newton–Schulz with torch's coefficients: ``a + b s² + c s⁴`` has no real root) and exact polar or
    Shampoo-type maps, a nonzero row of the momentum gives a nonzero row of the update, so each of these
    rows changes at update 1 (which of its entries is not claimed)."""
    proof, assignment = analysis.proof, analysis.optimizers
    if not isinstance(assignment, OptimizerAssignment):
        return {}
    shown = {p: opt for p, opt, _ in assignment.per_parameter}
    certified = {k for t in proof.trajectories for k, step, _ in t.moved if step == 1}
    out: dict[str, set[int]] = {}
    for k in certified:
        for name, flat in proof.classes[k]:
            shape = proof.graph.params[name].shape
            if shown[name] in ROW_MOVES_AT_FIRST_UPDATE and len(shape) >= 2:
                out.setdefault(name, set()).add(flat // int(np.prod(shape[1:])))
    return {n: sorted(rows) for n, rows in sorted(out.items())}


def float_init(net, inits: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Float arrays standing for an MLP init (:class:`~symderiv.init.ParamInit` per parameter) in the graph's
    generic-values convention: exact numbers as floats, and one float per init symbol, distinct from every
    other value, so that equal floats are exactly the entries the init makes equal."""
    import sympy as sp

    exact = {}
    for n, p in inits.items():
        shape = net.shape(n)
        if not all(isinstance(d, int) for d in shape):
            raise InvalidArgument(f"optimizer=... analyzes the network entry by entry: {n} has symbolic shape {shape}; "
                                  "give concrete widths")
        exact[n] = np.array([p.entry(idx) for idx in np.ndindex(*shape)], dtype=object).reshape(shape)
    numbers = {float(v) for a in exact.values() for v in a.flat if getattr(v, "is_number", True)}
    stand_in: dict[object, float] = {}
    k = 0
    for name in exact:
        for v in exact[name].flat:
            if getattr(v, "is_number", True) or v in stand_in:
                continue
            while True:  # irrational-looking, nonzero, never equal to a number of the init
                k += 1
                candidate = float(sp.sqrt(k + 1)) / 7
                if candidate not in numbers:
                    break
            stand_in[v] = candidate
    return {n: np.array([float(v) if getattr(v, "is_number", True) else stand_in[v] for v in a.flat],
                        dtype=np.float64).reshape(a.shape) for n, a in exact.items()}


_LATTICE_TEXT = {
    "coordinatewise": "every zero and tie",
    "sign": "every zero and tie",
    "tensorwise": "zeros and ties inside the tensor",
    "factored": "zeros; ties whose rows and columns have equal statistics",
    "rowcol": "whole zero and tied rows and columns",
}


def lattice_notes(analysis) -> list[str]:
    """Summary lines of an analysis restricted to an optimizer's lattice: what each tensor's optimizer
    preserves, the init zeros not claimed, the rows certified to move at update 1, and how moves are read."""
    proof, assignment, lattice = analysis.proof, analysis.optimizers, analysis.lattice
    g = proof.graph
    groups: dict[str, list[str]] = {}
    for p, shown, cls in assignment.per_parameter:
        kind = STRUCTURES[optimizer_class(cls).preserves].name
        text = _LATTICE_TEXT[kind]
        if kind == "rowcol" and len(g.params[p].shape) == 1:
            text = "zeros and ties of entries (a vector is an n x 1 matrix)"
        elif kind == "rowcol" and len(g.params[p].shape) > 2:
            text = "whole zero and tied slices along the first axis"
        groups.setdefault(f"{text} ({shown})", []).append(p)
    lines = [f"Optimizer '{assignment.name}': every statement is proved on the patterns it preserves: "
             + "; ".join(f"{', '.join(ps)}: {text}" for text, ps in groups.items()) + "."]
    released = sorted(c for c in lattice.dropped_zeros if not analysis.facts[proof.class_of[c]].stays_zero)
    if released:
        from .graph.prover import coord_label

        lines.append(f"Not claimed under this optimizer: {len(released)} zero entr{'y' if len(released) == 1 else 'ies'} "
                     f"of the init that it does not keep (e.g. {coord_label(g, released[0])}).")
    rows = rows_moving_first(analysis)
    if rows:
        lines.append("Rows certified to change at update 1 (a nonzero gradient row, certified on the witness example, "
                     "gives a nonzero update row under Muon and Shampoo; which entries change is not claimed): "
                     + "; ".join(f"{n} rows {', '.join(str(r) for r in rs)}" for n, rs in rows.items()) + ".")
    lines.append("First-move steps are proved lower bounds; a move is certified only at update 1 and only where "
                 "the optimizer updates entry by entry.")
    return lines


def analyze_network(net, init: object, optimizer: object, *, seed: int = 0, seconds: float = 5.0):
    """An MLP (:func:`symderiv.mlp`) analyzed for ``optimizer``: None when one coordinatewise optimizer trains
    every parameter (the chain prover's statements already hold), else the
    :class:`~symderiv.graph.GraphAnalysis` of the network's graph proved on the optimizer's lattice, with the
    init's zeros and equal values kept and every other value generic."""
    from .graph.analysis import analyze_graph
    from .graph.from_network import graph_of_network
    from .init import resolve_init

    names = net.parameter_names()
    shapes = {n: tuple(net.shape(n)) for n in names}
    if not all(isinstance(d, int) for s in shapes.values() for d in s):
        raise InvalidArgument("optimizer=... outside the coordinatewise class analyzes entry by entry: give the "
                              "network concrete widths")
    if optimizer_assignment(optimizer, shapes).is_coordinatewise:
        return None
    graph = graph_of_network(net, float_init(net, resolve_init(net, init)))
    return analyze_graph(graph, values="generic", seed=seed, seconds=seconds, name=net.describe(),
                         optimizer=optimizer)


def lattice_json(analysis) -> dict:
    """The JSON of an analysis restricted to an optimizer's lattice (the same facts as :func:`lattice_notes`)."""
    from .graph.prover import coord_label

    proof, lattice = analysis.proof, analysis.lattice
    released = sorted(c for c in lattice.dropped_zeros if not analysis.facts[proof.class_of[c]].stays_zero)
    return {
        "preserves": {p: optimizer_class(cls).preserves for p, _, cls in analysis.optimizers.per_parameter},
        "init_zeros_not_claimed": [coord_label(proof.graph, c) for c in released],
        "rows_certified_to_move_at_update_1": rows_moving_first(analysis),
        "first_moves": "proved lower bounds; a move is certified only at update 1 and only for optimizers that "
                       "update entry by entry (certified on SGD witness trajectories)",
    }


def lattice_latex(analysis) -> list[str]:
    """The proof's invariance lemma and first-move argument for an optimizer assignment (LaTeX lines)."""
    from .latex.context import latex_text

    assignment = analysis.optimizers
    kinds = sorted({optimizer_class(cls).preserves for _, _, cls in assignment.per_parameter})
    items = []
    for p, shown, cls in assignment.per_parameter:
        items.append(rf"\texttt{{{latex_text(p)}}}: {latex_text(shown)} (class \emph{{{latex_text(cls)}}})")
    reasons = {
        "coordinatewise": r"a coordinatewise optimizer applies one function to each coordinate's own history: entries "
                          r"with equal histories get equal updates, a zero history a zero update",
        "sign": r"Lion's update is the sign of a coordinatewise linear combination of the history, and $\mathrm{sign}"
                r"(0) = 0$",
        "tensorwise": r"LAMB and LARS multiply a coordinatewise update by one positive scalar per tensor, so equal "
                      r"entries of one tensor stay equal and zeros stay $0$; entries of different tensors meet "
                      r"different scalars, so $V(P)$ ties no entries of different tensors",
        "factored": r"Adafactor divides $G_{ij}$ by $\sqrt{R_i C_j / \bar R}$ ($R$, $C$ running row and column means "
                    r"of $G^2$) and multiplies by per-tensor scalars; in $V(P)$ tied entries read rows (columns) "
                    r"holding the same multiset of classes, so their statistics agree, and $G_{ij} = 0$ gives $0$",
        "rowcol": r"Muon's Newton--Schulz map $G \mapsto p(GG^\top)G$, Shampoo's $L^{-1/4} G R^{-1/4}$ and SOAP's "
                  r"Adam in the eigenbases of $L, R$ commute with permutations of rows and of columns and send a "
                  r"zero row (column) to a zero row (column); $V(P)$ restricted to such a matrix is the space fixed "
                  r"by a group of row and column permutations with some rows and columns zero (a vector is an "
                  r"$n \times 1$ matrix; a tensor of three or more axes keeps slices along its first axis), and "
                  r"momentum is linear, so the update stays in $V(P)$",
    }
    return [
        r"\section{Proof}",
        r"A \emph{pattern} $P$ is a set $Z$ of trainable entries and an equivalence relation (tie classes) on the "
        r"others; $V(P)$ is the linear space of parameters that vanish on $Z$ and are constant on each class, one "
        r"coordinate $\theta_{k}$ per class. The optimizer is assigned per tensor: " + "; ".join(items) + ".",
        r"\begin{lemma}[Invariance]\label{lem:inv}",
        r"Let $P$ be a pattern of the assignment's lattice (below). If for every $\theta \in V(P)$ and every single "
        r"example the per-example gradient lies in $V(P)$, then every trajectory of the assigned optimizers started "
        r"in $V(P)$ stays in $V(P)$, for every dataset and batch size.",
        r"\end{lemma}",
        r"\begin{proof}A minibatch gradient is an average of per-example gradients, so it lies in $V(P)$, and so do "
        r"the optimizers' linear states (momentum). The lattice is chosen so that each update maps such histories "
        r"into $V(P)$: " + "; ".join(reasons[k] for k in kinds) + r". Weight decay multiplies a tensor by a "
        r"scalar. By induction on $t$ the trajectory stays in $V(P)$.\end{proof}",
        r"The relaxation alternates the gradient split with a projection onto the lattice (the smallest pattern of "
        r"the lattice whose space contains the current one: only constraints are dropped), until both leave the "
        r"pattern unchanged. For the first moves, $H_t$ is the set of classes whose gradient vanished identically at "
        r"every earlier step and $F_t \subseteq H_t$ the classes the assigned optimizer provably leaves unchanged: "
        r"all of $H_t$ for entrywise optimizers, and for a matrix under a row/column map only the entries whose whole "
        r"row or whole column lies in $H_t$ (a zero row of the momentum gives a zero row of the update). $A_t$ holds "
        r"$F_t$ at its init values. A move is certified only at update 1 (the gradient at the init does not depend "
        r"on the optimizer) and only for optimizers that update entry by entry.",
    ]


# ---------------------------------------------------------------- the widest class of every claim
#: the lattices from the most restrictive (its statements hold for every class) to the least: each class's
#: patterns are patterns of the next ones (a product pattern has tied row and column statistics; those are
#: patterns inside one tensor; those are patterns), so a statement proved on one holds for all the later ones
LATTICE_CHAIN = ("rowcol", "factored", "tensorwise", "coordinatewise")
#: the classes a statement proved on a lattice of :data:`LATTICE_CHAIN` holds for (Lion's lattice is the
#: coordinatewise one)
HOLDS_FOR = {level: tuple(c for lvl in LATTICE_CHAIN[i:] for c in ((lvl, "sign") if lvl == "coordinatewise"
                                                                     else (lvl,)))
             for i, level in enumerate(LATTICE_CHAIN)}


@dataclass
class WidestClasses(JsonFace):
    """Per claim, the widest optimizer class it is proved for (:func:`widest_classes`).

    ``zeros``: parameter -> object array, per entry the most restrictive lattice of :data:`LATTICE_CHAIN` on
    which it is proved to stay 0 (None: on none); ``ties``: ``(entries, lattice)`` groups proved equal;
    ``first_moves``: parameter -> lattice -> array of proved first-move steps (lower bounds; None = never)."""

    zeros: dict[str, np.ndarray]
    ties: list[tuple[tuple[str, ...], str]]
    first_moves: dict[str, dict[str, np.ndarray]]

    def summary(self) -> str:
        lines = []
        for name, arr in self.zeros.items():
            levels = {v for v in arr.flat if v is not None}
            for level in LATTICE_CHAIN:
                if level in levels:
                    count = sum(1 for v in arr.flat if v == level)
                    lines.append(f"{name}: {count} entr{'y' if count == 1 else 'ies'} stay 0 for "
                                 f"{_classes_text(level)}.")
        for entries, level in self.ties:
            shown = ", ".join(entries[:3]) + (", …" if len(entries) > 3 else "")
            lines.append(f"Tied ({len(entries)} entries: {shown}) for {_classes_text(level)}.")
        for name, by in self.first_moves.items():
            texts = {lvl: "/".join("never" if s is None else str(s)
                                   for s in sorted(set(a.flat), key=lambda s: (s is None, s or 0)))
                     for lvl, a in by.items()}
            if len({a.tobytes() if a.dtype != object else repr(a.tolist()) for a in by.values()}) > 1:
                lines.append(f"{name}: first-move steps depend on the class ("
                             + "; ".join(f"{lvl}: {t}" for lvl, t in texts.items()) + ").")
        return "\n".join(lines) if lines else "No zero or tie is claimed for any class."

    def to_dict(self) -> dict:
        return {"chain": list(LATTICE_CHAIN), "holds_for": {k: list(v) for k, v in HOLDS_FOR.items()},
                "zeros": {n: a.tolist() for n, a in self.zeros.items()},
                "ties": [{"entries": list(e), "holds_for": list(HOLDS_FOR[level])} for e, level in self.ties],
                "first_move_step": {n: {lvl: a.tolist() for lvl, a in by.items()} for n, by in self.first_moves.items()}}


def _classes_text(level: str) -> str:
    return "every class" if level == LATTICE_CHAIN[0] else "the classes " + ", ".join(HOLDS_FOR[level])


def widest_classes(graph, values_mode: str = "generic", *, seed: int = 0, seconds: float = 5.0) -> WidestClasses:
    """Prove the graph's statements on every lattice of :data:`LATTICE_CHAIN` (entry by entry) and name, per
    claim, the most restrictive lattice it holds on: the widest set of optimizer classes it is proved for."""
    from .graph.analysis import GraphAnalysis
    from .graph.prover import coord_label

    shapes = {n: tuple(graph.params[n].shape) for n in graph.trainable()}
    analyses = {}
    for level in LATTICE_CHAIN:
        assignment = optimizer_assignment(level, shapes)
        proof, lattice = prove_for_optimizer(graph, values_mode, assignment, seed=seed, seconds=seconds)
        analyses[level] = GraphAnalysis(proof, assignment, values_mode, "graph", lattice=lattice)  # type: ignore[arg-type]
    zeros: dict[str, np.ndarray] = {}
    moves: dict[str, dict[str, np.ndarray]] = {}
    for name, shape in shapes.items():
        facts = {level: a.entry_facts(name) for level, a in analyses.items()}
        z = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            z[idx] = next((lvl for lvl in LATTICE_CHAIN if facts[lvl]["stays_zero"][idx]), None)
        zeros[name] = z
        moves[name] = {lvl: facts[lvl]["first_move_step"] for lvl in LATTICE_CHAIN}
    ties: list[tuple[tuple[str, ...], str]] = []
    seen: set[frozenset] = set()
    for level in LATTICE_CHAIN:
        a = analyses[level]
        groups: dict[int, list[tuple[str, int]]] = {}
        for c in a.proof.coords:
            f = a.facts[a.proof.class_of[c]]
            if not f.stays_zero:
                groups.setdefault(f.tie_id, []).append(c)
        for members in groups.values():
            key = frozenset(members)
            if len(members) > 1 and key not in seen:
                seen.add(key)
                ties.append((tuple(coord_label(graph, c) for c in members), level))
    return WidestClasses(zeros, ties, moves)
