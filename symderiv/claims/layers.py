r"""Checking backward passes of standalone layers: BatchNorm, LayerNorm, softmax, attention.

A layer-local derivation (CS231n's ``batchnorm_backward``, Ioffe & Szegedy's chain, an attention
backward pass) treats the upstream gradient as a free quantity.  Name the layer and pass it to
:func:`symderiv.claims.check` in place of the network::

    from symderiv.claims import check
    from symderiv.claims.layers import batchnorm
    check("dbeta = np.sum(dout, axis=0)", batchnorm(batch=3, features=2))

(command line: ``symderiv check --layer batchnorm:3x2 "dbeta = np.sum(dout, axis=0)"``).

* :func:`batchnorm` (training mode, batch statistics: ``μ`` the mean over the examples per
  feature, ``σ²`` the biased variance, ``x̂ = (x − μ)/√(σ² + ε)``, ``y = γ ⊙ x̂ + β``),
  :func:`layernorm` (the same over the features of each example), :func:`softmax`
  (``p = softmax(z)``; with ``batch=N`` an N×K matrix row by row, ``softmax:NxK``) and
  :func:`attention` (``S = QKᵀ/√d``, or ``S = QKᵀ`` with ``scale=False``, ``attention:TxD:noscale``;
  ``P = softmax(S)`` row-wise, ``O = PV``); ``ε`` is a positive symbol, the sizes concrete (at least 2; the two sizes of a
  layer differ, so that a product's shapes say which axis is meant).
* The truth is the layer's own forward pass in SymPy and its vector-Jacobian products by
  :func:`sympy.diff` (:mod:`.layer_models`); the claim is read with the layer's names
  (:mod:`.layer_names`) by the ordinary parsers and built into matrices (:mod:`.layer_build`).
* Each link is decided as the MLP checker decides: refuted by a certified counterexample (Arb
  enclosures, :mod:`symderiv.certify`) at an exact rational point, or proved by
  :mod:`symderiv.decide` under the work budget, else "undecided"; whole derivations (``align``,
  several lines, ``Let u = …``) are checked line by line (:mod:`.derivation`).
"""
from __future__ import annotations

import itertools
import random
import re
import zlib
from dataclasses import dataclass, replace

import sympy as sp

from ..errors import ClaimSyntaxError, InvalidArgument, SizeLimitError, SymderivError, UnsupportedError
from .tree import MAX_CHARS, Claim, Q, to_latex, to_text
from .verdict import PROVED, REFUTED, UNDECIDED, Counterexample, LinkVerdict, Verdict

__all__ = ["Layer", "batchnorm", "layernorm", "softmax", "attention", "parse_layer", "check_layer", "LAYER_KINDS",
           "LAYER_HINT", "detect_layer"]

#: largest size of a layer's axis (the forward pass is expanded entry by entry)
MAX_SIZE = 6
#: random points tried per index assignment in the search for a counterexample
_ATTEMPTS = 6
#: index assignments enumerated per link
_MAX_ASSIGNMENTS = 256
#: what each kind's two sizes are called (the spec's ``AxB``)
LAYER_KINDS = {"batchnorm": ("batch", "features"), "layernorm": ("batch", "features"), "softmax": ("size",),
               "attention": ("tokens", "dim")}


@dataclass(frozen=True)
class Layer:
    """A standalone layer at concrete sizes (build it with :func:`batchnorm`, :func:`layernorm`,
    :func:`softmax`, :func:`attention` or :func:`parse_layer`), accepted by
    :func:`symderiv.claims.check` in place of a network."""
    kind: str
    sizes: tuple
    options: tuple = ()  #: ``("noscale",)``: attention without the 1/√d scale (S = QKᵀ)

    def describe(self) -> str:
        if self.kind in ("batchnorm", "layernorm"):
            n, d = self.sizes
            over = "the batch (per feature)" if self.kind == "batchnorm" else "the features (per example)"
            return (f"{self.kind} layer, training mode: x is {n}×{d} (N = {n} examples in rows, D = {d} features), "
                    f"μ and σ² (biased) over {over}, x̂ = (x − μ)/√(σ² + ε) with ε > 0 symbolic, y = γ ⊙ x̂ + β")
        if self.kind == "softmax" and len(self.sizes) == 2:
            n, k = self.sizes
            return (f"softmax layer on a batch: z is {n}×{k} (N = {n} examples in rows, K = {k} classes), "
                    "p = softmax(z) row by row (each example's row)")
        if self.kind == "softmax":
            return f"softmax layer: p = softmax(z), z a column of K = {self.sizes[0]} entries"
        t, d = self.sizes
        scores = "S = QK^T (no scale)" if "noscale" in self.options else "S = QK^T/√d"
        return (f"attention layer (one head): Q, K, V are {t}×{d} (T = {t} tokens, d = {d}), {scores}, "
                "P = softmax(S) row by row, O = PV")

    def spec(self) -> str:
        return f"{self.kind}:" + "x".join(map(str, self.sizes)) + "".join(f":{o}" for o in self.options)


def _sized(kind: str, *sizes, options: tuple = ()) -> Layer:
    names = ("batch", "size") if kind == "softmax" and len(sizes) == 2 else LAYER_KINDS[kind]
    for name, n in zip(names, sizes):
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_SIZE:
            raise InvalidArgument(f"{kind}: {name} must be a whole number from 2 to {MAX_SIZE}, got {n!r}")
    if len(sizes) == 2 and sizes[0] == sizes[1]:
        raise InvalidArgument(f"{kind}: {names[0]} and {names[1]} must differ (both are {sizes[0]}), so that the "
                              "shapes of a product say which axis is meant; e.g. 3 and 2")
    return Layer(kind, tuple(sizes), options)


