"""``symderiv check``: the command-line face of :func:`symderiv.claims.check`.

Exit status: 0 proved, 1 refuted, 3 undecided, 2 bad input (one line on stderr).
"""
from __future__ import annotations

import argparse
import json
import sys

from ..errors import SymderivError

__all__ = ["cli_check", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="symderiv check",
        description="Check a claim about a network's gradients (LaTeX or plain text; indices 1-based).",
    )
    p.add_argument("claim", help=r"e.g. 'dL/dW1[i,j] = (p[i] - y[i]) * x[j]' or '\frac{\partial L}{\partial W_{ij}} = (p_i - y_i) x_j'")
    p.add_argument("--layers", required=True, help="widths n_0,...,n_L, e.g. 4,3,3")
    p.add_argument("--activation", default="tanh", help="hidden activation (default tanh)")
    p.add_argument("--loss", default="ce", help="ce, bce or mse (default ce)")
    p.add_argument("--init", default="generic", help="zeros | generic | constant:VALUE (default generic)")
    p.add_argument("--no-bias", action="store_true", help="a network without biases")
    p.add_argument("--kink-grad", default=None, help="f'(0) for kinked activations (default: PyTorch's)")
    p.add_argument("--syntax", default="auto", choices=["auto", "latex", "plain"])
    p.add_argument("--seconds", type=float, default=10.0, help="time bound of the proof attempt")
    p.add_argument("--json", action="store_true", help="print the verdict as JSON")
    return p


def _init(text: str):
    from ..init import constant, generic, zeros

    if text == "zeros":
        return zeros()
    if text == "generic":
        return None
    if text.startswith("constant:"):
        from fractions import Fraction

        value = text.split(":", 1)[1]
        try:
            return constant(Fraction(value))
        except (ValueError, ZeroDivisionError):
            raise SymderivError(f"--init constant:VALUE needs a number such as 0.5 or 1/2, got {value!r}") from None
    raise SymderivError(f"--init must be zeros, generic or constant:VALUE, got {text!r}")


def cli_check(argv) -> int:
    """Run ``symderiv check`` with ``argv`` (without the subcommand name); return the exit status."""
    from ..network import mlp
    from .checker import check

    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return 0 if exc.code == 0 else 2
    try:
        try:
            sizes = [int(s) for s in args.layers.split(",")]
        except ValueError:
            raise SymderivError(f"--layers must be comma-separated integers such as 4,3,3, got {args.layers!r}") from None
        net = mlp(sizes, args.activation, args.loss, bias=not args.no_bias, kink_grad=args.kink_grad)
        verdict = check(args.claim, net, _init(args.init), syntax=args.syntax, seconds=args.seconds)
    except SymderivError as exc:
        print(f"symderiv check: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(verdict.to_json(), indent=2) if args.json else str(verdict))
    return verdict.exit_code
