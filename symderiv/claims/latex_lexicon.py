"""The LaTeX claim syntax, stage 1: the notation's characters, macros and name tables, the tokenizer and
the pre-checks on the raw text (split from :mod:`.latex`, which reads the tokens)."""
from __future__ import annotations

import re

from ..errors import ClaimSyntaxError, SizeLimitError
from .tree import MAX_CHARS, check_depth, describe_char



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
