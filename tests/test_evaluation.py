"""`evaluate_saved_model`: today's uint8-input models and those saved before."""

import keras
import numpy as np
import pytest

from keras_minibatch.training import evaluation
from keras_minibatch.data.loading import load_dataset
from keras_minibatch.training.model import build_mlp


def _fit_and_save(model, x, y, path):
    keras.utils.set_random_seed(0)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    model.save(path)
    return model


def test_uint8_model_is_scored_on_raw_pixels(tmp_path):
    data = load_dataset("digits", seed=0)
    keras.utils.set_random_seed(0)
    model = _fit_and_save(build_mlp(data.input_shape, data.num_classes), data.x_train, data.y_train, tmp_path / "model.keras")
    expected = model.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    scores = evaluation.evaluate_saved_model(tmp_path, dataset="digits", seed=0)
    assert scores["test_accuracy"] == pytest.approx(expected["accuracy"]) and scores["test_accuracy"] > 0.3  # chance is 0.1


def test_model_saved_before_uint8_pixels_gets_floats_in_unit_interval(tmp_path):
    # Run folders written before pixels stayed uint8 hold a float32-input model without
    # a Rescaling layer; evaluate must give it x / 255, as it was trained.
    data = load_dataset("digits", seed=0)
    keras.utils.set_random_seed(0)
    old = keras.Sequential([
        keras.Input(shape=data.input_shape), keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"), keras.layers.Dense(data.num_classes, activation="softmax"),
    ])
    old.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x_unit = data.x_train.astype(np.float32) / 255
    _fit_and_save(old, x_unit, data.y_train, tmp_path / "model.keras")
    expected = old.evaluate(data.x_test.astype(np.float32) / 255, data.y_test, verbose=0, return_dict=True)
    scores = evaluation.evaluate_saved_model(tmp_path / "model.keras", dataset="digits", seed=0)
    assert scores["test_accuracy"] == pytest.approx(expected["accuracy"]) and scores["test_accuracy"] > 0.3  # chance is 0.1
    assert scores["test_loss"] == pytest.approx(expected["loss"], rel=1e-5)
