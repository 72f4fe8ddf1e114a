"""A concrete network read as a member of its family: the statement for every depth, at its depth.

:func:`analyze_member` recognizes ``mlp([n_in, n, …, n, n_out])`` with one activation and an init that is
the same for every hidden layer (per role: first, hidden, last), proves the family's statement once
(:func:`~symderiv.depth.analysis.analyze_depth`, cost independent of the depth) and reads it at the network's
depth: a 1000-layer network is answered without building its closed forms.  A network that is not such a
member is refused in one line (analyze it with :func:`symderiv.analyze`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from ..errors import UnsupportedError
from ..init import Constant, Generic, InitSpec, Zeros, resolve_init
from ..network import Network
from .family import ROLES, MLPFamily, mlp_family

if TYPE_CHECKING:  # pragma: no cover
    from .analysis import MemberStatement

__all__ = ["family_of", "analyze_member"]


def family_of(net: Network) -> MLPFamily:
    """The MLP family ``net`` belongs to (equal hidden widths, one activation, depth at least 2)."""
    if not isinstance(net, Network):
        raise UnsupportedError(f"analyze_member needs a network from symderiv.mlp, got {type(net).__name__}")
    if net.depth < 2:
        raise UnsupportedError(f"{net.describe()} has no hidden layer: it is no member of an MLP family (depth ≥ 2)")
    hidden = set(net.sizes[1:-1])
    if len(hidden) != 1:
        raise UnsupportedError(f"the hidden widths of {net.describe()} differ ({sorted(map(str, hidden))}): no family "
                               "of identical blocks; analyze it with symderiv.analyze")
    if len(set(net.activations)) != 1:
        raise UnsupportedError(f"the hidden activations of {net.describe()} differ: no family of identical blocks")
    width = next(iter(hidden))
    return mlp_family(int(net.sizes[0]), width if isinstance(width, int) else str(width), "L", net.n_outputs,
                      net.activations[0], net.loss, net.bias)


def _role_spec(net: Network, inits: dict, role: str) -> InitSpec:
    L = net.depth
    layers = [1] if role == "first" else [L] if role == "last" else list(range(2, L))
    names = [f"{k}{l}" for l in layers for k in (("W", "b") if net.bias else ("W",))]
    kinds = {(inits[n].kind, inits[n].value if inits[n].kind == "uniform" else None) for n in names}
    if len(kinds) != 1:
        raise UnsupportedError(f"{', '.join(names[:6])}{', …' if len(names) > 6 else ''} ({role} role) do not share "
                               "one init: no family of identical blocks; analyze it with symderiv.analyze")
    kind, value = next(iter(kinds))
    if kind == "generic":
        return Generic()
    if kind != "uniform" or value is None:
        raise UnsupportedError(f"the {role} layer has an explicit array init: a family's init is zeros(), "
                               "constant(v) or generic() per role")
    return Zeros() if value == 0 else Constant(sp.sympify(value, strict=True))  # strict: never parses text


def analyze_member(net: Network, init: object) -> "MemberStatement":
    """The statement proved for every depth of ``net``'s family, read at ``net``'s depth (see the module)."""
    from .analysis import analyze_depth

    family = family_of(net)
    inits = resolve_init(net, init)
    mapping = {role: _role_spec(net, inits, role) for role in ROLES if role != "hidden" or net.depth > 2}
    if "hidden" not in mapping:  # depth 2: no hidden block; the hidden role does not occur
        mapping["hidden"] = mapping["first"]
    return analyze_depth(family, mapping).at(net.depth)
