"""Pictures (symderiv.plot), demo --out, analyze --plot, notebook display and verify's sample."""
from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest
import sympy as sp

import symderiv as s
from symderiv import cli, cli_demo
from symderiv.errors import InvalidArgument, SymderivError

mpl = pytest.importorskip("matplotlib")
from matplotlib import image as mpimg  # noqa: E402

from symderiv import plot  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sigmoid4():
    return s.analyze(s.mlp([3, 3, 3, 3, 2], "sigmoid"), s.zeros())


@pytest.fixture(scope="module")
def const():
    return s.analyze(s.mlp([4, 3, 3, 3], "tanh"), s.constant(sp.Rational(1, 2)))


def _check_png(path: str, min_colours: int = 3) -> np.ndarray:
    with open(path, "rb") as f:
        assert f.read(8) == PNG_MAGIC
    img = mpimg.imread(path)
    h, w = img.shape[:2]
    assert 200 <= h <= 3000 and 200 <= w <= 3000
    colours = np.unique(img.reshape(-1, img.shape[-1]), axis=0)
    assert len(colours) >= min_colours  # not one flat colour: something is drawn
    return img


def test_front_table_sigmoid_front_moves_back_one_layer_per_step(sigmoid4):
    names, steps, moved, maybe = plot.front_table(sigmoid4)
    depth = 4
    assert list(names) == [f"{k}{l}" for l in range(1, depth + 1) for k in "Wb"]
    assert not maybe.any()
    for i, name in enumerate(names):
        layer = int(name[1:])
        first = depth - layer + 1  # layer L moves at step 1, layer 1 at step L (independent statement)
        assert [int(moved[i, t]) for t in steps] == [int(t >= first) for t in steps]


def test_front_table_never_moving_zeros_count_as_unmoved():
    a = s.analyze(s.mlp([4, 3, 3, 3], "tanh"), s.zeros())
    names, steps, moved, _ = plot.front_table(a)
    for i, name in enumerate(names):
        assert list(moved[i]) == [float(name == "b3" and t >= 1) for t in steps]


def test_plot_front_writes_png(sigmoid4, tmp_path):
    path = str(tmp_path / "front.png")
    assert plot.plot_front(sigmoid4, path) == path
    img = _check_png(path)
    # the "moved" blue of the colour map appears
    rgb = img[..., :3]
    assert np.any((np.abs(rgb - np.array([0x21, 0x66, 0xAC]) / 255) < 0.02).all(axis=-1))
    assert not any(n.endswith(".tmp") for n in os.listdir(tmp_path))  # atomic: no temporary left


def test_plot_front_symbolic_width(tmp_path):
    a = s.analyze(s.mlp([4, "n", "n", 3], "tanh"), s.constant(sp.Rational(1, 2)))
    _check_png(plot.plot_front(a, str(tmp_path / "f.png")))


def test_plot_ties_trajectories_conserved(const, tmp_path):
    _check_png(plot.plot_ties(const, str(tmp_path / "ties.png")))
    _check_png(plot.plot_trajectories(const, str(tmp_path / "traj.png"), steps=6))
    g = s.analyze(s.mlp([3, 3, 3], "tanh"), s.generic())
    _check_png(plot.plot_conserved(g, str(tmp_path / "cons.png"), steps=8))
    assert plot.front_png(const)[:8] == PNG_MAGIC


def test_conserved_values_are_flat_along_sgd():
    g = s.analyze(s.mlp([3, 3, 3], "tanh"), s.generic())
    laws = [law for law in g.conserved if law.kind == "linear"]
    assert laws
    traj = plot._training_run(g, "sgd", 10, 0.05, 0)
    for law in laws:
        values = [plot._law_value(law.expression, theta) for theta in traj.params]
        assert max(values) - min(values) <= 1e-12 * max(1.0, max(abs(v) for v in values))
    # an entry that learns is not flat: the law evaluation is not trivially constant
    moved = [theta["W2"][0, 0] for theta in traj.params]
    assert max(moved) - min(moved) > 1e-6


def test_plot_refusals(tmp_path):
    sym = s.analyze(s.mlp([4, "n", 3], "tanh"), s.zeros())
    with pytest.raises(InvalidArgument, match="concrete widths"):
        plot.plot_ties(sym, str(tmp_path / "x.png"))
    with pytest.raises(InvalidArgument, match="expected an Analysis"):
        plot.plot_front("not an analysis", str(tmp_path / "x.png"))
    wide = s.analyze(s.mlp([2, 50, 2], "tanh"), s.zeros())
    with pytest.raises(InvalidArgument, match="at most"):
        plot.plot_ties(wide, str(tmp_path / "x.png"))
    assert not os.listdir(tmp_path)


