"""Named quantities: what each name in a claim means, the range of each index, and
the construction of SymPy expressions from the claim tree (from an allow-list, by
this module's own code: user text never reaches ``sympify``).

Indices are 1-based (``x_1`` is the first input), as written by hand; the engine
is 0-based, and the translation happens here only.

Implicit layers: ``z_i``, ``\\delta_i`` mean the output layer ``L`` (logits);
``W``, ``b`` without a layer are accepted only in a one-layer network and ``h``
only with exactly one hidden layer; anything else asks for ``^{(l)}``.

The true class: the index ``t`` (also written ``y`` in an index position, as in
``p_y``) is the class of a one-hot label: where a claim uses it, the labels are
``y_t = 1`` and ``y_k = 0`` for ``k ≠ t``, and ``t`` ranges over ``1..K`` like any
free index.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Mapping

import sympy as sp

from ..errors import ClaimNameError, ClaimSyntaxError, SizeLimitError, UnsupportedError
from .tree import (
    MAX_SUM_TERMS, MAX_SUM_WORK, TRUE_CLASS, children, Add, Call, Claim, Const, Mul, Node, Num, Pow, Q, Sum,
)

__all__ = ["KNOWN_NAMES", "KNOWN_FUNCTIONS", "Resolved", "resolve", "Builder", "unknown_name"]

KNOWN_NAMES = (
    "x_j (inputs), y_k (labels), p_k (prediction), z^{(l)}_i (pre-activations; z_i = output logits), "
    "h^{(l)}_i or a^{(l)}_i (activations), \\delta^{(l)}_i (errors), W^{(l)}_{ij}, b^{(l)}_i (parameters), "
    "\\frac{\\partial L}{\\partial W^{(l)}_{ij}} (gradients; also by b, z, h, x), L or \\ell (loss), "
    "n_l (widths), K (classes), e; indices are single letters, t (or y) = the true class"
)
KNOWN_FUNCTIONS = (
    "\\sigma (logistic sigmoid), \\tanh, \\exp, \\log/\\ln, \\max(0, ·), \\mathrm{ReLU}, f or f_l "
    "(the network's activation), |·|, \\sqrt, with primes ' for derivatives"
)


def unknown_name(name: str, where: str = "") -> ClaimNameError:
    at = f" {where}" if where else ""
    shown = name if len(name) <= 40 else name[:37] + "…"  # a 5,000-letter "name" is quoted, not echoed
    return ClaimNameError(f"unknown name {shown!r}{at}; known names: {KNOWN_NAMES}; functions: {KNOWN_FUNCTIONS}")


# ---------------------------------------------------------------- resolution: layers and index ranges
_ARITY = {"x": 1, "y": 1, "p": 1, "z": 1, "h": 1, "delta": 1, "W": 2, "b": 1, "loss": 0, "width": 0}


@dataclass(frozen=True)
class Resolved:
    """A claim with every layer filled in and every free index given its range ``1..n``."""
    claim: Claim
    sides: tuple
    ranges: Mapping[str, int]      # free index -> n (range 1..n)
    uses_true_class: bool


def resolve(claim: Claim, net) -> Resolved:
    """Fill in implicit layers, check every name against ``net`` and infer index ranges."""
    r = _Resolver(net)
    sides = tuple(r.node(s) for s in claim.sides)
    for var in claim.same_for:
        if var not in r.ranges:
            raise ClaimNameError(f"'the same for every {var}': the index {var} does not occur in the claim")
    for a, _, b in claim.conditions:
        for v in (a, b):
            if v == TRUE_CLASS and v not in r.ranges:
                r.ranges[v] = r.sizes[-1]  # "i ≠ t" introduces the true class
            elif isinstance(v, str) and v not in r.ranges:
                raise ClaimNameError(f"the condition on index {v} names an index that does not occur in the claim")
    for k, side in enumerate(sides, 1):
        work = _work(side)
        if work > MAX_SUM_WORK:
            raise SizeLimitError(
                f"side {k} of the claim builds {work} terms per index assignment (nested sums multiply their ranges; "
                f"limit {MAX_SUM_WORK}); split the claim"
            )
    return Resolved(claim, sides, dict(r.ranges), TRUE_CLASS in r.ranges)


def _work(node: Node) -> int:
    """Terms built for one evaluation of a resolved tree: a sum multiplies its body's work by its range."""
    if isinstance(node, Sum):
        n = max(0, int(node.hi.value) - int(node.lo.value) + 1)
        return 1 + n * _work(node.body)
    return 1 + sum(_work(c) for c in children(node))


