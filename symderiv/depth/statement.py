"""The records of a theorem for every depth: engine checks, per-layer facts, the induction.

* :class:`EngineCheck` - one computation of the engine on a window (:mod:`symderiv.depth.window`) and
  what it shows; a theorem is proved only when every check it rests on holds;
* :class:`LayerFact` - what is proved about a range of layers (``W^(l), b^(l)`` for ``1 ≤ l ≤ L − 1``):
  stays zero, or the first-move step as a formula in ``L`` and ``l``, and how much of it is proved;
* :class:`DepthTheorem` - the facts, the identical-units statement, and the induction (transfer lemmas,
  base case, inductive step) built from the checks.

:meth:`DepthTheorem.member` expands the statement at one concrete depth, at a cost independent of it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import sympy as sp

from ..jsontext import JsonFace

__all__ = ["EngineCheck", "LayerFact", "InductionStep", "DepthTheorem", "MemberFact", "ELL", "renamed",
           "TIGHT_EVERY_DEPTH", "TIGHT_CONCRETE"]

#: the layer index ``l`` of the formulas
ELL = sp.Symbol("l", integer=True, positive=True)
#: a certified move at the first-move step: for every depth, or at the concrete depths verify() checks
TIGHT_EVERY_DEPTH = "every depth"
TIGHT_CONCRETE = "concrete depths"


@dataclass(frozen=True)
class EngineCheck(JsonFace):
    """One engine computation: ``claim`` is what it shows, ``computed`` the engine's closed form (text and
    LaTeX), ``holds`` whether it came out as required and ``method`` how that was decided (``structural``:
    SymPy's canonical form is literally the required one; ``exact``: an exact rational evaluation)."""

    id: str
    claim: str
    computed: str
    tex: str
    holds: bool
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "claim": self.claim, "computed": self.computed, "holds": self.holds,
                "method": self.method}


@dataclass(frozen=True)
class LayerFact(JsonFace):
    """Parameters ``params`` (``"W^(l), b^(l)"`` or ``"alpha_l"``…) of the layers ``lo ≤ l ≤ hi`` (formulas in
    ``L``): ``stays_zero``, or ``first_move`` (a formula in ``L`` and ``l``; None = never) which is proved as
    "unchanged before that step" and, when ``can_move``, as "its gradient on the reachable set ``A_{s−1}`` is
    not identically zero" (the first step an update can change it); ``tight`` says where a real move at that
    step is certified (:data:`TIGHT_EVERY_DEPTH`, :data:`TIGHT_CONCRETE` or None); ``generic``: for generic
    values of the init symbols."""

    params: tuple[str, ...]
    lo: sp.Expr
    hi: sp.Expr
    stays_zero: bool
    first_move: sp.Expr | None
    can_move: bool = False
    tight: str | None = None
    generic: bool = False
    #: "unchanged before step s" rests on an exact cancellation (the output deltas summing to 0): in IEEE
    #: arithmetic a rounding residue, which Adam/RMSProp can amplify (docs/theory.md §9)
    exact_only: bool = False

    def covers(self, L: int, l: int) -> bool:
        return bool(self._formula(self.lo)(L, l) <= l <= self._formula(self.hi)(L, l))

    def _formula(self, expr: sp.Expr):
        """``expr`` (in ``L`` and ``l``) as a Python function of two integers (compiled once per fact: reading
        a statement at depth 1000 costs microseconds per parameter)."""
        cache = self.__dict__.setdefault("_compiled", {})
        if expr not in cache:
            cache[expr] = sp.lambdify((_L(self), ELL), expr, modules=[])
        return cache[expr]

    def layers_text(self) -> str:
        if self.lo == self.hi:
            return f"l = {self.lo}"
        return f"{self.lo} ≤ l ≤ {self.hi}"

    def step_at(self, L: int, l: int) -> int | None:
        if self.first_move is None:
            return None
        return int(self._formula(self.first_move)(L, l))

    def to_dict(self) -> dict[str, Any]:
        return {"parameters": list(self.params), "layers": self.layers_text(), "stays_zero": self.stays_zero,
                "first_move_step": None if self.first_move is None else str(self.first_move),
                "first_step_an_update_can_change_it": self.can_move, "move_certified": self.tight,
                "for_generic_values": self.generic,
                "float": "exact_arithmetic_only" if self.exact_only else "holds in IEEE arithmetic too"}


