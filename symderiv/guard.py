"""Public entry points never leak a stray exception and never crash the interpreter.

:func:`public_entry` decorates the functions of the public API.  It

* turns any exception that is not a :class:`~symderiv.errors.SymderivError` into an
  :class:`~symderiv.errors.InternalError` with a one-line message naming the function
  and the original exception type (the original stays attached as ``__cause__``);
  :class:`RecursionError` and :class:`MemoryError` become a :class:`SizeLimitError`
  saying what ran out; ``KeyboardInterrupt`` and ``SystemExit`` pass through untouched;
* runs the call in a worker thread with a large stack (virtual memory: it costs
  nothing until used).  SymPy recurses through an expression, and an unabbreviated
  closed form of a deep network nests every layer; raising Python's recursion limit
  on the 8 MiB main-thread stack lets that recursion overflow the C stack and kill
  the interpreter with SIGSEGV.  :func:`recursion_capacity` says how deep the
  current thread may safely recurse, and :func:`symderiv.engine.ensure_recursion_limit`
  raises the limit only up to it.

Nested guarded calls run inline (one worker per outermost call).  The caller's thread
waits in short slices, so Ctrl-C (or SIGTERM turned into an exception) still arrives:
the worker is then asked to stop, forked children of the call (the bounded SymPy
workers of :mod:`symderiv.bounded`) are killed, and the interrupt is re-raised.
"""
from __future__ import annotations

import functools
import inspect
import os
import re
import sys
import threading
import time
from typing import Any, Callable, TypeVar, cast

from .errors import InternalError, SizeLimitError, SymderivError

__all__ = [
    "public_entry", "recursion_capacity", "in_big_stack", "one_line",
    "STACK_SIZES", "BYTES_PER_FRAME", "parse_number", "MAX_NUMBER_DIGITS", "MAX_NUMBER_EXPONENT",
]

F = TypeVar("F", bound=Callable[..., Any])

#: stack sizes tried for the worker thread, largest first (an RLIMIT_AS or a 32-bit
#: platform may refuse the large ones; the call then runs with a smaller stack)
STACK_SIZES = (512 << 20, 256 << 20, 64 << 20)
#: C stack budgeted per unit of Python's recursion counter.  Measured on CPython 3.11
#: x86-64: ~250 bytes per counted frame for recursion through slots (__repr__, __hash__,
#: __eq__); 1 KiB leaves a 4x margin for C functions with larger frames.
BYTES_PER_FRAME = 1024
#: recursion units kept free for the interpreter's own frames below the guarded call
_RESERVE = 2_000
#: how long an interrupted call may take to wind down before the interrupt is re-raised
_STOP_GRACE_S = 2.0

_local = threading.local()
_limit_lock = threading.Lock()
_active_workers = 0
_saved_limit: int | None = None


def in_big_stack() -> bool:
    """Whether the current thread is a guard worker with a large stack."""
    return getattr(_local, "capacity", None) is not None


def recursion_capacity() -> int | None:
    """The largest recursion limit the current thread's stack holds, or ``None`` outside a
    guard worker (the thread's stack size is then unknown: keep Python's limit)."""
    return getattr(_local, "capacity", None)


