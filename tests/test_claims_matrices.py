"""Vectors, matrices, batches and the newer notations in claims: right claims are proved,
wrong ones refuted with a certified counterexample naming the entry, the index values and the
data; bad input is a one-line error with a hint."""
import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symderiv as sd
from symderiv.claims import check, parse_claim
from symderiv.engine import derive
from symderiv.errors import ClaimNameError, ClaimSyntaxError, SizeLimitError, SymderivError, UnsupportedError

SIG = sd.mlp([3, 4, 3], "sigmoid", "ce")
SIG_SQ = sd.mlp([3, 3, 3], "sigmoid", "ce")      # square: a missing transpose stays in range
TANH = sd.mlp([3, 4, 3], "tanh", "ce")
TANH_SQ = sd.mlp([3, 3, 3], "tanh", "ce")
RELU = sd.mlp([3, 4, 3], "relu", "ce")
SOFTREG = sd.mlp([4, 3], loss="ce")              # softmax regression: W is 3 x 4
SOFTREG_SQ = sd.mlp([3, 3], loss="ce")
LOGREG = sd.mlp([3, 1], loss="bce")


@pytest.mark.parametrize("claim, net", [
    # the examples
    (r"\delta^{(l)} = ((W^{(l+1)})^T \delta^{(l+1)}) \odot \sigma'(z^{(l)})", SIG),
    (r"\frac{\partial L}{\partial W^{(1)}} = \delta^{(1)} x^T", SIG),
    ("delta1 = W2.T @ delta2 * dsigma(z1)", SIG),
    ("dW1 = outer(delta1, x)", SIG),
    # transposes in every spelling
    (r"\frac{\partial L}{\partial W^{(2)}} = \delta^{(2)} (h^{(1)})^\top", TANH),
    (r"\frac{\partial L}{\partial W^{(2)}} = \delta^{(2)} h^{(1)\intercal}", TANH),
    (r"\frac{\partial L}{\partial h^{(1)}} = W^{(2)T} \delta^{(2)}", TANH),
    (r"\frac{\partial L}{\partial h^{(1)}} = (W^{(2)})' \delta^{(2)}", TANH),
    ("dW2 = delta2 @ h1.T", TANH),
    ("dW2 = delta2 @ h1'", TANH),
    (r"\nabla_{W^{(l)}} L = \delta^{(l)} (h^{(l-1)})^T", TANH),
    (r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} \circ f'(z^{(1)})", TANH),
    (r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} * \tanh'(z^{(1)})", TANH),
    # batches (mean convention by default; sum when the claim says so)
    (r"\frac{\partial L}{\partial W} = \frac{1}{N} (P - Y)^T X", SOFTREG),
    (r"\frac{\partial L}{\partial W} = (P - Y)^T X \quad \text{(loss summed over the batch)}", SOFTREG),
    ("dW1 = (P - Y).T @ X / N", SOFTREG),
    (r"\frac{\partial L}{\partial b} = \frac{1}{N} \sum_{n=1}^{N} (p^{(n)} - y^{(n)})", SOFTREG),
    (r"\frac{\partial L}{\partial W_{ij}} = \frac{1}{N} \sum_n (P_{ni} - Y_{ni}) X_{nj}", SOFTREG),
    # notations
    (r"\frac{\partial p_i}{\partial z_j} = p_i(\delta_{ij} - p_j)", SOFTREG_SQ),
    (r"\frac{\partial L}{\partial z_k} = p_k - \mathbb{1}(y = k)", SOFTREG),
    (r"\frac{\partial L}{\partial z_k} = \hat{y}_k - \mathbb{1}\{k = t\}", SOFTREG),
    (r"\frac{\partial}{\partial z_j} L = p_j - y_j", SOFTREG),
    (r"\frac{\partial C}{\partial b^{(2)}_j} = \delta^{(2)}_j", TANH),
    (r"\frac{\partial J}{\partial w^{(2)}_{jk}} = a^{(1)}_k \delta^{(2)}_j", TANH),
    (r"\frac{\partial \ell}{\partial z_j} = a^{(L)}_j - y_j", TANH),
    (r"\sigma'(x) = \sigma(x)(1 - \sigma(x))", SOFTREG_SQ),
    (r"\tanh'(u) = 1 - \tanh^2(u)", SOFTREG_SQ),
    # proving power: log-sum-exp, log-softmax, ReLU masks
    (r"L = -z_t + \log \sum_j e^{z_j}", SOFTREG),
    (r"\log p_k = z_k - \log\sum_j e^{z_j}", SOFTREG),
    (r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} \odot \mathbb{1}(z^{(1)} > 0)", RELU),
    (r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} \odot \mathbb{1}(h^{(1)} > 0)", RELU),
    (r"\frac{\partial L}{\partial W^{(1)}} = ((W^{(2)})^T (p - y) \odot H(z^{(1)})) x^T", RELU),
    ("dW1 = outer(W2.T @ (p - y) * (z1 > 0), x)", RELU),
    # softmax as a function, derivatives by the prediction, ⊗, Ng's notation
    (r"\hat{y} = \mathrm{softmax}(W x + b)", SOFTREG),
    ("p[k] = softmax(z)[k]", SOFTREG),
    (r"\frac{\partial L}{\partial z_j} = \sum_k \frac{\partial L}{\partial p_k} \frac{\partial p_k}{\partial z_j}", SOFTREG),
    (r"da = -\frac{y}{a} + \frac{1 - y}{1 - a}", LOGREG),
    (r"\frac{\partial L}{\partial W^{(2)}} = \delta^{(2)} \otimes h^{(1)}", TANH),
    (r"\frac{\partial J}{\partial W} = \frac{1}{m} \sum_{i=1}^{m} (a^{(i)} - y^{(i)}) x^{(i)T}", LOGREG),
    (r"dz^{[1](i)} = W^{[2]T} dz^{[2](i)} * g'(z^{[1](i)})", TANH),
    (r"\frac{\partial J}{\partial z^{[2](i)}} = \frac{1}{m}(a^{[2](i)} - y^{(i)})", TANH),
    (r"\frac{\partial L_i}{\partial z_k} = p_k - 1\{k = y_i\}", SOFTREG),
])
def test_right_claims_are_proved(claim, net):
    v = check(claim, net, seconds=10)
    assert v.status == "proved", str(v)