def _L(fact: LayerFact) -> sp.Symbol:
    free = (fact.lo.free_symbols | fact.hi.free_symbols | (fact.first_move.free_symbols if fact.first_move is not None
                                                           else set())) - {ELL}
    return next(iter(free)) if free else sp.Symbol("L", integer=True, positive=True)


@dataclass(frozen=True)
class InductionStep(JsonFace):
    """One part of the induction: ``kind`` is ``lemma`` (a layer transfer), ``base`` or ``step``; ``text`` the
    argument in words, ``checks`` the ids of the engine checks it rests on."""

    kind: str
    title: str
    text: str
    checks: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "argument": self.text, "engine_checks": list(self.checks)}


@dataclass(frozen=True)
class MemberFact:
    """The statement at one concrete depth, for one parameter: stays zero, first-move step, certified move."""

    stays_zero: bool
    first_move: int | None
    tight: bool
    exact_only: bool = False
    can_move: bool = True


@dataclass
class DepthTheorem(JsonFace):
    """What an induction schema proved for every depth (or why it is undecided)."""

    schema: str
    shape: str  # "fixed point", "front", "all at once"
    induction_variable: str
    facts: list[LayerFact]
    identical_units: bool
    checks: list[EngineCheck]
    steps: list[InductionStep]
    headline: str
    undecided: list[str] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    #: statements a proved theorem leaves open (e.g. first moves past a kink): said, never claimed
    open_questions: list[str] = field(default_factory=list)

    @property
    def proved(self) -> bool:
        """Every check holds (a theorem with a failed check states nothing)."""
        return bool(self.checks) and all(c.holds for c in self.checks) and not self.undecided

    def check(self, cid: str) -> EngineCheck:
        return next(c for c in self.checks if c.id == cid)

    def member(self, entries: list[tuple[str, str, int]], L: int) -> dict[str, MemberFact]:
        """The statement at depth ``L`` for each ``(name, kind, layer)`` of ``entries`` (``kind`` as in
        :attr:`LayerFact.params`): cost independent of ``L`` per entry."""
        out: dict[str, MemberFact] = {}
        for name, kind, l in entries:
            fact = next((f for f in self.facts if kind in f.params and f.covers(L, l)), None)
            if fact is not None:
                out[name] = MemberFact(fact.stays_zero, fact.step_at(L, l), fact.tight == TIGHT_EVERY_DEPTH,
                                       fact.exact_only, fact.can_move)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema, "shape": self.shape, "induction_over": self.induction_variable,
            "headline": self.headline, "proved": self.proved,
            "facts": [f.to_dict() for f in self.facts],
            "identical_hidden_units": self.identical_units,
            "induction": [s.to_dict() for s in self.steps],
            "engine_checks": [c.to_dict() for c in self.checks],
            "conditions": list(self.conditions), "undecided": list(self.undecided),
            "not_decided": list(self.open_questions),
        }


def renamed(theorem: DepthTheorem, names: dict[str, str]) -> DepthTheorem:
    """``theorem`` with its prose written in the family's own names: the schemas write the depth ``L`` and the
    width ``n``; ``names`` maps them to the family's (``{"L": "N", "n": "m"}``).  Only prose and the names of
    computed quantities change; the engine's closed forms already carry the family's symbols."""
    import re

    names = {k: v for k, v in names.items() if k != v}
    if not names:
        return theorem
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")

    def text(s: str) -> str:
        return pattern.sub(lambda m: names[m.group(1)], s)

    def head(s: str, sep: str) -> str:  # "δ^(L−1) = <engine output>": rename the name only
        left, found, right = s.partition(sep)
        return text(left) + found + right if found else text(s)

    checks = [replace(c, claim=text(c.claim), computed=head(c.computed, " = "), tex=head(c.tex, " = "))
              for c in theorem.checks]
    steps = [replace(s, title=text(s.title), text=text(s.text)) for s in theorem.steps]
    return replace(theorem, checks=checks, steps=steps, headline=text(theorem.headline),
                   conditions=[text(c) for c in theorem.conditions],
                   open_questions=[text(q) for q in theorem.open_questions],
                   undecided=[text(u) for u in theorem.undecided])
