"""The optimizers of the NumPy reference (:mod:`symderiv.numeric`): ``torch.optim``'s update
formulas, formula for formula, on float64 arrays, and the record of a training run.

* :class:`Optimizer` and its registry :data:`OPTIMIZERS` (``sgd``, ``momentum``, ``nesterov``,
  ``rmsprop``, ``adam``, ``adamw``); :func:`register_optimizer`, :func:`make_optimizer`;
* :func:`minibatch_indices` - the examples of each step;
* :class:`Trajectory` - the parameters ``θ_0 … θ_steps`` of a run.

Nothing here knows the network: :func:`symderiv.numeric.train` feeds the gradients in.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from .errors import InvalidArgument, RegistryError, check_argument

__all__ = ["Array", "Params", "Optimizer", "SGD", "Momentum", "Nesterov", "RMSprop", "Adam", "AdamW",
           "OPTIMIZERS", "register_optimizer", "make_optimizer", "minibatch_indices", "Trajectory"]

Array = np.ndarray
#: a parameter set: name -> float64 array
Params = dict[str, np.ndarray]


# ================================================================ optimizers (torch.optim's formulas)
def _lerp(start: Array, end: Array, weight: float) -> Array:
    """``start + weight·(end − start)``, rounded as torch's ``lerp``."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


class Optimizer:
    """A first-order optimizer: the same coordinate-wise rule for every parameter.

    ``step(params, grads)`` returns new parameters and updates ``state`` (one dict
    per parameter name).  ``options`` holds every option, defaults included.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict[str, object]] = {}

    def __init__(self, *, lr: float, **options: object) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        check_argument(not unknown, "optimizer {!r} has no option {!r}; its options: lr, {}",
                       self.name, unknown[0] if unknown else "", ", ".join(self.defaults), error=InvalidArgument)
        check_argument(isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr >= 0,
                       "lr must be a non-negative number, got {!r}", lr, error=InvalidArgument)
        # option values of several types (numbers, flags, Adam's betas pair), checked by _validate
        self.options: dict[str, Any] = {"lr": float(lr), **self.defaults, **options}
        self.state: dict[str, dict[str, object]] = {}
        self.steps = 0
        self._validate()

    def _validate(self) -> None:
        """Check option values (subclasses add their rules)."""

    def step(self, params: Mapping[str, Array], grads: Mapping[str, Array]) -> Params:
        """One update of every parameter; returns new arrays (the inputs are not modified)."""
        self.steps += 1
        return {
            name: self._update(np.asarray(p, dtype=float), np.asarray(grads[name], dtype=float),
                               self.state.setdefault(name, {}))
            for name, p in params.items()
        }

    def _update(self, p: Array, g: Array, state: dict) -> Array:
        raise NotImplementedError


class SGD(Optimizer):
    """``torch.optim.SGD``: L2 weight decay, heavy-ball momentum with dampening, Nesterov."""

    name = "sgd"
    defaults = {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}

    def _validate(self) -> None:
        o = self.options
        check_argument(not o["nesterov"] or (o["momentum"] > 0 and o["dampening"] == 0),
                       "Nesterov momentum needs momentum > 0 and dampening = 0, got {}", o, error=InvalidArgument)

    def _update(self, p: Array, g: Array, state: dict) -> Array:
        o = self.options
        if o["weight_decay"]:
            g = g + o["weight_decay"] * p
        if o["momentum"]:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = g.copy()
            else:
                state["momentum_buffer"] = o["momentum"] * state["momentum_buffer"] + (1 - o["dampening"]) * g
            buf = state["momentum_buffer"]
            g = g + o["momentum"] * buf if o["nesterov"] else buf
        return p - o["lr"] * g


class Momentum(SGD):
    """SGD with heavy-ball momentum (0.9 unless given)."""

    name = "momentum"
    defaults = {**SGD.defaults, "momentum": 0.9}


class Nesterov(SGD):
    """SGD with Nesterov momentum (0.9 unless given)."""

    name = "nesterov"
    defaults = {**SGD.defaults, "momentum": 0.9, "nesterov": True}


class RMSprop(Optimizer):
    """``torch.optim.RMSprop`` (optionally centered, with momentum and L2 weight decay)."""

    name = "rmsprop"
    defaults = {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False}

    def _update(self, p: Array, g: Array, state: dict) -> Array:
        o = self.options
        if o["weight_decay"]:
            g = g + o["weight_decay"] * p
        alpha = o["alpha"]
        state["square_avg"] = alpha * state.get("square_avg", np.zeros_like(p)) + (1 - alpha) * g * g
        if o["centered"]:
            state["grad_avg"] = _lerp(state.get("grad_avg", np.zeros_like(p)), g, 1 - alpha)
            avg = np.sqrt(state["square_avg"] - state["grad_avg"] * state["grad_avg"]) + o["eps"]
        else:
            avg = np.sqrt(state["square_avg"]) + o["eps"]
        if o["momentum"] > 0:
            state["momentum_buffer"] = o["momentum"] * state.get("momentum_buffer", np.zeros_like(p)) + g / avg
            return p - o["lr"] * state["momentum_buffer"]
        return p - o["lr"] * g / avg


class Adam(Optimizer):
    """``torch.optim.Adam``: bias-corrected moments, L2 weight decay added to the gradient."""

    name = "adam"
    defaults = {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}
    decoupled = False

    def _validate(self) -> None:
        betas = self.options["betas"]
        check_argument(isinstance(betas, (tuple, list)) and len(betas) == 2 and all(0 <= b < 1 for b in betas),
                       "betas must be a pair of numbers in [0, 1), got {!r}", betas, error=InvalidArgument)
        self.options["betas"] = tuple(float(b) for b in betas)

    def _update(self, p: Array, g: Array, state: dict) -> Array:
        o = self.options
        lr, (beta1, beta2), wd = o["lr"], o["betas"], o["weight_decay"]
        if wd and self.decoupled:
            p = p * (1 - lr * wd)  # AdamW: decay the weights, not the gradient
        elif wd:
            g = g + wd * p
        t = state["step"] = state.get("step", 0) + 1
        state["exp_avg"] = _lerp(state.get("exp_avg", np.zeros_like(p)), g, 1 - beta1)
        state["exp_avg_sq"] = beta2 * state.get("exp_avg_sq", np.zeros_like(p)) + (1 - beta2) * g * g
        second = state["exp_avg_sq"]
        if o["amsgrad"]:
            second = state["max_exp_avg_sq"] = np.maximum(state.get("max_exp_avg_sq", second), second)
        step_size = lr / (1 - beta1**t)
        denom = np.sqrt(second) / math.sqrt(1 - beta2**t) + o["eps"]
        return p - step_size * state["exp_avg"] / denom


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (0.01 unless given)."""

    name = "adamw"
    defaults = {**Adam.defaults, "weight_decay": 1e-2}
    decoupled = True


