"""The report of a numeric cross-check: one :class:`Check` per comparison and the
:class:`VerifyReport` that holds them, with its faces (the short text, every check, JSON, HTML).

Made by :func:`symderiv.verify.verify` and by the graph and depth replays
(:mod:`symderiv.graph.replay`, :mod:`symderiv.depth.verify`), which share this type.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from .errors import SymderivError
from .jsontext import JsonFace
from .notebook import report_html

__all__ = ["Check", "VerifyReport", "VerificationError", "CHECK_GROUPS", "entry_label"]


class VerificationError(SymderivError):
    """A numeric cross-check disagreed with a symbolic result."""


@dataclass
class Check(JsonFace):
    """One cross-check: what was compared, the worst discrepancy, and where."""

    kind: str
    subject: str
    ok: bool
    max_error: float = 0.0
    detail: str = ""
    offending: str | None = None
    seed: int = 0
    #: the run the check looked at (``sgd``, ``torch adam``), for the short form's count of runs; not part
    #: of the JSON.  ``None``: the subject names the run
    run: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        # plain Python values: checks are built from NumPy results (np.bool_ is not JSON), and inf / nan
        # are not JSON numbers (written as text)
        error = float(self.max_error)
        return {"kind": str(self.kind), "subject": str(self.subject), "ok": bool(self.ok),
                "max_error": error if math.isfinite(error) else str(error), "detail": str(self.detail),
                "offending": None if self.offending is None else str(self.offending), "seed": int(self.seed)}


@dataclass
class VerifyReport(JsonFace):
    """All checks of one :func:`verify` run."""

    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def raise_for_failures(self) -> None:
        """Raise :class:`VerificationError` naming the first offending entry."""
        bad = self.failures()
        if bad:
            c = bad[0]
            raise VerificationError(f"{c.kind} check failed for {c.subject}: {c.offending or ''} {c.detail}".strip())

    def to_dict(self) -> dict[str, Any]:
        """The report as a plain JSON-ready dict (:meth:`to_json` is its deterministic text)."""
        return {"ok": bool(self.ok), "checks": [c.to_dict() for c in self.checks], "notes": [str(n) for n in self.notes]}

    def _repr_html_(self) -> str:
        """Jupyter: the checks as a table (:func:`symderiv.notebook.report_html`)."""
        return report_html(self)

    def verdict(self) -> str:
        """The one-line verdict, e.g. ``verify: OK (25 checks)``."""
        failed = len(self.failures())
        return (f"verify: {'OK' if self.ok else 'FAILED'} ({len(self.checks)} checks"
                + (f", {failed} failed" if failed else "") + ")")

    def details(self) -> str:
        """Every check on its own line, the notes, and the verdict last."""
        lines = [_check_line(c) for c in self.checks]
        lines.extend(f"  note: {n}" for n in self.notes)
        lines.append(self.verdict())
        return "\n".join(lines)

    def __str__(self) -> str:
        """Short: one line per group of checks (every failing check in full), the notes, the verdict
        last; :meth:`details` lists every check."""
        groups: dict[str, list[Check]] = {}
        for c in self.checks:
            groups.setdefault(CHECK_GROUPS.get(c.kind, c.kind), []).append(c)
        lines = []
        for group, checks in groups.items():
            bad = [c for c in checks if not c.ok]
            worst = max(c.max_error for c in checks)
            if len(checks) == 1:
                lines.append(_check_line(checks[0]))
                continue
            runs = list(dict.fromkeys(c.subject if c.run is None else c.run for c in checks))
            scope = f"{len(checks)} checks on {len(runs)} run{'' if len(runs) == 1 else 's'}"
            lines.append(f"  {'ok  ' if not bad else 'FAIL'} {group:<19} {scope}: "
                         + ", ".join(dict.fromkeys(c.kind for c in checks)) + f"; max error {worst:.2e}")
            lines.extend(_check_line(c) for c in bad)
        lines.extend(f"  note: {n}" for n in self.notes)
        if len(self.checks) > len(groups):
            lines.append("  (every check: --details, or report.details())")
        lines.append(self.verdict())
        return "\n".join(lines)


#: check kinds shown as one line of :class:`VerifyReport`'s short form (the same runs, several checks)
CHECK_GROUPS = {"zeros": "trajectories", "ties": "trajectories", "unchanged_before": "trajectories",
                "moves_observed": "trajectories", "shifted_ties": "trajectories", "conservation": "trajectories"}


def _check_line(c: Check) -> str:
    text = f"  {'ok  ' if c.ok else 'FAIL'} {c.kind:<19} {c.subject:<22} max error {c.max_error:.2e}"
    if c.detail:
        text += f"  {c.detail}"
    if c.offending and not c.ok:
        text += f"  [{c.offending}]"
    return text


def entry_label(name: str, index: Sequence[Any]) -> str:
    """A parameter entry as written by hand, 1-based: ``W2[1,3]``."""
    return f"{name}[{','.join(str(i + 1) for i in index)}]"
