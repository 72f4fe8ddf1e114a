"""The LaTeX claim syntax: a tokenizer that knows the notation, then a small exact grammar.

General LaTeX parsers silently mis-read the notation of derivations: SymPy's grammar
drops the subscripts of ``W^{(1)}_{ij}`` (giving ``W**1``), reads ``x_j(p_i - y_i)`` as a
function call, ``e^{x}`` as a symbol ``e`` to a power, ``\\max`` as an unknown function,
``\\mathrm{ReLU}`` as a product of letters, ``\\partial`` as a symbol, and drops trailing
text (``x | 2`` parses as ``x``).  So the text goes through three stages:

1. **pre-checks** on the raw text: length, allowed characters, bracket depth,
   number sizes, superscript depth;
2. **a tokenizer that recognizes every name** (quantities, gradients, functions,
   sums) against the known notation (an unknown name or macro is an error that
   lists the known ones) and replaces each by an opaque placeholder
   (``{Q_{7}}``, ``F_{3}``) in a rewritten string made only of placeholders,
   numbers and arithmetic; it rejects dangling operators;
3. :func:`.latex_grammar.parse_placeholders` (our own grammar for that arithmetic, with
   the readings of SymPy's ANTLR LaTeX grammar, which symderiv no longer needs) reads the
   whole string into an *unevaluated* SymPy tree, and an allow-list walk turns it back
   into the claim tree (``e^{…}`` → exp, placeholders → quantities; any other SymPy node
   is rejected), checking that no placeholder was lost; then the structural limits of
   :func:`.tree.validate`.  All three stages run inside the bounded child of
   :func:`symderiv.claims.parse_claim`: only the plain claim tree comes back, never a
   SymPy object (unpickling one would evaluate it).

Nothing here calls ``sympify``, ``parse_expr`` or ``eval``, and no third-party parser
is involved (so no ``antlr4-python3-runtime`` pin: symderiv installs beside Hydra).
"""
from __future__ import annotations

import re
from fractions import Fraction

from ..errors import ClaimNameError, ClaimSyntaxError, SizeLimitError, UnsupportedError
from .conditions import CONDITION_HELP, START_WORDS, batch_convention, latex_tokens, read_conditions
from .latex_grammar import parse_placeholders
from . import layer_names
from .names import unknown_name
from .tree import (
    MAX_CHARS, MAX_DIGITS, MAX_EXPONENT, MAX_SIDES, MAX_TREE_DEPTH, TRUE_CLASS, Add, Call, Claim, Const, Deriv, Mul, Node,
    Num, Op, Pow, Q, Sum,
    check_depth, check_size, describe_char, fold,
)

__all__ = ["parse_latex_claim", "KNOWN_MACROS"]

_UNICODE = {
    "δ": r"\delta ", "σ": r"\sigma ", "∂": r"\partial ", "ℓ": r"\ell ", "Σ": r"\sum ", "∑": r"\sum ",
    "·": r"\cdot ", "×": r"\times ", "−": "-", "≠": r"\neq ", "′": "'", "’": "'", "φ": r"\phi ",
    "⊙": r"\odot ", "∘": r"\circ ", "∇": r"\nabla ", "⊤": r"\top ", "ᵀ": r"^{T}",
}
#: Unicode superscripts (``W⁽²⁾ᵀ``, ``δ⁽ˡ⁾``, ``x⁽ⁱ⁾``): a run of them is one LaTeX superscript ``^{(2)T}``
_SUPERSCRIPTS = dict(zip("⁽⁾⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ˡᴸᵏⁱⁿᵀ", "()0123456789+-lLkinT"))
_SUPERSCRIPT_RUN = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+")
_BARE_FONT_T = re.compile(r"(\\mathsf|\\mathrm|\\textsf|\\rm)\s+T(?![A-Za-z])")
_ALLOWED = re.compile(r"[A-Za-z0-9\s\\{}()\[\]^_'+\-*/=,.|<>!;:~]*")
_TOKEN = re.compile(r"(\\[A-Za-z]+)|(\\[^A-Za-z])|([A-Za-z])|(\d+(?:\.\d+)?)|(\s+)|(.)", re.S)

_SPACING = {r"\,", r"\;", r"\!", r"\ ", r"\:", r"\>", "~"}
_PASS = {r"\exp": r"\exp", r"\log": r"\log", r"\ln": r"\ln", r"\tanh": r"\tanh", r"\cdot": r"\cdot ",
         r"\times": r"\cdot ", r"\sqrt": r"\sqrt"}
_QUANT_LETTERS = {"x": "x", "y": "y", "p": "p", "z": "z", "h": "h", "a": "h", "W": "W", "w": "W", "b": "b",
                  "X": "X", "Y": "Y", "P": "P", "Z": "Z", "A": "H", "H": "H"}
_ARITY = {"x": 1, "y": 1, "p": 1, "z": 1, "h": 1, "delta": 1, "W": 2, "b": 1, "X": 2, "Y": 2, "P": 2, "Z": 2, "H": 2}
_LAYERED = {"z", "h", "delta", "W", "b", "Z", "H"}
_PER_EXAMPLE = {"x", "y", "p"}
#: CS229's hypothesis h_\theta(x), h_w(x): the subscripts that name the parameters
_HYPOTHESIS = {"w", r"\theta", "W", r"\mathbf{w}", r"\boldsymbol{\theta}", r"\boldsymbol{w}", "{W,b}", "W,b", "{w,b}", "w,b"}
#: the elementwise product: \odot, \circ, and UFLDL's \bullet
_HADAMARD = (r"\odot", r"\circ", r"\bullet")
#: letters read as loss names (C in Nielsen's book, J in Ng's notes, E for "error")
_LOSS_LETTERS = {"L", "C", "J", "E"}
#: letters read as free real variables (activation identities such as \tanh'(u) = 1 - \tanh^2(u))
_FREE_VARIABLES = set("uvsr")
#: superscripts that mean "transpose"
_TRANSPOSE = {"T", r"\top", r"\intercal", r"\mathsf{T}", r"\mathrm{T}", r"\rm{T}", r"\textsf{T}"}
#: a symbolic layer as written: l, l+1, l-1, L, L-1 (in parentheses, brackets or bare)
_SYMBOLIC_LAYER = re.compile(r"(?:\\left)?[(\[]?([lkL])\s*(?:([+-])\s*(\d))?(?:\\right)?[)\]]?")
_NAMED_FUNCS = {"relu": "relu", "ReLU": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp", "sech": "sech",
                "step": "heaviside", "Heaviside": "heaviside", "H": "heaviside",
                "log": "log", "ln": "log"}

KNOWN_MACROS = (
    r"\frac \partial \sum \delta \sigma \phi \varphi \tanh \exp \log \ln \max \sqrt \cdot \times "
    r"\left \right \ell \mathcal{L} \mathrm{ReLU} \operatorname{ReLU} \text \prime \neq \quad \forall "
    r"\nabla \odot \circ \bullet \top \intercal \hat \mathbf \boldsymbol \mathbb{1} \mathbbm{1} \mathds{1} "
    r"and spacing \, \; \! \quad"
)


#: the one-line refusal of BatchNorm / LayerNorm quantities (the networks checked have no normalization)
_NORMALIZATION = ("{} belongs to a normalization layer, and an MLP has none: check it against the layer, "
                  "layer=symderiv.claims.layers.batchnorm(batch=3, features=2) or layernorm(...) (command line "
                  "--layer batchnorm:3x2 or --layer layernorm:3x2)")


class _Tok:
    __slots__ = ("kind", "text", "pos")

    def __init__(self, kind: str, text: str, pos: int):
        self.kind, self.text, self.pos = kind, text, pos

    def __repr__(self) -> str:
        return f"{self.text}@{self.pos}"


