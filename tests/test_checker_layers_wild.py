"""Issue 18, held out: layer backward passes as real sources write them.

CS231n assignment 2 (``batchnorm_backward``, ``batchnorm_backward_alt``), Kratzert's step-by-step
BatchNorm backward pass, Ioffe & Szegedy's equations in LaTeX (``\\mu_\\mathcal{B}``,
``\\sigma^2_\\mathcal{B}``), Karpathy's llm.c LayerNorm backward in torch syntax, Ba et al.'s
LayerNorm, the softmax backward pass and its Jacobian, and the FlashAttention backward pass (with the
scale ``τ = 1/√d`` written where the source writes it; our attention layer's ``S`` includes it), with
realistic mistakes.  Every expected verdict is set independently of symderiv, as in
``tests/test_checker_layers.py``: each checked line comes with a hand NumPy transcription, and the
item is right exactly when every transcription agrees with central finite differences of
``⟨dout, y(x)⟩``.  The checker must prove the right items and refute the wrong ones: a refusal
counts against the score (at most 5 % allowed), a wrong verdict is never allowed."""
from __future__ import annotations

import numpy as np
import pytest

from symderiv.claims import check
from symderiv.claims.layers import attention, batchnorm, layernorm, softmax
from symderiv.errors import SymderivError

from test_checker_layers import D, N, _agrees, _fd, _attention_context, _norm_context, _row_softmax, _softmax_context

K = 3


def _s0(a):
    return a.sum(axis=0)


def _s1(a):
    return a.sum(axis=1, keepdims=True)


def _m1(a):
    return a.mean(axis=1, keepdims=True)


# ---------------------------------------------------------------- CS231n / Kratzert / Ioffe & Szegedy (BatchNorm)
KRATZERT = """#step9
dbeta = np.sum(dout, axis=0)
dgammax = dout #not necessary, but more understandable
#step8
dgamma = np.sum(dgammax*xhat, axis=0)
dxhat = dgammax * gamma
#step7
divar = np.sum(dxhat*xmu, axis=0)
dxmu1 = dxhat * ivar
#step6
dsqrtvar = -1. /(sqrtvar**2) * divar
#step5
dvar = 0.5 * 1. /np.sqrt(var+eps) * dsqrtvar"""


#: Kratzert's steps 4 to 0, with his np.ones((N,D))
KRATZERT_REST = """
#step4
dsq = 1. /N * np.ones((N,D)) * dvar
#step3
dxmu2 = 2 * xmu * dsq
#step2
dx1 = (dxmu1 + dxmu2)
dmu = -1 * np.sum(dxmu1+dxmu2, axis=0)
#step1
dx2 = 1. /N * np.ones((N,D)) * dmu
#step0
dx = dx1 + dx2"""


def _kratzert(c, sign=-1.0):
    """Kratzert's lines, transcribed: [(truth, claimed value)] for every line about the layer's own gradients."""
    std = np.sqrt(c["var"] + c["eps"])
    dxhat = c["dout"] * c["gamma"]
    divar = _s0(dxhat * c["xmu"])
    dsqrtvar = sign / std ** 2 * divar
    return [("dbeta", _s0(c["dout"])), ("dgamma", _s0(c["dout"] * c["xhat"])), ("dxhat", dxhat),
            ("dsqrtvar", dsqrtvar), ("dvar", 0.5 / std * dsqrtvar)]


CS231N_ALT = ("dx = (1. / N) * gamma * (var + eps)**(-1. / 2.) * (N * dout - np.sum(dout, axis=0) - (x - mu) * "
              "(var + eps)**(-1.0) * np.sum(dout * (x - mu), axis=0))")

PAPER_DX = (r"\frac{\partial \ell}{\partial x_i} = \frac{\partial \ell}{\partial \hat{x}_i} \cdot "
            r"\frac{1}{\sqrt{\sigma^2_\mathcal{B}+\epsilon}} + \frac{\partial \ell}{\partial \sigma^2_\mathcal{B}} \cdot "
            r"\frac{2(x_i - \mu_\mathcal{B})}{m} + \frac{\partial \ell}{\partial \mu_\mathcal{B}} \cdot \frac{1}{m}")
PAPER_DVAR = (r"\frac{\partial \ell}{\partial \sigma^2_\mathcal{B}} = \sum_{i=1}^m \frac{\partial \ell}{\partial \hat{x}_i}"
              r" \cdot (x_i - \mu_\mathcal{B}) \cdot \frac{-1}{2}(\sigma^2_\mathcal{B}+\epsilon)^{-3/2}")
