"""May a folder be taken for a run, search or comparison? The rules, checked without changing anything.

Every folder keras-minibatch makes holds a marker file (`run_files.MARKER_FILE`)
naming its kind; folders made before markers existed are recognised by the file
only their kind writes. The rules, the same for every command:

- A new run takes a missing or empty folder.
- `--resume` takes a folder of the same kind (what may change is the caller's
  to check: `rundir.check_resumable_run`, `search_folder.check_search_dir`).
- `--overwrite` takes only a folder of ours, of the same kind, holding nothing
  but the names that kind writes, never a symbolic link, the current folder, a
  folder above it or the home folder. Anything else is refused and nothing is
  touched.

`folder_claim.FolderClaim` checks again under the folder's lock before it
writes. Standard library only: the CLI calls `check_folder` before TensorFlow is
imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keras_minibatch.run_folders import run_files
from keras_minibatch.run_folders.run_files import LOCK_FILE, MARKER_FILE
from keras_minibatch.run_folders.rundir import RunDirError

__all__ = ["check_folder", "folder_holds_files", "folder_kind"]

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
