"""Run a computation under a time and memory bound (SymPy has no timeout of its own).

``simplify`` on a false or huge identity can run for many minutes; the prover
and the claim checker call it only through :func:`run_bounded`, which runs it in
a child process and kills it when the time is up.  The caller then reports
"undecided" instead of hanging.

How the child is isolated:

* **fork** (Linux and other POSIX systems except macOS): cheap, inherits the
  loaded modules; ``fn`` and its arguments need not be picklable.
* **spawn** (Windows, macOS, or where ``os.fork`` is missing): a fresh
  interpreter (``sys.executable``, the parent's ``sys.path``) started by
  :mod:`subprocess`; ``fn`` must be a module-level function and its arguments
  picklable.  Slower to start (it imports symderiv).  Unlike multiprocessing's
  "spawn" it never re-imports the caller's ``__main__``.
* neither possible: :class:`IsolationUnavailable` (a :class:`BoundExceeded`).

**Work, not seconds.**  With ``work=N`` the child counts its steps (every Python or C
function call and return, through a ``sys.setprofile`` hook) and ends the computation
after ``N`` of them (:class:`WorkExceeded`).  The count does not depend on the machine or
its load, so a verdict decided by it is the same everywhere.  SymPy's cache is cleared and
its random generators seeded in the child first, and imports are not counted, so the count
does not depend on what the parent computed or imported before either; it can still differ
between interpreters (set iteration order follows the string hash seed, which is why a
spawned child runs with ``PYTHONHASHSEED=0``).  A nested bound pauses the outer count while
it waits and charges it the inner steps.  The wall-clock ``seconds`` is then only a safety
net (:class:`TimeBoundExceeded`): callers that decide what is printed with a work budget say
so when the safety net fires.

The memory bound is a *budget on top of the child's size at start* (an
``RLIMIT_AS`` of current address space + ``memory_mb``): after ``import torch``
a process already maps ~3 GB, so an absolute limit would starve every child.
The child dies with its parent (``PR_SET_PDEATHSIG`` on Linux, and a watchdog
thread that notices a changed parent pid elsewhere); an interrupted parent
(Ctrl-C) kills and reaps the child before re-raising.  No signal handlers are
installed, so it works from any thread, concurrently, and with ``SIGCHLD`` ignored.

The result crosses the pipe as a pickle that is unpickled by a restricted
unpickler: plain built-in data plus the classes the caller allows, so that
reading it back can never run an expensive constructor (a SymPy ``Pow`` would
evaluate itself while being unpickled).
"""
from __future__ import annotations

import io
import os
import pickle
import sys
import threading
import time
import warnings
from typing import Any, Callable, Iterable, NamedTuple

from .errors import InternalError, SymderivError

__all__ = ["BoundExceeded", "IsolationUnavailable", "WorkExceeded", "TimeBoundExceeded", "run_bounded", "run_counted",
           "isolation_method", "MAX_RESULT_BYTES"]

#: largest result (pickled) a child may send back
MAX_RESULT_BYTES = 64 * 1024 * 1024
_ERROR_CHARS = 300


class BoundExceeded(SymderivError):
    """The computation did not finish within its time or memory bound."""


class IsolationUnavailable(BoundExceeded):
    """No child process can be started here (neither fork nor spawn), so no bound can be enforced."""


class WorkExceeded(BoundExceeded):
    """The computation needed more than its work budget (``limit`` counted steps): the same on every machine."""

    def __init__(self, message: str, limit: int = 0):
        super().__init__(message)
        self.limit = limit


class TimeBoundExceeded(BoundExceeded):
    """The wall-clock bound fired (with a work budget: the safety net; the outcome depends on the machine's load)."""


# Python 3.12+ warns on every fork of a multi-threaded process (the guard's worker threads, torch's
# pools).  The child here only computes and writes to its pipe; a lock it inherits held can only
# make it hang, and the time bound kills it then.  Silence exactly that warning, for our forks only.
warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks", category=DeprecationWarning,
                        module=r"symderiv\.bounded")

# Pipe creation + fork + closing the parent's write end happen under this lock, so that a child
# forked by another thread never inherits (and holds open) someone else's write end.
_FORK_LOCK = threading.Lock()

