"""Verdicts: what the checker says about a claim, for people, for JSON, and for LaTeX.

A :class:`Verdict` has one :class:`LinkVerdict` per link of a chain
``A = B = C`` and names the first wrong link.  A refuted link carries a
:class:`Counterexample` whose values are rigorous interval enclosures at an exact
rational point (certified: the difference's enclosure excludes 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..jsontext import JsonFace

__all__ = ["Verdict", "LinkVerdict", "Counterexample", "PROVED", "REFUTED", "UNDECIDED", "EXIT_CODES"]

PROVED, REFUTED, UNDECIDED = "proved", "refuted", "undecided"
#: command-line exit status per verdict (2 is bad input)
EXIT_CODES = {PROVED: 0, REFUTED: 1, UNDECIDED: 3}


@dataclass
class Counterexample(JsonFace):
    """A certified counterexample to one link.

    * ``indices``: 1-based values of the free indices (``t`` = the true class);
    * ``data``: exact input and label values (``x_1`` … , ``y_1`` …);
    * ``parameters``: exact values given to free parameter symbols (generic init);
    * ``left`` / ``right``: the two sides' values (decimal, with the enclosure radius);
    * ``difference``: the certified enclosure of left − right (excludes 0);
    * ``reference``: ``"left"``/``"right"`` when that side is a named quantity itself
      (its value is the truth, so the *other* side is wrong), else None.
    """
    indices: dict
    data: dict
    parameters: dict
    left: str
    right: str
    difference: tuple
    reference: str | None = None

    def describe(self, left_name: str = "left side", right_name: str = "right side") -> str:
        at = ", ".join(f"{k} = {v}" for k, v in self.indices.items()) or "the only index assignment"
        data = ", ".join(f"{k} = {v}" for k, v in self.data.items())
        params = ""
        if self.parameters:
            items = list(self.parameters.items())
            params = "; parameters " + ", ".join(f"{k} = {v}" for k, v in items[:8]) + (", …" if len(items) > 8 else "")
        text = f"at {at} with {data}{params}: left = {self.left}, right = {self.right}"
        if self.reference == "left":
            text += " (the left side is the quantity itself, so the right side is wrong)"
        elif self.reference == "right":
            text += " (the right side is the quantity itself, so the left side is wrong)"
        return text

    def to_dict(self) -> dict:
        return {
            "indices": dict(self.indices), "data": dict(self.data), "parameters": dict(self.parameters),
            "left": self.left, "right": self.right, "difference": list(self.difference), "reference": self.reference,
        }


@dataclass
class LinkVerdict(JsonFace):
    """The verdict on one link ``left <relation> right`` of a claim."""
    number: int
    left: str
    right: str
    relation: str
    status: str
    reason: str
    counterexample: Counterexample | None = None
    evidence: str = ""
    assignments_checked: int = 0
    assignments_total: int = 0
    left_latex: str = ""
    right_latex: str = ""
    line: int = 0  #: the derivation's line (1-based) this link is on; 0 for a one-line claim

    def to_dict(self) -> dict:
        where = {"line": self.line} if self.line else {}
        return {
            "link": self.number, **where, "left": self.left, "right": self.right, "relation": self.relation,
            "status": self.status, "reason": self.reason,
            "counterexample": self.counterexample.to_dict() if self.counterexample else None,
            "evidence": self.evidence,
            "index_assignments": {"checked": self.assignments_checked, "total": self.assignments_total},
        }


@dataclass
class Verdict(JsonFace):
    """The verdict on a claim: ``status`` is ``proved``, ``refuted`` or ``undecided``.

    ``links`` holds one :class:`LinkVerdict` per ``=`` of a chain;
    ``first_wrong_link`` the number (1-based) of the first refuted one.
    Print it for a short explanation; ``to_dict()`` / ``to_json()`` (the dict / its text) for machines; it renders in
    notebooks (``_repr_latex_``) and in SymPy's printer (``_latex``).
    """
    claim: str
    status: str
    links: list
    network: str
    init: str
    notes: list = field(default_factory=list)
    syntax: str = ""

    @property
    def proved(self) -> bool:
        return self.status == PROVED

    @property
    def refuted(self) -> bool:
        return self.status == REFUTED

    @property
    def undecided(self) -> bool:
        return self.status == UNDECIDED

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def first_wrong_link(self) -> int | None:
        for link in self.links:
            if link.status == REFUTED:
                return link.number
        return None

    @property
    def counterexample(self) -> Counterexample | None:
        k = self.first_wrong_link
        return self.links[k - 1].counterexample if k else None

    def __str__(self) -> str:
        head = f"{self.status.upper()}: {self.claim}"
        lines = [head, f"  network: {self.network}; init: {self.init}"]
        many = len(self.links) > 1
        for link in self.links:
            at = f"line {link.line}, " if link.line else ""
            tag = f"  {at}link {link.number} ({link.left} = {link.right}): " if many or link.line else "  "
            lines.append(f"{tag}{link.status} - {link.reason}")
            if link.counterexample is not None:
                lines.append("    counterexample " + link.counterexample.describe())
            elif link.evidence:
                lines.append(f"    evidence (not a proof): {link.evidence}")
        if many and self.first_wrong_link:
            link = self.links[self.first_wrong_link - 1]
            on = f" (line {link.line})" if link.line else ""
            lines.append(f"  the first wrong link is link {self.first_wrong_link}{on}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Verdict {self.status}: {self.claim[:60]!r}>"

    def to_dict(self) -> dict:
        """The verdict as a plain JSON-ready dict (:meth:`to_json` is its deterministic text)."""
        return {
            "claim": self.claim, "syntax": self.syntax, "status": self.status,
            "first_wrong_link": self.first_wrong_link,
            "network": self.network, "init": self.init,
            "links": [l.to_dict() for l in self.links], "notes": list(self.notes),
        }

    def _latex(self, printer=None) -> str:
        parts = []
        for link in self.links:
            rel = {PROVED: "=", REFUTED: r"\neq", UNDECIDED: r"\overset{?}{=}"}[link.status]
            body = f"{link.left_latex} {rel} {link.right_latex}"
            mark = {PROVED: r"\text{proved}", REFUTED: r"\text{refuted}", UNDECIDED: r"\text{undecided}"}[link.status]
            if link.counterexample is not None and link.counterexample.indices:
                at = ", ".join(f"{k}={v}" for k, v in link.counterexample.indices.items())
                mark += rf"\ \text{{at }} {at}"
            parts.append(rf"{body} \quad ({mark})")
        return r" \\ ".join(parts) if len(parts) > 1 else parts[0]

    def _repr_latex_(self) -> str:
        body = self._latex()
        cx, k = self.counterexample, self.first_wrong_link
        if cx is not None and k is not None:  # the notebook shows the certified counterexample, not only "refuted"
            link = self.links[k - 1]
            where = f"line {link.line}, " if link.line else ""
            body += r" \\ \text{" + _tex_escape(f"counterexample ({where}link {link.number}): {cx.describe()}") + "}"
        if len(self.links) > 1 or cx is not None:
            return r"$\displaystyle \begin{array}{l}" + body + r"\end{array}$"
        return f"$\\displaystyle {body}$"


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "^": r"\^{}", "%": r"\%",
                "#": r"\#", "&": r"\&", "$": r"\$", "~": r"\~{}"}


def _tex_escape(text: str) -> str:
    """``text`` safe inside ``\\text{…}`` (no character of it acts as a LaTeX command)."""
    return "".join(_TEX_SPECIAL.get(c, c) for c in text)
