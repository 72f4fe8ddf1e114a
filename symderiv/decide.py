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
3. **bounded by work** - the ladder runs in a bounded child (:func:`~symderiv.bounded.run_counted`)
   that counts its steps (Python and C function calls and returns) and stops at a *work budget*,
   so a hard identity becomes *undecided*, never a hang - and the same identity is undecided on
   every machine, idle or loaded: what is printed never depends on wall-clock time.

Work budgets (the API of the prover and the claim checker)
----------------------------------------------------------
* :class:`WorkBudget` - a total number of steps shared by the identities of one analysis or
  check, the steps one identity may take (``per_proof``) and the wall-clock *safety net* of one
  bounded child (``safety_seconds``, generous: :data:`SAFETY_NET_SECONDS`).  Spending is
  deterministic: a proof spends the steps it took, an identity that ran out spends its allowance.
* :func:`decide_zero` ``(expr, budget, ctx)`` -> :class:`Decision` (``method`` or None, ``steps``,
  ``reason``, ``safety_net``); :func:`bounded_zero_proof` ``(expr, work=...)`` -> method or None;
  :func:`bounded_zero_proofs` ``(pending, work=..., ctx)`` for groups of alternatives.
* ``seconds=`` arguments (back-compatible) mean *reference seconds* of work,
  :data:`STEPS_PER_SECOND` steps each (:func:`work_of_seconds`): a fixed rate, not a clock.
  ``work=`` gives the steps directly; :func:`check_work` validates both (one-line errors).
* When the safety net fires (a machine so loaded that the allowance did not finish in
  ``safety_seconds``), the identity is undecided and :attr:`Decision.reason` says so
  (:func:`safety_net_note`): that output is the one thing that may differ on a faster machine.

The step count is the same on every machine and load.  The child clears SymPy's cache, seeds its
random generators, forgets the facts cached on the arguments (:func:`forget_cached_facts`) and does
not count imports, so the count depends on the identity, not on what the process did before; it
can still differ by a few percent between interpreters (SymPy iterates some sets, whose order
follows the string hash seed) and by a percent or so after other work in the same process (SymPy
keeps a few first-use tables outside its cache).  Only an identity within that margin of its
budget could flip between two runs; the default budgets are far from what typical identities take.

Nothing here ever answers "proved" from evidence: numbers only ever refute.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import sympy as sp

from .bounded import BoundExceeded, TimeBoundExceeded, WorkExceeded, run_counted
from .errors import InvalidArgument
from .normal_forms import exp_atoms, expand_polynomial, lse_normal, small, softmax_atoms, softmax_form

__all__ = ["Context", "ZERO_PROOF_STEPS", "zero_proof", "cheap_zero_proof", "bounded_zero_proof",
           "bounded_zero_proofs", "CHEAP_OPS", "WorkBudget", "Decision", "decide_zero", "work_of_seconds",
           "check_work", "safety_net_note", "STEPS_PER_SECOND", "SAFETY_NET_SECONDS", "DEFAULT_PROOF_WORK"]

#: steps of the bounded child per *reference second*: ``seconds=`` budgets become work at this fixed
#: rate (about one second of SymPy under the step counter on one core of a 2-core CI machine, idle)
STEPS_PER_SECOND = 2_000_000
#: work one identity may take by default (5 reference seconds)
DEFAULT_PROOF_WORK = 5 * STEPS_PER_SECOND
#: wall-clock safety net of one bounded child: far beyond what its work budget takes on an idle
#: machine, so it fires only on a machine under heavy load (and the output then says so)
SAFETY_NET_SECONDS = 300.0
#: an allowance smaller than this is not worth a child process (the fork alone costs more)
_MIN_WORK = 20_000
#: the largest work budget accepted (about a day of reference seconds)
MAX_WORK = 86_400 * STEPS_PER_SECOND


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