#: globals a result may reference besides plain built-in data
_SAFE_GLOBALS = frozenset({
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"), ("builtins", "slice"),
    ("fractions", "Fraction"),
})


def isolation_method() -> str:
    """``"fork"``, ``"spawn"`` or ``"none"``: how :func:`run_bounded` isolates the computation here."""
    if hasattr(os, "fork") and sys.platform != "darwin":
        return "fork"
    try:
        import subprocess  # noqa: F401 - missing on some embedded/WASM builds
    except ImportError:  # pragma: no cover
        return "none"
    return "spawn" if sys.executable else "none"


def run_bounded(
    fn: Callable[..., Any],
    *args: Any,
    seconds: float = 5.0,
    memory_mb: int = 2048,
    reraise: bool = False,
    allowed: Iterable[type] = (),
    work: int | None = None,
) -> Any:
    """``fn(*args)`` computed in a child process under a time and memory bound.

    * ``seconds``: wall-clock bound; beyond it the child is killed and
      :class:`TimeBoundExceeded` (a :class:`BoundExceeded`) is raised.
    * ``work``: if given, a deterministic bound: at most this many counted steps
      (see the module docstring), else :class:`WorkExceeded`; ``seconds`` is then
      the safety net.  :func:`run_counted` also returns the steps used.
    * ``memory_mb``: address space the child may add to its size at start.
    * ``reraise``: re-raise a :class:`~symderiv.errors.SymderivError` from ``fn``
      as the same class in the parent (and any other exception as
      :class:`~symderiv.errors.InternalError`); when False (default) every error
      inside ``fn`` is reported as :class:`BoundExceeded` with its message.
    * ``allowed``: classes the result may contain besides plain built-in data
      (``int str float bool None bytes tuple list dict set`` and ``Fraction``).

    Running out of memory is always :class:`BoundExceeded`.
    """
    return run_counted(fn, *args, seconds=seconds, memory_mb=memory_mb, reraise=reraise, allowed=allowed,
                       work=work)[0]


def run_counted(
    fn: Callable[..., Any],
    *args: Any,
    seconds: float = 5.0,
    memory_mb: int = 2048,
    reraise: bool = False,
    allowed: Iterable[type] = (),
    work: int | None = None,
    prepare: Callable[[tuple], None] | None = None,
) -> tuple[Any, int]:
    """:func:`run_bounded` that also returns the number of steps ``fn`` took (0 without ``work``).

    ``prepare(args)``, if given, runs in the child before counting starts (a module-level function
    for the spawn path): it may reset caches the arguments carry, so the count depends on them alone."""
    if not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
        raise InternalError(f"run_bounded: seconds must be a positive finite number, got {seconds!r}")
    if not isinstance(memory_mb, int) or memory_mb <= 0:
        raise InternalError(f"run_bounded: memory_mb must be a positive integer, got {memory_mb!r}")
    if work is not None and (isinstance(work, bool) or not isinstance(work, int) or work <= 0):
        raise InternalError(f"run_bounded: work must be a positive integer number of steps, got {work!r}")
    allowed_names = _SAFE_GLOBALS | {(c.__module__, c.__qualname__) for c in allowed}
    method = isolation_method()
    # inside a counted child (a nested bound), waiting for the grandchild polls the clock: those
    # steps would depend on its wall time, so the outer count pauses and is charged the inner work
    meter = _pause_meter()
    charged = 0
    try:
        if method == "fork":
            payload, died = _run_forked(fn, args, float(seconds), memory_mb, _Counting(work, prepare))
        elif method == "spawn":
            payload, died = _run_spawned(fn, args, float(seconds), memory_mb, _Counting(work, prepare))
        else:  # pragma: no cover - exotic platforms
            raise IsolationUnavailable("no child process can be started here (no fork, no multiprocessing spawn), so no time bound can be enforced")
        if not payload:
            raise BoundExceeded(f"the bounded computation died ({died or 'no result'}; memory bound?)")
        value, charged = _decode(payload, allowed_names, reraise, memory_mb)
        return value, charged
    except WorkExceeded as exc:
        charged = exc.limit
        raise
    except BoundExceeded:
        charged = work or 0
        raise
    finally:
        _resume_meter(meter, charged)


