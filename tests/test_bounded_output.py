"""Bounded output: closed forms print with a bound (named shared sub-expressions, size notes),
deep and generic networks print in seconds, and the piecewise activations equal Max/Min."""
from __future__ import annotations

import json
import re

import pytest
import sympy as sp

import symderiv as sd
from symderiv.activations import activation, elu, leaky_relu, relu
from symderiv.closed_forms import ClosedForms, dag_size, expand_definitions, tree_size
from symderiv.engine import backprop
from symderiv.errors import SizeLimitError

x, y = sp.symbols("x y", real=True)
z = sp.Symbol("z", real=True)


# ---------------------------------------------------------------- tree size on the DAG
def _tree(expr: sp.Basic) -> int:
    """The printed tree's size, by plain recursion (an independent count for small cases)."""
    return 1 + sum(_tree(a) for a in expr.args)


@pytest.mark.parametrize("expr", [x, sp.Integer(3), x + y, sp.tanh(x * y + 1) ** 2 - sp.exp(x), relu(x - y) * (x + y)])
def test_tree_size_matches_the_tree(expr):
    assert tree_size(expr) == _tree(expr)
    assert tree_size(expr, limit=_tree(expr)) == _tree(expr)
    assert tree_size(expr, limit=_tree(expr) - 1) == _tree(expr)  # limit + 1: "larger than the limit"


def test_tree_size_is_linear_on_a_shared_chain():
    f = sp.Function("f")
    e = x
    for _ in range(200):  # each level uses the previous one twice: a tree of 2^200 nodes
        e = f(e, e)
    assert dag_size(e, 10**6) < 1000
    assert tree_size(e) > 10**29
    assert tree_size(e, limit=100) == 101


# ---------------------------------------------------------------- abbreviation round trip and determinism
def _deep_gradient():
    net = sd.mlp([2, 3, 2, 3], "tanh")
    return sd.gradients(net, sd.generic()).grad("W1", (0, 1))


def test_small_forms_print_as_sympy_does():
    g = sp.tanh(x) * y
    form = ClosedForms().abbreviate(g)
    assert form.expr == g and not form.definitions and not form.omitted
    assert ClosedForms().text(g) == str(g)


def test_abbreviated_form_expands_back_exactly():
    g = _deep_gradient()
    forms = ClosedForms(inline_nodes=5)  # force abbreviation on a small case
    form = forms.abbreviate(g)
    assert form.definitions, "a shared closed form must get names"
    assert expand_definitions([form.expr], dict(form.definitions))[0] == g
    for name, rhs in form.definitions:  # each definition refers only to earlier names
        earlier = {n for n, _ in form.definitions[: form.definitions.index((name, rhs))]}
        names = {n for n, _ in form.definitions}
        assert (rhs.free_symbols & names) <= earlier


def test_names_are_shared_across_forms_and_definitions_round_trip():
    d = sd.gradients(sd.mlp([2, 3, 2, 3], "tanh"), sd.generic())
    forms = ClosedForms(inline_nodes=5)
    exprs = [d.grad("W1", (0, 1)), d.grad("W2", (1, 2)), d.grad("b1", (2,))]
    finals = [forms.abbreviate(e).expr for e in exprs]
    everything = dict(forms.definitions)
    assert len({str(n) for n in everything}) == len(everything)
    assert expand_definitions(finals, everything) == exprs


def test_engine_abbreviations_keep_their_names_and_expand_back():
    net = sd.mlp([2, 3, 3, 2], "sigmoid")
    d = sd.gradients(net, sd.generic(), abbreviate=True)
    full = sd.gradients(net, sd.generic())
    forms = ClosedForms(d.definitions, inline_nodes=3)
    g = d.grad("W1", (1, 0))
    form = forms.abbreviate(g)
    names = {str(n) for n, _ in form.definitions}
    assert "delta1_2" in names and "z1_2" in names
    back = {sp.Symbol(str(n)): rhs for n, rhs in form.definitions}
    expanded = expand_definitions([form.expr], back)[0]
    assert expanded == full.grad("W1", (1, 0))
    assert d.expand(g) == full.grad("W1", (1, 0))


