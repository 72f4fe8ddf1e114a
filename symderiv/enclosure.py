"""A certified value as the prover records it, typed: one reader of the recorded text.

The prover writes each certified value as text (:func:`symderiv.certify.describe_interval`):
``p/q`` for an exact value, ``m (±r)`` for a ball (the midpoint ``m`` rounded to its last printed
digit, the radius ``r`` rounded up), ``nan`` / ``inf`` when not finite.  :class:`Enclosure` is that
value with its parts named; :meth:`Enclosure.parse` is the only place the text is taken apart, so
every face (the LaTeX certificates, the witness trajectories) reads the same parts the same way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

__all__ = ["Enclosure"]

#: ``midpoint (±radius)``: the text of a ball (a point value has no radius part)
_BALL = re.compile(r"(\S+) \(±(\S+)\)")


@dataclass(frozen=True)
class Enclosure:
    """One recorded certified value: ``midpoint`` as printed and, for a ball, its ``radius``
    (``None`` for a point value: an exact ``p/q``, a decimal, or ``nan`` / ``inf``).

    ``str()`` gives back the recorded text, so writing an enclosure where its text was written
    changes no byte."""

    midpoint: str
    radius: str | None = None

    @classmethod
    def parse(cls, text: str) -> "Enclosure":
        """The parts of a recorded value (surrounding blanks ignored)."""
        text = text.strip()
        m = _BALL.fullmatch(text)
        return cls(text) if m is None else cls(m[1], m[2])

    def __str__(self) -> str:
        return self.midpoint if self.radius is None else f"{self.midpoint} (±{self.radius})"

    @property
    def is_ball(self) -> bool:
        """Whether the value was recorded with a radius (else it is a point value)."""
        return self.radius is not None

    def interval(self) -> tuple[Fraction, Fraction] | None:
        """A rigorous interval: a ball ``m (±r)`` widened by one unit of the midpoint's last printed
        digit (the midpoint was rounded); an exact ``p/q`` as a point; None when the value is not
        a finite number."""
        try:
            if self.radius is None:
                v = Fraction(self.midpoint)
                return v, v
            mid, rad = Decimal(self.midpoint), Decimal(self.radius)
        except (ValueError, ArithmeticError):
            return None
        if not mid.is_finite() or not rad.is_finite():
            return None
        exponent = mid.as_tuple().exponent
        if not isinstance(exponent, int):
            return None
        width = Fraction(rad) + Fraction(10) ** exponent  # the midpoint was rounded to its last digit
        return Fraction(mid) - width, Fraction(mid) + width
