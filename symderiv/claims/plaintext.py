"""The plain-text claim syntax, parsed by an allow-list over Python's ``ast``.

``ast.parse`` only *parses* (it never runs code); the tree is then walked with an
allow-list of node types and names, and anything else is a one-line
:class:`~symderiv.errors.ClaimSyntaxError` naming the construct and its column.
Nothing is evaluated: the walk produces the claim tree of :mod:`.tree`.

Syntax (indices 1-based)::

    dL/dW1[i,j] = (p[i] - y[i]) * x[j]
    delta1[i] = tanh'(z1[i]) * sum(W2[k,i] * delta2[k], k)
    abs(dL/dW1[i,j]) == abs(dL/dW1[k,j])
    dL/dW1[t,j] = (1/K - 1) * x[j]               # t: the true class (one-hot label)
    dL/dW1[i,j] = x[j] / K  for i != t           # a condition on indices
    dL/dW2[i,j] is zero
    dL/dW1[i,j] is the same for every i

Names: ``x[j] y[k] p[k] z<l>[i] h<l>[i] a<l>[i] delta<l>[i] W<l>[i,j] b<l>[i]``,
``dL/d<quantity>[...]`` (gradient by ``W b z h x``), ``L`` (loss), ``K``,
``n<l>``, ``e``; functions ``sigma sigmoid tanh exp log ln relu max abs sqrt f f<l>``,
each with optional primes ``'``; sums ``sum(expr, k)`` or ``sum(expr, k, lo, hi)``;
``^`` and ``**`` are powers; ``=`` and ``==`` are equalities.  Unicode ``∂ δ ℓ σ · × −``
are accepted.
"""
from __future__ import annotations

import ast
import re
from fractions import Fraction

from ..errors import ClaimNameError, ClaimSyntaxError, SizeLimitError, UnsupportedError
from .conditions import START_WORDS, batch_convention, read_conditions, tokens
from . import layer_names
from .names import unknown_name
from .numpy_indexing import SOFT_LABELS, is_one_hot_rows, is_true_class_selection
from .tree import (
    MAX_CHARS, MAX_DIGITS, MAX_SIDES, MAX_TREE_DEPTH, TRUE_CLASS, Add, Call, Claim, Const, Mul, Num, Op, Pow, Q, Sum,
    check_depth, check_size, describe_char, neg,
)

__all__ = ["parse_plain", "NotPython", "QuantityApplied"]

_UNICODE = {"∂": "d", "δ": "delta", "ℓ": "L", "σ": "sigma", "·": "*", "×": "*", "−": "-", "≠": "!=", "’": "'", "′": "'",
            "Σ": "sum", "∑": "sum", "⊙": "*", "∘": "*"}
_ALLOWED_CHARS = re.compile(r"[A-Za-z0-9_\s+\-*/^()\[\],.=!'|<>@]*")
_FUNCS = {"sigma": "sigmoid", "sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp", "log": "log", "ln": "log",
          "relu": "relu", "ReLU": "relu", "max": "max", "abs": "abs", "sqrt": "sqrt", "f": "f",
          "H": "heaviside", "step": "heaviside", "heaviside": "heaviside", "softmax": "softmax", "sech": "sech"}
#: code-style derivative names: dsigma(z) = sigma'(z)
_DFUNCS = {"dsigma": "sigmoid", "dsigmoid": "sigmoid", "sigmoid_prime": "sigmoid", "sigma_prime": "sigmoid",
           "dtanh": "tanh", "tanh_prime": "tanh", "drelu": "relu", "relu_prime": "relu", "df": "f", "f_prime": "f"}
_QUANT = re.compile(r"^(x|y|p|z|h|a|delta|W|w|b|X|Y|P|Z|H|A)(\d*|L)$")  # L: the output layer (Ng's AL, dZL)
#: code-style gradient names: dW1 = dL/dW1, dz2 = dL/dz2, dZ1, dH (batch matrices)
_DNAME = re.compile(r"^d(W|w|b|z|h|a|x|Z|H|A)(\d*|L)$")
#: CS231n's code names for batch matrices: scores (the logits Z^(L)), probs (P), hidden_layer (H)
_ALIASES = {"scores": "ZL", "probs": "P", "hidden_layer": "H", "hidden": "H"}
#: NumPy reductions: np.sum / np.mean with axis= and keepdims= (a 1-D result is a column vector)
_REDUCTIONS = {"sum", "mean"}


