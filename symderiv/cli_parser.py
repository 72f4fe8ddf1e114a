"""The ``symderiv`` argument parser: one shared parent for the network and init options,
one subparser per command (the commands live in :mod:`symderiv.cli_commands` and
:mod:`symderiv.cli_demo`)."""
from __future__ import annotations

import argparse
from typing import Callable

from .cli_commands import EXIT_STATUS_HELP, _cmd_analyze, _cmd_check, _cmd_derive, _cmd_verify, _Result
from .cli_demo import _cmd_demo
from .cli_options import add_depth_options, add_optimizer_option
from .guard import parse_number

__all__ = ["build_parser"]


def _seed(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and int(text) < 2**32):
        raise argparse.ArgumentTypeError(f"must be an integer 0 … {2**32 - 1}, got {text[:40]!r}")
    return int(text)


#: the largest work budget of ``check`` (symderiv.claims.check refuses more)
MAX_CHECK_SECONDS = 3600


def _seconds(text: str) -> float:
    value = parse_number(text, "--seconds")
    if not 0 < value <= MAX_CHECK_SECONDS:
        raise argparse.ArgumentTypeError(f"must be a number of seconds in (0, {MAX_CHECK_SECONDS}], got {text[:40]!r}")
    return float(value)


def _accepted_losses() -> str:
    """``softmax_cross_entropy (ce, …), …`` from the loss registry (so a registered loss is listed)."""
    from .losses import loss_aliases, registered_losses

    aliases = loss_aliases()
    parts = []
    for name in registered_losses():
        short = sorted(a for a, target in aliases.items() if target == name)
        parts.append(name + (f" ({', '.join(short)})" if short else ""))
    return ", ".join(parts)


def _kinked_activations() -> str:
    from .activations import activation, registered_activations

    return ", ".join(n for n in registered_activations() if activation(n).is_kinked)


def _network_parent() -> argparse.ArgumentParser:
    """The options every subcommand reads the network and init with (same spellings, defaults and
    help everywhere; ``check`` alone requires ``--layers`` and defaults to ``--init generic``)."""
    from .activations import registered_activations

    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("network and init")
    g.add_argument("--layers", default="4,3,3,3", metavar="WIDTHS",
                   help="widths n_0,…,n_L separated by commas; hidden widths may be names (4,n,3) "
                        "(default 4,3,3,3; check: required)")
    g.add_argument("--activation", default="tanh", metavar="NAME[,NAME…]",
                   help=f"hidden activation, one of {', '.join(registered_activations())}, or a comma list with "
                        "one per hidden layer (default tanh)")
    g.add_argument("--loss", default="softmax_cross_entropy", metavar="NAME",
                   help=f"one of {_accepted_losses()} (default softmax_cross_entropy)")
    g.add_argument("--bias", action=argparse.BooleanOptionalAction, default=True,
                   help="layers with biases (default) or --no-bias")
    g.add_argument("--kink-grad", default=None, metavar="VALUE",
                   help=f"f'(0) of the kinked activations ({_kinked_activations()}): a number between the one-sided "
                        "derivatives such as 0, 1/2 or 1 (default: as PyTorch, relu 0 and "
                        "leaky_relu its slope 1/100)")
    g.add_argument("--init", default=None, metavar="SPEC",
                   help="zeros | generic | constant:VALUE (a number such as 1/2, or a --symbol name) | per "
                        "parameter NAME=SPEC,… with NAME W1, b2, W (every weight) or b (every bias), e.g. "
                        "W=generic,b=zeros,W3=zeros (default zeros; check: generic)")
    g.add_argument("--symbol", action="append", default=[], metavar="NAME",
                   help="declare NAME a symbolic constant usable in --init constant:NAME (repeatable)")
    return p


def _module_options(p: argparse.ArgumentParser) -> None:
    """``--module``, ``--input-shape``, ``--values``: a PyTorch module instead of ``--layers`` (analyze, verify)."""
    g = p.add_argument_group("PyTorch module (instead of --layers; needs torch)")
    g.add_argument("--module", default=None, metavar="PKG.MOD:FACTORY",
                   help="analyze an nn.Module: a function returning one (called with no arguments) or an "
                        "nn.Module attribute, imported from the named Python module (--loss applies)")
    g.add_argument("--input-shape", default=None, metavar="SHAPE", action="append",
                   help="one example's shape without the batch axis: 4, or 3,8 for (tokens, width); repeat it "
                        "for a forward with several inputs, in order (forward(self, x, c): --input-shape 3,4 "
                        "--input-shape 4); NAME=SHAPE for a keyword input, NAME=tokens:T for token ids "
                        "(--input-shape input_ids=tokens:4)")
    g.add_argument("--batch-size", type=_positive_int, default=None, metavar="B",
                   help="for a module that couples the examples of a batch (BatchNorm in training mode): analyse it "
                        "on whole batches of B examples (the theorem covers every dataset at that batch size)")
    g.add_argument("--values", default="generic", choices=("generic", "exact"),
                   help="generic: zeros and equal values kept, every other value a symbol (default); "
                        "exact: the module's floats as exact rationals")


