"""symderiv.guard: clean errors from public entry points, deep recursion without segfaults,
checked numeric text; symderiv.atomic: whole output files or none; network size caps."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading

import pytest
import sympy as sp

import symderiv as sd
from symderiv.atomic import write_output
from symderiv.errors import InternalError, NetworkError, SizeLimitError, SymderivError
from symderiv.guard import BYTES_PER_FRAME, in_big_stack, parse_number, public_entry, recursion_capacity


# ---------------------------------------------------------------- the decorator
@public_entry
def _divide(a, b):
    return a / b


@public_entry
def _outer(a, b):
    return (in_big_stack(), _divide(a, b))


def test_result_and_symderiv_errors_pass_through():
    assert _divide(1, 4) == 0.25

    @public_entry
    def bad_input():
        raise NetworkError("sizes[0] must be a positive integer, got 0")

    with pytest.raises(NetworkError, match="sizes"):
        bad_input()


def test_unexpected_exception_becomes_one_line_internal_error_with_cause():
    with pytest.raises(InternalError) as info:
        _divide(1, 0)
    message = str(info.value)
    assert "_divide" in message and "ZeroDivisionError" in message and "\n" not in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_nested_calls_run_inline_on_the_big_stack():
    assert _outer(1, 2) == (True, 0.5)
    assert not in_big_stack() and recursion_capacity() is None  # the caller's thread is untouched
    with pytest.raises(InternalError, match="_divide"):  # the innermost guard names the function
        _outer(1, 0)


def test_keyboard_interrupt_and_system_exit_pass_untouched():
    @public_entry
    def interrupted():
        raise KeyboardInterrupt

    @public_entry
    def exits():
        raise SystemExit(7)

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    with pytest.raises(SystemExit) as info:
        exits()
    assert info.value.code == 7


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(os, "fork"), reason="Linux /proc")
def test_an_interrupted_call_finds_the_children_it_started():
    """On an interrupt the guard kills the forked children started during the call; it reads the
    clock only then (a call that ends normally never opens /proc), converting the call's start."""
    import signal
    import time

    from symderiv import guard

    started = time.monotonic()
    time.sleep(0.05)  # /proc counts in clock ticks (10 ms): the child starts clearly after the call
    pid = os.fork()
    if pid == 0:  # a forked copy of this process, as the bounded children are
        time.sleep(60)
        os._exit(0)
    try:
        assert pid in guard._children_since(guard._boot_ticks(started))
        assert pid not in guard._children_since(guard._boot_ticks(time.monotonic() + 5))  # started before that
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_recursion_and_memory_errors_become_size_limit_errors():
    @public_entry
    def recursion():
        raise RecursionError("maximum recursion depth exceeded")

    @public_entry
    def memory():
        raise MemoryError()

    with pytest.raises(SizeLimitError, match="too deep"):
        recursion()
    with pytest.raises(SizeLimitError, match="memory"):
        memory()


def test_recursion_limit_is_restored_after_a_deep_call():
    before = sys.getrecursionlimit()

    @public_entry
    def deep():
        sys.setrecursionlimit(recursion_capacity())
        return sys.getrecursionlimit()

    assert deep() == recursion_capacity() or deep() > before
    assert sys.getrecursionlimit() == before


def test_public_api_is_guarded():
    for fn in (sd.derive, sd.forward, sd.gradients, sd.analyze, sd.verify, sd.proof_document, sd.analysis_latex):
        assert getattr(fn, "__symderiv_guarded__", False), fn.__name__


# ---------------------------------------------------------------- recursion limit vs. C stack
def test_ensure_recursion_limit_refuses_outside_a_big_stack_thread():
    from symderiv.engine import ensure_recursion_limit

    net = sd.mlp([2] * 4001)  # depth 4000
    before = sys.getrecursionlimit()
    if before >= 2000 + 80 * 4000:  # pragma: no cover - someone raised it by hand
        pytest.skip("the recursion limit is already huge")
    with pytest.raises(SizeLimitError, match="depth 4000"):
        ensure_recursion_limit(net)
    assert sys.getrecursionlimit() == before


def test_ensure_recursion_limit_stays_within_the_stack():
    from symderiv.engine import ensure_recursion_limit

    @public_entry
    def raise_for(depth):
        ensure_recursion_limit(sd.mlp([2] * (depth + 1)))
        return sys.getrecursionlimit(), recursion_capacity()

    limit, capacity = raise_for(4000)
    assert 2000 + 80 * 4000 <= limit <= capacity
    # the budget per frame is what the capacity was computed with
    assert capacity <= 512 * 2**20 // BYTES_PER_FRAME


_DEEP_SCRIPT = textwrap.dedent("""
    import sys
    import sympy as sp
    import symderiv as sd
    from symderiv import guard
    from symderiv.engine import ensure_recursion_limit

    def nested(n):
        f, e = sp.Function("f"), sp.Symbol("x")
        for _ in range(n):
            e = f(e)
        return e

    # SymPy recursion through a deep expression after the limit was raised for the deepest
    # accepted network: on an ordinary 8 MiB stack this overflowed the C stack (SIGSEGV)
    @guard.public_entry
    def deep_str(e):
        ensure_recursion_limit(sd.mlp([2] * 4097))  # depth 4096, the largest accepted
        return len(str(e))

    @guard.public_entry
    def at_capacity(e):  # the whole budget of the stack, used by one str()
        sys.setrecursionlimit(guard.recursion_capacity())
        return len(str(e))

    def outcome(fn, *args):
        try:
            return str(fn(*args))
        except sd.SymderivError as exc:
            return "clean error: " + type(exc).__name__

    e = nested(20000)
    print(outcome(deep_str, e))
    sizes, guard.STACK_SIZES = guard.STACK_SIZES, (16 << 20,)  # a small stack: refuse, or recurse safely within it
    print(outcome(deep_str, e))
    print(outcome(at_capacity, e))
    guard.STACK_SIZES = sizes
    def derive_and_print(depth):
        d = sd.derive(sd.mlp([2] * (depth + 1)), sd.zeros())
        return len(str(d.z(depth // 2, 0))) + len(str(d["W1"]))

    print(outcome(derive_and_print, 2000))
    print(outcome(lambda: sd.derive(sd.mlp([2] * 5000))))
""")


