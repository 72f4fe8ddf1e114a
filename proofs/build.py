"""Regenerate the library of classic results: one proof document per result, and the index.

    python3 proofs/build.py          # write proofs/*.tex and proofs/README.md
    python3 proofs/build.py --check  # exit 1 when a committed file differs from what would be written

The output is deterministic (byte-identical on every run), so the committed
files can be checked against the code: ``tests/test_latex.py`` does exactly that.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing

import sympy as sp  # noqa: E402

from symderiv import analyze, constant, generic, mlp, zeros  # noqa: E402
from symderiv.analysis import Analysis  # noqa: E402
from symderiv.latex import proof_document  # noqa: E402
from symderiv.latex.document import HEADLINE_MARK  # noqa: E402

__all__ = ["Result", "RESULTS", "analysis_of", "render_all", "headline_of_text", "main"]


@dataclass(frozen=True)
class Result:
    """One classic result: a file name, a one-line title and how to analyze it.

    ``focus`` picks the proved statements the headline under the title states (keys of
    :func:`symderiv.latex.proof_document`); ``render`` writes the document from the analysis, the
    title and the focus (default: :func:`symderiv.latex.proof_document`), so results of another
    analysis (e.g. of an ``nn.Module``) register here the same way."""

    name: str
    title: str
    analysis: Callable[[], Any]
    focus: tuple[str, ...] | None = None
    render: Callable[[Any, str, tuple[str, ...] | None], str] | None = None

    def document(self, analysis: Any) -> str:
        if self.render is not None:
            return self.render(analysis, self.title, self.focus)
        return proof_document(analysis, title=self.title, focus=self.focus)


RESULTS: tuple[Result, ...] = (
    Result("zero_init_tanh", "Zero init, tanh, three layers: every weight stays 0",
           lambda: analyze(mlp([4, 3, 3, 3], "tanh"), zeros())),
    Result("zero_init_relu_kink0", "Zero init, ReLU with f'(0) = 0 (PyTorch's relu)",
           lambda: analyze(mlp([4, 3, 3, 3], "relu"), zeros())),
    Result("zero_init_relu_kink_half", "Zero init, ReLU with f'(0) = 1/2 (torch.maximum, SymPy's Heaviside)",
           lambda: analyze(mlp([4, 3, 3, 3], "relu", kink_grad=sp.Rational(1, 2)), zeros())),
    Result("zero_init_sigmoid_depth4", "Zero init, sigmoid, four layers: the zero front moves back one layer per step",
           lambda: analyze(mlp([3, 3, 3, 3, 2], "sigmoid"), zeros()), focus=("moves", "units")),
    Result("constant_init_width_n", "Constant init 1/2, tanh, any hidden width n: every hidden layer acts as width 1",
           lambda: analyze(mlp([4, "n", "n", 3], "tanh"), constant(sp.Rational(1, 2))), focus=("units", "moves")),
    Result("softmax_regression_zero_init",
           "Softmax regression at zero init: the true-class row's gradient is (1/K - 1)x, every other row's x/K",
           lambda: analyze(mlp([4, 3]), zeros()), focus=("softmax_init",)),
    Result("zero_last_layer", "Generic hidden layer, zero last layer: the hidden layer waits one step",
           lambda: analyze(mlp([3, 3, 2], "tanh"), {"W1": generic(), "b1": generic(), "W2": zeros(), "b2": zeros()}),
           focus=("moves",)),
    Result("zero_init_mse", "Zero init, tanh, mean squared error",
           lambda: analyze(mlp([3, 3, 3, 2], "tanh", "mse"), zeros())),
    Result("zero_init_sigmoid_bce", "Zero init, tanh, sigmoid binary cross-entropy",
           lambda: analyze(mlp([3, 3, 3, 2], "tanh", "bce"), zeros())),
    Result("zero_init_no_bias", "Zero init, tanh, no biases: nothing learns",
           lambda: analyze(mlp([4, 3, 3, 3], "tanh", bias=False), zeros())),
    Result("constant_init_symbol_c", "Constant init c, tanh: first moves for generic c, and c = 0 is exceptional",
           lambda: analyze(mlp([4, 3, 3, 3], "tanh"), constant(sp.Symbol("c"))), focus=("units", "moves")),
    Result("softmax_translation_law", "Softmax cross-entropy: every column sum of the output weights is conserved",
           lambda: analyze(mlp([3, 3, 3], "tanh"), generic()), focus=("laws",)),
    Result("two_class_signed_ties", "Two classes at zero init: the output rows stay exact negatives, also under Adam",
           lambda: analyze(mlp([3, 2, 2], "sigmoid"), zeros()), focus=("signed", "units")),
    Result("relu_balancedness", "ReLU: each hidden unit's incoming minus outgoing squared norm is conserved",
           lambda: analyze(mlp([2, 3, 2], "relu"), generic()), focus=("quadratic",)),
    Result("cancellation_adam_floats",
           "A zero that rests on a cancellation: exact in exact arithmetic, amplified by Adam in floats",
           lambda: analyze(mlp([1, 1, 1, 2], "gelu"), {"W3": constant(sp.Rational(1, 2)), "*": zeros()}),
           focus=("zeros", "floats")),
)


def _graph_results() -> tuple[Result, ...]:
    """The ``nn.Module`` results: :func:`symderiv.graph.latex.graph_library` (analyzing them needs torch)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("proofs/build.py: the library includes nn.Module results; install the torch extra "
                 "(pip install -e '.[torch]')")
    from symderiv.graph.latex import graph_library

    def render(analysis: Any, title: str, focus: tuple[str, ...] | None) -> str:
        return analysis.to_latex(title=title)

    return tuple(Result(e.name, e.title, e.analysis, render=render) for e in graph_library())


