"""NumPy's fancy and in-place indexing in CS231n's softmax / ReLU backward pass ("Putting it together: a minimal
neural network case study"), right and with realistic slips.

Every expected verdict is set **independently of symderiv**: the test's own code lines are run in NumPy on a
two-layer ReLU network in CS231n's layout (``W1`` is 4×5, ``W2`` 5×3, one example per row, class indices ``y``,
the mean cross-entropy over the batch), and each gradient a line assigns is compared with central finite
differences of that loss.  A derivation is expected refuted when some line's value disagrees, and then its
first refuted link must be the first line that disagrees; lines before it must be proved; no line whose
value agrees with the finite differences may be refuted.
"""
from __future__ import annotations

import numpy as np
import pytest

import symderiv as sd
from symderiv.claims import check
from symderiv.errors import UnsupportedError

SIZES = (4, 5, 3)
N = 3
EPS = 1e-6


def _forward(X, y, W1, b1, W2, b2, scores=None, hidden_layer=None):
    hidden_layer = np.maximum(0, X @ W1 + b1) if hidden_layer is None else hidden_layer
    scores = hidden_layer @ W2 + b2 if scores is None else scores
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(len(y)), y]))
    return hidden_layer, scores, probs, loss


def _finite_differences(values: dict, y) -> dict:
    """The mean loss's gradients by W1, b1, W2, b2, the hidden layer and the scores (central differences; the
    hidden layer and the scores are perturbed as independent inputs of the rest of the network)."""
    def loss(v, name):
        return _forward(v["X"], y, v["W1"], v["b1"], v["W2"], v["b2"], v["scores"] if name == "scores" else None,
                        v["hidden_layer"] if name == "hidden_layer" else None)[3]

    grads = {}
    for name in ("W1", "b1", "W2", "b2", "hidden_layer", "scores"):
        g = np.zeros_like(values[name])
        for idx in np.ndindex(g.shape):
            plus, minus = dict(values), dict(values)
            plus[name], minus[name] = values[name].copy(), values[name].copy()
            plus[name][idx] += EPS
            minus[name][idx] -= EPS
            g[idx] = (loss(plus, name) - loss(minus, name)) / (2 * EPS)
        grads[name] = g
    return grads


#: which gradient each name a line assigns is (CS231n's names)
_GRADIENT_OF = {"dW": "W1", "db": "b1", "dscores": "scores", "dhidden": "hidden_layer", "dW2": "W2", "db2": "b2", "dW1": "W1", "db1": "b1"}


