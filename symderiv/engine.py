"""Symbolic forward and reverse-mode passes, one expression per class of identical units.

The backward pass is the δ recursion of docs/theory.md §1 and §4, never ``sympy.diff``
of the whole loss::

    z_C   = Σ_D |D| · w_CD · h_D + b_C          h_C = f(z_C)
    δ^(L) = ∂ℓ/∂z^(L)                            (from the loss registry)
    δ_D   = f'(z_D) · Σ_C |C| · w_CD · δ_C
    ∂ℓ/∂w_CD (any single entry of the block) = δ_C · h_D,   ∂ℓ/∂b_C = δ_C

Terms that share a weight are summed before multiplying by it (``c·(x_1+x_2)``,
not ``c·x_1 + c·x_2``): this keeps closed forms readable and lets SymPy's
canonical forms see cancellations such as ``c·Σ_k δ_k = 0`` structurally.

The data are symbols (``x_1 … x_{n_0}``, labels ``y_1 … y_K`` with the loss's
constraint built in), so every result holds for every example.  The cost is
linear in depth and depends on the number of unit classes, not on the widths.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import sympy as sp

from .errors import SizeLimitError, SymderivError
from .guard import public_entry
from .init import ParamInit, resolve_init
from .network import Network
from .patterns import Block, Partition, block_of, blocks, unit_partition

__all__ = [
    "Pass", "backprop", "Derivation", "derive", "forward", "gradients", "ClassMatrix",
    "input_symbols", "MAX_MATRIX_ENTRIES", "OverBudget", "DIRECT_EXPANSION_NODES", "ensure_recursion_limit", "expanded_size", "expansion_refusal",
]

#: parameters with more entries than this are returned as a ClassMatrix (block lookup), not a dense Matrix
MAX_MATRIX_ENTRIES = 10_000


def ensure_recursion_limit(net: Network) -> None:
    """Raise (never lower) Python's recursion limit enough for ``net``'s closed forms.

    SymPy's algorithms (construction, comparison, printing) recurse through an
    expression; an unabbreviated closed form nests every layer below it, so a
    network of depth L needs a few dozen frames per layer.  Without this, a
    128-layer network ends in RecursionError.

    The limit is raised only inside a :mod:`symderiv.guard` worker thread, whose
    large stack holds it (public entry points run there), and never beyond what
    that stack holds: a limit above the C stack's capacity turns a clean
    RecursionError into a segfault.  Elsewhere a network that needs more than
    the current limit is refused with :class:`SizeLimitError`."""
    import sys

    from .guard import recursion_capacity

    if net.depth < 16:  # shallow closed forms fit Python's default limit; leave it alone
        return
    needed = 2000 + 80 * net.depth
    if sys.getrecursionlimit() >= needed:
        return
    capacity = recursion_capacity()
    if capacity is None:
        raise SizeLimitError(
            f"a network of depth {net.depth} needs a recursion limit of {needed} (now {sys.getrecursionlimit()}); "
            "call it through the public API (derive, analyze, check, ...), which runs it on a large stack")
    if needed > capacity:
        raise SizeLimitError(
            f"a network of depth {net.depth} is too deep for the available stack "
            f"(needs recursion depth {needed}, the stack holds {capacity}); use at most {(capacity - 2000) // 80} layers")
    sys.setrecursionlimit(needed)


def input_symbols(n0: int) -> list[sp.Symbol]:
    """``x_1 … x_{n_0}``."""
    return [sp.Symbol(f"x_{j}", real=True) for j in range(1, n0 + 1)]


def _weighted_sum(terms: Iterable[tuple[sp.Expr, sp.Expr]]) -> sp.Expr:
    """``Σ w·t`` with the ``t`` of equal weights ``w`` added first."""
    groups: dict[sp.Expr, list[sp.Expr]] = {}
    for weight, term in terms:
        if weight == 0 or term == 0:
            continue
        groups.setdefault(weight, []).append(term)
    return sp.Add(*[w * sp.Add(*ts) for w, ts in groups.items()])


def _with_known_facts(h: sp.Expr) -> sp.Expr:
    """``h`` with the facts the engine knows recorded, so SymPy does not derive them again.

    ``tanh`` of an extended-real argument is finite: SymPy's own answer
    (``tanh._eval_is_finite`` returns True for every extended-real argument), but reached
    through ``as_real_imag``, which expands the whole argument; the argument nests every layer
    below, so deep networks paid that walk at every layer (quadratic in depth).  The fact is
    recorded exactly as SymPy records a fact it derived; without SymPy's fact store (another
    SymPy version) nothing is recorded and SymPy derives it as before."""
    if type(h) is sp.tanh and h.args[0].is_extended_real:
        facts = getattr(h, "_assumptions", None)
        if facts is not None and "finite" not in facts and hasattr(facts, "deduce_all_facts"):
            shared = getattr(type(h), "default_assumptions", None)
            if shared is not None and facts is shared:  # shared by the class: copy first
                facts = facts.copy()
                h._assumptions = facts
            facts.deduce_all_facts((("finite", True),))
    return h


class OverBudget(Exception):
    """Raised by :func:`backprop` with ``size_budget`` before it builds forms that could be too large."""


class _TreeBudget:
    """Tree sizes (printed nodes, counted on the DAG, memoized) of a pass's forms, against a budget.

    :meth:`expect` is called with a bound on the size of what is about to be built: a sum of the
    sizes of its ingredients (each new form holds each ingredient at most once, and SymPy's
    evaluation adds at most a few nodes per term), times a safety factor of 4 for what evaluation
    may distribute (a number times a sum).  Building stops before anything beyond the budget."""

    SAFETY = 4

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._memo: dict = {}

    def size(self, expr: sp.Expr) -> int:
        from .closed_forms import tree_size

        return tree_size(expr, None, None, self._memo)

    def total(self, exprs: Iterable[sp.Expr], extra: int = 0) -> int:
        return sum(self.size(e) + extra for e in exprs)

    def expect(self, bound: int) -> None:
        if self.SAFETY * bound > self.limit:
            raise OverBudget(f"closed forms of more than {self.limit} nodes")


class Abbreviations:
    """Named intermediate quantities, the way a derivation on paper names ``z^(l)`` and ``δ^(l)``.

    With abbreviations every class's ``z^(l)`` and ``δ^(l)`` (hidden layers) becomes a
    fresh symbol whose definition refers to earlier ones, so expressions stay small
    and the cost of a pass is linear in depth (SymPy's canonical ordering compares
    whole sub-trees, which makes unabbreviated deep closed forms quadratic or worse).
    Structurally equal definitions share one symbol, so equal quantities stay equal.
    Numbers and symbols are never abbreviated (a zero must stay visibly zero).
    """

    def __init__(self) -> None:
        self.definitions: dict[sp.Symbol, sp.Expr] = {}
        self._by_expr: dict[sp.Expr, sp.Symbol] = {}

    def __call__(self, expr: sp.Expr, name: str) -> sp.Expr:
        if expr.is_Atom or (expr.is_Mul and len(expr.args) == 2 and expr.args[0].is_Number and expr.args[1].is_Atom):
            return expr
        sym = self._by_expr.get(expr)
        if sym is None:
            sym = sp.Dummy(name, real=True)
            self._by_expr[expr] = sym
            self.definitions[sym] = expr
        return sym

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with every abbreviation replaced by its definition (latest first)."""
        for sym in reversed(list(self.definitions)):
            if expr.has(sym):
                expr = expr.xreplace({sym: self.definitions[sym]})
        return expr


