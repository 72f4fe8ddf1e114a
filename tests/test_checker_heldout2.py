"""A second held-out set of derivations (issue 18), written the way the sources write them: CS231n's
NumPy code and notes, Ng's course (code and LaTeX, one example per column), CS229's sums, CS224n's row
vectors, Nielsen's ``w^l_{jk}``, Goodfellow's algorithm 6.4 (``a^{(k)}`` the pre-activation), UFLDL's
``\\bullet``, softmax Jacobians and VJPs, Unicode superscripts, scalar derivative identities and whole
multi-line derivations with one wrong line.

Every expected verdict is set **independently of symderiv**: a NumPy twin of the network, central
finite differences of the mean loss (or of the softmax, or of a scalar function) by the quantity a
line is about, against the line's right side written out by hand in NumPy.  One line may need
several oracles (a symbolic layer ``l`` is checked at each layer it names); a derivation has one
oracle list per link.  A link is expected "proved" when every oracle agrees, "refuted" otherwise.

Asserted: **no wrong verdict** (a proved link the finite differences call wrong, or a refuted link
they call right), and at least 95 % of the items decided exactly as expected.
"""
from __future__ import annotations

import numpy as np
import pytest

import symderiv as sd
from symderiv.claims import check
from symderiv.errors import SymderivError

N_BATCH = 3
EPS = 1e-6


def _activation(name):
    if name == "relu":
        return lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)
    if name == "tanh":
        return np.tanh, lambda z: 1.0 - np.tanh(z) ** 2
    s = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    return s, lambda z: s(z) * (1.0 - s(z))


def _softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class Twin:
    """A NumPy network like ``sd.mlp(sizes, act, loss)``: ``W[l]`` is ``n_l × n_(l-1)``, one example per
    row of ``X``, the batch loss the mean of the examples' losses.  ``loss="ce1"``: softmax
    cross-entropy with a one-hot label of class ``t``."""

    def __init__(self, sizes, act, loss, n, seed, t=None):
        rng = np.random.default_rng(seed)
        self.sizes, self.n, self.t = sizes, n, t
        self.loss = "ce" if loss == "ce1" else loss
        self.f, self.df = _activation(act or "tanh")
        self.L = len(sizes) - 1
        self.W = {l: rng.normal(size=(sizes[l], sizes[l - 1])) for l in range(1, self.L + 1)}
        self.b = {l: rng.normal(size=sizes[l]) for l in range(1, self.L + 1)}
        self.X = rng.normal(size=(n, sizes[0]))
        K = sizes[-1]
        if loss == "ce1":
            self.Y = np.zeros((n, K))
            self.Y[:, t] = 1.0
        elif loss == "ce":
            w = rng.uniform(0.1, 1.0, size=(n, K))
            self.Y = w / w.sum(axis=1, keepdims=True)
        elif loss == "bce":
            self.Y = rng.uniform(0.05, 0.95, size=(n, K))
        else:
            self.Y = rng.normal(size=(n, K))

    def forward(self, X=None, W=None, b=None, dZ=None, dH=None):
        X = self.X if X is None else X
        W, b, dZ, dH = W or self.W, b or self.b, dZ or {}, dH or {}
        H, Z, A = X, {}, {0: X}
        for l in range(1, self.L + 1):
            Z[l] = H @ W[l].T + b[l] + dZ.get(l, 0.0)
            if l < self.L:
                H = self.f(Z[l]) + dH.get(l, 0.0)
                A[l] = H
        z = Z[self.L]
        if self.loss == "ce":
            P = _softmax_rows(z)
            per = -(self.Y * np.log(P)).sum(axis=1)
        elif self.loss == "bce":
            P = 1.0 / (1.0 + np.exp(-z))
            per = -(self.Y * np.log(P) + (1 - self.Y) * np.log(1 - P)).sum(axis=1)
        else:
            P = z
            per = ((z - self.Y) ** 2).mean(axis=1)
        return per.mean(), Z, A, P

    def loss_of(self, P):
        """The mean loss as a function of the predictions (softmax CE: −Σ y log p; binary CE; MSE)."""
        if self.loss == "ce":
            return -(self.Y * np.log(P)).sum(axis=1).mean()
        if self.loss == "bce":
            return -(self.Y * np.log(P) + (1 - self.Y) * np.log(1 - P)).sum(axis=1).mean()
        return ((P - self.Y) ** 2).mean(axis=1).mean()

    def _fd(self, base, loss_at):
        out = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            vals = []
            for s in (1.0, -1.0):
                moved = base.copy()
                moved[idx] += s * EPS
                vals.append(loss_at(moved))
            out[idx] = (vals[0] - vals[1]) / (2 * EPS)
        return out

    def grad(self, what: str, l: int):
        """∂(mean loss)/∂ W^(l), b^(l), Z^(l) or H^(l) (batch, rows; H^(0) is the input X)."""
        if what == "W":
            return self._fd(self.W[l], lambda t: self.forward(W={**self.W, l: t})[0])
        if what == "b":
            return self._fd(self.b[l], lambda t: self.forward(b={**self.b, l: t})[0])
        if what == "H" and l == 0:
            return self._fd(self.X, lambda t: self.forward(X=t)[0])
        zero = np.zeros((self.n, self.sizes[l]))
        if what == "Z":
            return self._fd(zero, lambda t: self.forward(dZ={l: t})[0])
        return self._fd(zero, lambda t: self.forward(dH={l: t})[0])

    def env(self):
        loss, Z, A, P = self.forward()
        return dict(X=self.X, Y=self.Y, P=P, N=self.n, W=self.W, b=self.b, Z=Z, A=A, f=self.f, df=self.df,
                    t=self.t, loss=loss, dZ={l: self.grad("Z", l) for l in range(1, self.L + 1)})


