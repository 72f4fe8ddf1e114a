"""certify.enclosure: the typed certified value of a ball, whose text is describe_interval's.

Checked against independent readings: Enclosure.parse of the printed text gives the same
record, and the record's rigorous interval contains the ball's exact endpoints (read from the
ball by python-flint, not through the printed text)."""
from __future__ import annotations

from fractions import Fraction

import sympy as sp
from flint import arb, fmpq
from hypothesis import given, settings, strategies as st

from symderiv.certify import describe_interval, enclose, enclosure, exact_endpoints, to_interval
from symderiv.enclosure import Enclosure

x = sp.Symbol("x", real=True)


def test_exact_balls_are_point_values():
    e = enclosure(arb(3) / 8)
    assert e == Enclosure("3/8") and not e.is_ball and e.interval() == (Fraction(3, 8), Fraction(3, 8))
    assert enclosure(to_interval(sp.Rational(-5, 4))) == Enclosure("-5/4")
    tiny = arb(3) * arb(2) ** -3000  # exact, too long as a fraction: rounded midpoint, radius 0
    assert enclosure(tiny) == Enclosure("2.43856458767e-903", "0")
    assert enclosure(arb.nan()) == Enclosure("nan") and enclosure(arb.nan()).interval() is None


def test_a_ball_has_midpoint_and_radius_and_contains_its_value():
    ball = enclose([x], {x: sp.Rational(1, 3)}, dps=40)[0]
    e = enclosure(ball)
    assert e.is_ball and e.midpoint == "0.333333333333"
    lo, hi = e.interval()
    assert lo <= Fraction(1, 3) <= hi
    assert enclosure(ball, digits=5).midpoint == "0.33333"


@settings(max_examples=200, deadline=None)
@given(st.fractions(min_value=-10**6, max_value=10**6, max_denominator=10**9), st.sampled_from([20, 40, 80]),
       st.integers(1, 20))
def test_text_is_describe_interval_and_parses_back(q, dps, digits):
    ball = enclose([x], {x: sp.Rational(q.numerator, q.denominator)}, dps=dps)[0]
    e = enclosure(ball, digits)
    assert str(e) == describe_interval(ball, digits)
    assert Enclosure.parse(str(e)) == e
    box = e.interval()
    ends = exact_endpoints(ball)
    assert box is not None and box[0] <= Fraction(ends[0]) and Fraction(ends[1]) <= box[1]


def test_wrong_record_is_rejected_by_its_interval():
    """The interval check is not vacuous: a ball shifted away from 1/3 does not contain it."""
    far = enclosure(arb(fmpq(1, 3)) + arb("1e-6 +/- 1e-12"))
    lo, hi = far.interval()
    assert not lo <= Fraction(1, 3) <= hi
