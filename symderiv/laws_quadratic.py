"""Quadratic conservation laws of gradient flow (part (c) of :mod:`symderiv.laws`, where the theorem
and the balancedness reduction are stated): Euler's identity per activation, the balancedness law
of each hidden unit class proved by reduction to it, and the full search over ``Q_ab`` for small
nets with its certified rank.
"""
from __future__ import annotations

from fractions import Fraction

import sympy as sp

from .certify import Uncertifiable, enclose, excludes_zero, precision
from .engine import backprop
from .law_records import QUADRATIC_DRIFT, EntryNamer, Law, LawSearch, class_size, entry_symbol_name
from .law_search import DPS, IdentityProver, nonzero_classes, sample_gradients
from .nullspace import null_space
from .patterns import Block
from .prover import Proof

__all__ = ["QUADRATIC_SEARCH_LIMIT", "MAX_EXPANDED_TERMS", "euler_identity_holds", "quadratic_laws"]

#: the quadratic search runs when the number of unknowns Q_ab is at most this
QUADRATIC_SEARCH_LIMIT = 136
#: balancedness laws are written entry by entry when they have at most this many terms
MAX_EXPANDED_TERMS = 64


# ---------------------------------------------------------------- (c) quadratic laws
_EULER: dict = {}


def euler_identity_holds(act) -> bool:
    """Proved: ``f'(z)·z = f(z)`` for every real ``z`` (positive homogeneity of degree 1).

    Case split on the sign of ``z`` (every registered kink is at 0): on ``z > 0`` and ``z < 0``
    SymPy's simplification must return exactly 0 (a proof for the whole half-line, with the
    sign in the symbol's assumptions); at ``z = 0`` the value must be exactly 0.  A certified
    nonzero value at ``z = ±1/3`` refutes it first (cheap for tanh, sigmoid, …)."""
    key = repr(act)
    if key not in _EULER:
        _EULER[key] = _euler(act)
    return _EULER[key]


def _euler(act) -> bool:
    z = sp.Symbol("z", real=True)
    residual = act.derivative(z) * z - act(z)
    for probe in (sp.Rational(1, 3), sp.Rational(-1, 3)):
        try:
            if excludes_zero(enclose([residual], {z: probe}, dps=30)[0]):
                return False
        except Uncertifiable:
            pass
    for z in (sp.Symbol("z", positive=True), sp.Symbol("z", negative=True)):
        try:
            if sp.simplify(act.derivative(z) * z - act(z)) != 0:
                return False
        except Exception:  # a failing rewrite proves nothing
            return False
    zero = act.derivative(sp.Integer(0)) * 0 - act(sp.Integer(0))
    return zero == 0


def _balancedness(proof: Proof) -> tuple[list[tuple[int, int, dict[Block, sp.Expr], str]], list[str]]:
    """Proved balancedness laws: ``(layer, class, {block: multiplicity}, method)`` per hidden unit class."""
    net, part = proof.net, proof.partition
    values = {b: (sp.Integer(0) if proof.class_of[b] == proof.zero_class else proof.symbols[proof.class_of[b]])
              for b in proof.blocks}
    out, undecided = [], []
    state = None
    for l in range(1, net.depth):
        act = net.activation_of(l)
        if not euler_identity_holds(act):
            continue
        if state is None:
            # the identity holds for any output delta: free symbols keep it polynomial (and fast)
            outputs = [sp.Dummy(f"d{k + 1}", real=True) for k in range(net.n_outputs)]
            state = backprop(net, part, values, abbreviate=True, output_delta=outputs)
        defs = state.definitions
        for C in part.classes[l]:
            mult: dict[Block, sp.Expr] = {}
            for D in part.classes[l - 1]:
                mult[Block(l, "W", C.index, D.index)] = class_size(D.size)
            if net.bias:
                mult[Block(l, "b", C.index)] = sp.Integer(1)
            for E in part.classes[l + 1]:
                mult[Block(l + 1, "W", E.index, C.index)] = -class_size(E.size)
            if all(values[b] == 0 for b in mult):
                continue  # 0 = 0
            if _reduces_to_euler(state, defs, act, l, C.index, mult, values):
                out.append((l, C.index, mult, "Euler reduction (f'(z)z = f(z), proved by sign cases)"))
            else:
                undecided.append(f"balancedness of layer {l} units {C.label()}: the reduction to Euler's identity "
                                 "was not shown")
    return out, undecided


