"""The public naming contract (issue #12).

* every JSON face has ``to_dict()`` (the plain dict) and ``to_json()`` (its deterministic text);
  ``to_json_text()`` is a deprecated alias;
* no JSON shows internal names (parser names such as ``GRAD_W1``, Python or SymPy reprs);
* a derivation hands out its own symbols (``d.symbols("y_1")``), so ``.subs`` works;
* the CLI subcommands read the network and init with one set of options and say what they accept.
"""
from __future__ import annotations

import argparse
import json
import re

import pytest
import sympy as sp

import symderiv as sd
from symderiv.cli import build_parser, main, network_from_args
from symderiv.errors import InvalidArgument
from symderiv.jsontext import JsonText

NET = sd.mlp([3, 2, 2], "tanh")
WRONG_LATEX = r"\frac{\partial L}{\partial W^{(2)}_{ij}} = (p_i - y_i) h^{(1)}_j \tanh'(z^{(1)}_j)"
WRONG_CHAIN = r"\frac{\partial L}{\partial b^{(2)}_i} = \delta^{(2)}_i = p_i - y_i + 1"

#: what must never reach a user's JSON: the claim parser's names, Python and SymPy reprs, enum reprs
LEAK = re.compile(
    r"GRAD_|_PRIME\b|\b(?:Symbol|Dummy|Wild|Integer|Rational|Float|Sum|Indexed|IndexedBase|Piecewise|"
    r"ImmutableMatrix|ImmutableDenseMatrix|MutableDenseMatrix|Matrix|Tuple|Lambda|Subs|Derivative|Block)\(|"
    r"_Dummy_\d|\bobject at 0x|<[A-Za-z_][\w.]*[:>]|<class '|\bfrozenset\(|\bdict_(?:keys|values|items)\(")


# ---------------------------------------------------------------- the faces
@pytest.fixture(scope="module")
def faces() -> dict:
    """One object per JSON face, on small inputs (each well under a second, the check ~2 s)."""
    a = sd.analyze(NET, sd.zeros())
    out = {
        "analysis": a,
        "analysis_constant_c": sd.analyze(sd.mlp([3, 2, 2], "relu"), sd.constant(sp.Symbol("c", real=True))),
        "analysis_784_inputs": sd.analyze(sd.mlp([784, 10]), sd.zeros()),
        "verify_report": a.verify(seed=0),
        "wrong_verdict": sd.check(WRONG_LATEX, NET, seed=0),
        "wrong_chain": sd.check(WRONG_CHAIN, NET, seed=0),
        "plain_verdict": sd.check("dL/dW1[i,j] = delta1[i] * x[j]", NET, seed=0),
        "network": NET,
    }
    out["link"] = out["wrong_verdict"].links[0]
    out["counterexample"] = out["wrong_verdict"].counterexample
    out["check"] = out["verify_report"].checks[0]
    return out


@pytest.fixture(scope="module")
def lora():
    pytest.importorskip("torch")
    from symderiv.graph.examples import LoRA

    return sd.analyze(LoRA(zero="B"), loss="mse", input_shape=(3,))


FACE_NAMES = ["analysis", "analysis_constant_c", "analysis_784_inputs", "verify_report", "wrong_verdict",
              "wrong_chain", "plain_verdict", "network", "link", "counterexample", "check"]


