"""Taking a folder for a run, search or comparison: lock first, check, delete last.

Every folder keras-minibatch makes holds a marker file (`run_files.MARKER_FILE`)
naming its kind; folders made before markers existed are recognised by the file
only their kind writes. The rules, the same for every command:

- A new run takes a missing or empty folder.
- `--resume` takes a folder of the same kind (what may change is the caller's
  to check: `rundir.check_resumable_run`, `search_dir.check_search_dir`).
- `--overwrite` takes only a folder of ours, of the same kind, holding nothing
  but the names that kind writes, never a symbolic link, the current folder, a
  folder above it or the home folder. Anything else is refused and nothing is
  touched.
- The folder's OS lock is taken before anything in it changes, and the old
  contents are removed only when the caller says the new run's flags and data
  passed their checks (`FolderClaim.clear_previous`). The folder itself and its
  lock file stay, so a second process can never lock a replaced folder.

Standard library only: the CLI calls `check_folder` before TensorFlow is imported.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
from pathlib import Path
from typing import Any

from keras_minibatch.runs import run_files
from keras_minibatch.runs import rundir
from keras_minibatch.runs.locking import FolderLock
from keras_minibatch.runs.run_files import LOCK_FILE, MARKER_FILE
from keras_minibatch.runs.rundir import RunDirError

__all__ = ["FolderClaim", "check_folder", "folder_holds_files", "folder_kind", "make_default_folder", "prepare_run_dir", "remove_if_unused"]

_MAX_NAMES_SHOWN = 4


def _entries(path: Path) -> list[str]:
    """Top-level names in `path`, leaving out the lock, the marker and temporary files of atomic writes."""
    try:
        names = sorted(entry.name for entry in path.iterdir())
    except OSError as error:
        raise RunDirError(f"--workdir {str(path)!r} cannot be read ({error.strerror}).") from error
    return [name for name in names if name not in (LOCK_FILE, MARKER_FILE) and not run_files.is_temporary(name)]


def folder_holds_files(path: str | os.PathLike) -> bool:
    """Whether `path` holds anything but the lock, the marker and temporary files."""
    return bool(_entries(Path(path)))


def folder_kind(path: str | os.PathLike) -> str | None:
    """Returns the kind of keras-minibatch folder `path` is (`run_files.RUN`, ...), or `None`.

    The marker decides; a folder without one (made before markers existed) is
    recognised by the file that only its kind writes.
    """
    path = Path(path)
    try:
        marker = json.loads((path / MARKER_FILE).read_text(encoding="utf-8"))
        if isinstance(marker, dict) and marker.get("kind") in run_files.NAMES_BY_KIND:
            return marker["kind"]
    except (OSError, ValueError):
        pass
    for kind, signature in run_files.SIGNATURE_BY_KIND.items():
        if (path / signature).is_file():
            return kind
    return None


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMES_SHOWN])
    return shown + (f" and {len(names) - _MAX_NAMES_SHOWN} more" if len(names) > _MAX_NAMES_SHOWN else "")


def _protected_reason(path: Path) -> str | None:
    """Why `path` may never be emptied, or `None`."""
    if path.is_symlink():
        return f"is a symbolic link (to {os.path.realpath(path)!r}); --overwrite replaces only a folder named directly"
    real = Path(os.path.realpath(path))
    here = Path(os.path.realpath(os.getcwd()))
    if real == here:
        return "is the current folder"
    if real in here.parents:
        return "holds the current folder"
    if real == Path(os.path.realpath(Path.home())):
        return "is the home folder"
    return None


def check_folder(path: str | os.PathLike, kind: str, *, overwrite: bool = False, resume: bool = False) -> None:
    """Checks, changing nothing, that `path` can be taken for a `kind` folder.

    Args:
        path: The folder.
        kind: `run_files.RUN`, `SEARCH`, `STRATEGY_COMPARISON` or `BATCH_SIZE_COMPARISON`.
        overwrite: Whether the folder's previous contents may be replaced. Defaults to `False`.
        resume: Whether the folder's contents are continued. Defaults to `False`.

    Raises:
        ValueError: for both `overwrite` and `resume`, or an unknown `kind`.
        RunDirError: naming the folder, what it holds and the way out.
    """
    if kind not in run_files.NAMES_BY_KIND:
        raise ValueError(f"`kind` ({kind!r}) must be one of: {', '.join(run_files.NAMES_BY_KIND)}.")
    if overwrite and resume:
        raise ValueError("`overwrite` and `resume` exclude each other: resume continues the folder, overwrite replaces it.")
    path = Path(path)
    shown = str(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--workdir {shown!r} is a file, not a folder; choose another path.")
    if not path.exists():
        if resume:
            raise RunDirError(f"--workdir {shown!r} does not exist, so there is no {kind} to resume; drop --resume to start one.")
        return
    if overwrite:
        reason = _protected_reason(path)
        if reason:
            raise RunDirError(f"--workdir {shown!r} {reason}; choose a folder of its own.")
    names = _entries(path)
    if not names:
        return  # Empty, or left by a process killed before its first write.
    found = folder_kind(path)
    if found is None:
        raise RunDirError(
            f"--workdir {shown!r} holds files keras-minibatch did not write ({_names(names)}); "
            f"choose another folder{' (--overwrite replaces only a folder keras-minibatch made)' if overwrite else ''}."
        )
    if found != kind:
        raise RunDirError(f"--workdir {shown!r} holds a {found}, not a {kind}; choose another folder.")
    if resume:
        return  # A user's notes beside the run are left alone; the caller checks the run itself.
    foreign = [name for name in names if name not in run_files.NAMES_BY_KIND[kind]]
    if overwrite:
        if foreign:
            raise RunDirError(
                f"--workdir {shown!r} holds a {kind} and files keras-minibatch did not write ({_names(foreign)}); "
                "--overwrite would delete them: move them out, or choose another folder."
            )
        return
    finished = kind == run_files.RUN and (path / run_files.METRICS_FILE).is_file()
    resumable = kind in (run_files.RUN, run_files.SEARCH, run_files.STRATEGY_COMPARISON) and not finished
    raise RunDirError(
        f"--workdir {shown!r} already holds a {'finished ' if finished else ''}{kind}; "
        + ("pass --resume to continue it, " if resumable else "")
        + "pass --overwrite to replace it, or choose another folder (the default is a fresh one under runs/)."
    )


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
            if exc_type is not None and self._wrote_marker and not _entries(self.path):
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

    `overwrite` replaces only a keras-minibatch run folder (see the module
    docstring); the folder is locked while its old contents are removed.

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
