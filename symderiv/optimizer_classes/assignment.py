"""Optimizers as people run them, per tensor: the class each parameter is trained under."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from ..errors import InvalidArgument, RegistryError
from ..jsontext import JsonFace
from ..optimizers import OptimizerClass, optimizer_class, registered_optimizer_classes

__all__ = ["Structure", "STRUCTURES", "OPTIMIZER_RULES", "OptimizerAssignment", "optimizer_assignment",
           "registered_optimizers", "register_optimizer_rule"]


@dataclass(frozen=True)
class Structure:
    """What an optimizer class's update preserves (see the module docstring)."""

    name: str
    #: ties between entries of different tensors survive (the tensors are trained by one such optimizer)
    cross_tensor_ties: bool
    #: a coordinate with zero gradient history gets a zero update (else: whole rows/columns only)
    entrywise_moves: bool
    #: a certified first move of the gradient at step t > 1 (SGD witness) is a move of this class too
    later_moves_transfer: bool


STRUCTURES: dict[str, Structure] = {s.name: s for s in (
    Structure("coordinatewise", True, True, True),
    Structure("sign", True, True, False),
    Structure("tensorwise", False, True, False),
    Structure("factored", False, True, False),
    Structure("rowcol", False, False, False),
)}


# ---------------------------------------------------------------- optimizers -> a class per tensor
@dataclass(frozen=True)
class _Rule:
    """An optimizer as people run it: its display name, and the class of a tensor of each rank."""

    display: str
    by_rank: Callable[[int], tuple[str, str]]  # rank -> (optimizer name shown, class name)
    replay: tuple[str, ...]  # names in symderiv.graph.replay.OPTIMIZERS


def _one(display: str, cls: str, replay: tuple[str, ...]) -> _Rule:
    return _Rule(display, lambda rank: (display, cls), replay)


#: optimizer name -> how it treats each tensor.  ``muon``: torch.optim.Muon takes 2-D parameters only,
#: the others go to AdamW (as its documentation shows); ``adafactor`` factors tensors of rank >= 2 and
#: keeps a per-entry second moment for vectors (still times per-tensor scalars: tensorwise)
OPTIMIZER_RULES: dict[str, _Rule] = {
    "sgd": _one("SGD", "coordinatewise", ("sgd",)),
    "momentum": _one("SGD with momentum", "coordinatewise", ("momentum",)),
    "nesterov": _one("Nesterov", "coordinatewise", ("nesterov",)),
    "rmsprop": _one("RMSProp", "coordinatewise", ("rmsprop",)),
    "adam": _one("Adam", "coordinatewise", ("adam",)),
    "adamw": _one("AdamW", "coordinatewise", ("adam",)),
    "lion": _one("Lion", "sign", ("lion",)),
    "lamb": _one("LAMB", "tensorwise", ("lamb",)),
    "lars": _one("LARS", "tensorwise", ("lars",)),
    "adafactor": _Rule("Adafactor", lambda rank: ("Adafactor", "factored" if rank >= 2 else "tensorwise"),
                       ("adafactor",)),
    "muon": _Rule("Muon", lambda rank: ("Muon", "rowcol") if rank == 2 else ("AdamW", "coordinatewise"), ("muon",)),
    "shampoo": _one("Shampoo", "rowcol", ("shampoo",)),
    "soap": _one("SOAP", "rowcol", ("soap",)),
}


#: a class named as the optimizer: the real implementations verify() replays for it
CLASS_REPLAY: dict[str, tuple[str, ...]] = {
    "sign": ("lion",), "tensorwise": ("lamb", "lars"), "factored": ("adafactor",), "rowcol": ("muon", "shampoo", "soap"),
}


def register_optimizer_rule(name: str, display: str, class_name: str, replay: tuple[str, ...] = (), *,
                            replace: bool = False) -> None:
    """Add an optimizer people run (``optimizer="name"``): every tensor trained under the class ``class_name``;
    ``replay``: names in :data:`symderiv.graph.replay.OPTIMIZERS` that ``verify()`` runs for it."""
    if name in OPTIMIZER_RULES and not replace:
        raise RegistryError(f"optimizer {name!r} is already registered; pass replace=True to override it")
    optimizer_class(class_name)  # a registered class, else one line naming the known ones
    OPTIMIZER_RULES[name] = _one(display, class_name, tuple(replay))


def registered_optimizers() -> tuple[str, ...]:
    return tuple(sorted(OPTIMIZER_RULES))


