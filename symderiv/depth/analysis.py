"""The faces of a theorem for every depth: summary, JSON, LaTeX, the statement at one depth, verify().

:func:`analyze_depth` proves the statement once for the symbolic depth (:mod:`symderiv.depth.induction`);
its cost does not depend on any depth, and :meth:`DepthAnalysis.at` reads the statement at a concrete
depth (1000 layers included) without any symbolic work.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgument, UnsupportedError
from ..guard import public_entry
from ..jsontext import JsonFace
from ..optimizers import OptimizerClass, optimizer_class as _optimizer_class
from .family import FamilyInit, MLPFamily, ReZeroFamily, family_init, member_depth
from .induction import prove_family, prove_rezero
from .statement import TIGHT_CONCRETE, TIGHT_EVERY_DEPTH, DepthTheorem, LayerFact, MemberFact

__all__ = ["DepthAnalysis", "MemberStatement", "analyze_depth", "REZERO_PARAMETERS"]

#: the parameters of one ReZero block, by their ``named_parameters()`` suffix
REZERO_PARAMETERS = ("f1.weight", "f1.bias", "f2.weight", "f2.bias")


@dataclass(frozen=True)
class MemberStatement:
    """The theorem read at one concrete depth: per parameter name, its :class:`MemberFact`."""

    depth: int
    facts: dict[str, MemberFact]
    identical_units: bool
    source: "DepthAnalysis | None" = None

    def summary(self) -> str:
        """The statement at this depth in sentences (read from the theorem for every depth)."""
        a = self.source
        if a is None:
            return f"depth {self.depth}: {len(self.facts)} parameters"
        L = a.family.depth
        lines = [f"Depth {L} = {self.depth}, read from the statement proved for every depth of {a.family.describe()} "
                 "(no computation at this depth):"]
        for fact in a.theorem.facts:
            at = dataclasses.replace(fact, lo=fact.lo.subs(L, self.depth), hi=fact.hi.subs(L, self.depth),
                                     first_move=None if fact.first_move is None else fact.first_move.subs(L, self.depth))
            if at.lo <= at.hi:
                lines.append("- " + a.fact_sentence(at))
        if self.identical_units and isinstance(a.family, MLPFamily):
            lines.append(f"- Every hidden layer's {a.family.width} units stay identical forever (proved).")
        lines.append(a.scope())
        lines.extend(f"Condition: {c}." for c in a.theorem.conditions)
        lines.extend(f"Not decided (not claimed): {q}." for q in a.theorem.open_questions)
        return "\n".join(lines)

    def first_move_step(self, name: str) -> int | None:
        return self._fact(name).first_move

    def stays_zero(self, name: str) -> bool:
        return self._fact(name).stays_zero

    def _fact(self, name: str) -> MemberFact:
        if name not in self.facts:
            raise InvalidArgument(f"no parameter named {name!r} at depth {self.depth}; e.g. "
                                  f"{', '.join(list(self.facts)[:4])}")
        return self.facts[name]


@dataclass
class DepthAnalysis(JsonFace):
    """What is proved for every depth of a family: :meth:`summary`, :meth:`to_dict` / :meth:`to_json`,
    :meth:`to_latex`, :meth:`at` (the statement at one depth) and :meth:`verify`."""

    family: "MLPFamily | ReZeroFamily"
    init: FamilyInit | None
    theorem: DepthTheorem
    optimizers: OptimizerClass

    @property
    def proved(self) -> bool:
        return self.theorem.proved

    def init_description(self) -> str:
        return self.init.describe() if self.init is not None else "α = 0, generic branch weights"

    # ------------------------------------------------------------ the statement at one depth
    def entries(self, L: int) -> list[tuple[str, str, int]]:
        """``(parameter name, kind, layer)`` of the member of depth ``L`` (layers 1-based)."""
        L = member_depth(self.family, L)
        if isinstance(self.family, MLPFamily):
            kinds = ("W", "b") if self.family.bias else ("W",)
            return [(f"{k}{l}", k, l) for l in range(1, L + 1) for k in kinds]
        return ([(f"blocks.{l - 1}.{p}", p, l) for l in range(1, L + 1) for p in REZERO_PARAMETERS]
                + [(f"alpha.{l - 1}", "alpha", l) for l in range(1, L + 1)])

    def fact(self, name: str, L: int) -> MemberFact:
        """The statement about one parameter (``"W3"``, ``"blocks.2.f1.weight"``, ``"alpha.0"``) of the member of
        depth ``L``: constant time, at any depth."""
        L = member_depth(self.family, L)
        if not self.proved:
            raise UnsupportedError("undecided for symbolic depth: nothing is claimed about any parameter; analyze a "
                                   "concrete depth with symderiv.analyze")
        entry = _parse_entry(self.family, name, L)
        found = self.theorem.member([entry], L) if entry is not None else {}
        if name not in found:
            raise InvalidArgument(f"no statement about a parameter named {name!r} at depth {L} "
                                  f"(e.g. {', '.join(e[0] for e in self.entries(min(L, 2))[:3])})")
        return found[name]

    def at(self, L: int) -> MemberStatement:
        """The proved statement at depth ``L``: no symbolic work (instant at any depth); empty when undecided."""
        if not self.proved:
            return MemberStatement(member_depth(self.family, L), {}, False, self)
        return MemberStatement(L, self.theorem.member(self.entries(L), L), self.theorem.identical_units, self)

    # ------------------------------------------------------------ text
    def fact_sentence(self, fact: LayerFact) -> str:
        single = fact.lo == fact.hi
        who = ", ".join(_param_text(p, str(fact.hi) if single else "l") for p in fact.params)
        where = "" if single else f" ({fact.layers_text()})"
        if fact.stays_zero:
            return f"{who}{where}: stay{'s' if len(fact.params) == 1 else ''} exactly 0 forever (proved)."
        if fact.first_move is None:
            return f"{who}{where}: never change (proved)."
        step = str(fact.first_move)
        if not fact.can_move:
            text = (f"{who}{where}: unchanged before step {step} (proved); whether an update changes them at step "
                    f"{step} is not decided")
        elif fact.first_move == 1:
            text = f"{who}{where}: can move at step 1: their gradient at the init is not identically 0 (proved)"
        else:
            text = (f"{who}{where}: unchanged before step {step}, and step {step} is the first at which an update "
                    f"can change them (proved)")
        if fact.generic:
            text += " for generic init values"
        if fact.tight == TIGHT_EVERY_DEPTH:
            text += "; a move at that step is certified at every depth"
        elif fact.tight == TIGHT_CONCRETE:
            text += "; a move at that step is certified at the concrete depths verify() checks (evidence beyond)"
        if fact.exact_only:
            text += (". In IEEE arithmetic 'unchanged before' rests on an exact cancellation (the output deltas sum "
                     "to 0): a rounding residue there, which Adam and RMSProp can amplify into visible moves")
        return text + "."

    def scope(self) -> str:
        text = (f"Holds for every dataset, batch size, sample order and learning-rate schedule, for "
                f"{_join(list(self.optimizers.members))} (class '{self.optimizers.name}'). First-move steps assume "
                "no weight decay.")
        if isinstance(self.family, MLPFamily):
            act = self.family.activation
            if act.is_kinked:
                text += f" Kink convention: {act.describe()}."
            text += f" Labels: {self.family.loss.label_domain}."
        return text

    @public_entry
    def summary(self) -> str:
        """A few sentences: the statement for every depth, how it was proved, the scope."""
        th = self.theorem
        lines = [f"{self.family.describe()}; init: {self.init_description()}."]
        if not th.proved:
            lines.append("Undecided for symbolic depth (nothing is claimed; analyze a concrete depth with "
                         "symderiv.analyze): " + "; ".join(th.undecided))
            return "\n".join(lines)
        L = self.family.depth
        lines.append(f"Proved for every depth {L} ≥ {self.family.min_depth} by induction on the layer recursion "
                     f"({th.shape}, induction over {th.induction_variable}; {len(th.checks)} engine checks on one "
                     "generic block, none of which depends on the depth):")
        lines.extend("- " + self.fact_sentence(f) for f in th.facts)
        if th.identical_units:
            width = self.family.width if isinstance(self.family, MLPFamily) else self.family.d
            lines.append(f"- Every hidden layer's {width} units stay identical forever (proved).")
        lines.append(self.scope())
        lines.extend(f"Condition: {c}." for c in th.conditions)
        lines.extend(f"Not decided (not claimed): {q}." for q in th.open_questions)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"DepthAnalysis({self.family.describe()}, init={self.init_description()})"

    # ------------------------------------------------------------ JSON
    @public_entry
    def to_dict(self) -> dict[str, Any]:
        """The result as a plain JSON-ready dict (deterministic; :meth:`to_json` is its text)."""
        return {
            "family": self.family.to_dict(),
            "init": self.init.to_dict() if self.init is not None else {"alpha": "zeros", "branches": "generic"},
            "depth": {"symbol": str(self.family.depth), "every_depth_from": self.family.min_depth},
            "assumptions": {"optimizer_class": self.optimizers.to_dict(), "first_move_assumes": "no weight decay",
                            "data": "every statement holds for every example (data are symbols)"},
            "statement": {"proved": self.proved, "headline": self.theorem.headline,
                          "facts": [f.to_dict() for f in self.theorem.facts],
                          "identical_hidden_units": self.theorem.identical_units,
                          "conditions": list(self.theorem.conditions)},
            "proof": self.theorem.to_dict(),
            "cost": "independent of the depth: the engine runs once on one generic block (and its boundary blocks)",
            "summary": self.summary(),
        }

    @public_entry
    def to_latex(self, *, title: str | None = None) -> str:
        """The proof by induction as a standalone LaTeX document (:mod:`symderiv.depth.latex`)."""
        from .latex import depth_proof_document

        return depth_proof_document(self, title=title)

    def verify(self, **options: Any):
        """Check the statement against concrete analyses and PyTorch runs (:func:`symderiv.depth.verify.verify_depth`)."""
        from .verify import verify_depth

        return verify_depth(self, **options)


def _parse_entry(family: "MLPFamily | ReZeroFamily", name: str, L: int) -> tuple[str, str, int] | None:
    """``(name, kind, layer)`` of a parameter name of the member of depth ``L``, or None."""
    import re

    if isinstance(family, MLPFamily):
        m = re.fullmatch(r"([Wb])([1-9][0-9]*)", name) if isinstance(name, str) else None
        ok = m is not None and int(m[2]) <= L and (m[1] == "W" or family.bias)
        return (name, m[1], int(m[2])) if ok and m is not None else None
    m = re.fullmatch(r"(?:blocks\.([0-9]+)\.(f[12]\.(?:weight|bias))|alpha\.([0-9]+))", name) if isinstance(name, str) else None
    if m is None:
        return None
    index = int(m[1] if m[1] is not None else m[3])
    return (name, m[2] or "alpha", index + 1) if index < L else None


def _param_text(kind: str, layer: str = "l") -> str:
    return {"W": f"W^({layer})", "b": f"b^({layer})", "alpha": f"α_{layer}"}.get(kind, f"{kind} of block {layer}")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@public_entry
def analyze_depth(family: "MLPFamily | ReZeroFamily", init: object = None, *,
                  optimizer_class: "str | OptimizerClass" = "coordinatewise") -> DepthAnalysis:
    """Prove what holds at every depth of ``family`` (from :func:`~symderiv.depth.mlp_family` or
    :func:`~symderiv.depth.rezero_family`) at ``init`` (MLP families: ``zeros()``, ``constant(v)``, or a
    mapping from ``first``/``hidden``/``last``/``'*'`` to ``zeros()``/``constant(v)``/``generic()``; ReZero
    families carry their init: α = 0, generic branches).  Undecided families say so and claim nothing."""
    opt = _optimizer_class(optimizer_class)
    if isinstance(family, MLPFamily):
        if init is None:
            raise InvalidArgument("an MLP family needs an init: zeros(), constant(v) or a mapping such as "
                                  "{'last': zeros(), '*': generic()}")
        resolved = family_init(family, init)
        return DepthAnalysis(family, resolved, prove_family(family, resolved), opt)
    if isinstance(family, ReZeroFamily):
        if init is not None:
            raise InvalidArgument("a ReZero family carries its init (α = 0, generic branch weights); pass no init")
        return DepthAnalysis(family, None, prove_rezero(family), opt)
    raise InvalidArgument(f"analyze_depth needs a family from symderiv.depth.mlp_family or rezero_family, "
                          f"got {type(family).__name__}")
