"""Input reduction: exchangeable input coordinates, and why four of them stand for any number.

The prover's cost grows with the number of blocks, and every input coordinate is its
own class of the partition (data are distinct), so ``W1`` has ``n_0 × (row classes)``
blocks: softmax regression on MNIST (784-10) at zero init means 7840 blocks.  But at
a zero, constant or column-repeating init most input coordinates are interchangeable,
and a class of them needs only four representatives.

Definitions
-----------
Input coordinates ``j, j'`` are *exchangeable* when the init's columns ``W1[:, j]`` and
``W1[:, j']`` are identical, entry by entry, as exact values (a symbol is a value: ``c``
equals ``c``, ``W1_1_2`` never equals ``W1_1_3``).  The *input classes* are the classes
of this equivalence: one class for a uniform ``W1`` (zeros, constant), one class per
column for a generic ``W1``, and the classes of equal columns for an explicit array.

The *reduced network* keeps, of every input class ``D``, its ``min(|D|, 4)`` first
columns (classes of at most 4 columns are kept whole), in the original order; it has the
same hidden widths, activations, loss and biases, ``W1`` restricted to the kept columns
at the init, and every other parameter's init unchanged.  Reduced column ``c_r(D)`` is
the kept column of rank ``r`` (0-based) in ``D``; a full column of rank ``r`` is
*represented* by ``c_min(r, 3)(D)``.  The hidden units' classes are the same in both
networks (two rows of ``W1`` that differ in some column differ in that column's kept
representative).

Lemma (input reduction)
-----------------------
Let ``P'`` be a zero/tie pattern of the reduced network that is invariant (every
constraint it keeps is a proved identity of the block gradients on ``V(P')``, for every
data point) and that is *symmetric*: invariant under the group ``G`` of permutations of
the kept columns of each input class of size ``≥ 5``, acting on ``W1``'s columns (the
constraints, the zero class and the first-move steps are mapped onto themselves).  Let
``P`` be its lift: full entry ``(i, j)`` of ``W1`` has the facts of reduced entry
``(i, rep(j))``; two full entries ``(i, j)``, ``(i', j')`` are tied when their reduced
entries are tied and, if those reduced entries' columns are *untied within their class*
(see (1)), ``j = j'``; everything else keeps its reduced facts.  Then

(a) ``P`` is invariant for the full network: every zero, tie, "unchanged before step t"
    and "never moves" of ``P`` holds at every step, for every dataset, batch, sample order
    and optimizer of the class;
(b) every certified split or first move of the reduced network is one of the full
    network; first moves that a reduced trajectory certifies for ``c_r(D)`` hold for every
    full column it represents.  In particular, when the reduced analysis is the exact
    smallest invariant pattern, its lift is the full network's smallest invariant pattern,
    entry by entry.

Proof.  (1) Structure of a symmetric ``P'``.  Fix a row class ``C`` and a reduced input
class ``D`` with kept columns ``c_0..c_3``.  Either ``(C, c_0) ~ (C, c_1)``, and then by
``G`` (2-transitive on ``c_0..c_3``) all four are tied ("tied row"); or not, and then the
class of ``(C, c_0)`` contains no block fixed by the permutations of ``D`` (``b1``,
``W2``, …, a column of another class: applying ``(c_0 c_1)`` would tie ``c_1`` to it,
hence to ``c_0``; a column of another reduced class ``D'`` is moved to a different
column of ``D'`` by a permutation of ``D'`` alone, and the same argument applies), so it
holds only blocks ``(C', c_0)`` of the same column ("untied row").  Zero rows and rows
whose class is frozen at step ``t`` are the same for ``c_0..c_3`` (``G`` maps the zero
class and the first-move steps onto themselves).

(2) Lifting an identity (proof of (a)).  An identity is about one or two entries.  Take a
full point ``θ`` of ``V(P)`` (or of the first-move set ``A_t`` of ``P``: classes frozen
before ``t`` at their initial values, the rest free within ``V(P)``) and full data ``x``;
let the entries involve at most two columns ``j, k`` of a class ``D`` (or one column in
each of two classes).  Per class ``D`` of size ``≥ 5`` write each column ``w_l = W1[:, l]``
(one value per row class) as ``w_l = a + u_l``, where ``a_C`` is the common value of row
``C`` when the row is zero, frozen (its initial value, the same in every column of ``D``)
or tied (the tied value), and ``a_C = 0`` on untied free rows; ``u_l`` is supported on the
untied free rows and satisfies their within-column ties, which are linear and the same
for every column (by (1) and ``G``).  Build the reduced point ``θ'`` and data ``x'``:

* ``c_0 := w_j``, ``x'_{c_0} := x_j``; ``c_1 := w_k``, ``x'_{c_1} := x_k`` (a column not
  involved is replaced by ``a`` with ``x' := 0``);
* ``c_2 := a``, ``x'_{c_2} := s − 1`` and ``c_3 := a + Σ_{l≠j,k} x_l u_l``,
  ``x'_{c_3} := 1``, where ``s = Σ_{l∈D, l≠j,k} x_l``;
* columns of classes of size ``≤ 4``, all other parameters and the labels: copied.

Then ``Σ_{l∈D} W1[C, l] x_l = w_{Cj} x_j + w_{Ck} x_k + (s − 1) a_C + a_C + Σ x_l u_{Cl}``
equals the reduced ``Σ_r W1'[C, c_r] x'_{c_r}``: every pre-activation, activation, δ and
the loss agree, so every gradient of ``b1, W2, …`` agrees and the gradient of full entry
``(C, j)`` is ``δ_C x_j``, the reduced gradient of ``(C, c_0)`` (``(C, k)`` ↔ ``(C, c_1)``).
No data is divided by.  ``θ'`` satisfies ``P'`` (and the reduced ``A_t``): on zero,
frozen and tied rows all four columns carry ``a_C``, the value the constraint asks for
(a tied row's other members outside ``D`` carry the same value in ``θ``); on untied rows
``c_0, c_1`` satisfy their column's ties (they are full columns of ``V(P)``), ``c_2``
is 0 there and ``c_3`` is a linear combination of vectors satisfying them.  So the
reduced identity, true at ``(θ', x')``, gives the full one at ``(θ, x)`` — with ``(C, j)``
and ``(C, k)`` in the roles of ``(C, c_0)`` and ``(C, c_1)``, which have, by ``G``, the
facts of ``(C, rep(j))`` and ``(C, rep(k))``.  Invariance of ``V(P)`` (resp. the zero
gradients on ``A_t``) follows for every example, hence for every batch, and the usual
induction over steps (coordinatewise optimizers map ``V(P)`` into itself) gives (a).
Four representatives are needed: two for the compared columns and two for the rest,
whose contribution is affine (frozen values times a data sum, plus a free part), not
linear, on ``A_t``.

(3) Lifting a refutation (proof of (b)).  A reduced point ``θ'`` with data ``x'``
(a split witness, or the first point of a certified trajectory) lifts to the full
network by *zero padding*: ``x_j := 0`` for the columns not kept, and those columns
take the values of their class's ``c_0`` (which satisfy every constraint of theirs).
A column with ``x_j = 0`` contributes ``W·0 = 0`` to every pre-activation and receives
gradient ``δ·0 = 0``, so along the full trajectory the kept columns, ``b1, W2, …``
follow the reduced trajectory exactly.  A certified difference or move in the reduced
network is therefore one in the full network.  The full network is equivariant under
permutations of the columns of ``D`` (together with the data coordinates), and its init
is invariant, so a trajectory moving column ``c_r(D)``'s full column at step ``t`` moves
any other column it represents after permuting the data.  When the reduced analysis is
the exact relaxation, its lift is therefore both invariant (a) and refuted at every
dropped constraint (b): the smallest invariant pattern of the full network.  ∎

The *published* witness trajectories do not rest on (3): zero-padded data would leave the columns
not kept at ``x = 0``, visibly not moving.  :mod:`symderiv.witness_full` spreads each reduced
witness over every column (nonzero data with each class's sums of data and of squared data,
all that single-example SGD sees of a class) and runs it again on the full
network in ball arithmetic; a move no such run certifies is not called tight.

Ties between columns: the columns of ``D`` in row class ``C`` are either all tied or
pairwise untied (``G`` is 2-transitive), so the lifted tie classes are the reduced ones
on tied rows and, on untied rows, one class per (reduced class, full column).

:func:`analyze` checks the symmetry of the reduced proof (it always holds for the exact
relaxation: the reduced network is itself equivariant under ``G``); if a bounded
simplification broke it, the reduction is abandoned and the full network is analyzed.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Mapping, Sequence

import numpy as np
import sympy as sp

from .engine import input_symbols
from .errors import InitError
from .init import ParamInit, constant, generic, zeros
from .network import Network
from .patterns import Block

__all__ = ["REPRESENTATIVES", "InputClass", "InputMap", "input_classes", "reduce_inputs", "is_symmetric",
           "init_specs", "columns_label"]

#: kept columns of an input class (see the lemma: two compared columns + two for the rest)
REPRESENTATIVES = 4
#: class sums over at most this many columns are written out (x_1 + … + x_8), wider ones as a Sum
EXPLICIT_SUM_MAX = 16


@dataclass(frozen=True)
class InputClass:
    """A class of exchangeable input coordinates: ``members`` (0-based full columns,
    increasing) and ``kept`` (the reduced columns of its ``min(|D|, 4)`` first members)."""

    index: int
    members: tuple[int, ...]
    kept: tuple[int, ...]

    @property
    def reduced(self) -> bool:
        """True when the class is represented by fewer columns than it has."""
        return len(self.members) > len(self.kept)

    @property
    def size(self) -> int:
        return len(self.members)

    def label(self) -> str:
        return columns_label(self.members)

    def represented(self, position: int) -> tuple[int, ...]:
        """The full columns represented by the kept column at ``position`` (0-based)."""
        if self.reduced and position == len(self.kept) - 1:
            return self.members[position:]
        return (self.members[position],)


def columns_label(columns: Sequence[int]) -> str:
    """``3`` / ``1..784`` / ``{1,3,5}`` for 0-based columns (printed 1-based)."""
    cols = list(columns)
    if len(cols) == 1:
        return str(cols[0] + 1)
    if cols == list(range(cols[0], cols[-1] + 1)):
        return f"{cols[0] + 1}..{cols[-1] + 1}"
    return "{" + ",".join(str(c + 1) for c in cols) + "}"


@dataclass(frozen=True)
class InputMap:
    """How the full network's inputs map to the reduced network's (see the lemma)."""

    full_net: Network
    reduced_net: Network
    full_inits: dict[str, ParamInit]
    reduced_inits: dict[str, ParamInit]
    classes: tuple[InputClass, ...]
    column_class: tuple[int, ...]  # per full column: its class
    column_rank: tuple[int, ...]  # per full column: its rank in its class
    full_of_reduced: tuple[int, ...]  # per reduced column: the full column it is

    @property
    def n_full(self) -> int:
        return len(self.column_class)

    @cached_property
    def reps(self) -> tuple[int, ...]:
        """Per full column: the reduced column representing it."""
        return tuple(self.classes[c].kept[min(rank, len(self.classes[c].kept) - 1)]
                     for c, rank in zip(self.column_class, self.column_rank))

    @cached_property
    def _x_full(self) -> list[sp.Symbol]:
        return input_symbols(self.n_full)

    @cached_property
    def _x_reduced(self) -> list[sp.Symbol]:
        return input_symbols(self.n_reduced)

    @property
    def n_reduced(self) -> int:
        return len(self.full_of_reduced)

    # ------------------------------------------------------------ columns
    def position(self, j: int) -> int:
        """The position (0..3) in its class's kept columns of the column representing ``j``."""
        D = self.classes[self.column_class[j]]
        return min(self.column_rank[j], len(D.kept) - 1)

    def rep(self, j: int) -> int:
        """The reduced column representing full column ``j``."""
        return self.reps[j]

    def class_of_reduced(self, r: int) -> InputClass:
        return self.classes[self.column_class[self.full_of_reduced[r]]]

    def represented(self, r: int) -> tuple[int, ...]:
        """The full columns represented by reduced column ``r``."""
        D = self.class_of_reduced(r)
        return D.represented(D.kept.index(r))

    def reduced_index(self, name: str, index: tuple[int, ...]) -> tuple[int, ...]:
        """A full entry index, validated against the full shape, in reduced coordinates."""
        shape = self.full_net.shape(name)
        if len(index) != len(shape):
            raise InitError(f"{name} has {len(shape)} index(es), got {index!r}")
        for i, n in zip(index, shape):
            if not isinstance(i, (int, np.integer)) or i < 0 or (isinstance(n, int) and i >= n):
                raise InitError(f"index {index!r} is out of range for {name} of shape {shape}")
        if name != "W1":
            return tuple(int(i) for i in index)
        return (int(index[0]), self.rep(int(index[1])))

    # ------------------------------------------------------------ data at the init
    def class_sum(self, D: InputClass) -> sp.Expr:
        """``Σ_{l∈D} x_l``: written out for small classes, a ``Sum`` over a range, or ``S<k>``."""
        x = self._x_full
        if D.size <= EXPLICIT_SUM_MAX:
            return sp.Add(*[x[m] for m in D.members])
        if D.members == tuple(range(D.members[0], D.members[-1] + 1)):
            l = sp.Symbol("l", integer=True, positive=True)
            return sp.Sum(sp.Indexed(sp.IndexedBase("x"), l), (l, D.members[0] + 1, D.members[-1] + 1))
        return sp.Symbol(f"S{D.index + 1}", real=True)

    def sum_text(self, D: InputClass) -> str:
        """``Σ_{l∈D} x_l`` for people: ``x_1 + x_2`` (small classes), ``x_1 + x_2 + … + x_784`` (a range)
        or ``sum of x_j for j in {1,3,5}``; 1-based, never a SymPy repr such as ``Sum(x[l], ...)``."""
        if D.size <= EXPLICIT_SUM_MAX:
            return str(self.class_sum(D))
        first, last = D.members[0] + 1, D.members[-1] + 1
        if D.members == tuple(range(first - 1, last)):
            return f"x_{first} + x_{first + 1} + … + x_{last}"
        return f"sum of x_j for j in {D.label()}"

    def data_at_init(self, column: int | None = None, column_value: object = None) -> dict:
        """Reduced data symbol -> full data expression, such that a closed form *at the init*
        (where the columns of a class are identical, so the data enter through the class sums
        and, for a ``W1`` entry, its own column) becomes the full network's.

        ``column``: the full column of the ``W1`` entry whose form is wanted (None for other
        parameters); ``column_value``: what to write for that column's datum (default ``x_j``)."""
        xr, xf = self._x_reduced, self._x_full
        out: dict = {}
        for D in self.classes:
            if not D.reduced:
                for r in D.kept:
                    out[xr[r]] = xf[self.full_of_reduced[r]]
                continue
            total = self.class_sum(D)
            if column is None or self.column_class[column] != D.index:
                out[xr[D.kept[0]]] = total
                for r in D.kept[1:]:
                    out[xr[r]] = sp.Integer(0)
                continue
            own = self.rep(column)
            value = xf[column] if column_value is None else column_value
            other = D.kept[0] if own != D.kept[0] else D.kept[1]
            for r in D.kept:
                out[xr[r]] = value if r == own else (total - value if r == other else sp.Integer(0))
        return out

    def reduced_data(self, x: Sequence, column: int | None = None, *, sums: Sequence | None = None) -> list:
        """Numeric version of :meth:`data_at_init`: reduced data from full data ``x``.  ``sums``:
        ``reduced_data(x)`` made already (the class sums), so a ``column`` costs O(1), not a sum."""
        if sums is not None:
            out = list(sums)
            if column is not None and self.classes[self.column_class[column]].reduced:
                D = self.classes[self.column_class[column]]
                own = self.rep(column)
                other = D.kept[0] if own != D.kept[0] else D.kept[1]
                out[own], out[other] = x[column], sums[D.kept[0]] - x[column]
            return out
        out = [0] * self.n_reduced
        for D in self.classes:
            if not D.reduced:
                for r in D.kept:
                    out[r] = x[self.full_of_reduced[r]]
                continue
            total = sum((x[m] for m in D.members), 0)
            if column is None or self.column_class[column] != D.index:
                out[D.kept[0]] = total
                continue
            own = self.rep(column)
            other = D.kept[0] if own != D.kept[0] else D.kept[1]
            out[own] = x[column]
            out[other] = total - x[column]
        return out

    def to_dict(self) -> dict:
        classes = []
        for D in self.classes:
            entry = {"columns": D.label(), "size": D.size,
                     "kept": [self.full_of_reduced[r] + 1 for r in D.kept]}
            if D.reduced:
                entry["sum"] = self.sum_text(D)
            classes.append(entry)
        from .witness_full import SPREAD_NOTE

        return {"classes": classes, "reduced_to": self.n_reduced, "witness_data": SPREAD_NOTE}