def test_too_large_forms_get_a_size_note():
    g = _deep_gradient()
    note = ClosedForms(inline_nodes=5, max_nodes=3, see="somewhere").text(g)
    assert note.startswith("<closed form with ") and note.endswith("nodes, omitted; see somewhere>")
    assert str(tree_size(g)) in note


def test_wrong_input_is_rejected():
    with pytest.raises(TypeError):
        ClosedForms().abbreviate("x + 1")


# ---------------------------------------------------------------- the JSON and LaTeX of a large network
@pytest.fixture(scope="module")
def generic_55555():
    return sd.analyze(sd.mlp([5, 5, 5, 5, 5, 5], "tanh"), sd.generic())


def test_generic_5_5_5_5_5_5_json_is_fast_deterministic_and_abbreviated(generic_55555):
    text = generic_55555.to_json()
    assert generic_55555.to_json() == text  # byte-identical
    data = json.loads(text)
    defs = data["definitions"]
    assert defs and all(isinstance(k, str) and isinstance(v, str) for k, v in defs.items())
    g = data["parameters"]["W1"]["gradient_at_init"][0][0]
    identifiers = lambda text: set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", text))  # noqa: E731
    assert identifiers(g) & set(defs), "an abbreviated gradient refers to the definitions"
    order = list(defs)
    for k, (name, rhs) in enumerate(defs.items()):  # each definition refers only to earlier names
        assert identifiers(rhs) & set(order[k:]) == set()
    # the printer's SymPy objects behind the text expand back to the closed form exactly
    forms = generic_55555._closed_form_printer()
    grad = generic_55555.gradient_at_init("W1", (0, 0))
    form = forms.abbreviate(grad)
    assert str(form.expr) == g
    assert expand_definitions([form.expr], dict(form.definitions))[0] == grad


def test_generic_5_5_5_5_5_5_latex_and_summary_finish(generic_55555):
    doc = generic_55555.to_latex()
    summary = generic_55555.summary()
    assert r"\end{document}" in doc and "where" in doc and "u_{1}" in doc
    assert summary


def test_deep_generic_gradients_are_refused_up_front_or_abbreviated():
    net = sd.mlp([3] * 20 + [2], "tanh")
    with pytest.raises(SizeLimitError, match="abbreviate=True"):
        sd.gradients(net, sd.generic())
    d = sd.gradients(net, sd.generic(), abbreviate=True)
    assert d.abbreviated and len(d.definitions) >= 2 * 19
    with pytest.raises(SizeLimitError):
        d.expand(d.grad("W1", (0, 0)))


def test_deep_generic_analysis_prints_abbreviated():
    net = sd.mlp([3] * 16 + [2], "tanh")  # expanded trees of more than 10^12 nodes
    a = sd.analyze(net, sd.generic())
    assert a.gradient_definitions()
    with pytest.raises(SizeLimitError, match="abbreviated=True"):
        a.gradient_at_init("W1", (0, 0))
    g = a.gradient_at_init("W1", (0, 0), abbreviated=True)
    assert g.free_symbols & set(a.gradient_definitions())
    doc = a.to_latex()
    assert r"\bar{\delta}" in doc or r"\bar{z}" in doc


def test_printed_outside_json_is_self_contained():
    from symderiv.analysis import printed

    g = _deep_gradient()
    e = g
    for _ in range(3):
        e = e * (1 - e) + sp.tanh(e)
    text = printed(e)
    assert " where u1 = " in text or text.startswith("<closed form")


# ---------------------------------------------------------------- piecewise activations equal Max/Min
_POINTS = [sp.Rational(p, q) for p in range(-7, 8) for q in (1, 3, 7)] + [sp.Integer(0)]


def _old_forms(name: str, params: dict):
    """The Max/Min forms the registry used before (the oracle)."""
    if name == "relu":
        return sp.Max(z, 0), (sp.Integer(0), sp.Integer(1))
    if name == "leaky_relu":
        s = params["slope"]
        return sp.Max(z, 0) + s * sp.Min(z, 0), (s, sp.Integer(1))
    a = params["alpha"]
    return sp.Max(z, 0) + a * (sp.exp(sp.Min(z, 0)) - 1), (a * sp.exp(sp.Min(z, 0)), sp.Integer(1))


