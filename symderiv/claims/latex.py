"""The LaTeX claim syntax: SymPy's ANTLR LaTeX grammar, made safe and exact.

SymPy's ``parse_latex`` (a real grammar; it needs ``antlr4-python3-runtime==4.11.*``)
gets the arithmetic right (fractions, implicit products, the extent of ``\\sum``,
``|·|``), but it silently mis-reads the notation of derivations: it drops the
subscripts of ``W^{(1)}_{ij}`` (giving ``W**1``), reads ``x_j(p_i - y_i)`` as a
function call, ``e^{x}`` as a symbol ``e`` to a power, ``\\max`` as an unknown
function, ``\\mathrm{ReLU}`` as a product of letters, ``\\partial`` as a symbol,
and it drops trailing operators (``x +`` parses as ``x``).  So the text goes
through three stages:

1. **pre-checks** on the raw text: length, allowed characters, bracket depth,
   number sizes, superscript depth;
2. **a tokenizer that recognizes every name** (quantities, gradients, functions,
   sums) against the known notation (an unknown name or macro is an error that
   lists the known ones) and replaces each by an opaque placeholder
   (``{Q_{7}}``, ``F_{3}``) in a rewritten string made only of placeholders,
   numbers and arithmetic; it rejects dangling operators;
3. ``parse_latex`` on that string and an allow-list walk of its *unevaluated*
   output back into the claim tree (``e^{…}`` → exp, placeholders → quantities; any
   other SymPy node is rejected), checking that no placeholder was lost; then the
   structural limits of :func:`.tree.validate`.  All three stages run inside the
   bounded child of :func:`symderiv.claims.parse_claim`: only the plain claim tree
   comes back, never a SymPy object (unpickling one would evaluate it).

Nothing here calls ``sympify``, ``parse_expr`` or ``eval``.
"""
from __future__ import annotations

import re
from fractions import Fraction

from ..errors import ClaimNameError, ClaimSyntaxError, SizeLimitError, SymderivError, UnsupportedError
from .conditions import CONDITION_HELP, START_WORDS, latex_tokens, read_conditions
from .names import unknown_name
from .tree import (
    MAX_CHARS, MAX_DIGITS, MAX_EXPONENT, MAX_SIDES, MAX_TREE_DEPTH, TRUE_CLASS, Add, Call, Claim, Const, Mul, Num, Pow, Q, Sum,
    check_depth, check_size, describe_char, fold,
)

__all__ = ["parse_latex_claim", "KNOWN_MACROS"]

_UNICODE = {
    "δ": r"\delta ", "σ": r"\sigma ", "∂": r"\partial ", "ℓ": r"\ell ", "Σ": r"\sum ", "∑": r"\sum ",
    "·": r"\cdot ", "×": r"\times ", "−": "-", "≠": r"\neq ", "′": "'", "’": "'", "φ": r"\phi ",
}
_ALLOWED = re.compile(r"[A-Za-z0-9\s\\{}()\[\]^_'+\-*/=,.|<>!;:~]*")
_TOKEN = re.compile(r"(\\[A-Za-z]+)|(\\[^A-Za-z])|([A-Za-z])|(\d+(?:\.\d+)?)|(\s+)|(.)", re.S)

_SPACING = {r"\,", r"\;", r"\!", r"\ ", r"\:", r"\>", "~"}
_PASS = {r"\exp": r"\exp", r"\log": r"\log", r"\ln": r"\ln", r"\tanh": r"\tanh", r"\cdot": r"\cdot ",
         r"\times": r"\cdot ", r"\sqrt": r"\sqrt"}
_QUANT_LETTERS = {"x": "x", "y": "y", "p": "p", "z": "z", "h": "h", "a": "h", "W": "W", "b": "b"}
_ARITY = {"x": 1, "y": 1, "p": 1, "z": 1, "h": 1, "delta": 1, "W": 2, "b": 1}
_LAYERED = {"z", "h", "delta", "W", "b"}
_NAMED_FUNCS = {"relu": "relu", "ReLU": "relu", "sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp",
                "log": "log", "ln": "log"}

