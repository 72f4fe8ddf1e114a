"""symderiv.bounded: the time/memory bound works in real processes, threads and odd environments."""
import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from fractions import Fraction

import pytest
import sympy as sp

import symderiv as sd
from symderiv import bounded
from symderiv.bounded import (BoundExceeded, IsolationUnavailable, TimeBoundExceeded, WorkExceeded, run_bounded,
                               run_counted)
from symderiv.errors import ClaimSyntaxError, InternalError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") and sys.platform != "win32", reason="POSIX test host")


# ---------------------------------------------------------------- module-level helpers (picklable for spawn)

def _default_sigint() -> None:
    """A shell runs background jobs with SIGINT ignored, and an ignored signal stays ignored across
    exec: give the child Python's default Ctrl-C behaviour whatever the test runner inherited."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _add(a, b):
    return a + b


def _sleep(s):
    time.sleep(s)
    return "woke"


def _raise_claim_error():
    raise ClaimSyntaxError("bad claim at position 3")


def _raise_key_error():
    raise KeyError("oops")


def _sympy_pow():
    return sp.Pow(sp.Integer(9), sp.Integer(64), evaluate=False)


def _allocate(mb):
    block = bytearray(mb * 1024 * 1024)
    return len(block)


def _nested():
    return run_bounded(_add, 20, 22, seconds=5)


def _swallowing_loop():
    """A computation that catches everything, BaseException included, and never ends by itself."""
    n = 0
    while True:
        try:
            n = _add(n, 1)
        except BaseException:
            pass


def _sympy_work(n):
    x = sp.Symbol("x")
    return str(sp.expand((x + 1) ** n))[:20]


def _nested_counted(sleep_s, n):
    """A counted computation that waits for a nested counted child (which sleeps, then works)."""
    return run_counted(_sleep_then_work, sleep_s, n, seconds=60, work=10**8)


def _sleep_then_work(sleep_s, n):
    time.sleep(sleep_s)
    return _sympy_work(n)


def _pid_then_sleep(path):
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)


def _dead(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie no longer runs
    except FileNotFoundError:
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False


def _wait_dead(pid: int, seconds: float = 30.0) -> bool:  # returns as soon as it is dead
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _dead(pid):
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------- results and errors
def test_result_and_time_bound():
    assert run_bounded(_add, 2, 3) == 5
    with pytest.raises(BoundExceeded, match="not finished within 0.3 s"):
        run_bounded(_sleep, 30, seconds=0.3)


def test_errors_cross_the_pipe_as_the_right_class():
    with pytest.raises(BoundExceeded, match="ClaimSyntaxError: bad claim"):
        run_bounded(_raise_claim_error)  # default: everything is "not finished"
    with pytest.raises(ClaimSyntaxError, match="bad claim at position 3"):
        run_bounded(_raise_claim_error, reraise=True)
    with pytest.raises(InternalError, match="KeyError"):
        run_bounded(_raise_key_error, reraise=True)


def test_result_is_restricted_to_plain_data():
    """A SymPy object would evaluate itself while being unpickled: it may not come back."""
    with pytest.raises(InternalError, match="not allowed"):
        run_bounded(_sympy_pow)
    assert run_bounded(Fraction, 3, 4) == Fraction(3, 4)


def test_nested_bounded_runs_work():
    assert run_bounded(_nested) == 42


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is enforced on Linux")
def test_memory_bound_is_relative_to_the_childs_size():
    import mmap

    with pytest.raises(BoundExceeded, match="memory"):
        run_bounded(_allocate, 600, memory_mb=200)
    try:  # a parent that already maps 4 GB (as after import torch): untouched, costs no RAM
        big = mmap.mmap(-1, 4 << 30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0))
    except (OSError, ValueError, OverflowError):
        pytest.skip("cannot map 4 GB of address space here")
    try:
        assert run_bounded(_allocate, 100, memory_mb=300) == 100 * 1024 * 1024
    finally:
        big.close()


# ---------------------------------------------------------------- hostile environments
def test_fork_failing_with_eagain_is_a_clean_error(monkeypatch):
    def no_fork():
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.setattr(bounded, "isolation_method", lambda: "fork")
    fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    with pytest.raises(IsolationUnavailable, match="cannot start the bounded child process"):
        run_bounded(_add, 1, 2)
    if fds is not None:
        assert len(os.listdir("/proc/self/fd")) == fds  # no leaked pipe


def test_pipe_fds_above_1023(monkeypatch):
    """A process with many open files gets pipe fds beyond select()'s limit: still fine."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("cannot open 1200 files here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200) if soft != resource.RLIM_INFINITY else soft, hard))
    fds = []
    try:
        while not fds or fds[-1] < 1100:
            fds.append(os.dup(0 if os.isatty(0) else 2))
        assert run_bounded(_add, 1, 2) == 3
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_no_isolation_at_all_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(bounded, "isolation_method", lambda: "none")
    with pytest.raises(IsolationUnavailable, match="no child process can be started"):
        run_bounded(_add, 1, 2)