def _output_path(text: str) -> str:
    """``--latex``, ``--plot``, ``--out``: a path the operating system can take (an empty one would be
    skipped silently, a NUL byte is refused by every system call)."""
    if not text or "\x00" in text:
        raise argparse.ArgumentTypeError(f"expected a file or directory name (not empty, no NUL byte), got {text[:60]!r}")
    return text


def _positive_int(text: str) -> int:
    """``--batch-size``: a positive integer written in decimal digits."""
    if not text.isdigit() or int(text) < 1 or len(text) > 6:
        raise argparse.ArgumentTypeError(f"expected a positive integer (at most 6 digits), got {text!r}")
    return int(text)


def _seed_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=_seed, default=0, metavar="N",
                   help="seed of the random points and data (witness search, numeric checks): an integer "
                        "0 … 4294967295 (default 0)")


def _json_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--json", action="store_true",
                   help=f"print {what} as JSON (deterministic: the same input gives the same bytes)")


def build_parser() -> argparse.ArgumentParser:
    """The ``symderiv`` argument parser."""
    from . import __version__
    from .optimizers import registered_optimizer_classes

    parser = argparse.ArgumentParser(
        prog="symderiv", description="Exact, proved facts about gradients at init.",
        epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"symderiv {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], _Result], help: str, network: bool = True):
        p = sub.add_parser(name, help=help, description=help, parents=[_network_parent()] if network else [],
                           epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(run=fn)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        return p  # a fresh parent per subcommand: set_defaults must not leak into the others

    p = add("demo", _cmd_demo, "the classic zero-init results, proved", network=False)
    p.add_argument("--out", default=None, metavar="DIR", type=_output_path,
                   help="also write the classic results as .tex, .png and .pdf files to DIR (pictures need "
                        "symderiv[plot]; PDFs need latexmk or pdflatex, run until the references settle)")
    p = add("derive", _cmd_derive, "closed-form gradients at an init")
    p.add_argument("--param", default=None, metavar="NAME", help="only this parameter: W1, b1, …, WL, bL")
    p = add("analyze", _cmd_analyze, "which weights stay zero or tied, and when each first moves")
    p.add_argument("--optimizer-class", default="coordinatewise", choices=registered_optimizer_classes(),
                   metavar="CLASS", help="the optimizers the theorem covers: "
                                         f"{', '.join(registered_optimizer_classes())} (default coordinatewise)")
    add_optimizer_option(p)
    _seed_option(p)
    _json_option(p, "the analysis")
    p.add_argument("--latex", default=None, metavar="FILE", type=_output_path,
                   help="also write the proof as a LaTeX document")
    p.add_argument("--plot", default=None, metavar="FILE", type=_output_path,
                   help="also write the first-move front as a PNG picture (needs symderiv[plot])")
    _module_options(p)
    add_depth_options(p)
    p = add("verify", _cmd_verify, "cross-check an analysis numerically (NumPy, finite differences, training)")
    _seed_option(p)
    p.add_argument("--torch", action="store_true", help="also compare with PyTorch (needs symderiv[torch])")
    p.add_argument("--full", action="store_true",
                   help="finite differences at every entry (default: a seeded sample of at most 64 per parameter)")
    p.add_argument("--details", action="store_true",
                   help="list every check (default: one line per group of checks, failures in full, verdict last)")
    _json_option(p, "the report")
    add_optimizer_option(p)
    _module_options(p)
    add_depth_options(p)
    p = add("check", _cmd_check, "check a hand derivation (LaTeX or plain text; indices 1-based)")
    p.set_defaults(layers=None)
    p.add_argument("claim", nargs="?", default=None,
                   help=r"e.g. 'dL/dW1[i,j] = (p[i] - y[i]) * x[j]' or "
                        r"'\frac{\partial L}{\partial W_{ij}} = (p_i - y_i) x_j'; or give -f")
    from .claims.cli import add_check_options

    add_check_options(p)
    p.add_argument("--syntax", default="auto", choices=["auto", "latex", "plain"],
                   help="how the claim is written: auto (default: LaTeX when it has \\ { } _ or $), "
                        "latex or plain")
    p.add_argument("--seconds", type=_seconds, default=10.0,
                   help="work budget of the check, in reference seconds (default 10; the same verdict on any machine)")
    _json_option(p, "the verdict")
    return parser

