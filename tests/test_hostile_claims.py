"""Hostile and unusual claims: each ends in a one-line SymderivError subclass within 10 s, and
nothing in the text is ever executed."""
import os

import pytest

import symderiv as sd
from symderiv.claims import check, parse_claim
from symderiv.errors import (
    ClaimNameError, ClaimSyntaxError, InvalidArgument, SizeLimitError, SymderivError, UnsupportedError,
)

NET = sd.mlp([2, 2, 2], "tanh", "ce")
SENTINEL = "/tmp/symderiv_hostile_sentinel"

_SYNTAX = ClaimSyntaxError
_SIZE = SizeLimitError
_NAME = ClaimNameError
_ANY = SymderivError

HOSTILE = [
    # evaluation bombs: refused before anything is evaluated
    ("power tower", "9**9**9**9 = 1", _SIZE),
    ("product exponent", "3**(64*64*64*64*64) = 1", _SIZE),
    ("nested powers", "((((9^64)^64)^64)^64)^64 = 1", _SIZE),
    ("nested powers, LaTeX", r"((((9^{64})^{64})^{64})^{64})^{64} = 1", _SIZE),
    ("huge exponent", "x[1] ** 99999999 = 1", _SIZE),
    ("exponent 1000, LaTeX", r"x_1^{1000} = 1", _SIZE),
    ("exponent tower, LaTeX", r"2^{2^{2^{64}}} = 1", _SIZE),
    ("symbolic exponent", r"x_1^{x_2} = 1", UnsupportedError),
    ("nested sums multiply", r"\sum_{a=1}^{4096} \sum_{b=1}^{4096} x_1 = 1", _SIZE),
    ("one sum too long", "sum(x[1], k, 1, 1000000) = 1", _SIZE),
    # size and nesting
    ("1 MB claim", "x[1] + " * 150_000 + "1 = 1", _SIZE),
    ("10^5 nested parentheses", "(" * 100_000 + "x[1]" + ")" * 100_000 + " = 1", _SIZE),
    ("deep brackets", "(" * 500 + "x[1]" + ")" * 500 + " = 1", _SIZE),
    ("deep sqrt", r"\sqrt{" * 45 + "x_1" + "}" * 45 + " = 1", _SIZE),
    ("huge integer", "9" * 5000 + " = x[1]", _SIZE),
    ("huge integer, LaTeX", "9" * 5000 + " = x_1", _SIZE),
    ("long chain", "x[1] = " * 1400 + "x[1]", _SIZE),
    ("very long identifier", "a" * 5000 + " = 1", _NAME),
    # numbers that are not plain decimals
    ("hex literal", "0x10 = x[1]", _SYNTAX),
    ("binary literal", "0b1 = 1", _SYNTAX),
    ("octal literal", "0o7 = x[1]", _SYNTAX),
    ("digit separators", "1_000 = x[1]", _SYNTAX),
    ("float exponent", "1e5 = x[1]", _ANY),
    ("complex literal", "1j = x[1]", _ANY),
    # characters
    ("NUL byte", "x[1]\x00 = 1", _SYNTAX),
    ("NUL byte, LaTeX", "x_1\x00 = 1", _SYNTAX),
    ("Cyrillic x", "\u0445[1] = 1", _SYNTAX),
    ("Cyrillic i index", r"\frac{\partial L}{\partial W^{(1)}_{\u0456j}} = 0", _SYNTAX),
    ("right-to-left override", "x[1]\u202e = 1", _SYNTAX),
    ("zero-width space", "x[1]\u200b = 1", _SYNTAX),
    ("lone surrogate", "x[1] = \ud800", _SYNTAX),
    ("full-width letter", "\uff58[1] = 1", _SYNTAX),
    # code and TeX primitives are data
    ("__import__", f"__import__('os').system('touch {SENTINEL}') = 1", _ANY),
    ("lambda", "lambda: 1 = 1", _ANY),
    ("attribute access", "x[1].__class__ = 1", _ANY),
    ("comprehension", "[x for x in y] = 1", _ANY),
    ("conditional expression", "x[1] if 1 else 2 = 1", _ANY),
    ("statement separator", "x[1] = 1; import os", _SYNTAX),
    ("f-string", 'f"{x}" = 1', _SYNTAX),
    (r"\input", r"\input{/etc/passwd} = 1", _SYNTAX),
    (r"\def", r"\def\x{1} x_1 = 1", _SYNTAX),
    (r"\newcommand", r"\newcommand{\x}{1} x_1 = 1", _SYNTAX),
    (r"\write18", rf"\immediate\write18{{touch {SENTINEL}}} = 1", _SYNTAX),
    (r"\csname", r"\csname os\endcsname = 1", _SYNTAX),
    ("unknown macro", r"\foo{x_1} = 1", _SYNTAX),
    (r"\mathrm{eval}", r"\mathrm{eval}(x_1) = 1", _NAME),
    # malformed
    ("empty", "", _SYNTAX),
    ("blank", "   \t  ", _SYNTAX),
    ("only =", "=", _SYNTAX),
    ("= = =", "= = =", _SYNTAX),
    ("line break", r"\\ = 1", _ANY),
    ("unbalanced brace", r"\frac{x_1}{2 = 1", _SYNTAX),
    ("unbalanced parenthesis", "(x[1] = 1", _SYNTAX),
    ("empty fraction", r"\frac{}{} = 1", _ANY),
    ("empty display math", "$$ $$", _SYNTAX),
    ("dangling operator", r"x_1 \cdot = 1", _SYNTAX),
    # conditions: understood or refused, never dropped
    ("condition without index", "x[1] = 1 for every j except", _SYNTAX),
    ("trailing words", "dL/dW1[i,j] = p[i] * x[j] otherwise", _SYNTAX),
    ("prose in a side", r"x_1 = \text{whatever you like}", _SYNTAX),
    ("unknown condition word", r"x_1 = x_1 \quad \text{unless } j = t", _SYNTAX),
    ("bare trailing words, LaTeX", r"\frac{\partial L}{\partial W_{jk}} = p_j x_k for every j besides t", _SYNTAX),
    ("unsatisfiable condition", "x[i] = 2 for i != i", _SYNTAX),     # never vacuously "proved"
    ("unsatisfiable conditions", "x[i] = 2 for i = t, i != t", _SYNTAX),
    # vectors, matrices, batches
    ("long matrix chain", "delta2 = " + " @ ".join(["W2 @ W2.T"] * 20) + " @ delta2", _SIZE),
    ("many transposes", "x" + ".T" * 5000 + " = x", _SIZE),
    ("dunder attribute on a vector", "x.T.__class__ = x", _SYNTAX),
    ("outer of a matrix", "outer(outer(x, x), x) = 1", _SYNTAX),
    ("matmul shapes", "W2 @ x @ x = x", _SYNTAX),
    ("macro in an indicator", r"\mathbb{1}(\input{x} > 0) = 1", _SYNTAX),
    ("indicator of code", "x[1] = (__import__('os') > 0)", _ANY),
    ("code after a batch convention", "x[1] = 1 (sum over the batch; __import__('os'))", _ANY),
    ("transpose without a base", r"^T = x_1", _SYNTAX),
    ("hadamard without operands", r"\odot = x_1", _SYNTAX),
    ("nabla without a target", r"\nabla L = 0", _SYNTAX),
    ("symbolic layer of a number", r"W^{(l+9)} = 0", _NAME),
    ("module attribute chain", "x = np.os.system('ls')", _SYNTAX),
    ("unknown numpy function", "x = np.load('/etc/passwd')", _SYNTAX),
]


