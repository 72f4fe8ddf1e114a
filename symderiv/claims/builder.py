"""Building the SymPy value of a resolved claim tree for concrete index values (:class:`Builder`), from the
network's exact closed forms (:func:`symderiv.engine.derive`), by this module's own code: user text never
reaches ``sympify``.  :class:`LogitBuilder` builds the same in logit space (the logits as free symbols).

Split from :mod:`.names` (which resolves what each name means and re-exports these).
"""
from __future__ import annotations

from typing import Mapping

import sympy as sp

from ..errors import ClaimNameError, InternalError, SymderivError, UnsupportedError
from .tree import children, grad_target as _target, Add, Call, Const, Deriv, Mul, Node, Num, Pow, Q, Sum

__all__ = ["Builder", "LogitBuilder", "NotLocal", "BATCH_SIZE", "loss_by_prediction"]

def _bound(node: Node | None) -> int:
    """A summation bound of a resolved tree (a whole number by then: the resolver evaluates it)."""
    if not isinstance(node, Num):
        raise InternalError(f"a summation bound was not resolved to a number: {node!r}")
    return int(node.value)


def _layer_of(q: Q) -> int:
    """The layer of a resolved quantity (a number by then: implicit and symbolic layers are filled in)."""
    if not isinstance(q.layer, int):
        raise InternalError(f"{q.src or q.kind}: layer {q.layer!r} was not resolved to a number")
    return q.layer


# ---------------------------------------------------------------- building SymPy expressions
def _sigmoid(u):
    return 1 / (1 + sp.exp(-u))


_Z = sp.Dummy("u", real=True)


#: the batch size N of a batch claim: a positive integer symbol
BATCH_SIZE = sp.Symbol("N", positive=True, integer=True)


