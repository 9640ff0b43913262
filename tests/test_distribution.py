"""Training under tf.distribute strategies."""

import pytest

from keras_minibatch import ConfigError, TrainConfig, train_and_evaluate


def test_mirrored_strategy_trains_on_local_devices(tmp_path):
    config = TrainConfig(dataset="digits", max_train_samples=240, epochs=1, hidden_units=(16,), distribution="mirrored")
    result = train_and_evaluate(config, tmp_path, verbose=0)
    assert len(result.history["loss"]) == 1
    assert (tmp_path / "model.keras").is_file()


def test_multi_worker_is_refused_with_the_upstream_reason():
    with pytest.raises(ConfigError, match="tensorflow/tensorflow#72388"):
        TrainConfig(distribution="multi_worker")
