"""Issue 18: backward passes of standalone layers (BatchNorm, LayerNorm, softmax, attention).

Every expected verdict here is set independently of symderiv: each claim comes with a NumPy
transcription of its right side, and the claim is right exactly when that transcription agrees with
central finite differences of ``⟨dout, y⟩`` (the layer's forward pass in NumPy, at random inputs,
parameters and upstream gradient) by the quantity on its left.  The label written next to each
claim ("right"/"wrong") is asserted to be what the finite differences say, so a mistaken test case
fails here rather than passing silently.  The checker must prove every right claim and refute every
wrong one (0 wrong verdicts)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symderiv as sd
from symderiv.claims import check, cli_check
from symderiv.claims.layers import attention, batchnorm, layernorm, parse_layer, softmax
from symderiv.errors import ClaimNameError, InvalidArgument, SymderivError

N, D = 3, 2  # the layers' default sizes (batch × features; tokens × dim)
K = 3        # softmax's default size
_H = 1e-6


# ---------------------------------------------------------------- NumPy ground truth
def _fd(f, v: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    """Central differences of ⟨upstream, f(v)⟩ by every entry of ``v``."""
    g = np.zeros_like(v)
    for idx in np.ndindex(v.shape):
        e = np.zeros_like(v)
        e[idx] = _H
        g[idx] = (np.sum(upstream * f(v + e)) - np.sum(upstream * f(v - e))) / (2 * _H)
    return g


def _norm_context(axis: int, seed: int) -> dict:
    """BatchNorm (axis 0) or LayerNorm (axis 1) at random values: forward nodes and finite-difference gradients."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D))
    gamma, beta = rng.normal(size=D), rng.normal(size=D)
    eps = 0.3
    dout = rng.normal(size=(N, D))

    def stats(x, mu=None):
        mu = x.mean(axis=axis, keepdims=True) if mu is None else mu
        return mu, ((x - mu) ** 2).mean(axis=axis, keepdims=True)

    mu, var = stats(x)
    xhat = (x - mu) / np.sqrt(var + eps)
    c = dict(x=x, gamma=gamma, beta=beta, eps=eps, dout=dout, mu=mu, var=var, xhat=xhat, N=N, D=D,
             istd=1 / np.sqrt(var + eps), xmu=x - mu)
    c["dx"] = _fd(lambda v: gamma * (v - stats(v)[0]) / np.sqrt(stats(v)[1] + eps) + beta, x, dout)
    c["dgamma"] = _fd(lambda g: g * xhat + beta, gamma, dout)
    c["dbeta"] = _fd(lambda b: gamma * xhat + b, beta, dout)
    c["dxhat"] = _fd(lambda h: gamma * h + beta, xhat, dout)
    c["dvar"] = _fd(lambda s: gamma * (x - mu) / np.sqrt(s + eps) + beta, var, dout)
    c["dmu"] = _fd(lambda m: gamma * (x - m) / np.sqrt(stats(x, m)[1] + eps) + beta, mu, dout)
    return c