def _axis_of(node) -> "int | None":
    """The axis of a matrix a reduction names (0 or 1; in a layer's claim, whose arrays are matrices, -2 and -1
    count from the end), else None."""
    if layer_names.ACTIVE is not None and isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and type(node.operand.value) is int and node.operand.value in (1, 2):
        return 2 - node.operand.value
    if isinstance(node, ast.Constant) and type(node.value) is int and node.value in (0, 1):
        return node.value
    return None
#: names of the loss (Ng's code calls it cost; Nielsen's C, Ng's J as in dC/dW1, dJ/dW1)
_LOSS_NAMES = ("L", "ell", "loss", "cost", "J", "C")
_FREE = {"u", "v", "s", "r", "eta", "alpha", "lr", "lam", "gamma", "beta"}
#: module prefixes of code-style claims (np.outer(a, b)); nothing is imported or looked up
_MODULES = {"np", "numpy", "torch"}
#: their functions, as this syntax's names
_NUMPY = {"outer": "outer", "dot": "matmul", "matmul": "matmul", "exp": "exp", "log": "log", "tanh": "tanh",
          "sqrt": "sqrt", "abs": "abs", "maximum": "max", "heaviside": "H", "sigmoid": "sigma"}
#: NumPy's arithmetic as functions: the operator each is, and its number of arguments
_NUMPY_ARITHMETIC = {"multiply": (ast.Mult, 2), "divide": (ast.Div, 2), "true_divide": (ast.Div, 2),
                     "add": (ast.Add, 2), "subtract": (ast.Sub, 2), "power": (ast.Pow, 2), "square": (ast.Pow, 1)}
_GRAD = re.compile(r"(?<![A-Za-z0-9_])d(?:L|l|ell|loss|C|J|E)\s*/\s*d(?=[A-Za-z])")
_PRIME = re.compile(r"([A-Za-z][A-Za-z0-9]*)('+)")
_INDEX = re.compile(r"^[a-z]$")


def parse_plain(text: str) -> Claim:
    """Parse a plain-text claim into a :class:`~.tree.Claim` (never evaluates anything)."""
    try:
        return _parse_plain(text)
    except (ClaimSyntaxError, ClaimNameError, UnsupportedError, SizeLimitError) as exc:
        # messages quote the text as the user wrote it, never the parser's internal names
        raise type(exc)(_as_written(str(exc))) from None


def _as_written(message: str) -> str:
    """``GRAD_b1`` back to ``dL/db1`` and ``W2_PRIME1`` back to ``W2'`` in a message."""
    message = re.sub(r"(?<![A-Za-z0-9_])GRAD_", "dL/d", message)
    return re.sub(r"([A-Za-z][A-Za-z0-9]*)_PRIME(\d+)", lambda m: m.group(1) + "'" * int(m.group(2)), message)


