"""Side conditions of a claim (``… \\quad j \\neq t``, ``… for every j except t``), for both syntaxes.

A condition restricts the index assignments a claim is checked at; it is never
dropped: text that is not understood here is a :class:`ClaimSyntaxError` quoting
it, because silently ignoring "except t" would check a different claim.

Understood (words case-insensitive; ``≠``, ``\\neq``, ``\\ne``, ``!=`` alike)::

    j != t           j = t                      (also: when/if/where/with/for j = t)
    for every j except t                        (also: for all/each/any; \\forall j except t)
    is the same for every i [and j]             ("same for every" quantifies the relation)
    clauses joined by  ,  and  \\quad

``for every j`` alone is accepted and changes nothing (every free index is
already universally quantified).
"""
from __future__ import annotations

import re

from ..errors import ClaimSyntaxError
from .tree import TRUE_CLASS

__all__ = ["read_conditions", "batch_convention", "CONDITION_HELP", "START_WORDS"]

CONDITION_HELP = "write e.g. 'j \\neq t', 'when k = t' or 'for every j except t'"
#: words that start the condition part of a claim
START_WORDS = frozenset({"for", "if", "where", "when", "whenever", "with", "except", "forall", "is", "unless", "given"})
_FILLER = frozenset({"for", "all", "every", "each", "any", "forall", "if", "when", "whenever", "where", "with", "and", ","})
_TOKENS = re.compile(r"!=|==|=|,|[A-Za-z]+|\d+|\S")


def _index(word: str, quoted: str) -> str:
    if re.fullmatch(r"\d+", word):
        raise ClaimSyntaxError(f"the condition {quoted!r} compares with a number; conditions relate index letters, e.g. j \\neq t")
    return TRUE_CLASS if word == "y" else word


def read_conditions(words: list[str], quoted: str) -> tuple[tuple, tuple]:
    """``(conditions, same_for)`` from the condition's tokens (see the module docstring).

    ``words`` are plain tokens (words, single index letters, ``=``, ``!=``, ``,``);
    ``quoted`` is the original text, for messages.
    """
    conds: list[tuple] = []
    same_for: list[str] = []
    toks = [w.lower() if len(w) > 1 else w for w in words]
    toks = ["!=" if w in ("≠",) else "=" if w == "==" else w for w in toks]
    n, i = len(toks), 0
    last_var: str | None = None
    same = False
    if not toks:
        raise ClaimSyntaxError(f"the condition after the claim is empty; {CONDITION_HELP}")

    def letter(k: int) -> bool:
        return k < n and len(toks[k]) == 1 and toks[k].isalpha() and toks[k].islower()

    def fail(k: int):
        raise ClaimSyntaxError(f"cannot read {toks[k]!r} in the condition {quoted.strip()[:80]!r}; {CONDITION_HELP}")

    while i < n:
        t = toks[i]
        if toks[i:i + 3] == ["is", "the", "same"]:
            same, i = True, i + 3
            continue
        if t == "same":
            same, i = True, i + 1
            continue
        if (letter(i) or t.isdigit()) and i + 2 < n and toks[i + 1] in ("=", "!=") and (letter(i + 2) or toks[i + 2].isdigit()):
            conds.append((_index(t, quoted), "=" if toks[i + 1] == "=" else "!=", _index(toks[i + 2], quoted)))
            last_var, i = None, i + 3
            continue
        if letter(i):
            if same:
                same_for.append(t)
            last_var, i = t, i + 1
            continue
        if t in ("except", "but"):
            if t == "but" and i + 1 < n and toks[i + 1] == "not":
                i += 1
            if last_var is None or not letter(i + 1):
                raise ClaimSyntaxError(
                    f"'except' in the condition {quoted.strip()[:80]!r} needs an index before and after it, as in 'for every j except t'"
                )
            conds.append((_index(last_var, quoted), "!=", _index(toks[i + 1], quoted)))
            i += 2
            # "except t and k": more excluded indices, as long as no relation follows
            while i + 1 < n and toks[i] in ("and", ",") and letter(i + 1) and not (i + 2 < n and toks[i + 2] in ("=", "!=")):
                conds.append((_index(last_var, quoted), "!=", _index(toks[i + 1], quoted)))
                i += 2
            continue
        if t in _FILLER:
            i += 1
            continue
        fail(i)
    if same and not same_for:
        raise ClaimSyntaxError(f"'is the same for every' in {quoted.strip()[:80]!r} needs the index, as in '… is the same for every i'")
    return tuple(conds), tuple(same_for)


def tokens(text: str) -> list[str]:
    """Plain tokens of a condition's text (words, letters, ``=``, ``!=``, ``,``, other characters)."""
    return _TOKENS.findall(text)


def latex_tokens(text: str) -> list[str]:
    """Plain tokens of a LaTeX condition: ``\\text{…}`` unwrapped, ``\\neq`` as ``!=``, ``\\quad`` as ``,``."""
    text = re.sub(r"\\(?:text|mathrm|textrm|mbox|operatorname|textit|mathit)\s*\{([^{}]*)\}", r" \1 ", text)
    text = re.sub(r"\\(?:neq|ne)(?![A-Za-z])", " != ", text)
    text = re.sub(r"\\forall(?![A-Za-z])", " forall ", text)
    text = re.sub(r"\\q?quad(?![A-Za-z])|;", " , ", text)
    text = re.sub(r"\\[,;:! ]|~|\\left|\\right|[()]", " ", text)
    return tokens(text)


#: "the loss is summed over the batch" and its variants (the default is the batch mean)
_CONVENTION = re.compile(
    r"(?:(?:the\s+)?(?:loss|L|cost)\s+(?:is\s+)?)?(?:(?P<sum>summed|sum|total)|(?P<mean>averaged|average|mean))"
    r"\s+(?:over|across)\s+(?:the\s+)?(?:batch|mini-?batch|examples|training\s+examples|samples)"
    r"|(?P<sum2>sum)\s+convention|(?P<mean2>mean)\s+convention",
    re.I,
)
_CONVENTION_CLAUSE = (
    r"\\(?:text|mathrm|textrm|mbox)\s*\{{[^{{}}]*?{p}[^{{}}]*\}}",  # \text{(loss summed over the batch)}
    r"\([^()]*?{p}[^()]*\)",                                        # (sum over the batch)
    r"[^,;()=]*?{p}[^,;()=]*",                                        # , sum over the batch
)


def batch_convention(text: str) -> tuple[str, str]:
    """``(text without the clause, "sum" | "mean")``: the batch-loss convention a claim states
    ("… (sum over the batch)", "\\quad \\text{loss summed over the examples}"); "mean" when it
    states none.  The clause is removed with its separator (``,``/``;``/``\\quad``), so the
    rest of the claim parses as usual."""
    m = _CONVENTION.search(text)
    if m is None:
        return text, "mean"
    kind = "sum" if (m.group("sum") or m.group("sum2")) else "mean"
    phrase = re.escape(m.group(0))
    for clause in _CONVENTION_CLAUSE:
        found = re.search(r"(?:\s*(?:,|;|\\q?quad(?![A-Za-z])))?\s*" + clause.format(p=phrase), text)
        if found:
            rest = text[:found.start()] + text[found.end():]
            return rest.rstrip(), kind
    return text, kind
