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

from ..errors import ClaimNameError, ClaimSyntaxError, InternalError, SizeLimitError, SymderivError, UnsupportedError
from .tree import (
    MAX_SUM_TERMS, MAX_SUM_WORK, TRUE_CLASS, children, grad_target as _target, Add, Call, Claim, Const, Deriv, Mul,
    Node, Num, Pow, Q, Sum,
)

__all__ = ["KNOWN_NAMES", "KNOWN_FUNCTIONS", "Resolved", "resolve", "Builder", "unknown_name"]

KNOWN_NAMES = (
    "x_j (inputs), y_k (labels), p_k or \\hat{y}_k (prediction), z^{(l)}_i (pre-activations; z_i = output logits), "
    "h^{(l)}_i or a^{(l)}_i (activations), \\delta^{(l)}_i (errors), \\delta_{ij} (Kronecker), W^{(l)}_{ij} or "
    "w^{(l)}_{ij}, b^{(l)}_i (parameters), whole vectors/matrices without indices (W^{(2)}, \\delta^{(1)}, x), "
    "\\frac{\\partial L}{\\partial W^{(l)}_{ij}} or \\nabla_{W^{(l)}} L (gradients; also by b, z, h, x), "
    "L, C, J, \\ell (loss), X, Y, P, N (a batch), n_l (widths), K (classes), e, u (a free variable); "
    "indices are single letters, t (or y) = the true class; symbolic layers l, l+1, L"
)
KNOWN_FUNCTIONS = (
    "\\sigma (logistic sigmoid), \\tanh, \\exp, \\log/\\ln, \\max(0, ·), \\mathrm{ReLU}, f or f_l "
    "(the network's activation), |·|, \\sqrt, with primes ' for derivatives"
)


#: likely meanings of names people write that are not symderiv's (lower-cased, digits dropped)
_HINTS = {
    "w": "W^{(l)} (a weight matrix; plain text W1, W2)", "weight": "W^{(l)}", "weights": "W^{(l)}",
    "bias": "b^{(l)}", "theta": "W^{(l)} or b^{(l)} (name the parameter)", "a": "a^{(l)} or h^{(l)} (with a layer)",
    "softmax": "p_k (the prediction; plain text p[k])", "yhat": "p or \\hat{y} (the prediction)",
    "haty": "p or \\hat{y} (the prediction)", "o": "z^{(L)} (the output logits) or p",
    "s": "z (the scores / logits)", "f": "z (the scores / logits); f(…) is the activation", "t": "y (the label) or t as an index",
    "loss": "L", "cost": "L (or C, J)", "dw": "dW1 (plain text) or \\frac{\\partial L}{\\partial W^{(1)}}",
    "g": "g(…) / f(…) (the activation) or dL/d… (a gradient)", "sig": "sigma", "sgm": "sigma", "logistic": "sigma",
    "e": "exp(…) or e^{…}", "ln": "log", "delta": "delta<l>[i] (with a layer) or kron(i, j)",
}


def unknown_name(name: str, where: str = "") -> ClaimNameError:
    at = f" {where}" if where else ""
    shown = name if len(name) <= 40 else name[:37] + "…"  # a 5,000-letter "name" is quoted, not echoed
    key = "".join(c for c in name.lower() if c.isalpha())
    from .layer_names import layer_hint

    layered = layer_hint(key)
    if layered is not None:
        return ClaimNameError(f"unknown name {shown!r}{at} in an MLP claim: {layered}")
    hint = _HINTS.get(key)
    if hint:
        return ClaimNameError(f"unknown name {shown!r}{at}; did you mean {hint}? (known names: {KNOWN_NAMES})")
    return ClaimNameError(f"unknown name {shown!r}{at}; known names: {KNOWN_NAMES}; functions: {KNOWN_FUNCTIONS}")


# ---------------------------------------------------------------- resolution: layers and index ranges
_ARITY = {"x": 1, "y": 1, "p": 1, "z": 1, "h": 1, "delta": 1, "W": 2, "b": 1, "loss": 0, "width": 0}


@dataclass(frozen=True)
class Variant:
    """One concrete reading of a claim: the symbolic layer's value (if any), the scalar sides
    (matrix claims lowered to entry ``(i, j)``), and every free index's range ``1..n``."""
    layers: Mapping[str, int]
    sides: tuple
    ranges: Mapping[str, int]
    uses_true_class: bool
    entry: tuple = ()            # the indices naming a matrix entry (matrix claims)
    shape: tuple | None = None   # the sides' common shape (matrix claims)
    mismatch: str = ""           # the sides have different shapes: the claim is false
    note: str = ""               # how the shapes decided a grouping (:func:`~.matrices.lower_sides`)


