"""NumPy's fancy and in-place indexing in code derivations (CS231n's softmax and ReLU backward passes).

Read as what they mean (nothing is evaluated; lines are parsed with :mod:`ast` and rewritten as the
arithmetic they stand for, before the ordinary plain-text reader sees them):

* ``A[range(N), y]``, ``A[np.arange(N), y]``, ``A[np.arange(A.shape[0]), y]``: each example's
  true-class entry of ``A``, with the labels given as class indices ``y`` - with ``Y`` the one-hot
  label matrix, the column ``np.sum(Y * A, axis=1)`` (:mod:`.plaintext`); an elementwise function
  of it, ``np.log(probs[range(N), y])``, is ``np.sum(Y * np.log(probs), axis=1)`` (the same under
  one-hot labels, and affine in ``Y``).  Any other non-linear use would depend on the labels being
  one-hot, which the batch's general labels are not: it is refused in one line.
* ``np.eye(K)[y]``: the one-hot label matrix ``Y``.
* ``A[range(N), y] -= c`` (``+= c``): ``A -= c * Y``.
* ``B[mask] = 0`` with a ReLU mask ``E <= 0`` (``< 0``, ``> 0``, ``>= 0``): ``B *= (E > 0)`` (the
  complement of the mask; ``1 - (E > 0)`` for ``E > 0``).
* ``A.copy()``: ``A``.

In-place ``-=``, ``+=``, ``*=``, ``/=`` and names assigned again are the stages of
:func:`.layers._staged` (reused: ``x op= e`` is ``x = x op (e)``, the value a later line builds on a
stage).  For a network, a stage is substituted (as text, in brackets) into the lines after it; the
last value of a name is the claim about it, except for a name masked in place (CS231n's ``dhidden``
becomes the gradient by the hidden layer's *pre-activation* when ``dhidden[hidden_layer <= 0] = 0``
zeroes its inactive units): it is only used by the lines after it.

Why soft labels are safe for the in-place form: every side that uses ``Y`` only through ``- c * Y``
(and the loss's gradients, which are affine in ``Y``) is affine in ``Y``; an affine function of ``Y``
on the probability simplex that vanishes at every one-hot label vanishes everywhere, so its verdict
at general labels is its verdict at one-hot labels.
"""
from __future__ import annotations

import ast
import re
from dataclasses import replace

from ..errors import ClaimSyntaxError

__all__ = ["is_true_class_selection", "is_one_hot_rows", "in_place_lines", "first_layer_named", "SOFT_LABELS"]

#: the one-line refusal of a use of ``A[range(N), y]`` whose meaning needs one-hot labels
SOFT_LABELS = ("picks each example's true-class entry, which needs the labels as class indices y (one-hot); "
               "here it is used non-linearly, where the batch's general (soft) labels Y would change its meaning: "
               "write it as np.sum(Y * f(A), axis=1) or use it linearly")
_MODULES = ("np", "numpy")


def _is_arange(node) -> bool:
    """``range(n)``, ``np.arange(n)`` (one argument: the batch size, whatever it is called)."""
    if not isinstance(node, ast.Call) or len(node.args) != 1 or node.keywords:
        return False
    f = node.func
    return (isinstance(f, ast.Name) and f.id == "range") or (
        isinstance(f, ast.Attribute) and f.attr == "arange" and isinstance(f.value, ast.Name) and f.value.id in _MODULES)


def is_true_class_selection(slice_node) -> bool:
    """Is a subscript's slice ``[range(N), y]`` / ``[np.arange(N), y]`` (each row's true-class entry)?"""
    return isinstance(slice_node, ast.Tuple) and len(slice_node.elts) == 2 and _is_arange(slice_node.elts[0]) \
        and isinstance(slice_node.elts[1], ast.Name) and slice_node.elts[1].id == "y"


def is_one_hot_rows(node) -> bool:
    """Is ``node`` ``np.eye(K)[y]`` (the rows of the identity at the labels: the one-hot label matrix)?"""
    return isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Name) and node.slice.id == "y" \
        and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Attribute) \
        and node.value.func.attr in ("eye", "identity") and isinstance(node.value.func.value, ast.Name) \
        and node.value.func.value.id in _MODULES and len(node.value.args) == 1 and not node.value.keywords


class _NoCopy(ast.NodeTransformer):
    """``A.copy()`` is ``A`` (a copy has the same value)."""

    def visit_Call(self, node):
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "copy" and not node.args and not node.keywords:
            return node.func.value
        return node


#: a ReLU mask's complement: the units kept when ``B[mask] = 0`` zeroes the others
_KEPT = {ast.LtE: "({e} > 0)", ast.Lt: "({e} >= 0)", ast.Gt: "(1 - ({e} > 0))", ast.GtE: "(1 - ({e} >= 0))"}