@pytest.mark.parametrize("claim, net, what", [
    (r"\delta^{(l)} = (W^{(l+1)} \delta^{(l+1)}) \odot \sigma'(z^{(l)})", SIG_SQ, "missing transpose"),
    (r"\delta^{(1)} = ((W^{(2)})^T \delta^{(2)}) \odot \sigma(z^{(1)})", SIG, "a wrong factor in ⊙"),
    (r"\frac{\partial L}{\partial W^{(1)}_{ij}} = \delta^{(1)}_j x_i", SIG_SQ, "index slip"),
    ("dW1.T = outer(delta1, x)", SIG_SQ, "transposed entries"),
    (r"\frac{\partial L}{\partial W} = (P - Y)^T X", SOFTREG, "missing 1/N"),
    (r"\frac{\partial L}{\partial z_t} = p_t", SOFTREG, "missing -1 on the true class"),
    (r"\frac{\partial L}{\partial W_{tj}} = \frac{1}{K} x_j", SOFTREG, "missing -1 on the true class"),
    (r"\frac{\partial p_i}{\partial z_j} = p_i(1 - p_j)", SOFTREG_SQ, "Kronecker delta dropped"),
    (r"\frac{\partial L}{\partial W} = \frac{1}{N} X^T (P - Y)", SOFTREG_SQ, "transposed (square)"),
    (r"\delta^{(1)} = (W^{(2)})^T \delta^{(2)} \odot \mathbb{1}(h^{(1)} \geq 0)", RELU, "mask that is always 1"),
    (r"\tanh'(u) = 1 - \tanh(u)", SOFTREG_SQ, "missing square"),
    (r"\frac{\partial J}{\partial z^{[2](i)}} = a^{[2](i)} - y^{(i)}", TANH, "the batch mean's 1/m"),
    (r"\hat{y} = \mathrm{softmax}(W^T x + b)", SOFTREG_SQ, "transposed weights"),
    (r"\frac{\partial L}{\partial p_k} = \frac{y_k}{p_k}", SOFTREG, "sign"),
])
def test_wrong_claims_are_refuted_with_a_counterexample(claim, net, what):
    v = check(claim, net, seconds=10)
    assert v.status == "refuted", f"{what}: {v}"
    ce = v.counterexample
    assert ce is not None and ce.difference, what
    assert ce.data or ce.parameters, what


def test_transposed_shape_is_read_in_the_only_orientation_that_fits():
    """Never refute under a reading the writer may not have meant: the shapes of CS231n's dW = X^T (P - Y)/N
    agree only with W as n_in × n_out, so "auto" reads it so, proves it, and says why; a wrong line in that
    orientation is still refuted, and symderiv's own orientation, when asked for, refutes the transpose."""
    claim = r"\frac{\partial L}{\partial W} = \frac{1}{N} X^T (P - Y)"
    v = check(claim, SOFTREG)
    assert v.status == "proved"
    assert "n_(l-1) × n_l" in v.notes[0] and "3×4" in v.notes[0] and "convention='symderiv'" in v.notes[0]
    assert check(r"\frac{\partial L}{\partial W} = X^T (P - Y)", SOFTREG).status == "refuted"  # missing 1/N, either way
    v = check(claim, SOFTREG, convention="symderiv")
    assert v.status == "refuted"
    reason = v.links[0].reason
    assert "3×4" in reason and "4×3" in reason and "transpose" in reason and "n_l × n_{l-1}" in reason
    assert check("dW1.T = X.T @ (P - Y) / N", SOFTREG).status == "proved"  # the h W convention, transposed back


