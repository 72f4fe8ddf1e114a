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
    #: what the class's update preserves (a key of :data:`symderiv.optimizer_classes.STRUCTURES`): every
    #: zero/tie pattern (``coordinatewise``, ``sign``), patterns inside one tensor (``tensorwise``), those with
    #: tied row/column statistics (``factored``), or whole rows and columns (``rowcol``)
    preserves: str = "coordinatewise"

    def to_dict(self) -> dict:
        return {"name": self.name, "members": list(self.members), "weight_decay": self.weight_decay,
                "preserves": self.preserves, "description": self.description}

    def scope_phrase(self) -> str:
        """The optimizers a theorem of this class covers, as the scope sentence names them."""
        return f"{_join(list(self.members))} (class '{self.name}')"

    def class_of(self, param: str) -> "OptimizerClass":
        """The class a parameter's statements hold for: this one, for every parameter."""
        return self


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


_REGISTRY: dict[str, OptimizerClass] = {}


def register_optimizer_class(entry: OptimizerClass) -> OptimizerClass:
    _REGISTRY[entry.name] = entry
    return entry


def registered_optimizer_classes() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def optimizer_class(name: "str | OptimizerClass") -> OptimizerClass:
    if isinstance(name, OptimizerClass):
        return name
    if name in ("kfac", "newton", "lbfgs"):
        raise RegistryError(
            f"optimizer class {name!r} mixes coordinates (a full preconditioner), so the invariance lemma "
            f"does not apply; known classes: {', '.join(registered_optimizer_classes())}"
        )
    if name in ("muon", "shampoo", "soap", "lion", "lamb", "lars", "adafactor"):
        raise RegistryError(f"{name!r} is an optimizer, not a class: pass optimizer={name!r} (its statements are "
                            f"proved on its own pattern lattice); known classes: {', '.join(registered_optimizer_classes())}")
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
register_optimizer_class(OptimizerClass(
    "sign",
    ("Lion",),
    "sign-based updates (Lion: the sign of an interpolation of the momentum and the gradient): coordinatewise, odd "
    "and zero-preserving (sign(0) = 0), so every zero and tie is preserved, signed ties too; not linear (no "
    "conservation laws)",
    True,
    "sign",
))
register_optimizer_class(OptimizerClass(
    "tensorwise",
    ("LAMB", "LARS"),
    "a positive scalar per tensor (a trust ratio ||θ||/||u||, global-norm clipping) times a coordinatewise update u: "
    "zeros and ties inside one tensor are preserved; ties between entries of different tensors are not (each "
    "tensor has its own ratio)",
    True,
    "tensorwise",
))
register_optimizer_class(OptimizerClass(
    "factored",
    ("Adafactor",),
    "factored second moments (Adafactor: G_ij / sqrt(R_i C_j / mean R), R and C the running row and column means "
    "of G², times per-tensor scalars): every zero is preserved; a tie inside one tensor is preserved when the rows "
    "and the columns it reads have equal statistics (the same multiset of tie classes); ties between tensors are not",
    True,
    "factored",
))
register_optimizer_class(OptimizerClass(
    "rowcol",
    ("Muon", "Shampoo", "SOAP"),
    "row/column-equivariant matrix maps (Muon's Newton-Schulz G -> p(GG^T)G, Shampoo's L^(-1/4) G R^(-1/4), SOAP's "
    "Adam in the eigenbases of L and R): a matrix's whole zero rows and columns and its tied rows and columns are "
    "preserved, single entries are not; a vector is an n x 1 matrix (entries are its rows); a tensor of 3 or more "
    "axes keeps its slices along the first axis; ties between tensors are not preserved",
    True,
    "rowcol",
))