def _walk(value, path="$"):
    """Every (path, leaf) of a JSON-ready value; fails on anything that is not JSON."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), f"{path}: key {key!r} is not a string"
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for k, item in enumerate(value):
            yield from _walk(item, f"{path}[{k}]")
    else:
        assert value is None or isinstance(value, (str, int, float, bool)), f"{path}: {type(value).__name__}"
        yield path, value


def test_the_verdicts_are_what_the_leak_tests_need(faces):
    assert faces["wrong_verdict"].refuted and faces["wrong_chain"].first_wrong_link == 2
    assert faces["plain_verdict"].proved


@pytest.mark.parametrize("name", FACE_NAMES)
def test_to_dict_is_plain_data_and_to_json_its_text(faces, name):
    face = faces[name]
    data, text = face.to_dict(), face.to_json()
    assert type(data) is dict and isinstance(text, str) and text.endswith("}\n")
    assert json.loads(text) == data
    for path, leaf in _walk(data):  # a stale record.to_json() would nest text in the dict
        assert not isinstance(leaf, JsonText) and not (isinstance(leaf, str) and leaf.startswith("{\n")), path


def test_graph_analysis_faces(lora):
    data, text = lora.to_dict(), lora.to_json()
    assert json.loads(text) == data and text.endswith("\n")
    assert data["parameters"]["lora_B.weight"]["first_move_step"] == [[1, 1], [1, 1], [1, 1]]
    assert all(not isinstance(leaf, JsonText) for _, leaf in _walk(data))


def test_to_json_is_byte_identical_for_the_same_input():
    one = sd.analyze(sd.mlp([3, 2, 2], "sigmoid"), sd.zeros()).to_json()
    two = sd.analyze(sd.mlp([3, 2, 2], "sigmoid"), sd.zeros()).to_json()
    assert one == two and one.encode() == two.encode()
    assert sd.analyze(NET, sd.zeros()).verify(seed=3).to_json() == sd.analyze(NET, sd.zeros()).verify(seed=3).to_json()


@pytest.mark.parametrize("name", ["analysis", "verify_report", "wrong_verdict"])
def test_to_json_text_is_a_deprecated_alias(faces, name):
    face = faces[name]
    with pytest.warns(DeprecationWarning, match="to_json"):
        text = face.to_json_text()
    assert text == face.to_json()


def test_indexing_the_text_like_the_old_dict_names_to_dict(faces):
    text = faces["analysis"].to_json()
    with pytest.raises(TypeError, match=r"to_dict\(\)"):
        text["parameters"]
    with pytest.raises(AttributeError, match=r"to_dict\(\)"):
        text.keys()
    assert text[0] == "{" and text[:2] == "{\n"  # still an ordinary string
    assert json.loads(text)["parameters"] == faces["analysis"].to_dict()["parameters"]


# ---------------------------------------------------------------- user-facing names
@pytest.mark.parametrize("leak", [
    "GRAD_W1", "DERIV_tanh_PRIME", "Symbol('x')", "Sum(x[l], (l, 1, 784))", "Block(layer=1, kind='W', row=0, col=0)",
    "<symderiv.analysis.Analysis object at 0x7f3a>", "Rational(1, 2)", "_Dummy_123", "Indexed(x, l)",
    "<Verdict.PROVED: 'proved'>", "<class 'sympy.core.symbol.Symbol'>", "Piecewise((0, x < 0))",
    "ImmutableDenseMatrix([[1]])", "dict_keys(['a'])",
])
def test_the_leak_pattern_catches_internal_names(leak):
    assert LEAK.search(json.dumps({"text": leak}, ensure_ascii=False))


@pytest.mark.parametrize("fine", ["W1_2_3", "x_1 + x_2 + … + x_784", "tanh(x_1)", "Heaviside(x_1, 0)",
                                  "dL/dW1[i,j]", r"\tanh'(z^{(1)}_j)", "W3[1, 1..2]", "1 - y_1", "f'(0) = 1/2"])
def test_the_leak_pattern_accepts_mathematics(fine):
    assert not LEAK.search(json.dumps({"text": fine}, ensure_ascii=False))


@pytest.mark.parametrize("name", FACE_NAMES)
def test_no_internal_names_in_json(faces, name):
    text = faces[name].to_json()
    match = LEAK.search(text)
    assert match is None, text[max(0, match.start() - 120): match.end() + 60]


def test_no_internal_names_in_graph_json(lora):
    match = LEAK.search(lora.to_json())
    assert match is None, match.group(0)


def test_input_class_sum_is_written_for_people(faces):
    classes = faces["analysis_784_inputs"].to_dict()["inputs"]["classes"]
    assert [c["sum"] for c in classes] == ["x_1 + x_2 + … + x_784"]


def test_refutations_say_what_failed_without_relation_ids(faces):
    reasons = [link["reason"] for v in ("wrong_verdict", "wrong_chain")
               for link in faces[v].to_dict()["links"] if link["status"] == "refuted"]
    assert reasons == ["the two sides differ; certified counterexample found"] * 2
    data = faces["wrong_verdict"].to_dict()["links"][0]
    assert data["left"] == r"\frac{\partial L}{\partial W^{(2)}_{ij}}"  # the user's spelling
    assert data["counterexample"]["reference"] == "left"


def _cli_json(capsys, argv: list[str]) -> tuple[int, str]:
    status = main(argv)
    return status, capsys.readouterr().out


def test_cli_json_outputs_are_the_faces_text(capsys, faces):
    status, out = _cli_json(capsys, ["analyze", "--layers", "3,2,2", "--init", "zeros", "--json"])
    assert status == 0 and out == faces["analysis"].to_json()
    status, out = _cli_json(capsys, ["verify", "--layers", "3,2,2", "--init", "zeros", "--json"])
    assert status == 0 and json.loads(out)["ok"] is True and LEAK.search(out) is None
    status, out = _cli_json(capsys, ["check", "--layers", "3,2,2", "--json", WRONG_CHAIN])
    data = json.loads(out)
    assert status == 1 and data["status"] == "refuted" and data["first_wrong_link"] == 2
    assert LEAK.search(out) is None and out.endswith("}\n")


# ---------------------------------------------------------------- a derivation's own symbols
def test_symbols_are_the_derivations_own_and_subs_substitutes():
    d = sd.gradients(sd.mlp([4, 3]), sd.zeros())  # softmax regression, K = 3: dℓ/db = p - y with p = 1/3
    y1 = d.symbols("y_1")
    assert y1 == d.label_symbols[0] == d.y[0] and y1.is_real
    g = d["b1"][0]
    assert g == sp.Rational(1, 3) - y1
    assert g.subs(y1, 1) == sp.Rational(-2, 3)  # substitutes
    assert g.subs(sp.Symbol("y_1"), 1) == g  # the trap: a symbol without assumptions is another symbol
    x = d.symbols("x_1", "x_4")
    assert x == (d.x[0], d.x[3])
    assert d["W1"][0, 3].subs(x[1], 6) == (sp.Rational(1, 3) - y1) * 6


def test_symbols_at_a_generic_init_and_every_spelling():
    d = sd.gradients(NET, sd.generic())
    w = d.symbols("W1_1_2")
    assert w == d.param("W1", (0, 1))
    g = d["W1"][0, 0]
    assert w in g.free_symbols and w not in g.subs(w, 0).free_symbols
    assert d.symbols("y_1 W1_1_2") == d.symbols("y_1, W1_1_2") == d.symbols("y_1", "W1_1_2") == (d.y[0], w)
    assert d.symbols(sp.Symbol("W1_1_2")) == w  # a plain SymPy symbol is mapped to symderiv's by name


def test_symbols_of_constants_widths_and_abbreviations():
    c = sp.Symbol("c", real=True)
    d = sd.gradients(sd.mlp([3, "n", 2], "tanh"), sd.constant(c))
    got_c, got_n = d.symbols("c", "n")
    assert got_c == c and got_n == d.net.sizes[1]
    assert got_c in d.z(2, 0).free_symbols and got_n in d.z(2, 0).free_symbols
    deep = sd.gradients(sd.mlp([2, 2, 2, 2], "tanh"), sd.generic(), abbreviate=True)
    name = next(iter(deep.definitions))  # a SymPy Dummy: unique, printed _z1_1
    assert str(name) == "_z1_1" and deep.symbols("_z1_1") is name and deep.symbols("z1_1") is name
    delta = deep.symbols("delta1_1")
    assert deep["W1"][0, 0] == delta * deep.x[0]  # ∂ℓ/∂W1_11 = δ1_1 x_1, with δ named
    assert deep["W1"][0, 0].subs(delta, 2) == 2 * deep.x[0]


@pytest.mark.parametrize("net, init, name, says", [
    (NET, "generic", "W1_12", "did you mean W1_1_2?"),
    (NET, "generic", "y1", "did you mean y_1?"),
    (sd.mlp([3, 2, 3], "tanh"), "generic", "y_3", "eliminated"),
    (NET, "zeros", "W1_1_2", "d.param('W1', (0, 1)) = 0"),
    (NET, "zeros", "theta", "is not a symbol of this derivation"),
    (NET, "generic", "W3_1_1", "did you mean"),
    (NET, "generic", "z" * 500, "zzz…"),
])
def test_unknown_names_are_refused_in_one_line_with_hints(net, init, name, says):
    d = sd.gradients(net, sd.generic() if init == "generic" else sd.zeros())
    with pytest.raises(InvalidArgument) as info:
        d.symbols(name)
    message = str(info.value)
    assert says in message and "\n" not in message and len(message) < 600
    assert "x_1" in message  # the accepted names are listed


@pytest.mark.parametrize("args", [(), (42,), ("",)])
def test_symbols_needs_names(args):
    with pytest.raises(InvalidArgument):
        sd.gradients(NET, sd.zeros()).symbols(*args)


# ---------------------------------------------------------------- the CLI's shared options
NETWORK_OPTIONS = ("--layers", "--activation", "--loss", "--bias", "--kink-grad", "--init", "--symbol")
COMMANDS = ("derive", "analyze", "verify", "check")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _option(p: argparse.ArgumentParser, flag: str) -> argparse.Action:
    return next(a for a in p._actions if flag in a.option_strings)


def test_network_options_are_one_set_across_subcommands():
    subs = _subparsers(build_parser())
    for flag in NETWORK_OPTIONS:
        actions = [_option(subs[c], flag) for c in COMMANDS]
        first = actions[0]
        for command, a in zip(COMMANDS, actions):
            assert (a.option_strings, a.help, a.metavar, a.dest, a.type, a.choices) == \
                (first.option_strings, first.help, first.metavar, first.dest, first.type, first.choices), (flag, command)
            expected = None if (command, flag) == ("check", "--layers") else first.default
            assert a.default == expected, (flag, command)
    assert _option(subs["analyze"], "--seed").help == _option(subs["verify"], "--seed").help


def test_help_says_the_accepted_values():
    subs = _subparsers(build_parser())
    p = subs["analyze"]
    assert all(name in _option(p, "--activation").help for name in sd.registered_activations())
    loss_help = _option(p, "--loss").help
    assert all(name in loss_help for name in sd.registered_losses()) and "(default softmax_cross_entropy)" in loss_help
    assert all(alias in loss_help for alias in ("ce", "bce", "mse"))
    assert "relu" in _option(p, "--kink-grad").help and "leaky_relu" in _option(p, "--kink-grad").help
    assert all(word in _option(p, "--init").help for word in ("zeros", "generic", "constant:VALUE", "W=generic"))
    from symderiv.optimizers import registered_optimizer_classes

    assert all(name in _option(p, "--optimizer-class").help for name in registered_optimizer_classes())
    for command in COMMANDS:
        for a in subs[command]._actions:
            assert a.help, (command, a.option_strings)  # every option explains itself


@pytest.mark.parametrize("command", COMMANDS)
def test_the_same_options_give_the_same_network(command):
    argv = [command, "--layers", "3,4,2", "--activation", "relu", "--loss", "mse", "--no-bias", "--kink-grad", "1/2"]
    args = build_parser().parse_args(argv + (["dL/dW1[i,j] = 0"] if command == "check" else []))
    assert network_from_args(args) == sd.mlp([3, 4, 2], "relu", "mse", bias=False, kink_grad=sp.Rational(1, 2))


@pytest.mark.parametrize("argv, says", [
    (["analyze", "--layers", "3,2,2", "--activation", "tanhh"], "known activations: elu"),
    (["derive", "--layers", "3,2", "--loss", "hinge"], "known losses"),
    (["analyze", "--layers", "3,2,2", "--optimizer-class", "kfac"], "invalid choice"),
])
def test_wrong_option_values_name_the_accepted_ones(capsys, argv, says):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err


def test_every_loss_spelling_of_the_cli_also_names_a_graph_loss():
    """``--loss`` is one option for ``--layers`` and ``--module``: each MLP spelling is a graph loss too."""
    from symderiv.graph.losses import graph_loss
    from symderiv.losses import loss, loss_aliases

    for spelling in (*sd.registered_losses(), *loss_aliases()):
        mlp_loss, graph = loss(spelling), graph_loss(spelling)
        assert {mlp_loss.name, graph.name} in ({"softmax_cross_entropy"}, {"mean_squared_error", "mse"},
                                               {"sigmoid_binary_cross_entropy", "bce"}), spelling


def test_a_graph_verify_report_is_json(capsys):
    """``verify --module … --json``: the replay's checks come from NumPy (np.bool_ was not JSON: exit 4)."""
    pytest.importorskip("torch")
    status, out = _cli_json(capsys, ["verify", "--module", "symderiv.graph.examples:LoRA", "--input-shape", "3",
                                     "--loss", "mse", "--json"])
    data = json.loads(out)
    assert status == 0 and data["ok"] is True and data["checks"] and LEAK.search(out) is None


def test_checks_with_numpy_values_and_infinite_errors_are_json():
    import numpy as np

    from symderiv.verify import Check, VerifyReport

    report = VerifyReport([Check("gradient", "NumPy", np.bool_(False), np.float64("inf"), seed=np.int64(3)),
                           Check("gradient", "NumPy", np.bool_(True), np.float64("nan"))])
    data = json.loads(report.to_json())
    assert data["ok"] is False
    assert [(c["ok"], c["max_error"], c["seed"]) for c in data["checks"]] == [(False, "inf", 3), (True, "nan", 0)]
