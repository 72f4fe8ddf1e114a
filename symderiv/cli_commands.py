"""The work of ``symderiv derive | analyze | verify | check``: options in, text out.

Each command returns a :class:`_Result` (stdout text, files to write, exit status); only
:mod:`symderiv.cli` touches stdout, stderr and output files.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator

import sympy as sp

from .cli_options import depth_analysis, parse_optimizer
from .cli_values import _inputs
from .errors import SymderivError

__all__ = ["EXIT_OK", "EXIT_REFUTED", "EXIT_USAGE", "EXIT_UNDECIDED", "EXIT_INTERNAL",
           "EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "EXIT_TERMINATED", "EXIT_STATUS_HELP"]

EXIT_OK, EXIT_REFUTED, EXIT_USAGE, EXIT_UNDECIDED, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE, EXIT_TERMINATED = 130, 141, 143

EXIT_STATUS_HELP = """exit status:
  0    ok / proved / verified
  1    refuted (check) or a numeric cross-check failed (verify)
  2    bad input or usage, or an output that cannot be written (one line on stderr)
  3    undecided (check): neither proved nor refuted within the bound
  4    internal error (a defect in symderiv; --debug shows the traceback)
  130  interrupted (Ctrl-C)     141  output pipe closed     143  terminated (SIGTERM)
"""


@dataclass
class _Result:
    """What a command produced: stdout text, files to write, exit status."""
    stdout: str = ""
    files: list = field(default_factory=list)  # (path, text)
    status: int = EXIT_OK


#: tree nodes of the expanded closed forms ``derive`` prints; larger forms (wide or deep generic inits: an
#: 8-8-8 network's ∂ℓ/∂W1 alone prints 12 million characters) are printed with named z and δ instead
MAX_PRINTED_NODES = 100_000


def _gradient_rows(d: Any, name: str) -> list[tuple[str, list]]:
    """``(label, forms)`` per printed line of ``∂ℓ/∂name``: matrix rows, or a class matrix's blocks."""
    g = d[name]
    if isinstance(g, sp.MatrixBase):
        return [("", [g[i, j] for j in range(g.cols)]) for i in range(g.rows)]
    return [(f"{label}: ", [expr]) for label, expr in g.block_forms()]


def _printed_size_fits(d: Any, names: list[str]) -> bool:
    """Whether the expanded forms of ``names`` have at most :data:`MAX_PRINTED_NODES` tree nodes, counted
    on the abbreviated derivation ``d`` with its definitions expanded (work bounded by the limit)."""
    from .closed_forms import tree_size

    left = MAX_PRINTED_NODES
    for name in names:
        for _, forms in _gradient_rows(d, name):
            for expr in forms:
                left -= tree_size(expr, limit=left, definitions=d.definitions)
                if left < 0:
                    return False
    return True


def _cmd_derive(args: argparse.Namespace) -> _Result:
    from .engine import derive

    inp = _inputs(args)
    net = inp.net
    d = derive(net, inp.init, abbreviate=True)  # linear in the network: measured before anything is expanded
    names: list[str] = [args.param] if args.param else list(net.parameter_names())
    expanded = _printed_size_fits(d, names)
    if expanded:
        d = derive(net, inp.init)
    lines = [f"{net.describe()}; init: {inp.init_text}",
             f"data: x = ({', '.join(map(str, d.x))}), labels y = ({', '.join(map(str, d.y))})"]
    if not expanded:
        lines.append(f"(the expanded closed forms have more than {MAX_PRINTED_NODES} nodes: each hidden class's "
                     "pre-activation z and backward signal δ is named, and defined below)")
    for name in names:
        lines.append(f"\n∂ℓ/∂{name}:")
        for label, forms in _gradient_rows(d, name):
            text = ", ".join(map(str, forms))
            lines.append(f"  {label}{text}" if label else f"  [{text}]")
    if not expanded:
        lines.append("\nwhere")
        lines.extend(f"  {symbol} = {definition}" for symbol, definition in d.definitions.items())
    return _Result("\n".join(lines) + "\n")


@contextlib.contextmanager
def _importable_from_cwd() -> Iterator[None]:
    """Modules in the current directory are importable, as under ``python -m symderiv``: the
    installed ``symderiv`` script has its own directory, not the current one, as ``sys.path[0]``.
    The current directory goes last (it never shadows an installed package) and is removed after."""
    cwd = os.getcwd()
    present = any(os.path.abspath(p or os.curdir) == cwd for p in sys.path if isinstance(p, str))
    if not present:
        sys.path.append(cwd)
    try:
        yield
    finally:
        if not present and cwd in sys.path:
            sys.path.remove(cwd)


@contextlib.contextmanager
def _running_user_code(spec: str) -> Iterator[None]:
    """The user's module runs (import, factory, ``forward``): its ``sys.exit()`` is a bad input, not
    symderiv's exit status (SIGTERM's own SystemExit subclass passes through)."""
    try:
        yield
    except SystemExit as exc:
        if type(exc) is not SystemExit:
            raise
        raise SymderivError(f"--module {spec[:60]!r}: the module's code called sys.exit({str(exc.code)[:40]!r}); "
                            "give a module whose import, factory and forward return normally") from None


