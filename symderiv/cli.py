"""The command line: ``symderiv demo | derive | analyze | check``.

Every error about the input is one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from typing import Callable, Sequence

import sympy as sp

from .errors import SymderivError

__all__ = ["main", "parse_layers", "parse_init", "network_from_args"]


def parse_layers(text: str) -> list:
    """``"4,3,3"`` or ``"4-n-3"`` → ``[4, 3, 3]`` / ``[4, Symbol('n'), 3]`` (names, never evaluated)."""
    parts = [p.strip() for p in text.replace("-", ",").split(",") if p.strip()]
    out: list = []
    for p in parts:
        if p.isdigit():
            out.append(int(p))
        elif p.isidentifier():
            out.append(p)
        else:
            raise SymderivError(f"--layers entry {p!r} is neither a positive integer nor a width name such as n")
    return out


def _value(text: str):
    text = text.strip()
    if text.isidentifier():
        return sp.Symbol(text, real=True)
    try:
        f = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise SymderivError(f"constant value {text!r} must be a number such as 0.5 or 1/3, or a name such as c") from None
    return sp.Rational(f.numerator, f.denominator)


def _spec(text: str):
    from .init import constant, generic, zeros

    text = text.strip()
    if text == "zeros":
        return zeros()
    if text == "generic":
        return generic()
    if text.startswith("constant:") or text.startswith("const:"):
        return constant(_value(text.split(":", 1)[1]))
    raise SymderivError(f"init {text!r} is not one of zeros, generic, constant:VALUE")


def parse_init(text: str):
    """``zeros``, ``generic``, ``constant:0.5``, ``constant:c`` or ``W=generic,b=zeros,W3=zeros``."""
    if "=" not in text:
        return _spec(text)
    mapping = {}
    for item in text.split(","):
        if "=" not in item:
            raise SymderivError(f"init item {item!r} must look like NAME=SPEC (e.g. W3=zeros)")
        key, spec = item.split("=", 1)
        mapping[key.strip()] = _spec(spec)
    return mapping


def _add_network_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layers", default="4,3,3,3", help="widths n_0,…,n_L; hidden widths may be names (4,n,3)")
    p.add_argument("--activation", default="tanh", help="hidden activation, or a comma list per hidden layer")
    p.add_argument("--loss", default="softmax_cross_entropy", help="softmax_cross_entropy (ce), bce, mse")
    p.add_argument("--no-bias", action="store_true", help="layers without biases")
    p.add_argument("--kink-grad", default=None, help="f'(0) for kinked activations (relu default 0)")
    p.add_argument("--init", default="zeros", help="zeros | generic | constant:VALUE | W=generic,b=zeros,…")


def network_from_args(args: argparse.Namespace):
    from .network import mlp

    acts = args.activation.split(",")
    layers = parse_layers(args.layers)
    activation = acts[0] if len(acts) == 1 else acts
    kink = None if args.kink_grad is None else _value(args.kink_grad)
    return mlp(layers, activation, args.loss, bias=not args.no_bias, kink_grad=kink)


def _cmd_derive(args: argparse.Namespace) -> int:
    from .engine import derive

    net = network_from_args(args)
    d = derive(net, parse_init(args.init))
    print(f"{net.describe()}; init: {args.init}")
    print(f"data: x = ({', '.join(map(str, d.x))}), labels y = ({', '.join(map(str, d.y))})")
    names = [args.param] if args.param else net.parameter_names()
    for name in names:
        g = d[name]
        print(f"\n∂ℓ/∂{name}:")
        if isinstance(g, sp.MatrixBase):
            for i in range(g.rows):
                print("  [" + ", ".join(str(g[i, j]) for j in range(g.cols)) + "]")
        else:
            for label, expr in g.block_forms():
                print(f"  {label}: {expr}")
    return 0


def _write_atomically(path: str, text: str) -> None:
    """Write the whole file or nothing: no partial file is left behind."""
    import os
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".symderiv-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze

    net = network_from_args(args)
    a = analyze(net, parse_init(args.init), optimizer_class=args.optimizer_class, seed=args.seed)
    if args.latex:
        try:
            _write_atomically(args.latex, a.to_latex())
        except OSError as exc:
            raise SymderivError(f"cannot write {args.latex!r}: {exc.strerror}") from None
    if args.json:
        sys.stdout.write(a.to_json_text())
    else:
        print(a.summary())
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from .analysis import analyze

    net = network_from_args(args)
    a = analyze(net, parse_init(args.init), seed=args.seed)
    report = a.verify(seed=args.seed, use_torch=args.torch)
    if args.json:
        sys.stdout.write(report.to_json_text())
    else:
        print(report)
    return 0 if report.ok else 1


_DEMO = [
    ("The zero-init question, tanh, 3 layers", "4,3,3,3", "tanh", "zeros"),
    ("Zero init, ReLU (f'(0) = 0, as PyTorch)", "4,3,3,3", "relu", "zeros"),
    ("Zero init, sigmoid: the zero front moves back one layer per step", "4,3,3,3", "sigmoid", "zeros"),
    ("Constant init 1/2, any hidden width n", "4,n,n,3", "tanh", "constant:1/2"),
    ("Softmax regression (no hidden layer) at zero init", "4,3", "tanh", "zeros"),
]


def _cmd_demo(args: argparse.Namespace) -> int:
    from .analysis import analyze
    from .engine import derive

    net_args = argparse.Namespace(layers="4,3", activation="tanh", loss="ce", no_bias=False, kink_grad=None)
    d = derive(network_from_args(net_args), parse_init("zeros"))
    print("Softmax regression at zero init: dℓ/dW1 = (p − y) xᵀ with p = 1/K:")
    print("  row 1:", ", ".join(str(d["W1"][0, j]) for j in range(4)))
    print()
    for title, layers, act, init in _DEMO:
        print(f"== {title}")
        ns = argparse.Namespace(layers=layers, activation=act, loss="ce", no_bias=False, kink_grad=None)
        print(analyze(network_from_args(ns), parse_init(init)).summary())
        print()
    return 0


def _cmd_check(argv: Sequence[str]) -> int:
    try:
        from .claims import cli_check
    except ImportError as exc:  # pragma: no cover - the claims package ships with symderiv
        print(f"symderiv: error: the claim checker is unavailable ({exc})", file=sys.stderr)
        return 2
    return cli_check(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symderiv`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "check":
        return _cmd_check(argv[1:])
    parser = argparse.ArgumentParser(prog="symderiv", description="Exact, proved facts about gradients at init.")
    sub = parser.add_subparsers(dest="command", required=True)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {}

    p = sub.add_parser("demo", help="the classic zero-init results, proved")
    commands["demo"] = _cmd_demo
    p = sub.add_parser("derive", help="closed-form gradients at an init")
    _add_network_arguments(p)
    p.add_argument("--param", default=None, help="only this parameter (e.g. W1)")
    commands["derive"] = _cmd_derive
    p = sub.add_parser("analyze", help="which weights stay zero or tied, and when each first moves")
    _add_network_arguments(p)
    p.add_argument("--optimizer-class", default="coordinatewise")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the machine-readable result")
    p.add_argument("--latex", default=None, metavar="FILE", help="also write the proof as a LaTeX document")
    commands["analyze"] = _cmd_analyze
    p = sub.add_parser("verify", help="cross-check an analysis numerically (NumPy, finite differences, training)")
    _add_network_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch", action="store_true", help="also compare with PyTorch (needs symderiv[torch])")
    p.add_argument("--json", action="store_true")
    commands["verify"] = _cmd_verify
    sub.add_parser("check", help="check a hand derivation: symderiv check --layers … \"CLAIM\"")

    args = parser.parse_args(argv)
    try:
        return commands[args.command](args)
    except SymderivError as exc:
        print(f"symderiv: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `symderiv demo | head`: the reader left, nothing is wrong
        sys.stderr.close()
        return 0
