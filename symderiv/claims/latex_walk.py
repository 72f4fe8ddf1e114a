"""The LaTeX claim syntax, stage 3: splitting a claim at its relations and side conditions, the grammar of
the placeholder string and the allow-list walk back to the claim tree (split from :mod:`.latex`)."""
from __future__ import annotations

import re
from fractions import Fraction

from ..errors import ClaimNameError, ClaimSyntaxError, SizeLimitError, UnsupportedError
from .conditions import CONDITION_HELP, START_WORDS, latex_tokens, read_conditions
from .latex_grammar import parse_placeholders
from .names import unknown_name
from .tree import MAX_TREE_DEPTH, Add, Call, Const, Deriv, Mul, Num, Op, Pow, Sum, fold

from .latex_lexicon import _Tok


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


def _dangling(rewritten: str, side_text: str) -> None:
    s = rewritten.strip()
    if re.search(r"(?:[+\-*/^_,]|\\cdot)\s*$", s):
        raise ClaimSyntaxError(f"{side_text[:60]!r} ends with an operator")
    if re.search(r"(?:[+\-*/,]|\\cdot)\s*[)}]", s):
        raise ClaimSyntaxError(f"an operator in {side_text[:60]!r} has no right operand")
    if re.match(r"^\s*(?:[*/^,]|\\cdot)", s) or re.search(r"[({]\s*(?:[*/^,]|\\cdot)", s):
        raise ClaimSyntaxError(f"an operator in {side_text[:60]!r} has no left operand")
