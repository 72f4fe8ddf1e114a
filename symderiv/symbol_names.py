"""A derivation's own symbols by name (:meth:`symderiv.engine.Derivation.symbols`).

symderiv's symbols are ``real=True`` (and init symbols may carry more assumptions), so
``sp.Symbol("y_1")`` is not symderiv's ``y_1`` and ``expr.subs`` with it silently does nothing:
the classic student trap.  This module looks names up in the symbols a derivation actually
uses and turns a wrong name into a one-line :class:`~symderiv.errors.InvalidArgument` that
suggests the closest names (``W1_12`` → ``W1_1_2``, ``y1`` → ``y_1``).
"""
from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Iterable, Sequence

import sympy as sp

from .errors import InvalidArgument

if TYPE_CHECKING:
    from .engine import Derivation

__all__ = ["symbol_table", "lookup_symbols", "check_user_symbols", "parameter_entry_of"]

#: a user's symbol name (init constant, width): letters, digits and underscores, starting with a
#: letter; printed into LaTeX and text as it is, so it must carry no markup (``\input{…}``)
_USER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*", re.ASCII)
#: names symderiv gives its own data, labels, predictions and pre-activations (1-based indices): an
#: init constant so named would mix init and data (x_1 is the first input).  Parameter-entry names
#: (W1_1_2) are init symbols already: a generic entry's, carried by inits the analysis derives
_DATA_NAME = re.compile(r"(?:x|y|p|z|h|delta|dz)_?\d+(?:_\d+)*", re.ASCII)
#: names that print as a number or a constant ("all 7*nan weights", "constant I"): they would state nothing
_NUMBER_NAME = re.compile(r"(?i:nan|inf|infty|infinity|oo|zoo|pi)|[eEI]", re.ASCII)


def check_user_symbols(value: sp.Basic, what: str, *, data_names: bool = False,
                       error: type[Exception] = InvalidArgument) -> None:
    """Refuse, in one line, a symbol in ``value`` whose name is not a plain identifier (it would be
    copied into LaTeX: ``\\input{…}``), or (``data_names=False``) is the name of one of symderiv's
    data symbols (``x_1``, ``y_2``, ``p_1``): an init must not mix init and data."""
    for s in sorted(value.free_symbols, key=str):
        name = str(s)
        shown = name if len(name) <= _SHOWN else name[:_SHOWN - 3] + "…"
        if not _USER_NAME.fullmatch(name):
            raise error(f"{what}: the symbol name {shown!r} is not accepted; use letters, digits and "
                                  "underscores, starting with a letter (e.g. c, c_1, alpha)")
        if _NUMBER_NAME.fullmatch(name):
            raise error(f"{what}: the symbol name {name!r} reads as a number or a constant (nan, inf, oo, pi, e, E, I); "
                        "choose another, e.g. c or n")
        if not data_names and _DATA_NAME.fullmatch(name):
            raise error(f"{what}: the symbol {name} is the name of a data symbol (inputs x_j, labels y_k, "
                        "predictions p_k); name the init constant otherwise, e.g. c or c_1")

#: names listed in full in an error message below this count (else the first ones and a count)
_LISTED = 12
#: a name longer than this is quoted shortened (a 5,000-letter "name" is not echoed)
_SHOWN = 40


def symbol_table(d: "Derivation") -> dict[str, sp.Symbol]:
    """Name -> symbol for every symbol ``d``'s closed forms can contain, in a fixed order:
    inputs, free labels, parameter and init symbols, width symbols, abbreviation names (SymPy dummies,
    printed and listed with a leading underscore: ``_z1_1``, ``_delta2_1``)."""
    table: dict[str, sp.Symbol] = {}

    def add(symbols: Iterable[sp.Basic]) -> None:
        for s in symbols:
            if isinstance(s, sp.Symbol):  # a Dummy (an abbreviation name) by its printed name: _z1_1
                table.setdefault(str(s), s)

    add(d.x)
    add(d.label_symbols)
    init_symbols: set[sp.Symbol] = set()
    for value in d.values.values():
        init_symbols |= {s for s in value.free_symbols if isinstance(s, sp.Symbol)}
    add(sorted(init_symbols, key=sp.default_sort_key))
    add(n for n in d.net.sizes if isinstance(n, sp.Symbol))
    add(d.definitions)
    return table


