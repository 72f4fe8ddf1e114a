"""The classic derivations (the zero-init question, textbook backprop), right and wrong,
each with the verdict it deserves; the compared quantities are checked to be non-trivial."""
import pytest
import sympy as sp

import symderiv as sd
from symderiv.claims import check
from symderiv.engine import derive
from symderiv.errors import ClaimSyntaxError

SOFTMAX_REG = sd.mlp([3, 3], loss="ce")          # softmax regression, K = 3
SOFTMAX_REG2 = sd.mlp([3, 2], loss="ce")         # K = 2
MLP = sd.mlp([3, 3, 3], "tanh", "ce")            # square hidden layer: a missing transpose stays in range


def test_compared_quantities_are_not_identically_zero():
    d = derive(SOFTMAX_REG)
    assert d.grad("W1", (0, 1)) != 0 and derive(MLP).delta(1, 0) != 0
    assert derive(SOFTMAX_REG, sd.zeros()).grad("W1", (0, 1)) != 0


@pytest.mark.parametrize("claim, net, init, status", [
    # the gradient of softmax regression, in both syntaxes
    (r"\frac{\partial L}{\partial W_{ij}} = (p_i - y_i)\, x_j", SOFTMAX_REG, None, "proved"),
    ("dL/dW1[i,j] = (p[i] - y[i]) * x[j]", SOFTMAX_REG, None, "proved"),
    (r"\frac{\partial L}{\partial W_{ij}} = (y_i - p_i)\, x_j", SOFTMAX_REG, None, "refuted"),      # wrong sign
    (r"p_i = \frac{e^{z_i}}{\sum_{k=1}^{K} e^{z_k}}", SOFTMAX_REG, None, "proved"),
    (r"\frac{\partial L}{\partial z_i} = p_i - y_i", SOFTMAX_REG, None, "proved"),
    (r"\frac{\partial L}{\partial z_i} = p_i", SOFTMAX_REG, None, "refuted"),
    # the student's zero-init hand derivation
    (r"\frac{\partial L}{\partial W_{tj}} = (\frac{1}{K} - 1) x_j", SOFTMAX_REG, sd.zeros(), "proved"),
    (r"\frac{\partial L}{\partial W_{ij}} = \frac{1}{K} x_j \quad i \neq t", SOFTMAX_REG, sd.zeros(), "proved"),
    ("sum(dL/dW1[k,j], k) = 0", SOFTMAX_REG, None, "proved"),                   # column sums are conserved
    # "equal magnitude" holds for K = 2 only
    ("abs(dL/dW1[i,j]) == abs(dL/dW1[k,j])", SOFTMAX_REG2, sd.zeros(), "proved"),
    ("abs(dL/dW1[i,j]) == abs(dL/dW1[k,j])", SOFTMAX_REG, sd.zeros(), "refuted"),
    ("dL/dW1[1,j] = -dL/dW1[2,j]", SOFTMAX_REG2, sd.zeros(), "proved"),            # opposite sign, K = 2
    # backprop through a hidden layer
    (r"\delta^{(1)}_i = \tanh'(z^{(1)}_i) \sum_k W^{(2)}_{ki} \delta^{(2)}_k", MLP, None, "proved"),
    (r"\delta^{(1)}_i = f'(z^{(1)}_i) \sum_k W^{(2)}_{ki} \delta^{(2)}_k", MLP, None, "proved"),
    (r"\delta^{(1)}_i = \tanh'(z^{(1)}_i) \sum_k W^{(2)}_{ik} \delta^{(2)}_k", MLP, None, "refuted"),  # missing transpose
    (r"\delta^{(1)}_i = \tanh(z^{(1)}_i) \sum_k W^{(2)}_{ki} \delta^{(2)}_k", MLP, None, "refuted"),   # f(z) for f'(z)
    (r"\delta^{(1)}_i = \tanh'(z^{(1)}_i) W^{(2)}_{ti} \delta^{(2)}_t", MLP, None, "refuted"),        # forgotten Σ over classes
    ("dL/dW2[i,j] = delta2[i] * h1[j]", MLP, None, "proved"),
    ("dL/db1[i] = delta1[i]", MLP, None, "proved"),
])
def test_classic_claims(claim, net, init, status):
    v = check(claim, net, init)
    assert v.status == status, str(v)
    if status == "refuted":
        assert v.counterexample is not None and v.counterexample.difference