# ---------------------------------------------------------------- work budgets
def check_work(value: object, name: str = "work", *, seconds: bool = False) -> int:
    """``value`` as a number of steps: a positive integer (``work=``), or with ``seconds=True``
    a positive finite number of reference seconds converted by :func:`work_of_seconds`.
    Refuses booleans, nan, infinities, zero and negatives with one line naming ``name``."""
    kind = "a positive number of (reference) seconds" if seconds else "a positive integer number of steps"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (not seconds and not isinstance(value, int)):
        raise InvalidArgument(f"{name} must be {kind}, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise InvalidArgument(f"{name} must be {kind}, got {value!r}")
    steps = work_of_seconds(value) if seconds else int(value)
    if steps > MAX_WORK:
        raise InvalidArgument(f"{name} must be at most {MAX_WORK // STEPS_PER_SECOND if seconds else MAX_WORK}, "
                              f"got {value!r}")
    return steps


def work_of_seconds(seconds: float) -> int:
    """The work of ``seconds`` reference seconds (:data:`STEPS_PER_SECOND` each): a fixed rate, no clock."""
    return max(1, int(round(seconds * STEPS_PER_SECOND)))


def safety_net_note(seconds: float) -> str:
    """What a user reads when the wall-clock safety net decided instead of the work budget."""
    return (f"undecided: safety net of {seconds:g} s fired (machine load); "
            "the result may differ on a faster machine")


class WorkBudget:
    """A deterministic budget of proof work, shared by the identities of one analysis or check.

    * ``total``: steps all identities together may take (None: no total, only ``per_proof``);
    * ``per_proof``: steps one identity may take;
    * ``safety_seconds``: the wall-clock safety net of one bounded child.

    ``allowance()`` is what the next identity may take; ``spend(steps)`` records what it took
    (a proof: its count; an identity that ran out: its whole allowance), so the sequence of
    allowances - and every verdict - is the same on every machine.  ``safety_net_fired`` counts
    the children stopped by the clock instead (their results may depend on load)."""

    def __init__(self, total: int | None = None, *, per_proof: int = DEFAULT_PROOF_WORK,
                 safety_seconds: float = SAFETY_NET_SECONDS):
        if total is not None:
            total = check_work(total, "total work")
        self.total = total
        self.per_proof = check_work(per_proof, "work per proof")
        if isinstance(safety_seconds, bool) or not isinstance(safety_seconds, (int, float)) \
                or not 0 < safety_seconds < math.inf:
            raise InvalidArgument(f"safety_seconds must be a positive finite number of seconds, got {safety_seconds!r}")
        self.safety_seconds = float(safety_seconds)
        self.used = 0
        self.safety_net_fired = 0
        self._lock = threading.Lock()

    @classmethod
    def of_seconds(cls, total_seconds: float | None, per_proof_seconds: float = 5.0, **kw) -> "WorkBudget":
        """A budget given in reference seconds (the prover's and the checker's ``seconds=`` knobs)."""
        total = None if total_seconds is None else check_work(total_seconds, "seconds", seconds=True)
        return cls(total, per_proof=check_work(per_proof_seconds, "seconds", seconds=True), **kw)

    def remaining(self) -> int:
        """Steps left in the total (the per-proof allowance when there is no total)."""
        return self.per_proof if self.total is None else max(0, self.total - self.used)

    def allowance(self) -> int:
        """Steps the next identity may take."""
        return min(self.per_proof, self.remaining())

    def spend(self, steps: int, *, safety_net: bool = False) -> None:
        """Record ``steps`` taken (``safety_net``: by a child the clock stopped)."""
        with self._lock:
            self.used += max(0, int(steps))
            self.safety_net_fired += safety_net

    def __repr__(self) -> str:
        return (f"WorkBudget(total={self.total}, per_proof={self.per_proof}, used={self.used}, "
                f"safety_seconds={self.safety_seconds:g})")


@dataclass(frozen=True)
class Decision:
    """The outcome of :func:`decide_zero`: the rung that proved ``expr ≡ 0`` (or None), the steps
    spent, and when not proved why (empty: the ladder ended without reaching 0)."""

    method: str | None
    steps: int = 0
    reason: str = ""
    safety_net: bool = False  # the wall clock decided: this outcome may differ on a faster machine


#: modules SymPy imports on first use along the ladder (simplify, expand, cancel): imported once in this
#: process before the first child, so that each child does not load them again (imports are not
#: counted as work; this only saves each child ~0.3 s of wall time)
_LADDER_MODULES = ("sympy.combinatorics", "sympy.tensor.tensor", "sympy.physics.units",
                   "sympy.assumptions.wrapper", "sympy.sets.setexpr")
_preloaded = False


def _preload() -> None:
    global _preloaded
    if _preloaded:
        return
    _preloaded = True
    import importlib

    for name in _LADDER_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # another SymPy version: the child imports what it needs
            pass


#: modules whose objects receive facts in their constructor that the class defaults do not hold
#: (indexed symbols and their indices, vectors): their facts are kept, never reset
_FACTS_GIVEN_AT_CREATION = ("sympy.tensor.indexed", "sympy.vector")


def forget_cached_facts(args: tuple) -> None:
    """Reset, in the bounded child, the facts SymPy caches on the objects of ``args`` (assumptions
    asked before, cached hashes): the parent may have computed them or not, depending on what it
    did before (an earlier analysis in the same session shares symbols and subexpressions), and the
    step count must depend on the identity alone.  Mutates only the child's copy."""
    seen: set[int] = set()
    stack: list = list(args)
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, (tuple, list)):
            stack.extend(obj)
        elif isinstance(obj, Context):
            stack.extend(obj.ps)
            stack.extend(obj.zetas)
        elif isinstance(obj, sp.Basic):
            orig = getattr(obj, "_assumptions_orig", None)
            try:
                if orig is not None:  # a Symbol: its own facts, as when it was created
                    obj._assumptions = sp.Symbol._canonical_assumptions(**orig)[0]
                elif not type(obj).__module__.startswith(_FACTS_GIVEN_AT_CREATION):
                    obj._assumptions = type(obj).default_assumptions
                obj._mhash = None
            except (AttributeError, TypeError):  # an object with fixed slots: nothing cached to forget
                pass
            stack.extend(obj.args)


