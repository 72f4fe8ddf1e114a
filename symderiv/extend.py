"""Every registry of symderiv, and how to add to it, in one place.

symderiv reads names (``mlp([4, 3, 3], "tanh", "ce")``, ``optimizer="muon"``, an ATen op in a traced
module) from registries, never from if-chains: a new activation, loss, graph op, optimizer or class is
one registration, and everything downstream (the provers, the CLI's option lists and messages, the
numeric cross-checks) picks it up.  This module re-exports the registration functions with a worked
example each.  Registrations are process-wide; ``replace=True`` overrides an entry where offered.

**Activations** (MLPs: :func:`symderiv.mlp`) - :func:`register_activation`.  A smooth activation needs
only ``f`` (its derivative is ``sympy.diff``); a kinked one gives its one-sided derivatives at 0 and the
default ``f'(0)``::

    import sympy as sp
    from symderiv.extend import register_activation, register_numeric_activation
    register_activation("cosine", lambda z: sp.cos(z), description="cos z")
    register_numeric_activation("cosine", np.cos, lambda z: -np.sin(z))   # for verify()'s NumPy checks
    sd.analyze(sd.mlp([3, 2, 2], "cosine"), sd.zeros())   # f(0) = 1, f'(0) = 0: W1, b1 stay 0 forever

**Losses** (MLPs) - :func:`register_loss` with a :class:`Loss`: symbolic labels (constraints built in),
the prediction, the per-example value, ``δ = ∂ℓ/∂z`` in closed form (never differentiated), a sampler of
exact labels and the label domain in words; :func:`register_numeric_loss` with a :class:`NumericLoss`
gives its NumPy form (value and δ on a batch).  Starting from a registered loss::

    import dataclasses
    from symderiv.extend import register_loss
    from symderiv.losses import loss
    register_loss(dataclasses.replace(loss("mse"), name="half_squares",
                                      value=lambda z, y: sum((a - b) ** 2 for a, b in zip(z, y)) / 2,
                                      delta=lambda z, y: [a - b for a, b in zip(z, y)]))

**Graph ops** (traced modules) - :func:`defop` (forward on object arrays of SymPy expressions),
:func:`defvjp` (the cotangent of each input, ``None`` for one that takes none) and, for contractions whose
symbolic probe would be slow, :func:`defshape`::

    from symderiv.extend import defop, defvjp
    defop("square", lambda ins, at: ins[0] * ins[0], "x² entrywise")
    defvjp("square", lambda g, ins, out, at: [2 * ins[0] * g])

**torch.export ATen ops** - :func:`aten_rule` (needs torch) registers ``rule(cx, *args, **kwargs)`` in
:data:`ATEN` for the ATen op names; it emits graph ops (registered as above) on converted values::

    from symderiv.extend import aten_rule
    @aten_rule("aten.square.default")
    def _square(cx, x):
        return cx.emit("square", [cx.node_of(x)])

Ops whose inputs are all constants need no rule (they are folded by torch itself).

**Graph losses** (traced modules) - :func:`register_graph_loss` with a :class:`GraphLoss`: labels,
``δ``, value and an exact-label sampler on output arrays of any shape::

    from symderiv.extend import register_graph_loss
    from symderiv.graph.losses import graph_loss
    register_graph_loss(dataclasses.replace(graph_loss("mse"), name="half_sse",
                                            label_domain="each y real; loss = half the sum of squares",
                                            delta=lambda z, y: z - y,
                                            value=lambda z, y: sum((a - b) ** 2 for a, b in zip(z.flat, y.flat)) / 2))

**Optimizer classes** (what a theorem covers) - :func:`register_optimizer_class` with an
:class:`OptimizerClass`, whose ``preserves`` names one of :data:`STRUCTURES` (``coordinatewise``,
``sign``, ``tensorwise``, ``factored``, ``rowcol``: the pattern lattice its statements are proved on)::

    from symderiv.extend import OptimizerClass, register_optimizer_class
    register_optimizer_class(OptimizerClass("signum", ("signSGD", "Signum"), "sign of the momentum",
                                            weight_decay=True, preserves="sign"))

**Optimizers people run** (``optimizer="name"``, CLI ``--optimizer``) - :func:`register_optimizer_rule`:
the class every tensor is trained under, and the :data:`REPLAY_OPTIMIZERS` entries (real ``torch.optim``
factories, needs torch) that ``verify()`` replays::

    from symderiv.extend import register_optimizer_rule
    register_optimizer_rule("signum", "Signum", "sign", replay=("lion",))

**Numeric optimizers** (NumPy training runs of ``verify()`` on MLPs) - :func:`register_optimizer` with an
:class:`Optimizer` subclass: ``name``, ``defaults`` and ``_update(p, g, state)`` (one coordinatewise rule)::

    from symderiv.extend import Optimizer, register_optimizer
    @register_optimizer
    class SignSGD(Optimizer):
        name = "signsgd"
        def _update(self, p, g, state):
            return p - self.options["lr"] * np.sign(g)

Listing what is registered: :func:`registered_activations`, :func:`registered_losses`,
:func:`registered_ops`, :func:`registered_graph_losses`, :func:`registered_optimizer_classes`,
:func:`registered_optimizers`, :func:`numeric_activations`, :func:`numeric_losses`, :data:`NUMERIC_OPTIMIZERS`.
"""
from __future__ import annotations

