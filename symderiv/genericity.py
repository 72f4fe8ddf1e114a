"""Conditions: which statements hold at every value of the symbols, and which only generically.

When the init holds symbols (``constant(c)``, ``generic()``, values read from a
model) or a width is a symbol, the prover's kept constraints are identities in
those symbols and hold at *every* value.  A certified first move (or a separation)
is witnessed at *one* point: it holds for generic values and may fail on an
exceptional set (at ``c = 0`` a tanh network is the zero-init network, where no
weight moves).  This module states that honestly:

* :class:`Condition` records the symbols a statement is generic in, the point it
  was certified at, and the exceptional values found;
* :func:`exceptional_candidates` proposes the values most likely to be exceptional
  (each init symbol 0, and all of them 0: the zero init), and
  :func:`compare_case` re-analyzes the network at such a value and lists the
  generic statements that fail there.  A candidate at which every generic
  statement still holds is recorded as checked and not exceptional; values that
  were not checked are not excluded, and the condition says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np
import sympy as sp

from .init import ParamInit, constant, entry_symbol, generic, zeros
from .patterns import block_of

if TYPE_CHECKING:  # pragma: no cover
    from .prover import Proof

__all__ = [
    "GENERIC_INIT", "GENERIC_WIDTHS", "NO_WEIGHT_DECAY",
    "ExceptionalCase", "Condition", "exceptional_candidates", "substituted_init", "compare_case",
]

GENERIC_INIT = "generic_init"
GENERIC_WIDTHS = "generic_widths"
NO_WEIGHT_DECAY = "no_weight_decay"

#: inits with more symbols than this are only checked at "all symbols 0"
MAX_SINGLE_CANDIDATES = 4


@dataclass(frozen=True)
class ExceptionalCase:
    """A value of the symbols at which some generic statement fails; ``failures`` says which."""

    values: tuple[tuple[str, str], ...]
    failures: tuple[str, ...]
    summary: str = ""

    def to_dict(self) -> dict:
        return {"values": dict(self.values), "failures": list(self.failures), "summary": self.summary}


@dataclass(frozen=True)
class Condition:
    """What a conditioned statement needs.

    * ``id``: referenced by the per-entry ``conditions`` of the JSON;
    * ``symbols``: the symbols the statement is generic in (empty for assumptions such as
      :data:`NO_WEIGHT_DECAY`);
    * ``certified_at``: the point of the certifying trajectory (symbol -> exact value);
    * ``exceptional``: values found at which a generic statement fails (each analyzed as its own case);
    * ``checked``: candidate values checked and found not exceptional.
    """

    id: str
    text: str
    symbols: tuple[str, ...] = ()
    generic: bool = True
    certified_at: tuple[tuple[str, str], ...] = ()
    exceptional: tuple[ExceptionalCase, ...] = ()
    checked: tuple[tuple[tuple[str, str], ...], ...] = ()
    complete: bool = False  # True when the exceptional set is known exactly

    def to_dict(self) -> dict:
        return {
            "id": self.id, "text": self.text, "symbols": list(self.symbols), "generic": self.generic,
            "certified_at": dict(self.certified_at),
            "exceptional": [e.to_dict() for e in self.exceptional],
            "checked_not_exceptional": [dict(c) for c in self.checked],
            "exceptional_set_complete": self.complete,
        }

    def sentence(self) -> str:
        """A few plain sentences for the summary (long lists of symbols are shortened: the JSON has them)."""
        text = self.text
        many = len(self.symbols) > MAX_SINGLE_CANDIDATES
        if self.certified_at:
            text += " Certified at " + ("one rational point (listed in the JSON)" if many else
                                        ", ".join(f"{s} = {v}" for s, v in self.certified_at)) + "."
        for e in self.exceptional:
            if many and all(v == "0" for _, v in e.values) and len(e.values) == len(self.symbols):
                at = "all init symbols 0 (the zero init)"
            else:
                at = ", ".join(f"{s} = {v}" for s, v in e.values)
            text += f" Exceptional: at {at}, " + "; ".join(e.failures) + "."
        if self.checked:
            at = "; ".join(", ".join(f"{s} = {v}" for s, v in c) for c in self.checked)
            text += f" Checked and not exceptional: {at}."
        if self.generic and self.symbols and not self.complete:
            text += " Other exceptional values, if any, are not excluded."
        return text


def exceptional_candidates(symbols: Sequence[sp.Symbol]) -> list[dict[sp.Symbol, sp.Expr]]:
    """Each symbol 0 on its own (few symbols), and all of them 0 (the zero init)."""
    symbols = list(symbols)
    out: list[dict[sp.Symbol, sp.Expr]] = []
    if not symbols:
        return out
    if len(symbols) <= MAX_SINGLE_CANDIDATES:
        out.extend({s: sp.Integer(0)} for s in symbols)
    if len(symbols) > 1:
        out.append({s: sp.Integer(0) for s in symbols})
    return out


def substituted_init(net, inits: Mapping[str, ParamInit], values: Mapping[sp.Symbol, sp.Expr]) -> dict[str, object]:
    """The init with ``values`` substituted, as a mapping :func:`symderiv.init.resolve_init` accepts."""
    out: dict[str, object] = {}
    for name, p in inits.items():
        if p.kind == "uniform":
            v = p.uniform_value().xreplace(values)
            out[name] = zeros() if v == 0 else constant(v)
            continue
        shape = tuple(int(n) for n in net.shape(name))
        arr = np.empty(shape, dtype=object)
        for index in np.ndindex(*shape):
            entry = p.exact_array()[index] if p.kind == "array" else entry_symbol(name, index)
            arr[index] = entry.xreplace(values)
        if all(v == 0 for v in arr.flat):
            out[name] = zeros()
        elif p.kind == "generic" and not any(v.is_number for v in arr.flat):
            out[name] = generic()
        else:
            out[name] = arr
    return out


def compare_case(generic: "Proof", case: "Proof", labels: Mapping) -> list[str]:
    """The generic statements of ``generic`` (certified first moves) that fail in ``case``.

    Compared entry by entry through each generic block's first entry, so the two proofs may
    have different partitions."""
    failures: list[str] = []
    found: dict[str, list[tuple[int, int | None]]] = {}
    net = generic.net
    for b in generic.blocks:
        k = generic.class_of[b]
        if k == generic.zero_class:
            continue
        fm = generic.first_moves[k]
        if not fm.tight or fm.step is None:
            continue
        C = generic.partition.classes[b.layer][b.row]
        index = (C.first,) if b.kind == "b" else (C.first, generic.partition.classes[b.layer - 1][b.col].first)
        cb = block_of(net, case.partition, b.param, index)
        ck = case.class_of[cb]
        step = None if ck == case.zero_class else case.first_moves[ck].step
        if step != fm.step:
            found.setdefault(b.param, []).append((fm.step, step))
    for param, pairs in found.items():  # one sentence per parameter, in parameter order
        generic_steps = sorted({g for g, _ in pairs})
        case_steps = sorted({c for _, c in pairs}, key=lambda c: (c is None, c or 0))
        shown = ", ".join("never moves" if c is None else f"not before step {c}" for c in case_steps)
        failures.append(f"{param} {shown} (generically it first moves at step "
                        f"{' or '.join(str(g) for g in generic_steps)})")
    return failures