@dataclass
class Pass:
    """Forward and backward quantities per unit class, and the gradient per block."""

    net: Network
    partition: Partition
    values: Mapping[Block, sp.Expr]
    x: list[sp.Symbol]
    y: list[sp.Expr]
    label_symbols: list[sp.Symbol]
    z: list[list[sp.Expr]] = field(default_factory=list)  # z[l][class], l = 1..L (z[0] unused)
    h: list[list[sp.Expr]] = field(default_factory=list)  # h[l][class], l = 0..L-1
    p: list[sp.Expr] = field(default_factory=list)
    delta: list[list[sp.Expr]] = field(default_factory=list)  # delta[l][class], l = 1..L
    grad: dict[Block, sp.Expr] = field(default_factory=dict)
    abbreviations: Abbreviations | None = None

    @property
    def definitions(self) -> dict[sp.Symbol, sp.Expr]:
        """The abbreviations' definitions, in order (empty without abbreviations)."""
        return {} if self.abbreviations is None else self.abbreviations.definitions


def backprop(
    net: Network,
    partition: Partition,
    values: Mapping[Block, sp.Expr],
    *,
    backward: bool = True,
    abbreviate: bool = False,
    output_delta: "Sequence[sp.Expr] | None" = None,
    size_budget: int | None = None,
) -> Pass:
    """Run the class-level forward (and backward) pass with block values ``values``.

    ``values`` maps every :class:`Block` to its value: a number, a symbol shared
    by a tie class, or 0.  This is how the prover evaluates the gradient on a
    pattern subspace, and how :func:`derive` evaluates it at an init.  With
    ``abbreviate`` the hidden ``z`` and ``δ`` of each class are named symbols
    (see :class:`Abbreviations`), for deep networks.  ``output_delta`` replaces the
    loss's ``δ^(L)`` (e.g. by independent symbols, to see which identities rest on the
    loss's own cancellations such as ``Σ_k δ_k = 0``; see :mod:`symderiv.floats`).
    ``size_budget``: stop with :class:`OverBudget` before building a layer whose closed forms
    could exceed that many tree nodes in total (see :class:`_TreeBudget`), so that an expanded
    pass that would be too large is never built.
    """
    L = net.depth
    ensure_recursion_limit(net)
    classes = partition.classes
    x = input_symbols(net.sizes[0])
    label_symbols = [s for s in net.loss.labels(net.n_outputs) if isinstance(s, sp.Symbol)]
    y = net.loss.labels(net.n_outputs)
    result = Pass(net, partition, values, x, y, label_symbols)
    short = Abbreviations() if abbreviate else None
    result.abbreviations = short
    budget = _TreeBudget(size_budget) if size_budget is not None else None

    # forward
    h: list[list[sp.Expr]] = [[x[D.first] for D in classes[0]]]
    z: list[list[sp.Expr]] = [[]]
    for l in range(1, L + 1):
        if budget is not None:  # each z of layer l holds every h of layer l-1 once, plus weights
            budget.expect(len(classes[l]) * budget.total(h[l - 1], extra=6))
        zl = []
        for C in classes[l]:
            pre = _weighted_sum((values[Block(l, "W", C.index, D.index)], D.size * h[l - 1][D.index]) for D in classes[l - 1])
            if net.bias:
                pre = pre + values[Block(l, "b", C.index)]
            if short is not None and l < L:
                pre = short(pre, f"z{l}_{C.index + 1}")
            zl.append(pre)
        z.append(zl)
        if l < L:
            act = net.activation_of(l)
            h.append([_with_known_facts(act(zc)) for zc in zl])
            if budget is not None:
                budget.expect(budget.total(h[l]))
    result.z, result.h = z, h
    result.p = net.loss.prediction(z[L])
    if not backward:
        return result

    # backward: the δ recursion
    delta: list[list[sp.Expr]] = [[] for _ in range(L + 1)]
    delta[L] = list(output_delta) if output_delta is not None else net.loss.delta(z[L], y)
    for l in range(L - 1, 0, -1):
        act = net.activation_of(l)
        if budget is not None:  # each δ of layer l: f'(z) (about as large as z, a few times) and every δ above
            budget.expect(len(classes[l]) * budget.total(delta[l + 1], extra=6) + 4 * budget.total(z[l], extra=4))
        delta[l] = [
            act.derivative(z[l][D.index])
            * _weighted_sum((values[Block(l + 1, "W", C.index, D.index)], C.size * delta[l + 1][C.index]) for C in classes[l + 1])
            for D in classes[l]
        ]
        if short is not None:
            delta[l] = [short(d, f"delta{l}_{k + 1}") for k, d in enumerate(delta[l])]
    result.delta = delta
    if budget is not None:  # gradients δ·h of every block, and the logits (what expansion_refusal counts)
        budget.expect(sum(budget.size(delta[b.layer][b.row]) + 1 + (budget.size(h[b.layer - 1][b.col]) if b.kind == "W" else 0)
                          for b in blocks(net, partition)) + budget.total(z[L]))
    grad: dict[Block, sp.Expr] = {}
    for block in blocks(net, partition):
        d = delta[block.layer][block.row]
        grad[block] = d * h[block.layer - 1][block.col] if block.kind == "W" else d
    result.grad = grad
    return result