def _reduces_to_euler(state, defs, act, l: int, c: int, mult, values) -> bool:
    """``Σ_b mult_b t_b g_b == (f'(z)·z − f(z))·S`` as a polynomial identity in the named quantities.

    Every substitution replaces a quantity by an equal one once ``A = f'(z)`` and ``F = f(z)``
    (``δ = A·S`` is checked), so the identity in ``A, F`` implies the one for the unit."""
    z = state.z[l][c]
    delta = state.delta[l][c]
    total = sp.Add(*[m * values[b] * state.grad[b] for b, m in mult.items()])
    if sp.expand(total) == 0:
        return True
    if z.is_Number or delta.is_Number:
        return False
    z_def = defs.get(z, z)
    d_def = defs.get(delta, delta)
    fprime, fz = act.derivative(z), act(z)
    if fz.is_Number:
        return False
    F = sp.Dummy("f", real=True)
    if fprime.is_Number:
        if fprime == 0:
            return False
        A, S = fprime, d_def / fprime
    else:
        A = sp.Dummy("fprime", real=True)
        d_sub = d_def.xreplace({fprime: A})
        S = sp.diff(d_sub, A)
        if not d_sub.has(A) or S.has(A) or sp.expand(d_sub - A * S) != 0:
            return False
    S = S.xreplace({fz: F})
    total = total.xreplace({delta: A * S}).xreplace({fz: F})
    return sp.expand(total - (A * z_def - F) * S) == 0


def _quadratic_law(proof: Proof, layer: int, cls: int, mult: dict[Block, sp.Expr], method: str) -> Law:
    part = proof.partition
    C = part.classes[layer][cls]
    namer = EntryNamer(proof)
    coeffs: dict[tuple[int, int], sp.Expr] = {}
    expression = sp.Integer(0)
    for b, m in mult.items():
        k = proof.class_of[b]
        if k == proof.zero_class:
            continue
        coeffs[(k, k)] = coeffs.get((k, k), sp.Integer(0)) + m
        expression += m * namer.entry(b) ** 2
    indexed_namer = EntryNamer(proof)
    indexed_namer._unit(layer, cls, True)  # the unit's own letter first
    indexed = sp.Integer(0)
    for b, m in mult.items():
        if proof.class_of[b] == proof.zero_class:
            continue
        indexed += m * indexed_namer.entry(b, True) ** 2
    expanded = _expanded_balancedness(proof, layer, C.first, mult)
    if expanded is not None:
        expression = expanded
    for_each = ((indexed_namer.letters[(layer, cls)], C.label()),) if (layer, cls) in indexed_namer.letters else ()
    desc = (f"balancedness of hidden unit {C.first + 1 if C.size == 1 else C.label()} of layer {layer}: "
            f"squared incoming weights{' and bias' if proof.net.bias else ''} minus squared outgoing weights")
    return Law("quadratic", tuple(sorted((k, c) for k, c in coeffs.items() if sp.simplify(c) != 0)), expression, str(indexed),
               for_each, str(C.size), (), True, QUADRATIC_DRIFT, method, desc, indexed)


def _expanded_balancedness(proof: Proof, layer: int, unit: int, mult) -> sp.Expr | None:
    """The law for one concrete unit, entry by entry (None for symbolic or large classes)."""
    net, part = proof.net, proof.partition
    sizes = net.sizes
    if any(not isinstance(sizes[l], int) for l in (layer - 1, layer, layer + 1)):
        return None
    if sizes[layer - 1] + sizes[layer + 1] + 1 > MAX_EXPANDED_TERMS:
        return None
    terms = []
    zero = lambda b: proof.class_of[b] == proof.zero_class  # noqa: E731
    row = part.of(layer, unit).index
    for j in range(sizes[layer - 1]):
        if not zero(Block(layer, "W", row, part.of(layer - 1, j).index)):
            terms.append(sp.Symbol(entry_symbol_name(f"W{layer}", (unit + 1, j + 1)), real=True) ** 2)
    if net.bias and not zero(Block(layer, "b", row)):
        terms.append(sp.Symbol(entry_symbol_name(f"b{layer}", (unit + 1,)), real=True) ** 2)
    for k in range(sizes[layer + 1]):
        if not zero(Block(layer + 1, "W", part.of(layer + 1, k).index, row)):
            terms.append(-sp.Symbol(entry_symbol_name(f"W{layer + 1}", (k + 1, unit + 1)), real=True) ** 2)
    return sp.Add(*terms)


