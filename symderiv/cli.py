"""The command line: ``symderiv demo | derive | analyze | verify | check``.

Every subcommand reads the network and init with the same options (one shared
argparse parent).  The work of a command runs under :func:`symderiv.guard.public_entry`
(large stack, interruptible) and returns its output as text; this module alone
touches stdout, stderr and output files, so a closed pipe, a full disk or Ctrl-C is
one line on stderr and a documented exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import sys
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import sympy as sp

from .cli_options import add_depth_options, add_optimizer_option, depth_analysis, parse_optimizer
from .errors import InternalError, SymderivError
from .guard import one_line, parse_number, public_entry

if TYPE_CHECKING:
    from .network import Network

__all__ = [
    "main", "build_parser", "parse_layers", "parse_init", "network_from_args",
    "EXIT_OK", "EXIT_REFUTED", "EXIT_USAGE", "EXIT_UNDECIDED", "EXIT_INTERNAL",
    "EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "EXIT_TERMINATED",
]

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

# ---------------------------------------------------------------- values typed by the user
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


# ---------------------------------------------------------------- the commands (text in, text out)
@dataclass
class _Result:
    """What a command produced: stdout text, files to write, exit status."""
    stdout: str = ""
    files: list = field(default_factory=list)  # (path, text)
    status: int = EXIT_OK


def _cmd_derive(args: argparse.Namespace) -> _Result:
    from .engine import derive

    inp = _inputs(args)
    net = inp.net
    d = derive(net, inp.init)
    lines = [f"{net.describe()}; init: {inp.init_text}",
             f"data: x = ({', '.join(map(str, d.x))}), labels y = ({', '.join(map(str, d.y))})"]
    names = [args.param] if args.param else net.parameter_names()
    for name in names:
        g = d[name]
        lines.append(f"\n∂ℓ/∂{name}:")
        if isinstance(g, sp.MatrixBase):
            for i in range(g.rows):
                lines.append("  [" + ", ".join(str(g[i, j]) for j in range(g.cols)) + "]")
        else:
            for label, expr in g.block_forms():
                lines.append(f"  {label}: {expr}")
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


def _graph_analysis(args: argparse.Namespace) -> tuple[Any, Any]:
    """``--module pkg.mod:factory --input-shape …``: the module and its graph analysis."""
    from .graph import analyze_module
    from .graph.spec import load_module, parse_input

    if args.input_shape is None:
        raise SymderivError("--module needs --input-shape: one example's shape without the batch axis, "
                            "e.g. --input-shape 4 or --input-shape 3,8 (tokens, width)")
    given = [parse_input(text) for text in args.input_shape]  # repeated: one per argument of forward
    shapes = [s for _, s in given]
    shape: Any = shapes[0] if len(shapes) == 1 else shapes
    if any(name is not None for name, _ in given):  # keyword inputs (input_ids=tokens:4)
        if not all(name is not None for name, _ in given):
            raise SymderivError("--input-shape: name every input (NAME=SHAPE) or none")
        shape = dict(given)
    with _importable_from_cwd():  # also while tracing: forward() may import its own helpers lazily
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

    if args.layers is None:
        raise SymderivError("check needs --layers, e.g. --layers 4,3,3")
    inp = _inputs(args, default_init="generic")
    init = None if inp.init_text.strip() == "generic" else inp.init
    from .claims.cli import claim_text

    verdict = check(claim_text(args.claim, args.file), inp.net, init, syntax=args.syntax, seconds=args.seconds,
                    convention=args.convention)
    text = verdict.to_json() if args.json else f"{verdict}\n"
    return _Result(text, status=verdict.exit_code)


_DEMO = [
    ("The zero-init question, tanh, 3 layers", "4,3,3,3", "tanh", "zeros"),
    ("Zero init, ReLU (f'(0) = 0, as PyTorch)", "4,3,3,3", "relu", "zeros"),
    ("Zero init, sigmoid: the zero front moves back one layer per step", "4,3,3,3", "sigmoid", "zeros"),
    ("Constant init 1/2, any hidden width n", "4,n,n,3", "tanh", "constant:1/2"),
    ("Softmax regression (no hidden layer) at zero init", "4,3", "tanh", "zeros"),
]


def _demo_results() -> list:
    """``(file name, title, analysis thunk, picture)`` of the classic results ``demo --out`` writes
    (a subset of ``proofs/build.py``'s RESULTS); the picture is ``front``, ``ties`` or ``conserved``."""
    from .analysis import analyze
    from .init import constant, generic, zeros
    from .network import mlp

    return [
        ("zero_init_tanh", "Zero init, tanh, three layers: every weight stays 0",
         lambda: analyze(mlp([4, 3, 3, 3], "tanh"), zeros()), "ties"),
        ("zero_init_sigmoid_depth4", "Zero init, sigmoid, four layers: the zero front moves back one layer per step",
         lambda: analyze(mlp([3, 3, 3, 3, 2], "sigmoid"), zeros()), "front"),
        ("constant_init_width_n", "Constant init 1/2, tanh, any hidden width n: every hidden layer acts as width 1",
         lambda: analyze(mlp([4, "n", "n", 3], "tanh"), constant(sp.Rational(1, 2))), "front"),
        ("softmax_regression_zero_init", "Softmax regression (no hidden layer) at zero init: nothing is stuck",
         lambda: analyze(mlp([4, 3]), zeros()), "conserved"),
        ("zero_last_layer", "Generic hidden layer, zero last layer: the hidden layer waits one step",
         lambda: analyze(mlp([3, 3, 2], "tanh"), {"W1": generic(), "b1": generic(), "W2": zeros(), "b2": zeros()}),
         "front"),
    ]


#: seconds one pdflatex run of a demo document may take before it is reported as failed
PDFLATEX_SECONDS = 30
#: pdflatex runs until the cross-references settle (a theorem numbered on a later page needs two)
PDFLATEX_RUNS = 4
#: what pdflatex writes in its log while a reference is still unresolved ("Theorem ??" in the PDF)
_UNSETTLED = re.compile(r"Rerun to get|There were undefined references|Label\(s\) may have changed")


def _compile_command(name: str) -> tuple[list[str], int] | None:
    """``(command, runs)``: latexmk (it reruns by itself) when installed, else pdflatex, run until the
    references settle; None when neither is on PATH."""
    import shutil

    latexmk = shutil.which("latexmk")
    if latexmk is not None:
        return [latexmk, "-pdf", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"], 1
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        return None
    return [pdflatex, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"], PDFLATEX_RUNS


def _pdflatex(tex: str, name: str) -> bytes | str:
    """The PDF of ``tex`` compiled in a temporary directory with every reference resolved, or a
    one-line reason it failed (a PDF that would show "??" is a failure)."""
    import subprocess
    import tempfile

    command = _compile_command(name)
    if command is None:
        return "pdflatex is not on PATH"
    argv, runs = command
    tool = os.path.basename(argv[0])
    with tempfile.TemporaryDirectory(prefix="symderiv-demo-") as tmp:
        with open(os.path.join(tmp, f"{name}.tex"), "w", encoding="utf-8") as out:
            out.write(tex)
        log = ""
        for _ in range(runs):
            try:
                run = subprocess.run(argv, cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True,
                                     timeout=PDFLATEX_SECONDS * (PDFLATEX_RUNS if runs == 1 else 1))
            except subprocess.TimeoutExpired:
                return f"{tool} took longer than {PDFLATEX_SECONDS} s"
            except OSError as exc:
                return f"{tool} could not run: {exc.strerror or exc}"
            if run.returncode != 0:
                errors = [line for line in run.stdout.decode("utf-8", "replace").splitlines() if line.startswith("!")]
                return f"{tool} failed (exit {run.returncode}){': ' + errors[0][:200] if errors else ''}"
            log_path = os.path.join(tmp, f"{name}.log")
            log = open(log_path, encoding="utf-8", errors="replace").read() if os.path.exists(log_path) else ""
            if not _UNSETTLED.search(log):
                break
        pdf = os.path.join(tmp, f"{name}.pdf")
        if not os.path.exists(pdf):
            return f"{tool} wrote no PDF"
        if _UNSETTLED.search(log):
            return f"references still unresolved after {runs} {tool} runs"
        with open(pdf, "rb") as f:
            return f.read()


def _matplotlib_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is None


def _demo_directory(out_dir: str) -> None:
    """Create ``demo --out``'s directory (checked before any work is done)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise SymderivError(f"demo --out {out_dir!r} exists and is not a directory")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise SymderivError(f"cannot create the directory {out_dir!r}: {exc.strerror or exc}") from None


def _demo_files(out_dir: str) -> list[str]:
    """Write every demo result's ``.tex``, ``.png`` (with matplotlib) and ``.pdf`` (with latexmk or
    pdflatex) to ``out_dir``; return the report lines (a missing tool or failed compile is one line,
    not fatal).  Every file is written whole or not at all (:func:`symderiv.atomic.write_output`)."""
    from .atomic import write_output
    from .latex import proof_document
    from .plot import plot_conserved, plot_front, plot_ties

    pictures = {"front": plot_front, "ties": plot_ties, "conserved": plot_conserved}
    no_pictures = _matplotlib_missing()
    lines = [f"== files in {out_dir}"]
    if no_pictures:
        lines.append("  pictures skipped: matplotlib is not installed (pip install 'symderiv[plot]')")
    for name, title, thunk, picture in _demo_results():
        a = thunk()
        tex = proof_document(a, title=title)
        base = os.path.join(out_dir, name)
        write_output(base + ".tex", tex)
        written = [".tex"]
        if not no_pictures:
            pictures[picture](a, base + ".png")
            written.append(f".png ({picture})")
        pdf = _pdflatex(tex, name)
        if isinstance(pdf, bytes):
            write_output(base + ".pdf", pdf)
            lines.append(f"  {name}: {' '.join(written)} .pdf")
        else:
            lines.append(f"  {name}: {' '.join(written)}; no .pdf: {pdf}")
    return lines


def _cmd_demo(args: argparse.Namespace) -> _Result:
    from .analysis import analyze
    from .engine import derive
    from .network import mlp

    if args.out is not None:
        _demo_directory(args.out)
    d = derive(mlp([4, 3], "tanh", "ce"), parse_init("zeros"))
    lines = ["Softmax regression at zero init: dℓ/dW1 = (p − y) xᵀ with p = 1/K:",
             "  row 1: " + ", ".join(str(d["W1"][0, j]) for j in range(4)), ""]
    for title, layers, act, init in _DEMO:
        lines.append(f"== {title}")
        lines.append(analyze(mlp(parse_layers(layers), act, "ce"), parse_init(init)).summary())
        lines.append("")
    if args.out is not None:
        lines.extend(_demo_files(args.out))
        lines.append("")
    return _Result("\n".join(lines) + "\n")


# ---------------------------------------------------------------- options
def _seed(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and int(text) < 2**32):
        raise argparse.ArgumentTypeError(f"must be an integer 0 … {2**32 - 1}, got {text[:40]!r}")
    return int(text)


def _seconds(text: str) -> float:
    value = parse_number(text, "--seconds")
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"must be a number of seconds in (0, 86400], got {text[:40]!r}")
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
                        "derivatives such as 0, 1/2 or 1, or a --symbol name (default: as PyTorch, relu 0 and "
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
    p.add_argument("--out", default=None, metavar="DIR",
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
    p.add_argument("--latex", default=None, metavar="FILE", help="also write the proof as a LaTeX document")
    p.add_argument("--plot", default=None, metavar="FILE",
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


@public_entry
def _run(args: argparse.Namespace) -> _Result:
    """The command's work, on the guard's large stack (nested public calls run inline)."""
    return args.run(args)


# ---------------------------------------------------------------- the process boundary
class _Terminated(SystemExit):
    """Raised by the SIGTERM handler: unwinds like Ctrl-C (children are killed by their owners)."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated(EXIT_TERMINATED)


def _say(line: str) -> None:
    """One line on stderr; a closed stderr is not worth a traceback."""
    try:
        if sys.stderr is not None:
            sys.stderr.write(line.rstrip("\n") + "\n")
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _emit(text: str) -> None:
    """Write and flush stdout; errors surface here, not at interpreter exit."""
    if not text:
        return
    if sys.stdout is None:
        raise OSError(9, "standard output is closed")
    sys.stdout.write(text)
    sys.stdout.flush()


def _silence_stdout() -> None:
    """After a failed write to stdout, point it at /dev/null so the exit-time flush is quiet."""
    try:
        fd = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except (AttributeError, OSError, ValueError):
        pass


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed usage + one error line, or --help/--version
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symderiv`` command; returns the exit status (table in ``--help``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    previous = None
    if threading_is_main():
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # pragma: no cover - not the main thread / unsupported
            previous = None
    try:
        try:
            parsed = _parse(build_parser(), argv)
            if isinstance(parsed, int):
                return parsed
            result = _run(parsed)
            from .atomic import write_output

            for path, text in result.files:
                write_output(path, text)
            _emit(result.stdout)
            return result.status
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    except KeyboardInterrupt:
        _say("symderiv: interrupted")
        return EXIT_INTERRUPTED
    except _Terminated:
        _say("symderiv: terminated")
        return EXIT_TERMINATED
    except BrokenPipeError:  # `symderiv demo | head -1`: the reader left
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except InternalError as exc:
        return _internal(exc, debug)
    except SymderivError as exc:
        if debug:
            traceback.print_exc()
        _say(f"symderiv: error: {one_line(exc, 500)}")
        return EXIT_USAGE
    except OSError as exc:  # writing stdout: ENOSPC (/dev/full), EBADF (closed), EIO
        _silence_stdout()
        if debug:
            traceback.print_exc()
        _say(f"symderiv: error: cannot write the output: {exc.strerror or exc}")
        return EXIT_USAGE
    except Exception as exc:  # a defect: never 0, 1 or 3
        return _internal(exc, debug)


def _internal(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    text = one_line(exc, 500)
    if not isinstance(exc, InternalError):
        text = f"internal error: {type(exc).__name__}" + (f": {text}" if text else "")
    _say(f"symderiv: {text}" + ("" if debug else " (run with --debug for the traceback)"))
    return EXIT_INTERNAL


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
