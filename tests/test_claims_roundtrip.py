"""Property: the engine's own derivatives, printed by SymPy's LaTeX printer and parsed back,
are proved; randomly perturbed ones are refuted by a counterexample that really differs."""
import itertools
import random

import pytest
import sympy as sp

import symderiv as sd
from symderiv.claims import check
from symderiv.engine import derive


def _names(d, net):
    """SymPy's printer, told the claim notation for each symbol (1-based)."""
    m = {x: f"x_{{{j}}}" for j, x in enumerate(d.x, 1)}
    m.update({y: f"y_{{{k}}}" for k, y in enumerate(d.label_symbols, 1)})
    for name in net.parameter_names():
        for idx in itertools.product(*[range(n) for n in net.shape(name)]):
            m[d.param(name, idx)] = f"{name[0]}^{{({name[1:]})}}_{{{','.join(str(i + 1) for i in idx)}}}"
    return m


def _case(seed):
    rng = random.Random(seed)
    depth = rng.choice([1, 2])
    sizes = [rng.choice([2, 3])] + [2] * (depth - 1) + [2]
    net = sd.mlp(sizes, rng.choice(["tanh", "sigmoid", "identity"]), rng.choice(["ce", "mse"]))
    name = rng.choice(net.parameter_names())
    idx = tuple(rng.randrange(n) for n in net.shape(name))
    return rng, net, name, idx


@pytest.mark.parametrize("seed", range(4))
def test_printed_derivative_round_trips(seed):
    rng, net, name, idx = _case(seed)
    d = derive(net)
    grad = d.grad(name, idx)
    assert grad != 0  # not a vacuous comparison
    sub = ",".join(str(i + 1) for i in idx)
    lhs = rf"\frac{{\partial L}}{{\partial {name[0]}^{{({name[1:]})}}_{{{sub}}}}}"
    names = _names(d, net)
    good = check(lhs + " = " + sp.latex(grad, symbol_names=names), net, seconds=20)
    assert good.status == "proved", str(good)

    factor = sp.Rational(rng.choice([-1, 1]) * rng.randint(2, 9), rng.randint(1, 9))
    bad = check(lhs + " = " + sp.latex(factor * grad, symbol_names=names), net, seconds=20)
    assert bad.status == "refuted", str(bad)
    ce = bad.counterexample
    values = {s: sp.Rational(ce.data[str(s)]) for s in d.x}
    values.update({s: sp.Rational(ce.data[str(s)]) for s in d.label_symbols})
    values.update({sp.Symbol(k, real=True): sp.Rational(v) for k, v in ce.parameters.items()})
    true_value = grad.xreplace(values)
    assert abs(sp.N(true_value - factor * true_value, 30)) > 0


def test_time_bound_gives_undecided_with_evidence():
    net = sd.mlp([2, 2, 2], "sigmoid", "ce")
    v = check("sigma(z1[i]) = (1 + tanh(z1[i]/2))/2", net, seconds=0.3)
    assert v.status in ("undecided", "proved")
    if v.status == "undecided":
        assert "agree" in v.links[0].evidence
    v2 = check("sigma(z1[i]) = (1 + tanh(z1[i]/2))/2", net, seconds=20)
    assert v2.status == "proved", str(v2)


def test_verdict_shows_the_users_own_spelling():
    """Verdict JSON names quantities as the user wrote them, never the parser's internal names."""
    import json

    import symderiv as sd

    v = sd.check("dL/dW1[i,j] = 2*(p[i]-y[i])*x[j]", sd.mlp([3, 2], loss="ce"))
    text = json.dumps(v.to_dict())
    assert "GRAD_" not in text and "_PRIME" not in text
    assert v.to_dict()["links"][0]["left"] == "dL/dW1[i,j]"