#: name -> optimizer class; every class applies the same rule to each coordinate.
OPTIMIZERS: dict[str, type[Optimizer]] = {}


def register_optimizer(cls: type[Optimizer], *, replace: bool = False) -> type[Optimizer]:
    """Add an :class:`Optimizer` subclass to :data:`OPTIMIZERS` under ``cls.name``."""
    if cls.name in OPTIMIZERS and not replace:
        raise RegistryError(f"optimizer {cls.name!r} is already registered; pass replace=True to override it")
    OPTIMIZERS[cls.name] = cls
    return cls


for _cls in (SGD, Momentum, Nesterov, RMSprop, Adam, AdamW):
    register_optimizer(_cls)


def make_optimizer(name: str, *, lr: float, **options: object) -> Optimizer:
    """A fresh optimizer from the registry, its options checked."""
    if name not in OPTIMIZERS:
        raise RegistryError(f"unknown optimizer {name!r}; known optimizers: {', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[name](lr=lr, **options)


def minibatch_indices(n: int, steps: int, batch_size: "int | None", seed: int) -> list["Array | None"]:
    """The example indices of each step: ``None`` (full batch) or ``batch_size`` indices
    drawn without replacement from ``default_rng(seed)``, independently per step."""
    check_argument(isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0,
                   "steps must be a non-negative integer, got {!r}", steps, error=InvalidArgument)
    if batch_size is None:
        return [None] * steps
    check_argument(isinstance(batch_size, int) and not isinstance(batch_size, bool) and 1 <= batch_size <= n,
                   "batch_size must be an integer between 1 and the number of examples ({}), got {!r}",
                   n, batch_size, error=InvalidArgument)
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n, size=batch_size, replace=False)) for _ in range(steps)]


@dataclass
class Trajectory:
    """Parameters ``θ_0 … θ_steps`` of a training run (copies), and how they were made."""

    params: list[Params]
    optimizer: str
    options: dict[str, object]
    batches: list["Array | None"] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.params) - 1

    @property
    def initial(self) -> Params:
        return self.params[0]

    @property
    def final(self) -> Params:
        return self.params[-1]

    def moved(self) -> tuple[str, ...]:
        """Names of the parameters that differ anywhere from their initial value."""
        return tuple(
            name for name in self.initial if any(np.any(theta[name] != self.initial[name]) for theta in self.params)
        )