def quadratic_laws(proof: Proof, linear: LawSearch, prover: IdentityProver, seed: int,
                   limit: int = QUADRATIC_SEARCH_LIMIT) -> LawSearch:
    """The quadratic search of ``proof`` (balancedness always; the full search within ``limit`` unknowns)."""
    ks = nonzero_classes(proof)
    m = len(ks)
    U = m * (m + 1) // 2
    search = LawSearch("quadratic", unknowns=U)
    found, undecided = _balancedness(proof)
    search.undecided.extend(undecided)
    for layer, cls, mult, method in found:
        law = _quadratic_law(proof, layer, cls, mult, method)
        if law.coefficients:
            search.laws.append(law)
    position = {k: i for i, k in enumerate(ks)}

    def pair(a: int, b: int) -> int:  # the position of (min, max) in ``pairs`` below, in O(1)
        lo, hi = min(a, b), max(a, b)
        return lo * m - lo * (lo - 1) // 2 + (hi - lo)

    # the generators are sparse (a law touches few classes): dicts, never U-long vectors (U ~ m²/2)
    generators: list[dict[int, Fraction]] = []
    for law in search.laws:
        vec: dict[int, Fraction] = {}
        for (ka, kb), c in law.coefficients:
            if not c.is_Rational:  # symbolic multiplicities: no search runs (below)
                continue
            at = pair(position[ka], position[kb])
            vec[at] = vec.get(at, Fraction(0)) + Fraction(int(c.p), int(c.q))
        generators.append(vec)
    lin = [dict((position[k], c) for k, c in law.coefficients) for law in linear.laws]
    for i, u in enumerate(lin):  # (u·t)(v·t) is conserved under gradient flow when u·t and v·t are
        for v in lin[i:]:
            vec = {}
            for a, ca in u.items():
                for b, cb in v.items():
                    at = pair(a, b)
                    vec[at] = vec.get(at, Fraction(0)) + ca * cb
            generators.append(vec)
    search.dimension = _rank(generators)
    if proof.net.is_symbolic or U == 0 or U > limit:
        search.note = ("the full quadratic search runs for at most "
                       f"{limit} unknowns and concrete widths; only balancedness laws were checked")
        if U == 0:
            search.complete, search.rank = True, 0
        return search
    pairs = [(a, b) for a in range(m) for b in range(a, m)]
    samples = sample_gradients(proof, U + 8, seed + 1)
    if len(samples.points) < U:
        search.complete = False
        search.note = "too few certifiable sample points"
        return search
    with precision(DPS):
        rows = []
        for t, g in zip(samples.values, samples.grads):
            rows.append([t[a] * g[b] + t[b] * g[a] if a != b else t[a] * g[a] for a, b in pairs])
    space = null_space(rows, DPS)
    search.rank = space.rank if space.rank_certified else None
    search.complete = bool(space.rank_certified and space.rank + search.dimension == U)
    if not search.complete and space.rank_certified:
        search.note = (f"the certified rank leaves room for {U - space.rank} independent quadratic laws; "
                       f"{search.dimension} are proved (balancedness and products of linear laws)")
    return search


def _rank(vectors: list[dict[int, Fraction]]) -> int:
    """Exact rank of sparse rational vectors (column -> entry; Gaussian elimination over Q).

    Each vector is reduced by the pivots found so far (a pivot row is keyed by its first column);
    what remains non-zero is a new pivot.  Vectors with disjoint supports never touch each other,
    so the work follows the supports, not the ambient dimension."""
    pivots: dict[int, dict[int, Fraction]] = {}
    for v in vectors:
        row = {c: x for c, x in v.items() if x != 0}
        while row:
            lead = min(row)
            pivot = pivots.get(lead)
            if pivot is None:
                pivots[lead] = row
                break
            f = row[lead] / pivot[lead]
            for c, x in pivot.items():
                y = row.get(c, Fraction(0)) - f * x
                if y == 0:
                    row.pop(c, None)
                else:
                    row[c] = y
    return len(pivots)