def batchnorm(batch: int = 3, features: int = 2) -> Layer:
    """BatchNorm in training mode on an input of ``batch`` × ``features`` (defaults N = 3, D = 2)."""
    return _sized("batchnorm", batch, features)


def layernorm(batch: int = 3, features: int = 2) -> Layer:
    """LayerNorm (statistics over each example's ``features``) on ``batch`` × ``features`` (defaults 3, 2)."""
    return _sized("layernorm", batch, features)


def softmax(size: int = 3, batch: "int | None" = None) -> Layer:
    """Softmax as a layer on a vector of ``size`` entries (default K = 3); with ``batch=N``, on an N × ``size``
    matrix row by row (example i's logits in row i, as ``softmax(x, axis=1)``)."""
    return _sized("softmax", size) if batch is None else _sized("softmax", batch, size)


def attention(tokens: int = 3, dim: int = 2, scale: bool = True) -> Layer:
    """Single-head dot-product attention on ``tokens`` × ``dim`` queries, keys, values (defaults 3, 2):
    ``S = QKᵀ/√d``, or with ``scale=False`` ``S = QKᵀ`` (FlashAttention's appendix)."""
    if not isinstance(scale, bool):
        raise InvalidArgument(f"attention: scale must be True (S = QK^T/√d) or False (S = QK^T), got {scale!r}")
    return _sized("attention", tokens, dim, options=() if scale else ("noscale",))


_DEFAULTS = {"batchnorm": (3, 2), "layernorm": (3, 2), "softmax": (3,), "attention": (3, 2)}


#: a layer's options in its spec (``attention:3x2:noscale``): kind -> the options it takes
_OPTIONS = {"attention": ("noscale",)}


def parse_layer(spec: str) -> Layer:
    """``"batchnorm:3x2"``, ``"layernorm:4x3"``, ``"softmax:3"`` (a vector), ``"softmax:4x3"`` (N = 4 rows of
    K = 3), ``"attention:3x2"``, ``"attention:3x2:noscale"`` (S = QKᵀ) or a bare kind (its defaults)."""
    if not isinstance(spec, str):
        raise InvalidArgument(f"a layer is given as text such as 'batchnorm:3x2', got {type(spec).__name__}")
    m = re.fullmatch(r"\s*([a-z]+)\s*(?::\s*(\d{1,2})(?:\s*[x×]\s*(\d{1,2}))?)?\s*(?::\s*([a-z]+)\s*)?", spec)
    if not m or m.group(1) not in LAYER_KINDS:
        raise InvalidArgument(f"unknown layer {spec[:40]!r}; say batchnorm:NxD, layernorm:NxD, softmax:K, softmax:NxK, "
                              "attention:TxD or attention:TxD:noscale (e.g. batchnorm:3x2)")
    kind, option = m.group(1), m.group(4)
    if option is not None and option not in _OPTIONS.get(kind, ()):
        known = ", ".join(f"{k}:…:{o}" for k, os in _OPTIONS.items() for o in os)
        raise InvalidArgument(f"{kind} takes no option {option!r}; the options: {known}")
    if option is not None and m.group(2) is None:
        raise InvalidArgument(f"write the sizes before the option, as in {kind}:" + "x".join(map(str, _DEFAULTS[kind]))
                              + f":{option}")
    sizes = tuple(int(g) for g in m.groups()[1:3] if g is not None) or _DEFAULTS[kind]
    if kind == "softmax" and len(sizes) == 2:
        return softmax(size=sizes[1], batch=sizes[0])
    if len(sizes) != len(LAYER_KINDS[kind]):
        raise InvalidArgument(f"{kind} takes {' x '.join(LAYER_KINDS[kind])}, as in {kind}:"
                              + "x".join(map(str, _DEFAULTS[kind])))
    return _sized(kind, *sizes, options=(option,) if option else ())


# ---------------------------------------------------------------- text, parsing
#: Unicode a student types for the layer's names, as the parsers' spellings
_UNICODE_LATEX = {"x̂": r"\hat{x}", "σ²": r"\sigma^2", "μ": r"\mu ", "γ": r"\gamma ", "β": r"\beta ", "ε": r"\epsilon ",
                  "ϵ": r"\epsilon ", "√": r"\sqrt "}
_UNICODE_PLAIN = {"x̂": "x_hat", "σ²": "var", "μ": "mu", "γ": "gamma", "β": "beta", "ε": "eps", "ϵ": "eps"}


def _spelled(text: str, syntax: str) -> str:
    if syntax == "latex":  # Ioffe & Szegedy's \mu_\mathcal{B}, \sigma^2_\mathcal{B}: B names the mini-batch
        text = _MATHCAL_B.sub("B", text)
    else:  # √d, √(σ² + ε) in plain text: sqrt(…)
        text = _ROOT_NAME.sub(r"sqrt(\1)", text).replace("√(", "sqrt(")
    for u, a in (_UNICODE_LATEX if syntax == "latex" else _UNICODE_PLAIN).items():  # auto-plain: plain's spelling
        text = text.replace(u, a)
    return text


_MATHCAL_B = re.compile(r"\\math(?:cal|scr|bb)\s*(?:\{\s*B\s*\}|B\b)")
_ROOT_NAME = re.compile(r"√\s*([A-Za-z_][A-Za-z0-9_]*)")
_SQRT_CALL = re.compile(r"(?:\b(?:np|numpy|torch|math)\.)?\bsqrt\(")


