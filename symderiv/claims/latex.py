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

The stages live in :mod:`.latex_lexicon` (tables, tokenizer, pre-checks), this module and
:mod:`.latex_calculus` (the rewriter of stage 2) and :mod:`.latex_walk` (splitting at relations and
conditions, stage 3).  Nothing here calls ``sympify``, ``parse_expr`` or ``eval``, and no third-party parser
is involved (so no ``antlr4-python3-runtime`` pin: symderiv installs beside Hydra).
"""
from __future__ import annotations

import re
from fractions import Fraction

from ..errors import ClaimNameError, ClaimSyntaxError, SizeLimitError, UnsupportedError
from .conditions import CONDITION_HELP, batch_convention
from . import layer_names
from .names import unknown_name
from .tree import MAX_DIGITS, MAX_EXPONENT, MAX_SIDES, TRUE_CLASS, Claim, Q, check_size
from .latex_lexicon import (
    KNOWN_MACROS, _ARITY, _FREE_VARIABLES, _HADAMARD, _HYPOTHESIS, _LAYERED, _LOSS_LETTERS, _NAMED_FUNCS,
    _NORMALIZATION, _PASS, _PER_EXAMPLE, _QUANT_LETTERS, _SYMBOLIC_LAYER, _TRANSPOSE, _Tok, _precheck, _tokenize,
)
from .latex_calculus import _CalculusReader
from .latex_walk import _conditions, _dangling, _grammar_parse, _split, _walk

__all__ = ["parse_latex_claim", "KNOWN_MACROS"]


# ---------------------------------------------------------------- stage 2: recognizing names
class _Rewriter(_CalculusReader):
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
        r"""CS229's hypothesis ``h_\theta(x^{(i)})``, ``h_w(x)``: the network's prediction for that input (never
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