# ---------------------------------------------------------------- finding the classes
def input_classes(inits: Mapping[str, ParamInit], n0: int) -> list[list[int]]:
    """The classes of exchangeable input columns (0-based, by first member)."""
    w = inits["W1"]
    if w.kind == "uniform":
        return [list(range(n0))]
    if w.kind == "generic":
        return [[j] for j in range(n0)]
    groups: dict[tuple, list[int]] = {}
    arr = w.exact_array()
    for j in range(n0):
        groups.setdefault(tuple(arr[:, j]), []).append(j)
    return sorted(groups.values(), key=lambda g: g[0])


def _spec(p: ParamInit) -> object:
    """An init spec that :func:`symderiv.init.resolve_init` turns back into ``p``."""
    if p.kind == "uniform":
        return zeros() if p.spec == zeros().describe() else constant(p.value)
    if p.kind == "generic":
        return generic()
    return p.array


def init_specs(inits: Mapping[str, ParamInit]) -> dict[str, object]:
    """Resolved inits as a mapping that :func:`symderiv.init.resolve_init` accepts (and resolves back)."""
    return {name: _spec(p) for name, p in inits.items()}


def reduce_inputs(net: Network, inits: Mapping[str, ParamInit]) -> InputMap | None:
    """The reduced network and inits, or None when no input class has more than 4 columns."""
    n0 = int(net.sizes[0])
    groups = input_classes(inits, n0)
    if all(len(g) <= REPRESENTATIVES for g in groups):
        return None
    kept_full = sorted(m for g in groups for m in g[:REPRESENTATIVES])
    reduced_of = {m: r for r, m in enumerate(kept_full)}
    column_class = [0] * n0
    column_rank = [0] * n0
    classes = []
    for k, g in enumerate(groups):
        for rank, m in enumerate(g):
            column_class[m], column_rank[m] = k, rank
        classes.append(InputClass(k, tuple(g), tuple(reduced_of[m] for m in g[:REPRESENTATIVES])))
    reduced_net = Network((len(kept_full),) + tuple(net.sizes[1:]), net.activations, net.loss, net.bias)
    specs = init_specs(inits)
    if inits["W1"].kind == "array":
        specs["W1"] = inits["W1"].exact_array()[:, kept_full]
    from .init import resolve_init

    return InputMap(net, reduced_net, dict(inits), resolve_init(reduced_net, specs), tuple(classes),
                    tuple(column_class), tuple(column_rank), tuple(kept_full))