def one_line(exc: BaseException, limit: int = 200) -> str:
    """``str(exc)`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _convert(name: str, exc: Exception) -> SymderivError:
    """The SymderivError a public entry point raises for ``exc``."""
    if isinstance(exc, RecursionError):
        return SizeLimitError(
            f"{name}: the network is too deep for the available stack (RecursionError); "
            "use fewer layers or an abbreviated form")
    if isinstance(exc, MemoryError):
        return SizeLimitError(f"{name}: ran out of memory (MemoryError); use a smaller network")
    detail = one_line(exc)
    return InternalError(
        f"internal error in symderiv.{name}: {type(exc).__name__}" + (f": {detail}" if detail else ""))


def _call_converting(name: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    try:
        return fn(*args, **kwargs)
    except SymderivError:
        raise
    except Exception as exc:  # KeyboardInterrupt/SystemExit are BaseException: untouched
        raise _convert(name, exc) from exc


def _start_worker(make_target: Callable[[int], Callable[[], None]]) -> threading.Thread | None:
    """A started daemon thread running ``make_target(stack_size)`` with the largest stack granted."""
    with _limit_lock:  # threading.stack_size is process-wide: set, start, restore
        for size in STACK_SIZES:
            try:
                old = threading.stack_size(size)
            except (ValueError, RuntimeError):
                continue
            try:
                thread = threading.Thread(target=make_target(size), name="symderiv-worker", daemon=True)
                thread.start()
            except (RuntimeError, MemoryError):  # "can't start new thread": try a smaller stack
                continue
            finally:
                threading.stack_size(old)
            return thread
    return None


def _enter_worker(capacity: int) -> None:
    global _active_workers, _saved_limit
    _local.capacity = capacity
    with _limit_lock:
        if _active_workers == 0:
            _saved_limit = sys.getrecursionlimit()
        _active_workers += 1


def _leave_worker() -> None:
    """Put Python's (interpreter-wide) recursion limit back once no worker needs it raised:
    other threads, with ordinary stacks, must not keep a limit their stack cannot hold."""
    global _active_workers
    _local.capacity = None
    with _limit_lock:
        _active_workers -= 1
        if _active_workers == 0 and _saved_limit is not None:
            try:
                sys.setrecursionlimit(_saved_limit)
            except RecursionError:  # pragma: no cover - the worker is shallow here
                pass


def _children_since(start_ticks: float) -> list[int]:
    """Forked copies of this process started during the guarded call (Linux /proc)."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/cmdline", "rb") as f:
            my_cmd = f.read()
        entries = os.listdir("/proc")
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2:].split()
            if int(fields[1]) != me or int(fields[19]) < start_ticks:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read() != my_cmd:
                    continue
        except (OSError, ValueError, IndexError):
            continue
        found.append(int(entry))
    return found


def _boot_ticks(since: float | None = None) -> float:
    """Now (or the ``time.monotonic()`` instant ``since``), in clock ticks since boot (the unit of
    /proc/PID/stat's start time).  Read only when an interrupted call must find its children, so a
    call that ends normally never opens /proc."""
    try:
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        if since is not None:
            uptime -= time.monotonic() - since
        return uptime * os.sysconf("SC_CLK_TCK") - 1
    except (OSError, ValueError):
        return float("inf")


def _stop(thread: threading.Thread, started: float) -> None:
    """Ask an interrupted worker to stop and kill the forked children it is waiting on
    (those started since ``started``, a ``time.monotonic()`` instant)."""
    import ctypes
    import signal

    start_ticks = _boot_ticks(started)

    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(KeyboardInterrupt))
    deadline = time.monotonic() + _STOP_GRACE_S
    while thread.is_alive() and time.monotonic() < deadline:
        for pid in _children_since(start_ticks):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        thread.join(0.05)