def _graph_analysis(args: argparse.Namespace) -> tuple[Any, Any]:
    """``--module pkg.mod:factory --input-shape …``: the module and its graph analysis."""
    from .graph import analyze_module
    from .graph.spec import load_module, parse_input

    if args.input_shape is None:
        raise SymderivError("--module needs --input-shape: one example's shape without the batch axis, "
                            "e.g. --input-shape 4 or --input-shape 3,8 (tokens, width)")
    path = args.module.strip().partition(":")[0]
    if re.fullmatch(r"symderiv\.(?:cli\w*|__main__)", path):  # symderiv.cli:main would run the command line again
        raise SymderivError(f"--module {args.module[:60]!r} names symderiv's command line: name the Python module of "
                            "your model, e.g. mypkg.models:make_model")
    given = [parse_input(text) for text in args.input_shape]  # repeated: one per argument of forward
    shapes = [s for _, s in given]
    shape: Any = shapes[0] if len(shapes) == 1 else shapes
    if any(name is not None for name, _ in given):  # keyword inputs (input_ids=tokens:4)
        if not all(name is not None for name, _ in given):
            raise SymderivError("--input-shape: name every input (NAME=SHAPE) or none")
        shape = dict(given)
    with _importable_from_cwd(), _running_user_code(args.module):  # also while tracing (lazy imports)
        module, _ = load_module(args.module)
        a = analyze_module(module, loss=args.loss, input_shape=shape, values=args.values, seed=args.seed,
                           optimizer_class=getattr(args, "optimizer_class", "coordinatewise"),
                           optimizer=parse_optimizer(args.optimizer), batch_size=args.batch_size)
    a.module_spec = args.module
    return module, a


def _depth_requested(args: argparse.Namespace) -> bool:
    """``--depth L`` given (``--family`` only means something with it)."""
    if args.depth is None and args.family != "mlp":
        raise SymderivError(f"--family {args.family} describes a family of every depth: give --depth L too")
    return args.depth is not None


def _faces(analysis: Any, args: argparse.Namespace) -> _Result:
    """The summary (or ``--json``) on stdout, and the ``--latex`` file, of any analysis."""
    files: list = [(args.latex, analysis.to_latex())] if args.latex else []
    return _Result(analysis.to_json() if args.json else analysis.summary() + "\n", files)


def _cmd_analyze(args: argparse.Namespace) -> _Result:
    from .analysis import analyze

    if _depth_requested(args):
        return _faces(depth_analysis(args), args)
    if args.module is not None:
        if args.plot:
            raise SymderivError("--plot draws MLP analyses only; drop it with --module")
        return _faces(_graph_analysis(args)[1], args)
    inp = _inputs(args)
    a = analyze(inp.net, inp.init, optimizer_class=args.optimizer_class, seed=args.seed,
                optimizer=parse_optimizer(args.optimizer))
    files = [(args.latex, a.to_latex())] if args.latex else []
    if args.plot:
        from .plot import front_png

        files.append((args.plot, front_png(a)))
    text = a.to_json() if args.json else a.summary() + "\n"
    return _Result(text, files)


def _cmd_verify(args: argparse.Namespace) -> _Result:
    from .analysis import Analysis, analyze

    if _depth_requested(args):  # the statement against concrete analyses (and PyTorch runs with --torch)
        report = depth_analysis(args).verify(seed=args.seed, torch=args.torch)
        text = report.to_json() if args.json else f"{report.details() if args.details else report}\n"
        return _Result(text, status=EXIT_OK if report.ok else EXIT_REFUTED)
    if args.module is not None:  # real torch.optim runs of the module (symderiv.graph.replay.verify_graph)
        module, g = _graph_analysis(args)
        with _running_user_code(args.module):
            report = g.verify(module, seed=args.seed)
        text = report.to_json() if args.json else f"{report.details() if args.details else report}\n"
        return _Result(text, status=EXIT_OK if report.ok else EXIT_REFUTED)
    inp = _inputs(args)
    a = analyze(inp.net, inp.init, seed=args.seed, optimizer=parse_optimizer(args.optimizer))
    if not isinstance(a, Analysis):  # proved on the optimizer's lattice: replayed with real torch.optim runs
        raise SymderivError(f"verify --optimizer {args.optimizer[:40]!r} trains outside the coordinatewise class, which "
                            "verify replays with real torch.optim runs of a module: give it as --module PKG.MOD:FACTORY")
    report = a.verify(seed=args.seed, use_torch=args.torch, full=args.full)
    text = report.to_json() if args.json else f"{report.details() if args.details else report}\n"
    return _Result(text, status=EXIT_OK if report.ok else EXIT_REFUTED)


def _cmd_check(args: argparse.Namespace) -> _Result:
    from .claims.checker import check

    if getattr(args, "layer", None) is not None:  # a standalone layer's backward pass (symderiv.claims.layers)
        from .claims.cli import layer_check

        text, status = layer_check(args)
        return _Result(text, status=status)
    if args.layers is None:
        raise SymderivError("check needs --layers, e.g. --layers 4,3,3 (or --layer batchnorm:3x2 for a standalone layer)")
    inp = _inputs(args, default_init="generic")
    init = None if inp.init_text.strip() == "generic" else inp.init
    from .claims.cli import claim_text

    verdict = check(claim_text(args.claim, args.file), inp.net, init, syntax=args.syntax, seconds=args.seconds,
                    convention=args.convention)
    text = verdict.to_json() if args.json else f"{verdict}\n"
    return _Result(text, status=verdict.exit_code)

