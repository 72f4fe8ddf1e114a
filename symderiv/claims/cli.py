"""``symderiv check``: the command-line face of :func:`symderiv.claims.check`.

The options are the ones every ``symderiv`` subcommand shares (``--layers``,
``--activation``, ``--loss``, ``--init``, ``--kink-grad``, ``--symbol``,
``--bias/--no-bias``) plus ``--syntax``, ``--seconds`` and ``--json``; the parser
and the error handling live in :mod:`symderiv.cli`.

Exit status: 0 proved, 1 refuted, 3 undecided, 2 bad input (one line on stderr),
4 internal error, 130 interrupted, 143 terminated.
"""
from __future__ import annotations

import argparse
from typing import Sequence

__all__ = ["cli_check", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``symderiv check`` (the ``check`` subcommand of :func:`symderiv.cli.build_parser`)."""
    from ..cli import build_parser as full

    parser = full()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):  # the subcommand table
            return action.choices["check"]
    raise RuntimeError("symderiv.cli has no check subcommand")  # pragma: no cover


def cli_check(argv: Sequence[str]) -> int:
    """Run ``symderiv check`` with ``argv`` (without the subcommand name); return the exit status."""
    from ..cli import main

    return main(["check", *argv])
