"""A held-out set of derivations in matrix, vector and batch form (issue 18), written as in CS231n
(NumPy code and notes), Ng's course (column-per-example), CS224n, CS229, Nielsen, Goodfellow et al.
and the Matrix Cookbook, right ones and realistic wrong ones.

The expected verdict of every item is set **independently of symderiv**: a NumPy forward pass of
the same network and loss (mean over the batch), central finite differences of the loss by the
quantity on the left, and the item's right side written out in NumPy by hand; "proved" when they
agree, "refuted" when they do not.  Asserted: no wrong verdict (a proof of a wrong line or a
refutation of a right one) and at least 95 % of the items decided as expected.
"""
from __future__ import annotations

import numpy as np
import pytest

import symderiv as sd
from symderiv.claims import check
from symderiv.errors import SymderivError

RNG = np.random.default_rng(20261207)
N_BATCH = 3


def _act(name):
    if name == "relu":
        return lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)
    if name == "tanh":
        return np.tanh, lambda z: 1 - np.tanh(z) ** 2
    s = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    return s, lambda z: s(z) * (1 - s(z))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Net:
    """The NumPy twin of ``sd.mlp(sizes, act, loss)``: W^(l) is n_l × n_(l-1), one example per row."""

    def __init__(self, sizes, act, loss, n=N_BATCH):
        self.sizes, self.loss, self.n = sizes, loss, n
        self.f, self.df = _act(act)
        self.W = {l: RNG.normal(size=(sizes[l], sizes[l - 1])) for l in range(1, len(sizes))}
        self.b = {l: RNG.normal(size=sizes[l]) for l in range(1, len(sizes))}
        self.X = RNG.normal(size=(n, sizes[0]))
        K = sizes[-1]
        if loss == "ce":
            w = RNG.uniform(0.1, 1, size=(n, K))
            self.Y = w / w.sum(axis=1, keepdims=True)
        elif loss == "bce":
            self.Y = RNG.uniform(0, 1, size=(n, K))
        else:
            self.Y = RNG.normal(size=(n, K))
        self.L = len(sizes) - 1

    def forward(self, W=None, b=None, dZ=None, dH=None):
        W, b = W or self.W, b or self.b
        H, Z, A = self.X, {}, {0: self.X}
        for l in range(1, self.L + 1):
            Z[l] = H @ W[l].T + b[l] + (dZ or {}).get(l, 0)
            if l < self.L:
                H = self.f(Z[l]) + (dH or {}).get(l, 0)
                A[l] = H
        zL = Z[self.L]
        if self.loss == "ce":
            P = _softmax(zL)
            per = -(self.Y * np.log(P)).sum(axis=1)
        elif self.loss == "bce":
            P = 1 / (1 + np.exp(-zL))
            per = -(self.Y * np.log(P) + (1 - self.Y) * np.log(1 - P)).sum(axis=1)
        else:
            P = zL
            per = ((zL - self.Y) ** 2).mean(axis=1)
        return per.mean(), Z, A, P

    def env(self):
        _, Z, A, P = self.forward()
        return dict(X=self.X, Y=self.Y, P=P, N=self.n, W=self.W, b=self.b, Z=Z, A=A, f=self.f, df=self.df)

    def grad(self, what: str, l: int):
        """∂(mean loss)/∂ of W^(l), b^(l), Z^(l) (batch, rows) or H^(l), by central differences."""
        eps = 1e-6
        if what in ("W", "b"):
            base = (self.W if what == "W" else self.b)[l]
        else:
            base = np.zeros((self.n, self.sizes[l]))
        out = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            vals = []
            for s in (1, -1):
                t = base.copy()
                t[idx] += s * eps
                if what == "W":
                    vals.append(self.forward(W={**self.W, l: t})[0])
                elif what == "b":
                    vals.append(self.forward(b={**self.b, l: t})[0])
                elif what == "Z":
                    vals.append(self.forward(dZ={l: t})[0])
                else:
                    vals.append(self.forward(dH={l: t})[0])
            out[idx] = (vals[0] - vals[1]) / (2 * eps)
        return out