PAPER_DMU = (r"\frac{\partial \ell}{\partial \mu_\mathcal{B}} = \sum_{i=1}^m \frac{\partial \ell}{\partial \hat{x}_i} "
             r"\cdot \frac{-1}{\sqrt{\sigma^2_\mathcal{B}+\epsilon}}")


def _bn_dx_alt(c, inv=True):
    v = c["var"] + c["eps"]
    return ((1 / N) * c["gamma"] * v ** -0.5 * (N * c["dout"] - _s0(c["dout"])
                                                - (c["x"] - c["mu"]) * (v ** -1.0 if inv else 1.0)
                                                * _s0(c["dout"] * (c["x"] - c["mu"]))))


BATCHNORM = [
    ("right", CS231N_ALT, lambda c: [("dx", _bn_dx_alt(c))]),
    ("wrong", CS231N_ALT.replace(" * (var + eps)**(-1.0)", ""), lambda c: [("dx", _bn_dx_alt(c, inv=False))]),
    ("right", "dbeta = dout.sum(axis=0)", lambda c: [("dbeta", _s0(c["dout"]))]),
    ("right", "dgamma = (x_hat * dout).sum(axis=0)", lambda c: [("dgamma", _s0(c["dout"] * c["xhat"]))]),
    ("wrong", "dgamma = np.sum(dout * x_hat)", lambda c: [("dgamma", np.sum(c["dout"] * c["xhat"]))]),
    ("right", KRATZERT, _kratzert),
    ("right", KRATZERT + KRATZERT_REST, lambda c: _kratzert(c) + [("dmu", c["dmu"]), ("dx", c["dx"])]),
    ("wrong", KRATZERT + KRATZERT_REST.replace("dx2 = 1. /N", "dx2 = 1."),
     lambda c: _kratzert(c) + [("dmu", c["dmu"]), ("dx", c["dx"] - c["dmu"] / N + c["dmu"])]),
    ("right", "dbeta = np.ones(N) @ dout", lambda c: [("dbeta", np.ones(N) @ c["dout"])]),
    # CS231n's alt pass reusing the parameter gradients (underscored code names, no np.: still code)
    ("right", "dx = (1. / N) * gamma * istd * (N * dout - dbeta - x_hat * dgamma)",
     lambda c: [("dx", (1 / N) * c["gamma"] * c["istd"] * (N * c["dout"] - c["dbeta"] - c["xhat"] * c["dgamma"]))]),
    ("wrong", "dx = (1. / N) * gamma * istd * (N * dout - dbeta - x_hat * dbeta)",
     lambda c: [("dx", (1 / N) * c["gamma"] * c["istd"] * (N * c["dout"] - c["dbeta"] - c["xhat"] * c["dbeta"]))]),
    ("wrong", KRATZERT.replace("dsqrtvar = -1.", "dsqrtvar = 1."), lambda c: _kratzert(c, sign=1.0)),
    ("right", PAPER_DX, lambda c: [("dx", c["dxhat"] / np.sqrt(c["var"] + c["eps"]) + c["dvar"] * 2 * (c["x"] - c["mu"]) / N
                                    + c["dmu"] / N)]),
    ("wrong", PAPER_DX.replace(r"\cdot \frac{1}{m}", ""),
     lambda c: [("dx", c["dxhat"] / np.sqrt(c["var"] + c["eps"]) + c["dvar"] * 2 * (c["x"] - c["mu"]) / N + c["dmu"])]),
    ("right", PAPER_DVAR, lambda c: [("dvar", _s0(c["dxhat"] * (c["x"] - c["mu"])) * -0.5 * (c["var"] + c["eps"]) ** -1.5)]),
    ("wrong", PAPER_DVAR.replace("^{-3/2}", "^{-1/2}"),
     lambda c: [("dvar", _s0(c["dxhat"] * (c["x"] - c["mu"])) * -0.5 * (c["var"] + c["eps"]) ** -0.5)]),
    # right although it drops the paper's second term: Σ_i (x_i − μ) = 0
    ("right", PAPER_DMU, lambda c: [("dmu", _s0(-c["dxhat"] / np.sqrt(c["var"] + c["eps"])))]),
    ("wrong", PAPER_DMU.replace(r"\frac{-1}", r"\frac{1}"), lambda c: [("dmu", _s0(c["dxhat"] / np.sqrt(c["var"] + c["eps"])))]),
    ("right", r"\frac{\partial \ell}{\partial \gamma} = \sum_{i=1}^m \frac{\partial \ell}{\partial y_i} \cdot \hat{x}_i",
     lambda c: [("dgamma", _s0(c["dout"] * c["xhat"]))]),
    ("right", "x_hat = (x - np.mean(x, axis=0)) / np.sqrt(np.var(x, axis=0) + eps)", lambda c: [("xhat", (
        c["x"] - c["x"].mean(axis=0)) / np.sqrt(c["x"].var(axis=0) + c["eps"]))]),
    ("wrong", "x_hat = (x - np.mean(x, axis=0)) / np.sqrt(np.var(x, axis=1, keepdims=True) + eps)", lambda c: [("xhat", (
        c["x"] - c["x"].mean(axis=0)) / np.sqrt(c["x"].var(axis=1, keepdims=True) + c["eps"]))]),
    ("right", "dσ² = np.sum(dx̂ * (x - μ), axis=0) * -0.5 * (σ² + ε)**-1.5",
     lambda c: [("dvar", _s0(c["dxhat"] * (c["x"] - c["mu"])) * -0.5 * (c["var"] + c["eps"]) ** -1.5)]),
    ("right", "dx = (1. / N) * gamma * istd * (N * dout - np.sum(dout, axis=0) - x_hat * np.sum(dout * x_hat, axis=0))",
     lambda c: [("dx", (1 / N) * c["gamma"] * c["istd"] * (N * c["dout"] - _s0(c["dout"]) - c["xhat"] * _s0(c["dout"] * c["xhat"])))]),
]

