"""The second hostile-input probe: bad arguments, odd environments, LaTeX and JSON injection,
huge and non-finite numbers, wrong types, misspelled keywords, unreadable files, deep networks,
hostile PyTorch modules, across the public Python API and every CLI subcommand and flag.

Each case must end in one clear line: a :class:`~symderiv.errors.SymderivError` (a ``TypeError``
for a misspelled keyword of the Python API) or, on the command line, exit status 2 with one
``symderiv: error: …`` line (argparse's usage block for a malformed flag).  Never an internal
error (exit 4), a traceback, a hang, anything executed, user text raw in LaTeX, or a partial file.

The subprocess timeouts below are guards against a hang, never assertions about speed.
"""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

import symderiv as sd
from symderiv.cli import EXIT_OK, EXIT_USAGE, main
from symderiv.errors import InternalError, SymderivError

NET = sd.mlp([2, 2, 2], "tanh")
SENTINEL = "/tmp/symderiv_hostile2_sentinel"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAN, INF = float("nan"), float("inf")
#: LaTeX and JSON metacharacters, TeX primitives and code, in one user string
INJECTIONS = [r"\input{/etc/passwd}", r"\def\x{1}", r"\csname os\endcsname", "$x$", "50%", "a{b", "a}b",
              "a\\b", "__import__('os').system('true')", "a\"b", "\x00", "\u202e", "é", "a b"]


@pytest.fixture(autouse=True)
def _no_sentinel():
    if os.path.exists(SENTINEL):
        os.remove(SENTINEL)
    yield
    assert not os.path.exists(SENTINEL), "user text was executed"


def _one_line(message: str) -> None:
    assert message.strip(), "an empty error message"
    assert "\n" not in message.strip(), f"more than one line: {message!r}"
    assert "internal error" not in message.lower(), message
    assert "Traceback" not in message, message
    assert len(message) < 1200, message[:200]


def refused(call, error: type | tuple = SymderivError, match: str | None = None) -> str:
    """``call()`` raises ``error`` with one line (never an InternalError); the message."""
    with pytest.raises(error) as info:
        call()
    assert not isinstance(info.value, InternalError), f"internal error: {info.value}"
    message = str(info.value)
    _one_line(message)
    if match is not None:
        assert match.lower() in message.lower(), message
    return message