def _tokenize(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        cmd, esc, letter, num, space, char = m.groups()
        if space:
            continue
        kind = "cmd" if cmd else "cmd" if esc else "letter" if letter else "num" if num else "char"
        tok = _Tok(kind, m.group(0), m.start())
        if tok.text in _SPACING or tok.text in (r"\limits", r"\displaystyle"):
            continue
        out.append(tok)
    return out


# ---------------------------------------------------------------- stage 1: pre-checks
def _precheck(text: str) -> str:
    if not isinstance(text, str):
        raise ClaimSyntaxError(f"a claim must be a string, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise SizeLimitError(f"the claim is {len(text)} characters long (limit {MAX_CHARS})")
    text = _BARE_FONT_T.sub(lambda m: m.group(1) + "{T}", text)  # ^{\mathsf T} as ^{\mathsf{T}}
    text = _SUPERSCRIPT_RUN.sub(lambda m: "^{" + "".join(_SUPERSCRIPTS[c] for c in m.group(0)) + "}", text)
    for u, a in _UNICODE.items():
        text = text.replace(u, a)
    text = text.strip()
    for open_, close in (("$$", "$$"), ("$", "$"), (r"\[", r"\]"), (r"\(", r"\)")):
        if text.startswith(open_) and text.endswith(close) and len(text) >= len(open_) + len(close):
            text = text[len(open_): len(text) - len(close)].strip()
            break
    if not _ALLOWED.fullmatch(text):
        bad = next(c for c in text if not _ALLOWED.fullmatch(c))
        raise ClaimSyntaxError(
            f"character {describe_char(bad)} at position {text.index(bad)} is not allowed in a LaTeX claim "
            "(ASCII letters, digits, \\macros, braces, + - * / ^ _ ( ) [ ] | = ' , and δ σ ∂ ℓ Σ · × − ≠)"
        )
    if not text:
        raise ClaimSyntaxError("the claim is empty")
    check_depth(text.replace(r"\{", "").replace(r"\}", ""))
    return text


# ---------------------------------------------------------------- stage 2: recognizing names
class _Rewriter:
    """Turns one side's tokens into a placeholder string for ``parse_latex`` and records the placeholders."""

    def __init__(self, records: dict, counter: list):
        self.records = records
        self.counter = counter
        self.sup_depth = 0
        self.text = ""  # the claim's text, for messages (set by the caller)
        self.toks: list[_Tok] = []
        self.i = 0

    def _new(self, prefix: str, value) -> str:
        self.counter[0] += 1
        name = f"{prefix}_{{{self.counter[0]}}}"
        self.records[name] = value
        return name

    # -- helpers on a token list with a cursor
    def run(self, toks: list[_Tok]) -> str:
        self.toks, self.i = toks, 0
        out: list[str] = []
        while self.i < len(self.toks):
            out.append(self.step())
        return " ".join(out)

    def sub(self, toks: list[_Tok]) -> str:
        saved = (self.toks, self.i)
        try:
            return _Rewriter.run(self, toks)
        finally:
            self.toks, self.i = saved

    def peek(self, k: int = 0) -> _Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def peek_text(self, k: int = 0) -> str | None:
        """The text of the token ``k`` ahead, None at the end."""
        tok = self.peek(k)
        return None if tok is None else tok.text

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            last = self.toks[-1] if self.toks else None
            raise ClaimSyntaxError(f"the claim ends too early (after {last.text!r} at position {last.pos})" if last else "empty group")
        self.i += 1
        return tok

    def group(self) -> list[_Tok]:
        """The tokens of a ``{…}`` group, or one token."""
        tok = self.take()
        if tok.text != "{":
            if tok.text in ("}", ")", "^", "_"):
                raise ClaimSyntaxError(f"expected an argument at position {tok.pos}, found {tok.text!r}")
            return [tok]
        depth, start = 1, self.i
        while True:
            t = self.take()
            if t.text == "{":
                depth += 1
            elif t.text == "}":
                depth -= 1
                if depth == 0:
                    return self.toks[start: self.i - 1]

    # -- one step
    def step(self) -> str:
        tok = self.take()
        if tok.kind == "letter":
            return self.letter(tok)
        if tok.kind == "num":
            return self.number(tok)
        if tok.kind == "cmd":
            return self.command(tok)
        return self.char(tok)

    def number(self, tok: _Tok) -> str:
        nxt = self.peek()
        if tok.text == "1" and nxt is not None and (nxt.text == r"\{" or (nxt.text == r"\left" and self.peek_text(1) == r"\{")):
            return self.indicator(tok)  # 1\{k = t\}
        digits = tok.text.replace(".", "").lstrip("0")
        if len(digits) > MAX_DIGITS:
            raise SizeLimitError(f"the number at position {tok.pos} has more than {MAX_DIGITS} digits")
        if self.sup_depth and Fraction(tok.text) > MAX_EXPONENT:
            raise SizeLimitError(f"the exponent {tok.text} at position {tok.pos} is larger than {MAX_EXPONENT}")
        if "." in tok.text:
            whole, frac = tok.text.split(".")
            return f"\\frac{{{int(whole + frac)}}}{{{10 ** len(frac)}}}"
        return tok.text

    def paren(self) -> str:
        """A bracketed group (its opener just taken).  A group with an elementwise product inside is
        wrapped in an identity placeholder, because SymPy's parser flattens ``(a ⊙ b) c`` and
        ``a ⊙ b c`` into the same product; the wrapper keeps the brackets' grouping."""
        depth, j = 0, self.i
        while j < len(self.toks):
            t = self.toks[j].text
            if t in ("(", "["):
                depth += 1
            elif t in (")", "]"):
                if depth == 0:
                    break
                depth -= 1
            j += 1
        inner = self.toks[self.i: j]
        if inner and inner[-1].text == r"\right":
            inner = inner[:-1]
        if j < len(self.toks) and (step := self._iverson(inner)) is not None:  # (Z^{[1]} > 0): a ReLU mask
            self.i = j + 1
            return "(" + step + ")"
        if j >= len(self.toks) or not any(t.text in ("*", r"\otimes", *_HADAMARD) for t in inner):
            return "("  # the tokens are read one by one, as before
        if inner and inner[-1].text == r"\right":
            inner = inner[:-1]
        self.i = j + 1
        return "(" + self._new("F", ("group",)) + "(" + self.sub(inner) + "))"

    def _iverson(self, inner: list) -> str | None:
        """A bracket holding one comparison with 0 from above (Iverson's ``(z > 0)``, ``[Z^{[1]} \geq 0]``,
        as NumPy code writes masks): the step of :meth:`indicator`; None for any other bracket."""
        depth, rel = 0, []
        for k, t in enumerate(inner):
            if t.text in ("(", "[", "{"):
                depth += 1
            elif t.text in (")", "]", "}"):
                depth -= 1
            elif depth == 0 and t.text in ("=", ">", "<", r"\geq", r"\ge", r"\gt", r"\neq", r"\ne", r"\leq", r"\le", r"\lt"):
                rel.append(k)
        if len(rel) != 1 or inner[rel[0]].text not in (">", r"\geq", r"\ge", r"\gt") or \
                [t.text for t in inner[rel[0] + 1:]] != ["0"] or rel[0] == 0:
            return None
        func = "step_gt" if inner[rel[0]].text in (">", r"\gt") else "step_ge"
        name = self._new("F", Call(func, (), 0, None, "1(… " + ("> 0)" if func == "step_gt" else ">= 0)")))
        return f"{name}({self.sub(inner[:rel[0]])})"

    def hadamard(self) -> str:
        """An elementwise-product marker between two factors (split out by the walk)."""
        return r" \cdot {" + self._new("M", "HAD") + r"} \cdot "

    def char(self, tok: _Tok) -> str:
        t = tok.text
        if t == "*":
            return self.hadamard()
        if t == "'" and self.toks and self.i >= 2 and self.toks[self.i - 2].text in (")", "}", r"\right"):
            return "^{" + self._new("M", "T'") + "}"  # (…)' is a transpose (of a vector or matrix only)
        if t in "+-/|,":
            return t
        if t in "([":
            return self.paren()
        if t in ")]":
            return ")"
        if t == "{":
            self.i -= 1
            return "{" + self.sub(self.group()) + "}"
        if t == "^":
            if "".join(g.text for g in self.peek_group(0)) in _TRANSPOSE:
                self.group()
                return self.transposed()
            return "^{" + self.superscript() + "}"
        if t == "_":
            raise ClaimSyntaxError(f"subscript _ at position {tok.pos} does not follow a known name")
        if t == "'":
            raise ClaimSyntaxError(f"prime ' at position {tok.pos} must follow a function name, as in \\sigma'(z)")
        if t in "<>=":
            raise ClaimSyntaxError(f"relation {t!r} at position {tok.pos} inside an expression; only top-level = is supported")
        raise ClaimSyntaxError(f"{t!r} at position {tok.pos} is not supported in a claim")

    def superscript(self) -> str:
        self.sup_depth += 1
        if self.sup_depth > 3:
            raise SizeLimitError("superscripts nested more than 3 deep")
        try:
            return self.sub(self.group())
        finally:
            self.sup_depth -= 1

    # -- names
    def letter(self, tok: _Tok) -> str:
        c = tok.text
        if layer_names.ACTIVE is not None and (out := layer_names.ACTIVE.latex_token(self, tok)) is not None:
            return out  # a layer's own names (:mod:`.layer_names`, layer checks only)
        if c == "H" and self.peek_text() in ("(", r"\left"):
            return self.function("heaviside", tok)
        if c == "h" and self.peek_text() == "_" and "".join(t.text for t in self.peek_group(1)) in _HYPOTHESIS:
            return self.hypothesis(tok)
        if c in _QUANT_LETTERS:
            return self.quantity(_QUANT_LETTERS[c], tok)
        if c in _LOSS_LETTERS:
            return "{" + self._new("Q", self.loss(tok)) + "}"
        if c == "N":
            return "{" + self._new("Q", Q("batch", src="N")) + "}"
        if c in _FREE_VARIABLES and self.peek_text() != "_":
            return "{" + self._new("Q", Q("var", src=c, name=c)) + "}"
        if c == "K":
            return "{" + self._new("Q", Q("width", src="K")) + "}"
        if c == "n":
            layer = self.layer_script(tok, required=True)
            return "{" + self._new("Q", Q("width", layer, src=f"n_{layer}")) + "}"
        if c == "e":
            if self.peek_text() == "^":
                self.take()
                # in parentheses: e^{z} x is exp(z)·x (in braces the grammar reads exp(z·x))
                return r"\exp(" + self.superscript() + ")"
            return r"\exp(1)"
        if c == "f" and self.peek_text() == "_" and not self._applied():
            return self.quantity("z", tok)  # CS231n's scores f_j, f_{y_i}: a function is applied, f_j is not
        if c in ("f", "g"):  # the network's activation (g in Ng's notes)
            layer = self.layer_script(tok, required=False)
            if layer is None and self.peek_text() == "'":  # g'^{[l]}(z): the primes before the layer
                primes = 0
                while self.peek_text() == "'":
                    self.take()
                    primes += 1
                layer = self.layer_script(tok, required=False)
                self._primes = getattr(self, "_primes", 0) + primes
            return self.function("f", tok, layer)
        nxt = self.peek()
        if c == "d" and nxt is not None and nxt.kind == "letter" and nxt.pos == tok.pos + 1 and nxt.text in "WwbzhaxZAH":
            self.take()  # dW^{[2]}, dz^{[1]}: Ng's names for the gradients of the loss
            q = self.read_quantity(_QUANT_LETTERS.get(nxt.text, nxt.text), nxt)
            # Ng's dz^{[1](i)} is the derivative of example i's own loss
            out = "{" + self._new("Q", Q("grad", None, (), q, "d" + nxt.text, q.example)) + "}"
            return out + self.transposed() if self._transposed else out
        if c == "m":  # Ng's notes: m examples, \frac{1}{m} \sum_{i=1}^{m}
            return "{" + self._new("Q", Q("batch", src="m")) + "}"
        if c in "ijklmqrstuvw":
            raise ClaimNameError(f"the index {c} at position {tok.pos} can only be used in a subscript (e.g. x_{c})")
        if c == "d":
            what = f"d{nxt.text}" if nxt is not None and nxt.pos == tok.pos + 1 else "d"
            raise ClaimNameError(
                f"unknown name {what!r} at position {tok.pos}: gradient names are dW, db, dz, dh, da, dx, dZ, dA, dH "
                "with a layer (dW^{[2]}, dZ^{[1]}), or write \\frac{\\partial L}{\\partial …}"
            )
        raise unknown_name(c, f"at position {tok.pos}")

    def loss(self, tok: _Tok) -> Q:
        """The loss ``L``/``C``/``J``/``E``/``\\ell``, optionally of one example: ``L_i``, ``\\ell^{(n)}``."""
        nxt = self.peek()
        if nxt is not None and nxt.text in ("_", "^"):
            grp = self.peek_group(1)
            text = "".join(t.text for t in grp).strip("()[]")
            if re.fullmatch(r"[a-z]", text) and text not in ("e", "t", "y"):
                self.take()
                self.group()
                return Q("loss", src=f"{tok.text}_{text}", example=text)
        return Q("loss", src=tok.text)

    def hypothesis(self, tok: _Tok) -> str:
        """CS229's hypothesis ``h_\theta(x^{(i)})``, ``h_w(x)``: the network's prediction for that input (never
        ``h`` entry ``w`` times a bracket).  Its argument must be the input ``x`` or an example's ``x^{(i)}``."""
        self.take()
        params = "".join(t.text for t in self.group())
        nxt = self.peek_text()
        if nxt not in ("(", r"\left"):
            raise ClaimSyntaxError(f"h_{params} at position {tok.pos} is CS229's hypothesis: apply it to the input, "
                                   f"as in h_{params}(x^{{(i)}})")
        inner = self.bracketed(tok)
        text = "".join(t.text for t in inner).replace(r"\mathbf", "").replace("{x}", "x")
        m = re.fullmatch(r"x(?:\^\{?\(([a-z])\)\}?)?", text)
        if not m or (m.group(1) or "") in ("e", "t", "y"):
            raise ClaimSyntaxError(f"h_{params}(…) at position {tok.pos} is CS229's hypothesis, the network's prediction; "
                                   f"its argument must be the input x or x^{{(i)}}, got {text[:40]!r}")
        return "{" + self._new("Q", Q("p", None, (), None, f"h_{params}({text})", m.group(1))) + "}"

    def layer_script(self, tok: _Tok, required: bool) -> int | str | None:
        nxt = self.peek()
        if nxt is not None and nxt.text in ("_", "^"):
            mark = self.i
            self.take()
            grp = self.group()
            text = "".join(t.text for t in grp)
            primed = re.fullmatch(r"[(\[]?(\d+|[lkL](?:[+-]\d)?)[)\]]?('+)", text)  # Ng's g^{[1]'}, g^{[l]'}
            if primed:
                self._primes = len(primed.group(2))
                return int(primed.group(1)) if primed.group(1).isdigit() else primed.group(1)
            text = text.strip("()[]")
            if text.isdigit():
                return int(text)
            if re.fullmatch(r"[lkL](?:[+-]\d)?", text):  # g^{[l]}: a symbolic layer
                return text
            self.i = mark
        if required:
            raise ClaimSyntaxError(f"{tok.text} at position {tok.pos} needs a layer number, as in {tok.text}_1")
        return None

    def quantity(self, kind: str, tok: _Tok, src_prefix: str | None = None) -> str:
        q = self.read_quantity(kind, tok)
        out = "{" + self._new("Q", q) + "}"
        return out + self.transposed() if self._transposed else out

    def transposed(self) -> str:
        """A transposition marker, applied by the walk as ``Op('T', base)``."""
        return "^{" + self._new("M", "T") + "}"

    def read_quantity(self, kind: str, tok: _Tok) -> Q:
        r"""A quantity's layer, example, indices and transposition, as written after its letter.

        ``W^{(1)}_{ij}``, ``w^l_{jk}`` (Nielsen), ``W^{[l+1]}``, ``x^{(n)}`` (example n of a
        batch), ``\delta_{ij}`` (the Kronecker delta: two indices and no layer), a whole
        vector/matrix without indices, and ``W^{(2)T}`` / ``W^\top`` (transposed: the result
        is then ``Op('T', …)``, returned through :meth:`quantity`)."""
        start = tok.pos
        layer: int | str | None = None  # a number, or a symbolic layer such as "l+1"
        indices = None
        example = None
        self._transposed = False
        while (op := self.peek_text()) is not None and op in ("_", "^"):
            if op == "_" and indices is None:
                self.take()
                indices = self.indices(self.group(), _ARITY[kind], tok)
                continue
            if op == "^" and not self._transposed:
                grp = self.peek_group(1)
                text = "".join(t.text for t in grp)
                if text in _TRANSPOSE:
                    self.take()
                    self.group()
                    self._transposed = True
                    continue
                tail_t = next((t for t in sorted(_TRANSPOSE, key=len, reverse=True) if text.endswith(t) and len(text) > len(t)), None)
                body = text[: len(text) - len(tail_t)] if tail_t else text
                if layer is None and kind in _LAYERED:
                    m = re.fullmatch(r"[(\[](\d+)[)\]]", body) or re.fullmatch(r"\\left[(\[](\d+)\\right[)\]]", body)
                    if m:
                        self.take()
                        self.group()
                        layer, self._transposed = int(m.group(1)), bool(tail_t)
                        continue
                    m = _SYMBOLIC_LAYER.fullmatch(body)
                    if m:
                        self.take()
                        self.group()
                        layer = m.group(1) + (f"{m.group(2)}{m.group(3)}" if m.group(2) else "")
                        self._transposed = bool(tail_t)
                        continue
                    if indices is None and re.fullmatch(r"\d+", body):
                        raise ClaimSyntaxError(
                            f"{tok.text}^{text} at position {start} is ambiguous: write the layer as {tok.text}^{{({text})}} "
                            f"or a power as ({tok.text}_{{…}})^{{{text}}}"
                        )
                if layer is None and example is None and kind in _LAYERED:  # a^{[2](i)}, dz^{[l](i)}: layer and example
                    m = re.fullmatch(r"[(\[](\d+|[lkL](?:[+-]\d)?)[)\]]\(([a-z])\)", body)
                    if m and m.group(2) not in ("e", "t", "y") and m.group(2) != m.group(1)[0]:
                        self.take()
                        self.group()
                        layer = int(m.group(1)) if m.group(1).isdigit() else m.group(1)
                        example, self._transposed = m.group(2), bool(tail_t)
                        continue
                if example is None and (kind in _PER_EXAMPLE or (kind in _LAYERED and layer is None)):
                    m = re.fullmatch(r"[(\[]([a-z])[)\]]", body)
                    if m and m.group(1) not in ("e", "t", "y"):
                        self.take()
                        self.group()
                        example, self._transposed = m.group(1), bool(tail_t)
                        continue
            break
        end = self.toks[self.i - 1].pos + len(self.toks[self.i - 1].text)
        src = self._source(start, end)
        if kind == "delta" and layer is None and indices is not None and len(indices) == 2:
            return Q("kron", None, tuple(indices), None, src)
        return Q(kind, layer, tuple(indices or ()), None, src, example)

    def _source(self, start: int, end: int) -> str:
        return self.text[start:end]

    def peek_group(self, k: int) -> list[_Tok]:
        mark = self.i
        try:
            self.i += k
            return self.group()
        except ClaimSyntaxError:
            return []
        finally:
            self.i = mark

    def indices(self, grp: list[_Tok], arity: int, tok: _Tok) -> list:
        if not grp:
            raise ClaimSyntaxError(f"empty subscript after {tok.text} at position {tok.pos}")
        text = "".join(t.text for t in grp)
        if re.fullmatch(r"y_\{?[a-z]\}?", text):  # z_{y_i}: the true class of example i
            return [TRUE_CLASS]
        if any(t.text == "," for t in grp):
            parts: list[list[_Tok]] = []
            cur: list[_Tok] = []
            for t in grp:
                if t.text == ",":
                    parts.append(cur)
                    cur = []
                else:
                    cur.append(t)
            parts.append(cur)
        elif arity == 2 and len(grp) == 1 and grp[0].kind == "num" and len(grp[0].text) == 2:
            raise ClaimSyntaxError(f"subscript {grp[0].text} of {tok.text} at position {tok.pos} is ambiguous: write {tok.text}_{{{grp[0].text[0]},{grp[0].text[1]}}}")
        else:
            parts = [[t] for t in grp]
        out: list[str | int] = []
        for part in parts:
            if len(part) != 1:
                text = "".join(t.text for t in part)
                hint = " (for the true class write t, e.g. W_{tj} or p_y)" if "y" in text else ""
                raise ClaimSyntaxError(f"index {text!r} of {tok.text} at position {tok.pos} must be a single letter or a number{hint}")
            t = part[0]
            if t.kind == "letter" and t.text.islower() and t.text != "e":
                out.append(TRUE_CLASS if t.text == "y" else t.text)
            elif t.kind == "num" and t.text.isdigit() and len(t.text) <= 6 and int(t.text) >= 1:
                out.append(int(t.text))
            else:
                raise ClaimSyntaxError(f"index {t.text!r} of {tok.text} at position {t.pos} must be a lowercase letter or a positive number (1-based)")
        return out

    def softmax(self, tok: _Tok) -> str:
        r"""``\mathrm{softmax}(v)`` (a vector) or ``\mathrm{softmax}(v)_k`` (its entry k)."""
        nxt = self.peek()
        if nxt is None or nxt.text not in ("(", r"\left"):
            raise ClaimSyntaxError(f"apply softmax to a vector in parentheses, as in \\mathrm{{softmax}}(z)_k (position {tok.pos})")
        inner = self.bracketed(tok)
        index = None
        if self.peek_text() == "_":
            self.take()
            index = self.indices(self.group(), 1, tok)[0]
        return self._new("F", ("softmax", index)) + "(" + self.sub(inner) + ")"

    def function(self, func: str, tok: _Tok, layer: int | None = None) -> str:
        order, self._primes = getattr(self, "_primes", 0), 0
        while (t := self.peek()) is not None:
            if t.text == "'":
                self.take()
                order += 1
            elif t.text == "^" and self.peek_group(1) and all(g.text == r"\prime" for g in self.peek_group(1)):
                self.take()
                order += len(self.group())
            else:
                break
        power = None
        if self.peek_text() == "^" and re.fullmatch(r"\d", "".join(g.text for g in self.peek_group(1))):
            self.take()  # \operatorname{sech}^2(z): the square of the function's value, as \tanh^2(z)
            power = "".join(g.text for g in self.group())
        nxt = self.peek()
        if nxt is None or not (nxt.text == "(" or (nxt.text == r"\left" and (t1 := self.peek_text(1)) is not None and t1 in "([")):
            raise ClaimSyntaxError(f"apply {tok.text} to an argument in parentheses, as in {tok.text}(z), at position {tok.pos}")
        src = tok.text + "'" * order
        name = self._new("F", Call(func, (), order, layer, src))
        if power is None:
            return name
        return "(" + name + "(" + self.sub(self.bracketed(tok)) + "))^{" + power + "}"

    def _sigma_prime(self) -> bool:
        """After ``\\sigma``: ``^{\\prime}`` or ``^\\prime`` (a derivative, not a power)."""
        return self.peek_text() == "^" and all(g.text == r"\prime" for g in self.peek_group(1))

    def _applied(self) -> bool:
        """After ``\\sigma``: a script, then an argument in parentheses (``\\sigma^2(u)``: a function's power)."""
        mark = self.i
        try:
            while self.peek_text() in ("^", "_"):
                self.take()
                self.group()
            return self.peek_text() in ("(", r"\left")
        except ClaimSyntaxError:
            return False
        finally:
            self.i = mark

    def _indicator_follows(self) -> bool:
        r"""After ``\mathbb{1}``: a condition follows (``(y = k)``, ``\{k = t\}``, ``_{k=t}``), so it is an indicator."""
        nxt = self.peek_text()
        if nxt in ("(", "[", r"\{", r"\left"):
            return True
        if nxt == "_":
            return any(t.text in ("=", ">", "<", r"\neq", r"\geq", r"\ge", r"\leq", r"\le") for t in self.peek_group(1))
        return False

    def ones(self, tok: _Tok) -> str:
        r"""``\mathbf{1}`` / ``\mathbb{1}``: the vector of ones (its length from the product it is in, or a
        subscript ``\mathbf{1}_N``, ``_K``, ``_m``, ``_{4}``)."""
        length = ""
        if self.peek_text() == "_":
            self.take()
            length = "".join(t.text for t in self.group())
            if not re.fullmatch(r"N|K|m|\d{1,4}|n_\{?\d\}?", length):
                raise ClaimSyntaxError(f"the vector of ones at position {tok.pos}: its length {length!r} must be N, m, K, "
                                       "n_l or a number (or leave it out: it is read from the product)")
        out = "{" + self._new("Q", Q("ones", src=r"\mathbf{1}" + (f"_{{{length}}}" if length else ""), name=length)) + "}"
        return out

    def command(self, tok: _Tok) -> str:
        c = tok.text
        if layer_names.ACTIVE is not None and (out := layer_names.ACTIVE.latex_token(self, tok)) is not None:
            return out
        if c == r"\delta":
            return self.quantity("delta", tok)
        if c == r"\ell":
            return "{" + self._new("Q", self.loss(tok)) + "}"
        if c in _HADAMARD:
            return self.hadamard()
        if c == r"\otimes":  # a ⊗ b = a b^T for vectors
            return r" \cdot {" + self._new("M", "OUTER") + r"} \cdot "
        if c == r"\nabla":
            return self.nabla(tok)
        if c in (r"\hat", r"\widehat"):
            grp = self.group()
            if "".join(t.text for t in grp) in ("y", "Y", r"\mathbf{y}", r"\boldsymbol{y}", r"\mathbf{Y}"):
                kind = "P" if any(t.text == "Y" for t in grp) else "p"
                return self.quantity(kind, _Tok("letter", r"\hat{y}", tok.pos))
            if "".join(t.text for t in grp) in ("x", "X", r"\mathbf{x}"):
                raise UnsupportedError(_NORMALIZATION.format(f"\\hat{{x}} at position {tok.pos} (a normalized input)"))
            raise unknown_name(f"\\hat{{{''.join(t.text for t in grp)}}}", f"at position {tok.pos} (\\hat{{y}} is the prediction p)")
        if c in (r"\mathbf", r"\boldsymbol", r"\bm", r"\vec", r"\mathbfit", r"\pmb") and \
                "".join(t.text for t in self.peek_group(0)) == "1":
            self.group()
            if not self._indicator_follows():
                return self.ones(tok)
            return self.indicator(tok)  # \mathbf{1}(z > 0), \mathbf{1}[…], \mathbf{1}\{…\}, \mathbf{1}_{k=t}: the indicator
        if c in (r"\mathbf", r"\boldsymbol", r"\bm", r"\vec", r"\mathbfit", r"\pmb"):
            grp = self.group()  # bold is only typography: read the letter itself
            self.toks = self.toks[: self.i] + grp + self.toks[self.i:]
            return ""
        if c in (r"\mathbb", r"\mathbbm", r"\mathds", r"\mathbf1", r"\one"):
            word = "".join(t.text for t in self.group())
            if word == "1" and not self._indicator_follows():
                return self.ones(tok)  # \mathbb{1} with no condition: the vector of ones
            if word in ("1", "I"):
                return self.indicator(tok)
            raise unknown_name(f"{c}{{{word}}}", f"at position {tok.pos} (the indicator is \\mathbb{{1}}(…))")
        if c == r"\sigma" and self.peek_text() in ("^", "_") and not self._sigma_prime() and not self._applied():
            raise UnsupportedError(_NORMALIZATION.format(f"\\sigma{self.peek_text()}… at position {tok.pos} (a variance)"))
        if c == r"\mu":
            raise UnsupportedError(_NORMALIZATION.format(f"\\mu at position {tok.pos} (a mean)"))
        if c in (r"\sigma",):
            return self.function("sigmoid", tok)
        if c in (r"\eta", r"\alpha", r"\lambda", r"\gamma", r"\beta"):  # a learning rate or other free constant
            return "{" + self._new("Q", Q("var", src=c, name=c[1:])) + "}"
        if c in (r"\phi", r"\varphi"):
            layer = self.layer_script(tok, required=False)
            return self.function("f", tok, layer)
        if c in (r"\mathrm", r"\operatorname", r"\text", r"\mathit", r"\textrm", r"\mathcal", r"\rm"):
            word = "".join(t.text for t in self.group())
            if c == r"\mathcal" and word == "L" or word in ("L", "loss"):
                return "{" + self._new("Q", Q("loss", src=word)) + "}"
            if word in _NAMED_FUNCS:
                return self.function(_NAMED_FUNCS[word], _Tok("cmd", f"{c}{{{word}}}", tok.pos))
            if word == "softmax":
                return self.softmax(tok)
            if word == "diag":  # diag(v): the diagonal matrix of a vector
                return self.function("diag", _Tok("cmd", f"{c}{{{word}}}", tok.pos))
            if c in (r"\text", r"\textrm"):  # prose inside a side is never skipped
                raise ClaimSyntaxError(
                    f"the text {c}{{{word}}} at position {tok.pos} is not understood; side conditions go after the "
                    f"claim ({CONDITION_HELP}), and names are listed in NOTATION.md"
                )
            raise unknown_name(f"{c}{{{word}}}", f"at position {tok.pos}")
        if c in (r"\exp", r"\log", r"\ln", r"\tanh"):
            if self.peek_text() == "'" or (self.peek_text() == "^" and any(g.text == r"\prime" for g in self.peek_group(1))):
                return self.function(_NAMED_FUNCS[c[1:]], tok)
            return _PASS[c]
        if c == r"\max":
            return self.function("max", tok)
        if c in _PASS:
            return _PASS[c]
        if c == r"\frac":
            return self.frac(tok)
        if c == r"\partial":
            return self.inline_gradient(tok)
        if c == r"\sum":
            return self.summation(tok)
        if c in (r"\left", r"\right"):
            d = self.take()
            if d.text in ("(", "[") and c == r"\left":
                return self.paren()
            if d.text in ("(", "["):
                return "("
            if d.text in (")", "]"):
                return ")"
            if d.text in ("|",):  # \left| opens and \right| closes: the grammar pairs plain bars itself
                return r" \lvert " if c == r"\left" else r" \rvert "
            raise UnsupportedError(f"{c}{d.text} at position {tok.pos} is not supported; use (, [ or |")
        if c in (r"\neq", r"\ne", r"\le", r"\leq", r"\ge", r"\geq", r"\approx", r"\equiv", r"\lt", r"\gt"):
            raise ClaimSyntaxError(f"{c} at position {tok.pos}: only equalities (=) are supported inside a claim")
        if c == r"\top" or c == r"\intercal":
            raise ClaimSyntaxError(f"transpose {c} at position {tok.pos} must be a superscript, as in W^\\top or (W^{{(2)}})^{{\\top}}")
        raise ClaimSyntaxError(f"unknown LaTeX macro {c} at position {tok.pos}; known macros: {KNOWN_MACROS}")

    def bracketed(self, tok: _Tok) -> list[_Tok]:
        """The tokens inside the next ``( … )``, ``[ … ]``, ``\\{ … \\}`` (optionally with ``\\left``/``\\right``)
        or subscript group ``_{…}``."""
        nxt = self.peek()
        if nxt is not None and nxt.text == "_":
            self.take()
            grp = self.group()
            if grp and grp[0].text == r"\{" and grp[-1].text == r"\}":
                grp = grp[1:-1]
            return grp
        if nxt is not None and nxt.text == r"\left":
            self.take()
        opener = self.take()
        closer = {"(": ")", "[": "]", r"\{": r"\}"}.get(opener.text)
        if closer is None:
            raise ClaimSyntaxError(f"write the indicator at position {tok.pos} as \\mathbb{{1}}(…) or 1\\{{…\\}}")
        depth = 0
        out: list[_Tok] = []
        while True:
            t = self.take()
            if t.text == opener.text:
                depth += 1
            elif t.text == closer:
                if depth == 0:
                    if out and out[-1].text == r"\right":
                        out.pop()
                    return out
                depth -= 1
            out.append(t)

    def indicator(self, tok: _Tok) -> str:
        """``\\mathbb{1}(y = k)``, ``1\\{k = t\\}`` (a Kronecker delta of indices; ``y`` is the true
        class) and ``\\mathbb{1}(z^{(1)}_i > 0)`` / ``\\geq 0`` (a step: the ReLU mask)."""
        content = self.bracketed(tok)
        rel = [k for k, t in enumerate(content) if t.text in ("=", ">", "<", r"\geq", r"\ge", r"\gt", r"\neq", r"\ne", r"\leq", r"\le", r"\lt")]
        if len(rel) != 1:
            raise ClaimSyntaxError(f"the indicator at position {tok.pos} needs one relation, as in \\mathbb{{1}}(y = k) or \\mathbb{{1}}(z > 0)")
        k = rel[0]
        left, op, right = content[:k], content[k].text, content[k + 1:]
        if op in ("=", r"\neq", r"\ne"):
            a, b = self._indicator_index(left, tok), self._indicator_index(right, tok)
            kron = "{" + self._new("Q", Q("kron", None, (a, b), None, "1(" + "".join(t.text for t in content) + ")")) + "}"
            return kron if op == "=" else f"(1 - {kron})"
        if [t.text for t in right] != ["0"] or op not in (">", r"\geq", r"\ge", r"\gt"):
            raise UnsupportedError(
                f"the indicator at position {tok.pos}: only comparisons with 0 from above are supported (\\mathbb{{1}}(z > 0), \\mathbb{{1}}(z \\geq 0))"
            )
        func = "step_gt" if op in (">", r"\gt") else "step_ge"
        name = self._new("F", Call(func, (), 0, None, "1(… " + ("> 0)" if func == "step_gt" else ">= 0)")))
        return f"{name}({self.sub(left)})"

    def _indicator_index(self, toks: list[_Tok], tok: _Tok):
        text = "".join(t.text for t in toks)
        m = re.fullmatch(r"([a-z])(?:_\{?[a-z0-9]\}?|\^\{?\([a-z]\)\}?)?", text)
        if not m or (m.group(1) not in ("y", "t") and len(text) > 1):
            raise ClaimSyntaxError(
                f"the indicator at position {tok.pos} compares {text!r}: compare index letters or the label, as in \\mathbb{{1}}(y = k)"
            )
        return TRUE_CLASS if m.group(1) == "y" else m.group(1)

    def nabla(self, tok: _Tok) -> str:
        """``\\nabla_{W^{(l)}} L``: the gradient of the loss by a whole quantity (or an entry)."""
        if self.peek_text() != "_":
            raise ClaimSyntaxError(f"\\nabla at position {tok.pos} needs what it differentiates by, as in \\nabla_{{W^{{(1)}}}} L")
        self.take()
        target = self._target(self.group(), tok)
        transposed = self._target_transposed
        loss = self.take()
        if loss.text == r"\mathcal":
            loss_toks = [loss] + self.group()
        else:
            loss_toks = [loss]
        self._loss_name(loss_toks, tok)
        if loss.kind == "letter" and self.peek_text() == "_":
            self.take()
            self.group()  # L_i: the loss of one example
        out = "{" + self._new("Q", Q("grad", None, (), target, "\\nabla")) + "}"
        return out + self.transposed() if transposed else out

    def _is_d(self, toks: list[_Tok]) -> int:
        """Length of a leading differential symbol (\\partial, d, \\mathrm{d}) in ``toks``, or 0."""
        if not toks:
            return 0
        if toks[0].text == r"\partial" or toks[0].text == "d":
            return 1
        if toks[0].text in (r"\mathrm", r"\text") and len(toks) > 3 and toks[1].text == "{" and toks[2].text == "d" and toks[3].text == "}":
            return 4
        return 0

    def _is_loss(self, toks: list[_Tok]) -> bool:
        r"""Is ``toks`` a loss name (``L``, ``C``, ``J``, ``E``, ``\ell``, ``\mathcal{L}``), optionally of one
        example (``L_i``, ``\ell^{(n)}``)?"""
        text = "".join(t.text for t in toks)
        text = re.sub(r"(?:_\{?[a-z]\}?|\^\{?\([a-z]\)\}?)$", "", text) if len(text) > 1 else text
        return text in ("L", "C", "J", "E", r"\ell", r"\mathcal{L}", r"\mathrm{L}", r"\mathcal{J}", r"\mathcal{C}")

    @staticmethod
    def _loss_example(toks: list[_Tok]) -> str | None:
        """The example of a per-example loss ``L_i``, ``\\ell^{(n)}`` (None for the loss itself)."""
        text = "".join(t.text for t in toks)
        m = re.search(r"(?:_\{?([a-z])\}?|\^\{?\(([a-z])\)\}?)$", text) if len(text) > 1 else None
        letter = (m.group(1) or m.group(2)) if m else None
        return letter if letter not in (None, "e", "t", "y") else None

    def _loss_name(self, toks: list[_Tok], tok: _Tok) -> None:
        if not self._is_loss(toks):
            text = "".join(t.text for t in toks)
            raise ClaimNameError(f"∂{text} at position {tok.pos}: only derivatives of the loss (L, \\ell, C, J, \\mathcal{{L}}) "
                                 "or of p, h, z by z, h, x are supported")

    def _target(self, toks: list[_Tok], tok: _Tok) -> Q:
        self._target_transposed = False
        if not toks:
            raise ClaimSyntaxError(f"empty denominator in the derivative at position {tok.pos}")
        if toks[0].text in (r"\mathbf", r"\boldsymbol", r"\bm", r"\vec") and len(toks) >= 4 and toks[1].text == "{" and toks[3].text == "}":
            toks = [toks[2]] + toks[4:]
        head = toks[0]
        if layer_names.ACTIVE is not None and (q := layer_names.ACTIVE.latex_target(self, toks, tok)) is not None:
            return q
        if head.kind == "letter" and head.text in _FREE_VARIABLES and len(toks) == 1:
            return Q("var", src=head.text, name=head.text)
        if head.text in (r"\hat",) and len(toks) >= 4:
            if toks[2].text in ("x", "X"):  # a normalized input, never the prediction (only \hat{y} is p)
                raise UnsupportedError(_NORMALIZATION.format(f"\\hat{{x}} at position {head.pos} (a normalized input)"))
            toks = [_Tok("letter", "p", head.pos)] + toks[4:]
            head = toks[0]
        kind = _QUANT_LETTERS.get(head.text) if head.kind == "letter" else ("delta" if head.text == r"\delta" else None)
        if head.text == "f" and len(toks) > 1 and toks[1].text == "_":
            kind = "z"  # CS231n's scores: \partial L_i / \partial f_k
        if kind is None:
            raise unknown_name(head.text, f"after ∂ at position {head.pos} (differentiate by W, b, z, h or x)")
        inner = _Rewriter(self.records, self.counter)
        inner.text = self.text
        inner.toks, inner.i = toks, 1
        q = inner.read_quantity(kind, head)
        self._target_transposed = inner._transposed
        if inner.i != len(toks):
            raise ClaimSyntaxError(f"unexpected {toks[inner.i].text!r} at position {toks[inner.i].pos} in the derivative's denominator")
        return q

    def _split_digits(self) -> None:
        """Make the next token one digit when it is an unbraced number of several (TeX reads
        ``\frac12`` as ``\frac{1}{2}``): its first digit, then the rest as a number of its own."""
        tok = self.peek()
        if tok is not None and tok.kind == "num" and len(tok.text) > 1 and tok.text[1] != ".":
            self.toks[self.i: self.i + 1] = [_Tok("num", tok.text[0], tok.pos), _Tok("num", tok.text[1:], tok.pos + 1)]

    def frac(self, tok: _Tok) -> str:
        r"""``\frac{a}{b}``; ``\frac{\partial L}{\partial W^{(1)}_{ij}}`` (a gradient entry, or the whole
        matrix without indices); ``\frac{\partial p_i}{\partial z_j}`` (a Jacobian entry); and the operator
        form ``\frac{\partial}{\partial z_j} L`` / ``\frac{\partial}{\partial z_j}\left(…\right)``.
        As in TeX, an unbraced argument is one character: ``\frac12 u`` is ½·u, not 12/u."""
        self._split_digits()
        num = self.group()
        self._split_digits()
        den = self.group()
        k = self._is_d(num)
        if k == len(num) and num and self._is_d(den):  # the operator ∂/∂v applied to what follows
            target = self._target(den[self._is_d(den):], tok)
            transposed = self._target_transposed
            nxt = self.peek()
            if nxt is None:
                raise ClaimSyntaxError(f"the derivative operator at position {tok.pos} is applied to nothing")
            follows = [nxt]
            if nxt.text in (r"\mathcal", r"\mathrm"):
                follows = self.toks[self.i: self.i + 4]
            elif self.peek_text(1) == "_" and self.peek(2) is not None:
                follows = self.toks[self.i: self.i + 3]
            if self._is_loss(follows) or self._is_loss(follows[:1]):
                used = follows if self._is_loss(follows) else follows[:1]
                for _ in used:
                    self.take()
                out = "{" + self._new("Q", Q("grad", None, (), target, "∂/∂", self._loss_example(used))) + "}"
                return out + self.transposed() if transposed else out
            if nxt.text not in ("(", r"\left", "["):
                # the operator applies to the rest of the term: up to the next + or - outside brackets
                depth, j = 0, self.i
                while j < len(self.toks):
                    t = self.toks[j]
                    if t.text in ("{", "(", "[") and t.kind == "char":
                        depth += 1
                    elif t.text in ("}", ")", "]") and t.kind == "char":
                        depth -= 1
                    elif depth == 0 and t.text in ("+", "-") and j > self.i and self.toks[j - 1].text not in ("^", "_"):
                        break
                    j += 1
                body, self.i = self.toks[self.i: j], j
                return self._new("F", ("deriv", target)) + "(" + self.sub(body) + ")"
            return self._new("F", ("deriv", target))
        if k and self._is_d(den):
            target = self._target(den[self._is_d(den):], tok)
            transposed = self._target_transposed
            end = self.toks[self.i - 1].pos + 1
            if self._is_loss(num[k:]):
                q = Q("grad", None, (), target, self._source(tok.pos, end), self._loss_example(num[k:]))
                out = "{" + self._new("Q", q) + "}"
            else:  # ∂p_i/∂z_j, ∂ log p_k / ∂z_j, dσ(u)/du: the derivative of an expression
                out = self._new("F", ("deriv", target)) + "(" + self.sub(num[k:]) + ")"
            return out + self.transposed() if transposed else out
        return r"\frac{" + self.sub(num) + "}{" + self.sub(den) + "}"

    def inline_gradient(self, tok: _Tok) -> str:
        # \partial L / \partial W^{(1)}_{ij}
        loss = [self.take()]
        if loss[0].text in (r"\mathcal", r"\mathrm"):
            loss += [self.take(), self.take(), self.take()]
        self._loss_name(loss, tok)
        slash = self.take()
        d = self.take()
        if slash.text != "/" or d.text != r"\partial":
            raise ClaimSyntaxError(f"write a derivative as \\frac{{\\partial L}}{{\\partial W^{{(1)}}_{{ij}}}} (position {tok.pos})")
        head = self.take()
        kind = _QUANT_LETTERS.get(head.text) if head.kind == "letter" else ("delta" if head.text == r"\delta" else None)
        if kind is None:
            raise unknown_name(head.text, f"after ∂ at position {head.pos}")
        target = self.read_quantity(kind, head)
        out = "{" + self._new("Q", Q("grad", None, (), target, self._source(tok.pos, self.toks[self.i - 1].pos + 1))) + "}"
        return out + self.transposed() if self._transposed else out

    def summation(self, tok: _Tok) -> str:
        lower = upper = None
        for _ in range(2):
            nxt = self.peek()
            if nxt is not None and nxt.text == "_" and lower is None:
                self.take()
                lower = self.group()
            elif nxt is not None and nxt.text == "^" and upper is None:
                self.take()
                upper = self.group()
        if not lower:
            raise ClaimSyntaxError(f"\\sum at position {tok.pos} needs its index, as in \\sum_k or \\sum_{{k=1}}^{{K}}")
        var = lower[0]
        if var.kind != "letter" or not var.text.islower() or var.text in ("e", "y", "t"):
            raise ClaimSyntaxError(f"the summation index at position {var.pos} must be a lowercase letter (not e, y or t)")
        lo = None
        if len(lower) > 1:
            if lower[1].text != "=":
                raise ClaimSyntaxError(f"write the summation range as \\sum_{{{var.text}=1}}^{{K}} (position {lower[1].pos})")
            lo = _bound(lower[2:], tok)
        hi = _bound(upper, tok) if upper else None
        if (lo is None) != (hi is None):
            if lo is None:
                lo = Num(Fraction(1))
            else:
                raise ClaimSyntaxError(f"\\sum at position {tok.pos} has a lower bound but no upper bound")
        name = self._new("B", (var.text, lo, hi))
        return f"\\sum_{{{var.text}=1}}^{{{{{name}}}}}"


def _bound(toks: list[_Tok], tok: _Tok):
    """A summation bound: integers, K, n_l, joined by + and -."""
    if not toks:
        raise ClaimSyntaxError(f"empty summation bound at position {tok.pos}")
    terms, sign, i = [], 1, 0
    node: Node
    while i < len(toks):
        t = toks[i]
        if t.text in "+-" and t.kind == "char":
            sign = -1 if t.text == "-" else 1
            i += 1
            continue
        if t.kind == "num" and t.text.isdigit() and len(t.text) <= 6:
            node = Num(Fraction(int(t.text)))
            i += 1
        elif t.text == "K":
            node = Q("width", src="K")
            i += 1
        elif t.text in ("N", "m"):
            node = Q("batch", src=t.text)
            i += 1
        elif t.text == "n" and i + 2 < len(toks) + 1 and i + 1 < len(toks) and toks[i + 1].text == "_":
            j = i + 2
            if j < len(toks) and toks[j].kind == "num":
                node, i = Q("width", int(toks[j].text), src=f"n_{toks[j].text}"), j + 1
            elif j + 2 < len(toks) and toks[j].text == "{" and toks[j + 1].kind == "num" and toks[j + 2].text == "}":
                node, i = Q("width", int(toks[j + 1].text), src=f"n_{toks[j + 1].text}"), j + 3
            else:
                raise ClaimSyntaxError(f"summation bound at position {t.pos}: write n_1, n_{{2}}, K or a number")
        elif layer_names.ACTIVE is not None and (size := layer_names.ACTIVE.size(t)) is not None:
            node = size  # a layer's size letter (D features, d, T tokens): layer checks only
            i += 1
        else:
            raise ClaimSyntaxError(f"summation bound {t.text!r} at position {t.pos}: use a number, K or n_l")
        terms.append(node if sign == 1 else Mul((Num(Fraction(-1)), node)))
        sign = 1
    return terms[0] if len(terms) == 1 else Add(tuple(terms))


# ---------------------------------------------------------------- splitting relations and conditions
def _split(toks: list[_Tok], text: str):
    """Split at top-level ``=``; a top-level ``,``, ``\\quad``, ``\\forall`` or a ``\\text{…}``
    starting with a condition word (for, when, except, is the same, …) starts the conditions."""
    sides: list[list[_Tok]] = [[]]
    depth = 0
    for k, t in enumerate(toks):
        if (t.kind == "char" and t.text in "{([") or t.text == r"\{":
            depth += 1
        elif (t.kind == "char" and t.text in "})]") or t.text == r"\}":
            depth -= 1
        if depth == 0:
            if t.text == "=":
                sides.append([])
                continue
            if t.text in (",", ";", r"\quad", r"\qquad"):
                return sides, toks[k + 1:]
            if t.text == r"\forall":
                return sides, toks[k:]
            if t.text in (r"\text", r"\mathrm", r"\textrm", r"\mbox"):
                words = _text_words(toks, k, text).split()
                if words and words[0].lower() in START_WORDS:
                    return sides, toks[k:]
            if t.kind == "letter" and k > 0 and not text[t.pos - 1].isalpha():
                # bare words after the claim ("… x_k for every j except t"): a condition, not letters
                letters = re.match(r"[A-Za-z]+", text[t.pos:])
                word = letters.group(0) if letters else ""
                if word.lower() in START_WORDS:
                    return sides, toks[k:]
        sides[-1].append(t)
    return sides, None


def _text_words(toks: list[_Tok], k: int, text: str) -> str:
    """The raw text of the ``\\text{…}`` group starting at ``toks[k]`` (spaces kept)."""
    if k + 1 < len(toks) and toks[k + 1].text == "{":
        j = k + 2
        while j < len(toks) and toks[j].text != "}":
            j += 1
        end = toks[j].pos if j < len(toks) else len(text)
        return text[toks[k + 1].pos + 1: end]
    return ""


def _conditions(toks: list[_Tok], text: str):
    """The conditions and "same for every" indices of the tail (see :mod:`.conditions`)."""
    if not toks:
        raise ClaimSyntaxError(f"the condition after the claim is empty; {CONDITION_HELP}")
    region = text[toks[0].pos:]
    return read_conditions(latex_tokens(region), region)


# ---------------------------------------------------------------- stage 3: the grammar and the walk back
def _grammar_parse(rewritten: str, side_text: str, records: dict):
    """The unevaluated SymPy tree of the placeholder string, or a one-line error naming the side."""
    names = {key: value.src for key, value in records.items() if isinstance(getattr(value, "src", None), str) and value.src}
    try:
        return parse_placeholders(rewritten, names)
    except ClaimSyntaxError as exc:
        raise ClaimSyntaxError(f"cannot parse {side_text.strip()[:80]!r}: {exc}") from None


def _flat(e, cls) -> list:
    """The operands of a (possibly unevaluated, nested) ``Add``/``Mul`` chain, iteratively."""
    out, stack = [], [e]
    while stack:
        n = stack.pop()
        if isinstance(n, cls):
            stack.extend(reversed(n.args))
        else:
            out.append(n)
    return out


def _walk(expr, records: dict, side_text: str):
    """The claim tree of SymPy's *unevaluated* parse (nothing in it is ever evaluated)."""
    import sympy as sp
    from sympy.core.function import AppliedUndef

    seen: set[str] = set()
    where = repr(side_text.strip()[:60])

    def walk(e, depth=0):
        if depth > MAX_TREE_DEPTH:
            raise SizeLimitError(f"the claim is nested more than {MAX_TREE_DEPTH} operations deep")
        if isinstance(e, sp.Symbol):
            name = e.name
            if name in records and name.startswith("M_"):
                what = {"HAD": "\\odot (an elementwise product)", "OUTER": "\\otimes (an outer product)"}.get(records[name], "a transpose")
                raise ClaimSyntaxError(f"{what} in {where} is misplaced: it needs an operand on each side (⊙) or a base (^T)")
            if name in records and name.startswith("Q_"):
                seen.add(name)
                return records[name]
            raise ClaimNameError(f"{name!r} in {where} is not a known quantity (an index can only be used in a subscript)")
        if isinstance(e, sp.Rational):  # Integer too; only literals of at most MAX_DIGITS digits reach here
            return Num(Fraction(int(e.p), int(e.q)))
        if e is sp.E:
            return Const("e")
        if isinstance(e, sp.Add):
            return Add(tuple(walk(a, depth + 1) for a in _flat(e, sp.Add)))
        if isinstance(e, sp.Mul):
            factors = _flat(e, sp.Mul)
            outer = [k for k, f in enumerate(factors) if isinstance(f, sp.Symbol) and records.get(f.name) == "OUTER"]
            if outer:
                if len(outer) != 1 or any(isinstance(f, sp.Symbol) and records.get(f.name) == "HAD" for f in factors):
                    raise ClaimSyntaxError(f"write one \\otimes per product in {where} (bracket the rest)")
                k = outer[0]
                seen.add(factors[k].name)
                left, right = factors[:k], factors[k + 1:]
                if not left or not right:
                    raise ClaimSyntaxError(f"\\otimes in {where} needs an operand on each side")
                lw, rw = (tuple(walk(a, depth + 1) for a in part) for part in (left, right))
                return Op("outer", (lw[0] if len(lw) == 1 else Mul(lw), rw[0] if len(rw) == 1 else Mul(rw)))
            marks = [k for k, f in enumerate(factors) if isinstance(f, sp.Symbol) and records.get(f.name) == "HAD"]
            if not marks:
                return Mul(tuple(walk(a, depth + 1) for a in factors))
            groups, last = [], 0
            for k in marks + [len(factors)]:
                part = factors[last:k]
                if not part:
                    raise ClaimSyntaxError(f"\\odot (an elementwise product) in {where} needs an operand on each side")
                walked = tuple(walk(a, depth + 1) for a in part)
                groups.append(walked[0] if len(walked) == 1 else Mul(walked))
                if k < len(factors):
                    seen.add(factors[k].name)
                last = k + 1
            return Op("had", tuple(groups))
        if isinstance(e, sp.Pow) and isinstance(e.args[1], sp.Symbol) and records.get(e.args[1].name) in ("T", "T'"):
            seen.add(e.args[1].name)
            return Op("T" if records[e.args[1].name] == "T" else "T'", (walk(e.args[0], depth + 1),))
        if isinstance(e, sp.Pow):
            base, ex = walk(e.args[0], depth + 1), walk(e.args[1], depth + 1)
            v = fold(ex)  # bounded; the limits themselves are enforced by tree.validate
            return Pow(base, Num(v) if v is not None else ex)
        if isinstance(e, sp.exp):
            return Call("exp", (walk(e.args[0], depth + 1),), src="exp")
        if isinstance(e, sp.log):
            if len(e.args) > 1 and e.args[1] is not sp.E:
                raise UnsupportedError("logarithms to a base other than e are not supported")
            return Call("log", (walk(e.args[0], depth + 1),), src="log")
        if isinstance(e, sp.tanh):
            return Call("tanh", (walk(e.args[0], depth + 1),), src="tanh")
        if isinstance(e, sp.Abs):
            return Call("abs", (walk(e.args[0], depth + 1),), src="|·|")
        if isinstance(e, sp.Sum):
            node = walk(e.args[0], depth + 1)
            for limit in e.args[1:]:
                bname = limit[2].name if isinstance(limit[2], sp.Symbol) else ""
                if bname not in records:
                    raise ClaimSyntaxError(f"cannot read the sum in {where}")
                seen.add(bname)
                var, lo, hi = records[bname]
                node = Sum(var, lo, hi, node)
            return node
        if isinstance(e, AppliedUndef):
            name = type(e).__name__
            if name in records and name.startswith("F_"):
                seen.add(name)
                rec = records[name]
                args = tuple(walk(a, depth + 1) for a in e.args)
                if isinstance(rec, tuple) and rec[0] == "softmax":
                    if len(args) != 1:
                        raise ClaimSyntaxError(f"softmax in {where} takes one vector")
                    call = Call("softmax", args, 0, None, "softmax")
                    return call if rec[1] is None else Op(f"at:{rec[1]}", (call,))
                if isinstance(rec, tuple) and rec[0] == "group":
                    if len(args) != 1:
                        raise ClaimSyntaxError(f"cannot read the brackets in {where}")
                    return args[0]
                if isinstance(rec, tuple) and rec[0] == "deriv":
                    if len(args) != 1:
                        raise ClaimSyntaxError(f"a derivative in {where} applies to one expression")
                    return Deriv(args[0], rec[1])
                if rec.func == "max" and len(args) == 2 and Num(Fraction(0)) in args:
                    other = args[1] if args[0] == Num(Fraction(0)) else args[0]
                    return Call("relu", (other,), 0, None, r"\max(0, ·)")
                return Call(rec.func, args, rec.order, rec.layer, rec.src)
            raise unknown_name(name, f"(a function) in {where}")
        raise UnsupportedError(f"{type(e).__name__} in {where} is not supported in a claim")

    tree = walk(expr)
    return tree, seen


def parse_latex_claim(text: str, *, seconds: float | None = None) -> Claim:
    """Parse a LaTeX claim into a :class:`~.tree.Claim` (indices 1-based).

    Runs in the calling process: call it through :func:`symderiv.claims.parse_claim`,
    which runs it in a bounded child (``seconds`` is accepted for compatibility and unused).
    """
    original = text
    text, batch_loss = batch_convention(text)
    text = _precheck(text)
    toks = _tokenize(text)
    sides_toks, cond_toks = _split(toks, text)
    if len(sides_toks) > MAX_SIDES:  # before the (slow) grammar sees any side
        raise SizeLimitError(f"the chain has {len(sides_toks)} sides (limit {MAX_SIDES}); split it into smaller claims")
    conditions, same_for = _conditions(cond_toks, text) if cond_toks is not None else ((), ())
    sides, side_texts = [], []
    for k, st in enumerate(sides_toks):
        if not st:
            raise ClaimSyntaxError(f"side {k + 1} of the relation is empty")
        side_text = text[st[0].pos: st[-1].pos + len(st[-1].text)]
        records: dict = {}
        rw = _Rewriter(records, [0])
        rw.text = text
        rewritten = rw.run(st)
        _dangling(rewritten, side_text)
        expr = _grammar_parse(rewritten, side_text, records)
        tree, seen = _walk(expr, records, side_text)
        lost = [n for n in records if n not in seen]
        if lost:
            what = records[lost[0]]
            src = getattr(what, "src", None) or (f"\\sum_{what[0]}" if isinstance(what, tuple) else lost[0])
            raise ClaimSyntaxError(f"the LaTeX parser dropped part of {side_text[:60]!r} (near {src}); check the syntax around it")
        sides.append(tree)
        side_texts.append(side_text)
    check_size(tuple(sides))
    if len(sides) < 2 and not same_for:
        raise ClaimSyntaxError("a claim needs a relation: A = B (or A \\quad \\text{is the same for every } i)")
    return Claim(tuple(sides), original, "latex", conditions, same_for, tuple(side_texts), batch_loss)


def _dangling(rewritten: str, side_text: str) -> None:
    s = rewritten.strip()
    if re.search(r"(?:[+\-*/^_,]|\\cdot)\s*$", s):
        raise ClaimSyntaxError(f"{side_text[:60]!r} ends with an operator")
    if re.search(r"(?:[+\-*/,]|\\cdot)\s*[)}]", s):
        raise ClaimSyntaxError(f"an operator in {side_text[:60]!r} has no right operand")
    if re.match(r"^\s*(?:[*/^,]|\\cdot)", s) or re.search(r"[({]\s*(?:[*/^,]|\\cdot)", s):
        raise ClaimSyntaxError(f"an operator in {side_text[:60]!r} has no left operand")