@dataclass(frozen=True)
class OptimizerAssignment(JsonFace):
    """The class each trainable parameter is trained under; the scope of every statement.

    ``per_parameter``: ``(parameter, optimizer shown, class name)`` in parameter order; ``name``: what
    the user asked for (``"muon"``, a class name, or ``"per-parameter"``)."""

    name: str
    per_parameter: tuple[tuple[str, str, str], ...]
    #: names in :data:`symderiv.graph.replay.OPTIMIZERS` that verify() replays (``"assigned"``: the mapping itself)
    replay: tuple[str, ...] = ()
    #: per parameter (same order), the replay name of the optimizer that trains it (a mapping's real run)
    replay_of: tuple[str, ...] = ()

    @property
    def members(self) -> tuple[str, ...]:
        """``Muon on W1, W2`` style groups (the optimizers the statements cover, per tensor)."""
        groups: dict[tuple[str, str], list[str]] = {}
        for param, shown, cls in self.per_parameter:
            groups.setdefault((shown, cls), []).append(param)
        return tuple(f"{shown} on {', '.join(ps)} (class '{cls}')" for (shown, cls), ps in groups.items())

    def class_of(self, param: str) -> OptimizerClass:
        for p, _, cls in self.per_parameter:
            if p == param:
                return optimizer_class(cls)
        raise KeyError(f"{param!r} is not a trainable parameter of this analysis")

    def structure_of(self, param: str) -> Structure:
        return STRUCTURES[self.class_of(param).preserves]

    def scope_phrase(self) -> str:
        parts = list(self.members)
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return f"{text} (optimizer '{self.name}'; tensors trained by one optimizer share its hyperparameters)"

    @property
    def is_coordinatewise(self) -> bool:
        """One coordinatewise optimizer for every tensor: the coordinatewise proof applies unchanged."""
        return (all(cls == "coordinatewise" for _, _, cls in self.per_parameter)
                and len({shown for _, shown, _ in self.per_parameter}) <= 1)

    def to_dict(self) -> dict:
        return {"name": self.name,
                "per_parameter": {p: {"optimizer": shown, "class": cls,
                                      "preserves": optimizer_class(cls).preserves}
                                  for p, shown, cls in self.per_parameter},
                "classes": {cls: optimizer_class(cls).to_dict()
                            for cls in sorted({c for _, _, c in self.per_parameter})}}


def _resolve_one(spec: object, rank: int) -> tuple[str, str, tuple[str, ...]]:
    """``(optimizer shown, class name, replay names)`` of one spec for a tensor of ``rank``."""
    if isinstance(spec, OptimizerClass):
        return ", ".join(spec.members), spec.name, CLASS_REPLAY.get(spec.name, ())
    if not isinstance(spec, str):
        raise InvalidArgument(f"an optimizer is a name (one of {', '.join(registered_optimizers())}) or a class "
                              f"(one of {', '.join(registered_optimizer_classes())}), got {type(spec).__name__}")
    key = spec.lower()
    if key in OPTIMIZER_RULES:
        rule = OPTIMIZER_RULES[key]
        shown, cls = rule.by_rank(rank)
        return shown, cls, rule.replay
    try:
        cls_ = optimizer_class(key)
    except RegistryError:
        raise InvalidArgument(f"unknown optimizer {spec!r}; optimizers: {', '.join(registered_optimizers())}; "
                              f"classes: {', '.join(registered_optimizer_classes())}") from None
    return ", ".join(cls_.members), cls_.name, CLASS_REPLAY.get(cls_.name, ())


def optimizer_assignment(optimizer: object, shapes: Mapping[str, tuple[int, ...]]) -> OptimizerAssignment:
    """The :class:`OptimizerAssignment` of ``optimizer`` for trainable parameters of ``shapes`` (in order).

    ``optimizer``: an optimizer name (``"muon"``, ``"adafactor"``, ``"lion"``, ``"lamb"``, ``"shampoo"``, …),
    a class name or :class:`~symderiv.optimizers.OptimizerClass`, or a mapping parameter -> either (every
    trainable parameter named; e.g. ``{"W1": "muon", "b1": "adamw", …}``)."""
    if isinstance(optimizer, Mapping):
        unknown = sorted(set(map(str, optimizer)) - set(shapes))
        missing = [p for p in shapes if p not in optimizer]
        if unknown or missing:
            raise InvalidArgument(
                f"a per-parameter optimizer mapping must name every trainable parameter exactly: "
                + (f"unknown {', '.join(unknown)}; " if unknown else "")
                + (f"missing {', '.join(missing)}; " if missing else "")
                + f"parameters: {', '.join(shapes)}")
        rows, runs = [], []
        for p, shape in shapes.items():
            shown, cls, names = _resolve_one(optimizer[p], len(shape))
            rows.append((p, shown, cls))
            runs.append(names[0] if names else "adam")  # a coordinatewise class: Adam stands for it
        return OptimizerAssignment("per-parameter", tuple(rows), ("assigned",), tuple(runs))
    name = optimizer.name if isinstance(optimizer, OptimizerClass) else str(optimizer)
    rows, replay = [], []
    for p, shape in shapes.items():
        shown, cls, names = _resolve_one(optimizer, len(shape))
        rows.append((p, shown, cls))
        replay += [n for n in names if n not in replay]
    return OptimizerAssignment(name.lower() if isinstance(optimizer, str) else name, tuple(rows), tuple(replay))
