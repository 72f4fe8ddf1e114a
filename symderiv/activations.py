"""Registry of hidden-layer activations: one entry per activation.

An entry holds the SymPy function and its derivative; a kinked activation holds
its one-sided derivatives at the kink instead, and the value of ``f'`` used *at*
the kink is an explicit, reported convention (``kink_grad``).  PyTorch's
``relu`` uses 0 there, ``torch.maximum`` 1/2 and ``clamp_min`` 1; SymPy's
``Heaviside(0)`` is 1/2.  The derivative is always written with
``Heaviside(z, H0)`` so that evaluating it at ``z = 0`` gives the convention.

The kinked activations are written with the function classes :class:`relu`,
:class:`leaky_relu` and :class:`elu` (not ``Max``/``Min``): SymPy canonicalizes
``Max(z, 0)`` by comparing ``z`` with 0 through ``factor_terms``, which costs
seconds to minutes per unit on a deep closed form.  These classes evaluate on
numbers and on arguments of known sign only, print as ``relu(z)`` (``\\max(0, z)``
in LaTeX), evaluate numerically, and differentiate to ``Heaviside(z, 0)`` (the
default convention ``f'(0)`` = left derivative, as PyTorch).  The registry's
``kink_grad`` convention is applied by :meth:`Activation.derivative`, never by
``fdiff``.

Users extend the registry with one call to :func:`register_activation`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, TypeAlias

import sympy as sp
from sympy.core.logic import fuzzy_and, fuzzy_not

from .errors import InternalError, NetworkError, RegistryError
from .jsontext import JsonFace

__all__ = [
    "Activation",
    "ActivationEntry",
    "activation",
    "register_activation",
    "registered_activations",
    "relu",
    "leaky_relu",
    "elu",
    "PIECEWISE_FUNCTIONS",
]

Expr: TypeAlias = sp.Expr
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
    if not callable(function) or not (derivative is None or callable(derivative)):
        raise RegistryError(f"activation {name!r}: function and derivative must be callables z -> SymPy expression")
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
class Activation(JsonFace):
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
            if entry.derivative is None:  # register_activation gives every entry one of the two
                raise InternalError(f"activation {self.name!r} has neither a derivative nor one-sided derivatives")
            return entry.derivative(z, **params)
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

    def to_dict(self) -> dict:
        data: dict = {"name": self.name}
        if self.params:
            data["params"] = {k: str(v) for k, v in self.params}
        if self.is_kinked:
            data["kink_grad"] = str(self.kink_grad)
        return data


def activation(name: str | Activation, *, kink_grad: object = None, **params: object) -> Activation:
    """Look up ``name`` in the registry and bind its parameters and kink convention.

    ``kink_grad`` is the value used for ``f'(0)`` by kinked activations; it must
    lie between the one-sided derivatives (a Clarke subgradient).
    """
    if isinstance(name, Activation):
        if kink_grad is None and name.kink_grad is None and name.name in _REGISTRY and name.is_kinked:
            # built directly (Activation("relu")): bind the registry's default f'(0), as activation("relu") does
            return activation(name.name, **dict(name.params))
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
    one_sided, default = entry.one_sided, entry.default_kink_grad
    if one_sided is None or default is None:  # kinked means one-sided derivatives, registered with a default f'(0)
        raise InternalError(f"the kinked activation {name!r} lacks one-sided derivatives or a default f'(0)")
    if kink_grad is None:
        g = sp.nsimplify(default(**values))
    else:
        g = _number(kink_grad, f"kink_grad of activation {name!r}")
    l0, r0 = (e.subs(_z, 0) for e in one_sided(_z, **values))
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
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        raise NetworkError(f"{what} must be a finite number, got {value!r}")
    if isinstance(value, (int, float)):
        return sp.nsimplify(value, rational=True)
    if isinstance(value, sp.Basic) and getattr(value, "is_number", False) and value.is_real:
        return sp.nsimplify(value)
    try:
        from fractions import Fraction

        if isinstance(value, Fraction):
            return sp.Rational(value.numerator, value.denominator)
        if isinstance(value, str):  # checked text only: Fraction("1e999999999") would hang
            from .guard import parse_number

            return parse_number(value, what, NetworkError)
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

# ---------------------------------------------------------------- piecewise function classes
class _Piecewise0(sp.Function):
    """A real function of ``z`` (and numeric parameters) with one kink at ``z = 0``: equal to
    ``_right(z)`` for ``z >= 0`` and ``_left(z, *params)`` for ``z <= 0``.

    Construction is cheap: it evaluates only when the sign of ``z`` is known (a number, or
    an expression SymPy's assumptions decide, such as ``-x**2 - 1``), so a dead unit is a
    structural 0 as with ``Max``, but nothing is compared or factored."""

    @classmethod
    def _left(cls, z: Expr, *params: Expr) -> Expr:
        raise NotImplementedError

    @classmethod
    def eval(cls, z: Expr, *params: Expr):
        if z.is_extended_nonnegative:
            return z
        if z.is_extended_nonpositive:
            return cls._left(z, *params)
        return None

    def _eval_is_extended_real(self):
        return fuzzy_and(a.is_extended_real for a in self.args)

    def _eval_is_finite(self):
        return fuzzy_and(a.is_finite for a in self.args)

    def _eval_is_zero(self):
        z = self.args[0]
        if z.is_zero:
            return True
        if fuzzy_not(z.is_zero) and z.is_extended_positive:
            return False
        return None

    def _eval_is_extended_positive(self):
        return self.args[0].is_extended_positive

    def _eval_evalf(self, prec: int):
        args = [a._evalf(prec) for a in self.args]
        if not all(a.is_Number for a in args):
            return None
        value = self.func(*args)  # a number's sign is known: evaluates to the branch
        return None if isinstance(value, _Piecewise0) else value._evalf(prec)

    def _eval_rewrite_as_Max(self, z: Expr, *params: Expr, **kwargs) -> Expr:
        return self._max_form(z, *params)

    @classmethod
    def _max_form(cls, z: Expr, *params: Expr) -> Expr:
        raise NotImplementedError


class relu(_Piecewise0):
    """``max(z, 0)``; ``diff`` gives ``Heaviside(z, 0)`` (``f'(0) = 0``, PyTorch's convention)."""

    nargs = 1

    @classmethod
    def _left(cls, z: Expr) -> Expr:
        return sp.Integer(0)

    def _eval_is_extended_nonnegative(self):
        return self.args[0].is_extended_real

    def fdiff(self, argindex: int = 1) -> Expr:
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return sp.Heaviside(self.args[0], 0)

    @classmethod
    def _max_form(cls, z: Expr) -> Expr:
        return sp.Max(z, 0)

    def _eval_rewrite_as_Heaviside(self, z: Expr, **kwargs) -> Expr:
        return z * sp.Heaviside(z, 0)

    def _latex(self, printer, exp=None) -> str:
        tex = rf"\max\left(0, {printer._print(self.args[0])}\right)"
        return rf"{tex}^{{{exp}}}" if exp else tex


class leaky_relu(_Piecewise0):
    """``max(z, 0) + s·min(z, 0)`` (``s`` = ``args[1]``); ``diff`` gives ``s + (1 - s)·Heaviside(z, 0)``
    (``f'(0) = s``, PyTorch's convention)."""

    nargs = 2

    @classmethod
    def _left(cls, z: Expr, slope: Expr) -> Expr:
        return slope * z

    def fdiff(self, argindex: int = 1) -> Expr:
        z, slope = self.args
        if argindex == 1:
            return slope + (1 - slope) * sp.Heaviside(z, 0)
        if argindex == 2:
            return z - relu(z)
        raise sp.ArgumentIndexError(self, argindex)

    @classmethod
    def _max_form(cls, z: Expr, slope: Expr) -> Expr:
        return sp.Max(z, 0) + slope * sp.Min(z, 0)

    def _latex(self, printer, exp=None) -> str:
        z, slope = (printer._print(a) for a in self.args)
        tex = rf"\operatorname{{lrelu}}_{{{slope}}}\left({z}\right)"
        return rf"\left({tex}\right)^{{{exp}}}" if exp else tex


class elu(_Piecewise0):
    """``z`` for ``z >= 0``, ``a·(e^z - 1)`` for ``z <= 0`` (``a`` = ``args[1]``); ``diff`` gives
    ``elu(z, a) + a + (1 - elu(z, a) - a)·Heaviside(z, 0)`` (``f'(0) = a``, PyTorch's convention),
    which never evaluates ``e^z`` for large ``z``."""

    nargs = 2

    @classmethod
    def _left(cls, z: Expr, alpha: Expr) -> Expr:
        return alpha * (sp.exp(z) - 1)

    def fdiff(self, argindex: int = 1) -> Expr:
        z, alpha = self.args
        if argindex == 1:
            return self + alpha + (1 - self - alpha) * sp.Heaviside(z, 0)
        if argindex == 2:
            return sp.exp(z - relu(z)) - 1
        raise sp.ArgumentIndexError(self, argindex)

    @classmethod
    def _max_form(cls, z: Expr, alpha: Expr) -> Expr:
        return sp.Max(z, 0) + alpha * (sp.exp(sp.Min(z, 0)) - 1)

    def _latex(self, printer, exp=None) -> str:
        z, alpha = (printer._print(a) for a in self.args)
        tex = rf"\operatorname{{elu}}_{{{alpha}}}\left({z}\right)"
        return rf"\left({tex}\right)^{{{exp}}}" if exp else tex


#: the piecewise function classes above; a certified evaluator needs one rule per class
PIECEWISE_FUNCTIONS: tuple[type, ...] = (relu, leaky_relu, elu)


# ---------------------------------------------------------------- kinked activations (kink at 0)
register_activation(
    "relu",
    lambda z: relu(z),
    one_sided=lambda z: (sp.Integer(0), sp.Integer(1)),
    default_kink_grad=lambda: sp.Integer(0),
    description="max(z, 0); f'(0) = 0 as PyTorch's relu",
)
register_activation(
    "leaky_relu",
    lambda z, slope: leaky_relu(z, slope),
    one_sided=lambda z, slope: (slope, sp.Integer(1)),
    default_kink_grad=lambda slope: slope,
    params={"slope": sp.Rational(1, 100)},
    description="max(z,0) + slope·min(z,0); f'(0) = slope as PyTorch",
)
# the left derivative alpha·e^z is written elu(z) + alpha (equal for z <= 0): it shares the
# forward node and stays finite for large z, where only the right derivative counts
register_activation(
    "elu",
    lambda z, alpha: elu(z, alpha),
    one_sided=lambda z, alpha: (elu(z, alpha) + alpha, sp.Integer(1)),
    default_kink_grad=lambda alpha: alpha,
    params={"alpha": sp.Integer(1)},
    description="max(z,0) + alpha·(e^min(z,0) − 1); f'(0) = alpha as PyTorch",
)