def test_deep_recursion_never_crashes_the_interpreter():
    proc = subprocess.run([sys.executable, "-c", _DEEP_SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stdout.splitlines()
    assert lines[0] == str(3 * 20000 + 1)  # f(f(...f(x)...)): "f(" and ")" per level, plus "x"
    assert lines[1] == "clean error: SizeLimitError"  # depth 4096 does not fit 16 MiB: refused
    assert lines[2] in (lines[0], "clean error: SizeLimitError")  # RecursionError, never SIGSEGV
    assert lines[3].isdigit() or lines[3].startswith("clean error")
    assert lines[4] == "clean error: SizeLimitError"


# ---------------------------------------------------------------- numeric text
@pytest.mark.parametrize("text, value", [
    ("3", sp.Integer(3)), ("-0.25", sp.Rational(-1, 4)), ("1e-3", sp.Rational(1, 1000)),
    ("1/3", sp.Rational(1, 3)), (".5", sp.Rational(1, 2)), ("+2E3", sp.Integer(2000)), ("-7/2", sp.Rational(-7, 2)),
])
def test_parse_number_exact(text, value):
    assert parse_number(text, "v") == value


@pytest.mark.parametrize("text", [
    "nan", "inf", "-inf", "1e999999999", "1e-1001", "9" * 1001, "1/0", "", "abc", "0x10", "1_000", "1/-2", ".", "e5",
    "٣",  # a non-ASCII digit
])
def test_parse_number_rejects(text):
    with pytest.raises(SymderivError) as info:
        parse_number(text, "--kink-grad")
    assert "--kink-grad" in str(info.value) and "\n" not in str(info.value)


def test_api_rejects_non_finite_and_huge_numbers():
    for value in (float("nan"), float("inf"), sp.nan, sp.oo):
        with pytest.raises(SymderivError):
            sd.constant(value)
        with pytest.raises(SymderivError):
            sd.mlp([2, 2, 2], "relu", kink_grad=value)
    with pytest.raises(SymderivError):
        sd.mlp([2, 2, 2], "relu", kink_grad="1e999999999")  # refused at once, not a hang
    assert sd.mlp([2, 2, 2], "relu", kink_grad="0.5").activations[0].describe() == "relu (f'(0) = 1/2)"


# ---------------------------------------------------------------- size caps
@pytest.mark.parametrize("sizes, match", [
    ([10**9, 3, 3], "input width"), ([3, 3, 5000], "outputs"), ([2] * 5000, "too deep"), ([3, 10**10, 3], "hidden width"),
])
def test_network_size_caps(sizes, match):
    with pytest.raises(SizeLimitError, match=match):
        sd.mlp(sizes)


def test_network_accepts_numpy_and_sympy_integers():
    import numpy as np

    assert sd.mlp([np.int64(3), sp.Integer(2), 2]).sizes == (3, 2, 2)
    assert len(sd.mlp([2] * 4097).sizes) == 4097  # depth 4096, the cap itself


# ---------------------------------------------------------------- atomic output files
def test_write_output_regular_file_and_mode(tmp_path):
    target = tmp_path / "proof.tex"
    target.write_text("old")
    os.chmod(target, 0o640)
    write_output(str(target), "new ✓")
    assert target.read_text(encoding="utf-8") == "new ✓"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["proof.tex"]


def test_write_output_follows_symlinks_and_keeps_them(tmp_path):
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "out.tex"
    real.write_text("old")
    link = tmp_path / "link.tex"
    link.symlink_to(real)
    write_output(str(link), "new")
    assert link.is_symlink() and real.read_text() == "new"
    dangling = tmp_path / "dangling.tex"
    dangling.symlink_to(tmp_path / "real" / "created.tex")
    write_output(str(dangling), "made")
    assert dangling.is_symlink() and (tmp_path / "real" / "created.tex").read_text() == "made"
    assert sorted(os.listdir(tmp_path / "real")) == ["created.tex", "out.tex"]


def test_write_output_writes_into_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    write_output(str(fifo), "through the pipe")
    reader.join(10)
    assert got == [b"through the pipe"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO, not replaced by a file


def test_write_output_error_mid_write_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out.tex"
    target.write_text("old")

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(SymderivError, match="No space left"):
        write_output(str(target), "x" * 100_000)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.tex"]  # no temporary left behind
    monkeypatch.undo()
    new = tmp_path / "new.tex"
    monkeypatch.setattr(os, "replace", lambda a, b: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        write_output(str(new), "text")
    assert os.listdir(tmp_path) == ["out.tex"]


def test_write_output_refuses_directories_and_missing_parents(tmp_path):
    with pytest.raises(SymderivError, match="directory"):
        write_output(str(tmp_path), "text")
    with pytest.raises(SymderivError, match="cannot write"):
        write_output(str(tmp_path / "missing" / "out.tex"), "text")
