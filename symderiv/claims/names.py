"""Named quantities: what each name in a claim means and the range of each index (the construction
of SymPy expressions from the resolved tree is :mod:`.builder`'s, re-exported here: from an
allow-list, by symderiv's own code; user text never reaches ``sympify``).

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

from ..errors import ClaimNameError, ClaimSyntaxError, InternalError, SizeLimitError, UnsupportedError
# the construction of SymPy values lives in :mod:`.builder` (split from here); its names are re-exported
from .builder import BATCH_SIZE, Builder, LogitBuilder, NotLocal, _bound, loss_by_prediction  # noqa: F401
from .tree import (
    MAX_SUM_TERMS, MAX_SUM_WORK, TRUE_CLASS, children, Add, Call, Claim, Const, Deriv, Mul,
    Node, Num, Pow, Q, Sum,
)

__all__ = ["KNOWN_NAMES", "KNOWN_FUNCTIONS", "Resolved", "resolve", "Builder", "LogitBuilder", "NotLocal", "BATCH_SIZE",
           "loss_by_prediction", "unknown_name"]

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