def _run_in_worker(name: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    outcome: list = []

    def make_target(stack_bytes: int) -> Callable[[], None]:
        capacity = max(sys.getrecursionlimit(), stack_bytes // BYTES_PER_FRAME - _RESERVE)

        def target() -> None:
            _enter_worker(capacity)
            try:
                outcome.append(("ok", _call_converting(name, fn, args, kwargs)))
            except BaseException as exc:  # handed to the caller's thread, raised there
                outcome.append(("error", exc))
            finally:
                _leave_worker()
        return target

    started = time.monotonic()
    thread = _start_worker(make_target)
    if thread is None:  # no thread could be started: run here, with Python's own limit
        return _call_converting(name, fn, args, kwargs)
    try:
        while thread.is_alive():
            thread.join(0.1)  # short slices: signals are handled between them
    except BaseException:  # KeyboardInterrupt, SystemExit from a SIGTERM handler, ...
        _stop(thread, started)
        raise
    if not outcome:  # pragma: no cover - the worker always records an outcome
        raise InternalError(f"internal error in symderiv.{name}: the worker thread ended without a result")
    status, value = outcome.pop()
    if status == "ok":
        return value
    try:
        raise value
    finally:
        del value


def public_entry(fn: F | None = None, *, inline_when: Callable[..., bool] | None = None) -> Any:
    """Decorate a public API function: clean errors, big stack, interruptible.

    ``@public_entry(inline_when=pred)``: when ``pred(*args, **kwargs)`` is true the call runs in
    the caller's thread (errors still converted), with no worker thread: for calls that can
    neither recurse deeply nor start children (a shallow network's closed forms).  Handing a
    small call to a thread costs a thread start and two wake-ups, which on a loaded machine are
    scheduler time slices (milliseconds), far more than the call itself.  The caller's own thread
    is interruptible as it is (Ctrl-C arrives between bytecodes).  A predicate that raises counts
    as false (the worker then reports the error the call itself raises)."""
    if fn is None:
        return functools.partial(public_entry, inline_when=inline_when)
    name = fn.__qualname__
    signature = inspect.signature(fn)  # once: inspect.signature costs ~100 µs per call

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # a wrong call (a misspelled keyword) is the caller's mistake: Python's own TypeError naming it
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{fn.__name__}() {exc}") from None
        if getattr(_local, "depth", 0) > 0 or in_big_stack():  # nested: run inline
            return _call_converting(name, fn, args, kwargs)
        if inline_when is not None and _holds(inline_when, args, kwargs):
            return _call_converting(name, fn, args, kwargs)
        return _run_in_worker(name, _nested(fn), args, kwargs)

    setattr(wrapper, "__symderiv_guarded__", True)  # a marker attribute (functions have no declared ones)
    return cast(F, wrapper)  # functools.wraps keeps fn's signature, which a TypeVar decorator cannot state


def _holds(predicate: Callable[..., bool], args: tuple, kwargs: dict) -> bool:
    try:
        return bool(predicate(*args, **kwargs))
    except Exception:
        return False


def _nested(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with the nesting counter raised while it runs."""
    def inner(*args: Any, **kwargs: Any) -> Any:
        _local.depth = getattr(_local, "depth", 0) + 1
        try:
            return fn(*args, **kwargs)
        finally:
            _local.depth -= 1
    return inner


# ---------------------------------------------------------------- numeric text
#: decimal text with more digits, or a larger exponent, is refused before conversion:
#: ``Fraction("1e999999999")`` would build a billion-digit integer (it hangs)
MAX_NUMBER_DIGITS = 1000
MAX_NUMBER_EXPONENT = 1000
_DECIMAL = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?", re.ASCII)
_RATIO = re.compile(r"([+-]?\d+)/(\d+)", re.ASCII)


def parse_number(text: str, what: str, error: type = SymderivError):
    """Exact rational from user text: ``3``, ``-0.25``, ``1e-3``, ``1/3`` (nothing else, never eval'ed).

    Refuses ``nan``/``inf``, zero denominators, more than :data:`MAX_NUMBER_DIGITS` digits
    and exponents beyond ±:data:`MAX_NUMBER_EXPONENT`, with ``error`` and a one-line
    message naming ``what``."""
    import sympy as sp

    raw = text.strip() if isinstance(text, str) else ""
    shown = raw if len(raw) <= 40 else raw[:37] + "…"
    accepted = f"{what} must be a finite number such as 0, -0.5, 1e-3 or 1/3"
    if not raw or sum(c.isdigit() for c in raw) > MAX_NUMBER_DIGITS:
        raise error(f"{accepted} (at most {MAX_NUMBER_DIGITS} digits), got {shown!r}")
    ratio = _RATIO.fullmatch(raw)
    if ratio:
        num, den = int(ratio.group(1)), int(ratio.group(2))
        if den == 0:
            raise error(f"{accepted}; the denominator of {shown!r} is zero")
        return sp.Rational(num, den)
    m = _DECIMAL.fullmatch(raw)
    if not m or not (m.group(2) or m.group(3)):
        raise error(f"{accepted}, got {shown!r}")
    sign, whole, frac, exp = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    e = int(exp) if exp else 0
    if abs(e) > MAX_NUMBER_EXPONENT:
        raise error(f"{accepted} with an exponent of at most {MAX_NUMBER_EXPONENT} in size, got {shown!r}")
    mantissa = int((whole or "0") + frac)
    e -= len(frac)
    value = sp.Rational(mantissa * 10**e) if e >= 0 else sp.Rational(mantissa, 10**-e)
    return -value if sign == "-" else value
