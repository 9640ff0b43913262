"""What `predict` prints and writes: a line per image, and a CSV or JSON file with every class's probability.

The file's columns: `path`, `class`, `probability`, one `probability_<class>` per
class, then `inverted`; JSON holds one object per image with the same keys. An
existing file is replaced only when asked, and only if it is such a file.
Standard library only: the command line checks `--output` before TensorFlow is imported.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keras_minibatch.checks import ConfigError
from keras_minibatch.inference.output_folder import check_writable_folder, make_parent_folder
from keras_minibatch.run_folders import rundir
from keras_minibatch.run_folders.rundir import RunDirError

if TYPE_CHECKING:
    from keras_minibatch.inference.prediction import ImagePrediction, Predictions

OUTPUT_SUFFIXES = (".csv", ".json")
_LEADING_COLUMNS = ("path", "class", "probability")


def columns(num_classes: int) -> list[str]:
    """The file's columns for a model of `num_classes` classes."""
    return [*_LEADING_COLUMNS, *(f"probability_{index}" for index in range(num_classes)), "inverted"]


def format_line(row: "ImagePrediction") -> str:
    """One image's line: path, predicted class and its probability, the next two classes, and whether it was inverted."""
    runners_up = ", ".join(f"{index} ({probability:.4f})" for index, probability in row.runners_up(2))
    return f"{row.path}: {row.predicted_class} ({row.probability:.4f}); next {runners_up}" + ("; inverted" if row.inverted else "")


def _is_predictions_file(path: Path) -> bool:
    """Whether `path` holds what `write_predictions` writes (its columns), so that replacing it loses nothing of the user's."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix.lower() == ".csv":
        return text.startswith(",".join(_LEADING_COLUMNS) + ",")
    try:
        records = json.loads(text)
    except ValueError:
        return False
    return isinstance(records, list) and all(isinstance(record, dict) and set(_LEADING_COLUMNS) <= set(record) for record in records)


def check_output_file(path: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Checks, writing nothing, that predictions can be written to `path`.

    Raises:
        ConfigError: when `path` is not a `.csv` or `.json` file name, is a
            folder, or lies in a folder that cannot be created or written.
        RunDirError: when it exists and `overwrite` is not given, or it is not
            a predictions file keras-minibatch wrote.
    """
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError("output", str(path), "must name a .csv or .json file")
    if path.is_dir():
        raise ConfigError("output", str(path), "is a folder; name a .csv or .json file")
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise RunDirError(f"--output {str(path)!r} already exists; pass --overwrite to replace it, or choose another file.")
        if path.is_symlink() or not _is_predictions_file(path):
            raise RunDirError(
                f"--output {str(path)!r} is not a predictions file keras-minibatch wrote (no {','.join(_LEADING_COLUMNS)} columns"
                f"{', or a symbolic link' if path.is_symlink() else ''}); --overwrite replaces only those: choose another file."
            )
    check_writable_folder(path.parent, "output", str(path))


def _records(predictions: "Predictions") -> list[dict[str, Any]]:
    names = columns(predictions.num_classes)
    return [
        dict(zip(names, [row.path, row.predicted_class, row.probability, *map(float, row.probabilities), row.inverted]))
        for row in predictions.rows
    ]


def write_predictions(path: str | os.PathLike, predictions: "Predictions") -> None:
    """Writes `predictions` as CSV or JSON (by `path`'s suffix), atomically, creating its folder.

    Raises:
        RunDirError: when the file system refuses the write.
    """
    path = Path(path)
    make_parent_folder(path)
    records = _records(predictions)
    if path.suffix.lower() == ".json":
        rundir.write_json_atomic(path, records)
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(predictions.num_classes), lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: repr(value) if isinstance(value, float) else value for key, value in record.items()} for record in records)
    rundir.write_text_atomic(path, buffer.getvalue())
