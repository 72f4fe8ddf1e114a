"""Checking a person's derivation, line by line (issue 4).

``check(claim, net, init=None)`` parses a claim written in LaTeX or plain text,
builds both sides from the network's exact derivation and returns a
:class:`Verdict`: proved (a symbolic identity for all indices and data),
refuted (with a certified counterexample) or undecided (work budget; numeric
agreement is reported as evidence only).

Indices in claims are 1-based (``x_1`` is the first input).  The true class of
a one-hot label is the index ``t`` (or ``y`` in an index position, as ``p_y``).
User text is data: it is never passed to ``eval``, ``sympify`` or ``parse_expr``.
See ``NOTATION.md`` for the notation.
"""
from .checker import check, parse_claim
from .cli import cli_check
from .tree import Claim
from .verdict import EXIT_CODES, Counterexample, LinkVerdict, Verdict

__all__ = ["check", "parse_claim", "cli_check", "Claim", "Verdict", "LinkVerdict", "Counterexample", "EXIT_CODES"]
