"""Registry of hidden-layer activations: one entry per activation.

An entry holds the SymPy function and its derivative; a kinked activation holds
its one-sided derivatives at the kink instead, and the value of ``f'`` used *at*
the kink is an explicit, reported convention (``kink_grad``).  PyTorch's
``relu`` uses 0 there, ``torch.maximum`` 1/2 and ``clamp_min`` 1; SymPy's
``Heaviside(0)`` is 1/2.  The derivative is always written with
``Heaviside(z, H0)`` so that evaluating it at ``z = 0`` gives the convention.

Users extend the registry with one call to :func:`register_activation`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import sympy as sp

from .errors import NetworkError, RegistryError

__all__ = [
    "Activation",
    "ActivationEntry",
    "activation",
    "register_activation",
    "registered_activations",
]

Expr = sp.Expr
_z = sp.Symbol("z", real=True)


@dataclass(frozen=True)
class ActivationEntry:
    """How to build an activation from its parameters.

    * ``function(z, **params)``: the SymPy expression ``f(z)``.
    * ``derivative(z, **params)``: ``f'(z)`` for smooth activations.
    * ``one_sided(z, **params)``: ``(left, right)`` derivative expressions for a
      kinked activation, the kink being at ``z = 0``; ``f'`` is
      ``left + (right - left)·Heaviside(z, H0)``.
    * ``default_kink_grad(**params)``: the default value of ``f'(0)``.
    * ``params``: default parameter values.
    """

    name: str
    function: Callable[..., Expr]
    derivative: Callable[..., Expr] | None = None
    one_sided: Callable[..., tuple[Expr, Expr]] | None = None
    default_kink_grad: Callable[..., Expr] | None = None
    params: Mapping[str, Expr] = field(default_factory=dict)
    description: str = ""


_REGISTRY: dict[str, ActivationEntry] = {}


def register_activation(
    name: str,
    function: Callable[..., Expr],
    derivative: Callable[..., Expr] | None = None,
    *,
    one_sided: Callable[..., tuple[Expr, Expr]] | None = None,
    default_kink_grad: Callable[..., Expr] | None = None,
    params: Mapping[str, object] | None = None,
    description: str = "",
    replace: bool = False,
) -> ActivationEntry:
    """Add an activation to the registry and return its entry.

    ``function`` maps a SymPy expression (and keyword parameters) to ``f(z)``.
    Without ``derivative`` or ``one_sided``, the derivative is ``sympy.diff`` of
    ``function`` (fine for smooth activations).  A kinked activation gives
    ``one_sided`` (left and right derivatives; the kink must be at 0) and
    ``default_kink_grad``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise RegistryError(f"activation name must be an identifier, got {name!r}")
    if name in _REGISTRY and not replace:
        raise RegistryError(f"activation {name!r} is already registered; pass replace=True to override it")
    if derivative is None and one_sided is None:
        def derivative(z: Expr, **kw: Expr) -> Expr:  # noqa: E306 - default: differentiate
            return sp.diff(function(_z, **kw), _z).subs(_z, z)
    if one_sided is not None and default_kink_grad is None:
        raise RegistryError(f"kinked activation {name!r} needs default_kink_grad (f'(0))")
    entry = ActivationEntry(
        name=name,
        function=function,
        derivative=derivative if one_sided is None else None,
        one_sided=one_sided,
        default_kink_grad=default_kink_grad,
        params={k: sp.nsimplify(v) for k, v in (params or {}).items()},
        description=description,
    )
    _REGISTRY[name] = entry
    return entry


def registered_activations() -> tuple[str, ...]:
    """Names of the registered activations, sorted."""
    return tuple(sorted(_REGISTRY))


@dataclass(frozen=True)
class Activation:
    """An activation bound to its parameters and its kink convention."""

    name: str
    params: tuple[tuple[str, Expr], ...] = ()
    kink_grad: Expr | None = None

    @property
    def entry(self) -> ActivationEntry:
        return _REGISTRY[self.name]

    @property
    def is_kinked(self) -> bool:
        """True when ``f`` is not differentiable at 0 (the convention matters)."""
        entry = self.entry
        if entry.one_sided is None:
            return False
        left, right = entry.one_sided(sp.Integer(0), **dict(self.params))
        return sp.simplify(left - right) != 0

    def __call__(self, z: Expr) -> Expr:
        return self.entry.function(z, **dict(self.params))

    def derivative(self, z: Expr) -> Expr:
        """``f'(z)``; at the kink this evaluates to ``kink_grad``."""
        entry = self.entry
        params = dict(self.params)
        if entry.one_sided is None:
            return entry.derivative(z, **params)  # type: ignore[misc]
        left, right = entry.one_sided(z, **params)
        if not self.is_kinked:
            return left + (right - left) * sp.Heaviside(z)
        l0, r0 = (e.subs(_z, 0) for e in entry.one_sided(_z, **params))
        h0 = sp.nsimplify((self.kink_grad - l0) / (r0 - l0))
        return left + (right - left) * sp.Heaviside(z, h0)

    def with_kink_grad(self, value: object) -> "Activation":
        """The same activation with another value of ``f'(0)`` (no-op when smooth)."""
        if not self.is_kinked:
            return self
        return activation(self.name, kink_grad=value, **dict(self.params))

    def describe(self) -> str:
        """A short label, e.g. ``relu (f'(0) = 0)`` or ``leaky_relu(slope=1/100)``."""
        text = self.name
        if self.params:
            text += "(" + ", ".join(f"{k}={v}" for k, v in self.params) + ")"
        if self.is_kinked:
            text += f" (f'(0) = {self.kink_grad})"
        return text

    def to_json(self) -> dict:
        data: dict = {"name": self.name}
        if self.params:
            data["params"] = {k: str(v) for k, v in self.params}
        if self.is_kinked:
            data["kink_grad"] = str(self.kink_grad)
        return data