class _Resolver:
    def __init__(self, net):
        self.net = net
        self.L = net.depth
        self.sizes = [int(n) for n in net.sizes]
        self.ranges: dict[str, int] = {}
        self.where: dict[str, str] = {}
        self.bound: list[dict[str, int | None]] = []  # sum scopes: var -> range (None until known)

    # -- layers
    def _layer(self, q: Q) -> int | None:
        k, l, L = q.kind, q.layer, self.L
        if k in ("x", "y", "p", "loss"):
            if l is not None:
                raise ClaimNameError(f"{q.src or k} takes no layer")
            return None
        if k == "width":
            if l is None:
                return None
            if not 0 <= l <= L:
                raise ClaimNameError(f"{q.src}: no layer {l}; this network has widths n_0..n_{L}")
            return l
        if l is None:
            if k in ("z", "delta"):
                return L
            if k in ("W", "b") and L == 1:
                return 1
            if k == "h" and L == 2:
                return 1
            raise ClaimNameError(
                f"{q.src or k} needs a layer, e.g. {q.kind}^{{(1)}} (this network has layers 1..{L})"
            )
        lo, hi = (0, L - 1) if k == "h" else (1, L)
        if not lo <= l <= hi:
            extra = "; the output is z^{(%d)} or p" % L if k == "h" and l == L else ""
            raise ClaimNameError(f"{q.src or k}: layer {l} does not exist for {k} (layers {lo}..{hi}){extra}")
        if k == "b" and not self.net.bias:
            raise ClaimNameError(f"{q.src or k}: this network has no biases")
        return l

    def _axes(self, kind: str, layer: int | None) -> list[int]:
        n = self.sizes
        if kind == "x":
            return [n[0]]
        if kind in ("y", "p"):
            return [n[-1]]
        if kind in ("z", "delta", "b", "h"):
            return [n[layer]]
        if kind == "W":
            return [n[layer], n[layer - 1]]
        return []

    def _use(self, index, size: int, src: str) -> None:
        if isinstance(index, int):
            if not 1 <= index <= size:
                raise ClaimNameError(f"index {index} in {src} is out of range 1..{size} (indices are 1-based)")
            return
        if index == TRUE_CLASS and size != self.sizes[-1]:
            raise ClaimNameError(f"{src}: the true class t ranges over 1..K = 1..{self.sizes[-1]}, but this position has 1..{size}")
        for scope in reversed(self.bound):
            if index in scope:
                if scope[index] is None:
                    scope[index] = size
                elif scope[index] != size:
                    raise ClaimNameError(f"summation index {index} ranges over 1..{scope[index]} elsewhere but over 1..{size} in {src}")
                return
        known = self.ranges.get(index)
        if known is None:
            self.ranges[index] = size
            self.where[index] = src
        elif known != size:
            raise ClaimNameError(
                f"index {index} ranges over 1..{known} in {self.where[index]} but over 1..{size} in {src}; "
                "use different indices (is a transpose missing?)"
            )

    def node(self, node: Node) -> Node:
        if isinstance(node, (Num, Const)):
            return node
        if isinstance(node, Q):
            return self.quantity(node)
        if isinstance(node, Call):
            return self.call(node)
        if isinstance(node, Add):
            return Add(tuple(self.node(t) for t in node.terms))
        if isinstance(node, Mul):
            return Mul(tuple(self.node(f) for f in node.factors))
        if isinstance(node, Pow):
            return Pow(self.node(node.base), self.node(node.exp))
        if isinstance(node, Sum):
            return self.sum(node)
        raise ClaimSyntaxError(f"unsupported claim element {type(node).__name__}")

    def quantity(self, q: Q) -> Q:
        if q.kind == "grad":
            target = q.wrt
            if target is None or target.kind not in ("W", "b", "z", "h", "x"):
                what = target.src if target is not None else "?"
                raise UnsupportedError(
                    f"cannot differentiate the loss by {what}; write ∂L/∂ of W^{{(l)}}_{{ij}}, b^{{(l)}}_i, z^{{(l)}}_i, h^{{(l)}}_i or x_j"
                )
            return replace(q, wrt=self.quantity(target))
        layer = self._layer(q)
        arity = _ARITY[q.kind]
        if len(q.indices) != arity:
            need = {0: "no index", 1: "one index", 2: "two indices (row, column)"}[arity]
            raise ClaimNameError(f"{q.src or q.kind} has {len(q.indices)} indices but takes {need}")
        for index, size in zip(q.indices, self._axes(q.kind, layer)):
            self._use(index, size, q.src or q.kind)
        return replace(q, layer=layer)

    def call(self, c: Call) -> Call:
        if c.func == "f":
            hidden = list(range(1, self.L))
            if not hidden:
                raise ClaimNameError(f"{c.src or 'f'}: this network has no hidden layer, so no activation f")
            layer = c.layer
            if layer is None:
                names = {self.net.activation_of(l) for l in hidden}
                if len(names) > 1:
                    raise ClaimNameError(f"{c.src or 'f'}: the hidden layers have different activations; write f_l for layer l")
                layer = hidden[0]
            elif layer not in hidden:
                raise ClaimNameError(f"{c.src}: hidden layers are 1..{self.L - 1}")
            c = replace(c, layer=layer)
        want = 2 if c.func == "max" else 1
        if len(c.args) != want:
            raise ClaimSyntaxError(f"{c.src or c.func} takes {want} argument{'s' if want > 1 else ''}, got {len(c.args)}")
        if c.order > 2:
            raise UnsupportedError(f"{c.src or c.func}: at most two primes (second derivative) are supported")
        if c.order and c.func in ("max", "abs", "sqrt"):
            raise UnsupportedError(f"{c.src or c.func}: derivatives of {c.func} are not supported; use ReLU' or f'")
        return replace(c, args=tuple(self.node(a) for a in c.args))

    def sum(self, s: Sum) -> Sum:
        if s.var in self.ranges or any(s.var in sc for sc in self.bound) or s.var == TRUE_CLASS:
            raise ClaimNameError(f"summation index {s.var} is already used as another index; rename it")
        lo = _width_value(self, s.lo, 1)
        hi = _width_value(self, s.hi, None)
        self.bound.append({s.var: None})
        body = self.node(s.body)
        natural = self.bound.pop()[s.var]
        if hi is None:
            if natural is None:
                raise ClaimNameError(f"cannot tell the range of the summation index {s.var}: give bounds, e.g. \\sum_{{{s.var}=1}}^{{K}}")
            hi = natural
        if natural is not None and not (1 <= lo and hi <= natural):
            raise ClaimNameError(f"summation {s.var} = {lo}..{hi} leaves the range 1..{natural} of the quantities it indexes")
        if hi - lo + 1 > MAX_SUM_TERMS:
            raise SizeLimitError(f"a sum over {s.var} = {lo}..{hi} has more than {MAX_SUM_TERMS} terms")
        return Sum(s.var, Num(Fraction(lo)), Num(Fraction(hi)), body)


