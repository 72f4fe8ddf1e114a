"""Bad, hostile and random input: a one-line SymderivError, in bounded time, nothing executed."""
import os

import pytest
from hypothesis import given, strategies as st

import symderiv as sd
from symderiv.claims import check, cli_check, parse_claim

NET = sd.mlp([2, 2, 2], "tanh", "ce")
SENTINEL = "/tmp/symderiv_claims_sentinel"


@pytest.mark.parametrize("text", [
    f"__import__('os').system('touch {SENTINEL}')",
    f"dL/dW1[i,j] = __import__('os').system('touch {SENTINEL}')",
    "lambda: 1 = 1",
    "x[1].__class__ = 1",
    "x[1] ** 99999999 = 1",
    "(" * 500 + "x[1]" + ")" * 500 + " = 1",
    "a" * 100_000,
    r"\input{/etc/passwd} = 1",
    r"\frac{\partial L}{\partial W^{(1)}_{ij}} = x_j +",
    r"2^{2^{2^{2^{2^{2}}}}} = 1",
    r"x_1^{1000} = 1",
    r"\foo = 1",
    "open('x') = 1",
    "1" * 30 + " = x[1]",
    r"W_{ij} = 0",
    "", "=", "x[1] = = x[2]", "x[i] < y[i]",
    r"\frac{\partial L}{\partial W^{(9)}_{11}} = 0",
    "p[7] = 1", "q[1] = 0", "dL/dy[1] = 0", "x[i] = W1[i,j] + x[3]",
    r"x_j \cdot = 1", r"e^{x_1} = \mathrm{sinc}(x_1)", r"e^{x_1} = \mathrm{softmax} x_1",
])
def test_bad_input_is_one_line_symderiv_error(text):
    with pytest.raises(sd.SymderivError) as info:
        check(text, NET)
    assert "\n" not in str(info.value) and str(info.value)
    assert not os.path.exists(SENTINEL)


def test_cli_exit_codes(capsys):
    assert cli_check(["--layers", "3,3", "--init", "zeros", "dL/dW1[t,j] = (1/K - 1) * x[j]"]) == 0
    assert cli_check(["--layers", "3,3", "dL/dW1[i,j] = p[i] * x[j]"]) == 1
    assert cli_check(["--layers", "3,3", "dL/dW1[i,j] = nonsense[i]"]) == 2
    assert cli_check(["--layers", "3,x", "x[1] = x[1]"]) == 2
    assert cli_check(["--layers", "3,3", "--json", "--init", "constant:0.5", "x[1] = x[1]"]) == 0
    assert '"status": "proved"' in capsys.readouterr().out


_ALPHABET = st.sampled_from(list("xyzpWbhL_^{}()[],=+-*/'|0123456789 ijkt") + [
    r"\frac", r"\partial", r"\sum", r"\delta", r"\sigma", r"\tanh", r"\exp", r"\max", r"\left", r"\right",
    r"\mathrm{ReLU}", "^{(1)}", "_{ij}", "W^{(2)}_{ki}", r"\cdot", "e^{", "__import__", "lambda", ".", "os",
])


@given(st.text(max_size=80))
def test_fuzz_arbitrary_text(text):
    try:
        parse_claim(text)
    except sd.SymderivError as exc:
        assert "\n" not in str(exc)
    assert not os.path.exists(SENTINEL)


@given(st.lists(_ALPHABET, max_size=25).map("".join))
def test_fuzz_near_valid_latex(text):
    try:
        check(text, NET, seconds=3.0)
    except sd.SymderivError as exc:
        assert "\n" not in str(exc)
    assert not os.path.exists(SENTINEL)