KNOWN_MACROS = (
    r"\frac \partial \sum \delta \sigma \phi \varphi \tanh \exp \log \ln \max \sqrt \cdot \times "
    r"\left \right \ell \mathcal{L} \mathrm{ReLU} \operatorname{ReLU} \text \prime \neq \quad \forall "
    r"and spacing \, \; \! \quad"
)


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
        digits = tok.text.replace(".", "").lstrip("0")
        if len(digits) > MAX_DIGITS:
            raise SizeLimitError(f"the number at position {tok.pos} has more than {MAX_DIGITS} digits")
        if self.sup_depth and Fraction(tok.text) > MAX_EXPONENT:
            raise SizeLimitError(f"the exponent {tok.text} at position {tok.pos} is larger than {MAX_EXPONENT}")
        if "." in tok.text:
            whole, frac = tok.text.split(".")
            return f"\\frac{{{int(whole + frac)}}}{{{10 ** len(frac)}}}"
        return tok.text

    def char(self, tok: _Tok) -> str:
        t = tok.text
        if t in "+-*/|,":
            return t
        if t in "([":
            return "("
        if t in ")]":
            return ")"
        if t == "{":
            self.i -= 1
            return "{" + self.sub(self.group()) + "}"
        if t == "^":
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
        if c in _QUANT_LETTERS:
            return self.quantity(_QUANT_LETTERS[c], tok)
        if c == "L":
            return "{" + self._new("Q", Q("loss", src="L")) + "}"
        if c == "K":
            return "{" + self._new("Q", Q("width", src="K")) + "}"
        if c == "n":
            layer = self.layer_script(tok, required=True)
            return "{" + self._new("Q", Q("width", layer, src=f"n_{layer}")) + "}"
        if c == "e":
            if self.peek() is not None and self.peek().text == "^":
                self.take()
                return r"\exp{" + self.superscript() + "}"
            return r"\exp{1}"
        if c == "f":
            layer = self.layer_script(tok, required=False)
            return self.function("f", tok, layer)
        if c in "ijklmqrstuvw":
            raise ClaimNameError(f"the index {c} at position {tok.pos} can only be used in a subscript (e.g. x_{c})")
        raise unknown_name(c, f"at position {tok.pos}")

    def layer_script(self, tok: _Tok, required: bool) -> int | None:
        nxt = self.peek()
        if nxt is not None and nxt.text in ("_", "^"):
            mark = self.i
            self.take()
            grp = self.group()
            text = "".join(t.text for t in grp).strip("()[]")
            if text.isdigit():
                return int(text)
            self.i = mark
        if required:
            raise ClaimSyntaxError(f"{tok.text} at position {tok.pos} needs a layer number, as in {tok.text}_1")
        return None

    def quantity(self, kind: str, tok: _Tok, src_prefix: str | None = None) -> str:
        q = self.read_quantity(kind, tok)
        return "{" + self._new("Q", q) + "}"

    def read_quantity(self, kind: str, tok: _Tok) -> Q:
        start = tok.pos
        layer = None
        indices = None
        while self.peek() is not None and self.peek().text in ("_", "^"):
            op = self.peek().text
            if op == "_" and indices is None:
                self.take()
                indices = self.indices(self.group(), _ARITY[kind], tok)
                continue
            if op == "^" and layer is None and kind in _LAYERED:
                grp = self.peek_group(1)
                text = "".join(t.text for t in grp)
                m = re.fullmatch(r"[(\[](\d+)[)\]]", text) or re.fullmatch(r"\\left[(\[](\d+)\\right[)\]]", text)
                if m:
                    self.take()
                    self.group()
                    layer = int(m.group(1))
                    continue
                if re.fullmatch(r"[(\[]?[A-Za-z][)\]]?", text):
                    raise UnsupportedError(f"layer {text} of {tok.text} at position {start}: write a concrete layer number, as in {tok.text}^{{(1)}}")
                if indices is None and re.fullmatch(r"\d+", text):
                    raise ClaimSyntaxError(
                        f"{tok.text}^{text} at position {start} is ambiguous: write the layer as {tok.text}^{{({text})}} "
                        f"or a power as ({tok.text}_{{…}})^{{{text}}}"
                    )
            break
        end = self.toks[self.i - 1].pos + len(self.toks[self.i - 1].text)
        src = self._source(start, end)
        if indices is None:
            hint = " (matrix and vector notation is not supported: write one entry with indices, e.g. W^{(1)}_{ij})" if kind != "x" or True else ""
            raise ClaimNameError(f"{src} at position {start} needs indices{hint}")
        return Q(kind, layer, tuple(indices), None, src)

    def _source(self, start: int, end: int) -> str:
        return self.text[start:end] if hasattr(self, "text") else ""

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
        if any(t.text == "," for t in grp):
            parts, cur = [], []
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
        out = []
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

    def function(self, func: str, tok: _Tok, layer: int | None = None) -> str:
        order = 0
        while self.peek() is not None:
            t = self.peek()
            if t.text == "'":
                self.take()
                order += 1
            elif t.text == "^" and self.peek_group(1) and all(g.text == r"\prime" for g in self.peek_group(1)):
                self.take()
                order += len(self.group())
            else:
                break
        nxt = self.peek()
        if nxt is None or not (nxt.text == "(" or (nxt.text == r"\left" and self.peek(1) is not None and self.peek(1).text in "([")):
            raise ClaimSyntaxError(f"apply {tok.text} to an argument in parentheses, as in {tok.text}(z), at position {tok.pos}")
        src = tok.text + "'" * order
        return self._new("F", Call(func, (), order, layer, src))

    def command(self, tok: _Tok) -> str:
        c = tok.text
        if c == r"\delta":
            return self.quantity("delta", tok)
        if c == r"\ell":
            return "{" + self._new("Q", Q("loss", src=c)) + "}"
        if c in (r"\sigma",):
            return self.function("sigmoid", tok)
        if c in (r"\phi", r"\varphi"):
            layer = self.layer_script(tok, required=False)
            return self.function("f", tok, layer)
        if c in (r"\mathrm", r"\operatorname", r"\text", r"\mathit", r"\textrm", r"\mathcal", r"\rm"):
            word = "".join(t.text for t in self.group())
            if c == r"\mathcal" and word == "L" or word in ("L", "loss"):
                return "{" + self._new("Q", Q("loss", src=word)) + "}"
            if word in _NAMED_FUNCS:
                return self.function(_NAMED_FUNCS[word], _Tok("cmd", f"{c}{{{word}}}", tok.pos))
            if c in (r"\text", r"\textrm"):  # prose inside a side is never skipped
                raise ClaimSyntaxError(
                    f"the text {c}{{{word}}} at position {tok.pos} is not understood; side conditions go after the "
                    f"claim ({CONDITION_HELP}), and names are listed in NOTATION.md"
                )
            raise unknown_name(f"{c}{{{word}}}", f"at position {tok.pos}")
        if c in (r"\exp", r"\log", r"\ln", r"\tanh"):
            if self.peek() is not None and (self.peek().text == "'" or (self.peek().text == "^" and any(g.text == r"\prime" for g in self.peek_group(1)))):
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
            if d.text in ("(", "["):
                return "("
            if d.text in (")", "]"):
                return ")"
            if d.text in ("|",):
                return "|"
            raise UnsupportedError(f"{c}{d.text} at position {tok.pos} is not supported; use (, [ or |")
        if c in (r"\neq", r"\ne", r"\le", r"\leq", r"\ge", r"\geq", r"\approx", r"\equiv", r"\lt", r"\gt"):
            raise ClaimSyntaxError(f"{c} at position {tok.pos}: only equalities (=) are supported inside a claim")
        if c == r"\top" or c == r"\intercal":
            raise UnsupportedError(f"transpose {c} at position {tok.pos}: matrix notation is not supported; write entries with indices")
        raise ClaimSyntaxError(f"unknown LaTeX macro {c} at position {tok.pos}; known macros: {KNOWN_MACROS}")

    def _is_d(self, toks: list[_Tok]) -> int:
        """Length of a leading differential symbol (\\partial, d, \\mathrm{d}) in ``toks``, or 0."""
        if not toks:
            return 0
        if toks[0].text == r"\partial" or (toks[0].text == "d" and len(toks) > 1):
            return 1
        if toks[0].text in (r"\mathrm", r"\text") and len(toks) > 3 and toks[1].text == "{" and toks[2].text == "d" and toks[3].text == "}":
            return 4
        return 0

    def _loss_name(self, toks: list[_Tok], tok: _Tok) -> None:
        text = "".join(t.text for t in toks)
        if text not in ("L", r"\ell", r"\mathcal{L}", "J", "E", r"\mathrm{L}"):
            raise ClaimNameError(f"∂{text} at position {tok.pos}: only derivatives of the loss (L, \\ell, \\mathcal{{L}}) are supported")

    def _target(self, toks: list[_Tok], tok: _Tok) -> Q:
        if not toks:
            raise ClaimSyntaxError(f"empty denominator in the derivative at position {tok.pos}")
        head = toks[0]
        kind = _QUANT_LETTERS.get(head.text) if head.kind == "letter" else ("delta" if head.text == r"\delta" else None)
        if kind is None:
            raise unknown_name(head.text, f"after ∂ at position {head.pos} (differentiate by W, b, z, h or x)")
        inner = _Rewriter(self.records, self.counter)
        inner.text = getattr(self, "text", "")
        inner.toks, inner.i = toks, 1
        q = inner.read_quantity(kind, head)
        if inner.i != len(toks):
            raise ClaimSyntaxError(f"unexpected {toks[inner.i].text!r} at position {toks[inner.i].pos} in the derivative's denominator")
        return q

    def frac(self, tok: _Tok) -> str:
        num, den = self.group(), self.group()
        k = self._is_d(num)
        if k and self._is_d(den):
            self._loss_name(num[k:], tok)
            target = self._target(den[self._is_d(den):], tok)
            end = self.toks[self.i - 1].pos + 1
            return "{" + self._new("Q", Q("grad", None, (), target, self._source(tok.pos, end))) + "}"
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
        return "{" + self._new("Q", Q("grad", None, (), target, self._source(tok.pos, self.toks[self.i - 1].pos + 1))) + "}"

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
        elif t.text == "n" and i + 2 < len(toks) + 1 and i + 1 < len(toks) and toks[i + 1].text == "_":
            j = i + 2
            if j < len(toks) and toks[j].kind == "num":
                node, i = Q("width", int(toks[j].text), src=f"n_{toks[j].text}"), j + 1
            elif j + 2 < len(toks) and toks[j].text == "{" and toks[j + 1].kind == "num" and toks[j + 2].text == "}":
                node, i = Q("width", int(toks[j + 1].text), src=f"n_{toks[j + 1].text}"), j + 3
            else:
                raise ClaimSyntaxError(f"summation bound at position {t.pos}: write n_1, n_{{2}}, K or a number")
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
        if t.kind == "char" and t.text in "{([":
            depth += 1
        elif t.kind == "char" and t.text in "})]":
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
                word = re.match(r"[A-Za-z]+", text[t.pos:]).group(0)
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


