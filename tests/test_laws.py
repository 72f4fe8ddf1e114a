"""Conservation laws (symderiv.laws) and signed ties (symderiv.signed) against torch float64 trajectories,
brute-force counts, and rejections of things that are not laws."""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import symderiv as sd
from symderiv.errors import SymderivError
from symderiv.laws import LINEAR_OPTIMIZERS, conservation_laws, euler_identity_holds
from symderiv.nullspace import null_space, as_arb
from symderiv.numeric import gradients, params_from_init, random_data
from symderiv.signed import ODD_OPTIMIZERS, signed_ties
try:  # PyTorch is an optional extra: without it the independent NumPy reference replays the same optimizers
    from symderiv.torch import torch_gradients, torch_trajectory
except SymderivError:
    from symderiv.numeric import gradients as torch_gradients, train as torch_trajectory

_ANALYSES: dict = {}


def analysis(sizes, act="tanh", init=None, loss="softmax_cross_entropy", bias=True):
    key = (tuple(sizes), act, repr(init), loss, bias)
    if key not in _ANALYSES:
        _ANALYSES[key] = sd.analyze(sd.mlp(sizes, act, loss=loss, bias=bias), init if init is not None else sd.zeros())
    return _ANALYSES[key]


def _range(text: str) -> list[int]:
    if ".." in text:
        lo, hi = text.split("..")
        return list(range(int(lo), int(hi) + 1))
    return [int(v) for v in text.strip("{}").split(",")]


def instances(law) -> list[sp.Expr]:
    """The entry-level laws a block-level law stands for (every choice of its index letters)."""
    expr = sp.sympify(law.indexed)  # our own output, never user text
    if not law.for_each:
        return [expr]
    letters = dict(law.for_each)
    out = []
    for choice in itertools.product(*[_range(r) for r in letters.values()]):
        pick = dict(zip(letters, choice))
        subs = {}
        for s in expr.free_symbols:
            parts = s.name.split("_")
            subs[s] = sp.Symbol("_".join([parts[0]] + [str(pick.get(p, p)) for p in parts[1:]]))
        out.append(expr.xreplace(subs))
    return out


_COMPILED: dict = {}


def _compiled(expr: sp.Expr) -> list:
    """``expr`` as [(coefficient, [(parameter, index, power)])] (a polynomial in entry symbols)."""
    if expr not in _COMPILED:
        terms = []
        for term in sp.Add.make_args(expr):
            coeff, factors = term.as_coeff_mul()
            parts = []
            for f in factors:
                base, power = f.as_base_exp()
                name, *idx = base.name.split("_")
                parts.append((name, tuple(int(i) - 1 for i in idx), int(power)))
            terms.append((float(coeff), parts))
        _COMPILED[expr] = terms
    return _COMPILED[expr]


def value(expr: sp.Expr, params) -> float:
    """``expr`` at float parameters (symbols ``W2_1_3`` = W2[0, 2])."""
    total = 0.0
    for coeff, parts in _compiled(expr):
        for name, idx, power in parts:
            coeff *= float(params[name][idx]) ** power
        total += coeff
    return total


def scale(expr: sp.Expr, params) -> float:
    """The sum of the absolute values of ``expr``'s terms: the size rounding errors scale with."""
    total = 0.0
    for coeff, parts in _compiled(expr):
        for name, idx, power in parts:
            coeff *= float(params[name][idx]) ** power
        total += abs(coeff)
    return total + 1e-300


def shift_laws(a) -> set[sp.Expr]:
    """Independently: Σ_k W^(L)_{kj} per column (entries not proved zero) and Σ_k b^(L)_k."""
    net = a.net
    L = net.depth
    K, n = net.sizes[L], net.sizes[L - 1]
    out = set()
    for j in range(n):
        terms = [sp.Symbol(f"W{L}_{k + 1}_{j + 1}") for k in range(K) if not a.stays_zero(f"W{L}", (k, j))]
        if terms:
            out.add(sp.Add(*terms))
    if net.bias:
        terms = [sp.Symbol(f"b{L}_{k + 1}") for k in range(K) if not a.stays_zero(f"b{L}", (k,))]
        if terms:
            out.add(sp.Add(*terms))
    return out


def reported(a, kind="linear") -> set[sp.Expr]:
    return {e for law in a.conserved if law.kind == kind for e in instances(law)}


INITS = {"zeros": sd.zeros(), "constant": sd.constant(sp.Rational(1, 4)), "generic": sd.generic()}
NETS = [([3, 3], "tanh"), ([3, 2, 3], "sigmoid"), ([2, 2, 2, 3], "tanh"), ([2, 2, 2, 2, 3], "sigmoid")]