def decide_zero(expr: sp.Expr, budget: WorkBudget | int | None = None, ctx: Context = Context(), *,
                per_proof: int | None = None) -> Decision:
    """Is ``expr ≡ 0``?  The ladder of :data:`ZERO_PROOF_STEPS` in a bounded child under a work
    budget (a :class:`WorkBudget` is charged; an int is a one-off allowance in steps; None:
    :data:`DEFAULT_PROOF_WORK`); ``per_proof`` caps this identity below the budget's own cap.
    Never raises on a hard identity: it is undecided, with a reason."""
    if expr == 0:
        return Decision("structural")
    if not isinstance(budget, WorkBudget):
        budget = WorkBudget(per_proof=DEFAULT_PROOF_WORK if budget is None else check_work(budget))
    allowance = budget.allowance() if per_proof is None else min(per_proof, budget.allowance())
    if allowance < _MIN_WORK:
        return Decision(None, 0, "the work budget of the proof is spent")
    try:
        method, steps = _counted(zero_proof, (expr, ctx), budget, allowance)
    except WorkExceeded:
        return Decision(None, allowance, f"not proved within its work budget of {allowance} steps")
    except TimeBoundExceeded as exc:
        return Decision(None, allowance, str(exc), safety_net=True)
    except BoundExceeded as exc:  # the child died or ran out of memory: nothing proved
        return Decision(None, allowance, str(exc))
    return Decision(method, steps, "" if method is not None else "no rewrite reduces it to 0")


def _counted(fn: Callable, args: tuple, budget: WorkBudget, allowance: int) -> tuple[Any, int]:
    """``fn(*args)`` in a counted child on ``budget``'s account: it is charged the steps taken, or the
    whole ``allowance`` when the child was stopped.  Raises what :func:`run_counted` raises, a fired
    safety net as :class:`TimeBoundExceeded` with :func:`safety_net_note` as its message."""
    _preload()
    try:
        result, steps = run_counted(fn, *args, work=allowance, seconds=budget.safety_seconds,
                                    prepare=forget_cached_facts)
    except TimeBoundExceeded:
        budget.spend(allowance, safety_net=True)
        raise TimeBoundExceeded(safety_net_note(budget.safety_seconds)) from None
    except BoundExceeded:
        budget.spend(allowance)
        raise
    budget.spend(steps)
    return result, steps


def _legacy_work(seconds: float | None, work: int | None) -> int:
    """``work`` steps, else ``seconds`` reference seconds, else the default."""
    if work is not None:
        return check_work(work)
    if seconds is not None:
        return check_work(seconds, "seconds", seconds=True)
    return DEFAULT_PROOF_WORK


def bounded_zero_proof(expr: sp.Expr, seconds: float | None = None, ctx: Context = Context(), *,
                       work: int | WorkBudget | None = None) -> str | None:
    """:func:`zero_proof` in a bounded child; None when not proved within its work budget.

    ``work``: steps, or a :class:`WorkBudget` to charge; ``seconds`` (back-compatible): reference
    seconds of work (:func:`work_of_seconds`).  :func:`decide_zero` also says why not."""
    if isinstance(work, WorkBudget):
        return decide_zero(expr, work, ctx).method
    return decide_zero(expr, _legacy_work(seconds, work), ctx).method


def _all_alternatives(pending: Sequence[Sequence[sp.Expr]], ctx: Context) -> list[bool]:
    out = []
    for alternatives in pending:
        out.append(any(zero_proof(alt, ctx) is not None for alt in alternatives))
        if not out[-1]:
            break  # one failure already decides the caller's question
    return out


def bounded_zero_proofs(pending: Sequence[Sequence[sp.Expr]], seconds: float | None = None, ctx: Context = Context(),
                        *, work: int | WorkBudget | None = None) -> list[bool]:
    """For each group, is one of its alternatives ≡ 0?  Cheap rungs in-process first (size-gated,
    no budget needed), then the whole ladder in one bounded child under a work budget; stops at
    the first group that is not proved.

    ``work``: steps, or a :class:`WorkBudget` (charged with the steps taken, or its whole
    allowance when they run out); ``seconds`` (back-compatible): reference seconds of work.
    Raises :class:`~symderiv.bounded.WorkExceeded` when the work budget runs out (the same on
    every machine) and :class:`~symderiv.bounded.TimeBoundExceeded` when the safety net fires
    (its message is :func:`safety_net_note`)."""
    out: list[bool] = []
    for alternatives in pending:
        out.append(any(cheap_zero_proof(alt, ctx) is not None for alt in alternatives))
        if not out[-1]:
            break
    if all(out) and len(out) == len(pending):
        return out
    budget = work if isinstance(work, WorkBudget) else WorkBudget(per_proof=_legacy_work(seconds, work))
    allowance = budget.allowance()
    if allowance < _MIN_WORK:
        raise WorkExceeded("the work budget of the proof is spent", allowance)
    result, _ = _counted(_all_alternatives, (list(pending), ctx), budget, allowance)
    return list(result)
