"""The LaTeX claim syntax, stage 2 (part): functions, softmax, ones, brackets, indicators, gradients (``\\frac{\\partial L}{\\partial W}``,
``\\nabla_W L``, ``\\partial L / \\partial b``) and sums, as methods the rewriter of :mod:`.latex` inherits
(split from it: one job per module)."""
from __future__ import annotations

import re
from fractions import Fraction
from typing import TYPE_CHECKING

from ..errors import ClaimNameError, ClaimSyntaxError, UnsupportedError
from . import layer_names
from .names import unknown_name
from .tree import TRUE_CLASS, Add, Call, Mul, Node, Num, Q

from .latex_lexicon import _FREE_VARIABLES, _NORMALIZATION, _QUANT_LETTERS, _Tok


class _CalculusReader:
    """The rewriter's readers of functions, brackets, indicators, gradients and sums (mixed into ``latex._Rewriter``,
    whose token cursor and placeholder records they use)."""

    if TYPE_CHECKING:  # what the rewriter (``latex._Rewriter``) provides, declared for the type checker only
        records: dict
        counter: list
        text: str
        toks: list[_Tok]
        i: int
        _primes: int
        _transposed: bool
        _target_transposed: bool

        def __init__(self, records: dict, counter: list) -> None: ...
        def _new(self, prefix: str, value: object) -> str: ...
        def _source(self, start: int, end: int) -> str: ...
        def sub(self, toks: list[_Tok]) -> str: ...
        def peek(self, k: int = 0) -> _Tok | None: ...
        def peek_text(self, k: int = 0) -> str | None: ...
        def peek_group(self, k: int) -> list[_Tok]: ...
        def take(self) -> _Tok: ...
        def group(self) -> list[_Tok]: ...
        def indices(self, grp: list[_Tok], arity: int, tok: _Tok) -> list: ...
        def read_quantity(self, kind: str, tok: _Tok) -> Q: ...
        def transposed(self) -> str: ...

    def _iverson(self, inner: list) -> str | None:
        r"""A bracket holding one comparison with 0 from above (Iverson's ``(z > 0)``, ``[Z^{[1]} \geq 0]``,
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

    def function(self, func: str, tok: _Tok, layer: int | str | None = None) -> str:
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
        inner = type(self)(self.records, self.counter)  # a rewriter of the same kind, on the denominator
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
