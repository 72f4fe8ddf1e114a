"""Init values of a graph's parameters as SymPy expressions: generic or exact.

* ``"generic"``: an exact 0 stays 0; entries with exactly equal values (also across
  parameters, e.g. a trainable copy of a frozen weight) share one symbol; every other
  value is its own symbol.  A theorem proved at these values holds for every model with
  the same pattern of zeros and equal values.
* ``"exact"``: every float is taken as the exact rational it is (``sp.Rational(float)``).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import InitError, InvalidArgument
from .ir import Graph

__all__ = ["init_values", "VALUE_MODES"]

VALUE_MODES = ("generic", "exact")


def _symbol_name(param: str, index: tuple[int, ...]) -> str:
    base = "c_" + "".join(ch if ch.isalnum() else "_" for ch in param)
    return base + ("_" + "_".join(str(i + 1) for i in index) if index else "")


def init_values(graph: Graph, mode: str = "generic") -> tuple[dict[str, np.ndarray], list[sp.Symbol]]:
    """``(values, symbols)``: per parameter an object array of its init values, and the init
    symbols introduced (empty for ``"exact"``)."""
    if mode not in VALUE_MODES:
        raise InvalidArgument(f"values must be one of {', '.join(VALUE_MODES)}, got {mode!r}")
    floats: dict[float, list[tuple[str, tuple[int, ...]]]] = {}
    for name, p in graph.params.items():
        if p.init is None:
            raise InitError(f"parameter {name} has no init values")
        if not np.all(np.isfinite(p.init)):
            raise InitError(f"parameter {name} holds a non-finite value (inf or nan)")
        for idx in np.ndindex(*p.shape):
            floats.setdefault(float(p.init[idx]) + 0.0, []).append((name, idx))  # -0.0 joins 0.0
    values = {name: np.empty(p.shape, dtype=object) for name, p in graph.params.items()}
    symbols: list[sp.Symbol] = []
    used: set[str] = set()
    shared = 0
    for value, entries in floats.items():
        if value == 0.0:
            expr = sp.Integer(0)
        elif mode == "exact":
            expr = sp.Rational(value)
        elif len(entries) == 1:
            name = _symbol_name(*entries[0])
            while name in used:  # sanitized names may collide ("a.b" and "a_b"): distinct values, distinct symbols
                name += "_"
            used.add(name)
            expr = sp.Symbol(name, real=True, nonzero=True)
            symbols.append(expr)
        else:
            shared += 1
            expr = sp.Symbol(f"e_{shared}", real=True, nonzero=True)
            symbols.append(expr)
        for name, idx in entries:
            values[name][idx] = expr
    return values, symbols