# ---------------------------------------------------------------- (a) linear laws
@pytest.mark.parametrize("sizes,act", NETS)
@pytest.mark.parametrize("init", list(INITS))
def test_softmax_shift_laws(sizes, act, init):
    if len(sizes) == 5 and init == "generic":
        sizes = [2, 2, 1, 2, 3]  # depth 4 with a generic init: a narrow middle keeps the prover fast
    a = analysis(sizes, act, INITS[init])
    assert shift_laws(a) <= reported(a)
    for law in a.conserved:
        if law.kind == "linear":
            assert set(law.optimizers) == set(LINEAR_OPTIMIZERS) and "Adam" not in law.optimizers
            assert law.gradient_flow
    assert a.conservation.linear.complete is True
    assert a.to_dict()["conserved"] == [law.to_dict() for law in a.conserved]


@pytest.mark.parametrize("sizes,act", NETS[:3])
@pytest.mark.parametrize("init", list(INITS))
def test_linear_laws_on_torch_trajectories(sizes, act, init):
    a = analysis(sizes, act, INITS[init])
    net = a.net
    params = params_from_init(net, INITS[init], seed=3, values={})
    X, Y = random_data(net, 5, seed=4)
    exprs = sorted(reported(a), key=str)
    assert exprs
    for optimizer, kw in [("sgd", {}), ("momentum", {}), ("nesterov", {}), ("sgd", {"batch_size": 2})]:
        traj = torch_trajectory(net, params, X, Y, optimizer=optimizer, steps=12, lr=0.3, **kw)
        for e in exprs:
            start = value(e, traj.params[0])
            for p in traj.params[1:]:
                assert abs(value(e, p) - start) <= 1e-12 * max(1.0, scale(e, p))


def test_adam_breaks_the_bias_sum():
    """Adam's first step is ∓lr per coordinate (m/√v = g/|g|): with y one-hot the deltas at zero init are
    (−2/3, 1/3, 1/3), so the bias sum moves by −lr·(−1 + 1 + 1) = −lr, certainly not 0."""
    a = analysis([3, 3], "tanh", sd.zeros())
    law = next(law for law in a.conserved if str(law.expression) == "b1_1 + b1_2 + b1_3")
    assert "Adam" not in law.optimizers and "RMSProp" not in law.optimizers
    params = params_from_init(a.net, sd.zeros())
    X, Y = np.array([[1.0, -2.0, 0.5]]), np.array([[1.0, 0.0, 0.0]])
    traj = torch_trajectory(a.net, params, X, Y, optimizer="adam", steps=1, lr=0.01)
    assert abs(value(law.expression, traj.params[1]) - (-0.01)) < 1e-6
    sgd = torch_trajectory(a.net, params, X, Y, optimizer="sgd", steps=1, lr=0.01)
    assert abs(value(law.expression, sgd.params[1])) < 1e-15


def test_weight_decay_scales_a_linear_law_exactly():
    """SGD with L2 decay λ at step η: c·θ_t = (1 − ηλ)^t c·θ_0."""
    a = analysis([3, 2, 3], "sigmoid", sd.generic())
    params = params_from_init(a.net, sd.generic(), seed=1)
    X, Y = random_data(a.net, 4, seed=2)
    lr, wd = 0.2, 0.05
    traj = torch_trajectory(a.net, params, X, Y, optimizer="sgd", steps=10, lr=lr, weight_decay=wd)
    for e in reported(a):
        start = value(e, traj.params[0])
        for t, p in enumerate(traj.params):
            assert abs(value(e, p) - (1 - lr * wd) ** t * start) <= 1e-12 * max(1.0, scale(e, p))


def test_mse_has_no_linear_law():
    """Wrong things are rejected: squared error has no shift invariance, and the search says so completely."""
    a = analysis([2, 2, 2], "tanh", sd.generic(), loss="mean_squared_error")
    assert not [law for law in a.conserved if law.kind == "linear"]
    assert a.conservation.linear.complete is True


def test_linear_completeness_against_brute_force():
    """The number of independent vectors c with Σ c_k ∇_k ℓ = 0 at many float points (SVD) equals the count."""
    a = analysis([2, 2, 2], "relu", sd.generic())
    net = a.net
    names = net.parameter_names()
    rows = []
    for seed in range(30):
        params = params_from_init(net, sd.generic(), seed=100 + seed)
        X, Y = random_data(net, 1, seed=200 + seed)
        g = gradients(net, params, X, Y)
        rows.append(np.concatenate([g[n].ravel() for n in names]))
    s = np.linalg.svd(np.array(rows), compute_uv=False)
    rank = int((s > 1e-9 * s[0]).sum())
    assert len([law for law in a.conserved if law.kind == "linear"]) == len(rows[0]) - rank == 3
    assert a.conservation.linear.rank == rank


