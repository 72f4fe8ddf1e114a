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

Modules: the records and entry names in :mod:`symderiv.law_records`, sampling and the proof of a
candidate identity in :mod:`symderiv.law_search`, the quadratic laws in
:mod:`symderiv.laws_quadratic`; the linear search, the entry point and the sentences here.
"""
from __future__ import annotations

from fractions import Fraction

import sympy as sp

from .guard import public_entry
from .law_records import (
    LINEAR_DECAY, LINEAR_OPTIMIZERS, QUADRATIC_DRIFT, Conservation, EntryNamer, Law, LawSearch, entry_symbol_name,
    law_tex,
)
from .law_search import DPS, IdentityProver, nonzero_classes, rational, refuted_at_a_sample, sample_gradients
from .laws_quadratic import MAX_EXPANDED_TERMS, QUADRATIC_SEARCH_LIMIT, euler_identity_holds, quadratic_laws
from .nullspace import null_space
from .patterns import Block
from .prover import Proof, block_label

__all__ = ["Law", "LawSearch", "Conservation", "conservation_laws", "LINEAR_OPTIMIZERS",
           "entry_symbol_name", "euler_identity_holds", "conservation_sentences", "law_tex",
           "QUADRATIC_SEARCH_LIMIT", "MAX_EXPANDED_TERMS", "LINEAR_DECAY", "QUADRATIC_DRIFT", "DPS"]

#: the linear search samples at most this many classes; beyond, only the loss's shift laws are checked
LINEAR_SEARCH_LIMIT = 64


# ---------------------------------------------------------------- (a) linear laws
def _linear(proof: Proof, prover: IdentityProver, seed: int) -> LawSearch:
    ks = nonzero_classes(proof)
    m = len(ks)
    search = LawSearch("linear", unknowns=m)
    if m == 0:
        search.complete, search.rank, search.dimension = True, 0, 0
        return search
    if m > LINEAR_SEARCH_LIMIT:
        return _shift_laws(proof, prover, search)
    samples = sample_gradients(proof, m + 8, seed)
    if len(samples.points) < m:
        search.complete = False
        search.note = "too few certifiable sample points"
        return search
    space = null_space(samples.grads, DPS)
    search.rank = space.rank if space.rank_certified else None
    proved = 0
    for f, vec in space.candidates:
        label = block_label_of(proof, ks[f])
        if vec is None:
            search.undecided.append(f"a law with leading class {label}: coefficients are not small rationals")
            continue
        if refuted_at_a_sample(vec, samples, lambda s: s.grads):
            search.undecided.append(f"candidate law with leading class {label}: refuted at a sample point")
            continue
        coeffs = [(ks[j], c) for j, c in enumerate(vec) if c != 0]
        expr = sp.Add(*[rational(c) * proof.gradients_on_pattern[proof.classes[k][0]] for k, c in coeffs])
        expr_d = sp.Add(*[rational(c) * prover.grads_d[proof.classes[k][0]] for k, c in coeffs])
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


def _shift_laws(proof: Proof, prover: IdentityProver, search: LawSearch) -> LawSearch:
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
        expr = sp.Add(*[rational(c) * proof.gradients_on_pattern[proof.classes[k][0]] for k, c in coeffs])
        expr_d = sp.Add(*[rational(c) * prover.grads_d[proof.classes[k][0]] for k, c in coeffs])
        method = prover.prove(expr, expr_d)
        if method is not None:
            search.laws.append(_linear_law(proof, coeffs, method))
    search.dimension = len(search.laws)
    search.note = (f"{search.unknowns} classes exceed the search limit ({LINEAR_SEARCH_LIMIT}): only the output "
                   "layer's column and bias sums were checked; completeness not examined")
    return search


def _linear_text(proof: Proof, coeffs) -> str:
    namer = EntryNamer(proof)
    return str(sp.Add(*[rational(c) * namer.entry(proof.classes[k][0]) for k, c in coeffs]))


def _linear_law(proof: Proof, coeffs, method: str) -> Law:
    namer = EntryNamer(proof)
    expression = sp.Add(*[rational(c) * namer.entry(proof.classes[k][0]) for k, c in coeffs])
    indexed = sp.Add(*[rational(c) * namer.entry(proof.classes[k][0], True) for k, c in coeffs])
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


# ---------------------------------------------------------------- entry point
@public_entry
def conservation_laws(proof: Proof, *, seed: int = 0, seconds: float = 5.0, budget: float = 30.0,
                      quadratic_limit: int = QUADRATIC_SEARCH_LIMIT) -> Conservation:
    """The linear and quadratic conservation laws of ``proof`` (see the module docstring).

    ``quadratic_limit``: the full quadratic search runs when it has at most this many unknowns
    (``m(m+1)/2`` for ``m`` non-zero classes); balancedness laws are always checked."""
    prover = IdentityProver(proof, seed + 31, seconds, budget)
    linear = _linear(proof, prover, seed + 17)
    quadratic = quadratic_laws(proof, linear, prover, seed + 23, quadratic_limit)
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
    return block_label(proof.net, proof.partition, proof.classes[k][0])