RESULTS = RESULTS + _graph_results()


def _depth_results() -> tuple[Result, ...]:
    """The statements for every depth (:func:`symderiv.depth.latex.depth_library`): proofs by induction."""
    from symderiv.depth.latex import depth_library

    return tuple(Result(e.name, e.title, e.analysis, render=lambda a, title, focus: a.to_latex(title=title))
                 for e in depth_library())


RESULTS = RESULTS + _depth_results()


def analysis_of(name: str) -> Analysis:
    """The analysis behind the result ``name``."""
    return next(r for r in RESULTS if r.name == name).analysis()


def _statement(a: Analysis) -> str:
    """The theorem in one line: ``analysis.summary()`` without its first line (the setting)
    and its scope sentence (the same for every result, stated in every document)."""
    lines = a.summary().splitlines()[1:]
    return " ".join(line for line in lines if line != a.scope())


def _kink_note(analyses: dict[str, Analysis]) -> str:
    """Whether the ReLU kink convention changes the theorem, as the prover says."""
    def theorem(name: str) -> str:
        return _statement(analyses[name]).replace(" (f'(0) = 0)", "").replace(" (f'(0) = 1/2)", "")

    same = theorem("zero_init_relu_kink0") == theorem("zero_init_relu_kink_half")
    if same:
        return ("**Does the ReLU kink convention matter?** Not here: with f'(0) = 0 and with f'(0) = 1/2 the "
                "prover proves the same statement, because at zero init every pre-activation's δ already "
                "vanishes through the zero weights above it.")
    return ("**Does the ReLU kink convention matter?** Yes: the prover proves different statements for "
            "f'(0) = 0 and f'(0) = 1/2; compare the two documents.")


def headline_of_text(tex: str) -> str:
    """The result a document states in its first lines (its ``% headline:`` comment)."""
    for line in tex.splitlines()[:5]:
        if line.startswith(HEADLINE_MARK):
            return line[len(HEADLINE_MARK):]
    raise ValueError("a proof document without a '% headline:' line in its first lines")


def render_all() -> dict[str, str]:
    """Every file of the library, ``{file name: text}``, in a fixed order."""
    analyses = {r.name: r.analysis() for r in RESULTS}
    files = {f"{r.name}.tex": r.document(analyses[r.name]) for r in RESULTS}
    lines = [
        "# A library of classic results, proved",
        "",
        "Each `.tex` file is a standalone proof written by `symderiv.latex.proof_document` from",
        "`symderiv.analyze`; regenerate them all with `python3 proofs/build.py` (deterministic:",
        "`tests/test_latex.py` fails when a committed file is stale) and compile any of them with",
        "`latexmk -pdf FILE.tex` (or run `pdflatex FILE.tex` twice: the second run resolves the theorem",
        "references). Each document states its result in its first lines (a `% headline:` comment",
        "and the **Result** under the title), then the theorem in general form, the lemmas, one proof, and an",
        "appendix with the closed forms and exact certificates. Every statement holds for every dataset, batch",
        "size, sample order and learning-rate schedule, for SGD, momentum, Nesterov, RMSProp, Adam, AdamW, L2",
        "weight decay and global-norm clipping unless it names a smaller class (linear conservation laws: SGD,",
        "momentum, Nesterov); first-move steps assume no weight decay. The headlines:",
        "",
    ]
    for r in RESULTS:
        a = analyses[r.name]
        setting = f" ({a.net.describe()}; init: {a.init_description})" if isinstance(a, Analysis) else ""
        lines.append(f"- [`{r.name}.tex`]({r.name}.tex): **{r.title}**{setting}. {headline_of_text(files[r.name + '.tex'])}")
    lines += ["", _kink_note(analyses), ""]
    files["README.md"] = "\n".join(lines)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed files are up to date")
    args = parser.parse_args(argv)
    stale = []
    for name, text in render_all().items():
        path = HERE / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("stale (run python3 proofs/build.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