# ---------------------------------------------------------------- (b) signed ties
@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
@pytest.mark.parametrize("optimizer,kw", [("sgd", {}), ("adam", {}), ("adamw", {"weight_decay": 0.1}),
                                          ("rmsprop", {}), ("momentum", {"weight_decay": 0.01})])
def test_two_class_signed_ties_on_torch(act, optimizer, kw):
    a = analysis([3, 2, 2], act, sd.zeros())
    groups = a.signed_ties.groups
    labels = {tuple(g.to_dict(a.proof)["classes"]) for g in groups}
    assert ("b2[1]", "b2[2]") in labels
    if act == "sigmoid":
        assert ("W2[1, 1..2]", "W2[2, 1..2]") in labels
        assert a.to_dict()["parameters"]["W2"]["tie_sign"] == [[1, 1], [-1, -1]]
    assert all(optimizer_name in g.to_dict(a.proof)["optimizers"] for g in groups
               for optimizer_name in ("SGD", "Adam"))
    params = params_from_init(a.net, sd.zeros())
    X, Y = random_data(a.net, 6, seed=5)
    traj = torch_trajectory(a.net, params, X, Y, optimizer=optimizer, steps=15, lr=0.05, **kw)
    last = traj.params[-1]
    for name in ("W2", "b2"):
        top, bottom = last[name][0], last[name][1]
        # exact in exact arithmetic; in floats the residue of p_1 + p_2 = 1 (~1e-16), divided by |g| under
        # Adam/RMSProp: far below 1e-12 relative to the step size for these data
        assert np.all(np.abs(top + bottom) <= 1e-12 * (np.abs(top) + 0.05))
    assert np.any(np.abs(last["b2"]) > 1e-3)  # the ties are not vacuous: b2 moved


def test_signed_tie_candidate_refuted_with_witness():
    """Squared error: b2 = (1, −1) starts as negatives, but the targets break the symmetry: split, certified."""
    net = sd.mlp([2, 2, 2], "tanh", loss="mean_squared_error")
    a = sd.analyze(net, {"W": sd.zeros(), "b1": sd.zeros(), "b2": [1, -1]})
    result = signed_ties(a.proof)
    assert not result.groups
    assert result.splits and result.splits[0][1] is not None


def test_three_classes_have_no_signed_ties():
    assert not analysis([3, 2, 3], "sigmoid", sd.zeros()).signed_ties.groups


# ---------------------------------------------------------------- (c) quadratic laws
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "identity"])
@pytest.mark.parametrize("bias", [True, False])
def test_balancedness_one_law_per_hidden_unit(act, bias):
    a = analysis([2, 3, 2], act, sd.generic(), bias=bias)
    quad = [law for law in a.conserved if law.kind == "quadratic"]
    assert len(quad) == 3
    assert all(law.gradient_flow and not law.optimizers for law in quad)
    params = params_from_init(a.net, sd.generic(), seed=7)
    X, Y = random_data(a.net, 4, seed=8)
    lr = 0.1
    traj = torch_trajectory(a.net, params, X, Y, optimizer="sgd", steps=6, lr=lr)
    for law in quad:
        q = law.expression
        for p0, p1 in zip(traj.params, traj.params[1:]):
            g = torch_gradients(a.net, p0, X, Y)
            predicted = lr ** 2 * value(q, g)
            assert abs((value(q, p1) - value(q, p0)) - predicted) <= 1e-10 * abs(predicted) + 1e-13 * scale(q, p0)
    # a wrong quadratic form (outgoing weights not subtracted) drifts at first order
    q = quad[0].expression
    plus = q.xreplace({s: sp.I * s for s in q.free_symbols if s.name.startswith("W2")})  # −w² -> +w²
    g = torch_gradients(a.net, traj.params[0], X, Y)
    drift = value(plus, traj.params[1]) - value(plus, traj.params[0]) - lr ** 2 * value(plus, g)
    assert abs(drift) > 1e-6


def test_no_balancedness_for_tanh():
    a = analysis([2, 3, 2], "tanh", sd.generic())
    assert not [law for law in a.conserved if law.kind == "quadratic"]
    assert not euler_identity_holds(a.net.activation_of(1))
    assert euler_identity_holds(sd.mlp([2, 2, 2], "relu").activation_of(1))