def _width_value(r: _Resolver, node: Node | None, default):
    """Evaluate a summation bound (integers, K, n_l, sums and differences of them)."""
    if node is None:
        return default
    if isinstance(node, Num) and node.value.denominator == 1:
        return int(node.value)
    if isinstance(node, Q) and node.kind == "width":
        return r.sizes[-1] if node.layer is None else r.sizes[r._layer(node)]
    if isinstance(node, Add):
        return sum(_width_value(r, t, 0) for t in node.terms)
    if isinstance(node, Mul) and len(node.factors) == 2 and isinstance(node.factors[0], Num):
        return int(node.factors[0].value * _width_value(r, node.factors[1], 0))
    raise ClaimSyntaxError("a summation bound must be an integer, K or n_l (plus or minus integers)")


# ---------------------------------------------------------------- building SymPy expressions
def _sigmoid(u):
    return 1 / (1 + sp.exp(-u))


_Z = sp.Dummy("u", real=True)


class Builder:
    """Builds the SymPy value of a resolved claim tree for concrete index values.

    ``d`` is an engine Derivation; quantities are memoized per (kind, layer, indices).
    """

    def __init__(self, d, net):
        self.d = d
        self.net = net
        self.L = net.depth
        self.K = int(net.sizes[-1])
        self._memo: dict = {}
        relu = [a for a in net.activations if a.name == "relu"]
        self.relu_kink = relu[0].kink_grad if relu else sp.Integer(0)

    def labels_one_hot(self, t: int) -> dict:
        """Substitution making the label one-hot at class ``t`` (1-based)."""
        ys = list(self.d.y)
        subs: dict = {}
        for k, s in enumerate(self.d.label_symbols):
            subs[s] = sp.Integer(1 if k + 1 == t else 0)
        # sanity: the eliminated label (softmax CE) follows from the others
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
            lo, hi = int(node.lo.value), int(node.hi.value)
            inner = dict(env)
            terms = []
            for k in range(lo, hi + 1):
                inner[node.var] = k
                terms.append(self.build(node.body, inner))
            return sp.Add(*terms)
        if isinstance(node, Call):
            return self.call(node, env)
        raise TypeError(node)

    def _index(self, i, env) -> int:
        return i if isinstance(i, int) else env[i]

    def quantity(self, q: Q, env) -> sp.Expr:
        idx = tuple(self._index(i, env) - 1 for i in q.indices)
        if q.kind == "grad":
            w = q.wrt
            widx = tuple(self._index(i, env) - 1 for i in w.indices)
            key = ("grad", w.kind, w.layer, widx)
        else:
            key = (q.kind, q.layer, idx)
        if key in self._memo:
            return self._memo[key]
        value = self._quantity(q, idx, env)
        self._memo[key] = value
        return value

    def _quantity(self, q: Q, idx, env) -> sp.Expr:
        d, k = self.d, q.kind
        if k == "x":
            return d.x[idx[0]]
        if k == "y":
            return d.y[idx[0]]
        if k == "p":
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
            w = q.wrt
            widx = tuple(self._index(i, env) - 1 for i in w.indices)
            if w.kind in ("W", "b"):
                return d.grad(f"{w.kind}{w.layer}", widx)
            if w.kind == "z":
                return d.delta(w.layer, widx[0])
            # ∂ℓ/∂h^{(l)}_j = Σ_k W^{(l+1)}_{kj} δ^{(l+1)}_k   (h^{(0)} = x)
            layer = 0 if w.kind == "x" else w.layer
            j = widx[0]
            n = int(self.net.sizes[layer + 1])
            return sp.Add(*[d.param(f"W{layer + 1}", (r, j)) * d.delta(layer + 1, r) for r in range(n)])
        raise TypeError(k)

    def call(self, c: Call, env) -> sp.Expr:
        args = [self.build(a, env) for a in c.args]
        if c.func == "max":
            return sp.Max(*args)
        if c.func == "abs":
            return sp.Abs(args[0])
        if c.func == "sqrt":
            return sp.sqrt(args[0])
        u = args[0]
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
        if c.func == "exp":
            return sp.exp(u)
        if c.func == "log":
            return [sp.log(u), 1 / u, -1 / u**2][c.order]
        raise ClaimNameError(f"unknown function {c.func!r}; known functions: {KNOWN_FUNCTIONS}")
