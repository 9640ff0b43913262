"""The rows `fit` trains on, as tensors: exactly the rows asked for, copied once, the caller's arrays untouched."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from keras_minibatch import TrainConfig, load_dataset
from keras_minibatch.data.row_tensors import rows_as_tensor
from keras_minibatch.training.validation_rows import held_out_rows, split_for_validation


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.int64])
@pytest.mark.parametrize("rows", [None, [4, 0, 9, 4], []])
def test_rows_as_tensor_holds_exactly_those_rows(dtype, rows):
    x = np.arange(10 * 3 * 5).reshape(10, 3, 5).astype(dtype)
    tensor = rows_as_tensor(x, None if rows is None else np.array(rows, dtype=np.int64))
    expected = x if rows is None else x[np.array(rows, dtype=np.int64)]
    assert tensor.dtype == tf.as_dtype(dtype) and tensor.shape == expected.shape
    np.testing.assert_array_equal(tensor.numpy(), expected)


@pytest.mark.parametrize("skip", range(0, 64, 8))  # Sources starting anywhere in memory.
def test_rows_as_tensor_works_in_tensorflow_kernels_and_outlives_its_source(skip):
    # TensorFlow's kernels abort the process on memory not aligned as its allocator aligns it.
    source = np.arange(skip + 200 * 4, dtype=np.uint8)[skip:].reshape(200, 4)
    expected = source[::-1].copy()
    tensor = rows_as_tensor(source, np.arange(199, -1, -1))
    source[:] = 0  # A copy, not a view of the caller's array.
    del source
    np.testing.assert_array_equal(tf.gather(tensor, [0, 199]).numpy(), expected[[0, 199]])
    np.testing.assert_array_equal(tf.cast(tensor, tf.int32).numpy(), expected)


def test_rows_as_tensor_returns_a_tensor_as_it_is_or_gathered():
    tensor = tf.constant(np.arange(12).reshape(6, 2))
    assert rows_as_tensor(tensor) is tensor
    np.testing.assert_array_equal(rows_as_tensor(tensor, np.array([5, 1])).numpy(), [[10, 11], [2, 3]])


def test_held_out_rows_are_the_validation_split_and_leave_the_callers_arrays_alone():
    dataset = load_dataset("digits", test_fraction=0.2, seed=0, max_train_samples=300)
    before = dataclasses.replace(dataset, x_train=dataset.x_train.copy(), y_train=dataset.y_train.copy())
    config = TrainConfig(dataset="digits", validation_split=0.2, seed=3)
    rest, (x_fit, y_fit), (x_held_out, y_held_out) = held_out_rows(dataset, config)
    x, y, num_fit = split_for_validation(before, config)
    np.testing.assert_array_equal(x_fit.numpy(), x[:num_fit])
    np.testing.assert_array_equal(y_fit, y[:num_fit])
    np.testing.assert_array_equal(x_held_out.numpy(), x[num_fit:])
    np.testing.assert_array_equal(y_held_out, y[num_fit:])
    np.testing.assert_array_equal(dataset.x_train, before.x_train)
    np.testing.assert_array_equal(dataset.y_train, before.y_train)
    assert rest.x_train.shape == (0, *dataset.input_shape) and len(rest.y_train) == 0
    assert rest.x_test is dataset.x_test