def _softmax_jacobian(z):
    """∂p/∂z of one example's softmax, by central differences (row i: p_i)."""
    J = np.zeros((z.size, z.size))
    for j in range(z.size):
        e = np.zeros(z.size)
        e[j] = EPS
        J[:, j] = (_softmax_rows((z + e)[None])[0] - _softmax_rows((z - e)[None])[0]) / (2 * EPS)
    return J


def _truth(twin: Twin, target):
    """The quantity a line is about, computed by the twin (finite differences or the forward pass), and
    the layout the line writes it in."""
    kind, layer, layout = target
    env = twin.env()
    if kind in ("W", "b", "Z", "H"):
        g = twin.grad(kind, layer)
    elif kind == "fwd":
        name, l = layer
        g = {"Z": lambda: env["Z"][l], "A": lambda: env["A"][l], "P": lambda: env["P"],
             "L": lambda: np.array(env["loss"])}[name]()
    elif kind == "P":  # ∂(mean loss)/∂P, the loss as a function of independent predictions
        g = twin._fd(env["P"].copy(), lambda P: twin.loss_of(P))
    elif kind == "jac":
        g = _softmax_jacobian(env["Z"][twin.L][0])
    else:
        raise AssertionError(kind)
    return g, env


def _line_holds(spec, sizes, act, loss, seed) -> bool:
    """Does one link hold by the independent computation?  ``spec`` is a list of (target, rhs) oracles, all
    of which must agree (a symbolic layer: one per layer)."""
    for target, rhs in spec:
        kind, layer, layout = target
        if kind == "fn":
            for u in np.linspace(-2.3, 1.9, 7):
                d = (layer(u + EPS) - layer(u - EPS)) / (2 * EPS)
                if not np.isclose(rhs(u), d, rtol=1e-6, atol=1e-7):
                    return False
            continue
        classes = range(sizes[-1]) if loss == "ce1" else [None]
        for t in classes:
            n = 1 if layout in ("vec", "vec1", "W1", "Wt1", "at_t") else N_BATCH
            twin = Twin(sizes, act, loss, n, seed, t)
            g, env = _truth(twin, target)
            claimed = np.asarray(rhs(env), dtype=float)
            if layout in ("Wt", "Wt1"):
                claimed = claimed.T
            elif layout == "per":  # Ng: column n of dZ is example n's own gradient = N × the mean's
                claimed, g = claimed.T, g * n
            elif layout == "cols":
                claimed = claimed.T
            elif layout == "at_t":
                g = g[0, t]
            if layout in ("vec", "bvec", "flat", "at_t") or kind == "fwd" and layer[0] == "L":
                claimed, g = claimed.reshape(-1), np.asarray(g).reshape(-1)
            if claimed.shape != np.shape(g) or not np.allclose(claimed, g, rtol=1e-5, atol=1e-6):
                return False
    return True


def one(target, rhs):
    """A single-link item's oracle list."""
    return [[(target, rhs)]]


def each(targets_rhs):
    """One link checked at several layers (a symbolic l): every oracle must agree."""
    return [list(targets_rhs)]


# --- helpers for the right sides (NumPy, written by hand) -----------------------------------------
def dsc(e):
    """CS231n's dscores: the mean loss's gradient by the scores, (P − Y)/N."""
    return (e["P"] - e["Y"]) / e["N"]


def d1(e):
    """∂L/∂Z^(1) of a two-layer net (rows), by the chain rule written out."""
    return dsc(e) @ e["W"][2] * e["df"](e["Z"][1])


def onehot(e):
    y = np.zeros(e["P"].shape)
    y[:, e["t"]] = 1.0
    return y


def _sig(u):
    return 1 / (1 + np.exp(-u))


NIELSEN_BP2 = r"\delta^l = ((w^{l+1})^T \delta^{l+1}) \odot \sigma'(z^l)"

