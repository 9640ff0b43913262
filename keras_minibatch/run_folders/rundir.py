"""Run folders: their errors, a fresh folder's name, writing into them safely, and the run a `--resume` continues.

Every file goes to a temporary name in the same folder and is renamed into place,
so a crash or a full disk leaves the previous good version (rename is atomic on
POSIX within one file system). Which folders may be taken is `folder_checks`'
job, taking them `folder_claim`'s. Standard library only: the CLI checks the
folder before TensorFlow is imported.
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
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keras_minibatch.run_folders.run_files import CHECKPOINT_DIR, CONFIG_FILE, LOCK_FILE, MARKER_FILE, METRICS_FILE, STATE_FILE, is_temporary

if TYPE_CHECKING:
    from keras_minibatch.config import TrainConfig

DEFAULT_RUNS_ROOT = "runs"


class RunDirError(RuntimeError):
    """A run folder cannot be used or written; the message names the path."""


class CorruptCheckpointError(RunDirError):
    """A saved checkpoint cannot be read; the message names the file and what to do."""


def default_run_dir(name: str, *, root: str | os.PathLike = DEFAULT_RUNS_ROOT, now: datetime.datetime | None = None) -> Path:
    """Returns a timestamped folder path under `root`, e.g. `runs/20261128-093000-digits`.

    A numeric suffix is added when that folder already exists. Only a name:
    `folder_claim.make_default_folder` creates it, atomically, for a run.
    """
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(name).name or name).strip("_.") or "run"
    candidate = Path(root) / f"{stamp}-{slug}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = Path(root) / f"{stamp}-{slug}-{suffix}"
    return candidate


# Why a disk refused a write, in words; the one table every "cannot write" message uses.
_DISK_REFUSALS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
}


def disk_refusal(error: OSError) -> str | None:
    """Says why the disk refused a write (full, over quota, read-only, no permission), or `None` for other errors."""
    return _DISK_REFUSALS.get(error.errno)


def _describe_os_error(path: Path, error: OSError) -> str:
    missing = "the folder does not exist" if error.errno == errno.ENOENT else None
    reason = disk_refusal(error) or missing or error.strerror or str(error)
    return (
        f"cannot write {str(path)!r}: {reason}; the previous version, if any, is unchanged. "
        "Free space or make it writable, then rerun (a run or search continues with --resume)."
    )


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
        os.chmod(temp, _file_mode())  # mkstemp makes 0600; files of a run follow the umask like any other.
        yield temp
        os.replace(temp, target)
    except OSError as error:
        raise RunDirError(_describe_os_error(target, error)) from error
    finally:
        if temp.exists():
            temp.unlink()


def _file_mode() -> int:
    """The mode `open()` would give a new file under the current umask."""
    try:  # Linux tells the umask without changing it (os.umask would, for every thread).
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` through a temporary file and an atomic rename."""
    with atomic_path(path) as temp:
        with open(temp, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())


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


def check_resumable_run(config: "TrainConfig", workdir: str | os.PathLike) -> "TrainConfig":
    """Checks that `workdir` holds an unfinished run of this same configuration.

    Only `epochs` may differ, and only upward of the epochs already done (to
    train a run further than first planned); every other setting, the data
    path included, must be the run's. `jit_compile="auto"` matches the choice
    the run recorded, which the resumed run keeps. The data's content is
    compared once it is loaded (`training.saved_run.check_same_data`).

    Returns:
        The configuration to resume with: `config`, its `jit_compile="auto"`
        replaced by the run's recorded choice.

    Raises:
        RunDirError: naming what differs, or why there is nothing to resume.
    """
    from keras_minibatch.config import JIT_COMPILE_AUTO, TrainConfig  # Standard library only, like this module.

    path = Path(workdir)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        if path.is_dir() and all(entry.name in (LOCK_FILE, MARKER_FILE) or is_temporary(entry.name) for entry in path.iterdir()):
            return config  # Killed before its first write: nothing to keep, start afresh.
        raise RunDirError(f"--workdir {str(path)!r} holds no run to resume ({CONFIG_FILE} is missing); drop --resume to start one.")
    try:
        saved = TrainConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8"))["config"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RunDirError(f"{str(config_path)!r} is corrupt ({error}); pass --overwrite to start the run again.") from error
    if config.jit_compile == JIT_COMPILE_AUTO:
        config = config.replace(jit_compile=saved.jit_compile)  # The choice `auto` made when the run started.
    if saved.replace(epochs=config.epochs) != config:
        now, before = config.to_dict(), saved.to_dict()
        changes = ", ".join(f"{key}: {before[key]!r} there, {now[key]!r} now" for key in now if key != "epochs" and now[key] != before[key])
        raise RunDirError(f"--workdir {str(path)!r} was made by a different configuration ({changes}); resume with the same flags, or pass --overwrite.")
    if (path / METRICS_FILE).is_file():
        raise RunDirError(f"--workdir {str(path)!r} holds a finished run ({METRICS_FILE} exists); nothing to resume.")
    epochs_done = _epochs_done(path / CHECKPOINT_DIR / STATE_FILE)
    if epochs_done is not None and config.epochs < epochs_done:
        raise RunDirError(
            f"--epochs={config.epochs} is fewer than the {epochs_done} epochs the run in {str(path)!r} has done; "
            f"resume with --epochs={epochs_done} or more."
        )
    return config


def _epochs_done(state_path: Path) -> int | None:
    """The epochs a checkpoint records, or `None` (no checkpoint, or one `load_checkpoint` will report as damaged)."""
    try:
        epochs_done = json.loads(state_path.read_text(encoding="utf-8"))["epochs_done"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return epochs_done if isinstance(epochs_done, int) and not isinstance(epochs_done, bool) else None