class Builder:
    """Builds the SymPy value of a resolved claim tree for concrete index values.

    ``d`` is an engine Derivation; quantities are memoized per (kind, layer, indices).
    With ``batch`` the claim is about a batch whose examples all equal the engine's
    generic example (see :mod:`.batch`): a sum over examples is ``N`` times its body, and
    the batch loss is the mean (``batch_loss="mean"``) or the sum of the per-example losses.
    """

    def __init__(self, d, net, batch: bool = False, batch_loss: str = "mean"):
        self.d = d
        self.net = net
        self.L = net.depth
        self.K = int(net.sizes[-1])
        self._memo: dict = {}
        self._sums: dict = {}  # built sums by (node id, values of the indices they use)
        self._canon: dict | None = None  # the engine's closed forms and their terms, by themselves (see canonical)
        self._letters: dict = {}  # node id -> (node, the index letters it uses); the node kept alive with its id
        relu = [a for a in net.activations if a.name == "relu"]
        self.relu_kink = relu[0].kink_grad if relu else sp.Integer(0)
        #: a mask written 1(z > 0) or 1(z >= 0) in a ReLU network is ReLU's derivative: it takes the network's
        #: kink value at 0, where ReLU has none (the two masks differ only there, on a set of measure zero)
        self.mask_at_zero = self.relu_kink if relu else None
        self.batch = batch
        self.batch_factor = sp.Integer(1) if batch_loss == "mean" else BATCH_SIZE
        self._cut: tuple | None = None  # (kind, layer, symbols, forward table) inside a derivative by z or h
        self._tables: dict = {}  # forward tables per cut
        self._generic: tuple[Builder, dict] | None = None  # (generic builder, parameter values at this init), for ∂/∂W at an init

    def labels_one_hot(self, t: int) -> dict:
        """Substitution making the label one-hot at class ``t`` (1-based)."""
        subs: dict = {}
        for k, s in enumerate(self.d.label_symbols):
            subs[s] = sp.Integer(1 if k + 1 == t else 0)
        return subs

    def build(self, node: Node, env: Mapping[str, int]) -> sp.Expr:
        if isinstance(node, Num):
            return sp.Rational(node.value.numerator, node.value.denominator)
        if isinstance(node, Const):
            return sp.E
        if isinstance(node, Q):
            return self.quantity(node, env)
        if isinstance(node, Add):
            return sp.Add(*[self.build(t, env) for t in node.terms])
        if isinstance(node, Mul):
            return sp.Mul(*[self.build(f, env) for f in node.factors])
        if isinstance(node, Pow):
            return sp.Pow(self.build(node.base, env), self.build(node.exp, env))
        if isinstance(node, Sum):
            if isinstance(node.hi, Q):  # over the examples of a batch: all equal to the generic one
                return BATCH_SIZE * self.build(node.body, env)
            # a sum depends only on the indices it uses: the entries of a matrix claim share their inner sums
            # (Σ_m W_{mk} δ_m for every (i, j)), built once per value of those indices
            key = None
            if self._cut is None:
                letters = self._letters.get(id(node))
                if letters is None:
                    letters = self._letters[id(node)] = (node, _index_letters(node))
                key = (id(node), tuple(env.get(v) for v in letters[1]))
                if key in self._sums:
                    return self._sums[key]
            lo, hi = _bound(node.lo), _bound(node.hi)
            inner = dict(env)
            terms = []
            for k in range(lo, hi + 1):
                inner[node.var] = k
                terms.append(self.build(node.body, inner))
            value = sp.Add(*terms)
            if key is not None:
                value = self._sums[key] = self.canonical(value)
            return value
        if isinstance(node, Call):
            return self.call(node, env)
        if isinstance(node, Deriv):
            return self.derivative(node, env)
        raise TypeError(node)

    def canonical(self, value: sp.Expr) -> sp.Expr:
        """``value``, or the engine's own object for it when the network's closed forms contain an equal one
        (``Σ_k W_{ki} δ_k``, a δ, a z): the claim's side and the engine's gradient then share the object, and
        comparing them (``left - right``) stops at it instead of walking both trees for every entry."""
        if self._canon is None:
            self._canon = {}
            try:
                for layer in range(1, self.L + 1):
                    for unit in range(int(self.net.sizes[layer])):
                        for e in (self.d.delta(layer, unit), self.d.z(layer, unit)):
                            for part in (e, *(e.args if isinstance(e, (sp.Add, sp.Mul)) else ())):
                                self._canon.setdefault(part, part)
            except (SymderivError, AttributeError, IndexError):  # an engine without these forms: no sharing
                self._canon = {}
        return self._canon.get(value, value)

    def _index(self, i, env) -> int:
        return i if isinstance(i, int) else env[i]

    def quantity(self, q: Q, env) -> sp.Expr:
        if q.kind == "kron":
            a, b = (self._index(i, env) for i in q.indices)
            return sp.Integer(1 if a == b else 0)
        if q.kind == "batch":
            return BATCH_SIZE
        if q.kind == "var":
            return sp.Symbol(q.name, real=True)
        idx = tuple(self._index(i, env) - 1 for i in q.indices)
        key: tuple
        if q.kind == "grad":
            w = _target(q)
            widx = tuple(self._index(i, env) - 1 for i in w.indices)
            key = ("grad", w.kind, w.layer, widx, q.example is None, w.example is None)
        else:
            key = (q.kind, q.layer, idx, q.example is None)
        if self._cut is not None:
            cut = self._cut_value(q, idx)
            if cut is not None:
                return cut
        if key in self._memo:
            return self._memo[key]
        value = self._quantity(q, idx, env)
        if self.batch and q.example is None and q.kind == "grad" and _target(q).example is not None:
            # the batch loss by one example's quantity: only that example's term, (1/N)·∂ℓ_n (mean) or ∂ℓ_n (sum)
            value = value * (self.batch_factor / BATCH_SIZE)
        elif self.batch and q.example is None and q.kind in ("grad", "loss"):
            value = self.batch_factor * value  # the batch loss: mean (factor 1 at equal examples) or sum
        self._memo[key] = value
        return value

    def _quantity(self, q: Q, idx, env) -> sp.Expr:
        d, k = self.d, q.kind
        if k == "x":
            return d.x[idx[0]]
        if k == "y":
            return d.y[idx[0]]
        if k == "p":
            if idx[0] == self.K - 1 and self.K > 1 and self.net.loss.name == "softmax_cross_entropy":
                # the last class as the engine writes it, p_K = 1 - Σ_{k<K} p_k (its δ_K is 1 - Σ p_k - y_K): a
                # claim's p - y is then δ^{(L)} structurally, not only after a normal form (W^T (p - y) on a
                # 10-20-20-10 network: 200 entries, each a proof otherwise)
                return 1 - sp.Add(*[d.p(j) for j in range(self.K - 1)])
            return d.p(idx[0])
        if k == "z":
            return d.z(q.layer, idx[0])
        if k == "h":
            return d.x[idx[0]] if q.layer == 0 else d.h(q.layer, idx[0])
        if k == "delta":
            return d.delta(q.layer, idx[0])
        if k in ("W", "b"):
            return d.param(f"{k}{q.layer}", idx)
        if k == "loss":
            return d.loss()
        if k == "width":
            return sp.Integer(self.K if q.layer is None else int(self.net.sizes[q.layer]))
        if k == "grad":
            w = _target(q)
            widx = tuple(self._index(i, env) - 1 for i in w.indices)
            if w.kind in ("W", "b"):
                return d.grad(f"{w.kind}{w.layer}", widx)
            if w.kind == "z":
                return d.delta(w.layer, widx[0])
            if w.kind == "p":
                return loss_by_prediction(self.net, [d.p(k) for k in range(self.K)], d.y, widx[0])
            # ∂ℓ/∂h^{(l)}_j = Σ_k W^{(l+1)}_{kj} δ^{(l+1)}_k   (h^{(0)} = x)
            layer = 0 if w.kind == "x" else _layer_of(w)
            j = widx[0]
            n = int(self.net.sizes[layer + 1])
            return sp.Add(*[d.param(f"W{layer + 1}", (r, j)) * d.delta(layer + 1, r) for r in range(n)])
        raise TypeError(k)

    # -- derivatives of expressions (Jacobian entries such as ∂p_i/∂z_j)
    def derivative(self, node: Deriv, env) -> sp.Expr:
        """``∂ body / ∂ wrt``: by a free variable, an input or a (symbolic) parameter directly;
        by ``z^{(l)}_j`` or ``h^{(l)}_j`` through a forward pass from that layer in fresh symbols,
        differentiated and then evaluated at the network's own values."""
        wrt = node.wrt
        if wrt.kind == "var":
            return sp.diff(self.build(node.body, env), sp.Symbol(wrt.name, real=True))
        idx = tuple(self._index(i, env) - 1 for i in wrt.indices)
        if wrt.kind == "x" or (wrt.kind == "h" and wrt.layer == 0):
            return sp.diff(self.build(node.body, env), self.d.x[idx[0]])
        if wrt.kind in ("W", "b"):
            value = self.d.param(f"{wrt.kind}{wrt.layer}", idx)
            if isinstance(value, sp.Symbol):
                return sp.diff(self.build(node.body, env), value)
            return self._at_init(node, env)
        if self._cut is not None:
            raise UnsupportedError("nested derivatives by z or h are not supported")
        key = (wrt.kind, wrt.layer)
        if key not in self._tables:  # one forward pass per cut, shared by every index assignment
            n = int(self.net.sizes[wrt.layer])
            u = [sp.Dummy(f"u{k + 1}", real=True) for k in range(n)]
            actual = [self.d.z(wrt.layer, k) if wrt.kind == "z" else self.d.h(wrt.layer, k) for k in range(n)]
            self._tables[key] = (u, actual, self._forward_from(wrt.kind, _layer_of(wrt), u))
        u, actual, table = self._tables[key]
        saved_memo = self._memo
        self._cut, self._memo = (wrt.kind, wrt.layer, u, table), {}
        try:
            body = self.build(node.body, env)
        finally:
            self._cut, self._memo = None, saved_memo
        return sp.diff(body, u[idx[0]]).xreplace(dict(zip(u, actual)))

    def _at_init(self, node: Deriv, env) -> sp.Expr:
        """A derivative by a parameter at an init (where the parameter is a number): differentiate the
        generic closed form by the parameter's symbol, then put every parameter's init value in."""
        if self._cut is not None:
            raise UnsupportedError("a derivative by a parameter inside a derivative by z or h is not supported")
        if self._generic is None:
            from ..engine import derive

            generic = derive(self.net, None)
            values = {}
            for name in self.net.parameter_names():
                for index in _entries(self.net.shape(name)):
                    values[generic.param(name, index)] = self.d.param(name, index)
            self._generic = (Builder(generic, self.net, self.batch), values)
        builder, values = self._generic
        wrt = node.wrt
        idx = tuple(self._index(i, env) - 1 for i in wrt.indices)
        symbol = builder.d.param(f"{wrt.kind}{wrt.layer}", idx)
        builder.batch_factor = self.batch_factor
        return sp.diff(builder.build(node.body, env), symbol).xreplace(values)

    def _forward_from(self, kind: str, layer: int, u: list) -> dict:
        """z, h, p and the loss from ``z^{(layer)} = u`` (or ``h^{(layer)} = u``) on, by the network's own rules."""
        net, d, L = self.net, self.d, self.L
        table: dict = {}
        if kind == "z":
            z, m = list(u), layer
        else:
            table[("h", layer)] = list(u)
            h, m = list(u), layer
            z = None
        while True:
            if z is not None:
                table[("z", m)] = z
                if m == L:
                    break
                act = net.activation_of(m)
                h = [act(v) for v in z]
                table[("h", m)] = h
            m_next = m + 1
            n_out, n_in = int(net.sizes[m_next]), int(net.sizes[m_next - 1])
            z = [sp.Add(*[d.param(f"W{m_next}", (r, c)) * h[c] for c in range(n_in)])
                 + (d.param(f"b{m_next}", (r,)) if net.bias else 0) for r in range(n_out)]
            m = m_next
        table["p"] = net.loss.prediction(z)
        table["loss"] = net.loss.value(z, d.y)
        return table

    def _cut_value(self, q: Q, idx):
        if self._cut is None:
            return None
        kind, layer, u, table = self._cut
        if q.kind in ("delta", "grad"):
            raise UnsupportedError("a derivative of δ or of a gradient by z or h is not supported; write it by hand")
        if q.kind == "p":
            return table["p"][idx[0]]
        if q.kind == "loss":
            return table["loss"]
        if q.kind in ("z", "h") and (q.kind, q.layer) in table:
            return table[(q.kind, q.layer)][idx[0]]
        return None

    def call(self, c: Call, env) -> sp.Expr:
        args = [self.build(a, env) for a in c.args]
        if c.func == "max":
            return sp.Max(*args)
        if c.func == "abs":
            return sp.Abs(args[0])
        if c.func == "sqrt":
            return sp.sqrt(args[0])
        u = args[0]
        if c.func in ("heaviside", "step_gt", "step_ge"):
            written = self.relu_kink if c.func == "heaviside" else sp.Integer(0 if c.func == "step_gt" else 1)
            return _step(u, self.mask_at_zero if self.mask_at_zero is not None and _vanishes_rarely(u) else written)
        if c.func == "f":
            act = self.d.activation(c.layer)
            if c.order == 0:
                return act(u)
            first = act.derivative(u)
            return first if c.order == 1 else sp.diff(act.derivative(_Z), _Z).subs(_Z, u)
        if c.func == "relu":
            if c.order == 0:  # the engine's own function class, so that h = relu(z) is structural
                from ..activations import relu

                return relu(u)
            return sp.Heaviside(u, self.relu_kink) if c.order == 1 else sp.Integer(0)
        if c.func == "sigmoid":
            s = _sigmoid(u)
            return [s, s * (1 - s), s * (1 - s) * (1 - 2 * s)][c.order]
        if c.func == "tanh":
            t = sp.tanh(u)
            return [t, 1 - t**2, -2 * t * (1 - t**2)][c.order]
        if c.func == "sech":  # sech z = √(1 − tanh² z) for real z (sech > 0): sech² z is then 1 − tanh² z, structurally
            return sp.sqrt(1 - sp.tanh(u) ** 2)
        if c.func == "exp":
            return sp.exp(u)
        if c.func == "log":
            return [sp.log(u), 1 / u, -1 / u**2][c.order]
        from .names import KNOWN_FUNCTIONS  # the names list lives with the names (imported here, at the error only)

        raise ClaimNameError(f"unknown function {c.func!r}; known functions: {KNOWN_FUNCTIONS}")


