"""The machinery of the law searches (:mod:`symderiv.laws`, :mod:`symderiv.laws_quadratic`):
the class gradients sampled with Arb at exact points of ``V(P*)`` (:func:`sample_gradients`), a
candidate refuted at a sample (:func:`refuted_at_a_sample`), and the proof of a candidate identity
``Σ c_k g_k ≡ 0`` (:class:`IdentityProver`: structural, the loss's delta identity, or bounded
simplification; see :mod:`symderiv.laws`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import sympy as sp

from .certify import Uncertifiable, enclose, excludes_zero, precision
from .engine import Abbreviations, backprop, input_symbols
from .nullspace import as_arb
from .prover import ABBREVIATE_FROM_DEPTH, Budget, Decider, Proof, _fan_in_scales, random_point

__all__ = ["DPS", "Samples", "nonzero_classes", "free_symbols_of", "sample_gradients", "IdentityProver",
           "refuted_at_a_sample", "rational"]

#: digits of the Arb evaluations of the law searches
DPS = 100


# ---------------------------------------------------------------- sampling
@dataclass
class Samples:
    """Arb enclosures of the class gradients (and class values) at exact points of ``V(P*)``."""

    points: list[dict]
    grads: list[list]  # per point, per non-zero class
    values: list[list]  # per point, per non-zero class: the class value t_k as a ball


def nonzero_classes(proof: Proof) -> list[int]:
    return [k for k in range(len(proof.classes)) if k != proof.zero_class]


def free_symbols_of(proof: Proof) -> list[sp.Symbol]:
    widths = [n for n in proof.net.sizes if isinstance(n, sp.Symbol)]
    return input_symbols(proof.net.sizes[0]) + [proof.symbols[k] for k in nonzero_classes(proof)] + widths


def sample_gradients(proof: Proof, count: int, seed: int) -> Samples:
    ks = nonzero_classes(proof)
    exprs = [proof.gradients_on_pattern[proof.classes[k][0]] for k in ks]
    rng = random.Random(seed)
    scales = _fan_in_scales(proof.net, proof.classes, proof.symbols, proof.zero_class, proof.init_symbols)
    free = free_symbols_of(proof)
    out = Samples([], [], [])
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
class IdentityProver:
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
        self.decider = Decider(free_symbols_of(proof), net=net, seed=seed, seconds=seconds,
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


def refuted_at_a_sample(combination: Sequence[Fraction | int], samples: Samples, rows) -> bool:
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


def rational(c: Fraction) -> sp.Rational:
    """A fraction as a SymPy rational (made explicitly: no sympify in symderiv)."""
    return sp.Rational(c.numerator, c.denominator)