def _sig(z):
    return 1 / (1 + np.exp(-z))


def _col(v):
    return np.asarray(v).reshape(-1, 1)


# (claim, sizes, activation, loss, convention, the left side (what, layer, layout), the right side in NumPy)
# layouts: "W" (n_l × n_(l-1)), "Wt" (CS231n's n_(l-1) × n_l), "rows" (N × n), "cols" (Ng: n × N),
# "per" (Ng: column n is example n's own gradient, i.e. N × the batch mean's), "vec" (one example: N = 1),
# "bvec" (a vector, from a batch of N examples), "W1"/"Wt1" (W's shape / CS231n's, one example)
ITEMS = [
    # CS231n two-layer net, NumPy code (rows, mean loss; dscores = (probs - Y) / N)
    ("dscores = (probs - Y) / N", [4, 5, 3], "relu", "ce", "auto", ("Z", 2, "rows"), lambda e: (e["P"] - e["Y"]) / e["N"]),
    ("dscores = probs - Y", [4, 5, 3], "relu", "ce", "auto", ("Z", 2, "rows"), lambda e: e["P"] - e["Y"]),
    ("dW2 = dscores.T @ hidden_layer", [4, 5, 3], "relu", "ce", "auto", ("W", 2, "W"),
     lambda e: ((e["P"] - e["Y"]) / e["N"]).T @ e["A"][1]),
    ("dW2 = hidden_layer.T @ dscores", [4, 5, 3], "relu", "ce", "cs231n", ("W", 2, "Wt"),
     lambda e: e["A"][1].T @ ((e["P"] - e["Y"]) / e["N"])),
    ("db2 = np.sum(dscores, axis=0, keepdims=True)", [4, 5, 3], "relu", "ce", "auto", ("b", 2, "bvec"),
     lambda e: ((e["P"] - e["Y"]) / e["N"]).sum(axis=0)),
    ("db2 = np.mean(probs - Y, axis=0)", [4, 5, 3], "relu", "ce", "auto", ("b", 2, "bvec"),
     lambda e: (e["P"] - e["Y"]).mean(axis=0)),
    ("dhidden = dscores @ W2", [4, 5, 3], "relu", "ce", "auto", ("H", 1, "rows"),
     lambda e: ((e["P"] - e["Y"]) / e["N"]) @ e["W"][2]),
    ("dW1 = (dhidden * (hidden_layer > 0)).T @ X", [4, 5, 3], "relu", "ce", "auto", ("W", 1, "W"),
     lambda e: ((((e["P"] - e["Y"]) / e["N"]) @ e["W"][2]) * (e["A"][1] > 0)).T @ e["X"]),
    ("dW1 = (dhidden * hidden_layer).T @ X", [4, 5, 3], "relu", "ce", "auto", ("W", 1, "W"),
     lambda e: ((((e["P"] - e["Y"]) / e["N"]) @ e["W"][2]) * e["A"][1]).T @ e["X"]),
    ("dW1 = (P - Y).T @ X / X.shape[0]", [4, 3], None, "ce", "auto", ("W", 1, "W"), lambda e: (e["P"] - e["Y"]).T @ e["X"] / e["N"]),
    # CS231n notes in LaTeX (rows)
    (r"\frac{\partial L}{\partial W^{(2)}} = \frac{1}{N}(P - Y)^\top H", [4, 5, 3], "relu", "ce", "auto", ("W", 2, "W"),
     lambda e: (e["P"] - e["Y"]).T @ e["A"][1] / e["N"]),
    (r"\nabla_{b^{(2)}} L = \frac{1}{N}(P - Y)^\top \mathbf{1}", [4, 5, 3], "relu", "ce", "auto", ("b", 2, "bvec"),
     lambda e: (e["P"] - e["Y"]).sum(axis=0) / e["N"]),
    (r"\nabla_{b^{(2)}} L = (P - Y)^\top \mathbf{1}", [4, 5, 3], "relu", "ce", "auto", ("b", 2, "bvec"),
     lambda e: (e["P"] - e["Y"]).sum(axis=0)),
    (r"\frac{\partial L}{\partial H} = \frac{1}{N}(P - Y) W^{(2)}", [4, 5, 3], "tanh", "ce", "auto", ("H", 1, "rows"),
     lambda e: (e["P"] - e["Y"]) @ e["W"][2] / e["N"]),
    (r"\frac{\partial L}{\partial Z^{(1)}} = \frac{1}{N}(P - Y) W^{(2)} \odot (1 - H \odot H)", [4, 5, 3], "tanh", "ce", "auto",
     ("Z", 1, "rows"), lambda e: (e["P"] - e["Y"]) @ e["W"][2] * (1 - e["A"][1] ** 2) / e["N"]),
    (r"\frac{\partial L}{\partial Z^{(1)}} = \frac{1}{N}(P - Y) W^{(2)} \odot H", [4, 5, 3], "tanh", "ce", "auto",
     ("Z", 1, "rows"), lambda e: (e["P"] - e["Y"]) @ e["W"][2] * e["A"][1] / e["N"]),
    (r"\frac{\partial L}{\partial W} = \frac{1}{N} X^\top (P - Y)", [4, 3], None, "ce", "cs231n", ("W", 1, "Wt"),
     lambda e: e["X"].T @ (e["P"] - e["Y"]) / e["N"]),
    # Ng's course: one example per column, dZ per example, dW of the mean cost
    (r"dZ^{[2]} = A^{[2]} - Y", [3, 4, 3], "tanh", "ce", "auto", ("Z", 2, "per"), lambda e: (e["P"] - e["Y"]).T),
    (r"dZ^{[2]} = \frac{1}{m}(A^{[2]} - Y)", [3, 4, 3], "tanh", "ce", "auto", ("Z", 2, "per"), lambda e: (e["P"] - e["Y"]).T / e["N"]),
    (r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T}", [3, 4, 3], "tanh", "ce", "auto", ("W", 2, "W"),
     lambda e: (e["P"] - e["Y"]).T @ e["A"][1] / e["N"]),
    (r"dW^{[2]} = dZ^{[2]} A^{[1]T}", [3, 4, 3], "tanh", "ce", "auto", ("W", 2, "W"), lambda e: (e["P"] - e["Y"]).T @ e["A"][1]),
    (r"db^{[2]} = \frac{1}{m} dZ^{[2]} \mathbf{1}", [3, 4, 3], "tanh", "ce", "auto", ("b", 2, "bvec"),
     lambda e: (e["P"] - e["Y"]).sum(axis=0) / e["N"]),
    ("db2 = np.sum(dZ2, axis=1, keepdims=True) / m", [3, 4, 3], "tanh", "ce", "ng", ("b", 2, "bvec"),
     lambda e: (e["P"] - e["Y"]).sum(axis=0) / e["N"]),
    (r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]'}(Z^{[1]})", [3, 4, 3], "tanh", "ce", "auto", ("Z", 1, "per"),
     lambda e: (e["W"][2].T @ (e["P"] - e["Y"]).T) * e["df"](e["Z"][1]).T),
    (r"dZ^{[1]} = W^{[2]} dZ^{[2]} \odot g^{[1]'}(Z^{[1]})", [3, 3, 3], "tanh", "ce", "auto", ("Z", 1, "per"),
     lambda e: (e["W"][2] @ (e["P"] - e["Y"]).T) * e["df"](e["Z"][1]).T),
    (r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot (1 - A^{[1]} \odot A^{[1]})", [3, 4, 3], "tanh", "ce", "auto", ("Z", 1, "per"),
     lambda e: (e["W"][2].T @ (e["P"] - e["Y"]).T) * (1 - e["A"][1].T ** 2)),
    (r"dW^{[1]} = \frac{1}{m} dZ^{[1]} X^T", [3, 4, 3], "tanh", "ce", "auto", ("W", 1, "W"),
     lambda e: ((e["W"][2].T @ (e["P"] - e["Y"]).T) * e["df"](e["Z"][1]).T) @ e["X"] / e["N"]),
    # CS229 / logistic regression (one sigmoid output)
    (r"\frac{\partial J}{\partial W} = \frac{1}{N}(P - Y)^\top X", [3, 1], None, "bce", "auto", ("W", 1, "W"),
     lambda e: (e["P"] - e["Y"]).T @ e["X"] / e["N"]),
    (r"\frac{\partial J}{\partial b} = \sum_{n=1}^{N} (p^{(n)} - y^{(n)})", [3, 1], None, "bce", "auto", ("b", 1, "bvec"),
     lambda e: (e["P"] - e["Y"]).sum(axis=0)),
    # one example: Nielsen, CS224n, Goodfellow, the Matrix Cookbook
    (r"\delta^L = \nabla_a C \odot \sigma'(z^L)", [3, 4, 2], "sigmoid", "bce", "auto", ("Z", 2, "vec"),
     lambda e: ((1 - e["Y"]) / (1 - e["P"]) - e["Y"] / e["P"]) * e["P"] * (1 - e["P"])),
    (r"\delta^L = \nabla_a C \odot \sigma'(z^L)", [3, 4, 3], "sigmoid", "ce", "auto", ("Z", 2, "vec"),
     lambda e: (-e["Y"] / e["P"]) * _sig(e["Z"][2]) * (1 - _sig(e["Z"][2]))),
    (r"\delta^{(1)} = (W^{(2)})^\top \delta^{(2)} \odot \sigma'(z^{(1)})", [3, 4, 3], "sigmoid", "ce", "auto", ("Z", 1, "vec"),
     lambda e: ((e["P"] - e["Y"]) @ e["W"][2]) * e["df"](e["Z"][1])),
    (r"\frac{\partial L}{\partial z} = \hat{y} - y", [4, 3], None, "ce", "auto", ("Z", 1, "vec"), lambda e: e["P"] - e["Y"]),
    (r"\frac{\partial L}{\partial x} = (W^{(1)})^\top \delta^{(1)}", [3, 3, 3], "tanh", "ce", "auto", ("H", 0, "vec"),
     lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * e["df"](e["Z"][1])) @ e["W"][1]),
    (r"\frac{\partial L}{\partial x} = W^{(1)} \delta^{(1)}", [3, 3, 3], "tanh", "ce", "auto", ("H", 0, "vec"),
     lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * e["df"](e["Z"][1])) @ e["W"][1].T),
    (r"\frac{\partial L}{\partial W^{(2)}} = \delta^{(2)} (h^{(1)})ᵀ", [3, 4, 3], "tanh", "ce", "auto", ("W", 2, "W1"),
     lambda e: (e["P"] - e["Y"]).T @ e["A"][1]),
    (r"\frac{\partial L}{\partial W^{(1)}} = x (\delta^{(1)})^\top", [3, 3, 3], "tanh", "ce", "auto", ("W", 1, "W1"),
     lambda e: e["X"].T @ ((e["P"] - e["Y"]) @ e["W"][2] * e["df"](e["Z"][1]))),
    (r"\nabla_{a^{(k)}} J = \nabla_{h^{(k)}} J \odot f'(a^{(k)})", [3, 4, 3], "tanh", "ce", "auto", ("Z", 1, "vec"),
     lambda e: ((e["P"] - e["Y"]) @ e["W"][2]) * e["df"](e["Z"][1])),
    (r"\nabla_{a^{(k)}} J = \nabla_{h^{(k)}} J \odot f(a^{(k)})", [3, 4, 3], "tanh", "ce", "auto", ("Z", 1, "vec"),
     lambda e: ((e["P"] - e["Y"]) @ e["W"][2]) * e["f"](e["Z"][1])),
    # CS231n notes (x_i is example i inside a sum over the examples) and CS224n (row vectors, W_1 is n_0 × n_1)
    (r"\nabla_W L = \frac{1}{N}\sum_{i=1}^{N} (p_i - y_i) x_i^\top", [4, 3], None, "ce", "auto", ("W", 1, "W"),
     lambda e: (e["P"] - e["Y"]).T @ e["X"] / e["N"]),
    (r"\nabla_W L = \sum_{i=1}^{N} (p_i - y_i) x_i^\top", [4, 3], None, "ce", "auto", ("W", 1, "W"),
     lambda e: (e["P"] - e["Y"]).T @ e["X"]),
    (r"\frac{\partial J}{\partial W_2} = h^\top (\hat{y} - y)", [4, 5, 3], "sigmoid", "ce", "cs224n", ("W", 2, "Wt1"),
     lambda e: e["A"][1].T @ (e["P"] - e["Y"])),
    (r"\frac{\partial J}{\partial h} = (\hat{y} - y) W_2^\top", [4, 5, 3], "sigmoid", "ce", "cs224n", ("H", 1, "vec"),
     lambda e: (e["P"] - e["Y"]) @ e["W"][2]),
    (r"\frac{\partial J}{\partial x} = \left((\hat{y} - y) W_2^\top \odot \sigma'(x W_1 + b_1)\right) W_1^\top", [4, 5, 3], "sigmoid", "ce",
     "cs224n", ("H", 0, "vec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * e["df"](e["Z"][1])) @ e["W"][1]),
    (r"\frac{\partial J}{\partial x} = \left((\hat{y} - y) W_2^\top \odot \sigma(x W_1 + b_1)\right) W_1^\top", [4, 5, 3], "sigmoid", "ce",
     "cs224n", ("H", 0, "vec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * e["f"](e["Z"][1])) @ e["W"][1]),
    (r"\frac{\partial L}{\partial z^{(2)}} = z^{(2)} - y", [3, 3, 3], "tanh", "mse", "auto", ("Z", 2, "vec"), lambda e: e["P"] - e["Y"]),
    (r"\frac{\partial L}{\partial z^{(2)}} = \frac{2}{K}(z^{(2)} - y)", [3, 3, 3], "tanh", "mse", "auto", ("Z", 2, "vec"),
     lambda e: (e["P"] - e["Y"]) * 2 / 3),
]


def _net(sizes, act, loss):
    return sd.mlp(sizes, loss=loss) if act is None else sd.mlp(sizes, act, loss)


def _expected(sizes, act, loss, target, rhs) -> str:
    """The verdict an independent computation gives: finite differences of a NumPy twin of the network
    against the item's right side written in NumPy."""
    what, layer, layout = target
    n = 1 if layout in ("vec", "W1", "Wt1") else N_BATCH
    twin = Net(sizes, act or "tanh", loss, n)
    g = twin.grad("H" if what == "H" and layer > 0 else "Z" if what == "Z" else what, layer) if not (what == "H" and layer == 0) \
        else _input_grad(twin)
    claimed = np.asarray(rhs(twin.env()), dtype=float)
    if layout in ("Wt", "Wt1"):
        claimed = claimed.T
    elif layout == "per":  # Ng: column n of dZ is example n's own gradient = N × the mean's
        claimed, g = claimed.T, g * n
    if layout in ("vec", "bvec"):
        claimed, g = claimed.reshape(-1), g.reshape(-1)
    if claimed.shape != g.shape:
        return "refuted"
    return "proved" if np.allclose(claimed, g, rtol=1e-5, atol=1e-7) else "refuted"


def _input_grad(twin: Net):
    eps, out = 1e-6, np.zeros_like(twin.X)
    for idx in np.ndindex(twin.X.shape):
        vals = []
        for s in (1, -1):
            saved = twin.X.copy()
            twin.X[idx] += s * eps
            vals.append(twin.forward()[0])
            twin.X = saved
        out[idx] = (vals[0] - vals[1]) / (2 * eps)
    return out


def test_the_oracle_rejects_a_wrong_gradient():
    """The finite differences are a real oracle: they tell a right backprop line from a wrong one."""
    right = _expected([4, 5, 3], "relu", "ce", ("W", 2, "W"), lambda e: ((e["P"] - e["Y"]) / e["N"]).T @ e["A"][1])
    wrong = _expected([4, 5, 3], "relu", "ce", ("W", 2, "W"), lambda e: (e["P"] - e["Y"]).T @ e["A"][1])
    assert (right, wrong) == ("proved", "refuted")


def test_heldout_set_has_no_wrong_verdict():
    results = []
    for claim, sizes, act, loss, conv, target, rhs in ITEMS:
        expected = _expected(sizes, act, loss, target, rhs)
        try:
            got = check(claim, _net(sizes, act, loss), convention=conv, seed=1).status
        except SymderivError as exc:
            got = f"refused ({str(exc)[:80]})"
        results.append((claim, conv, expected, got))
    wrong = [r for r in results if r[3] in ("proved", "refuted") and r[3] != r[2]]
    correct = [r for r in results if r[3] == r[2]]
    assert not wrong, "wrong verdicts:\n" + "\n".join(map(str, wrong))
    assert {r[2] for r in results} == {"proved", "refuted"}  # the set has right and wrong lines
    assert len(correct) >= 0.95 * len(results), "not decided as expected:\n" + "\n".join(
        str(r) for r in results if r[3] != r[2])


@pytest.mark.parametrize("k", [0, 2, 20])
def test_the_oracle_and_the_checker_see_the_same_network(k):
    """Spot check of the twin: the checker proves what the finite differences confirm."""
    claim, sizes, act, loss, conv, target, rhs = ITEMS[k]
    assert _expected(sizes, act, loss, target, rhs) == check(claim, _net(sizes, act, loss), convention=conv).status


def _mutants(claim: str, rhs):
    """Wrong versions of a right line, as students make them: the right side doubled, negated."""
    left, right = claim.split("=", 1)
    latex = "\\" in claim or "{" in claim
    if latex:
        return [(f"{left}= 2 \\left({right}\\right)", lambda e: 2 * np.asarray(rhs(e))),
                (f"{left}= -\\left({right}\\right)", lambda e: -np.asarray(rhs(e)))]
    return [(f"{left}= 2 * ({right})", lambda e: 2 * np.asarray(rhs(e))),
            (f"{left}= -({right})", lambda e: -np.asarray(rhs(e)))]


def test_doubled_and_negated_right_lines_are_never_proved():
    """Every right line of the set, doubled and negated: the finite differences say wrong, and the
    checker must never say proved (it should refute, and name the factor or the sign)."""
    checked = 0
    for claim, sizes, act, loss, conv, target, rhs in ITEMS[::3]:
        if _expected(sizes, act, loss, target, rhs) != "proved":
            continue
        for text, wrong in _mutants(claim, rhs):
            assert _expected(sizes, act, loss, target, wrong) == "refuted", text
            try:
                v = check(text, _net(sizes, act, loss), convention=conv, seed=1)
            except SymderivError:
                continue  # refused: never a wrong verdict
            assert v.status != "proved", text
            assert v.status == "refuted", f"{text}: {v.status}"
            reason = v.links[0].reason
            assert "sign error" in reason or "factor" in reason, f"{text}: {reason}"
            checked += 1
    assert checked >= 10