def activation(name: str, *, kink_grad: object = None, **params: object) -> Activation:
    """Look up ``name`` in the registry and bind its parameters and kink convention.

    ``kink_grad`` is the value used for ``f'(0)`` by kinked activations; it must
    lie between the one-sided derivatives (a Clarke subgradient).
    """
    if isinstance(name, Activation):
        return name if kink_grad is None else name.with_kink_grad(kink_grad)
    if not isinstance(name, str) or name not in _REGISTRY:
        raise RegistryError(
            f"unknown activation {name!r}; known activations: {', '.join(registered_activations())}"
        )
    entry = _REGISTRY[name]
    unknown = sorted(set(params) - set(entry.params))
    if unknown:
        accepted = ", ".join(entry.params) or "none"
        raise NetworkError(f"activation {name!r} has no parameter {unknown[0]!r}; its parameters: {accepted}")
    values = dict(entry.params)
    for key, value in params.items():
        values[key] = _number(value, f"parameter {key!r} of activation {name!r}")
    bound = Activation(name, tuple(sorted(values.items())), None)
    if not bound.is_kinked:
        return bound
    if kink_grad is None:
        g = sp.nsimplify(entry.default_kink_grad(**values))  # type: ignore[misc]
    else:
        g = _number(kink_grad, f"kink_grad of activation {name!r}")
    l0, r0 = (e.subs(_z, 0) for e in entry.one_sided(_z, **values))  # type: ignore[misc]
    lo, hi = sorted([l0, r0], key=float)
    if not (lo <= g <= hi):
        raise NetworkError(
            f"kink_grad {g} of activation {name!r} must lie between the one-sided derivatives {lo} and {hi}"
        )
    return Activation(name, bound.params, g)


def _number(value: object, what: str) -> Expr:
    """An exact SymPy number from an int, a Fraction, a decimal string or a float."""
    if isinstance(value, bool):
        raise NetworkError(f"{what} must be a number, got {value!r}")
    if isinstance(value, (int, float)):
        return sp.nsimplify(value, rational=True)
    if isinstance(value, sp.Basic) and getattr(value, "is_number", False) and value.is_real:
        return sp.nsimplify(value)
    try:
        from fractions import Fraction

        if isinstance(value, Fraction):
            return sp.Rational(value.numerator, value.denominator)
        if isinstance(value, str):
            f = Fraction(value)
            return sp.Rational(f.numerator, f.denominator)
    except (ValueError, ZeroDivisionError):
        pass
    raise NetworkError(f"{what} must be a real number such as 0, 1/2 or 0.01, got {value!r}")


# ---------------------------------------------------------------- smooth activations
def _sigmoid(z: Expr) -> Expr:
    return 1 / (1 + sp.exp(-z))


register_activation("identity", lambda z: z, lambda z: sp.Integer(1), description="f(z) = z")
register_activation("sigmoid", _sigmoid, lambda z: _sigmoid(z) * (1 - _sigmoid(z)), description="1/(1+e^-z)")
register_activation("tanh", sp.tanh, lambda z: 1 - sp.tanh(z) ** 2, description="tanh z")
register_activation("softplus", lambda z: sp.log(1 + sp.exp(z)), _sigmoid, description="log(1+e^z)")
register_activation(
    "silu", lambda z: z * _sigmoid(z), lambda z: _sigmoid(z) * (1 + z * (1 - _sigmoid(z))), description="z·σ(z)"
)
register_activation(
    "gelu",
    lambda z: z * (1 + sp.erf(z / sp.sqrt(2))) / 2,
    lambda z: (1 + sp.erf(z / sp.sqrt(2))) / 2 + z * sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi),
    description="z·Φ(z) (exact, erf form)",
)

# ---------------------------------------------------------------- kinked activations (kink at 0)
register_activation(
    "relu",
    lambda z: sp.Max(z, 0),
    one_sided=lambda z: (sp.Integer(0), sp.Integer(1)),
    default_kink_grad=lambda: sp.Integer(0),
    description="max(z, 0); f'(0) = 0 as PyTorch's relu",
)
register_activation(
    "leaky_relu",
    lambda z, slope: sp.Max(z, 0) + slope * sp.Min(z, 0),
    one_sided=lambda z, slope: (slope, sp.Integer(1)),
    default_kink_grad=lambda slope: slope,
    params={"slope": sp.Rational(1, 100)},
    description="max(z,0) + slope·min(z,0); f'(0) = slope as PyTorch",
)
register_activation(
    "elu",
    lambda z, alpha: sp.Max(z, 0) + alpha * (sp.exp(sp.Min(z, 0)) - 1),
    one_sided=lambda z, alpha: (alpha * sp.exp(sp.Min(z, 0)), sp.Integer(1)),
    default_kink_grad=lambda alpha: alpha,
    params={"alpha": sp.Integer(1)},
    description="max(z,0) + alpha·(e^min(z,0) − 1); f'(0) = alpha as PyTorch",
)
