"""Re-scores a saved model on a data source's test split."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from keras_minibatch.data.dataset import DataError  # Imports NumPy too: no start-up cost added.

from keras_minibatch.run_folders.run_files import CONFIG_FILE, MODEL_FILE


def resolve_model_path(model: str | os.PathLike) -> Path:
    """Accepts a `model.keras` file or a run folder holding one.

    Raises:
        DataError: naming the path when no model file is there.
    """
    path = Path(model)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise DataError(f"--model {str(model)!r}: no model file found (expected a .keras file or a run folder holding {MODEL_FILE}).")
    return path


def load_model_file(model: str | os.PathLike, *, compile: bool = True) -> tuple[Path, Any]:
    """Loads a `.keras` file, or a run folder's `model.keras`.

    Args:
        model: A `.keras` file or a run folder holding one.
        compile: Whether to restore the training configuration too (scoring
            needs it; predicting does not). Defaults to `True`.

    Returns:
        `(path of the model file, the Keras model)`.

    Raises:
        DataError: naming the path when there is no model file or it cannot be loaded.
    """
    import keras

    model_path = resolve_model_path(model)
    try:
        return model_path, keras.models.load_model(model_path, compile=compile)
    except Exception as error:  # Keras raises many types for a corrupt file; report one line.
        raise DataError(f"--model {str(model_path)!r} could not be loaded ({type(error).__name__}: {error}); retrain or restore it.") from error


def _read_run_record(model_path: str | os.PathLike) -> dict[str, Any]:
    """The `config.json` beside a model: `{}` when there is none.

    Raises:
        DataError: when it is there but damaged, or not what `train` writes.
    """
    config_path = Path(model_path).parent / CONFIG_FILE
    if not config_path.exists():
        return {}
    way_out = "repair or remove it, or pass --dataset (and --test_fraction, --seed) to say which test split to score"
    try:
        record = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"{str(config_path)!r}, beside the model, is damaged ({error}); {way_out}.") from error
    if not isinstance(record, dict) or not isinstance(record.get("config", {}), dict) or not isinstance(record.get("data", {}), dict):
        raise DataError(f"{str(config_path)!r}, beside the model, is not a run's config.json (no config object); {way_out}.")
    return record


def read_run_config(model_path: str | os.PathLike) -> dict[str, Any] | None:
    """Returns the `config` saved beside a model by `train`, or `None` when absent.

    Raises:
        DataError: when `config.json` is there but damaged.
    """
    return _read_run_record(model_path).get("config")


def read_run_data(model_path: str | os.PathLike) -> dict[str, Any] | None:
    """Returns the data record (`data.data_fingerprint` and `test_sha256`) saved beside a model, or `None`.

    Raises:
        DataError: when `config.json` is there but damaged.
    """
    return _read_run_record(model_path).get("data")


def pixels_for(model: Any, x: np.ndarray) -> np.ndarray:
    """Returns uint8 images `x` in the form `model` was trained on.

    Models saved since pixels stay uint8 take them as they are (their first
    layer rescales); models saved before that take float32 in [0, 1].
    """
    if str(model.inputs[0].dtype) == "uint8":
        return x
    return x.astype(np.float32) / np.float32(255)


def evaluate_saved_model(
    model: str | os.PathLike,
    *,
    dataset: str,
    test_fraction: float = 0.2,
    seed: int = 0,
    batch_size: int = 256,
    expected_test_sha256: str | None = None,
    notes: list[str] | None = None,
) -> dict[str, float]:
    """Loads a saved model and scores it once on `dataset`'s test split.

    For sources without their own test split, pass the `test_fraction` and `seed`
    the model was trained with, so the same rows are held out (the CLI reads
    them from the run's `config.json`).

    Args:
        model: A `.keras` file or a run folder.
        dataset: A data source name or path (see `data.load_dataset`).
        test_fraction: Test share for sources without a test split. Defaults to `0.2`.
        seed: Seed of the carved test split. Defaults to `0`.
        batch_size: Rows per forward pass over the test split. Defaults to `256`.
        expected_test_sha256: The test split's hash the run recorded
            (`read_run_data(...)["test_sha256"]`); other data are refused.
            Defaults to `None` (not checked).
        notes: Receives a line for anything done to score the model that the
            caller should say (an uncompiled model compiled with our loss).
            Defaults to `None`.

    Returns:
        `{"test_loss": ..., "test_accuracy": ...}`.

    Raises:
        DataError: when the model file is missing or unreadable, the data does
            not fit the model's input, or its test split is not the expected one.
    """
    import keras

    from keras_minibatch.data.fingerprints import test_split_fingerprint
    from keras_minibatch.data.loading import load_dataset

    model_path = resolve_model_path(model)
    data = load_dataset(dataset, test_fraction=test_fraction, seed=seed)
    if expected_test_sha256 is not None and test_split_fingerprint(data) != expected_test_sha256:
        raise DataError(
            f"{dataset!r} no longer holds the test split the run in {str(model_path.parent)!r} was trained beside "
            "(its content changed since); restore the run's data, or pass --dataset to score these data knowingly."
        )
    _, loaded = load_model_file(model_path)
    expected_shape = tuple(loaded.input_shape[1:])
    if expected_shape != tuple(data.input_shape):
        raise DataError(
            f"--dataset {dataset!r} has images of shape {tuple(data.input_shape)}, "
            f"but the model expects {expected_shape}; use the data it was trained on."
        )
    num_outputs = loaded.output_shape[-1] if isinstance(loaded.output_shape, tuple) else None
    if num_outputs != data.num_classes:
        raise DataError(
            f"--model {str(model_path)!r} has {num_outputs} outputs but --dataset {dataset!r} has {data.num_classes} classes; "
            "score it on data with as many classes as it was trained on."
        )
    if not _compiled_with_our_loss(loaded):
        # Scores comparable with every other run's: the loss and metric train compiles with.
        loaded.compile(loss=keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
        if notes is not None:
            notes.append("the model was not compiled with sparse categorical cross-entropy; scored with it and accuracy")
    from keras_minibatch.training.scoring import score_test_split

    return score_test_split(loaded, pixels_for(loaded, data.x_test), data.y_test, rows_per_pass=batch_size).metrics


def _compiled_with_our_loss(model: Any) -> bool:
    """Whether `model` is compiled with sparse categorical cross-entropy (what `build_mlp` compiles)."""
    import keras

    loss = getattr(model, "loss", None) if getattr(model, "compiled", False) else None
    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        return True
    return loss in ("sparse_categorical_crossentropy", keras.losses.sparse_categorical_crossentropy)
