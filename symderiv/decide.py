"""The one decider of ``expr ≡ 0``, shared by the prover and the claim checker.

Refutation comes first and lives with the callers' random points: a rigorous Arb
enclosure (:func:`symderiv.certify.enclose`) that excludes 0 at one exact point refutes
the identity, with that point as its certificate.  What is left is *proof*, and every
proof goes through this module:

1. **structural** - the expression is literally ``0`` once built (SymPy's automatic
   evaluation already cancelled it);
2. **normal forms** (:data:`ZERO_PROOF_STEPS`) - a ladder of rewrites from cheap to
   expensive, each replacing a sub-expression by an *equal* one (polynomial expansion,
   softmax outputs as simplex atoms, log-sum-exp pivots, exponentials as atoms, cancel,
   and last ``simplify``).  A rewrite that reaches ``0`` proves the identity, since each
   step preserves the value at every point; a step that fails or raises proves nothing;
3. **bounded** - the expensive rungs run in a bounded child (:func:`run_bounded`: time and
   memory limits, killed on overrun), so a hard identity becomes *undecided*, never a hang.

Nothing here ever answers "proved" from evidence: numbers only ever refute.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import sympy as sp

from .bounded import BoundExceeded, run_bounded
from .normal_forms import exp_atoms, expand_polynomial, lse_normal, small, softmax_atoms, softmax_form

__all__ = ["Context", "ZERO_PROOF_STEPS", "zero_proof", "cheap_zero_proof", "bounded_zero_proof",
           "bounded_zero_proofs", "CHEAP_OPS"]


@dataclass(frozen=True)
class Context:
    """What the normal forms may use: the engine's softmax outputs ``ps`` (all ``K``, in the
    engine's own form, so ``Σ_k p_k = 1`` becomes polynomial) and free logits ``zetas``."""

    ps: tuple[sp.Expr, ...] = ()
    zetas: tuple[sp.Symbol, ...] = field(default_factory=tuple)


Step = Callable[[sp.Expr, Context], sp.Expr]


def _exp_rational(e: sp.Expr, ctx: Context) -> sp.Expr:
    if ctx.zetas and e.has(*ctx.zetas):
        return sp.cancel(sp.together(exp_atoms(e, list(ctx.zetas))))
    return e


#: name -> rewrite, cheap to expensive; each returns an expression equal to its argument
ZERO_PROOF_STEPS: tuple[tuple[str, Step], ...] = (
    ("structural", lambda e, ctx: e),
    ("polynomial expansion over the softmax simplex",
     lambda e, ctx: expand_polynomial(softmax_atoms(e, list(ctx.ps)))),
    ("log-sum-exp normal form",
     lambda e, ctx: expand_polynomial(softmax_atoms(lse_normal(e), list(ctx.ps)))),
    ("exponentials of free logits as atoms", _exp_rational),
    ("expansion", lambda e, ctx: sp.expand(e)),
    ("cancellation", lambda e, ctx: sp.cancel(sp.together(e))),
    ("softmax quotient form", lambda e, ctx: sp.cancel(sp.together(softmax_atoms(softmax_form(e), list(ctx.ps))))),
    ("exponential rewriting",
     lambda e, ctx: sp.cancel(sp.expand(sp.powsimp(sp.expand(e.rewrite(sp.exp), power_exp=True))))),
    ("simplification", lambda e, ctx: sp.simplify(e)),
)

#: the cheap rungs, tried in-process on small expressions (polynomial-size work)
_CHEAP = ("structural", "polynomial expansion over the softmax simplex", "log-sum-exp normal form",
          "exponentials of free logits as atoms")

#: largest expression (SymPy operation count) the cheap rungs are tried on in-process
CHEAP_OPS = 400


def zero_proof(expr: sp.Expr, ctx: Context = Context(), *, cheap_only: bool = False) -> str | None:
    """The name of the first rung of :data:`ZERO_PROOF_STEPS` that reduces ``expr`` to 0, or None.

    Unbounded: call it in a bounded child (:func:`bounded_zero_proof`) unless ``expr`` is small."""
    for name, step in ZERO_PROOF_STEPS:
        if cheap_only and name not in _CHEAP:
            continue
        try:
            if step(expr, ctx) == 0:
                return name
        except Exception:  # a rewrite SymPy cannot do is just not a proof
            continue
    return None


def cheap_zero_proof(expr: sp.Expr, ctx: Context = Context(), limit: int = CHEAP_OPS) -> str | None:
    """:func:`zero_proof` restricted to the cheap rungs, on expressions of at most ``limit`` operations."""
    if not small(expr, limit):
        return None
    return zero_proof(expr, ctx, cheap_only=True)


def bounded_zero_proof(expr: sp.Expr, seconds: float, ctx: Context = Context()) -> str | None:
    """:func:`zero_proof` in a bounded child; None when not proved within ``seconds``."""
    if expr == 0:
        return "structural"
    if seconds <= 0.05:
        return None
    try:
        return run_bounded(zero_proof, expr, ctx, seconds=seconds)
    except BoundExceeded:
        return None


def _all_alternatives(pending: Sequence[Sequence[sp.Expr]], ctx: Context) -> list[bool]:
    out = []
    for alternatives in pending:
        out.append(any(zero_proof(alt, ctx) is not None for alt in alternatives))
        if not out[-1]:
            break  # one failure already decides the caller's question
    return out


def bounded_zero_proofs(pending: Sequence[Sequence[sp.Expr]], seconds: float, ctx: Context = Context()) -> list[bool]:
    """For each group, is one of its alternatives ≡ 0?  Cheap rungs in-process first, then the
    whole ladder in one bounded child; stops at the first group that is not proved.

    Raises :class:`~symderiv.bounded.BoundExceeded` when the bound runs out."""
    out: list[bool] = []
    for alternatives in pending:
        out.append(any(cheap_zero_proof(alt, ctx) is not None for alt in alternatives))
        if not out[-1]:
            break
    if all(out) and len(out) == len(pending):
        return out
    return run_bounded(_all_alternatives, list(pending), ctx, seconds=seconds)
