"""``--optimizer`` and ``--depth`` on the command line: the CLI's output is the library's, the statements
agree with independent analyses, and bad values are one line naming what is accepted (exit 2)."""
from __future__ import annotations

import json

import pytest
import sympy as sp

import symderiv as sd
from symderiv.cli import EXIT_OK, EXIT_USAGE, main
from symderiv.cli_options import accepted_optimizers, parse_optimizer
from symderiv.optimizer_classes import registered_optimizers
from symderiv.optimizers import registered_optimizer_classes


def _run(capsys, argv: list[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("symderiv: error:"), err
    return lines[0]


# ---------------------------------------------------------------- --optimizer
def test_optimizer_names_come_from_the_registries():
    assert set(accepted_optimizers()) == set(registered_optimizers()) | set(registered_optimizer_classes())
    for name in registered_optimizers():
        assert parse_optimizer(name.upper()) == name
    assert parse_optimizer("W1=muon, b1=AdamW") == {"W1": "muon", "b1": "adamw"}
    assert parse_optimizer(None) is None


@pytest.mark.parametrize("text", ["adamm", "W1=", "=muon", "W1=muon,W1=adam", "W 1=muon", "W1=muon,,b1=adam",
                                  "W1=__import__('os')"])
def test_a_bad_optimizer_is_one_line_listing_the_accepted_names(capsys, text):
    status, _, err = _run(capsys, ["analyze", "--layers", "3,2,2", "--optimizer", text])
    assert status == EXIT_USAGE
    line = _error_line(err)
    if "=" not in text:
        assert all(name in line for name in registered_optimizers())


def test_analyze_optimizer_is_the_library_analysis(capsys):
    net, init = sd.mlp([3, 4, 2], "sigmoid"), sd.zeros()
    status, out, _ = _run(capsys, ["analyze", "--layers", "3,4,2", "--activation", "sigmoid", "--optimizer", "muon",
                                   "--json"])
    assert status == EXIT_OK
    assert out == sd.analyze(net, init, optimizer="muon").to_json()
    preserves = json.loads(out)["optimizer_lattice"]["preserves"]
    assert preserves == {"W1": "rowcol", "b1": "coordinatewise", "W2": "rowcol", "b2": "coordinatewise"}
    # a coordinatewise optimizer is the coordinatewise analysis itself
    status, out, _ = _run(capsys, ["analyze", "--layers", "3,4,2", "--activation", "sigmoid", "--optimizer", "adam",
                                   "--json"])
    assert status == EXIT_OK and out == sd.analyze(net, init).to_json()


def test_per_parameter_optimizers(capsys):
    status, out, _ = _run(capsys, ["analyze", "--layers", "3,4,2", "--optimizer", "W1=muon,b1=adamw,W2=adam,b2=lion",
                                   "--json"])
    assert status == EXIT_OK
    preserves = json.loads(out)["optimizer_lattice"]["preserves"]
    assert preserves == {"W1": "rowcol", "b1": "coordinatewise", "W2": "coordinatewise", "b2": "sign"}
    status, _, err = _run(capsys, ["analyze", "--layers", "3,4,2", "--optimizer", "W1=muon,b1=adamw"])
    assert status == EXIT_USAGE and "missing W2, b2" in _error_line(err)


def test_module_runs_take_the_optimizer(capsys):
    pytest.importorskip("torch")
    spec = ["--module", "symderiv.graph.examples:LoRA", "--input-shape", "3", "--optimizer", "muon", "--json"]
    status, out, _ = _run(capsys, ["analyze", *spec])
    assert status == EXIT_OK
    assert json.loads(out)["optimizer_lattice"]["preserves"] == {"lora_A.weight": "rowcol", "lora_B.weight": "rowcol"}
    status, out, _ = _run(capsys, ["verify", *spec])  # real torch.optim.Muon runs
    report = json.loads(out)
    assert status == EXIT_OK and report["ok"] and "muon" in out.lower()


def test_verify_with_a_coordinatewise_optimizer(capsys):
    status, out, _ = _run(capsys, ["verify", "--layers", "3,2,2", "--optimizer", "adam"])
    assert status == EXIT_OK and "verify: OK" in out


# ---------------------------------------------------------------- --depth
DEPTH = ["--layers", "4,n,3", "--depth", "L", "--activation", "sigmoid", "--init", "zeros"]


def test_depth_summary_is_the_family_statement(capsys):
    status, out, _ = _run(capsys, ["analyze", *DEPTH])
    a = sd.analyze_depth(sd.mlp_family(4, "n", "L", 3, "sigmoid"), sd.zeros())
    assert status == EXIT_OK and out == a.summary() + "\n"
    assert "every depth L ≥ 2" in out and "L - l + 1" in out


def test_depth_statement_agrees_with_concrete_analyses(capsys):
    """The statement the CLI proves, read at L = 2, 3, 4, against the chain prover on mlp([4, 3, …, 3, 3])."""
    status, out, _ = _run(capsys, ["analyze", *DEPTH, "--json"])
    assert status == EXIT_OK
    a = sd.analyze_depth(sd.mlp_family(4, "n", "L", 3, "sigmoid"), sd.zeros())
    assert out == a.to_json()
    for L in (2, 3, 4):
        concrete = sd.analyze(sd.mlp([4] + [3] * (L - 1) + [3], "sigmoid"), sd.zeros())
        for l in range(1, L + 1):
            assert a.at(L).first_move_step(f"W{l}") == concrete.first_move_step(f"W{l}", (0, 0)) == L - l + 1


def test_depth_latex_file_and_roles(capsys, tmp_path):
    tex = tmp_path / "depth.tex"
    status, _, _ = _run(capsys, ["analyze", "--layers", "4,3,3", "--depth", "L", "--init", "last=zeros,*=generic",
                                 "--latex", str(tex)])
    fam = sd.mlp_family(4, 3, "L", 3)
    expected = sd.analyze_depth(fam, {"last": sd.zeros(), "*": sd.generic()}).to_latex()
    assert status == EXIT_OK and tex.read_text() == expected


def test_depth_constant_init_with_a_declared_symbol(capsys):
    status, out, _ = _run(capsys, ["analyze", "--layers", "4,n,3", "--depth", "L", "--init", "constant:c",
                                   "--symbol", "c"])
    c = sp.Symbol("c", real=True)
    assert status == EXIT_OK
    assert out == sd.analyze_depth(sd.mlp_family(4, "n", "L", 3), sd.constant(c)).summary() + "\n"


def test_rezero_family(capsys):
    status, out, _ = _run(capsys, ["analyze", "--family", "rezero", "--layers", "3,3", "--depth", "L", "--loss", "mse"])
    assert status == EXIT_OK
    assert out == sd.analyze_depth(sd.rezero_family(3, "L", loss="mse")).summary() + "\n"


def test_verify_depth(capsys):
    status, out, _ = _run(capsys, ["verify", *DEPTH, "--json"])
    report = json.loads(out)
    assert status == EXIT_OK and report["ok"] and report["checks"]


@pytest.mark.parametrize("argv, says", [
    (["--layers", "4,3,3,3", "--depth", "L"], "N_IN,WIDTH,N_OUT"),
    (["--layers", "4,n,3", "--depth", "n"], "cannot be 'n'"),
    (["--layers", "4,n,3", "--depth", "L-1"], "symbol name"),
    (["--layers", "4,n,3", "--depth", "L", "--init", "W1=zeros"], "first, hidden, last"),
    (["--layers", "4,n,3", "--depth", "L", "--init", "generic"], "concrete width"),
    (["--layers", "4,n,3", "--depth", "L", "--activation", "tanh,relu"], "one --activation"),
    (["--layers", "4,n,3", "--depth", "L", "--optimizer", "muon"], "--optimizer does not apply"),
    (["--layers", "4,n,3", "--depth", "L", "--plot", "x.png"], "--plot does not apply"),
    (["--family", "rezero", "--layers", "3,4", "--depth", "L"], "D,D"),
    (["--family", "rezero", "--layers", "3,3", "--depth", "L", "--init", "zeros"], "drop --init"),
    (["--family", "rezero", "--layers", "3,3"], "give --depth L"),
])
def test_bad_depth_input_is_one_line(capsys, argv, says):
    status, _, err = _run(capsys, ["analyze", *argv])
    assert status == EXIT_USAGE and says in _error_line(err)
