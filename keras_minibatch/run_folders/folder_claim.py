"""Taking a folder for a run, search or comparison: lock first, check, delete last.

`FolderClaim` takes a named folder by the rules of `folder_checks`: the folder's
OS lock is taken before anything in it changes, and the old contents are removed
only when the caller says the new run's flags and data passed their checks
(`FolderClaim.clear_previous`). The folder itself and its lock file stay, so a
second process can never lock a replaced folder. `make_default_folder` takes a
fresh folder under `runs/` instead.

Standard library only, like the rest of `runs`.
"""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path
from typing import Any

from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.folder_checks import check_folder, folder_holds_files, folder_kind
from keras_minibatch.run_folders.locking import FolderLock
from keras_minibatch.run_folders.run_files import LOCK_FILE, MARKER_FILE
from keras_minibatch.run_folders.rundir import RunDirError

__all__ = ["FolderClaim", "make_default_folder", "prepare_run_dir", "remove_if_unused"]


class FolderClaim:
    """Holds a folder for one run, search or comparison; use it as a context manager.

    On entry it creates the folder if missing, takes its OS lock, checks it again
    under the lock (`check_folder`) and writes the marker. The previous contents
    of an overwritten folder stay until `clear_previous()`; a claim that fails
    before anything else was written leaves the folder as it found it.

    Args:
        path: The folder.
        kind: The kind of folder (see `check_folder`).
        overwrite: Whether previous contents may be replaced. Defaults to `False`.
        resume: Whether the contents are continued. Defaults to `False`.

    Raises:
        RunDirError: (on entry) as `check_folder`, or when the folder cannot be
            created or locked (a read-only or full disk).
        FolderLockedError: (on entry) when another live process holds the folder.
    """

    def __init__(self, path: str | os.PathLike, kind: str, *, overwrite: bool = False, resume: bool = False):
        self.path = Path(path)
        self.kind = kind
        self.overwrite = overwrite
        self.resume = resume
        self._lock = FolderLock(self.path)
        self._wrote_marker = False

    def __enter__(self) -> "FolderClaim":
        check_folder(self.path, self.kind, overwrite=self.overwrite, resume=self.resume)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunDirError(f"cannot create --workdir {str(self.path)!r}: {error.strerror or error}.") from error
        self._lock.acquire()
        try:
            check_folder(self.path, self.kind, overwrite=self.overwrite, resume=self.resume)  # Again, now that it is ours.
            if not (self.path / MARKER_FILE).is_file() or folder_kind(self.path) != self.kind:
                self._write_marker()
        except BaseException:
            self._lock.release()
            raise
        return self

    def _write_marker(self) -> None:
        from keras_minibatch import __version__

        record: dict[str, Any] = {
            "kind": self.kind, "made_by": f"keras-minibatch {__version__}",
            "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        }
        rundir.write_json_atomic(self.path / MARKER_FILE, record)
        self._wrote_marker = True

    def clear_previous(self) -> None:
        """Removes an overwritten folder's previous contents (the lock and marker stay).

        Call it once the new run's flags and data have passed their checks. Does
        nothing unless the claim was made with `overwrite`.

        Raises:
            RunDirError: naming what could not be removed.
        """
        if not self.overwrite:
            return
        for name in sorted(os.listdir(self.path)):
            if name in (LOCK_FILE, MARKER_FILE):
                continue
            entry = self.path / name
            try:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            except OSError as error:
                raise RunDirError(f"cannot remove {str(entry)!r} to replace the old contents: {error.strerror or error}.") from error
        self._write_marker()  # A fresh date for the new contents.

    def __exit__(self, exc_type: Any, *exc_info: Any) -> None:
        try:
            if exc_type is not None and self._wrote_marker and not folder_holds_files(self.path):
                (self.path / MARKER_FILE).unlink(missing_ok=True)  # Nothing was written: leave no trace.
        except (OSError, RunDirError):
            pass  # Best effort only: the failure being reported matters more.
        finally:
            self._lock.release()


def make_default_folder(name: str, *, root: str | os.PathLike = rundir.DEFAULT_RUNS_ROOT) -> Path:
    """Creates and returns a fresh timestamped folder under `root`, e.g. `runs/20261128-093000-digits`.

    The folder is created with an exclusive `mkdir`, so runs started at the same
    moment each get their own (a numeric suffix tells them apart).

    Raises:
        RunDirError: when `root` cannot be created or written.
    """
    candidate = rundir.default_run_dir(name, root=root)
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        base, suffix = candidate, 1
        while True:
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                suffix += 1
                candidate = base.with_name(f"{base.name}-{suffix}")
    except OSError as error:
        raise RunDirError(f"cannot create a run folder under {str(root)!r}: {error.strerror or error}.") from error


def remove_if_unused(path: str | os.PathLike) -> None:
    """Removes a folder `make_default_folder` made when nothing but a lock file was written into it."""
    path = Path(path)
    try:
        if path.is_dir() and set(os.listdir(path)) <= {LOCK_FILE}:
            (path / LOCK_FILE).unlink(missing_ok=True)
            path.rmdir()
    except OSError:
        pass  # Best effort: an empty folder left behind loses nothing.


def prepare_run_dir(workdir: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Creates a run folder, refusing to reuse one that holds files unless `overwrite`.

    `overwrite` replaces only a keras-minibatch run folder (the rules are in
    `folder_checks`); the folder is locked while its old contents are removed.

    Args:
        workdir: The run folder.
        overwrite: Whether to delete an existing run folder's contents. Defaults to `False`.

    Returns:
        The folder as a `Path`.

    Raises:
        RunDirError: naming the folder, what it holds and the way out.
        FolderLockedError: when another live process is using the folder.
    """
    with FolderClaim(workdir, run_files.RUN, overwrite=overwrite) as claim:
        claim.clear_previous()
    return claim.path
