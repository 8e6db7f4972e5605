"""Class names as file and folder names. Class names come from data and model files that may be
forged (a model file's metadata, an ``.npz``'s ``classes``), so none becomes a path part as it
is: :func:`class_file_names` is what every writer uses."""

from __future__ import annotations

import re
from typing import Sequence

from ..errors import DataError

__all__ = ["class_file_name", "class_file_names"]

_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")  # separators (POSIX and Windows) and control characters
_MAX_BYTES = 200  # under the 255-byte name limit of common file systems, leaving room for a suffix


def class_file_name(name) -> str:
    """``name`` as one safe path part: separators and control characters become ``_``, a leading
    dot becomes ``_`` (so ``.``, ``..`` and hidden names cannot occur), an empty name is ``_``,
    and a name over 200 UTF-8 bytes is cut there. A name already safe (any ordinary folder name,
    spaces and all) is returned unchanged, so data read from class folders keeps its names."""
    safe = _UNSAFE.sub("_", str(name))
    if safe.startswith("."):
        safe = "_" + safe[1:]
    safe = safe.encode("utf-8", "surrogatepass")[:_MAX_BYTES].decode("utf-8", "ignore")
    return safe or "_"


def class_file_names(classes: Sequence, source: str = "the class names") -> list:
    """:func:`class_file_name` of each class, in order.

    Raises:
        DataError: two classes would get the same file name (``source`` names where the classes
            came from, e.g. a model file's path).
    """
    names, seen = [], {}
    for c in classes:
        safe = class_file_name(c)
        if safe in seen:
            raise DataError(f"{source}: classes {seen[safe]!r} and {str(c)!r} would both be written as {safe!r}; "
                            "rename one of them.")
        seen[safe] = str(c)
        names.append(safe)
    return names
