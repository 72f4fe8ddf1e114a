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
    # the library includes the nn.Module results (proofs/graph_*.tex), whose analyses need torch
    pytest.importorskip("torch", reason="proofs/ includes nn.Module results: install the torch extra")
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
    assert r"$W^{(l)} = 0$ for $l = 1, \dots, L$ and $b^{(l)} = 0$ for $l = 1, 2$" in theorem  # general form
    assert "as if every hidden layer had width $1$" in theorem
    assert "moves at update 1 (certified)" in theorem
    assert "coordinatewise" in theorem and "assuming no weight decay" in theorem
    headline = doc[doc.index(r"\textbf{Result.}"):doc.index(r"\section{")]
    assert r"$W^{(1)} = b^{(1)} = W^{(2)} = b^{(2)} = W^{(3)} = 0$ forever; only $b^{(3)}$ learns" in headline
    assert "Nothing is undecided" in doc and r"\section{Undecided}" not in doc  # no undecided items


def test_document_first_moves_sigmoid():
    doc = proof_document(analyze(mlp([4, 3, 3, 3], "sigmoid"), zeros()))
    assert "moves at update 3 (certified)" in doc and "moves at update 2 (certified)" in doc
    assert r"on $A_{1}$ the gradient vanishes identically on $W^{(1)}$ (all entries)" in doc
    assert r"$W^{(l)}$ and $b^{(l)}$ are unchanged by the first $L - l$ updates and move at update $L - l + 1$" in doc


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
    assert "W1 = b1 = W2 = b2 = W3 = 0 forever; only b3 learns" in readme  # the headlines, from the documents
    assert "Does the ReLU kink convention matter?" in readme


# ---------------------------------------------------------------- compilation
#: LaTeX warnings that are not defects of a document (none today: every warning fails the test)
BENIGN_WARNINGS: tuple[str, ...] = ()


def _compile(tex: str, directory: Path, name: str, runs: int = 3) -> str:
    """pdflatex until the cross-references settle (at most ``runs`` passes); the last log."""
    (directory / f"{name}.tex").write_text(tex, encoding="utf-8")
    for _ in range(runs):
        run = subprocess.run(
            ["pdflatex", "-halt-on-error", "-interaction=nonstopmode", f"{name}.tex"],
            cwd=directory, capture_output=True, text=True, timeout=120,
        )
        log = (directory / f"{name}.log").read_text(errors="replace") if (directory / f"{name}.log").exists() else ""
        assert run.returncode == 0, f"pdflatex failed on {name}:\n" + "\n".join(
            line for line in log.splitlines() if line.startswith("!") or line.startswith("l."))
        if "Rerun to get" not in log:
            break
    assert (directory / f"{name}.pdf").exists()
    return log


def _warnings(log: str) -> list[str]:
    """LaTeX and package warnings (and undefined references) that are not listed as benign."""
    found = [line for line in log.splitlines()
             if "Warning" in line or "undefined" in line.lower() or "Rerun to get" in line]
    return [w for w in found if not any(b in w for b in BENIGN_WARNINGS)]


def _pages(log: str) -> int:
    m = re.search(r"Output written on .*? \((\d+) pages?", log.replace("\n", ""))
    assert m, "no page count in the log"
    return int(m[1])


def _overfull_points(log: str) -> list[float]:
    """The widths by which boxes overflow, from pdflatex's log."""
    return [float(m) for m in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]


needs_pdflatex = pytest.mark.skipif(
    shutil.which("pdflatex") is None,
    reason="pdflatex not installed (apt-get install texlive-latex-base texlive-latex-recommended)",
)


@needs_pdflatex
def test_library_compiles(library, tmp_path):
    """Every proof compiles, with no line running more than 1 pt into the margin, no undefined reference
    and no LaTeX warning; the softmax-regression proof fits on 3 pages."""
    from concurrent.futures import ThreadPoolExecutor

    names = [name for name in library if name.endswith(".tex")]
    with ThreadPoolExecutor(max_workers=2) as pool:  # pdflatex waits on I/O as much as on the CPU
        logs = dict(zip(names, pool.map(lambda n: _compile(library[n], tmp_path, n[:-4]), names)))
    pages = {}
    for name, log in logs.items():
        assert all(w <= 1.0 for w in _overfull_points(log)), (name, _overfull_points(log))
        assert _warnings(log) == [], (name, _warnings(log))
        pages[name] = _pages(log)
    assert pages["softmax_regression_zero_init.tex"] <= 3, pages


def test_warning_filter_catches_undefined_references():
    log = ("LaTeX Warning: Reference `thm:main' on page 1 undefined on input line 20.\n"
           "LaTeX Warning: There were undefined references.\nOutput written on x.pdf (2 pages, 1 bytes).")
    assert len(_warnings(log)) == 2 and _pages(log) == 2
    assert _warnings("Output written on x.pdf (1 page, 1 bytes).") == []


@needs_pdflatex
def test_custom_title_and_wide_network_compile(tmp_path):
    a = analyze(mlp([6, 5, 4], "tanh"), {"W1": zeros(), "b1": zeros(), "W2": 1, "b2": zeros()})
    _compile(proof_document(a, title="A & B_1: 50% of {x} ~ $y$ \\ ≡"), tmp_path, "custom")


