"""Conservation laws of training, found automatically and proved.

Setting.  The prover (:mod:`symderiv.prover`) gives the smallest invariant zero/tie pattern
``P*`` of an init: tie classes ``k`` of blocks, each with one value ``t_k`` (every entry of
every block of the class equals ``t_k`` at every step) and one per-entry gradient
``g_k`` = the engine's block gradient of any block of the class on ``V(P*)`` (class ``k``
has the symbol ``symbols[k]``, the zero class is 0, the data are symbols).  By the
invariance lemma every trajectory of a coordinate-wise optimizer stays in ``V(P*)``.

(a) Linear laws
---------------
Theorem.  If ``Σ_k c_k g_k ≡ 0`` on ``V(P*)`` for every example, then ``Σ_k c_k t_k``
(one representative entry per class) is constant along every trajectory of every
optimizer *linear in the gradient history*: plain SGD, heavy-ball momentum and Nesterov,
any learning-rate schedule, any batches and sample order.

Proof.  Such an optimizer moves every coordinate by ``Δθ_e(t) = Σ_{s ≤ t} α_{t,s} G_e(s)``
with coefficients ``α`` that do not depend on the coordinate, where ``G_e(s)`` is the
batch gradient at step ``s``, an average of per-example gradients.  Along the trajectory
(which stays in ``V(P*)``) every entry of class ``k`` has ``G_e(s) = ḡ_k(s)``, the batch
average of ``g_k``; hence ``Σ_k c_k Δt_k = Σ_s α_{t,s} Σ_k c_k ḡ_k(s) = 0`` because the
identity holds example by example.  ∎

With L2 weight decay λ the update adds ``λθ`` to the gradient: ``u = c·t`` then follows
the optimizer's own trajectory on the one-dimensional loss ``λu²/2`` (the data drop out);
for plain SGD at a constant step η, ``u_t = (1 − ηλ)^t u_0`` exactly, and decoupled decay
(SGDW) gives the same.  Adam and RMSProp divide each coordinate by its own second-moment
estimate: they are not linear in the gradient history and break such laws (the
softmax column sums drift under Adam; see ``tests/test_laws.py``), so they are never claimed.

Finding the complete space.  The ``g_k`` are evaluated with Arb at ``N > m`` random exact
points of ``V(P*)`` (``m`` = number of non-zero classes); :mod:`symderiv.nullspace` gives
the pivot columns of the ``N × m`` matrix, a certificate ``rank ≥ r`` (an ``r × r`` minor
whose enclosure excludes 0) and the canonical RREF null vectors, rationalized.  Each
candidate ``c`` is then *proved*: ``Σ c_k g_k`` is structurally 0, or the loss's delta
identity ``Σ_k δ_k ≡ 0`` finishes it (the gradients are linear in the output deltas
``δ^(L)``: with ``δ^(L)`` replaced by free symbols ``d``, ``Σ c_k g_k = Σ_k d_k E_k`` with
``E_k`` free of ``d``; if every ``E_k − E_K ≡ 0`` then ``Σ c_k g_k = E_K Σ_k d_k = 0``), or
bounded simplification proves it.  A candidate that fails is listed as undecided, never
reported.  The list is *complete* (``"complete": true``) when ``r`` plus the number of
proved laws is ``m``: no further linear law exists (with symbolic widths: none whose
coefficients are independent of the widths).  Softmax cross-entropy gives
``Σ_k δ_k = 0``: every output-layer column sum ``Σ_k W^(L)_{kj}`` and the bias sum
``Σ_k b^(L)_k`` are conserved, at any init and depth.

Laws are block-level: a law whose representative entry lies in a block of a class of ``n``
identical units holds for every unit of that class (all of its entries are equal); it is
stated once with an index range (``for_each``).

(c) Quadratic laws of gradient flow
-----------------------------------
Theorem.  If ``Q`` is symmetric (over the non-zero classes) with ``Σ_{a,b} Q_ab t_a g_b ≡ 0``
on ``V(P*)``, then ``q = Σ Q_ab t_a t_b`` is constant along gradient flow
(``dq/dt = −2 Σ Q_ab t_a g_b``), and one SGD step at rate η changes it by exactly
``η² Σ Q_ab ḡ_a ḡ_b`` (expand ``(t − ηḡ)ᵀQ(t − ηḡ)``; batch gradients are averages).

Balancedness.  For a hidden unit ``i`` of a layer whose activation satisfies Euler's
identity ``f'(z)·z = f(z)`` for every real ``z`` (positively homogeneous of degree 1: relu,
leaky relu, identity; the identity is *proved* per activation by the case split
``z > 0``, ``z < 0``, ``z = 0``, so the kink convention is covered),
``q_i = ‖incoming row of unit i‖² + b_i² − ‖outgoing column of unit i‖²`` is such a law:
``Σ_j W_ij ∂W_ij + b_i ∂b_i − Σ_k W'_ki ∂W'_ki = δ_i z_i − h_i S_i = (f'(z_i) z_i − f(z_i)) S_i``
with ``δ_i = f'(z_i) S_i``, ``S_i = Σ_k W'_ki δ'_k``.  The proof checks this reduction as a
polynomial identity in the engine's named quantities (``z``, ``δ`` abbreviated, the unit's
``f(z_i)``, ``f'(z_i)`` replaced by fresh symbols), then Euler's identity.  In class
coordinates the blocks of a unit count with the sizes of their column/row classes.

For small nets the whole space is searched as in (a) over the unknowns ``Q_ab`` (``a ≤ b``),
with rows ``t_a g_b + t_b g_a``; the proved generators (balancedness and the products of
two linear laws, which are conserved under gradient flow because each factor is) are
compared with the certified rank: ``complete`` when they span the whole null space.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import sympy as sp
from .guard import public_entry

from .certify import Uncertifiable, enclose, excludes_zero, precision
from .engine import Abbreviations, backprop, input_symbols
from .nullspace import as_arb, null_space
from .patterns import Block
from .prover import ABBREVIATE_FROM_DEPTH, Budget, Decider, Proof, _fan_in_scales, random_point

__all__ = ["Law", "LawSearch", "Conservation", "conservation_laws", "LINEAR_OPTIMIZERS",
           "entry_symbol_name", "euler_identity_holds", "conservation_sentences", "law_tex"]

#: optimizers that are linear in the gradient history (see the module docstring)
LINEAR_OPTIMIZERS = ("SGD", "SGD with momentum", "Nesterov")
#: the quadratic search runs when the number of unknowns Q_ab is at most this
QUADRATIC_SEARCH_LIMIT = 136
#: the linear search samples at most this many classes; beyond, only the loss's shift laws are checked
LINEAR_SEARCH_LIMIT = 64
#: digits of the Arb evaluations of the law searches
DPS = 100
#: balancedness laws are written entry by entry when they have at most this many terms
MAX_EXPANDED_TERMS = 64

LINEAR_DECAY = ("with L2 weight decay λ: decays exactly; under SGD at a constant step η, value_t = (1 − ηλ)^t·value_0 "
                "(under momentum/Nesterov it follows the optimizer's trajectory on the 1-D loss λu²/2, data-free)")
QUADRATIC_DRIFT = ("not conserved by any discrete optimizer: one SGD step at rate η changes it by exactly η²·gᵀQg "
                   "(g the batch gradient); constant under gradient flow without weight decay")


# ---------------------------------------------------------------- records
@dataclass(frozen=True)
class Law:
    """One proved conservation law.

    ``expression`` is over representative parameter entries (``W2_1_3`` = row 1, column 3
    of ``W2``, 1-based); ``indexed`` writes the same law with index letters for classes of
    several identical units, ``for_each`` gives their ranges (the law holds for each
    choice), ``count`` how many entry-level laws it stands for."""

    kind: str  # "linear" | "quadratic"
    coefficients: tuple  # linear: ((class, Fraction), ...); quadratic: (((a, b), Fraction), ...)
    expression: sp.Expr
    indexed: str
    for_each: tuple[tuple[str, str], ...]
    count: str
    optimizers: tuple[str, ...]
    gradient_flow: bool
    weight_decay: str
    method: str
    description: str
    #: ``indexed`` as an expression (index letters in the symbol names), for printers
    indexed_expression: sp.Expr | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"expression": str(self.expression), "indexed": self.indexed,
                "for_each": dict(self.for_each), "count": self.count, "kind": self.kind,
                "optimizers": list(self.optimizers), "gradient_flow": self.gradient_flow,
                "weight_decay": self.weight_decay, "proof": self.method, "description": self.description}


@dataclass
class LawSearch:
    """The laws of one kind, and how complete the list is.

    ``rank`` is the certified rank of the sampled matrix (``None`` when the search did not
    run), ``unknowns`` the number of coefficients; ``complete`` is True when ``rank`` plus the
    dimension of the proved laws' span is ``unknowns`` (no other law exists), False when that
    could not be shown, None when no search ran."""

    kind: str
    laws: list[Law] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)
    complete: bool | None = None
    rank: int | None = None
    unknowns: int = 0
    dimension: int | None = None  # dimension of the proved laws' span (with derived laws)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "laws": len(self.laws), "dimension": self.dimension, "complete": self.complete,
                "certified_rank": self.rank, "unknowns": self.unknowns, "undecided": list(self.undecided),
                "note": self.note}


@dataclass
class Conservation:
    """Linear and quadratic conservation laws of one proof (see the module docstring)."""

    linear: LawSearch
    quadratic: LawSearch

    @property
    def laws(self) -> list[Law]:
        return self.linear.laws + self.quadratic.laws

    def to_dict(self) -> dict[str, Any]:
        return {"linear": self.linear.to_dict(), "quadratic": self.quadratic.to_dict()}



def _size(n: "int | sp.Symbol") -> sp.Expr:
    """A class size as a SymPy number or width symbol (made explicitly: no sympify in symderiv)."""
    return sp.Integer(n) if isinstance(n, int) else n

# ---------------------------------------------------------------- entry names
def entry_symbol_name(param: str, index: Sequence[object]) -> str:
    """``W2_1_3`` for 1-based ``index`` ``(1, 3)`` of ``W2``."""
    return "_".join([param] + [str(i) for i in index])


class _Namer:
    """Representative entries and index letters (one letter per unit class of several units)."""

    LETTERS = "ijkmnpqrs"

    def __init__(self, proof: Proof):
        self.proof = proof
        self.letters: dict[tuple[int, int], str] = {}

    def _unit(self, layer: int, cls: int, indexed: bool) -> str:
        C = self.proof.partition.classes[layer][cls]
        if not indexed or C.size == 1:
            return str(C.first + 1)
        key = (layer, cls)
        if key not in self.letters:
            self.letters[key] = self.LETTERS[len(self.letters) % len(self.LETTERS)] + (
                "" if len(self.letters) < len(self.LETTERS) else str(len(self.letters)))
        return self.letters[key]

    def entry(self, b: Block, indexed: bool = False) -> sp.Symbol:
        parts = [self._unit(b.layer, b.row, indexed)]
        if b.kind == "W":
            parts.append(self._unit(b.layer - 1, b.col, indexed))
        return sp.Symbol(entry_symbol_name(b.param, parts), real=True)

    def for_each(self) -> tuple[tuple[str, str], ...]:
        out = []
        for (layer, cls), letter in self.letters.items():
            out.append((letter, self.proof.partition.classes[layer][cls].label()))
        return tuple(out)

    def count(self) -> str:
        total = sp.Integer(1)
        for (layer, cls) in self.letters:
            total *= self.proof.partition.classes[layer][cls].size
        return str(total)


# ---------------------------------------------------------------- sampling
@dataclass
class _Samples:
    """Arb enclosures of the class gradients (and class values) at exact points of ``V(P*)``."""

    points: list[dict]
    grads: list[list]  # per point, per non-zero class
    values: list[list]  # per point, per non-zero class: the class value t_k as a ball


def _nonzero(proof: Proof) -> list[int]:
    return [k for k in range(len(proof.classes)) if k != proof.zero_class]


def _free_symbols(proof: Proof) -> list[sp.Symbol]:
    widths = [n for n in proof.net.sizes if isinstance(n, sp.Symbol)]
    return input_symbols(proof.net.sizes[0]) + [proof.symbols[k] for k in _nonzero(proof)] + widths


def _sample(proof: Proof, count: int, seed: int) -> _Samples:
    ks = _nonzero(proof)
    exprs = [proof.gradients_on_pattern[proof.classes[k][0]] for k in ks]
    rng = random.Random(seed)
    scales = _fan_in_scales(proof.net, proof.classes, proof.symbols, proof.zero_class, proof.init_symbols)
    free = _free_symbols(proof)
    out = _Samples([], [], [])
    attempts = 0
    while len(out.points) < count and attempts < 3 * count + 10:
        attempts += 1
        point = random_point(rng, proof.net, free, scales, positive=(attempts % 2 == 0))
        try:
            enc = enclose(exprs + [proof.symbols[k] for k in ks], point, dps=DPS, definitions=proof.definitions)
        except Uncertifiable:
            continue
        out.points.append(point)
        out.grads.append(enc[:len(ks)])
        out.values.append(enc[len(ks):])
    return out


# ---------------------------------------------------------------- proving an identity
class _Prover:
    """Proves ``expr ≡ 0`` on ``V(P*)`` for law candidates (see the module docstring)."""

    def __init__(self, proof: Proof, seed: int, seconds: float, budget: float):
        self.proof = proof
        net = proof.net
        abbreviate = net.depth >= ABBREVIATE_FROM_DEPTH
        self.values = {b: (sp.Integer(0) if proof.class_of[b] == proof.zero_class else proof.symbols[proof.class_of[b]])
                       for b in proof.blocks}
        abbreviations = None
        if proof.definitions:
            abbreviations = Abbreviations()
            abbreviations.definitions.update(proof.definitions)
        self.decider = Decider(_free_symbols(proof), net=net, seed=seed, seconds=seconds,
                               abbreviations=abbreviations, budget=Budget(budget), points=0)
        K = net.n_outputs
        self.d = [sp.Dummy(f"d{k + 1}", real=True) for k in range(K)]
        state = backprop(net, proof.partition, self.values, abbreviate=abbreviate, output_delta=self.d)
        self.grads_d = state.grad
        # abbreviations whose definitions involve the output deltas (hidden δ's): tier 2 must not see them
        self.d_dependent: set[sp.Symbol] = set()
        dset = set(self.d)
        for sym, expr in state.definitions.items():
            if expr.free_symbols & (dset | self.d_dependent):
                self.d_dependent.add(sym)
        y = net.loss.labels(K)
        zs = [sp.Symbol(f"zeta_{k + 1}", real=True) for k in range(K)]
        delta_sum = sp.Add(*net.loss.delta(zs, y))
        self.delta_sum_zero = delta_sum == 0 or sp.cancel(sp.together(delta_sum)) == 0

    def prove(self, expr: sp.Expr, expr_d: sp.Expr | None) -> str | None:
        """``"structural"``, ``"delta identity"`` or ``"simplification"``; None when not proved."""
        if expr == 0:
            return "structural"
        if expr_d is not None and self.delta_sum_zero and not (expr_d.free_symbols & self.d_dependent):
            if self._delta_identity(expr_d):
                return "delta identity (Σ_k δ_k = 0)"
        return self.decider.proves_zero(expr)

    def _delta_identity(self, expr_d: sp.Expr) -> bool:
        if expr_d.xreplace({d: 0 for d in self.d}) != 0:
            return False
        E = [sp.diff(expr_d, d) for d in self.d]
        dset = set(self.d)
        if any(e.free_symbols & dset for e in E):  # not affine in d (cannot happen: backprop is linear in δ^(L))
            return False
        # Σ_k d_k E_k = Σ_k d_k (E_k − E_K) + E_K Σ_k d_k
        return all(sp.expand(e - E[-1]) == 0 for e in E[:-1])


def _refuted(combination: Sequence[Fraction | int], samples: _Samples, rows) -> bool:
    """Whether some sample certifies that the combination is nonzero."""
    with precision(DPS):
        for row in rows(samples):
            total = None
            for coeff, ball in zip(combination, row):
                if coeff == 0:
                    continue
                term = as_arb(coeff) * ball
                total = term if total is None else total + term
            if total is not None and excludes_zero(total):
                return True
    return False


# ---------------------------------------------------------------- (a) linear laws
def _linear(proof: Proof, prover: _Prover, seed: int) -> LawSearch:
    ks = _nonzero(proof)
    m = len(ks)
    search = LawSearch("linear", unknowns=m)
    if m == 0:
        search.complete, search.rank, search.dimension = True, 0, 0
        return search
    if m > LINEAR_SEARCH_LIMIT:
        return _shift_laws(proof, prover, search)
    samples = _sample(proof, m + 8, seed)
    if len(samples.points) < m:
        search.complete = False
        search.note = "too few certifiable sample points"
        return search
    space = null_space(samples.grads, DPS)
    search.rank = space.rank if space.rank_certified else None
    proved = 0
    for f, vec in space.candidates:
        label = _class_label(proof, ks[f])
        if vec is None:
            search.undecided.append(f"a law with leading class {label}: coefficients are not small rationals")
            continue
        if _refuted(vec, samples, lambda s: s.grads):
            search.undecided.append(f"candidate law with leading class {label}: refuted at a sample point")
            continue
        coeffs = [(ks[j], c) for j, c in enumerate(vec) if c != 0]
        expr = sp.Add(*[_sp(c) * proof.gradients_on_pattern[proof.classes[k][0]] for k, c in coeffs])
        expr_d = sp.Add(*[_sp(c) * prover.grads_d[proof.classes[k][0]] for k, c in coeffs])
        method = prover.prove(expr, expr_d)
        if method is None:
            search.undecided.append(f"candidate law {_linear_text(proof, coeffs)} ≡ const: {prover.decider.why_undecided()}")
            continue
        search.laws.append(_linear_law(proof, coeffs, method))
        proved += 1
    search.dimension = proved
    search.complete = bool(space.rank_certified and space.rank + proved == m)
    if proof.net.is_symbolic:
        search.note = "complete among laws whose coefficients do not depend on the symbolic widths"
    return search


def _shift_laws(proof: Proof, prover: _Prover, search: LawSearch) -> LawSearch:
    """Without a search (too many classes): the output-layer column sums and the output bias sum,
    each proved like a candidate; ``complete`` stays None."""
    L = proof.net.depth
    part = proof.partition
    groups = [[Block(L, "W", C.index, D.index) for C in part.classes[L]] for D in part.classes[L - 1]]
    if proof.net.bias:
        groups.append([Block(L, "b", C.index) for C in part.classes[L]])
    for blocks_ in groups:
        coeff: dict[int, Fraction] = {}
        for b in blocks_:
            k = proof.class_of[b]
            if k != proof.zero_class:
                coeff[k] = coeff.get(k, Fraction(0)) + 1
        coeffs = sorted(coeff.items())
        if not coeffs:
            continue
        expr = sp.Add(*[_sp(c) * proof.gradients_on_pattern[proof.classes[k][0]] for k, c in coeffs])
        expr_d = sp.Add(*[_sp(c) * prover.grads_d[proof.classes[k][0]] for k, c in coeffs])
        method = prover.prove(expr, expr_d)
        if method is not None:
            search.laws.append(_linear_law(proof, coeffs, method))
    search.dimension = len(search.laws)
    search.note = (f"{search.unknowns} classes exceed the search limit ({LINEAR_SEARCH_LIMIT}): only the output "
                   "layer's column and bias sums were checked; completeness not examined")
    return search


def _sp(c: Fraction) -> sp.Rational:
    return sp.Rational(c.numerator, c.denominator)


def _class_label(proof: Proof, k: int) -> str:
    from .prover import block_label

    return block_label(proof.net, proof.partition, proof.classes[k][0])


def _linear_text(proof: Proof, coeffs) -> str:
    namer = _Namer(proof)
    return str(sp.Add(*[_sp(c) * namer.entry(proof.classes[k][0]) for k, c in coeffs]))


def _linear_law(proof: Proof, coeffs, method: str) -> Law:
    namer = _Namer(proof)
    expression = sp.Add(*[_sp(c) * namer.entry(proof.classes[k][0]) for k, c in coeffs])
    indexed = sp.Add(*[_sp(c) * namer.entry(proof.classes[k][0], True) for k, c in coeffs])
    params = sorted({b.param for k, _ in coeffs for b in proof.classes[k][:1]})
    return Law("linear", tuple(coeffs), expression, str(indexed), namer.for_each(), namer.count(), LINEAR_OPTIMIZERS,
               True, LINEAR_DECAY, method, _linear_description(proof, coeffs, params), indexed)


def _linear_description(proof: Proof, coeffs, params: list[str]) -> str:
    L = proof.net.depth
    reps = [proof.classes[k][0] for k, _ in coeffs]
    unit = all(c == 1 for _, c in coeffs)
    out_rows = {b.row for b in reps}
    if unit and all(b.layer == L for b in reps) and len(out_rows) == proof.net.n_outputs and len(reps) == len(out_rows):
        if all(b.kind == "b" for b in reps):
            return (f"the sum of the output biases b{L} is conserved: the softmax deltas sum to 0, so the "
                    "true-class bias moves against the others and exactly balances them")
        if all(b.kind == "W" for b in reps) and len({b.col for b in reps}) == 1:
            return (f"a column sum of W{L} is conserved: the softmax deltas sum to 0, so the true-class row "
                    "moves against the others and exactly balances them")
    return f"a linear combination of {', '.join(params)} entries is conserved"


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
                mult[Block(l, "W", C.index, D.index)] = _size(D.size)
            if net.bias:
                mult[Block(l, "b", C.index)] = sp.Integer(1)
            for E in part.classes[l + 1]:
                mult[Block(l + 1, "W", E.index, C.index)] = -_size(E.size)
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
    namer = _Namer(proof)
    coeffs: dict[tuple[int, int], sp.Expr] = {}
    expression = sp.Integer(0)
    for b, m in mult.items():
        k = proof.class_of[b]
        if k == proof.zero_class:
            continue
        coeffs[(k, k)] = coeffs.get((k, k), sp.Integer(0)) + m
        expression += m * namer.entry(b) ** 2
    indexed_namer = _Namer(proof)
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


def _quadratic(proof: Proof, linear: LawSearch, prover: _Prover, seed: int,
               limit: int = QUADRATIC_SEARCH_LIMIT) -> LawSearch:
    ks = _nonzero(proof)
    m = len(ks)
    U = m * (m + 1) // 2
    search = LawSearch("quadratic", unknowns=U)
    found, undecided = _balancedness(proof)
    search.undecided.extend(undecided)
    for layer, cls, mult, method in found:
        law = _quadratic_law(proof, layer, cls, mult, method)
        if law.coefficients:
            search.laws.append(law)
    pairs = [(a, b) for a in range(m) for b in range(a, m)]
    position = {k: i for i, k in enumerate(ks)}
    generators: list[list[Fraction]] = []
    for law in search.laws:
        vec = [Fraction(0)] * U
        for (ka, kb), c in law.coefficients:
            if not c.is_Rational:  # symbolic multiplicities: no search runs (below)
                continue
            vec[pairs.index((position[ka], position[kb]))] += Fraction(int(c.p), int(c.q))
        generators.append(vec)
    lin = [dict((position[k], c) for k, c in law.coefficients) for law in linear.laws]
    for i, u in enumerate(lin):  # (u·t)(v·t) is conserved under gradient flow when u·t and v·t are
        for v in lin[i:]:
            vec = [Fraction(0)] * U
            for a, ca in u.items():
                for b, cb in v.items():
                    lo, hi = min(a, b), max(a, b)
                    vec[pairs.index((lo, hi))] += ca * cb
            generators.append(vec)
    search.dimension = _rank(generators)
    if proof.net.is_symbolic or U == 0 or U > limit:
        search.note = ("the full quadratic search runs for at most "
                       f"{limit} unknowns and concrete widths; only balancedness laws were checked")
        if U == 0:
            search.complete, search.rank = True, 0
        return search
    samples = _sample(proof, U + 8, seed + 1)
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


def _rank(vectors: list[list[Fraction]]) -> int:
    """Exact rank of rational vectors (Gaussian elimination over Q)."""
    rows = [list(v) for v in vectors if any(v)]
    rank, col = 0, 0
    n = len(rows[0]) if rows else 0
    while rank < len(rows) and col < n:
        pivot = next((i for i in range(rank, len(rows)) if rows[i][col] != 0), None)
        if pivot is None:
            col += 1
            continue
        rows[rank], rows[pivot] = rows[pivot], rows[rank]
        for i in range(len(rows)):
            if i != rank and rows[i][col] != 0:
                f = rows[i][col] / rows[rank][col]
                rows[i] = [x - f * y for x, y in zip(rows[i], rows[rank])]
        rank += 1
        col += 1
    return rank


# ---------------------------------------------------------------- entry point
@public_entry
def conservation_laws(proof: Proof, *, seed: int = 0, seconds: float = 5.0, budget: float = 30.0,
                      quadratic_limit: int = QUADRATIC_SEARCH_LIMIT) -> Conservation:
    """The linear and quadratic conservation laws of ``proof`` (see the module docstring).

    ``quadratic_limit``: the full quadratic search runs when it has at most this many unknowns
    (``m(m+1)/2`` for ``m`` non-zero classes); balancedness laws are always checked."""
    prover = _Prover(proof, seed + 31, seconds, budget)
    linear = _linear(proof, prover, seed + 17)
    quadratic = _quadratic(proof, linear, prover, seed + 23, quadratic_limit)
    return Conservation(linear, quadratic)


# ---------------------------------------------------------------- sentences (read by symderiv.analysis)
def _listed(texts: list[str], limit: int = 6) -> str:
    shown = texts[:limit]
    return "; ".join(shown) + (f"; … ({len(texts)} in all)" if len(texts) > limit else "")


def conservation_sentences(conservation: Conservation, signed, proof: Proof) -> list[str]:
    """Plain sentences on the proved laws and signed ties (empty when there are none)."""
    out = []
    lin = conservation.linear
    if lin.laws:
        shift = [law for law in lin.laws if law.description.startswith(("a column sum", "the sum of the output"))]
        L = proof.net.depth
        head = ""
        if shift and len(shift) == len(lin.laws):
            cols = any(law.description.startswith("a column sum") for law in shift)
            bias = any(law.description.startswith("the sum of the output") for law in shift)
            what = " and ".join(x for x, present in ((f"each column sum of W{L}", cols),
                                                     (f"the sum of b{L}", bias)) if present)
            part = "row" if cols else "entry"  # b has no rows: its true-class entry is what moves
            head = (f"{what[0].upper()}{what[1:]} {'is' if len(shift) == 1 else 'are'} conserved under SGD/momentum/"
                    f"Nesterov: the true-class {part} moves against the others and exactly balances them")
        else:
            head = "Conserved under SGD/momentum/Nesterov (linear in the gradient history)"
        laws = [law.indexed + (" (each " + ", ".join(f"{k} in {v}" for k, v in law.for_each) + ")"
                               if law.for_each else "") for law in lin.laws]
        complete = (" This list of linear laws is complete (certified rank)." if lin.complete else "")
        out.append(f"{head} (proved: {_listed(laws)}); not claimed for Adam or RMSProp, which are not linear in the gradient and can break them; with L2 weight decay they "
                   f"decay exactly ((1 − ηλ)^t under SGD).{complete}")
    quad = conservation.quadratic
    if quad.laws:
        laws = [law.indexed + (" (each " + ", ".join(f"{k} in {v}" for k, v in law.for_each) + ")"
                               if law.for_each else "") for law in quad.laws]
        out.append(f"Conserved under gradient flow (balancedness of positively homogeneous units; one SGD step changes "
                   f"each by exactly η²·gᵀQg): {_listed(laws, 4)}.")
    if signed is not None and signed.groups:
        rel = []
        for g in signed.groups:
            names = [block_label_of(proof, k) for k, _ in g.members]
            rel.append(" = ".join(("−" if s < 0 else "") + n for n, (_, s) in zip(names, g.members)))
        out.append("Exact negatives forever under SGD, momentum, Nesterov, RMSProp, Adam and AdamW (odd in the "
                   f"gradient; with or without weight decay): {_listed(rel)}.")
    return out


def block_label_of(proof: Proof, k: int) -> str:
    """The label of class ``k``'s first block."""
    return _class_label(proof, k)


def law_tex(law: Law) -> str:
    """The law in TeX, ``W^{(2)}_{1,j}`` style (index letters where ``for_each`` has them)."""
    expr = law.expression if not law.for_each or law.indexed_expression is None else law.indexed_expression
    subs = {}
    for sym in expr.free_symbols:
        name, *idx = sym.name.split("_")
        subs[sym] = sp.Symbol(f"{name[0]}^{{({name[1:]})}}_{{{','.join(idx)}}}", real=True)
    return sp.latex(expr.xreplace(subs))
