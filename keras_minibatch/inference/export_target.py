"""Where `export` writes: checking the target, marking what it wrote, and replacing only its own exports.

A SavedModel is a folder: it is written beside its target under a temporary name, the
marker (`run_files.MARKER_FILE`, as run folders have) put inside, then renamed into place.
A TFLite model is one file, written atomically, with a hidden marker file beside it that
records its hash, so a file changed since is no longer taken for ours. `--overwrite`
replaces only a target that carries our marker (and, for a folder, nothing else but what a
SavedModel holds). Standard library only: the command line checks the target before
TensorFlow is imported.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keras_minibatch.checks import ConfigError
from keras_minibatch.inference.output_folder import check_writable_folder, make_parent_folder
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.run_files import MARKER_FILE
from keras_minibatch.run_folders.rundir import RunDirError

FORMATS = ("saved_model", "tflite")
_KINDS = {"saved_model": "saved_model export", "tflite": "tflite export"}
# What `tf.saved_model.save` writes at the top of a SavedModel folder.
_SAVED_MODEL_NAMES = frozenset({"saved_model.pb", "saved_model.pbtxt", "variables", "assets", "fingerprint.pb"})


def check_format(format: str) -> str:
    """Returns `format` if it is one of `FORMATS`.

    Raises:
        ConfigError: naming the value and what is allowed.
    """
    if format not in FORMATS:
        raise ConfigError("format", format, f"must be one of: {', '.join(FORMATS)}")
    return format


def tflite_marker(path: Path) -> Path:
    """The hidden marker file beside a TFLite model: `.<name>.keras-minibatch.json`."""
    return path.parent / f".{path.name}{MARKER_FILE}"


def _read_marker(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _why_not_ours(path: Path, format: str) -> str | None:
    """Why the existing `path` is not an export of `format` that keras-minibatch wrote, or `None`."""
    if path.is_symlink():
        return "it is a symbolic link"
    if format == "saved_model":
        marker = _read_marker(path / MARKER_FILE)
        if marker.get("kind") != _KINDS[format]:
            return "it holds no keras-minibatch export marker" if not marker else f"it holds a {marker.get('kind')}, not a SavedModel export"
        foreign = sorted(entry.name for entry in path.iterdir() if entry.name not in _SAVED_MODEL_NAMES | {MARKER_FILE})
        return f"it also holds files keras-minibatch did not write ({', '.join(foreign[:4])})" if foreign else None
    marker = _read_marker(tflite_marker(path))
    if marker.get("kind") != _KINDS[format]:
        return f"no keras-minibatch export marker ({tflite_marker(path).name}) is beside it"
    try:
        changed = hashlib.sha256(path.read_bytes()).hexdigest() != marker.get("sha256")
    except OSError as error:
        return f"it cannot be read ({error.strerror or error})"
    return "it was changed since keras-minibatch wrote it" if changed else None


def check_export_target(path: str | os.PathLike, format: str, *, overwrite: bool = False) -> None:
    """Checks, changing nothing, that an export of `format` may be written to `path`.

    Raises:
        ConfigError: for an unknown `format`, a target of the wrong kind (a
            file for a SavedModel, a folder for TFLite), or a folder that cannot be written.
        RunDirError: when the target exists and `overwrite` is not given, or it
            is not an export keras-minibatch wrote.
    """
    check_format(format)
    path = Path(path)
    if format == "saved_model" and path.exists() and not path.is_dir():
        raise ConfigError("output", str(path), "is a file; a SavedModel is a folder: name a folder")
    if format == "tflite" and path.is_dir():
        raise ConfigError("output", str(path), "is a folder; a TFLite model is one file, e.g. model.tflite")
    exists = path.is_symlink() or (path.is_dir() and any(path.iterdir())) or path.is_file()
    if exists:
        if not overwrite:
            raise RunDirError(f"--output {str(path)!r} already exists; pass --overwrite to replace it (only an export keras-minibatch wrote), or choose another path.")
        reason = _why_not_ours(path, format)
        if reason is None and format == "saved_model" and Path(os.path.realpath(path)) in (Path(os.path.realpath(os.getcwd())), *Path(os.path.realpath(os.getcwd())).parents):
            reason = "it is the current folder or holds it"
        if reason:
            raise RunDirError(f"--output {str(path)!r} is not an export keras-minibatch wrote ({reason}); --overwrite replaces only those: choose another path.")
    check_writable_folder(path.parent, "output", str(path))


def _marker_record(format: str, details: dict[str, Any]) -> dict[str, Any]:
    from keras_minibatch import __version__

    return {"kind": _KINDS[format], "made_by": f"keras-minibatch {__version__}", "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), **details}


def write_saved_model_folder(path: str | os.PathLike, write: Callable[[Path], None], details: dict[str, Any]) -> None:
    """Has `write(folder)` write a SavedModel into a temporary folder beside `path`, marks it, and renames it into place.

    A previous export at `path` (checked by `check_export_target`) is replaced
    only once the new one is complete.

    Raises:
        RunDirError: when the file system refuses a write or a rename.
    """
    path = Path(path)
    make_parent_folder(path)
    try:
        staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    except OSError as error:
        raise RunDirError(f"cannot write --output {str(path)!r}: {rundir.disk_refusal(error) or error.strerror or error}.") from error
    retired = None
    try:
        write(staging)
        rundir.write_json_atomic(staging / MARKER_FILE, _marker_record("saved_model", details))
        if path.exists():
            retired = path.parent / f"{staging.name}.old"
            os.rename(path, retired)
        os.rename(staging, path)
    except OSError as error:
        if retired is not None and retired.exists() and not path.exists():
            os.rename(retired, path)  # Put the previous export back.
        raise RunDirError(f"cannot write --output {str(path)!r}: {rundir.disk_refusal(error) or error.strerror or error}; the previous export, if any, is unchanged.") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if retired is not None:
        shutil.rmtree(retired, ignore_errors=True)  # Only once the new export is in place.


def write_tflite_file(path: str | os.PathLike, data: bytes, details: dict[str, Any]) -> None:
    """Writes a TFLite model to `path` atomically, then its marker (with the file's hash) beside it.

    Raises:
        RunDirError: when the file system refuses the write.
    """
    path = Path(path)
    make_parent_folder(path)
    rundir.write_bytes_atomic(path, data)
    rundir.write_json_atomic(tflite_marker(path), _marker_record("tflite", {**details, "sha256": hashlib.sha256(data).hexdigest()}))
