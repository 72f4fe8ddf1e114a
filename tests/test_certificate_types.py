"""Issue 17: one reader of the recorded certificate text (symderiv.enclosure.Enclosure).

The prover writes a certified value with ``describe_interval``; the LaTeX faces read it back through
:class:`Enclosure` only.  Checked here against independent computations: the exact value of the
expression (SymPy, exact rationals) lies in the interval read back from the text; the text round-trips
byte for byte; both LaTeX readers (intervals and ``m \\pm r``) see the same parts; and a reader that
dropped the rounding of the midpoint would be caught (its interval misses the exact value)."""
from __future__ import annotations

import re
from fractions import Fraction

import sympy as sp
from hypothesis import given, settings, strategies as st

from symderiv.certify import describe_interval, enclose
from symderiv.enclosure import Enclosure
from symderiv.latex.certificates import Certified, certified_texts, enclosure_of
from symderiv.latex.context import enclosure_tex

x = sp.Symbol("x", real=True)
EXPRESSIONS = (sp.exp(x), sp.tanh(x) / 3, 1 / (1 + sp.exp(-x)), x / 7 + sp.Rational(1, 3))


@settings(max_examples=60, deadline=None)
@given(st.fractions(min_value=-5, max_value=5, max_denominator=50), st.sampled_from(EXPRESSIONS),
       st.sampled_from([8, 12]))
def test_the_interval_read_back_contains_the_exact_value(point, expr, digits):
    ball = enclose([expr], {x: sp.Rational(point.numerator, point.denominator)}, dps=40)[0]
    text = describe_interval(ball, digits)
    enclosure = Enclosure.parse(text)
    assert str(enclosure) == text and Enclosure.parse(" " + text + "\n") == enclosure
    lo, hi = enclosure.interval()
    exact = sp.Rational(point.numerator, point.denominator)
    value = expr.subs(x, exact)
    if value.is_Rational:  # x/7 + 1/3: exactly rational
        assert lo <= Fraction(int(value.p), int(value.q)) <= hi
    else:  # an independent 60-digit evaluation, far inside any ball printed at 12 digits
        reference = sp.N(value, 60)
        assert sp.Rational(lo.numerator, lo.denominator) < reference < sp.Rational(hi.numerator, hi.denominator)
    assert enclosure_of(text) == (lo, hi) and Certified(text).interval == (lo, hi)


def test_ball_and_point_values_are_told_apart():
    ball = Enclosure.parse("-0.1042 (±2.9e-62)")
    assert ball == Enclosure("-0.1042", "2.9e-62") and ball.is_ball
    assert Enclosure.parse("3/8") == Enclosure("3/8") and not Enclosure("3/8").is_ball
    assert Enclosure("3/8").interval() == (Fraction(3, 8), Fraction(3, 8))
    assert Enclosure("nan").interval() is None and Enclosure("inf").interval() is None
    assert Enclosure("nan", "1").interval() is None  # a ball around nan is no number


def test_both_latex_readers_see_the_same_parts():
    for text in ("-0.1042 (±2.9e-62)", "0.333333333333 (±1.2e-38)", "2.43856458767e-903 (±0)"):
        e = Enclosure.parse(text)
        tex = enclosure_tex(text)
        assert enclosure_tex(e) == tex  # the typed value and its text print alike
        mid, rad = re.fullmatch(r"(.+) \\pm (.+)", tex).groups()
        for part, shown in ((e.midpoint, mid), (e.radius, rad)):
            mantissa, _, exponent = part.partition("e")
            assert shown == (mantissa if not exponent else rf"{mantissa}\cdot 10^{{{int(exponent)}}}")
        lo, hi = e.interval()
        assert lo <= Fraction(e.midpoint) <= hi and hi - lo >= 2 * Fraction(e.radius)
    assert enclosure_tex("0") == "0" and enclosure_tex("3/8") == r"\approx 3/8"


def test_the_rounding_of_the_midpoint_is_not_dropped():
    """1/3 printed with 4 digits and a tiny radius: the radius alone misses 1/3; the reader widens by
    one unit of the last printed digit, and the printed interval still holds 1/3."""
    e = Enclosure("0.3333", "1e-40")
    lo, hi = e.interval()
    assert lo <= Fraction(1, 3) <= hi
    naive = (Fraction("0.3333") - Fraction("1e-40"), Fraction("0.3333") + Fraction("1e-40"))
    assert not naive[0] <= Fraction(1, 3) <= naive[1]  # what a reader without the widening would claim
    (tex,) = certified_texts([Certified(e)], nonzero=[True])
    a, b = (Fraction(t) for t in re.fullmatch(r"\[(.+), (.+)\]", tex).groups())
    assert a <= Fraction(1, 3) <= b


def test_certified_accepts_the_typed_value_or_its_text():
    text = "0.238095238095 (±1.9e-61)"
    assert Certified(Enclosure.parse(text)).text == Certified(text).text == text
    assert Certified(text, Fraction(5, 21)).exact == Fraction(5, 21)