def _latex_roots(text: str) -> str:
    """``sqrt(d)`` (no Python expression: ``dS K / sqrt(d)``) as LaTeX's ``\\sqrt{d}``; unbalanced text is left alone."""
    out, k = [], 0
    for m in _SQRT_CALL.finditer(text):
        if m.start() < k:
            continue
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            j += 1
        if depth:
            return text
        out += [text[k:m.start()], "\\sqrt{", _latex_roots(text[m.end():j - 1]), "}"]
        k = j
    return "".join(out) + text[k:]


def _parse_layer_here(text: str, syntax: str, kind: str, defined: tuple = ()) -> Claim:
    """The parse in its bounded child, with the layer's names (and the names a derivation defined) active
    (:mod:`.layer_names`)."""
    from . import layer_names
    from .checker import _parse_here

    layer_names.activate(replace(layer_names.VOCABULARIES[kind], defined=frozenset(defined)))
    if syntax == "auto-underscore":  # code's names (x_hat * dgamma) if it reads as code, else LaTeX (x_i - mu)
        try:
            return _parse_here(text, "plain")
        except SymderivError:
            return _parse_here(text, "latex")
    if syntax != "auto-plain":
        return _parse_here(text, syntax)
    try:  # no sign of LaTeX: plain text, unless it is no Python expression at all (dQ = dS K: LaTeX's products)
        return _parse_here(text, "plain")
    except ClaimSyntaxError as plain_error:
        if not str(plain_error).startswith("cannot parse"):
            raise
        try:
            return _parse_here(_latex_roots(text), "latex")
        except SymderivError:
            raise plain_error from None


_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")


def _assigned_name(text: str, layer: Layer) -> str:
    """The name a line of code assigns when the layer has no quantity of that name (``dxmu1 = dxhat * ivar``),
    else ``""`` (``dx = …`` is a claim about the layer's ``dx``)."""
    from .layer_names import VOCABULARIES

    m = _ASSIGNMENT.match(text)
    if not m or "\\" in text or len(m.group(1)) < 2 and not m.group(1).isupper() or _INDEXED.match(text):
        return ""  # (D = rowsum(dO * O) names D; D_i = … is an indexed definition, _indexed_name)
    return "" if VOCABULARIES[layer.kind].knows(m.group(1)) else m.group(1)


def _parse(text: str, syntax: str, layer: Layer, seconds: float, defined: tuple = ()) -> Claim:
    from ..bounded import BoundExceeded, run_bounded
    from .checker import _PARSE_MEMORY_MB, _TREE_TYPES
    from .derivation import looks_latex

    if syntax == "auto":  # no sign of LaTeX: plain text, else LaTeX without macros (dQ = dS K)
        syntax = "latex" if looks_latex(text) else "auto-plain"
        if syntax == "latex" and not looks_latex(text.replace("_", "")):
            syntax = "auto-underscore"  # only an underscore: code's x_hat, dx_hat as well as LaTeX's x_i
    if syntax in ("latex", "auto-plain", "auto-underscore"):
        from . import latex  # noqa: F401  imported once here, inherited by every forked parse child
    try:
        parsed = run_bounded(_parse_layer_here, _spelled(text, syntax), syntax, layer.kind, defined, seconds=seconds,
                             memory_mb=_PARSE_MEMORY_MB, reraise=True, allowed=_TREE_TYPES)
    except BoundExceeded as exc:
        raise SizeLimitError(f"parsing the claim exceeded its bound ({exc}); simplify or shorten it") from None
    return replace(parsed, text=text)


_WHERE = re.compile(r"^(?P<claim>.*\S)\s*(?:,\s*)?(?:\\quad|\\qquad|\\,|~)*\s*(?:\\text\{\s*where\s*\}|where|with)?\s*"
                    r"(?:\\quad|\\qquad)?\s*(?P<define>[A-Z]_(?:\{[a-z]{1,2}\}|[a-z])\s*=(?!=).*)$")
_INDEXED = re.compile(r"^\s*([A-Z])_(?:\{[a-z]{1,2}\}|[a-z])\s*=(?!=)")


def _where_first(text: str) -> str:
    """``dS_{ij} = P_{ij}(dP_{ij} - D_i), \\quad D_i = \\sum_j P_{ij} dP_{ij}``: a definition after the claim that
    uses it becomes the line before it (LaTeX only, and only a capital letter with an index: ``D_i``)."""
    if "\\" not in text:
        return text
    out = []
    for line in text.split("\n"):
        m = _WHERE.match(line)
        if m and "=" in m.group("claim") and (m.group("claim").rstrip().endswith((",", ")", "}")) or "quad" in line
                                               or "where" in line):
            out += [m.group("define"), m.group("claim").rstrip().rstrip(",")]
        else:
            out.append(line)
    return "\n".join(out)


def _indexed_name(text: str, layer: Layer) -> str:
    """The capital letter a LaTeX line defines with an index (``D_i = …``) when the layer has no such letter."""
    from .layer_names import VOCABULARIES

    m = _INDEXED.match(text)
    if not m or "\\" not in text and "_" not in text:
        return ""
    vocabulary = VOCABULARIES[layer.kind]
    return "" if m.group(1) in vocabulary.letters or m.group(1) in ("L", "C", "J", "E") else m.group(1)


