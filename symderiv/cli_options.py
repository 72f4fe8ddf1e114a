"""Two command-line faces of the library, read from the typed text and checked (``symderiv.cli`` wires them):

* ``--optimizer NAME`` or ``--optimizer W1=muon,b1=adamw,…``: :func:`symderiv.analyze`'s ``optimizer=``
  (the names of :func:`symderiv.optimizer_classes.registered_optimizers` and the optimizer classes of
  :func:`symderiv.optimizers.registered_optimizer_classes`);
* ``--depth L``: a family with a symbolic number ``L`` of identical blocks (:mod:`symderiv.depth`):
  ``--layers N_IN,WIDTH,N_OUT`` is :func:`symderiv.depth.mlp_family` (``L − 1`` hidden layers of width
  ``WIDTH``, an integer or a name such as ``n``), ``--family rezero --layers D,D`` is
  :func:`symderiv.depth.rezero_family` (``L`` ReZero blocks of width ``D``).

Every rejection is one line naming what was wrong and what is accepted; user text is never evaluated.
"""
from __future__ import annotations

import argparse
import re
from typing import Any

from .errors import SymderivError

__all__ = ["accepted_optimizers", "parse_optimizer", "depth_family", "depth_analysis", "FAMILIES"]

#: a parameter name as MLPs (``W1``, ``b2``) and PyTorch modules (``0.weight``, ``lora_A.weight``) write it
_PARAM = re.compile(r"[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*", re.ASCII)
_MAX_PARAM = 100
#: the families ``--family`` accepts with ``--depth``
FAMILIES = ("mlp", "rezero")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "…")


def accepted_optimizers() -> tuple[str, ...]:
    """Every name ``--optimizer`` accepts: the optimizers, then the optimizer classes (both from their registries)."""
    from .optimizer_classes import registered_optimizers
    from .optimizers import registered_optimizer_classes

    return registered_optimizers() + tuple(c for c in registered_optimizer_classes() if c not in registered_optimizers())


def _optimizer_name(text: str) -> str:
    name = text.strip().lower()
    if name not in accepted_optimizers():
        raise SymderivError(f"--optimizer {_shown(text.strip())} is not a known optimizer; accepted: "
                            f"{', '.join(accepted_optimizers())} (or PARAM=NAME,… per parameter)")
    return name


def parse_optimizer(text: str | None) -> "str | dict[str, str] | None":
    """``muon`` → ``"muon"``; ``W1=muon,b1=adamw`` → ``{"W1": "muon", "b1": "adamw"}`` (every name checked
    against the registries; :func:`symderiv.optimizer_classes.optimizer_assignment` checks that the mapping
    names every trainable parameter)."""
    if text is None:
        return None
    if "=" not in text:
        return _optimizer_name(text)
    mapping: dict[str, str] = {}
    for item in text.split(","):
        key, sep, name = (part.strip() for part in item.partition("="))
        if not sep or not _PARAM.fullmatch(key) or len(key) > _MAX_PARAM:
            raise SymderivError(f"--optimizer item {_shown(item)} must look like PARAM=NAME with PARAM a parameter "
                                "name (e.g. W1=muon,b1=adamw or 0.weight=muon)")
        if key in mapping:
            raise SymderivError(f"--optimizer names parameter {key!r} twice")
        mapping[key] = _optimizer_name(name)
    return mapping


# ---------------------------------------------------------------- --depth
def _layers_of_family(args: argparse.Namespace) -> list:
    from .cli_values import parse_layers

    layers = parse_layers(args.layers)
    if args.family == "rezero":
        if len(layers) != 2 or layers[0] != layers[1] or not isinstance(layers[0], int):
            raise SymderivError(f"--family rezero needs --layers D,D (a stack maps width D to width D, D an integer), "
                                f"got {args.layers[:60]!r}")
        return layers
    if len(layers) != 3 or not all(isinstance(n, int) for n in (layers[0], layers[2])):
        raise SymderivError(f"--depth needs --layers N_IN,WIDTH,N_OUT (the hidden width, repeated in the L − 1 "
                            f"hidden layers, may be a name), e.g. 4,n,3; got {args.layers[:60]!r}")
    return layers