def _entries(shape: tuple):
    """Every 0-based index of a parameter of ``shape`` (concrete widths)."""
    import itertools

    return itertools.product(*[range(int(n)) for n in shape])


def loss_by_prediction(net, p: list, y: list, k: int) -> sp.Expr:
    """``∂ℓ/∂p_k`` with the loss written as a function of independent predictions, as derivations
    do (softmax CE: ``ℓ = −Σ y_k log p_k``, so ``−y_k/p_k``; binary CE: ``−y/p + (1−y)/(1−p)``;
    MSE: ``2(p_k − y_k)/K``); the chain rule through ``∂p/∂z`` then gives ``δ^{(L)}``."""
    P = [sp.Dummy(f"p{j + 1}", positive=True) for j in range(len(p))]
    name = net.loss.name
    if name == "softmax_cross_entropy":
        value = -sp.Add(*[yj * sp.log(Pj) for yj, Pj in zip(y, P)])
    elif name == "sigmoid_binary_cross_entropy":
        value = -sp.Add(*[yj * sp.log(Pj) + (1 - yj) * sp.log(1 - Pj) for yj, Pj in zip(y, P)])
    elif name == "mean_squared_error":
        value = sp.Add(*[(Pj - yj) ** 2 for yj, Pj in zip(y, P)]) / len(P)
    else:
        raise UnsupportedError(f"∂L/∂p for the loss {name!r} is not supported; differentiate by z^{{(L)}}")
    return sp.diff(value, P[k]).xreplace(dict(zip(P, p)))


