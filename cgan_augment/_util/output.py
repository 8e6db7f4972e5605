"""The one guard of every output a command writes: :class:`OutputFolder` for a folder (``fit``,
``report``, ``demo``, ``sample`` to a folder, ``augment``) and :class:`OutputFile` for one picture
(``sample`` to a grid, ``sample --walk``).

The rules are the same for every command, and are checked before any work, so that a refused run
leaves nothing behind:

1. A missing target, or an empty folder, is taken (so is a folder that holds only the manifest of
   an earlier run of the same command, stopped before it wrote anything).
2. A target that an earlier run of the same command wrote ("ours") is reused with ``resume``
   (where the command can resume), replaced with ``force``, and otherwise refused. A folder is
   ours when its manifest (``cgan-augment.json``) names the command, or when it holds one of the
   files every output of the command has (``ours``, e.g. ``model.safetensors`` for ``fit``: folders
   written before the manifest existed); a picture is ours when it carries the command's mark
   (a PNG text chunk or a JPEG comment, written by :func:`~cgan_augment._util.pictures.save_grid`).
3. Anything else, a file where a folder should go or a folder or picture that no run of the command
   wrote, is never written into, even with ``force``.

While a command writes into a folder it holds the folder's lock (:meth:`OutputFolder.locked`,
``.lock`` with its pid); a folder written whole is built beside the target and swapped in at once
(:meth:`OutputFolder.staged`); every path part that comes from a user or a file goes through
:mod:`~cgan_augment._util.safe_names`, which every writer calls.

Messages name the flags (``--force``) on the command line and the arguments (``force=True``) in Python.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from ..errors import OutputDirError
from .files import current_umask, make_dir, replace_folder, write_text_atomic

__all__ = ["OutputFolder", "OutputFile", "OutDirLock", "MANIFEST"]

MANIFEST = "cgan-augment.json"  # in every folder a command creates: which command wrote it


def _refuse(target: Path, command: str, manifest: str, *, ours: bool, can_resume: bool, earlier: str, resume_help: str, redo_help: str) -> None:
    """The rules' one message for a folder that is not free: not ours, or ours without a flag."""
    if not ours:
        found = f"folder is not empty and was not written by `cgan-augment {command}` (no {manifest}); it is left alone, even with"
        raise OutputDirError(f"{target}: {found} force=True. Choose a new or empty folder.",
                             cli_message=f"{target}: {found} --force. Choose a new or empty --out.")
    flags = f"--resume to {resume_help}, --force to {redo_help}" if can_resume else f"--force to {redo_help}"
    args = f"resume=True to {resume_help}, force=True to {redo_help}" if can_resume else f"force=True to {redo_help}"
    raise OutputDirError(f"{target}: holds an earlier {earlier}; pass {args}, or choose another folder.",
                         cli_message=f"{target}: holds an earlier {earlier}; pass {flags}, or choose another --out.")


