"""The claim AST: what both parsers produce and what :mod:`.names` builds into SymPy.

A claim is a chain of sides related by ``=`` (``A = B = C``), optional side
conditions on indices (``i ≠ t``) and, for "… is the same for every i", the
indices it quantifies over.  The nodes are plain frozen data: nothing in this
module (or anywhere in :mod:`symderiv.claims`) evaluates user text.

Indices are 1-based, as written by hand.  An index is a name (``"i"``), a
1-based integer, or the true class ``"t"`` (written ``t`` or ``y`` as an index).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Union

from ..errors import ClaimSyntaxError, InternalError, SizeLimitError, UnsupportedError

__all__ = [
    "Num", "Const", "Q", "Call", "Add", "Mul", "Pow", "Sum", "Op", "Deriv", "Claim", "Node", "Index",
    "MAX_CHARS", "MAX_DEPTH", "MAX_EXPONENT", "MAX_DIGITS", "MAX_NODES", "MAX_ASSIGNMENTS", "MAX_SUM_TERMS",
    "MAX_SIDES", "MAX_TREE_DEPTH", "MAX_POWER_DEGREE", "MAX_SUM_WORK", "MAX_CONSTANT_BITS",
    "TRUE_CLASS", "neg", "div", "count_nodes", "check_depth", "check_size", "validate", "fold", "to_latex", "to_text",
    "describe_char", "grad_target", "map_quantities", "transform",
]

#: longest claim accepted, in characters
MAX_CHARS = 10_000
#: deepest nesting of brackets / braces / parentheses
MAX_DEPTH = 40
#: largest |n| of a numeric exponent (x^n); larger ones could make SymPy hang
MAX_EXPONENT = 64
#: longest integer literal
MAX_DIGITS = 15
#: largest claim tree, in nodes
MAX_NODES = 5_000
#: index assignments enumerated per link; beyond this a random sample of this size is checked
MAX_ASSIGNMENTS = 512
#: largest range of a single sum
MAX_SUM_TERMS = 4_096
#: most sides of a chain A = B = C = …
MAX_SIDES = 50
#: deepest nesting of operations in a claim tree (a flat sum or product counts once)
MAX_TREE_DEPTH = 60
#: largest product of exponents along nested powers: (x^8)^8 is the most, ((9^64)^64)^64 is refused
MAX_POWER_DEGREE = 64
#: most terms one side may build at one index assignment (nested sums multiply their ranges)
MAX_SUM_WORK = 20_000
#: largest numerator/denominator (in bits) of a constant the parser folds (e.g. an exponent 2^{3})
MAX_CONSTANT_BITS = 4_096

#: the name of the true-class index (written ``t``, or ``y`` in an index position)
TRUE_CLASS = "t"

Index = Union[str, int]


@dataclass(frozen=True)
class Num:
    """An exact rational number."""
    value: Fraction


@dataclass(frozen=True)
class Const:
    """A named constant: ``e`` (Euler's number)."""
    name: str


@dataclass(frozen=True)
class Q:
    """A named quantity of the network.

    ``kind`` is one of ``x, y, p, z, h, delta, W, b, grad, loss, width`` (network
    quantities), ``kron`` (Kronecker delta of two indices), ``X, Y, P`` (batch
    matrices, one row per example), ``batch`` (the batch size N) or ``var`` (a free
    real variable ``name``, as in ``\tanh'(u) = 1 - \tanh^2(u)``);
    ``layer`` is the layer ``l`` (None when the notation leaves it implicit; a string
    such as ``"l+1"`` or ``"L"`` for a symbolic layer, every valid value of which is checked);
    ``indices`` the 1-based indices as written (none: the whole vector or matrix);
    ``wrt`` (for ``grad``) the entry the loss is differentiated by; ``example`` the
    example (batch row) a per-example quantity belongs to.  ``src`` is the text as
    written, for messages.
    """
    kind: str
    layer: "int | str | None" = None
    indices: tuple = ()
    wrt: "Q | None" = None
    src: str = ""
    example: "str | None" = None
    name: str = ""


@dataclass(frozen=True)
class Call:
    """A function applied to arguments: ``func`` in ``sigmoid, tanh, exp, log, relu,
    max, abs, sqrt, f`` (``f`` = the network's own activation of ``layer``);
    ``order`` counts primes (derivatives); ``layer`` as in :class:`Q` (a string for a symbolic layer: Ng's ``g^{[l]'}``)."""
    func: str
    args: tuple
    order: int = 0
    layer: int | str | None = None
    src: str = ""


@dataclass(frozen=True)
class Add:
    terms: tuple


@dataclass(frozen=True)
class Mul:
    factors: tuple


@dataclass(frozen=True)
class Pow:
    base: "Node"
    exp: "Node"


@dataclass(frozen=True)
class Sum:
    """``Σ_{var=lo}^{hi} body``; ``lo``/``hi`` None when left implicit (the natural range of ``var``)."""
    var: str
    lo: "Node | None"
    hi: "Node | None"
    body: "Node"


@dataclass(frozen=True)
class Op:
    r"""A vector/matrix operation: ``op`` is ``T`` (transpose), ``matmul`` (``@``, or
    juxtaposition in LaTeX), ``had`` (elementwise ``\odot``, ``\circ``, ``*``) or ``outer``.
    Claims with these are lowered to entries (:mod:`.matrices`) before anything is built."""
    op: str
    args: tuple


@dataclass(frozen=True)
class Deriv:
    r"""``\frac{\partial body}{\partial wrt}`` for a body other than the loss (a Jacobian entry
    such as ``\partial p_i / \partial z_j``, or ``\frac{d}{du}\sigma(u)``)."""
    body: "Node"
    wrt: Q


Node = Union[Num, Const, Q, Call, Add, Mul, Pow, Sum, Op, Deriv]


def grad_target(q: Q) -> Q:
    """The quantity a gradient ``q`` (kind ``grad``) differentiates the loss by."""
    if q.wrt is None:
        raise InternalError(f"{q.src or q.kind}: a gradient without the quantity it is taken by")
    return q.wrt


@dataclass(frozen=True)
class Claim:
    """A parsed claim: ``sides[0] = sides[1] = …`` under ``conditions``.

    * ``conditions``: ``(a, op, b)`` with ``op`` in ``{'=', '!='}`` between indices;
    * ``same_for``: for "E is the same for every i": the indices ``E`` must not depend on
      (the checker compares ``E`` with a copy where each is renamed);
    * ``syntax``: ``"latex"`` or ``"plain"``; ``text``: the claim as given;
    * ``batch_loss``: ``"mean"`` (the batch loss is ``(1/N) Σ_n ℓ_n``, the default) or
      ``"sum"`` (the claim's text says "sum over the batch").
    """
    sides: tuple
    text: str
    syntax: str
    conditions: tuple = ()
    same_for: tuple = ()
    side_texts: tuple = field(default=())
    batch_loss: str = "mean"


def neg(node: Node) -> Node:
    return Mul((Num(Fraction(-1)), node))


def div(a: Node, b: Node) -> Node:
    return Mul((a, Pow(b, Num(Fraction(-1)))))


def children(node: Node) -> tuple:
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Add):
        return node.terms
    if isinstance(node, Mul):
        return node.factors
    if isinstance(node, Pow):
        return (node.base, node.exp)
    if isinstance(node, Sum):
        return tuple(n for n in (node.lo, node.hi, node.body) if n is not None)
    if isinstance(node, Q) and node.wrt is not None:
        return (node.wrt,)
    if isinstance(node, Op):
        return node.args
    if isinstance(node, Deriv):
        return (node.body, node.wrt)
    return ()