# ---------------------------------------------------------------- llm.c / Ba et al. (LayerNorm)
LLMC = """norm = (x - mean) * rstd
dbias = dout.sum(0)
dweight = (dout * norm).sum(0)
dnorm = dout * w
dx = dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True)
dx *= rstd"""


def _llmc(c, axis=-1):
    dnorm = c["dout"] * c["gamma"]
    dx = dnorm - dnorm.mean(axis, keepdims=True) - c["xhat"] * (dnorm * c["xhat"]).mean(axis, keepdims=True)
    return [("xhat", (c["x"] - c["mu"]) * c["istd"]), ("dbeta", _s0(c["dout"])), ("dgamma", _s0(c["dout"] * c["xhat"])),
            ("dxhat", dnorm), ("dx", dx * c["istd"])]


BA_DX = (r"\frac{\partial L}{\partial x_i} = \frac{1}{H\sqrt{\sigma^2+\epsilon}}\left(H \frac{\partial L}{\partial \hat{x}_i}"
         r" - \sum_{j=1}^H \frac{\partial L}{\partial \hat{x}_j} - \hat{x}_i \sum_{j=1}^H \frac{\partial L}{\partial "
         r"\hat{x}_j}\hat{x}_j\right)")


def _ln_dx(c, h=D, hat=True):
    xh = c["xhat"] if hat else c["x"]
    return (h * c["dxhat"] - _s1(c["dxhat"]) - xh * _s1(c["dxhat"] * xh)) / (D * np.sqrt(c["var"] + c["eps"]))


LAYERNORM = [
    ("right", LLMC, _llmc),
    ("wrong", LLMC.replace("dnorm.mean(-1, keepdim=True)", "dnorm.mean(0, keepdim=True)"),
     lambda c: _llmc(c)[:4] + [("dx", (c["dxhat"] - c["dxhat"].mean(0, keepdims=True) - c["xhat"] * (
         c["dxhat"] * c["xhat"]).mean(-1, keepdims=True)) * c["istd"])]),
    ("right", "dx = rstd * (dout * w - (dout * w).mean(-1, keepdim=True) - norm * (dout * w * norm).mean(-1, keepdim=True))",
     lambda c: _llmc(c)[4:]),
    ("wrong", "dx = dout * w * rstd", lambda c: [("dx", c["dout"] * c["gamma"] * c["istd"])]),
    ("right", r"\mu = \frac{1}{H}\sum_{i=1}^H x_i", lambda c: [("mu", _m1(c["x"]))]),
    ("right", BA_DX, lambda c: [("dx", _ln_dx(c))]),
    ("wrong", BA_DX.replace(r"\partial \hat{x}_j}\hat{x}_j", r"\partial \hat{x}_j}x_j"), lambda c: [("dx", (
        D * c["dxhat"] - _s1(c["dxhat"]) - c["xhat"] * _s1(c["dxhat"] * c["x"])) / (D * np.sqrt(c["var"] + c["eps"])))]),
    ("right", "dx = istd * (dxhat - np.mean(dxhat, axis=-1, keepdims=True) - x_hat * np.mean(dxhat * x_hat, axis=-1, keepdims=True))",
     lambda c: [("dx", c["istd"] * (c["dxhat"] - _m1(c["dxhat"]) - c["xhat"] * _m1(c["dxhat"] * c["xhat"])))]),
]

