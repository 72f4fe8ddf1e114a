"""The losses of the NumPy reference (:mod:`symderiv.numeric`): each registered loss written again in
NumPy, on a batch of output pre-activations, with its label domain.

* :class:`NumericLoss` and :func:`register_numeric_loss` (keyed by the names of
  :mod:`symderiv.losses`); :func:`numeric_losses`;
* the built-in forms: softmax cross-entropy, sigmoid binary cross-entropy, mean squared error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import RegistryError, UnsupportedError
from .losses import registered_losses
from .network import Network

__all__ = ["NumericLoss", "register_numeric_loss", "numeric_losses", "numeric_loss_of", "sigmoid"]

Array = np.ndarray  # float64 arrays, as in symderiv.numeric


def sigmoid(z: Array) -> Array:
    """The logistic function ``1/(1 + e^-z)`` without overflow (the sigmoid activation and the binary
    cross-entropy share it)."""
    return np.exp(-np.logaddexp(0.0, -z))


@dataclass(frozen=True)
class NumericLoss:
    """The NumPy form of a registered loss, on a batch of output pre-activations ``z`` (B, K).

    * ``value(z, y)``: the per-example loss, shape ``(B,)``.
    * ``delta(z, y)``: ``δ^(L) = ∂ℓ/∂z^(L)`` per example, shape ``(B, K)``.
    * ``prediction(z)``: what the network predicts (probabilities or values).
    * ``sample(rng, B, K)``: random labels from the label domain.
    * ``domain_error(y)``: ``None`` when ``y`` lies in the label domain, else the reason.
    """

    name: str
    value: Callable[[Array, Array], Array]
    delta: Callable[[Array, Array], Array]
    prediction: Callable[[Array], Array]
    sample: Callable[[np.random.Generator, int, int], Array]
    domain_error: Callable[[Array], "str | None"]


_LOSSES: dict[str, NumericLoss] = {}


def register_numeric_loss(entry: NumericLoss, *, replace: bool = False) -> NumericLoss:
    """Give the registered loss ``entry.name`` its NumPy form."""
    if entry.name not in registered_losses():
        raise RegistryError(f"no loss {entry.name!r} is registered; register it first with symderiv.register_loss")
    if entry.name in _LOSSES and not replace:
        raise RegistryError(f"loss {entry.name!r} already has a NumPy form; pass replace=True to override it")
    _LOSSES[entry.name] = entry
    return entry


def numeric_losses() -> tuple[str, ...]:
    """Names of the registered losses that have a NumPy form, sorted."""
    return tuple(sorted(n for n in _LOSSES if n in registered_losses()))


def numeric_loss_of(net: Network) -> NumericLoss:
    """The NumPy form of the network's loss (refused in one line when it has none)."""
    entry = _LOSSES.get(net.loss.name)
    if entry is None:
        raise UnsupportedError(
            f"loss {net.loss.name!r} has no NumPy implementation; add one with "
            "symderiv.numeric.register_numeric_loss(NumericLoss(...))"
        )
    return entry


def _log_softmax(z: Array) -> Array:
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _dirichlet(rng: np.random.Generator, B: int, K: int) -> Array:
    return rng.dirichlet(np.ones(K), size=B)


def _simplex_error(y: Array) -> "str | None":
    if np.any(y < -1e-12) or np.any(np.abs(y.sum(axis=1) - 1.0) > 1e-9):
        return "softmax cross-entropy labels must lie on the probability simplex (y_k >= 0, each row summing to 1)"
    return None


def _unit_interval_error(y: Array) -> "str | None":
    if np.any((y < 0) | (y > 1)):
        return "sigmoid binary cross-entropy labels must lie in [0, 1]"
    return None


register_numeric_loss(NumericLoss(
    name="softmax_cross_entropy",
    value=lambda z, y: -(y * _log_softmax(z)).sum(axis=1),
    delta=lambda z, y: np.exp(_log_softmax(z)) - y,  # p − y: Σ_k y_k = 1
    prediction=lambda z: np.exp(_log_softmax(z)),
    sample=_dirichlet,
    domain_error=_simplex_error,
))
register_numeric_loss(NumericLoss(
    name="sigmoid_binary_cross_entropy",
    value=lambda z, y: (np.logaddexp(0.0, z) - y * z).sum(axis=1),  # −y log σ − (1−y) log(1−σ)
    delta=lambda z, y: sigmoid(z) - y,
    prediction=sigmoid,
    sample=lambda rng, B, K: rng.uniform(0.0, 1.0, size=(B, K)),
    domain_error=_unit_interval_error,
))
register_numeric_loss(NumericLoss(
    name="mean_squared_error",
    value=lambda z, y: ((z - y) ** 2).mean(axis=1),
    delta=lambda z, y: 2.0 * (z - y) / z.shape[1],
    prediction=lambda z: z,
    sample=lambda rng, B, K: rng.standard_normal((B, K)),
    domain_error=lambda y: None,
))