def _indexed_substituted(node, indexed: dict):
    """Every use of an indexed definition (``D_i``, ``D_k``) replaced by its definition, its index renamed."""
    if not indexed:
        return node
    from .tree import Sum, map_quantities, transform

    def bound(tree) -> set:
        out: set = set()

        def visit(n):
            if isinstance(n, Sum):
                out.add(n.var)
            return n
        transform(tree, visit)
        return out

    def rename(tree, mapping: dict):
        return map_quantities(tree, lambda q: replace(q, indices=tuple(mapping.get(i, i) for i in q.indices)))

    def use(q):
        if not (isinstance(q, Q) and q.kind == "var" and q.name in indexed):
            return q
        names, tree = indexed[q.name]
        if len(q.indices) != len(names):
            raise ClaimSyntaxError(f"{q.name} is defined with {len(names)} index(es) and used with {len(q.indices)}")
        mapping = {a: b for a, b in zip(names, q.indices) if a != b}
        if set(mapping.values()) & bound(tree):
            raise ClaimSyntaxError(f"{q.name} used with the index {', '.join(map(str, mapping.values()))}, which its "
                                   "definition sums over; rename the sum's index")
        return rename(tree, mapping)

    from .tree import map_quantities as _map
    return _map(node, use)


_STAGE = "_stage"
_AUGMENTED = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*([-+*/])=\s*(.+)$")


def _without_comments(text: str) -> str:
    """Code's comments (``#step9``, ``dgammax = dout #not necessary``) dropped; LaTeX (a backslash) is left alone."""
    if "\\" in text or "#" not in text:
        return text
    return "\n".join(line.split("#", 1)[0].rstrip() for line in text.split("\n"))


def _staged(lines: list) -> list:
    """Code that assigns a name again from its own value (``dx = dnorm - …`` then ``dx *= rstd``): the value the
    later line builds on is a stage, renamed ``dx_stage<line>`` (a definition, substituted in the lines after
    it); ``x op= e`` is ``x = x op (e)``; the last assignment is the claim about the layer's ``dx``."""
    def assigned(line):
        if "\\" in line.text:
            return None
        m = _AUGMENTED.match(line.text) or _ASSIGNMENT.match(line.text)
        return m.group(1) if m else None

    def value(text: str) -> str:
        """The right-hand side of ``name = value`` (a line :func:`assigned` read as a plain assignment)."""
        m = _ASSIGNMENT.match(text)
        assert m is not None, text
        return text[m.end():]

    def _read_again(name, later, later_names) -> bool:
        """Does the next assignment to ``name`` build on its value (``dx *= rstd``, ``dx = dx + dx2``)?  Two
        independent assignments (two formulas for dx) stay two claims."""
        for line, other in zip(later, later_names):
            if other == name:
                return bool(_AUGMENTED.match(line.text)) or re.search(
                    rf"\b{re.escape(name)}\b", value(line.text)) is not None
        return False

    names = [assigned(line) for line in lines]
    current: dict = {}
    out = []
    for k, line in enumerate(lines):
        name = names[k]
        aug = _AUGMENTED.match(line.text) if name else None
        rhs = aug.group(3) if aug else value(line.text) if name else line.text
        for old, alias in current.items():
            rhs = re.sub(rf"\b{re.escape(old)}\b", alias, rhs)
        if not name:
            out.append(replace(line, text=rhs))
            continue
        if aug:
            if name not in current:
                raise ClaimSyntaxError(f"line {line.number} ({line.text[:60]}): {name} {aug.group(2)}= … with no "
                                       f"earlier assignment to {name} in the derivation")
            rhs = f"{current[name]} {aug.group(2)} ({rhs.strip()})"
        if _read_again(name, lines[k + 1:], names[k + 1:]):
            current[name] = f"{name}{_STAGE}{line.number}"
            out.append(replace(line, text=f"{current[name]} = {rhs.strip()}"))
        else:
            current.pop(name, None)
            out.append(replace(line, text=f"{name} = {rhs.strip()}"))
    return out


# ---------------------------------------------------------------- no layer given
#: what the refusal of a layer's name in an MLP claim says (:func:`.layer_names.layer_hint`, the LaTeX refusal)
LAYER_HINT = "--layer "


def detect_layer(claim: str, refusal: SymderivError, *, syntax: str = "auto", seconds: float = 10.0,
                 seed: int | None = None, memory_mb: int = 2048) -> Verdict:
    """A claim given with an MLP whose names are a layer's (``refusal``: the MLP reading's error naming the
    layers): checked against every layer the names can belong to, at the default sizes.  When the claim
    fits and gets the same verdict under each, that verdict, and its notes say what was detected; when
    the verdicts differ, or no layer fits, the refusal (one line, naming the readings and ``--layer``)."""
    message = str(refusal)
    kinds = ("batchnorm", "layernorm") if "batchnorm" in message else ("attention",) if "attention" in message else ()
    # attention's scale is not in its names: S = QK^T/√d (Vaswani et al.) or S = QK^T (FlashAttention's appendix)
    candidates = [parse_layer(kind) for kind in kinds] + ([attention(scale=False)] if "attention" in kinds else [])
    verdicts, unfit = [], []
    for layer in candidates:
        kind = layer.spec()
        try:
            verdicts.append((layer, check_layer(claim, layer, syntax=syntax, seconds=seconds, seed=seed,
                                                memory_mb=memory_mb)))
        except SymderivError as exc:
            unfit.append(f"{kind}: {str(exc)[:80]}")
    if not verdicts:
        raise refusal
    statuses = {v.status for _, v in verdicts}
    names = " and ".join(f"{l.kind} at {l.spec().split(':', 1)[1]}" for l, _ in verdicts)
    if len(statuses) > 1:
        per = ", ".join(f"{v.status} as {l.spec()}" for l, v in verdicts)
        raise type(refusal)(f"the claim names a layer's quantities and no layer was given; its verdict depends on the "
                            f"layer ({per}): pick one, " + " or ".join(f"--layer {l.spec()}" for l, _ in verdicts))
    layer, verdict = verdicts[0]
    dropped = f" ({'; '.join(unfit)})" if unfit else ""
    verdict.notes.insert(0, f"detected: the claim names a layer's quantities, not an MLP's, and no layer was given; "
                            f"checked as {names} (the defaults), {verdict.status} under each{dropped}; "
                            f"to choose the layer or its sizes: --layer {layer.spec()} (Python: layer=symderiv.claims."
                            f"layers.{layer.kind}(...))")
    return verdict


