"""Hypothesis strategies for property tests of networks, inits and data.

In the shape of ``hypothesis.extra.numpy``: keyword-only arguments, checked before
anything is generated; a bad argument raises
:class:`symderiv.errors.InvalidArgument` (a :class:`~symderiv.errors.SymderivError`)
whose message states the rule and the value received.

    from hypothesis import given, strategies as st
    from symderiv.strategies import networks, inits, datasets

    @given(st.data())
    def test_something(data):
        net = data.draw(networks(activations=["tanh"]))
        init = data.draw(inits(net))
        X, Y = data.draw(datasets(net))

Importing this module imports ``hypothesis`` (a test dependency); ``import symderiv``
does not import it.
"""
from __future__ import annotations

from typing import Iterable, Sequence, Union

import numpy as np
import sympy as sp
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from .activations import Activation, activation
from .errors import InvalidArgument, check_argument
from .init import constant, generic, zeros
from .losses import loss as _loss
from .network import Network, mlp
from .numeric import numeric_activations, numeric_losses, random_data

__all__ = ["networks", "inits", "datasets", "INIT_KINDS"]

#: The kinds of init :func:`inits` can draw.
INIT_KINDS = ("zeros", "constant", "generic", "mixed", "explicit")

Range = Union[int, "tuple[int, int]"]

# Parameter values drawn for the built-in parameterized activations: exact rationals
# (elu with alpha != 1 is kinked; alpha = 1 is smooth).
_ACTIVATION_PARAMS: dict[str, dict[str, tuple[sp.Expr, ...]]] = {
    "leaky_relu": {"slope": (sp.Rational(1, 100), sp.Rational(1, 10), sp.Rational(1, 5))},
    "elu": {"alpha": (sp.Integer(1), sp.Rational(1, 2), sp.Integer(2))},
}
# Uniform init values: exact and simple, signs mixed, never 0 (that is zeros()).
_CONSTANTS = tuple(sp.Rational(p, q) for p, q in [(1, 2), (-1, 3), (1, 1), (-1, 1), (1, 4), (3, 2), (-2, 1), (2, 3)])
# Entries of explicit arrays: small integers and simple rationals.
_ENTRIES = tuple(sp.Rational(p, q) for p, q in [(0, 1), (1, 1), (-1, 1), (2, 1), (-2, 1), (1, 2), (-1, 2), (1, 3), (-1, 3)])


# ---------------------------------------------------------------- argument checking
def _check(condition: bool, rule: str, value: object) -> None:
    """The one validation helper: raise ``InvalidArgument('<rule>, got <value>')``."""
    check_argument(condition, "{}, got {!r}", rule, value, error=InvalidArgument)


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _range(name: str, value: object, minimum: int) -> tuple[int, int]:
    """``(lo, hi)`` from an int or a pair, with ``minimum <= lo <= hi``."""
    pair = (value, value) if _is_int(value) else value
    if not isinstance(pair, (tuple, list)):
        pair = ()  # fails the check below
    _check(len(pair) == 2 and all(_is_int(v) for v in pair),
           f"{name} must be an integer or a pair (min, max) of integers", value)
    lo, hi = (int(v) for v in pair)
    _check(minimum <= lo <= hi, f"{name} must satisfy {minimum} <= min <= max", value)
    return lo, hi


def _names(name: str, value: object) -> list:
    _check(isinstance(value, Iterable) and not isinstance(value, (str, bytes)),
           f"{name} must be None or a non-empty list", value)
    items = list(value) if isinstance(value, Iterable) else []
    _check(len(items) > 0, f"{name} must be None or a non-empty list", value)
    return items


def _activation_choice(item: object) -> "str | Activation":
    choice: str | Activation
    if isinstance(item, Activation):
        choice, name = item, item.name
    else:
        _check(isinstance(item, str), "activations must be names or Activation objects", item)
        choice = name = str(item)  # a str, checked just above
        activation(name)  # an unknown name raises RegistryError listing the known ones
    _check(name in numeric_activations(),
           f"activations must have a NumPy implementation ({', '.join(numeric_activations())})", item)
    return choice


# ---------------------------------------------------------------- networks
def _activation_strategy(item: "str | Activation") -> SearchStrategy[Activation]:
    if isinstance(item, Activation):
        return st.just(item)
    choices = _ACTIVATION_PARAMS.get(item, {})
    if not choices:
        return st.just(activation(item))
    return st.fixed_dictionaries({k: st.sampled_from(v) for k, v in choices.items()}).map(
        lambda params: activation(item, **params)
    )