@dataclass(frozen=True)
class Resolved:
    """A claim with every layer filled in and every free index given its range ``1..n``.

    ``variants`` holds one :class:`Variant` per value of a symbolic layer (one when there is
    none); ``sides``/``ranges``/``uses_true_class`` are the first variant's.  ``batch`` says the
    claim uses batch notation (the loss is then the batch mean, or the sum when
    ``claim.batch_loss`` says so); ``additive`` that every side is a sum over examples of
    per-example terms (see :mod:`.batch`), which a proof for every batch size needs."""
    claim: Claim
    sides: tuple
    ranges: Mapping[str, int]      # free index -> n (range 1..n)
    uses_true_class: bool
    variants: tuple = ()
    batch: bool = False
    additive: bool = True
    convention: object = None  #: the :class:`~.conventions.Convention` the claim was read in


class _NoLayer(ClaimNameError):
    """A quantity's layer does not exist (a symbolic layer's value is then skipped)."""


def resolve(claim: Claim, net, convention=None) -> Resolved:
    """Fill in implicit and symbolic layers, lower vectors and matrices to entries, check every
    name against ``net`` and infer index ranges (``convention``: a :class:`~.conventions.Convention`
    for the shapes of whole matrices; symderiv's own by default)."""
    from .batch import is_additive
    from .conventions import DEFAULT
    from .matrices import layer_variants, lower_sides, uses_batch

    variants: list[Variant] = []
    skipped: _NoLayer | None = None
    for layers, c in layer_variants(claim, net.depth):
        r = _Resolver(net, convention or DEFAULT)
        try:
            low = lower_sides(c, r)
            if low.mismatch:
                variants.append(Variant(dict(layers), tuple(c.sides), {}, False, (), low.shape, low.mismatch, low.note))
                continue
            variants.append(_resolve_sides(c, r, low, layers))
        except _NoLayer as exc:
            if not layers:
                raise
            skipped = skipped or exc
    if not variants:
        if skipped is None:
            raise InternalError("a claim without any reading (no layer value was tried)")
        raise skipped  # no value of the symbolic layer makes every quantity exist
    batch = any(uses_batch(s) for s in claim.sides) or any(uses_batch(s) for v in variants for s in v.sides)
    additive = all(is_additive(v.sides) for v in variants if not v.mismatch) if batch else True
    if batch and any(v.uses_true_class for v in variants) and any(_many_examples(s) for v in variants for s in v.sides):
        raise UnsupportedError(
            "the true class t in a batch claim: every example would have the same class; write the labels as Y or y^{(n)}"
        )
    first = variants[0]
    return Resolved(claim, first.sides, dict(first.ranges), first.uses_true_class, tuple(variants), batch, additive,
                    convention or DEFAULT)


def _resolve_sides(claim: Claim, r: "_Resolver", low, layers) -> Variant:
    sides = tuple(r.node(s) for s in low.sides)
    for var in claim.same_for:
        if var not in r.ranges:
            raise ClaimNameError(f"'the same for every {var}': the index {var} does not occur in the claim")
    for a, _, b in claim.conditions:
        for v in (a, b):
            if v == TRUE_CLASS and v not in r.ranges:
                r.ranges[v] = r.sizes[-1]  # "i ≠ t" introduces the true class
            elif isinstance(v, str) and v not in r.ranges:
                raise ClaimNameError(f"the condition on index {v} names an index that does not occur in the claim")
    for v in sorted(r.kron_free):
        if v == TRUE_CLASS and v not in r.ranges:
            r.ranges[v] = r.sizes[-1]
        elif v not in r.ranges:
            raise ClaimNameError(f"the index {v} occurs only in a Kronecker delta or indicator, so its range is unknown")
    for k, side in enumerate(sides, 1):
        work = _work(side)
        if work > MAX_SUM_WORK:
            raise SizeLimitError(
                f"side {k} of the claim builds {work} terms per index assignment (nested sums multiply their ranges; "
                f"limit {MAX_SUM_WORK}); split the claim"
            )
    return Variant(dict(layers), sides, dict(r.ranges), TRUE_CLASS in r.ranges, low.entry, low.shape, note=low.note)


def _many_examples(node: Node) -> bool:
    """Does the (lowered) tree involve more than one example: a sum over the batch, N, or the whole
    batch's loss?  (A claim about one example ``i`` alone may use its true class.)"""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Sum) and isinstance(n.hi, Q):
            return True
        if isinstance(n, Q) and (n.kind == "batch" or (n.kind in ("grad", "loss") and n.example is None)):
            return True
        stack.extend(children(n))
    return False


