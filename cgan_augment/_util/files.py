"""Atomic file writes: every file the project writes appears whole or not at all, a whole folder
replaces another in one rename. The rules of what a command may write over are :mod:`.output`'s;
names from data and model files become path parts through :mod:`.safe_names`."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from ..errors import OutputDirError

__all__ = ["atomic_path", "write_text_atomic", "make_dir", "replace_folder", "current_umask"]


def current_umask() -> int:
    """The process umask (reading it means setting it, so set it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Union[str, Path], fsync: bool = False) -> Iterator[str]:
    """A temporary file name beside ``path`` to write to. When the block ends cleanly, the file
    gets the usual permissions (mkstemp makes it 0600), is optionally fsynced, and is renamed over
    ``path`` in one step; when it raises, the temporary file is removed and ``path`` is untouched.

    Raises:
        OutputDirError: the write or the rename failed (full disk, read-only folder, ...).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputDirError(f"{path}: cannot write here ({e.strerror}).") from None
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~current_umask())
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise OutputDirError(f"{path}: could not write ({e.strerror or e}); the previous file, if any, is unchanged.") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def make_dir(path: Union[str, Path]) -> Path:
    """Create the folder ``path`` (and its parents) if needed.

    Raises:
        OutputDirError: it cannot be created (a file in the way, no permission, ...).
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputDirError(f"{path}: cannot create the output folder ({e.strerror}).") from None
    return path


def write_text_atomic(path: Union[str, Path], text: str) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def replace_folder(new: Union[str, Path], out: Union[str, Path]) -> None:
    """Put the finished folder ``new`` at ``out`` (both in the same parent folder). A non-empty
    ``out`` is renamed aside first, then ``new`` is renamed in, then the old folder is deleted, so
    a crash at any moment loses neither tree (the old one is ``out`` or ``.NAME.*.old`` beside it).

    Raises:
        OSError: a rename failed; ``out`` is then as it was (the old folder is put back).
        OutputDirError: ``new`` is in place but the old folder could not be deleted.
    """
    new, out = Path(new), Path(out)
    if not (out.is_dir() and any(out.iterdir())):
        os.replace(new, out)  # onto nothing or an empty folder: a single rename
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old)  # onto the empty placeholder
    try:
        os.replace(new, out)
    except OSError:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if old.exists():
        raise OutputDirError(f"{out}: written, but the earlier output moved aside to {old} could not be deleted; "
                             "delete it by hand.")