@pytest.mark.parametrize("activation, stuck", [("tanh", True), ("relu", True), ("sigmoid", False), ("identity", True)])
def test_the_commenter_weights_never_change(activation, stuck):
    """'With more layers the weights stay zero': true at the first step for tanh/ReLU/identity
    (∂L/∂W^{(1)} = 0 at zero init), false for sigmoid, whose h = 1/2 lets W^{(2)} move."""
    net = sd.mlp([3, 3, 3], activation, "ce")
    first = check("dL/dW1[i,j] = 0", net, sd.zeros())
    assert first.status == "proved", str(first)
    second = check("dL/dW2[i,j] = 0", net, sd.zeros())
    assert second.status == ("proved" if stuck else "refuted"), str(second)


def test_chain_names_the_first_wrong_link():
    v = check(r"\frac{\partial L}{\partial W_{ij}} = (p_i - y_i) x_j = p_i x_j = 0", SOFTMAX_REG, None)
    assert v.status == "refuted" and v.first_wrong_link == 2
    assert [l.status for l in v.links][:2] == ["proved", "refuted"]
    assert "first wrong link is link 2" in str(v)


def test_same_for_every_i_at_constant_init():
    net = sd.mlp([3, 3, 3], "tanh", "ce")
    assert check("dL/dW1[i,j] is the same for every i", net, sd.constant(0.5)).status == "proved"
    assert check("dL/dW2[i,j] is the same for every i", net, sd.constant(0.5)).status == "refuted"


def test_counterexample_is_certified_and_reevaluates():
    v = check("dL/dW1[i,j] = (y[i] - p[i]) * x[j]", SOFTMAX_REG, None)
    ce = v.counterexample
    d = derive(SOFTMAX_REG)
    values = {s: sp.Rational(ce.data[str(s)]) for s in d.x}
    values.update({s: sp.Rational(ce.data[str(s)]) for s in d.label_symbols})
    values.update({sp.Symbol(k, real=True): sp.Rational(val) for k, val in ce.parameters.items()})
    i, j = ce.indices["i"] - 1, ce.indices["j"] - 1
    left = d.grad("W1", (i, j)).xreplace(values)
    right = ((d.y[i] - d.p(i)) * d.x[j]).xreplace(values)
    assert abs(float(left - right)) > 1e-12
    assert ce.reference == "left"


def test_verdict_faces():
    v = check("dL/dW1[i,j] = (p[i] - y[i]) * x[j]", SOFTMAX_REG, sd.zeros())
    data = v.to_dict()
    assert data["status"] == "proved" and data["links"][0]["relation"] == "equal"
    assert v._repr_latex_().startswith("$") and "proved" in v._latex(None)
    assert sp.latex(v)  # SymPy's printer uses _latex
    assert v.exit_code == 0


# ---------------------------------------------------------------- the checker's random points
_SEEDED = [
    ("dL/dW1[i,j] = (y[i] - p[i]) * x[j]", SOFTMAX_REG, None, "refuted"),
    (r"\frac{\partial L}{\partial W_{ij}} = \frac{1}{K} x_j \quad i \neq t", SOFTMAX_REG, sd.zeros(), "proved"),
    ("abs(dL/dW1[i,j]) == abs(dL/dW1[k,j])", SOFTMAX_REG, sd.zeros(), "refuted"),
    ("dL/db1[i] = delta1[i]", MLP, None, "proved"),
]