def _work(node: Node) -> int:
    """Terms built for one evaluation of a resolved tree: a sum multiplies its body's work by its range
    (a sum over the examples of a batch is built once: every example is the generic one)."""
    if isinstance(node, Sum):
        if isinstance(node.hi, Q):
            return 1 + _work(node.body)
        n = max(0, _bound(node.hi) - _bound(node.lo) + 1)
        return 1 + n * _work(node.body)
    return 1 + sum(_work(c) for c in children(node))


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


class _Resolver:
    def __init__(self, net, convention):
        self.net = net
        self.convention = convention
        self.L = net.depth
        self.sizes = [int(n) for n in net.sizes]
        self.ranges: dict[str, int] = {}
        self.where: dict[str, str] = {}
        self.bound: list[dict[str, int | None]] = []  # sum scopes: var -> range (None until known)
        self.kron_free: set[str] = set()      # free indices seen in Kronecker deltas
        self.examples: set[str] = set()       # indices naming an example of a batch

    # -- layers
    def _layer(self, q: Q) -> int | None:
        k, l, L = {"Z": "z", "H": "h"}.get(q.kind, q.kind), q.layer, self.L
        if isinstance(l, str):  # symbolic layers are replaced by numbers (layer_variants) before this
            raise InternalError(f"{q.src or k}: the symbolic layer {l} was not replaced by a number")
        if k in ("x", "y", "p", "loss", "kron", "batch", "var", "X", "Y", "P"):
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
            hint = "; did you mean W^{(l)} (a weight matrix, e.g. W^{(1)})?" if k == "W" else ""
            raise ClaimNameError(
                f"{q.src or k} needs a layer, e.g. {q.src[:1] if q.src[:1].isalpha() else q.kind}^{{(1)}} "
                f"(this network has layers 1..{L}){hint}"
            )
        lo, hi = (0, L - 1) if k == "h" else (1, L)
        if not lo <= l <= hi:
            extra = "; the output is z^{(%d)} or p" % L if k == "h" and l == L else ""
            raise _NoLayer(f"{q.src or k}: layer {l} does not exist for {k} (this network has layers {lo}..{hi}){extra}")
        if k == "b" and not self.net.bias:
            raise ClaimNameError(f"{q.src or k}: this network has no biases")
        return l

    def _axes(self, kind: str, layer: int | None) -> list[int]:
        n = self.sizes
        if kind == "x":
            return [n[0]]
        if kind in ("y", "p"):
            return [n[-1]]
        if kind not in ("z", "delta", "b", "h", "W"):
            return []
        if layer is None:
            raise InternalError(f"{kind} without a layer after resolution")
        if kind == "W":
            return [n[layer], n[layer - 1]]
        return [n[layer]]

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
        if isinstance(node, Deriv):
            return self.derivative(node)
        raise ClaimSyntaxError(f"unsupported claim element {type(node).__name__}")

    def derivative(self, node: Deriv) -> Node:
        wrt = node.wrt
        if isinstance(node.body, Q) and node.body.kind == "loss":
            return self.quantity(Q("grad", None, (), wrt, node.body.src, node.body.example))
        if wrt.kind == "var":
            return Deriv(self.node(node.body), wrt)
        if wrt.kind not in ("z", "h", "x", "W", "b") or not wrt.indices:
            raise UnsupportedError(
                f"cannot differentiate by {wrt.src or wrt.kind}: differentiate by one entry of z^{{(l)}}, h^{{(l)}}, x, W^{{(l)}} or b^{{(l)}}"
            )
        return Deriv(self.node(node.body), self.quantity(wrt))

    def example(self, var) -> None:
        """``var`` names an example of a batch (a row of X, Y, P; x^{(n)})."""
        if not isinstance(var, str) or var == TRUE_CLASS:
            raise ClaimSyntaxError(f"an example of a batch is named by a letter such as n, not {var!r}")
        for scope in reversed(self.bound):
            if var in scope:
                if scope[var] is not None:
                    raise ClaimNameError(f"the index {var} names both an example of the batch and a unit; use different letters")
                self.examples.add(var)
                return
        if var in self.ranges:
            raise ClaimNameError(f"the index {var} names both an example of the batch and a unit; use different letters")
        self.examples.add(var)

    def quantity(self, q: Q) -> Q:
        if q.kind in ("X", "Y", "P", "Z", "H"):  # X_{nj}: entry j of example n
            if len(q.indices) != 2:
                raise ClaimNameError(f"{q.src or q.kind} takes two indices (example, unit), e.g. {q.kind}_{{nj}}")
            q = Q(q.kind.lower(), q.layer, (q.indices[1],), None, q.src, example=q.indices[0])
        if q.example is not None:
            self.example(q.example)
        if q.kind in ("batch", "var", "loss"):
            return q
        if q.kind == "kron":
            for index in q.indices:
                if isinstance(index, int):
                    continue
                if not any(index in scope for scope in self.bound):
                    self.kron_free.add(index)
            return q
        if q.kind == "grad":
            target = q.wrt
            if target is None or target.kind not in ("W", "b", "z", "h", "x", "p"):
                what = target.src if target is not None else "?"
                raise UnsupportedError(
                    f"cannot differentiate the loss by {what}; write ∂L/∂ of W^{{(l)}}_{{ij}}, b^{{(l)}}_i, z^{{(l)}}_i, "
                    "h^{{(l)}}_i, x_j or p_k"
                )
            if q.example is not None and target.example is not None and q.example != target.example:
                raise UnsupportedError(
                    f"{q.src or 'the gradient'}: one example's loss by another example's quantity; use the same example letter"
                )
            if not target.indices:
                raise ClaimNameError(f"{q.src or 'the gradient'}: differentiate by one entry (e.g. W^{{(1)}}_{{ij}}) or a whole vector/matrix")
            return replace(q, wrt=self.quantity(target))
        layer = self._layer(q)
        arity = _ARITY[q.kind]
        if q.kind == "W" and len(q.indices) == 1 and sorted(self._axes("W", layer)).count(1) == 1:
            # one output (or one input): W is a vector, and w_j its entry j (CS229's w_j, K = 1)
            q = replace(q, indices=(1, q.indices[0]) if self._axes("W", layer)[0] == 1 else (q.indices[0], 1))
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
                raise _NoLayer(f"{c.src}: hidden layers are 1..{self.L - 1}")
            c = replace(c, layer=layer)
        if c.func in ("heaviside", "step_gt", "step_ge") and c.order:
            raise UnsupportedError(f"{c.src or c.func}: the derivative of a step is not supported")
        want = 2 if c.func == "max" else 1
        if len(c.args) != want:
            raise ClaimSyntaxError(f"{c.src or c.func} takes {want} argument{'s' if want > 1 else ''}, got {len(c.args)}")
        if c.order > 2:
            raise UnsupportedError(f"{c.src or c.func}: at most two primes (second derivative) are supported")
        if c.order and c.func in ("max", "abs", "sqrt", "sech"):
            raise UnsupportedError(f"{c.src or c.func}: derivatives of {c.func} are not supported; use ReLU' or f'")
        return replace(c, args=tuple(self.node(a) for a in c.args))

    def sum(self, s: Sum) -> Sum:
        if s.var in self.ranges or any(s.var in sc for sc in self.bound) or s.var == TRUE_CLASS:
            raise ClaimNameError(f"summation index {s.var} is already used as another index; rename it")
        if isinstance(s.hi, Q) and s.hi.kind == "batch":
            return self.example_sum(s)
        self.bound.append({s.var: None})
        body = self.node(s.body)
        natural = self.bound.pop()[s.var]
        if s.var in self.examples:  # Σ_n over the examples of a batch
            self.examples.discard(s.var)
            if natural is not None:
                raise ClaimNameError(f"the index {s.var} names both an example of the batch and a unit; use different letters")
            if s.lo is not None and _width_value(self, s.lo, 1) != 1 or s.hi is not None and not (isinstance(s.hi, Q) and s.hi.kind == "batch"):
                raise ClaimSyntaxError(f"a sum over the examples {s.var} runs over all of them: write \\sum_{s.var} or \\sum_{{{s.var}=1}}^{{N}}")
            return Sum(s.var, Num(Fraction(1)), Q("batch", src="N"), body)
        return self._finish_sum(s, body, natural)

    def example_sum(self, s: Sum) -> Sum:
        self.bound.append({s.var: None})
        body = self.node(s.body)
        natural = self.bound.pop()[s.var]
        if natural is not None:
            raise ClaimNameError(f"the sum over {s.var} runs to N (the examples) but {s.var} also indexes units")
        self.examples.discard(s.var)
        return Sum(s.var, Num(Fraction(1)), Q("batch", src="N"), body)

    def _finish_sum(self, s: Sum, body, natural) -> Sum:
        lo = _width_value(self, s.lo, 1)
        hi = _width_value(self, s.hi, None)
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
        layer = r._layer(node)
        return r.sizes[-1] if layer is None else r.sizes[layer]
    if isinstance(node, Add):
        return sum(_width_value(r, t, 0) for t in node.terms)
    if isinstance(node, Mul) and len(node.factors) == 2 and isinstance(node.factors[0], Num):
        return int(node.factors[0].value * _width_value(r, node.factors[1], 0))
    raise ClaimSyntaxError("a summation bound must be an integer, K or n_l (plus or minus integers)")


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