# (claim, sizes, activation, loss, convention, oracle lists: one per link)
ITEMS = [
    # --- CS231n's two-layer net in NumPy (rows; its W is n_(l-1) × n_l) ---------------------------
    ("dW2 = np.dot(hidden_layer.T, dscores)", [4, 5, 3], "relu", "ce", "cs231n",
     one(("W", 2, "Wt"), lambda e: e["A"][1].T @ dsc(e))),
    ("dW2 = hidden_layer.T.dot(dscores)", [4, 5, 3], "relu", "ce", "auto",
     one(("W", 2, "Wt"), lambda e: e["A"][1].T @ dsc(e))),
    ("dhidden = np.dot(dscores, W2.T)", [4, 5, 3], "relu", "ce", "cs231n",
     one(("H", 1, "rows"), lambda e: dsc(e) @ e["W"][2])),
    ("dW1 = np.dot(X.T, dhidden * (hidden_layer > 0))", [4, 5, 3], "relu", "ce", "cs231n",
     one(("W", 1, "Wt"), lambda e: e["X"].T @ (dsc(e) @ e["W"][2] * (e["A"][1] > 0)))),
    ("dW1 = np.dot(X.T, dhidden)", [4, 5, 3], "relu", "ce", "cs231n",
     one(("W", 1, "Wt"), lambda e: e["X"].T @ (dsc(e) @ e["W"][2]))),
    ("db1 = np.sum(dhidden * (hidden_layer > 0), axis=0)", [4, 5, 3], "relu", "ce", "cs231n",
     one(("b", 1, "bvec"), lambda e: (dsc(e) @ e["W"][2] * (e["A"][1] > 0)).sum(axis=0))),
    ("db2 = np.sum(dscores, axis=0, keepdims=True) * N", [4, 5, 3], "relu", "ce", "cs231n",
     one(("b", 2, "bvec"), lambda e: dsc(e).sum(axis=0) * e["N"])),
    ("scores = np.dot(hidden_layer, W2) + b2", [4, 5, 3], "relu", "ce", "cs231n",
     one(("fwd", ("Z", 2), "rows"), lambda e: e["A"][1] @ e["W"][2].T + e["b"][2])),
    ("probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)", [4, 5, 3], "relu", "ce", "cs231n",
     one(("fwd", ("P", None), "rows"), lambda e: np.exp(e["Z"][2]) / np.exp(e["Z"][2]).sum(axis=1, keepdims=True))),
    ("loss = -np.sum(Y * np.log(probs)) / N", [4, 5, 3], "relu", "ce", "cs231n",
     one(("fwd", ("L", None), "rows"), lambda e: -(e["Y"] * np.log(e["P"])).sum() / e["N"])),
    ("loss = -np.sum(Y * np.log(probs))", [4, 5, 3], "relu", "ce", "cs231n",
     one(("fwd", ("L", None), "rows"), lambda e: -(e["Y"] * np.log(e["P"])).sum())),
    # --- Ng's course, code (one example per column; dZ is each example's own gradient) --------------
    ("dZ2 = A2 - Y", [3, 4, 3], "tanh", "ce", "ng", one(("Z", 2, "per"), lambda e: (e["P"] - e["Y"]).T)),
    ("dW2 = (1 / m) * np.dot(dZ2, A1.T)", [3, 4, 3], "tanh", "ce", "ng",
     one(("W", 2, "W"), lambda e: (e["P"] - e["Y"]).T @ e["A"][1] / e["N"])),
    ("dW2 = np.dot(dZ2, A1.T)", [3, 4, 3], "tanh", "ce", "ng",
     one(("W", 2, "W"), lambda e: (e["P"] - e["Y"]).T @ e["A"][1])),
    ("dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))", [3, 4, 3], "tanh", "ce", "ng",
     one(("Z", 1, "per"), lambda e: (e["W"][2].T @ (e["P"] - e["Y"]).T) * (1 - e["A"][1].T ** 2))),
    ("dZ1 = np.dot(W2.T, dZ2) * (1 - A1)", [3, 4, 3], "tanh", "ce", "ng",
     one(("Z", 1, "per"), lambda e: (e["W"][2].T @ (e["P"] - e["Y"]).T) * (1 - e["A"][1].T))),
    ("dZ1 = np.multiply(np.dot(W2.T, dZ2), A1 * (1 - A1))", [3, 4, 3], "sigmoid", "ce", "ng",
     one(("Z", 1, "per"), lambda e: (e["W"][2].T @ (e["P"] - e["Y"]).T) * (e["A"][1] * (1 - e["A"][1])).T)),
    ("db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)", [3, 4, 3], "tanh", "ce", "ng",
     one(("b", 1, "bvec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * e["df"](e["Z"][1])).sum(axis=0) / e["N"])),
    ("dW1 = 1 / m * dZ1.dot(X.T)", [3, 4, 3], "tanh", "ce", "ng",
     one(("W", 1, "W"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * e["df"](e["Z"][1])).T @ e["X"] / e["N"])),
    ("Z1 = np.dot(W1, X) + b1", [3, 4, 3], "tanh", "ce", "ng",
     one(("fwd", ("Z", 1), "cols"), lambda e: e["W"][1] @ e["X"].T + e["b"][1][:, None])),
    ("cost = -np.sum(Y * np.log(A2) + (1 - Y) * np.log(1 - A2)) / m", [3, 4, 1], "tanh", "bce", "ng",
     one(("fwd", ("L", None), "cols"), lambda e: -(e["Y"] * np.log(e["P"]) + (1 - e["Y"]) * np.log(1 - e["P"])).sum() / e["N"])),
    # --- Ng's course, LaTeX ---------------------------------------------------------------------------
    (r"\frac{\partial \mathcal{J}}{\partial W^{[2]}} = \frac{1}{m} \left(A^{[2]} - Y\right) A^{[1]T}", [3, 4, 3], "tanh",
     "ce", "ng", one(("W", 2, "W"), lambda e: (e["P"] - e["Y"]).T @ e["A"][1] / e["N"])),
    (r"dZ^{[1]} = W^{[2]T} dZ^{[2]} * g^{[1]'}(Z^{[1]})", [3, 4, 3], "relu", "ce", "auto",
     one(("Z", 1, "per"), lambda e: (e["W"][2].T @ (e["P"] - e["Y"]).T) * e["df"](e["Z"][1]).T)),
    (r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot A^{[1]} \odot (1 - A^{[1]})", [3, 4, 3], "sigmoid", "ce", "auto",
     one(("Z", 1, "per"), lambda e: (e["W"][2].T @ (e["P"] - e["Y"]).T) * (e["A"][1] * (1 - e["A"][1])).T)),
    (r"dZ^{[1]} = W^{[1]T} dZ^{[2]} \odot g^{[1]'}(Z^{[1]})", [3, 3, 3], "tanh", "ce", "auto",
     one(("Z", 1, "per"), lambda e: (e["W"][1].T @ (e["P"] - e["Y"]).T) * e["df"](e["Z"][1]).T)),
    (r"db^{[1]} = \frac{1}{m} \sum_{i=1}^{m} dz^{[1](i)}", [3, 4, 3], "tanh", "ce", "ng",
     one(("b", 1, "bvec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * e["df"](e["Z"][1])).sum(axis=0) / e["N"])),
    (r"dw = \frac{1}{m} X (A - Y)^T", [3, 1], None, "bce", "ng",
     one(("W", 1, "Wt"), lambda e: e["X"].T @ (e["P"] - e["Y"]) / e["N"])),
    (r"dw = X (A - Y)^T", [3, 1], None, "bce", "ng", one(("W", 1, "Wt"), lambda e: e["X"].T @ (e["P"] - e["Y"]))),
    (r"db = \frac{1}{m} \sum_{i=1}^{m} \left(a^{(i)} - y^{(i)}\right)", [3, 1], None, "bce", "ng",
     one(("b", 1, "bvec"), lambda e: (e["P"] - e["Y"]).sum(axis=0) / e["N"])),
    # --- CS229: logistic regression with sums ---------------------------------------------------------
    (r"\frac{\partial J}{\partial w_j} = \frac{1}{m}\sum_{i=1}^{m}\left(\sigma(w^T x^{(i)} + b) - y^{(i)}\right) x^{(i)}_j",
     [3, 1], None, "bce", "auto", one(("W", 1, "flat"), lambda e: (e["X"].T @ (e["P"] - e["Y"])) / e["N"])),
    (r"\frac{\partial J}{\partial b} = \frac{1}{m}\sum_{i=1}^{m}\left(\sigma(w^\top x^{(i)} + b) - y^{(i)}\right)",
     [3, 1], None, "bce", "auto", one(("b", 1, "bvec"), lambda e: (e["P"] - e["Y"]).sum(axis=0) / e["N"])),
    (r"\frac{\partial J}{\partial w_j} = \frac{1}{m}\sum_{i=1}^{m}\left(y^{(i)} - \sigma(w^T x^{(i)} + b)\right) x^{(i)}_j",
     [3, 1], None, "bce", "auto", one(("W", 1, "flat"), lambda e: (e["X"].T @ (e["Y"] - e["P"])) / e["N"])),
    # --- Nielsen (one example; w^l_{jk}, a symbolic layer l) -------------------------------------------
    (NIELSEN_BP2, [3, 4, 4, 2], "sigmoid", "bce", "nielsen",
     each((("Z", l, "vec"), lambda e, l=l: (e["dZ"][l + 1] @ e["W"][l + 1]) * e["df"](e["Z"][l])) for l in (1, 2))),
    (r"\frac{\partial C}{\partial b^l_j} = \delta^l_j", [3, 4, 4, 2], "sigmoid", "bce", "nielsen",
     each((("b", l, "vec"), lambda e, l=l: e["dZ"][l]) for l in (1, 2, 3))),
    (r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_k \delta^l_j", [3, 4, 4, 2], "sigmoid", "bce", "nielsen",
     each((("W", l, "W1"), lambda e, l=l: e["dZ"][l].T @ e["A"][l - 1]) for l in (1, 2, 3))),
    (r"\frac{\partial C}{\partial w^l_{jk}} = a^{l-1}_j \delta^l_k", [3, 3, 3, 3], "sigmoid", "bce", "nielsen",
     each((("W", l, "W1"), lambda e, l=l: (e["dZ"][l].T @ e["A"][l - 1]).T) for l in (1, 2, 3))),
    (r"\delta^L = a^L - y", [3, 4, 2], "sigmoid", "bce", "nielsen", one(("Z", 2, "vec"), lambda e: e["P"] - e["Y"])),
    (r"\frac{\partial C}{\partial w^L_{jk}} = a^{L-1}_k (a^L_j - y_j) \sigma'(z^L_j)", [3, 4, 2], "sigmoid", "bce", "nielsen",
     one(("W", 2, "W1"), lambda e: ((e["P"] - e["Y"]) * e["P"] * (1 - e["P"])).T @ e["A"][1])),
    (r"\delta^L_j = \frac{\partial C}{\partial a^L_j} \sigma'(z^L_j)", [3, 4, 2], "sigmoid", "bce", "nielsen",
     one(("Z", 2, "vec"), lambda e: ((1 - e["Y"]) / (1 - e["P"]) - e["Y"] / e["P"]) * e["P"] * (1 - e["P"]))),
    # --- Goodfellow et al., algorithm 6.4 (a^{(k)} the pre-activation) ---------------------------------
    (r"\nabla_{W^{(k)}} J = \nabla_{a^{(k)}} J \; h^{(k-1)\top}", [3, 4, 4, 3], "tanh", "ce", "goodfellow",
     each((("W", k, "W1"), lambda e, k=k: e["dZ"][k].T @ e["A"][k - 1]) for k in (1, 2, 3))),
    (r"\nabla_{h^{(k-1)}} J = W^{(k)\top} \nabla_{a^{(k)}} J", [3, 4, 4, 3], "tanh", "ce", "goodfellow",
     each((("H", k - 1, "vec"), lambda e, k=k: e["dZ"][k] @ e["W"][k]) for k in (1, 2, 3))),
    (r"\nabla_{h^{(k-1)}} J = W^{(k)} \nabla_{a^{(k)}} J", [3, 3, 3, 3], "tanh", "ce", "goodfellow",
     each((("H", k - 1, "vec"), lambda e, k=k: e["dZ"][k] @ e["W"][k].T) for k in (1, 2, 3))),
    (r"\nabla_{b^{(k)}} J = \nabla_{a^{(k)}} J", [3, 4, 4, 3], "tanh", "ce", "goodfellow",
     each((("b", k, "vec"), lambda e, k=k: e["dZ"][k]) for k in (1, 2, 3))),
    # --- softmax Jacobian and VJPs (one example) ------------------------------------------------------
    (r"\frac{\partial p}{\partial z} = \mathrm{diag}(p) - p p^\top", [4, 3], None, "ce", "auto",
     one(("jac", None, "vec1"), lambda e: np.diag(e["P"][0]) - np.outer(e["P"][0], e["P"][0]))),
    (r"\frac{\partial \hat{y}}{\partial z} = \mathrm{diag}(\hat{y}) + \hat{y}\hat{y}^{\top}", [4, 3], None, "ce", "auto",
     one(("jac", None, "vec1"), lambda e: np.diag(e["P"][0]) + np.outer(e["P"][0], e["P"][0]))),
    (r"\frac{\partial L}{\partial z} = \left(\mathrm{diag}(p) - p p^{\top}\right) \nabla_p L", [4, 3], None, "ce", "auto",
     one(("Z", 1, "vec"), lambda e: (np.diag(e["P"][0]) - np.outer(e["P"][0], e["P"][0])) @ (-e["Y"][0] / e["P"][0]))),
    (r"\frac{\partial p_i}{\partial z_j} = p_j\left(\delta_{ij} - p_i\right)", [4, 3], None, "ce", "auto",
     one(("jac", None, "vec1"), lambda e: e["P"][0][None, :] * (np.eye(3) - e["P"][0][:, None]))),
    (r"\frac{\partial p_i}{\partial z_j} = p_i\left(1 - p_j\right)", [4, 3], None, "ce", "auto",
     one(("jac", None, "vec1"), lambda e: e["P"][0][:, None] * (1 - e["P"][0][None, :]))),
    (r"\frac{\partial L}{\partial z} = \left(\frac{\partial p}{\partial z}\right)^{\top} \frac{\partial L}{\partial p}",
     [4, 3], None, "ce", "auto", one(("Z", 1, "vec"), lambda e: _softmax_jacobian(e["Z"][1][0]).T @ (-e["Y"][0] / e["P"][0]))),
    # --- CS231n's notes: one example, one-hot label y_i, scores f -------------------------------------
    (r"\frac{\partial L_i}{\partial f_k} = p_k - \mathbb{1}(y_i = k)", [4, 3], None, "ce1", "auto",
     one(("Z", 1, "vec"), lambda e: e["P"] - onehot(e))),
    (r"\frac{\partial L_i}{\partial f_{y_i}} = p_{y_i} - 1", [4, 3], None, "ce1", "auto",
     one(("Z", 1, "at_t"), lambda e: e["P"][0, e["t"]] - 1)),
    (r"\frac{\partial L_i}{\partial f_{y_i}} = p_{y_i}", [4, 3], None, "ce1", "auto",
     one(("Z", 1, "at_t"), lambda e: e["P"][0, e["t"]])),
    (r"L_i = -f_{y_i} + \log\sum_j e^{f_j}", [4, 3], None, "ce1", "auto",
     one(("fwd", ("L", None), "vec"), lambda e: -e["Z"][1][0, e["t"]] + np.log(np.exp(e["Z"][1][0]).sum()))),
    (r"L_i = -\log\left(\frac{e^{f_{y_i}}}{\sum_j e^{f_j}}\right)", [4, 3], None, "ce1", "auto",
     one(("fwd", ("L", None), "vec"), lambda e: -np.log(np.exp(e["Z"][1][0, e["t"]]) / np.exp(e["Z"][1][0]).sum()))),
    (r"L_i = f_{y_i} - \log\sum_j e^{f_j}", [4, 3], None, "ce1", "auto",
     one(("fwd", ("L", None), "vec"), lambda e: e["Z"][1][0, e["t"]] - np.log(np.exp(e["Z"][1][0]).sum()))),
    # --- batches in rows, LaTeX -----------------------------------------------------------------------
    (r"Z^{(1)} = X W^{(1)\top} + \mathbf{1} b^{(1)\top}", [3, 4, 3], "relu", "ce", "auto",
     one(("fwd", ("Z", 1), "rows"), lambda e: e["X"] @ e["W"][1].T + e["b"][1])),
    (r"\frac{\partial L}{\partial W^{(1)}} = \frac{1}{N} \left[ (P - Y) W^{(2)} \odot \mathbb{1}[Z^{(1)} > 0] \right]^{\mathsf{T}} X",
     [3, 4, 3], "relu", "ce", "auto",
     one(("W", 1, "W"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * (e["Z"][1] > 0)).T @ e["X"] / e["N"])),
    (r"\frac{\partial L}{\partial b^{(1)}} = \frac{1}{N} \left( (P - Y) W^{(2)} \odot \mathbb{1}[Z^{(1)} > 0] \right)^{\top} \mathbf{1}_N",
     [3, 4, 3], "relu", "ce", "auto",
     one(("b", 1, "bvec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * (e["Z"][1] > 0)).sum(axis=0) / e["N"])),
    (r"\frac{\partial L}{\partial W^{(1)}} = \frac{1}{N} \left[ (P - Y) W^{(2)} \odot \mathbb{1}[Z^{(2)} > 0] \right]^{\mathsf{T}} X",
     [3, 3, 3], "relu", "ce", "auto",
     one(("W", 1, "W"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * (e["Z"][2] > 0)).T @ e["X"] / e["N"])),
    (r"\frac{\partial L}{\partial W^{(1)}} = \frac{1}{N} X^{\top} \left[ (P - Y) W^{(2)} \odot \mathbb{1}[Z^{(1)} > 0] \right]",
     [3, 3, 3], "relu", "ce", "auto",
     one(("W", 1, "W"), lambda e: e["X"].T @ ((e["P"] - e["Y"]) @ e["W"][2] * (e["Z"][1] > 0)) / e["N"])),
    # --- Unicode superscripts ---------------------------------------------------------------------------
    ("δ⁽¹⁾ = (W⁽²⁾)ᵀ δ⁽²⁾ ⊙ σ'(z⁽¹⁾)", [3, 4, 3], "sigmoid", "ce", "auto",
     one(("Z", 1, "vec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2]) * e["df"](e["Z"][1]))),
    ("∂L/∂W⁽¹⁾ = δ⁽¹⁾ xᵀ", [3, 4, 3], "sigmoid", "ce", "auto",
     one(("W", 1, "W1"), lambda e: (((e["P"] - e["Y"]) @ e["W"][2]) * e["df"](e["Z"][1])).T @ e["X"])),
    ("∂L/∂b⁽¹⁾ = δ⁽²⁾", [3, 3, 3], "sigmoid", "ce", "auto", one(("b", 1, "vec"), lambda e: e["P"] - e["Y"])),
    # --- UFLDL's bullet, ReLU masks and Heaviside ------------------------------------------------------
    (r"\delta^{(l)} = \left((W^{(l+1)})^T \delta^{(l+1)}\right) \bullet f'(z^{(l)})", [3, 4, 4, 3], "tanh", "ce", "auto",
     each((("Z", l, "vec"), lambda e, l=l: (e["dZ"][l + 1] @ e["W"][l + 1]) * e["df"](e["Z"][l])) for l in (1, 2))),
    ("delta1 = W2.T @ delta2 * (z1 >= 0)", [3, 4, 3], "relu", "ce", "auto",
     one(("Z", 1, "vec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2]) * (e["Z"][1] >= 0))),
    (r"\delta^{(1)} = W^{(2)T}\delta^{(2)} \odot H(z^{(1)})", [3, 4, 3], "relu", "ce", "auto",
     one(("Z", 1, "vec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2]) * (e["Z"][1] > 0))),
    (r"\delta^{(1)} = W^{(2)T}\delta^{(2)} \odot \max(0, z^{(1)})", [3, 4, 3], "relu", "ce", "auto",
     one(("Z", 1, "vec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2]) * np.maximum(0, e["Z"][1]))),
    # --- scalar derivative identities ------------------------------------------------------------------
    (r"\sigma'(u) = \sigma(u)\,\sigma(-u)", [3, 2], None, "ce", "auto", one(("fn", _sig, None), lambda u: _sig(u) * _sig(-u))),
    (r"\frac{d}{du}\tanh(u) = 1 - \tanh(u)^2", [3, 2], None, "ce", "auto",
     one(("fn", np.tanh, None), lambda u: 1 - np.tanh(u) ** 2)),
    (r"\sigma'(u) = \frac{e^{-u}}{\left(1 + e^{-u}\right)^{2}}", [3, 2], None, "ce", "auto",
     one(("fn", _sig, None), lambda u: np.exp(-u) / (1 + np.exp(-u)) ** 2)),
    (r"\tanh'(u) = 1 + \tanh^2(u)", [3, 2], None, "ce", "auto", one(("fn", np.tanh, None), lambda u: 1 + np.tanh(u) ** 2)),
]

# --- whole derivations: one oracle list per link ----------------------------------------------------
_ONE_EXAMPLE = [
    [(("Z", 2, "vec"), lambda e: e["P"] - e["Y"])],
    [(("W", 2, "W1"), lambda e: (e["P"] - e["Y"]).T @ e["A"][1])],
    [(("Z", 1, "vec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2]) * (1 - e["A"][1] ** 2))],
    [(("W", 1, "W1"), lambda e: (((e["P"] - e["Y"]) @ e["W"][2]) * (1 - e["A"][1] ** 2)).T @ e["X"])],
]
_ONE_EXAMPLE_WRONG = list(_ONE_EXAMPLE)
_ONE_EXAMPLE_WRONG[2] = [(("Z", 1, "vec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2]) * (1 - e["A"][1]))]
_CS231N_CODE = [
    [(("Z", 2, "rows"), dsc)],
    [(("W", 2, "Wt"), lambda e: e["A"][1].T @ dsc(e))],
    [(("b", 2, "bvec"), lambda e: dsc(e).sum(axis=0))],
    [(("H", 1, "rows"), lambda e: dsc(e) @ e["W"][2])],
    [(("W", 1, "Wt"), lambda e: e["X"].T @ (dsc(e) @ e["W"][2] * (e["A"][1] > 0)))],
    [(("b", 1, "bvec"), lambda e: (dsc(e) @ e["W"][2] * (e["A"][1] > 0)).sum(axis=0))],
]
_NG_CODE = [
    [(("Z", 2, "per"), lambda e: (e["P"] - e["Y"]).T)],
    [(("W", 2, "W"), lambda e: (e["P"] - e["Y"]).T @ e["A"][1] / e["N"])],
    [(("b", 2, "bvec"), lambda e: (e["P"] - e["Y"]).sum(axis=0) / e["N"])],
    [(("Z", 1, "per"), lambda e: (e["W"][2].T @ (e["P"] - e["Y"]).T) * (1 - e["A"][1].T ** 2))],
    [(("W", 1, "W"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * (1 - e["A"][1] ** 2)).T @ e["X"])],
    [(("b", 1, "bvec"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * (1 - e["A"][1] ** 2)).sum(axis=0) / e["N"])],
]

DERIVATIONS = [
    (r"""\begin{align}
\delta^{(2)} &= p - y \\
\frac{\partial L}{\partial W^{(2)}} &= \delta^{(2)} \left(h^{(1)}\right)^{\top} \\
\delta^{(1)} &= \left(W^{(2)}\right)^{\top} \delta^{(2)} \odot \left(1 - h^{(1)} \odot h^{(1)}\right) \\
\frac{\partial L}{\partial W^{(1)}} &= \delta^{(1)} x^{\top}
\end{align}""", [3, 4, 3], "tanh", "ce", "auto", _ONE_EXAMPLE),
    (r"""\begin{align*}
\delta^{(2)} &= p - y \\
\frac{\partial L}{\partial W^{(2)}} &= \delta^{(2)} \left(h^{(1)}\right)^{\top} \\
\delta^{(1)} &= \left(W^{(2)}\right)^{\top} \delta^{(2)} \odot \left(1 - h^{(1)}\right) \\
\frac{\partial L}{\partial W^{(1)}} &= \delta^{(1)} x^{\top}
\end{align*}""", [3, 4, 3], "tanh", "ce", "auto", _ONE_EXAMPLE_WRONG),
    ("""dscores = (probs - Y) / N
dW2 = np.dot(hidden_layer.T, dscores)
db2 = np.sum(dscores, axis=0, keepdims=True)
dhidden = np.dot(dscores, W2.T)
dW1 = np.dot(X.T, dhidden * (hidden_layer > 0))
db1 = np.sum(dhidden * (hidden_layer > 0), axis=0, keepdims=True)""", [4, 5, 3], "relu", "ce", "cs231n", _CS231N_CODE),
    ("""dZ2 = A2 - Y
dW2 = (1 / m) * np.dot(dZ2, A1.T)
db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
dZ1 = np.dot(W2.T, dZ2) * (1 - np.power(A1, 2))
dW1 = np.dot(dZ1, X.T)
db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)""", [3, 4, 3], "tanh", "ce", "ng",
     _NG_CODE[:4] + [[(("W", 1, "W"), lambda e: ((e["P"] - e["Y"]) @ e["W"][2] * (1 - e["A"][1] ** 2)).T @ e["X"])]]
     + _NG_CODE[5:]),
    (r"""\text{Let } u = \frac{1}{N}\left(P - Y\right) \\
\frac{\partial L}{\partial W^{(2)}} = u^{\top} H^{(1)} \\
\frac{\partial L}{\partial b^{(2)}} = u^{\top} \mathbf{1}""", [3, 4, 3], "sigmoid", "ce", "auto",
     [[(("W", 2, "W"), lambda e: dsc(e).T @ e["A"][1])], [(("b", 2, "bvec"), lambda e: dsc(e).sum(axis=0))]]),
    (r"""\begin{aligned}
\frac{\partial L}{\partial W^{(1)}} &= \delta^{(1)} x^{\top} \\
&= \left(\left(W^{(2)}\right)^{\top} \delta^{(2)} \odot f'(z^{(1)})\right) x^{\top} \\
&= \left(\left(W^{(2)}\right)^{\top} (p - y) \odot f'(z^{(1)})\right) x^{\top}
\end{aligned}""", [3, 4, 3], "sigmoid", "ce", "auto",
     [[(("W", 1, "W1"), lambda e: (((e["P"] - e["Y"]) @ e["W"][2]) * e["df"](e["Z"][1])).T @ e["X"])]] * 3),
]

ALL = [(c, s, a, lo, cv, links) for c, s, a, lo, cv, links in ITEMS + DERIVATIONS]


def _net(sizes, act, loss):
    loss = "ce" if loss == "ce1" else loss
    return sd.mlp(sizes, loss=loss) if act is None else sd.mlp(sizes, act, loss)


def expected_links(item, seed: int = 7) -> list[str]:
    claim, sizes, act, loss, conv, links = item
    return ["proved" if _line_holds(spec, sizes, act, loss, seed) else "refuted" for spec in links]


def outcome(item):
    """(expected per link, the checker's per link or its refusal, the item's expected and got statuses)."""
    claim, sizes, act, loss, conv, links = item
    want = expected_links(item)
    overall = "refuted" if "refuted" in want else "proved"
    try:
        v = check(claim, _net(sizes, act, loss), convention=conv, seed=1)
    except SymderivError as exc:
        return want, None, overall, f"refused: {exc}"
    got = [l.status for l in v.links]
    return want, got, overall, v.status


def _wrong_links(want, got) -> bool:
    """A wrong verdict: a link proved that the finite differences call wrong, or refuted that they call right."""
    if got is None:
        return False
    if len(got) != len(want):  # links do not line up: judge the claim as a whole
        overall = "refuted" if "refuted" in want else "proved"
        return ("proved" in got and all(s == "proved" for s in got) and overall == "refuted") or \
            ("refuted" in got and overall == "proved")
    return any(g in ("proved", "refuted") and g != w for w, g in zip(want, got))


def test_the_oracle_tells_right_from_wrong():
    """The finite differences are a real oracle: a right line and its realistic wrong twins differ."""
    right = expected_links(ITEMS[0])
    missing_mask = expected_links(ITEMS[4])
    assert (right, missing_mask) == (["proved"], ["refuted"])
    assert expected_links(DERIVATIONS[1]) == ["proved", "proved", "refuted", "proved"]


@pytest.mark.slow
def test_heldout2_no_wrong_verdict_and_95_percent():
    rows = []
    for item in ALL:
        want, got, overall, status = outcome(item)
        rows.append((item[0].splitlines()[0][:70], item[4], want, got, overall, status))
    wrong = [r for r in rows if _wrong_links(r[2], r[3])]
    correct = [r for r in rows if r[5] == r[4] and (r[3] is None or r[3] == r[2] or len(r[3]) != len(r[2]))]
    table = "\n".join(f"{'OK ' if r in correct else 'WRONG' if r in wrong else '-- '} {r[0]!r} [{r[1]}] "
                      f"expected {r[4]} got {r[5][:150]}" for r in rows)
    print(table)
    assert len(ALL) >= 50
    assert {r[4] for r in rows} == {"proved", "refuted"}
    assert not wrong, "wrong verdicts:\n" + table
    assert len(correct) >= 0.95 * len(rows), f"{len(correct)}/{len(rows)} as expected:\n" + table


if __name__ == "__main__":  # the per-item table, one line each
    import sys

    picks = [int(a) for a in sys.argv[1:]] or range(len(ALL))
    for k in picks:
        item = ALL[k]
        want, got, overall, status = outcome(item)
        tag = "WRONG" if _wrong_links(want, got) else "OK" if status == overall and (got is None or got == want) else "--"
        print(f"{k:3d} {tag:5s} {item[0].splitlines()[0][:60]!r} [{item[4]}] want {want} got {got} {status[:200]}", flush=True)