class _Meter(NamedTuple):
    """The step counter of a counted child: its profile hook, and how to charge it a nested child's steps."""

    hook: Callable[..., None]
    charge: Callable[[int], None]


class _Counting(NamedTuple):
    """How a child counts: its work budget (None: not counted) and what runs before counting starts."""

    work: int | None = None
    prepare: Callable[[tuple], None] | None = None


#: in a counted child: its step counter; None elsewhere
_METER: _Meter | None = None


def _pause_meter() -> _Meter | None:
    if _METER is not None and sys.getprofile() is _METER.hook:
        sys.setprofile(None)
        return _METER
    return None


def _resume_meter(meter: _Meter | None, steps: int) -> None:
    if meter is not None:
        meter.charge(steps)  # may end this child: the inner work counts against the outer budget
        sys.setprofile(meter.hook)


# ---------------------------------------------------------------- the child side
def _child_limits(seconds: float, memory_mb: int) -> None:
    """Memory: current address space + budget; CPU: a backstop if the parent cannot kill us."""
    try:
        import resource
    except ImportError:  # Windows: no rlimits; the parent's timeout still applies
        return
    limit = _address_space_bytes() + memory_mb * 1024 * 1024
    _set_limit(resource, resource.RLIMIT_AS, limit)
    _set_limit(resource, resource.RLIMIT_CPU, int(seconds) + 10)


def _set_limit(resource, which: int, value: int) -> None:
    try:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        if soft != resource.RLIM_INFINITY and soft < value:
            return  # already tighter
        resource.setrlimit(which, (value, hard))
    except (ValueError, OSError):
        pass