def map_quantities(node: Node, fn) -> Node:
    """The tree with every quantity ``q`` (its ``wrt`` mapped first) replaced by ``fn(q)``; the rest rebuilt."""
    if isinstance(node, Q):
        if node.wrt is not None:
            node = replace(node, wrt=_map_target(node.wrt, fn))
        return fn(node)
    if isinstance(node, Call):
        return replace(node, args=tuple(map_quantities(a, fn) for a in node.args))
    if isinstance(node, Add):
        return Add(tuple(map_quantities(t, fn) for t in node.terms))
    if isinstance(node, Mul):
        return Mul(tuple(map_quantities(f, fn) for f in node.factors))
    if isinstance(node, Pow):
        return Pow(map_quantities(node.base, fn), map_quantities(node.exp, fn))
    if isinstance(node, Sum):
        return Sum(node.var, node.lo, node.hi, map_quantities(node.body, fn))
    if isinstance(node, Op):
        return Op(node.op, tuple(map_quantities(a, fn) for a in node.args))
    if isinstance(node, Deriv):
        return Deriv(map_quantities(node.body, fn), _map_target(node.wrt, fn))
    return node


def transform(node: Node, fn) -> Node:
    """The tree rebuilt bottom-up, with ``fn`` applied to every node after its children."""
    if isinstance(node, Call):
        node = replace(node, args=tuple(transform(a, fn) for a in node.args))
    elif isinstance(node, Add):
        node = Add(tuple(transform(t, fn) for t in node.terms))
    elif isinstance(node, Mul):
        node = Mul(tuple(transform(f, fn) for f in node.factors))
    elif isinstance(node, Pow):
        node = Pow(transform(node.base, fn), transform(node.exp, fn))
    elif isinstance(node, Sum):
        node = Sum(node.var, node.lo, node.hi, transform(node.body, fn))
    elif isinstance(node, Op):
        node = Op(node.op, tuple(transform(a, fn) for a in node.args))
    elif isinstance(node, Deriv):
        node = Deriv(transform(node.body, fn), node.wrt)
    return fn(node)