def depth_family(args: argparse.Namespace):
    """The :mod:`symderiv.depth` family ``--depth``, ``--family``, ``--layers``, ``--activation``, ``--loss``,
    ``--bias`` and ``--kink-grad`` describe."""
    from .cli_values import _value, parse_symbols
    from .depth import mlp_family, rezero_family
    from .depth.family import REZERO_LOSSES
    from .losses import loss

    layers = _layers_of_family(args)
    activation = args.activation.strip()
    if "," in activation:
        raise SymderivError("--depth needs one --activation for every hidden layer (the blocks are identical), "
                            f"got {args.activation[:60]!r}")
    if args.family == "rezero":
        names = {loss(name).name: name for name in REZERO_LOSSES}
        chosen = loss(args.loss).name
        if chosen not in names:
            raise SymderivError(f"--family rezero ends in one of the losses {', '.join(REZERO_LOSSES)}, got {args.loss!r}")
        if not args.bias or args.kink_grad is not None:
            raise SymderivError("--family rezero has biases and a smooth activation: drop --no-bias and --kink-grad")
        return rezero_family(layers[0], args.depth, activation=activation, loss=names[chosen])
    symbols = parse_symbols(getattr(args, "symbol", None))
    kink = None if args.kink_grad is None else _value(args.kink_grad, symbols, "--kink-grad")
    return mlp_family(layers[0], layers[1], args.depth, layers[2], activation, args.loss, args.bias, kink_grad=kink)


def depth_analysis(args: argparse.Namespace) -> Any:
    """:func:`symderiv.depth.analyze_depth` of the family the options describe, at ``--init`` (MLP families:
    zeros, constant:VALUE, generic, or per role ``first=…,hidden=…,last=…`` with ``*`` for the rest)."""
    from .cli_values import parse_init, parse_symbols
    from .depth import analyze_depth

    for flag, given in (("--module", getattr(args, "module", None)), ("--optimizer", getattr(args, "optimizer", None)),
                        ("--plot", getattr(args, "plot", None))):
        if given is not None:
            raise SymderivError(f"{flag} does not apply with --depth (a family of MLP or ReZero networks, proved for "
                                "every depth); drop one of them")
    family = depth_family(args)
    optimizer_class = getattr(args, "optimizer_class", "coordinatewise")
    if args.family == "rezero":
        if args.init is not None:
            raise SymderivError("--family rezero carries its init (α = 0, generic branch weights): drop --init")
        return analyze_depth(family, None, optimizer_class=optimizer_class)
    init = parse_init(args.init if args.init is not None else "zeros", parse_symbols(getattr(args, "symbol", None)))
    return analyze_depth(family, init, optimizer_class=optimizer_class)


def add_depth_options(p: argparse.ArgumentParser) -> None:
    """``--depth`` and ``--family`` (analyze, verify)."""
    g = p.add_argument_group("every depth at once (instead of one network)")
    g.add_argument("--depth", default=None, metavar="L",
                   help="prove for every depth L: --layers N_IN,WIDTH,N_OUT is the MLP family with L − 1 hidden "
                        "layers of WIDTH (a number or a name such as n); --init zeros | constant:VALUE | generic, "
                        "or per role first=SPEC,hidden=SPEC,last=SPEC (* for the rest)")
    g.add_argument("--family", default="mlp", choices=FAMILIES,
                   help="with --depth: mlp (default), or rezero: L ReZero blocks x + α·F(x) with α = 0 and "
                        "generic branches, --layers D,D")


def add_optimizer_option(p: argparse.ArgumentParser) -> None:
    """``--optimizer`` (analyze, verify)."""
    p.add_argument("--optimizer", default=None, metavar="NAME|PARAM=NAME,…",
                   help="the optimizer you train with: the statements are proved on the patterns it preserves; "
                        f"one of {', '.join(accepted_optimizers())}, or one per parameter, e.g. W1=muon,b1=adamw,"
                        "W2=muon,b2=adamw (every trainable parameter named)")