def _address_space_bytes() -> int:
    """This process's current virtual size (``/proc/self/statm``), else its peak RSS."""
    try:
        with open("/proc/self/statm", "rb") as f:
            pages = int(f.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024  # bytes on macOS, KiB elsewhere
    except (ImportError, OSError):  # pragma: no cover
        return 0


def _die_with_parent(parent_pid: int) -> None:
    """Linux: the kernel kills us when the parent dies; everywhere: a watchdog on the parent pid."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            PR_SET_PDEATHSIG = 1
            libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # 9 = SIGKILL
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.2)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="symderiv-bounded-watchdog", daemon=True).start()


def _fresh_start() -> None:
    """Forget what the parent computed, so that the step count depends on the call alone: SymPy's
    cache would answer from the parent's earlier work, and its assumption system tries its rules
    in an order shuffled by a generator seeded at random in each process (no SymPy import here:
    bounded stays usable without it)."""
    cache = sys.modules.get("sympy.core.cache")
    if cache is not None:
        cache.clear_cache()
    rng = sys.modules.get("sympy.core.random")
    if rng is not None:
        rng.seed(0)


def _counted_call(fn: Callable[..., Any], args: tuple, work: int, emit: Callable[[bytes], None],
                  prepare: Callable[[tuple], None] | None = None) -> tuple[Any, int]:
    """``fn(*args)`` and its step count; beyond ``work`` steps the child reports :class:`WorkExceeded`
    through ``emit`` and exits at once (from inside the hook: a SymPy ``except BaseException`` or
    bare ``except`` cannot swallow the stop, and CPython drops a profile hook that raises)."""
    global _METER
    _fresh_start()
    if prepare is not None:
        prepare(args)
    steps = 0

    def count(frame, event, arg) -> None:
        nonlocal steps
        steps += 1
        if steps > work:
            sys.setprofile(None)
            emit(pickle.dumps(("over", work)))

    def charge(n: int) -> None:  # the work of a nested bounded child
        nonlocal steps
        steps += n
        if steps > work:
            emit(pickle.dumps(("over", work)))

    _METER = _Meter(count, charge)

    import builtins

    real_import = builtins.__import__

    depth = 0  # imports nest (a module imports others while it loads): count again after the outermost
    resume: list = [None]  # the hook active when the outermost import began (None while a nested bound waits)

    def uncounted_import(*a: Any, **kw: Any) -> Any:
        """Imports are not work of the call: a module the parent had not imported yet (SymPy imports
        some on first use) would otherwise be counted, and the count would depend on the parent's past.
        Every import statement costs the same few steps, whether the module was loaded or not."""
        nonlocal depth
        if depth == 0:
            resume[0] = sys.getprofile()
        sys.setprofile(None)
        depth += 1
        try:
            return real_import(*a, **kw)
        finally:
            depth -= 1
            if depth == 0:
                sys.setprofile(resume[0])

    builtins.__import__ = uncounted_import  # the child's own copy of builtins: the parent is untouched
    sys.setprofile(count)
    try:
        value = fn(*args)
    finally:
        sys.setprofile(None)
        builtins.__import__ = real_import
        _METER = None
    return value, steps


def _compute(fn: Callable[..., Any], args: tuple, counting: _Counting = _Counting(),
             emit: Callable[[bytes], None] | None = None) -> bytes:
    """``fn(*args)`` as the pickled envelope the parent decodes; never raises."""
    work, prepare = counting
    try:
        if work is None or emit is None:
            value, steps = fn(*args), 0
        else:
            value, steps = _counted_call(fn, args, work, emit, prepare)
        return pickle.dumps(("ok", value, steps), protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # report, never raise across the process boundary
        cls = type(exc)
        message = " ".join(str(exc).split())[:_ERROR_CHARS]
        try:
            return pickle.dumps(("error", cls.__module__, cls.__qualname__, message))
        except BaseException:  # pragma: no cover
            return pickle.dumps(("error", "builtins", "Exception", "unreportable error"))


def _child_main(write_fd: int, fn, args, seconds: float, memory_mb: int, parent_pid: int,
                counting: _Counting = _Counting()) -> None:
    code = 0

    def emit(payload: bytes) -> None:  # write the envelope and end the child
        try:
            with os.fdopen(write_fd, "wb") as out:
                out.write(payload)
        finally:
            os._exit(0)

    try:
        global _FORK_LOCK
        _FORK_LOCK = threading.Lock()  # the forking thread held it; nested bounded runs need a fresh one
        _die_with_parent(parent_pid)
        _child_limits(seconds, memory_mb)
        emit(_compute(fn, args, counting, emit))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


# ---------------------------------------------------------------- fork
def _run_forked(fn, args, seconds: float, memory_mb: int, counting: _Counting = _Counting()) -> tuple[bytes, str]:
    parent_pid = os.getpid()
    with _FORK_LOCK:
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:  # EAGAIN (process limit), ENOMEM: no bound can be enforced now
            os.close(read_fd)
            os.close(write_fd)
            raise IsolationUnavailable(f"cannot start the bounded child process ({exc.strerror or exc})") from None
        if pid == 0:  # child
            os.close(read_fd)
            _child_main(write_fd, fn, args, seconds, memory_mb, parent_pid, counting)
        os.close(write_fd)
    chunks: list[bytes] = []
    size = 0
    status_text = ""
    deadline = time.monotonic() + seconds
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeBoundExceeded(f"not finished within {seconds:g} s")
            if not _readable(read_fd, min(remaining, 0.25)):  # short waits: async exceptions get through
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_RESULT_BYTES:
                raise BoundExceeded(f"the bounded computation's result exceeds {MAX_RESULT_BYTES >> 20} MB")
            chunks.append(chunk)
    finally:  # also on KeyboardInterrupt: never leave the child running
        os.close(read_fd)
        status_text = _kill_and_reap(pid)
    return b"".join(chunks), status_text


def _readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` has data or EOF within ``timeout`` s (``poll``: unlike ``select`` it takes fds above 1023)."""
    import select

    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        return bool(poller.poll(max(0, int(timeout * 1000))))
    ready, _, _ = select.select([fd], [], [], timeout)  # pragma: no cover - fork without poll
    return bool(ready)


def _kill_and_reap(pid: int) -> str:
    """SIGKILL the child and collect it; "" or a description of how it ended on its own."""
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except InterruptedError:  # pragma: no cover - PEP 475 retries, but be explicit
            continue
        except ChildProcessError:  # SIGCHLD ignored: the kernel reaped it already
            return ""
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) != signal.SIGKILL:
            return f"killed by signal {os.WTERMSIG(status)}"
        if os.WIFEXITED(status) and os.WEXITSTATUS(status):
            return f"exit status {os.WEXITSTATUS(status)}"
        return ""


