"""fit's endless pipelines: what each epoch holds, and that fit scores as with arrays."""

import keras
import numpy as np
import pytest

from keras_minibatch.data.input_pipeline import consecutive_batches, fit_inputs, shuffled_epochs
from keras_minibatch.training.model import build_mlp


def rows_and_labels(num_rows):
    assert num_rows <= 63  # uint8 markers: row i starts with 4 * i.
    x = np.arange(num_rows * 4, dtype=np.uint8).reshape(num_rows, 2, 2)
    return x, np.arange(num_rows) % 10


def epochs_of(dataset, steps, num_epochs):
    """`num_epochs` epochs of an endless dataset: per epoch, its batches as (x, y) arrays."""
    batches = [(np.asarray(x), np.asarray(y)) for x, y in dataset.take(steps * num_epochs)]
    return [batches[epoch * steps : (epoch + 1) * steps] for epoch in range(num_epochs)]


@pytest.mark.parametrize("num_rows, batch_size, sizes", [(10, 4, [4, 4, 2]), (8, 4, [4, 4]), (3, 8, [3])])
def test_every_epoch_is_one_pass_over_all_rows_in_a_new_order(num_rows, batch_size, sizes):
    x, y = rows_and_labels(num_rows)
    dataset, steps = shuffled_epochs(x, y, batch_size, seed=0)
    assert steps == len(sizes)
    orders = []
    for batches in epochs_of(dataset, steps, 3):
        assert [len(batch_y) for _, batch_y in batches] == sizes  # Consecutive batches, the short one last.
        order = np.concatenate([batch_x[:, 0, 0] // 4 for batch_x, _ in batches]).astype(int)
        assert sorted(order) == list(range(num_rows))
        np.testing.assert_array_equal(np.concatenate([batch_y for _, batch_y in batches]), y[order])  # Labels stay with their rows.
        orders.append(tuple(order))
    if num_rows > 3:
        assert len(set(orders)) == 3


def test_epoch_orders_depend_on_the_seed_and_the_epoch_only():
    x, y = rows_and_labels(50)

    def orders(seed, first_epoch, num_epochs):
        dataset, steps = shuffled_epochs(x, y, 8, seed=seed, first_epoch=first_epoch)
        return [np.concatenate([batch_x[:, 0, 0] for batch_x, _ in batches]).tolist() for batches in epochs_of(dataset, steps, num_epochs)]

    assert orders(0, 0, 3) == orders(0, 0, 3)
    assert orders(0, 0, 3)[2:] == orders(0, 2, 1)  # A run resumed at epoch 2 sees the orders it would have seen.
    assert orders(1, 0, 3) != orders(0, 0, 3)


@pytest.mark.parametrize("batch_size, num_batches", [(4, 3), (10, 1), (16, 1)])
def test_consecutive_batches_repeat_the_rows_in_order(batch_size, num_batches):
    x, y = rows_and_labels(10)
    dataset, steps = consecutive_batches(x, y, batch_size)
    assert steps == num_batches
    for batches in epochs_of(dataset, steps, 2):
        np.testing.assert_array_equal(np.concatenate([batch_x for batch_x, _ in batches]), x)
        np.testing.assert_array_equal(np.concatenate([batch_y for _, batch_y in batches]), y)


@pytest.mark.parametrize("make", [shuffled_epochs, consecutive_batches])
@pytest.mark.parametrize("x, y, batch_size", [(np.zeros((0, 2)), np.zeros(0), 4), (np.zeros((3, 2)), np.zeros(2), 4), (np.zeros((3, 2)), np.zeros(3), 0)])
def test_refuse_what_would_give_no_batches(make, x, y, batch_size):
    kwargs = {"seed": 0} if make is shuffled_epochs else {}
    with pytest.raises(ValueError, match=f"{make.__name__} needs rows, as many labels as inputs and batch_size >= 1; got {len(x)} inputs"):
        make(x, y, batch_size, **kwargs)


def test_negative_first_epoch_is_refused():
    with pytest.raises(ValueError, match="first_epoch >= 0"):
        shuffled_epochs(*rows_and_labels(4), 2, seed=0, first_epoch=-1)


@pytest.mark.parametrize("batch_size", [4, 16])  # Several batches, and all rows in one.
def test_pipelines_skip_tf_datas_graph_rewrites_and_autotuning(batch_size):
    # Rewriting serializes the pipeline's graph, and the rows with it: a copy of every pixel.
    # Deleting an iterator that autotuning watched for a while stalled evaluate for seconds.
    x, y = rows_and_labels(10)
    for dataset in (shuffled_epochs(x, y, batch_size, seed=0)[0], consecutive_batches(x, y, batch_size)[0]):
        assert dataset.options().experimental_optimization.apply_default_optimizations is False
        assert dataset.options().autotune.enabled is False


@pytest.mark.parametrize("num_validation", [40, 64, 100])  # Fewer than, exactly and more than one batch.
def test_fit_validates_as_it_does_on_arrays(num_validation):
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (300, 8, 8), dtype=np.uint8), np.arange(300) % 10
    x_fit, y_fit, x_validation, y_validation = x[:200], y[:200], x[200 : 200 + num_validation], y[200 : 200 + num_validation]
    keras.utils.set_random_seed(0)
    model = build_mlp((8, 8), 10, hidden_units=(8,))
    history = model.fit(**fit_inputs(x_fit, y_fit, x_validation, y_validation, batch_size=64, seed=0).fit_arguments(), epochs=3, verbose=0).history
    assert len(history["loss"]) == 3
    # The last epoch's validation scored the final weights, as evaluate on the arrays does.
    scores = model.evaluate(x_validation, y_validation, batch_size=64, verbose=0, return_dict=True)
    assert history["val_loss"][-1] == pytest.approx(scores["loss"], rel=1e-6)
    assert history["val_accuracy"][-1] == pytest.approx(scores["accuracy"], rel=1e-6)


def test_fit_trains_on_each_epoch_in_the_pipelines_order():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 256, (96, 8, 8), dtype=np.uint8), np.arange(96) % 10

    def model():
        keras.utils.set_random_seed(0)
        return build_mlp((8, 8), 10, hidden_units=(8,))

    inputs = fit_inputs(x[:80], y[:80], x[80:], y[80:], batch_size=16, seed=3)
    piped = model()
    piped.fit(**inputs.fit_arguments(), epochs=2, verbose=0)
    # The same updates, fed by hand: each epoch's rows in the order the pipeline drew.
    by_hand = model()
    for batches in epochs_of(inputs.x, inputs.steps_per_epoch, 2):
        by_hand.fit(np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]), batch_size=16, shuffle=False, epochs=1, verbose=0)
    for a, b in zip(piped.get_weights(), by_hand.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