@pytest.mark.parametrize("seed", [1, 2**31 - 1, -5])
@pytest.mark.parametrize("claim, net, init, status", _SEEDED)
def test_verdict_does_not_depend_on_the_seed(claim, net, init, status, seed):
    v = check(claim, net, init, seed=seed)
    assert v.status == status, str(v)


# ---------------------------------------------------------------- side conditions are never dropped
_EXCEPT_T = [  # true only for j != t (with a one-hot label y_j = 0 there)
    r"\frac{\partial L}{\partial W_{jk}} = p_j x_k \quad \text{for every } j \text{ except } t",
    r"\frac{\partial L}{\partial W_{jk}} = p_j x_k \quad \text{for all } j \text{ except } t",
    r"\frac{\partial L}{\partial W_{jk}} = p_j x_k \quad j \neq t",
    r"\frac{\partial L}{\partial W_{jk}} = p_j x_k \quad \text{for } j \neq t",
    r"\frac{\partial L}{\partial W_{jk}} = p_j x_k \text{ for every } j \text{ except } t",
    r"\frac{\partial L}{\partial W_{jk}} = p_j x_k, \quad \forall j \text{ except } t",
    r"\frac{\partial L}{\partial W_{jk}} = p_j x_k \quad for every j except t",
    r"\frac{\partial L}{\partial W_{jk}} = p_j x_k for all j \neq t",
    "dL/dW1[j,k] = p[j] * x[k] for every j except t",
    "dL/dW1[j,k] = p[j] * x[k] for j != t",
    "dL/dW1[j,k] = p[j] * x[k] for all j except t",
]


@pytest.mark.parametrize("claim", _EXCEPT_T)
def test_except_t_is_a_condition(claim):
    v = check(claim, SOFTMAX_REG)
    assert v.status == "proved", str(v)
    assert v.links[0].assignments_total == 18  # (j, k, t) in 1..3 each, with j != t


def test_without_the_condition_the_same_claim_is_refuted():
    v = check(r"\frac{\partial L}{\partial W_{jk}} = p_j x_k", SOFTMAX_REG)
    assert v.status == "refuted", str(v)
    assert check("dL/dW1[j,k] = p[j] * x[k]", SOFTMAX_REG).status == "refuted"


def test_when_k_equals_t():
    assert check(r"\frac{\partial L}{\partial W_{kj}} = (p_k - 1) x_j \quad \text{when } k = t", SOFTMAX_REG).status == "proved"
    assert check(r"\frac{\partial L}{\partial W_{kj}} = (p_k - 1) x_j", SOFTMAX_REG).status == "refuted"


@pytest.mark.parametrize("claim, quoted", [
    (r"\frac{\partial L}{\partial W_{jk}} = p_j x_k \quad \text{for every } j \text{ unless } t", "unless"),
    (r"\frac{\partial L}{\partial W_{jk}} = p_j x_k \quad \text{whenever it rains}", "it"),
    (r"\frac{\partial L}{\partial W_{jk}} = p_j x_k \text{ otherwise}", "otherwise"),
    ("dL/dW1[j,k] = p[j] * x[k] for every j except", "except"),
    ("dL/dW1[j,k] = p[j] * x[k] when j is t", "is"),
    (r"\frac{\partial L}{\partial W_{jk}} = p_j x_k \quad j = 2", "number"),
])
def test_conditions_not_understood_are_refused_with_the_text(claim, quoted):
    with pytest.raises(ClaimSyntaxError) as info:
        check(claim, SOFTMAX_REG)
    assert quoted in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("claim, status", [
    ("h1[i] = relu(z1[i])", "proved"),
    (r"h^{(1)}_i = \max(0, z^{(1)}_i)", "proved"),
    ("h1[i] = max(z1[i], 0)", "proved"),
    ("h1[i] = z1[i]", "refuted"),
])
def test_relu_claims_use_the_engines_relu(claim, status):
    assert check(claim, sd.mlp([2, 2, 2], "relu", "ce")).status == status
