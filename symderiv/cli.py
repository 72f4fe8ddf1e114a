"""The command line: ``symderiv demo | derive | analyze | verify | check``.

Every subcommand reads the network and init with the same options (one shared
argparse parent, :mod:`symderiv.cli_parser`).  The work of a command
(:mod:`symderiv.cli_commands`, :mod:`symderiv.cli_demo`) runs under
:func:`symderiv.guard.public_entry` (large stack, interruptible) and returns its output as
text; this module alone touches stdout, stderr and output files, so a closed pipe, a full
disk or Ctrl-C is one line on stderr and a documented exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from typing import Sequence

from .cli_commands import (  # noqa: F401  (re-exported: the exit statuses and the commands' names)
    EXIT_BROKEN_PIPE, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUTED, EXIT_STATUS_HELP, EXIT_TERMINATED,
    EXIT_UNDECIDED, EXIT_USAGE, _cmd_analyze, _cmd_check, _cmd_derive, _cmd_verify, _graph_analysis,
    _importable_from_cwd, _Result,
)
from .cli_demo import (  # noqa: F401  (re-exported)
    _DEMO, PDFLATEX_RUNS, PDFLATEX_SECONDS, _cmd_demo, _compile_command, _demo_files, _demo_results,
    _matplotlib_missing, _pdflatex,
)
from .cli_parser import build_parser  # noqa: F401  (re-exported)
from .cli_values import _inputs, _value, network_from_args, parse_init, parse_layers, parse_symbols  # noqa: F401
from .errors import InternalError, SymderivError
from .guard import one_line, public_entry

__all__ = [
    "main", "build_parser", "parse_layers", "parse_init", "network_from_args",
    "EXIT_OK", "EXIT_REFUTED", "EXIT_USAGE", "EXIT_UNDECIDED", "EXIT_INTERNAL",
    "EXIT_BROKEN_PIPE", "EXIT_INTERRUPTED", "EXIT_TERMINATED",
]


@public_entry
def _run(args: argparse.Namespace) -> _Result:
    """The command's work, on the guard's large stack (nested public calls run inline)."""
    return args.run(args)


# ---------------------------------------------------------------- the process boundary
class _Terminated(SystemExit):
    """Raised by the SIGTERM handler: unwinds like Ctrl-C (children are killed by their owners)."""


def _on_sigterm(signum, frame) -> None:
    raise _Terminated(EXIT_TERMINATED)


def _say(line: str) -> None:
    """One line on stderr; a closed stderr is not worth a traceback."""
    try:
        if sys.stderr is not None:
            sys.stderr.write(line.rstrip("\n") + "\n")
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _emit(text: str) -> None:
    """Write and flush stdout; errors surface here, not at interpreter exit."""
    if not text:
        return
    if sys.stdout is None:
        raise OSError(9, "standard output is closed")
    sys.stdout.write(text)
    sys.stdout.flush()


def _silence_stdout() -> None:
    """After a failed write to stdout, point it at /dev/null so the exit-time flush is quiet."""
    try:
        fd = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except (AttributeError, OSError, ValueError):
        pass


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed usage + one error line, or --help/--version
        return EXIT_OK if exc.code in (0, None) else EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symderiv`` command; returns the exit status (table in ``--help``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    previous = None
    if threading_is_main():
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except (ValueError, OSError):  # pragma: no cover - not the main thread / unsupported
            previous = None
    try:
        try:
            parsed = _parse(build_parser(), argv)
            if isinstance(parsed, int):
                return parsed
            result = _run(parsed)
            from .atomic import write_output

            for path, text in result.files:
                write_output(path, text)
            _emit(result.stdout)
            return result.status
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    except KeyboardInterrupt:
        _say("symderiv: interrupted")
        return EXIT_INTERRUPTED
    except _Terminated:
        _say("symderiv: terminated")
        return EXIT_TERMINATED
    except BrokenPipeError:  # `symderiv demo | head -1`: the reader left
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except InternalError as exc:
        return _internal(exc, debug)
    except SymderivError as exc:
        if debug:
            traceback.print_exc()
        _say(f"symderiv: error: {one_line(exc, 500)}")
        return EXIT_USAGE
    except OSError as exc:  # writing stdout: ENOSPC (/dev/full), EBADF (closed), EIO
        _silence_stdout()
        if debug:
            traceback.print_exc()
        _say(f"symderiv: error: cannot write the output: {exc.strerror or exc}")
        return EXIT_USAGE
    except Exception as exc:  # a defect: never 0, 1 or 3
        return _internal(exc, debug)


def _internal(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__)
    text = one_line(exc, 500)
    if not isinstance(exc, InternalError):
        text = f"internal error: {type(exc).__name__}" + (f": {text}" if text else "")
    _say(f"symderiv: {text}" + ("" if debug else " (run with --debug for the traceback)"))
    return EXIT_INTERNAL


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
