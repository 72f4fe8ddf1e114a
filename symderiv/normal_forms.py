"""Normal forms that make common gradient identities structural (cheap), instead of
asking ``simplify`` to discover them (used by :mod:`symderiv.decide`, the one decider of
the prover and the claim checker).

Each rewrite replaces a subexpression by an *equal* one (or an expression by a
symbol standing for a value that satisfies the stated relation), so a difference that
becomes 0 after a rewrite is 0 before it: the rewrites only ever help a proof.

* :func:`softmax_atoms` - the engine's softmax outputs ``p_k = 1/Σ_j exp(z_j − z_k)``
  become symbols ``P_1 … P_{K-1}`` and ``p_K = 1 − Σ_{k<K} P_k``: identities that rest on
  ``Σ_k p_k = 1`` (``p − y`` against the engine's eliminated ``δ_K``) become polynomial.
* :func:`lse_normal` - ``log Σ_j exp(a_j)`` becomes ``a_m + log Σ_j exp(a_j − a_m)`` with a
  pivot ``m`` chosen from the pairwise differences only (so ``log Σ exp(z_j − z_k)`` and
  ``log Σ exp(z_j)`` share their residual log), ``log(1/u) = −log u``, ``log(u·v) = log u + log v``
  for positive factors and ``log(exp(a)) = a``: log-sum-exp and log-softmax identities.
* :func:`softmax_form` - ``exp(a) / Σ_j exp(b_j)`` becomes ``1 / Σ_j exp(b_j − a)``, the
  engine's own form of a softmax output.
"""
from __future__ import annotations

import sympy as sp

__all__ = ["softmax_atoms", "lse_normal", "softmax_form", "expand_polynomial", "exp_atoms", "small"]


def expand_polynomial(expr: sp.Expr) -> sp.Expr:
    """Distribute products and integer powers only (exp and log arguments are left alone)."""
    return sp.expand(expr, deep=True, power_exp=False, power_base=False, log=False, multinomial=True, mul=True)


def softmax_atoms(expr: sp.Expr, ps: list) -> sp.Expr:
    """``expr`` with the softmax outputs ``ps`` (engine forms, all K of them) replaced by
    ``P_1 … P_{K-1}`` and ``1 − Σ P``; the result is equal to ``expr`` at every point."""
    if len(ps) < 2:
        return expr
    atoms = [sp.Dummy(f"P{k + 1}", positive=True) for k in range(len(ps) - 1)]
    mapping = dict(zip(ps[:-1], atoms))
    mapping[ps[-1]] = 1 - sp.Add(*atoms)
    return expr.xreplace(mapping)


def _exp_terms(s: sp.Expr):
    """The exponents ``a_j`` of ``s = Σ_j exp(a_j)`` (every term a bare exp), or None."""
    if not isinstance(s, sp.Add):
        return None
    out = []
    for t in s.args:
        if isinstance(t, sp.exp):
            out.append(t.args[0])
        elif t is sp.E:
            out.append(sp.Integer(1))
        elif t == 1:  # exp(0), as the engine's softmax has it for j = k
            out.append(sp.Integer(0))
        else:
            return None
    return out


def _pivot(args: list) -> sp.Expr:
    """A pivot among ``args`` that depends only on their pairwise differences (shift-invariant)."""
    best, best_key = None, None
    for a in args:
        diffs = sorted((sp.expand(b - a) for b in args), key=sp.default_sort_key)
        key = tuple(sp.default_sort_key(d) for d in diffs)
        if best_key is None or key < best_key:
            best, best_key = a, key
    return best


