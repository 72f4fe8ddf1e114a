"""Registry of optimizer classes: the scope of a theorem.

The invariance lemma (docs/theory.md §2) covers every optimizer that applies the same
coordinate-wise function to each coordinate's gradient history and maps an
all-zero history to a zero update.  A theorem names the class it was proved for.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import RegistryError
from .jsontext import JsonFace

__all__ = ["OptimizerClass", "optimizer_class", "registered_optimizer_classes", "register_optimizer_class"]


@dataclass(frozen=True)
class OptimizerClass(JsonFace):
    """A named class of optimizers and what its theorems cover."""

    name: str
    members: tuple[str, ...]
    description: str
    weight_decay: bool  # L2 / decoupled weight decay included for zeros and ties

    def to_dict(self) -> dict:
        return {"name": self.name, "members": list(self.members), "weight_decay": self.weight_decay,
                "description": self.description}


_REGISTRY: dict[str, OptimizerClass] = {}


def register_optimizer_class(entry: OptimizerClass) -> OptimizerClass:
    _REGISTRY[entry.name] = entry
    return entry


def registered_optimizer_classes() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def optimizer_class(name: "str | OptimizerClass") -> OptimizerClass:
    if isinstance(name, OptimizerClass):
        return name
    if name in ("kfac", "shampoo", "newton", "lbfgs"):
        raise RegistryError(
            f"optimizer class {name!r} mixes coordinates (a full preconditioner), so the invariance lemma "
            f"does not apply; known classes: {', '.join(registered_optimizer_classes())}"
        )
    if not isinstance(name, str) or name not in _REGISTRY:
        raise RegistryError(f"unknown optimizer class {name!r}; known classes: {', '.join(registered_optimizer_classes())}")
    return _REGISTRY[name]


register_optimizer_class(OptimizerClass(
    "coordinatewise",
    ("SGD", "SGD with momentum", "Nesterov", "RMSProp", "Adam", "AdamW", "L2 weight decay", "global-norm clipping"),
    "optimizers that apply one coordinate-wise function to each coordinate's gradient history and map a zero "
    "history to a zero update; any dataset, batch size, sample order and learning-rate schedule",
    True,
))
register_optimizer_class(OptimizerClass(
    "sgd",
    ("SGD",),
    "plain (minibatch) SGD with any learning-rate schedule, without weight decay",
    False,
))
register_optimizer_class(OptimizerClass(
    "momentum",
    ("SGD", "SGD with momentum", "Nesterov"),
    "SGD with heavy-ball or Nesterov momentum, any schedule",
    True,
))
register_optimizer_class(OptimizerClass(
    "linear",
    ("SGD", "SGD with momentum", "Nesterov"),
    "optimizers LINEAR in the gradient history (each update is a fixed linear combination of past gradients, the "
    "same for every coordinate): plain SGD, heavy-ball momentum, Nesterov, any learning-rate schedule and batches. "
    "The scope of linear conservation laws (symderiv.laws): a combination c·θ with c·∇ℓ ≡ 0 is then exactly "
    "conserved; Adam and RMSProp divide by per-coordinate statistics and break it",
    False,
))
register_optimizer_class(OptimizerClass(
    "odd",
    ("SGD", "SGD with momentum", "Nesterov", "RMSProp", "Adam", "AdamW", "L2 weight decay"),
    "optimizers whose update is an ODD function of the coordinate's gradient history (negating the history negates "
    "the step: SGD and momentum are linear, Adam/RMSProp divide an odd first moment by an even second moment, weight "
    "decay is linear in θ). The scope of signed ties (symderiv.signed): classes that start as exact negatives with "
    "negated gradients stay exact negatives",
    True,
))