def _rewritten(text: str):
    """One line of code as plain arithmetic (``(text, masked name or "")``), or None when nothing in it is
    fancy or in-place indexing."""
    if "\\" in text or ("[" not in text and ".copy(" not in text):
        return None
    try:
        tree = ast.parse(text.strip(), mode="exec")
    except (SyntaxError, ValueError, RecursionError):
        return None
    if len(tree.body) != 1:
        return None
    stmt = _NoCopy().visit(tree.body[0])
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Subscript) \
            and is_true_class_selection(stmt.target.slice) and isinstance(stmt.target.value, ast.Name):
        if not isinstance(stmt.op, (ast.Add, ast.Sub)):
            raise ClaimSyntaxError(f"{text.strip()[:60]}: only -= and += on A[range(N), y] are read (the true class "
                                   "of each example, with one-hot labels Y: A -= c * Y)")
        sign = "-" if isinstance(stmt.op, ast.Sub) else "+"
        return f"{stmt.target.value.id} {sign}= ({ast.unparse(stmt.value)}) * Y", ""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Subscript) \
            and isinstance(stmt.targets[0].slice, ast.Compare):  # B[mask] = …  (dW1[i,j] = 0 is an ordinary claim)
        target = stmt.targets[0]
        mask = target.slice
        if not isinstance(target.value, ast.Name):
            raise ClaimSyntaxError(f"{text.strip()[:60]}: an in-place assignment to a slice of something other than a name")
        if not (isinstance(stmt.value, ast.Constant) and stmt.value.value == 0 and isinstance(mask, ast.Compare)
                and len(mask.ops) == 1 and type(mask.ops[0]) in _KEPT and isinstance(mask.comparators[0], ast.Constant)
                and mask.comparators[0].value == 0):
            raise ClaimSyntaxError(f"{text.strip()[:60]}: of in-place assignments to entries, B[E <= 0] = 0 (a ReLU mask: "
                                   "B * (E > 0)) and A[range(N), y] -= c are read")
        kept = _KEPT[type(mask.ops[0])].format(e=ast.unparse(mask.left))
        return f"{target.value.id} *= {kept}", target.value.id
    rebuilt = ast.unparse(stmt)
    return (rebuilt, "") if rebuilt != ast.unparse(ast.parse(text.strip(), mode="exec").body[0]) else None


#: CS231n's two-layer code names the first layer's parameters without a number: W, b, dW, db (beside W2, b2)
_UNNUMBERED = re.compile(r"(?<![A-Za-z0-9_.])(d?)(W|b)(?![A-Za-z0-9_])")


def first_layer_named(lines: list, depth: "int | None") -> list:
    """CS231n's ``W``, ``b``, ``dW``, ``db`` as ``W1``, ``b1``, ``dW1``, ``db1`` in code about a two-layer network
    that also writes its second layer's ``W2``/``b2`` and never ``W1``/``b1``: then the first layer is the only one
    they can name.  Anything else (LaTeX, another depth, ``W1`` written too) is returned unchanged."""
    texts = [line.text for line in lines]
    if depth != 2 or any("\\" in t for t in texts):
        return lines
    joined = "\n".join(texts)
    if not re.search(r"\b(?:W2|b2)\b", joined) or re.search(r"\b(?:W1|b1|dW1|db1)\b", joined) \
            or not _UNNUMBERED.search(joined):
        return lines
    return [replace(line, text=_UNNUMBERED.sub(lambda m: f"{m.group(1)}{m.group(2)}1", line.text)) for line in lines]


def in_place_lines(lines: list, depth: "int | None" = None) -> list:
    """The lines of a code derivation about a network with fancy and in-place indexing read as arithmetic and
    the stages of names assigned again substituted into the lines after them (see the module docstring);
    with the network's ``depth``, CS231n's unnumbered first layer (:func:`first_layer_named`).
    Lines without any of it are returned unchanged (``lines`` itself), so other derivations read as before."""
    lines = first_layer_named(lines, depth)
    rewritten, masked = [], set()
    for line in lines:
        new = _rewritten(line.text)
        if new is not None:
            line = replace(line, text=new[0])
            if new[1]:
                masked.add(new[1])
        rewritten.append(line)
    if rewritten == list(lines) and not any(_AUGMENTED.match(l.text) for l in lines if "\\" not in l.text):
        return lines
    from .layers import _STAGE, _staged  # one implementation of stages (x op= e, a name assigned again)

    staged = _staged(rewritten)
    out: list = []
    stages: dict[str, str] = {}  # a stage's name -> its value, substituted in the lines after it
    for line in staged:
        m = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)\s*(.+)$", line.text, re.S) if "\\" not in line.text else None
        head, rhs = (m.group(1), m.group(2)) if m else ("", line.text)
        for name, value in stages.items():
            rhs = re.sub(rf"(?<![A-Za-z0-9_.])\b{re.escape(name)}\b", lambda _m, v=value: f"({v})", rhs)
        if head and (_STAGE in head or head in masked):
            # a stage, or the last value of a name masked in place: used by the lines after it, not a claim
            stages[head] = rhs.strip()
            continue
        out.append(replace(line, text=f"{head} = {rhs.strip()}" if head else rhs))
    if not out:
        raise ClaimSyntaxError("the derivation only computes stages of names; it claims nothing to check")
    return out


_AUGMENTED = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*([-+*/])=\s*(.+)$")