# ---------------------------------------------------------------- the check
def check_layer(claim: str, layer: Layer, *, syntax: str = "auto", seconds: float = 10.0, seed: int | None = None,
                memory_mb: int = 2048) -> Verdict:
    """Check a claim or derivation about ``layer`` (what :func:`symderiv.claims.check` does when given a
    :class:`Layer`; its arguments are validated there)."""
    from .derivation import is_derivation, split_derivation, substitute

    if not isinstance(claim, str):
        raise ClaimSyntaxError(f"a claim must be a string, got {type(claim).__name__}")
    if syntax not in ("auto", "latex", "plain"):
        raise ClaimSyntaxError(f"syntax must be 'auto', 'latex' or 'plain', got {syntax!r}")
    if not isinstance(layer, Layer):
        raise InvalidArgument(f"layer must be a Layer (batchnorm(...), layernorm, softmax, attention), got {type(layer).__name__}")
    claim = str.__str__(claim)
    if len(claim) > 5 * MAX_CHARS:
        raise SizeLimitError(f"the claim is {len(claim)} characters long (limit {5 * MAX_CHARS})")
    code = _where_first(_without_comments(claim))
    lines = _staged(split_derivation(code)) if is_derivation(code) or _indexed_name(code, layer) else None
    if lines is None:
        if len(claim) > MAX_CHARS:
            raise SizeLimitError(f"the claim is {len(claim)} characters long (limit {MAX_CHARS})")
        parsed = _parse(code, syntax, layer, min(5.0, seconds))
        return _check_one(claim, parsed, layer, seed, memory_mb, seconds)
    from .checker import MAX_LINES

    if len(lines) > MAX_LINES:
        raise SizeLimitError(f"the derivation has {len(lines)} lines (limit {MAX_LINES}); check it in parts")
    defs: dict = {}
    indexed: dict = {}  # D -> (its indices, its definition): D_i = \sum_j P_{ij} dP_{ij}
    links: list = []
    notes: list = []
    syntaxes = set()
    for line in lines:
        assigned = _assigned_name(line.text, layer) or _indexed_name(line.text, layer)  # a new name: defined
        try:
            parsed = _parse(line.text, syntax, layer, min(5.0, seconds),
                            tuple(defs) + tuple(indexed) + ((assigned,) if assigned else ()))
        except SymderivError as exc:
            raise type(exc)(f"line {line.number} ({line.text[:60]}): {exc}") from None
        syntaxes.add(parsed.syntax)
        sides = tuple(substitute(_indexed_substituted(s, indexed), defs) for s in parsed.sides)
        lhs = sides[0]
        if parsed.syntax == "latex" and assigned and len(sides) >= 2 and isinstance(lhs, Q) and lhs.kind == "var" \
                and lhs.name == assigned and lhs.indices:
            indexed[assigned] = (lhs.indices, sides[1])
            notes.append(f"line {line.number} defines {lhs.src}_{{{''.join(map(str, lhs.indices))}}} = "
                         f"{to_text(sides[1])[:80]}, used in the lines after it")
            if len(sides) == 2:
                continue
            sides = sides[1:]  # D_i = \sum_j P_{ij} dP_{ij} = dO_i^T O_i: the definition, and the rest of the chain
            parsed = replace(parsed, side_texts=parsed.side_texts[1:])
        defines = line.defines or (assigned if parsed.syntax == "plain" and len(sides) == 2 else "")
        if defines:
            defs[defines] = sides[1]
            how = " (an assignment in code to a name the layer does not have)" if not line.defines else ""
            if _STAGE in defines:
                how = f" ({defines.split(_STAGE)[0]} is assigned again on a later line: this value is a stage of it)"
            notes.append(f"line {line.number} defines {defines} = {to_text(sides[1])[:80]}{how}, used in the lines after it")
            continue
        try:
            verdict = _check_one(line.text, replace(parsed, sides=sides), layer, seed, memory_mb, seconds)
        except SymderivError as exc:
            raise type(exc)(f"line {line.number} ({line.text[:60]}): {exc}") from None
        for k, link in enumerate(verdict.links, 1):
            links.append(replace(link, number=len(links) + 1, line=line.row_of(k)))
        notes += [n for n in verdict.notes if n not in notes]
    if not links:
        raise ClaimSyntaxError("the derivation only defines names; it claims nothing to check")
    return Verdict(claim, _status([l.status for l in links]), links, layer.describe(), _INPUTS, notes,
                   syntaxes.pop() if len(syntaxes) == 1 else "mixed")


_INPUTS = "generic (every input, parameter and upstream-gradient entry its own symbol)"


def _status(statuses: list) -> str:
    return REFUTED if REFUTED in statuses else PROVED if all(s == PROVED for s in statuses) else UNDECIDED


