"""Fingerprints of a dataset's content, so a resumed run, a search or `evaluate` can refuse other data."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from keras_minibatch.data.dataset import Dataset


def _sha256(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        # The array's own bytes, read in place: `tobytes()` would copy every pixel first.
        digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
    return digest.hexdigest()


def data_fingerprint(dataset: Dataset) -> dict[str, Any]:
    """What identifies a dataset's content: source, sizes, shape and a hash of every array.

    A run records it in `config.json` (a resumed run refuses other data) and a
    search in `search_config.json` (its trials stay comparable).
    """
    return {
        "source": dataset.source, "train_samples": len(dataset.y_train), "test_samples": len(dataset.y_test),
        "input_shape": list(dataset.input_shape), "num_classes": dataset.num_classes,
        "sha256": _sha256(dataset.x_train, dataset.y_train, dataset.x_test, dataset.y_test),
    }


def test_split_fingerprint(dataset: Dataset) -> str:
    """A hash of the test split alone: what `evaluate` checks a run's data against."""
    return _sha256(dataset.x_test, dataset.y_test)