# ---------------------------------------------------------------- verify: one options object, no parsing of its own text
def test_verify_options_and_keywords_give_the_same_report():
    import symderiv as sd
    from symderiv.verify import VerifyOptions

    a = sd.analyze(sd.mlp([3, 2, 2]), sd.zeros())
    by_keywords = sd.verify(a, seed=4, optimizers=("sgd", "adam"), steps=3)
    options = VerifyOptions(seed=4, optimizers=("sgd", "adam"), steps=3)
    assert sd.verify(a, options=options).to_json() == by_keywords.to_json()
    assert a.verify(options=VerifyOptions(seed=9), seed=4, optimizers=("sgd", "adam"), steps=3).to_json() \
        == by_keywords.to_json()  # a keyword overrides the options' field
    assert by_keywords.ok and {c.run for c in by_keywords.checks if c.kind == "zeros"} == {"sgd", "adam"}
    assert "on 2 runs" in str(by_keywords)


def test_a_misspelled_verify_keyword_is_refused_by_name():
    import pytest

    import symderiv as sd

    a = sd.analyze(sd.mlp([3, 2, 2]), sd.zeros())
    with pytest.raises(TypeError, match="sede"):
        sd.verify(a, sede=3)


def test_a_finite_difference_mismatch_names_the_sampled_entry(monkeypatch):
    """The finite differences hold a seeded sample of the entries: a wrong value at sample position k
    is reported at the k-th sampled entry (named from the sample, not read back from the check's text)."""
    import importlib

    import numpy as np

    import symderiv as sd
    from symderiv.verify_report import entry_label

    verify_module = importlib.import_module("symderiv.verify")  # the module (symderiv.verify is the function)

    net = sd.mlp([80, 3, 2])
    a = sd.analyze(net, sd.generic())
    shapes = {name: tuple(int(n) for n in net.shape(name)) for name in net.parameter_names()}
    facts = {name: a.entry_facts(name)["block_id"] for name in net.parameter_names()}
    sample = verify_module.finite_difference_sample(shapes, 2, verify_module.FD_SAMPLE, facts)
    assert len(sample["W1"]) == verify_module.FD_SAMPLE < 3 * 80  # a sample, not every entry
    k = 37
    real = verify_module._sampled_finite_differences

    def wrong(*args, **kwargs):
        out = real(*args, **kwargs)
        out["W1"] = np.array(out["W1"], copy=True)
        out["W1"][k] += 1.0
        return out

    monkeypatch.setattr(verify_module, "_sampled_finite_differences", wrong)
    report = sd.verify(a, seed=2, optimizers=("sgd",))
    fd = next(c for c in report.checks if c.kind == "finite_differences")
    assert not fd.ok and fd.offending.startswith(entry_label("W1", sample["W1"][k]) + ": closed form ")


# ---------------------------------------------------------------- one reader of entry names; old import paths
def test_entry_names_read_back_what_the_writers_wrote():
    """init.entry_symbol and law_records.entry_symbol_name write entry names; parameter_entry_of reads
    them back (0-based), and refuses every other name."""
    import itertools

    from symderiv.init import entry_symbol
    from symderiv.law_records import entry_symbol_name
    from symderiv.symbol_names import parameter_entry_of

    for param, index in itertools.chain((("W3", (i, j)) for i in range(12) for j in (0, 9, 10)),
                                        (("b12", (i,)) for i in range(12))):
        assert parameter_entry_of(str(entry_symbol(param, index))) == (param, index)
        assert parameter_entry_of(entry_symbol_name(param, [i + 1 for i in index])) == (param, index)
    for other in ("x_1", "y_2", "W1", "W_1_2", "w1_1", "W1_1x", "delta2_1", "W1_1_"):
        assert parameter_entry_of(other) is None, other


def test_a_law_is_evaluated_at_the_entries_it_names():
    """verify's law values: each entry symbol of a law replaced by that entry of float parameters
    (compared with the same sum written by hand)."""
    import numpy as np
    import sympy as sp

    from symderiv.verify_trajectories import _law_value

    rng = np.random.default_rng(0)
    theta = {"W2": rng.standard_normal((3, 4)), "b2": rng.standard_normal(3)}
    W = sp.symbols("W2_1_3 W2_2_3 W2_3_3", real=True)
    b = sp.symbols("b2_1 b2_2 b2_3", real=True)
    law = sp.Add(*W) + 2 * b[1] - W[0] ** 2
    want = theta["W2"][:, 2].sum() + 2 * theta["b2"][1] - theta["W2"][0, 2] ** 2
    assert abs(_law_value(law, theta) - want) <= 1e-12 * (1 + abs(want))


def test_the_old_import_paths_still_work():
    import symderiv.law_records as records
    import symderiv.laws as laws
    import symderiv.numeric as numeric
    import symderiv.numeric_losses as losses
    import symderiv.numeric_optimizers as optimizers
    import symderiv.verify_report as report

    verify_module = __import__("importlib").import_module("symderiv.verify")
    for module in (numeric, laws, verify_module):
        for name in module.__all__:
            assert getattr(module, name) is not None, (module.__name__, name)
    assert numeric.OPTIMIZERS is optimizers.OPTIMIZERS and numeric.Trajectory is optimizers.Trajectory
    assert numeric.register_numeric_loss is losses.register_numeric_loss
    assert laws.Law is records.Law and laws.law_tex is records.law_tex
    assert verify_module.Check is report.Check and verify_module.VerifyReport is report.VerifyReport
