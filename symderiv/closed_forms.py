"""Closed forms printed with a bound: small ones as they are, large ones with named sub-expressions.

A closed form of a deep network is a DAG: every layer's ``z`` and ``δ`` is shared by
the layers above it.  SymPy prints the *tree*, which is exponentially larger (a
5-5-5-5-5-5 tanh network's gradient has a few thousand distinct nodes but a tree
that takes minutes to print).  This module does one job: turn such a form into
something printable with a bound, the way a paper names ``z^{(l)}`` and ``δ^{(l)}``.

* :func:`tree_size` - the size of the printed tree, counted on the DAG with memoized
  sums (linear time, capped); :func:`dag_size` - the number of distinct nodes.
* :class:`ClosedForms` - a printer shared by the closed forms of one output (one JSON
  document, one LaTeX document).  A form whose tree has at most ``inline_nodes``
  nodes prints as SymPy prints it.  A larger one is *abbreviated*: a sub-expression
  becomes a name when it occurs more than once (and is not tiny), or when the text
  around it would grow too long or too deeply nested; the engine's abbreviations
  (:class:`symderiv.engine.Abbreviations`: ``z`` and ``δ`` of every hidden class)
  keep their names.  The result is the final expression over those names plus the
  definitions it introduced, each referring only to earlier ones.  A form whose
  abbreviated text would still exceed ``max_nodes`` nodes is replaced by a size note
  ``<closed form with N nodes, omitted; see ...>``.
* :func:`expand_definitions` - abbreviations substituted back (memoized on the DAG),
  refused up front when the result would be too large.

Names and their order are deterministic: a post-order walk of the expressions in the
order they are printed, arguments in SymPy's canonical order; generic names are
``u1, u2, ...`` (another letter when a reserved name has that form).  Substituting the
definitions back (latest first) gives the original expression exactly.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, overload

import sympy as sp

from .errors import SizeLimitError

__all__ = [
    "tree_size", "dag_size", "dag_nodes", "expand_definitions", "ClosedForms", "Abbreviated", "size_text",
    "MAX_INLINE_NODES", "MAX_ABBREVIATED_NODES", "MAX_TOTAL_NODES", "MAX_EXPANDED_NODES", "MAX_EXPANDED_DEPTH",
]

#: a closed form whose printed tree has at most this many nodes is printed as it is
MAX_INLINE_NODES = 600
#: an abbreviated closed form (final expression and its new definitions) above this many printed nodes is omitted
MAX_ABBREVIATED_NODES = 20_000
#: all definitions of one printer (one document) together, in printed nodes
MAX_TOTAL_NODES = 400_000
#: expanded (unabbreviated) closed forms are built only up to this many tree nodes.  Building
#: them is cheap in shared memory, but SymPy's canonical ordering compares whole sub-trees:
#: measured (tanh, generic init) 10^10 nodes 0.1 s, 6·10^11 1.4 s, 6·10^12 2.6 s, 5·10^13 11 s,
#: beyond that minutes to hours
MAX_EXPANDED_NODES = 10**12
#: ... and only for networks of at most this depth: SymPy's operations recurse through the nesting,
#: measured (tanh, constant init, trees of only 10^3..10^4 nodes) depth 100 1.4 s, 200 8 s, 400 47 s
MAX_EXPANDED_DEPTH = 128
#: a sub-expression occurring more than once is named when its own text has at least this many nodes
MIN_SHARED_NODES = 5
#: an unnamed sub-expression's text is kept below this many nodes and this nesting depth
MAX_LOCAL_NODES = 120
MAX_LOCAL_DEPTH = 16
#: sizes are counted up to this (an exponentially large tree has an astronomically large size)
_SIZE_CAP = 10**30


@overload
def _walk(roots: Iterable[sp.Basic], children: Callable[[sp.Basic], tuple], budget: None = None) -> list[sp.Basic]: ...
@overload
def _walk(roots: Iterable[sp.Basic], children: Callable[[sp.Basic], tuple], budget: int | None) -> list[sp.Basic] | None: ...
def _walk(roots: Iterable[sp.Basic], children: Callable[[sp.Basic], tuple],
          budget: int | None = None) -> list[sp.Basic] | None:
    """Every node reachable from ``roots``, children before parents (iterative: no recursion limit);
    None as soon as more than ``budget`` distinct nodes were found."""
    order: list[sp.Basic] = []
    done: set = set()
    for root in roots:
        stack: list[tuple[sp.Basic, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if ready:
                if node not in done:
                    done.add(node)
                    order.append(node)
                    if budget is not None and len(order) > budget:
                        return None
                continue
            if node in done:
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(children(node)) if c not in done)
    return order


def dag_nodes(roots: Iterable[sp.Basic]) -> list[sp.Basic]:
    """Every distinct sub-expression of ``roots`` (a walk over the DAG: shared sub-trees once)."""
    return _walk(roots, lambda node: node.args)


def tree_size(expr: sp.Basic, limit: int | None = None,
              definitions: Mapping[sp.Basic, sp.Basic] | None = None,
              memo: dict | None = None) -> int:
    """The number of nodes of the printed tree of ``expr`` (atoms count 1), counted on the DAG.

    With ``definitions`` (symbol -> expression) a defined symbol counts as its expanded
    definition.  With ``limit`` the result is ``limit + 1`` as soon as the tree is known to
    be larger (sizes stop growing there, and the walk stops after ``limit + 1`` distinct
    nodes, since a tree is at least as large as its DAG); time is linear in the DAG.
    ``memo`` (a dict kept by the caller, for one ``definitions`` and no ``limit``) shares
    the counts between calls."""
    cap = _SIZE_CAP if limit is None else limit + 1
    defs = definitions or {}
    size: dict[sp.Basic, int] = memo if memo is not None and limit is None else {}
    if expr in size:
        return size[expr]
    stack: list[tuple[sp.Basic, bool]] = [(expr, False)]
    visited = 0
    while stack:
        node, ready = stack.pop()
        if node in size:
            continue
        kids = (defs[node],) if node in defs else node.args
        if not ready:
            visited += 1
            if limit is not None and visited > cap:
                return cap
            stack.append((node, True))
            stack.extend((c, False) for c in kids if c not in size)
            continue
        if node in defs:
            size[node] = size[kids[0]]
        else:
            size[node] = min(cap, 1 + sum(size[a] for a in kids))
    return size[expr]


def dag_size(expr: sp.Basic, limit: int) -> int:
    """The number of distinct sub-expressions of ``expr``, counted up to ``limit + 1``."""
    seen: set = set()
    stack = [expr]
    while stack and len(seen) <= limit:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(node.args)
    return len(seen)


def size_text(size: int) -> str:
    """``12345`` or ``more than 10^30`` for a size from :func:`tree_size`."""
    return f"more than 10^{len(str(_SIZE_CAP)) - 1}" if size >= _SIZE_CAP else str(size)


def expand_definitions(exprs: Iterable[sp.Expr], definitions: Mapping[sp.Symbol, sp.Expr],
                       limit: int = MAX_EXPANDED_NODES) -> list[sp.Expr]:
    """``exprs`` with every defined symbol replaced by its (expanded) definition.

    Memoized on the DAG: each distinct node is rebuilt once.  Raises
    :class:`~symderiv.errors.SizeLimitError` up front when an expanded tree would have
    more than ``limit`` nodes."""
    exprs = list(exprs)
    defs = dict(definitions)
    for e in exprs:
        size = tree_size(e, limit, defs)
        if size > limit:
            raise SizeLimitError(
                f"the expanded closed form has more than {limit} nodes (limit MAX_EXPANDED_NODES = {limit}); "
                "use the abbreviated form and its definitions"
            )
    if not defs:
        return exprs

    def children(node: sp.Basic) -> tuple:
        return (defs[node],) if node in defs else node.args

    new: dict[sp.Basic, sp.Basic] = {}
    for node in _walk(exprs, children):
        if node in defs:
            new[node] = new[defs[node]]
        elif not node.args:
            new[node] = node
        else:
            args = [new[a] for a in node.args]
            new[node] = node.func(*args) if any(a is not b for a, b in zip(args, node.args)) else node
    return [new[e] for e in exprs]


@dataclass(frozen=True)
class Abbreviated:
    """One closed form made printable by :meth:`ClosedForms.abbreviate`.

    * ``expr``: the expression to print (names as symbols); ``None`` when omitted.
    * ``definitions``: ``(name, expression)`` pairs this form introduced, in dependency
      order (each refers to data, parameters and earlier names only); names introduced
      by earlier forms of the same printer are referenced, not repeated.
    * ``size``: the number of nodes of the full (expanded) tree, capped (see :func:`size_text`).
    * ``note``: the size note when omitted, else ``None``.
    """

    expr: sp.Expr | None
    definitions: tuple[tuple[sp.Symbol, sp.Expr], ...]
    size: int
    note: str | None = None

    @property
    def omitted(self) -> bool:
        return self.expr is None


class ClosedForms:
    """Prints the closed forms of one document with a bound; names are shared across its forms.

    * ``definitions``: the engine's abbreviations (symbol -> expression, dependency order),
      when the forms were built abbreviated; each keeps a name (``name_of``).
    * ``name_of(symbol)``: the printed name of an engine abbreviation (default: a plain
      symbol of the same name, e.g. ``z3_1``, ``delta2_1``).
    * ``fresh(n)``: the printed name of the ``n``-th generic name (default ``u1, u2, ...``).
    * ``reserved``: names that must not be used (e.g. symbolic widths).
    * ``see``: where the note of an omitted form points the reader.
    * ``inline_nodes``, ``max_nodes``, ``max_total``, ``max_definitions``: the bounds (a form is
      printed as it is up to ``inline_nodes`` tree nodes; an abbreviated one is omitted when its
      text exceeds ``max_nodes`` nodes, or when the printer would exceed ``max_total`` nodes or
      ``max_definitions`` definitions in all).
    """

    def __init__(
        self,
        definitions: Mapping[sp.Symbol, sp.Expr] | None = None,
        *,
        name_of: Callable[[sp.Symbol], sp.Symbol] | None = None,
        fresh: Callable[[int], sp.Symbol] | None = None,
        reserved: Iterable[str] = (),
        see: str = "the abbreviated API",
        inline_nodes: int = MAX_INLINE_NODES,
        max_nodes: int = MAX_ABBREVIATED_NODES,
        max_total: int = MAX_TOTAL_NODES,
        max_definitions: int | None = None,
    ) -> None:
        self._engine: dict[sp.Basic, sp.Basic] = dict(definitions or {})
        self._reserved = set(reserved)
        self._name_of = name_of or (lambda s: sp.Symbol(s.name))
        if fresh is None:
            prefix = next(p for p in "uvrqk" if not any(re.fullmatch(rf"{p}\d+", n) for n in self._reserved))
            fresh = lambda n: sp.Symbol(f"{prefix}{n}")  # noqa: E731
        self._fresh = fresh
        self._see = see
        self.inline_nodes, self.max_nodes, self.max_total = inline_nodes, max_nodes, max_total
        self.max_definitions = max_definitions
        self._names: dict[sp.Basic, sp.Symbol] = {}
        self._sizes: dict[sp.Basic, int] = {}  # tree sizes, shared by the forms of this printer
        self._issued: set[str] = set()
        self._counter = 0
        self._total = 0
        self.definitions: list[tuple[sp.Symbol, sp.Expr]] = []

    # ------------------------------------------------------------ public
    def abbreviate(self, expr: sp.Expr) -> Abbreviated:
        """``expr`` as it is (small), abbreviated (large), or a size note (too large)."""
        if isinstance(expr, int) and not isinstance(expr, bool):
            expr = sp.Integer(expr)
        if not isinstance(expr, sp.Basic):
            raise TypeError(f"expected a SymPy expression, got {type(expr).__name__}")
        size = tree_size(expr, None, self._engine, self._sizes)
        if size <= self.inline_nodes:
            return Abbreviated(expand_definitions([expr], self._engine)[0], (), size)
        plan = self._plan(expr)
        if plan is None:
            return Abbreviated(None, (), size, self._note(size))
        return self._commit(expr, *plan, size)

    def text(self, expr: sp.Expr) -> str:
        """``str`` of the printable form (names refer to :attr:`definitions`), or the size note."""
        form = self.abbreviate(expr)
        return form.note if form.note is not None and form.omitted else str(form.expr)

    def definitions_text(self) -> dict[str, str]:
        """Every definition so far, ``{name: str(expression)}`` in dependency order."""
        return {str(name): str(rhs) for name, rhs in self.definitions}

    # ------------------------------------------------------------ planning: which nodes get names
    def _children(self, node: sp.Basic) -> tuple:
        if node in self._names:
            return ()
        if node in self._engine:
            return (self._engine[node],)
        return node.args

    def _plan(self, root: sp.Basic) -> tuple[list[sp.Basic], dict] | None:
        """The new nodes to name (post-order) and each one's text size, or None when too large."""
        budget = 4 * self.max_nodes  # distinct new nodes visited before giving up
        order = _walk([root], self._children, budget)
        if order is None:
            return None
        refs: dict[sp.Basic, int] = {}
        for node in order:
            for c in self._children(node):
                refs[c] = refs.get(c, 0) + 1
        local: dict[sp.Basic, tuple[int, int]] = {}  # unnamed node -> (text size, nesting depth)
        named: list[sp.Basic] = []
        own: dict[sp.Basic, int] = {}  # named node -> size of its own definition's text
        printed = 0
        for node in order:
            if node in self._names or (not node.args and node not in self._engine):
                local[node] = (1, 0)
                continue
            if node in self._engine:
                body = self._engine[node]
                own[node] = local[body][0] if body not in own else 1
                named.append(node)
                local[node] = (1, 0)
                printed += own[node]
                continue
            size, depth = 1, 0
            for a in node.args:
                s, d = (1, 0) if a in own else local[a]
                size, depth = size + s, max(depth, d + 1)
            name_it = node is not root and (
                (refs.get(node, 0) >= 2 and size >= MIN_SHARED_NODES) or size > MAX_LOCAL_NODES or depth > MAX_LOCAL_DEPTH)
            if name_it:
                own[node] = size
                named.append(node)
                printed += size
                local[node] = (1, 0)
            else:
                local[node] = (size, depth)
        printed += 1 if root in own else local[root][0]
        if printed > self.max_nodes or self._total + printed > self.max_total:
            return None
        if self.max_definitions is not None and len(self.definitions) + len(named) > self.max_definitions:
            return None
        return named, {"printed": printed}

    # ------------------------------------------------------------ committing: names and definitions
    def _new_name(self, node: sp.Basic) -> sp.Symbol:
        if node in self._engine:
            sym = self._name_of(node)
            if str(sym) not in self._issued and str(sym) not in self._reserved:
                return sym
        while True:
            self._counter += 1
            sym = self._fresh(self._counter)
            if str(sym) not in self._issued and str(sym) not in self._reserved:
                return sym

    def _commit(self, root: sp.Basic, named: list[sp.Basic], info: dict, size: int) -> Abbreviated:
        memo: dict[sp.Basic, sp.Basic] = {}

        def local(node: sp.Basic, top: bool = False) -> sp.Basic:
            if not top and node in self._names:
                return self._names[node]
            if node in self._engine:
                if not top:
                    return self._names[node]
                body = self._engine[node]
                return self._names[body] if body in self._names else local(body, top=True)
            if not node.args:
                return node
            if node in memo:
                return memo[node]
            args = [local(a) for a in node.args]
            out = node.func(*args) if any(a is not b for a, b in zip(args, node.args)) else node
            memo[node] = out
            return out

        new: list[tuple[sp.Symbol, sp.Expr]] = []
        for node in named:
            rhs = local(node, top=True)
            sym = self._new_name(node)
            self._issued.add(str(sym))
            self._names[node] = sym
            new.append((sym, rhs))
        final = local(root, top=root not in self._names)
        self.definitions.extend(new)
        self._total += info["printed"]
        return Abbreviated(final, tuple(new), size)

    def _note(self, size: int) -> str:
        return f"<closed form with {size_text(size)} nodes, omitted; see {self._see}>"