# ---------------------------------------------------------------- the public derivation at an init
class ClassMatrix:
    """A parameter-shaped matrix stored by blocks: entries are looked up through their class.

    Used for wide or symbolic-width layers, where a dense matrix would hold
    millions of equal expressions.  ``m[i, j]`` (0-based) gives one entry,
    ``m.blocks`` the closed form per block, ``m.to_matrix()`` a dense
    ``ImmutableMatrix`` (refused when too large).
    """

    def __init__(self, name: str, shape: tuple, lookup, blocks_: dict[Block, sp.Expr], labels: dict[Block, str]):
        self.name = name
        self.shape = shape
        self._lookup = lookup
        self.blocks = blocks_
        self._labels = labels

    def __getitem__(self, index) -> sp.Expr:
        if not isinstance(index, tuple):
            index = (index,)
        return self.blocks[self._lookup(index)]

    def to_matrix(self) -> sp.ImmutableMatrix:
        if not all(isinstance(n, int) for n in self.shape):
            raise SymderivError(f"{self.name} has symbolic shape {self.shape}; use .blocks")
        size = int(np.prod(self.shape))
        if size > MAX_MATRIX_ENTRIES * 10:
            raise SizeLimitError(f"{self.name} has {size} entries; use .blocks or m[i, j]")
        if len(self.shape) == 1:
            return sp.ImmutableMatrix([self[i] for i in range(self.shape[0])])
        return sp.ImmutableMatrix(self.shape[0], self.shape[1], lambda i, j: self[int(i), int(j)])

    def block_forms(self) -> list[tuple[str, sp.Expr]]:
        """``[(label, expr)]`` per block, e.g. ``('rows 1..n, column 2', ...)``."""
        return [(self._labels[b], e) for b, e in self.blocks.items()]

    def __repr__(self) -> str:
        forms = "; ".join(f"[{label}] {expr}" for label, expr in self.block_forms()[:6])
        more = "" if len(self.blocks) <= 6 else f"; … ({len(self.blocks)} blocks)"
        return f"ClassMatrix({self.name}, shape={self.shape}: {forms}{more})"


