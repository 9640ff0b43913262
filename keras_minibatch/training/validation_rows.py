"""The validation rows every training holds out, and how they and the fit rows reach `fit`."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.data.splits import num_fit_rows, stratified_validation_order


def split_for_validation(dataset: Dataset, config: TrainConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Orders the training rows so Keras' `validation_split` (which takes the *last*
    rows) holds out a seeded, stratified sample.

    Returns:
        `(x, y, num_fit_samples)`: reordered training arrays and the number of rows
        `fit` trains on.
    """
    order = stratified_validation_order(dataset.y_train, validation_split=config.validation_split, seed=config.seed)
    num_fit_samples = num_fit_rows(len(order), config.validation_split)
    return dataset.x_train[order], dataset.y_train[order], num_fit_samples


def _to_tensor(array: np.ndarray) -> Any:
    """Returns `array` as a TensorFlow tensor under that backend (else unchanged)."""
    if keras.backend.backend() != "tensorflow":
        return array
    import tensorflow as tf

    return tf.convert_to_tensor(array)


def held_out_rows(dataset: Dataset, config: TrainConfig) -> tuple[Dataset, tuple[Any, np.ndarray], tuple[Any, np.ndarray]]:
    """Splits the training rows as `validation_split` would; returns the dataset without them, the fit rows and the held-out rows.

    The held-out rows are what `validation_split=config.validation_split` would take
    (the last ones, after a seeded stratified reordering). Both parts are handed to
    `fit` as tensors of their own: given NumPy arrays, `fit` copies them into tensors
    and keeps both for the whole run. The returned dataset keeps no training rows
    (zero-row arrays keep the image shape), so the pixels are in memory once while
    `fit` runs, not twice (a caller's own arrays stay theirs).
    """
    x_train, y_train, num_fit_samples = split_for_validation(dataset, config)
    fit_rows = (_to_tensor(x_train[:num_fit_samples]), y_train[:num_fit_samples])
    validation_rows = (_to_tensor(x_train[num_fit_samples:]), y_train[num_fit_samples:])
    return dataclasses.replace(dataset, x_train=x_train[:0].copy(), y_train=y_train[:0].copy()), fit_rows, validation_rows