@pytest.mark.parametrize("label, claim, error", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_claim_is_a_clean_error(label, claim, error):
    with pytest.raises(error) as info:
        check(claim, NET, seconds=3)
    message = str(info.value)
    assert isinstance(info.value, SymderivError) and message and "\n" not in message
    assert len(message) < 2_000
    assert not os.path.exists(SENTINEL)


def test_offending_character_is_named():
    with pytest.raises(ClaimSyntaxError, match="U\\+0445 CYRILLIC SMALL LETTER HA"):
        check("\u0445[1] = 1", NET)


@pytest.mark.parametrize("claim", [
    f"open('{SENTINEL}', 'w') = 1",
    f"__import__('os').system('touch {SENTINEL}')",
    f"__import__('pathlib').Path('{SENTINEL}').touch() = 1",
    f"exec(\"open('{SENTINEL}','w')\") = 1",
    rf"\immediate\write18{{touch {SENTINEL}}} = 1",
    rf"\input{{{SENTINEL}}} = 1",
    rf"\text{{\write18{{touch {SENTINEL}}}}} = 1",
])
@pytest.mark.parametrize("entry", ["check", "parse_claim"])
def test_claim_text_is_never_executed(claim, entry):
    if os.path.exists(SENTINEL):
        os.remove(SENTINEL)
    with pytest.raises(SymderivError):
        check(claim, NET) if entry == "check" else parse_claim(claim)
    assert not os.path.exists(SENTINEL)


@pytest.mark.parametrize("kwargs, error", [
    ({"seconds": float("nan")}, InvalidArgument),
    ({"seconds": -1}, InvalidArgument),
    ({"seconds": "1"}, InvalidArgument),
    ({"seed": "x"}, InvalidArgument),
    ({"syntax": "python"}, ClaimSyntaxError),
    ({"memory_mb": 0}, InvalidArgument),
])
def test_bad_arguments(kwargs, error):
    with pytest.raises(error):
        check("x[1] = x[1]", NET, **kwargs)


@pytest.mark.parametrize("claim", [None, b"x[1] = 1", 42, ["x[1] = 1"]])
def test_claim_must_be_text(claim):
    with pytest.raises(ClaimSyntaxError, match="must be a string"):
        check(claim, NET)


def test_str_subclass_methods_never_run():
    class Sneaky(str):
        def replace(self, *args):  # would run if the parser used the subclass's methods
            raise AssertionError("ran")

        def encode(self, *args):
            raise AssertionError("ran")

    assert check(Sneaky("x[1] = x[1]"), NET).status == "proved"


def test_net_must_be_a_network():
    with pytest.raises(SymderivError, match="Network"):
        check("x[1] = x[1]", "mlp")


@pytest.mark.parametrize("claim, status", [
    ("x[1] \u2212 x[1] = 0", "proved"),           # unicode minus
    ("x[1] \u00d7 2 = x[1] + x[1]", "proved"),    # unicode times
    ("x[1] \u00b7 2 = x[1]", "refuted"),          # middle dot
    ("+".join(["x[1]"] * 500) + " = 500 * x[1]", "proved"),   # long flat sums parse iteratively
    ("*".join(["x[1]"] * 60) + " = x[1]**60", "proved"),      # long products too
    ("-" * 1500 + "x[1] = x[1]", "proved"),       # an even number of unary minuses
])
def test_unusual_but_valid_claims_are_checked(claim, status):
    assert check(claim, NET, seconds=5).status == status


def test_undefined_inside_max_is_a_clean_error():
    """ReLU(1/W) at W = 0: SymPy cannot even compare zoo with 0 (found by fuzzing)."""
    with pytest.raises(ClaimSyntaxError, match="undefined"):
        check(r"\mathrm{ReLU}(\frac{1}{W^{(2)}_{ij}}) = 0", NET, sd.zeros())


def test_1500_unary_minuses_in_latex():
    """The LaTeX grammar recurses per sign: a clean error or a verdict, in bounded time, never a crash."""
    try:
        v = check("-" * 1500 + "x_1 = x_1", NET, seconds=3)
        assert v.status == "proved", str(v)
    except SymderivError as exc:
        assert "\n" not in str(exc)


def test_unexpected_exceptions_become_internal_errors(monkeypatch):
    """A defect inside the checker is an InternalError (exit 4), never a verdict or a raw exception."""
    from symderiv.claims import checker

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a defect")

    monkeypatch.setattr(checker, "resolve", broken)
    with pytest.raises(sd.errors.InternalError, match="ZeroDivisionError"):
        check("x[1] = x[1]", NET)


def test_keyboard_interrupt_is_not_converted(monkeypatch):
    from symderiv.claims import checker

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(checker, "resolve", interrupted)
    with pytest.raises(KeyboardInterrupt):
        check("x[1] = x[1]", NET)


def test_whole_check_is_bounded_on_a_deep_generic_network():
    """Derivation, refutation and proof all run under the bound (this took 61 s and 2.9 GB before)."""
    deep = sd.mlp([3] * 13, "tanh", "ce")
    v = check("dL/dW1[i,j] = delta1[i] * x[j]", deep, seconds=2)
    assert v.status in ("undecided", "proved"), str(v)  # within its work budget: a verdict, never a hang