def networks(
    *,
    depth: Range = (1, 4),
    widths: Range = (1, 4),
    inputs: Range = (1, 4),
    outputs: Range = (2, 4),
    activations: "Sequence[str | Activation] | None" = None,
    losses: "Sequence[str] | None" = None,
    bias: "bool | None" = None,
) -> SearchStrategy[Network]:
    """Networks built with :func:`symderiv.mlp`, concrete widths.

    * ``depth``: the number of layers with parameters ``L`` (an int or ``(min, max)``, min >= 1).
    * ``widths``: the width of each hidden layer (int or ``(min, max)``, min >= 1).
    * ``inputs``: the input width ``n_0`` (int or ``(min, max)``, min >= 1).
    * ``outputs``: the number of outputs ``K`` (int or ``(min, max)``, min >= 1); raised to
      the loss's minimum (2 for softmax cross-entropy) when drawn.
    * ``activations``: the activations to draw from, one per hidden layer: names or
      :class:`~symderiv.activations.Activation` objects; ``None`` means every registered
      activation with a NumPy implementation.  ``leaky_relu`` and ``elu`` draw their
      parameter from a few exact values.
    * ``losses``: the loss names to draw from; ``None`` means every loss with a NumPy
      implementation.
    * ``bias``: ``True``/``False`` for every network, ``None`` to draw it.
    """
    depth_ = _range("depth", depth, 1)
    widths_ = _range("widths", widths, 1)
    inputs_ = _range("inputs", inputs, 1)
    outputs_ = _range("outputs", outputs, 1)
    acts = [_activation_choice(a) for a in _names("activations", activations)] if activations is not None \
        else list(numeric_activations())
    loss_names = [_loss(name).name for name in _names("losses", losses)] if losses is not None \
        else list(numeric_losses())
    for name in loss_names:
        _check(name in numeric_losses(), f"losses must have a NumPy implementation ({', '.join(numeric_losses())})",
               name)
        needed = _loss(name).min_outputs
        _check(outputs_[1] >= needed, f"outputs must allow at least {needed} outputs for loss {name}", outputs)
    _check(bias is None or isinstance(bias, bool), "bias must be None, True or False", bias)

    @st.composite
    def build(draw) -> Network:
        L = draw(st.integers(*depth_))
        loss_name = draw(st.sampled_from(loss_names))
        K = draw(st.integers(max(outputs_[0], _loss(loss_name).min_outputs), outputs_[1]))
        sizes = [draw(st.integers(*inputs_))] + [draw(st.integers(*widths_)) for _ in range(L - 1)] + [K]
        hidden = [draw(st.sampled_from(acts).flatmap(_activation_strategy)) for _ in range(L - 1)]
        has_bias = draw(st.booleans()) if bias is None else bias
        return mlp(sizes, hidden, loss_name, has_bias)

    return build()


# ---------------------------------------------------------------- inits
def _explicit_array(shape: tuple[int, ...]) -> SearchStrategy[list]:
    size = int(np.prod(shape))
    return st.lists(st.sampled_from(_ENTRIES), min_size=size, max_size=size).map(
        lambda entries: np.array(entries, dtype=object).reshape(shape).tolist()
    )


def inits(net: Network, *, kinds: Sequence[str] = INIT_KINDS) -> SearchStrategy[object]:
    """Inits of ``net`` accepted by :func:`symderiv.init.resolve_init`.

    * ``net``: a concrete :class:`~symderiv.network.Network` (symbolic widths allow only
      ``"zeros"`` and ``"constant"``).
    * ``kinds``: a non-empty subset of :data:`INIT_KINDS`:
      ``"zeros"`` → ``zeros()``; ``"constant"`` → ``constant(c)`` with ``c`` an exact
      rational such as 1/2 or -1/3; ``"generic"`` → ``generic()``; ``"explicit"`` → a mapping
      from every parameter name to a nested list of small integers and simple rationals;
      ``"mixed"`` → a mapping choosing zeros, a constant, generic or an explicit array
      parameter by parameter.
    """
    _check(isinstance(net, Network), "net must be a Network (see symderiv.mlp)", net)
    kinds_ = _names("kinds", kinds)
    for kind in kinds_:
        _check(kind in INIT_KINDS, f"kinds must be drawn from {INIT_KINDS}", kind)
    if net.is_symbolic:
        _check(set(kinds_) <= {"zeros", "constant"},
               "a network with symbolic widths only admits kinds 'zeros' and 'constant'", tuple(kinds_))
    names = net.parameter_names()
    shapes = {name: tuple(int(n) for n in net.shape(name)) for name in names} if not net.is_symbolic else {}
    constants = st.sampled_from(_CONSTANTS).map(constant)

    def one_parameter(name: str) -> SearchStrategy[object]:
        return st.one_of(st.just(zeros()), constants, st.just(generic()), _explicit_array(shapes[name]))

    by_kind = {
        "zeros": lambda: st.just(zeros()),
        "constant": lambda: constants,
        "generic": lambda: st.just(generic()),
        "explicit": lambda: st.fixed_dictionaries({n: _explicit_array(shapes[n]) for n in names}),
        "mixed": lambda: st.fixed_dictionaries({n: one_parameter(n) for n in names}),
    }
    return st.one_of(*[by_kind[kind]() for kind in dict.fromkeys(kinds_)])


# ---------------------------------------------------------------- data
def datasets(net: Network, *, batch: Range = (1, 6), seed: "int | None" = None) -> SearchStrategy[tuple]:
    """``(X, Y)`` float64 arrays for ``net``, labels in the loss's domain.

    * ``net``: a :class:`~symderiv.network.Network` with concrete widths.
    * ``batch``: the number of examples (an int or ``(min, max)``, min >= 1).
    * ``seed``: ``None`` to let hypothesis draw the NumPy seed, or a fixed non-negative
      int; the data are :func:`symderiv.numeric.random_data` for that seed.
    """
    _check(isinstance(net, Network), "net must be a Network (see symderiv.mlp)", net)
    _check(not net.is_symbolic, "net must have concrete widths to generate data", list(net.sizes))
    batch_ = _range("batch", batch, 1)
    _check(seed is None or (_is_int(seed) and seed >= 0), "seed must be None or a non-negative integer", seed)
    seeds = st.integers(0, 2**32 - 1) if seed is None else st.just(int(seed))
    return st.tuples(st.integers(*batch_), seeds).map(lambda bs: random_data(net, bs[0], seed=bs[1]))
