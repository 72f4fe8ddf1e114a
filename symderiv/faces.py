"""The faces of an analysis: how the outputs above the facts attach to them.

An :class:`~symderiv.analysis.Analysis` is the facts; its LaTeX, proof document, numeric
verification and notebook HTML are faces that read it (and import it), so the facts cannot
import them.  Each face registers itself here when its module is imported (``import symderiv``
imports them all), and the analysis's methods look it up by name: no import cycle, and no
import inside a function to dodge one.
"""
from __future__ import annotations

from typing import Any, Callable

from .errors import InternalError

__all__ = ["register_face", "face"]

_FACES: dict[str, Callable[..., Any]] = {}


def register_face(name: str, present: Callable[..., Any]) -> None:
    """Register ``present(analysis, **options)`` as the face ``name`` (``latex``, ``proof_document``,
    ``verify``, ``html``); registering a name again replaces it."""
    _FACES[name] = present


def face(name: str) -> Callable[..., Any]:
    """The registered face ``name``."""
    present = _FACES.get(name)
    if present is None:
        raise InternalError(f"the {name!r} face of an analysis is not registered: its module was not imported "
                            f"(import symderiv imports every face)")
    return present