def test_spawn_fallback_without_fork(monkeypatch):
    """Where os.fork is missing (Windows) the bound uses a multiprocessing 'spawn' child."""
    monkeypatch.delattr(os, "fork")
    assert bounded.isolation_method() == "spawn"
    assert run_bounded(_add, 40, 2, seconds=60) == 42
    with pytest.raises(ClaimSyntaxError):
        run_bounded(_raise_claim_error, seconds=60, reraise=True)
    # the work bound holds in a spawned child too (its own import of symderiv is not counted)
    with pytest.raises(WorkExceeded, match="work budget of 10000 steps"):
        run_counted(_swallowing_loop, seconds=120, work=10_000)


# ---------------------------------------------------------------- work, not seconds
def test_work_bound_counts_steps_and_cannot_be_swallowed():
    """The child stops at its work budget even inside ``except BaseException`` (it exits from the hook)."""
    with pytest.raises(WorkExceeded, match="work budget of 10000 steps") as info:
        run_counted(_swallowing_loop, seconds=120, work=10_000)
    assert info.value.limit == 10_000
    value, steps = run_counted(_add, 1, 2, work=5)
    assert value == 3 and 1 <= steps <= 5
    assert run_counted(_add, 1, 2) == (3, 0)  # no work bound: nothing counted


def test_step_counts_repeat_exactly():
    """SymPy's cache and its shuffled assumption rules are reset in the child and imports are not
    counted: the same call, the same count, whatever the parent did before."""
    first = run_counted(_sympy_work, 40, seconds=120, work=10**8)
    assert run_counted(_sympy_work, 40, seconds=120, work=10**8) == first
    # the parent's cache now holds the answer and the modules SymPy imports on first use are loaded:
    # neither counts (a residue of other first-use state stays well under 1%)
    sp.expand((sp.Symbol("x") + 1) ** 40)
    value, steps = run_counted(_sympy_work, 40, seconds=120, work=10**8)
    assert value == first[0] and abs(steps - first[1]) <= first[1] // 100
    assert first[1] > 1000


def test_a_nested_bound_counts_the_inner_work_not_the_wait():
    """A counted child that waits for a nested counted child (the claim checker's session proving an
    identity) is charged the inner steps; its own waiting loop polls the clock and is not counted."""
    (inner_quick, n_quick), outer_quick = run_counted(_nested_counted, 0.05, 20, seconds=120, work=10**8)
    (inner_slow, n_slow), outer_slow = run_counted(_nested_counted, 1.5, 20, seconds=120, work=10**8)
    assert inner_quick == inner_slow and n_quick == n_slow > 1000
    assert outer_quick == outer_slow  # 1.45 s more of waiting, not one step more
    assert n_quick < outer_quick < n_quick + 1000
    with pytest.raises(WorkExceeded):  # the inner work counts against the outer budget
        run_counted(_nested_counted, 0.05, 20, seconds=120, work=n_quick // 2 + 1000)


def test_the_wall_clock_is_a_distinct_safety_net():
    with pytest.raises(TimeBoundExceeded, match="not finished within 0.3 s"):
        run_bounded(_sleep, 30, seconds=0.3, work=10**9)  # sleeping takes no steps: only the clock stops it


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, float("nan")])
def test_work_must_be_a_positive_integer(bad):
    with pytest.raises(InternalError, match="work must be a positive integer number of steps"):
        run_bounded(_add, 1, 2, work=bad)


