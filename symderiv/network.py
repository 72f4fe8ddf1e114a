"""The network description: pure data and its validation, no calculus.

``mlp([n_0, …, n_L], activation=…, loss=…, bias=True)`` describes

    z^(l) = W^(l) h^(l-1) + b^(l),  h^(0) = x,  h^(l) = f_l(z^(l))  (l < L),
    loss  = ℓ(z^(L), y)

with parameters named ``W1, b1, …, WL, bL``.  Hidden widths may be SymPy
symbols ("any width"); the input width and the number of outputs are concrete.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Sequence, Union

import sympy as sp

from .activations import Activation, activation as _activation
from .errors import NetworkError, SizeLimitError, SymderivError
from .jsontext import JsonFace
from .losses import Loss, loss as _loss

__all__ = ["Network", "mlp", "Width", "MAX_DEPTH", "MAX_INPUT_WIDTH", "MAX_OUTPUTS", "MAX_HIDDEN_WIDTH"]

Width = Union[int, sp.Symbol]

#: limits checked before anything is allocated (each input and output unit is its own
#: symbol; hidden units are handled by classes, so a concrete hidden width costs nothing
#: until a numeric check or a generic init materialises it, which have their own limits)
MAX_DEPTH = 4096
MAX_INPUT_WIDTH = 100_000
MAX_OUTPUTS = 1_000
MAX_HIDDEN_WIDTH = 10**9


@dataclass(frozen=True)
class Network(JsonFace):
    """A multilayer perceptron.  Build it with :func:`mlp`."""

    sizes: tuple[Width, ...]
    activations: tuple[Activation, ...]
    loss: Loss
    bias: bool = True

    @property
    def depth(self) -> int:
        """``L``, the number of layers with parameters."""
        return len(self.sizes) - 1

    @property
    def n_outputs(self) -> int:
        return int(self.sizes[-1])

    @property
    def is_symbolic(self) -> bool:
        """True when some hidden width is a symbol."""
        return any(isinstance(n, sp.Symbol) for n in self.sizes)

    def parameter_names(self) -> tuple[str, ...]:
        """``('W1', 'b1', …, 'WL', 'bL')`` (no ``b`` names without biases)."""
        names: list[str] = []
        for l in range(1, self.depth + 1):
            names.append(f"W{l}")
            if self.bias:
                names.append(f"b{l}")
        return tuple(names)

    def shape(self, name: str) -> tuple[Width, ...]:
        """``(n_l, n_{l-1})`` for ``Wl`` and ``(n_l,)`` for ``bl``."""
        kind, layer = self.parse_name(name)
        if kind == "W":
            return (self.sizes[layer], self.sizes[layer - 1])
        return (self.sizes[layer],)

    def parse_name(self, name: str) -> tuple[str, int]:
        """``'W3' -> ('W', 3)``; a clear error for anything else."""
        if isinstance(name, str) and len(name) >= 2 and name[0] in "Wb" and name[1:].isdigit():
            layer = int(name[1:])
            if 1 <= layer <= self.depth and (name[0] == "W" or self.bias):
                return name[0], layer
        raise NetworkError(
            f"no parameter named {name!r} in this network; its parameters are {', '.join(self.parameter_names())}"
        )

    def with_kink_grad(self, value: object) -> "Network":
        """The same network with ``f'(0) = value`` for every kinked activation."""
        acts = tuple(a.with_kink_grad(value) for a in self.activations)
        return Network(self.sizes, acts, self.loss, self.bias)

    def activation_of(self, layer: int) -> Activation:
        """The activation of hidden layer ``layer`` (1 … L-1)."""
        return self.activations[layer - 1]

    def describe(self) -> str:
        """One line, e.g. ``4-3-3 MLP, tanh hidden, softmax_cross_entropy, with biases``."""
        sizes = "-".join(str(n) for n in self.sizes)
        if len(self.sizes) > 12:  # a deep network in one readable line
            sizes = ("-".join(str(n) for n in self.sizes[:3]) + "-…-" + "-".join(str(n) for n in self.sizes[-2:])
                     + f" (depth {self.depth})")
        acts = sorted({a.describe() for a in self.activations})
        hidden = (" / ".join(acts) + " hidden, ") if acts else ""
        return f"{sizes} MLP, {hidden}{self.loss.name}, {'with' if self.bias else 'without'} biases"

    def to_dict(self) -> dict:
        return {
            "sizes": [n if isinstance(n, int) else str(n) for n in self.sizes],
            "activations": [a.to_dict() for a in self.activations],
            "loss": self.loss.to_dict(),
            "bias": self.bias,
        }