# ---------------------------------------------------------------- softmax
SOFTMAX = [
    ("right", r"\frac{\partial s_i}{\partial z_j} = s_i(\delta_{ij} - s_j)", lambda c: [("J", np.diag(c["p"]) - np.outer(c["p"], c["p"]))]),
    ("right", r"\frac{\partial s_i}{\partial z_j} = s_j(\delta_{ij} - s_i)", lambda c: [("J", np.diag(c["p"]) - np.outer(c["p"], c["p"]))]),
    ("wrong", r"\frac{\partial s_i}{\partial z_j} = -s_i s_j", lambda c: [("J", -np.outer(c["p"], c["p"]))]),
    ("right", "dz = p * (dp - np.sum(dp * p))", lambda c: [("dz", c["p"] * (c["dp"] - np.sum(c["dp"] * c["p"])))]),
    ("wrong", "dz = p * (dp - np.sum(dp))", lambda c: [("dz", c["p"] * (c["dp"] - np.sum(c["dp"])))]),
    ("right", "dx = y * (dy - (dy * y).sum())", lambda c: [("dz", c["p"] * (c["dp"] - (c["dp"] * c["p"]).sum()))]),
]

# ---------------------------------------------------------------- FlashAttention (S = τ Q Kᵀ, τ = 1/√d)
FLASH = r"""dV = P^T dO
dP = dO V^T
dS_{ij} = P_{ij}(dP_{ij} - dO_i^T O_i)
dQ = \tau\, dS\, K
dK = \tau\, dS^T Q"""


def _flash(c, tau=1 / np.sqrt(D)):
    dS = c["P"] * (c["dP"] - _s1(c["dO"] * c["O"]))
    return [("dV", c["P"].T @ c["dO"]), ("dP", c["dO"] @ c["V"].T), ("dS", dS), ("dQ", tau * dS @ c["K"]),
            ("dK", tau * dS.T @ c["Q"])]


ATTENTION = [
    ("right", "dV = P^T dO", lambda c: [("dV", c["P"].T @ c["dO"])]),
    ("right", "dP = dO V^T", lambda c: [("dP", c["dO"] @ c["V"].T)]),
    ("wrong", "dV = dO^T P", lambda c: [("dV", c["dO"].T @ c["P"])]),
    ("right", "dQ = dS K / sqrt(d)", lambda c: [("dQ", c["dS"] @ c["K"] / np.sqrt(D))]),
    ("right", "dK = dS^T Q / sqrt(d)", lambda c: [("dK", c["dS"].T @ c["Q"] / np.sqrt(D))]),
    ("wrong", "dK = dS Q / sqrt(d)", lambda c: [("dK", c["dS"] @ c["Q"] / np.sqrt(D))]),
    ("right", r"dS_{ij} = P_{ij}(dP_{ij} - D_i), \quad D_i = \sum_j P_{ij} dP_{ij}",
     lambda c: [("dS", c["P"] * (c["dP"] - _s1(c["P"] * c["dP"])))]),
    ("right", r"dS_{ij} = P_{ij}(dP_{ij} - D_i) \text{ where } D_i = dO_i^T O_i",
     lambda c: [("dS", c["P"] * (c["dP"] - _s1(c["dO"] * c["O"])))]),
    ("wrong", "D_i = dO_i^T O_i\ndS_{ij} = P_{ij}(dP_{ij} - D_j)",
     lambda c: [("dS", c["P"] * (c["dP"] - _s1(c["dO"] * c["O"]).T))]),
    ("right", "D = np.sum(dO * O, axis=1, keepdims=True)\ndS = P * (dP - D)",
     lambda c: [("dS", c["P"] * (c["dP"] - _s1(c["dO"] * c["O"])))]),
    ("right", r"D_i = \sum_j P_{ij} dP_{ij} = dO_i^T O_i", lambda c: [(_s1(c["P"] * c["dP"]), _s1(c["dO"] * c["O"]))]),
    ("right", r"\sum_j P_{ij} dP_{ij} = dO_i^T O_i", lambda c: [(_s1(c["P"] * c["dP"]), _s1(c["dO"] * c["O"]))]),
    ("right", FLASH, _flash),
    ("wrong", FLASH.replace(r"dK = \tau\, dS^T Q", r"dK = dS^T Q"), lambda c: _flash(c)[:4] + [("dK", c["dS"].T @ c["Q"])]),
    ("right", "dQ = dS @ K * d**-0.5", lambda c: [("dQ", c["dS"] @ c["K"] * D ** -0.5)]),
    ("right", "dQ = dS K / √d", lambda c: [("dQ", c["dS"] @ c["K"] / np.sqrt(D))]),
    ("right", "dVᵀ = dOᵀ P", lambda c: [(c["dV"].T, c["dO"].T @ c["P"])]),
    ("wrong", "dVᵀ = Pᵀ dO", lambda c: [(c["dV"].T, c["P"].T @ c["dO"])]),
]