def test_sigchld_ignored_does_not_break_reaping():
    old = signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    try:
        assert run_bounded(_add, 1, 1) == 2
        with pytest.raises(BoundExceeded):
            run_bounded(_sleep, 30, seconds=0.3)
    finally:
        signal.signal(signal.SIGCHLD, old)


def test_from_a_thread_and_two_threads_at_once():
    results: dict = {}

    def job(name, fn, *args, seconds=60):
        try:
            results[name] = run_bounded(fn, *args, seconds=seconds)
        except BoundExceeded as exc:
            results[name] = exc

    slow = threading.Thread(target=job, args=("b", _sleep, 60), kwargs={"seconds": 5.0})
    quick = [threading.Thread(target=job, args=("a", _add, 1, 2)), threading.Thread(target=job, args=("c", _sleep, 0.2))]
    slow.start()
    for t in quick:
        t.start()
    for t in quick:
        t.join(60)
    # the quick runs are not held up by the slow one's child (no inherited pipe ends): they end while it
    # still runs, well before its 5 s bound (a held-open pipe would keep them waiting until it fires)
    still_running = slow.is_alive()
    assert results["a"] == 3 and results["c"] == "woke"
    assert still_running  # they ended while the slow child still ran: nothing held them up
    slow.join(60)
    assert isinstance(results["b"], BoundExceeded)


_PARENT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    from test_bounded import _pid_then_sleep
    from symderiv.bounded import run_bounded
    print("ready", flush=True)
    run_bounded(_pid_then_sleep, {path!r}, seconds=120)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux process semantics")
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])  # SIGKILL: the same PDEATHSIG path as SIGTERM
def test_the_child_dies_with_its_parent(tmp_path, how):
    path = str(tmp_path / "child.pid")
    code = _PARENT.format(tests=os.path.dirname(__file__), path=path)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + 60
        while not (os.path.exists(path) and open(path).read().strip()):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() is not None else "slow"
            time.sleep(0.05)
        child = int(open(path).read())
        assert not _dead(child)
        proc.send_signal(getattr(signal, how))
        proc.wait(20)
        assert _wait_dead(child), f"the bounded child {child} outlived its parent ({how})"
        if how == "SIGINT":  # Ctrl-C: the parent killed and reaped the child, then re-raised
            assert "KeyboardInterrupt" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_without_resource_or_fork_in_a_script_without_main_guard(tmp_path):
    """``import symderiv`` works where ``resource`` and ``os.fork`` do not exist (Windows), and a
    check still runs (spawned children), even from a script with no ``if __name__ == "__main__"``."""
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        sys.modules["resource"] = None        # import resource -> ImportError
        del os.fork
        import symderiv as sd
        print(sd.bounded.isolation_method())
        # a generous bound: this is about the spawn path working, and a spawned child imports symderiv
        print(sd.check("dL/dW1[i,j] = (p[i] - y[i]) * x[j]", sd.mlp([2, 2], loss="ce"), seconds=600).status)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-800:]
    assert out.stdout.split() == ["spawn", "proved"]


def test_latex_claim_after_import_torch():
    """After ``import torch`` the process maps ~3 GB: the child's memory budget is on top of that."""
    pytest.importorskip("torch")
    net = sd.mlp([3, 3], loss="ce")
    v = sd.check(r"\frac{\partial L}{\partial W_{ij}} = (p_i - y_i)\, x_j", net)
    assert v.status == "proved", str(v)
