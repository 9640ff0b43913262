"""Run folders: choosing them, refusing to clobber them, and writing into them safely.

Every file goes to a temporary name in the same folder and is renamed into place,
so a crash or a full disk leaves the previous good version (rename is atomic on
POSIX within one file system). Standard library only: the CLI checks the folder
before TensorFlow is imported.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import errno
import io
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keras_minibatch.config import TrainConfig

DEFAULT_RUNS_ROOT = "runs"
# Files of a run folder that decide whether it can be resumed.
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"


class RunDirError(RuntimeError):
    """A run folder cannot be used or written; the message names the path."""


class CorruptCheckpointError(RunDirError):
    """A saved checkpoint cannot be read; the message names the file and what to do."""


def default_run_dir(name: str, *, root: str | os.PathLike = DEFAULT_RUNS_ROOT, now: datetime.datetime | None = None) -> Path:
    """Returns a fresh timestamped folder path under `root`, e.g. `runs/20261128-093000-digits`.

    A numeric suffix is added when that folder already exists, so two runs started in
    the same second never share a folder.
    """
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).name or name).strip("_.") or "run"
    candidate = Path(root) / f"{stamp}-{slug}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = Path(root) / f"{stamp}-{slug}-{suffix}"
    return candidate


def prepare_run_dir(workdir: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Creates `workdir`, refusing to reuse a non-empty one unless `overwrite`.

    Args:
        workdir: The run folder.
        overwrite: Whether to delete an existing non-empty folder's contents.
            Defaults to `False`.

    Returns:
        The folder as a `Path`.

    Raises:
        RunDirError: if the folder holds files and `overwrite` is false, if the path
            is a file, or if it cannot be created.
    """
    path = Path(workdir)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--workdir {str(path)!r} is a file, not a folder; choose another path.")
    if path.is_dir() and any(path.iterdir()):
        if not overwrite:
            raise RunDirError(
                f"--workdir {str(path)!r} already holds a run; pass --overwrite to replace it, "
                "or choose another folder (the default is a fresh one under runs/)."
            )
        shutil.rmtree(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunDirError(f"cannot create --workdir {str(path)!r}: {error.strerror or error}.") from error
    return path


def check_run_dir_usable(workdir: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Does the checks of `prepare_run_dir` without creating or deleting anything."""
    path = Path(workdir)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"--workdir {str(path)!r} is a file, not a folder; choose another path.")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise RunDirError(
            f"--workdir {str(path)!r} already holds a run; pass --overwrite to replace it, "
            "or choose another folder (the default is a fresh one under runs/)."
        )


def _describe_os_error(path: Path, error: OSError) -> str:
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EROFS: "the file system is read-only",
        errno.ENOENT: "the folder does not exist",
        errno.EACCES: "permission denied",
        errno.EDQUOT: "the disk quota is exceeded",
    }
    reason = reasons.get(error.errno, error.strerror or str(error))
    return f"cannot write {str(path)!r}: {reason}; the previous version, if any, is unchanged."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it onto `path` on success.

    The temporary name keeps `path`'s suffix (Keras insists on `.keras`). On any
    error the temporary file is removed and `path` is left as it was.

    Raises:
        RunDirError: when the file system refuses the write (full, read-only, missing).
    """
    target = Path(path)
    try:
        # Keep every suffix: Keras insists on `.keras` and `.weights.h5` endings.
        suffixes = "".join(target.suffixes)
        stem = target.name[: len(target.name) - len(suffixes)] if suffixes else target.name
        handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{stem}.", suffix=f".tmp{suffixes}")
        os.close(handle)
    except OSError as error:
        raise RunDirError(_describe_os_error(target, error)) from error
    temp = Path(temp_name)
    try:
        yield temp
        os.replace(temp, target)
    except OSError as error:
        raise RunDirError(_describe_os_error(target, error)) from error
    finally:
        if temp.exists():
            temp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Writes `text` to `path` through a temporary file and an atomic rename."""
    with atomic_path(path) as temp:
        with open(temp, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())


def _json_safe(value: Any) -> Any:
    """Makes NaN and infinities JSON-valid (`null`) and numpy scalars plain."""
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Writes `data` as indented, strictly valid JSON (NaN becomes `null`)."""
    write_text_atomic(path, json.dumps(_json_safe(data), indent=2, sort_keys=False, allow_nan=False) + "\n")


def write_history_csv_atomic(path: str | os.PathLike, history: Mapping[str, Sequence[float]]) -> None:
    """Writes a Keras history dict as CSV: an `epoch` column (1-based) then one per metric."""
    keys = list(history)
    num_epochs = max((len(values) for values in history.values()), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for epoch in range(num_epochs):
        row = [epoch + 1]
        for key in keys:
            values = history[key]
            row.append(repr(float(values[epoch])) if epoch < len(values) else "")
        writer.writerow(row)
    write_text_atomic(path, buffer.getvalue())


def check_resumable_run(config: "TrainConfig", workdir: str | os.PathLike) -> Path:
    """Checks that `workdir` holds an unfinished run of this same configuration.

    Only `epochs` may differ (to train a run further than first planned).

    Raises:
        RunDirError: naming what differs, or why there is nothing to resume.
    """
    from keras_minibatch.config import TrainConfig  # Standard library only, like this module.

    path = Path(workdir)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        if path.is_dir() and all(entry.name == ".lock" for entry in path.iterdir()):
            return path  # Killed before its first write: nothing to keep, start afresh.
        raise RunDirError(f"--workdir {str(path)!r} holds no run to resume ({CONFIG_FILE} is missing); drop --resume to start one.")
    try:
        saved = TrainConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8"))["config"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunDirError(f"{str(config_path)!r} is corrupt ({error}); pass --overwrite to start the run again.") from error
    if saved.replace(epochs=config.epochs) != config:
        now, before = config.to_dict(), saved.to_dict()
        changes = ", ".join(f"{key}: {before[key]!r} there, {now[key]!r} now" for key in now if key != "epochs" and now[key] != before[key])
        raise RunDirError(f"--workdir {str(path)!r} was made by a different configuration ({changes}); resume with the same flags, or pass --overwrite.")
    if (path / METRICS_FILE).is_file():
        raise RunDirError(f"--workdir {str(path)!r} holds a finished run ({METRICS_FILE} exists); nothing to resume.")
    return path