class Derivation:
    """Closed forms at an init: z, h, p, δ per layer and the gradient of every parameter.

    Indices are 0-based in this API (symbols are named 1-based, as written by
    hand: ``x_1``, ``W1_2_3``).  ``d["W1"]`` is the gradient of ``W1``: a SymPy
    matrix, or a :class:`ClassMatrix` for wide/symbolic layers.

    ``abbreviate``: ``None`` (default) gives the expanded closed forms, refused up
    front with a :class:`~symderiv.errors.SizeLimitError` when their trees would
    exceed :data:`symderiv.closed_forms.MAX_EXPANDED_NODES` nodes (deep networks at
    generic inits: building them takes hours); ``True`` gives abbreviated forms in
    which every hidden class's ``z`` and ``δ`` is a named symbol, defined in
    :attr:`definitions` (linear in depth, always available); ``False`` forces the
    expanded forms however large.
    """

    def __init__(self, net: Network, init: object = None, *, abbreviate: bool | None = None):
        if abbreviate not in (None, True, False):
            raise SymderivError(f"abbreviate must be None, True or False, got {abbreviate!r}")
        if not isinstance(net, Network):
            raise SymderivError(f"derive needs a network from symderiv.mlp(...), got {type(net).__name__}")
        self.net = net
        self.inits: dict[str, ParamInit] = resolve_init(net, init)
        self.partition = unit_partition(net, self.inits)
        values: dict[Block, sp.Expr] = {}
        for block in blocks(net, self.partition):
            C = self.partition.classes[block.layer][block.row]
            index = (C.first,) if block.kind == "b" else (C.first, self.partition.classes[block.layer - 1][block.col].first)
            values[block] = self.inits[block.param].entry(index)
        self.values = values
        if abbreviate is None:
            self._pass = _expanded_pass(net, self.partition, values)
        else:
            self._pass = backprop(net, self.partition, values, abbreviate=abbreviate)

    @property
    def abbreviated(self) -> bool:
        """Whether the closed forms use named ``z``/``δ`` symbols (see :attr:`definitions`)."""
        return self._pass.abbreviations is not None

    @property
    def definitions(self) -> dict[sp.Symbol, sp.Expr]:
        """The named ``z``/``δ`` symbols and their definitions, in dependency order (each refers
        to data, parameters and earlier names only); empty for expanded closed forms."""
        return dict(self._pass.definitions)

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` with the names of :attr:`definitions` substituted (memoized on the DAG);
        a :class:`~symderiv.errors.SizeLimitError` when the result would be too large."""
        from .closed_forms import expand_definitions

        return expand_definitions([expr], self._pass.definitions)[0]

    # data
    @property
    def x(self) -> list[sp.Symbol]:
        """The input symbols ``[x_1, …, x_{n_0}]`` (``real=True``; ``d.x[0]`` is ``x_1``)."""
        return self._pass.x

    @property
    def y(self) -> list[sp.Expr]:
        """The labels as they enter the loss, one per output: symbols ``y_k``, except that softmax
        cross-entropy eliminates the last one (``d.y[-1]`` is ``1 - y_1 - … - y_{K-1}``)."""
        return self._pass.y

    @property
    def label_symbols(self) -> list[sp.Symbol]:
        """The free label symbols (``d.y`` without the eliminated one)."""
        return self._pass.label_symbols

    def symbols(self, *names: "str | sp.Symbol") -> "sp.Symbol | tuple[sp.Symbol, ...]":
        """This derivation's own SymPy symbols, by name: ``y1, w = d.symbols("y_1", "W1_1_2")``.

        symderiv's symbols carry assumptions (``real=True``), so a symbol made with
        ``sp.symbols("y_1")`` is a *different* symbol and ``expr.subs({y_1: 0})`` with it silently
        changes nothing; substitute with these.  Names are 1-based as printed: inputs ``x_1``, labels
        ``y_1`` (the eliminated ``y_K`` of softmax cross-entropy is ``d.y[-1]``, an expression), parameter
        entries ``W1_2_3``, ``b1_2`` (where the init leaves them symbolic, e.g. ``generic()``), init
        constants (``c``), width names (``n``) and the abbreviation names of :attr:`definitions`.
        One name gives one symbol, several a tuple (like ``sympy.symbols``; one string may also hold
        several names separated by spaces or commas).  An unknown name raises
        :class:`~symderiv.errors.InvalidArgument` with the closest names."""
        from .symbol_names import lookup_symbols

        return lookup_symbols(self, names)

    def width(self, layer: int):
        return self.net.sizes[layer]

    def activation(self, layer: int):
        return self.net.activation_of(layer)

    # per-unit quantities (0-based unit index)
    def _cls(self, layer: int, unit: int) -> int:
        n = self.net.sizes[layer]
        if not isinstance(unit, (int, np.integer)) or unit < 0 or (isinstance(n, int) and unit >= n):
            raise SymderivError(f"unit index {unit!r} is out of range for layer {layer} of width {n}")
        return self.partition.of(layer, int(unit)).index

    def _layer(self, layer: int, lo: int, hi: int, what: str) -> int:
        if not isinstance(layer, (int, np.integer)) or not lo <= layer <= hi:
            raise SymderivError(f"{what} is defined for layers {lo}..{hi}, got {layer!r}")
        return int(layer)

    def z(self, layer: int, unit: int) -> sp.Expr:
        layer = self._layer(layer, 1, self.net.depth, "z")
        return self._pass.z[layer][self._cls(layer, unit)]

    def h(self, layer: int, unit: int) -> sp.Expr:
        layer = self._layer(layer, 0, self.net.depth - 1, "h")
        return self._pass.h[layer][self._cls(layer, unit)]

    def p(self, k: int) -> sp.Expr:
        return self._pass.p[self._cls(self.net.depth, k)]

    def delta(self, layer: int, unit: int) -> sp.Expr:
        layer = self._layer(layer, 1, self.net.depth, "delta")
        return self._pass.delta[layer][self._cls(layer, unit)]

    def param(self, name: str, index: tuple[int, ...]) -> sp.Expr:
        return self.values[block_of(self.net, self.partition, name, tuple(index))]

    def grad(self, name: str, index: tuple[int, ...]) -> sp.Expr:
        return self._pass.grad[block_of(self.net, self.partition, name, tuple(index))]

    def loss(self) -> sp.Expr:
        """The per-example loss (used as a check, not to differentiate)."""
        return self.net.loss.value(self._pass.z[self.net.depth], self.y)

    def blocks(self, name: str) -> dict[Block, sp.Expr]:
        """The gradient of ``name`` per block (one closed form per class pair)."""
        kind, l = self.net.parse_name(name)
        return {b: g for b, g in self._pass.grad.items() if b.layer == l and b.kind == kind}

    def __getitem__(self, name: str):
        shape = self.net.shape(name)
        concrete = all(isinstance(n, int) for n in shape)
        if concrete and int(np.prod(shape)) <= MAX_MATRIX_ENTRIES:
            if len(shape) == 1:
                return sp.ImmutableMatrix([self.grad(name, (i,)) for i in range(shape[0])])
            return sp.ImmutableMatrix(shape[0], shape[1], lambda i, j: self.grad(name, (int(i), int(j))))
        kind, l = self.net.parse_name(name)
        part = self.partition
        labels = {}
        for b in self.blocks(name):
            rows = part.classes[l][b.row].label()
            labels[b] = f"rows {rows}" + (f", columns {part.classes[l - 1][b.col].label()}" if kind == "W" else "")
        return ClassMatrix(name, shape, lambda idx: block_of(self.net, part, name, idx), self.blocks(name), labels)

    def __repr__(self) -> str:
        return f"Derivation({self.net.describe()})"

    def _repr_latex_(self) -> str:
        """Jupyter: the gradients in symderiv's notation (:func:`symderiv.notebook.derivation_latex`)."""
        from .notebook import derivation_latex

        return derivation_latex(self)


#: networks up to this depth run their public calls in the caller's thread (see :func:`_shallow`)
INLINE_MAX_DEPTH = 8


def _shallow(net: object, *args: object, **kwargs: object) -> bool:
    """Whether a call on ``net`` runs without the guard's worker thread: a shallow network's closed
    forms recurse a few frames per layer (far below Python's default limit, which
    :func:`ensure_recursion_limit` leaves alone below depth 16) and the engine starts no children,
    so the worker would add only its fixed cost (a thread start and two wake-ups, milliseconds on a
    loaded machine) to a call that takes about a millisecond."""
    return isinstance(net, Network) and net.depth <= INLINE_MAX_DEPTH


@public_entry(inline_when=_shallow)
def derive(net: Network, init: object = None, *, abbreviate: bool | None = None) -> Derivation:
    """The closed-form forward and backward pass of ``net`` at ``init`` (default: generic);
    ``abbreviate=True`` names every hidden ``z`` and ``δ`` (see :class:`Derivation`)."""
    return Derivation(net, init, abbreviate=abbreviate)


@public_entry(inline_when=_shallow)
def forward(net: Network, init: object = None, *, abbreviate: bool | None = None) -> Derivation:
    """Alias of :func:`derive`; the forward quantities are ``.z``, ``.h``, ``.p``."""
    return Derivation(net, init, abbreviate=abbreviate)


@public_entry(inline_when=_shallow)
def gradients(net: Network, init: object = None, *, abbreviate: bool | None = None) -> Derivation:
    """Alias of :func:`derive`; ``result["W1"]`` is the gradient of ``W1`` at ``init``."""
    return Derivation(net, init, abbreviate=abbreviate)


#: the expanded pass is built directly (no measuring pass) when its forms stay below this many tree
#: nodes in total: far below MAX_EXPANDED_NODES, so that the measure of the abbreviated pass (which
#: counts the same forms before SymPy's evaluation merges terms) could not refuse them
DIRECT_EXPANSION_NODES = 10**8


def _expanded_pass(net: Network, partition: Partition, values: Mapping[Block, sp.Expr]) -> Pass:
    """The expanded closed forms, or the :class:`SizeLimitError` of :func:`expansion_refusal`.

    Small forms (the common case) are built directly, with sizes checked layer by layer before
    anything is built (:class:`_TreeBudget`); only when they could exceed
    :data:`DIRECT_EXPANSION_NODES` is the abbreviated pass built to measure them exactly.  Before,
    every call built both passes; the abbreviated one, whose names are fresh ``Dummy`` symbols,
    was never in SymPy's cache and made most of a small network's cost."""
    from .closed_forms import MAX_EXPANDED_DEPTH

    if net.depth <= MAX_EXPANDED_DEPTH:
        try:
            return backprop(net, partition, values, size_budget=DIRECT_EXPANSION_NODES)
        except OverBudget:
            pass
    refusal = expansion_refusal(backprop(net, partition, values, abbreviate=True))
    if refusal is not None:
        raise SizeLimitError(f"{refusal}; use gradients(net, init, abbreviate=True): z and δ of every "
                             "hidden class are then named symbols, defined in .definitions")
    return backprop(net, partition, values)


def expansion_refusal(state: Pass) -> str | None:
    """Why the expanded closed forms of the abbreviated pass ``state`` are too costly to build
    (see :data:`symderiv.closed_forms.MAX_EXPANDED_NODES` and ``MAX_EXPANDED_DEPTH``), or None."""
    from .closed_forms import MAX_EXPANDED_DEPTH, MAX_EXPANDED_NODES, size_text

    net = state.net
    if net.depth > MAX_EXPANDED_DEPTH:
        return (f"expanded closed forms of {net.describe()} are not built above depth {MAX_EXPANDED_DEPTH} "
                f"(limit MAX_EXPANDED_DEPTH; SymPy's cost grows with the nesting)")
    if expanded_size(state, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
        return (f"the expanded closed forms of {net.describe()} at this init have more than "
                f"{size_text(MAX_EXPANDED_NODES)} nodes (limit MAX_EXPANDED_NODES)")
    return None


def expanded_size(state: Pass, limit: int | None = None) -> int:
    """The total tree size of ``state``'s gradients and logits with every abbreviation
    expanded (counted on the DAG: linear time); stops counting above ``limit``."""
    from .closed_forms import tree_size

    total = 0
    memo: dict = {}  # one memo: the forms share most of their DAG
    for expr in list(state.grad.values()) + list(state.z[-1]):
        total += tree_size(expr, None, state.definitions, memo)
        if limit is not None and total > limit:
            return limit + 1
    return total