def _row_softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _attention_context(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    q, k, v, do = (rng.normal(size=(N, D)) for _ in range(4))
    s = q @ k.T / np.sqrt(D)
    p = _row_softmax(s)
    c = dict(Q=q, K=k, V=v, dO=do, S=s, P=p, O=p @ v, d=D)
    c["dQ"] = _fd(lambda a: _row_softmax(a @ k.T / np.sqrt(D)) @ v, q, do)
    c["dK"] = _fd(lambda a: _row_softmax(q @ a.T / np.sqrt(D)) @ v, k, do)
    c["dV"] = _fd(lambda a: p @ a, v, do)
    c["dS"] = _fd(lambda a: _row_softmax(a) @ v, s, do)
    c["dP"] = _fd(lambda a: a @ v, p, do)
    return c


def _softmax_context(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    z, dp = rng.normal(size=K), rng.normal(size=K)
    p = _row_softmax(z)
    c = dict(z=z, p=p, dp=dp)
    c["dz"] = _fd(_row_softmax, z, dp)
    c["J"] = np.array([[(_row_softmax(z + _H * np.eye(K)[j])[i] - _row_softmax(z - _H * np.eye(K)[j])[i]) / (2 * _H)
                        for j in range(K)] for i in range(K)])
    return c


def _agrees(truth: np.ndarray, claimed) -> bool:
    claimed = np.asarray(claimed, dtype=float)
    if claimed.size != truth.size or (claimed.ndim == 2 and truth.ndim == 2 and claimed.shape != truth.shape
                                      and 1 not in truth.shape):
        return False  # a sum over the wrong axis: a different shape (a vector's orientation aside)
    return bool(np.allclose(claimed.reshape(truth.shape), truth, rtol=1e-5, atol=1e-6))


# ---------------------------------------------------------------- the claims: (label, text, truth, NumPy transcription)
def _sum0(a):
    return a.sum(axis=0)


BATCHNORM = [
    ("right", "dbeta = np.sum(dout, axis=0)", "dbeta", lambda c: _sum0(c["dout"])),
    ("right", "dgamma = np.sum(dout * x_hat, axis=0)", "dgamma", lambda c: _sum0(c["dout"] * c["xhat"])),
    ("right", "dx = (1/N) * gamma * (var + eps)**-0.5 * (N*dout - np.sum(dout, axis=0) - x_hat*np.sum(dout*x_hat, axis=0))",
     "dx", lambda c: (1 / N) * c["gamma"] * (c["var"] + c["eps"]) ** -0.5
     * (N * c["dout"] - _sum0(c["dout"]) - c["xhat"] * _sum0(c["dout"] * c["xhat"]))),
    ("right", r"\frac{\partial \ell}{\partial \hat{x}_i} = \frac{\partial \ell}{\partial y_i} \cdot \gamma", "dxhat",
     lambda c: c["dout"] * c["gamma"]),
    ("right", r"\frac{\partial \ell}{\partial \sigma_B^2} = \sum_{i=1}^m \frac{\partial \ell}{\partial \hat{x}_i} "
              r"\cdot (x_i - \mu_B) \cdot \frac{-1}{2} (\sigma_B^2 + \epsilon)^{-3/2}", "dvar",
     lambda c: _sum0(c["dout"] * c["gamma"] * (c["x"] - c["mu"])) * -0.5 * (c["var"] + c["eps"]) ** -1.5),
    ("right", r"\frac{\partial \ell}{\partial \mu_B} = \left(\sum_{i=1}^m \frac{\partial \ell}{\partial \hat{x}_i} \cdot "
              r"\frac{-1}{\sqrt{\sigma_B^2 + \epsilon}}\right) + \frac{\partial \ell}{\partial \sigma_B^2} \cdot "
              r"\frac{\sum_{i=1}^m -2(x_i - \mu_B)}{m}", "dmu",
     lambda c: _sum0(-c["dout"] * c["gamma"] / np.sqrt(c["var"] + c["eps"]))
     + c["dvar"] * _sum0(-2 * (c["x"] - c["mu"])) / N),
    ("right", r"\frac{\partial L}{\partial \gamma} = \sum_{i=1}^N \frac{\partial L}{\partial y_i} \odot \hat{x}_i",
     "dgamma", lambda c: _sum0(c["dout"] * c["xhat"])),
    ("right", r"d\beta = \mathbf{1}^\top dY", "dbeta", lambda c: _sum0(c["dout"])),
    ("right", "dx = (gamma / np.sqrt(var + eps)) * (dout - np.mean(dout, axis=0) - x_hat * np.mean(dout * x_hat, axis=0))",
     "dx", lambda c: c["gamma"] / np.sqrt(c["var"] + c["eps"])
     * (c["dout"] - c["dout"].mean(axis=0) - c["xhat"] * (c["dout"] * c["xhat"]).mean(axis=0))),
    # realistic mistakes
    ("wrong", "dbeta = np.sum(dout, axis=1)", "dbeta", lambda c: c["dout"].sum(axis=1)),  # wrong axis
    ("wrong", "dgamma = np.sum(dout * x, axis=0)", "dgamma", lambda c: _sum0(c["dout"] * c["x"])),  # x for x_hat
    ("wrong", "dx = gamma * (var + eps)**-0.5 * (N*dout - np.sum(dout, axis=0) - x_hat*np.sum(dout*x_hat, axis=0))",
     "dx", lambda c: c["gamma"] * (c["var"] + c["eps"]) ** -0.5
     * (N * c["dout"] - _sum0(c["dout"]) - c["xhat"] * _sum0(c["dout"] * c["xhat"]))),  # missing 1/N
    ("wrong", r"\frac{\partial \ell}{\partial \sigma_B^2} = \sum_{i=1}^m \frac{\partial \ell}{\partial \hat{x}_i} "
              r"\cdot (x_i - \mu_B) \cdot \frac{1}{2} (\sigma_B^2 + \epsilon)^{-3/2}", "dvar",
     lambda c: _sum0(c["dout"] * c["gamma"] * (c["x"] - c["mu"])) * 0.5 * (c["var"] + c["eps"]) ** -1.5),  # sign
    ("wrong", r"\frac{\partial L}{\partial \beta} = \frac{1}{N}\sum_{i=1}^N \frac{\partial L}{\partial y_i}", "dbeta",
     lambda c: _sum0(c["dout"]) / N),  # a spurious 1/N
    ("wrong", r"\frac{\partial L}{\partial \gamma} = \frac{\partial L}{\partial y_i} \hat{x}_i", "dgamma",
     lambda c: c["dout"][0] * c["xhat"][0]),  # missing Σ (at i = 1)
    ("wrong", "dvar = np.sum(dxhat * xmu, axis=0) * -0.5 * (var + eps)**(-0.5)", "dvar",
     lambda c: _sum0(c["dxhat"] * c["xmu"]) * -0.5 * (c["var"] + c["eps"]) ** -0.5),  # wrong exponent
]

LAYERNORM = [
    ("right", "dbeta = np.sum(dout, axis=0)", "dbeta", lambda c: _sum0(c["dout"])),
    ("right", "dgamma = np.sum(dout * x_hat, axis=0)", "dgamma", lambda c: _sum0(c["dout"] * c["xhat"])),
    ("right", "dx = (1/D) * istd * (D*dout*gamma - np.sum(dout*gamma, axis=1, keepdims=True) "
              "- x_hat*np.sum(dout*gamma*x_hat, axis=1, keepdims=True))", "dx",
     lambda c: (1 / D) * c["istd"] * (D * c["dout"] * c["gamma"] - (c["dout"] * c["gamma"]).sum(axis=1, keepdims=True)
                                      - c["xhat"] * (c["dout"] * c["gamma"] * c["xhat"]).sum(axis=1, keepdims=True))),
    ("right", r"\frac{\partial L}{\partial \hat{x}_{ij}} = \frac{\partial L}{\partial y_{ij}} \gamma_j", "dxhat",
     lambda c: c["dout"] * c["gamma"]),
    ("right", r"\frac{\partial L}{\partial \sigma^2} = \sum_{i=1}^D \frac{\partial L}{\partial \hat{x}_i} (x_i - \mu) "
              r"\left(-\frac{1}{2}\right) (\sigma^2+\epsilon)^{-3/2}", "dvar",
     lambda c: (c["dxhat"] * (c["x"] - c["mu"])).sum(axis=1, keepdims=True) * -0.5 * (c["var"] + c["eps"]) ** -1.5),
    ("right", r"\frac{\partial L}{\partial \mu} = -\frac{1}{\sqrt{\sigma^2+\epsilon}}\sum_{i=1}^D "
              r"\frac{\partial L}{\partial \hat{x}_i}", "dmu",
     lambda c: -(c["dxhat"]).sum(axis=1, keepdims=True) / np.sqrt(c["var"] + c["eps"])),
    ("wrong", "dbeta = np.sum(dout, axis=1)", "dbeta", lambda c: c["dout"].sum(axis=1)),  # the other layer's axis
    ("wrong", "dgamma = np.sum(dout * x_hat, axis=1)", "dgamma", lambda c: (c["dout"] * c["xhat"]).sum(axis=1)),
    ("wrong", "dx = istd * (D*dout*gamma - np.sum(dout*gamma, axis=1, keepdims=True) "
              "- x_hat*np.sum(dout*gamma*x_hat, axis=1, keepdims=True))", "dx",
     lambda c: c["istd"] * (D * c["dout"] * c["gamma"] - (c["dout"] * c["gamma"]).sum(axis=1, keepdims=True)
                            - c["xhat"] * (c["dout"] * c["gamma"] * c["xhat"]).sum(axis=1, keepdims=True))),  # 1/D
    ("wrong", "dx = (1/D) * istd * (D*dout*gamma - np.sum(dout*gamma, axis=0) - x_hat*np.sum(dout*gamma*x_hat, axis=0))",
     "dx", lambda c: (1 / D) * c["istd"] * (D * c["dout"] * c["gamma"] - _sum0(c["dout"] * c["gamma"])
                                           - c["xhat"] * _sum0(c["dout"] * c["gamma"] * c["xhat"]))),  # BN's axis
    ("wrong", r"\frac{\partial L}{\partial \mu} = \frac{1}{\sqrt{\sigma^2+\epsilon}}\sum_{i=1}^D "
              r"\frac{\partial L}{\partial \hat{x}_i}", "dmu",
     lambda c: (c["dxhat"]).sum(axis=1, keepdims=True) / np.sqrt(c["var"] + c["eps"])),  # sign
    ("wrong", r"\frac{\partial L}{\partial \hat{x}_{ij}} = \frac{\partial L}{\partial y_{ij}}", "dxhat",
     lambda c: c["dout"]),  # missing γ
]

ATTENTION = [
    ("right", "dV = P.T @ dO", "dV", lambda c: c["P"].T @ c["dO"]),
    ("right", "dP = dO @ V.T", "dP", lambda c: c["dO"] @ c["V"].T),
    ("right", "dS = P * (dP - np.sum(dP * P, axis=1, keepdims=True))", "dS",
     lambda c: c["P"] * (c["dP"] - (c["dP"] * c["P"]).sum(axis=1, keepdims=True))),
    ("right", r"dQ = \frac{1}{\sqrt{d}} dS\, K", "dQ", lambda c: c["dS"] @ c["K"] / np.sqrt(D)),
    ("right", r"\frac{\partial L}{\partial K} = \frac{dS^\top Q}{\sqrt{d}}", "dK", lambda c: c["dS"].T @ c["Q"] / np.sqrt(D)),
    ("right", r"\frac{\partial L}{\partial V} = P^\top \frac{\partial L}{\partial O}", "dV", lambda c: c["P"].T @ c["dO"]),
    ("right", r"dS_{ij} = P_{ij} \left(dP_{ij} - \sum_k dP_{ik} P_{ik}\right)", "dS",
     lambda c: c["P"] * (c["dP"] - (c["dP"] * c["P"]).sum(axis=1, keepdims=True))),
    ("wrong", "dV = P @ dO", "dV", lambda c: c["P"] @ c["dO"]),  # missing transpose
    ("wrong", "dQ = dS @ K", "dQ", lambda c: c["dS"] @ c["K"]),  # missing 1/√d
    ("wrong", "dK = dS @ Q / np.sqrt(d)", "dK", lambda c: c["dS"] @ c["Q"] / np.sqrt(D)),  # missing transpose
    ("wrong", "dS = P * (dP - np.sum(dP * P, axis=0))", "dS",
     lambda c: c["P"] * (c["dP"] - (c["dP"] * c["P"]).sum(axis=0))),  # wrong axis
    ("wrong", r"dS = P \odot dP", "dS", lambda c: c["P"] * c["dP"]),  # missing the row-sum term
    ("wrong", r"dS_{ij} = P_{ij} \left(dP_{ij} + \sum_k dP_{ik} P_{ik}\right)", "dS",
     lambda c: c["P"] * (c["dP"] + (c["dP"] * c["P"]).sum(axis=1, keepdims=True))),  # sign
]

SOFTMAX = [
    ("right", "dz = p * (dp - np.dot(dp, p))", "dz", lambda c: c["p"] * (c["dp"] - c["dp"] @ c["p"])),
    ("right", "dz = p * dp - p * np.sum(p * dp)", "dz", lambda c: c["p"] * c["dp"] - c["p"] * np.sum(c["p"] * c["dp"])),
    ("right", r"\frac{\partial L}{\partial z} = (\mathrm{diag}(p) - p p^\top) \frac{\partial L}{\partial p}", "dz",
     lambda c: (np.diag(c["p"]) - np.outer(c["p"], c["p"])) @ c["dp"]),
    ("right", r"\frac{\partial L}{\partial z_i} = p_i \left(\frac{\partial L}{\partial p_i} - \sum_j "
              r"\frac{\partial L}{\partial p_j} p_j\right)", "dz", lambda c: c["p"] * (c["dp"] - c["dp"] @ c["p"])),
    ("right", r"\frac{\partial L}{\partial z} = p \odot \left(\frac{\partial L}{\partial p} - \frac{\partial L}{\partial p} "
              r"\cdot p\right)", "dz", lambda c: c["p"] * (c["dp"] - c["dp"] @ c["p"])),
    ("right", r"\frac{\partial p_i}{\partial z_j} = p_i(\delta_{ij} - p_j)", "J",
     lambda c: np.diag(c["p"]) - np.outer(c["p"], c["p"])),
    ("wrong", "dz = p * (dp - p)", "dz", lambda c: c["p"] * (c["dp"] - c["p"])),  # the dot product dropped
    ("wrong", "dz = p * (dp + np.dot(dp, p))", "dz", lambda c: c["p"] * (c["dp"] + c["dp"] @ c["p"])),  # sign
    ("wrong", r"\frac{\partial L}{\partial z} = (\mathrm{diag}(p) + p p^\top) \frac{\partial L}{\partial p}", "dz",
     lambda c: (np.diag(c["p"]) + np.outer(c["p"], c["p"])) @ c["dp"]),
    ("wrong", r"\frac{\partial L}{\partial z_i} = p_i \frac{\partial L}{\partial p_i} - \sum_j "
              r"\frac{\partial L}{\partial p_j} p_j", "dz", lambda c: c["p"] * c["dp"] - c["dp"] @ c["p"]),  # missing p_i
    ("wrong", r"\frac{\partial p_i}{\partial z_j} = p_i(1 - p_j)", "J",
     lambda c: np.outer(c["p"], 1 - c["p"])),  # the Kronecker delta dropped
    ("wrong", "dz = dp - np.dot(dp, p)", "dz", lambda c: c["dp"] - c["dp"] @ c["p"]),  # missing p ⊙
]

LAYERS = {"batchnorm": (batchnorm(), BATCHNORM, lambda s: _norm_context(0, s)),
          "layernorm": (layernorm(), LAYERNORM, lambda s: _norm_context(1, s)),
          "attention": (attention(), ATTENTION, _attention_context),
          "softmax": (softmax(), SOFTMAX, _softmax_context)}
CASES = [(kind, *case) for kind, (_, cases, _) in LAYERS.items() for case in cases]


def _expected(kind: str, truth: str, transcription) -> str:
    """"right" when the NumPy transcription agrees with the finite differences at three random points."""
    contexts = [LAYERS[kind][2](seed) for seed in (1, 2, 3)]
    return "right" if all(_agrees(c[truth], transcription(c)) for c in contexts) else "wrong"


def test_every_layer_has_six_right_and_six_wrong_claims_in_both_syntaxes():
    for kind, (_, cases, _) in LAYERS.items():
        labels = [label for label, *_ in cases]
        assert labels.count("right") >= 6 and labels.count("wrong") >= 6, kind
        assert any("\\" in text for _, text, *_ in cases) and any("np." in text or "@" in text for _, text, *_ in cases)


@pytest.mark.parametrize("kind,label,text,truth,transcription", CASES, ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_layer_claims_get_the_verdict_finite_differences_give(kind, label, text, truth, transcription):
    assert _expected(kind, truth, transcription) == label  # the test case itself is right about the claim
    verdict = check(text, LAYERS[kind][0])
    if label == "right":
        assert verdict.status == "proved", str(verdict)
    else:
        assert verdict.status == "refuted", str(verdict)
        link = verdict.links[verdict.first_wrong_link - 1]
        assert link.counterexample is not None or "shapes" in link.reason


def test_the_models_gradients_agree_with_finite_differences():
    """The truth symderiv compares claims with (sympy.diff of the forward pass) against NumPy's finite differences."""
    import sympy as sp

    from symderiv.claims.layer_models import build_model

    c = _norm_context(0, 7)
    m = build_model("batchnorm", (N, D))
    values = {s: c["x"][int(s.name[2]) - 1, int(s.name[4]) - 1] for s in m.inputs["x"]}  # x[i,j]: 1-based names
    values.update({s: c["dout"][int(s.name[3]) - 1, int(s.name[5]) - 1] for s in m.upstream})
    values.update({s: c["gamma"][k] for k, s in enumerate(m.inputs["gamma"])})
    values.update({s: c["beta"][k] for k, s in enumerate(m.inputs["beta"])})
    values[m.inputs["eps"][0]] = c["eps"]
    for name, key in (("x", "dx"), ("gamma", "dgamma"), ("var", "dvar"), ("mu", "dmu"), ("xhat", "dxhat")):
        got = np.array(m.grad(name).xreplace({k: sp.Float(float(v)) for k, v in values.items()}), dtype=float)
        assert np.allclose(got.reshape(np.shape(c[key])), c[key], rtol=1e-5, atol=1e-6), name
    a = _attention_context(7)
    m = build_model("attention", (N, D))
    values = {}
    for name in ("Q", "K", "V"):
        values.update({s: a[name][k // D, k % D] for k, s in enumerate(m.inputs[name])})
    values.update({s: a["dO"][k // D, k % D] for k, s in enumerate(m.upstream)})
    for name in ("Q", "K", "V", "S", "P"):
        got = np.array(m.grad(name).xreplace({k: sp.Float(float(v)) for k, v in values.items()}), dtype=float)
        assert np.allclose(got, a["d" + name], rtol=1e-5, atol=1e-6), name


BATCHNORM_PAPER = r"""\begin{align}
\frac{\partial \ell}{\partial \hat{x}_i} &= \frac{\partial \ell}{\partial y_i} \cdot \gamma \\
\frac{\partial \ell}{\partial \sigma_B^2} &= \sum_{i=1}^m \frac{\partial \ell}{\partial \hat{x}_i} \cdot (x_i - \mu_B) \cdot \frac{-1}{2} (\sigma_B^2 + \epsilon)^{-3/2} \\
\frac{\partial \ell}{\partial \mu_B} &= \left(\sum_{i=1}^m \frac{\partial \ell}{\partial \hat{x}_i} \cdot \frac{-1}{\sqrt{\sigma_B^2 + \epsilon}}\right) + \frac{\partial \ell}{\partial \sigma_B^2} \cdot \frac{\sum_{i=1}^m -2(x_i - \mu_B)}{m} \\
\frac{\partial \ell}{\partial x_i} &= \frac{\partial \ell}{\partial \hat{x}_i} \cdot \frac{1}{\sqrt{\sigma_B^2 + \epsilon}} + \frac{\partial \ell}{\partial \sigma_B^2} \cdot \frac{2(x_i - \mu_B)}{m} + \frac{\partial \ell}{\partial \mu_B} \cdot \frac{1}{m} \\
\frac{\partial \ell}{\partial \gamma} &= \sum_{i=1}^m \frac{\partial \ell}{\partial y_i} \cdot \hat{x}_i \\
\frac{\partial \ell}{\partial \beta} &= \sum_{i=1}^m \frac{\partial \ell}{\partial y_i}
\end{align}"""


@pytest.mark.slow  # > 15 s on the loaded 2-core machine (whole derivations)
def test_the_batchnorm_papers_backward_pass_is_proved_and_a_slip_is_named_by_its_line():
    v = check(BATCHNORM_PAPER, batchnorm())
    assert v.status == "proved" and [l.line for l in v.links] == [1, 2, 3, 4, 5, 6]
    slip = BATCHNORM_PAPER.replace(r"\frac{\partial \ell}{\partial \mu_B} \cdot \frac{1}{m}", r"\frac{\partial \ell}{\partial \mu_B}")
    # independently: dropping 1/m from the last term of ∂ℓ/∂x_i changes it by (m-1)/m ∂ℓ/∂μ, which is not 0 here
    c = _norm_context(0, 5)
    assert not np.allclose(c["dmu"], c["dmu"] / N)
    v = check(slip, batchnorm())
    assert v.status == "refuted" and v.first_wrong_link == 4 and v.links[3].line == 4
    assert [l.status for l in v.links] == ["proved"] * 3 + ["refuted"] + ["proved"] * 2


@pytest.mark.slow  # > 15 s on the loaded 2-core machine (whole derivations)
def test_a_numpy_backward_pass_and_a_definition_are_checked_line_by_line():
    code = """dxhat = dout * gamma
dvar = np.sum(dxhat * (x - mu), axis=0) * -0.5 * (var + eps)**-1.5
dmu = np.sum(-dxhat / np.sqrt(var + eps), axis=0) + dvar * np.mean(-2 * (x - mu), axis=0)
dx = dxhat / np.sqrt(var + eps) + dvar * 2 * (x - mu) / N + dmu / N"""
    v = check(code, batchnorm())
    assert v.status == "proved" and len(v.links) == 4
    defined = (r"Let u = \frac{1}{\sqrt{\sigma^2+\epsilon}}" "\n"
               r"\frac{\partial L}{\partial x_i} = \frac{\gamma u}{m}\left(m\frac{\partial L}{\partial y_i} - "
               r"\sum_{j=1}^m \frac{\partial L}{\partial y_j} - \hat{x}_i\sum_{j=1}^m \frac{\partial L}{\partial y_j}"
               r"\hat{x}_j\right)")
    v = check(defined, batchnorm())
    assert v.status == "proved" and any("defines u" in n for n in v.notes)


STAGED = """dbeta = np.sum(dout, axis=0)
dgammax = dout
dgamma = np.sum(dgammax*xhat, axis=0)
dxhat = dgammax * gamma
divar = np.sum(dxhat*xmu, axis=0)
dxmu1 = dxhat * ivar
dsqrtvar = -1. /(sqrtvar**2) * divar
dvar = 0.5 * 1. /np.sqrt(var+eps) * dsqrtvar
dsq = 1. /N * dvar
dxmu2 = 2 * xmu * dsq
dx1 = (dxmu1 + dxmu2)
dmu = -1 * np.sum(dxmu1+dxmu2, axis=0)
dx2 = 1. /N * dmu
dx = dx1 + dx2"""


@pytest.mark.slow  # two 14-line derivations (about 15 s of checking on an idle machine)
def test_staged_backward_code_defines_its_own_names_and_checks_the_layers():
    """The computational-graph backward pass as code (one node per line): assignments to names the layer does not
    have (dxmu1, dsq, dx1) define them; the lines about the layer's own gradients are checked."""
    v = check(STAGED, batchnorm())
    assert v.status == "proved" and len(v.links) == 8
    assert any(n.startswith("line 6 defines dxmu1") for n in v.notes)
    c = _norm_context(0, 6)  # independently: dx1 - dx2 is not the gradient
    xmu, ivar = c["xmu"], c["istd"]
    dx1 = c["dxhat"] * ivar + 2 * xmu * c["dvar"] / N
    assert _agrees(c["dx"], dx1 + c["dmu"] / N) and not _agrees(c["dx"], dx1 - c["dmu"] / N)
    v = check(STAGED.replace("dx = dx1 + dx2", "dx = dx1 - dx2"), batchnorm())
    assert v.status == "refuted" and v.first_wrong_link == 8 and v.links[7].line == 14


@pytest.mark.slow  # > 15 s on the loaded 2-core machine (whole derivations)
def test_attention_backward_as_numpy_code():
    code = "dV = P.T @ dO\ndP = dO @ V.T\ndS = P * (dP - np.sum(dP * P, axis=1, keepdims=True))\ndQ = dS @ K / np.sqrt(d)"
    v = check(code, attention())
    assert v.status == "proved" and len(v.links) == 4
    v = check(code.replace("dS @ K / np.sqrt(d)", "dS @ K"), attention())
    assert v.status == "refuted" and v.first_wrong_link == 4 and v.counterexample is not None


def test_layernorm_reads_one_subscript_both_ways_and_never_refutes_on_a_reading_not_meant():
    # Σ_i dy_i ⊙ x̂_i sums over the examples (rows): only that reading fits dγ's 1×D shape
    c = _norm_context(1, 4)
    assert _agrees(c["dgamma"], (c["dout"] * c["xhat"]).sum(axis=0))
    v = check(r"\frac{\partial L}{\partial \gamma} = \sum_{i} \frac{\partial L}{\partial y_i} \odot \hat{x}_i", layernorm())
    assert v.status == "proved" and any("example i's row, the only reading that fits" in n for n in v.notes)
    # with γ_i, i is a feature (a column): only that reading fits the index ranges
    v = check(r"\frac{\partial L}{\partial \hat{x}_i} = \frac{\partial L}{\partial y_i} \gamma_i", layernorm())
    assert v.status == "proved" and any("feature i's column" in n for n in v.notes)
    assert check(r"\frac{\partial L}{\partial \hat{x}_i} = \frac{\partial L}{\partial y_i}", layernorm()).status == "refuted"


@settings(max_examples=6)
@given(st.fractions(min_value=-3, max_value=3, max_denominator=4), st.sampled_from(["batchnorm", "layernorm"]))
def test_a_scaled_dgamma_is_proved_exactly_when_the_scale_is_one(scale, kind):
    """A property over a family of claims: c · Σ_n dy_n ⊙ x̂_n is ∂L/∂γ exactly when c = 1 (by finite differences)."""
    c = LAYERS[kind][2](11)
    right = _agrees(c["dgamma"], float(scale) * _sum0(c["dout"] * c["xhat"]))
    assert right == (scale == 1)
    text = f"dgamma = {scale.numerator} / {scale.denominator} * np.sum(dout * x_hat, axis=0)"
    assert check(text, LAYERS[kind][0]).status == ("proved" if right else "refuted")


def test_a_wrong_axis_is_a_shape_refutation_that_says_so():
    v = check("dgamma = np.sum(dout * x_hat, axis=1)", batchnorm())
    assert v.status == "refuted" and "shapes" in v.links[0].reason and "1×2" in v.links[0].reason


def test_the_forward_quantities_read_as_what_they_are():
    for text in (r"\hat{x}_i = \frac{x_i - \mu}{\sqrt{\sigma^2 + \epsilon}}", "var = np.mean((x - mu)**2, axis=0)",
                 r"\mu_B = \frac{1}{m}\sum_{i=1}^m x_i", r"y_i = \gamma \hat{x}_i + \beta"):
        assert check(text, batchnorm()).status == "proved", text
    # σ² is the biased variance: the unbiased one is refuted
    assert check(r"\sigma^2 = \frac{1}{m-1}\sum_{i=1}^m (x_i - \mu)^2", batchnorm()).status == "refuted"


# ---------------------------------------------------------------- never guess: detection and refusals
@pytest.mark.parametrize("text", [
    "dx = (1/N) * gamma * (var + eps)**-0.5 * (N*dout - np.sum(dout, axis=0) - x_hat*np.sum(dout*x_hat, axis=0))",
    r"\frac{\partial L}{\partial \mu} = -\sum_{i=1}^m \frac{\partial L}{\partial \hat{x}_i} \frac{1}{\sqrt{\sigma^2+\epsilon}}",
])
def test_a_normalization_claim_whose_verdict_depends_on_the_layer_is_refused_without_one(text):
    """Right for BatchNorm, not for LayerNorm (independently: the finite differences of the two layers differ)."""
    bn, ln = _norm_context(0, 3), _norm_context(1, 3)
    assert not _agrees(ln["dx"], (1 / N) * ln["gamma"] * (ln["var"] + ln["eps"]) ** -0.5 * (
        N * ln["dout"] - _sum0(ln["dout"]) - ln["xhat"] * _sum0(ln["dout"] * ln["xhat"])))
    assert _agrees(bn["dmu"], -_sum0(bn["dxhat"]) / np.sqrt(bn["var"] + bn["eps"]))
    with pytest.raises(ClaimNameError) as info:
        check(text, sd.mlp([3, 3, 2]))
    message = str(info.value)
    assert "\n" not in message and "depends on the layer" in message
    assert "--layer batchnorm:3x2" in message and "--layer layernorm:3x2" in message


def test_a_claim_that_pins_its_layer_down_is_checked_and_says_what_was_detected():
    v = check("dgamma = np.sum(dout * x_hat, axis=0)", sd.mlp([3, 3, 2]))  # the same under BatchNorm and LayerNorm
    assert v.status == "proved" and v.notes[0].startswith("detected:") and "batchnorm" in v.notes[0] \
        and "layernorm" in v.notes[0]
    v = check("dbeta = np.sum(dout, axis=1)", sd.mlp([3, 3, 2]))
    assert v.status == "refuted" and v.notes[0].startswith("detected:")
    v = check("dV = P.T @ dO", sd.mlp([3, 3, 2]))
    assert v.status == "proved" and "attention" in v.notes[0]


def test_names_of_no_layer_stay_a_refusal_naming_the_layers():
    with pytest.raises(ClaimNameError) as info:
        check("dbeta = dW", sd.mlp([3, 3, 2]))
    assert "--layer batchnorm:3x2" in str(info.value) and "\n" not in str(info.value)


def test_sigma_alone_is_no_quantity_of_a_normalization_layer():
    with pytest.raises(ClaimNameError, match=r"\\sigma\^2"):
        check(r"\frac{\partial L}{\partial \gamma} = \sigma", batchnorm())


def test_names_the_layer_does_not_have_are_refused():
    with pytest.raises(ClaimNameError, match="batchnorm"):
        check("dW = np.sum(dout, axis=0)", batchnorm())
    with pytest.raises(ClaimNameError):
        check("dbeta = dout + p", batchnorm())


def test_layer_specs_and_sizes():
    assert parse_layer("batchnorm:4x3") == batchnorm(batch=4, features=3)
    assert parse_layer("attention") == attention(tokens=3, dim=2)
    assert parse_layer("softmax:4") == softmax(4)
    for bad in ("batchnorm:3x3", "batchnorm:1x2", "conv:3x2", "batchnorm:3", "softmax:9"):
        with pytest.raises(InvalidArgument):
            parse_layer(bad)
    with pytest.raises(InvalidArgument):
        check("dbeta = np.sum(dout, axis=0)", batchnorm(), init=sd.zeros())


def test_other_sizes():
    assert check("dbeta = np.sum(dout, axis=0)", batchnorm(batch=2, features=3)).status == "proved"
    assert check("dV = P.T @ dO", attention(tokens=2, dim=3)).status == "proved"


# ---------------------------------------------------------------- the command line
def test_the_command_line_checks_a_layer(capsys):
    assert cli_check(["--layer", "batchnorm:3x2", "dbeta = np.sum(dout, axis=0)"]) == 0
    assert "PROVED" in capsys.readouterr().out
    assert cli_check(["--layer", "batchnorm:3x2", "--json", "dbeta = np.sum(dout, axis=1)"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "refuted" and out["network"].startswith("batchnorm layer")
    assert cli_check(["--layer", "conv:3x2", "dbeta = np.sum(dout, axis=0)"]) == 2
    assert "batchnorm:NxD" in capsys.readouterr().err
    assert cli_check(["--layer", "layernorm:3x2", "--layers", "3,3", "dbeta = np.sum(dout, axis=0)"]) == 2


def test_verdicts_are_deterministic():
    a = check("dgamma = np.sum(dout * x, axis=0)", batchnorm()).to_json()
    b = check("dgamma = np.sum(dout * x, axis=0)", batchnorm()).to_json()
    assert a == b


def test_bad_input_is_one_line():
    with pytest.raises(SymderivError) as info:
        check("dbeta = np.sum(dout, axis=0", batchnorm())
    assert "\n" not in str(info.value)