# ---------------------------------------------------------------- spawn (fallback)
# A fresh interpreter started with ``subprocess`` (not multiprocessing, which would re-import
# the caller's ``__main__`` and fail in scripts without an ``if __name__ == "__main__"`` guard):
# it reads the parent's ``sys.path`` as a JSON line, then the pickled call, from stdin, and
# writes the envelope to stdout.
_BOOT = (
    "import sys, json; sys.path[:0] = json.loads(sys.stdin.buffer.readline()); "
    "from symderiv.bounded import _spawn_main; _spawn_main()"
)


def _spawn_main() -> None:
    """The spawned child's entry point: call in on stdin, envelope out on (the original) stdout."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything fn prints goes to stderr, never into the envelope
    sys.stdout = sys.stderr
    code = 0
    try:
        fn, args, seconds, memory_mb, parent_pid, counting = pickle.loads(sys.stdin.buffer.read())  # from our parent: trusted
        _die_with_parent(parent_pid)
        _child_limits(seconds, memory_mb)

        def emit(payload: bytes) -> None:
            out.write(payload)
            out.flush()
            os._exit(0)

        emit(_compute(fn, args, counting, emit))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _run_spawned(fn, args, seconds: float, memory_mb: int, counting: _Counting = _Counting()) -> tuple[bytes, str]:
    import json
    import subprocess

    try:
        call = pickle.dumps((fn, args, seconds, memory_mb, os.getpid(), counting), protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise InternalError(f"run_bounded (spawn): the function or its arguments cannot be sent to a child: {exc}") from None
    data = json.dumps([p for p in sys.path if isinstance(p, str)]).encode() + b"\n" + call
    try:
        # a fixed hash seed: the child's step count (set iteration order) is the same in every run
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        proc = subprocess.Popen([sys.executable, "-c", _BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, env=env)
    except (OSError, ValueError) as exc:
        raise IsolationUnavailable(f"cannot start a bounded child process ({exc})") from None
    try:
        out, _ = proc.communicate(data, timeout=seconds)
    except subprocess.TimeoutExpired:
        raise TimeBoundExceeded(f"not finished within {seconds:g} s") from None
    finally:  # also on KeyboardInterrupt: never leave the child running
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if len(out) > MAX_RESULT_BYTES:
        raise BoundExceeded(f"the bounded computation's result exceeds {MAX_RESULT_BYTES >> 20} MB")
    return out, ("" if out else f"exit status {proc.returncode}")


# ---------------------------------------------------------------- decoding the result
class _Restricted(pickle.Unpickler):
    def __init__(self, data: bytes, allowed: frozenset):
        super().__init__(io.BytesIO(data))
        self.allowed = allowed

    def find_class(self, module: str, name: str):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a bounded result")
        return super().find_class(module, name)


def _decode(payload: bytes, allowed: frozenset, reraise: bool, memory_mb: int) -> tuple[Any, int]:
    try:
        envelope = _Restricted(payload, allowed).load()
    except Exception as exc:
        raise InternalError(f"unreadable result from the bounded computation: {str(exc)[:200]}") from None
    if envelope[0] == "ok":
        return envelope[1], envelope[2]
    if envelope[0] == "over":
        raise WorkExceeded(f"not finished within its work budget of {envelope[1]} steps", envelope[1])
    _, module, qualname, message = envelope
    if qualname == "MemoryError":
        raise BoundExceeded(f"ran out of its memory budget of {memory_mb} MB")
    if not reraise:
        raise BoundExceeded(f"the bounded computation failed: {qualname}: {message}")
    cls = _symderiv_error_class(module, qualname)
    if cls is not None:
        try:
            error = cls(message)
        except Exception:  # an unusual constructor: keep the message, lose only the subclass
            error = SymderivError(message)
        raise error
    raise InternalError(f"{qualname} in a bounded computation: {message}")


def _symderiv_error_class(module: str, qualname: str) -> type | None:
    """The SymderivError subclass named by ``module.qualname``, if it is one (only already-imported modules)."""
    mod = sys.modules.get(module)
    if mod is None or not module.startswith("symderiv"):
        return None
    cls = getattr(mod, qualname, None)
    if isinstance(cls, type) and issubclass(cls, SymderivError):
        return cls
    return None
