r"""Whole derivations: several lines, checked link by link (issue 18).

A student's derivation is several lines, not one claim.  This module reads

* LaTeX environments ``align``, ``align*``, ``aligned``, ``eqnarray``, ``gather``, ``split``,
  ``equation`` (the ``&`` alignment marks are dropped, lines end at ``\\``; ``\label``,
  ``\nonumber``, ``\notag`` and ``\tag{…}`` are typography), ``$$ … $$`` and ``\[ … \]``;
* several lines of text (LaTeX or plain), one claim per line;

and turns them into :class:`Line` records.  A line that starts with ``=`` continues the chain
of the line before it (``A &= B \\ &= C`` is the chain ``A = B = C``, whose first wrong link
is named); a line without a relation continues the expression of the line before it.
Connectives in front of a line (``\Rightarrow``, ``\implies``, ``\therefore``, "so",
"hence", "thus", "therefore") and trailing punctuation are dropped.

**Definitions.** ``Let u = W x + b`` (also ``\text{Let } u = …``, ``Define``, ``Set``,
``where``, or ``u := …``, ``u \coloneqq …``) introduces the name ``u`` (a free-variable
letter: ``u``, ``v``, ``s``, ``r``) for the expression on its right; later lines are read with
the expression in its place.  A "Let" line whose left side is a quantity of the network
(``Let z^{(1)} = W^{(1)} x + b^{(1)}``) is a claim like any other, and checked.

Nothing here evaluates text: lines go to the ordinary parsers one by one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ClaimSyntaxError
from .tree import Deriv, Node, children, map_quantities

__all__ = ["Line", "is_derivation", "split_derivation", "substitute", "DEFINABLE", "looks_latex", "writes_code"]

#: signs of NumPy-style code: an underscore there is part of a name (hidden_layer), not a subscript
_CODE = re.compile(r"@|\bnp\.|\.T\b|\.dot\(|\.sum\(|\.mean\(|\.shape\b|[A-Za-z]{2,}_[A-Za-z]{2,}")


#: characters only the LaTeX reader takes: Unicode superscripts (W⁽²⁾ᵀ) and ⊙ ∇ ⊤ (plain text has * and .T)
_LATEX_ONLY = set("⁽⁾⁰¹²³⁴⁵⁶⁷⁸⁹ˡᴸᵏⁱⁿᵀ⊙∇⊤")


def writes_code(text: str) -> bool:
    """Does ``text`` show signs of NumPy-style code (``@``, ``np.``, ``.T``, ``.dot(``, ``hidden_layer``)?"""
    return bool(_CODE.search(text))


def looks_latex(text: str) -> bool:
    """Is ``text`` LaTeX (a backslash, a brace or a dollar; an underscore unless the text reads as code;
    a character only LaTeX is read with, such as a Unicode superscript)?"""
    return any(c in text for c in "\\{}$") or ("_" in text and not _CODE.search(text)) or \
        (not _CODE.search(text) and any(c in _LATEX_ONLY for c in text))

#: letters a derivation may define (``Let u = …``): those both parsers read as free variables
DEFINABLE = frozenset("uvsr")

_ENVIRONMENTS = r"(?:align|aligned|alignat|eqnarray|gather|gathered|split|equation|multline|array)\*?"
_BEGIN = re.compile(r"\\begin\{" + _ENVIRONMENTS + r"\}(?:\{[^{}]*\}|\[[a-z]\])?")
_END = re.compile(r"\\end\{" + _ENVIRONMENTS + r"\}")
_TYPOGRAPHY = re.compile(r"\\(?:label|tag|tag\*)\{[^{}]*\}|\\nonumber\b|\\notag\b")
#: ``\\`` with an optional spacing argument ``\\[2pt]``
_NEWLINE = re.compile(r"\\\\(?:\s*\[[0-9.]+\s*(?:pt|em|ex|mm|cm|in)\])?")
_LEAD = re.compile(
    r"^(?:\\Rightarrow|\\implies|\\Longrightarrow|\\therefore|\\iff|"
    r"\\text\{\s*(?:so|hence|thus|therefore|then)\s*,?\s*\}|(?:so|hence|thus|therefore|then)\b,?)\s*",
    re.I,
)
_LET = re.compile(
    r"^(?:\\text\{\s*(?:let|define|set|where)\s*\}|\\(?:textrm|mathrm)\{\s*(?:let|define|set|where)\s*\}|"
    r"(?:let|define|set|where)\b)\s*",
    re.I,
)
_ASSIGN = re.compile(r"^\s*([A-Za-z])\s*(?::=|\\coloneqq|\\equiv|\\triangleq|\\stackrel\{\\mathrm\{def\}\}\{=\}|=)\s*(.+)$", re.S)
_DELIMS = (("$$", "$$"), (r"\[", r"\]"), ("$", "$"), (r"\(", r"\)"))


@dataclass(frozen=True)
class Line:
    """One claim of a derivation: its 1-based ``number`` (the first source line it came from),
    its ``text``, and for a definition the name it introduces (``defines``; then ``text`` is the
    whole ``u = …`` claim)."""
    number: int
    text: str
    defines: str = ""
    link_rows: tuple = ()  #: the row of each link of the line's chain (rows continuing it with "= …")

    def row_of(self, link: int) -> int:
        """The row (1-based) the ``link``-th (1-based) link of this line's chain ends on."""
        if not self.link_rows:
            return self.number
        return self.link_rows[min(link, len(self.link_rows)) - 1]


def is_derivation(text: str) -> bool:
    """Is ``text`` several lines (an environment, ``\\`` or ``&``, or more than one line)?"""
    body = text.strip()
    return bool(_BEGIN.search(body) or "\\\\" in body or "&" in body or "\n" in body or _LET.match(body)
                or _ASSIGN.match(body) and re.match(r"^\s*[A-Za-z]\s*(?::=|\\coloneqq)", body))


def _strip_delimiters(text: str) -> str:
    """A row without the math delimiters around it (``$$``, ``$``, ``\\[ \\]``, ``\\( \\)``) and the
    punctuation before a closing one (``… = p - y,$$``)."""
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for open_, close in _DELIMS:
            if text.startswith(open_):
                text, changed = text[len(open_):].strip(), True
            if text.endswith(close) and not (close == "$" and text.endswith("\\$")):
                text, changed = text[: len(text) - len(close)].strip(), True
        stripped = re.sub(r"(?:\\[,;!: ]|\s)*[.,;]\s*$", "", text).strip()
        changed = changed or stripped != text
        text = stripped
    return text


def _has_relation(line: str) -> bool:
    return "=" in line or " is " in f" {line} " or "\\neq" in line


def split_derivation(text: str) -> list[Line]:
    """The claims of a derivation, in order (see the module docstring); an empty one is an error."""
    body = text.strip()
    latex = looks_latex(body)
    body = _TYPOGRAPHY.sub(" ", _END.sub("\n", _BEGIN.sub("\n", body)))
    if latex:
        body = _NEWLINE.sub("\n", body).replace("&", " ")
    raw = [p for p in body.split("\n") if _strip_delimiters(p).strip()]
    lines: list[list] = []  # [row, text, defined name, rows of the links]
    for number, piece in enumerate(raw, 1):
        piece = _strip_delimiters(piece)  # and trailing punctuation
        while True:
            m = _LEAD.match(piece)
            if not m or not m.group(0):
                break
            piece = piece[m.end():].strip()
        if not piece:
            continue
        let = _LET.match(piece)
        if let:
            piece = piece[let.end():].strip()
        if piece.startswith("=") and not piece.startswith("==") and lines:
            lines[-1][1] += " " + piece  # continues the chain of the line before
            lines[-1][3] += [number] * max(1, _relations(piece))
            continue
        if not _has_relation(piece) and lines:
            lines[-1][1] += " " + piece  # continues the expression of the line before
            continue
        assign = _ASSIGN.match(piece)
        defines = ""
        if assign and assign.group(1) in DEFINABLE and (let or ":=" in piece or "coloneqq" in piece):
            defines = assign.group(1)
            piece = f"{defines} = {assign.group(2).strip()}"
        elif assign and (let or ":=" in piece or "coloneqq" in piece) and not _quantity_letter(assign.group(1)):
            raise ClaimSyntaxError(
                f"line {number}: a definition may name {', '.join(sorted(DEFINABLE))} (free-variable letters), "
                f"not {assign.group(1)!r}; rename it, e.g. 'Let u = …'"
            )
        elif ":=" in piece or "coloneqq" in piece:
            piece = piece.replace(":=", "=").replace(r"\coloneqq", "=")
        lines.append([number, piece, defines, [number] * max(1, _relations(piece) - 1)])
    if not lines:
        raise ClaimSyntaxError("the derivation has no lines with a claim")
    return [Line(n, t.strip(), d, tuple(rows)) for n, t, d, rows in lines]


def _relations(piece: str) -> int:
    """The number of ``=`` relations in a row (``==``, ``!=``, ``<=``, ``>=`` are not chain links)."""
    return len(re.findall(r"(?<![=!<>:])=(?!=)", piece))


def _quantity_letter(c: str) -> bool:
    """Letters that name quantities of the network (a 'Let' of one of them is a checked claim)."""
    return c in "xyzhapWbXYPZHAL"


def substitute(node: Node, defs: dict) -> Node:
    """``node`` with every free variable named in ``defs`` replaced by its definition's tree."""
    if not defs:
        return node
    for n in _walk(node):
        if isinstance(n, Deriv) and n.wrt.kind == "var" and n.wrt.name in defs:
            raise ClaimSyntaxError(
                f"a derivative by the defined name {n.wrt.name}: differentiate by a quantity of the network"
            )
    return map_quantities(node, lambda q: defs[q.name] if q.kind == "var" and q.name in defs else q)


def _walk(node: Node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(children(n))