def _map_target(q: Q, fn) -> Q:
    """A quantity something is differentiated by, mapped: it must stay a quantity."""
    out = map_quantities(q, fn)
    if not isinstance(out, Q):
        raise ClaimSyntaxError(f"{q.src or q.kind} is differentiated by, so it must stay a quantity of the network")
    return out


def count_nodes(node: Node) -> int:
    """Number of nodes (iterative: deep trees are fine)."""
    total, stack = 0, [node]
    while stack:
        n = stack.pop()
        total += 1
        stack.extend(children(n))
    return total


def check_size(claim_sides: tuple) -> None:
    """Enforce every structural limit of a parsed claim (see :func:`validate`)."""
    validate(claim_sides)


def _too_big(v: Fraction) -> bool:
    return v.numerator.bit_length() > MAX_CONSTANT_BITS or v.denominator.bit_length() > MAX_CONSTANT_BITS


def fold(node: Node, depth: int = 0) -> Fraction | None:
    """The exact value of a constant subtree (numbers with + − × ÷ and small integer powers), or None.

    Bounded: an exponent above :data:`MAX_EXPONENT`, a constant above
    :data:`MAX_CONSTANT_BITS` bits or nesting beyond :data:`MAX_TREE_DEPTH` is a
    :class:`~symderiv.errors.SizeLimitError` before anything is computed.
    """
    if depth > MAX_TREE_DEPTH:
        raise SizeLimitError(f"the claim is nested more than {MAX_TREE_DEPTH} operations deep")
    if isinstance(node, Num):
        return node.value
    if isinstance(node, (Add, Mul)):
        items = node.terms if isinstance(node, Add) else node.factors
        v = Fraction(0) if isinstance(node, Add) else Fraction(1)
        for item in items:
            x = fold(item, depth + 1)
            if x is None:
                return None
            v = v + x if isinstance(node, Add) else v * x
            if _too_big(v):
                raise SizeLimitError(f"a constant in the claim exceeds {MAX_CONSTANT_BITS} bits")
        return v
    if isinstance(node, Pow):
        b, e = fold(node.base, depth + 1), fold(node.exp, depth + 1)
        if b is None or e is None:
            return None
        if abs(e) > MAX_EXPONENT:
            raise SizeLimitError(f"the exponent {_short(e)} is larger than {MAX_EXPONENT} in absolute value")
        if e.denominator != 1 or (b == 0 and e < 0):
            return None
        v = b ** int(e)
        if _too_big(v):
            raise SizeLimitError(f"a constant in the claim exceeds {MAX_CONSTANT_BITS} bits")
        return v
    return None