@pytest.mark.parametrize("name, params, kinks", [
    ("relu", {}, [0, sp.Rational(1, 2), 1]),
    ("leaky_relu", {"slope": sp.Rational(1, 100)}, [sp.Rational(1, 100), sp.Rational(1, 2), 1]),
    ("leaky_relu", {"slope": sp.Rational(3, 10)}, [sp.Rational(3, 10), 1]),
    ("elu", {"alpha": sp.Rational(1, 2)}, [sp.Rational(1, 2), sp.Rational(3, 4), 1]),
    ("elu", {"alpha": sp.Integer(1)}, [None]),
])
def test_piecewise_activations_equal_the_max_min_forms(name, params, kinks):
    old, (left, right) = _old_forms(name, params)
    for kink in kinks:
        act = activation(name, kink_grad=kink, **params)
        new_f, new_d = act(z), act.derivative(z)
        assert not new_f.has(sp.Max, sp.Min)
        g = act.kink_grad if act.is_kinked else left.subs(z, 0)
        old_d = left + (right - left) * sp.Heaviside(z, (g - left.subs(z, 0)) / (right - left.subs(z, 0))
                                                       if act.is_kinked else sp.S.Half)
        for p in _POINTS:
            assert sp.simplify(new_f.subs(z, p) - old.subs(z, p)) == 0, (name, p)
            assert sp.simplify(new_d.subs(z, p) - old_d.subs(z, p)) == 0, (name, kink, p)
        if act.is_kinked:
            assert new_d.subs(z, 0) == act.kink_grad


def test_piecewise_functions_evaluate_only_on_known_signs():
    assert relu(sp.Rational(-3, 2)) == 0 and relu(sp.Rational(5, 2)) == sp.Rational(5, 2)
    assert relu(-x**2 - 1) == 0 and relu(x**2) == x**2
    assert isinstance(relu(x - y), relu)
    assert leaky_relu(sp.Integer(-2), sp.Rational(1, 10)) == sp.Rational(-1, 5)
    assert elu(sp.Integer(-1), sp.Integer(2)) == 2 * (sp.exp(-1) - 1)
    assert relu(x).is_nonnegative and (relu(x) + 1).is_positive
    assert abs(float(elu(sp.Rational(-1, 3), 1).evalf(30)) - (float(sp.exp(sp.Rational(-1, 3))) - 1)) < 1e-15
    assert sp.diff(relu(z), z) == sp.Heaviside(z, 0)
    assert relu(z).rewrite(sp.Max) == sp.Max(z, 0)
    assert sd.latex(relu(z)) == r"\max\left(0, z\right)"


def test_piecewise_activations_are_certified():
    from flint import arb, ctx, fmpq

    from symderiv.certify import enclose, excludes_zero

    point = {z: sp.Rational(-1, 3)}
    r, lr, e = enclose([relu(z), leaky_relu(z, sp.Rational(1, 10)), elu(z, sp.Integer(1))], point)
    saved = ctx.prec
    ctx.prec = 400  # reference values far more precise than the enclosures
    try:
        exact_lr, exact_e = arb(fmpq(-1, 30)), arb(fmpq(-1, 3)).exp() - 1
    finally:
        ctx.prec = saved
    assert r.is_zero()
    assert lr.contains(exact_lr) and excludes_zero(lr)
    assert e.contains(exact_e) and excludes_zero(e)
    straddling = enclose([relu(z)], {z: arb(0, 1)})[0]  # a ball around the kink: still rigorous
    assert straddling.contains(arb(0)) and straddling.contains(arb(fmpq(1, 2)))


def test_deep_leaky_relu_with_integer_arrays_is_fast():
    import numpy as np

    rng = np.random.default_rng(0)
    net = sd.mlp([4] * 4 + [3], "leaky_relu")
    init = {name: rng.integers(-3, 4, size=net.shape(name)) for name in net.parameter_names()}
    a = sd.analyze(net, init)
    assert a.summary()