# ---------------------------------------------------------------- stage 3: parse_latex and the walk back
def _parse_in_child(rewritten: str):
    """Run SymPy's LaTeX parser; return ('ok', expr) or ('error', message)."""
    try:
        from sympy.parsing.latex import parse_latex
        from sympy.parsing.latex.errors import LaTeXParsingError
    except ImportError as exc:  # pragma: no cover - depends on the environment
        return ("missing", str(exc))
    try:
        return ("ok", parse_latex(rewritten))
    except LaTeXParsingError as exc:
        return ("error", str(exc).splitlines()[0])
    except Exception as exc:  # the grammar's runtime raises assorted errors on odd input
        return ("error", f"{type(exc).__name__}: {str(exc)[:100]}")


_WARM = []


def warm_up() -> None:
    """Load SymPy's generated parser once in this process (on a fixed, trusted string),
    so that the forked children that parse claims do not each pay for importing it."""
    if not _WARM:
        _WARM.append(True)
        try:
            from sympy.parsing.latex import parse_latex

            parse_latex("1 + 1")
        except Exception:  # missing runtime: reported by the child with a clear message
            pass


def _sympy_parse(rewritten: str, side_text: str):
    """SymPy's LaTeX parser on the placeholder string.  Runs in the caller's process: the
    caller (:func:`symderiv.claims.checker.parse_claim`) isolates the whole parse in a
    bounded child, so the unevaluated SymPy tree never crosses a process boundary."""
    status, value = _parse_in_child(rewritten)
    if status == "missing":
        raise UnsupportedError(
            "LaTeX claims need SymPy's LaTeX parser: pip install 'antlr4-python3-runtime==4.11.*' "
            f"(or write the claim in the plain-text syntax) [{value}]"
        )
    if status != "ok":
        raise ClaimSyntaxError(f"cannot parse {side_text.strip()[:80]!r}: {value}")
    return value


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
            return Mul(tuple(walk(a, depth + 1) for a in _flat(e, sp.Mul)))
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
        expr = _sympy_parse(rewritten, side_text)
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
    return Claim(tuple(sides), original, "latex", conditions, same_for, tuple(side_texts))


def _dangling(rewritten: str, side_text: str) -> None:
    s = rewritten.strip()
    if re.search(r"(?:[+\-*/^_,]|\\cdot)\s*$", s):
        raise ClaimSyntaxError(f"{side_text[:60]!r} ends with an operator")
    if re.search(r"(?:[+\-*/,]|\\cdot)\s*[)}]", s):
        raise ClaimSyntaxError(f"an operator in {side_text[:60]!r} has no right operand")
    if re.match(r"^\s*(?:[*/^,]|\\cdot)", s) or re.search(r"[({]\s*(?:[*/^,]|\\cdot)", s):
        raise ClaimSyntaxError(f"an operator in {side_text[:60]!r} has no left operand")
