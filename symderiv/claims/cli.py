"""``symderiv check``: the command-line face of :func:`symderiv.claims.check`.

The options are the ones every ``symderiv`` subcommand shares (``--layers``,
``--activation``, ``--loss``, ``--init``, ``--kink-grad``, ``--symbol``,
``--bias/--no-bias``) plus ``--syntax``, ``--seconds`` and ``--json``; the parser
and the error handling live in :mod:`symderiv.cli`.  ``--layer batchnorm:3x2`` (also
``layernorm:NxD``, ``softmax:K``, ``softmax:NxK`` (N rows), ``attention:TxD``,
``attention:TxD:noscale`` (S = QKᵀ)) checks a standalone layer's backward pass
instead of an MLP's (:mod:`.layers`).

Exit status: 0 proved, 1 refuted, 3 undecided, 2 bad input (one line on stderr),
4 internal error, 130 interrupted, 143 terminated.
"""
from __future__ import annotations

import argparse
from typing import Sequence

__all__ = ["cli_check", "build_parser", "add_check_options", "claim_text", "layer_check"]

#: longest derivation file read (characters); the checker's own limits apply after
_MAX_FILE_CHARS = 50_000


def add_check_options(p: argparse.ArgumentParser) -> None:
    """``-f FILE`` (a derivation from a file, ``-`` for standard input) and ``--convention NAME``."""
    from .conventions import CONVENTIONS

    p.add_argument("-f", "--file", default=None, metavar="FILE",
                   help="read the claim or a whole derivation (align environment, one claim per line) "
                        "from FILE, or from standard input with -f -")
    p.add_argument("--convention", default="auto", choices=["auto", *sorted(CONVENTIONS)],
                   help="the notation's convention: auto (default: detected from the notation, and stated "
                        "in the verdict), " + ", ".join(sorted(CONVENTIONS)))
    p.add_argument("--layer", default=None, metavar="KIND:SIZES",
                   help="check a standalone layer's backward pass instead of an MLP's (the upstream gradient "
                        "free): batchnorm:NxD, layernorm:NxD (e.g. 3x2), softmax:K, softmax:NxK (a batch of N rows), "
                        "attention:TxD, attention:TxD:noscale (S = QK^T, no 1/sqrt(d)) "
                        "(symderiv.claims.layers); replaces --layers")


def layer_check(args: argparse.Namespace) -> tuple[str, int]:
    """``symderiv check --layer batchnorm:3x2 CLAIM``: the verdict's text (or JSON) and the exit status."""
    from ..errors import SymderivError
    from .checker import check
    from .layers import parse_layer

    if getattr(args, "layers", None) is not None:
        raise SymderivError("give --layers (an MLP) or --layer (a standalone layer such as batchnorm:3x2), not both")
    if getattr(args, "convention", "auto") != "auto":
        raise SymderivError("--convention applies to MLP claims; a --layer claim has the layer's own names")
    verdict = check(claim_text(args.claim, args.file), parse_layer(args.layer), syntax=args.syntax,
                    seconds=args.seconds)
    return (verdict.to_json() if args.json else f"{verdict}\n"), verdict.exit_code


def claim_text(claim: str | None, file: str | None) -> str:
    """The claim given on the command line, or read from ``file`` (``-``: standard input); one of the two."""
    from ..errors import SymderivError

    if (claim is None) == (file is None):
        raise SymderivError("check needs a claim, or -f FILE (-f - reads standard input), but not both")
    if file is None:
        return claim  # type: ignore[return-value]
    import sys

    try:
        if file == "-":
            text = sys.stdin.read(_MAX_FILE_CHARS + 1)
        else:
            with open(file, encoding="utf-8") as f:
                text = f.read(_MAX_FILE_CHARS + 1)
    except UnicodeDecodeError as exc:
        raise SymderivError(f"{file}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SymderivError(f"cannot read {file}: {exc.strerror or exc}") from None
    if len(text) > _MAX_FILE_CHARS:
        raise SymderivError(f"{file}: more than {_MAX_FILE_CHARS} characters; check the derivation in parts")
    if not text.strip():
        raise SymderivError(f"{'standard input' if file == '-' else file} is empty")
    return text


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
