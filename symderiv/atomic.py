"""Write an output file completely or not at all.

:func:`write_output` writes ``text`` to ``path`` the way a careful shell redirection
would, but atomically:

* a regular file (or a new path) is written to a temporary file in the *same
  directory as the real target*, flushed and fsync'ed, then renamed over it with
  ``os.replace``: a reader never sees half a document, and an error (disk full,
  interrupt) leaves the old file untouched and no temporary behind;
* a symlink is followed (also a chain of them): the file it points to is replaced
  and the link stays a link;
* a FIFO, a character device (``/dev/stdout``, ``/dev/null``) or any other
  non-regular file is written directly: replacing it with a regular file would
  break whoever reads it;
* the new file keeps the mode of the file it replaces (a new file gets the mode
  ``open()`` would give it under the current umask).

Every failure is a :class:`~symderiv.errors.SymderivError` naming the path.
"""
from __future__ import annotations

import os
import stat
import tempfile

from .errors import SymderivError

__all__ = ["write_output"]


def _fail(path: str, exc: OSError) -> SymderivError:
    return SymderivError(f"cannot write {path!r}: {exc.strerror or exc}")


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_output(path: str, text: str | bytes) -> None:
    """Write ``text`` (UTF-8; or ``bytes`` as they are, e.g. a PNG) to ``path``: atomically for regular
    files, directly otherwise."""
    data = text if isinstance(text, bytes) else text.encode("utf-8")
    if not path or "\x00" in path:  # "" and NUL reach no file (os.stat raises ValueError on NUL)
        raise SymderivError(f"cannot write {path[:60]!r}: a path is a non-empty name without NUL bytes")
    target = os.path.realpath(path)  # follow symlinks: replace the target, keep the link
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _fail(path, exc) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise SymderivError(f"cannot write {path!r}: it is a directory")
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_direct(path, target, data)
        return
    directory = os.path.dirname(target) or "."
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(target) + ".", suffix=".tmp")
    except OSError as exc:
        raise _fail(path, exc) from None
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, stat.S_IMODE(st.st_mode) if st is not None else _umask_mode())
            os.replace(tmp, target)
        except OSError as exc:
            raise _fail(path, exc) from None
    except BaseException:  # also KeyboardInterrupt: never leave the temporary behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _sync_directory(directory)


def _write_direct(path: str, target: str, data: bytes) -> None:
    try:
        with open(target, "wb") as out:
            out.write(data)
            out.flush()
    except OSError as exc:
        raise _fail(path, exc) from None


def _sync_directory(directory: str) -> None:
    """Make the rename durable (best effort: some file systems refuse fsync on a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