class OutputFolder:
    """The folder ``path`` that ``command`` writes, under the rules above.

    Args:
        force, resume: the command's flags. can_resume: whether the command can reuse an earlier output.
        ours: files that mark an earlier output of the command even without a manifest.
        earlier: how messages call an earlier output (default ``"<command> output"``).
        resume_help, redo_help: what ``--resume`` and ``--force`` do, for messages.
        manifest: the manifest's file name (``augment`` keeps its documented ``augment.json``,
            which holds its record too).
    """

    def __init__(self, path: Union[str, Path], command: str, *, force: bool = False, resume: bool = False,
                 can_resume: bool = False, ours: tuple = (), earlier: str = "", resume_help: str = "reuse its finished runs",
                 redo_help: str = "", manifest: str = MANIFEST):
        self.path, self.command, self.force, self.resume, self.manifest = Path(path), command, force, resume, manifest
        self.can_resume, self.ours, self.earlier = can_resume, tuple(ours), earlier or f"{command} output"
        self.resume_help, self.redo_help = resume_help, redo_help or ("redo it" if can_resume else "replace it")

    def _manifest_command(self) -> str:
        try:
            return str(json.loads((self.path / self.manifest).read_text()).get("command", ""))
        except (OSError, ValueError, AttributeError):
            return ""

    def is_ours(self) -> bool:
        """Whether the folder holds an earlier output of this command (its manifest or an ``ours`` file)."""
        return self._manifest_command() == self.command or any((self.path / name).exists() for name in self.ours)

    def check(self) -> bool:
        """Apply the rules; call it before any work. Returns whether an earlier output of the command
        is there (to be reused with ``resume`` or replaced with ``force``).

        Raises:
            OutputDirError: the target is a file, a folder that is not ours, or ours without the flag.
        """
        if self.path.exists() and not self.path.is_dir():
            raise OutputDirError(f"{self.path}: exists and is not a folder; choose a folder name.")
        if not self.path.is_dir():
            return False
        ours = self.is_ours()
        if not {p.name for p in self.path.iterdir()} - ({self.manifest, ".lock"} if ours else set()):
            return False  # empty, or an earlier run of ours that stopped before writing anything: nothing to lose
        if ours and (self.force or (self.resume and self.can_resume)):
            return True
        _refuse(self.path, self.command, self.manifest, ours=ours, can_resume=self.can_resume, earlier=self.earlier,
                resume_help=self.resume_help, redo_help=self.redo_help)

    def claim(self, info: dict) -> Path:
        """Create the folder (once the inputs are known good) and write its manifest with ``info``."""
        make_dir(self.path)
        self.write_manifest(self.path, info)
        return self.path

    def write_manifest(self, folder: Path, info: dict) -> None:
        from .._version import __version__

        write_text_atomic(Path(folder) / self.manifest,
                          json.dumps(dict(info, command=self.command, cgan_augment=__version__), indent=2) + "\n")

    def locked(self) -> "OutDirLock":
        """The folder's lock for the length of a ``with`` block (a live holder is overridden only with ``force``)."""
        return OutDirLock(self.path, self.force)

    @contextmanager
    def staged(self, info: dict) -> Iterator[Path]:
        """A new temporary folder beside the target to build the whole output in; when the block
        ends cleanly the manifest is written into it and it replaces the target in one rename
        (an earlier output is renamed aside until then). When it raises, the target is as it was.

        Raises:
            OutputDirError: the folder cannot be made or renamed into place.
        """
        out = self.path
        earlier = out.is_dir() and any(out.iterdir())
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        except OSError as e:
            raise OutputDirError(f"{out}: cannot create the output folder ({e.strerror}).") from None
        try:
            yield tmp
            self.write_manifest(tmp, info)
            os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it 0700
            replace_folder(tmp, out)
        except OSError as e:
            kept = "the earlier output in it is unchanged" if earlier else "nothing was written to it"
            raise OutputDirError(f"{out}: could not write ({e.strerror or e}); {kept}.") from None
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


class OutputFile:
    """One picture at ``path`` that ``command`` writes, marked ``mark`` (``what`` names it in messages):
    the same rules, the mark inside the file standing for the manifest."""

    def __init__(self, path: Union[str, Path], command: str, mark: str, what: str, *, force: bool = False):
        self.path, self.command, self.mark, self.what, self.force = Path(path), command, mark, what, force

    def check(self) -> bool:
        """As :meth:`OutputFolder.check` (a picture cannot be resumed, only replaced).

        Raises:
            OutputDirError: ``path`` is a folder, a file without the mark, or ours without ``force``.
        """
        from .pictures import grid_mark

        if not self.path.exists():
            return False
        if self.path.is_dir():
            raise OutputDirError(f"{self.path}: is a folder; a {self.what} needs a file name.")
        ours = grid_mark(self.path) == self.mark
        if ours and self.force:
            return True
        if not ours:
            raise OutputDirError(f"{self.path}: exists and was not written by `cgan-augment {self.command}`; it is left alone, "
                                 "even with force=True. Choose another file name.",
                                 cli_message=f"{self.path}: exists and was not written by `cgan-augment {self.command}`; "
                                             "it is left alone, even with --force. Choose another --out.")
        raise OutputDirError(f"{self.path}: holds an earlier {self.what}; pass force=True to replace it, or choose another file name.",
                             cli_message=f"{self.path}: holds an earlier {self.what}; pass --force to replace it, or choose "
                                         "another --out.")


class OutDirLock:
    """``out/.lock`` holding the owner's pid, for the length of a ``with`` block: two runs never
    write into one folder at once. A lock whose process is gone is taken over; ``force`` takes
    over a live one too.

    Raises (on entry):
        OutputDirError: another live process holds the lock (and not ``force``), or ``out`` is not writable.
    """

    def __init__(self, out: Union[str, Path], force: bool = False):
        self.path, self.force, self.held = Path(out) / ".lock", force, False

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                self.held = True
                return self
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid) and not self.force:
                    raise OutputDirError(f"{self.path.parent}: another fit (pid {pid}) is writing here; "
                                         "wait for it, use another --out, or pass --force.") from None
                self.path.unlink(missing_ok=True)
            except OSError as e:
                raise OutputDirError(f"{self.path.parent}: cannot write here ({e.strerror}).") from None
        raise OutputDirError(f"{self.path.parent}: could not take the lock file {self.path}.")

    def __exit__(self, *exc):
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
