"""The records of :mod:`symderiv.laws`: a proved conservation law (:class:`Law`), the result of one
search (:class:`LawSearch`), both searches of a proof (:class:`Conservation`), and how laws name
parameter entries (``W2_1_3``; index letters for classes of several identical units) and print
them in TeX (:func:`law_tex`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import sympy as sp

from .patterns import Block
from .prover import Proof

__all__ = ["Law", "LawSearch", "Conservation", "LINEAR_OPTIMIZERS", "LINEAR_DECAY", "QUADRATIC_DRIFT",
           "entry_symbol_name", "EntryNamer", "class_size", "law_tex"]

#: optimizers that are linear in the gradient history (see the module docstring)
LINEAR_OPTIMIZERS = ("SGD", "SGD with momentum", "Nesterov")

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



def class_size(n: "int | sp.Symbol") -> sp.Expr:
    """A class size as a SymPy number or width symbol (made explicitly: no sympify in symderiv)."""
    return sp.Integer(n) if isinstance(n, int) else n


# ---------------------------------------------------------------- entry names
def entry_symbol_name(param: str, index: Sequence[object]) -> str:
    """``W2_1_3`` for 1-based ``index`` ``(1, 3)`` of ``W2``."""
    return "_".join([param] + [str(i) for i in index])


class EntryNamer:
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


def law_tex(law: Law) -> str:
    """The law in TeX, ``W^{(2)}_{1,j}`` style (index letters where ``for_each`` has them)."""
    expr = law.expression if not law.for_each or law.indexed_expression is None else law.indexed_expression
    subs = {}
    for sym in expr.free_symbols:
        name, *idx = sym.name.split("_")
        subs[sym] = sp.Symbol(f"{name[0]}^{{({name[1:]})}}_{{{','.join(idx)}}}", real=True)
    return sp.latex(expr.xreplace(subs))
