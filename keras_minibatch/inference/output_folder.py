"""The folder an `--output` goes into: checked writable before TensorFlow is imported, created when writing.

Standard library only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from keras_minibatch.checks import ConfigError
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.rundir import RunDirError


def check_writable_folder(folder: Path, flag: str, value: str) -> None:
    """Checks that `folder` is, or can be made, a folder this process may write into (by writing a file there).

    Raises:
        ConfigError: naming `--flag=value` and the folder that stops it.
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(flag, value, f"is under {str(existing)!r}, which is not a folder")
    try:  # A real write tells what permissions alone do not (a read-only disk, a root user, /proc).
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".keras-minibatch-probe.", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        reason = rundir.disk_refusal(error) or error.strerror or str(error)
        raise ConfigError(flag, value, f"is in a folder that cannot be written ({str(existing)!r}: {reason})") from None


def make_parent_folder(path: Path) -> None:
    """Creates the folder `path` goes into.

    Raises:
        RunDirError: when the file system refuses.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunDirError(f"cannot create the folder of --output {str(path)!r}: {error.strerror or error}.") from error
