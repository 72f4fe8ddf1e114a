"""Run a computation under a time and memory bound (SymPy has no timeout of its own).

``simplify`` on a false or huge identity can run for many minutes; the prover
and the claim checker call it only through :func:`run_bounded`, which runs it in
a forked child process with an address-space limit and kills it when the time
is up.  The caller then reports "undecided" instead of hanging.
"""
from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import time
from typing import Any, Callable

from .errors import SymderivError

__all__ = ["BoundExceeded", "run_bounded"]


class BoundExceeded(SymderivError):
    """The computation did not finish within its time or memory bound."""


def run_bounded(fn: Callable[..., Any], *args: Any, seconds: float = 5.0, memory_mb: int = 2048) -> Any:
    """``fn(*args)`` computed in a child process; its result must be picklable.

    Raises :class:`BoundExceeded` when it takes longer than ``seconds`` or
    runs out of memory, and re-raises nothing else from the child: an error
    inside ``fn`` is also reported as :class:`BoundExceeded` with its message.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read_fd)
            limit = memory_mb * 1024 * 1024
            try:
                resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
            except (ValueError, OSError):
                pass
            try:
                payload = pickle.dumps(("ok", fn(*args)))
            except BaseException as exc:  # report, never raise across the fork
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"[:500]))
            with os.fdopen(write_fd, "wb") as out:
                out.write(payload)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BoundExceeded(f"not finished within {seconds:g} s")
            ready, _, _ = select.select([read_fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    if not chunks:
        raise BoundExceeded("the bounded computation died (memory bound?)")
    status, value = pickle.loads(b"".join(chunks))
    if status != "ok":
        raise BoundExceeded(f"the bounded computation failed: {value}")
    return value
