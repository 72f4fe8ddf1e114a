"""Read a module from the command line: ``pkg.mod:factory`` and ``--input-shape 4`` / ``3,8``.

The spec names a Python module (imported with :func:`importlib.import_module`, never
evaluated as text) and an attribute of it, optionally dotted: a callable returning an
``nn.Module`` (called with no arguments), or an ``nn.Module`` instance.  Every failure is
one :class:`~symderiv.errors.InvalidArgument` line naming what was wrong and what is
accepted; a missing PyTorch is an :class:`~symderiv.errors.UnsupportedError`.
"""
from __future__ import annotations

import importlib
import re
from typing import Any

from ..errors import InvalidArgument, UnsupportedError
from ..guard import one_line

__all__ = ["load_module", "parse_input_shape", "parse_input", "MAX_INPUT_AXES", "MAX_INPUT_SIZE"]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_SPEC = re.compile(rf"({_IDENT}(?:\.{_IDENT})*):({_IDENT}(?:\.{_IDENT})*)", re.ASCII)
#: an example has at most this many axes, and each axis at most MAX_INPUT_SIZE entries
MAX_INPUT_AXES = 4
MAX_INPUT_SIZE = 100_000
_ACCEPTED = "write MODULE:FACTORY, e.g. mypkg.models:make_lora (a function returning an nn.Module, or an nn.Module)"


def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "…"


def load_module(spec: str) -> tuple[Any, str]:
    """``(module, name)``: the ``nn.Module`` the spec names, and the spec's attribute name."""
    m = _SPEC.fullmatch(spec.strip())
    if m is None:
        raise InvalidArgument(f"--module {_shown(spec)!r} is not a module spec: {_ACCEPTED}")
    try:
        from torch import nn
    except ImportError:
        raise UnsupportedError("--module needs PyTorch: pip install torch (or symderiv[torch])") from None
    path, attr = m.group(1), m.group(2)
    try:
        obj: Any = importlib.import_module(path)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (path == exc.name or path.startswith(exc.name + ".")):
            raise InvalidArgument(f"--module: no Python module named {exc.name!r} (is it on PYTHONPATH, or "
                                  f"run from its directory?); {_ACCEPTED}") from None
        raise InvalidArgument(f"--module: importing {path} failed: {one_line(exc, 200)}") from None
    except Exception as exc:  # the user's module raised while being imported
        raise InvalidArgument(f"--module: importing {path} failed: {type(exc).__name__}: {one_line(exc, 200)}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InvalidArgument(f"--module: {path} has no attribute {attr!r}; {_ACCEPTED}")
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise InvalidArgument(f"--module: {path}:{attr} is a {type(obj).__name__}, neither an nn.Module nor a "
                                  "function returning one")
        try:
            obj = obj()
        except Exception as exc:
            raise InvalidArgument(f"--module: calling {path}:{attr}() failed: {type(exc).__name__}: "
                                  f"{one_line(exc, 200)} (the factory is called with no arguments)") from None
        if not isinstance(obj, nn.Module):
            raise InvalidArgument(f"--module: {path}:{attr}() returned a {type(obj).__name__}, not an nn.Module")
    return obj, attr.split(".")[-1]


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"4"`` -> ``(4,)``, ``"3,8"`` -> ``(3, 8)`` (tokens, width): one example, no batch axis."""
    parts = [p.strip() for p in text.replace("x", ",").split(",")]
    if not (1 <= len(parts) <= MAX_INPUT_AXES) or not all(p.isascii() and p.isdigit() and len(p) <= 6 for p in parts):
        raise InvalidArgument(f"--input-shape {_shown(text)!r} is not a shape: write one example's sizes without "
                              f"the batch axis, e.g. 4 or 3,8 (tokens, width); at most {MAX_INPUT_AXES} axes")
    shape = tuple(int(p) for p in parts)
    if any(n < 1 or n > MAX_INPUT_SIZE for n in shape):
        raise InvalidArgument(f"--input-shape {_shown(text)!r}: every size must be between 1 and {MAX_INPUT_SIZE}")
    return shape


def parse_input(text: str) -> tuple[str | None, tuple[int, ...]]:
    """``"4"`` -> ``(None, (4,))``; ``"x=3,8"`` -> ``("x", (3, 8))`` (a keyword input of forward);
    ``"input_ids=tokens:4"`` -> ``("input_ids", tokens(4))`` (token ids, :func:`symderiv.graph.tokens.tokens`)."""
    from .tokens import tokens

    name, _, rest = text.rpartition("=")
    if name and not (name.isascii() and name.isidentifier()):
        raise InvalidArgument(f"--input-shape {_shown(text)!r}: {_shown(name)!r} is not a keyword argument name")
    integer = rest.startswith("tokens:")
    shape = parse_input_shape(rest[len("tokens:"):] if integer else rest)
    return (name or None), (tokens(*shape) if integer else shape)