def _log(u: sp.Expr) -> sp.Expr:
    """A normal form of ``log(u)`` for positive ``u`` (every use here is a log of a positive quantity:
    a softmax output, a sum of exponentials)."""
    if isinstance(u, sp.exp):
        return u.args[0]
    if isinstance(u, sp.Pow) and u.exp.is_Integer and (u.base.is_positive or isinstance(u.base, sp.exp)
                                                        or _exp_terms(u.base) is not None):
        return u.exp * _log(u.base)
    if isinstance(u, sp.Mul):
        positive = [f for f in u.args if f.is_positive or isinstance(f, sp.exp) or _exp_terms(f) is not None
                    or (isinstance(f, sp.Pow) and _exp_terms(f.base) is not None)]
        if len(positive) == len(u.args):
            return sp.Add(*[_log(f) for f in u.args])
    terms = _exp_terms(u)
    if terms is not None and len(terms) > 1:
        m = _pivot(terms)
        rest = sp.Add(*[sp.exp(sp.expand(a - m), evaluate=False) if sp.expand(a - m) != 0 else sp.Integer(1) for a in terms])
        return m + sp.log(rest, evaluate=False)
    return sp.log(u)


def _distinct(expr: sp.Expr, cls) -> set:
    """The subexpressions of type ``cls``, by a walk over distinct subexpressions (``atoms`` walks
    the tree, exponential on shared closed forms)."""
    seen, stack, out = {expr}, [expr], set()
    while stack:
        e = stack.pop()
        if isinstance(e, cls):
            out.add(e)
        for a in e.args:
            if a not in seen:
                seen.add(a)
                stack.append(a)
    return out


def lse_normal(expr: sp.Expr) -> sp.Expr:
    """``expr`` with every ``log`` in the normal form of the module docstring, expanded."""
    logs = sorted(_distinct(expr, sp.log), key=sp.default_sort_key)
    if not logs:
        return expr
    mapping = {g: _log(g.args[0]) for g in logs}
    return sp.expand(expr.xreplace(mapping), power_exp=False, log=False)


def softmax_form(expr: sp.Expr) -> sp.Expr:
    """Every ``exp(a) · (Σ_j exp(b_j))^{-1}`` as ``(Σ_j exp(b_j − a))^{-1}``."""
    def rewrite(m):
        if not isinstance(m, sp.Mul):
            return m
        exps = [f for f in m.args if isinstance(f, sp.exp)]
        inv = [f for f in m.args if isinstance(f, sp.Pow) and f.exp == -1 and _exp_terms(f.base) is not None]
        if len(exps) != 1 or len(inv) != 1:
            return m
        a = exps[0].args[0]
        terms = _exp_terms(inv[0].base)
        new = 1 / sp.Add(*[sp.exp(sp.expand(b - a), evaluate=False) if sp.expand(b - a) != 0 else sp.Integer(1) for b in terms])
        rest = [f for f in m.args if f is not exps[0] and f is not inv[0]]
        return sp.Mul(*rest) * new

    return expr.replace(lambda e: isinstance(e, sp.Mul), rewrite)


def exp_atoms(expr: sp.Expr, symbols: list) -> sp.Expr:
    """Every ``exp(Σ_k c_k s_k + c)`` with integer ``c_k`` over ``symbols`` as ``e^c Π_k E_k^{c_k}``
    (``E_k = exp(s_k)``, positive symbols): softmax expressions in free logits become rational
    functions, which ``cancel`` decides (the softmax Jacobian, shift invariance)."""
    atoms = {s: sp.Dummy(f"E_{s.name}", positive=True) for s in symbols}

    def rewrite(e):
        out, const = sp.Integer(1), sp.Integer(0)
        for term, c in sp.expand(e.args[0]).as_coefficients_dict().items():
            if term == 1:
                const += c
            elif term in atoms and c.is_Integer:
                out *= atoms[term] ** c
            else:
                return e
        return out * sp.exp(const)

    return expr.replace(lambda e: isinstance(e, sp.exp), rewrite)


def small(expr: sp.Expr, limit: int) -> bool:
    """Has ``expr`` at most ``limit`` nodes?  (Stops counting early: cheap on huge expressions.)"""
    count = 0
    for _ in sp.preorder_traversal(expr):
        count += 1
        if count > limit:
            return False
    return True