def _split(names: Sequence[object]) -> list[str]:
    out: list[str] = []
    for item in names:
        if isinstance(item, sp.Symbol):
            out.append(item.name)
        elif isinstance(item, str):
            out.extend(part for part in re.split(r"[\s,]+", item) if part)
        else:
            raise InvalidArgument(f"symbols() takes names (strings or SymPy symbols), got {type(item).__name__}")
    if not out:
        raise InvalidArgument('symbols() needs at least one name, e.g. d.symbols("y_1", "W1_1_2")')
    return out


def _squash(name: str) -> str:
    """``W1_12`` and ``w1_1_2`` → ``w112``: the spelling without case and separators."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _listing(table: dict[str, sp.Symbol]) -> str:
    names = list(table)
    if len(names) <= _LISTED:
        return ", ".join(names)
    return ", ".join(names[:_LISTED]) + f", … ({len(names)} symbols)"


#: the name of a parameter entry's symbol: the parameter, then its 1-based indices (``W1_1_2``, ``b2_3``)
_ENTRY_NAME = re.compile(r"([Wb]\d+)((?:_\d+)+)")


def parameter_entry_of(name: str) -> "tuple[str, tuple[int, ...]] | None":
    """``("W1", (0, 1))`` for the symbol name ``W1_1_2`` of a parameter entry (0-based index); None for
    any other name.  The one reader of the names :func:`symderiv.init.entry_symbol` and
    :func:`symderiv.law_records.entry_symbol_name` write."""
    m = _ENTRY_NAME.fullmatch(name)
    if m is None:
        return None
    return m.group(1), tuple(int(i) - 1 for i in m.group(2).split("_")[1:])


def _parameter_entry(d: "Derivation", name: str) -> "tuple[str, tuple[int, ...]] | None":
    """``("W1", (0, 1))`` when ``name`` is the symbol name of an entry of ``d``'s network (``W1_1_2``)."""
    entry = parameter_entry_of(name)
    if entry is None or entry[0] not in d.net.parameter_names():
        return None
    param, index = entry
    shape = d.net.shape(param)
    if len(index) != len(shape) or any(i < 0 or (isinstance(n, int) and i >= n) for i, n in zip(index, shape)):
        return None
    return param, index


def _unknown(name: str, d: "Derivation", table: dict[str, sp.Symbol]) -> InvalidArgument:
    shown = name if len(name) <= _SHOWN else name[:_SHOWN - 3] + "…"
    same = [n for n in table if _squash(n) == _squash(name)]
    close = same or difflib.get_close_matches(name, list(table), n=3, cutoff=0.6)
    why = ""
    label = re.fullmatch(r"y_?(\d+)", name)
    if label and len(d.y) > len(d.label_symbols) and int(label.group(1)) == len(d.y):
        why = (f"; {name} is eliminated (labels on the simplex): it is d.y[-1] = {d.y[-1]}, an expression, "
               "not a symbol")
    elif (entry := _parameter_entry(d, name)) is not None:
        param, index = entry
        why = (f"; the init makes that entry a number, not a symbol: d.param({param!r}, {index}) = "
               f"{d.param(param, index)}")
    hint = f"; did you mean {' or '.join(close)}?" if close and not why else ""
    return InvalidArgument(f"{shown!r} is not a symbol of this derivation{why}{hint} "
                           f"(its symbols: {_listing(table)})")


def lookup_symbols(d: "Derivation", names: Sequence[object]) -> "sp.Symbol | tuple[sp.Symbol, ...]":
    """The symbols of ``d`` named ``names`` (see :meth:`~symderiv.engine.Derivation.symbols`)."""
    wanted = _split(names)
    table = symbol_table(d)
    found = []
    for name in wanted:
        key = name if name in table else "_" + name  # z1_1 finds the abbreviation printed _z1_1
        if key not in table or not isinstance(table[key], sp.Dummy) and key != name:
            raise _unknown(name, d, table)
        found.append(table[key])
    return found[0] if len(found) == 1 else tuple(found)