def _short(v: Fraction) -> str:
    s = str(v)
    return s if len(s) <= 24 else s[:20] + "…"


def validate(claim_sides: tuple) -> None:
    """Enforce the structural limits of a claim tree before anything is built from it.

    Node count (:data:`MAX_NODES`), nesting (:data:`MAX_TREE_DEPTH`), exponents
    (a number of at most :data:`MAX_EXPONENT` in absolute value, integer or
    half-integer; no symbolic exponents) and powers of powers (the product of
    exponents along a nesting chain at most :data:`MAX_POWER_DEGREE`).  Iterative,
    so that a hostile tree cannot exhaust the Python stack.
    """
    if len(claim_sides) > MAX_SIDES:
        raise SizeLimitError(f"the chain has {len(claim_sides)} sides (limit {MAX_SIDES}); split it into smaller claims")
    total = 0
    stack = [(s, 1, 1) for s in claim_sides]
    while stack:
        node, depth, degree = stack.pop()
        total += 1
        if total > MAX_NODES:
            raise SizeLimitError(f"the claim has more than {MAX_NODES} terms and factors (limit {MAX_NODES}); split it into smaller claims")
        if depth > MAX_TREE_DEPTH:
            raise SizeLimitError(f"the claim is nested more than {MAX_TREE_DEPTH} operations deep")
        if isinstance(node, Num) and _too_big(node.value):
            raise SizeLimitError(f"a number in the claim exceeds {MAX_CONSTANT_BITS} bits")
        if isinstance(node, Pow):
            e = fold(node.exp)
            if e is None:
                raise UnsupportedError(
                    f"the exponent {to_text(node.exp)[:40]!r} is not a number: only numeric exponents are supported "
                    "(x^2, x^{-1}, x^{1/2}); write exponentials as e^{…} or \\exp(…)"
                )
            if abs(e) > MAX_EXPONENT:
                raise SizeLimitError(f"the exponent {_short(e)} is larger than {MAX_EXPONENT} in absolute value")
            if e.denominator not in (1, 2):
                raise UnsupportedError(f"the exponent {e}: only integer and half-integer exponents are supported")
            degree *= max(1, -(-abs(e.numerator) // e.denominator))
            if degree > MAX_POWER_DEGREE:
                raise SizeLimitError(
                    f"powers of powers multiply to an exponent of {degree} (limit {MAX_POWER_DEGREE}); write the power directly"
                )
            stack.append((node.base, depth + 1, degree))
            total += count_nodes(node.exp)
            continue
        stack.extend((c, depth + 1, degree) for c in children(node))


def describe_char(ch: str) -> str:
    """``'а' (U+0430 CYRILLIC SMALL LETTER A)``: names look-alike and invisible characters."""
    import unicodedata

    name = unicodedata.name(ch, "")
    return f"{ch!r} (U+{ord(ch):04X}{' ' + name if name else ''})"


def check_depth(text: str, openers: str = "([{", closers: str = ")]}") -> None:
    """Reject unbalanced or too deeply nested brackets, naming the position."""
    stack: list[tuple[str, int]] = []
    pairs = dict(zip(closers, openers))
    for pos, ch in enumerate(text):
        if ch in openers:
            stack.append((ch, pos))
            if len(stack) > MAX_DEPTH:
                raise SizeLimitError(f"brackets nested more than {MAX_DEPTH} deep at position {pos}")
        elif ch in closers:
            if not stack or stack[-1][0] != pairs[ch]:
                raise ClaimSyntaxError(f"unbalanced {ch!r} at position {pos}")
            stack.pop()
    if stack:
        ch, pos = stack[-1]
        raise ClaimSyntaxError(f"unclosed {ch!r} at position {pos}")


# ---------------------------------------------------------------- printing the AST
_FUNC_LATEX = {
    "sigmoid": r"\sigma", "tanh": r"\tanh", "exp": r"\exp", "log": r"\log", "relu": r"\mathrm{ReLU}",
    "max": r"\max", "abs": "", "sqrt": r"\sqrt", "f": "f", "heaviside": "H", "diag": r"\mathrm{diag}",
    "softmax": r"\mathrm{softmax}", "sech": r"\operatorname{sech}",
}
_BASE_LATEX = {"x": "x", "y": "y", "p": "p", "z": "z", "h": "h", "delta": r"\delta", "W": "W", "b": "b",
               "X": "X", "Y": "Y", "P": "P", "Z": "Z", "H": "H", "ones": r"\mathbf{1}"}
_STEP = {"step_gt": ">", "step_ge": r"\geq"}


def _idx(i: Index) -> str:
    return str(i)


def to_latex(node: Node) -> str:
    """LaTeX of a claim tree (used by the verdict's display)."""
    if isinstance(node, Num):
        v = node.value
        if v.denominator == 1:
            return str(v.numerator)
        sign = "-" if v < 0 else ""
        return f"{sign}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"
    if isinstance(node, Const):
        return "e"
    if isinstance(node, Q):
        if node.kind == "loss":
            return "L"
        if node.kind == "width":
            return "K" if node.layer is None else f"n_{{{node.layer}}}"
        if node.kind == "grad":
            return f"\\frac{{\\partial L}}{{\\partial {to_latex(grad_target(node))}}}"
        if node.kind == "kron":
            return f"\\delta_{{{','.join(_idx(i) for i in node.indices)}}}"
        if node.kind == "batch":
            return "N"
        if node.kind == "var":
            return "\\" + node.name if node.name in ("eta", "alpha", "lambda", "beta", "gamma") else node.name
        if node.kind == "layer":  # a standalone layer's quantity (:mod:`.layer_names`)
            from .layer_names import latex_of

            return latex_of(node)
        base = _BASE_LATEX[node.kind]
        sup = f"^{{({node.layer})}}" if node.layer is not None and node.kind not in ("x", "y", "p") else ""
        if node.example is not None:
            sup = f"^{{({node.example})}}" if not sup else sup[:-1] + f",{node.example}}}"
        sub = ",".join(_idx(i) for i in node.indices)
        return f"{base}{sup}_{{{sub}}}" if sub else base + sup
    if isinstance(node, Op):
        if node.op in ("T", "T'"):
            return f"{_wrap(node.args[0], True)}^{{\\top}}"
        if node.op == "outer":
            return f"{_wrap(node.args[0], True)} {_wrap(node.args[1], True)}^{{\\top}}"
        sep = " \\odot " if node.op == "had" else " "
        return sep.join(_wrap(a, True) for a in node.args)
    if isinstance(node, Deriv):
        return f"\\frac{{\\partial}}{{\\partial {to_latex(node.wrt)}}}\\left({to_latex(node.body)}\\right)"
    if isinstance(node, Call) and node.func in _STEP:
        return f"\\mathbb{{1}}\\left({to_latex(node.args[0])} {_STEP[node.func]} 0\\right)"
    if isinstance(node, Call):
        args = ", ".join(to_latex(a) for a in node.args)
        if node.func == "abs":
            return f"\\left|{args}\\right|"
        if node.func == "sqrt":
            return f"\\sqrt{{{args}}}"
        name = _FUNC_LATEX.get(node.func, rf"\mathrm{{{node.func}}}")
        if node.func == "f" and node.layer is not None:
            name = f"f_{{{node.layer}}}"
        return name + "'" * node.order + f"\\left({args}\\right)"
    if isinstance(node, Add):
        parts = [to_latex(t) for t in node.terms]
        out = parts[0]
        for s in parts[1:]:
            out += (" " + s) if s.startswith("-") else (" + " + s)
        return out
    if isinstance(node, Mul):
        f = node.factors
        if len(f) == 2 and isinstance(f[0], Num) and f[0].value == -1:
            return "-" + _wrap(f[1])
        return " ".join(_wrap(x) for x in f)
    if isinstance(node, Pow):
        if isinstance(node.exp, Num) and node.exp.value == -1:
            return f"\\frac{{1}}{{{to_latex(node.base)}}}"
        return f"{_wrap(node.base, True)}^{{{to_latex(node.exp)}}}"
    if isinstance(node, Sum):
        lo = f"={to_latex(node.lo)}" if node.lo is not None else ""
        hi = f"^{{{to_latex(node.hi)}}}" if node.hi is not None else ""
        return f"\\sum_{{{node.var}{lo}}}{hi} {_wrap(node.body)}"
    raise TypeError(node)


def _wrap(node: Node, tight: bool = False) -> str:
    s = to_latex(node)
    if isinstance(node, Add) or (tight and isinstance(node, (Mul, Pow, Sum))) or (isinstance(node, Num) and node.value < 0):
        return f"\\left({s}\\right)"
    return s


def to_text(node: Node) -> str:
    """Plain-text form of a claim tree (the plain-text syntax; used in messages)."""
    if isinstance(node, Num):
        return str(node.value)
    if isinstance(node, Const):
        return "e"
    if isinstance(node, Q):
        if node.kind == "loss":
            return "L"
        if node.kind == "width":
            return "K" if node.layer is None else f"n{node.layer}"
        if node.kind == "grad":
            return f"dL/d{to_text(grad_target(node))}"
        if node.kind == "kron":
            return f"kron({', '.join(_idx(i) for i in node.indices)})"
        if node.kind == "batch":
            return "N"
        if node.kind == "var":
            return node.name
        if node.kind == "layer":
            return node.name + (f"[{','.join(_idx(i) for i in node.indices)}]" if node.indices else "")
        layer = node.layer if node.layer is None or isinstance(node.layer, int) else f"({node.layer})"
        base = node.kind + (str(layer) if layer is not None and node.kind not in ("x", "y", "p") else "")
        if node.example is not None:
            base += f"^({node.example})"
        return base + (f"[{','.join(_idx(i) for i in node.indices)}]" if node.indices else "")
    if isinstance(node, Op):
        if node.op in ("T", "T'"):
            return f"({to_text(node.args[0])}).T"
        if node.op == "outer":
            return f"outer({to_text(node.args[0])}, {to_text(node.args[1])})"
        if node.op.startswith(("sum_", "mean_")):  # np.sum(A, axis=0), np.mean(A)
            what, axis = node.op.split("_", 1)
            return f"np.{what}({to_text(node.args[0])}" + (f", axis={axis[5:]})" if axis.startswith("axis:") else ")")
        return (" @ " if node.op == "matmul" else " * ").join(f"({to_text(a)})" for a in node.args)
    if isinstance(node, Deriv):
        return f"d/d{to_text(node.wrt)}({to_text(node.body)})"
    if isinstance(node, Call) and node.func in _STEP:
        return f"[{to_text(node.args[0])} {'>' if node.func == 'step_gt' else '>='} 0]"
    if isinstance(node, Call):
        name = node.func + (str(node.layer) if node.func == "f" and node.layer is not None else "")
        return name + "'" * node.order + "(" + ", ".join(to_text(a) for a in node.args) + ")"
    if isinstance(node, Add):
        return "(" + " + ".join(to_text(t) for t in node.terms) + ")"
    if isinstance(node, Mul):
        return "*".join(to_text(f) for f in node.factors)
    if isinstance(node, Pow):
        return f"({to_text(node.base)})^({to_text(node.exp)})"
    if isinstance(node, Sum):
        bounds = f", {to_text(node.lo)}, {to_text(node.hi)}" if node.lo is not None and node.hi is not None else ""
        return f"sum({to_text(node.body)}, {node.var}{bounds})"
    raise TypeError(node)