def _check_one(text: str, parsed: Claim, layer: Layer, seed, memory_mb: int, seconds: float) -> Verdict:
    """One parsed claim in a bounded child under the work budget (as :func:`.checker._check_reading`)."""
    from ..bounded import BoundExceeded, IsolationUnavailable, run_counted
    from ..decide import work_of_seconds
    from .checker import _MIN_EVALUATION_S, _VERDICT_TYPES
    from .session import bound_reason, safety_net_seconds

    if parsed.same_for:
        raise UnsupportedError("'is the same for every …' is not supported for layer claims; write the entries")
    rng_seed = zlib.crc32(text.encode("utf-8", "replace")) if seed is None else seed % (1 << 64)
    evaluation = max(seconds, _MIN_EVALUATION_S)
    work = work_of_seconds(evaluation)
    try:
        verdict, _ = run_counted(_check_here, text, parsed, layer, rng_seed, seconds,
                                 seconds=safety_net_seconds(evaluation), memory_mb=memory_mb, reraise=True,
                                 allowed=_VERDICT_TYPES, work=work)
        return verdict
    except IsolationUnavailable:
        raise
    except BoundExceeded as exc:
        reason = bound_reason(exc, work, evaluation, "building and evaluating the claim")
        sides = parsed.sides
        links = [LinkVerdict(k, to_text(a), to_text(b), "equal", UNDECIDED, reason, None, "", 0, 0, to_latex(a), to_latex(b))
                 for k, (a, b) in enumerate(zip(sides, sides[1:]), 1)]
        return Verdict(text, UNDECIDED, links, layer.describe(), _INPUTS, [], parsed.syntax)


def _check_here(text: str, parsed: Claim, layer: Layer, rng_seed: int, seconds: float) -> Verdict:
    """The building, refutation and proof of one claim (in the bounded child), under each reading of ``N`` the
    layer's notation leaves open (LayerNorm: the examples, or the normalized features as many derivations
    write it) and of a one-subscript slice (:data:`_READINGS`)."""
    if layer.kind != "layernorm" or not _names_size(parsed, "N"):
        return _check_reading(text, parsed, layer, rng_seed, seconds, None)
    n, d = layer.sizes
    built, failed = [], []
    for size, words in ((n, f"N = {n}, the examples"), (d, f"N = {d}, the features (the normalized axis)")):
        try:
            built.append((words, _check_reading(text, parsed, layer, rng_seed, seconds, size)))
        except ClaimSyntaxError as exc:
            failed.append(f"{words}: {str(exc)[:100]}")
    if not built:
        raise ClaimSyntaxError("the claim fits no reading of N: " + "; ".join(failed))
    (words, verdict), rest = built[0], built[1:]
    if not rest:
        verdict.notes.insert(0, f"N in a LayerNorm claim read as {words}, the only reading that fits ({failed[0]})")
        return verdict
    other_words, other = rest[0]
    links = [a if a.status == b.status else replace(a, status=UNDECIDED, counterexample=None, reason=(
        f"the claim depends on what N is: {a.status} with {words}, {b.status} with {other_words}; write D (the "
        "features) or the number"))
        for a, b in zip(verdict.links, other.links)]
    same = all(a.status == b.status for a, b in zip(verdict.links, other.links))
    notes = [f"N in a LayerNorm claim has two readings, {words} and {other_words}: "
             + ("the verdict is the same under both" if same else "the verdicts differ"), *verdict.notes]
    return Verdict(text, _status([l.status for l in links]), links, layer.describe(), _INPUTS, notes, parsed.syntax)


def _names_size(claim: Claim, name: str) -> bool:
    from .tree import children

    stack = list(claim.sides)
    while stack:
        node = stack.pop()
        if isinstance(node, Q) and node.kind == "layer" and node.name == name:
            return True
        stack.extend(children(node))
    return False


def _check_reading(text: str, parsed: Claim, layer: Layer, rng_seed: int, seconds: float, n_size) -> Verdict:
    """:func:`_check_here` under one reading of ``N`` (``n_size``: its value, None for the layer's own)."""
    from .layer_models import build_model

    model = build_model(layer.kind, layer.sizes, layer.options)
    if n_size is not None:
        model.sizes = {**model.sizes, "N": n_size}
    readings = _READINGS.get(layer.kind, ()) if _slices_a_matrix(parsed, model) else ()
    if not readings:
        session = _LayerSession(model, parsed, rng_seed, seconds)
        links = session.links()
        return Verdict(text, _status([l.status for l in links]), links, layer.describe(), _INPUTS, session.notes,
                       parsed.syntax)
    built, failed = [], []
    for axis, words in readings:
        model.single_axis = axis
        try:
            session = _LayerSession(model, parsed, rng_seed, seconds)
            built.append((words, session.links(), session.notes))
        except ClaimSyntaxError as exc:
            failed.append(f"{words}: {str(exc)[:120]}")
    if not built:
        raise ClaimSyntaxError("the claim fits no reading of one subscript: " + "; ".join(failed))
    fit = [b for b in built if not any(_shape_refuted(l) for l in b[1])] or built[:1]
    dropped = failed + [f"{w}: the sides' shapes differ" for w, links, _ in built if (w, links, _) not in fit]
    words, links, notes = fit[0]
    said = f" ({'; '.join(dropped)})" if dropped else ""
    if len(fit) == 1:
        notes = [f"one subscript on an N×D matrix read as {words}, the only reading that fits{said}",
                 *notes[1:]]
    else:
        other_words, other_links, _ = fit[1]
        merged = []
        for a, b in zip(links, other_links):
            if a.status == b.status:
                merged.append(a)
            else:
                merged.append(replace(a, status=UNDECIDED, counterexample=None, reason=(
                    f"the claim depends on how one subscript is read: {a.status} with {words}, {b.status} with "
                    f"{other_words}; write two subscripts (x_{{ij}}: example i, feature j) to pick one")))
        same = all(a.status == b.status for a, b in zip(links, other_links))
        notes = [f"one subscript on an N×D matrix has two readings, {words} and {other_words}: "
                 + ("the verdict is the same under both" if same else "the verdicts differ"), *notes[1:]]
        links = merged
    return Verdict(text, _status([l.status for l in links]), links, layer.describe(), _INPUTS, notes, parsed.syntax)