def test_missing_one_over_n_names_a_batch_size_above_one():
    v = check(r"\frac{\partial L}{\partial b} = \sum_n (p^{(n)} - y^{(n)})", SOFTREG)
    assert v.status == "refuted"
    assert int(v.counterexample.data["N"]) >= 2
    assert any("the batch loss is the mean" in n for n in v.notes)
    summed = check(r"\frac{\partial L}{\partial b} = \sum_n (p^{(n)} - y^{(n)}) \quad \text{(sum over the batch)}", SOFTREG)
    assert summed.status == "proved" and any("sum L = Σ_n" in n for n in summed.notes)


def test_a_non_additive_batch_claim_is_never_proved():
    # (Σ_n x)(Σ_n x) is not a sum of per-example terms: equal examples cannot prove it for every batch
    v = check(r"\left(\frac{1}{N}\sum_n x^{(n)}_1\right)^2 = \frac{1}{N}\sum_n (x^{(n)}_1)^2", SOFTREG)
    assert v.status == "undecided", str(v)  # true for equal examples only (it is the variance)


def test_refutation_names_the_first_wrong_entry_and_reevaluates():
    """Wrong at every entry: the first entry (1, 1) is named, and recomputing it from the engine
    with the counterexample's exact data confirms the two sides differ there."""
    v = check("dW1 = outer(x, delta1).T * 2", SIG)
    assert v.status == "refuted"
    ce = v.counterexample
    assert ce.indices == {"i": 1, "j": 1}
    d = derive(SIG)
    values = {s: sp.Rational(ce.data[str(s)]) for s in d.x}
    values.update({s: sp.Rational(ce.data[str(s)]) for s in d.label_symbols})
    values.update({sp.Symbol(k, real=True): sp.Rational(val) for k, val in ce.parameters.items()})
    truth = d.grad("W1", (0, 0)).xreplace(values)
    claimed = (2 * d.delta(1, 0) * d.x[0]).xreplace(values)
    assert abs(sp.N(truth - claimed, 30)) > 1e-20


def test_symbolic_layer_ranges_over_the_layers_where_everything_exists():
    v = check(r"\frac{\partial L}{\partial b^{(l)}} = \delta^{(l)}", sd.mlp([2, 3, 3, 2], "tanh", "ce"))
    assert v.status == "proved"
    assert any("takes the values 1, 2, 3" in n for n in v.notes)
    wrong = check(r"\frac{\partial L}{\partial b^{(l)}} = \delta^{(l+1)}", sd.mlp([2, 2, 2, 2], "tanh", "ce"))
    assert wrong.status == "refuted" and "l" in wrong.counterexample.indices


# ---------------------------------------------------------------- δ disambiguation and notations
def test_delta_is_kronecker_with_two_indices_and_an_error_with_one():
    assert check(r"\sum_j \delta_{ij} p_j = p_i", SOFTREG_SQ).status == "proved"
    assert check(r"\delta_i = p_i - y_i", SOFTREG_SQ).status == "proved"
    assert check(r"\delta^{(1)}_i = \delta_{ii}", TANH).status == "refuted"


def test_misspelled_names_get_hints():
    with pytest.raises(ClaimNameError, match=r"did you mean W\^\{\(l\)\}"):
        check(r"\frac{\partial L}{\partial w} = 0", TANH)
    with pytest.raises(ClaimNameError, match="did you mean W"):
        check("dL/dweights1[i,j] = 0", TANH)  # (w1, Nielsen's lowercase, is W1 itself)
    with pytest.raises(ClaimNameError, match=r"layers 1\.\.2"):
        check(r"\frac{\partial L}{\partial W^{(5)}} = 0", TANH)