def _width(value: object, position: int, hidden: bool, last: bool) -> Width:
    if isinstance(value, bool):
        raise NetworkError(f"sizes[{position}] must be a positive integer, got {value!r}")
    if isinstance(value, (numbers.Integral, sp.Integer)):  # int, NumPy and SymPy integers
        n = int(value)
        if n.bit_length() > 64:  # printing it could exceed Python's int-to-text digit limit
            raise SizeLimitError(f"sizes[{position}] is an integer of {n.bit_length()} bits: far beyond any width")
        if n < 1:
            raise NetworkError(f"sizes[{position}] must be a positive integer, got {value!r}")
        cap, what = (MAX_HIDDEN_WIDTH, "a hidden width") if hidden else (
            (MAX_OUTPUTS, "the number of outputs") if last else (MAX_INPUT_WIDTH, "the input width"))
        if n > cap:
            raise SizeLimitError(f"sizes[{position}] = {n} is too large: {what} may be at most {cap}")
        return n
    if hidden and isinstance(value, str) and value.isidentifier():
        from .symbol_names import check_user_symbols

        width = sp.Symbol(value, integer=True, positive=True)
        check_user_symbols(width, f"sizes[{position}]", error=NetworkError)
        return width
    if hidden and isinstance(value, sp.Symbol):
        from .symbol_names import check_user_symbols

        check_user_symbols(value, f"sizes[{position}]", error=NetworkError)
        if not (value.is_integer and value.is_positive):
            raise NetworkError(f"sizes[{position}] = {value} must be declared a positive integer: "
                               f"sp.Symbol({value.name!r}, integer=True, positive=True), or pass the name {value.name!r}")
        return value
    what = "a positive integer or a symbol such as 'n'" if hidden else "a positive integer (input and output widths are concrete)"
    raise NetworkError(f"sizes[{position}] must be {what}, got {value!r}")


def mlp(
    sizes: Sequence[object],
    activation: "str | Activation | Sequence[str | Activation]" = "tanh",
    loss: "str | Loss" = "softmax_cross_entropy",
    bias: bool = True,
    *,
    kink_grad: object = None,
) -> Network:
    """Describe a multilayer perceptron.

    * ``sizes``: ``[n_0, …, n_L]``; hidden widths may be ints or symbols (``"n"``).
    * ``activation``: one name/Activation for all hidden layers, or a list with
      one per hidden layer (``L - 1`` entries).
    * ``loss``: ``softmax_cross_entropy`` (labels on the simplex),
      ``sigmoid_binary_cross_entropy`` or ``mean_squared_error``.
    * ``bias``: whether each layer has a bias vector.
    * ``kink_grad``: ``f'(0)`` for kinked activations (relu default 0, as PyTorch).
    """
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise NetworkError(f"sizes must be a list such as [4, 3, 3], got {sizes!r}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise NetworkError(f"sizes needs at least two entries [n_0, n_L], got {sizes!r}")
    if len(sizes) - 1 > MAX_DEPTH:
        raise SizeLimitError(f"a network of depth {len(sizes) - 1} is too deep: at most {MAX_DEPTH} layers are accepted")
    last = len(sizes) - 1
    widths = tuple(_width(v, i, 0 < i < last, i == last) for i, v in enumerate(sizes))
    L = len(widths) - 1
    if isinstance(activation, (str, Activation)):
        names = [activation] * (L - 1)
    elif hasattr(activation, "__len__"):
        names = list(activation)
        if len(names) != L - 1:
            raise NetworkError(
                f"activation list has {len(names)} entries but the network has {L - 1} hidden layers"
            )
    else:
        raise NetworkError(f"activation must be a name, an Activation or a list of them, got {activation!r}")
    acts = tuple(_activation(a, kink_grad=kink_grad) for a in names)
    the_loss = _loss(loss)
    if widths[-1] < the_loss.min_outputs:
        raise NetworkError(
            f"loss {the_loss.name} needs at least {the_loss.min_outputs} outputs, got sizes[-1] = {widths[-1]}"
        )
    if not isinstance(bias, bool):
        raise NetworkError(f"bias must be True or False, got {bias!r}")
    return Network(widths, acts, the_loss, bias)


def require_concrete(net: Network, what: str) -> None:
    """Raise unless every width of ``net`` is a concrete integer."""
    if net.is_symbolic:
        raise SymderivError(f"{what} needs concrete widths, but the network has sizes {list(net.sizes)}")