def cli(argv: list[str], capsys, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        import io

        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


def cli_refused(argv: list[str], capsys, match: str | None = None, **kw) -> str:
    """Exit 2 with one ``symderiv: error:`` line (or argparse's usage block ending in its error line)."""
    status, out, err = cli(argv, capsys, **kw)
    assert status == EXIT_USAGE, f"exit {status}: {err!r}"
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and "error:" in lines[-1], err
    if not err.startswith("usage:"):
        assert len(lines) == 1, err
    if match is not None:
        assert match.lower() in lines[-1].lower(), err
    assert not out.strip(), f"output beside the error: {out[:200]!r}"
    return lines[-1]


# ================================================================ Python API: networks
API_NETWORK = [
    ("no widths", lambda: sd.mlp([])),
    ("one width", lambda: sd.mlp([4])),
    ("zero width", lambda: sd.mlp([4, 0])),
    ("negative width", lambda: sd.mlp([4, -1])),
    ("float width", lambda: sd.mlp([4, 2.5])),
    ("bool width", lambda: sd.mlp([4, True])),
    ("nan width", lambda: sd.mlp([4, NAN])),
    ("inf width", lambda: sd.mlp([4, INF])),
    ("string sizes", lambda: sd.mlp("4,3")),
    ("None sizes", lambda: sd.mlp(None)),
    ("int sizes", lambda: sd.mlp(4)),
    ("dict sizes", lambda: sd.mlp({4: 3})),
    ("latex width name", lambda: sd.mlp([4, r"\input{x}", 3])),
    ("dollar width name", lambda: sd.mlp([4, "n$", 3])),
    ("NUL width name", lambda: sd.mlp([4, "n\x00", 3])),
    ("code width name", lambda: sd.mlp([4, "__import__('os')", 3])),
    ("expression width", lambda: sd.mlp([4, "n+1", 3])),
    ("negative symbol width", lambda: sd.mlp([4, sp.Symbol("m", integer=True, negative=True), 3])),
    ("unknown activation", lambda: sd.mlp([4, 3, 3], "tanhh")),
    ("activation int", lambda: sd.mlp([4, 3, 3], 5)),
    ("activation None", lambda: sd.mlp([4, 3, 3], None)),
    ("activation latex", lambda: sd.mlp([4, 3, 3], r"\input{x}")),
    ("too many activations", lambda: sd.mlp([4, 3, 3], ["tanh", "tanh", "tanh"])),
    ("too few activations", lambda: sd.mlp([4, 3, 3, 3], ["tanh"])),
    ("unknown loss", lambda: sd.mlp([4, 3], "tanh", "mse2")),
    ("loss None", lambda: sd.mlp([4, 3], "tanh", None)),
    ("loss int", lambda: sd.mlp([4, 3], "tanh", 3)),
    ("bias string", lambda: sd.mlp([4, 3], bias="yes")),
    ("kink_grad nan", lambda: sd.mlp([4, 3, 3], "relu", kink_grad=NAN)),
    ("kink_grad inf", lambda: sd.mlp([4, 3, 3], "relu", kink_grad=INF)),
    ("kink_grad code string", lambda: sd.mlp([4, 3, 3], "relu", kink_grad=f"__import__('os').system('touch {SENTINEL}')")),
    ("kink_grad outside", lambda: sd.mlp([4, 3, 3], "relu", kink_grad=5)),
    ("huge concrete width, generic", lambda: sd.analyze(sd.mlp([4, 10**12, 3]), sd.generic())),
    ("width with 10^4 digits", lambda: sd.mlp([4, 10**10000, 3])),
    ("5000 layers", lambda: sd.mlp([2] * 5000)),
    ("width 10^12", lambda: sd.mlp([4, 10**12, 3])),
    ("negative width with 10^4 digits", lambda: sd.mlp([4, -10**10000, 3])),
    ("width named nan", lambda: sd.mlp([4, "nan", 3])),
    ("width named I", lambda: sd.mlp([4, "I", 3])),
    ("width named pi", lambda: sd.mlp([4, sp.Symbol("pi", integer=True, positive=True), 3])),
]


@pytest.mark.parametrize("call", [c for _, c in API_NETWORK], ids=[n for n, _ in API_NETWORK])
def test_api_network_refused(call):
    refused(call)


def test_typed_numbers_are_parsed_never_evaluated():
    """``kink_grad="1/2"`` and ``slope="0.1"`` are read as numbers (the documented spelling), exactly."""
    assert sd.mlp([4, 3, 3], "relu", kink_grad="1/2").activations[0].kink_grad == sp.Rational(1, 2)
    assert dict(sd.activation("leaky_relu", slope="0.1").params)["slope"] == sp.Rational(1, 10)
    assert sd.mlp([4, "n" * 200, 3]).sizes[1] == sp.Symbol("n" * 200, integer=True, positive=True)


@pytest.mark.parametrize("text", INJECTIONS)
def test_latex_of_user_text_is_escaped_text(text):
    """``sd.latex`` of a string prints it as text, escaped: never parsed, never markup."""
    tex = sd.latex(text)
    assert r"\input{" not in tex and r"\def\x" not in tex and r"\csname" not in tex
    assert "$" not in tex.replace(r"\$", "") and "%" not in tex.replace(r"\%", "")


# ================================================================ Python API: inits
API_INIT = [
    ("constant nan", lambda: sd.constant(NAN)),
    ("constant inf", lambda: sd.constant(-INF)),
    ("constant numpy nan", lambda: sd.constant(np.float64("nan"))),
    ("constant bool", lambda: sd.constant(True)),
    ("constant string", lambda: sd.constant("1/2")),
    ("constant code string", lambda: sd.constant(f"__import__('os').system('touch {SENTINEL}')")),
    ("constant None", lambda: sd.constant(None)),
    ("constant complex", lambda: sd.constant(1j)),
    ("constant sympy I", lambda: sd.constant(sp.I)),
    ("constant sympy oo", lambda: sd.constant(sp.oo)),
    ("constant sympy nan", lambda: sd.constant(sp.nan)),
    ("constant symbol E", lambda: sd.constant(sp.Symbol("E"))),
    ("constant symbol nan", lambda: sd.constant(sp.Symbol("nan", real=True))),
    ("constant data symbol", lambda: sd.analyze(NET, sd.constant(sp.Symbol("x_1")))),
    ("constant latex symbol", lambda: sd.analyze(NET, sd.constant(sp.Symbol(r"\csname")))),
    ("constant percent symbol", lambda: sd.analyze(NET, sd.constant(sp.Symbol("50%")))),
    ("init a string", lambda: sd.analyze(NET, "zeros")),
    ("init a complex", lambda: sd.analyze(NET, 1j)),
    ("init a bool", lambda: sd.analyze(NET, True)),
    ("init an object", lambda: sd.analyze(NET, object())),
    ("init unknown key", lambda: sd.analyze(NET, {"W9": sd.zeros(), "*": sd.zeros()})),
    ("init latex key", lambda: sd.analyze(NET, {r"\input{x}": sd.zeros(), "*": sd.zeros()})),
    ("init non-string key", lambda: sd.analyze(NET, {1: sd.zeros(), "*": sd.zeros()})),
    ("init missing parameters", lambda: sd.analyze(NET, {"W1": sd.zeros()})),
    ("init wrong shape", lambda: sd.analyze(NET, {"W1": [[1, 2]], "*": sd.zeros()})),
    ("init ragged", lambda: sd.analyze(NET, {"W1": [[1, 2], [3]], "*": sd.zeros()})),
    ("init nan entry", lambda: sd.analyze(NET, {"W1": [[NAN, 0], [0, 0]], "*": sd.zeros()})),
    ("init string entry", lambda: sd.analyze(NET, {"W1": [["1", 0], [0, 0]], "*": sd.zeros()})),
    ("init string value", lambda: sd.analyze(NET, {"W1": "abc", "*": sd.zeros()})),
    ("init None value", lambda: sd.analyze(NET, {"W1": None, "*": sd.zeros()})),
    ("init bare array", lambda: sd.analyze(NET, [[0, 0], [0, 0]])),
    ("generic on a symbolic width", lambda: sd.analyze(sd.mlp([2, "n", 2]), sd.generic())),
]


@pytest.mark.parametrize("call", [c for _, c in API_INIT], ids=[n for n, _ in API_INIT])
def test_api_init_refused(call):
    refused(call)


# ================================================================ Python API: analyze's keywords
API_ANALYZE = [
    ("not a network", lambda: sd.analyze("4,3,3")),
    ("None network", lambda: sd.analyze(None)),
    ("int network", lambda: sd.analyze(5)),
    ("seconds string", lambda: sd.analyze(NET, sd.zeros(), seconds="5")),
    ("seconds bool", lambda: sd.analyze(NET, sd.zeros(), seconds=True)),
    ("seconds huge", lambda: sd.analyze(NET, sd.zeros(), seconds=1e300)),
    ("optimizer_class misspelled", lambda: sd.analyze(NET, sd.zeros(), optimizer_class="coordinatewse")),
    ("optimizer_class int", lambda: sd.analyze(NET, sd.zeros(), optimizer_class=3)),
    ("optimizer misspelled", lambda: sd.analyze(NET, sd.zeros(), optimizer="adamm")),
    ("optimizer int", lambda: sd.analyze(NET, sd.zeros(), optimizer=5)),
    ("optimizer latex", lambda: sd.analyze(NET, sd.zeros(), optimizer=r"\input{x}")),
    ("optimizer unknown parameter", lambda: sd.analyze(NET, sd.zeros(), optimizer={"W9": "sgd"})),
    ("optimizer missing parameters", lambda: sd.analyze(NET, sd.zeros(), optimizer={"W1": "muon"})),
    ("optimizer mapping of ints", lambda: sd.analyze(NET, sd.zeros(), optimizer={"W1": 3, "b1": 3, "W2": 3,
                                                                                  "b2": 3})),
    ("relu_grad_at_zero nan", lambda: sd.analyze(sd.mlp([2, 2, 2], "relu"), sd.zeros(), relu_grad_at_zero=NAN)),
    ("relu_grad_at_zero code", lambda: sd.analyze(sd.mlp([2, 2, 2], "relu"), sd.zeros(),
                                                  relu_grad_at_zero="__import__('os')")),
    ("batch_size zero", lambda: sd.analyze(NET, sd.zeros(), batch_size=0)),
    ("batch_size negative", lambda: sd.analyze(NET, sd.zeros(), batch_size=-1)),
    ("batch_size bool", lambda: sd.analyze(NET, sd.zeros(), batch_size=True)),
    ("input_shape on an MLP", lambda: sd.analyze(NET, sd.zeros(), input_shape=(4,))),
    ("loss on an MLP", lambda: sd.analyze(NET, sd.zeros(), loss="nonsense")),
]


@pytest.mark.parametrize("call", [c for _, c in API_ANALYZE], ids=[n for n, _ in API_ANALYZE])
def test_api_analyze_refused(call):
    refused(call)


ARGUMENTS_CHECKED_UP_FRONT = [
    ("analyze seed negative", lambda: sd.analyze(NET, sd.zeros(), seed=-1)),
    ("analyze seed string", lambda: sd.analyze(NET, sd.zeros(), seed="1")),
    ("analyze seed float", lambda: sd.analyze(NET, sd.zeros(), seed=1.5)),
    ("analyze seed bool", lambda: sd.analyze(NET, sd.zeros(), seed=True)),
    ("analyze seed huge", lambda: sd.analyze(NET, sd.zeros(), seed=2**100)),
    ("analyze seed with 10^4 digits", lambda: sd.analyze(NET, sd.zeros(), seed=10**10000)),
    ("analyze values misspelled", lambda: sd.analyze(NET, sd.zeros(), values="exactt")),
    ("verify seed negative", lambda: sd.verify(NET, sd.zeros(), seed=-1)),
    ("verify lr inf", lambda: sd.verify(NET, sd.zeros(), lr=INF)),
    ("verify lr zero", lambda: sd.verify(NET, sd.zeros(), lr=0)),
    ("verify grad_rtol nan", lambda: sd.verify(NET, sd.zeros(), grad_rtol=NAN)),
    ("verify fd_sample zero", lambda: sd.verify(NET, sd.zeros(), fd_sample=0)),
    ("verify batch bool", lambda: sd.verify(NET, sd.zeros(), batch=True)),
    ("verify steps zero", lambda: sd.verify(NET, sd.zeros(), steps=0)),
]


@pytest.mark.parametrize("call", [c for _, c in ARGUMENTS_CHECKED_UP_FRONT], ids=[n for n, _ in ARGUMENTS_CHECKED_UP_FRONT])
def test_api_arguments_checked_up_front(call):
    refused(call)


MISSPELLED = [
    ("analyze optimiser", lambda: sd.analyze(NET, sd.zeros(), optimiser="adam"), "optimiser"),
    ("analyze sede", lambda: sd.analyze(NET, sd.zeros(), sede=1), "sede"),
    ("mlp activaton", lambda: sd.mlp([4, 3], activaton="tanh"), "activaton"),
    ("check secnds", lambda: sd.check("x_1 = x_1", NET, secnds=1), "secnds"),
    ("gradients init_", lambda: sd.gradients(NET, init_=sd.zeros()), "init_"),
    ("verify sed", lambda: sd.verify(NET, sd.zeros(), sed=1), "sed"),
    ("analyze_depth optimizer", lambda: sd.analyze_depth(sd.mlp_family(2, "n", "L", 2), sd.zeros(),
                                                         optimizer="sgd"), "optimizer"),
    ("proof_document titel", lambda: sd.proof_document(sd.analyze(NET, sd.zeros()), titel="x"), "titel"),
    ("mlp_family activatoin", lambda: sd.mlp_family(2, "n", "L", 2, activatoin="tanh"), "activatoin"),
]


@pytest.mark.parametrize("call,word", [(c, w) for _, c, w in MISSPELLED], ids=[n for n, *_ in MISSPELLED])
def test_a_misspelled_keyword_is_pythons_type_error(call, word):
    message = refused(call, TypeError)
    assert word in message


# ================================================================ Python API: gradients, check, verify, faces
API_OTHER = [
    ("gradients string init", lambda: sd.gradients(NET, "zeros")),
    ("gradients of a string", lambda: sd.gradients("net")),
    ("forward of None", lambda: sd.forward(None)),
    ("derive of an int", lambda: sd.derive(5)),
    ("derive abbreviate string", lambda: sd.derive(NET, sd.zeros(), abbreviate="yes")),
    ("check claim None", lambda: sd.check(None, NET)),
    ("check claim int", lambda: sd.check(5, NET)),
    ("check claim bytes", lambda: sd.check(b"x_1 = x_1", NET)),
    ("check network string", lambda: sd.check("x_1 = x_1", "4,3")),
    ("check syntax misspelled", lambda: sd.check("x_1 = x_1", NET, syntax="latexx")),
    ("check seconds nan", lambda: sd.check("x_1 = x_1", NET, seconds=NAN)),
    ("check seconds negative", lambda: sd.check("x_1 = x_1", NET, seconds=-1)),
    ("check seconds zero", lambda: sd.check("x_1 = x_1", NET, seconds=0)),
    ("check seconds inf", lambda: sd.check("x_1 = x_1", NET, seconds=INF)),
    ("check seconds string", lambda: sd.check("x_1 = x_1", NET, seconds="10")),
    ("check seed string", lambda: sd.check("x_1 = x_1", NET, seed="x")),
    ("check memory zero", lambda: sd.check("x_1 = x_1", NET, memory_mb=0)),
    ("check memory negative", lambda: sd.check("x_1 = x_1", NET, memory_mb=-1)),
    ("check memory bool", lambda: sd.check("x_1 = x_1", NET, memory_mb=True)),
    ("check convention misspelled", lambda: sd.check("x_1 = x_1", NET, convention="rowmajor")),
    ("check init string", lambda: sd.check("x_1 = x_1", NET, "zeros")),
    ("verify of a string", lambda: sd.verify("net")),
    ("verify batch zero", lambda: sd.verify(NET, sd.zeros(), batch=0)),
    ("verify steps negative", lambda: sd.verify(NET, sd.zeros(), steps=-1)),
    ("verify lr nan", lambda: sd.verify(NET, sd.zeros(), lr=NAN)),
    ("verify lr string", lambda: sd.verify(NET, sd.zeros(), lr="0.1")),
    ("verify optimizer misspelled", lambda: sd.verify(NET, sd.zeros(), optimizers=["sgdd"])),
    ("verify optimizers a string", lambda: sd.verify(NET, sd.zeros(), optimizers="sgd")),
    ("activation unknown", lambda: sd.activation("nope")),
    ("activation int", lambda: sd.activation(5)),
    ("activation bad parameter", lambda: sd.activation("tanh", foo=1)),
    ("leaky slope nan", lambda: sd.activation("leaky_relu", slope=NAN)),
    ("leaky slope code", lambda: sd.activation("leaky_relu", slope="__import__('os')")),
    ("loss unknown", lambda: sd.loss("nope")),
    ("loss None", lambda: sd.loss(None)),
    ("register an activation twice", lambda: sd.register_activation("tanh", sp.tanh)),
    ("register a latex activation name", lambda: sd.register_activation(r"\input{x}", lambda z: z)),
    ("register an empty activation name", lambda: sd.register_activation("", lambda z: z)),
    ("register an int activation name", lambda: sd.register_activation(5, lambda z: z)),
    ("register a non-callable activation", lambda: sd.register_activation("myact_h2", 5)),
    ("register a loss that is a string", lambda: sd.register_loss("mse")),
    ("proof_document of a string", lambda: sd.proof_document("analysis")),
    ("proof_document focus unknown", lambda: sd.proof_document(sd.analyze(NET, sd.zeros()), focus=["W9"])),
    ("proof_document focus a string", lambda: sd.proof_document(sd.analyze(NET, sd.zeros()), focus="W1")),
    ("proof_document title int", lambda: sd.proof_document(sd.analyze(NET, sd.zeros()), title=5)),
    ("analysis_latex of None", lambda: sd.analysis_latex(None)),
]


@pytest.mark.parametrize("call", [c for _, c in API_OTHER], ids=[n for n, _ in API_OTHER])
def test_api_other_refused(call):
    refused(call, (SymderivError, TypeError))


HOSTILE_CLAIMS = [
    ("10^5 nested parentheses", "(" * 100_000 + "x[1]" + ")" * 100_000 + " = 1"),
    ("1 MB claim", "x_1 + " * 170_000 + "1 = 1"),
    ("__import__", f"__import__('os').system('touch {SENTINEL}') = 1"),
    (r"\def", r"\def\x{1} x_1 = 1"),
    (r"\input", r"\input{/etc/passwd} = 1"),
    (r"\csname", r"\csname os\endcsname = 1"),
    ("NUL byte", "x_1\x00 = 1"),
    ("10^5 nested braces", r"\frac{" * 30_000 + "x_1" + "}{2}" * 30_000 + " = 1"),
    ("only dollars", "$$$$"),
    ("percent comment", "x_1 = 1 % comment"),
]


@pytest.mark.parametrize("claim", [c for _, c in HOSTILE_CLAIMS], ids=[n for n, _ in HOSTILE_CLAIMS])
def test_api_check_hostile_claim(claim):
    refused(lambda: sd.check(claim, NET))


# ================================================================ Python API: depth families
API_DEPTH = [
    ("n_in zero", lambda: sd.mlp_family(0, "n", "L", 2)),
    ("n_in negative", lambda: sd.mlp_family(-1, "n", "L", 2)),
    ("n_in float", lambda: sd.mlp_family(2.5, "n", "L", 2)),
    ("n_in bool", lambda: sd.mlp_family(True, "n", "L", 2)),
    ("n_in string", lambda: sd.mlp_family("4", "n", "L", 2)),
    ("n_out zero", lambda: sd.mlp_family(2, "n", "L", 0)),
    ("width zero", lambda: sd.mlp_family(2, 0, "L", 2)),
    ("width nan", lambda: sd.mlp_family(2, NAN, "L", 2)),
    ("width latex", lambda: sd.mlp_family(2, r"\input{x}", "L", 2)),
    ("width data name", lambda: sd.mlp_family(2, "x_1", "L", 2)),
    ("depth zero", lambda: sd.mlp_family(2, "n", 0, 2)),
    ("depth negative", lambda: sd.mlp_family(2, "n", -1, 2)),
    ("depth nan", lambda: sd.mlp_family(2, "n", NAN, 2)),
    ("depth latex", lambda: sd.mlp_family(2, "n", "L$", 2)),
    ("depth named nan", lambda: sd.mlp_family(2, "n", "nan", 2)),
    ("depth named Inf", lambda: sd.mlp_family(2, "n", "Inf", 2)),
    ("width named pi", lambda: sd.mlp_family(2, "pi", "L", 2)),
    ("depth named E", lambda: sd.mlp_family(2, "n", "E", 2)),
    ("depth code", lambda: sd.mlp_family(2, "n", "__import__('os')", 2)),
    ("depth None", lambda: sd.mlp_family(2, "n", None, 2)),
    ("depth equal to the width", lambda: sd.mlp_family(2, "n", "n", 2)),
    ("family activation unknown", lambda: sd.mlp_family(2, "n", "L", 2, "tanhh")),
    ("family loss unknown", lambda: sd.mlp_family(2, "n", "L", 2, "tanh", "nope")),
    ("family kink nan", lambda: sd.mlp_family(2, "n", "L", 2, "relu", kink_grad=NAN)),
    ("rezero d zero", lambda: sd.rezero_family(0, "L")),
    ("rezero d string", lambda: sd.rezero_family("3", "L")),
    ("rezero depth zero", lambda: sd.rezero_family(3, 0)),
    ("rezero activation unknown", lambda: sd.rezero_family(3, "L", activation="nope")),
    ("rezero loss unknown", lambda: sd.rezero_family(3, "L", loss="nope")),
    ("analyze_depth of None", lambda: sd.analyze_depth(None)),
    ("analyze_depth of a network", lambda: sd.analyze_depth(NET)),
    ("analyze_depth unknown init string", lambda: sd.analyze_depth(sd.mlp_family(2, "n", "L", 2), "zeross")),
    ("analyze_depth unknown role", lambda: sd.analyze_depth(sd.mlp_family(2, "n", "L", 2), {"foo": sd.zeros()})),
    ("analyze_depth optimizer_class", lambda: sd.analyze_depth(sd.mlp_family(2, "n", "L", 2), sd.zeros(),
                                                               optimizer_class="nope")),
    ("analyze_depth nan constant", lambda: sd.analyze_depth(sd.mlp_family(2, "n", "L", 2), sd.constant(NAN))),
]


@pytest.mark.parametrize("call", [c for _, c in API_DEPTH], ids=[n for n, _ in API_DEPTH])
def test_api_depth_refused(call):
    refused(call)


# ================================================================ LaTeX and JSON never carry user text raw
@pytest.mark.parametrize("title", [r"\input{/etc/passwd}", r"\def\x{1}", "$x$ 50% {a} \\ #1 ~ ^ _ &"])
def test_a_proof_title_reaches_latex_escaped(title):
    tex = sd.proof_document(sd.analyze(NET, sd.zeros()), title=title)
    for bad in (r"\input{/etc", r"\def\x", "$x$", "50%", " #1"):
        assert bad not in tex


def test_a_symbolic_constant_reaches_json_and_latex_as_its_name():
    a = sd.analyze(NET, sd.constant(sp.Symbol("c_1", real=True)))
    json.loads(a.to_json())
    assert r"\input" not in a.to_latex()


# ================================================================ CLI: every subcommand, hostile flags
SMALL = ["--layers", "2,2,2"]
CLI_REFUSED = [
    ("no command", []),
    ("unknown command", ["analyse"]),
    ("unknown flag", ["analyze", "--layerz", "2,2"]),
    ("ambiguous abbreviated flag", ["analyze", "--s", "1"]),
    ("empty layers", ["analyze", "--layers", ""]),
    ("one layer", ["analyze", "--layers", "4"]),
    ("zero width", ["analyze", "--layers", "4,0"]),
    ("negative width", ["analyze", "--layers", "4,-1,3"]),
    ("float width", ["analyze", "--layers", "4,1e9,3"]),
    ("13-digit width", ["analyze", "--layers", "4,9999999999999,3"]),
    ("huge width generic", ["analyze", "--layers", "4,999999999999,3", "--init", "generic"]),
    ("unicode digits", ["analyze", "--layers", "4,\u0663,3"]),
    ("latex width", ["analyze", "--layers", r"4,\input{x},3"]),
    ("dollar width", ["analyze", "--layers", "4,$n$,3"]),
    ("NUL in layers", ["analyze", "--layers", "4,n\x00,3"]),
    ("code width", ["analyze", "--layers", "4,__import__('os'),3"]),
    ("deep layers", ["analyze", "--layers", ",".join(["2"] * 5000)]),
    ("unknown activation", ["analyze", *SMALL, "--activation", "tanhh"]),
    ("empty activation", ["analyze", *SMALL, "--activation", ""]),
    ("too many activations", ["analyze", *SMALL, "--activation", "tanh,relu,tanh"]),
    ("latex activation", ["analyze", *SMALL, "--activation", r"\input{x}"]),
    ("unknown loss", ["analyze", *SMALL, "--loss", "nope"]),
    ("empty loss", ["analyze", *SMALL, "--loss", ""]),
    ("unknown init", ["analyze", *SMALL, "--init", "nope"]),
    ("empty init", ["analyze", *SMALL, "--init", ""]),
    ("constant without value", ["analyze", *SMALL, "--init", "constant:"]),
    ("constant nan", ["analyze", *SMALL, "--init", "constant:nan"]),
    ("constant inf", ["analyze", *SMALL, "--init", "constant:-inf"]),
    ("constant overflowing", ["analyze", *SMALL, "--init", "constant:1e999999"]),
    ("constant huge digits", ["analyze", *SMALL, "--init", "constant:" + "9" * 100_000]),
    ("constant latex", ["analyze", *SMALL, "--init", r"constant:\input{x}"]),
    ("constant dollar", ["analyze", *SMALL, "--init", "constant:$x$"]),
    ("constant code", ["analyze", *SMALL, "--init", f"constant:__import__('os').system('touch {SENTINEL}')"]),
    ("constant undeclared name", ["analyze", *SMALL, "--init", "constant:c"]),
    ("constant complex", ["analyze", *SMALL, "--init", "constant:1j"]),
    ("constant division by zero", ["analyze", *SMALL, "--init", "constant:1/0"]),
    ("init unknown parameter", ["analyze", *SMALL, "--init", "W9=zeros"]),
    ("init empty spec", ["analyze", *SMALL, "--init", "W1="]),
    ("init empty key", ["analyze", *SMALL, "--init", "=zeros"]),
    ("init latex key", ["analyze", *SMALL, "--init", r"\input{x}=zeros"]),
    ("init missing parameters", ["analyze", *SMALL, "--init", "W1=zeros"]),
    ("symbol a data name", ["analyze", *SMALL, "--symbol", "x_1", "--init", "constant:x_1"]),
    ("symbol latex", ["analyze", *SMALL, "--symbol", r"\def", "--init", "constant:c"]),
    ("symbol empty", ["analyze", *SMALL, "--symbol", ""]),
    ("symbol unicode", ["analyze", *SMALL, "--symbol", "é"]),
    ("symbol long", ["analyze", *SMALL, "--symbol", "c" * 1000]),
    ("kink nan", ["analyze", *SMALL, "--activation", "relu", "--kink-grad", "nan"]),
    ("kink name", ["analyze", *SMALL, "--activation", "relu", "--kink-grad", "abc"]),
    ("kink outside", ["analyze", *SMALL, "--activation", "relu", "--kink-grad", "5"]),
    ("kink a declared symbol", ["analyze", *SMALL, "--activation", "relu", "--symbol", "c", "--kink-grad", "c"]),
    ("kink latex", ["analyze", *SMALL, "--activation", "relu", "--kink-grad", r"\input{x}"]),
    ("seed negative", ["analyze", *SMALL, "--seed", "-1"]),
    ("seed float", ["analyze", *SMALL, "--seed", "1e3"]),
    ("seed huge", ["analyze", *SMALL, "--seed", "99999999999"]),
    ("seed unicode digits", ["analyze", *SMALL, "--seed", "\u0663"]),
    ("optimizer misspelled", ["analyze", *SMALL, "--optimizer", "adamm"]),
    ("optimizer empty", ["analyze", *SMALL, "--optimizer", ""]),
    ("optimizer item empty", ["analyze", *SMALL, "--optimizer", "W1="]),
    ("optimizer unknown parameter", ["analyze", *SMALL, "--optimizer", "W9=sgd,W1=sgd,b1=sgd,W2=sgd,b2=sgd"]),
    ("optimizer missing parameter", ["analyze", *SMALL, "--optimizer", "W1=muon"]),
    ("optimizer twice", ["analyze", *SMALL, "--optimizer", "W1=sgd,W1=adam"]),
    ("optimizer latex", ["analyze", *SMALL, "--optimizer", r"\input{x}=sgd"]),
    ("optimizer-class unknown", ["analyze", *SMALL, "--optimizer-class", "nope"]),
    ("depth zero", ["analyze", "--layers", "2,n,2", "--depth", "0"]),
    ("depth negative", ["analyze", "--layers", "2,n,2", "--depth", "-1"]),
    ("depth latex", ["analyze", "--layers", "2,n,2", "--depth", "L$"]),
    ("depth backslash", ["analyze", "--layers", "2,n,2", "--depth", r"\input{x}"]),
    ("depth code", ["analyze", "--layers", "2,n,2", "--depth", "__import__('os')"]),
    ("depth empty", ["analyze", "--layers", "2,n,2", "--depth", ""]),
    ("depth nan", ["analyze", "--layers", "2,n,2", "--depth", "nan"]),
    ("depth oo", ["analyze", "--layers", "2,n,2", "--depth", "oo"]),
    ("width nan", ["analyze", "--layers", "2,nan,2"]),
    ("width I", ["analyze", "--layers", "2,I,2"]),
    ("depth equals width", ["analyze", "--layers", "2,n,2", "--depth", "n"]),
    ("depth with two widths", ["analyze", "--layers", "2,2", "--depth", "L"]),
    ("depth with four widths", ["analyze", "--layers", "2,n,n,2", "--depth", "L"]),
    ("depth with two activations", ["analyze", "--layers", "2,n,2", "--depth", "L", "--activation", "tanh,relu"]),
    ("depth with optimizer", ["analyze", "--layers", "2,n,2", "--depth", "L", "--optimizer", "sgd"]),
    ("depth with module", ["analyze", "--layers", "2,n,2", "--depth", "L", "--module", "m:f"]),
    ("depth unknown role", ["analyze", "--layers", "2,n,2", "--depth", "L", "--init", "foo=zeros"]),
    ("family without depth", ["analyze", "--family", "rezero", "--layers", "3,3"]),
    ("family unknown", ["analyze", "--family", "resnet", "--layers", "3,3", "--depth", "L"]),
    ("rezero different widths", ["analyze", "--family", "rezero", "--layers", "3,4", "--depth", "L"]),
    ("rezero symbolic width", ["analyze", "--family", "rezero", "--layers", "n,n", "--depth", "L"]),
    ("rezero with init", ["analyze", "--family", "rezero", "--layers", "3,3", "--depth", "L", "--init", "zeros"]),
    ("rezero with no-bias", ["analyze", "--family", "rezero", "--layers", "3,3", "--depth", "L", "--no-bias"]),
    ("verify depth zero", ["verify", "--layers", "2,n,2", "--depth", "0"]),
    ("module without input-shape", ["analyze", "--module", "os:getcwd"]),
    ("module malformed", ["analyze", "--module", "a b:c", "--input-shape", "4"]),
    ("module symderiv's own main", ["analyze", "--module", "symderiv.cli:main", "--input-shape", "4"]),
    ("module symderiv's mlp", ["verify", "--module", "symderiv:mlp", "--input-shape", "4"]),
    ("module symderiv's __main__", ["analyze", "--module", "symderiv.__main__:sys", "--input-shape", "4"]),
    ("module symderiv's cli_commands", ["analyze", "--module", "symderiv.cli_commands:_cmd_demo", "--input-shape", "4"]),
    ("module relative path", ["analyze", "--module", "../x:f", "--input-shape", "4"]),
    ("module no colon", ["analyze", "--module", "json", "--input-shape", "4"]),
    ("module missing", ["analyze", "--module", "no_such_module_h2:f", "--input-shape", "4"]),
    ("module missing attribute", ["analyze", "--module", "json:no_such", "--input-shape", "4"]),
    ("module returns a string", ["analyze", "--module", "os:getcwd", "--input-shape", "4"]),
    ("module not callable", ["analyze", "--module", "os:sep", "--input-shape", "4"]),
    ("module needs arguments", ["analyze", "--module", "os:system", "--input-shape", "4"]),
    ("module with plot", ["analyze", "--module", "os:getcwd", "--input-shape", "4", "--plot", "x.png"]),
    ("input-shape zero", ["analyze", "--module", "os:getcwd", "--input-shape", "0"]),
    ("input-shape negative", ["analyze", "--module", "os:getcwd", "--input-shape", "-1"]),
    ("input-shape words", ["analyze", "--module", "os:getcwd", "--input-shape", "abc"]),
    ("input-shape empty axis", ["analyze", "--module", "os:getcwd", "--input-shape", "4,,3"]),
    ("input-shape huge", ["analyze", "--module", "os:getcwd", "--input-shape", "99999999999"]),
    ("input-shape five axes", ["analyze", "--module", "os:getcwd", "--input-shape", "1,1,1,1,1"]),
    ("input-shape empty name", ["analyze", "--module", "os:getcwd", "--input-shape", "=4"]),
    ("input-shape mixed names", ["analyze", "--module", "os:getcwd", "--input-shape", "a=4", "--input-shape", "4"]),
    ("batch-size zero", ["analyze", "--module", "os:getcwd", "--input-shape", "4", "--batch-size", "0"]),
    ("batch-size words", ["analyze", "--module", "os:getcwd", "--input-shape", "4", "--batch-size", "x"]),
    ("batch-size unicode digits", ["analyze", "--module", "os:getcwd", "--input-shape", "4", "--batch-size",
                                   "\u0663"]),
    ("values misspelled", ["analyze", "--module", "os:getcwd", "--input-shape", "4", "--values", "exactt"]),
    ("derive unknown param", ["derive", *SMALL, "--param", "W9"]),
    ("derive latex param", ["derive", *SMALL, "--param", r"\input{x}"]),
    ("derive nan constant", ["derive", *SMALL, "--init", "constant:nan"]),
    ("verify optimizer misspelled", ["verify", *SMALL, "--optimizer", "sgdd"]),
    ("verify seed words", ["verify", *SMALL, "--seed", "x"]),
    ("verify optimizer lattice", ["verify", *SMALL, "--optimizer", "muon"]),
    ("check without layers", ["check", "x_1 = x_1"]),
    ("check without claim", ["check", *SMALL]),
    ("check claim and file", ["check", *SMALL, "x_1 = x_1", "-f", "/etc/hostname"]),
    ("check seconds nan", ["check", *SMALL, "--seconds", "nan", "x_1 = x_1"]),
    ("check seconds zero", ["check", *SMALL, "--seconds", "0", "x_1 = x_1"]),
    ("check seconds huge", ["check", *SMALL, "--seconds", "1e9", "x_1 = x_1"]),
    ("check seconds inf", ["check", *SMALL, "--seconds", "inf", "x_1 = x_1"]),
    ("check seconds above the checker's bound", ["check", *SMALL, "--seconds", "3601", "x_1 = x_1"]),
    ("check seconds words", ["check", *SMALL, "--seconds", "ten", "x_1 = x_1"]),
    ("check syntax misspelled", ["check", *SMALL, "--syntax", "tex", "x_1 = x_1"]),
    ("check convention misspelled", ["check", *SMALL, "--convention", "nope", "x_1 = x_1"]),
    ("check missing file", ["check", *SMALL, "-f", "/nonexistent/claim.tex"]),
    ("check directory file", ["check", *SMALL, "-f", "/tmp"]),
    ("check init nan", ["check", *SMALL, "--init", "constant:nan", "x_1 = x_1"]),
    ("demo out is a file", ["demo", "--out", "/etc/hostname"]),
    ("demo out under a file", ["demo", "--out", "/etc/hostname/sub"]),
    ("demo with layers", ["demo", "--layers", "2,2"]),
    ("analyze latex into a missing directory", ["analyze", *SMALL, "--latex", "/nonexistent/dir/x.tex"]),
    ("analyze latex into a directory", ["analyze", *SMALL, "--latex", "/tmp"]),
    ("analyze latex empty path", ["analyze", *SMALL, "--latex", ""]),
    ("analyze plot empty path", ["analyze", *SMALL, "--plot", ""]),
    ("demo out empty path", ["demo", "--out", ""]),
    ("analyze latex NUL path", ["analyze", *SMALL, "--latex", "a\x00b.tex"]),
    ("demo out NUL path", ["demo", "--out", "a\x00b"]),
    ("analyze latex into /proc", ["analyze", *SMALL, "--latex", "/proc/proof.tex"]),
    ("analyze plot into /proc", ["analyze", *SMALL, "--plot", "/proc/front.png"]),
    ("demo out under /proc", ["demo", "--out", "/proc/symderiv-demo"]),
    ("check unreadable file", ["check", *SMALL, "-f", "/proc/self/mem"]),
    ("analyze plot into a missing directory", ["analyze", *SMALL, "--plot", "/nonexistent/dir/x.png"]),
]


@pytest.mark.parametrize("argv", [a for _, a in CLI_REFUSED], ids=[n for n, _ in CLI_REFUSED])
def test_cli_refused(argv, capsys):
    cli_refused(argv, capsys)


@pytest.mark.parametrize("claim", [c for _, c in HOSTILE_CLAIMS], ids=[n for n, _ in HOSTILE_CLAIMS])
def test_cli_check_hostile_claim(claim, capsys):
    cli_refused(["check", *SMALL, claim], capsys)


@pytest.mark.parametrize("claim", [c for _, c in HOSTILE_CLAIMS[:4]], ids=[n for n, _ in HOSTILE_CLAIMS[:4]])
def test_cli_check_hostile_claim_from_stdin(claim, capsys, monkeypatch):
    cli_refused(["check", *SMALL, "-f", "-"], capsys, stdin=claim, monkeypatch=monkeypatch)


def test_check_file_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "claim.tex"
    path.write_bytes(b"x_1 = \xff\xfe 1")
    cli_refused(["check", *SMALL, "-f", str(path)], capsys, match="UTF-8")


def test_check_empty_file(tmp_path, capsys):
    path = tmp_path / "claim.tex"
    path.write_text("  \n")
    cli_refused(["check", *SMALL, "-f", str(path)], capsys, match="empty")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_check_unreadable_file(tmp_path, capsys):
    path = tmp_path / "claim.tex"
    path.write_text("x_1 = x_1")
    path.chmod(0)
    cli_refused(["check", *SMALL, "-f", str(path)], capsys, match="cannot read")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes everywhere")
@pytest.mark.parametrize("flag,name", [("--latex", "proof.tex"), ("--plot", "front.png")])
def test_output_into_a_read_only_directory_leaves_no_file(tmp_path, capsys, flag, name):
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        cli_refused(["analyze", *SMALL, flag, str(target / name)], capsys)
        assert os.listdir(target) == []
    finally:
        target.chmod(0o755)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes everywhere")
def test_demo_out_into_a_read_only_directory_is_refused_before_any_work(tmp_path, capsys):
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        cli_refused(["demo", "--out", str(target / "sub")], capsys, match="cannot create")
        assert os.listdir(target) == []
    finally:
        target.chmod(0o755)


def test_latex_output_escapes_user_names(tmp_path, capsys):
    """A declared constant reaches the LaTeX document as a checked name, never as markup."""
    path = tmp_path / "proof.tex"
    status, out, err = cli(["analyze", *SMALL, "--symbol", "c", "--init", "constant:c", "--latex", str(path),
                            "--json"], capsys)
    assert status == EXIT_OK, err
    json.loads(out)
    assert "c" in path.read_text()


def test_json_output_is_one_document_for_a_symbolic_width(capsys):
    status, out, err = cli(["analyze", "--layers", "2,n,2", "--json"], capsys)
    assert status == EXIT_OK, err
    assert isinstance(json.loads(out), dict)


# ================================================================ CLI: hostile PyTorch modules
MODULES = {
    "raises": "def f():\n    raise RuntimeError('boom\\nsecond line')\n",
    "returns_none": "def f():\n    return None\n",
    "returns_class": "import torch\ndef f():\n    return torch.nn.Linear\n",
    "returns_tensor": "import torch\ndef f():\n    return torch.zeros(3)\n",
    "no_parameters": "import torch\ndef f():\n    return torch.nn.ReLU()\n",
    "all_frozen": ("import torch\ndef f():\n    m = torch.nn.Linear(4, 3)\n"
                   "    for p in m.parameters():\n        p.requires_grad_(False)\n    return m\n"),
    "forward_raises": ("import torch\nclass M(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                       "        self.l = torch.nn.Linear(4, 3)\n    def forward(self, x):\n"
                       "        raise ValueError('forward failed')\ndef f():\n    return M()\n"),
    "import_fails": "raise ImportError('broken install')\n",
    "syntax_error": "def f(:\n",
    "sys_exit": "import sys\ndef f():\n    sys.exit(0)\n",
    "sys_exit_at_import": "import sys\nsys.exit(0)\n",
    "returns_int_output": ("import torch\nclass M(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                           "        self.l = torch.nn.Linear(4, 3)\n    def forward(self, x):\n"
                           "        return self.l(x).argmax(-1)\ndef f():\n    return M()\n"),
    "returns_tuple": ("import torch\nclass M(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                      "        self.l = torch.nn.Linear(4, 3)\n    def forward(self, x):\n"
                      "        return (self.l(x), self.l(x))\ndef f():\n    return M()\n"),
    "latex_parameter_name": ("import torch\nclass M(torch.nn.Module):\n    def __init__(self):\n"
                             "        super().__init__()\n"
                             "        self.register_parameter(r'\\input{x}', torch.nn.Parameter(torch.zeros(3, 4)))\n"
                             "    def forward(self, x):\n        return x @ getattr(self, r'\\input{x}').T\n"
                             "def f():\n    return M()\n"),
    "dollar_parameter_name": ("import torch\nclass M(torch.nn.Module):\n    def __init__(self):\n"
                              "        super().__init__()\n"
                              "        self.register_parameter('a$%b', torch.nn.Parameter(torch.zeros(3, 4)))\n"
                              "    def forward(self, x):\n        return x @ getattr(self, 'a$%b').T\n"
                              "def f():\n    return M()\n"),
    "nan_weights": ("import torch\ndef f():\n    m = torch.nn.Linear(4, 3)\n    with torch.no_grad():\n"
                    "        m.weight.fill_(float('nan'))\n    return m\n"),
    "inf_weights": ("import torch\ndef f():\n    m = torch.nn.Linear(4, 3)\n    with torch.no_grad():\n"
                    "        m.weight.fill_(float('inf'))\n    return m\n"),
    "huge_linear": "import torch\ndef f():\n    return torch.nn.Linear(4, 3, device='meta')\n",
    "integer_input": ("import torch\ndef f():\n    return torch.nn.Embedding(5, 3)\n"),
    "side_effect": f"open({SENTINEL!r} + '_module', 'w').close()\nimport torch\ndef f():\n    return 5\n",
}
MODULE_CASES = [
    ("raises", ["--input-shape", "4"]),
    ("returns_none", ["--input-shape", "4"]),
    ("returns_class", ["--input-shape", "4"]),
    ("returns_tensor", ["--input-shape", "4"]),
    ("no_parameters", ["--input-shape", "4"]),
    ("all_frozen", ["--input-shape", "4"]),
    ("forward_raises", ["--input-shape", "4"]),
    ("import_fails", ["--input-shape", "4"]),
    ("syntax_error", ["--input-shape", "4"]),
    ("sys_exit", ["--input-shape", "4"]),
    ("sys_exit_at_import", ["--input-shape", "4"]),
    ("returns_int_output", ["--input-shape", "4"]),
    ("returns_tuple", ["--input-shape", "4"]),
    ("nan_weights", ["--input-shape", "4", "--values", "exact"]),
    ("inf_weights", ["--input-shape", "4", "--values", "exact"]),
    ("huge_linear", ["--input-shape", "4"]),
    ("integer_input", ["--input-shape", "4"]),
    ("side_effect", ["--input-shape", "4"]),
    ("shape_mismatch", ["--input-shape", "5"]),
    ("shape_mismatch_axes", ["--input-shape", "2,5"]),
    ("unknown_loss", ["--input-shape", "4", "--loss", "nope"]),
]


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    prefix = f"hostile2_{os.getpid()}_{abs(hash(str(tmp_path))) % 10**8}_"
    for name, body in MODULES.items():
        (tmp_path / f"{prefix}{name}.py").write_text(body)
    (tmp_path / f"{prefix}shape_mismatch.py").write_text("import torch\ndef f():\n    return torch.nn.Linear(4, 3)\n")
    (tmp_path / f"{prefix}shape_mismatch_axes.py").write_text("import torch\ndef f():\n    return torch.nn.Linear(4, 3)\n")
    (tmp_path / f"{prefix}unknown_loss.py").write_text("import torch\ndef f():\n    return torch.nn.Linear(4, 3)\n")
    monkeypatch.chdir(tmp_path)
    yield prefix
    for name in list(sys.modules):
        if name.startswith(prefix):
            del sys.modules[name]
    if os.path.exists(SENTINEL + "_module"):
        os.remove(SENTINEL + "_module")


#: modules analyze answers (first output of a tuple; "nothing is trainable"); verify has no run to compare
ANSWERED_BY_ANALYZE = {"returns_tuple", "no_parameters", "all_frozen"}


@pytest.mark.parametrize("command", ["analyze", "verify"])
@pytest.mark.parametrize("name,extra", MODULE_CASES, ids=[n for n, _ in MODULE_CASES])
def test_cli_hostile_module(user_modules, capsys, command, name, extra):
    argv = [command, "--module", f"{user_modules}{name}:f", *extra]
    if name in ANSWERED_BY_ANALYZE and (command == "analyze" or name == "returns_tuple"):
        status, out, err = cli(argv + ["--json"], capsys)
        assert status in (EXIT_OK, 1), err  # verify: 1 only for a failed cross-check
        assert isinstance(json.loads(out), dict)
        return
    cli_refused(argv, capsys)


@pytest.mark.parametrize("name", ["latex_parameter_name", "dollar_parameter_name"])
def test_a_module_parameter_name_never_reaches_latex_raw(user_modules, capsys, tmp_path, name):
    """Either refused in one line, or its LaTeX carries the name escaped."""
    path = tmp_path / "proof.tex"
    status, out, err = cli(["analyze", "--module", f"{user_modules}{name}:f", "--input-shape", "4",
                            "--latex", str(path), "--json"], capsys)
    if status == EXIT_USAGE:
        assert len(err.strip().splitlines()) == 1, err
        assert not path.exists()
        return
    assert status == EXIT_OK, err
    json.loads(out)
    body = [line for line in path.read_text().splitlines() if not line.startswith("%")]  # comments are inert
    assert not any(r"\input{x}" in line or "a$%b" in line for line in body)


# ================================================================ the environment
def _run(argv: list[str], env: dict | None = None, cwd: str | None = None, stdin: str | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SYMDERIV_")}
    base["PYTHONPATH"] = ROOT
    run = subprocess.run([sys.executable, "-m", "symderiv", *argv], env={**base, **(env or {})}, cwd=cwd or ROOT,
                         input=stdin, capture_output=True, text=True, timeout=300)  # a hang guard only
    return run.returncode, run.stdout, run.stderr


@pytest.mark.slow  # a fresh interpreter per run (seconds on a loaded machine)
def test_home_unset_and_c_locale_with_unicode_arguments():
    env = {k: v for k, v in os.environ.items() if k not in ("HOME",)}
    env.update({"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": ""})
    run = subprocess.run([sys.executable, "-m", "symderiv", "analyze", "--layers", "2,2,2", "--init", "constant:é"],
                         env={**{k: v for k, v in env.items() if k != "HOME"}, "PYTHONPATH": ROOT},
                         capture_output=True, timeout=300)
    assert run.returncode == EXIT_USAGE, run.stderr
    err = run.stderr.decode("utf-8", "replace")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.slow  # a fresh interpreter per run (seconds on a loaded machine)
def test_c_locale_prints_the_unicode_summary():
    """Under LC_ALL=C (ASCII stdout) the summary's ∂, ℓ and → are printed, never a UnicodeEncodeError."""
    env = {k: v for k, v in os.environ.items() if k != "HOME"}
    env.update({"LC_ALL": "C", "LANG": "C", "PYTHONPATH": ROOT})
    env.pop("PYTHONIOENCODING", None)
    run = subprocess.run([sys.executable, "-m", "symderiv", "derive", "--layers", "2,2"], env=env,
                         capture_output=True, timeout=300)
    assert run.returncode == EXIT_OK, run.stderr
    assert run.stdout.strip()


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes everywhere")
def test_a_read_only_working_directory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        status, out, err = _run(["analyze", "--layers", "2,2,2", "--latex", "proof.tex"], cwd=str(ro))
        assert status == EXIT_USAGE and len(err.strip().splitlines()) == 1, err
        status, out, err = _run(["analyze", "--layers", "2,2,2"], cwd=str(ro))
        assert status == EXIT_OK, err
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o755)


def test_undecodable_bytes_in_arguments(tmp_path, capsys):
    """Undecodable bytes reach argv as lone surrogates (PEP 383): refused in one line as a value, and
    written back as the same bytes as a file name."""
    cli_refused(["analyze", *SMALL, "--init", "constant:\udcff"], capsys)
    cli_refused(["analyze", *SMALL, "--symbol", "c\udcff"], capsys)
    status, _, err = cli(["analyze", *SMALL, "--latex", str(tmp_path / "\udcff.tex")], capsys)
    assert status == EXIT_OK, err
    assert os.listdir(os.fsencode(tmp_path)) == [b"\xff.tex"]


@pytest.mark.slow  # a fresh interpreter per run (seconds on a loaded machine)
def test_a_non_writable_working_directory_as_any_user():
    """/proc takes no new file even from root: the proof is refused in one line, the summary printed."""
    status, out, err = _run(["analyze", "--layers", "2,2,2", "--latex", "proof.tex"], cwd="/proc")
    assert status == EXIT_USAGE and len(err.strip().splitlines()) == 1 and "cannot write" in err, err
    status, out, err = _run(["analyze", "--layers", "2,2,2"], cwd="/proc")
    assert status == EXIT_OK and out.strip(), err


@pytest.mark.slow  # a fresh interpreter per run (seconds on a loaded machine)
def test_symderiv_environment_variables_do_not_change_the_output():
    """The package reads no SYMDERIV_* variable: hostile values change nothing (the tests' own profile
    variable is read by tests/conftest.py only)."""
    plain = _run(["analyze", "--layers", "2,2,2", "--json"])
    hostile = _run(["analyze", "--layers", "2,2,2", "--json"],
                   env={"SYMDERIV_HYPOTHESIS_PROFILE": "nope", "SYMDERIV_DEBUG": "1", "SYMDERIV_SECONDS": "nan",
                        "PYTHONHASHSEED": "123"})
    assert plain == hostile and plain[0] == EXIT_OK


# ================================================================ wide generic inits run within their work
def test_a_wide_generic_softmax_regression_counts_its_quadratic_laws_exactly():
    """12 x 12 softmax regression at a generic init: the 13 linear laws (12 column sums of W1 and the
    bias sum) give 13·14/2 = 91 independent products, the quadratic laws' proved dimension.  The
    search used to build one dense vector of m(m+1)/2 = 12,246 entries per product and look each pair
    up by a linear scan (a 30 x 30 layer ran for hours and gigabytes); it is sparse now."""
    a = sd.analyze(sd.mlp([12, 12]), sd.generic())
    assert len(a.conservation.linear.laws) == 13
    assert a.conservation.quadratic.dimension == 13 * 14 // 2


def test_the_sparse_exact_rank_matches_sympy():
    from symderiv.laws_quadratic import _rank

    rng = np.random.default_rng(5)
    for _ in range(60):
        rows, cols = rng.integers(0, 8), rng.integers(1, 10)
        dense = rng.choice([0, 0, 0, 1, -1, 2, 3], size=(rows, cols))
        if rows > 2:
            dense[-1] = 2 * dense[0] - dense[1]  # a dependent row
        sparse = [{int(j): Fraction(int(x)) for j, x in enumerate(row) if x} for row in dense]
        assert _rank(sparse) == (sp.Matrix(dense.tolist()).rank() if rows else 0)


def test_derive_prints_huge_closed_forms_with_named_z_and_delta(capsys):
    """An 8-8-8 generic network's expanded ∂ℓ/∂W1 alone is 12 million characters (minutes to print):
    derive names each hidden class's z and δ and defines them below, and says so."""
    status, out, err = cli(["derive", "--layers", "8,8,8", "--init", "generic"], capsys)
    assert status == EXIT_OK, err
    assert "the expanded closed forms have more than" in out and "\nwhere\n" in out
    definitions = out.split("\nwhere\n")[1].splitlines()
    assert len(definitions) == 16 and definitions[0].startswith("  _z1_1 = W1_1_1*x_1 + ")
    assert "_delta1_1*x_1" in out and len(out) < 1_000_000  # the expanded W1 alone: 12,592,128 characters


def test_derive_prints_small_closed_forms_expanded(capsys):
    status, out, err = cli(["derive", "--layers", "3,2"], capsys)
    assert status == EXIT_OK, err
    assert "where" not in out and "[x_1*(1/2 - y_1), x_2*(1/2 - y_1), x_3*(1/2 - y_1)]" in out


# ================================================================ Python API: hostile arguments with a torch module
def _linear():
    torch = pytest.importorskip("torch")
    return torch.nn.Linear(4, 3)


TORCH_API = [
    ("input_shape mismatch", lambda m: sd.analyze(m, loss="ce", input_shape=(5,))),
    ("input_shape zero", lambda m: sd.analyze(m, loss="ce", input_shape=(0,))),
    ("input_shape negative", lambda m: sd.analyze(m, loss="ce", input_shape=(-4,))),
    ("input_shape float", lambda m: sd.analyze(m, loss="ce", input_shape=(4.0,))),
    ("input_shape string", lambda m: sd.analyze(m, loss="ce", input_shape="4")),
    ("input_shape bool", lambda m: sd.analyze(m, loss="ce", input_shape=(True,))),
    ("input_shape huge", lambda m: sd.analyze(m, loss="ce", input_shape=(10**9,))),
    ("no loss", lambda m: sd.analyze(m, input_shape=(4,))),
    ("loss unknown", lambda m: sd.analyze(m, loss="nope", input_shape=(4,))),
    ("loss int", lambda m: sd.analyze(m, loss=5, input_shape=(4,))),
    ("values misspelled", lambda m: sd.analyze(m, loss="ce", input_shape=(4,), values="exactt")),
    ("seconds nan", lambda m: sd.analyze(m, loss="ce", input_shape=(4,), seconds=NAN)),
    ("output index out of range", lambda m: sd.analyze(m, loss="ce", input_shape=(4,), output=7)),
    ("forward_kwargs unknown keyword", lambda m: sd.analyze(m, loss="ce", input_shape=(4,), forward_kwargs={"foo": 1})),
    ("forward_kwargs an int", lambda m: sd.analyze(m, loss="ce", input_shape=(4,), forward_kwargs=5)),
    ("forward_kwargs int keys", lambda m: sd.analyze(m, loss="ce", input_shape=(4,), forward_kwargs={5: 1})),
    ("batch_size bool", lambda m: sd.analyze(m, loss="ce", input_shape=(4,), batch_size=True)),
    ("batch_size 10^9", lambda m: sd.analyze(m, loss="ce", input_shape=(4,), batch_size=10**9)),
    ("optimizer misspelled", lambda m: sd.analyze(m, loss="ce", input_shape=(4,), optimizer="adamm")),
    ("optimizer_class unknown", lambda m: sd.analyze(m, loss="ce", input_shape=(4,), optimizer_class="x")),
    ("an init with a module", lambda m: sd.analyze(m, sd.zeros(), loss="ce", input_shape=(4,))),
    ("verify without the module", lambda m: sd.verify(sd.analyze(m, loss="ce", input_shape=(4,)))),
    ("verify another module", lambda m: sd.verify(sd.analyze(m, loss="ce", input_shape=(4,)),
                                                  module=type(m)(5, 3))),
    ("verify a string as module", lambda m: sd.verify(sd.analyze(m, loss="ce", input_shape=(4,)), module="x")),
]


@pytest.mark.parametrize("call", [c for _, c in TORCH_API], ids=[n for n, _ in TORCH_API])
def test_api_torch_module_refused(call):
    module = _linear()
    refused(lambda: call(module))
