"""Atomic file writes: every file the project writes appears whole or not at all; and output
folders claimed by a manifest, so that no command writes over files it did not write."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from ..errors import OutputDirError

__all__ = ["atomic_path", "write_text_atomic", "make_dir", "replace_folder", "current_umask", "MANIFEST",
           "check_output_folder", "write_manifest"]

MANIFEST = "cgan-augment.json"  # in every folder a command creates: which command wrote it


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


def _manifest_command(folder: Path) -> str:
    try:
        return str(json.loads((folder / MANIFEST).read_text()).get("command", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def check_output_folder(out: Union[str, Path], command: str, *, force: bool = False, resume: bool = False,
                        can_resume: bool = False, also_ours: tuple = ()) -> bool:
    """May ``command`` write into the folder ``out``? Call it before any work, create the folder
    (and :func:`write_manifest`) only once the inputs are known good.

    Returns:
        Whether ``out`` holds an earlier output of ``command`` (its manifest, or one of the files
        named in ``also_ours``) that ``force`` (or, if ``can_resume``, ``resume``) lets it reuse.

    Raises:
        OutputDirError: ``out`` is a file; or a folder that is not empty and was not written by
            ``command`` (left alone even with ``force``); or an earlier output of ``command`` and
            neither ``force`` nor ``resume`` was given.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{out}: exists and is not a folder; choose a folder name.")
    if not (out.is_dir() and any(out.iterdir())):
        return False
    if _manifest_command(out) != command and not any((out / name).exists() for name in also_ours):
        raise OutputDirError(f"{out}: folder is not empty and was not written by `cgan-augment {command}` (no {MANIFEST}); "
                             "it is left alone, even with --force. Choose a new or empty folder.",
                             cli_message=f"{out}: folder is not empty and was not written by `cgan-augment {command}` "
                                         f"(no {MANIFEST}); it is left alone, even with --force. Choose a new or empty --out.")
    if force or (resume and can_resume):
        return True
    flags, args = ("--resume to reuse its finished runs, --force to redo it", "resume=True to reuse its finished runs, "
                   "force=True to redo it") if can_resume else ("--force to replace it", "force=True to replace it")
    raise OutputDirError(f"{out}: holds an earlier {command} output; pass {args}, or choose another folder.",
                         cli_message=f"{out}: holds an earlier {command} output; pass {flags}, or choose another --out.")


def write_manifest(out: Union[str, Path], command: str, info: dict) -> None:
    """Mark ``out`` as written by ``command`` (with ``info``, JSON-able) for :func:`check_output_folder`."""
    from .._version import __version__

    write_text_atomic(Path(out) / MANIFEST, json.dumps(dict(info, command=command, cgan_augment=__version__), indent=2) + "\n")