@pytest.mark.parametrize("claim, error", [
    (r"\frac{\partial L}{\partial W^{(1)}} = x \delta^{(1)}", ClaimSyntaxError),     # 3x1 times 4x1
    (r"\delta^{(1)} = W^{(2)} \odot \delta^{(2)}", ClaimSyntaxError),                 # shapes of ⊙ differ
    (r"\delta^{(1)} = \odot \delta^{(1)}", ClaimSyntaxError),                          # ⊙ without an operand
    (r"\frac{\partial L}{\partial W^{(1)}} = 3", ClaimSyntaxError),                    # a matrix equals a scalar
    (r"p_k = \mathbb{1}(k)", ClaimSyntaxError),                                         # indicator without relation
    (r"p_k = \mathbb{1}(z_k < 0)", UnsupportedError),                                   # only comparisons with 0 from above
    (r"\delta^{(l)} = \delta^{(k)}", UnsupportedError),                                 # two symbolic layers
    ("dW1 = x.shape", ClaimSyntaxError),                                                 # attributes other than .T
    (r"(W^{(2)})^2 = W^{(2)} W^{(2)}", UnsupportedError),                               # matrix power: ambiguous
    (r"\frac{\partial L}{\partial b^{(2)}_k} = \frac{1}{N} \sum_n (p^{(n)}_t - 1)", UnsupportedError),  # t with a batch sum
])
def test_bad_matrix_notation_is_a_one_line_error(claim, error):
    with pytest.raises(error) as info:
        check(claim, TANH)
    assert "\n" not in str(info.value)


def test_matrix_claims_stay_within_the_limits():
    long_chain = " ".join(["W^{(2)} (W^{(2)})^T"] * 6) + r" \delta^{(2)}"
    with pytest.raises(SizeLimitError):
        check(r"\delta^{(2)} = " + long_chain, sd.mlp([3, 40, 40], "tanh", "ce"))
    with pytest.raises(SizeLimitError, match="symbolic layer"):
        check(r"\frac{\partial L}{\partial b^{(l)}} = \delta^{(l)}", sd.mlp([2] * 80, "tanh", "ce"))


def test_parsed_matrix_claims_are_plain_data():
    c = parse_claim(r"\frac{\partial L}{\partial W} = \frac{1}{N} (P - Y)^\top X \quad \text{(sum over the batch)}")
    assert c.batch_loss == "sum"
    assert type(c.sides[1]).__module__ == "symderiv.claims.tree"


# ---------------------------------------------------------------- a matrix claim and its entries agree
_ACT = {"tanh'": r"\tanh'", "tanh": r"\tanh", "f'": "f'"}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(transpose=st.booleans(), act=st.sampled_from(sorted(_ACT)), factor=st.sampled_from(["1", "2", "-1"]),
       plain=st.booleans())
def test_matrix_form_and_entry_form_get_the_same_verdict(transpose, act, factor, plain):
    """Random variants of the backprop step, right and wrong, written as a vector claim and as its
    entries: the verdicts are the same."""
    if plain:
        fn = {"tanh'": "tanh'", "tanh": "tanh", "f'": "f'"}[act]
        matrix = f"delta1 = {factor} * ({'W2.T' if transpose else 'W2'} @ delta2) * {fn}(z1)"
        entry = f"delta1[i] = {factor} * sum({'W2[k,i]' if transpose else 'W2[i,k]'} * delta2[k], k) * {fn}(z1[i])"
    else:
        w = "(W^{(2)})^T" if transpose else "W^{(2)}"
        matrix = rf"\delta^{{(1)}} = {factor} ({w} \delta^{{(2)}}) \odot {_ACT[act]}(z^{{(1)}})"
        wk = "W^{(2)}_{ki}" if transpose else "W^{(2)}_{ik}"
        entry = rf"\delta^{{(1)}}_i = {factor} \left(\sum_k {wk} \delta^{{(2)}}_k\right) {_ACT[act]}(z^{{(1)}}_i)"
    a, b = check(matrix, TANH_SQ, seed=3), check(entry, TANH_SQ, seed=3)
    assert a.status == b.status, f"{a}\n{b}"
    right = transpose and act in ("tanh'", "f'") and factor == "1"
    assert a.status == ("proved" if right else "refuted")


def test_wider_networks_are_checked_within_the_bound():
    """A 10-20-20-10 ReLU network: the matrix form of backprop is proved and a wrong activation
    factor refuted inside the default work budget (closed forms share subexpressions: every walk
    over them must visit each distinct subexpression once); the budget counts work, so the verdicts
    are the same on a busy machine (the time it takes is a benchmark figure, not asserted)."""
    net = sd.mlp([10, 20, 20, 10], "relu", "ce")
    right = check(r"\frac{\partial L}{\partial W^{(l)}} = \delta^{(l)} (h^{(l-1)})^T", net)
    wrong = check(r"\delta^{(l)} = ((W^{(l+1)})^T \delta^{(l+1)}) \odot f(z^{(l)})", net)
    assert right.status == "proved" and wrong.status == "refuted", f"{right}\n{wrong}"
