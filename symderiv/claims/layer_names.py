r"""The names of a standalone layer's quantities, read by the ordinary parsers through one hook.

When a claim is checked against a layer (:mod:`.layers`: BatchNorm, LayerNorm, softmax,
attention) rather than an MLP, the LaTeX and plain-text parsers ask :data:`ACTIVE` (a
:class:`Vocabulary`, set only inside the bounded parse child of a layer check) first about
every letter, macro, name and ∂-denominator.  What it reads becomes ``Q("layer", name=canon,
indices=…)`` (a quantity of the layer) or ``Q("grad", wrt=Q("layer", …))`` (the gradient of the
loss by it); what it leaves (``L``, ``\ell``, ``e``, functions, indices, free letters ``u v s r``)
is read as usual.  A name the layer does not have is a one-line error listing the layer's names.

Nothing here evaluates text; the hooks only recognise tokens, as the parsers do.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ClaimNameError, ClaimSyntaxError
from .tree import Q

__all__ = ["Vocabulary", "VOCABULARIES", "ACTIVE", "activate", "latex_of", "layer_hint"]

#: the vocabulary the parsers consult (None: an MLP claim, the parsers' own names only)
ACTIVE: "Vocabulary | None" = None

_TRANSPOSE = {"T", r"\top", r"\intercal", r"\mathsf{T}", r"\mathrm{T}", r"\rm{T}"}
#: names every layer leaves to the parsers: the loss, Euler's e, free letters of definitions
_PASS_PLAIN = {"L", "ell", "loss", "e", "u", "v", "s", "r"}
_PASS_LETTERS = {"L", "C", "J", "E", "e", "u", "v", "s", "r"}


@dataclass(frozen=True)
class Vocabulary:
    r"""One layer's names.

    * ``plain``: plain-text name -> canonical quantity (``x_hat`` -> ``xhat``);
    * ``letters``: LaTeX letter -> canonical quantity (``x`` -> ``x``, ``N`` -> ``N``);
    * ``macros``: LaTeX macro -> canonical quantity (``\gamma`` -> ``gamma``; ``\hat`` and
      ``\sigma^2`` are read by :meth:`latex_token` itself);
    * ``upstream``: the canonical name of the layer's output (its gradient is the free upstream
      gradient), and ``upstream_plain`` the code names of that gradient (``dout``, ``dy``);
    * ``sizes``: canonical names that are numbers (``N``, ``D``, ``d``);
    * ``delta_is_upstream``: ``\delta_i`` is the upstream gradient (else the Kronecker delta).
    """
    layer: str
    plain: dict
    letters: dict
    macros: dict
    upstream: str
    upstream_plain: frozenset
    sizes: frozenset
    described: str
    delta_is_upstream: bool = False
    hats: dict = field(default_factory=dict)  #: \hat{letter} -> canonical quantity
    defined: frozenset = frozenset()  #: names a derivation's code defined (read as free variables)

    # -- plain text
    def plain_name(self, name: str, indices: tuple):
        """The node of a plain-text name, or None to leave it to the parser (the loss, e, u v s r)."""
        if name in self.defined:
            return Q("var", src=name, name=name)
        if name.startswith("GRAD_"):  # dL/dgamma
            return self._grad(self._plain_canon(name[5:], f"dL/d{name[5:]}"), indices, f"dL/d{name[5:]}")
        if name in self.upstream_plain:
            return self._grad(self.upstream, indices, name)
        if name in self.plain:
            return self._quantity(self.plain[name], indices, name)
        if name.startswith("d") and name[1:] in self.plain and self.plain[name[1:]] not in self.sizes:
            return self._grad(self.plain[name[1:]], indices, name)
        if name in _PASS_PLAIN or re.fullmatch(r"[a-z]", name):
            return None
        raise self.unknown(name)

    def knows(self, name: str) -> bool:
        """Is ``name`` a plain-text name of the layer (a quantity, a size, or a gradient)?"""
        return (name in self.plain or name in self.upstream_plain or name in _PASS_PLAIN
                or name.startswith("d") and name[1:] in self.plain)

    def _plain_canon(self, name: str, src: str) -> str:
        canon = self.plain.get(name)
        if canon is None or canon in self.sizes:
            raise self.unknown(src)
        return canon

    # -- LaTeX
    def latex_token(self, rw, tok):
        """The placeholder of a LaTeX letter or macro (``rw`` is the parser's rewriter, ``tok`` just taken),
        or None to leave it to the parser."""
        c = tok.text
        if tok.kind == "letter":
            nxt = rw.peek()
            if c == "d" and nxt is not None and nxt.pos == tok.pos + 1 and self._starts_quantity(rw, nxt):
                head = rw.take()  # dx, dY, d\gamma, d\hat{x}: the gradient of the loss by it
                q, transposed = self.read(rw, head)
                if q.name in self.sizes:
                    raise ClaimNameError(f"d{head.text} at position {tok.pos}: {head.text} is a size, not a quantity")
                return self._placed(rw, Q("grad", None, (), q, "d" + q.src), transposed)
            if c in self.letters:
                q, transposed = self.read(rw, tok)
                return self._placed(rw, q, transposed)
            if c in self.defined:  # FlashAttention's D_i = \sum_j P_{ij} dP_{ij}, defined on a line before
                indices: tuple = ()
                if rw.peek_text() == "_":
                    rw.take()
                    indices = tuple(rw.indices(rw.group(), 2, tok))
                return self._placed(rw, Q("var", None, indices, None, c, name=c), False)
            if c in _PASS_LETTERS or c.islower():
                return None  # the loss, e, a free letter, an index (the parser says where it may go)
            raise self.unknown(c)
        if c in (r"\hat", r"\widehat", r"\mu", r"\sigma", r"\delta") or c in self.macros:
            if c == r"\delta" and not self.delta_is_upstream:
                return None
            if c == r"\sigma" and rw._applied():
                return None  # \sigma(u): the logistic function
            q, transposed = self.read(rw, tok)
            return self._placed(rw, q, transposed)
        if c in (r"\mathrm", r"\operatorname") and "".join(t.text for t in rw.peek_group(0)) == "rowsum":
            rw.group()
            return rw.function("rowsum", type(tok)("cmd", r"\mathrm{rowsum}", tok.pos))
        return None

    def size(self, tok):
        """A LaTeX letter naming one of the layer's sizes (a summation bound such as ``\\sum_{i=1}^D``), or None."""
        canon = self.letters.get(tok.text) if tok.kind == "letter" else None
        return Q("layer", None, (), None, tok.text, name=canon) if canon is not None and canon in self.sizes else None

    def latex_target(self, rw, toks: list, tok):
        """The quantity of a ∂-denominator (``\\partial \\hat{x}_i``, ``\\partial \\sigma_B^2``), or None."""
        head = toks[0]
        if not (head.kind == "letter" and head.text in self.letters or head.text in self.macros
                or head.text in (r"\hat", r"\widehat", r"\mu", r"\sigma")):
            if head.kind == "letter" and head.text not in _PASS_LETTERS:
                raise self.unknown(head.text)
            return None
        inner = type(rw)(rw.records, rw.counter)
        inner.text = rw.text
        inner.toks, inner.i = toks, 1
        q, transposed = self.read(inner, head)
        if inner.i != len(toks):
            raise ClaimSyntaxError(f"unexpected {toks[inner.i].text!r} at position {toks[inner.i].pos} in the "
                                   "derivative's denominator")
        if q.name in self.sizes:
            raise ClaimNameError(f"∂{head.text} at position {head.pos}: {head.text} is a size, not a quantity")
        rw._target_transposed = transposed
        return q

    def read(self, rw, tok):
        """A quantity's canonical name, indices and transposition as written from ``tok`` on:
        ``x_i``, ``x_{ij}``, ``\\hat{x}_i``, ``\\mu_B``, ``\\sigma_B^2``, ``\\sigma^2_j``, ``K^\\top``."""
        c = tok.text
        src_start = tok.pos
        if c in (r"\hat", r"\widehat"):
            inner = "".join(t.text for t in rw.group())
            canon = self.hats.get(inner.replace(r"\mathbf", "").strip("{}"))
            if canon is None:
                known = ", ".join(rf"\hat{{{k}}}" for k in self.hats) or "none"
                raise ClaimNameError(f"\\hat{{{inner}}} at position {tok.pos} is not a quantity of {self.described} "
                                     f"(its hats: {known})")
        elif c == r"\sigma":
            canon = "var"  # \sigma alone is refused below unless squared
        elif c == r"\delta":
            canon = self.upstream
        elif tok.kind == "letter":
            canon = self.letters[c]
        else:
            canon = self.macros.get(c)
            if canon is None:
                raise self.unknown(c)
        indices: tuple = ()
        transposed = squared = False
        while rw.peek_text() in ("_", "^"):
            op = rw.peek_text()
            grp = rw.peek_group(1)
            text = "".join(t.text for t in grp)
            if op == "_" and not indices:
                rw.take()
                rw.group()
                if text == "B" and canon in ("mu", "var"):
                    continue  # \mu_B, \sigma_B^2: B names the mini-batch, not an index
                if text in ("k",) and canon in self.sizes:
                    continue  # d_k: the key dimension
                indices = tuple(rw.indices(grp, 2, tok))
                continue
            if op == "^" and text in _TRANSPOSE and not transposed:
                rw.take()
                rw.group()
                transposed = True
                continue
            if op == "^" and text == "2" and c == r"\sigma" and not squared:
                rw.take()
                rw.group()
                squared = True
                continue
            break
        if c == r"\sigma" and not squared:
            raise ClaimNameError(
                f"\\sigma at position {tok.pos} in a {self.layer} claim: write \\sigma^2 (the variance) or "
                "\\sqrt{\\sigma^2 + \\epsilon}; \\sigma(u) is the logistic function")
        if canon in self.sizes and indices:
            raise ClaimNameError(f"{c} at position {tok.pos} is a size of the {self.layer} layer and takes no index")
        end = rw.toks[rw.i - 1].pos + len(rw.toks[rw.i - 1].text)
        src = rw.text[src_start:end] if rw.text else c
        if canon == self.upstream and c == r"\delta":
            return Q("grad", None, (), Q("layer", None, indices, None, src, name=self.upstream), src), transposed
        return Q("layer", None, indices, None, src, name=canon), transposed

    def _starts_quantity(self, rw, nxt) -> bool:
        if nxt.kind == "letter":
            return nxt.text in self.letters and self.letters[nxt.text] not in self.sizes
        return nxt.text in self.macros or nxt.text in (r"\hat", r"\widehat", r"\mu", r"\sigma")

    @staticmethod
    def _placed(rw, q, transposed: bool) -> str:
        out = "{" + rw._new("Q", q) + "}"
        return out + rw.transposed() if transposed else out

    # -- shared
    def _quantity(self, canon: str, indices: tuple, src: str) -> Q:
        if canon in self.sizes and indices:
            raise ClaimNameError(f"{src} is a size of the {self.layer} layer and takes no index")
        return Q("layer", None, tuple(indices), None, src, name=canon)

    def _grad(self, canon: str, indices: tuple, src: str) -> Q:
        return Q("grad", None, (), Q("layer", None, tuple(indices), None, src, name=canon), src)

    def unknown(self, name: str) -> ClaimNameError:
        shown = name if len(name) <= 40 else name[:37] + "…"
        return ClaimNameError(f"unknown name {shown!r} in a {self.layer} claim; its names: {self.described}")


def activate(vocabulary: "Vocabulary | None") -> None:
    """Make ``vocabulary`` the one the parsers consult (in the bounded parse child of a layer check)."""
    global ACTIVE
    ACTIVE = vocabulary


#: the LaTeX of the canonical quantities (for verdicts)
_LATEX = {"xhat": r"\hat{x}", "mu": r"\mu", "var": r"\sigma^2", "gamma": r"\gamma", "beta": r"\beta",
          "eps": r"\epsilon", "std": r"\sqrt{\sigma^2 + \epsilon}", "istd": r"(\sigma^2 + \epsilon)^{-1/2}",
          "xmu": r"(x - \mu)"}


def latex_of(q: Q) -> str:
    """The LaTeX of a layer quantity ``Q("layer", …)``."""
    base = _LATEX.get(q.name, q.name)
    sub = ",".join(str(i) for i in q.indices)
    if sub and base.startswith("("):
        return f"{base}_{{{sub}}}"
    if sub and base.endswith("^2"):
        return f"{base[:-2]}_{{{sub}}}^2"
    return f"{base}_{{{sub}}}" if sub else base


#: names (lower-cased, letters only) that belong to a layer's backward pass, not to an MLP's
_NORM_KEYS = frozenset({"xhat", "dxhat", "xnorm", "mu", "mub", "dmu", "var", "dvar", "samplemean", "samplevar", "gamma",
                        "dgamma", "beta", "dbeta", "dout", "eps", "epsilon", "ivar", "istd", "invstd", "xmu", "sqrtvar",
                        "dsqrtvar", "divar", "dxmu", "sigma", "dbias", "dweight", "dnorm", "rstd", "xshift"})
_ATTENTION_KEYS = frozenset({"dq", "dk", "dv", "ds", "do", "dp", "attn", "dattn", "dscores", "scores"})


def layer_hint(key: str) -> "str | None":
    """For an MLP claim's unknown name (``key``: lower-cased letters), the layer readings it belongs to and how
    to pick one, or None."""
    if key in _NORM_KEYS:
        return ("a BatchNorm or LayerNorm quantity; pick the layer: --layer batchnorm:3x2 or --layer layernorm:3x2 "
                "(Python: layers.batchnorm(3, 2) or layers.layernorm(3, 2) in place of the network)")
    if key in _ATTENTION_KEYS:
        return "an attention quantity; pick the layer: --layer attention:3x2 (Python: layers.attention(3, 2))"
    return None


def _code_names(table: dict) -> dict:
    return {name: canon for canon, names in table.items() for name in names}


_NORM_PLAIN = _code_names({
    "x": ("x", "X", "inp", "inputs"), "y": ("y", "Y", "out", "output"),
    "xhat": ("x_hat", "xhat", "X_hat", "Xhat", "x_norm", "xnorm", "x_normalized", "xn", "normalized", "norm"),
    "mu": ("mu", "mean", "sample_mean", "batch_mean", "mu_B", "mu_b", "mean_x"),
    "var": ("var", "variance", "sample_var", "batch_var", "sigma2", "sigma_sq", "sigma_2", "sigma_squared", "var_x"),
    "std": ("std", "sqrtvar", "sqrt_var", "stddev"), "istd": ("ivar", "istd", "inv_std", "invstd", "rstd", "inv_var_sqrt"),
    "xmu": ("xmu", "xc", "x_centered", "xcentered", "x_mu", "x_minus_mu", "xshift"),
    # llm.c's LayerNorm: w, b (weight, bias) are γ, β; C the channels (features)
    "gamma": ("gamma", "weight", "scale", "w"), "beta": ("beta", "shift", "bias", "b"), "eps": ("eps", "epsilon"),
    "N": ("N", "m", "batch_size"), "D": ("D", "H", "C", "num_features", "features"),
})
_NORM_LETTERS = {"x": "x", "X": "x", "y": "y", "Y": "y", "N": "N", "m": "N", "D": "D", "H": "D"}
_NORM_MACROS = {r"\gamma": "gamma", r"\beta": "beta", r"\epsilon": "eps", r"\varepsilon": "eps", r"\mu": "mu"}
_NORM_WORDS = ("x, y (the output) or X, Y; \\hat{x} / x_hat, \\mu / mu / mean, \\sigma^2 / var, \\gamma / gamma, "
               "\\beta / beta, \\epsilon / eps, std = sqrt(var + eps), ivar = 1/std, xmu = x - mu, N (m) examples, "
               "D features; gradients \\frac{\\partial L}{\\partial \\hat{x}_i}, dL/dgamma, dx, dgamma, dbeta, dx_hat, "
               "dvar, dmu; the upstream gradient \\frac{\\partial L}{\\partial y}, dy, dout, \\delta")


def _norm(layer: str) -> Vocabulary:
    return Vocabulary(layer, _NORM_PLAIN, _NORM_LETTERS, _NORM_MACROS, "y",
                      frozenset({"dout", "dy", "dY", "delta", "grad_out", "dL_dy", "upstream"}), frozenset({"N", "D"}),
                      f"{layer}: " + _NORM_WORDS, delta_is_upstream=True, hats={"x": "xhat", "X": "xhat"})


#: the vocabularies of the layers (:mod:`.layers` names them)
VOCABULARIES = {
    "batchnorm": _norm("batchnorm"),
    "layernorm": _norm("layernorm"),
    "softmax": Vocabulary(
        "softmax", _code_names({"z": ("z", "x", "logits", "scores"), "p": ("p", "y", "probs", "out", "softmax_out"),
                                "K": ("K", "C", "num_classes"), "N": ("N", "batch_size")}),
        {"z": "z", "x": "z", "p": "p", "y": "p", "s": "p", "K": "K", "N": "N"}, {}, "p",
        frozenset({"dout", "dp", "dy", "grad_out", "upstream"}), frozenset({"K", "N"}),
        "softmax: z (the input; also x), p = softmax(z) (the output; also y, \\hat{y}), K entries (on a batch: N×K, "
        "softmax(x, axis=1) row by row, N examples); gradients dz, "
        "dL/dz, \\frac{\\partial L}{\\partial z_i}; the upstream gradient dp, dout, \\frac{\\partial L}{\\partial p}; "
        "the Jacobian \\frac{\\partial p_i}{\\partial z_j} (p also s: s_i(\\delta_{ij} - s_j)); \\delta_{ij} is the Kronecker delta",
        hats={"y": "p"}),
    "attention": Vocabulary(
        "attention", _code_names({"Q": ("Q",), "K": ("K",), "V": ("V",), "S": ("S", "scores", "logits"),
                                  "P": ("P", "A", "probs", "attn", "weights"), "O": ("O", "out", "output", "Y"),
                                  "d": ("d", "d_k", "dk_dim", "dim", "head_dim"), "T": ("T", "N", "tokens"),
                                  "tau": ("tau", "scale", "softmax_scale")}),
        {"Q": "Q", "K": "K", "V": "V", "S": "S", "P": "P", "A": "P", "O": "O", "Y": "O", "d": "d", "N": "T", "T": "T"},
        {r"\tau": "tau"}, "O", frozenset({"dout", "dO", "dY", "dy", "grad_out", "upstream"}), frozenset({"d", "T"}),
        "attention: Q, K, V (T×d), S = τ QK^T with τ = 1/√d (\\tau, scale; the scores), P = softmax(S) row-wise (also A, probs), O = PV (also Y, out), "
        "d (or d_k) the dimension, T (or N) the tokens; gradients dQ, dK, dV, dS, dP, \\frac{\\partial L}{\\partial Q}; "
        "the upstream gradient dO, dout, \\frac{\\partial L}{\\partial O}; rowsum(·) or np.sum(·, axis=1, keepdims=True)"),
}
