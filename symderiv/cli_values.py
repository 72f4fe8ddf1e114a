"""The command line's typed values, read and checked: ``--layers``, ``--init``, ``--symbol``,
``--kink-grad`` and the network they describe (:mod:`symderiv.cli` wires them).

Names are checked against a strict grammar and never evaluated; numbers go through
:func:`symderiv.guard.parse_number`; every rejection is one line naming what was wrong and what is accepted.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import sympy as sp

from .errors import SymderivError
from .guard import parse_number

if TYPE_CHECKING:
    from .network import Network

__all__ = ["parse_symbols", "parse_layers", "parse_init", "network_from_args"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*", re.ASCII)
_MAX_NAME = 32
#: names the data, parameters and derived quantities use (claims, prover, engine):
#: a constant with such a name would be confused with them
_RESERVED = re.compile(
    r"(?:x|y|p|z|h|a|t|e|E|I|K|L|n|k|u|v|r|q|w|W|b|f|dz|ell|delta|sigma|pi|oo|nan|zoo|probe)(?:[_0-9].*)?",
    re.ASCII,
)


def _safe_name(text: str, what: str) -> str:
    """A name that is a valid, unambiguous SymPy symbol and prints as compilable LaTeX."""
    from sympy.printing.latex import modifier_dict

    if not _NAME.fullmatch(text) or len(text) > _MAX_NAME or text.lower() in modifier_dict:
        shown = text if len(text) <= 40 else text[:37] + "…"
        raise SymderivError(
            f"{what} {shown!r} is not an accepted name: use letters and digits, optionally joined by single "
            f"underscores, starting with a letter (at most {_MAX_NAME} characters), e.g. c or alpha_1")
    return text


def parse_symbols(names: Sequence[str] | None) -> dict[str, sp.Symbol]:
    """``--symbol c --symbol alpha`` → the declared constant symbols (real), checked."""
    out: dict[str, sp.Symbol] = {}
    for raw in names or ():
        for name in (n.strip() for n in raw.split(",")):
            _safe_name(name, "--symbol")
            if _RESERVED.fullmatch(name):
                raise SymderivError(
                    f"--symbol {name!r} clashes with a name symderiv uses for data, parameters or derived "
                    "quantities (x_j, y_k, p, z, h, delta, W1, b2, t, n, K, L, ...); choose another, e.g. c or alpha")
            out[name] = sp.Symbol(name, real=True)
    return out


def parse_layers(text: str) -> list:
    """``"4,3,3"`` or ``"4-n-3"`` → ``[4, 3, 3]`` / ``[4, 'n', 3]`` (names, never evaluated).

    Entries are positive integers (decimal digits only) or width names; the network
    itself checks the size limits."""
    sep = "," if "," in text or "-" not in text else "-"
    parts = [p.strip() for p in text.split(sep)]
    out: list = []
    for p in parts:
        if p.isascii() and p.isdigit() and len(p) <= 12 and int(p) >= 1:
            out.append(int(p))
        elif p and _NAME.fullmatch(p) and len(p) <= _MAX_NAME:
            out.append(p)
        else:
            shown = p if len(p) <= 40 else p[:37] + "…"
            raise SymderivError(
                f"--layers entry {shown!r} in {text[:60]!r} is neither a positive integer nor a width name such as n "
                "(write the widths n_0,...,n_L separated by commas, e.g. 4,3,3 or 4,n,3)")
    if len(out) < 2:
        raise SymderivError(f"--layers needs at least two widths n_0,n_L such as 4,3, got {text[:60]!r}")
    return out


def _value(text: str, symbols: dict[str, sp.Symbol], what: str):
    """A number, or a name declared with ``--symbol``."""
    text = text.strip()
    if text.lower() in ("nan", "inf", "infinity"):
        raise SymderivError(f"{what} must be a finite number such as 0, -0.5, 1e-3 or 1/3, got {text!r}")
    if text[:1].isalpha() or text[:1] == "_":
        if text in symbols:
            return symbols[text]
        _safe_name(text, what)
        raise SymderivError(
            f"{what} {text!r} is a name, not a number: declare it with --symbol {text} to mean a symbolic constant")
    return parse_number(text, what)


def _spec(text: str, symbols: dict[str, sp.Symbol]):
    from .init import constant, generic, zeros

    text = text.strip()
    simple = {"zeros": zeros, "generic": generic}
    if text in simple:
        return simple[text]()
    head, sep, value = text.partition(":")
    if sep and head in ("constant", "const"):
        return constant(_value(value, symbols, "--init constant"))
    shown = text if len(text) <= 40 else text[:37] + "…"
    raise SymderivError(f"init {shown!r} is not one of zeros, generic, constant:VALUE")


def parse_init(text: str, symbols: dict[str, sp.Symbol] | None = None):
    """``zeros``, ``generic``, ``constant:0.5``, ``constant:c`` (with ``c`` declared) or
    ``W=generic,b=zeros,W3=zeros``."""
    symbols = symbols or {}
    if "=" not in text:
        return _spec(text, symbols)
    mapping = {}
    for item in text.split(","):
        key, sep, spec = item.partition("=")
        if not sep or not key.strip():
            raise SymderivError(f"init item {item[:40]!r} must look like NAME=SPEC (e.g. W3=zeros)")
        mapping[key.strip()] = _spec(spec, symbols)
    return mapping


@dataclass
class _Inputs:
    """The network and init options, read once."""
    net: "Network"
    init: Any
    init_text: str
    symbols: dict = field(default_factory=dict)


def network_from_args(args: argparse.Namespace):
    """The :class:`~symderiv.network.Network` the shared options describe."""
    from .network import mlp

    symbols = parse_symbols(getattr(args, "symbol", None))
    acts = [a.strip() for a in args.activation.split(",")]
    layers = parse_layers(args.layers)
    activation = acts[0] if len(acts) == 1 else acts
    kink = None if args.kink_grad is None else _value(args.kink_grad, symbols, "--kink-grad")
    return mlp(layers, activation, args.loss, bias=args.bias, kink_grad=kink)


def _inputs(args: argparse.Namespace, default_init: str = "zeros") -> _Inputs:
    symbols = parse_symbols(args.symbol)
    init_text = args.init if args.init is not None else default_init
    return _Inputs(network_from_args(args), parse_init(init_text, symbols), init_text, symbols)