def _index_letters(node: Node) -> tuple:
    """Every index letter a claim subtree uses (its quantities' indices and examples, its sums' variables),
    sorted: what a built value of the subtree can depend on besides the network."""
    out: set = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Q):
            out |= {i for i in n.indices if isinstance(i, str)}
            if isinstance(n.example, str):
                out.add(n.example)
            if n.wrt is not None:
                stack.append(n.wrt)
        elif isinstance(n, Sum):
            out.add(n.var)
        stack.extend(children(n))
    return tuple(sorted(out))


def _vanishes_rarely(u: sp.Expr) -> bool:
    """Is ``u`` zero only on a set of measure zero, so that a mask's value at 0 does not matter?  Not for a
    number (a parameter at an init: z = 0 for every input) nor for a ReLU's output (0 for half the inputs:
    ``1(h >= 0)`` is always 1, which is not ``1(h > 0)``)."""
    from ..activations import relu

    if u.is_number:
        return False
    coefficient, rest = u.as_coeff_Mul()
    return not isinstance(rest, relu) and not isinstance(u, relu)


def _step(u: sp.Expr, at_zero: sp.Expr) -> sp.Expr:
    """The mask ``1(u > 0)`` (``at_zero`` = its value at 0) in the engine's form ``Heaviside(u, at_zero)``;
    ``1(relu(v) > 0)`` is ``1(v > 0)`` (a ReLU unit is active iff its pre-activation is positive)."""
    from ..activations import relu

    if isinstance(u, relu) and at_zero in (0, 1):  # H(relu(v), 0) = H(v, 0); H(relu(v), 1) = 1
        return sp.Heaviside(u.args[0], 0) if at_zero == 0 else sp.Integer(1)
    return sp.Heaviside(u, at_zero)