def test_missing_matplotlib_is_one_line(monkeypatch, sigmoid4, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(SymderivError, match=r"pip install 'symderiv\[plot\]'"):
        plot.plot_front(sigmoid4, str(tmp_path / "x.png"))


# ---------------------------------------------------------------- CLI
def test_analyze_plot_option(tmp_path, capsys):
    path = tmp_path / "front.png"
    assert cli.main(["analyze", "--layers", "3,3,3,2", "--activation", "sigmoid", "--plot", str(path)]) == 0
    _check_png(str(path))
    assert "sigmoid" in capsys.readouterr().out


def test_demo_out_writes_files(tmp_path, monkeypatch, capsys):
    chosen = cli._demo_results()[1:2]  # the sigmoid front (fast)
    monkeypatch.setattr(cli_demo, "_demo_results", lambda: chosen)
    monkeypatch.setattr(cli_demo, "_DEMO", cli._DEMO[:1])  # the text part: one summary is enough here
    out = tmp_path / "demo"
    assert cli.main(["demo", "--out", str(out)]) == 0
    files = sorted(os.listdir(out))
    expect = {f"{name}{ext}" for name, *_ in chosen for ext in (".tex", ".png")}
    assert expect <= set(files)
    for name, *_ in chosen:
        assert (out / f"{name}.tex").read_text().startswith("\\documentclass")
        _check_png(str(out / f"{name}.png"))
        if shutil.which("pdflatex"):
            assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    text = capsys.readouterr().out
    assert "== files in" in text and "Softmax regression" in text


def test_demo_without_pdflatex_reports_it(tmp_path, monkeypatch, capsys):
    chosen = cli._demo_results()[3:4]
    monkeypatch.setattr(cli_demo, "_demo_results", lambda: chosen)
    monkeypatch.setattr(cli_demo, "_DEMO", cli._DEMO[:1])  # the text part: one summary is enough here
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert cli.main(["demo", "--out", str(tmp_path)]) == 0
    assert "no .pdf: pdflatex is not on PATH" in capsys.readouterr().out
    assert not any(n.endswith(".pdf") for n in os.listdir(tmp_path))


def test_demo_out_on_a_file_is_a_usage_error(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main(["demo", "--out", str(f)]) == cli.EXIT_USAGE
    assert "not a directory" in capsys.readouterr().err


# ---------------------------------------------------------------- notebook display
def test_repr_methods_contain_latex():
    a = s.analyze(s.mlp([4, 3], "tanh"), s.zeros())
    html = a._repr_html_()
    assert "<ul>" in html and r"W^{(1)}_{1,1}" in html and r"\frac{1}{3} - y_{1}" in html
    d = s.derive(s.mlp([2, 2], "tanh"), s.zeros())
    tex = d._repr_latex_()
    assert tex.startswith("$$") and r"\partial W^{(1)}" in tex and "x_{1}" in tex
    r = a.verify(optimizers=["sgd"])
    h = r._repr_html_()
    assert "<table>" in h and "verify: OK" in h and "finite_differences" in h
    v = s.check("dL/db1[i] = p[i] - y[i]", s.mlp([4, 3]))
    assert "proved" in v._repr_latex_()


def test_symbol_printing_in_symderiv_notation(monkeypatch):
    assert s.latex(sp.Symbol("W1_2_3")) == "W^{(1)}_{2,3}"
    monkeypatch.setattr(sys, "displayhook", sys.displayhook)  # init_printing replaces it: restored after
    s.notebook()


# ---------------------------------------------------------------- verify's sample
def test_fd_sample_is_seeded_and_full_covers_everything():
    from symderiv.verify import finite_difference_sample

    shapes = {"W1": (10, 8), "b1": (10,), "W2": (3, 10)}
    a = finite_difference_sample(shapes, 0)
    assert a == finite_difference_sample(shapes, 0)
    assert a != finite_difference_sample(shapes, 1)
    assert len(a["W1"]) == 64 and len(set(a["W1"])) == 64 and a["W1"] == sorted(a["W1"])
    assert len(a["b1"]) == 10 and len(a["W2"]) == 30  # small parameters: every entry
    full = finite_difference_sample(shapes, 0, None)
    assert full["W1"] == [tuple(ix) for ix in np.ndindex(10, 8)]


def test_verify_states_its_sample():
    a = s.analyze(s.mlp([8, 10, 3], "tanh"), s.constant(sp.Rational(1, 2)))
    fd = [c for c in a.verify(optimizers=["sgd"]).checks if c.kind == "finite_differences"][0]
    assert fd.ok and "107 of 123 entries" in fd.detail and "seed 0" in fd.detail
    fd = [c for c in a.verify(optimizers=["sgd"], full=True).checks if c.kind == "finite_differences"][0]
    assert fd.ok and "every entry (123)" in fd.detail
