"""Registry of losses: one entry per loss.

An entry gives, for output pre-activations ``z = z^(L)`` and labels ``y``:
the label symbols (with their constraint built in), the prediction ``p``, the
per-example loss value, and ``δ^(L) = ∂ℓ/∂z^(L)``.

Softmax cross-entropy labels live on the probability simplex: ``y_K`` is
eliminated as ``1 − Σ_{k<K} y_k`` (docs/theory.md §1).  Its ``δ`` is written with the
same elimination, ``δ_K = −Σ_{k<K} δ_k``, so that ``Σ_k δ_k = 0`` is a
*structural* identity SymPy sees, not one it would have to discover.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence, TypeAlias

import sympy as sp

from .errors import NetworkError, RegistryError
from .jsontext import JsonFace

__all__ = ["Loss", "register_loss", "loss", "registered_losses", "label_symbols"]

Expr: TypeAlias = sp.Expr


def label_symbols(K: int) -> list[sp.Symbol]:
    """The label symbols ``y_1 … y_K`` (1-based, as written by hand)."""
    return [sp.Symbol(f"y_{k}", real=True) for k in range(1, K + 1)]


@dataclass(frozen=True)
class Loss(JsonFace):
    """A per-example loss ``ℓ(z^(L), y)``.

    * ``labels(K)``: the label vector in symbols, constraint built in.
    * ``prediction(z)``: what the network predicts (softmax / sigmoid / identity).
    * ``value(z, y)``: the per-example loss.
    * ``delta(z, y)``: ``∂ℓ/∂z^(L)``, computed in closed form (not by ``diff``).
    * ``sample_labels(rng, K)``: random exact labels from the label domain.
    * ``min_outputs``: the smallest K for which the loss is meaningful.
    """

    name: str
    labels: Callable[[int], list[Expr]]
    prediction: Callable[[Sequence[Expr]], list[Expr]]
    value: Callable[[Sequence[Expr], Sequence[Expr]], Expr]
    delta: Callable[[Sequence[Expr], Sequence[Expr]], list[Expr]]
    sample_labels: Callable[..., list[Fraction]]
    label_domain: str
    min_outputs: int = 1

    def to_dict(self) -> dict:
        return {"name": self.name, "label_domain": self.label_domain}


_REGISTRY: dict[str, Loss] = {}


def register_loss(entry: Loss, *, replace: bool = False) -> Loss:
    """Add a loss to the registry."""
    if not isinstance(entry, Loss):
        raise RegistryError(f"register_loss needs a symderiv.losses.Loss, got {type(entry).__name__}")
    if entry.name in _REGISTRY and not replace:
        raise RegistryError(f"loss {entry.name!r} is already registered; pass replace=True to override it")
    _REGISTRY[entry.name] = entry
    return entry


def registered_losses() -> tuple[str, ...]:
    """Names of the registered losses, sorted."""
    return tuple(sorted(_REGISTRY))


_ALIASES = {
    "cross_entropy": "softmax_cross_entropy",
    "ce": "softmax_cross_entropy",
    "softmax": "softmax_cross_entropy",
    "bce": "sigmoid_binary_cross_entropy",
    "binary_cross_entropy": "sigmoid_binary_cross_entropy",
    "mse": "mean_squared_error",
}


def loss_aliases() -> dict[str, str]:
    """Alias -> registered loss name (``ce`` -> ``softmax_cross_entropy``, …)."""
    return dict(_ALIASES)


def loss(name: "str | Loss") -> Loss:
    """Look a loss up by name (aliases: ce, cross_entropy, bce, mse)."""
    if isinstance(name, Loss):
        return name
    key = _ALIASES.get(name, name) if isinstance(name, str) else name
    if not isinstance(key, str) or key not in _REGISTRY:
        known = ", ".join(registered_losses()) + " (aliases: " + ", ".join(sorted(_ALIASES)) + ")"
        raise RegistryError(f"unknown loss {name!r}; known losses: {known}")
    return _REGISTRY[key]


# ---------------------------------------------------------------- softmax cross-entropy
def _simplex_labels(K: int) -> list[Expr]:
    y = label_symbols(K)
    return y[:-1] + [1 - sum(y[:-1], sp.Integer(0))]


def _softmax(z: Sequence[Expr]) -> list[Expr]:
    # p_k = 1 / Σ_j exp(z_j − z_k): equal logits cancel structurally, so a
    # uniform softmax is exactly 1/K, and common terms of the logits drop out.
    return [1 / sp.Add(*[_exp(zj - zk) for zj in z]) for zk in z]


def _exp(arg: Expr) -> Expr:
    """``exp(arg)``, unevaluated for symbolic ``arg``: exp's automatic evaluation asks
    SymPy's assumption system questions that walk the whole (deep) logit expression,
    and it never simplifies a difference of logits anyway."""
    if arg.is_Number or arg.is_Symbol:
        return sp.exp(arg)
    return sp.exp(arg, evaluate=False)


def _softmax_delta(z: Sequence[Expr], y: Sequence[Expr]) -> list[Expr]:
    p = _softmax(z)
    head = [p[k] - y[k] for k in range(len(z) - 1)]
    return head + [-sp.Add(*head)]  # Σ p = Σ y = 1


def _softmax_value(z: Sequence[Expr], y: Sequence[Expr]) -> Expr:
    lse = sp.log(sp.Add(*[sp.exp(zk) for zk in z]))
    return sp.Add(*[-yk * (zk - lse) for zk, yk in zip(z, y)])


def _sample_simplex(rng, K: int) -> list[Fraction]:
    weights = [int(rng.integers(1, 20)) for _ in range(K)]
    total = sum(weights)
    return [Fraction(w, total) for w in weights]


register_loss(Loss(
    name="softmax_cross_entropy",
    labels=_simplex_labels,
    prediction=_softmax,
    value=_softmax_value,
    delta=_softmax_delta,
    sample_labels=_sample_simplex,
    label_domain="probability simplex (y_k >= 0, sum_k y_k = 1; y_K eliminated)",
    min_outputs=2,
))


# ---------------------------------------------------------------- sigmoid binary cross-entropy
def _sigmoid(z: Expr) -> Expr:
    return 1 / (1 + sp.exp(-z))


register_loss(Loss(
    name="sigmoid_binary_cross_entropy",
    labels=lambda K: list(label_symbols(K)),
    prediction=lambda z: [_sigmoid(zk) for zk in z],
    value=lambda z, y: sp.Add(*[-(yk * sp.log(_sigmoid(zk)) + (1 - yk) * sp.log(1 - _sigmoid(zk))) for zk, yk in zip(z, y)]),
    delta=lambda z, y: [_sigmoid(zk) - yk for zk, yk in zip(z, y)],
    sample_labels=lambda rng, K: [Fraction(int(rng.integers(0, 9)), 8) for _ in range(K)],
    label_domain="each y_k in [0, 1] (independent binary targets)",
))


# ---------------------------------------------------------------- mean squared error
register_loss(Loss(
    name="mean_squared_error",
    labels=lambda K: list(label_symbols(K)),
    prediction=lambda z: list(z),
    value=lambda z, y: sp.Add(*[(zk - yk) ** 2 for zk, yk in zip(z, y)]) / len(z),
    delta=lambda z, y: [sp.Rational(2, len(z)) * (zk - yk) for zk, yk in zip(z, y)],
    sample_labels=lambda rng, K: [Fraction(int(rng.integers(-16, 17)), 8) for _ in range(K)],
    label_domain="each y_k real; loss = mean over the K outputs of (z_k - y_k)^2, as torch's MSELoss",
))