LAYERS = {"batchnorm": (batchnorm(), BATCHNORM, lambda s: _norm_context(0, s)),
          "layernorm": (layernorm(), LAYERNORM, lambda s: _norm_context(1, s)),
          "softmax": (softmax(), SOFTMAX, _softmax_context),
          "attention": (attention(), ATTENTION, _attention_context)}
CASES = [(kind, *case) for kind, (_, cases, _) in LAYERS.items() for case in cases]
#: items still refused (each with a one-line error naming what it cannot read); at most 5 % of the set
REFUSED: dict = {}
#: the items that take the most checking (a full BatchNorm dx, a derivation, attention's dS): slow under load
_HEAVY = ("dx = (1. / N) * gamma * (var", "#step9", "norm = (x - mean)", "sqrt(d)", "√d", "d**-0.5", "dV = P^T dO\ndP")


def _context(kind: str, seed: int) -> dict:
    c = LAYERS[kind][2](seed)
    if kind in ("batchnorm", "layernorm"):  # the gradient by the standard deviation node, by finite differences
        c["dsqrtvar"] = _fd(lambda s: c["gamma"] * c["xmu"] / s + c["beta"], np.sqrt(c["var"] + c["eps"]), c["dout"])
    return c


def _expected(kind: str, transcription) -> str:
    """"right" when every checked line's NumPy transcription agrees with the finite differences at three points."""
    for seed in (1, 2, 3):
        c = _context(kind, seed)
        for truth, value in transcription(c):
            if not _agrees(c[truth] if isinstance(truth, str) else np.asarray(truth, dtype=float), value):
                return "wrong"
    return "right"


def _outcome(kind: str, text: str) -> str:
    try:
        verdict = check(text, LAYERS[kind][0])
    except SymderivError as exc:
        return f"refused: {exc}"
    return {"proved": "right", "refuted": "wrong"}.get(verdict.status, f"undecided: {verdict}")


def test_the_held_out_set_is_large_and_balanced_and_almost_nothing_is_refused():
    assert len(CASES) >= 30
    labels = [c[1] for c in CASES]
    assert labels.count("right") >= 15 and labels.count("wrong") >= 10
    assert len(REFUSED) <= 0.05 * len(CASES) and set(REFUSED) <= {c[2] for c in CASES}
    assert len({c[2] for c in CASES}) == len(CASES)  # no item counted twice


@pytest.mark.parametrize("kind,label,text,transcription", [
    pytest.param(*c, marks=[pytest.mark.slow] if any(h in c[2] for h in _HEAVY) else [], id=f"{c[0]}-{k}")
    for k, c in enumerate(CASES)])
def test_wild_layer_claims_get_the_verdict_finite_differences_give(kind, label, text, transcription):
    assert _expected(kind, transcription) == label  # the test case itself is right about the claim
    outcome = _outcome(kind, text)
    if text in REFUSED:  # never a verdict, and the refusal is one line naming what it cannot read
        assert outcome.startswith("refused: ") and "\n" not in outcome and REFUSED[text] in outcome, outcome
    else:
        assert outcome == label, outcome


