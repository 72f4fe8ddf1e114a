"""One convention for every JSON face of symderiv.

* ``to_dict()`` returns the plain, JSON-ready ``dict`` (strings, numbers, booleans, None, lists, dicts);
* ``to_json()`` returns that dict as JSON text: deterministic (the same input gives the same bytes:
  every dict is built in a fixed order), two-space indented, UTF-8 characters kept, one final newline;
* ``to_json_text()`` is a deprecated alias of ``to_json()`` (kept for one release).

:class:`JsonFace` gives a class with a ``to_dict()`` the other two.
"""
from __future__ import annotations

import json
import warnings
from typing import Any, NoReturn

__all__ = ["JsonFace", "JsonText", "dumps"]


def dumps(data: Any) -> "JsonText":
    """``data`` as symderiv's JSON text (see the module docstring).

    ``allow_nan=False``: NaN and infinities are not JSON; a face must write them as strings."""
    return JsonText(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


_MOVED = "to_json() returns the JSON text; use to_dict() for the dict (e.g. a.to_dict()[{key!r}])"


class JsonText(str):
    """The text ``to_json()`` returns: an ordinary ``str``.

    Until this release ``to_json()`` returned the dict; indexing the text with a key
    (``a.to_json()["parameters"]``) raises a ``TypeError`` that names ``to_dict()`` instead of
    Python's bare "string indices must be integers"."""

    __slots__ = ()

    def __getitem__(self, key: Any) -> str:
        if isinstance(key, str):
            raise TypeError(_MOVED.format(key=key))
        return str.__getitem__(self, key)

    def _dict_method(self, name: str) -> NoReturn:
        raise AttributeError(f"'str' has no attribute {name!r}: " + _MOVED.format(key="parameters"))

    def keys(self) -> NoReturn:
        self._dict_method("keys")

    def items(self) -> NoReturn:
        self._dict_method("items")

    def values(self) -> NoReturn:
        self._dict_method("values")

    def get(self, *args: Any) -> NoReturn:
        self._dict_method("get")


class JsonFace:
    """Mixin: ``to_json()`` and the deprecated ``to_json_text()`` from the class's ``to_dict()``."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - every face defines it
        raise NotImplementedError

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text, byte-identical for the same input."""
        return dumps(self.to_dict())

    def to_json_text(self) -> str:
        """Deprecated alias of :meth:`to_json` (kept for one release)."""
        warnings.warn("to_json_text() is deprecated: to_json() now returns the same text "
                      "(and to_dict() the dict)", DeprecationWarning, stacklevel=2)
        return self.to_json()