#: layers whose one-subscript slice of a matrix has several readings: (axis, what it means); the first is
#: the layer's own (LayerNorm normalizes each example's features: x_i is feature i), the other the batch's
_READINGS = {"layernorm": ((1, "x_i = feature i's column (the normalized axis)"), (0, "x_i = example i's row"))}


def _slices_a_matrix(claim: Claim, model) -> bool:
    """Does the claim put one subscript on a matrix of the layer (``x_i``, ``\\frac{\\partial L}{\\partial y_i}``)?"""
    from .tree import Q, children

    stack = list(claim.sides)
    while stack:
        node = stack.pop()
        q = node.wrt if isinstance(node, Q) and node.kind == "grad" and node.wrt is not None else node
        if isinstance(q, Q) and q.kind == "layer" and len(q.indices) == 1 and q.name not in model.sizes:
            rows, cols = model.value(q.name).shape
            if rows > 1 and cols > 1:
                return True
        stack.extend(children(node))
    return False


def _shape_refuted(link) -> bool:
    return link.status == REFUTED and link.counterexample is None and link.reason.startswith("the two sides have different")


class _LayerSession:
    """The links of one claim about a layer, decided entry by entry at every index assignment."""

    def __init__(self, model, claim: Claim, seed: int, seconds: float):
        from ..decide import WorkBudget
        from .layer_build import LayerBuilder
        from .session import safety_net_seconds

        self.model, self.claim, self.seconds = model, claim, seconds
        self.builder = LayerBuilder(model, claim.syntax)
        self.rng = random.Random(seed)
        self.work = WorkBudget.of_seconds(seconds, per_proof_seconds=seconds, safety_seconds=safety_net_seconds(seconds))
        self.notes: list = [_AXIS_NOTES["softmax rows" if model.kind == "softmax" and "N" in model.sizes else model.kind]]
        self.symbols = model.symbols()

    def links(self) -> list:
        from .layer_build import free_ranges

        sides = self.claim.sides
        ranges: dict = {}
        for s in sides:
            for var, n in free_ranges(s, self.model).items():
                if ranges.get(var, n) != n:
                    raise ClaimSyntaxError(f"the index {var} ranges over 1..{ranges[var]} on one side and 1..{n} on another")
                ranges[var] = n
        for a, _, b in self.claim.conditions:
            for v in (a, b):
                if isinstance(v, str) and v not in ranges:
                    raise ClaimSyntaxError(f"the condition on index {v} names an index that does not occur in the claim")
        assignments = self.assignments(ranges)
        if ranges:
            self.notes.append(f"free indices {', '.join(f'{v} = 1..{n}' for v, n in sorted(ranges.items()))} "
                              f"(1-based): every one of the {len(assignments)} assignments is checked")
        return [self.link(k, a, b, assignments) for k, (a, b) in enumerate(zip(sides, sides[1:]), 1)]

    def assignments(self, ranges: dict) -> list:
        names = sorted(ranges)
        total = 1
        for n in names:
            total *= ranges[n]
        if total > _MAX_ASSIGNMENTS:
            raise SizeLimitError(f"the claim has {total} index assignments (limit {_MAX_ASSIGNMENTS}); fix some indices")

        def ok(env):
            for a, op, b in self.claim.conditions:
                va, vb = env.get(a, a), env.get(b, b)
                if (va == vb) != (op == "="):
                    return False
            return True
        every = [dict(zip(names, vals)) for vals in itertools.product(*[range(1, ranges[n] + 1) for n in names])]
        every = [e for e in every if ok(e)]
        if not every:
            raise ClaimSyntaxError("no index assignment satisfies the conditions: the claim says nothing")
        return every

    def link(self, number: int, a, b, assignments: list) -> LinkVerdict:
        from .session import _failure, _reference, _relation

        relation = _relation(a, b, ())
        texts = self.claim.side_texts
        left_text, right_text = (texts[number - 1].strip(), texts[number].strip()) if len(texts) > number \
            else (to_text(a), to_text(b))
        lv = LinkVerdict(number, left_text, right_text, relation, UNDECIDED, "", None, "", 0, len(assignments),
                         to_latex(a), to_latex(b))
        reference = "left" if _reference(a) and not _reference(b) else "right" if _reference(b) and not _reference(a) else None
        pending, worst, points = [], 0.0, 0
        for env in assignments:
            left, right = self.builder.build(a, env), self.builder.build(b, env)
            self.notes += [n for n in self.builder.notes if n not in self.notes]
            lv.assignments_checked += 1
            mismatch = _mismatch(left, right)
            if mismatch:
                lv.status, lv.reason = REFUTED, mismatch
                return lv
            if left.shape != right.shape and _vectors(left, right) and _VECTOR_NOTE not in self.notes:
                self.notes.append(_VECTOR_NOTE)
            left, right = _together(left, right)
            for m in (left, right):
                if any(v.has(sp.zoo, sp.nan, sp.oo, -sp.oo) for v in m):
                    raise ClaimSyntaxError(f"a side is undefined (a division by zero) at {env or 'its only entry'}")
            entries = [(k, left[k], right[k], left[k] - right[k]) for k in range(len(left))]
            entries = [e for e in entries if e[3] != 0]
            if not entries:
                continue
            found = self.refute(env, entries, left.shape)
            if isinstance(found, Counterexample):
                found.reference = reference
                lv.status, lv.counterexample = REFUTED, found
                lv.reason = f"{_failure(relation)}; certified counterexample found"
                return lv
            worst, points = max(worst, found[0]), points + found[1]
            pending += [[e[3]] for e in entries]
        if not pending:
            lv.status = PROVED
            lv.reason = "both sides are structurally identical for every index assignment and entry (a symbolic identity)"
            return lv
        lv.evidence = f"the sides agree at {points} random rational points (largest |difference| enclosure {worst:.1e})"
        from ..bounded import BoundExceeded, TimeBoundExceeded, WorkExceeded
        from ..decide import Context, bounded_zero_proofs

        try:
            proved = bounded_zero_proofs(pending, ctx=Context(), work=self.work)
        except WorkExceeded:
            lv.reason = (f"no symbolic proof within the work budget ({self.work.total} steps = {self.seconds:g} reference "
                         "seconds); raise it with seconds= (command line: --seconds)")
            return lv
        except TimeBoundExceeded as exc:
            lv.reason = f"no symbolic proof: {exc}; raise the bound with seconds= (command line: --seconds)"
            return lv
        except BoundExceeded as exc:
            lv.reason = f"no symbolic proof within the bounds ({exc}); raise them with seconds= (command line: --seconds)"
            return lv
        if all(proved):
            lv.status = PROVED
            lv.reason = "the difference simplifies to 0 for every index assignment and entry (a symbolic identity)"
        else:
            lv.reason = ("no normal form of symderiv.decide reduces the difference to 0 (the ladder ran to its end, so a "
                         "larger seconds= will not help), and no counterexample was found")
        return lv

    def point(self, simple: bool) -> dict:
        """An exact point: small integers first (ε = 1), then random rationals (ε > 0)."""
        values = {}
        for s in self.symbols:
            if s in self.model.positive:
                values[s] = sp.Integer(1) if simple else sp.Rational(self.rng.randint(1, 8), self.rng.randint(1, 8))
            else:
                values[s] = sp.Integer(self.rng.randint(-2, 2)) if simple else \
                    sp.Rational(self.rng.randint(-24, 24), self.rng.randint(1, 8))
        return values

    def refute(self, env: dict, entries: list, shape: tuple):
        from ..certify import Uncertifiable, describe_interval, enclose, excludes_zero, interval, magnitude

        worst, good = 0.0, 0
        for attempt in range(_ATTEMPTS + 1):
            values = self.point(simple=attempt == 0)
            exprs = [e[3] for e in entries] + [e[1] for e in entries] + [e[2] for e in entries]
            try:
                balls = enclose(exprs, values)
            except (Uncertifiable, ZeroDivisionError, ValueError):
                continue
            n = len(entries)
            for k, (flat, _, _, _) in enumerate(entries):
                if excludes_zero(balls[k]):
                    at = dict(env)
                    if shape != (1, 1):
                        at["entry"] = f"({flat // shape[1] + 1}, {flat % shape[1] + 1})"
                    data = {str(s): str(values[s]) for s in self.model.data}
                    params = {str(s): str(values[s]) for s in self.symbols if s not in self.model.data}
                    return Counterexample(at, data, params, describe_interval(balls[n + k]),
                                          describe_interval(balls[2 * n + k]), interval(balls[k]))
            if attempt == 0:
                continue  # a special point is no evidence that the sides agree
            bound = max(magnitude(b) for b in balls[:n])
            if bound == float("inf"):
                continue
            good += 1
            worst = max(worst, bound)
            if good >= 2:
                break
        return (worst, good)


