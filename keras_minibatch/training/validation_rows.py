"""The validation rows every training holds out, and how they and the fit rows reach `fit`."""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from keras_minibatch.config import TrainConfig
from keras_minibatch.data.dataset import Dataset
from keras_minibatch.data.row_tensors import rows_as_tensor
from keras_minibatch.data.splits import num_fit_rows, stratified_validation_order


def _validation_order(dataset: Dataset, config: TrainConfig) -> tuple[np.ndarray, int]:
    """The order of the training rows whose last ones `validation_split` holds out, and how many come before them."""
    order = stratified_validation_order(dataset.y_train, validation_split=config.validation_split, seed=config.seed)
    return order, num_fit_rows(len(order), config.validation_split)


def split_for_validation(dataset: Dataset, config: TrainConfig) -> tuple[np.ndarray, np.ndarray, int]:
    """Orders the training rows so Keras' `validation_split` (which takes the *last*
    rows) holds out a seeded, stratified sample.

    Returns:
        `(x, y, num_fit_samples)`: reordered training arrays and the number of rows
        `fit` trains on.
    """
    order, num_fit_samples = _validation_order(dataset, config)
    return dataset.x_train[order], dataset.y_train[order], num_fit_samples


def held_out_rows(dataset: Dataset, config: TrainConfig) -> tuple[Dataset, tuple[Any, np.ndarray], tuple[Any, np.ndarray]]:
    """Splits the training rows as `validation_split` would; returns the dataset without them, the fit rows and the held-out rows.

    The held-out rows are what `validation_split=config.validation_split` would take
    (the last ones, after a seeded stratified reordering). Under the TensorFlow
    backend both parts are tensors of their own, each row copied once straight into
    its place (`rows_as_tensor`): given NumPy arrays, `fit` would copy them into
    tensors and keep both for the whole run. The returned dataset keeps no training
    rows (zero-row arrays keep the image shape), so once the caller lets go of the
    dataset it passed, the pixels are in memory once while `fit` runs (a caller's
    own arrays stay theirs, unchanged).
    """
    order, num_fit_samples = _validation_order(dataset, config)
    fit_order, held_out_order = order[:num_fit_samples], order[num_fit_samples:]
    if keras.backend.backend() == "tensorflow":
        x_fit, x_held_out = rows_as_tensor(dataset.x_train, fit_order), rows_as_tensor(dataset.x_train, held_out_order)
    else:
        x_fit, x_held_out = dataset.x_train[fit_order], dataset.x_train[held_out_order]
    fit_rows = (x_fit, dataset.y_train[fit_order])
    validation_rows = (x_held_out, dataset.y_train[held_out_order])
    return dataclasses.replace(dataset, x_train=dataset.x_train[:0].copy(), y_train=dataset.y_train[:0].copy()), fit_rows, validation_rows