# ---------------------------------------------------------------- what is read, and what is refused, in one line
def test_a_reassigned_name_is_a_stage_and_its_last_value_is_checked():
    """llm.c's ``dx = …`` then ``dx *= rstd``: the first value is a stage (independently: without the factor rstd it
    is not the gradient), the last one is the claim."""
    c = _context("layernorm", 4)
    dnorm = c["dout"] * c["gamma"]
    stage = dnorm - dnorm.mean(-1, keepdims=True) - c["xhat"] * (dnorm * c["xhat"]).mean(-1, keepdims=True)
    assert not _agrees(c["dx"], stage) and _agrees(c["dx"], stage * c["istd"])
    v = check(LLMC.split("\n", 3)[3], layernorm())
    assert v.status == "proved" and len(v.links) == 2
    assert any("dx is assigned again on a later line" in n for n in v.notes)


def test_two_independent_assignments_stay_two_claims():
    """A wrong formula followed by a right one (no line builds on the first) is not hidden as a stage."""
    c = _context("batchnorm", 5)
    assert not _agrees(c["dbeta"], c["dout"].sum(axis=1)) and _agrees(c["dbeta"], _s0(c["dout"]))
    v = check("dbeta = np.sum(dout, axis=1)\ndbeta = np.sum(dout, axis=0)", batchnorm())
    assert v.status == "refuted" and [l.status for l in v.links] == ["refuted", "proved"]


@pytest.mark.parametrize("text,named", [
    ("dx *= rstd", "no earlier assignment to dx"),
    ("var = x.var(0)", "torch's unbiased"),
    ("dbeta = np.sum(dout, axis=0, ddof=1)", "keyword"),
])
def test_what_cannot_be_read_is_refused_in_one_line(text, named):
    with pytest.raises(SymderivError) as info:
        check(text + "\ndgamma = np.sum(dout * x_hat, axis=0)", batchnorm())
    assert named in str(info.value) and "\n" not in str(info.value)


def test_a_sum_along_axis_0_of_a_row_is_refused_not_guessed():
    """γ or BatchNorm's μ is 1-D in most code (axis 0: the total) but 1×D with keepdims (axis 0: itself)."""
    with pytest.raises(SymderivError, match="1-D"):
        check("dbeta = np.sum(np.sum(dout, axis=0), axis=0)", batchnorm())


def test_a_sum_along_the_last_axis_of_a_vector_is_refused_not_guessed():
    """In code, softmax's p is 1-D, where axis -1 is axis 0 (the total): never read as a sum along columns."""
    with pytest.raises(SymderivError, match="1-D"):
        check("dz = p * (dp - (dp * p).sum(-1, keepdims=True))", softmax())


def test_n_in_a_layernorm_claim_is_read_both_ways_and_never_refuted_on_one_reading():
    """Many LayerNorm derivations call the normalized features N; the checker reads N as the examples and as the
    features, and refutes only when both readings are wrong.  Independently: with N = D the formula is the
    gradient, with N = the number of examples it is not."""
    c = _context("layernorm", 8)

    def formula(n):
        return (1 / n) * c["istd"] * (n * c["dxhat"] - _s1(c["dxhat"]) - c["xhat"] * _s1(c["dxhat"] * c["xhat"]))
    assert _agrees(c["dx"], formula(D)) and not _agrees(c["dx"], formula(N))
    text = ("dx = (1/N) * istd * (N*dxhat - np.sum(dxhat, axis=1, keepdims=True) "
            "- x_hat*np.sum(dxhat*x_hat, axis=1, keepdims=True))")
    v = check(text, layernorm())
    assert v.status == "undecided" and "what N is" in v.links[0].reason and "two readings" in v.notes[0]
    assert check(text.replace("N", "D"), layernorm()).status == "proved"
    assert not _agrees(c["dxhat"], N * c["dout"]) and not _agrees(c["dxhat"], D * c["dout"])
    assert check("dxhat = N * dout", layernorm()).status == "refuted"  # wrong under both readings


def test_llm_c_names_given_with_an_mlp_are_detected_as_a_normalization_layer():
    """``dbias = dout.sum(0)`` is the same under BatchNorm and LayerNorm (independently: both sum over the rows)."""
    import symderiv as sd

    for kind in ("batchnorm", "layernorm"):
        c = _context(kind, 9)
        assert _agrees(c["dbeta"], c["dout"].sum(0))
    v = check("dbias = dout.sum(0)", sd.mlp([3, 3, 2]))
    assert v.status == "proved" and v.notes[0].startswith("detected:")