def _mismatch(left, right) -> str:
    if left.shape == right.shape or (1, 1) in (left.shape, right.shape) or _vectors(left, right):
        return ""
    return (f"the two sides have different shapes: the left side is {left.rows}×{left.cols}, the right side "
            f"{right.rows}×{right.cols} (a sum over the wrong axis, or a missing transpose?)")


def _vectors(left, right) -> bool:
    """A row and a column of the same length (``d\\beta = dY^\\top \\mathbf{1}`` against the row ``\\beta``): a
    vector's orientation is notation, so they are compared entry by entry."""
    return 1 in left.shape and 1 in right.shape and len(left) == len(right)


def _together(left, right):
    """A number against a matrix: the number in every entry (``\\frac{\\partial L}{\\partial \\beta} = 0``); a row
    against a column of the same length: both as the row."""
    from .layer_build import _expand

    if left.shape != right.shape and _vectors(left, right):
        return left.reshape(1, len(left)), right.reshape(1, len(right))

    rows, cols = max(left.rows, right.rows), max(left.cols, right.cols)
    return _expand(left, rows, cols), _expand(right, rows, cols)


_VECTOR_NOTE = "a row and a column of the same length are compared entry by entry (a vector's orientation is notation)"
_AXIS_NOTES = {
    "batchnorm": "one subscript on an N×D matrix picks example i's row (x_i, \\hat{x}_i, dy_i: BatchNorm's normalized "
                 "axis); the upstream gradient ∂L/∂y is free, every entry its own symbol",
    "layernorm": "two subscripts pick an entry (example i, feature j); the upstream gradient ∂L/∂y is free, every "
                 "entry its own symbol",
    "softmax": "z, p and the upstream gradient dp are columns of K entries; dp is free, every entry its own symbol",
    "softmax rows": "z, p and the upstream gradient dp are N×K (example i in row i, softmax along each row); one "
                    "subscript picks example i's row, two an entry; dp is free, every entry its own symbol",
    "attention": "one subscript on a matrix picks token i's row; the upstream gradient dO is free, every entry its own symbol",
}
