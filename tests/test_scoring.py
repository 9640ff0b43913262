"""`score_rows` and `score_test_split`: one pass of predictions scored with the model's compiled loss and metrics, as `evaluate` scores."""

import keras
import numpy as np
import pytest

from keras_minibatch.training.model import build_mlp
from keras_minibatch.training.scoring import predict_probabilities, score_rows, score_test_split

RNG = np.random.default_rng(0)
X = RNG.integers(0, 256, (137, 8, 8), dtype=np.uint8)
Y = RNG.integers(0, 10, 137)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    model = build_mlp((8, 8), 10, hidden_units=(16,))
    model.fit(X, Y, batch_size=32, epochs=2, validation_split=0.1, verbose=0)
    return model


@pytest.mark.parametrize("rows_per_pass", [50, 1024])
def test_scores_are_evaluates_and_labels_are_predicts(model, rows_per_pass):
    expected = model.evaluate(X, Y, batch_size=32, verbose=0, return_dict=True)
    scores = score_test_split(model, X, Y, rows_per_pass=rows_per_pass)
    assert list(scores.metrics) == [f"test_{name}" for name in expected]
    for name, value in expected.items():
        assert scores.metrics[f"test_{name}"] == pytest.approx(value, abs=1e-6)
    np.testing.assert_array_equal(scores.predicted_labels, model.predict(X, verbose=0).argmax(axis=1))


def test_a_loaded_model_is_scored_as_it_evaluates(model, tmp_path):
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")  # Its compiled metrics are not built yet.
    scores = score_test_split(loaded, X, Y)
    expected = loaded.evaluate(X, Y, verbose=0, return_dict=True)
    assert scores.metrics == pytest.approx({f"test_{name}": value for name, value in expected.items()}, abs=1e-6)


def test_scoring_leaves_no_metric_state_behind(model):
    score_test_split(model, X, Y)
    assert all(float(variable.numpy().sum()) == 0 for metric in model.metrics for variable in metric.variables)


def test_predictions_come_in_passes_of_the_given_rows(model):
    np.testing.assert_allclose(predict_probabilities(model, X, rows_per_pass=7), predict_probabilities(model, X), rtol=1e-6)
    with pytest.raises(ValueError, match=r"`rows_per_pass` \(0\) must be an integer >= 1"):
        predict_probabilities(model, X, rows_per_pass=0)


def test_rows_are_scored_as_evaluate_scores_them_under_its_names(model):
    expected = model.evaluate(X[:60], Y[:60], batch_size=32, verbose=0, return_dict=True)
    scores = score_rows(model, X[:60], Y[:60], rows_per_pass=25)
    assert list(scores) == list(expected)
    assert scores == pytest.approx(expected, abs=1e-6)


def test_compare_scores_its_curve_and_test_split_with_score_rows(model):
    from keras_minibatch.batch_sizes import comparison

    expected = model.evaluate(X, Y, verbose=0, return_dict=True)
    assert comparison._score(model, X, Y) == pytest.approx((expected["loss"], expected["accuracy"]), abs=1e-6)