def test_quadratic_count_against_brute_force():
    """Independent symmetric Q with θᵀQ∇ℓ = 0 at many float points: 2 balancedness + 6 products of the 3
    linear laws = 8, and the search certifies that nothing else exists."""
    a = analysis([2, 2, 2], "relu", sd.generic())
    cons = conservation_laws(a.proof)
    net = a.net
    names = net.parameter_names()
    m = sum(int(np.prod(net.shape(n))) for n in names)
    pairs = [(i, j) for i in range(m) for j in range(i, m)]
    rows = []
    for seed in range(len(pairs) + 20):
        params = params_from_init(net, sd.generic(), seed=300 + seed)
        X, Y = random_data(net, 1, seed=600 + seed)
        g = gradients(net, params, X, Y)
        t = np.concatenate([params[n].ravel() for n in names])
        gv = np.concatenate([g[n].ravel() for n in names])
        rows.append([t[i] * gv[j] + t[j] * gv[i] if i != j else t[i] * gv[i] for i, j in pairs])
    s = np.linalg.svd(np.array(rows), compute_uv=False)
    rank = int((s > 1e-9 * s[0]).sum())
    assert len(pairs) - rank == 8 == cons.quadratic.dimension
    assert cons.quadratic.complete is True and cons.quadratic.rank == rank


def test_symbolic_width_balancedness():
    a = analysis([3, "n", 2], "relu", sd.constant(1))
    quad = [law for law in a.conserved if law.kind == "quadratic"]
    assert len(quad) == 1 and dict(quad[0].for_each) == {"i": "1..n"} and quad[0].count == "n"


# ---------------------------------------------------------------- the null space
def test_null_space_finds_exactly_the_rational_kernel():
    rng = np.random.default_rng(0)
    base = rng.integers(-5, 6, size=(12, 3)).astype(float)
    # columns: a, b, c, a + b, 2c − a/3
    cols = [base[:, 0], base[:, 1], base[:, 2], base[:, 0] + base[:, 1], 2 * base[:, 2] - base[:, 0] / 3]
    A = [[as_arb(Fraction(x).limit_denominator(3)) for x in row] for row in np.array(cols).T]
    ns = null_space(A)
    assert ns.rank_certified and ns.pivots == (0, 1, 2)
    vecs = dict(ns.candidates)
    assert vecs[3] == (-1, -1, 0, 1, 0)
    assert vecs[4] == (Fraction(1, 3), 0, -2, 0, 1)


# ---------------------------------------------------------------- property: no law is broken
@settings(max_examples=6)
@given(sizes=st.sampled_from([[2, 2], [2, 2, 2], [2, 3, 2], [3, 2, 3], [2, 2, 2, 2]]),
       act=st.sampled_from(["tanh", "relu", "sigmoid", "leaky_relu", "identity"]),
       init=st.sampled_from(list(INITS)),
       optimizer=st.sampled_from(["sgd", "momentum", "nesterov", "adam", "rmsprop"]),
       seed=st.integers(0, 1000))
def test_no_reported_law_is_broken(sizes, act, init, optimizer, seed):
    a = analysis(sizes, act, INITS[init])
    params = params_from_init(a.net, INITS[init], seed=seed)
    X, Y = random_data(a.net, 3, seed=seed + 1)
    traj = torch_trajectory(a.net, params, X, Y, optimizer=optimizer, steps=8, lr=0.05)
    names = {"sgd": "SGD", "momentum": "SGD with momentum", "nesterov": "Nesterov", "adam": "Adam",
             "rmsprop": "RMSProp"}
    for law in a.conserved:
        if names[optimizer] not in law.optimizers:
            continue
        for e in instances(law):
            start = value(e, traj.params[0])
            for p in traj.params[1:]:
                assert abs(value(e, p) - start) <= 1e-12 * max(1.0, scale(e, p))
    # signed ties rest on an exact cancellation (p_1 + p_2 = 1): in floats a rounding residue of the
    # gradient, which SGD-type updates carry over unamplified (bounded by lr·|g|·1e-15 per step), whereas
    # Adam/RMSProp divide it by |g| (checked on fixed data in test_two_class_signed_ties_on_torch)
    if names[optimizer] in LINEAR_OPTIMIZERS and names[optimizer] in ODD_OPTIMIZERS:
        for g in a.signed_ties.groups:
            lead = a.proof.classes[g.members[0][0]][0]
            for k, s in g.members[1:]:
                b = a.proof.classes[k][0]
                for p in traj.params[1:]:
                    x, y = _entry(a, lead, p), _entry(a, b, p)
                    assert abs(y - s * x) <= 1e-12 * (abs(x) + 0.05)


def _entry(a, b, params) -> float:
    part = a.proof.partition
    i = part.classes[b.layer][b.row].first
    if b.kind == "b":
        return float(params[b.param][i])
    return float(params[b.param][i, part.classes[b.layer - 1][b.col].first])


def test_json_is_deterministic():
    net = sd.mlp([3, 2, 2], "sigmoid")
    assert sd.analyze(net, sd.zeros()).to_json() == sd.analyze(net, sd.zeros()).to_json()
