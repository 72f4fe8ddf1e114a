"""Losses at the output of a graph, per example, in closed form (never differentiated by SymPy).

* ``softmax_cross_entropy`` (aliases ``ce``, ``cross_entropy``): softmax over the last axis,
  probability labels per row with ``y_K = 1 − Σ_{k<K} y_k`` eliminated (the rows of the
  registry entry :func:`symderiv.losses.loss`), mean over the leading positions;
* ``mse``: as ``nn.MSELoss``: mean over every output entry of ``(z − y)²``;
* ``bce``: as ``nn.BCEWithLogitsLoss``: mean over every entry, labels in ``[0, 1]``.

Each gives the label symbols, ``δ = ∂ℓ/∂z`` per entry, the loss value, and a sampler of
exact random labels from its label domain.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import numpy as np
import sympy as sp

from ..errors import NetworkError, RegistryError
from ..losses import loss as _registry_loss

__all__ = ["GraphLoss", "graph_loss", "registered_graph_losses", "register_graph_loss"]


def _names(shape: tuple[int, ...], prefix: str) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = sp.Symbol(prefix + "_" + "_".join(str(i + 1) for i in idx), real=True)
    return out


@dataclass(frozen=True)
class GraphLoss:
    """A per-example loss of an output tensor (see the module docstring)."""

    name: str
    label_domain: str
    labels: Callable[[tuple[int, ...]], np.ndarray]  # label expressions (constraints built in)
    delta: Callable[[np.ndarray, np.ndarray], np.ndarray]
    value: Callable[[np.ndarray, np.ndarray], sp.Expr]
    sample: Callable[[random.Random, tuple[int, ...]], dict]  # label symbol -> exact value
    min_last: int = 1

    def check_shape(self, shape: tuple[int, ...]) -> None:
        if not shape or shape[-1] < self.min_last:
            raise NetworkError(f"loss {self.name} needs an output whose last axis has at least {self.min_last} "
                               f"entries, got shape {shape}")

    def label_symbols(self, shape: tuple[int, ...]) -> list[sp.Symbol]:
        return sorted({s for e in self.labels(shape).flat for s in e.free_symbols}, key=str)


# ---------------------------------------------------------------- softmax cross-entropy over the last axis
_CE = _registry_loss("softmax_cross_entropy")


def _ce_labels(shape):
    y = _names(shape, "y")
    rows = y.reshape(-1, shape[-1])
    for r in rows:
        r[-1] = 1 - sp.Add(*r[:-1])
    return rows.reshape(shape)


def _ce_delta(z, y):
    K = z.shape[-1]
    zr, yr = z.reshape(-1, K), y.reshape(-1, K)
    n = zr.shape[0]
    out = np.empty(zr.shape, dtype=object)
    for i in range(n):
        out[i] = [d / n for d in _CE.delta(list(zr[i]), list(yr[i]))]
    return out.reshape(z.shape)


def _ce_value(z, y):
    K = z.shape[-1]
    zr, yr = z.reshape(-1, K), y.reshape(-1, K)
    return sp.Add(*[_CE.value(list(zr[i]), list(yr[i])) for i in range(zr.shape[0])]) / zr.shape[0]


def _ce_sample(rng, shape):
    ys = _names(shape, "y").reshape(-1, shape[-1])
    out = {}
    for row in ys:
        weights = [rng.randint(1, 19) for _ in row]
        for s, w in zip(row[:-1], weights[:-1]):
            out[s] = sp.Rational(w, sum(weights))
    return out


# ---------------------------------------------------------------- mse and bce (means over entries)
def _mse_delta(z, y):
    n = z.size
    return np.vectorize(lambda a, b: sp.Rational(2, n) * (a - b), otypes=[object])(z, y)


def _exp_neg(a: sp.Expr) -> sp.Expr:
    # unevaluated for compound arguments: exp's evaluation walks the whole (large) logit expression
    return sp.exp(-a) if (a.is_Number or a.is_Symbol) else sp.exp(sp.Mul(-1, a, evaluate=False), evaluate=False)


def _bce_delta(z, y):
    n = z.size
    return np.vectorize(lambda a, b: (sp.Pow(1 + _exp_neg(a), -1, evaluate=False) - b) / n, otypes=[object])(z, y)


def _bce_value(z, y):
    terms = [-(b * sp.log(1 / (1 + sp.exp(-a))) + (1 - b) * sp.log(1 - 1 / (1 + sp.exp(-a))))
             for a, b in zip(z.flat, y.flat)]
    return sp.Add(*terms) / z.size


def _sample_each(values: Callable[[random.Random], Fraction]):
    def sample(rng, shape):
        return {s: sp.Rational(*(lambda f: (f.numerator, f.denominator))(values(rng))) for s in _names(shape, "y").flat}
    return sample


_REGISTRY: dict[str, GraphLoss] = {}
for _entry in (
    GraphLoss("softmax_cross_entropy", "each row over the last axis on the probability simplex (y_k >= 0, "
              "sum_k y_k = 1; the last label eliminated); loss = mean over rows", _ce_labels, _ce_delta, _ce_value,
              _ce_sample, min_last=2),
    GraphLoss("mse", "each y real; loss = mean over all output entries of (z - y)^2, as nn.MSELoss",
              lambda shape: _names(shape, "y"), _mse_delta,
              lambda z, y: sp.Add(*[(a - b) ** 2 for a, b in zip(z.flat, y.flat)]) / z.size,
              _sample_each(lambda rng: Fraction(rng.randint(-16, 16), 8))),
    GraphLoss("bce", "each y in [0, 1]; loss = mean over all entries of the logistic loss, as nn.BCEWithLogitsLoss",
              lambda shape: _names(shape, "y"), _bce_delta, _bce_value,
              _sample_each(lambda rng: Fraction(rng.randint(0, 8), 8))),
):
    _REGISTRY[_entry.name] = _entry
# every spelling the MLP losses accept (symderiv.losses), so the CLI's one --loss option means the same here
_ALIASES = {"ce": "softmax_cross_entropy", "cross_entropy": "softmax_cross_entropy", "softmax": "softmax_cross_entropy",
            "mean_squared_error": "mse", "sigmoid_binary_cross_entropy": "bce", "binary_cross_entropy": "bce"}


def register_graph_loss(entry: GraphLoss, *, replace: bool = False) -> GraphLoss:
    """Add a loss for graphs (traced modules) to the registry."""
    if entry.name in _REGISTRY and not replace:
        raise RegistryError(f"graph loss {entry.name!r} is already registered; pass replace=True to override it")
    _REGISTRY[entry.name] = entry
    return entry


def registered_graph_losses() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def graph_loss(name: str) -> GraphLoss:
    key = _ALIASES.get(name, name) if isinstance(name, str) else None
    if key not in _REGISTRY:
        raise RegistryError(f"unknown loss {name!r} for a graph; known: {', '.join(registered_graph_losses())} "
                            f"(aliases: {', '.join(sorted(_ALIASES))})")
    return _REGISTRY[key]
