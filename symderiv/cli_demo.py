"""``symderiv demo``: the classic zero-init results, proved, and with ``--out`` their
``.tex``, ``.png`` and ``.pdf`` files (each written whole or not at all)."""
from __future__ import annotations

import argparse
import os
import re

import sympy as sp

from .cli_commands import _Result
from .cli_values import parse_init, parse_layers
from .errors import SymderivError

__all__ = ["PDFLATEX_SECONDS", "PDFLATEX_RUNS"]

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