# ---------------------------------------------------------------- the symmetry the lemma needs
def is_symmetric(proof, imap: InputMap) -> bool:
    """Is the reduced proof's pattern invariant under the permutations of every reduced
    class's kept columns (tie classes, the zero class and first-move steps mapped onto
    themselves)?  Checked on generators of each symmetric group: a transposition and a cycle."""
    for D in imap.classes:
        if not D.reduced:
            continue
        K = D.kept
        cycle = {K[i]: K[(i + 1) % len(K)] for i in range(len(K))}
        for perm in ({K[0]: K[1], K[1]: K[0]}, cycle):
            if not _invariant(proof, perm):
                return False
    return True


def _invariant(proof, perm: Mapping[int, int]) -> bool:
    def image(b: Block) -> Block:
        if b.layer == 1 and b.kind == "W":
            return Block(1, "W", b.row, perm.get(b.col, b.col))
        return b

    sigma: dict[int, int] = {}
    for k, members in enumerate(proof.classes):
        targets = {proof.class_of[image(b)] for b in members}
        if len(targets) != 1:
            return False
        t = targets.pop()
        if len(proof.classes[t]) != len(members):
            return False
        sigma[k] = t
    if len(set(sigma.values())) != len(sigma):
        return False
    zero = proof.zero_class
    if zero is not None and sigma[zero] != zero:
        return False
    for k, t in sigma.items():
        if k == zero:
            continue
        a, b = proof.first_moves[k], proof.first_moves[t]
        if a.step != b.step or a.undecided != b.undecided:
            return False
    return True