class NotLocal(Exception):
    """The claim refers to more than the output logits (raised by :class:`LogitBuilder`)."""


class LogitBuilder(Builder):
    """Builds a claim in *logit space*: the output logits ``z^{(L)}_k`` are free symbols ``ζ_k``
    and ``p``, the loss and ``δ^{(L)}`` are the loss's own functions of them.

    An identity in ``ζ`` (and the labels) holds in particular at ``ζ = z^{(L)}(x, θ)``, so a
    proof here proves the claim; it is much smaller than the claim in parameters and data.
    Claims that mention anything else (inputs, parameters, hidden layers) raise
    :class:`NotLocal`, and only the ordinary build is used."""

    def __init__(self, d, net, batch: bool = False, batch_loss: str = "mean"):
        super().__init__(d, net, batch, batch_loss)
        K = self.K
        self.zeta = [sp.Symbol(f"zeta_{k + 1}", real=True) for k in range(K)]
        loss = net.loss
        self._p = loss.prediction(self.zeta)
        self._delta = loss.delta(self.zeta, d.y)
        self._value = loss.value(self.zeta, d.y)

    def _quantity(self, q: Q, idx, env) -> sp.Expr:
        k = q.kind
        if k == "y":
            return self.d.y[idx[0]]
        if k == "p":
            return self._p[idx[0]]
        if k == "z" and q.layer == self.L:
            return self.zeta[idx[0]]
        if k == "delta" and q.layer == self.L:
            return self._delta[idx[0]]
        if k == "loss":
            return self._value
        if k == "width":
            return super()._quantity(q, idx, env)
        w = _target(q) if k == "grad" else None
        if w is not None and w.kind == "z" and w.layer == self.L:
            return self._delta[self._index(w.indices[0], env) - 1]
        if w is not None and w.kind == "p":
            return loss_by_prediction(self.net, self._p, self.d.y, self._index(w.indices[0], env) - 1)
        raise NotLocal(k)

    def derivative(self, node: Deriv, env) -> sp.Expr:
        wrt = node.wrt
        if wrt.kind == "var":
            return super().derivative(node, env)
        if wrt.kind == "z" and wrt.layer == self.L:
            return sp.diff(self.build(node.body, env), self.zeta[self._index(wrt.indices[0], env) - 1])
        raise NotLocal(wrt.kind)
