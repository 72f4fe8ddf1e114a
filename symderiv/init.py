"""Initialization specs and their resolution, parameter by parameter.

* :func:`zeros` - every entry 0;
* :func:`constant` - every entry the same number or symbol;
* :func:`generic` - every entry its own free symbol ("a random init": no
  accidental symmetry);
* an explicit NumPy/SymPy array or nested list for one parameter;
* a mapping from parameter names (``"W1"``), ``"W"`` (all weights), ``"b"``
  (all biases) or ``"*"`` (everything else) to any of the above.

Values are kept exact: floats become the rational they stand for, so a tie in
the init is an exact equality.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping, Union

import numpy as np
import sympy as sp

from .errors import InitError, InternalError, SizeLimitError
from .network import Network

__all__ = [
    "InitSpec", "Zeros", "Constant", "Generic", "Explicit",
    "zeros", "constant", "generic", "resolve_init", "ParamInit", "MAX_EXPLICIT_ENTRIES",
    "exact_value", "entry_symbol",
]

#: generic / explicit parameters larger than this are refused (they would mean
#: millions of stored symbols); use zeros/constant, which the engine handles at any width.
MAX_EXPLICIT_ENTRIES = 200_000


class InitSpec:
    """Base class of the initialization specs."""

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Zeros(InitSpec):
    def describe(self) -> str:
        return "zeros"


@dataclass(frozen=True)
class Constant(InitSpec):
    value: sp.Expr

    def describe(self) -> str:
        return f"constant {self.value}"


@dataclass(frozen=True)
class Generic(InitSpec):
    def describe(self) -> str:
        return "generic (every entry its own symbol)"


@dataclass(frozen=True)
class Explicit(InitSpec):
    values: tuple  # nested tuples of exact SymPy values

    def describe(self) -> str:
        return "explicit array"


def zeros() -> Zeros:
    """Every entry 0."""
    return Zeros()


def constant(value: object) -> Constant:
    """Every entry ``value`` (a number, kept exact, or a SymPy symbol such as ``c``)."""
    return Constant(exact_value(value, "constant(value)"))


def generic() -> Generic:
    """Every entry its own free symbol, e.g. ``W1_2_3`` (row 2, column 3, 1-based)."""
    return Generic()


def exact_value(value: object, what: str) -> sp.Expr:
    """An exact SymPy value: ints and Fractions exactly, floats as the binary rational they are."""
    if isinstance(value, bool):
        raise InitError(f"{what} must be a number or a SymPy expression, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return sp.Integer(int(value))
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            raise InitError(f"{what} must be finite, got {value!r}")
        return sp.Rational(float(value))
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, sp.Basic):
        if isinstance(value, sp.Float):
            return sp.Rational(value)
        if value.is_real is False or value.has(sp.zoo, sp.oo, sp.nan):
            raise InitError(f"{what} must be real and finite, got {value}")
        from .symbol_names import check_user_symbols

        check_user_symbols(value, what, error=InitError)
        return value
    raise InitError(f"{what} must be a number or a SymPy expression, got {value!r}")


def entry_symbol(name: str, index: tuple[int, ...]) -> sp.Symbol:
    """The symbol of one entry of a generic parameter, 1-based: ``W1_2_3``, ``b2_1``."""
    return sp.Symbol(name + "_" + "_".join(str(i + 1) for i in index), real=True)


# ---------------------------------------------------------------- resolution
@dataclass(frozen=True)
class ParamInit:
    """The init of one parameter: ``kind`` is ``"uniform"``, ``"generic"`` or ``"array"``.

    ``value`` is the uniform value; ``array`` a NumPy object array of exact values.
    """

    name: str
    kind: str
    value: sp.Expr | None = None
    array: np.ndarray | None = None
    spec: str = ""

    def entry(self, index: tuple[int, ...]) -> sp.Expr:
        """The exact initial value of one entry."""
        if self.kind == "uniform":
            return self.uniform_value()
        if self.kind == "generic":
            return entry_symbol(self.name, index)
        return self.exact_array()[index]

    def uniform_value(self) -> sp.Expr:
        """The value of a ``"uniform"`` init (:class:`~symderiv.errors.InternalError` for another kind)."""
        if self.value is None:
            raise InternalError(f"{self.name}: an init of kind {self.kind!r} has no uniform value")
        return self.value

    def exact_array(self) -> np.ndarray:
        """The exact values of an ``"array"`` init (:class:`~symderiv.errors.InternalError` for another kind)."""
        if self.array is None:
            raise InternalError(f"{self.name}: an init of kind {self.kind!r} has no array")
        return self.array


InitLike = Union[InitSpec, Mapping[str, object], np.ndarray, sp.MatrixBase, list, tuple, int, float]


def resolve_init(net: Network, init: object) -> dict[str, ParamInit]:
    """One :class:`ParamInit` per parameter of ``net``, or a one-line :class:`InitError`."""
    names = net.parameter_names()
    if init is None:
        init = generic()
    if isinstance(init, Mapping):
        unknown = [k for k in init if k not in names and k not in ("W", "b", "*")]
        if unknown:
            raise InitError(
                f"init mapping has key {unknown[0]!r}; accepted keys: {', '.join(names)}, 'W', 'b', '*'"
            )
        resolved = {}
        missing = []
        for name in names:
            for key in (name, name[0], "*"):
                if key in init:
                    resolved[name] = _resolve_one(net, name, init[key])
                    break
            else:
                missing.append(name)
        if missing:
            raise InitError(
                f"init mapping does not cover {', '.join(missing)}; add them or a '*' entry (e.g. '*': zeros())"
            )
        return resolved
    if isinstance(init, (np.ndarray, sp.MatrixBase, list, tuple)):
        raise InitError("an explicit array initializes one parameter: pass a mapping such as {'W1': array, ...}")
    return {name: _resolve_one(net, name, init) for name in names}


def _resolve_one(net: Network, name: str, spec: object) -> ParamInit:
    shape = net.shape(name)
    if isinstance(spec, (int, float, Fraction, np.integer, np.floating)) and not isinstance(spec, bool):
        spec = constant(spec)
    if isinstance(spec, sp.Basic) and not isinstance(spec, sp.MatrixBase):
        spec = constant(spec)
    if isinstance(spec, Zeros):
        return ParamInit(name, "uniform", sp.Integer(0), spec=spec.describe())
    if isinstance(spec, Constant):
        return ParamInit(name, "uniform", spec.value, spec=spec.describe())
    symbolic = [n for n in shape if not isinstance(n, int)]
    if isinstance(spec, Generic):
        if symbolic:
            raise InitError(
                f"{name} has symbolic shape {shape}; a generic init needs concrete widths (use zeros() or constant())"
            )
        size = int(np.prod(shape))
        if size > MAX_EXPLICIT_ENTRIES:
            raise SizeLimitError(
                f"generic init of {name} would create {size} symbols (limit {MAX_EXPLICIT_ENTRIES}); "
                "use zeros()/constant() for wide layers"
            )
        return ParamInit(name, "generic", spec=spec.describe())
    if isinstance(spec, (np.ndarray, sp.MatrixBase, list, tuple, Explicit)):
        if symbolic:
            raise InitError(f"{name} has symbolic shape {shape}; an explicit array needs concrete widths")
        return ParamInit(name, "array", array=_exact_array(name, spec, shape), spec="explicit array")
    raise InitError(
        f"init for {name} must be zeros(), constant(v), generic(), a number or an array, got {spec!r}"
    )


def _exact_array(name: str, spec: object, shape: tuple) -> np.ndarray:
    if isinstance(spec, Explicit):
        spec = spec.values
    if isinstance(spec, sp.MatrixBase):
        rows = [[spec[i, j] for j in range(spec.cols)] for i in range(spec.rows)]
        data = np.empty((spec.rows, spec.cols), dtype=object)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                data[i, j] = v
        if len(shape) == 1 and 1 in data.shape:
            data = data.reshape(-1)
    else:
        try:
            raw = np.asarray(spec, dtype=object)
        except Exception as exc:  # ragged lists and the like
            raise InitError(f"init for {name} is not a rectangular array: {exc}") from None
        data = raw
    if data.shape != tuple(shape):
        raise InitError(f"init for {name} has shape {tuple(data.shape)}, but {name} has shape {tuple(shape)}")
    if data.size > MAX_EXPLICIT_ENTRIES:
        raise SizeLimitError(f"explicit init of {name} has {data.size} entries (limit {MAX_EXPLICIT_ENTRIES})")
    out = np.empty(data.shape, dtype=object)
    for index in np.ndindex(*data.shape):
        v = data[index]
        if isinstance(v, np.generic):
            v = v.item()
        out[index] = exact_value(v, f"{name}{list(index)}")
    return out
