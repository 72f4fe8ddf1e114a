r"""The arithmetic grammar of a rewritten LaTeX claim: our own parser, no ANTLR, no Lark.

:mod:`.latex` recognizes every name of a claim side and rewrites it into a string made
only of opaque placeholders (``{Q_{7}}``, ``F_{3}(…)``, ``\sum_{k=1}^{{B_{2}}}``), numbers
and arithmetic (``+ - / \cdot ^ \frac \sqrt \exp \log \ln \tanh | ( ) { }``).  This module
parses that string into the *unevaluated* SymPy tree that :func:`.latex_walk._walk` reads back
into the claim tree.  It reproduces the readings of SymPy's ANTLR LaTeX grammar (which
symderiv used before; it needs ``antlr4-python3-runtime==4.11``, a pin that cannot coexist
with Hydra's 4.9): the same precedence, the same implicit products,
the same extent of ``\sum`` and of a function's argument without parentheses, and the
same SymPy node for every construct (verified against recorded ANTLR output in
``tests/test_latex_grammar.py``).  It departs from that grammar only where the grammar
misread or dropped text, and there it refuses or reads what the LaTeX shows:

* the whole string must be read: trailing text (``a | b``) is an error, never dropped;
* a function argument list with a comma (``\exp(a, b)``) is an error (the grammar kept ``a``);
* ``|…|`` bars are paired explicitly: ``\left|``/``\right|`` (``\lvert``/``\rvert`` here) say
  which bar opens and which closes; plain bars that could pair up in two ways
  (``|a| b |c|`` is ``|a|·b·|c|`` or ``|a·|b|·c|``) are an error, not a guess;
* two numbers side by side (``2 3``) are an error (the grammar read ``23``);
* ``\tanh^{0}(x)`` keeps its power (the grammar dropped a zero power);
* the nesting depth is bounded (a :class:`~symderiv.errors.SizeLimitError`, not a crash).

Grammar (tokens separated by spaces; ``nofunc`` is the argument of ``\exp``/``\log``/
``\tanh`` written without parentheses, which stops before the next function):

.. code-block:: text

    expr    := mp (('+' | '-') mp)*                       left-associative
    mp      := unary (('\cdot' | '/') unary)*             left-associative
    unary   := ('+' | '-')* power power*                  juxtaposition: nested Mul, right to left
    power   := comp ('^' (atom | '{' expr '}'))*
    comp    := '(' expr ')' | '[' expr ']' | '{' expr '}' | '|' expr '|'
             | FUNC ['^' script] ('(' expr ')' | mp<nofunc>)        FUNC: \exp \log \ln \tanh
             | '\sqrt' '{' expr '}' | '\sum' '_{' letter '=' expr '}' '^' script mp
             | letter ['_{' digits '}'] ['(' expr (',' expr)* ')'] | digits | '\frac' '{' expr '}' '{' expr '}'

Nothing here evaluates anything: every node is built with ``evaluate=False`` (a unary
minus negates, as the ANTLR converter did, which folds ``-(-a)`` and distributes over a
sum); SymPy never sees text.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from ..errors import ClaimSyntaxError, SizeLimitError, UnsupportedError

__all__ = ["parse_placeholders", "MAX_BARS", "MAX_NESTING"]

#: most ``|`` bars in one side (pairing them is quadratic in their number)
MAX_BARS = 64
#: deepest nesting of brackets, functions, sums and powers while parsing (the claim tree's own
#: limit, :data:`~.tree.MAX_TREE_DEPTH`, is checked afterwards); keeps the recursion bounded
MAX_NESTING = 100

_LEX = re.compile(r"(\\[A-Za-z]+)|(\d+)|([A-Za-z])|(\S)")
_FUNCS = {r"\exp", r"\log", r"\ln", r"\tanh"}
_COMMANDS = _FUNCS | {r"\frac", r"\sqrt", r"\sum", r"\cdot", r"\lvert", r"\rvert"}
_CHARS = set("+-/()[]{}|^_=,")
_CLOSER = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # "cmd", "num", "letter" or "char"
    text: str


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    for m in _LEX.finditer(text):  # whitespace between tokens is skipped by the search
        cmd, num, letter, char = m.groups()
        if cmd is not None:
            if cmd not in _COMMANDS:
                raise ClaimSyntaxError(f"{cmd} is not supported here")
            tok = _Tok("cmd", cmd)
        elif num is not None:
            if toks and toks[-1].kind == "num":
                raise ClaimSyntaxError(f"two numbers side by side ({toks[-1].text} {num}): write one number or a product")
            tok = _Tok("num", num)
        elif letter is not None:
            tok = _Tok("letter", letter)
        else:
            if char not in _CHARS:
                raise ClaimSyntaxError(f"{char!r} is not supported here")
            tok = _Tok("char", char)
        toks.append(tok)
    return toks


# ---------------------------------------------------------------- pairing the | bars
# Between two brackets, a plain bar opens an absolute value where an operand is expected
# (at the start, after an operator or an opening bar) and either opens or closes one after
# an operand.  A backward pass finds which (state, open bars) lead to a complete reading; a
# forward pass then fixes every bar, refusing the text when a bar could do either.
_S, _E = 0, 1  # expecting an operand / after an operand


def _bar_roles(toks: list[_Tok]) -> dict[int, str]:
    """``{token index: "open" | "close"}`` for every bar, or a ClaimSyntaxError."""
    bars = [k for k, t in enumerate(toks) if t.text in ("|", r"\lvert", r"\rvert")]
    if not bars:
        return {}
    if len(bars) > MAX_BARS:
        raise SizeLimitError(f"more than {MAX_BARS} absolute-value bars | in one side")
    match = _matching(toks)
    roles: dict[int, str] = {}
    levels = {-1} | {k for k in match if toks[k].text in _CLOSER}
    for start in sorted(levels):
        end = match[start] if start >= 0 else len(toks)
        items = _level_items(toks, start + 1, end, match)
        if any(kind in ("|", r"\lvert", r"\rvert") for kind, _ in items):
            roles.update(_pair_level(items))
    return roles


def _matching(toks: list[_Tok]) -> dict[int, int]:
    stack: list[int] = []
    match: dict[int, int] = {}
    for k, t in enumerate(toks):
        if t.kind == "char" and t.text in _CLOSER:
            stack.append(k)
        elif t.kind == "char" and t.text in (")", "]", "}"):
            if not stack or _CLOSER[toks[stack[-1]].text] != t.text:
                raise ClaimSyntaxError(f"unbalanced {t.text!r}")
            match[stack.pop()] = k
    if stack:
        raise ClaimSyntaxError(f"unclosed {toks[stack[-1]].text!r}")
    return match


def _level_items(toks: list[_Tok], start: int, end: int, match: dict[int, int]) -> list[tuple[str, int]]:
    """The tokens of one bracket level as (kind, index): a nested group is one ``"G"``; a
    function head (with its superscript) or a sum header is one ``"head"``."""
    items: list[tuple[str, int]] = []
    k = start
    while k < end:
        t = toks[k]
        if t.kind == "char" and t.text in _CLOSER:
            items.append(("G", k))
            k = match[k] + 1
        elif t.text in ("^", "_") and k + 1 < end and toks[k + 1].text == "{":
            items.append(("sup" if t.text == "^" else "sub", k))
            k = match[k + 1] + 1
        elif t.text in _FUNCS or t.text in (r"\sum", r"\sqrt", r"\frac"):
            items.append(("head", k))
            k += 1
            while t.text in _FUNCS | {r"\sum"} and k < end and toks[k].text in ("^", "_"):
                k = match[k + 1] + 1 if k + 1 < end and toks[k + 1].text == "{" else k + 2
        elif t.kind in ("letter", "num"):
            items.append(("atom", k))
            k += 1
        else:
            items.append((t.text, k))
            k += 1
    return items


def _step(kind: str, state: int, depth: int) -> list[tuple[int, int, str]]:
    """The (state, depth, role) after one item, for each reading it allows."""
    if kind in ("+", "-"):
        return [(_S, depth, "")]
    if kind in (r"\cdot", "/"):
        return [(_S, depth, "")] if state == _E else []
    if kind in ("G", "atom"):
        return [(_E, depth, "")]
    if kind == "sub":
        return [(_E, depth, "")] if state == _E else []
    if kind == "sup":
        return [(_E, depth, "")] if state == _E else []
    if kind == "head":
        return [(_S, depth, "")]
    if kind == ",":
        return [(_S, depth, "")] if state == _E and depth == 0 else []
    if kind == r"\lvert":
        return [(_S, depth + 1, "open")]
    if kind == r"\rvert":
        return [(_E, depth - 1, "close")] if state == _E and depth > 0 else []
    if kind == "|":
        out = [(_S, depth + 1, "open")]
        if state == _E and depth > 0:
            out.append((_E, depth - 1, "close"))
        return out
    return []  # anything else: the parser reports it


def _pair_level(items: list[tuple[str, int]]) -> dict[int, str]:
    n = len(items)
    bars = sum(kind in ("|", r"\lvert") for kind, _ in items)
    # alive[k]: the (state, depth) before item k from which the level can end after an operand, all bars closed
    alive: list[set[tuple[int, int]]] = [set() for _ in range(n + 1)]
    alive[n] = {(_E, 0)}
    for k in range(n - 1, -1, -1):
        kind = items[k][0]
        for state in (_S, _E):
            for depth in range(bars + 1):
                if any((s, d) in alive[k + 1] for s, d, _ in _step(kind, state, depth)):
                    alive[k].add((state, depth))
    state, depth = _S, 0
    if (state, depth) not in alive[0]:
        raise ClaimSyntaxError("the absolute-value bars | … | do not pair up")
    roles: dict[int, str] = {}
    for k, (kind, index) in enumerate(items):
        options = [(s, d, role) for s, d, role in _step(kind, state, depth) if (s, d) in alive[k + 1]]
        if len(options) > 1:
            raise ClaimSyntaxError(
                "the bars | … | can be paired in more than one way: write \\left| … \\right| for each absolute value"
            )
        state, depth, role = options[0]
        if role:
            roles[index] = role
    return roles


# ---------------------------------------------------------------- the parser
class _Parser:
    def __init__(self, toks: list[_Tok], roles: dict[int, str], names: Mapping[str, str]):
        self.toks, self.roles, self.names = toks, roles, names
        self.i = 0
        self.nesting = 0

    # -- cursor
    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.toks[j].text if j < len(self.toks) else None

    def take(self) -> str:
        if self.i >= len(self.toks):
            raise ClaimSyntaxError("it ends too early")
        self.i += 1
        return self.toks[self.i - 1].text

    def expect(self, text: str) -> None:
        if self.peek() != text:
            raise ClaimSyntaxError(f"expected {text!r}, found {self.describe()}")
        self.i += 1

    def describe(self) -> str:
        """The next token, in the user's spelling where it is a placeholder."""
        if self.i >= len(self.toks):
            return "the end"
        tok = self.toks[self.i]
        if tok.kind == "letter" and self.peek(1) == "_" and self.peek(2) == "{" and self.i + 3 < len(self.toks):
            name = f"{tok.text}_{{{int(self.toks[self.i + 3].text)}}}" if self.toks[self.i + 3].kind == "num" else ""
            if name in self.names:
                return repr(self.names[name])
        return repr(tok.text)

    def is_bar(self, role: str) -> bool:
        tok = self.peek()
        if tok == "|":
            return self.roles.get(self.i) == role
        return tok == (r"\lvert" if role == "open" else r"\rvert")

    def is_call(self) -> bool:
        """A letter (with a placeholder subscript) followed by ``(``: a function application."""
        if self.i < len(self.toks) and self.toks[self.i].kind == "letter":
            return self.peek(1) == "(" or (self.peek(1) == "_" and self.peek(5) == "(")
        return False

    # -- grammar
    def parse(self) -> sp.Basic:
        if not self.toks:
            raise ClaimSyntaxError("nothing to read")
        value = self.expr()
        if self.i != len(self.toks):
            raise ClaimSyntaxError(f"unexpected {self.describe()}")
        return value

    def expr(self) -> sp.Basic:
        left = self.mp(nofunc=False)
        while self.peek() in ("+", "-"):
            op = self.take()
            right = self.mp(nofunc=False)
            if op == "+":
                left = sp.Add(left, right, evaluate=False)
            elif getattr(right, "is_Atom", False):  # as SymPy's ANTLR converter wrote a difference
                left = sp.Add(left, -1 * right, evaluate=False)
            else:
                left = sp.Add(left, sp.Mul(-1, right, evaluate=False), evaluate=False)
        return left

    def mp(self, nofunc: bool) -> sp.Basic:
        left = self.unary(nofunc)
        while self.peek() in (r"\cdot", "/"):
            op = self.take()
            right = self.unary(nofunc)
            if op == r"\cdot":
                left = sp.Mul(left, right, evaluate=False)
            else:
                left = sp.Mul(left, sp.Pow(right, -1, evaluate=False), evaluate=False)
        return left

    def starts_factor(self, nofunc: bool) -> bool:
        """Does the next token start another factor of an implicit product?  In a function's
        argument without parentheses, a function (``\\tanh a \\exp b``) ends the argument."""
        tok = self.peek()
        if tok is None:
            return False
        if tok in ("(", "[", "{", r"\lvert", r"\frac"):
            return True
        if tok == "|":
            return self.is_bar("open")
        if tok in _FUNCS or tok in (r"\sqrt", r"\sum"):
            return not nofunc
        kind = self.toks[self.i].kind
        if kind == "letter":
            return not (nofunc and self.is_call())
        return kind == "num"

    def unary(self, nofunc: bool) -> sp.Basic:
        signs: list[str] = []
        while self.peek() in ("+", "-"):  # iteratively: 1500 unary minuses are no deep recursion
            signs.append(self.take())
        factors = [self.power(func=True)]  # the first factor may be a function even in an argument
        while self.starts_factor(nofunc):
            factors.append(self.power(func=not nofunc))
        value = factors[-1]
        for factor in reversed(factors[:-1]):
            value = sp.Mul(factor, value, evaluate=False)
        for sign in reversed(signs):
            if sign == "-":
                value = -value
        return value

    def power(self, func: bool) -> sp.Basic:
        base = self.comp(func)
        while self.peek() == "^":
            self.take()
            base = sp.Pow(base, self.script(), evaluate=False)
            if self.peek() == "_":
                raise ClaimSyntaxError("a subscript after a power")
        return base

    def script(self) -> sp.Basic:
        """A superscript (or a sum's upper bound): ``{expr}`` or one atom."""
        if self.peek() == "{":
            return self.group()
        if self.i < len(self.toks) and (self.toks[self.i].kind in ("num", "letter") or self.peek() == r"\frac"):
            return self.comp(func=False)
        raise ClaimSyntaxError(f"expected a superscript, found {self.describe()}")

    def comp(self, func: bool) -> sp.Basic:
        self.nesting += 1
        try:
            if self.nesting > MAX_NESTING:
                raise SizeLimitError(f"the claim is nested more than {MAX_NESTING} brackets and operations deep")
            return self._comp(func)
        finally:
            self.nesting -= 1

    def _comp(self, func: bool) -> sp.Basic:
        tok = self.peek()
        if tok in ("(", "[", "{"):
            return self.group()
        if tok in ("|", r"\lvert"):
            if not self.is_bar("open"):
                raise ClaimSyntaxError("a closing bar | where a value is expected")
            self.take()
            inner = self.expr()
            if not self.is_bar("close"):
                raise ClaimSyntaxError(f"expected a closing bar |, found {self.describe()}")
            self.take()
            return sp.Abs(inner, evaluate=False)
        if tok in _FUNCS and func:
            return self.function()
        if tok == r"\sqrt" and func:
            self.take()
            if self.peek() != "{":
                raise ClaimSyntaxError("write a square root as \\sqrt{…}")
            return sp.sqrt(self.group(), evaluate=False)
        if tok == r"\sum" and func:
            return self.summation()
        if tok == r"\frac":
            self.take()
            top, bottom = self.brace(r"\frac"), self.brace(r"\frac")
            inverse = sp.Pow(bottom, -1, evaluate=False)
            return inverse if top == 1 else sp.Mul(top, inverse, evaluate=False)
        if tok is not None and self.toks[self.i].kind == "num":
            return sp.Integer(int(self.take()))
        if tok is not None and self.toks[self.i].kind == "letter":
            return self.name(func)
        raise ClaimSyntaxError(f"unexpected {self.describe()}")

    def group(self) -> sp.Basic:
        closer = _CLOSER[self.take()]
        inner = self.expr()
        self.expect(closer)
        return inner

    def brace(self, what: str) -> sp.Basic:
        if self.peek() != "{":
            raise ClaimSyntaxError(f"{what} needs a {{…}} argument, found {self.describe()}")
        return self.group()

    def name(self, func: bool) -> sp.Basic:
        """A placeholder ``Q_{7}`` (a Symbol), ``F_{3}(…)`` (an undefined function applied) or a
        summation index."""
        name = self.take()
        if self.peek() == "_":
            self.take()
            self.expect("{")
            if self.i >= len(self.toks) or self.toks[self.i].kind != "num":
                raise ClaimSyntaxError(f"unexpected subscript {self.describe()}")
            name += f"_{{{int(self.take())}}}"
            self.expect("}")
        if self.peek() == "(" and func:
            self.take()
            args = [self.expr()]
            while self.peek() == ",":
                self.take()
                args.append(self.expr())
            self.expect(")")
            return sp.Function(name)(*args)
        return sp.Symbol(name)

    def function(self) -> sp.Basic:
        r"""``\exp``, ``\log``/``\ln`` (natural), ``\tanh``, with an optional power
        (``\tanh^{2}(u)``), applied to ``(…)`` or to the product that follows."""
        head = self.take()
        power = None
        if self.peek() == "^":
            self.take()
            power = self.script()
        if self.peek() == "(":
            self.take()
            arg = self.expr()
            if self.peek() == ",":
                raise ClaimSyntaxError(f"{head} takes one argument")
            self.expect(")")
        else:
            arg = self.mp(nofunc=True)
        if head == r"\tanh" and power == -1:
            raise UnsupportedError("\\tanh^{-1} (the inverse hyperbolic tangent) is not supported in a claim")
        value: sp.Basic
        if head == r"\exp":
            value = sp.exp(arg, evaluate=False)
        elif head == r"\tanh":
            value = sp.tanh(arg, evaluate=False)
        else:
            value = sp.log(arg, sp.E, evaluate=False)
        return value if power is None else sp.Pow(value, power, evaluate=False)

    def summation(self) -> sp.Basic:
        r"""``\sum_{k=1}^{…} body``: the body is the product that follows (``mp``)."""
        self.take()
        lower = upper = None
        for _ in range(2):
            if self.peek() == "_" and lower is None:
                self.take()
                self.expect("{")
                var = self.expr()
                self.expect("=")
                start = self.expr()
                self.expect("}")
                lower = (var, start)
            elif self.peek() == "^" and upper is None:
                self.take()
                upper = self.script()
        if lower is None or upper is None:
            raise ClaimSyntaxError("a sum needs its range, as in \\sum_{k=1}^{K}")
        body = self.mp(nofunc=False)
        return sp.Sum(body, (lower[0], lower[1], upper))


def parse_placeholders(text: str, names: Mapping[str, str] | None = None) -> sp.Basic:
    r"""The unevaluated SymPy tree of a rewritten claim side (see the module docstring).

    ``names`` maps placeholder names (``Q_{7}``) to the user's spelling, for messages.
    Raises :class:`~symderiv.errors.ClaimSyntaxError` (unreadable text),
    :class:`~symderiv.errors.SizeLimitError` (too deep, too many bars) or
    :class:`~symderiv.errors.UnsupportedError`.
    """
    toks = _lex(text)
    return _Parser(toks, _bar_roles(toks), names or {}).parse()
