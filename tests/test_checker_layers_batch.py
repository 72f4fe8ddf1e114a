"""A batch of softmax rows and attention without the 1/√d scale, as real derivations write them.

The batched softmax (``softmax(size=K, batch=N)``, ``--layer softmax:NxK``): ``y = softmax(x)`` row
by row, ``dx = y * (dy - (dy * y).sum(axis=1, keepdims=True))`` in NumPy and torch spellings and
``y_{ij}(dy_{ij} - \\sum_k dy_{ik} y_{ik})`` in LaTeX; unscaled attention (``attention(scale=False)``,
``--layer attention:TxD:noscale``): ``S = QKᵀ`` as in FlashAttention's appendix.  Every expected
verdict is set independently of symderiv, as in ``tests/test_checker_layers.py``: each claim comes
with a hand NumPy transcription, and the claim is right exactly when the transcription agrees with
central finite differences of ``⟨upstream, layer(input)⟩`` at three random points.  The checker must
prove the right items and refute the wrong ones (no refusal, no wrong verdict)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

import symderiv as sd
from symderiv.claims import check, cli_check
from symderiv.claims.layer_models import build_model
from symderiv.claims.layers import attention, parse_layer, softmax
from symderiv.errors import ClaimNameError, InvalidArgument, SymderivError

from test_checker_layers import D, N, _agrees, _attention_context, _fd, _row_softmax

NB, KB = 2, 3  # the batched softmax: 2 examples (rows) of 3 classes; the sizes differ, so an axis is visible


def _s1(a):
    return a.sum(axis=1, keepdims=True)


def _batch_context(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    z, dp = rng.normal(size=(NB, KB)), rng.normal(size=(NB, KB))
    p = _row_softmax(z)
    return dict(z=z, p=p, dp=dp, dz=_fd(_row_softmax, z, dp))


def _unscaled_context(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    q, k, v, do = (rng.normal(size=(N, D)) for _ in range(4))
    s = q @ k.T
    p = _row_softmax(s)
    c = dict(Q=q, K=k, V=v, dO=do, S=s, P=p, O=p @ v, d=D)
    c["dQ"] = _fd(lambda a: _row_softmax(a @ k.T) @ v, q, do)
    c["dK"] = _fd(lambda a: _row_softmax(q @ a.T) @ v, k, do)
    c["dV"] = _fd(lambda a: p @ a, v, do)
    c["dS"] = _fd(lambda a: _row_softmax(a) @ v, s, do)
    c["dP"] = _fd(lambda a: a @ v, p, do)
    return c


def _jacobian_sum(c, term):
    """``∑_k dp_{ik} · term(p_ij, p_ik, δ_jk)`` for every entry (i, j), by loops."""
    p, dp = c["p"], c["dp"]
    return np.array([[sum(dp[i, k] * term(p[i, j], p[i, k], float(j == k)) for k in range(KB)) for j in range(KB)]
                     for i in range(NB)])


def _rowwise(c, f):
    return np.array([f(c["p"][i], c["dp"][i]) for i in range(NB)])


# ---------------------------------------------------------------- the claims: (label, text, truth, transcription)
BATCHED_SOFTMAX = [
    ("right", "dx = y * (dy - (dy * y).sum(axis=1, keepdims=True))", "dz", lambda c: c["p"] * (c["dp"] - _s1(c["dp"] * c["p"]))),
    ("right", "dz = p * (dp - np.sum(p * dp, axis=-1, keepdims=True))", "dz",
     lambda c: c["p"] * (c["dp"] - _s1(c["p"] * c["dp"]))),
    ("right", "dx = y * (dy - (dy * y).sum(dim=-1, keepdim=True))", "dz", lambda c: c["p"] * (c["dp"] - _s1(c["dp"] * c["p"]))),
    ("right", "dz = p * dp - p * np.sum(p * dp, axis=1, keepdims=True)", "dz",
     lambda c: c["p"] * c["dp"] - c["p"] * _s1(c["p"] * c["dp"])),
    ("right", "dx = softmax(x, axis=1) * (dy - (dy * softmax(x, axis=1)).sum(axis=1, keepdims=True))", "dz",
     lambda c: _row_softmax(c["z"]) * (c["dp"] - _s1(c["dp"] * _row_softmax(c["z"])))),
    ("right", "dz = torch.softmax(x, dim=-1) * (dy - (dy * torch.softmax(x, dim=-1)).sum(dim=-1, keepdim=True))", "dz",
     lambda c: _row_softmax(c["z"]) * (c["dp"] - _s1(c["dp"] * _row_softmax(c["z"])))),
    ("right", r"\frac{\partial L}{\partial x_{ij}} = y_{ij}(dy_{ij} - \sum_k dy_{ik} y_{ik})", "dz",
     lambda c: _jacobian_sum(c, lambda pij, pik, d: pij * (d - pik))),
    ("right", r"\frac{\partial L}{\partial z_{ij}} = \sum_k dp_{ik} p_{ik} (\delta_{jk} - p_{ij})", "dz",
     lambda c: _jacobian_sum(c, lambda pij, pik, d: pik * (d - pij))),
    ("right", r"\frac{\partial L}{\partial z_i} = p_i \odot (dp_i - p_i^T dp_i)", "dz",
     lambda c: _rowwise(c, lambda p, dp: p * (dp - p @ dp))),
    # realistic mistakes
    ("wrong", "dx = y * (dy - (dy * y).sum(axis=0, keepdims=True))", "dz",  # the sum over the batch
     lambda c: c["p"] * (c["dp"] - (c["dp"] * c["p"]).sum(axis=0, keepdims=True))),
    ("wrong", "dz = p * (dp - np.sum(dp, axis=1, keepdims=True))", "dz",  # p dropped inside the sum
     lambda c: c["p"] * (c["dp"] - _s1(c["dp"]))),
    ("wrong", "dz = dp - np.sum(p * dp, axis=1, keepdims=True)", "dz",  # the leading p dropped
     lambda c: c["dp"] - _s1(c["p"] * c["dp"])),
    ("wrong", "dz = p * (1 - p) * dp", "dz", lambda c: c["p"] * (1 - c["p"]) * c["dp"]),  # the Jacobian's diagonal only
    ("wrong", "dz = p * (dp - (p * dp).mean(axis=1, keepdims=True))", "dz",  # a mean for the sum
     lambda c: c["p"] * (c["dp"] - (c["p"] * c["dp"]).mean(axis=1, keepdims=True))),
    ("wrong", "dx = y * (dy - np.sum(dy * y))", "dz", lambda c: c["p"] * (c["dp"] - np.sum(c["dp"] * c["p"]))),  # every entry
    ("wrong", "dz = p * (np.sum(p * dp, axis=1, keepdims=True) - dp)", "dz",  # the sign
     lambda c: c["p"] * (_s1(c["p"] * c["dp"]) - c["dp"])),
    ("wrong", "dx = softmax(x, axis=0) * (dy - (dy * softmax(x, axis=0)).sum(axis=1, keepdims=True))", "dz",
     lambda c: (lambda s: s * (c["dp"] - _s1(c["dp"] * s)))(_row_softmax(c["z"].T).T)),  # softmax along the batch
    ("wrong", r"\frac{\partial L}{\partial x_{ij}} = y_{ij}(dy_{ij} - \sum_k dy_{kj} y_{kj})", "dz",  # over the examples
     lambda c: c["p"] * (c["dp"] - (c["dp"] * c["p"]).sum(axis=0, keepdims=True))),
    ("wrong", r"\frac{\partial L}{\partial z_{ij}} = \sum_k dp_{ik} p_{ik} (\delta_{jk} - p_{ik})", "dz",
     lambda c: _jacobian_sum(c, lambda pij, pik, d: pik * (d - pik))),
]

UNSCALED_ATTENTION = [
    ("right", "dQ = dS @ K", "dQ", lambda c: c["dS"] @ c["K"]),
    ("right", "dK = dS.T @ Q", "dK", lambda c: c["dS"].T @ c["Q"]),
    ("right", r"dQ = dS K", "dQ", lambda c: c["dS"] @ c["K"]),
    ("right", r"dK = dS^\top Q", "dK", lambda c: c["dS"].T @ c["Q"]),
    ("right", "dS = P * (dP - np.sum(dP * P, axis=1, keepdims=True))", "dS",
     lambda c: c["P"] * (c["dP"] - _s1(c["dP"] * c["P"]))),
    ("wrong", "dQ = dS @ K / np.sqrt(d)", "dQ", lambda c: c["dS"] @ c["K"] / np.sqrt(D)),  # the scale of the other layer
    ("wrong", r"dK = dS^\top Q / \sqrt{d}", "dK", lambda c: c["dS"].T @ c["Q"] / np.sqrt(D)),
    ("wrong", "dK = dS @ Q", "dK", lambda c: c["dS"] @ c["Q"]),  # the transpose dropped
    ("wrong", "dQ = dS.T @ K", "dQ", lambda c: c["dS"].T @ c["K"]),
]

#: the same claims about the scaled layer (S = QKᵀ/√d, Vaswani et al.): the scale decides them
SCALED_ATTENTION = [
    ("wrong", "dQ = dS @ K", "dQ", lambda c: c["dS"] @ c["K"]),
    ("wrong", r"dK = dS^\top Q", "dK", lambda c: c["dS"].T @ c["Q"]),
    ("right", "dQ = dS @ K / np.sqrt(d)", "dQ", lambda c: c["dS"] @ c["K"] / np.sqrt(D)),
    ("right", r"dK = dS^\top Q / \sqrt{d}", "dK", lambda c: c["dS"].T @ c["Q"] / np.sqrt(D)),
]

LAYERS = {"softmax rows": (softmax(size=KB, batch=NB), BATCHED_SOFTMAX, _batch_context),
          "attention noscale": (attention(scale=False), UNSCALED_ATTENTION, _unscaled_context),
          "attention": (attention(), SCALED_ATTENTION, _attention_context)}
CASES = [(kind, *case) for kind, (_, cases, _) in LAYERS.items() for case in cases]


def _expected(kind: str, truth: str, transcription) -> str:
    """"right" when the NumPy transcription agrees with the finite differences at three random points."""
    contexts = [LAYERS[kind][2](seed) for seed in (1, 2, 3)]
    return "right" if all(_agrees(c[truth], transcription(c)) for c in contexts) else "wrong"


def test_the_sets_are_large_and_balanced():
    labels = {kind: [label for label, *_ in cases] for kind, (_, cases, _) in LAYERS.items()}
    assert labels["softmax rows"].count("right") >= 6 and labels["softmax rows"].count("wrong") >= 6
    assert labels["attention noscale"].count("right") >= 3 and labels["attention noscale"].count("wrong") >= 3


@pytest.mark.parametrize("kind,label,text,truth,transcription", CASES, ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_claims_get_the_verdict_finite_differences_give(kind, label, text, truth, transcription):
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
    c = _batch_context(7)
    m = build_model("softmax", (NB, KB))
    values = {s: c["z"][k // KB, k % KB] for k, s in enumerate(m.inputs["z"])}
    values.update({s: c["dp"][k // KB, k % KB] for k, s in enumerate(m.upstream)})
    got = np.array(m.grad("z").xreplace({k: sp.Float(float(v)) for k, v in values.items()}), dtype=float)
    assert got.shape == (NB, KB) and np.allclose(got, c["dz"], rtol=1e-5, atol=1e-6)
    a = _unscaled_context(7)
    m = build_model("attention", (N, D), ("noscale",))
    values = {}
    for name in ("Q", "K", "V"):
        values.update({s: a[name][k // D, k % D] for k, s in enumerate(m.inputs[name])})
    values.update({s: a["dO"][k // D, k % D] for k, s in enumerate(m.upstream)})
    for name in ("Q", "K", "V", "S", "P"):
        got = np.array(m.grad(name).xreplace({k: sp.Float(float(v)) for k, v in values.items()}), dtype=float)
        assert np.allclose(got, a["d" + name], rtol=1e-5, atol=1e-6), name


def test_a_sum_without_keepdims_is_numpys_1d_row_and_is_refused_not_proved():
    """NumPy itself rejects ``y * (dy - (dy * y).sum(axis=1))`` on a 2×3 batch: the 1-D sum broadcasts as a row."""
    c = _batch_context(4)
    with pytest.raises(ValueError):
        c["p"] * (c["dp"] - (c["dp"] * c["p"]).sum(axis=1))
    with pytest.raises(SymderivError, match="broadcast"):
        check("dx = y * (dy - (dy * y).sum(axis=1))", softmax(size=KB, batch=NB))


def test_the_sizes_options_and_their_spellings():
    assert parse_layer("softmax:2x3") == softmax(size=3, batch=2) and softmax(size=3, batch=2).spec() == "softmax:2x3"
    assert parse_layer("softmax:3") == softmax(3) and parse_layer("softmax") == softmax()
    assert parse_layer("attention:3x2:noscale") == attention(3, 2, scale=False) != attention(3, 2)
    assert attention(scale=False).spec() == "attention:3x2:noscale" and "no scale" in attention(scale=False).describe()
    assert "row by row" in softmax(size=3, batch=4).describe()
    for bad, named in (("softmax:3x3", "differ"), ("softmax:2x3:noscale", "no option"), ("attention:noscale", "sizes"),
                       ("attention:3x2:nosacle", "no option"), ("softmax:1x3", "2 to")):
        with pytest.raises(InvalidArgument, match=named):
            parse_layer(bad)
    with pytest.raises(InvalidArgument, match="scale"):
        attention(scale="no")


def test_the_command_line_checks_the_new_layers(capsys):
    claim = "dx = y * (dy - (dy * y).sum(axis=1, keepdims=True))"
    assert cli_check(["--layer", "softmax:2x3", claim]) == 0
    assert "PROVED" in capsys.readouterr().out
    assert cli_check(["--layer", "softmax:2x3", "--json", claim.replace("axis=1", "axis=0")]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "refuted" and out["network"].startswith("softmax layer on a batch")
    assert cli_check(["--layer", "attention:3x2:noscale", "dQ = dS @ K"]) == 0
    assert cli_check(["--layer", "attention:3x2", "dQ = dS @ K"]) == 1
    capsys.readouterr()
    assert cli_check(["--layer", "softmax:2x3:noscale", claim]) == 2
    assert "no option" in capsys.readouterr().err


def test_an_attention_claim_without_a_layer_is_refused_when_the_scale_decides_it():
    """Given with an MLP, attention's names are detected; the scale is not in them, so both layers are tried."""
    with pytest.raises(ClaimNameError) as info:
        check("dQ = dS @ K", sd.mlp([3, 3, 2]))
    message = str(info.value)
    assert "\n" not in message and "--layer attention:3x2:noscale" in message and "--layer attention:3x2 " in message
    v = check("dV = P.T @ dO", sd.mlp([3, 3, 2]))  # the same under both (dV does not pass through S)
    assert v.status == "proved" and "noscale" in v.notes[0]
