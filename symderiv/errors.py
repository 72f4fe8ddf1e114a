"""The exception hierarchy: every error symderiv raises on bad input is a SymderivError.

Messages are one line, name the offending value and say what would be accepted.
"""
from __future__ import annotations

__all__ = [
    "SymderivError",
    "NetworkError",
    "InitError",
    "RegistryError",
    "ClaimSyntaxError",
    "ClaimNameError",
    "SizeLimitError",
    "UnsupportedError",
    "InvalidArgument",
    "InternalError",
    "check_argument",
    "check_seed",
    "MAX_SEED",
]

#: seeds feed NumPy's and Python's generators: an integer 0 … MAX_SEED everywhere (as the CLI's --seed)
MAX_SEED = 2**32 - 1


class SymderivError(Exception):
    """Base class of every error symderiv raises about its input."""


class NetworkError(SymderivError, ValueError):
    """The network description is malformed (sizes, activations, loss)."""


class InitError(SymderivError, ValueError):
    """An initialization does not fit the network."""


class RegistryError(SymderivError, KeyError):
    """An unknown name was looked up in a registry (activation, loss, optimizer)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ClaimSyntaxError(SymderivError, ValueError):
    """A claim could not be parsed."""


class ClaimNameError(SymderivError, ValueError):
    """A claim uses a name symderiv does not know."""


class SizeLimitError(SymderivError, ValueError):
    """A request would build an object too large to hold (e.g. millions of explicit symbols)."""


class UnsupportedError(SymderivError, ValueError):
    """A well-formed request that symderiv does not support (yet)."""


class InvalidArgument(SymderivError, ValueError):
    """An argument breaks the stated rule of a public function (strategies, numeric routines)."""


class InternalError(SymderivError, RuntimeError):
    """A defect inside symderiv (never a verdict about the input): the CLI exits 4 on it.

    Public entry points turn any exception that is not a SymderivError into this one, with a
    one-line message; the original traceback stays attached as ``__cause__``."""


def check_argument(condition: bool, message: str, *args: object, error: type = SymderivError) -> None:
    """Raise ``error(message.format(*args))`` unless ``condition`` holds."""
    if not condition:
        raise error(message.format(*args))


def check_seed(seed: object, what: str = "seed") -> None:
    """Refuse, in one line, a seed that is not an integer 0 … :data:`MAX_SEED` (bools included)."""
    import numbers

    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        value = int(seed)
        if 0 <= value <= MAX_SEED:
            return
        shown = f"an integer of {value.bit_length()} bits" if value.bit_length() > 64 else str(value)
    else:
        shown = repr(seed)[:60]
    raise InvalidArgument(f"{what} must be an integer 0 … {MAX_SEED}, got {shown}")