def _oracle(code: str, seed: int) -> list:
    """For each line of ``code`` that assigns a gradient name for the last time, whether the value NumPy computes
    agrees with the finite differences: [(line number, name, right?)].  A name masked in place (``dhidden[
    hidden_layer <= 0] = 0``) is no longer the gradient by the hidden layer (CS231n reuses the name for the
    pre-activation's): it is not a claim, only used by the lines after it."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, SIZES[0]))
    y = rng.integers(0, SIZES[-1], size=N)
    W1, b1 = rng.normal(size=SIZES[:2]), rng.normal(size=SIZES[1])
    W2, b2 = rng.normal(size=SIZES[1:]), rng.normal(size=SIZES[2])
    hidden_layer, scores, probs, _ = _forward(X, y, W1, b1, W2, b2)
    values = {"X": X, "W1": W1, "b1": b1, "W2": W2, "b2": b2, "scores": scores, "hidden_layer": hidden_layer}
    truth = _finite_differences(values, y)
    env = {"np": np, "X": X, "y": y, "N": N, "num_examples": N, "K": SIZES[-1], "W1": W1, "b1": b1, "W": W1, "b": b1,
           "W2": W2, "b2": b2,
           "hidden_layer": hidden_layer, "scores": scores, "probs": probs}
    lines = code.split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        exec(line, env)  # the test's own code lines (not user input)
        name = line.split("[")[0].split("=")[0].split("/")[0].split("*")[0].split("-")[0].split("+")[0].strip()
        later = [l for l in lines[number:] if l.split("[")[0].split("=")[0].strip().rstrip("/*-+").strip() == name]
        masked = any(l.startswith(name + "[") and "<" in l for l in lines)  # B[mask] = 0 changes what B is
        if name in _GRADIENT_OF and not later and not masked:
            value, want = np.squeeze(env[name]), np.squeeze(truth[_GRADIENT_OF[name]])  # db2 (1, 3) is b2's (3,)
            out.append((number, name, value.shape == want.shape and bool(np.allclose(value, want, atol=1e-5))))
    return out


_NET = sd.mlp(list(SIZES), "relu", "ce")

_BACKWARD = """dscores = probs.copy()
dscores[range(N), y] -= 1
dscores /= N
dW2 = np.dot(hidden_layer.T, dscores)
db2 = np.sum(dscores, axis=0, keepdims=True)
dhidden = np.dot(dscores, W2.T)
dhidden[hidden_layer <= 0] = 0
dW1 = np.dot(X.T, dhidden)
db1 = np.sum(dhidden, axis=0, keepdims=True)"""

#: the notes verbatim: the first layer's W, b (beside W2, b2), num_examples
_NOTES = """dscores = probs
dscores[range(num_examples),y] -= 1
dscores /= num_examples
dW2 = np.dot(hidden_layer.T, dscores)
db2 = np.sum(dscores, axis=0, keepdims=True)
dhidden = np.dot(dscores, W2.T)
dhidden[hidden_layer <= 0] = 0
dW = np.dot(X.T, dhidden)
db = np.sum(dhidden, axis=0, keepdims=True)"""

DERIVATIONS = [
    ("the notes verbatim", _NOTES),
    ("the notes, dW with the transpose on the wrong side", _NOTES.replace("np.dot(X.T, dhidden)", "np.dot(dhidden.T, X).T.T")),
    ("the notes, db from dscores", _NOTES.replace("np.sum(dhidden, axis=0", "np.sum(dhidden * 0 + np.dot(dscores, W2.T), axis=0")),

    ("as in the notes", _BACKWARD),
    ("no copy, np.arange, X.shape[0]", _BACKWARD.replace("probs.copy()", "probs").replace("range(N)", "np.arange(X.shape[0])")
     .replace("dscores /= N", "dscores /= X.shape[0]")),
    ("np.eye(K)[y] as Y", "dscores = (probs - np.eye(K)[y]) / N\ndW2 = hidden_layer.T @ dscores"),
    ("forgot /= N", _BACKWARD.replace("dscores /= N\n", "")),
    ("+= 1 for -= 1", _BACKWARD.replace("-= 1", "+= 1")),
    ("mask on the wrong array", _BACKWARD.replace("dhidden[hidden_layer <= 0]", "dhidden[dhidden <= 0]")),
    ("mask < 0 of a ReLU output (masks nothing)", _BACKWARD.replace("hidden_layer <= 0", "hidden_layer < 0")),
    ("no mask", _BACKWARD.replace("dhidden[hidden_layer <= 0] = 0\n", "")),
    ("/= N twice", _BACKWARD.replace("dscores /= N", "dscores /= N\ndscores /= N")),
    ("*= in place", _BACKWARD.replace("dscores /= N", "dscores *= 1 / N")),
]


@pytest.mark.parametrize("label, code", DERIVATIONS, ids=[d[0] for d in DERIVATIONS])
def test_backward_pass_verdicts_agree_with_finite_differences(label, code):
    oracles = [_oracle(code, seed) for seed in (0, 1)]
    right = {(n, name): all(o[k][2] for o in oracles) for k, (n, name, _) in enumerate(oracles[0])}
    verdict = check(code, _NET, convention="cs231n", seconds=20)
    by_line = {link.line: link.status for link in verdict.links}
    assert set(by_line) == {n for n, _ in right}, (label, by_line, right)
    wrong_lines = sorted(n for (n, _), ok in right.items() if not ok)
    if not wrong_lines:
        assert verdict.status == "proved", (label, by_line)
        return
    assert verdict.status == "refuted", (label, by_line, wrong_lines)
    first_refuted = min(n for n, s in by_line.items() if s == "refuted")
    assert first_refuted == wrong_lines[0], (label, by_line, wrong_lines)
    for (n, _), ok in right.items():
        if ok:  # a line whose value NumPy computes right is never refuted
            assert by_line[n] != "refuted", (label, n, by_line)
        if n < wrong_lines[0]:
            assert by_line[n] == "proved", (label, n, by_line)


def _loss(rhs: str, seed: int) -> bool:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, SIZES[0]))
    y = rng.integers(0, SIZES[-1], size=N)
    W1, b1 = rng.normal(size=SIZES[:2]), rng.normal(size=SIZES[1])
    W2, b2 = rng.normal(size=SIZES[1:]), rng.normal(size=SIZES[2])
    hidden_layer, scores, probs, loss = _forward(X, y, W1, b1, W2, b2)
    value = eval(rhs, {"np": np, "probs": probs, "y": y, "N": N, "X": X})  # the test's own expression
    return bool(np.isclose(value, loss))


LOSSES = [
    "-np.mean(np.log(probs[range(N), y]))",
    "-np.sum(np.log(probs[np.arange(N), y])) / N",
    "np.sum(-np.log(probs[range(N), y])) / N",
    "-np.sum(np.log(probs[range(N), y]))",          # forgot the mean
    "-np.mean(probs[range(N), y])",                 # forgot the log
    "-np.mean(np.log(probs[range(N), y] + 0))",     # a function of more than the selection: refused
]


@pytest.mark.parametrize("rhs", LOSSES)
def test_true_class_entries_in_the_loss(rhs):
    claim = f"L = {rhs}"
    if "+ 0" in rhs:
        with pytest.raises(UnsupportedError, match="class indices"):
            check(claim, _NET, convention="cs231n")
        return
    expected = "proved" if all(_loss(rhs, s) for s in (0, 1, 2)) else "refuted"
    assert check(claim, _NET, convention="cs231n", seconds=20).status == expected, claim


@pytest.mark.parametrize("claim", [
    "L = np.mean(1 / probs[range(N), y])",
    "L = -np.mean(probs[range(N), y] * probs[range(N), y])",
])
def test_nonlinear_selection_needs_class_indices(claim):
    with pytest.raises(UnsupportedError, match="class indices"):
        check(claim, _NET, convention="cs231n")


def test_unsupported_in_place_forms_are_refused_in_one_line():
    from symderiv.errors import ClaimSyntaxError

    with pytest.raises(ClaimSyntaxError, match="-= and \\+="):
        check("dscores = probs\ndscores[range(N), y] *= 2\ndscores /= N", _NET, convention="cs231n")
    with pytest.raises(ClaimSyntaxError, match="ReLU mask"):
        check("dhidden = np.dot(dscores, W2.T)\ndhidden[hidden_layer <= 0] = 1\ndW1 = X.T @ dhidden", _NET,
              convention="cs231n")


def test_indexed_claims_in_a_derivation_read_as_before():
    """``dW1[i,j] = 0`` is an ordinary claim about an entry, not an in-place assignment."""
    from symderiv.claims.numpy_indexing import in_place_lines
    from symderiv.claims.derivation import split_derivation

    lines = split_derivation("dL/dW2[i,j] = 0\ndW1[i,j] = 0")
    assert in_place_lines(lines) is lines
    verdict = check("dW2[i,j] = (p[i] - y[i]) * h1[j]\ndW1[i,j] = 0", sd.mlp([3, 4, 3], "tanh", "ce"),
                    init=sd.zeros(), seconds=20)
    assert [l.status for l in verdict.links] == ["proved", "proved"]