from typing import Any

from .activations import ActivationEntry, register_activation, registered_activations
from .graph.losses import GraphLoss, register_graph_loss, registered_graph_losses
from .graph.ops import OpRule, defop, defshape, defvjp, registered_ops
from .losses import Loss, register_loss, registered_losses
from .numeric import OPTIMIZERS as NUMERIC_OPTIMIZERS
from .numeric import (NumericActivation, NumericLoss, Optimizer, numeric_activations, numeric_losses,
                      register_numeric_activation, register_numeric_loss, register_optimizer)
from .optimizer_classes.assignment import STRUCTURES, register_optimizer_rule, registered_optimizers
from .optimizers import OptimizerClass, register_optimizer_class, registered_optimizer_classes

__all__ = [
    # MLP activations and losses
    "ActivationEntry", "register_activation", "registered_activations",
    "Loss", "register_loss", "registered_losses",
    # their NumPy forms and the NumPy optimizers (verify's numeric checks)
    "NumericActivation", "register_numeric_activation", "numeric_activations",
    "NumericLoss", "register_numeric_loss", "numeric_losses",
    "Optimizer", "register_optimizer", "NUMERIC_OPTIMIZERS",
    # graphs of traced modules
    "OpRule", "defop", "defvjp", "defshape", "registered_ops",
    "GraphLoss", "register_graph_loss", "registered_graph_losses",
    "aten_rule", "ATEN",
    # optimizer classes and the optimizers people run
    "OptimizerClass", "register_optimizer_class", "registered_optimizer_classes", "STRUCTURES",
    "register_optimizer_rule", "registered_optimizers", "REPLAY_OPTIMIZERS",
]

#: names that need torch, imported on first use (``import symderiv.extend`` works without torch)
_WITH_TORCH = {"aten_rule": ("symderiv.graph.export", "aten_rule"), "ATEN": ("symderiv.graph.export", "ATEN"),
               "REPLAY_OPTIMIZERS": ("symderiv.graph.replay", "OPTIMIZERS")}


def __getattr__(name: str) -> Any:
    if name in _WITH_TORCH:
        import importlib

        module, attribute = _WITH_TORCH[name]
        if module == "symderiv.graph.export":  # the library's rules fill ATEN when these are imported
            importlib.import_module("symderiv.graph.aten")
            importlib.import_module("symderiv.graph.aten_vision")
        return getattr(importlib.import_module(module), attribute)
    raise AttributeError(f"module 'symderiv.extend' has no attribute {name!r}")
