"""Families of networks with a symbolic number ``L`` of identical blocks.

* :func:`mlp_family` - ``input (n_in) → L − 1 hidden layers of width n → output (n_out)``: the
  networks ``mlp([n_in, n, …, n, n_out])`` of depth ``L`` (``L`` layers with parameters, as
  :attr:`symderiv.network.Network.depth`; parameters ``W1, b1, …, WL, bL``), for every ``L ≥ 2``;
  the width is an integer or a symbol (``"n"``), one activation for every hidden layer;
* :func:`rezero_family` - ``x_l = x_{l−1} + α_l · F_l(x_{l−1})`` for ``l = 1 … L`` with
  ``F_l(u) = W2_l f(W1_l u + b1_l) + b2_l`` (``d × d`` weights), ``α_l = 0`` and generic branch
  weights, the output ``x_L`` under a loss: a stack of ``L`` ReZero blocks, every ``L ≥ 1``.

A family's init is the same for every block, which is what makes one induction cover every
``L`` (:mod:`symderiv.depth.induction`).  MLP inits are given per role (:data:`ROLES`): ``first``
(``W1, b1``), ``hidden`` (``W_l, b_l`` for ``2 ≤ l ≤ L − 1``) and ``last`` (``W_L, b_L``), each
``zeros()``, ``constant(v)`` or ``generic()``; a bare spec applies to every role.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Mapping

import sympy as sp

from ..activations import Activation, activation as _activation
from ..errors import InitError, NetworkError, SizeLimitError
from ..init import Constant, Generic, InitSpec, Zeros
from ..jsontext import JsonFace
from ..losses import Loss, loss as _loss
from ..network import MAX_INPUT_WIDTH, MAX_OUTPUTS, Network, mlp

__all__ = ["MLPFamily", "ReZeroFamily", "mlp_family", "rezero_family", "ROLES", "FamilyInit", "family_init",
           "member_depth",
           "MAX_GENERIC_WIDTH", "MAX_REZERO_WIDTH"]

#: the roles of an MLP family's layers, in order
ROLES = ("first", "hidden", "last")
#: a generic (every entry its own symbol) role is checked on a window of this width at most
MAX_GENERIC_WIDTH = 8
#: the ReZero block is checked entry by entry (d² symbols per weight)
MAX_REZERO_WIDTH = 6


#: names the proofs use themselves (the layer index l, the step t, the window's h, d, u, v, w, b, …)
RESERVED_NAMES = frozenset({"l", "t", "h", "d", "w", "b", "u", "v", "c", "z", "x", "y", "f", "g", "p"})
#: names that read as a number (any case) or a constant: "every depth nan ≥ 2" would state nothing
NUMBER_NAMES = frozenset({"nan", "inf", "infty", "infinity", "oo", "zoo", "pi"})
CONSTANT_NAMES = frozenset({"e", "E", "I"})


def _symbol_name(value: object, what: str, error: type = NetworkError) -> str | None:
    """A plain ASCII name (letters and digits, a letter first, not one the proofs use), or None for a non-name."""
    import re

    name = value.name if isinstance(value, sp.Symbol) else value
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,15}", name):
        return None
    if name in RESERVED_NAMES:
        raise error(f"{what} {name!r} is a name the proofs use themselves ({', '.join(sorted(RESERVED_NAMES))}); "
                    "choose another")
    if name.lower() in NUMBER_NAMES or name in CONSTANT_NAMES:
        raise error(f"{what} {name!r} reads as a number or a constant (nan, inf, oo, pi, e, E, I); choose a name "
                    "such as L, N or m")
    return name


def _depth_symbol(depth: object) -> sp.Symbol:
    name = _symbol_name(depth, "the depth symbol")
    if name is None:
        raise NetworkError(f"depth must be a symbol name such as 'L' (ASCII letters and digits; a family covers "
                           f"every depth), got {depth!r}; for one concrete depth use symderiv.mlp")
    if name == "n":
        raise NetworkError("the depth symbol cannot be 'n' (the proofs write the width n); choose e.g. 'L'")
    return sp.Symbol(name, integer=True, positive=True)


def _concrete(value: object, what: str, cap: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, sp.Integer)) or int(value) < 1:
        raise NetworkError(f"{what} must be a positive integer, got {value!r}")
    if int(value) > cap:
        raise SizeLimitError(f"{what} = {int(value)} is too large: at most {cap}")
    return int(value)


@dataclass(frozen=True)
class MLPFamily(JsonFace):
    """``input → L − 1 hidden layers of width n → output`` for every depth ``L ≥ min_depth``."""

    n_in: int
    width: "int | sp.Symbol"
    n_out: int
    activation: Activation
    loss: Loss
    bias: bool
    depth: sp.Symbol
    min_depth: int = 2

    kind = "mlp"

    def at(self, L: int) -> Network:
        """The member of depth ``L`` (a :class:`~symderiv.network.Network`; ``L − 1`` hidden layers)."""
        L = member_depth(self, L)
        return mlp([self.n_in] + [self.width] * (L - 1) + [self.n_out], self.activation, self.loss, self.bias)

    @property
    def symbolic_width(self) -> bool:
        return isinstance(self.width, sp.Symbol)

    def describe(self) -> str:
        """One line, e.g. ``4-n-…-n-3 MLP family (L − 1 hidden layers of width n, every depth L ≥ 2), tanh hidden, …``."""
        n, L = self.width, self.depth
        return (f"{self.n_in}-{n}-…-{n}-{self.n_out} MLP family ({L} − 1 hidden layers of width {n}, every depth "
                f"{L} ≥ {self.min_depth}), {self.activation.describe()} hidden, {self.loss.name}, "
                f"{'with' if self.bias else 'without'} biases")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "n_in": self.n_in, "width": _text(self.width), "n_out": self.n_out,
                "depth": str(self.depth), "min_depth": self.min_depth, "activation": self.activation.to_dict(),
                "loss": self.loss.to_dict(), "bias": self.bias}


@dataclass(frozen=True)
class ReZeroFamily(JsonFace):
    """``L`` ReZero blocks ``x + α_l F_l(x)`` (``α_l = 0``, generic branches) under a loss, every ``L ≥ 1``."""

    d: int
    activation: Activation
    loss: str
    depth: sp.Symbol
    min_depth: int = 1

    kind = "rezero"

    def module(self, L: int, seed: int = 0):
        """The member of depth ``L`` as a PyTorch module (α = 0, random branch weights; imports torch)."""
        from .modules import ReZeroStack

        return ReZeroStack(self.d, member_depth(self, L), self.activation.name, seed)

    def describe(self) -> str:
        return (f"stack of {self.depth} ReZero blocks x + α_l·F_l(x), width {self.d}, F_l = Linear-"
                f"{self.activation.describe()}-Linear, α_l = 0, generic branch weights, loss {self.loss} "
                f"(every depth {self.depth} ≥ {self.min_depth})")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "d": self.d, "depth": str(self.depth), "min_depth": self.min_depth,
                "activation": self.activation.to_dict(), "loss": self.loss}


def member_depth(family: "MLPFamily | ReZeroFamily", L: object) -> int:
    """``L`` as an int when it is a depth of ``family`` (any size: a statement costs nothing per depth)."""
    if isinstance(L, bool) or not isinstance(L, (numbers.Integral, sp.Integer)) or int(L) < family.min_depth:
        raise NetworkError(f"a member of this family needs an integer depth {family.depth} ≥ {family.min_depth}, "
                           f"got {L!r}")
    return int(L)


def _text(n: object) -> object:
    return n if isinstance(n, int) else str(n)


def mlp_family(n_in: int, width: object, depth: object, n_out: int, activation: "str | Activation" = "tanh",
               loss: "str | Loss" = "softmax_cross_entropy", bias: bool = True, *,
               kink_grad: object = None) -> MLPFamily:
    """The MLP family ``n_in → (depth − 1) × width → n_out`` for every depth (``depth="L"``, ``L ≥ 2``).

    ``width`` is a positive integer or a symbol name (``"n"``); ``activation`` one registry name for every
    hidden layer (:func:`symderiv.activation`); ``loss`` as :func:`symderiv.mlp`."""
    L = _depth_symbol(depth)
    n_in = _concrete(n_in, "n_in", MAX_INPUT_WIDTH)
    n_out = _concrete(n_out, "n_out", MAX_OUTPUTS)
    width_name = _symbol_name(width, "the width symbol") if isinstance(width, (str, sp.Symbol)) else None
    if width_name is not None:
        if width_name == str(L):
            raise NetworkError(f"the width and the depth need different symbols, got {width_name!r} for both")
        if width_name == "L":
            raise NetworkError("the width symbol cannot be 'L' (the proofs write the depth L); choose e.g. 'n'")
        w: "int | sp.Symbol" = sp.Symbol(width_name, integer=True, positive=True)
    elif isinstance(width, (str, sp.Symbol)):
        raise NetworkError(f"width must be a positive integer or a symbol name such as 'n' (ASCII letters and "
                           f"digits), got {width!r}")
    else:
        w = _concrete(width, "width", 10**9)
    if isinstance(activation, (list, tuple)):
        raise NetworkError("a family has one activation for every hidden layer (that is what makes the blocks "
                           "identical); give one name such as 'tanh'")
    act = _activation(activation, kink_grad=kink_grad)
    the_loss = _loss(loss)
    if n_out < the_loss.min_outputs:
        raise NetworkError(f"loss {the_loss.name} needs at least {the_loss.min_outputs} outputs, got n_out = {n_out}")
    if not isinstance(bias, bool):
        raise NetworkError(f"bias must be True or False, got {bias!r}")
    return MLPFamily(n_in, w, n_out, act, the_loss, bias, L)


#: the graph losses a ReZero stack may end in
REZERO_LOSSES = ("mse", "softmax_cross_entropy", "bce")


def rezero_family(d: int, depth: object, *, activation: str = "tanh", loss: str = "mse") -> ReZeroFamily:
    """A stack of ``depth`` ReZero blocks of width ``d`` (``α = 0``, generic branches), every depth ``≥ 1``."""
    L = _depth_symbol(depth)
    d = _concrete(d, "d", MAX_REZERO_WIDTH)
    if loss not in REZERO_LOSSES:
        raise NetworkError(f"loss must be one of {', '.join(REZERO_LOSSES)}, got {loss!r}")
    if loss == "softmax_cross_entropy" and d < 2:
        raise NetworkError("softmax_cross_entropy needs d ≥ 2 outputs")
    act = _activation(activation)
    if act.is_kinked:
        raise NetworkError(f"the ReZero family needs a smooth branch activation (tanh, sigmoid, …), got {act.name}")
    return ReZeroFamily(d, act, loss, L)


# ---------------------------------------------------------------- inits
@dataclass(frozen=True)
class FamilyInit(JsonFace):
    """The init of each role of an MLP family: a ``zeros()``, ``constant(v)`` or ``generic()`` spec."""

    first: InitSpec
    hidden: InitSpec
    last: InitSpec

    def of(self, role: str) -> InitSpec:
        return {"first": self.first, "hidden": self.hidden, "last": self.last}[role]

    def mapping(self, L: int, bias: bool = True) -> dict[str, InitSpec]:
        """The per-parameter init of the member of depth ``L`` (for :func:`symderiv.analyze`)."""
        out: dict[str, InitSpec] = {}
        for l in range(1, L + 1):
            spec = self.first if l == 1 else self.last if l == L else self.hidden
            out[f"W{l}"] = spec
            if bias:
                out[f"b{l}"] = spec
        return out

    def describe(self) -> str:
        texts = {r: self.of(r).describe() for r in ROLES}
        if len(set(texts.values())) == 1:
            return texts["first"]
        return "; ".join(f"{r}: {t}" for r, t in texts.items())

    def to_dict(self) -> dict:
        return {r: self.of(r).describe() for r in ROLES}


def _spec(value: object, what: str) -> InitSpec:
    from ..init import constant

    if isinstance(value, Constant) and value.value == 0:
        return Zeros()  # constant(0) is the zero init (its schemas, not the constant one's)
    if isinstance(value, (Zeros, Constant, Generic)):
        return value
    if isinstance(value, str) and value in ("zeros", "generic"):
        return Zeros() if value == "zeros" else Generic()
    if isinstance(value, (int, float, sp.Basic)) and not isinstance(value, bool):
        return _spec(constant(value), what)
    raise InitError(f"{what} must be zeros(), constant(v), generic() (or 'zeros', 'generic', a number), got {value!r}")


def family_init(family: MLPFamily, init: object) -> FamilyInit:
    """Resolve ``init`` (one spec, or a mapping from :data:`ROLES` and ``'*'`` to specs) for ``family``."""
    if isinstance(init, Mapping):
        unknown = [k for k in init if k not in ROLES + ("*",)]
        if unknown:
            raise InitError(f"a family's init mapping has key {unknown[0]!r}; accepted keys: "
                            f"{', '.join(ROLES)}, '*' (a layer's W and b share its role's init)")
        missing = [r for r in ROLES if r not in init and "*" not in init]
        if missing:
            raise InitError(f"the family's init mapping does not cover {', '.join(missing)}; add them or '*'")
        specs = {r: _spec(init[r] if r in init else init["*"], f"init[{r!r}]") for r in ROLES}
    else:
        one = _spec(init, "init")
        specs = {r: one for r in ROLES}
    result = FamilyInit(specs["first"], specs["hidden"], specs["last"])
    for r in ROLES:
        spec = result.of(r)
        if isinstance(spec, Constant):
            for s in sorted(spec.value.free_symbols, key=str):
                if s.name != "c" and _symbol_name(s.name, f"the init symbol of the {r} layer", InitError) is None:
                    raise InitError(f"the init symbol {s.name!r} of the {r} layer must be a plain name (ASCII letters "
                                    "and digits) such as 'c'")
    for r in ROLES:
        if isinstance(result.of(r), Generic):
            if family.symbolic_width:
                raise InitError(f"a generic {r} layer needs a concrete width (the family's width is "
                                f"{family.width}); use zeros() or constant() for a symbolic width")
            if family.width > MAX_GENERIC_WIDTH:
                raise SizeLimitError(f"a generic {r} layer is checked on a window of width {family.width}; at most "
                                     f"{MAX_GENERIC_WIDTH} is accepted (use zeros() or constant() for wide layers)")
    return result
