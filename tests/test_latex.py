"""The LaTeX face: the printer's notation, proof documents (deterministic, complete, compiling)
and the committed library in ``proofs/`` (never stale)."""
from __future__ import annotations

import dataclasses
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from symderiv import SymderivError, analyze, mlp, zeros
from symderiv.analysis import Analysis
from symderiv.latex import SymderivLatexPrinter, analysis_latex, latex, proof_document
from symderiv.latex.document import latex_text

ROOT = Path(__file__).resolve().parent.parent
PROOFS = ROOT / "proofs"


def _load_build():
    spec = importlib.util.spec_from_file_location("proofs_build", PROOFS / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build():
    return _load_build()


@pytest.fixture(scope="module")
def library(build) -> dict[str, str]:
    return build.render_all()


@pytest.fixture(scope="module")
def tanh_zero() -> Analysis:
    return analyze(mlp([4, 3, 3, 3], "tanh"), zeros())


# ---------------------------------------------------------------- the printer
@pytest.mark.parametrize("name, expected", [
    ("x_1", "x_{1}"),
    ("x_12", "x_{12}"),
    ("y_3", "y_{3}"),
    ("W1_2_3", "W^{(1)}_{2,3}"),
    ("b2_1", "b^{(2)}_{1}"),
    ("w2", "w^{(2)}"),
    ("b3", "b^{(3)}"),
    ("t_4", r"\theta_{4}"),
    ("n", "n"),
    ("c", "c"),
    ("alpha", r"\alpha"),
])
def test_printer_symbol_names(name, expected):
    assert latex(sp.Symbol(name, real=True)) == expected


def test_printer_settings():
    x1, W = sp.Symbol("x_1"), sp.Symbol("W1_2_3")
    assert latex(x1, index_base=0) == "x_{0}"
    assert latex(W, index_base=0) == "W^{(1)}_{1,2}"
    assert latex(sp.Symbol("t_4"), class_symbol=r"\vartheta") == r"\vartheta_{4}"
    assert latex(x1, symbol_names={x1: r"\xi"}) == r"\xi"  # SymPy's own settings still work
    assert latex(W * x1 + sp.Symbol("b1_2")) == r"W^{(1)}_{2,3} x_{1} + b^{(1)}_{2}"  # sub-expressions too


def test_printer_kink_convention_is_visible():
    z = sp.Symbol("z")
    assert latex(sp.Heaviside(z, sp.Rational(1, 2))) == r"\operatorname{H}_{\frac{1}{2}}\left(z\right)"


@pytest.mark.parametrize("settings", [{"indexbase": 1}, {"index_base": "1"}, {"index_base": True}])
def test_printer_rejects_bad_settings(settings):
    with pytest.raises(SymderivError):
        SymderivLatexPrinter(settings)


def test_latex_text_escapes():
    assert latex_text("a_b & 50% ≡ #1") == r"a\_b \& 50\% $\equiv$ \#1"
    assert latex_text("é").isascii()


# ---------------------------------------------------------------- the document
def test_document_is_deterministic():
    net = mlp([3, 3, 3, 2], "sigmoid")
    first = proof_document(analyze(net, zeros()))
    second = proof_document(analyze(net, zeros()))
    assert first == second


def test_document_states_what_was_proved(tanh_zero):
    doc = proof_document(tanh_zero)
    assert doc.startswith(r"\documentclass") and doc.rstrip().endswith(r"\end{document}")
    theorem = doc[doc.index(r"\begin{theorem}"):doc.index(r"\end{theorem}")]
    assert r"$W^{(1)} = b^{(1)} = W^{(2)} = b^{(2)} = W^{(3)} = 0$" in theorem  # W1 stays 0, and the rest
    assert "as if layer 1 had width $1$" in theorem
    assert "moves at update 1 (certified)" in theorem
    assert "coordinatewise" in theorem and "assuming no weight decay" in theorem
    for line in tanh_zero.summary().splitlines():  # the plain-language summary, verbatim
        assert latex_text(line) in doc
    assert "Nothing: every constraint was either proved" in doc  # no undecided items


def test_document_first_moves_sigmoid():
    doc = proof_document(analyze(mlp([4, 3, 3, 3], "sigmoid"), zeros()))
    assert "moves at update 3 (certified)" in doc and "moves at update 2 (certified)" in doc
    assert r"on $A_{1}$, $\partial\ell/\partial\theta \equiv 0$ for $W^{(1)}$ (all entries)" in doc


def test_document_lists_undecided_items(tanh_zero):
    item = "gradient of W1[1..3, 1] ≡ 0: neither proved nor refuted in the time bound"
    proof = dataclasses.replace(tanh_zero.proof, undecided=[item])
    doc = proof_document(Analysis(proof, tanh_zero.optimizers, tanh_zero.init_description))
    section = doc[doc.index(r"\section{Undecided}"):]
    assert latex_text(item) in section and r"\emph{not}" in section
    assert "nothing above depends on them" in doc


def test_document_rejects_non_analysis():
    with pytest.raises(SymderivError):
        proof_document("not an analysis")


def test_analysis_latex(tanh_zero):
    short = analysis_latex(tanh_zero)
    assert short.startswith("$$") and short.endswith("$$")
    assert r"W^{(1)} = b^{(1)} = W^{(2)} = b^{(2)} = W^{(3)} = 0" in short


# ---------------------------------------------------------------- the library
def test_library_is_up_to_date(library):
    """Every committed file equals what proofs/build.py generates now (the library can't go stale)."""
    for name, text in library.items():
        path = PROOFS / name
        assert path.exists(), f"proofs/{name} is missing: run python3 proofs/build.py"
        assert path.read_text(encoding="utf-8") == text, f"proofs/{name} is stale: run python3 proofs/build.py"
    committed = {p.name for p in PROOFS.glob("*.tex")}
    assert committed == {n for n in library if n.endswith(".tex")}, "proofs/ holds a .tex that build.py does not make"


def test_library_readme_states_each_theorem(build, library):
    readme = library["README.md"]
    for result in build.RESULTS:
        assert f"[`{result.name}.tex`]" in readme
    assert "All 30 weights stay exactly 0 forever (proved)." in readme
    assert "Does the ReLU kink convention matter?" in readme


# ---------------------------------------------------------------- compilation
def _compile(tex: str, directory: Path, name: str) -> str:
    (directory / f"{name}.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-halt-on-error", "-interaction=nonstopmode", f"{name}.tex"],
        cwd=directory, capture_output=True, text=True, timeout=120,
    )
    log = (directory / f"{name}.log").read_text(errors="replace") if (directory / f"{name}.log").exists() else ""
    assert run.returncode == 0, f"pdflatex failed on {name}:\n" + "\n".join(
        line for line in log.splitlines() if line.startswith("!") or line.startswith("l."))
    assert (directory / f"{name}.pdf").exists()
    return log


def _overfull_points(log: str) -> list[float]:
    """The widths by which boxes overflow, from pdflatex's log."""
    return [float(m) for m in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]


needs_pdflatex = pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)",
)


@needs_pdflatex
def test_library_compiles(library, tmp_path):
    """Every proof compiles, with no line running more than 1 pt into the margin."""
    for name, text in library.items():
        if name.endswith(".tex"):
            log = _compile(text, tmp_path, name[:-4])
            assert all(w <= 1.0 for w in _overfull_points(log)), (name, _overfull_points(log))


@needs_pdflatex
def test_custom_title_and_wide_network_compile(tmp_path):
    a = analyze(mlp([6, 5, 4], "tanh"), {"W1": zeros(), "b1": zeros(), "W2": 1, "b2": zeros()})
    _compile(proof_document(a, title="A & B_1: 50% of {x} ~ $y$ \\ ≡"), tmp_path, "custom")