def _parse_plain(text: str) -> Claim:
    if not isinstance(text, str):
        raise ClaimSyntaxError(f"a claim must be a string, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise SizeLimitError(f"the claim is {len(text)} characters long (limit {MAX_CHARS})")
    original = text
    text, batch_loss = batch_convention(text)
    for u, a in _UNICODE.items():
        text = text.replace(u, a)
    if not _ALLOWED_CHARS.fullmatch(text):
        bad = next(c for c in text if not _ALLOWED_CHARS.fullmatch(c))
        raise ClaimSyntaxError(
            f"character {describe_char(bad)} at position {text.index(bad)} is not allowed in a plain-text claim "
            "(ASCII letters, digits, + - * / ^ ( ) [ ] , = ' and ∂ δ σ · × − ≠ Σ)"
        )
    if not text.strip():
        raise ClaimSyntaxError("the claim is empty")
    check_depth(text)
    for m in re.finditer(r"\d[\d.]*", text):  # before ast.parse turns digits into an int
        if len(m.group(0).replace(".", "").lstrip("0")) > MAX_DIGITS:
            raise SizeLimitError(f"the number {m.group(0)[:20]}… at position {m.start()} has more than {MAX_DIGITS} digits")
    text, same_for, conditions = _suffixes(text)
    text = _GRAD.sub("GRAD_", text)
    text = _PRIME.sub(lambda m: f"{m.group(1)}_PRIME{len(m.group(2))}", text)
    if "'" in text:
        raise ClaimSyntaxError(f"a prime ' at position {text.index(chr(39))} must follow a function name, as in tanh'(z1[i])")
    text = re.sub(r"\^\s*\(?\s*T\s*\)?(?![A-Za-z0-9_(\[])", ".T", text)  # x^T is the transpose in plain text too
    text = text.replace("^", "**")
    sides_text = _split_relations(text)
    if len(sides_text) > MAX_SIDES:
        raise SizeLimitError(f"the chain has {len(sides_text)} sides (limit {MAX_SIDES}); split it into smaller claims")
    sides = tuple(_Walker(s).parse() for s in sides_text)
    check_size(sides)
    if len(sides) < 2 and not same_for:
        raise ClaimSyntaxError("a claim needs a relation: A = B (or '... is zero', '... is the same for every i')")
    return Claim(sides, original, "plain", conditions, same_for, tuple(_shown(s) for s in sides_text), batch_loss)


def _shown(side: str) -> str:
    """A side as the user wrote it, for verdicts: the parser's internal spellings undone
    (``GRAD_W1`` is ``dL/dW1``, ``tanh_PRIME1`` is ``tanh'``)."""
    side = side.strip().replace("GRAD_", "dL/d")
    return re.sub(r"_PRIME(\d+)", lambda m: "'" * int(m.group(1)), side)


def _suffixes(text: str):
    """Split off the tail: ``is zero``, ``is the same for every i[, j]``, ``for i != t``,
    ``for every j except t``, ``when k = t`` (see :mod:`.conditions`); words that are
    not understood are an error quoting them, never dropped."""
    depth, start = 0, None
    for m in re.finditer(r"[()\[\]]|(?<![A-Za-z0-9_])([A-Za-z]+)(?![A-Za-z0-9_(\[])", text):
        tok = m.group(0)
        if tok in "([":
            depth += 1
        elif tok in ")]":
            depth -= 1
        elif depth == 0 and m.group(1) and m.group(1).lower() in START_WORDS and text[:m.start()].strip():
            start = m.start()
            break
    if start is None:
        return text, (), ()
    head, tail = text[:start], text[start:]
    zero = re.match(r"\s*is\s+(?:zero|0)\b", tail)
    if zero:
        head, tail = head + " = 0", tail[zero.end():]
        if not tail.strip():
            return head, (), ()
    conditions, same_for = read_conditions(tokens(tail), tail)
    return head, same_for, conditions


def _split_relations(text: str) -> list[str]:
    """Split at top-level ``=``/``==``; reject other relations."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif depth == 0 and c in "=!<>":
            two = text[i:i + 2]
            if two in ("!=", "<=", ">=") or c in "<>":
                raise ClaimSyntaxError(f"relation {two if two in ('!=', '<=', '>=') else c!r} at position {i}: only equalities are supported (=, ==)")
            parts.append(text[start:i])
            i += 2 if two == "==" else 1
            start = i
            continue
        i += 1
    parts.append(text[start:])
    for k, p in enumerate(parts):
        if not p.strip():
            raise ClaimSyntaxError(f"side {k + 1} of the relation is empty")
    return parts


def _layer_number(written: str) -> int | str | None:
    """The layer of ``z2`` (2), of Ng's ``AL`` (the output layer ``L``) or of ``z`` (none)."""
    return int(written) if written.isdigit() else written or None


class NotPython(ClaimSyntaxError):
    """A side that is no Python expression (``(1/m) X (A - Y)^T``: juxtaposition); the "auto" syntax then
    reads a short formula without code signs as LaTeX (:func:`symderiv.claims.checker.parse_claim`)."""


class QuantityApplied(NotPython):
    """A quantity written before a bracket (``X (A - Y)^T``): not code, but a formula whose juxtaposition is a
    product, read as LaTeX by the "auto" syntax like :class:`NotPython`."""


class _Walker:
    """Allow-list walk of one side's ``ast`` into the claim tree."""

    def __init__(self, text: str):
        self.text = text
        self.nonlinear = 0  #: inside a function's argument or a power (where A[range(N), y] needs one-hot labels)
        self.selections = 0  #: the true-class selections A[range(N), y] read so far

    def nonlinear_node(self, node, depth: int):
        """``node`` read where a true-class selection would need one-hot labels (a function's argument, a power)."""
        self.nonlinear += 1
        try:
            return self.node(node, depth)
        finally:
            self.nonlinear -= 1

    def parse(self):
        src = self.text.strip()
        try:
            tree = ast.parse(src, mode="eval")
        except SyntaxError as exc:
            col = (exc.offset or 0)
            raise NotPython(f"cannot parse {src[:80]!r} near column {col}: {exc.msg}") from None
        except (RecursionError, MemoryError, ValueError):
            raise ClaimSyntaxError(f"cannot parse {src[:60]!r}: too complex") from None
        return self.node(tree.body)

    def fail(self, node, what: str) -> ClaimSyntaxError:
        col = getattr(node, "col_offset", 0)
        return ClaimSyntaxError(f"{what} at column {col} of {self.text.strip()[:80]!r} is not allowed in a claim")

    def node(self, node, depth: int = 0):
        """The claim tree of ``node``; chains of + − and × ÷ are flattened iteratively and
        unary signs collapsed, so long sums and products need no deep recursion."""
        if depth > MAX_TREE_DEPTH:
            raise SizeLimitError(f"the claim is nested more than {MAX_TREE_DEPTH} operations deep")
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise self.fail(node, f"the constant {v!r}")
            return Num(self.number(node))
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            parts = []
            while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
                parts.append((isinstance(node.op, ast.Sub), node.right))
                node = node.left
            terms = [self.node(node, depth + 1)]
            for negative, right in reversed(parts):
                t = self.node(right, depth + 1)
                terms.append(neg(t) if negative else t)
            return Add(tuple(terms))
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            parts = []
            while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
                parts.append((isinstance(node.op, ast.Div), node.right))
                node = node.left
            before = self.selections
            factors = [self.node(node, depth + 1)]
            for inverse, right in reversed(parts):
                selected = self.selections
                f = self.nonlinear_node(right, depth + 1) if inverse else self.node(right, depth + 1)
                if self.selections > selected and selected > before:  # A[range(N), y] * B[range(N), y]
                    raise UnsupportedError(f"a product of two true-class selections [range(N), y] {SOFT_LABELS}")
                factors.append(Pow(f, Num(Fraction(-1))) if inverse else f)
            return Mul(tuple(factors))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            before = self.selections
            left = self.node(node.left, depth + 1)
            selected = self.selections
            right = self.node(node.right, depth + 1)
            if self.selections > selected > before:
                raise UnsupportedError(f"a product of two true-class selections [range(N), y] {SOFT_LABELS}")
            return Op("matmul", (left, right))
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
            axis = node.slice  # X.shape[0]: a dimension of a batch matrix (the batch size N for rows)
            if not (isinstance(axis, ast.Constant) and axis.value in (0, 1) and type(axis.value) is int):
                raise self.fail(node, "a shape index other than 0 or 1")
            return Op(f"dim:{axis.value}", (self.node(node.value.value, depth + 1),))
        if isinstance(node, ast.Attribute):
            if node.attr != "T":
                raise self.fail(node, f"the attribute .{node.attr} (only .T, the transpose, is allowed)")
            return Op("T", (self.node(node.value, depth + 1),))
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Gt, ast.GtE)) or not (
                    isinstance(node.comparators[0], ast.Constant) and node.comparators[0].value == 0):
                raise self.fail(node, "a comparison other than (expr > 0) or (expr >= 0) (a ReLU mask)")
            func = "step_gt" if isinstance(node.ops[0], ast.Gt) else "step_ge"
            return Call(func, (self.node(node.left, depth + 1),), 0, None, "(… > 0)" if func == "step_gt" else "(… >= 0)")
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Pow):
                if isinstance(node.left, ast.Subscript) and is_true_class_selection(node.left.slice):
                    exp = self.nonlinear_node(node.right, depth + 1)  # probs[range(N), y] ** 2: elementwise
                    return self.true_class_entries(node.left.value, lambda t: Pow(t, exp))
                base, exp = self.nonlinear_node(node.left, depth + 1), self.nonlinear_node(node.right, depth + 1)
                if base == Const("e"):
                    return Call("exp", (exp,), 0, None, "e^")
                return Pow(base, exp)
            raise self.fail(node, f"the operator {type(node.op).__name__}")
        if isinstance(node, ast.UnaryOp):
            negative = False
            while isinstance(node, ast.UnaryOp):
                if isinstance(node.op, ast.USub):
                    negative = not negative
                elif not isinstance(node.op, ast.UAdd):
                    raise self.fail(node, f"the operator {type(node.op).__name__}")
                node = node.operand
            inner = self.node(node, depth + 1)
            return neg(inner) if negative else inner
        if isinstance(node, ast.Name):
            return self.name(node, node.id, ())
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise self.fail(node, f"{type(node).__name__} ({ast.dump(node)[:30]}…)")

    def number(self, node) -> Fraction:
        text = ast.get_source_segment(self.text.strip(), node) or repr(node.value)
        if not re.fullmatch(r"\d+(?:\.\d*)?|\.\d+", text):
            raise ClaimSyntaxError(
                f"the number {text[:20]!r} is not a plain decimal number (no hexadecimal, binary, octal, "
                "exponents, digit separators or complex numbers); write e.g. 16, 0.5 or 1/3"
            )
        if len(text.replace(".", "").lstrip("0")) > MAX_DIGITS:
            raise SizeLimitError(f"the number {text[:20]}… has more than {MAX_DIGITS} digits (limit {MAX_DIGITS})")
        return Fraction(text)

    def index(self, node):
        if isinstance(node, ast.Name) and _INDEX.match(node.id):
            return TRUE_CLASS if node.id == "y" else node.id
        if isinstance(node, ast.Constant) and type(node.value) is int and 0 < node.value < 10**6:
            return node.value
        raise self.fail(node, "an index other than a single letter or a positive integer")

    def subscript(self, node):
        if is_one_hot_rows(node):  # np.eye(K)[y]: the one-hot label matrix
            return self.name(node, "Y", ())
        if is_true_class_selection(node.slice):  # probs[range(N), y]: each example's true-class entry
            return self.true_class_entries(node.value, None)
        indices: list = []
        while isinstance(node, ast.Subscript):
            sl = node.slice
            items = sl.elts if isinstance(sl, ast.Tuple) else [sl]
            indices[:0] = [self.index(i) for i in items]
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "softmax" and len(indices) == 1:
            return Op(f"at:{indices[0]}", (self.call(node),))  # softmax(z)[k]
        if not isinstance(node, ast.Name):
            raise self.fail(node, "indexing something other than a name")
        return self.name(node, node.id, tuple(indices))

    def true_class_entries(self, array, function):
        """``A[range(N), y]`` (``function(A[range(N), y])``, an elementwise function of it): with one-hot labels
        ``Y``, the column ``np.sum(Y * A, axis=1)`` (``np.sum(Y * function(A), axis=1)``).  Elsewhere than
        linearly or directly under an elementwise function its value would depend on the labels being one-hot
        (:mod:`.numpy_indexing`): refused."""
        if self.nonlinear:
            raise UnsupportedError(f"{ast.unparse(array)[:30]}[range(N), y] {SOFT_LABELS}")
        self.selections += 1
        inner = self.node(array, 1)
        if function is not None:
            inner = function(inner)
        return Op("sum_axis:1", (Mul((self.name(array, "Y", ()), inner)),))

    def name(self, node, name: str, indices: tuple):
        if layer_names.ACTIVE is not None and (q := layer_names.ACTIVE.plain_name(name, indices)) is not None:
            return q  # a layer's own names (:mod:`.layer_names`, layer checks only)
        if name in _ALIASES or (name.startswith("d") and name[1:] in _ALIASES):
            grad = name.startswith("d") and name[1:] in _ALIASES
            alias = _ALIASES[name[1:] if grad else name]
            kind, layer = alias[0], ("L" if alias.endswith("L") else None)
            q = Q(kind, layer, indices, None, name)
            return Q("grad", None, (), q, name) if grad else q
        src = name + (f"[{','.join(map(str, indices))}]" if indices else "")
        prime = re.fullmatch(r"(.+)_PRIME(\d+)", name)
        if prime and int(prime.group(2)) == 1 and (_QUANT.match(prime.group(1)) or _DNAME.match(prime.group(1))):
            return Op("T'", (self.name(node, prime.group(1), indices),))  # W2' is the transpose
        dname = _DNAME.match(name)
        if dname:
            name = "GRAD_" + dname.group(1) + dname.group(2)
        if name.startswith("GRAD_"):
            target = name[5:]
            src = f"dL/d{target}" + src[len(name):]
            m = _QUANT.match(target)
            if not m or m.group(1) in ("y", "X", "Y", "P"):
                raise unknown_name(target, f"in the gradient d…/d{target[:20]} (differentiate by W<l>, b<l>, z<l>, h<l> or x)")
            kind, layer = m.group(1), m.group(2)
            if kind == "delta":
                raise ClaimNameError(f"{src}: differentiate by z<l> (dL/dz<l> is delta<l>), not by delta")
            kind = {"a": "h", "A": "H", "w": "W"}.get(kind, kind)
            wrt = Q(kind, _layer_number(layer), indices, None, target + src[src.index(target) + len(target):])
            return Q("grad", None, (), wrt, src if not dname else "d" + src[len("dL/d"):])
        if name in _LOSS_NAMES:
            return self.plain(node, Q("loss", src=src), indices)
        if name == "K":
            return self.plain(node, Q("width", src=src), indices)
        if name in ("N", "m", "num_examples"):  # the batch size (m in Ng's course, num_examples in CS231n's code)
            return self.plain(node, Q("batch", src=src), indices)
        if name in _FREE and not indices:
            return Q("var", src=name, name=name)
        if name == "e":
            return self.plain(node, Const("e"), indices)
        m = re.fullmatch(r"n(\d+)", name)
        if m:
            return self.plain(node, Q("width", int(m.group(1)), src=src), indices)
        m = _QUANT.match(name)
        if m:
            kind, layer = m.group(1), m.group(2)
            kind = {"a": "h", "A": "H", "w": "W"}.get(kind, kind)
            if layer and kind in ("x", "y", "p", "X", "Y", "P"):
                raise ClaimNameError(f"{src}: {kind} takes no layer number")
            return Q(kind, _layer_number(layer), indices, None, src)
        if _INDEX.match(name):
            raise ClaimNameError(f"the index {name} at column {node.col_offset} can only be used inside [...] (e.g. x[{name}])")
        raise unknown_name(name, f"at column {node.col_offset}")

    def plain(self, node, value, indices):
        if indices:
            raise ClaimNameError(f"{getattr(value, 'src', 'e') or 'e'} takes no index")
        return value

    def reduction(self, node: ast.Call, what: str, depth: int):
        """``np.sum(A, axis=0, keepdims=True)``, ``A.sum(axis=1)``, ``np.mean(…)``: a sum (or mean) over the
        rows (axis 0) or the columns (axis 1), a vector (with ``keepdims=True`` in NumPy's orientation, a row for
        axis 0, so that it broadcasts as NumPy's does); without an axis, of every entry."""
        args = list(node.args)
        if isinstance(node.func, ast.Attribute) and not (isinstance(node.func.value, ast.Name) and node.func.value.id in _MODULES):
            args.insert(0, node.func.value)  # A.sum(axis=0)
        axis, keep = None, False
        for kw in node.keywords:  # NumPy's axis=/keepdims= and torch's dim=/keepdim=; -1 and -2 of a matrix are 1 and 0
            if kw.arg in ("axis", "dim") and _axis_of(kw.value) is not None:
                axis = _axis_of(kw.value)
            elif kw.arg in ("keepdims", "keepdim") and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool):
                keep = kw.value.value  # the orientation NumPy gives the result (a row for axis=0), for broadcasting
            elif what == "var" and kw.arg == "ddof" and isinstance(kw.value, ast.Constant) and kw.value.value == 0:
                pass  # NumPy's default: the biased variance
            else:
                raise self.fail(node, "a keyword other than axis=0/1/-1 (dim=), keepdims=True/False (keepdim=)"
                                + (" or ddof=0" if what == "var" else ""))
        last = args[-1] if len(args) == 2 else None
        if axis is None and last is not None and _axis_of(last) is not None:
            axis = _axis_of(last)  # np.sum(A, 0), A.sum(0), A.mean(-1)
            args.pop()
        if len(args) != 1:
            raise ClaimSyntaxError(f"{what} takes one array (and axis=, keepdims=) (column {node.col_offset})")
        op = f"{what}_{'keep' if keep else 'axis'}:{axis}" if axis is not None else f"{what}_all"
        array = self.node(args[0], depth + 1)
        if what == "var":  # np.var: NumPy's biased variance, the mean of the squared deviations from the mean
            centre = Op(f"mean_keep:{axis}" if axis is not None else "mean_all", (array,))
            return Op(op.replace("var", "mean", 1), (Pow(Add((array, Mul((Num(Fraction(-1)), centre)))), Num(Fraction(2))),))
        return Op(op, (array,))

    def call(self, node: ast.Call, depth: int = 0):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _REDUCTIONS and (
                not isinstance(func.value, ast.Name) or func.value.id in _MODULES or node.keywords or not node.args
                or len(node.args) == 1 and _axis_of(node.args[0]) is not None):  # dout.sum(0)
            return self.reduction(node, func.attr, depth)
        if layer_names.ACTIVE is not None and isinstance(func, ast.Attribute) and func.attr in ("ones", "ones_like") \
                and isinstance(func.value, ast.Name) and func.value.id in _MODULES and len(node.args) == 1 \
                and not node.keywords:  # Kratzert's np.ones((N, D)) * dvar (a layer's claim: its builder knows shapes)
            shape = node.args[0].elts if func.attr == "ones" and isinstance(node.args[0], ast.Tuple) else node.args
            if not 1 <= len(shape) <= 2:
                raise ClaimSyntaxError(f"np.ones takes a shape of one or two sizes (column {node.col_offset})")
            return Op(func.attr, tuple(self.node(a, depth + 1) for a in shape))
        if isinstance(func, ast.Attribute) and func.attr == "var":  # np.var is NumPy's biased variance
            if isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy"):
                return self.reduction(node, "var", depth)
            raise ClaimSyntaxError(f"{ast.unparse(func)}(…) at column {node.col_offset} may be NumPy's biased or torch's "
                                   "unbiased variance: write np.var(x, axis=…) or ((x - x.mean(…))**2).mean(…)")
        if layer_names.ACTIVE is not None and len(node.args) == 1 and len(node.keywords) == 1 \
                and node.keywords[0].arg in ("axis", "dim") and _axis_of(node.keywords[0].value) is not None \
                and (func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")) == "softmax":
            # a layer's softmax(x, axis=1), torch.softmax(x, dim=-1): along each row; axis=0 along each column
            rows = _axis_of(node.keywords[0].value) == 1
            arg = node.args[0] if rows else ast.Attribute(value=node.args[0], attr="T", ctx=ast.Load())
            out = self.call(ast.Call(func=ast.Name(id="softmax", ctx=ast.Load(), col_offset=func.col_offset), args=[arg],
                                     keywords=[], col_offset=node.col_offset), depth + 1)
            return out if rows else Op("T", (out,))
        if node.keywords:
            raise self.fail(node, "a keyword argument")
        if isinstance(func, ast.Attribute) and func.attr == "dot" and len(node.args) == 1 and not (
                isinstance(func.value, ast.Name) and func.value.id in _MODULES):
            return Op("matmul", (self.node(func.value, depth + 1), self.node(node.args[0], depth + 1)))  # a.dot(b)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in _MODULES \
                and func.attr in _NUMPY_ARITHMETIC:  # np.multiply(a, b) is a * b, np.power(a, 2) is a ** 2
            op, arity = _NUMPY_ARITHMETIC[func.attr]
            if len(node.args) != arity or node.keywords:
                raise ClaimSyntaxError(f"{func.value.id}.{func.attr} takes {arity} argument{'s' if arity > 1 else ''} "
                                       f"(column {node.col_offset})")
            right = node.args[1] if arity == 2 else ast.Constant(2, col_offset=node.col_offset)
            return self.node(ast.BinOp(node.args[0], op(), right, col_offset=node.col_offset), depth + 1)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in _MODULES:
            if func.attr not in _NUMPY:  # np.outer, np.dot, np.exp, np.maximum, …: NumPy's names as ours
                raise self.fail(func, f"{func.value.id}.{func.attr} (known: {', '.join(sorted({*_NUMPY, *_NUMPY_ARITHMETIC}))})")
            if _NUMPY[func.attr] == "matmul":
                if len(node.args) != 2:
                    raise ClaimSyntaxError(f"{func.value.id}.{func.attr} takes two arguments (column {node.col_offset})")
                return Op("matmul", tuple(self.node(a, depth + 1) for a in node.args))
            node = ast.Call(func=ast.Name(id=_NUMPY[func.attr], ctx=ast.Load(), col_offset=func.col_offset),
                            args=node.args, keywords=node.keywords, col_offset=node.col_offset)
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "T":  # X^T (P - Y): a formula's product
                raise QuantityApplied(f"a transposed quantity before a bracket at column {node.col_offset} is a product "
                                      "in a formula, not a call; write it with @")
            raise self.fail(node.func, f"calling {type(node.func).__name__}")
        name = node.func.id
        order = 0
        m = re.fullmatch(r"(.+)_PRIME(\d+)", name)
        if m:
            name, order = m.group(1), int(m.group(2))
        if name == "sum":
            return self.sum(node, depth)
        if name == "outer":
            if len(node.args) != 2:
                raise ClaimSyntaxError(f"outer takes two vectors, as in outer(delta1, x) (column {node.col_offset})")
            return Op("outer", tuple(self.node(a, depth + 1) for a in node.args))
        if name in ("kron", "indicator", "eq"):
            if len(node.args) != 2 or not all(isinstance(a, ast.Name) and _INDEX.match(a.id) for a in node.args):
                raise ClaimSyntaxError(f"{name} takes two index letters, as in kron(i, j) (column {node.col_offset})")
            return Q("kron", None, tuple(self.index(a) for a in node.args), None, f"{name}(…)")
        if name in _DFUNCS:
            name, order = _DFUNCS[name], order + 1
            name = {"sigmoid": "sigma"}.get(name, name)
        layer = None
        m = re.fullmatch(r"f(\d+)", name)
        if m:
            name, layer = "f", int(m.group(1))
        if name not in _FUNCS:
            if not order and (_QUANT.match(name) or _DNAME.match(name) or name in _ALIASES):
                raise QuantityApplied(f"{name}(…) at column {node.col_offset}: {name} is a vector or matrix, not a "
                                      f"function; write the product as {name} @ (…)")
            raise unknown_name(name + "'" * order + "(...)", f"at column {node.col_offset}")
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.fail(a, "a starred argument")
        fname = _FUNCS[name]
        if fname not in ("max", "softmax") and len(node.args) == 1 and isinstance(node.args[0], ast.Subscript) \
                and is_true_class_selection(node.args[0].slice):  # np.log(probs[range(N), y]): elementwise
            return self.true_class_entries(node.args[0].value,
                                           lambda t: Call(fname, (t,), order, layer, name + "'" * order))
        args = tuple(self.nonlinear_node(a, depth + 1) for a in node.args)
        if fname == "max":
            if len(args) != 2:
                raise ClaimSyntaxError("max takes two arguments, as in max(0, z1[i])")
            if order:
                raise ClaimSyntaxError("write the derivative of max(0, ·) as relu'(…)")
            if args[0] == Num(Fraction(0)):
                return Call("relu", (args[1],), 0, None, "max(0, ·)")
            if args[1] == Num(Fraction(0)):
                return Call("relu", (args[0],), 0, None, "max(·, 0)")
            return Call("max", args, 0, None, "max")
        return Call(fname, args, order, layer, name + "'" * order)

    def sum(self, node: ast.Call, depth: int = 0):
        args = node.args
        if len(args) not in (2, 4) or not isinstance(args[1], ast.Name) or not _INDEX.match(args[1].id):
            raise ClaimSyntaxError(f"write sums as sum(expr, k) or sum(expr, k, 1, K) (column {node.col_offset})")
        body = self.node(args[0], depth + 1)
        lo = hi = None
        if len(args) == 4:
            lo, hi = self.node(args[2], depth + 1), self.node(args[3], depth + 1)
        return Sum(args[1].id, lo, hi, body)