# ---------------------------------------------------------------- results first, in general form
def test_every_proof_states_its_result_first():
    """Every committed proof states its result in its first lines: a `% headline:` comment, and the
    **Result** sentence under the title, before the first section."""
    for path in sorted(PROOFS.glob("*.tex")):
        text = path.read_text(encoding="utf-8")
        first = text.splitlines()[:3]
        marks = [line for line in first if line.startswith("% headline: ")]
        assert len(marks) == 1, f"{path.name}: no '% headline:' comment in its first lines"
        sentence = marks[0][len("% headline: "):]
        assert len(sentence.split()) >= 4 and sentence.isascii(), (path.name, sentence)
        head = text[:text.index(r"\section{")]
        assert r"\textbf{Result.}" in head, f"{path.name}: the result is not stated before the first section"
        assert head.index(r"\Large\bfseries") < head.index(r"\textbf{Result.}")  # the title, then the result


def test_headline_check_rejects_a_document_without_one(build):
    with pytest.raises(ValueError):
        build.headline_of_text("\\documentclass{article}\n\\begin{document}\n\\section{Setting}\n")


def test_softmax_regression_states_the_readme_result(library):
    """At zero init one example (x, c) gives the true-class row (1/K - 1) x and every other row x/K,
    stated with K as a letter; the formula is compared with sympy.diff of the loss (independent of the engine)."""
    doc = library["softmax_regression_zero_init.tex"]
    head = doc[:doc.index(r"\section{")]
    assert r"the gradient $(\frac1K - 1)\,x$ and every other row $x/K$" in head
    assert "wrong-class rows are equal" in head
    assert r"With $K$ classes and inputs $x \in \mathbb{R}^n$" in head
    assert r"\Bigl(\frac1K - y_k\Bigr) x^\top" in doc and "it holds for every $K$ and every input dimension $n$" in doc
    # independent: differentiate softmax cross-entropy at W = 0, b = 0 for K = 3, n = 4, one-hot labels
    K, n = 3, 4
    x = sp.symbols("x1:5")
    W = sp.Matrix(K, n, lambda i, j: sp.Symbol(f"w{i}{j}"))
    z = W * sp.Matrix(x)
    for c in range(K):
        loss = -sp.log(sp.exp(z[c]) / sum(sp.exp(z[k]) for k in range(K)))
        at_zero = {w: 0 for w in W}
        for k in range(K):
            row = [sp.simplify(sp.diff(loss, W[k, j]).subs(at_zero)) for j in range(n)]
            expected = [(sp.Rational(1, K) - 1) * xj if k == c else xj / K for xj in x]
            assert all(sp.simplify(a - e) == 0 for a, e in zip(row, expected))


def test_softmax_statement_only_where_the_logits_are_equal():
    """The general softmax statement is printed only when the engine's closed form confirms it."""
    from symderiv import generic
    from symderiv.latex.context import Context
    from symderiv.latex.statements import softmax_at_init

    assert softmax_at_init(Context(analyze(mlp([3, 2]), zeros()))) is not None
    assert softmax_at_init(Context(analyze(mlp([3, 2]), generic()))) is None  # logits differ at a generic init
    assert softmax_at_init(Context(analyze(mlp([3, 2], loss="mse"), zeros()))) is None  # not softmax
    assert "Gradient at the init" not in proof_document(analyze(mlp([2, 2]), generic()))


def test_headline_focus(tanh_zero):
    doc = proof_document(tanh_zero, focus=("units",))
    assert "% headline: Each hidden layer's 3 units stay identical (width 1 in effect)." in doc
    with pytest.raises(SymderivError):
        proof_document(tanh_zero, focus=("no such statement",))
    with pytest.raises(SymderivError):
        proof_document(tanh_zero, focus="units")  # a string is not a sequence of keys


def test_documents_group_entries_instead_of_listing_them(library):
    """Softmax regression: no entry-by-entry lists; certificates as exact matrices."""
    doc = library["softmax_regression_zero_init.tex"]
    assert doc.count(r"\item") <= 12
    assert r"\frac{\partial\ell}{\partial W^{(1)}} = \begin{pmatrix}" in doc  # one matrix, exact entries
    assert "\\tfrac{5}{21}" in doc and r"\pm" not in doc  # rational values are fractions, not enclosures


# ---------------------------------------------------------------- certificates
def test_enclosures_round_outward_and_exact_values_are_checked():
    from fractions import Fraction

    from symderiv.latex.appendix import _exact_if_inside
    from symderiv.latex.certificates import Certified, certified_texts, enclosure_of, interval_tex

    lo, hi = enclosure_of("0.238095238095 (±1.9e-61)")
    assert lo < Fraction(5, 21) < hi  # the midpoint was rounded: the enclosure still holds 5/21
    text = interval_tex(lo, hi, 4)
    assert text == "[0.2380, 0.2381]"
    assert enclosure_of("-3/8") == (Fraction(-3, 8), Fraction(-3, 8)) and enclosure_of("nan") is None
    x = sp.Symbol("x_1")
    assert _exact_if_inside(x / 21 * 5, {"x_1": "1"}, "0.238095238095 (±1.9e-61)") == Fraction(5, 21)
    assert _exact_if_inside(x / 3, {"x_1": "1"}, "0.238095238095 (±1.9e-61)") is None  # outside: rejected
    assert _exact_if_inside(sp.exp(x), {"x_1": "1"}, "2.71828182846 (±1e-50)") is None  # irrational
    # digits grow until the printed intervals are apart
    near = [Certified("0.123456789 (±1e-40)"), Certified("0.123457789 (±1e-40)")]
    a, b = certified_texts(near, nonzero=[True, True], distinct=True)
    assert a != b and a.startswith("[0.1234567")
